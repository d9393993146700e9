"""Every route of the provider, fuzzed in process: hostile query strings, forms, JSON and raw
bodies, headers and cookies, mixed with the real vocabulary (client ids, redirect URIs, tokens,
a signed-in session, a CSRF pair, fresh interactions) so requests get past the first checks.

The routes come from the app's own URL map, so a new route is fuzzed without touching this file.
For every request: no 5xx, nothing logged at ERROR or with a traceback, no OAuth error quoting
the request in its description, and no redirect anywhere but a path on this server, a
registered redirect URI or the issuer. Seeds are fixed (``derandomize``), so ``make test`` is
deterministic; for a longer hunt, ``IDP_FUZZ_EXAMPLES=1000`` raises the per-route budget and
``IDP_FUZZ_RANDOM=1`` draws new seeds each run (hypothesis prints how to reproduce a failure).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.app import create_app
from idp.core.settings import Settings
from idp.http.protocol.errors import REFUSED_DESCRIPTION_LOG
from tests.support.constants import FAST_HASHER, TEST_KEYS_PASSPHRASE
from tests.support.fuzz_requests import HostileRequest, hostile_request, vocabulary
from tests.support.fuzz_world import FRESH_CODE, FRESH_INTERACTION, FRESH_SESSION, World, build_world
from tests.support.helpers import PASSWORD, Provider

EXAMPLES = int(os.environ.get("IDP_FUZZ_EXAMPLES", "30"))
FIXED_SEED = not os.environ.get("IDP_FUZZ_RANDOM")


def _routes() -> list[tuple[str, str]]:
    """(rule, method) for every route; the app is built only to read its URL map."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            Settings.from_env(
                {},
                issuer="http://127.0.0.1:9",
                instance_dir=tmp,
                database_url="sqlite://",
                secret_key="t" * 40,
                keys_passphrase=TEST_KEYS_PASSPHRASE,
            )
        )
        return sorted(
            (rule.rule, method) for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}
        )


ROUTES = _routes()


@pytest.fixture
def world(settings_factory, clean_database, clock):
    """A provider in process (memory store) with the vocabulary of ``fuzz_world``."""
    from idp.storage.store.memory import MemoryStore

    settings = settings_factory(8999)  # never contacted; not the relying parties' host:port either
    app = create_app(settings, clock=clock, database=clean_database, store=MemoryStore(), hasher=FAST_HASHER)
    world = build_world(Provider(app=app, url=settings.server.issuer, clock=clock))
    yield world
    app.extensions["idp"].postman.wait_idle()


@pytest.fixture
def log(caplog):
    """The log of the current example (``caplog`` keeps every example's records otherwise)."""
    caplog.set_level(logging.INFO)
    return caplog


@pytest.mark.parametrize("rule, method", ROUTES, ids=[f"{m} {r}" for r, m in ROUTES])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=FIXED_SEED,
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)
@given(data=st.data())
def test_no_hostile_request_gets_a_5xx_a_traceback_or_an_open_redirect(world, log, rule, method, data):
    url_rule = next(r for r in world.app.url_map.iter_rules() if r.rule == rule and method in r.methods)
    request = data.draw(hostile_request(world, url_rule, method))
    log.clear()
    response = send(world, request)
    try:
        assert response.status_code < 500, response.get_data(as_text=True)[:500]
        assert_nothing_went_wrong(log.records)
        assert_redirect_stays_home(world, response)
        assert_description_is_ours(request, response, world)
    finally:
        response.close()  # a static file's response holds the file open


@settings(
    max_examples=EXAMPLES * 2,
    deadline=None,
    derandomize=FIXED_SEED,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.one_of(
        st.text(max_size=40).map(lambda t: "/" + _as_wsgi(t)),
        st.binary(max_size=40).map(lambda b: "/" + b.decode("latin-1")),
        st.sampled_from(
            ["/authorize/", "//login", "/static/", "/admin/api", "/register/", "/.well-known/", "/%2e%2e/etc"]
        ),
    ),
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "PROPFIND", "X"]),
)
def test_any_path_and_method_is_answered_without_a_5xx(world, log, path, method):
    """Paths outside the URL map (raw bytes in PATH_INFO too) and methods no route has."""
    log.clear()
    response = world.app.test_client(use_cookies=False).open(
        "/", method=method, base_url=world.issuer, environ_overrides={"PATH_INFO": path}
    )
    try:
        assert response.status_code < 500, response.get_data(as_text=True)[:300]
        assert_nothing_went_wrong(log.records)
        assert_redirect_stays_home(world, response)
    finally:
        response.close()


