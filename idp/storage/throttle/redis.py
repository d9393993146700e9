"""Redis backend of the throttle (``RedisThrottle``): the ``idp.storage.throttle.core`` arithmetic as
Lua scripts, under the limiter logic of ``idp.storage.throttle.counter``.

Why Lua scripts and not the ``limits`` library: ``limits`` takes its time from the Redis server
(fixed windows: ``INCR`` + ``EXPIRE``) or from ``time.time()`` in the calling process (moving
window), so the clock service cannot drive it and tests would have to sleep; it also has no
progressive delay and no way to hand a token back. Each script here reads and writes one key
atomically (Redis runs a script to completion before any other command), so concurrent workers on
any number of hosts cannot slip past a limit, and each takes ``now`` from the app's clock. With
the system clock, hosts must keep their clocks in sync (NTP); a skew of a second is small
against windows of minutes. One key per script keeps it valid on Redis Cluster.

Redis TTLs only collect garbage; expiry that matters is decided on the clock in the script.
Any Redis error becomes ``ThrottleUnavailable``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from idp.core.errors import ThrottleUnavailable
from idp.core.ports import Clock
from idp.storage.throttle.core import Bucket, DelayState, Policy
from idp.storage.throttle.counter import CounterThrottle

T = TypeVar("T")

# GCRA take/give. KEYS[1]: bucket. ARGV: now, interval, seconds, epsilon, mode ('take' | 'give').
GCRA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local seconds = tonumber(ARGV[3])
local eps = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1])) or 0
if tat < now then tat = now end
if ARGV[5] == 'give' then
  local back = tat - interval
  if back > now then
    redis.call('SET', KEYS[1], string.format('%.6f', back), 'PX', math.ceil((back - now) * 2000) + 60000)
  else
    redis.call('DEL', KEYS[1])
  end
  return {'1', '0'}
end
local new = tat + interval
if new - now > seconds + eps then
  return {'0', string.format('%.6f', new - now - seconds)}
end
redis.call('SET', KEYS[1], string.format('%.6f', new), 'PX', math.ceil((new - now) * 2000) + 60000)
return {'1', string.format('%.6f', math.floor((seconds - (new - now)) / interval + eps))}
"""

# Progressive delay reserve. KEYS[1]: account state. ARGV: now, free, delay, max delay, reset.
DELAY = """
local now = tonumber(ARGV[1])
local free = tonumber(ARGV[2])
local delay = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local reset = tonumber(ARGV[5])
local s = redis.call('HMGET', KEYS[1], 'n', 'next', 'last')
local n = tonumber(s[1]) or 0
local nxt = tonumber(s[2]) or 0
local last = tonumber(s[3]) or 0
if now - last > reset then n = 0; nxt = 0 end
if now < nxt then
  return {'0', string.format('%.6f', nxt - now)}
end
n = n + 1
local wait = 0
if n >= free then wait = math.min(cap, delay * 2 ^ math.min(n - free, 64)) end
-- 'next' only when a wait is imposed (see core.delay_reserve: concurrent clocks)
local nxt_new = 0
if wait > 0 then nxt_new = now + wait end
redis.call('HSET', KEYS[1], 'n', tostring(n), 'next', string.format('%.6f', nxt_new),
           'last', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((reset + cap) * 1000) + 60000)
return {'1', string.format('%.6f', wait)}
"""


class RedisThrottle(CounterThrottle):
    """Counters shared by every worker on every host through one Redis."""

    def __init__(self, url: str, policy: Policy, clock: Clock, secret: str, prefix: str = "idp:") -> None:
        super().__init__(policy, clock, secret)
        # One quick retry (a pooled connection may be stale after a Redis restart), then fail:
        # sign-in answers 503 at once instead of hanging, and recovers by itself when Redis is back.
        self._redis = redis.Redis.from_url(
            url, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 1), health_check_interval=30
        )
        self.prefix = prefix + "thr:"
        self._gcra = self._redis.register_script(GCRA)
        self._delay = self._redis.register_script(DELAY)

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise ThrottleUnavailable(f"{exc.__class__.__name__}: {exc}") from exc

    def _take(self, key: str, rate: Bucket, now: float) -> tuple[bool, float]:
        ok, value = self._call(
            self._gcra,
            keys=[self.prefix + key],
            args=[repr(now), repr(rate.interval), repr(rate.seconds), "1e-6", "take"],
        )
        return ok == b"1", float(value)

    def _give(self, key: str, rate: Bucket, now: float) -> None:
        self._call(
            self._gcra,
            keys=[self.prefix + key],
            args=[repr(now), repr(rate.interval), repr(rate.seconds), "1e-6", "give"],
        )

    def _reserve(self, key: str, free: int, now: float) -> tuple[bool, float]:
        p = self.policy
        ok, value = self._call(
            self._delay,
            keys=[self.prefix + key],
            args=[repr(now), free, repr(p.delay_seconds), repr(p.max_delay_seconds), repr(p.reset_seconds)],
        )
        return ok == b"1", float(value)

    def _read_tat(self, key: str) -> float | None:
        raw = self._call(self._redis.get, self.prefix + key)
        return None if raw is None else float(raw)

    def _read_delay(self, key: str) -> DelayState | None:
        return _delay_state(self._call(self._redis.hmget, self.prefix + key, "n", "next", "last"))

    def _device_keys(self, prefix: str) -> list[str]:
        found = self._call(lambda: list(self._redis.scan_iter(match=self.prefix + prefix + "*", count=500)))
        return [k.decode()[len(self.prefix) :] for k in found]

    def _read_devices(self, prefix: str) -> list[DelayState | None]:
        return [self._read_delay(k) for k in self._device_keys(prefix)]

    def _delete(self, keys: list[str]) -> int:
        return self._call(self._redis.delete, *[self.prefix + k for k in keys]) if keys else 0


def _delay_state(values: Sequence[bytes | str | None]) -> DelayState | None:
    n, nxt, last = values
    if n is None or nxt is None or last is None:  # the script writes all three fields or none
        return None
    return int(n), float(nxt), float(last)
