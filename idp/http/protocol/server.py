"""The Authlib authorization server, wired to our storage, keys and clock."""

from __future__ import annotations

import json
import logging
from typing import Any, TypeGuard

from authlib.integrations.flask_oauth2 import AuthorizationServer as FlaskAuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Flask, Response
from flask import request as flask_request
from joserfc import jwt

from idp.core.deps import Deps
from idp.core.tokens import new_id, new_token
from idp.domain.factors.policy import acr_for
from idp.http import uow
from idp.http.context import deps
from idp.http.protocol import cors
from idp.http.protocol.client_auth import PrivateKeyJWT
from idp.http.protocol.client_cache import ClientCache, detached_copy
from idp.http.protocol.client_secret_basic import authenticate_client_secret_basic
from idp.http.protocol.endpoints import IntrospectionEndpoint, RevocationEndpoint
from idp.http.protocol.error_responses import ErrorDescriptions
from idp.http.protocol.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    OpenIDConnectCode,
    OpenIDConnectRefresh,
    RefreshTokenGrant,
    S256CodeChallenge,
)
from idp.http.protocol.models import OAuthClient, Principal
from idp.http.protocol.registration import ConfigurationEndpoint, RegistrationEndpoint
from idp.storage.sql import tokens as token_repo
from idp.storage.sql.clients import get_client

log = logging.getLogger("idp.http.protocol")


class TooManyRequestsError(OAuth2Error):
    """HTTP 429 with ``Retry-After`` (RFC 6585 §4) from the per-client token-endpoint limit.
    RFC 6749 defines no error code for rate limiting; the status and header are what count."""

    error = "too_many_requests"
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(description="Too many token requests from this client. Retry later.")
        self.retry_after = retry_after

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


