"""Account self-service for the signed-in user (blueprint ``account``): profile, password change,
active sessions, recent activity (sign-ins, sign-outs, password and device changes), and the apps
with access: those holding consent and those signed in through a live session."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from idp.core.errors import Busy, PolicyError, ThrottleUnavailable, TooManyAttempts
from idp.core.text import Text
from idp.domain.password_policy import PasswordPolicy, context_for, strength
from idp.http import errors, i18n, uow, usecases
from idp.http import session as web_session
from idp.http.context import deps
from idp.http.session import SignedIn
from idp.http.web import device as web_device
from idp.http.web.csrf import CSRFError, validate_csrf
from idp.http.web.factor_section import section
from idp.storage.sql import audit, consents
from idp.storage.sql.models import BrowserSession

bp = Blueprint("account", __name__)

MESSAGES = {
    "cookies_disabled": _l("Cookies are disabled in your browser. Enable cookies for this site and try again."),
    "cookies_cleared": _l(
        "This page lost its cookie: cookies were probably cleared while it was open. Please try again."
    ),
    "expired": _l("This page was open too long and has expired. Please try again."),
}
NOTICES = {
    "password": _l("Your password was changed."),
    "password_others": _l("Your password was changed and your other sessions were signed out."),
    "session": _l("That session was signed out."),
    "others": _l("All your other sessions were signed out."),
    "app": _l("Access was revoked: the app has to ask you again next time."),
}
#: "Recent activity": a label for every event type in ``audit.ACCOUNT_ACTIVITY``.
ACTIVITY = {
    audit.LOGIN_SUCCESS: _l("Signed in"),
    audit.LOGIN_PASSWORD_VERIFIED: _l("Password correct, second step asked"),
    audit.LOGIN_FAILURE: _l("Failed attempt"),
    audit.LOGOUT: _l("Signed out"),
    audit.SESSIONS_ENDED: _l("Sessions signed out from this page"),
    audit.PASSWORD_CHANGED: _l("Password changed"),
    audit.PASSWORD_RESET: _l("Password reset by e-mail link"),
    audit.DEVICE_APPROVED: _l("Device confirmed by e-mail link"),
    audit.USER_EMAIL_CHANGED: _l("E-mail address changed"),
    audit.USER_EMAIL_VERIFIED: _l("E-mail address confirmed"),
    audit.CONSENT_REVOKED: _l("App access revoked"),
    audit.FACTOR_ENROLLED: _l("Sign-in method added"),
    audit.FACTOR_USED: _l("Second step of sign-in completed"),
    audit.FACTOR_FAILED: _l("Wrong code or refused passkey"),
    audit.FACTOR_RENAMED: _l("Sign-in method renamed"),
    audit.FACTOR_REMOVED: _l("Sign-in method removed"),
    audit.RECOVERY_CODE_USED: _l("Recovery code used"),
    audit.RECOVERY_CODES_GENERATED: _l("New recovery codes created"),
    audit.MFA_STEP_UP: _l("Second step confirmed for an app"),
    audit.MFA_RESET: _l("Sign-in methods removed by the service desk"),
}


def too_many(exc: TooManyAttempts) -> str:
    return errors.describe(exc).text()


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/account")
def index() -> ResponseReturnValue:
    signed_in = web_session.current()
    if signed_in is None:
        return redirect(url_for("web.login"))
    return account_page(signed_in, notice=NOTICES.get(request.args.get("done", "")))


@bp.post("/account/password")
def change_password() -> ResponseReturnValue:
    signed_in = signed_in_form()
    if isinstance(signed_in, Response):
        return signed_in
    user = signed_in.user
    current, new, confirm = (request.form.get(k, "") for k in ("current_password", "password", "confirm"))
    if not current or len(current) > deps().settings.accounts.max_password_length:
        return account_page(signed_in, password_errors=[_("Your current password is not correct.")], status=400)
    # The current password is checked by the sign-in use case: throttled before argon2 runs, under
    # the same account key as the sign-in form (one allowance), with failures and successes counted.
    try:
        if not usecases.signin().current_password(user, current, device_cookie=web_device.read()):
            return account_page(signed_in, password_errors=[_("Your current password is not correct.")], status=400)
    except TooManyAttempts as exc:
        return account_page(signed_in, password_errors=[too_many(exc)], status=429)
    except Busy as exc:
        page, status = account_page(signed_in, password_errors=[errors.describe(exc).text()], status=503)
        return page, status, {"Retry-After": str(exc.retry_after)}
    except ThrottleUnavailable:
        return account_page(
            signed_in,
            password_errors=[_("Sign-in is temporarily unavailable. Please try again in a few minutes.")],
            status=503,
        )
    accounts = usecases.accounts()
    try:
        accounts.check_new_password(user, new, confirm)
    except PolicyError as exc:
        return account_page(
            signed_in, password_errors=exc.problems, strength=strength(new, context_for(user)), status=400
        )
    end_others = request.form.get("end_others") == "yes"
    accounts.change_password(
        user,
        new,
        lang=i18n.page_language(),
        keep_session_id=signed_in.session.id,
        end_others=end_others,
    )
    return redirect(url_for("account.index", done="password_others" if end_others else "password"), 303)


@bp.post("/account/sessions/end")
def end_session() -> ResponseReturnValue:
    """Sign out one of the user's other sessions (``session`` = its id) or all others (``others``)."""
    signed_in = signed_in_form()
    if isinstance(signed_in, Response):
        return signed_in
    db, user, target = uow.session(), signed_in.user, request.form.get("session", "")
    if target == "others":
        usecases.accounts().end_sessions(user, except_session_id=signed_in.session.id)
        done = "others"
    else:
        row = db.get(BrowserSession, target) if target and len(target) <= 64 else None
        if row is None or row.user_id != user.id or row.ended_at is not None:
            return account_page(signed_in, error=_("That session does not exist or has already ended."), status=400)
        if row.id == signed_in.session.id:
            return account_page(signed_in, error=_("To sign out of this browser, use Sign out."), status=400)
        usecases.accounts().end_sessions(user, only_session_id=row.id)
        done = "session"
    return redirect(url_for("account.index", done=done), 303)


