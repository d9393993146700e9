"""The ``Store`` contract (``idp.core.ports.Store``), one suite run on every backend:
``MemoryStore``, ``RedisStore`` (the real Redis, a key prefix of the test's own), ``DatabaseStore``
on SQLite and PostgreSQL, and ``FallbackStore`` (Redis in front of the database) while Redis is up.

What callers rely on: a value comes back as the JSON it went in as; ``put`` replaces; ``pop`` and
``add`` are atomic (of concurrent callers exactly one gets the value, or gets to write it); entries
live ``ttl`` seconds. Stores that compute expiry in Python follow the clock they are given, so
time is moved here, never slept; on Redis the server-side TTL is read back (``PTTL``).
"""

from __future__ import annotations

import inspect

import pytest
import redis as redis_client
from sqlalchemy import func, select

from idp.core.clock import FixedClock
from idp.core.errors import StoreUnavailable
from idp.core.ports import Store
from idp.storage.sql.models import StoreEntry
from idp.storage.store.database import DatabaseStore
from idp.storage.store.fallback import FallbackStore
from idp.storage.store.memory import MemoryStore
from idp.storage.store.redis import RedisStore
from tests.support.constants import REDIS_URL
from tests.support.live import free_port
from tests.support.race import at_once

VALUE = {
    "text": "Grüße, 日本",
    "n": 3,
    "x": 1.5,
    "ok": True,
    "none": None,
    "list": [1, "two", {"three": 3}],
    "nested": {"redirect_uri": "https://rp.example/cb?a=1&b=2"},
}
THREADS = 8


class ClockExpiry:
    """Expiry on a store timed by ``clock``: alive until ``ttl`` seconds have passed, then gone."""

    def __init__(self, clock: FixedClock):
        self.clock = clock

    def assert_lives(self, store: Store, key: str, ttl: int) -> None:
        self.clock.advance(ttl - 1)
        assert store.get(key) is not None
        self.clock.advance(1)
        assert store.get(key) is None


class RedisExpiry:
    """Expiry on Redis: the key's server-side TTL, read back rather than waited for."""

    def __init__(self, prefix: str):
        self.prefix, self.redis = prefix, redis_client.Redis.from_url(REDIS_URL)

    def assert_lives(self, store: Store, key: str, ttl: int) -> None:
        assert ttl * 1000 - 1000 < self.redis.pttl(self.prefix + key) <= ttl * 1000


@pytest.fixture
def clock():
    # Far from the wall clock: a store that read time.time() anywhere would fail every expiry test.
    return FixedClock(1_000_000.0)


class StoreContract:
    """The suite. A backend subclasses it and provides the fixtures ``store`` and ``expiry``."""

    def test_implements_every_method_of_the_port(self, store):
        for name, member in inspect.getmembers(Store, inspect.isfunction):
            if not name.startswith("_"):
                assert (
                    list(inspect.signature(getattr(store, name)).parameters)
                    == list(inspect.signature(member).parameters)[1:]
                ), name

    def test_a_missing_key_is_none_for_get_and_pop_and_delete_is_quiet(self, store):
        assert store.get("missing") is None
        assert store.pop("missing") is None
        store.delete("missing")

    def test_a_value_comes_back_as_the_json_it_went_in_as(self, store):
        value = {**VALUE}
        store.put("interaction:1", value, ttl=60)
        value["n"] = 4  # the store holds a copy, not the caller's dict
        assert store.get("interaction:1") == VALUE
        assert store.get("interaction:1") == VALUE  # reading does not consume

    def test_put_replaces_the_value_and_its_ttl(self, store, expiry):
        store.put("interaction:1", {"step": 1}, ttl=10)
        store.put("interaction:1", {"step": 2}, ttl=60)
        assert store.get("interaction:1") == {"step": 2}
        expiry.assert_lives(store, "interaction:1", 60)

    def test_put_keeps_the_value_for_its_ttl(self, store, expiry):
        store.put("code:1", {"c": 1}, ttl=90)
        expiry.assert_lives(store, "code:1", 90)

    def test_a_ttl_below_one_second_counts_as_one_second(self, store, expiry):
        store.put("code:short", {"c": 1}, ttl=0)
        assert store.get("code:short") == {"c": 1}
        expiry.assert_lives(store, "code:short", 1)

    def test_pop_returns_the_value_once(self, store):
        store.put("code:1", VALUE, ttl=60)
        assert store.pop("code:1") == VALUE
        assert store.pop("code:1") is None and store.get("code:1") is None

    def test_delete_removes_the_key(self, store):
        store.put("interaction:1", {"a": 1}, ttl=60)
        store.delete("interaction:1")
        assert store.get("interaction:1") is None
        assert store.add("interaction:1", {"a": 2}, ttl=60) is True

    def test_add_writes_only_when_the_key_is_absent(self, store, expiry):
        assert store.add("jti:client:1", {"seen": 1}, ttl=60) is True
        assert store.add("jti:client:1", {"seen": 2}, ttl=60) is False
        assert store.get("jti:client:1") == {"seen": 1}  # the refused add changed nothing
        store.put("jti:client:1", {"seen": 3}, ttl=60)  # put still replaces
        assert store.get("jti:client:1") == {"seen": 3}
        assert store.add("jti:client:2", {"seen": 1}, ttl=30) is True
        expiry.assert_lives(store, "jti:client:2", 30)

    def test_keys_are_distinct(self, store):
        long = "client-jwks:https://rp.example/" + "k" * 3000
        store.put(long, {"keys": []}, ttl=60)
        store.put("code:a", {"v": "a"}, ttl=60)
        store.put("code:A", {"v": "A"}, ttl=60)
        assert store.get(long) == {"keys": []}
        assert (store.get("code:a"), store.get("code:A"), store.get("code:b")) == ({"v": "a"}, {"v": "A"}, None)

    def test_concurrent_pops_of_one_key_have_exactly_one_winner(self, store):
        for round_ in range(4):
            store.put(f"code:{round_}", {"round": round_}, ttl=60)
            results = at_once(THREADS, lambda _i, key=f"code:{round_}": store.pop(key))
            assert sorted(results, key=lambda r: r is None) == [{"round": round_}] + [None] * (THREADS - 1)

    def test_concurrent_adds_of_one_key_have_exactly_one_winner(self, store):
        for round_ in range(4):
            key = f"jti:client:{round_}"
            results = at_once(THREADS, lambda i, key=key: store.add(key, {"by": i}, ttl=60))
            assert results.count(True) == 1, results
            assert store.get(key) == {"by": results.index(True)}