class AuthorizationServer(ErrorDescriptions, FlaskAuthorizationServer):
    client_cache: ClientCache | None = None

    def query_client(self, client_id: object) -> OAuthClient | None:
        if not is_client_id(client_id):
            return None
        cache = self.client_cache
        hit = cache.get(client_id) if cache is not None else None
        if hit is not None:
            cors.note_client(hit.row)
            return hit
        row = get_client(uow.session(), client_id)
        if row is None or not row.active:
            return None
        cors.note_client(row)
        client = OAuthClient(row, deps().settings.server.secret_key)
        if cache is not None:
            cache.put(client_id, OAuthClient(detached_copy(row), deps().settings.server.secret_key))
        return client

    def handle_response(
        self, status_code: int, payload: dict[str, Any] | str, headers: list[tuple[str, str]]
    ) -> Response:
        # Compact JSON (no spaces after separators): fewer bytes on every token response.
        if isinstance(payload, dict):
            payload = json.dumps(payload, separators=(",", ":"))
        return Response(payload, status=status_code, headers=headers)

    def authenticate_client(self, request: OAuth2Request, methods: list[str], endpoint: str = "token") -> OAuthClient:
        """Authlib's client authentication, then the per-client token-endpoint limit.

        Counted after authentication, so nobody can spend a confidential client's allowance
        with a wrong secret; a public client (nothing to authenticate) counts per client and IP.
        If the counters are unreachable the limit is skipped (fail open): refresh must keep
        working while Redis is down; only password sign-in fails closed.
        """
        client = super().authenticate_client(request, methods, endpoint)
        if endpoint == "token":
            from idp.core.errors import ThrottleUnavailable, TooManyAttempts
            from idp.http.context import client_ip

            key = client.get_client_id()
            if client.is_public:
                key += "@" + client_ip()
            try:
                deps().throttle.check_rate("token_client", key)
            except TooManyAttempts as exc:
                raise TooManyRequestsError(exc.retry_after) from None
            except ThrottleUnavailable as exc:
                log.warning("token endpoint limit skipped, counters unreachable: %s", exc)
        return client

    def create_oauth2_request(self, request: object) -> OAuth2Request:
        # A request restored from a pending interaction is already an OAuth2Request.
        if isinstance(request, OAuth2Request):
            return request
        return FlaskOAuth2Request(flask_request)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Persist what must be: the hashed refresh token of a refresh grant. The code exchange
        stored its grant (the token family) and first refresh token already, with the read of the
        user (``AuthorizationCodeGrant.authenticate_user``)."""
        principal = request.user
        if not isinstance(principal, Principal):
            return  # client_credentials: a self-contained access token, nothing stored
        if principal.grant_id is None:  # the grants' authenticate_user always sets it
            raise RuntimeError("token endpoint principal without a grant id")
        if request.payload.grant_type == "authorization_code":
            if token.get("refresh_token") != principal.refresh_token:  # authenticate_user foresaw Authlib's call
                raise RuntimeError("the code exchange issued another refresh token than it stored")
            return
        if token.get("refresh_token"):
            token_repo.add_refresh_token(
                uow.session(),
                token=token["refresh_token"],
                grant_id=principal.grant_id,
                client_id=request.client.get_client_id(),
                scope=token["scope"],
                now=deps().now(),
                lifetime=deps().settings.tokens.refresh_token_seconds,
            )


class Issuer(IssuerParameter):
    """RFC 9207: ``iss`` in every authorization response, errors included."""

    def get_issuer(self) -> str:
        return deps().settings.server.issuer


class JWTAccessTokenGenerator(BearerTokenGenerator):
    """RFC 9068 access tokens.

    Written here rather than using Authlib's ``JWTBearerTokenGenerator`` because that one reads
    wall-clock time (we need the clock service) and re-imports the key on every call; the
    claims are the same plus ``sid`` and ``gid`` (the grant, for revocation of the family).
    """

    def __init__(self) -> None:
        super().__init__(self.access_token, _refresh_token, self.expires_in)

    @staticmethod
    def expires_in(client: OAuthClient, grant_type: str) -> int:
        return deps().settings.tokens.access_token_seconds

    def access_token(self, client: OAuthClient, grant_type: str, user: Principal | None, scope: str | None) -> str:
        settings, now = deps().settings, int(deps().now())
        claims = {
            "iss": settings.server.issuer,
            "exp": now + settings.tokens.access_token_seconds,
            "iat": now,
            "jti": new_id(),
            "client_id": client.get_client_id(),
            "aud": client.get_client_id(),
            "scope": scope or "",
        }
        if isinstance(user, Principal):
            if user.auth_time is None:  # the grants' authenticate_user always sets it
                raise RuntimeError("token endpoint principal without auth_time")
            claims.update(sub=user.user.sub, auth_time=int(user.auth_time), gid=user.grant_id)
            if user.session_id:
                claims["sid"] = user.session_id
            if user.amr:  # RFC 9068 §2.2.1: how the user signed in, for resource servers and introspection
                claims.update(acr=acr_for(user.amr), amr=list(user.amr))
        else:
            claims["sub"] = client.get_client_id()
        alg = settings.tokens.access_token_alg
        key = deps().keystore.signing_key(alg)
        header = {"alg": alg, "typ": "at+jwt", "kid": key.kid}
        return jwt.encode(header, claims, key.key, algorithms=[alg])


def is_client_id(value: object) -> TypeGuard[str]:
    """RFC 6749 Appendix A.1: a client_id is VSCHAR (%x20-7E); anything else (a NUL byte, which
    PostgreSQL refuses in a query) cannot name a client, so no lookup is made."""
    return isinstance(value, str) and 0 < len(value) <= 255 and all(0x20 <= ord(c) <= 0x7E for c in value)


def _refresh_token(client: OAuthClient, grant_type: str, user: Principal | None, scope: str | None) -> str:
    if user is not None and user.refresh_token is not None:  # already stored by the code exchange
        return user.refresh_token
    return new_token()


def create_server(app: Flask, deps: Deps) -> AuthorizationServer:
    server = AuthorizationServer()
    server.client_cache = ClientCache(deps.settings.clients.cache_seconds)
    cors.init_app(app, deps.settings.clients.cache_seconds)
    server.init_app(app)
    server.register_token_generator("default", JWTAccessTokenGenerator())
    server.register_extension(Issuer())
    server.register_grant(AuthorizationCodeGrant, [OpenIDConnectCode(), S256CodeChallenge(required=True)])
    server.register_grant(RefreshTokenGrant, [OpenIDConnectRefresh()])
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(RegistrationEndpoint)
    server.register_endpoint(ConfigurationEndpoint)
    server.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT())
    # Replaces Authlib's, which decodes the header without guarding it (non-UTF-8 was a 500).
    server.register_client_auth_method("client_secret_basic", authenticate_client_secret_basic)
    app.extensions["idp.oauth2"] = server
    return server


def get_server() -> AuthorizationServer:
    from flask import current_app

    server: AuthorizationServer = current_app.extensions["idp.oauth2"]
    return server
