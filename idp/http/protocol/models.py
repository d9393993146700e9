"""Our objects, seen through Authlib's protocol mixins (not its SQLAlchemy mixins, which store raw tokens)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oidc.core import AuthorizationCodeMixin

from idp.domain.clients.service import secret_matches
from idp.domain.factors.policy import acr_for
from idp.http.context import deps
from idp.storage.sql.models import Client, Grant, RefreshToken, User

SECRET_METHODS = ("client_secret_basic", "client_secret_post")


class OAuthClient(ClientMixin):
    """A registered client (wraps the ``clients`` row)."""

    def __init__(self, row: Client, secret_key: str) -> None:
        self.row = row
        self.client_id = row.client_id
        self._secret_key = secret_key
        self.client_metadata = {
            "id_token_signed_response_alg": row.id_token_signed_response_alg,
            "post_logout_redirect_uris": list(row.post_logout_redirect_uris),
        }

    @property
    def id_token_signed_response_alg(self) -> str:
        return self.row.id_token_signed_response_alg

    @property
    def is_public(self) -> bool:
        return self.row.public

    @property
    def requires_pkce(self) -> bool:
        """The authorization request must carry a PKCE challenge (public clients always)."""
        return bool(self.row.require_pkce or self.row.public)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.row.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        """The requested scopes this client may have, in request order (RFC 6749 §3.3)."""
        if not scope:
            return self.row.scope
        allowed = set(scope_to_list(self.row.scope))
        return " ".join(s for s in dict.fromkeys(scope_to_list(scope)) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string match (RFC 9700 §4.1.3): no prefixes, no wildcards.
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        """The current secret, or the previous one during its rotation grace period."""
        return secret_matches(self.row, client_secret, secret_key=self._secret_key, now=deps().now())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """Public clients authenticate with ``none`` only; confidential ones may send their
        secret by either method (as Keycloak allows), never with ``none``."""
        registered = self.row.token_endpoint_auth_method
        if registered in SECRET_METHODS:
            return method in SECRET_METHODS
        return method == registered

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.row.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.row.grant_types


@dataclass
class Principal:
    """The end user as a token sees them: the user plus the authorization it rides on."""

    user: User
    grant_id: str | None = None
    session_id: str | None = None
    auth_time: float | None = None
    amr: list[str] = field(default_factory=list)
    claims: dict[str, Any] = field(default_factory=dict)
    #: The refresh token the code exchange stored with its grant before the tokens were made; the
    #: token generator hands out this one (None: it makes a new one, the refresh grant's successor).
    refresh_token: str | None = None

    @classmethod
    def of_grant(cls, user: User, grant: Grant, refresh_token: str | None = None) -> Principal:
        """The user as the token endpoint sees them: through the grant the code or refresh token rides on."""
        return cls(
            user=user,
            grant_id=grant.id,
            session_id=grant.session_id,
            auth_time=grant.auth_time,
            amr=grant.amr,
            claims=grant.claims,
            refresh_token=refresh_token,
        )

    def get_user_id(self) -> str:
        return self.user.sub


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    """An authorization code as saved in the store (only its hash is the key)."""

    data: dict[str, Any]

    def get_redirect_uri(self) -> str | None:
        return self.data.get("redirect_uri")

    def get_scope(self) -> str:
        return self.data["scope"]

    def get_nonce(self) -> str | None:
        return self.data.get("nonce")

    def get_auth_time(self) -> int:
        return int(self.data["auth_time"])

    def get_amr(self) -> list[str] | None:
        return self.data.get("amr") or None

    def get_acr(self) -> str | None:
        """``urn:spom:acr:mfa`` or ``…:pwd``, from the methods the session showed (``factors.policy``)."""
        amr = self.get_amr()
        return acr_for(amr) if amr else None

    @property
    def code_challenge(self) -> str | None:
        return self.data.get("code_challenge")

    @property
    def code_challenge_method(self) -> str | None:
        return self.data.get("code_challenge_method")


class RefreshTokenRecord(TokenMixin):
    def __init__(self, row: RefreshToken, grant: Grant, now: float, user: User | None = None) -> None:
        self.row, self.grant, self._now = row, grant, now
        #: The grant's user, when the refresh grant read it with the token (None otherwise).
        self.user = user

    def check_client(self, client: OAuthClient) -> bool:
        return self.row.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int(self.row.expires_at - self.row.issued_at)

    def is_expired(self) -> bool:
        return self._now >= self.row.expires_at

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None or self.grant.revoked_at is not None or self.row.rotated_at is not None


class AccessTokenRecord(TokenMixin):
    """A verified RFC 9068 access token (its claims), for revocation, introspection and userinfo."""

    def __init__(self, claims: dict[str, Any], now: float, revoked: bool) -> None:
        self.claims, self._now, self._revoked = claims, now, revoked

    def check_client(self, client: OAuthClient) -> bool:
        return self.claims.get("client_id") == client.get_client_id()

    def get_scope(self) -> str:
        return self.claims.get("scope", "")

    def get_expires_in(self) -> int:
        return int(self.claims["exp"] - self.claims["iat"])

    def is_expired(self) -> bool:
        return self._now >= self.claims["exp"]

    def is_revoked(self) -> bool:

        return self._revoked
