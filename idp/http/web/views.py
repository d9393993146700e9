"""Server-rendered pages (blueprint ``web``): sign-in, consent, sign-out, and the signed-in home."""

from __future__ import annotations

import logging

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from idp.core.errors import Busy, ThrottleUnavailable, TooManyAttempts
from idp.http import errors, uow, usecases
from idp.http import session as web_session
from idp.http.context import deps
from idp.http.protocol import app_return, interactions
from idp.http.protocol import logout as end_session
from idp.http.protocol.app_return import WayBack
from idp.http.protocol.authorize import deny
from idp.http.protocol.claims import ClaimsRequestError, claims_scopes, parse_claims_request
from idp.http.web import device as web_device
from idp.http.web import signin_flow
from idp.http.web.csrf import PROBE_COOKIES, CSRFError, validate_csrf
from idp.storage.sql import consents
from idp.storage.sql.clients import get_client

bp = Blueprint("web", __name__)
log = logging.getLogger("idp.http.web")

MESSAGES = {
    "cookies_disabled": _l("Cookies are disabled in your browser. Enable cookies for this site and try again."),
    "cookies_cleared": _l(
        "This page lost its cookie: cookies were probably cleared while it was open. Please try again."
    ),
    "expired": _l("This page was open too long and has expired. Please try again."),
    "consent_expired": _l(
        "This page was open too long and has expired. Continue to the application to be asked again."
    ),
    "invalid": _l("Invalid credentials."),
    "interaction_expired": _l("Your sign-in took too long. Go back to the application and start again."),
    "session_expired": _l("Your session has expired. Please sign in again."),
    "password_reset": _l(
        "Your password was changed and you were signed out everywhere. Sign in with your new password."
    ),
    "unavailable": _l("Sign-in is temporarily unavailable. Please try again in a few minutes."),
}
# What to do next, shown under the message: the same text whatever the real cause (no enumeration).
HELP = {
    "invalid": _l(
        "Check that you typed your registration number (for example S1234567) or your e-mail address "
        "correctly, and that Caps Lock is off: passwords are case-sensitive. Still no luck? "
        "Reset your password."
    ),
    "cookies_disabled": _l(
        "This site needs one cookie to protect the sign-in form. Allow cookies for this site "
        "in your browser's settings (private windows and strict blockers often refuse them), "
        "then sign in again."
    ),
    "expired": _l(
        "You probably kept this page open in another tab or for a long time. We have loaded a fresh "
        "form and kept your username: enter your password again and select Sign in."
    ),
    "cookies_cleared": _l(
        "We have loaded a fresh form and kept your username: enter your password again and select Sign in."
    ),
    "throttled": _l("This protects your account against password guessing. The wait is the same for every account."),
}
SCOPE_TEXT = {
    "openid": _l("Know who you are (your account identifier)"),
    "profile": _l("See your name, registration number and role"),
    "email": _l("See your e-mail address"),
    "offline_access": _l("Stay connected while you are not using it"),
}


@bp.get("/")
def home() -> ResponseReturnValue:
    signed_in = web_session.current()
    console = deps().settings.branding.console_url
    staff = bool(signed_in and console and usecases.accounts().roles(signed_in.user))
    return render_template("home.html", signed_in=signed_in, console_url=console if staff else None)


@bp.get("/login")
def login() -> ResponseReturnValue:
    raw_id = request.args.get("interaction")
    way = WayBack.from_request()
    if raw_id and way.interaction is None:
        if way.problem == interactions.OTHER_BROWSER and not any(request.cookies.get(n) for n in PROBE_COOKIES):
            # No cookie of ours although /authorize just set one: refused, or a link opened in
            # another browser. Set one and look again (a probe) before saying which; the address
            # keeps what it carried (the interaction, its way back).
            if request.args.get("probe") != "1":
                interactions.set_probe()
                back = request.args.get(app_return.FIELD)
                return redirect(url_for("web.login", interaction=raw_id, app_return=back, probe="1"))
            return login_page(
                WayBack(), error=MESSAGES["cookies_disabled"], error_help=HELP["cookies_disabled"], status=400
            )
        # A reloaded (or bookmarked) sign-in URL that outlived its interaction still knows the app.
        if way.back is None:
            return login_page(WayBack(), error=interactions.PROBLEMS[way.problem or interactions.EXPIRED], status=400)
    # A session cookie the provider no longer honours: say so instead of a bare sign-in form.
    expired = bool(request.cookies.get(web_session.cookie_name())) and web_session.current() is None
    notice = MESSAGES["password_reset"] if request.args.get("reset") == "done" else None
    return login_page(
        way,
        username=(way.interaction.param("login_hint") if way.interaction else "") or "",
        error=MESSAGES["session_expired"] if expired and not notice else None,
        notice=notice,
    )


