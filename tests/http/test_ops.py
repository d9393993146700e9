"""Operations surface: liveness, readiness (database, store, signing key), /metrics access rules,
503 (not 500, not a hang) when a dependency is down, malformed requests (a 4xx, never a 500 or a
traceback), and the security headers of HTML pages."""

from __future__ import annotations

import logging
import time

import pytest

from idp.app import create_app
from idp.core.settings import Settings
from idp.storage.sql.database import Database
from idp.storage.store.memory import MemoryStore
from idp.storage.store.redis import RedisStore
from tests.support.constants import FAST_HASHER, ROOT, TEST_KEYS_PASSPHRASE
from tests.support.helpers import PASSWORD, parse_form
from tests.support.live import free_port

TEMPLATES = ROOT / "idp" / "http" / "web" / "templates"


def client(provider, remote_addr="127.0.0.1"):
    http = provider.app.test_client()
    http.environ_base["REMOTE_ADDR"] = remote_addr
    return http


# -- health and readiness -------------------------------------------------------------------


def test_healthz_and_readyz_when_everything_is_up(provider):
    http = client(provider)
    alive = http.get("/healthz")
    assert alive.status_code == 200 and alive.json == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ok", "checks": {"database": "ok", "store": "ok", "signing_key": "ok"}}
    assert ready.headers["Cache-Control"] == "no-store"


def test_readyz_without_a_usable_signing_key_is_503_but_the_process_is_alive(make_provider, fresh_keys):
    assert client(make_provider()).get("/jwks.json").json["keys"]  # the keys exist, encrypted with the test passphrase
    provider = make_provider(keys_passphrase="a passphrase that opens nothing")
    http = client(provider)
    assert http.get("/healthz").status_code == 200
    ready = http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["status"] == "unavailable"
    assert ready.json["checks"]["signing_key"] == "no current signing key"
    assert ready.json["checks"]["database"] == "ok"


def test_redis_down_leaves_readyz_degraded_and_fails_sign_in_closed_at_once(make_provider):
    # Nothing listens at that port; the app builds its store (Redis + database fallback) and throttle.
    provider = make_provider(redis_url=f"redis://127.0.0.1:{free_port()}/0", store=None)
    provider.create_user()
    rp = provider.create_client()
    http = client(provider)
    started = time.monotonic()
    ready = http.get("/readyz")
    assert ready.status_code == 200 and ready.json["status"] == "degraded"
    assert ready.json["checks"]["store"].startswith("degraded")
    # The pending sign-in is saved in the database instead; the password is never checked.
    login = http.get(rp.authorization_url().removeprefix(provider.url))
    assert login.status_code == 302
    page = http.get(login.headers["Location"])
    form = parse_form(page.get_data(as_text=True))
    form.update(username="S1000001", password=PASSWORD)
    refused = http.post(form.pop("_action").removeprefix(provider.url), data=form)
    assert refused.status_code == 503 and "Sign-in is temporarily unavailable" in refused.get_data(as_text=True)
    assert time.monotonic() - started < 3


def test_a_store_without_fallback_makes_readyz_503(make_provider):
    provider = make_provider(store=RedisStore(f"redis://127.0.0.1:{free_port()}/0"))
    ready = client(provider).get("/readyz")
    assert ready.status_code == 503 and ready.json["checks"]["store"] == "unavailable"
    page = client(provider).get(provider.create_client().authorization_url().removeprefix(provider.url))
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"


def test_a_pending_sign_in_lost_with_redis_is_a_503_page_in_the_readers_language(make_provider):
    # The interaction is only in Redis, and Redis is down: the error page itself must not fail
    # while choosing its language from that interaction (it once turned the 503 into a 500).
    provider = make_provider(store=RedisStore(f"redis://127.0.0.1:{free_port()}/0"))
    for path in ("/authorize/resume", "/login"):
        page = client(provider).get(path, query_string={"interaction": "x" * 43}, headers={"Accept-Language": "de"})
        assert page.status_code == 503 and page.headers["Retry-After"] == "5", path
        assert "vorübergehend nicht erreichbar" in page.get_data(as_text=True), path