def test_the_vocabulary_gets_past_the_first_checks(world):
    """The values the fuzz mixes in are live, so its requests reach the code behind the checks."""
    from tests.support.fuzz_world import basic

    http = world.app.test_client(use_cookies=False)
    session = f"idp_session={world.fresh_session()}"
    assert http.get("/account", headers={"Cookie": session}).status_code == 200
    interaction, cookies = world.fresh_interaction()
    jar = "; ".join(f"{k}={v}" for k, v in cookies.items())
    assert "Fuzz RP" in http.get(f"/login?interaction={interaction}", headers={"Cookie": jar}).get_data(as_text=True)
    csrf = "; ".join([f"idp_csrf={world.cookies['idp_csrf']}", jar])
    signed_in = http.post(
        "/login",
        headers={"Cookie": csrf},
        data={"interaction": interaction, "csrf_token": world.csrf_token, "username": "S1000001", "password": PASSWORD},
    )
    assert signed_in.status_code == 302 and "/authorize/resume" in signed_in.headers["Location"]
    rp_auth = {"Authorization": basic(world.rp.client_id, world.rp.client_secret)}
    token = http.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": world.tokens["refresh_token"]}, headers=rp_auth
    )
    assert token.status_code == 200
    exchanged = http.post(
        "/token",
        headers=rp_auth,
        data={
            "grant_type": "authorization_code",
            "code": world.fresh_code(),
            "redirect_uri": world.rp.redirect_uri,
            "code_verifier": world.verifier,
        },
    )
    assert exchanged.status_code == 200 and "id_token" in exchanged.get_json()
    bearer = {"Authorization": f"Bearer {world.admin_token}"}
    assert http.get("/admin/api/clients", headers=bearer).status_code == 200
    registration = world.registration
    assert (
        http.get(
            f"/register/{registration['client_id']}",
            headers={"Authorization": f"Bearer {registration['registration_access_token']}"},
        ).status_code
        == 200
    )


def send(world: World, request: HostileRequest):
    """``request`` through Flask's test client, the way a WSGI server would hand it over."""
    http = world.app.test_client(use_cookies=False)
    headers = {k: _as_wsgi(v) for k, v in request.headers.items()}
    fresh_cookies: dict[str, str] = {}
    query, form = (
        _fresh(world, pairs, fresh_cookies) if isinstance(pairs, list) else pairs
        for pairs in (request.query, request.form)
    )
    if FRESH_SESSION in headers.get("Cookie", ""):
        headers["Cookie"] = headers["Cookie"].replace(FRESH_SESSION, world.fresh_session())
    if fresh_cookies:  # the browser that started the interaction sends what it was given
        headers["Cookie"] = "; ".join([f"{k}={v}" for k, v in fresh_cookies.items()] + [headers.get("Cookie", "")])
    environ = {
        "REMOTE_ADDR": "127.0.0.1",
        "QUERY_STRING": query.decode("latin-1") if isinstance(query, bytes) else urlencode(query),
    }
    kwargs: dict = {}
    if form is not None:
        kwargs.update(
            data=urlencode(form), content_type=headers.pop("Content-Type", "application/x-www-form-urlencoded")
        )
    elif request.json_body is not None:
        kwargs.update(data=json.dumps(request.json_body), content_type=headers.pop("Content-Type", "application/json"))
    elif request.raw_body is not None:
        kwargs.update(data=request.raw_body, content_type=headers.pop("Content-Type", None))
    if request.content_length is not None:
        environ["CONTENT_LENGTH"] = request.content_length
    response = http.open(
        request.path, method=request.method, base_url=world.issuer, headers=headers, environ_overrides=environ, **kwargs
    )
    # Mail (a reset link) goes out on a background thread, which draws on ``random`` for its
    # Message-ID: let it finish before hypothesis draws the next request.
    world.app.extensions["idp"].postman.wait_idle()
    return response


def _fresh(world: World, pairs: list[tuple[str, str]], cookies: dict) -> list[tuple[str, str]]:
    fresh = []
    for name, value in pairs:
        if value == FRESH_INTERACTION:
            value, set_cookies = world.fresh_interaction()
            cookies.update(set_cookies)
        elif value == FRESH_CODE:
            value = world.fresh_code()
        fresh.append((name, value))
    return fresh


def _as_wsgi(value: str) -> str:
    # A server hands header bytes to WSGI as latin-1 text, and refuses line breaks in them.
    return value.encode("utf-8", "surrogatepass").decode("latin-1").replace("\r", "").replace("\n", "")


def assert_nothing_went_wrong(records: list[logging.LogRecord]) -> None:
    bad = [r for r in records if r.levelno >= logging.ERROR or r.exc_info or r.msg == REFUSED_DESCRIPTION_LOG]
    assert not bad, "\n".join(f"{r.levelname} {r.name}: {r.getMessage()}" for r in bad)


def assert_redirect_stays_home(world: World, response) -> None:
    """A 3xx goes to a path here, the issuer, or a registered URI (as a browser reads the Location)."""
    if not 300 <= response.status_code < 400 or "Location" not in response.headers:
        return
    # Browsers drop tabs and newlines and read '\\' as '/' (WHATWG URL), so judge what they would.
    location = response.headers["Location"].translate({9: None, 10: None, 13: None}).lstrip(" \x00\x1f")
    parts = urlsplit(location.replace("\\", "/"))
    if not parts.scheme and not parts.netloc:
        assert location.startswith("/"), location
        return
    target = location.split("?")[0].split("#")[0]
    assert target in world.redirect_uris or location.startswith(world.issuer + "/"), location


def assert_description_is_ours(request: HostileRequest, response, world: World) -> None:
    """No error description repeats a generated value (they are our own constant text; a real
    value such as a known response type may be named)."""
    descriptions = []
    if response.is_json and isinstance(response.get_json(silent=True), dict):
        descriptions.append(str(response.get_json(silent=True).get("error_description", "")))
    if "Location" in response.headers:
        descriptions += parse_qs(urlsplit(response.headers["Location"]).query).get("error_description", [])
    for description in descriptions:
        real = {v for values in vocabulary(world).values() for v in values}
        echoed = [s for s in request.strings() if s in description and s not in real]
        assert not echoed, (description, echoed)
