"""Where OAuth errors leave the authorization server, with our descriptions (``errors.py``).

``ErrorDescriptions`` is mixed into ``AuthorizationServer``: every error response and every error
that feeds an error page (the consent and end-session validations) gets the rule's description,
and unsupported response and grant types get errors of our own, because Authlib builds those
from the raw request value (a 500 when it held '"' or '\\', and an echo otherwise).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import AuthorizationServer as BaseAuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import UnsupportedGrantTypeError, UnsupportedResponseTypeError
from flask import Response

from idp.http.protocol.errors import GENERIC, OwnDescription, own_description

#: Response and grant types other servers offer, which a description may name (OIDC Core §3,
#: OAuth 2.0 Multiple Response Types §3, RFC 6749, RFC 8628, RFC 7523, RFC 8693).
KNOWN_RESPONSE_TYPES = frozenset(
    {"token", "id_token", "none", "code id_token", "code token", "id_token token", "code id_token token"}
)
KNOWN_GRANT_TYPES = frozenset(
    {
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:saml2-bearer",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "urn:openid:params:grant-type:ciba",
    }
)
_RESPONSE_TYPE_ORDER = ("code", "id_token", "token", "none")


def _known_response_type(value: str | None) -> str | None:
    """A known response type in its registered spelling (the order of its words is free)."""
    words = (value or "").split()
    if len(set(words)) != len(words) or not set(words) <= set(_RESPONSE_TYPE_ORDER):
        return None
    named = " ".join(sorted(words, key=_RESPONSE_TYPE_ORDER.index))
    return named if named in KNOWN_RESPONSE_TYPES else None


class ResponseTypeNotSupported(OwnDescription, UnsupportedResponseTypeError):
    """``unsupported_response_type`` naming the requested type only if it is a known one.

    Authlib 1.9's ``get_authorization_grant`` passes this error its arguments in the wrong order,
    so the raw ``response_type`` became the description (``error_description=id_token``)."""

    def __init__(self, response_type: str | None, **kwargs: Any) -> None:
        named = _known_response_type(response_type)
        text = (
            f"response_type '{named}' is not supported; use 'code'." if named else GENERIC["unsupported_response_type"]
        )
        super().__init__(response_type, description=text, **kwargs)

    def get_error_description(self) -> str:
        return self.description


class GrantTypeNotSupported(OwnDescription, UnsupportedGrantTypeError):
    """``unsupported_grant_type`` naming the requested type only if it is a known one."""

    def __init__(self, grant_type: str | None) -> None:
        super().__init__(grant_type)
        self.description = (
            f"grant_type '{grant_type}' is not supported; use authorization_code, refresh_token or client_credentials."
            if grant_type in KNOWN_GRANT_TYPES
            else GENERIC["unsupported_grant_type"]
        )

    def get_error_description(self) -> str:
        return self.description


class ErrorDescriptions(BaseAuthorizationServer):
    """The seams of Authlib's ``AuthorizationServer`` where an error's description is decided.

    It derives from Authlib's base server (as the Flask one does) so that ``super()`` is typed;
    the method order is unchanged: these run before the Flask server's."""

    def get_authorization_grant(self, request: OAuth2Request) -> Any:
        """Authlib's, but an unsupported ``response_type`` gets ``ResponseTypeNotSupported``.

        The check runs before Authlib's, which would build its error from the raw value; the
        redirect URI is validated as Authlib does (RFC 6749 §4.1.2.1: only a registered one)."""
        if not any(cls.check_authorization_endpoint(request) for cls, _ in self._authorization_grants):
            client = self.query_client(request.payload.client_id)
            redirect_uri = None
            if client is not None:
                requested = request.payload.redirect_uri
                redirect_uri = (
                    requested
                    if requested and client.check_redirect_uri(requested)
                    else None
                    if requested
                    else client.get_default_redirect_uri()
                )
            raise ResponseTypeNotSupported(
                request.payload.response_type, redirect_uri=redirect_uri, state=request.payload.state
            )
        return super().get_authorization_grant(request)

    def get_token_grant(self, request: OAuth2Request) -> Any:
        try:
            return super().get_token_grant(request)
        except UnsupportedGrantTypeError:
            raise GrantTypeNotSupported(request.payload.grant_type) from None

    def get_consent_grant(self, request: OAuth2Request | None = None, end_user: object = None) -> Any:
        try:
            return super().get_consent_grant(request=request, end_user=end_user)
        except OAuth2Error as error:
            own_description(error)
            raise

    def validate_endpoint_request(self, name: str, request: OAuth2Request | None = None) -> Any:
        try:
            return super().validate_endpoint_request(name, request)
        except OAuth2Error as error:
            own_description(error)
            raise

    def handle_error_response(self, request: OAuth2Request, error: OAuth2Error) -> Response:
        """Every OAuth error the server sends carries only our own description."""
        return super().handle_error_response(request, own_description(error))
