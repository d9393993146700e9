"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) through Authlib's EndSessionEndpoint."""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from authlib.oidc.rpinitiated import EndSessionRequest
from flask import Response
from flask_babel import lazy_gettext as _l
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.domain.keys.material import JWS_ALGS
from idp.http import session as web_session
from idp.http import uow
from idp.http.context import deps, request_info
from idp.http.protocol.errors import description
from idp.http.protocol.models import OAuthClient
from idp.http.protocol.server import AuthorizationServer, get_server
from idp.storage.sql import audit


class EndSessionEndpoint(_EndSessionEndpoint):
    def get_server_jwks(self) -> KeySet:
        return deps().keystore.verification_keys()

    def get_algorithms(self) -> list[str]:
        return list(JWS_ALGS)

    def resolve_client_from_id_token_claims(self, id_token_claims: dict[str, Any]) -> OAuthClient | None:
        # Our ID tokens carry ``aud`` as a one-element list, which Authlib's default treats as
        # ambiguous (no client, hence never a post-logout redirect); ``azp`` settles a longer list.
        aud = id_token_claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        client_id = auds[0] if len(auds) == 1 else id_token_claims.get("azp")
        return self.server.query_client(client_id) if isinstance(client_id, str) and client_id in auds else None

    def validate_request(self, request: OAuth2Request) -> EndSessionRequest:
        hint = request.payload.data.get("id_token_hint")
        if hint:
            # Decoded here first: Authlib passes joserfc's message on as the description, and
            # that quotes the token's header (a 500 when its ``alg`` held '"').
            try:
                jwt.decode(hint, self.get_server_jwks(), algorithms=self.get_algorithms())
            except (JoseError, ValueError):
                raise InvalidRequestError("Invalid 'id_token_hint'.") from None
        validated = super().validate_request(request)
        claims = validated.id_token_claims
        if claims is not None and claims.get("iss") != deps().settings.server.issuer:
            raise InvalidRequestError("The 'id_token_hint' was not issued by this provider.")
        return validated

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        ended = web_session.sign_out()
        if ended is not None:
            client = end_session_request.client
            audit.record(
                uow.session(),
                audit.LOGOUT,
                now=deps().now(),
                user_id=ended.user.id,
                client_id=client.get_client_id() if client else None,
                **request_info().audit_fields(),
            )


def register_end_session(server: AuthorizationServer) -> None:
    server.register_endpoint(EndSessionEndpoint)


# What the error page says, in the user's language, when a sign-out request is refused: the person is
# still signed in, and must not read Authlib's English. The technical description (``description``:
# never one quoting the request) is the page's secondary line for the application's developers.
PAGE_TEXT = {
    "Invalid 'id_token_hint'.": _l(
        "The application sent a sign-out request we cannot verify, so you have not been signed out."
    ),
    "The 'id_token_hint' was not issued by this provider.": _l(
        "The application sent a sign-out request for a sign-in with another provider, so you have not been "
        "signed out here."
    ),
    "'client_id' does not match 'aud' claim": _l(
        "The sign-out request names two different applications, so you have not been signed out."
    ),
}
PAGE_TEXT_FALLBACK = _l("The application sent a sign-out request that is not valid, so you have not been signed out.")


class LogoutRefused(Exception):
    """The end-session request is invalid: ``error`` and the technical ``description`` (English, for the
    developers); ``page_text()`` is what the person reads."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(error)
        self.error, self.description = error, description

    def page_text(self) -> str:
        return str(PAGE_TEXT.get(self.description, PAGE_TEXT_FALLBACK))


def validate_logout() -> EndSessionRequest:
    """The validated end-session request (Authlib's), or ``LogoutRefused``; the page decides whether
    to ask for confirmation (``needs_confirmation``, ``id_token_claims``, ``client``)."""
    try:
        return get_server().validate_endpoint_request("end_session")
    except OAuth2Error as error:
        # Authlib passes joserfc's words on for a hint whose claims fail: only our rule's text leaves.
        raise LogoutRefused(error.error or "invalid_request", description(error)) from None


def finish_logout(validated: EndSessionRequest) -> Response | None:
    """Sign out (audited) and answer: a redirect to the validated ``post_logout_redirect_uri``, or
    None for the provider's own "signed out" page."""
    return get_server().create_endpoint_response("end_session", validated)
