"""``private_key_jwt`` client authentication (RFC 7523 §2.2, OIDC Core §9) through Authlib's
``JWTBearerClientAssertion``, with our clock, our store as the ``jti`` replay cache, and the
client's registered ``jwks`` or ``jwks_uri``."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, cast

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization

from idp.core.outbound import OutboundError
from idp.domain.clients.rules import ASSERTION_ALGS
from idp.http.context import deps
from idp.http.protocol.models import OAuthClient
from idp.storage.sql.models import Client

log = logging.getLogger(__name__)

JTI_KEY = "assertion-jti:"
JWKS_KEY = "client-jwks:"
#: How long keys fetched from a ``jwks_uri`` are reused before fetching again.
JWKS_CACHE_SECONDS = 300
MAX_JWKS_BYTES = 64 * 1024
JWKS_TIMEOUT_SECONDS = 5
#: Longest assertion lifetime accepted; also bounds how long a ``jti`` is remembered.
MAX_ASSERTION_SECONDS = 600
LEEWAY = 60


class PrivateKeyJWT(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self) -> None:
        super().__init__(validate_jti=True, leeway=LEEWAY)

    def get_audiences(self) -> list[str]:
        """RFC 7523 §3: the token endpoint URL; the issuer is accepted too (OIDC Core §9), and the
        other endpoints that accept client authentication."""
        issuer = deps().settings.server.issuer
        return [issuer, f"{issuer}/token", f"{issuer}/revoke", f"{issuer}/introspect"]

    def resolve_client_public_key(self, client: OAuthClient) -> KeySet:
        row = client.row
        if row.token_endpoint_auth_method != self.CLIENT_AUTH_METHOD:
            raise InvalidClientError(description="The client is not registered for private_key_jwt.")
        try:
            return KeySet.import_key_set(_client_jwks(row))
        except OutboundError as exc:
            log.warning("client %s: cannot fetch its jwks_uri: %s", row.client_id, exc.reason)
            raise InvalidClientError(description="The client's public keys cannot be loaded.") from None
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            log.warning("client %s: cannot load its keys: %s", row.client_id, exc.__class__.__name__)
            raise InvalidClientError(description="The client's public keys cannot be loaded.") from None

    def process_assertion_claims(self, assertion: str, resolve_key: Callable[..., Any]) -> dict[str, Any]:
        """As Authlib's, but only the asymmetric algorithms we accept (no ``none``, no HMAC)."""
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=list(ASSERTION_ALGS))
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description="The client assertion is not valid.") from exc
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims: dict[str, Any]) -> None:
        """Authlib's checks, against the provider's clock rather than the wall clock, plus a cap
        on ``exp`` so a ``jti`` need only be remembered for a bounded time."""
        now = int(deps().now())
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=self.leeway,
            iss={"essential": True},
            sub={"essential": True},
            jti={"essential": True},
            aud={"essential": True, "values": self.get_audiences()},
            exp={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise InvalidClientError(description=f"Invalid client assertion: {exc.description}") from exc
        if claims["sub"] != claims["iss"]:
            raise InvalidClientError(description="Issuer and Subject MUST match.")
        # The cap allows the same clock skew as exp and iat: RP libraries default to exactly the cap
        # (pyoidc: exp = iat + 600), so a client clock a second ahead would otherwise be refused.
        if claims["exp"] > now + MAX_ASSERTION_SECONDS + self.leeway:
            raise InvalidClientError(description=f"The assertion may live at most {MAX_ASSERTION_SECONDS} seconds.")
        if not isinstance(claims["jti"], str) or not self.validate_jti(claims, claims["jti"]):
            raise InvalidClientError(description="JWT ID is used before.")

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        """RFC 7523 §3 (7): each ``jti`` once per client, remembered until the assertion expires."""
        ttl = int(claims["exp"]) - int(deps().now()) + LEEWAY + 1
        return deps().store.add(f"{JTI_KEY}{claims['sub']}:{jti[:200]}", {"seen": True}, max(ttl, 1))


def _client_jwks(row: Client) -> KeySetSerialization:
    """The registered ``jwks``, or the set fetched from ``jwks_uri`` (the rules require one)."""
    if row.jwks is not None:
        document = row.jwks
    elif row.jwks_uri is not None:
        document = _fetch_jwks(row.jwks_uri)
    else:
        raise ValueError("neither jwks nor jwks_uri is registered")
    # JSON from the database or the client's server: import_key_set checks its shape.
    return cast(KeySetSerialization, document)


def _fetch_jwks(uri: str) -> dict[str, Any]:
    """The client's JWK Set from its ``jwks_uri`` through the outbound client (its policy, a
    timeout and a size cap), cached for ``JWKS_CACHE_SECONDS``."""
    store = deps().store
    cached = store.get(JWKS_KEY + uri)
    if cached is not None:
        return cached
    response = deps().outbound.get(
        uri, accept="application/json", timeout=JWKS_TIMEOUT_SECONDS, max_bytes=MAX_JWKS_BYTES
    )
    if response.status != 200:
        raise OutboundError(f"HTTP {response.status}")
    document = json.loads(response.body)
    store.put(JWKS_KEY + uri, document, JWKS_CACHE_SECONDS)
    return document
