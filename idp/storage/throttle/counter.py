"""Sign-in throttling and named rate limits, consulted before any password hash is computed.

Three limiters guard a password sign-in (docs/security.md):

* **per client IP** (IPv6 per /64): a token bucket of password *verifications*; a successful
  sign-in and an attempt refused by the account limiter give their token back, so only
  guesses that cost argon2 work count;
* **per account**: ``throttle_account_free`` free failures, then a wait that doubles with each
  further failure up to ``throttle_max_delay_seconds`` (progressive delay, never a hard lock);
  unknown usernames get exactly the same treatment under their normalised login;
* **per account and known device**: a browser holding the signed device cookie of that account
  (``idp.domain.devices``) has its own allowance instead of the account's, so an attacker
  hammering the account elsewhere does not lock the owner out (OWASP "device cookies").

An attempt is *reserved* atomically before verification (check-and-count in one step), so a
burst of parallel requests cannot all pass the check before the first failure is counted.

Named limits (``check_rate``), each a token bucket configured by ``IDP_RATE_<NAME>_LIMIT`` and
``IDP_RATE_<NAME>_SECONDS``:

=========================== ==============================================================
``login_ip``                 used by ``check`` itself (key: client IP)
``password_forgot_ip``       forgot-password POST, key: client IP
``password_forgot_account``  forgot-password POST, key: ``authn.account_key(user, login)``
``password_reset_ip``        reset-password POST, key: client IP
``register_ip``              dynamic client registration, key: client IP
``token_client``             token endpoint, key: the authenticated client id
``device_link_ip``           device-approval link request, key: client IP
``device_link_account``      device-approval link mailed, key: ``authn.account_key(user, login)``
=========================== ==============================================================

Names ending in ``_ip`` reduce their key to the address (IPv4) or its /64 (IPv6) first.

Backends: ``MemoryThrottle`` (one process only) and ``RedisThrottle`` (``throttle_redis``), both
built on the pure functions in ``throttle_core`` and both timed by the app's clock service.
If the shared counters cannot be reached, methods raise ``ThrottleUnavailable``: sign-in fails
closed (503); the token endpoint fails open (documented in docs/security.md).
"""

from __future__ import annotations

import math
import threading
from typing import Protocol

from idp.core.errors import StoreUnavailable
from idp.storage.throttle import core as core
from idp.storage.throttle.core import Policy, Rate, ip_key  # noqa: F401  (re-exported)
from idp.core.tokens import keyed_hash
from idp.core.errors import TooManyAttempts
from idp.core.ports import Throttle


class UnlimitedThrottle:
    """Allows everything: for tests of other features that must not trip a limit."""

    def check(self, login, ip, device=None):
        return None

    def record_failure(self, login, ip, device=None):
        return []

    def record_success(self, login, ip, device=None):
        return None

    def check_rate(self, name, key):
        return None

    def status(self, account=None, ip=None):
        return {}

    def clear(self, account=None, ip=None):
        return 0


# Limits of LEASE_MIN_LIMIT or more per period (the token endpoint's 6000/min) are taken from the
# shared counter in leases of limit // LEASE_FRACTION tokens; smaller ones (sign-in, reset) one by one.
LEASE_MIN_LIMIT = 1000
LEASE_FRACTION = 100
LEASE_MAX_KEYS = 10_000


class _Scaled:
    """A rate whose GCRA step is ``interval`` (a lease of several tokens) over the same period."""

    def __init__(self, rate: Rate, interval: float):
        self.limit, self.seconds, self.interval = rate.limit, rate.seconds, interval