class ClockExpiryContract(StoreContract):
    """What a store that computes expiry in Python adds: it follows the clock it was given."""

    @pytest.fixture
    def expiry(self, clock):
        return ClockExpiry(clock)

    def test_an_expired_value_is_gone_for_get_and_pop(self, store, clock):
        store.put("code:1", {"c": 1}, ttl=60)
        clock.advance(60)
        assert store.get("code:1") is None and store.pop("code:1") is None

    def test_add_counts_an_expired_entry_as_absent(self, store, clock):
        assert store.add("jti:client:1", {"seen": 1}, ttl=60) is True
        clock.advance(59)
        assert store.add("jti:client:1", {"seen": 2}, ttl=60) is False
        clock.advance(1)
        assert store.add("jti:client:1", {"seen": 3}, ttl=60) is True
        assert store.get("jti:client:1") == {"seen": 3}


class TestMemoryStore(ClockExpiryContract):
    @pytest.fixture
    def store(self, clock):
        return MemoryStore(now=clock.now)


class TestDatabaseStore(ClockExpiryContract):
    """On SQLite and on PostgreSQL (the ``database`` fixture's parameters)."""

    @pytest.fixture
    def store(self, clean_database, clock):
        return DatabaseStore(clean_database, now=clock.now)

    def test_every_write_deletes_what_has_expired(self, store, clock, clean_database):
        store.put("code:a", {"a": 1}, ttl=60)
        store.put("code:b", {"b": 1}, ttl=120)
        clock.advance(60)
        store.add("jti:c", {"c": 1}, ttl=60)
        assert rows(clean_database) == 2  # code:a went; code:b (alive) and jti:c stay

    def test_keys_are_stored_only_as_their_hash(self, store, clean_database):
        store.put("code:https://rp.example/", {"v": 1}, ttl=60)
        with clean_database.engine.connect() as conn:
            (key_hash,) = conn.execute(select(StoreEntry.key_hash)).one()
        assert len(key_hash) == 64 and "rp.example" not in key_hash


def rows(database) -> int:
    with database.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(StoreEntry))


class RedisExpiryContract(StoreContract):
    @pytest.fixture
    def expiry(self, redis_prefix):
        return RedisExpiry(redis_prefix)


class TestRedisStore(RedisExpiryContract):
    @pytest.fixture
    def store(self, redis_prefix):
        return RedisStore(REDIS_URL, redis_prefix)

    def test_keys_are_isolated_by_prefix(self, store, redis_prefix):
        other = RedisStore(REDIS_URL, redis_prefix + "other:")
        store.put("code:1", {"mine": True}, ttl=60)
        assert other.get("code:1") is None and other.pop("code:1") is None
        assert other.add("code:1", {"theirs": True}, ttl=60) is True
        other.delete("code:1")
        assert store.get("code:1") == {"mine": True}
        assert redis_client.Redis.from_url(REDIS_URL).exists(redis_prefix + "code:1") == 1

    def test_every_method_raises_store_unavailable_when_redis_is_unreachable(self):
        store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", "idptest:gone:")
        for call in (
            lambda: store.put("k", {}, 60),
            lambda: store.get("k"),
            lambda: store.pop("k"),
            lambda: store.delete("k"),
            lambda: store.add("k", {}, 60),
        ):
            with pytest.raises(StoreUnavailable):
                call()


class TestFallbackStore(RedisExpiryContract):
    """Redis up: the fallback must be invisible (its outage behaviour: tests/e2e/test_store_fallback.py)."""

    @pytest.fixture
    def store(self, redis_prefix, clean_database, clock):
        return FallbackStore(RedisStore(REDIS_URL, redis_prefix), DatabaseStore(clean_database, now=clock.now))
