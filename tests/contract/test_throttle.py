"""The ``Throttle`` contract (``idp.core.ports.Throttle``), one suite run on every backend: the
in-process counters (``MemoryThrottle``) and the real Redis (``RedisThrottle``, own key prefix).

Every limit engages and releases as the injected clock moves; a parallel burst cannot pass more
attempts than the limit allows, even across two Redis clients (two provider processes). What only
one backend does (Redis unreachable, what its keys hold) is in tests/e2e/test_throttle.py."""

from __future__ import annotations

import pytest

from idp.core.errors import TooManyAttempts
from idp.storage.throttle.core import RATE_NAMES, Policy, Rate
from idp.storage.throttle.memory import MemoryThrottle
from idp.storage.throttle.redis import RedisThrottle
from tests.support.constants import REDIS_URL
from tests.support.race import at_once

SECRET = "k" * 40
POLICY = Policy(
    rates={
        "login_ip": Rate(10, 600),
        "password_forgot_ip": Rate(3, 3600),
        "password_forgot_account": Rate(2, 3600),
        "password_reset_ip": Rate(4, 3600),
        "register_ip": Rate(2, 600),
        "token_client": Rate(5, 60),
        "device_link_ip": Rate(3, 3600),
        "device_link_account": Rate(2, 1800),
        "passkey_options_ip": Rate(3, 60),
    },
    account_free=5,
    device_free=3,
    delay_seconds=30,
    max_delay_seconds=300,
    reset_seconds=3600,
)


def fail(throttle, account="user:1", ip="192.0.2.1", device=None):
    throttle.check(account, ip, device=device)
    return throttle.record_failure(account, ip, device=device)


def refused(throttle, *args, **kw) -> TooManyAttempts | None:
    try:
        throttle.check(*args, **kw)
    except TooManyAttempts as exc:
        return exc
    return None


def burst(throttle_for, n: int, account_for, ip_for) -> int:
    """``n`` threads call ``check`` at once; returns how many were admitted."""

    def attempt(i: int) -> bool:
        try:
            throttle_for(i).check(account_for(i), ip_for(i))
        except TooManyAttempts:
            return False
        return True

    return sum(at_once(n, attempt))


