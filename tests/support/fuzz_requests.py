"""Hypothesis strategies for hostile HTTP requests to one route of the provider.

Each parameter, header and cookie is drawn either from the real vocabulary of the running
provider (``World``: its client ids, redirect URIs, tokens, session, CSRF pair, a fresh
interaction) or from values made to break parsers (Unicode digits, quotes and backslashes,
NUL, non-UTF-8 bytes, huge values), so requests both pass the first checks and probe the rest.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from urllib.parse import quote

from hypothesis import strategies as st

from tests.support.fuzz_world import FRESH_CODE, FRESH_INTERACTION, FRESH_SESSION, World, basic
from tests.support.helpers import CALLBACK, PASSWORD

HOSTILE = [
    '"',
    "\\",
    "'\"\\",
    "\x00",
    "a\x00b",
    "²",
    "١٢٣",
    "𝟗",
    "1e3",
    "-1",
    " 1",
    "+1",
    "1_0",
    "0x10",
    "nan",
    "inf",
    "9" * 40,
    "%",
    "%ff",
    "%C0%AF",
    "\r\n",
    "\t",
    "<script>x</script>",
    "../../etc/passwd",
    "a" * 3000,
    "\u202e",
    "\ufeff",
    "null",
    "[]",
    "{}",
    "true",
    "",
    " ",
]
ODD_URIS = [
    "https://evil.example/cb",
    CALLBACK + "x",
    CALLBACK + "?x=1",
    'http://127.0.0.1:9/c"b',
    "javascript:x",
    "//evil.example",
    "/\t/evil.example",
    "/\\evil.example",
    "http://127.0.0.1:9/callback#f",
]
ID_TOKEN_ODD = [
    base64.urlsafe_b64encode(json.dumps({"alg": alg}).encode()).rstrip(b"=").decode() + ".e30.c2ln"
    for alg in ('x"y', "none", "HS256", "RS256")
] + ["abc", "a.b.c", "...."]


def vocabulary(world: World) -> dict[str, list[str]]:
    """Real values by parameter name, as a relying party, a browser or an operator sends them."""
    rp, spa, service, reg = world.rp, world.spa, world.service, world.registration
    client_ids = [rp.client_id, spa.client_id, service.client_id, reg["client_id"], "no-such-client"]
    tokens = [world.tokens["access_token"], world.tokens["refresh_token"], world.tokens["service"]]
    return {
        "response_type": ["code", "id_token", "code id_token", "token", "none", "id_token token", 'x"y', "code\\"],
        "client_id": client_ids,
        "redirect_uri": sorted(world.redirect_uris) + ODD_URIS,
        "post_logout_redirect_uri": [*sorted(world.redirect_uris), *ODD_URIS],
        "scope": ["openid", "openid profile email offline_access", "api.read", "idp:admin", "openid x", 'a"b'],
        "state": ["fuzz-state"],
        "nonce": ["fuzz-nonce"],
        "code_challenge": [world.authorize_params()["code_challenge"], "short"],
        "code_challenge_method": ["S256", "plain", "s256"],
        "code_verifier": [world.verifier, "x" * 43],
        "prompt": ["none", "login", "consent", "select_account", "login consent", "none login"],
        "max_age": ["0", "60", "999999999", "²", "١٢٣", "-1", "1e3", " 5", "5 "],
        "login_hint": ["S1000001", "ada@example.edu"],
        "ui_locales": ["de", "en", "de-AT en", "xx"],
        "claims": [
            '{"userinfo": {"email": null}}',
            '{"id_token": {"auth_time": {"essential": true}}}',
            "[]",
            "{",
            '{"id_token": 5}',
        ],
        "id_token_hint": [world.tokens["id_token"], *ID_TOKEN_ODD],
        "response_mode": ["query", "form_post", "fragment"],
        "request": ["x.y.z"],
        "request_uri": ["urn:x"],
        "grant_type": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "password",
            "urn:ietf:params:oauth:grant-type:device_code",
            'x"y',
        ],
        "code": [FRESH_CODE, "made-up-code"],
        "refresh_token": [world.tokens["refresh_token"]],
        "client_secret": [rp.client_secret, "wrong"],
        "client_assertion_type": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
        "client_assertion": ID_TOKEN_ODD,
        "token": tokens,
        "access_token": tokens,
        "token_type_hint": ["access_token", "refresh_token", "x"],
        "interaction": [FRESH_INTERACTION, "expired-or-made-up"],
        "csrf_token": [world.csrf_token],
        "username": ["S1000001", "ada@example.edu", "nobody@example.edu"],
        "password": [PASSWORD, "wrong"],
        "current_password": [PASSWORD],
        "confirm": ["yes", PASSWORD],
        "decision": ["allow", "deny"],
        "end_others": ["yes"],
        "session": ["made-up"],
        "lang": ["de", "en", "xx"],
        "next": ["/help", "/login?interaction=x", *ODD_URIS],
        "reset": ["done"],
        "limit": ["1", "200", "0", "201"],
        "after_id": ["0", "1"],
        "before_id": ["1"],
        "since": ["0", "1.5e9"],
        "until": ["1e11", "2000000000"],
        "type": ["login"],
        "user": ["S1000001"],
        "ip": ["127.0.0.1", "::1", "203.0.113.300"],
        "role": ["team:alpha", "idp:admin", "team:"],
        "query": ["Ada"],
    }


@dataclass
class HostileRequest:
    """One generated request (``path`` already percent-encoded)."""

    method: str
    path: str
    query: list[tuple[str, str]] | bytes = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    form: list[tuple[str, str]] | None = None
    json_body: object = None
    raw_body: bytes | None = None
    content_length: str | None = None

    def strings(self) -> list[str]:
        """Every generated text of eight characters or more (to spot echoes in error descriptions)."""
        pairs = (self.query if isinstance(self.query, list) else []) + (self.form or [])
        return [v for _, v in pairs if isinstance(v, str) and len(v) >= 8]


def hostile_text() -> st.SearchStrategy[str]:
    # The hand-picked values twice as often as random text: each one broke a parser somewhere.
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.sampled_from(HOSTILE),
        st.text(max_size=30),
        st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
    )


def parameters(vocab: dict[str, list[str]], names: list[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """The route's own parameters with (mostly) real values, up to two of them dropped, plus a few
    extra or repeated ones."""
    known = list(vocab)

    def value(name: str) -> st.SearchStrategy[str]:
        real = vocab.get(name) or ["x"]
        return st.one_of(st.sampled_from(real), st.sampled_from(real), hostile_text())

    def named(name_strategy) -> st.SearchStrategy[tuple[str, str]]:
        return name_strategy.flatmap(lambda n: st.tuples(st.just(n), value(n)))

    base = st.tuples(*[named(st.just(n)) for n in names]) if names else st.just(())
    dropped = st.lists(st.integers(0, max(len(names) - 1, 0)), max_size=2 if names else 0)
    extra = st.lists(named(st.one_of(st.sampled_from(known), hostile_text())), max_size=4)
    return st.tuples(base, dropped, extra).map(lambda t: [p for i, p in enumerate(t[0]) if i not in t[1]] + t[2])


#: The parameters each endpoint reads; a route not listed here gets names from the whole vocabulary.
ROUTE_PARAMS = {
    "protocol.authorize": [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "prompt",
        "max_age",
        "login_hint",
        "ui_locales",
        "claims",
        "id_token_hint",
        "response_mode",
    ],
    "protocol.resume": ["interaction"],
    "protocol.token": [
        "grant_type",
        "code",
        "redirect_uri",
        "code_verifier",
        "refresh_token",
        "scope",
        "client_id",
        "client_secret",
        "client_assertion_type",
        "client_assertion",
    ],
    "protocol.revoke": ["token", "token_type_hint", "client_id", "client_secret"],
    "protocol.introspect": ["token", "token_type_hint", "client_id", "client_secret"],
    "protocol.userinfo": ["access_token"],
    "web.login": ["interaction", "reset"],
    "web.login_post": ["interaction", "username", "password", "csrf_token"],
    "web.consent": ["interaction"],
    "web.consent_post": ["interaction", "decision", "csrf_token"],
    "web.logout": [
        "id_token_hint",
        "post_logout_redirect_uri",
        "state",
        "client_id",
        "ui_locales",
        "confirm",
        "csrf_token",
    ],
    "web.language": ["lang", "next", "interaction"],
    "account.change_password": ["current_password", "password", "confirm", "end_others", "csrf_token"],
    "account.end_session": ["session", "csrf_token"],
    "account.revoke_app": ["client_id", "csrf_token"],
    "account.forgot_post": ["username", "interaction", "csrf_token"],
    "account.reset": ["token"],
    "account.reset_post": ["token", "password", "confirm", "csrf_token"],
    "admin.list_users": ["query", "limit", "after_id"],
    "admin.audit_events": ["type", "user", "client_id", "ip", "since", "until", "limit", "before_id"],
    "admin.export_audit_events": ["type", "user", "client_id", "ip", "since", "until", "limit", "before_id"],
}
#: JSON bodies: client metadata (for /register and the admin API), else anything.
METADATA = {
    "client_name": ["Fuzz", "", "x" * 300],
    "redirect_uris": [[CALLBACK], ["http://evil.example/cb"], "x"],
    "grant_types": [["authorization_code"], ["client_credentials"], ["implicit"]],
    "response_types": [["code"], ["token"]],
    "scope": ["openid", "openid idp:admin", 'a"b'],
    "token_endpoint_auth_method": ["none", "client_secret_basic", "private_key_jwt"],
    "jwks": [{"keys": []}, {"keys": [{"kty": "EC"}]}],
    "backchannel_logout_uri": ["https://rp.example/bc"],
    "trusted": [True, "yes"],
}
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), hostile_text()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text(), inner, max_size=3),
    max_leaves=8,
)


def authorization(world: World, endpoint: str) -> st.SearchStrategy[str | None]:
    """Mostly the credential the route expects (so the request gets past authentication), else
    another real one, a malformed one or none."""
    rp, reg = world.rp, world.registration
    bearers = [
        world.tokens["access_token"],
        world.tokens["service"],
        world.admin_token,
        reg["registration_access_token"],
        world.initial_token,
    ]
    expected = {
        "protocol.client_configuration": "Bearer " + reg["registration_access_token"],
        "protocol.register": "Bearer " + world.initial_token,
        "protocol.userinfo": "Bearer " + world.tokens["access_token"],
    }.get(endpoint)
    if endpoint.startswith("admin."):
        expected = "Bearer " + world.admin_token
    elif endpoint in ("protocol.token", "protocol.revoke", "protocol.introspect"):
        expected = basic(rp.client_id, rp.client_secret)
    others = st.one_of(
        st.none(),
        st.just(basic(rp.client_id, "wrong")),
        st.binary(max_size=24).map(lambda b: "Basic " + base64.b64encode(b).decode()),
        hostile_text().map(lambda t: "Basic " + t),
        st.sampled_from(bearers).map(lambda t: "Bearer " + t),
        hostile_text().map(lambda t: "Bearer " + t),
        hostile_text(),
    )
    return st.one_of(st.just(expected), others) if expected else others


def cookies(world: World) -> st.SearchStrategy[str | None]:
    """Mostly a signed-in browser's cookies (a fresh session and the CSRF cookie of ``csrf_token``),
    some of them replaced by hostile values, dropped or added to."""
    real = {**world.cookies, "idp_session": FRESH_SESSION}
    one = st.sampled_from(sorted(real)).flatmap(
        lambda name: st.tuples(st.just(name), st.one_of(st.just(real[name]), hostile_text()))
    )
    browser = st.lists(one, max_size=3).map(
        lambda extra: [("idp_session", FRESH_SESSION), ("idp_csrf", world.cookies["idp_csrf"]), *extra]
    )
    jar = st.one_of(browser, browser, st.lists(one, max_size=4))
    return st.one_of(jar.map(lambda pairs: "; ".join(f"{k}={v}" for k, v in pairs)), st.none(), hostile_text())


CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/json",
    "multipart/form-data",
    "multipart/form-data; boundary=x",
    "text/plain",
    "application/jwt",
    "application/json; charset=latin-1",
]
HEADERS = {
    "Accept": st.sampled_from(["application/json", "text/html", "*/*", "application/problem+json", ";;"]),
    "Accept-Language": st.one_of(st.sampled_from(["de", "de-AT,en;q=0.5", "*", "q=x"]), hostile_text()),
    "Origin": st.one_of(st.sampled_from(["http://127.0.0.1:9", "https://evil.example", "null"]), hostile_text()),
    "X-Forwarded-For": st.one_of(st.sampled_from(["203.0.113.9", "::1, 10.0.0.1", "unknown"]), hostile_text()),
    "X-Request-ID": hostile_text(),
    "User-Agent": hostile_text(),
    "If-None-Match": st.one_of(st.just("*"), hostile_text()),
}


@st.composite
def hostile_request(draw, world: World, rule, method: str) -> HostileRequest:
    """A request for ``rule`` (a werkzeug URL rule) with ``method``."""
    vocab = vocabulary(world)
    path = rule.rule
    for match in re.finditer(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", rule.rule):
        converter, name = match.groups()
        real = {
            "client_id": [world.rp.client_id, world.registration["client_id"]],
            "sub": ["made-up-sub"],
            "role": ["team:alpha", "idp:admin", "idp:security"],
            "filename": ["idp.css", "idp.js", "../idp/app.py"],
        }.get(name, ["x"])
        value = draw(st.one_of(st.sampled_from(real), hostile_text().filter(bool)))
        path = path.replace(match.group(0), quote(value, safe="/" if converter == "path" else ""))
    names = ROUTE_PARAMS.get(rule.endpoint, [])
    in_body = method in ("POST", "PUT", "PATCH", "DELETE")
    request = HostileRequest(method=method, path=path)
    request.query = draw(st.one_of(parameters(vocab, [] if in_body else names), st.binary(max_size=40)))
    headers = {k: draw(st.one_of(st.none(), v)) for k, v in HEADERS.items()}
    headers["Authorization"], headers["Cookie"] = draw(authorization(world, rule.endpoint)), draw(cookies(world))
    if in_body:
        kind = draw(st.sampled_from(["form", "form", "json", "raw", "none", "huge"]))
        if kind == "form":
            request.form = draw(parameters(vocab, names))
        elif kind == "json":
            request.json_body = draw(
                st.one_of(
                    JSON, st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in METADATA.items()})
                )
            )
        elif kind == "raw":
            request.raw_body = draw(st.binary(max_size=200))
            headers["Content-Type"] = draw(st.one_of(st.sampled_from(CONTENT_TYPES), hostile_text()))
        elif kind == "huge":
            request.raw_body = b"password=" + b"a" * (64 * 1024)
            headers["Content-Type"] = CONTENT_TYPES[0]
        request.content_length = draw(st.one_of(st.none(), st.none(), st.sampled_from(["0", "-1", "x", "9" * 12, "3"])))
    request.headers = {k: v for k, v in headers.items() if v is not None}
    return request
