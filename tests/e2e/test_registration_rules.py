"""The registration rules (idp/domain/clients/rules.py), example by example and as properties (hypothesis),
both directly and through a live /register."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.core.errors import ClientMetadataError
from idp.core.outbound import AllowList
from idp.domain.clients.rules import check_redirect_uri, check_server_uri, spec_from_metadata
from tests.support.registration_helpers import client_count, initial_access_token

ACCEPTED = [
    ("https://rp.example.edu/callback", "web"),
    ("https://rp.example.edu:8443/cb?tenant=1", "web"),
    ("http://127.0.0.1/cb", "web"),
    ("http://127.0.0.1:51004/cb", "native"),
    ("http://[::1]:61000/cb", "native"),
    ("edu.example.app:/oauth2redirect", "native"),
    ("edu.example.app://callback", "native"),
]
REFUSED = [
    ("http://rp.example.edu/cb", "web", "https"),
    ("http://localhost:8000/cb", "native", "https"),
    ("https://rp.example.edu/cb#top", "web", "fragment"),
    ("https://rp.example.edu/cb#", "web", "fragment"),
    ("https://*.example.edu/cb", "web", "wildcard"),
    ("https://rp.example.edu/*", "web", "wildcard"),
    ("/callback", "web", "absolute"),
    ("rp.example.edu/cb", "web", "absolute"),
    ("https:///cb", "web", "absolute"),
    ("myapp:/cb", "native", "reverse-domain"),
    ("edu.example.app:/cb", "web", "native"),
    ("https://rp.example.edu/c b", "web", "spaces"),
    ("https://rp.example.edu:99999/cb", "web", "not a URI"),
    ("javascript:alert(1)", "native", "reverse-domain"),
]


@pytest.mark.parametrize("uri,app_type", ACCEPTED)
def test_accepted_redirect_uris(uri, app_type):
    check_redirect_uri(uri, "redirect_uris", app_type)


@pytest.mark.parametrize("uri,app_type,fragment", REFUSED)
def test_refused_redirect_uris(uri, app_type, fragment):
    with pytest.raises(ClientMetadataError) as info:
        check_redirect_uri(uri, "redirect_uris", app_type)
    assert info.value.error == "invalid_redirect_uri" and info.value.field == "redirect_uris"
    assert fragment in str(info.value)


def test_post_logout_and_backchannel_uris_follow_the_same_rules():
    for name in ("post_logout_redirect_uris",):
        with pytest.raises(ClientMetadataError, match=name):
            spec_from_metadata(
                {"client_name": "x", "redirect_uris": ["https://a.example/cb"], name: ["http://a.example/bye"]},
                privileged=True,
            )
    with pytest.raises(ClientMetadataError, match="backchannel_logout_uri"):
        spec_from_metadata(
            {
                "client_name": "x",
                "redirect_uris": ["https://a.example/cb"],
                "backchannel_logout_uri": "https://a.example/logout#x",
            },
            privileged=True,
        )
    spec = spec_from_metadata(
        {
            "client_name": "x",
            "redirect_uris": ["https://a.example/cb"],
            "backchannel_logout_uri": "https://a.example/logout",
        },
        privileged=True,
    )
    assert spec.backchannel_logout_uri == "https://a.example/logout"


SERVER_URIS_ACCEPTED = [
    "https://rp.example.edu/backchannel",
    "https://rp.example.edu:8443/bcl?tenant=1",
    "https://93.184.215.14/bcl",
    "https://[2606:4700::1]/bcl",
]
SERVER_URIS_REFUSED = [
    ("http://rp.example.edu/bcl", "must use https"),
    ("https://rp.example.edu/bcl#frag", "fragment"),
    ("edu.example.app:/bcl", "absolute https URL"),
    ("/bcl", "absolute https URL"),
    ("https://user:pw@rp.example.edu/bcl", "user name or password"),
    ("https://127.0.0.1:8001/bcl", "internal address"),
    ("https://[::1]/bcl", "internal address"),
    ("https://[::ffff:10.0.0.1]/bcl", "internal address"),
    ("https://169.254.169.254/latest/meta-data", "internal address"),
    ("https://0.0.0.0:8001/bcl", "internal address"),
    ("https://localhost/bcl", "localhost"),
    ("https://login.localhost/bcl", "localhost"),
    ("https://127.1/bcl", "standard form"),
    ("https://rp.example.edu/c b", "spaces"),
]


@pytest.mark.parametrize("field_name", ["backchannel_logout_uri", "jwks_uri"])
def test_urls_the_provider_calls_follow_the_outbound_policy(field_name):
    for uri in SERVER_URIS_ACCEPTED:
        check_server_uri(uri, field_name)
    for uri, fragment in SERVER_URIS_REFUSED:
        with pytest.raises(ClientMetadataError) as info:
            check_server_uri(uri, field_name)
        assert info.value.field == field_name and info.value.error == "invalid_client_metadata"
        assert fragment in str(info.value), uri
        # Constant text: nothing of the client's URL comes back (RFC 6749 §5.2 and Authlib's checks).
        assert not any(part in str(info.value) for part in ("rp.example", "bcl", "8001", "169.254", "127."))


def test_the_operators_allow_list_admits_internal_relying_parties():
    allow = AllowList.parse(["127.0.0.1/32", "10.20.0.0/16", "login.localhost", "rp.internal.example.edu"])
    for uri in (
        "http://127.0.0.1:8001/backchannel-logout",
        "https://10.20.1.2/bcl",
        "http://rp.internal.example.edu/bcl",
        "https://login.localhost:8443/backchannel-logout",
    ):
        check_server_uri(uri, "backchannel_logout_uri", allow)
        with pytest.raises(ClientMetadataError):
            check_server_uri(uri, "backchannel_logout_uri")  # the default is deny
    for uri in ("http://10.21.0.1/bcl", "https://10.21.0.1/bcl", "http://other.example.edu/bcl"):
        with pytest.raises(ClientMetadataError):
            check_server_uri(uri, "backchannel_logout_uri", allow)
    # Redirect URIs keep RFC 8252's loopback http whatever the allow-list: the browser calls those.
    spec = spec_from_metadata({"client_name": "x", "redirect_uris": ["http://127.0.0.1:51004/cb"]}, privileged=False)
    assert spec.redirect_uris == ["http://127.0.0.1:51004/cb"]


def test_defaults_follow_rfc_7591():
    spec = spec_from_metadata({"client_name": "x", "redirect_uris": ["https://a.example/cb"]}, privileged=False)
    assert spec.grant_types == ["authorization_code"] and spec.response_types == ["code"]
    assert spec.token_endpoint_auth_method == "client_secret_basic" and not spec.public and not spec.trusted


# -- properties -----------------------------------------------------------------------------------

SCHEMES = st.sampled_from(["https", "http", "edu.example.app", "myapp", "javascript", "HTTPS", ""])
HOSTS = st.sampled_from(
    [
        "rp.example.edu",
        "127.0.0.1",
        "[::1]",
        "localhost",
        "*.example.edu",
        "",
        "10.0.0.1",
        "169.254.169.254",
        "[::ffff:127.0.0.1]",
        "127.1",
        "login.localhost",
        "93.184.215.14",
    ]
)
TAILS = st.sampled_from(["/cb", "/cb#frag", "/cb?x=1", ":8080/cb", ":99999/cb", "/c b", "/\u00e9", "/*", ""])
ANY_URI = st.one_of(
    st.builds(lambda s, h, t: f"{s}://{h}{t}", SCHEMES, HOSTS, TAILS),
    st.builds(lambda s, t: f"{s}:{t}", SCHEMES, TAILS),
    st.text(max_size=30),
)
GOOD_URI = st.one_of(
    st.builds(lambda p: f"https://rp.example.edu/{p}", st.text("abc/-_", max_size=8)),
    st.builds(lambda port: f"http://127.0.0.1:{port}/cb", st.integers(1, 65535)),
    st.just("http://[::1]/cb"),
)
URIS = st.one_of(GOOD_URI, GOOD_URI, GOOD_URI, GOOD_URI, st.just("edu.example.app:/cb"), ANY_URI)
JSON_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def mostly(good, bad):
    """Valid values three times as often as anything else, so both outcomes are well explored."""
    return st.one_of(good, good, good, bad)


KEY = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
}
METADATA = st.fixed_dictionaries(
    {
        "client_name": mostly(st.text(min_size=1, max_size=40), st.text(max_size=210)),
        "redirect_uris": mostly(st.lists(URIS, min_size=1, max_size=3), JSON_JUNK),
    },
    optional={
        "post_logout_redirect_uris": mostly(st.lists(URIS, max_size=2), JSON_JUNK),
        "backchannel_logout_uri": mostly(st.just("https://rp.example.edu/bc"), st.one_of(ANY_URI, JSON_JUNK)),
        "grant_types": mostly(
            st.sampled_from([["authorization_code"], ["authorization_code", "refresh_token"]]),
            st.one_of(
                st.lists(
                    st.sampled_from(
                        ["authorization_code", "refresh_token", "client_credentials", "implicit", "password"]
                    ),
                    max_size=3,
                ),
                JSON_JUNK,
            ),
        ),
        "response_types": mostly(
            st.just(["code"]),
            st.one_of(st.lists(st.sampled_from(["code", "token", "id_token"]), max_size=2), JSON_JUNK),
        ),
        "token_endpoint_auth_method": mostly(
            st.sampled_from(["client_secret_basic", "client_secret_post", "none"]),
            st.one_of(st.sampled_from(["private_key_jwt", "client_secret_jwt"]), JSON_JUNK),
        ),
        "scope": mostly(
            st.sampled_from(["openid", "openid profile", "openid email offline_access"]),
            st.one_of(st.sampled_from(["openid idp:admin", "api.write", "", " "]), JSON_JUNK),
        ),
        "application_type": mostly(st.sampled_from(["web", "native"]), st.one_of(st.just("desktop"), JSON_JUNK)),
        "id_token_signed_response_alg": mostly(
            st.sampled_from(["RS256", "ES256"]), st.one_of(st.sampled_from(["none", "HS256"]), JSON_JUNK)
        ),
        "jwks": mostly(
            st.just({"keys": [KEY]}),
            st.one_of(
                st.just({"keys": []}),
                st.just({"keys": [{**KEY, "d": "x"}]}),
                st.just({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
                JSON_JUNK,
            ),
        ),
        "jwks_uri": st.one_of(st.just("https://rp.example.edu/jwks.json"), ANY_URI, JSON_JUNK),
        "trusted": st.one_of(st.booleans(), JSON_JUNK),
        "client_uri": mostly(st.just("https://rp.example.edu/"), st.one_of(ANY_URI, JSON_JUNK)),
        "contacts": mostly(st.lists(st.emails(), max_size=2), JSON_JUNK),
        "software_id": st.text(max_size=220),
    },
)
# ``trusted`` is refused whenever present; keep it to one example in five so the rest get explored.
METADATA = st.tuples(METADATA, st.integers(0, 4)).map(
    lambda pair: pair[0] if pair[1] == 0 else {k: v for k, v in pair[0].items() if k != "trusted"}
)


def assert_acceptable(body: dict) -> None:
    """An oracle written apart from the implementation: what an accepted app-team client must be."""
    assert "trusted" not in body or body.get("trusted") is False
    assert 1 <= len(body["client_name"].strip()) <= 200
    assert set(body["grant_types"]) <= {"authorization_code", "refresh_token", "client_credentials"}
    assert ("code" in body["response_types"]) == ("authorization_code" in body["grant_types"])
    assert set(body["response_types"]) <= {"code"}
    assert set(body["scope"].split()) <= {"openid", "profile", "email", "offline_access"}
    # No scope at all only for a service client (client_credentials only).
    assert body["scope"].strip() or "authorization_code" not in body["grant_types"]
    assert body["token_endpoint_auth_method"] in (
        "client_secret_basic",
        "client_secret_post",
        "none",
        "private_key_jwt",
    )
    if body["token_endpoint_auth_method"] == "private_key_jwt":
        assert body.get("jwks") or body.get("jwks_uri")
    if "authorization_code" in body["grant_types"]:
        assert body["redirect_uris"]
    for uri in body["redirect_uris"] + body["post_logout_redirect_uris"]:
        parts = urlsplit(uri)
        assert "#" not in uri and "*" not in uri and " " not in uri
        if parts.scheme == "http":
            assert parts.hostname in ("127.0.0.1", "::1")
        elif parts.scheme != "https":
            assert "." in parts.scheme and body["application_type"] == "native"
    for name in ("backchannel_logout_uri", "jwks_uri"):  # the provider calls these itself
        if body.get(name) is None:
            continue
        parts = urlsplit(body[name])
        assert parts.scheme == "https" and parts.hostname and "#" not in body[name]
        assert parts.hostname != "localhost" and not parts.hostname.endswith(".localhost")
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            assert not parts.hostname.replace(".", "").isdigit()
        else:
            assert address.is_global and not address.is_multicast


@given(METADATA)
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
def test_parsed_metadata_is_valid_or_refused_by_name(data):
    try:
        spec = spec_from_metadata(data, privileged=False)
    except ClientMetadataError as exc:
        assert exc.field and exc.error in ("invalid_redirect_uri", "invalid_client_metadata")
        assert str(exc).startswith(exc.field + ":")
        return
    assert_acceptable(
        {
            "client_name": spec.name,
            "grant_types": spec.grant_types,
            "response_types": spec.response_types,
            "scope": spec.scope,
            "token_endpoint_auth_method": spec.token_endpoint_auth_method,
            "jwks": spec.jwks,
            "jwks_uri": spec.jwks_uri,
            "redirect_uris": spec.redirect_uris,
            "backchannel_logout_uri": spec.backchannel_logout_uri,
            "post_logout_redirect_uris": spec.post_logout_redirect_uris,
            "application_type": spec.application_type,
            "trusted": spec.trusted,
        }
    )


def holds_nul(value: object) -> bool:
    """Whether any key or string in the JSON value holds NUL (``json.dumps`` would write it as an escape)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_nul(v) for v in value)
    return False


@given(METADATA)
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_register_never_fails_and_never_accepts_an_invalid_client(provider, data):
    token = initial_access_token(provider)
    before = client_count(provider)
    response = requests.post(
        provider.url + "/register", json=data, timeout=10, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code in (201, 400), response.text
    if response.status_code == 400:
        body = response.json()
        if holds_nul(data):
            # No value of ours may hold NUL: the request is refused as a whole, before any rule reads it.
            assert body["error"] == "invalid_request" and "NUL" in body["error_description"]
            assert client_count(provider) == before
            return
        assert body["error"] in ("invalid_redirect_uri", "invalid_client_metadata")
        assert body["error_description"].split(":")[0] in set(METADATA_FIELDS) | {"request"}
        assert client_count(provider) == before
        return
    assert_acceptable(response.json())
    assert client_count(provider) == before + 1


METADATA_FIELDS = (
    "client_name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "grant_types",
    "response_types",
    "token_endpoint_auth_method",
    "scope",
    "application_type",
    "id_token_signed_response_alg",
    "jwks",
    "jwks_uri",
    "trusted",
    "client_uri",
    "contacts",
    "software_id",
)
