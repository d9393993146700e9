"""The throttle's arithmetic as pure functions of (stored state, now): shared by the in-process
backend and mirrored line for line by the Redis Lua scripts (``idp.storage.throttle.redis``).

Token bucket as GCRA (generic cell rate algorithm): one float per key, the "theoretical arrival
time" ``tat``. A rate of ``limit`` per ``seconds`` admits ``limit`` requests at once and then one
every ``seconds / limit``; a request is refused when admitting it would push ``tat`` more than
``seconds`` ahead of now. Constant memory per key and an exact bound on any burst.

Progressive delay: state ``(n, next, last)`` — attempts counted, earliest time of the next one,
time of the last one. After attempt ``n >= free`` the next must wait ``delay * 2**(n - free)``
seconds, capped; the state is forgotten ``reset_seconds`` after the last attempt.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from idp.core.settings import Settings

EPSILON = 1e-6  # float slack, so that exactly ``limit`` requests fit in ``seconds``

RATE_NAMES = (
    "login_ip",
    "password_forgot_ip",
    "password_forgot_account",
    "password_reset_ip",
    "register_ip",
    "token_client",
    "device_link_ip",
    "device_link_account",
    "passkey_options_ip",
)


#: Progressive-delay state ``(n, next, last)``; None when nothing is stored.
DelayState = tuple[int, float, float]


class Bucket(Protocol):
    """What the GCRA needs of a rate: its period and how far one take advances the bucket."""

    @property
    def seconds(self) -> float: ...

    @property
    def interval(self) -> float: ...


@dataclass(frozen=True)
class Rate:
    limit: int
    seconds: float

    @property
    def interval(self) -> float:
        return self.seconds / self.limit


@dataclass(frozen=True)
class Policy:
    rates: dict[str, Rate]
    account_free: int = 5
    device_free: int = 10
    delay_seconds: float = 30
    max_delay_seconds: float = 900
    reset_seconds: float = 86400

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        s = settings.throttle
        rates = {
            name: Rate(getattr(s, f"rate_{name}_limit"), getattr(s, f"rate_{name}_seconds")) for name in RATE_NAMES
        }
        return cls(
            rates=rates,
            account_free=s.account_free,
            device_free=s.device_free,
            delay_seconds=s.delay_seconds,
            max_delay_seconds=s.max_delay_seconds,
            reset_seconds=s.reset_seconds,
        )


def ip_key(ip: str) -> str:
    """The unit an IP limit counts: the IPv4 address, or the /64 of an IPv6 address (one
    subscriber usually holds a whole /64). IPv4-mapped IPv6 counts as its IPv4 address."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip or "unknown"
    if addr.version == 6 and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if addr.version == 6:
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr)


# -- token bucket (GCRA) ------------------------------------------------------------------------


def gcra_take(tat: float | None, now: float, rate: Bucket) -> tuple[bool, float, float]:
    """(admitted, new tat, remaining if admitted else seconds until one is)."""
    tat = max(tat or 0.0, now)
    new = tat + rate.interval
    if new - now > rate.seconds + EPSILON:
        return False, tat, new - now - rate.seconds
    return True, new, gcra_remaining(new, now, rate)


def gcra_give(tat: float | None, now: float, rate: Bucket) -> float | None:
    """Return one token; None when the bucket is then full (the key can go)."""
    back = max(tat or 0.0, now) - rate.interval
    return back if back > now else None


def gcra_remaining(tat: float | None, now: float, rate: Bucket) -> int:
    ahead = max(tat or 0.0, now) - now
    return max(0, math.floor((rate.seconds - ahead) / rate.interval + EPSILON))


def gcra_retry(tat: float | None, now: float, rate: Bucket) -> float:
    """Seconds until the next request would be admitted (0 if now)."""
    return max(0.0, max(tat or 0.0, now) + rate.interval - now - rate.seconds - EPSILON)


# -- progressive delay ----------------------------------------------------------------------------


def _live(state: DelayState | None, now: float, policy: Policy) -> DelayState:
    if not state:
        return 0, 0.0, 0.0
    n, nxt, last = state
    if now - last > policy.reset_seconds:
        return 0, 0.0, 0.0
    return int(n), float(nxt), float(last)


def delay_after(n: int, free: int, policy: Policy) -> float:
    """The wait imposed after attempt number ``n``."""
    if n < free:
        return 0.0
    return min(policy.max_delay_seconds, policy.delay_seconds * 2.0 ** min(n - free, 64))


def delay_reserve(state: DelayState | None, now: float, free: int, policy: Policy) -> tuple[bool, DelayState, float]:
    """(admitted, new state, seconds to wait if refused else the wait this attempt imposes)."""
    n, nxt, last = _live(state, now, policy)
    if now < nxt:
        return False, (n, nxt, last), nxt - now
    n += 1
    wait = delay_after(n, free, policy)
    # "next" only when a wait is imposed: a concurrent attempt on another worker may have read its
    # clock a moment before this one, and must not see ``now < next`` and be refused for nothing.
    return True, (n, now + wait if wait > 0 else 0.0, now), wait


def delay_wait(state: DelayState | None, now: float, policy: Policy) -> float:
    _, nxt, _ = _live(state, now, policy)
    return max(0.0, nxt - now)


def delay_failures(state: DelayState | None, now: float, policy: Policy) -> int:
    return _live(state, now, policy)[0]


def expired(value: float | DelayState, now: float, horizon: float) -> bool:
    """Whether an in-process entry (a tat or a delay state) can be garbage-collected."""
    if isinstance(value, tuple):
        return now - value[2] > horizon
    return value < now
