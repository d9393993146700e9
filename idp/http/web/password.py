"""Forgot / reset password pages (blueprint ``account``).

``/password/forgot`` answers every well-formed request with the same page, status and timing:
the link and the mail happen on the mail thread (``Accounts.request_reset``); the request
itself only looks the name up (one indexed query, found or not) to key the per-account limit.
``/password/reset`` takes the single-use link; a link that no longer works gets a page that says
why and offers a new one.
"""

from __future__ import annotations

from flask import redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from idp.core.errors import PolicyError, TooManyAttempts
from idp.core.text import Text
from idp.domain.password_policy import PasswordPolicy, context_for, strength
from idp.domain.signin import account_key
from idp.http import i18n, uow, usecases
from idp.http import session as web_session
from idp.http.context import client_ip, deps
from idp.http.protocol.app_return import WayBack
from idp.http.web.account import MESSAGES, bp, too_many
from idp.http.web.csrf import CSRFError, validate_csrf
from idp.storage.sql import resets
from idp.storage.sql import users as user_repo
from idp.storage.sql.models import PasswordResetToken, User

LINK_PROBLEMS = {
    "expired": _l("This link has expired. Reset links work for %(minutes)d minutes."),
    "used": _l("This link has already been used. Each link works only once."),
    "superseded": _l("A newer link has been requested since this one was sent; only the newest link works."),
    "unknown": _l("This link is not valid. Check that you opened the whole link from the e-mail."),
}


def _throttle(name: str, key: str) -> None:
    deps().throttle.check_rate(name, key)


@bp.get("/password/forgot")
def forgot() -> ResponseReturnValue:
    return _forgot_page(WayBack.from_request())


@bp.post("/password/forgot")
def forgot_post() -> ResponseReturnValue:
    way = WayBack.from_request()  # the sign-in it was asked from, and its app, kept for afterwards
    login = request.form.get("username", "")
    try:
        validate_csrf()
    except CSRFError as exc:
        return _forgot_page(way, login=login, error=MESSAGES[exc.reason], status=400)
    error = _login_error(login)
    if error:
        return _forgot_page(way, login=login, field_error=error, status=400)
    try:
        _throttle("password_forgot_ip", client_ip())
        # One allowance per account whichever name is typed (registration number or e-mail), under
        # the sign-in throttle's account key, so `idp throttle clear --user` clears it too.
        user = user_repo.get_user_by_login(uow.session(), login)
        _throttle("password_forgot_account", account_key(user, login))
    except TooManyAttempts as exc:
        return _forgot_page(way, login=login, error=too_many(exc), status=429)
    lang, asked_from = i18n.page_language(), way.asked_from()
    usecases.accounts_later(lambda accounts: accounts.request_reset(login, lang, asked_from))
    return render_template("forgot_sent.html", way=way, minutes=deps().settings.accounts.reset_link_seconds // 60)


def _login_error(login: str) -> str | None:
    if not login.strip():
        return _("Enter your registration number or e-mail address.")
    if len(login) > deps().settings.accounts.max_login_length:
        return _("This is too long (at most %(limit)d characters).", limit=deps().settings.accounts.max_login_length)
    return None


def _forgot_page(
    way: WayBack,
    *,
    login: str = "",
    error: str | None = None,
    field_error: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return render_template(
        "forgot.html",
        way=way,
        login=login,
        error=error,
        field_error=field_error,
        max_login=deps().settings.accounts.max_login_length,
    ), status


@bp.get("/password/reset")
def reset() -> ResponseReturnValue:
    token = request.args.get("token", "")
    state = resets.inspect(uow.session(), token, deps().now())
    if state.status != "valid" or state.user is None:  # a valid link has its user
        return _link_problem(state)
    return _reset_page(token, state.user)


@bp.post("/password/reset")
def reset_post() -> ResponseReturnValue:
    token = request.form.get("token", "")
    db = uow.session()
    try:
        validate_csrf()
    except CSRFError as exc:
        state = resets.inspect(db, token, deps().now())
        if state.status != "valid" or state.user is None:
            return _link_problem(state)
        return _reset_page(token, state.user, error=MESSAGES[exc.reason], status=400)
    try:
        _throttle("password_reset_ip", client_ip())
    except TooManyAttempts as exc:
        return render_template("error.html", error="too_many_attempts", description=too_many(exc)), 429
    state = resets.inspect(db, token, deps().now())
    if state.status != "valid" or state.user is None or state.row is None:  # a valid link has both
        return _link_problem(state)
    password, confirmation = request.form.get("password", ""), request.form.get("confirm", "")
    try:
        usecases.accounts().check_new_password(state.user, password, confirmation)
    except PolicyError as exc:
        return _reset_page(token, state.user, problems=exc.problems, password=password, status=400)
    if not resets.consume(db, state.row, deps().now()):
        db.rollback()
        return _link_problem(resets.inspect(db, token, deps().now()))
    return _finish_reset(state.row, state.user)


def _finish_reset(row: PasswordResetToken, user: User) -> Response:
    """Replace the password, sign the user out of every app, record it, tell them by mail."""
    web_session.sign_out()  # this browser's session (if any) ends with all the others
    usecases.accounts().reset_password(
        user,
        request.form.get("password", ""),
        link=row,
        lang=i18n.page_language(),
    )
    # The sign-in the reset was asked from, or (gone, or another browser: the mail opened on a
    # phone) the way back to its app recorded on the link's row (app_return.WayBack.from_link).
    return redirect(WayBack.from_link(row).url("web.login", reset="done"), 303)


def _link_problem(state: resets.LinkState) -> tuple[str, int]:
    minutes = deps().settings.accounts.reset_link_seconds // 60
    way = WayBack.from_link(state.row) if state.row is not None else WayBack()
    status = 400 if state.status == "unknown" else 410
    return render_template(
        "reset_link_invalid.html",
        reason=state.status,
        message=str(LINK_PROBLEMS[state.status]) % {"minutes": minutes},
        way=way,
    ), status


def _reset_page(
    token: str,
    user: User,
    *,
    error: str | None = None,
    problems: list[Text] | None = None,
    password: str = "",
    status: int = 200,
) -> tuple[str, int]:
    hint = strength(password, context_for(user)) if password else None
    policy = PasswordPolicy.from_settings(deps().settings)
    return render_template(
        "reset.html",
        token=token,
        user=user,
        error=error,
        problems=problems or [],
        policy_hint=policy.hint(),
        strength=hint,
        min_length=policy.min_length,
        max_length=policy.max_length,
    ), status
