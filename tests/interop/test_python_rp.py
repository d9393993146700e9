"""pyoidc (``oic`` on PyPI, an OpenID-certified RP library) against a live provider, driven only as its
documentation says: ``Client.provider_config`` reads discovery, ``construct_AuthorizationRequest`` with
``add_code_challenge`` (PKCE), ``do_access_token_request``/``do_access_token_refresh``/
``do_user_info_request``, the extension client's ``do_token_introspection``/``do_token_revocation``,
``private_key_jwt`` from its key jar, and registration with an initial access token (docs/clients.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from oic import rndstr
from oic.extension.client import Client as ExtensionClient
from oic.extension.message import ExtensionMessageFactory
from oic.oauth2.message import AccessTokenResponse as OAuth2AccessTokenResponse
from oic.oauth2.message import CCAccessTokenRequest, MessageTuple
from oic.oic import Client
from oic.oic.message import AccessTokenResponse, AuthorizationResponse, OpenIDSchema, RegistrationResponse
from oic.utils.authn.client import CLIENT_AUTHN_METHOD
from oic.utils.keyio import keyjar_init

from tests.support.helpers import CALLBACK, Browser, Provider, RelyingParty
from tests.support.registration_helpers import initial_access_token

SCOPE = ["openid", "profile", "email", "offline_access"]


@pytest.fixture
def op(provider: Provider) -> Iterator[Provider]:
    provider.create_user()
    yield provider


def oidc_client(provider: Provider, client_id: str, client_secret: str | None) -> Client:
    """The client of pyoidc's RP documentation: discovery, then the registration it was given."""
    client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    client.provider_config(provider.url)
    info: dict[str, Any] = {"client_id": client_id, "redirect_uris": [CALLBACK]}
    if client_secret:
        info["client_secret"] = client_secret
    client.store_registration_info(RegistrationResponse(**info))
    client.redirect_uris = [CALLBACK]
    return client


def sign_in(client: Client, browser: Browser, authn_method: str = "client_secret_basic") -> tuple[str, Any]:
    """The code flow with PKCE: pyoidc builds the request, the user signs in on the provider's form,
    pyoidc parses the callback and redeems the code. Returns the state and the token response."""
    state, nonce = rndstr(), rndstr()
    pkce, verifier = client.add_code_challenge()
    request_args = {
        "client_id": client.client_id,
        "response_type": "code",
        "scope": SCOPE,
        "nonce": nonce,
        "redirect_uri": CALLBACK,
        "state": state,
        **pkce,
    }
    url = client.construct_AuthorizationRequest(request_args=request_args).request(client.authorization_endpoint)
    page = browser.follow(browser.get(url))
    assert "Sign in" in page.text, page.text[:300]
    callback = browser.follow(browser.submit_login(page))
    if callback.status_code == 200 and "Allow" in callback.text:  # a client registered by its team asks
        callback = browser.follow(browser.submit_consent(callback))
    assert callback.status_code == 302 and callback.headers["Location"].startswith(CALLBACK), callback.text[:300]
    response = client.parse_response(
        AuthorizationResponse, info=urlsplit(callback.headers["Location"]).query, sformat="urlencoded"
    )
    assert isinstance(response, AuthorizationResponse) and response["state"] == state
    tokens = client.do_access_token_request(
        state=state,
        request_args={"code": response["code"], "code_verifier": verifier},
        authn_method=authn_method,
    )
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    # pyoidc verified the ID token (signature from the JWKS, iss, aud, nonce, exp) while parsing it.
    assert tokens["id_token"]["nonce"] == nonce
    return state, tokens


def resource_server(provider: Provider, client_id: str, client_secret: str) -> ExtensionClient:
    """pyoidc's OAuth 2.0 extension client (RFC 7662 introspection, RFC 7009 revocation)."""
    client = ExtensionClient(client_id=client_id, client_authn_method=CLIENT_AUTHN_METHOD)
    client.provider_config(provider.url)
    client.client_secret = client_secret
    return client


