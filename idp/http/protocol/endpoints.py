"""Token revocation (RFC 7009), introspection (RFC 7662) and access-token verification (RFC 9068)."""

from __future__ import annotations

from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from joserfc import jwt
from joserfc.errors import JoseError

from idp.domain.keys.material import JWS_ALGS
from idp.http import uow
from idp.http.context import deps
from idp.http.protocol.models import AccessTokenRecord, OAuthClient, RefreshTokenRecord
from idp.storage.sql import tokens as token_repo

ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none", "private_key_jwt"]


def verify_access_token(token_string: str, check_state: bool = True) -> AccessTokenRecord | None:
    """Verify signature, issuer and type of an access token; None when it is not one of ours.

    Expiry and revocation are reported by the record (``is_expired``/``is_revoked``) so
    each endpoint can answer as its RFC says.
    """
    if token_string.count(".") != 2:
        return None
    keystore = deps().keystore
    try:
        token = jwt.decode(token_string, keystore.verification_keys(), algorithms=list(JWS_ALGS))
    except (JoseError, ValueError):
        return None
    claims = token.claims
    if token.header.get("typ") != "at+jwt" or claims.get("iss") != deps().settings.server.issuer:
        return None
    if not isinstance(claims.get("exp"), int) or not isinstance(claims.get("jti"), str):
        return None
    if not isinstance(claims.get("client_id"), str):
        return None
    if not check_state:  # the caller checks revocation itself, in its own query (/userinfo)
        return AccessTokenRecord(claims, deps().now(), revoked=False)
    live = token_repo.access_token_state(uow.session(), claims["jti"], claims.get("gid"), claims["client_id"])
    return AccessTokenRecord(claims, deps().now(), revoked=not live)


def find_token(token_string: str, hint: str | None) -> AccessTokenRecord | RefreshTokenRecord | None:
    """An access token (JWT) or a refresh token (opaque), whatever the hint says (RFC 7009 §2.1)."""
    access = verify_access_token(token_string)
    if access is not None:
        return access
    found = token_repo.find_refresh_token(uow.session(), token_string)
    return None if found is None else RefreshTokenRecord(found[0], found[1], deps().now())


class RevocationEndpoint(_RevocationEndpoint):
    CLIENT_AUTH_METHODS = ENDPOINT_AUTH_METHODS

    def query_token(
        self, token_string: str, token_type_hint: str | None
    ) -> AccessTokenRecord | RefreshTokenRecord | None:
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: AccessTokenRecord | RefreshTokenRecord, request: OAuth2Request) -> None:
        db, now = uow.session(), deps().now()
        if isinstance(token, RefreshTokenRecord):
            # RFC 7009 §2.1: revoking a refresh token also invalidates access tokens of the same grant.
            token_repo.revoke_grant(db, token.grant.id, now)
        else:
            token_repo.revoke_access_token(db, token.claims["jti"], token.claims["exp"])


class IntrospectionEndpoint(_IntrospectionEndpoint):
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def query_token(
        self, token_string: str, token_type_hint: str | None
    ) -> AccessTokenRecord | RefreshTokenRecord | None:
        return find_token(token_string, token_type_hint)

    def check_permission(
        self, token: AccessTokenRecord | RefreshTokenRecord, client: OAuthClient, request: OAuth2Request
    ) -> bool:
        """A client may introspect tokens issued to it or meant for it (its id in ``aud``)."""
        if token.check_client(client):
            return True
        aud = token.claims.get("aud") if isinstance(token, AccessTokenRecord) else None
        return client.get_client_id() in (aud if isinstance(aud, list) else [aud])

    def introspect_token(self, token: AccessTokenRecord | RefreshTokenRecord) -> dict[str, Any]:

        settings = deps().settings
        if isinstance(token, RefreshTokenRecord):
            return {
                "active": True,
                "token_type": "refresh_token",
                "scope": token.row.scope,
                "client_id": token.row.client_id,
                "exp": int(token.row.expires_at),
                "iat": int(token.row.issued_at),
                "iss": settings.server.issuer,
            }
        c = token.claims
        payload = {
            "active": True,
            "token_type": "Bearer",
            "iss": c["iss"],
            "scope": c.get("scope", ""),
            "client_id": c["client_id"],
            "sub": c["sub"],
            "aud": c["aud"],
            "exp": c["exp"],
            "iat": c["iat"],
            "jti": c["jti"],
        }
        for optional in ("auth_time", "sid", "acr", "amr"):
            if optional in c:
                payload[optional] = c[optional]
        return payload
