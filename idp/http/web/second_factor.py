"""The second-factor pages (issue 19): the second step after the password, the step-up of a session
made with one factor (in place, no new password), the enrolment an account must make first (forced
by policy, asked for by an app, or chosen during the grace), and the grace notice.

Who is asked, and when (``idp.domain.factors.policy``):

- a user with a second factor is asked for it after every password sign-in;
- a user whose role requires one (``IDP_MFA_REQUIRED_ROLES``) and who has none signs in during the
  grace period (told how much is left, offered to set one up), then must set one up first; after a
  helpdesk reset, at once;
- an app that asks for ``acr_values=urn:spom:acr:mfa`` (or registered it as ``default_acr_values``)
  gets a session that showed a second factor, within ``max_age`` if it sent one.

The pending sign-in and the end of a sign-in are ``idp.http.web.signin_flow``.
"""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from idp.core.errors import ThrottleUnavailable, TooManyAttempts
from idp.domain.factors.service import FactorError
from idp.http import errors, i18n, uow, usecases
from idp.http import session as web_session
from idp.http.protocol.app_return import WayBack
from idp.http.web.csrf import CSRFError, validate_csrf
from idp.http.web.signin_flow import Subject, continue_url, finish, subject, web_device_id
from idp.http.web.views import MESSAGES, bp
from idp.storage.sql import factors as factor_repo

#: Methods offered on the second-factor page (``?method=``).
TOTP, RECOVERY, PASSKEY = "totp", "recovery", "passkey"

TEXT = {
    "bad_code": _l("That code is not correct, or it was already used. Enter the code your app shows now."),
    "bad_recovery": _l("That recovery code is not correct, or it was already used."),
    "empty": _l("Enter the code."),
    "pending_gone": _l("This sign-in took too long. Sign in again with your password."),
    "unavailable": _l("Sign-in is temporarily unavailable. Please try again in a few minutes."),
}


# -- pages ----------------------------------------------------------------------------------


def gone() -> ResponseReturnValue:
    """The pending sign-in expired (or belongs to another browser): sign in again, for the same app."""
    way = WayBack.from_request()
    client = way.client
    continue_to = (client.name, way.url("web.login")) if client else None
    return render_template(
        "error.html", error="signin_expired", description=TEXT["pending_gone"], continue_to=continue_to
    ), 400


def _methods(who: Subject) -> dict[str, bool]:
    kinds = {f.kind for f in factor_repo.list_factors(uow.session(), who.user.id)}
    return {
        TOTP: factor_repo.TOTP in kinds,
        PASSKEY: factor_repo.PASSKEY in kinds,
        RECOVERY: factor_repo.recovery_codes_left(uow.session(), who.user.id) > 0,
    }


def factor_page(who: Subject, method: str | None = None, *, error: str | None = None, status: int = 200) -> Any:
    methods = _methods(who)
    if not any(methods.values()):
        return enrol_page(who, status=status)
    if method not in methods or not methods[method]:
        method = next(m for m in (PASSKEY, TOTP, RECOVERY) if methods[m])
    return render_template(
        "second_factor.html",
        who=who,
        way=who.way,
        client=who.way.client,
        method=method,
        methods=methods,
        error=error,
        step_up=who.pending is None,
    ), status


@bp.get("/login/second-factor")
def second_factor() -> ResponseReturnValue:
    who = subject()
    if who is None:
        return gone()
    return factor_page(who, request.args.get("method"))


@bp.post("/login/second-factor")
def second_factor_post() -> ResponseReturnValue:
    who = subject()
    method = request.form.get("method", TOTP)
    try:
        validate_csrf()
    except CSRFError as exc:
        return factor_page(who, method, error=MESSAGES[exc.reason], status=400) if who else gone()
    if who is None:
        return gone()
    code = request.form.get("code", "").strip()
    if not code or len(code) > 64:
        return factor_page(who, method, error=TEXT["empty"], status=400)
    device = web_device_id(who.user)
    try:
        shown = usecases.factors().verify_code(who.user, code, device=device)
    except TooManyAttempts as exc:
        page, status = factor_page(who, method, error=errors.describe(exc).text(), status=429)
        return page, status, {"Retry-After": str(exc.retry_after)}
    except ThrottleUnavailable:
        return factor_page(who, method, error=TEXT["unavailable"], status=503)
    if shown is None:
        return factor_page(who, method, error=TEXT["bad_recovery" if method == RECOVERY else "bad_code"], status=401)
    return redirect(finish(who, [shown]), 303)


# -- enrolment (forced, asked for by an app, or chosen during the grace) ---------------------------


def enrol_page(who: Subject, *, offer: str | None = None, error: str | None = None, status: int = 200) -> Any:
    offered = usecases.factors().totp_offer(who.user, offer)
    standing = usecases.factors().standing(who.user)
    return render_template(
        "second_factor_enrol.html",
        who=who,
        way=who.way,
        client=who.way.client,
        offer=offered,
        error=error,
        standing=standing,
    ), status


@bp.post("/login/second-factor/enrol")
def second_factor_enrol() -> ResponseReturnValue:
    who = subject()
    offer = request.form.get("offer", "")
    try:
        validate_csrf()
    except CSRFError as exc:
        return enrol_page(who, offer=offer, error=MESSAGES[exc.reason], status=400) if who else gone()
    if who is None:
        return gone()
    if usecases.factors().enrolled(who.user) and who.pending is not None:
        # Enrolment is for an account without a factor; one with a factor shows it instead.
        return redirect(who.way.url("web.second_factor", **who.fields()), 303)
    try:
        enrolled = usecases.factors().totp_confirm(
            who.user, offer, request.form.get("code", ""), request.form.get("name", "")
        )
    except FactorError as exc:
        return enrol_page(who, offer=offer, error=str(i18n.translate(exc.text)), status=400)
    next_url = finish(who, ["otp"])
    if enrolled.recovery_codes:
        return render_template(
            "recovery_codes.html", codes=enrolled.recovery_codes, next_url=next_url, client=who.way.client
        )
    return redirect(next_url, 303)


@bp.get("/login/second-factor/later")
def second_factor_grace() -> ResponseReturnValue:
    """During the grace: how much is left, "Set up now" or "Not now" (continue to the app)."""
    signed_in = web_session.current()
    if signed_in is None:
        abort(404)
    way = WayBack.from_request()
    standing = usecases.factors().standing(signed_in.user)
    if not standing.in_grace:
        return redirect(continue_url(signed_in, way), 303)
    return render_template(
        "second_factor_grace.html",
        way=way,
        client=way.client,
        standing=standing,
        later_url=way.url("web.second_factor_continue"),
        now_url=way.url("web.second_factor"),
    )


@bp.get("/login/second-factor/continue")
def second_factor_continue() -> ResponseReturnValue:
    signed_in = web_session.current()
    if signed_in is None:
        return redirect(url_for("web.login"))
    return redirect(continue_url(signed_in, WayBack.from_request()), 303)