def test_code_flow_with_pkce_userinfo_and_refresh(op: Provider) -> None:
    rp = op.create_client(name="pyoidc web app")
    client = oidc_client(op, rp.client_id, rp.client_secret)
    state, tokens = sign_in(client, op.browser())
    sub = tokens["id_token"]["sub"]
    assert tokens["token_type"].lower() == "bearer" and "refresh_token" in tokens

    userinfo = client.do_user_info_request(state=state)
    assert isinstance(userinfo, OpenIDSchema), userinfo
    assert userinfo["sub"] == sub and userinfo["email"] == "ada@example.edu" and userinfo["name"] == "Ada Lovelace"

    refreshed = client.do_access_token_refresh(state=state, authn_method="client_secret_basic")
    assert isinstance(refreshed, AccessTokenResponse), refreshed
    assert refreshed["access_token"] != tokens["access_token"]
    assert refreshed["refresh_token"] != tokens["refresh_token"]  # rotated
    # A fresh ID token on refresh (issue 16, finding 2), verified by pyoidc; OIDC Core §12.2: no nonce.
    assert refreshed["id_token"]["sub"] == sub and "nonce" not in refreshed["id_token"]
    # The new access token works at /userinfo through pyoidc (it keeps the newest token of the state).
    assert client.do_user_info_request(state=state)["sub"] == sub


def test_introspection_and_revocation(op: Provider) -> None:
    rp = op.create_client(name="pyoidc web app")
    _state, tokens = sign_in(oidc_client(op, rp.client_id, rp.client_secret), op.browser())
    rs = resource_server(op, rp.client_id, rp.client_secret)

    def introspect(token: str) -> Any:
        return rs.do_token_introspection(request_args={"token": token}, authn_method="client_secret_basic")

    active = introspect(tokens["access_token"])
    assert active["active"] is True and active["client_id"] == rp.client_id
    assert active["sub"] == tokens["id_token"]["sub"]

    assert (
        rs.do_token_revocation(request_args={"token": tokens["refresh_token"]}, authn_method="client_secret_basic")
        == 200
    )
    assert introspect(tokens["refresh_token"])["active"] is False
    refresh = RelyingParty(op, rp.client_id, rp.client_secret, CALLBACK).token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refresh.json()["error"] == "invalid_grant"  # revoked for real, not only reported so

    assert (
        rs.do_token_revocation(request_args={"token": tokens["access_token"]}, authn_method="client_secret_basic")
        == 200
    )
    assert introspect(tokens["access_token"])["active"] is False


class ClientCredentialsMessages(ExtensionMessageFactory):
    """pyoidc picks the token request's message type from its message factory; for a service that is
    its ``CCAccessTokenRequest`` (RFC 6749 §4.4), which needs no authorization grant."""

    token_endpoint = MessageTuple(CCAccessTokenRequest, OAuth2AccessTokenResponse)


def test_client_credentials(op: Provider) -> None:
    rp = op.create_client(name="pyoidc service", grant_types=["client_credentials"], redirect_uris=[], scope="")
    assert rp.client_secret
    client = ExtensionClient(
        client_id=rp.client_id, client_authn_method=CLIENT_AUTHN_METHOD, message_factory=ClientCredentialsMessages
    )
    client.provider_config(op.url)
    client.client_secret = rp.client_secret
    tokens = client.do_access_token_request(authn_method="client_secret_basic")
    assert isinstance(tokens, OAuth2AccessTokenResponse), tokens.to_dict()
    assert "refresh_token" not in tokens and "id_token" not in tokens and tokens["expires_in"] > 0
    introspected = client.do_token_introspection(
        request_args={"token": tokens["access_token"]}, authn_method="client_secret_basic"
    )
    assert introspected["active"] is True and introspected["client_id"] == rp.client_id

    client.client_secret = "not-the-secret"
    assert client.do_access_token_request(authn_method="client_secret_basic")["error"] == "invalid_client"