class ThrottleContract:
    """The suite. A backend subclasses it and provides ``make_throttle(policy=POLICY)``: each call
    is another provider process's view of the same counters."""

    @pytest.fixture
    def throttle(self, make_throttle):
        return make_throttle()

    def test_account_has_free_failures_then_a_doubling_wait_up_to_the_cap(self, throttle, clock):
        for _ in range(4):
            assert fail(throttle) == []
        assert fail(throttle) == [("account", 30)]  # the fifth failure starts the delay
        exc = refused(throttle, "user:1", "192.0.2.2")
        assert exc.scope == "account" and exc.retry_after == 30
        clock.advance(29)
        assert refused(throttle, "user:1", "192.0.2.2").retry_after == 1
        clock.advance(1)
        assert fail(throttle) == [("account", 60)]
        waits = []
        for _ in range(5):
            clock.advance(waits[-1] if waits else 60)
            waits.append(fail(throttle)[0][1])
        assert waits == [120, 240, 300, 300, 300]

    def test_concurrent_attempts_with_slightly_earlier_clock_readings_are_not_refused(self, make_throttle, clock):
        # Two workers sign the same account in at once; the second read its clock a moment before the
        # first one's attempt was counted. Below the free failures nothing may be refused.
        first, second = make_throttle(), make_throttle()
        first.check("user:1", "192.0.2.1")
        clock.advance(-0.01)
        assert refused(second, "user:1", "192.0.2.2") is None
        first.record_success("user:1", "192.0.2.1")
        second.record_success("user:1", "192.0.2.2")

    def test_success_forgets_the_account_failures(self, throttle, clock):
        for _ in range(4):
            fail(throttle)
        throttle.check("user:1", "192.0.2.1")
        throttle.record_success("user:1", "192.0.2.1")
        for _ in range(4):
            assert fail(throttle) == []

    def test_failures_are_forgotten_after_the_reset_period(self, throttle, clock):
        for _ in range(5):
            fail(throttle)
        clock.advance(3601)
        for _ in range(4):
            assert fail(throttle) == []

    def test_unknown_login_keys_are_throttled_like_accounts(self, throttle):
        for _ in range(5):
            fail(throttle, account="login:nobody@example.edu")
        assert refused(throttle, "login:nobody@example.edu", "192.0.2.1").retry_after == 30

    def test_known_device_keeps_its_own_allowance(self, throttle, clock):
        for i in range(5):
            fail(throttle, ip=f"198.51.100.{i}")
        assert refused(throttle, "user:1", "203.0.113.7").scope == "account"
        throttle.check("user:1", "203.0.113.7", device="d1")  # the owner's browser still gets in
        throttle.record_success("user:1", "203.0.113.7", device="d1")
        assert refused(throttle, "user:1", "198.51.100.9").scope == "account"  # the attacker still waits
        for _ in range(3):
            fail(throttle, device="d2")
        assert refused(throttle, "user:1", "192.0.2.1", device="d2").scope == "device"
        throttle.check("user:1", "192.0.2.1", device="d1")

    def test_ip_limit_counts_verifications_and_refills(self, throttle, clock):
        for i in range(10):
            throttle.check(f"user:{i}", "192.0.2.1")
            engaged = throttle.record_failure(f"user:{i}", "192.0.2.1")
        assert engaged == [("ip", pytest.approx(60))]
        exc = refused(throttle, "user:99", "192.0.2.1")
        assert exc.scope == "ip" and exc.retry_after == 60
        clock.advance(60)  # one token back every 600/10 seconds
        throttle.check("user:99", "192.0.2.1")
        assert refused(throttle, "user:100", "192.0.2.1").scope == "ip"
        throttle.check("user:100", "192.0.2.2")  # another address is not affected

    def test_successes_and_account_refusals_do_not_use_up_the_ip(self, throttle):
        for i in range(30):
            throttle.check(f"user:{i}", "192.0.2.1")
            throttle.record_success(f"user:{i}", "192.0.2.1")
        for _ in range(5):
            fail(throttle, account="user:x", ip="192.0.2.9")
        for _ in range(30):
            assert refused(throttle, "user:x", "192.0.2.1").scope == "account"
        for i in range(10):
            throttle.check(f"other:{i}", "192.0.2.1")

    def test_ipv6_counts_per_64_and_mapped_ipv4_as_ipv4(self, throttle):
        for i in range(10):
            throttle.check(f"user:{i}", f"2001:db8:1:2::{i + 1:x}")
        assert refused(throttle, "user:x", "2001:db8:1:2:ffff::1").scope == "ip"
        throttle.check("user:y", "2001:db8:1:3::1")  # the next /64 is another subscriber
        for i in range(10):
            throttle.check(f"mapped:{i}", "::ffff:203.0.113.5" if i % 2 else "203.0.113.5")
        assert refused(throttle, "user:x", "203.0.113.5").scope == "ip"  # the mapped form is the same address

    @pytest.mark.parametrize("name", [n for n in RATE_NAMES if n != "login_ip"])
    def test_each_named_limit_engages_and_releases(self, throttle, clock, name):
        rate = POLICY.rates[name]
        key = "192.0.2.5" if name.endswith("_ip") else "client-or-account"
        for _ in range(rate.limit):
            throttle.check_rate(name, key)
        with pytest.raises(TooManyAttempts) as info:
            throttle.check_rate(name, key)
        assert info.value.retry_after == round(rate.interval)
        throttle.check_rate(name, "192.0.2.6" if name.endswith("_ip") else "another")
        clock.advance(rate.interval)
        throttle.check_rate(name, key)
        with pytest.raises(TooManyAttempts):
            throttle.check_rate(name, key)

    def test_unknown_limit_name_is_an_error(self, throttle):
        with pytest.raises(ValueError, match="unknown rate limit 'password_forgot'"):
            throttle.check_rate("password_forgot", "x")

    def test_status_and_clear(self, throttle, clock):
        for i in range(6):
            clock.advance(30 if i == 5 else 0)
            fail(throttle, ip="192.0.2.1")
        fail(throttle, device="d1")
        status = throttle.status(account="user:1", ip="192.0.2.1")
        assert status["account"] == {"failures": 6, "retry_after": 60, "known_devices_waiting": 0}
        assert status["ip"]["limits"]["login_ip"] == {"remaining": 3, "limit": 10, "retry_after": 0}
        for _ in range(2):
            throttle.check_rate("device_link_account", "user:1")
        assert throttle.clear(account="user:1") == 3  # the account, its device, its device-link limit
        assert throttle.status(account="user:1")["account"]["failures"] == 0
        throttle.check_rate("device_link_account", "user:1")
        throttle.check("user:1", "192.0.2.1")
        assert throttle.clear(ip="192.0.2.1") == 1
        assert throttle.status(ip="192.0.2.1")["ip"]["limits"]["login_ip"]["remaining"] == 10

    def test_parallel_burst_cannot_exceed_the_account_allowance(self, make_throttle):
        a, b = make_throttle(), make_throttle()  # two clients: on Redis, like two provider processes
        assert burst(lambda i: (a, b)[i % 2], 40, lambda i: "user:1", lambda i: f"198.51.100.{i}") == 5

    def test_parallel_burst_cannot_exceed_the_ip_limit(self, make_throttle):
        a, b = make_throttle(), make_throttle()
        assert burst(lambda i: (a, b)[i % 2], 40, lambda i: f"user:{i}", lambda i: "192.0.2.1") == 10

    def test_large_limits_taken_in_leases_never_admit_more_than_the_limit(self, make_throttle, clock):
        # 2000 per minute: taken from the shared counter 20 at a time by each of two instances.
        policy = Policy(rates={**POLICY.rates, "token_client": Rate(2000, 60)})
        a, b = make_throttle(policy), make_throttle(policy)
        admitted = 0
        for i in range(2600):
            try:
                (a if i % 2 else b).check_rate("token_client", "client-1")
                admitted += 1
            except TooManyAttempts as exc:
                assert exc.retry_after > 0
        assert 1900 <= admitted <= 2000
        with pytest.raises(TooManyAttempts):
            a.check_rate("token_client", "client-1")
        clock.advance(60)
        a.check_rate("token_client", "client-1")  # refilled
        b.check_rate("token_client", "client-2")  # another client has its own allowance


class TestMemoryThrottle(ThrottleContract):
    @pytest.fixture
    def make_throttle(self, clock):
        made = []

        def make(policy=POLICY):
            if not made:  # one process: every "instance" is the same counters
                made.append(MemoryThrottle(policy, clock, SECRET))
            return made[0]

        return make


class TestRedisThrottle(ThrottleContract):
    @pytest.fixture
    def make_throttle(self, clock, redis_prefix):
        return lambda policy=POLICY: RedisThrottle(REDIS_URL, policy, clock, SECRET, prefix=redis_prefix)