class CounterThrottle:
    """The limiter logic, over a backend's three atomic primitives (``_take``, ``_give``,
    ``_reserve``) and its plain reads/deletes; see ``MemoryThrottle`` and ``RedisThrottle``."""

    def __init__(self, policy: Policy, clock, secret: str):
        self.policy, self.clock, self._secret = policy, clock, secret
        self._leases: dict[str, tuple[int, float]] = {}  # rate key -> (tokens left, usable until)
        self._lease_lock = threading.Lock()

    # Keys carry keyed hashes, never a login or address in clear (the counters hold no personal data).
    def _h(self, value: str) -> str:
        return keyed_hash(value, self._secret)[:32]

    def _rate_key(self, name: str, key: str) -> str:
        return f"rate:{name}:{self._h(ip_key(key) if name.endswith('_ip') else key)}"

    def _account_key(self, login: str, device: str | None) -> str:
        return f"dev:{self._h(login)}:{self._h(device)}" if device else f"acct:{self._h(login)}"

    def check(self, login: str, ip: str, device: str | None = None) -> None:
        now, rate = self.clock.now(), self.policy.rates["login_ip"]
        account, scope = self._account_key(login, device), "device" if device else "account"
        # Fast path for an account under attack: one read, and the IP bucket is not touched.
        # Only a hint: the reservation below decides atomically.
        wait = core.delay_wait(self._read_delay(account), now, self.policy)
        if wait > 0:
            raise TooManyAttempts(wait, scope)
        ip_bucket = self._rate_key("login_ip", ip)
        ok, value = self._take(ip_bucket, rate, now)
        if not ok:
            raise TooManyAttempts(value, "ip")
        free = self.policy.device_free if device else self.policy.account_free
        ok, wait = self._reserve(account, free, now)
        if not ok:
            self._give(ip_bucket, rate, now)  # refused for free: only verifications count per IP
            raise TooManyAttempts(wait, scope)

    def record_failure(self, login: str, ip: str, device: str | None = None) -> list[tuple[str, float]]:
        now, rate = self.clock.now(), self.policy.rates["login_ip"]
        engaged = []
        wait = core.delay_wait(self._read_delay(self._account_key(login, device)), now, self.policy)
        if wait > 0:
            engaged.append(("device" if device else "account", wait))
        tat = self._read_tat(self._rate_key("login_ip", ip))
        if core.gcra_remaining(tat, now, rate) == 0:
            engaged.append(("ip", core.gcra_retry(tat, now, rate)))
        return engaged

    def record_success(self, login: str, ip: str, device: str | None = None) -> None:
        self._delete([self._account_key(login, device)])
        self._give(self._rate_key("login_ip", ip), self.policy.rates["login_ip"], self.clock.now())

    def check_rate(self, name: str, key: str) -> None:
        rate = self.policy.rates.get(name)
        if rate is None:
            raise ValueError(f"unknown rate limit {name!r}; known: {', '.join(sorted(self.policy.rates))}")
        now, rate_key = self.clock.now(), self._rate_key(name, key)
        chunk = rate.limit // LEASE_FRACTION if rate.limit >= LEASE_MIN_LIMIT else 1
        if chunk > 1:
            with self._lease_lock:
                left, until = self._leases.get(rate_key, (0, 0.0))
                if left > 0 and now < until:
                    self._leases[rate_key] = (left - 1, until)
                    return
            # One round trip takes ``chunk`` tokens at once (profile: the per-request Redis call was
            # over half of a client-credentials request under load). Tokens are taken before they are
            # spent, so the limit is never exceeded; unused ones lapse (stricter, never looser).
            lease = Rate(limit=max(1, rate.limit // chunk), seconds=rate.seconds)
            ok, _ = self._take(rate_key, _Scaled(lease, rate.interval * chunk), now)
            if ok:
                with self._lease_lock:
                    self._leases[rate_key] = (chunk - 1, now + rate.interval * chunk)
                    if len(self._leases) > LEASE_MAX_KEYS:
                        self._leases = {k: v for k, v in self._leases.items() if v[1] > now}
                return
        ok, value = self._take(rate_key, rate, now)  # exact: small limits, and the last tokens of a period
        if not ok:
            raise TooManyAttempts(value, name)

    def status(self, account: str | None = None, ip: str | None = None) -> dict:
        now, result = self.clock.now(), {}
        if account is not None:
            state = self._read_delay(self._account_key(account, None))
            devices = [core.delay_wait(s, now, self.policy) for s in self._read_devices(f"dev:{self._h(account)}:")]
            result["account"] = {"failures": core.delay_failures(state, now, self.policy),
                                 "retry_after": math.ceil(core.delay_wait(state, now, self.policy)),
                                 "known_devices_waiting": sum(1 for w in devices if w > 0)}
        if ip is not None:
            result["ip"] = {"address": ip_key(ip), "limits": {}}
            for name, rate in self.policy.rates.items():
                if name.endswith("_ip"):
                    tat = self._read_tat(self._rate_key(name, ip))
                    result["ip"]["limits"][name] = {
                        "remaining": core.gcra_remaining(tat, now, rate), "limit": rate.limit,
                        "retry_after": math.ceil(core.gcra_retry(tat, now, rate))}
        return result

    def clear(self, account: str | None = None, ip: str | None = None) -> int:
        keys = []
        if account is not None:
            keys += [self._account_key(account, None), self._rate_key("password_forgot_account", account),
                     self._rate_key("device_link_account", account)]
            keys += self._device_keys(f"dev:{self._h(account)}:")
        if ip is not None:
            keys += [self._rate_key(name, ip) for name in self.policy.rates if name.endswith("_ip")]
        return self._delete(keys)


class MemoryThrottle(CounterThrottle):
    """In-process counters under one lock: correct for a single process only (``--workers 1``)."""

    def __init__(self, policy: Policy, clock, secret: str):
        super().__init__(policy, clock, secret)
        self._data: dict[str, object] = {}
        self._lock = threading.Lock()

    def _take(self, key, rate, now):
        with self._lock:
            ok, tat, value = core.gcra_take(self._data.get(key), now, rate)
            if ok:
                self._data[key] = tat
            return ok, value

    def _give(self, key, rate, now):
        with self._lock:
            tat = core.gcra_give(self._data.get(key), now, rate)
            if tat is None:
                self._data.pop(key, None)
            else:
                self._data[key] = tat

    def _reserve(self, key, free, now):
        with self._lock:
            ok, state, wait = core.delay_reserve(self._data.get(key), now, free, self.policy)
            if ok:
                self._data[key] = state
            self._gc(now)
            return ok, wait

    def _read_tat(self, key):
        with self._lock:
            return self._data.get(key)

    def _read_delay(self, key):
        with self._lock:
            return self._data.get(key)

    def _device_keys(self, prefix):
        with self._lock:
            return [k for k in self._data if k.startswith(prefix)]

    def _read_devices(self, prefix):
        with self._lock:
            return [v for k, v in self._data.items() if k.startswith(prefix)]

    def _delete(self, keys) -> int:
        with self._lock:
            return sum(self._data.pop(k, None) is not None for k in keys)

    def _gc(self, now) -> None:
        if len(self._data) % 4096:
            return
        horizon = self.policy.reset_seconds + self.policy.max_delay_seconds
        for k in [k for k, v in self._data.items() if core.expired(v, now, horizon)]:
            del self._data[k]


def from_settings(settings, clock) -> Throttle:
    """``RedisThrottle`` when ``IDP_REDIS_URL`` is set, else ``MemoryThrottle``."""
    policy = Policy.from_settings(settings)
    if settings.redis_url:
        from idp.storage.throttle.redis import RedisThrottle

        return RedisThrottle(settings.redis_url, policy, clock, settings.secret_key, prefix=settings.redis_prefix)
    return MemoryThrottle(policy, clock, settings.secret_key)


def init_app(app, throttle: Throttle | None = None) -> None:
    app.extensions["idp.throttle"] = throttle or from_settings(app.extensions["idp.core.settings"],
                                                               app.extensions["idp.core.clock"])


def get_throttle(app=None) -> Throttle:
    from flask import current_app

    return (app or current_app).extensions["idp.throttle"]
