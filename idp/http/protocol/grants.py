"""Authlib grants with our storage and policy hooks.

- authorization_code + PKCE (S256 only) + OpenID Connect ID tokens;
- refresh_token with rotation and family revocation on reuse (RFC 9700 §4.14.2), and a fresh ID
  token when the grant has ``openid`` (OIDC Core §12.2);
- client_credentials for service clients (access token only).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode, OpenIDToken, UserInfo

from idp.core.errors import StoreUnavailable
from idp.core.ports import Store
from idp.core.tokens import new_id, new_token, token_hash
from idp.domain.factors.policy import acr_for
from idp.http import uow
from idp.http.context import deps, request_info
from idp.http.protocol.claims import user_claims
from idp.http.protocol.models import AuthorizationCode, OAuthClient, Principal, RefreshTokenRecord
from idp.storage.sql import audit
from idp.storage.sql import tokens as token_repo
from idp.storage.sql.models import BrowserSession, Grant

log = logging.getLogger(__name__)

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none", "private_key_jwt"]
CODE_KEY = "code:"
USED_CODE_KEY = "code-used:"
#: How long a consumed code is remembered so that its replay revokes the tokens issued from it.
USED_CODE_MEMORY = 86400
#: Scopes that only make sense with an end user (never granted to client_credentials).
USER_ONLY_SCOPES = {"openid", "profile", "email", "offline_access"}


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only: ``plain`` and an omitted method (which defaults to plain) are refused
    (RFC 9700 §2.1.1). Whether a challenge is required is checked per client in ``policy``."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def validate_code_challenge(self, grant: grants.AuthorizationCodeGrant, redirect_uri: str | None) -> None:
        data = grant.request.payload.data
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only 'code_challenge_method=S256' is supported.", redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

    @staticmethod
    def validate_authorization_redirect_uri(request: OAuth2Request, client: OAuthClient) -> str:
        """Authlib's check, but its error quoted the requested URI (a 500 when it held '"')."""
        if request.payload.redirect_uri and not client.check_redirect_uri(request.payload.redirect_uri):
            raise InvalidRequestError("The redirect URI is not registered for this client.")
        return grants.AuthorizationCodeGrant.validate_authorization_redirect_uri(request, client)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        """Codes live in the store under their hash, with their own expiry from the clock."""
        ctx = request.user  # a Principal prepared by the authorization endpoint
        settings, now = deps().settings, deps().now()
        data = {
            "client_id": request.client.get_client_id(),
            "redirect_uri": request.payload.redirect_uri,
            "scope": request.scope,
            "user_id": ctx.user.id,
            "session_id": ctx.session_id,
            "auth_time": ctx.auth_time,
            "amr": ctx.amr,
            "claims": ctx.claims,
            "nonce": request.payload.data.get("nonce"),
            "code_challenge": request.payload.data.get("code_challenge"),
            "code_challenge_method": request.payload.data.get("code_challenge_method"),
            "grant_id": new_id(),
            "expires_at": now + settings.tokens.code_seconds,
        }
        # With the request's work (``uow.on_commit``): the code exists only if its grant's session does.
        store, key = deps().store, CODE_KEY + token_hash(code)
        uow.on_commit(lambda: store.put(key, data, settings.tokens.code_seconds + 60))

    def query_authorization_code(self, code: str, client: OAuthClient) -> AuthorizationCode | None:
        """Consume the code atomically. A second use finds only the tombstone, and revokes
        everything issued from the first (RFC 6749 §4.1.2: the server SHOULD revoke).

        The client is checked before the code is consumed (RFC 6749 §4.1.3: the code must have
        been issued to the authenticated client): another client that learns a code gets
        ``invalid_grant``, is audited, and cannot burn the code of the one it belongs to."""
        key = token_hash(code)
        store, now = deps().store, deps().now()
        try:
            peek = store.get(CODE_KEY + key)
            if peek is not None and peek["client_id"] != client.get_client_id():
                _audit_wrong_client(peek, client.get_client_id(), now)
                return None
            data = store.pop(CODE_KEY + key)
        except StoreUnavailable:
            # Redis is down and the code is not in the store's database fallback: it may be in
            # Redis (503, try again), unless this is the replay of a code used during the outage.
            if _revoke_if_replayed(store, key, now):
                return None
            raise
        if data is None:
            _revoke_if_replayed(store, key, now)
            return None
        store.put(USED_CODE_KEY + key, {"grant_id": data["grant_id"], "client_id": data["client_id"]}, USED_CODE_MEMORY)
        if data["client_id"] != client.get_client_id() or now >= data["expires_at"]:
            return None
        return AuthorizationCode(data)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Already consumed by ``query_authorization_code``."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Principal | None:
        """The user, read by the statement that stores the grant and its first refresh token (one
        round trip on PostgreSQL; ``token_repo.exchange_code``). Both are known before the tokens
        are made: the grant's scope is the one the token generator grants (``get_allowed_scope``),
        and the refresh token is made here, if the client may refresh (as Authlib's
        ``create_token_response`` asks), and handed out by the generator (``Principal``). Any error
        after this rolls them back with the request."""
        data, client, now = authorization_code.data, self.request.client, deps().now()
        refresh_token = new_token() if client.check_grant_type("refresh_token") else None
        grant = Grant(
            id=data["grant_id"],
            user_id=data["user_id"],
            client_id=client.get_client_id(),
            session_id=data["session_id"],
            scope=client.get_allowed_scope(authorization_code.get_scope()),
            auth_time=data["auth_time"],
            amr=data["amr"],
            claims=data.get("claims") or {},
            created_at=now,
        )
        lifetime = deps().settings.tokens.refresh_token_seconds
        user = token_repo.exchange_code(uow.session(), grant, refresh_token=refresh_token, lifetime=lifetime)
        if user is None or not user.active:
            return None
        return Principal.of_grant(user, grant, refresh_token)


