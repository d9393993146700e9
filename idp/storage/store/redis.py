"""Redis store (``RedisStore``): shared by every worker on every host when ``IDP_REDIS_URL`` is set.

``build_store`` wraps it in ``idp.storage.store.fallback.FallbackStore``, so that a Redis outage
moves short-lived state into the database instead of stopping single sign-on. Each method is one
Redis command, hence atomic: ``pop`` is ``GETDEL``, ``add`` is ``SET NX``.

Time: TTLs are Redis's own (server-side ``EX``), not the app's clock. That is enough because the
TTL is garbage collection only: callers keep their own expiry in the value and check it against
the clock service. Any connection error or timeout becomes ``StoreUnavailable``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from idp.core.errors import StoreUnavailable

T = TypeVar("T")


class RedisStore:
    """``idp.core.ports.Store`` on Redis; every key is prefixed with ``prefix``."""

    def __init__(self, url: str, prefix: str = "idp:") -> None:
        # One quick retry: it replaces a pooled connection that a Redis restart closed. More (redis-py
        # retries three times with up-to-seconds backoff by default) would only delay the 503 of an outage.
        self._redis = redis.Redis.from_url(
            url,
            socket_timeout=2,
            socket_connect_timeout=2,
            health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=0.1, base=0.02), 1),
        )
        self._prefix = prefix

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(str(exc)) from exc

    def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        """``SET key value EX ttl`` (at least one second), replacing any earlier value."""
        self._call(self._redis.set, self._prefix + key, json.dumps(value), ex=max(1, int(ttl)))

    def get(self, key: str) -> dict[str, Any] | None:
        """The value under ``key``, or None."""
        raw = self._call(self._redis.get, self._prefix + key)
        return None if raw is None else json.loads(raw)

    def pop(self, key: str) -> dict[str, Any] | None:
        """``GETDEL``: of two concurrent callers only one gets the value."""
        raw = self._call(self._redis.getdel, self._prefix + key)
        return None if raw is None else json.loads(raw)

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        self._call(self._redis.delete, self._prefix + key)

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        """``SET … NX EX ttl``: True if the key was absent (Redis has already dropped expired keys)."""
        return bool(self._call(self._redis.set, self._prefix + key, json.dumps(value), ex=max(1, int(ttl)), nx=True))
