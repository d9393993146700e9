"""What only one throttle backend does, and the factory. The behaviour every backend shares (each
limit engaging and releasing, parallel bursts) is the contract suite, tests/contract/test_throttle.py.

Redis: unreachable counters raise ``ThrottleUnavailable`` (sign-in fails closed); keys hold no
login or address in clear; the clock passed in times the counters, not Redis's.
"""

from __future__ import annotations

import pytest
import redis

from idp.core.clock import FixedClock
from idp.core.errors import ThrottleUnavailable
from idp.core.settings import ServerSettings, Settings, StorageSettings, ThrottleSettings
from idp.storage.throttle import build_throttle
from idp.storage.throttle.memory import MemoryThrottle
from idp.storage.throttle.redis import RedisThrottle
from tests.contract.test_throttle import POLICY, SECRET, fail, refused
from tests.support.constants import REDIS_URL
from tests.support.live import free_port


@pytest.mark.parametrize("redis_url", ["", REDIS_URL])
def test_build_throttle_picks_the_backend_and_times_it_by_the_clock_given(redis_url, redis_prefix, clock):
    settings = Settings(
        server=ServerSettings(secret_key=SECRET),
        storage=StorageSettings(redis_url=redis_url, redis_prefix=redis_prefix),
        throttle=ThrottleSettings(account_free=2, delay_seconds=30),
    )
    throttle = build_throttle(settings, clock)
    assert isinstance(throttle, RedisThrottle if redis_url else MemoryThrottle)
    for _ in range(2):
        fail(throttle)
    assert refused(throttle, "user:1", "192.0.2.1").retry_after == 30
    clock.advance(30)
    assert refused(throttle, "user:1", "192.0.2.1") is None


def test_unreachable_redis_raises_throttle_unavailable(clock):
    throttle = RedisThrottle(f"redis://127.0.0.1:{free_port()}/0", POLICY, clock, SECRET, prefix="idptest:gone:")
    for call in (
        lambda: throttle.check("user:1", "192.0.2.1"),
        lambda: throttle.check_rate("token_client", "c"),
        lambda: throttle.status(account="user:1"),
    ):
        with pytest.raises(ThrottleUnavailable):
            call()


def test_counters_hold_no_login_or_address_in_clear(redis_prefix, clock):
    throttle = RedisThrottle(REDIS_URL, POLICY, clock, SECRET, prefix=redis_prefix)
    fail(throttle, account="login:ada@example.edu", ip="192.0.2.77")
    keys = [k.decode() for k in redis.Redis.from_url(REDIS_URL).scan_iter(match=redis_prefix + "*")]
    assert len(keys) == 2
    assert not any("ada" in k or "192.0.2.77" in k for k in keys)


def test_fixed_clock_is_what_times_the_redis_counters(redis_prefix):
    """Two throttles on one Redis whose clocks disagree: the time passed in decides, not Redis's."""
    early, late = FixedClock(1_800_000_000), FixedClock(1_800_000_000 + 31)
    a = RedisThrottle(REDIS_URL, POLICY, early, SECRET, prefix=redis_prefix)
    b = RedisThrottle(REDIS_URL, POLICY, late, SECRET, prefix=redis_prefix)
    for _ in range(5):
        fail(a)
    assert refused(a, "user:1", "192.0.2.1") is not None
    assert refused(b, "user:1", "192.0.2.1") is None