@bp.post("/login")
def login_post() -> ResponseReturnValue:
    raw_id = request.form.get("interaction")
    # The pending sign-in, or the way back to the app for a form that outlived it (protocol/app_return.py).
    way = WayBack.from_request()
    interaction = way.interaction
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    try:
        validate_csrf()
    except CSRFError as exc:
        # Never a dead end: a fresh form (new token) with the username kept, and what happened.
        return login_page(way, username=username, error=MESSAGES[exc.reason], error_help=HELP[exc.reason], status=400)
    if raw_id and interaction is None and way.back is None:
        return login_page(WayBack(), error=interactions.PROBLEMS[way.problem or interactions.EXPIRED], status=400)
    errors = _field_errors(username, password)
    if errors:
        return login_page(way, username=username, field_errors=errors, status=400)
    client_id = interaction.client_id if interaction else way.back.client.client_id if way.back else None
    try:
        outcome = usecases.signin().password(
            username, password, client_id=client_id, device_cookie=web_device.read(), record_success=False
        )
    except TooManyAttempts as exc:
        log.info("password sign-in throttled: %s limit, retry after %ss", exc.scope, exc.retry_after)
        # Same words and status whether or not the account exists (nothing to enumerate).
        # Waiting on the account's delay (not this IP's, not a known device's own): offer the
        # e-mailed device-approval link, the owner's way in that the guesser cannot block.
        page, status = login_page(
            way,
            username=username,
            error=too_many_attempts(exc),
            error_help=HELP["throttled"],
            status=429,
            device_link=exc.scope == "account",
        )
        return page, status, {"Retry-After": str(exc.retry_after)}
    except Busy as exc:
        # At capacity: told to come back (the form keeps the username), never queued without end.
        log.info("password sign-in refused: every verification slot busy")
        page, status = login_page(way, username=username, error=at_capacity(exc), status=503)
        return page, status, {"Retry-After": str(exc.retry_after)}
    except ThrottleUnavailable as exc:
        # Fail closed: no password is verified without the brute-force counters (docs/security.md).
        log.error("password sign-in refused: rate-limit counters unreachable (%s)", exc)
        return login_page(way, username=username, error=MESSAGES["unavailable"], status=503)
    if outcome.user is None:
        return login_page(
            way,
            username=username,
            error=MESSAGES["invalid"],
            error_help=HELP["invalid"],
            show_reset_link=True,
            status=401,
        )
    # The second step, the enrolment policy asks for, or the session and the way back to the app
    # (its pending request; when that is gone, the app itself, which signs in afresh, silently now).
    return signin_flow.after_password(outcome.user, outcome.device_id, way)


def at_capacity(exc: Busy) -> str:
    """The registry's words for a sign-in refused at capacity (``idp.core.admission``)."""
    return errors.describe(exc).text()


def too_many_attempts(exc: TooManyAttempts) -> str:
    """The registry's words for a refusal by the throttle (the same on every surface)."""
    return errors.describe(exc).text()


def _field_errors(username: str, password: str) -> dict[str, str]:
    settings, errors = deps().settings, {}
    if not username.strip():
        errors["username"] = _("Enter your registration number or e-mail address.")
    elif len(username) > settings.accounts.max_login_length:
        errors["username"] = too_long(settings.accounts.max_login_length)
    if not password:
        errors["password"] = _("Enter your password.")
    elif len(password) > settings.accounts.max_password_length:
        errors["password"] = too_long(settings.accounts.max_password_length)
    return errors


def too_long(limit: int) -> str:
    return _("This is too long (at most %(limit)d characters).", limit=limit)


def login_page(
    way: WayBack,
    *,
    username: str = "",
    error: str | None = None,
    field_errors: dict[str, str] | None = None,
    status: int = 200,
    notice: str | None = None,
    error_help: str | None = None,
    show_reset_link: bool = False,
    device_link: bool = False,
) -> tuple[str, int]:
    """The sign-in form of ``way``'s sign-in (none: the provider's own), with what to say on it."""
    settings = deps().settings
    return render_template(
        "login.html",
        way=way,
        client=way.client,
        username=username,
        error=error,
        field_errors=field_errors or {},
        max_login=settings.accounts.max_login_length,
        notice=notice,
        error_help=error_help,
        show_reset_link=show_reset_link,
        device_link=device_link,
        max_password=settings.accounts.max_password_length,
    ), status


