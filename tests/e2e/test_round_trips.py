"""Database round trips per request on the hot paths, counted on PostgreSQL with libpq's protocol
trace (tests/support/round_trips.py). The figures are in docs/performance.md ("Round trips per
request"); these tests hold the read-only paths to one round trip each and the token grants to
theirs (issue 17, item 3).

With ``IDP_CLIENT_CACHE_SECONDS`` on (as ``make bench`` runs), a client already in memory costs no
query, so what remains is the request's own work."""

from __future__ import annotations

import base64

import pytest
import requests

from tests.support.helpers import bearer, issue_tokens
from tests.support.round_trips import counting

pytestmark = pytest.mark.postgresql_only


@pytest.fixture
def cached(make_provider):
    provider = make_provider(client_cache_seconds=60)
    provider.create_user()
    rp, tokens = issue_tokens(provider)
    requests.get(provider.url + "/userinfo", headers=bearer(tokens["access_token"]), timeout=5)  # cache the client
    return provider, rp, tokens


def _basic(rp) -> dict:
    pair = f"{rp.client_id}:{rp.client_secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def test_userinfo_is_one_round_trip(cached):
    provider, _rp, tokens = cached
    with counting(provider.deps.database.engine) as fresh:
        trips = fresh()
        response = requests.get(provider.url + "/userinfo", headers=bearer(tokens["access_token"]), timeout=5)
        assert response.status_code == 200 and response.json()["email"]
        assert trips.count() == 1, trips.queries()  # no BEGIN before the query, no ROLLBACK after it


def test_introspection_is_one_round_trip(cached):
    provider, rp, tokens = cached
    with counting(provider.deps.database.engine) as fresh:
        trips = fresh()
        response = requests.post(
            provider.url + "/introspect", data={"token": tokens["access_token"]}, headers=_basic(rp), timeout=5
        )
        assert response.status_code == 200 and response.json()["active"] is True
        assert trips.count() == 1, trips.queries()


def test_a_revoked_token_is_still_found_inactive_in_that_one_round_trip(cached):
    provider, rp, tokens = cached
    revoked = requests.post(
        provider.url + "/revoke", data={"token": tokens["refresh_token"]}, headers=_basic(rp), timeout=5
    )
    assert revoked.status_code == 200
    with counting(provider.deps.database.engine) as fresh:
        trips = fresh()
        response = requests.post(
            provider.url + "/introspect", data={"token": tokens["access_token"]}, headers=_basic(rp), timeout=5
        )
        assert response.json() == {"active": False}
        assert trips.count() == 1, trips.queries()
        assert (
            requests.get(provider.url + "/userinfo", headers=bearer(tokens["access_token"]), timeout=5).status_code
            == 401
        )


@pytest.mark.parametrize("scope", ["openid offline_access", "openid"])
def test_the_refresh_grant_claims_and_reads_in_one_statement_then_inserts(make_provider, scope):
    """BEGIN, the conditional UPDATE that claims the old token with the SELECT of its grant, user and
    (without offline_access) browser session reading from it, the successor's INSERT, COMMIT."""
    provider = make_provider(client_cache_seconds=60)
    provider.create_user()
    rp, tokens = issue_tokens(provider, scope=scope)
    with counting(provider.deps.database.engine) as fresh:
        trips = fresh()
        response = rp.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        assert response.status_code == 200 and response.json()["refresh_token"] != tokens["refresh_token"]
        assert trips.count() == 4, trips.queries()


@pytest.mark.parametrize("grant_types", [["authorization_code", "refresh_token"], ["authorization_code"]])
def test_the_code_exchange_reads_the_user_and_stores_the_grant_in_one_statement(make_provider, grant_types):
    """BEGIN, the SELECT of the user with the INSERTs of the grant and (if the client may refresh)
    its refresh token as its CTEs, COMMIT."""
    provider = make_provider(client_cache_seconds=60)
    provider.create_user()
    rp, _tokens = issue_tokens(provider, grant_types=grant_types)  # caches the client
    callback = rp.sign_in(provider.browser(), scope="openid offline_access")
    with counting(provider.deps.database.engine) as fresh:
        trips = fresh()
        tokens = rp.exchange(callback)
        assert tokens["id_token"] and ("refresh_token" in tokens) == ("refresh_token" in grant_types)
        assert trips.count() == 3, trips.queries()
    if "refresh_token" in grant_types:
        refreshed = rp.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text


def test_authorize_with_a_session_reads_the_session_and_its_user_in_one_query(make_provider):
    provider = make_provider(client_cache_seconds=60)
    provider.create_user()
    browser = provider.browser()
    rp, _tokens = issue_tokens(provider, browser=browser)
    with counting(provider.deps.database.engine) as fresh:
        trips = fresh()
        response = browser.get(rp.authorization_url())
        assert response.status_code == 302 and "code=" in response.headers["Location"]  # signed in: no page
        assert trips.count() == 3, trips.queries()  # BEGIN, session and user, COMMIT


def test_a_client_credentials_token_costs_no_round_trip_once_the_client_is_cached(make_provider):
    """Nothing is stored for a self-contained service token; the client comes from the cache."""
    provider = make_provider(client_cache_seconds=60)
    service = provider.create_client(
        name="Timetable sync", grant_types=["client_credentials"], redirect_uris=[], scope="api.read"
    )
    assert service.token_request({"grant_type": "client_credentials"}).status_code == 200  # caches the client
    with counting(provider.deps.database.engine) as fresh:
        trips = fresh()
        response = service.token_request({"grant_type": "client_credentials"})
        assert response.status_code == 200 and response.json()["access_token"]
        assert trips.count() == 0, trips.queries()
