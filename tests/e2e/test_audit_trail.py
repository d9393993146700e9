"""The sign-in audit trail: who, when, from where (behind a trusted proxy only), with internal
reasons the user never sees; append-only in the database; the per-client token limit."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from idp.storage.sql import audit
from tests.support.helpers import PASSWORD, parse_form

WRONG = "not the password"


def post_login(provider, username="S1000001", password=WRONG, headers=None):
    browser = provider.browser()
    form = parse_form(browser.get("/login").text)
    form.update(username=username, password=password)
    return browser.post(form.pop("_action"), data=form, headers={"User-Agent": "AuditTest/1.0", **(headers or {})})


def events(provider, **filters):
    from idp.http.context import deps

    with provider.app.app_context(), deps().database.session() as db:
        return audit.list_events(db, audit.EventFilter(**filters))


def test_trusted_proxy_address_is_recorded_with_request_id_and_user_agent(make_provider):
    provider = make_provider(trusted_proxies=("127.0.0.1/32",))
    user = provider.create_user()
    response = post_login(provider, headers={"X-Forwarded-For": "203.0.113.9", "X-Request-ID": "req-from-proxy-1"})
    assert response.status_code == 401
    [event] = events(provider, type=audit.LOGIN_FAILURE)
    assert (event.ip, event.user_id, event.request_id) == ("203.0.113.9", user.id, "req-from-proxy-1")
    assert event.user_agent == "AuditTest/1.0"
    assert event.details == {"reason": "bad_password"}
    assert response.headers["X-Request-ID"] == "req-from-proxy-1"


def test_a_proxy_request_id_with_control_characters_is_replaced(make_provider):
    """It is written to the log and the audit table: only printable ASCII is taken over."""
    provider = make_provider(trusted_proxies=("127.0.0.1/32",))
    provider.create_user()
    response = post_login(provider, headers={"X-Request-ID": "req-\x01\x1b[31m"})
    [event] = events(provider, type=audit.LOGIN_FAILURE)
    assert event.request_id == response.headers["X-Request-ID"] and event.request_id.isalnum()


def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(provider):
    provider.create_user()
    response = post_login(
        provider, password=PASSWORD, headers={"X-Forwarded-For": "203.0.113.9", "X-Request-ID": "spoofed"}
    )
    assert response.status_code == 302
    [event] = events(provider, type=audit.LOGIN_SUCCESS)
    assert event.ip == "127.0.0.1"
    assert event.request_id not in ("", "spoofed") and event.request_id == response.headers["X-Request-ID"]


def test_reasons_stay_internal(provider):
    provider.create_user()
    provider.create_user(registration_number="S1000002", email="off@example.edu", active=False)
    pages = [post_login(provider, "S9999999"), post_login(provider), post_login(provider, "S1000002", PASSWORD)]
    assert {p.status_code for p in pages} == {401}
    for page in pages:
        assert "Invalid credentials." in page.text
        for word in ("unknown", "disabled", "bad_password"):
            assert word not in page.text
    reasons = [e.details["reason"] for e in reversed(events(provider, type=audit.LOGIN_FAILURE))]
    assert reasons == ["unknown_user", "bad_password", "disabled"]


def test_throttle_engaged_and_throttled_attempts_are_recorded(provider):
    user = provider.create_user()
    for _ in range(6):
        post_login(provider)
    [engaged] = events(provider, type=audit.THROTTLE_ENGAGED)
    assert (engaged.user_id, engaged.details) == (user.id, {"scope": "account", "retry_after": 30})
    latest = events(provider, type=audit.LOGIN_FAILURE)[0]
    assert latest.details == {"reason": "throttled", "scope": "account"}


def test_recent_sign_ins_lists_the_users_own_successes_newest_first(provider, clock):
    user = provider.create_user()
    other = provider.create_user(registration_number="S1000002", email="bob@example.edu")
    post_login(provider, password=PASSWORD)
    clock.advance(60)
    post_login(provider, "S1000002", PASSWORD)
    post_login(provider)
    post_login(provider, password=PASSWORD, headers={"User-Agent": "Second/2.0"})
    from idp.http.context import deps

    with provider.app.app_context(), deps().database.session() as db:
        mine = audit.recent_sign_ins(db, user.id, limit=10)
        assert [e.user_agent for e in mine] == ["Second/2.0", "AuditTest/1.0"]
        assert mine[0].occurred_at == clock.now() and mine[0].ip == "127.0.0.1"
        assert len(audit.recent_sign_ins(db, other.id, limit=10)) == 1
        assert len(audit.recent_sign_ins(db, user.id, limit=1)) == 1


def test_audit_rows_cannot_be_updated(provider):
    provider.create_user()
    post_login(provider)
    from idp.http.context import deps

    with provider.app.app_context(), deps().database.session() as db:
        with pytest.raises(DBAPIError, match="append-only"):
            db.execute(text("UPDATE audit_events SET ip = '10.0.0.1'"))
        db.rollback()
        assert audit.prune(db, before=provider.clock.now() + 1) == 1  # retention may delete
        db.commit()


@pytest.fixture
def service(make_provider):
    provider = make_provider(rate_token_client_limit=3, rate_token_client_seconds=60)
    return provider.create_client(name="Sync", grant_types=["client_credentials"], redirect_uris=[], scope="api.read")


def client_credentials(rp, secret=None):
    return requests.post(
        rp.provider.url + "/token",
        data={"grant_type": "client_credentials"},
        timeout=5,
        auth=(rp.client_id, secret or rp.client_secret),
    )


def test_token_endpoint_limit_per_client_answers_429_with_retry_after(service):
    for _ in range(5):  # a wrong secret spends nothing of the real client's allowance
        assert client_credentials(service, secret="wrong").status_code == 401
    assert [client_credentials(service).status_code for _ in range(3)] == [200] * 3
    refused = client_credentials(service)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "20"
    assert refused.headers["Content-Type"].startswith("application/json")
    assert refused.json()["error"] == "too_many_requests"
    service.provider.clock.advance(20)
    assert client_credentials(service).status_code == 200