@bp.post("/account/apps/revoke")
def revoke_app() -> ResponseReturnValue:
    """Withdraw consent from an app and revoke every token it holds for this user."""
    signed_in = signed_in_form()
    if isinstance(signed_in, Response):
        return signed_in
    client_id = request.form.get("client_id", "")
    if not client_id or len(client_id) > 64 or not usecases.accounts().revoke_app(signed_in.user, client_id):
        return account_page(signed_in, error=_("That app does not hold access to your account."), status=400)
    return redirect(url_for("account.index", done="app"), 303)


def signed_in_form() -> SignedIn | Response:
    """The signed-in user of a valid form post, else the response to send instead."""
    signed_in = web_session.current()
    if signed_in is None:
        return make_response(redirect(url_for("web.login"), 303))
    try:
        validate_csrf()
    except CSRFError as exc:
        return make_response(account_page(signed_in, error=MESSAGES[exc.reason], status=400))
    return signed_in


def account_page(
    signed_in: SignedIn,
    *,
    notice: str | None = None,
    error: str | None = None,
    password_errors: list[Text] | list[str] | None = None,
    strength: dict[str, Any] | None = None,
    status: int = 200,
    factor_section: dict[str, Any] | None = None,
) -> tuple[str, int]:
    db, user, now = uow.session(), signed_in.user, deps().now()
    idle, policy = deps().settings.sessions.idle_seconds, PasswordPolicy.from_settings(deps().settings)
    live = [
        s
        for s in db.query(BrowserSession).filter(BrowserSession.user_id == user.id, BrowserSession.ended_at.is_(None))
        if now < s.expires_at and now - s.last_seen_at < idle
    ]
    live.sort(key=lambda s: (s.id != signed_in.session.id, -s.last_seen_at))
    # Apps signed in through a live session: a trusted app of the institution needs no consent, so it
    # would be missing from a list of consents alone.
    consented = consents.list_consents(db, user.id)
    consented_ids = {client.client_id for _consent, client in consented}
    through_sessions = consents.signed_in_apps(db, user.id, [s.id for s in live])
    return render_template(
        "account.html",
        user=user,
        current_session=signed_in.session,
        sessions=live,
        activity=audit.recent_activity(db, user.id, 15, tuple(ACTIVITY)),
        activity_labels=ACTIVITY,
        apps=consented,
        signed_in_apps=[(c, at) for c, at in through_sessions if c.client_id not in consented_ids],
        signed_in_ids={c.client_id for c, _at in through_sessions},
        notice=notice,
        error=error,
        password_errors=password_errors or [],
        strength=strength,
        policy_hint=policy.hint(),
        min_length=policy.min_length,
        max_length=policy.max_length,
        device=describe_device,
        **(factor_section or section(signed_in)),
    ), status


_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("python-requests", _l("Script (python-requests)")),
    ("curl/", "curl"),
)
_SYSTEMS = (
    ("Windows", "Windows"),
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def describe_device(user_agent: str) -> str:
    """ "Firefox on Linux" from a User-Agent header: enough for a person to recognise a device."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in _SYSTEMS if re.search(re.escape(marker), user_agent)), None)
    if browser and system:
        return _("%(browser)s on %(system)s", browser=browser, system=system)
    return str(browser or system or _("Unknown device"))
