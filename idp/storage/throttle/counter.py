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

This module holds that logic once, as a template method: ``CounterThrottle`` calls a backend's
three atomic primitives (``_take``, ``_give``, ``_reserve``) and its plain reads and deletes.
Backends: ``MemoryThrottle`` (``idp.storage.throttle.memory``, one process only) and
``RedisThrottle`` (``idp.storage.throttle.redis``), both built on the pure functions in
``idp.storage.throttle.core`` and both timed by the app's clock service (``now`` is passed to
every primitive). If the shared counters cannot be reached, methods raise ``ThrottleUnavailable``:
sign-in fails closed (503); the token endpoint fails open (documented in docs/security.md).
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from typing import Any

from idp.core.errors import TooManyAttempts
from idp.core.ports import Clock
from idp.core.tokens import keyed_hash
from idp.storage.throttle import core
from idp.storage.throttle.core import Bucket, DelayState, Policy, Rate, ip_key

# Limits of LEASE_MIN_LIMIT or more per period (the token endpoint's 6000/min) are taken from the
# shared counter in leases of limit // LEASE_FRACTION tokens; smaller ones (sign-in, reset) one by one.
LEASE_MIN_LIMIT = 1000
LEASE_FRACTION = 100
LEASE_MAX_KEYS = 10_000


class _Scaled:
    """A rate whose GCRA step is ``interval`` (a lease of several tokens) over the same period."""

    def __init__(self, rate: Rate, interval: float) -> None:
        self.limit, self.seconds, self.interval = rate.limit, rate.seconds, interval


class CounterThrottle(ABC):
    """The limiter logic over a backend's primitives (``MemoryThrottle``, ``RedisThrottle``).

    A backend supplies, each atomic per key and timed by the ``now`` it is given:
    ``_take(key, rate, now) -> (admitted, remaining or seconds to wait)`` and
    ``_give(key, rate, now)`` (token bucket), ``_reserve(key, free, now) -> (admitted, wait)``
    (progressive delay), and the plain ``_read_tat(key)``, ``_read_delay(key)``,
    ``_device_keys(prefix)``, ``_read_devices(prefix)`` and ``_delete(keys) -> int``.
    """

    def __init__(self, policy: Policy, clock: Clock, secret: str) -> None:
        self.policy, self.clock, self._secret = policy, clock, secret
        self._leases: dict[str, tuple[int, float]] = {}  # rate key -> (tokens left, usable until)
        self._lease_lock = threading.Lock()

    # -- the backend's primitives ------------------------------------------------------------------

    @abstractmethod
    def _take(self, key: str, rate: Bucket, now: float) -> tuple[bool, float]:
        """Take one token: (admitted, tokens remaining if admitted else seconds until one is)."""

    @abstractmethod
    def _give(self, key: str, rate: Bucket, now: float) -> None:
        """Hand one token back."""

    @abstractmethod
    def _reserve(self, key: str, free: int, now: float) -> tuple[bool, float]:
        """Count one attempt unless a wait is pending: (admitted, wait imposed or still to wait)."""

    @abstractmethod
    def _read_tat(self, key: str) -> float | None: ...

    @abstractmethod
    def _read_delay(self, key: str) -> DelayState | None: ...

    @abstractmethod
    def _device_keys(self, prefix: str) -> list[str]: ...

    @abstractmethod
    def _read_devices(self, prefix: str) -> list[DelayState | None]: ...

    @abstractmethod
    def _delete(self, keys: list[str]) -> int:
        """Remove ``keys``; how many there were."""

    # -- the limiter logic -------------------------------------------------------------------------

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
        engaged: list[tuple[str, float]] = []
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

    def status(self, account: str | None = None, ip: str | None = None) -> dict[str, Any]:
        now = self.clock.now()
        result: dict[str, Any] = {}
        if account is not None:
            state = self._read_delay(self._account_key(account, None))
            devices = [core.delay_wait(s, now, self.policy) for s in self._read_devices(f"dev:{self._h(account)}:")]
            result["account"] = {
                "failures": core.delay_failures(state, now, self.policy),
                "retry_after": math.ceil(core.delay_wait(state, now, self.policy)),
                "known_devices_waiting": sum(1 for w in devices if w > 0),
            }
        if ip is not None:
            limits: dict[str, dict[str, int]] = {}
            result["ip"] = {"address": ip_key(ip), "limits": limits}
            for name, rate in self.policy.rates.items():
                if name.endswith("_ip"):
                    tat = self._read_tat(self._rate_key(name, ip))
                    limits[name] = {
                        "remaining": core.gcra_remaining(tat, now, rate),
                        "limit": rate.limit,
                        "retry_after": math.ceil(core.gcra_retry(tat, now, rate)),
                    }
        return result

    def clear(self, account: str | None = None, ip: str | None = None) -> int:
        keys: list[str] = []
        if account is not None:
            keys += [
                self._account_key(account, None),
                self._rate_key("password_forgot_account", account),
                self._rate_key("device_link_account", account),
            ]
            keys += self._device_keys(f"dev:{self._h(account)}:")
        if ip is not None:
            keys += [self._rate_key(name, ip) for name in self.policy.rates if name.endswith("_ip")]
        return self._delete(keys)