@bp.get("/consent")
def consent() -> ResponseReturnValue:
    way = WayBack.from_request()
    if way.interaction is None:
        return _consent_gone(way)
    if web_session.current() is None:
        return _consent_gone(way, MESSAGES["interaction_expired"])
    return _consent_page(way.interaction)


@bp.post("/consent")
def consent_post() -> ResponseReturnValue:
    way = WayBack.from_request()
    interaction = way.interaction
    signed_in = web_session.current()
    try:
        validate_csrf()
    except CSRFError as exc:
        if interaction is None:
            return _consent_gone(way, MESSAGES[exc.reason], error="csrf")
        return _consent_page(interaction, error=MESSAGES[exc.reason], status=400)
    if interaction is None:
        return _consent_gone(way)
    if signed_in is None:
        return _consent_gone(way, MESSAGES["interaction_expired"])
    if request.form.get("decision") != "allow":
        interaction.discard()
        return deny(interaction)
    scopes = set(_requested_scopes(interaction))
    consents.grant_consent(uow.session(), signed_in.user.id, interaction.client_id, scopes, deps().now())
    # The consent counts only for this user and session (a link to resume proves nothing).
    interaction.record_consent(signed_in.user.id, signed_in.session.id)
    interaction.save()
    return redirect(url_for("protocol.resume", interaction=interaction.id))


def _consent_gone(way: WayBack, description: str | None = None, *, error: str = "") -> ResponseReturnValue:
    """A consent page that cannot be answered any more (its request expired, or the session ended).
    With a way back, no dead end: "Continue to <app>", whose fresh request asks again."""
    home, client = way.home, way.client
    if home and client:
        text = description or MESSAGES["consent_expired"]
        return render_template(
            "error.html", error=error or "interaction_expired", description=text, continue_to=(client.name, home)
        ), 400
    if description:
        return render_template("error.html", error=error or "interaction_expired", description=description), 400
    return interactions.problem_page(way.problem)


def _requested_scopes(interaction: interactions.Interaction) -> list[str]:
    client = get_client(uow.session(), interaction.client_id)
    allowed = set((client.scope if client else "").split())
    try:  # claims asked for by name (OIDC Core §5.5) are consented to as the scopes that carry them
        by_claims = claims_scopes(parse_claims_request(interaction.param("claims")))
    except ClaimsRequestError:
        by_claims = []
    requested = (interaction.param("scope") or "").split() + by_claims
    return [s for s in dict.fromkeys(requested) if s in allowed]


def _consent_page(
    interaction: interactions.Interaction, error: str | None = None, status: int = 200
) -> tuple[str, int]:
    way = WayBack(interaction)  # the form carries the way back, for an answer sent after expiry
    scopes = [(s, SCOPE_TEXT.get(s, s)) for s in _requested_scopes(interaction)]
    return render_template("consent.html", way=way, client=way.client, scopes=scopes, error=error), status


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> ResponseReturnValue:
    """RP-initiated logout; without a valid ``id_token_hint`` the user confirms first."""
    confirmed = request.method == "POST" and request.form.get("confirm") == "yes"
    if confirmed:
        try:
            validate_csrf()
        except CSRFError as exc:
            return render_template("logout.html", params=_logout_params(), error=MESSAGES[exc.reason]), 400
    try:
        validated = end_session.validate_logout()
    except end_session.LogoutRefused as refused:
        return render_template(
            "error.html", error=refused.error, description=refused.page_text(), detail=refused.description
        ), 400
    signed_in = web_session.current()
    hint_sub = (validated.id_token_claims or {}).get("sub")
    needs_confirmation = validated.needs_confirmation or (signed_in and hint_sub != signed_in.user.sub)
    if signed_in and needs_confirmation and not confirmed:
        return render_template("logout.html", params=_logout_params(), client=validated.client)
    response = end_session.finish_logout(validated)
    if response is None:
        return render_template("signed_out.html")
    return response


def _logout_params() -> dict[str, str]:
    names = ("id_token_hint", "post_logout_redirect_uri", "state", "client_id", "ui_locales")
    return {n: request.values[n] for n in names if request.values.get(n)}