def _audit_wrong_client(data: dict[str, Any], presenter: str, now: float) -> None:
    """In a transaction of its own: the request ends in an error and rolls back."""
    with uow.separate() as db:
        audit.record(
            db,
            audit.CODE_WRONG_CLIENT,
            now=now,
            client_id=presenter,
            user_id=data["user_id"],
            **request_info().audit_fields(),
            issued_to=data["client_id"],
        )
    log.warning("authorization code presented by client %s, issued to another client: refused, code kept", presenter)


def _revoke_if_replayed(store: Store, key: str, now: float) -> bool:
    used = store.get(USED_CODE_KEY + key)
    if used is None:
        return False
    _revoke_replayed(used["grant_id"], used["client_id"], now)
    return True


def _revoke_replayed(grant_id: str, client_id: str, now: float) -> None:
    """Revoke in a transaction of its own: the request itself ends in an error and rolls back."""
    with uow.separate() as db:
        token_repo.revoke_grant(db, grant_id, now)
        audit.record(
            db, audit.CODE_REPLAY, now=now, client_id=client_id, **request_info().audit_fields(), grant_id=grant_id
        )
    log.warning("authorization code replay: grant %s revoked", grant_id)


class IDTokenSigning:
    """How our ID tokens are signed and which claims every one carries (mixed into Authlib's
    ``OpenIDToken`` extensions): the current key for the client's algorithm, times from the clock."""

    def resolve_client_private_key(self, client: OAuthClient) -> object:
        return deps().keystore.signing_key(self.get_client_algorithm(client)).key

    def get_client_algorithm(self, client: OAuthClient) -> str:
        return client.id_token_signed_response_alg or "RS256"

    def get_encode_header(self, client: OAuthClient) -> dict[str, str]:
        alg = self.get_client_algorithm(client)
        return {"alg": alg, "kid": deps().keystore.signing_key(alg).kid}

    def get_client_claims(self, client: OAuthClient) -> dict[str, Any]:
        now = int(deps().now())
        return {
            "iss": deps().settings.server.issuer,
            "aud": [client.get_client_id()],
            "iat": now,
            "exp": now + deps().settings.tokens.id_token_seconds,
        }

    def generate_user_info(self, user: Principal, scope: str) -> UserInfo:
        return user_claims(user, scope, user.claims.get("id_token"))


class OpenIDConnectCode(IDTokenSigning, OpenIDCode):
    """ID tokens of the code flow (OIDC Core §3.1.3.6)."""

    def __init__(self) -> None:
        # Core §3.1.2.1: nonce is OPTIONAL in the code flow.
        super().__init__(require_nonce=False)

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        # Codes are single use and bound to their nonce; replay is stopped at the code.
        return False

    def get_authorization_code_claims(self, authorization_code: AuthorizationCode) -> dict[str, Any]:
        claims = super().get_authorization_code_claims(authorization_code)
        if authorization_code.data.get("session_id"):
            claims["sid"] = authorization_code.data["session_id"]
        return claims