def test_database_down_gives_503_quickly_never_500(tmp_path):
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/idp"
    settings = Settings.from_env(
        {}, instance_dir=str(tmp_path), secret_key="d" * 40, keys_passphrase=TEST_KEYS_PASSPHRASE, database_url=dead
    )
    app = create_app(settings, database=Database(dead, connect_timeout=2), store=MemoryStore(), hasher=FAST_HASHER)
    http = app.test_client()
    started = time.monotonic()
    ready = http.get("/readyz")
    assert ready.status_code == 503 and ready.json["checks"]["database"] == "unavailable"
    token = http.post("/token", data={"grant_type": "client_credentials"}, headers={"Authorization": "Basic eDp5"})
    assert token.status_code == 503
    assert token.json == {
        "error": "temporarily_unavailable",
        "error_description": "The service is temporarily unavailable. Try again shortly.",
    }
    page = http.get("/authorize", query_string={"client_id": "x", "response_type": "code"})
    assert page.status_code == 503 and page.mimetype == "text/html"
    assert time.monotonic() - started < 5
    app.extensions["idp"].database.dispose()


# -- /metrics ---------------------------------------------------------------------------------


def test_metrics_are_off_unless_configured(provider):
    assert client(provider).get("/metrics").status_code == 404


def test_metrics_only_for_the_configured_networks(make_provider):
    provider = make_provider(metrics_networks=("127.0.0.1/32",))
    provider.create_user()
    client(provider).get("/login")
    scrape = client(provider).get("/metrics")
    assert scrape.status_code == 200
    assert scrape.mimetype == "text/plain"
    body = scrape.get_data(as_text=True)
    assert 'idp_http_request_duration_seconds_count{endpoint="web.login",method="GET"}' in body
    assert 'idp_signing_key_age_seconds{alg="RS256"' in body
    for name in (
        "idp_sign_ins_total",
        "idp_throttle_hits_total",
        "idp_tokens_issued_total",
        "idp_argon2_verify_seconds",
        "idp_backchannel_logout_deliveries_total",
    ):
        assert f"# TYPE {name}" in body, name
    assert client(provider, "10.1.2.3").get("/metrics").status_code == 404


def test_metrics_are_never_served_through_the_public_proxy(make_provider):
    """The load balancer is a trusted proxy: what it relays is public, even from an allowed network."""
    provider = make_provider(metrics_networks=("127.0.0.0/8",), trusted_proxies=("127.0.0.1/32",))
    assert client(provider, "127.0.0.1").get("/metrics").status_code == 404
    assert client(provider, "127.0.0.2").get("/metrics").status_code == 200


# -- malformed requests -------------------------------------------------------------------------


