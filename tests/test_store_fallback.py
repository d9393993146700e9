"""The store's database fallback (``idp.storage.store.fallback``): while Redis is unreachable, pending
sign-ins and authorization codes go to table ``store_fallback``, so a browser that is already
signed in keeps completing single sign-on; password sign-in still fails closed (the throttle); codes
stay single-use; and when Redis is back everything carries on, including what the outage wrote.

Redis "goes away" through a loopback proxy that the test cuts (the shared server keeps running)."""

from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import func, select

from idp.storage.sql.models import StoreEntry
from idp.storage.store.redis import RedisStore
from idp.core.errors import StoreUnavailable
from idp.storage.store.database import DatabaseStore
from idp.storage.store.fallback import FallbackStore

from .helpers import PASSWORD, query
from .tcp_proxy import TcpProxy


class Wall:
    """A settable wall clock for the table's expiry (the store's TTLs are wall-clock time, like Redis)."""

    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def wall():
    return Wall()


@pytest.fixture
def db_store(clean_database, wall):
    return DatabaseStore(clean_database, now=wall)


@pytest.fixture
def redis_proxy():
    proxy = TcpProxy(("127.0.0.1", 6379))
    yield proxy
    proxy.close()


@pytest.fixture
def fallback(redis_proxy, redis_prefix, db_store):
    return FallbackStore(RedisStore(redis_proxy.url, redis_prefix), db_store)


def rows(database) -> int:
    with database.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(StoreEntry))


# -- the table on its own ------------------------------------------------------------------------

def test_database_store_keeps_values_until_they_expire_and_collects_them(db_store, wall, clean_database):
    db_store.put("interaction:a", {"step": 1}, ttl=60)
    db_store.put("interaction:a", {"step": 2}, ttl=60)  # replaces
    assert db_store.get("interaction:a") == {"step": 2}
    wall.t += 61
    assert db_store.get("interaction:a") is None and db_store.pop("interaction:a") is None
    db_store.put("code:b", {"x": 1}, ttl=60)  # every write deletes what has expired
    assert rows(clean_database) == 1
    db_store.delete("code:b")
    assert rows(clean_database) == 0


