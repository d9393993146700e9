"""Store service: short-lived, high-churn state (pending interactions, authorization codes).

``RedisStore`` when ``IDP_REDIS_URL`` is set (shared by every worker on every host), wrapped in
``store_fallback.FallbackStore`` so that a Redis outage moves this state into the database instead
of stopping single sign-on; ``MemoryStore`` otherwise (one process only, documented as such). Values are JSON objects.
The TTL given here is garbage collection only; callers keep their own expiry in the value
and check it against the clock service, so tests stay deterministic.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Protocol
from idp.core.errors import StoreUnavailable
from idp.core.ports import Store


class MemoryStore:
    """In-process store: correct for a single process only."""

    def __init__(self):
        self._data: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, value: dict, ttl: int) -> None:
        with self._lock:
            self._gc()
            self._data[key] = (time.monotonic() + ttl, json.dumps(value))

    def get(self, key: str) -> dict | None:
        with self._lock:
            item = self._data.get(key)
            if item is None or item[0] < time.monotonic():
                return None
            return json.loads(item[1])

    def pop(self, key: str) -> dict | None:
        with self._lock:
            item = self._data.pop(key, None)
            if item is None or item[0] < time.monotonic():
                return None
            return json.loads(item[1])

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def add(self, key: str, value: dict, ttl: int) -> bool:
        with self._lock:
            item = self._data.get(key)
            if item is not None and item[0] >= time.monotonic():
                return False
            self._gc()
            self._data[key] = (time.monotonic() + ttl, json.dumps(value))
            return True

    def _gc(self) -> None:
        if len(self._data) % 1024:
            return
        now = time.monotonic()
        for k in [k for k, (exp, _) in self._data.items() if exp < now]:
            del self._data[k]


class RedisStore:
    def __init__(self, url: str, prefix: str = "idp:"):
        import redis
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        # One quick retry: it replaces a pooled connection that a Redis restart closed. More (redis-py
        # retries three times with up-to-seconds backoff by default) would only delay the 503 of an outage.
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30,
                                           retry=Retry(ExponentialBackoff(cap=0.1, base=0.02), 1))
        self._prefix = prefix
        self._errors = (redis.ConnectionError, redis.TimeoutError)

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except self._errors as exc:
            raise StoreUnavailable(str(exc)) from exc

    def put(self, key: str, value: dict, ttl: int) -> None:
        self._call(self._redis.set, self._prefix + key, json.dumps(value), max(1, int(ttl)))

    def get(self, key: str) -> dict | None:
        raw = self._call(self._redis.get, self._prefix + key)
        return None if raw is None else json.loads(raw)

    def pop(self, key: str) -> dict | None:
        raw = self._call(self._redis.getdel, self._prefix + key)
        return None if raw is None else json.loads(raw)

    def delete(self, key: str) -> None:
        self._call(self._redis.delete, self._prefix + key)

    def add(self, key: str, value: dict, ttl: int) -> bool:
        return bool(self._call(lambda: self._redis.set(self._prefix + key, json.dumps(value), ex=max(1, int(ttl)),
                                                       nx=True)))


def build_store(settings, database) -> Store:
    """Redis with the database as its fallback during an outage (``idp.storage.store.fallback``) when
    ``IDP_REDIS_URL`` is set; the in-process store otherwise."""
    if not settings.redis_url:
        return MemoryStore()
    from idp.storage.store.fallback import DatabaseStore, FallbackStore

    return FallbackStore(RedisStore(settings.redis_url, settings.redis_prefix), DatabaseStore(database))


def init_app(app, store: Store | None = None) -> None:
    if store is None:
        store = build_store(app.extensions["idp.core.settings"], app.extensions["idp.storage.sql.database"])
    app.extensions["idp.storage.store.memory"] = store


def get_store() -> Store:
    from flask import current_app

    return current_app.extensions["idp.storage.store.memory"]
