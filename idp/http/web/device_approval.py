"""Device-approval pages (blueprint ``web``; the flow is in ``idp.domain.device_links``).

``POST /login/device/link``: the throttled sign-in page's "E-mail me a link" button. The same page,
status and timing whether or not the account exists; the lookup and mail happen afterwards.
``GET /login/device``: the link from the mail shows a confirmation page and changes nothing, so a
mail scanner that fetches links does not use it up. ``POST /login/device`` (CSRF) uses the link:
this browser becomes a known device of the account, and nobody is signed in.
``GET /login/device/approved``: the sign-in form again, username filled in, the pending
authorization request kept (or, expired meanwhile, the way back to its app recorded on the link's
row: ``app_return.WayBack.from_link``), so the sign-in continues to the app.
"""

from __future__ import annotations

from flask import redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from idp.core.errors import ThrottleUnavailable, TooManyAttempts
from idp.http import i18n, uow, usecases
from idp.http.context import client_ip, deps
from idp.http.protocol.app_return import WayBack
from idp.http.web import device as web_device
from idp.http.web.csrf import CSRFError, validate_csrf
from idp.http.web.views import MESSAGES, bp, login_page, too_long, too_many_attempts
from idp.storage.sql import resets
from idp.storage.sql import users as user_repo
from idp.storage.sql.models import User

LINK_PROBLEMS = {
    "expired": _l("This link has expired. Device approval links work for %(minutes)d minutes."),
    "used": _l("This link has already been used. Each link works only once."),
    "superseded": _l("A newer link has been requested since this one was sent; only the newest link works."),
    "unknown": _l("This link is not valid. Check that you opened the whole link from the e-mail."),
}


@bp.post("/login/device/link")
def device_link() -> ResponseReturnValue:
    way = WayBack.from_request()  # the sign-in it was asked from, and its app, kept for afterwards
    username = request.form.get("username", "")
    try:
        validate_csrf()
    except CSRFError as exc:
        return login_page(way, username=username, error=MESSAGES[exc.reason], status=400)
    limit = deps().settings.accounts.max_login_length
    if not username.strip() or len(username) > limit:  # only a tampered form: the page sends the typed username
        error = too_long(limit) if username.strip() else _("Enter your registration number or e-mail address.")
        return login_page(way, username=username[:limit], field_errors={"username": error}, status=400)
    try:
        deps().throttle.check_rate("device_link_ip", client_ip())
    except TooManyAttempts as exc:
        page, status = login_page(way, username=username, error=too_many_attempts(exc), status=429)
        return page, status, {"Retry-After": str(exc.retry_after)}
    except ThrottleUnavailable:
        return login_page(way, username=username, error=MESSAGES["unavailable"], status=503)
    usecases.device_link_later(username, i18n.page_language(), way.asked_from())
    return render_template("device_link_sent.html", way=way, minutes=deps().settings.throttle.device_link_seconds // 60)


@bp.get("/login/device")
def device_approval() -> ResponseReturnValue:
    token = request.args.get("token", "")
    state = _inspect(token)
    if state.status != "valid" or state.user is None:  # a valid link has its user
        return _link_problem(state, "open")
    return _confirm_page(token, state.user)


@bp.post("/login/device")
def device_approval_post() -> ResponseReturnValue:
    token = request.form.get("token", "")
    state = _inspect(token)
    try:
        validate_csrf()
    except CSRFError as exc:
        if state.status != "valid" or state.user is None:
            return _link_problem(state, "confirm")
        return _confirm_page(token, state.user, error=MESSAGES[exc.reason], status=400)
    if state.status != "valid" or state.user is None or state.row is None:  # a valid link has both
        return _link_problem(state, "confirm")
    new_device = web_device.is_new_device(state.user.id)
    if not usecases.device_links().approve(state, new_device):  # a concurrent request used or voided it first
        uow.session().rollback()
        return _link_problem(_inspect(token), "confirm")
    web_device.approve(state.user.id)
    return redirect(WayBack.from_link(state.row).url("web.device_approved"), 303)


@bp.get("/login/device/approved")
def device_approved() -> ResponseReturnValue:
    way = WayBack.from_request()
    user_id = web_device.approved_user()
    user = user_repo.get_user(uow.session(), user_id) if user_id is not None else None
    if user is None or not user.active:  # opened without having approved this browser: a plain sign-in form
        return login_page(way)
    return login_page(
        way, username=user.registration_number, notice=_("This device is approved. Sign in with your password.")
    )


def _inspect(token: str) -> resets.LinkState:
    return resets.inspect(uow.session(), token, deps().now(), purposes=resets.DEVICE_PURPOSES)


def _confirm_page(token: str, user: User, *, error: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template("device_approval.html", token=token, user=user, error=error), status


def _link_problem(state: resets.LinkState, step: str) -> tuple[str, int]:
    usecases.device_links().refused(state, step)
    way = WayBack.from_link(state.row) if state.row is not None else WayBack()
    message = str(LINK_PROBLEMS[state.status]) % {"minutes": deps().settings.throttle.device_link_seconds // 60}
    return render_template(
        "device_link_invalid.html", reason=state.status, message=message, way=way
    ), 400 if state.status == "unknown" else 410
