"""OAuth error descriptions: the one rule for what ``error_description`` may say.

Every description the provider sends is constant text of our own: either one of ``SPECIFIC``
(exact sentences our code and Authlib raise without quoting the request), or composed by an
``OwnDescription`` error from constant text and at most a token from a fixed set, or else the
generic sentence for the error code (``GENERIC``). Nothing the client sent is ever echoed:
Authlib builds some descriptions from request values (``Redirect URI … is not supported``,
an unsupported ``response_type``), which both reflects the input to the relying party's error
page and, when the value holds '"' or '\\', makes Authlib's own RFC 6749 §4.1.2.1 character
check raise ``ValueError`` (an HTTP 500). ``own_description`` is applied where errors leave
the server (``error_responses.ErrorDescriptions``, mixed into ``AuthorizationServer``, and the
userinfo view), and ``tests/unit/test_error_descriptions.py`` checks that every literal description
in ``idp/`` is listed here, so a new one is not silently replaced by the generic text.
"""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error

from idp.http.protocol.policy import CONSENT_CHECKS, LOGIN_CHECKS

#: One sentence per error code, used whenever the error's own description is not ours.
GENERIC = {
    "invalid_request": "The request is missing a required parameter, includes an invalid parameter value, "
    "or is otherwise malformed.",
    "invalid_client": "Client authentication failed.",
    "invalid_grant": "The authorization grant or refresh token is invalid, expired, revoked or was issued "
    "to another client.",
    "unauthorized_client": "The client is not allowed to use this grant or response type.",
    "unsupported_grant_type": "This grant_type is not supported; use authorization_code, refresh_token or "
    "client_credentials.",
    "unsupported_response_type": "This response_type is not supported; use 'code'.",
    "invalid_scope": "The requested scope is invalid, unknown, or malformed.",
    "access_denied": "The request was denied.",
    "login_required": "The user must sign in.",
    "consent_required": "The user must approve the request.",
    "interaction_required": "The user must interact with the provider.",
    "account_selection_required": "The user must choose an account.",
    "request_not_supported": "The 'request' parameter is not supported.",
    "request_uri_not_supported": "The 'request_uri' parameter is not supported.",
    "invalid_token": "The access token is invalid, expired or revoked.",
    "insufficient_scope": "The access token does not carry the scope this request needs.",
    "invalid_redirect_uri": "A redirect URI breaks the registration rules.",
    "invalid_client_metadata": "The client metadata breaks the registration rules.",
    "too_many_requests": "Too many requests. Retry later.",
}
FALLBACK = "The request was refused."
#: The warning logged when ``is_refused_description`` catches one (the route fuzz looks for it).
REFUSED_DESCRIPTION_LOG = "an OAuth error description quoted the request at %s; sent the generic text"

#: Exact descriptions that may be sent as they are: ours and Authlib's constant ones.
SPECIFIC = frozenset(
    {
        # idp/http/protocol/authorize.py and idp/http/protocol/claims.py
        "Missing 'redirect_uri' in request.",
        "Only 'response_mode=query' is supported.",
        "This client must use PKCE: send 'code_challenge' with 'code_challenge_method=S256'.",
        "Invalid 'max_age' parameter.",
        "Invalid 'id_token_hint'.",
        "The 'id_token_hint' was not issued to this client.",
        "The signed-in user is not the one named by 'id_token_hint'.",
        "The 'claims' parameter is not valid JSON.",
        "The 'claims' parameter must be an object with 'userinfo' and/or 'id_token' members.",
        "The redirect URI is not registered for this client.",
        # idp/http/protocol/grants.py, server.py, logout.py, views.py, registration.py, client_auth.py
        "Only 'code_challenge_method=S256' is supported.",
        "The refresh token has already been used.",
        "The client may not request these scopes.",
        "Too many token requests from this client. Retry later.",
        "The 'id_token_hint' was not issued by this provider.",
        "Use exactly one method to send the access token.",
        "An initial access token is required to register a client.",
        "The initial access token is invalid or has expired.",
        "The registration access token is invalid.",
        "This initial access token has registered all the clients it allows.",
        "The client is not registered for private_key_jwt.",
        "The client's public keys cannot be loaded.",
        "The client assertion is not valid.",
        "Issuer and Subject MUST match.",
        "JWT ID is used before.",
        "The HTTP Basic credentials are malformed.",
        # idp/http/web/views.py
        "The user denied the request.",
        # Authlib's constant descriptions (grants, PKCE, client authentication, OIDC, RFC 6750)
        "Missing 'client_id' parameter.",
        "The client does not exist on this server.",
        "Missing 'code' in request.",
        "Invalid 'code' in request.",
        "Invalid 'redirect_uri' in request.",
        "There is no 'user' for this code.",
        "Missing 'refresh_token' in request.",
        "There is no 'user' for this token.",
        "Missing 'code_challenge'",
        "Multiple 'code_challenge' in request.",
        "Invalid 'code_challenge'",
        "Unsupported 'code_challenge_method'",
        "Multiple 'code_challenge_method' in request.",
        "Missing 'code_verifier'",
        "Invalid 'code_verifier'",
        "The authorization request had no 'code_challenge', but a 'code_verifier' was provided.",
        "Code challenge failed.",
        "Invalid 'prompt' parameter.",
        "Missing 'nonce' in request.",
        "'client_id' does not match 'aud' claim",
        "The client does not have permission to read its record.",
        "The access token provided is expired, revoked, malformed, or invalid for other reasons.",
        "The request requires higher privileges than provided by the access token.",
        "The requested scope is invalid, unknown, or malformed.",
        "The resource owner or authorization server denied the request",
        *(f"Multiple '{p}' in request." for p in ("response_type", "client_id", "redirect_uri", "scope", "state")),
        *(
            f"The client is not authorized to use '{kind}={value}'"
            for kind, value in (
                ("response_type", "code"),
                ("grant_type", "authorization_code"),
                ("grant_type", "refresh_token"),
                ("grant_type", "client_credentials"),
            )
        ),
        # The reasons of the sign-in and consent policy (login_required / consent_required).
        *(check.reason for check in LOGIN_CHECKS + CONSENT_CHECKS),
    }
)


class OwnDescription:
    """Mixed into an error class whose description our code composes from constant text (and at
    most a token from a fixed set): the rule lets it through. ``tests/unit/test_error_descriptions.py``
    checks the sources of such descriptions do not interpolate request values."""


def description(error: OAuth2Error) -> str:
    """The description ``error`` may carry out of the server (see the module docstring)."""
    text = error.description or ""
    if text and (isinstance(error, OwnDescription) or text in SPECIFIC):
        return text
    return GENERIC.get(error.error or "", FALLBACK)


def own_description(error: OAuth2Error) -> OAuth2Error:
    """Replace ``error``'s description by the one it may carry; returns the same error."""
    error.description = description(error)
    return error


def is_refused_description(exc: BaseException) -> bool:
    """Whether ``exc`` is the ``ValueError`` Authlib's ``OAuth2Error`` constructor raises for a
    description with characters RFC 6749 forbids: a description built from the request at a place
    not yet given its own text. The app's error handler answers it as a plain ``invalid_request``
    (a 400, not a 500) and logs a warning; the route fuzz fails on that warning, so each such
    place is still found and fixed where the error is raised."""
    tb = exc.__traceback__
    if not isinstance(exc, ValueError) or tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code is OAuth2Error.__init__.__code__