def test_database_store_pop_is_single_use_even_for_concurrent_callers(db_store):
    for round_ in range(5):
        db_store.put(f"code:{round_}", {"n": round_}, ttl=60)
        barrier, results = threading.Barrier(4), []

        def take(key=f"code:{round_}"):
            barrier.wait(timeout=10)
            results.append(db_store.pop(key))

        threads = [threading.Thread(target=take) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(results, key=lambda r: r is None) == [{"n": round_}, None, None, None]


def test_long_keys_are_stored_by_their_hash(db_store):
    key = "client-jwks:https://rp.example/" + "k" * 3000
    db_store.put(key, {"keys": []}, ttl=60)
    assert db_store.get(key) == {"keys": []}


# -- Redis first, the database while Redis is down ---------------------------------------------------

def test_writes_go_to_redis_while_it_is_up_and_nothing_to_the_database(fallback, clean_database):
    fallback.put("interaction:up", {"a": 1}, ttl=60)
    assert fallback.primary.get("interaction:up") == {"a": 1}
    assert rows(clean_database) == 0


def test_what_the_outage_wrote_is_found_once_redis_is_back(fallback, redis_proxy, clean_database, caplog):
    fallback.put("code:before", {"c": 0}, ttl=60)
    redis_proxy.cut()
    with caplog.at_level("ERROR", logger="idp.storage.store.fallback"):
        fallback.put("code:during", {"c": 1}, ttl=60)
        fallback.put("interaction:during", {"step": 1}, ttl=60)
    assert [r.getMessage()[:24] for r in caplog.records] == ["store: Redis unreachable"]  # once, not per call
    assert fallback.get("interaction:during") == {"step": 1}
    assert rows(clean_database) == 2
    # What is in Redis is unknown while it is down: not "absent" (that would be invalid_grant).
    with pytest.raises(StoreUnavailable):
        fallback.pop("code:before")
    # A replay cache does not fall back: a jti seen before the outage is only in Redis.
    with pytest.raises(StoreUnavailable):
        fallback.add("assertion-jti:client:j1", {"seen": True}, ttl=60)

    redis_proxy.restore()
    assert fallback.pop("code:before") == {"c": 0}
    assert fallback.pop("code:during") == {"c": 1}
    assert fallback.pop("code:during") is None  # single use across the outage
    # An interaction updated after the outage lands in Redis; deleting it removes both copies.
    fallback.put("interaction:during", {"step": 2}, ttl=60)
    assert fallback.get("interaction:during") == {"step": 2}
    fallback.delete("interaction:during")
    assert fallback.get("interaction:during") is None
    assert rows(clean_database) == 0


# -- end to end: single sign-on through a Redis outage -------------------------------------------

@pytest.fixture
def provider(make_provider, redis_proxy, redis_prefix):
    # store=None: the app builds its own store from the settings, as `idp serve` does
    # (Redis behind the proxy, with the test database as the fallback); the throttle uses the same Redis.
    provider = make_provider(redis_url=redis_proxy.url, redis_prefix=redis_prefix, store=None)
    provider.create_user()
    return provider


def test_signed_in_browser_completes_sso_on_a_second_relying_party_while_redis_is_down(provider, redis_proxy,
                                                                                         clean_database):
    dashboard = provider.create_client(name="Dashboard")
    browser = provider.browser()
    dashboard.exchange(dashboard.sign_in(browser))  # signed in with a password while Redis was up
    # Not trusted: the consent step needs the pending request saved and read back.
    portal = provider.create_client(name="Supplier Portal", trusted=False)

    before = dashboard.sign_in(browser)  # a code issued just before the outage, exchanged during it
    redis_proxy.cut()
    unknown = dashboard.token_request({"grant_type": "authorization_code", "code": query(before)["code"],
                                       "redirect_uri": dashboard.redirect_uri, "code_verifier": dashboard.verifier})
    assert unknown.status_code == 503 and unknown.json()["error"] == "temporarily_unavailable"
    ready = requests.get(provider.url + "/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    # Password sign-in still fails closed: no verification without the brute-force counters.
    login_page = provider.browser()
    page = login_page.follow(login_page.get(portal.authorization_url()))
    assert login_page.submit_login(page, password=PASSWORD).status_code == 503

    callback = portal.sign_in(browser)  # consent, no password
    assert rows(clean_database) >= 1  # the pending request and the code went to the database
    tokens = portal.exchange(callback)
    assert portal.verify_id_token(tokens["id_token"])["aud"] in (portal.client_id, [portal.client_id])
    replay = portal.token_request({"grant_type": "authorization_code", "code": query(callback)["code"],
                                   "redirect_uri": portal.redirect_uri, "code_verifier": portal.verifier})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # The replay revoked what the code had issued (RFC 6749 §4.1.2), through the database tombstone.
    refreshed = portal.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400

    # A code issued during the outage and exchanged after it.
    late = provider.create_client(name="Library")
    late_callback = late.sign_in(browser)
    redis_proxy.restore()
    assert late.exchange(late_callback)["access_token"]
    again = late.token_request({"grant_type": "authorization_code", "code": query(late_callback)["code"],
                                "redirect_uri": late.redirect_uri, "code_verifier": late.verifier})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    # Redis is back: everything continues, and new state goes to Redis again.
    assert dashboard.exchange(before)["access_token"]  # the code from before the outage was kept
    assert requests.get(provider.url + "/readyz", timeout=10).json()["status"] == "ok"
    fresh = provider.browser()
    assert portal.exchange(portal.sign_in(fresh, password=PASSWORD))["id_token"]
    assert dashboard.exchange(dashboard.sign_in(browser))["id_token"]