def test_dynamic_registration_with_an_initial_access_token(op: Provider) -> None:
    token = initial_access_token(op)
    client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    client.provider_config(op.url)
    metadata = {
        "client_name": "pyoidc registered app",
        "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "openid profile email offline_access",
    }

    # What pyoidc's own register() does with an opaque token: base64 of it, which is not our token.
    refused = requests.post(
        client.registration_endpoint,
        data=client.create_registration_request(**metadata).to_json(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + _pyoidc_bearer(token)},
        timeout=10,
    )
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"

    # docs/clients.md "Dynamic registration with pyoidc": send the request, hand pyoidc the answer.
    response = requests.post(
        client.registration_endpoint, json=metadata, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    registration = client.handle_registration_info(response)
    assert isinstance(registration, RegistrationResponse), registration
    assert client.client_id == registration["client_id"] and client.client_secret
    assert client.registration_access_token and client.registration_response["client_name"] == metadata["client_name"]

    client.redirect_uris = [CALLBACK]
    _state, tokens = sign_in(client, op.browser())
    assert tokens["id_token"]["aud"] == [client.client_id]


def _pyoidc_bearer(token: str) -> str:
    """The header value ``Client.register(url, registration_token=token)`` sends, taken from pyoidc itself:
    it calls ``http_request``; we catch the headers there instead of sending them."""
    client = Client()
    seen: dict[str, str] = {}

    def capture(url: str, method: str = "GET", **kwargs: Any) -> Any:
        seen.update(kwargs["headers"])
        raise _Captured

    client.http_request = capture  # type: ignore[method-assign]
    with pytest.raises(_Captured):
        client.register("http://127.0.0.1:9/register", registration_token=token, redirect_uris=[CALLBACK])
    assert seen["Authorization"].startswith("Bearer ")
    return seen["Authorization"].removeprefix("Bearer ")


class _Captured(Exception):
    pass


def test_private_key_jwt(op: Provider, tmp_path: Path) -> None:
    # pyoidc makes the RP's RSA key (``keyjar_init`` with a key file, as its RP examples configure keys);
    # its public half is registered as ``jwks``.
    keys = [{"type": "RSA", "key": str(tmp_path / "rp.key"), "use": ["sig"]}]
    client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    keyjar_init(client, keys)
    public_jwks = client.keyjar.export_jwks(private=False)
    assert public_jwks["keys"] and all("d" not in key for key in public_jwks["keys"])
    rp = op.create_client(
        name="pyoidc private_key_jwt app", token_endpoint_auth_method="private_key_jwt", jwks=public_jwks
    )
    client.provider_config(op.url)
    client.store_registration_info(RegistrationResponse(client_id=rp.client_id, redirect_uris=[CALLBACK]))
    client.redirect_uris = [CALLBACK]
    _state, tokens = sign_in(client, op.browser(), authn_method="private_key_jwt")
    assert tokens["id_token"]["aud"] == [rp.client_id]

    rs = ExtensionClient(client_id=rp.client_id, client_authn_method=CLIENT_AUTHN_METHOD)
    keyjar_init(rs, keys)  # the same key file
    rs.provider_config(op.url)
    # pyoidc 1.7.0 picks the assertion's audience by ``authn_endpoint``, which only its token calls set:
    # without it do_token_introspection raises KeyError. Any other value makes the audience the issuer.
    introspected = rs.do_token_introspection(
        request_args={"token": tokens["access_token"]}, authn_method="private_key_jwt", authn_endpoint="introspection"
    )
    assert introspected["active"] is True and introspected["client_id"] == rp.client_id
    revoked = rs.do_token_revocation(
        request_args={"token": tokens["refresh_token"]}, authn_method="private_key_jwt", authn_endpoint="revocation"
    )
    assert revoked == 200
    assert (
        rs.do_token_introspection(
            request_args={"token": tokens["refresh_token"]},
            authn_method="private_key_jwt",
            authn_endpoint="introspection",
        )["active"]
        is False
    )
