"""Validation of back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

EVENT = "http://schemas.openid.net/event/backchannel-logout"
ALGORITHMS = ["RS256", "ES256"]
#: Tokens older than this are refused (the provider signs them at delivery time); also the replay window.
MAX_AGE_SECONDS = 300
LEEWAY_SECONDS = 60


class LogoutTokenError(ValueError):
    """The logout token is not acceptable; the message is safe to return to the provider."""


def validate_logout_token(
    raw: str, *, jwks: Callable[[bool], dict[str, Any]], issuer: str, client_id: str, now: float
) -> dict[str, Any]:
    """Verify signature, then every claim §2.6 requires; returns the claims.

    ``jwks`` is a callable ``jwks(force: bool) -> dict`` so an unknown ``kid`` refetches once
    (the provider rotated its keys)."""
    if not raw or raw.count(".") != 2 or len(raw) > 8192:
        raise LogoutTokenError("The logout token is not a JWT.")
    try:
        try:
            token = jwt.decode(raw, KeySet.import_key_set(jwks(False)), algorithms=ALGORITHMS)
        except InvalidKeyIdError:
            token = jwt.decode(raw, KeySet.import_key_set(jwks(True)), algorithms=ALGORITHMS)
    except (JoseError, ValueError):
        raise LogoutTokenError("The logout token signature is not valid.") from None
    typ = token.header.get("typ")
    if typ is not None and typ.lower() not in ("logout+jwt", "application/logout+jwt"):
        raise LogoutTokenError("The token is not a logout token (typ).")
    claims = token.claims
    _check_claims(claims, issuer=issuer, client_id=client_id, now=now)
    return claims


def _check_claims(claims: dict[str, Any], *, issuer: str, client_id: str, now: float) -> None:
    if claims.get("iss") != issuer:
        raise LogoutTokenError("The logout token was issued by another provider.")
    aud = claims.get("aud")
    if client_id not in (aud if isinstance(aud, list) else [aud]):
        raise LogoutTokenError("The logout token is meant for another client.")
    iat = claims.get("iat")
    if not isinstance(iat, (int, float)) or iat > now + LEEWAY_SECONDS or now - iat > MAX_AGE_SECONDS:
        raise LogoutTokenError("The logout token is too old or not yet valid (iat).")
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, (int, float)) or exp < now - LEEWAY_SECONDS):
        raise LogoutTokenError("The logout token has expired.")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(EVENT), dict):
        raise LogoutTokenError("The logout token has no back-channel logout event.")
    if "nonce" in claims:  # §2.4: prohibited, so an ID token can never pass as a logout token
        raise LogoutTokenError("A logout token must not contain a nonce.")
    if not isinstance(claims.get("sid"), str) and not isinstance(claims.get("sub"), str):
        raise LogoutTokenError("The logout token names neither a session (sid) nor a user (sub).")
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise LogoutTokenError("The logout token has no jti.")
