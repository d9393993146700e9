"""The authorization endpoint: Authlib validates, ``policy`` decides, we sign in, consent or issue."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidRequestError
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    InteractionRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from flask import redirect, render_template
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from joserfc import jwt
from joserfc.errors import JoseError

from idp.core.params import ParameterError, parse_max_age
from idp.domain.factors import policy as mfa_policy
from idp.domain.factors.policy import Enrolment
from idp.domain.keys.material import JWS_ALGS
from idp.http import session as web_session
from idp.http import uow, usecases
from idp.http.context import deps
from idp.http.protocol import app_return, interactions, policy
from idp.http.protocol.claims import ClaimsRequestError, claims_scopes, limit_claims_request, parse_claims_request
from idp.http.protocol.errors import description
from idp.http.protocol.models import Principal
from idp.http.protocol.server import Issuer, get_server
from idp.http.session import SignedIn
from idp.storage.sql import consents

#: RFC 7636 §4.4.1: the error when a client that must use PKCE sent no challenge.
PKCE_REQUIRED = "This client must use PKCE: send 'code_challenge' with 'code_challenge_method=S256'."

log = logging.getLogger(__name__)

#: The page of each step ``policy.decide`` can ask for, and the error when ``prompt=none`` forbids it.
PAGES = {"login": "web.login", "mfa": "web.second_factor", "consent": "web.consent"}
PROMPT_NONE_ERRORS = {
    "login": LoginRequiredError,
    "mfa": InteractionRequiredError,
    "consent": ConsentRequiredError,
}


def authorize(oauth_request: OAuth2Request, interaction: interactions.Interaction | None = None) -> ResponseReturnValue:
    """Handle one authorization request (fresh or resumed) and return the response."""
    server = get_server()
    signed_in = web_session.current()
    try:
        grant = server.get_consent_grant(request=oauth_request, end_user=signed_in.user if signed_in else None)
        claims = _check_openid_parameters(grant)
        decision = policy.decide(_context(grant, signed_in, interaction, claims))
        if (
            decision is None
            and interaction
            and interaction.login_done_by(signed_in)
            and _hint_mismatch(grant, signed_in)
        ):
            raise LoginRequiredError(
                "The signed-in user is not the one named by 'id_token_hint'.", redirect_uri=grant.redirect_uri
            )
    except OAuth2Error as error:
        return error_response(error, oauth_request, getattr(error, "redirect_uri", None))

    prompts = _prompts(grant)
    if decision is not None:
        step, check = decision
        if "none" in prompts:
            error_cls = PROMPT_NONE_ERRORS[step]
            return error_response(error_cls(check.reason), oauth_request, grant.redirect_uri)
        interaction = interaction or interactions.start(grant.request.payload.data)
        log.info("authorization needs %s: %s", step, check.name)
        # The way back rides in the URL too, for a reload after expiry (app_return.py).
        return redirect(app_return.WayBack(interaction).url(PAGES[step]))

    if signed_in is None:  # unreachable: the ``no_session`` check asked for a sign-in above
        raise RuntimeError("authorization without a signed-in user")
    if interaction is not None:
        interaction.discard()
    principal = Principal(
        user=signed_in.user,
        session_id=signed_in.session.id,
        auth_time=signed_in.session.auth_time,
        amr=list(signed_in.session.amr),
        claims=claims,
    )
    return server.create_authorization_response(request=grant.request, grant_user=principal, grant=grant)


# What the error page says, in the user's language, for the errors the authorize endpoint shows on its
# own page (no valid redirect URI to send them to): a sentence of its own for the descriptions we know,
# otherwise one chosen by the error code. The technical description (the one ``errors.description``
# lets out, never one quoting the request) is kept as a secondary line for the application's developers.
PAGE_TEXT = {
    "Missing 'client_id' parameter.": _l("The application did not say who it is (no client_id)."),
    "The client does not exist on this server.": _l("The application that sent you here is not registered with us."),
    "Missing 'redirect_uri' in request.": _l("The application did not say where to send you back (no redirect_uri)."),
    "Invalid 'redirect_uri' in request.": _l(
        "The application asked to return you to an address it has not registered."
    ),
    "The redirect URI is not registered for this client.": _l(
        "The application asked to return you to an address it has not registered."
    ),
    "The user denied the request.": _l("You declined, so the application is not given access."),
    **{
        f"Multiple '{name}' in request.": _l(
            "The application sent an unclear request (%(parameter)s appears twice).", parameter=name
        )
        for name in ("response_type", "client_id", "redirect_uri", "scope", "state")
    },
}
_NOT_SUPPORTED = _l("The application sent its request in a form we do not support.")
_NO_PAGE = _l("The application asked us not to show you any page, but you need to confirm something first.")
PAGE_TEXT_BY_CODE = {
    "invalid_request": _l("The application sent a request that is incomplete or not valid."),
    "invalid_client": _l("The application that sent you here is not registered with us."),
    "unauthorized_client": _l("This application is not allowed to sign you in this way."),
    "unsupported_response_type": _l("The application asked for a kind of sign-in we do not offer."),
    "invalid_scope": _l("The application asked for access we do not know or do not allow it."),
    "access_denied": _l("The application was not given access."),
    "server_error": _l("Something went wrong on our side. Please try again later."),
    "temporarily_unavailable": _l("Signing in is not possible right now. Please try again in a few minutes."),
    "invalid_request_uri": _NOT_SUPPORTED,
    "invalid_request_object": _NOT_SUPPORTED,
    "request_not_supported": _NOT_SUPPORTED,
    "request_uri_not_supported": _NOT_SUPPORTED,
    "registration_not_supported": _NOT_SUPPORTED,
    "login_required": _l("You are not signed in, and the application asked us not to show the sign-in page."),
    "consent_required": _l("The application needs your approval, but asked us not to show the approval page."),
    "interaction_required": _NO_PAGE,
    "account_selection_required": _NO_PAGE,
}
PAGE_TEXT_FALLBACK = _l("The application sent a request we cannot handle.")


def page_text(error: OAuth2Error) -> tuple[str, str]:
    """What the error page says about ``error`` in the user's language, and the technical (English)
    description for the developers of the application."""
    detail = description(error)
    text = PAGE_TEXT.get(detail) or PAGE_TEXT_BY_CODE.get(error.error or "", PAGE_TEXT_FALLBACK)
    return str(text), detail


def error_response(error: OAuth2Error, oauth_request: OAuth2Request, redirect_uri: str | None) -> ResponseReturnValue:
    """Redirect with the error only to a validated redirect URI; otherwise an error page."""
    server = get_server()
    if redirect_uri:
        error.redirect_uri = redirect_uri
        error.state = oauth_request.payload.state
        response = server.handle_error_response(oauth_request, error)
        Issuer().add_issuer_parameter(server, response)
        return response
    text, detail = page_text(error)
    return render_template("error.html", error=error.error, description=text, detail=detail), 400


def _prompts(grant: Any) -> set[str]:
    return set((grant.request.payload.data.get("prompt") or "").split())


def _check_openid_parameters(grant: Any) -> dict[str, Any]:
    """OIDC parameters Authlib leaves to us; returns the parsed ``claims`` request."""
    data, redirect_uri = grant.request.payload.data, grant.redirect_uri
    scopes = (grant.request.payload.scope or "").split()
    if "openid" in scopes and not grant.request.payload.redirect_uri:
        # Core §3.1.2.1: redirect_uri is REQUIRED; without it we may not redirect the error either.
        raise InvalidRequestError("Missing 'redirect_uri' in request.")
    if data.get("request"):
        raise RequestNotSupportedError(redirect_uri=redirect_uri)
    if data.get("request_uri"):
        raise RequestURINotSupportedError(redirect_uri=redirect_uri)
    if data.get("response_mode", "query") != "query":
        raise InvalidRequestError("Only 'response_mode=query' is supported.", redirect_uri=redirect_uri)
    if grant.request.client.requires_pkce and not data.get("code_challenge"):
        # RFC 9700 §2.1.1: public clients MUST use PKCE, and every client should; the client's
        # ``require_pkce`` says (always true for public ones). RFC 7636 §4.4.1: invalid_request.
        raise InvalidRequestError(PKCE_REQUIRED, redirect_uri=redirect_uri)
    try:
        parse_max_age(data.get("max_age"))
    except ParameterError:
        raise InvalidRequestError("Invalid 'max_age' parameter.", redirect_uri=redirect_uri) from None
    try:
        requested = parse_claims_request(data.get("claims"))
    except ClaimsRequestError as exc:
        raise InvalidRequestError(str(exc), redirect_uri=redirect_uri) from None
    return limit_claims_request(requested, grant.request.client.row.scope.split())


def _hint_subject(grant: Any) -> str | None:
    """``sub`` of a valid ``id_token_hint`` we issued (expired is fine: Core §3.1.2.1)."""
    hint = grant.request.payload.data.get("id_token_hint")
    if not hint:
        return None
    try:
        token = jwt.decode(hint, deps().keystore.verification_keys(), algorithms=list(JWS_ALGS))
    except (JoseError, ValueError):
        raise InvalidRequestError("Invalid 'id_token_hint'.", redirect_uri=grant.redirect_uri) from None
    claims = token.claims
    aud = claims.get("aud")
    if claims.get("iss") != deps().settings.server.issuer or grant.request.client.client_id not in (
        aud if isinstance(aud, list) else [aud]
    ):
        raise InvalidRequestError("The 'id_token_hint' was not issued to this client.", redirect_uri=grant.redirect_uri)
    return claims.get("sub")


def _hint_mismatch(grant: Any, signed_in: SignedIn | None) -> bool:
    sub = _hint_subject(grant)
    return sub is not None and signed_in is not None and sub != signed_in.user.sub


def _context(
    grant: Any, signed_in: SignedIn | None, interaction: interactions.Interaction | None, claims: dict[str, Any]
) -> policy.Context:
    data = grant.request.payload.data
    client = grant.request.client
    settings = deps().settings
    # The user's standing with the second-factor policy: a query, made at most once and only if asked.
    standing = functools.cache(lambda: usecases.factors().standing(signed_in.user) if signed_in else None)
    # Claims asked for by name need the same consent as the scopes that carry them.
    scopes = set((grant.request.scope or "").split()) | set(claims_scopes(claims))
    return policy.Context(
        now=deps().now(),
        signed_in=signed_in,
        prompts=_prompts(grant),
        max_age=parse_max_age(data.get("max_age")),
        hint_sub=_hint_subject(grant),
        client_trusted=client.row.trusted,
        # Asked only after the login checks passed, so someone is signed in.
        has_consent=lambda: (
            signed_in is not None and consents.has_consent(uow.session(), signed_in.user.id, client.client_id, scopes)
        ),
        # Only results made by the user and session signed in now count (interactions module).
        login_done=bool(interaction and interaction.login_done_by(signed_in)),
        mfa_wanted=lambda: signed_in is not None and _mfa_wanted(data.get("acr_values"), client, signed_in, standing),
        enrolment_forced=lambda: (
            signed_in is not None
            and mfa_policy.may_be_forced(signed_in.user, settings.mfa)
            and bool(getattr(standing(), "forced", False))
        ),
        consent_done=bool(interaction and interaction.consent_done_by(signed_in)),
    )


def _mfa_wanted(
    acr_values: str | None, client: Any, signed_in: SignedIn, standing: Callable[[], Enrolment | None]
) -> bool:
    """Must the session have shown a second factor for this request? When the request asks for it
    (``acr_values``), when the client registered it (``default_acr_values``: a minimum here, which a
    request cannot lower by naming ``urn:spom:acr:pwd``), or when the user's role requires one and the
    user has one now (a session from the grace is stepped up once the factor exists). Only that last
    case costs a query, and only for users of such a role: the SSO path of everyone else stays one."""
    if mfa_policy.requires_mfa(acr_values) or mfa_policy.requires_mfa(" ".join(client.row.default_acr_values or [])):
        return True
    if not mfa_policy.may_be_forced(signed_in.user, deps().settings.mfa):
        return False
    found = standing()
    return found is not None and found.enrolled


def deny(interaction: interactions.Interaction) -> ResponseReturnValue:
    """The user said no on the consent page: ``access_denied`` to the (validated) redirect URI."""
    oauth_request = interactions.StoredRequest(interaction)
    try:
        grant = get_server().get_consent_grant(request=oauth_request, end_user=None)
        redirect_uri = grant.redirect_uri
    except OAuth2Error as error:
        redirect_uri = getattr(error, "redirect_uri", None)
    return error_response(AccessDeniedError("The user denied the request."), oauth_request, redirect_uri)
