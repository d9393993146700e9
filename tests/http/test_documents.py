"""Discovery and JWKS on the fast path (``idp.http.documents``): the same answer as the Flask views,
conditional requests, the request id, the access log and the metrics, without Flask's machinery;
everything it does not handle still reaches Flask. (A new key changing the JWKS ETag, through a
live server: tests/e2e/test_key_rotation.py.)"""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from idp.core.errors import KeyStoreError

PATHS = ["/.well-known/openid-configuration", "/jwks.json"]
SAME = ("Cache-Control", "Access-Control-Allow-Origin", "ETag", "Content-Type", "X-Content-Type-Options")


def client(provider, remote_addr="127.0.0.1"):
    http = provider.app.test_client()
    http.environ_base["REMOTE_ADDR"] = remote_addr
    return http


@pytest.fixture
def flask_requests(provider):
    """How many requests reached Flask's request machinery."""
    seen: list[str] = []
    provider.app.before_request(lambda: seen.append("flask") and None)
    return seen


@pytest.mark.parametrize("path", PATHS)
def test_the_fast_path_answers_exactly_what_the_flask_view_does(provider, flask_requests, path):
    fast = client(provider).get(path)
    assert fast.status_code == 200 and not flask_requests
    # A query string (a cache-buster) goes through Flask's view: the same document either way.
    slow = client(provider).get(path + "?v=1")
    assert flask_requests == ["flask"]
    assert slow.status_code == 200 and slow.data == fast.data
    for name in SAME:
        assert fast.headers[name] == slow.headers[name], name
    assert fast.headers["Content-Length"] == str(len(fast.data))
    assert fast.json  # real JSON, parsed


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape", ["{}", "W/{}", '"other", {}', "*"])
def test_if_none_match_compares_weakly_and_accepts_lists_and_star(provider, path, shape):
    etag = client(provider).get(path).headers["ETag"]
    again = client(provider).get(path, headers={"If-None-Match": shape.format(etag)})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag and again.headers["Cache-Control"].startswith("public")


@pytest.mark.parametrize("path", PATHS)
def test_a_stale_etag_gets_the_document(provider, path):
    response = client(provider).get(path, headers={"If-None-Match": '"not-this-one", W/"nor-this"'})
    assert response.status_code == 200 and response.json


@pytest.mark.parametrize("path", PATHS)
def test_head_has_the_headers_and_no_body(provider, path):
    full = client(provider).get(path)
    head = client(provider).head(path)
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == str(len(full.data)) and head.headers["ETag"] == full.headers["ETag"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_still_get_flasks_405(provider, flask_requests, method):
    response = client(provider).open("/jwks.json", method=method)
    assert response.status_code == 405 and "GET" in response.headers["Allow"]


def test_an_unreadable_key_store_is_flasks_503_not_a_500(provider, monkeypatch):
    from idp.app import deps_of

    def broken() -> bytes:
        raise KeyStoreError("cannot read signing keys: OperationalError")

    monkeypatch.setattr(deps_of(provider.app).keystore, "jwks_bytes", broken)
    response = client(provider).get("/jwks.json")
    assert response.status_code == 503 and response.json["error"] == "temporarily_unavailable"


def test_the_request_id_of_a_trusted_proxy_is_kept_and_anyone_elses_replaced(make_provider):
    provider = make_provider(trusted_proxies=("10.0.0.1/32",))
    relayed = client(provider, "10.0.0.1").get(PATHS[0], headers={"X-Request-ID": "lb-1234"})
    assert relayed.headers["X-Request-ID"] == "lb-1234"
    forged = client(provider, "10.9.9.9").get(PATHS[0], headers={"X-Request-ID": "lb-1234"})
    assert forged.headers["X-Request-ID"] not in ("", "lb-1234")


def test_each_answer_is_logged_and_counted_like_any_request(make_provider, caplog):
    provider = make_provider(trusted_proxies=("10.0.0.1/32",))
    labels = {"endpoint": "protocol.discovery", "method": "GET", "status": "304"}
    before = REGISTRY.get_sample_value("idp_http_responses_total", labels) or 0
    etag = client(provider).get(PATHS[0]).headers["ETag"]
    caplog.set_level(logging.INFO, logger="idp.access")
    response = client(provider, "10.0.0.1").get(
        PATHS[0], headers={"If-None-Match": etag, "X-Forwarded-For": "203.0.113.7"}
    )
    assert REGISTRY.get_sample_value("idp_http_responses_total", labels) == before + 1
    (line,) = [r for r in caplog.records if r.name == "idp.access"]
    assert (line.method, line.path, line.status, line.endpoint) == ("GET", PATHS[0], 304, "protocol.discovery")
    assert line.ip == "203.0.113.7"  # the client behind the trusted proxy
    assert line.request_id == response.headers["X-Request-ID"]
