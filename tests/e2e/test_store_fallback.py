"""The store's database fallback (``idp.storage.store.fallback``): while Redis is unreachable, pending
sign-ins and authorization codes go to table ``store_fallback``, so a browser that is already
signed in keeps completing single sign-on; password sign-in still fails closed (the throttle); codes
stay single-use; and when Redis is back everything carries on, including what the outage wrote.

Redis "goes away" through a loopback proxy that the test cuts (the shared server keeps running).
What every store backend does while Redis is up (the fallback included) is tests/contract/test_store.py."""

from __future__ import annotations

import pytest
import requests
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from idp.core.errors import StoreUnavailable
from idp.core.settings import Settings, StorageSettings
from idp.storage.sql.models import StoreEntry
from idp.storage.store import build_store
from idp.storage.store.database import DatabaseStore
from idp.storage.store.fallback import FallbackStore
from idp.storage.store.redis import RedisStore
from tests.support.helpers import PASSWORD, query
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
def db_store(clean_database, clock):
    return DatabaseStore(clean_database, now=clock.now)


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


def test_the_app_store_counts_each_fallback_and_times_the_table_by_the_app_clock(
    redis_proxy, redis_prefix, clean_database, clock
):
    """``build_store`` (what ``create_app`` uses): the outage metric is wired to ``on_fallback``,
    and the database's expiry follows the clock it was given, not the wall clock."""
    settings = Settings(storage=StorageSettings(redis_url=redis_proxy.url, redis_prefix=redis_prefix))
    store = build_store(settings, clean_database, clock)
    counted = lambda: REGISTRY.get_sample_value("idp_store_fallback_total") or 0.0  # noqa: E731
    before = counted()
    store.put("interaction:up", {"a": 1}, ttl=60)
    assert counted() == before  # Redis up: nothing counted
    redis_proxy.cut()
    store.put("interaction:during", {"step": 1}, ttl=60)
    assert store.get("interaction:during") == {"step": 1}
    assert counted() == before + 2  # one per operation that found Redis down
    clock.advance(60)
    with pytest.raises(StoreUnavailable):  # expired in the table; unknown in Redis
        store.get("interaction:during")


# -- end to end: single sign-on through a Redis outage -------------------------------------------


@pytest.fixture
def provider(make_provider, redis_proxy, redis_prefix):
    # store=None: the app builds its own store from the settings, as `idp serve` does
    # (Redis behind the proxy, with the test database as the fallback); the throttle uses the same Redis.
    provider = make_provider(redis_url=redis_proxy.url, redis_prefix=redis_prefix, store=None)
    provider.create_user()
    return provider


def test_signed_in_browser_completes_sso_on_a_second_relying_party_while_redis_is_down(
    provider, redis_proxy, clean_database
):
    dashboard = provider.create_client(name="Dashboard")
    browser = provider.browser()
    dashboard.exchange(dashboard.sign_in(browser))  # signed in with a password while Redis was up
    # Not trusted: the consent step needs the pending request saved and read back.
    portal = provider.create_client(name="Supplier Portal", trusted=False)

    before = dashboard.sign_in(browser)  # a code issued just before the outage, exchanged during it
    redis_proxy.cut()
    unknown = dashboard.token_request(
        {
            "grant_type": "authorization_code",
            "code": query(before)["code"],
            "redirect_uri": dashboard.redirect_uri,
            "code_verifier": dashboard.verifier,
        }
    )
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
    replay = portal.token_request(
        {
            "grant_type": "authorization_code",
            "code": query(callback)["code"],
            "redirect_uri": portal.redirect_uri,
            "code_verifier": portal.verifier,
        }
    )
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # The replay revoked what the code had issued (RFC 6749 §4.1.2), through the database tombstone.
    refreshed = portal.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400

    # A code issued during the outage and exchanged after it.
    late = provider.create_client(name="Library")
    late_callback = late.sign_in(browser)
    redis_proxy.restore()
    assert late.exchange(late_callback)["access_token"]
    again = late.token_request(
        {
            "grant_type": "authorization_code",
            "code": query(late_callback)["code"],
            "redirect_uri": late.redirect_uri,
            "code_verifier": late.verifier,
        }
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    # Redis is back: everything continues, and new state goes to Redis again.
    assert dashboard.exchange(before)["access_token"]  # the code from before the outage was kept
    assert requests.get(provider.url + "/readyz", timeout=10).json()["status"] == "ok"
    fresh = provider.browser()
    assert portal.exchange(portal.sign_in(fresh, password=PASSWORD))["id_token"]
    assert dashboard.exchange(dashboard.sign_in(browser))["id_token"]
