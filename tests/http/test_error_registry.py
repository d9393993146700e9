"""One error registry: each error is described once and answered by the kind of route (idp/http/errors.py)."""

from __future__ import annotations

import logging

import pytest

from idp.core.errors import StoreUnavailable, TooManyAttempts


@pytest.fixture
def http(provider):
    return provider.app.test_client()


def test_a_mistyped_provider_url_is_a_page_for_browsers_and_json_for_api_clients(http):
    page = http.get("/logn", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 404 and page.mimetype == "text/html" and "There is no such page." in page.text
    api = http.get("/logn", headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.get_json() == {
        "error": "not_found",
        "error_description": "There is no such page.",
    }
    assert http.get("/logn").mimetype == "application/json"  # no preference: an API client


def test_the_page_speaks_the_readers_language(http):
    page = http.get("/logn", headers={"Accept": "text/html", "Accept-Language": "de"})
    assert page.status_code == 404 and 'lang="de"' in page.text and "There is no such page." not in page.text


def test_unknown_admin_paths_are_problem_details(http):
    answer = http.get("/admin/api/nothing-here", headers={"Accept": "text/html"})
    assert answer.status_code == 404 and answer.mimetype == "application/problem+json"
    assert answer.get_json()["type"].endswith(":not_found")


def test_a_throttled_protocol_request_is_oauth_json_with_retry_after(make_provider):
    from idp.storage.throttle.unlimited import UnlimitedThrottle

    class Refusing(UnlimitedThrottle):
        def check_rate(self, name, key):
            raise TooManyAttempts(90, name)

    provider = make_provider(throttle=Refusing())
    answer = provider.app.test_client().post("/register", json={})
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "90"
    assert answer.get_json()["error"] == "too_many_requests" and answer.headers["Cache-Control"] == "no-store"


def test_a_dependency_that_is_down_is_a_503_everywhere_with_one_log_line(make_provider, caplog):
    class DownStore:
        def __getattr__(self, _name):
            def fail(*_a, **_k):
                raise StoreUnavailable("down")

            return fail

    provider = make_provider(store=DownStore())
    rp = provider.create_client()
    http = provider.app.test_client()
    with caplog.at_level(logging.ERROR, logger="idp"):
        page = http.get(rp.authorization_url(), headers={"Accept": "text/html"})
    assert page.status_code == 503 and page.headers["Retry-After"] == "5" and page.mimetype == "text/html"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["service unavailable: store (StoreUnavailable)"]
    assert not any(r.exc_info for r in errors)  # an outage is not a bug: no traceback