class OpenIDConnectRefresh(IDTokenSigning, OpenIDToken):
    """A fresh ID token on the refresh grant when its scope has ``openid`` (OIDC Core §12.2), so that
    RP libraries that keep only the latest token response still have an ``id_token_hint`` for logout.

    §12.2: ``iss``, ``sub``, ``aud`` and ``auth_time`` are those of the original ID token, with no
    ``nonce``; ``sid`` and ``amr`` are the grant's too (recorded when the code was exchanged)."""

    def get_compatible_claims(self, request: OAuth2Request) -> dict[str, Any]:
        principal: Principal = request.user
        claims = self.get_client_claims(request.client)
        if principal.auth_time is not None:  # recorded on every grant made by a sign-in
            claims["auth_time"] = int(principal.auth_time)
        if principal.amr:
            claims["amr"] = principal.amr
            claims["acr"] = acr_for(principal.amr)
        if principal.session_id:
            claims["sid"] = principal.session_id
        return claims


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Refresh with rotation (RFC 9700 §4.14.2) that stays correct when instances race.

    Two requests presenting the same refresh token at once (two tabs, a retry, two instances
    behind a load balancer) must leave exactly one valid successor and must not look like theft:

    - both present it before either has claimed it: the conditional UPDATE that claims it lets one
      win (on PostgreSQL with the read, ``claim_refresh_token``; on SQLite once the tokens are made,
      ``confirm_claim``); the loser's response, successor included, is rolled back and it gets
      ``invalid_grant``;
    - one presents it after the other's claim was committed: within
      ``IDP_REFRESH_REUSE_GRACE_SECONDS`` of the rotation this is taken for the same race and
      refused with ``invalid_grant`` *without* revoking the family (the client keeps the successor
      the winner received); later, it is reuse and the whole family is revoked.

    Unlike Dex's ``reuseInterval`` the successor is not re-issued to the loser: only its hash is
    stored, so it cannot be; Hydra's grace period issues a second successor, which we refuse to do
    ("exactly one valid successor"). The window is short so that a stolen token replayed within
    seconds of the legitimate refresh is still refused; it is audited either way.
    """

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshTokenRecord | None:
        now = deps().now()
        # On PostgreSQL the read claims the token too (one round trip). Any refusal after it
        # (expired, the grant or session over, another client's token, a wider scope, an inactive
        # user) is an error response, which rolls the claim back.
        found = token_repo.claim_refresh_token(uow.session(), refresh_token, now)
        if found is None:
            return None
        row, grant, user, browser_session, won = found
        if row.rotated_at is not None and row.revoked_at is None:
            if now - row.rotated_at < deps().settings.tokens.refresh_reuse_grace_seconds:
                _refuse_concurrent_reuse(grant, now)
            else:
                _revoke_reused(grant, now)
            return None
        if not won:  # revoked, or claimed by a concurrent request: its response has the one successor
            return None
        record = RefreshTokenRecord(row, grant, now, user=user)
        if record.is_expired() or record.is_revoked() or not _session_allows(grant, browser_session, now):
            return None
        return record

    def authenticate_user(self, refresh_token: RefreshTokenRecord) -> Principal | None:
        grant: Grant = refresh_token.grant
        user = refresh_token.user  # read with the token (authenticate_refresh_token)
        if user is None or not user.active:
            return None
        return Principal.of_grant(user, grant)

    @hooked
    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """Authlib's, with the ``after_create_token_response`` hook its refresh grant lacks (the code
        grant has it): ``OpenIDConnectRefresh`` adds the ID token there."""
        return super().create_token_response()

    def revoke_old_credential(self, refresh_token: RefreshTokenRecord) -> None:
        # Claimed with the read on PostgreSQL; on SQLite now. A loser's response (with the successor
        # it would have saved) is rolled back.
        if not token_repo.confirm_claim(uow.session(), refresh_token.row, deps().now()):
            raise InvalidGrantError("The refresh token has already been used.")


def _session_allows(grant: Grant, row: BrowserSession | None, now: float) -> bool:
    """Tokens without ``offline_access`` live only as long as the browser session they came from."""
    if "offline_access" in grant.scope.split() or grant.session_id is None:
        return True
    # The same limits as the browser (``sessions.find_active_session``): ended, absolute and idle.
    idle = deps().settings.sessions.idle_seconds
    return row is not None and row.ended_at is None and now < row.expires_at and now - row.last_seen_at < idle


def _refuse_concurrent_reuse(grant: Grant, now: float) -> None:
    with uow.separate() as db:
        audit.record(
            db,
            audit.REFRESH_REUSE_IN_GRACE,
            now=now,
            user_id=grant.user_id,
            client_id=grant.client_id,
            **request_info().audit_fields(),
            grant_id=grant.id,
        )
    log.info("refresh token reused within the grace window: refused, grant %s kept", grant.id)


def _revoke_reused(grant: Grant, now: float) -> None:
    with uow.separate() as db:
        token_repo.revoke_grant(db, grant.id, now)
        audit.record(
            db,
            audit.REFRESH_REUSE,
            now=now,
            user_id=grant.user_id,
            client_id=grant.client_id,
            **request_info().audit_fields(),
            grant_id=grant.id,
        )
    log.warning("refresh token reuse: grant %s revoked", grant.id)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """Service clients calling institutional APIs: a JWT access token, no ID or refresh token."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        allowed = [s for s in scope_to_list(self.request.client.row.scope) if s not in USER_ONLY_SCOPES]
        requested = scope_to_list(self.request.payload.scope) or []
        if set(requested) - set(allowed):
            raise InvalidScopeError("The client may not request these scopes.")
        # RFC 6749 §3.3: no scope requested means the client's pre-defined (allowed) scopes.
        self.request.scope = " ".join(requested or allowed)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:

        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER
