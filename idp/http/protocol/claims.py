"""Which user claims a token carries: by scope (OIDC Core §5.4) plus the ``claims`` request (§5.5)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from authlib.oidc.core import UserInfo

from idp.http.protocol.models import Principal

SCOPE_CLAIMS = {
    "profile": ("name", "preferred_username", "locale", "roles"),
    "email": ("email", "email_verified"),
}
SUPPORTED_CLAIMS = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "sid",
    "at_hash",
    "name",
    "preferred_username",
    "locale",
    "roles",
    "email",
    "email_verified",
]


class ClaimsRequestError(ValueError):
    """The ``claims`` parameter is not a JSON object of the shape Core §5.5 describes."""


def parse_claims_request(raw: str | None) -> dict:
    """Parse and check the ``claims`` authorization parameter; {} when absent."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise ClaimsRequestError("The 'claims' parameter is not valid JSON.") from None
    if not isinstance(value, dict) or not all(
        k in ("userinfo", "id_token") and (v is None or isinstance(v, dict)) for k, v in value.items()
    ):
        raise ClaimsRequestError("The 'claims' parameter must be an object with 'userinfo' and/or 'id_token' members.")
    return {k: v for k, v in value.items() if v}


def user_claims(principal: Principal, scope: str, requested: dict[str, Any] | None) -> UserInfo:
    """The claims released for ``scope`` plus the individually requested ones we know."""
    user = principal.user
    available = {
        "name": user.display_name or None,
        "preferred_username": user.registration_number,
        "roles": [user.role],
        "locale": user.locale or None,  # BCP 47 (Core §5.1): the language the user chose; absent until then
        "email": user.email,
        "email_verified": bool(user.email_verified) if user.email else None,
    }
    names = {n for s in (scope or "").split() for n in SCOPE_CLAIMS.get(s, ())}
    names |= set(requested or {})
    info = UserInfo(sub=user.sub)
    for name in sorted(names):
        if available.get(name) is not None:
            info[name] = available[name]
    return info


def claims_scopes(requested: dict[str, Any]) -> list[str]:
    """The scopes whose claims a parsed ``claims`` request names: consent must cover them too."""
    names = {name for member in requested.values() for name in member}
    return [scope for scope, claims in SCOPE_CLAIMS.items() if names & set(claims)]


def limit_claims_request(requested: dict[str, Any], allowed_scopes: Iterable[str]) -> dict[str, Any]:
    """Drop requested claims of scopes the client may not have (the ``claims`` parameter must not
    reach past the client's registered scopes)."""
    allowed = set(allowed_scopes)
    blocked = {name for scope, claims in SCOPE_CLAIMS.items() if scope not in allowed for name in claims}
    return {member: {n: v for n, v in names.items() if n not in blocked} for member, names in requested.items()}