def _tracebacks(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize(
    "path, content_type, kind",
    [
        ("/login", "application/x-www-form-urlencoded", "text/html"),  # the error page read the body again
        ("/password/forgot", "application/x-www-form-urlencoded", "text/html"),
        ("/token", "application/x-www-form-urlencoded", "application/json"),
        ("/register", "application/json", "application/json"),
        ("/admin/api/clients", "application/json", "application/problem+json"),
    ],
)
def test_a_too_large_body_is_a_clean_413_on_every_kind_of_route(provider, caplog, path, content_type, kind):
    from tests.support.registration_helpers import admin_token, initial_access_token

    # The API endpoints authenticate before they read a body: give them a valid bearer token.
    token = {"/register": initial_access_token, "/admin/api/clients": admin_token}.get(path)
    headers = {"Authorization": f"Bearer {token(provider)}"} if token else {}
    caplog.set_level(logging.INFO)
    response = client(provider).post(
        path, data=b"interaction=x&username=" + b"a" * 70_000, content_type=content_type, headers=headers
    )
    assert response.status_code == 413 and response.mimetype == kind
    assert not _tracebacks(caplog)


@pytest.mark.parametrize("path", ["/login", "/authorize", "/help", "/logout", "/admin/api/users", "/nowhere"])
def test_raw_bytes_that_are_not_utf8_in_the_query_are_not_a_500(provider, caplog, path):
    """A server hands the query to WSGI undecoded; werkzeug decodes it as strict UTF-8 (a 500).
    Valid UTF-8 sent raw still means the same text."""
    caplog.set_level(logging.INFO)
    http = client(provider)
    response = http.get(path, environ_overrides={"QUERY_STRING": "interaction=\x80\xff&lang=de"})
    assert response.status_code < 500 and not _tracebacks(caplog)
    raw_utf8 = "ui_locales=de&login_hint=" + "Zoë".encode().decode("latin-1")
    page = http.get("/login", environ_overrides={"QUERY_STRING": raw_utf8})
    assert page.status_code == 200 and 'lang="de"' in page.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/login", "/token", "/password/forgot", "/consent"])
def test_a_body_shorter_than_its_content_length_is_a_400_not_a_500(provider, caplog, path):
    """The form parser stops at the early end (a 400); the error page read the body again (a 500)."""
    caplog.set_level(logging.INFO)
    response = client(provider).post(
        path,
        data=b"username=S1000001",
        content_type="application/x-www-form-urlencoded",
        environ_overrides={"CONTENT_LENGTH": "4000"},
    )
    assert response.status_code == 400 and not _tracebacks(caplog)


def test_a_nul_character_anywhere_in_the_request_is_a_400_on_every_kind_of_route(provider, caplog):
    """PostgreSQL refuses NUL in a query: a NUL in a username, a form field, a path segment, a JSON
    string or the User-Agent (stored with sessions and audit events) was a 500 there."""
    from tests.support.registration_helpers import admin_token

    provider.create_user()
    http = client(provider)
    form = parse_form(http.get("/login").get_data(as_text=True))
    admin = {"Authorization": f"Bearer {admin_token(provider)}"}
    caplog.set_level(logging.INFO)
    responses = [
        http.post("/login", data={**form, "username": "S100\x000001", "password": PASSWORD}),
        http.post(
            "/login", data={**form, "username": "S1000001", "password": PASSWORD}, headers={"User-Agent": "Firefox\x00"}
        ),
        http.get("/authorize", query_string={"client_id": "a\x00b", "response_type": "code"}),
        http.get("/admin/api/users/a%00b", headers=admin),
        http.get("/admin/api/audit", query_string={"user": "S1\x00"}, headers=admin),
        http.post(
            "/admin/api/clients",
            json={"client_name": "Zo\x00", "grant_types": ["client_credentials"], "scope": "api"},
            headers=admin,
        ),
    ]
    # Each way a raw request can spell NUL (the hook rules the common case out from the raw bytes first).
    token = {"grant_type": "client_credentials"}
    bare = provider.app.test_client(use_cookies=False)  # its Cookie header is the one given
    responses += [
        http.post("/token", data=b"grant_type=client_credentials&scope=a%00b", content_type=FORM),
        http.post("/token", data=b"grant_type=client_credentials&scope=a\x00b", content_type=FORM),
        bare.post("/token", data=token, headers={"Cookie": 'theme="\\000"'}),  # an octal escape in quotes
        bare.post("/token", data=token, headers={"Cookie": "theme=a\x00"}),
        http.post("/token", data={**token, "scope": "a\x00b"}, content_type="multipart/form-data"),
        http.get("/login?ui_locales=de%00"),
        http.post("/admin/api/clients", data=b'{"client_name": "Zo\\u0000"}', content_type=JSON, headers=admin),
    ]
    for response in responses:
        assert response.status_code == 400, response.get_data(as_text=True)[:300]
        assert "NUL" in response.get_data(as_text=True)
    assert responses[-1].mimetype == "application/problem+json" and not _tracebacks(caplog)
    # Without a NUL the same kinds of request get past the check.
    assert http.get("/login?ui_locales=de%20").status_code == 200
    assert bare.post("/token", data=token, headers={"Cookie": 'theme="a\\"b"'}).status_code == 401  # no client


FORM, JSON = "application/x-www-form-urlencoded", "application/json"


# -- security headers ---------------------------------------------------------------------------


def test_hsts_only_on_an_https_issuer(tmp_path, database):
    def headers(issuer):
        settings = Settings.from_env(
            {},
            issuer=issuer,
            instance_dir=str(tmp_path),
            secret_key="h" * 40,
            database_url="sqlite://",
            keys_passphrase=TEST_KEYS_PASSPHRASE,
        )
        app = create_app(settings, database=database, store=MemoryStore(), hasher=FAST_HASHER)
        return app.test_client().get("/login").headers

    secure = headers("https://login.example.edu")
    assert secure["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in headers("http://127.0.0.1:8000")


def test_csp_forbids_inline_script_and_framing(provider):
    response = client(provider).get("/login")
    csp = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'none'" and csp["script-src"] == "'self'"  # script files only, never inline
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert csp["frame-ancestors"] == "'none'" and response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_an_https_issuer_without_a_help_contact_is_ready_with_a_warning(make_provider, caplog):
    with caplog.at_level("WARNING", logger="idp.app"):
        provider = make_provider(issuer="https://login.example.edu")
    assert any("IDP_HELP_CONTACT_EMAIL and IDP_HELP_CONTACT_PHONE are empty" in r.getMessage() for r in caplog.records)
    ready = client(provider).get("/readyz")
    assert ready.status_code == 200 and ready.json["status"] == "ok"
    assert len(ready.json["warnings"]) == 1 and "no way to reach it" in ready.json["warnings"][0]


def test_a_help_contact_silences_the_warning(make_provider, caplog):
    with caplog.at_level("WARNING", logger="idp.app"):
        provider = make_provider(issuer="https://login.example.edu", help_contact_email="it@example.edu")
    assert not [r for r in caplog.records if r.name == "idp.app"]
    assert "warnings" not in client(provider).get("/readyz").json
