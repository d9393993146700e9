"""The account page's "Sign-in methods" (issue 19): the user's authenticator apps and passkeys (list,
add, rename, remove) and their recovery codes (how many are left, make new ones). Removing the last
method is refused while policy requires one. Passkeys are added by ``idp.http.web.passkeys``."""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from idp.domain import sessions
from idp.domain.factors import policy as mfa_policy
from idp.domain.factors.service import FactorError
from idp.http import i18n, uow, usecases
from idp.http import session as web_session
from idp.http.context import deps
from idp.http.session import SignedIn
from idp.http.web.account import NOTICES, account_page, bp, signed_in_form
from idp.http.web.factor_section import NOT_RECENT, recently_signed_in, section

NOTICES.update(
    {
        "factor_added": _l("Your authenticator app was added."),
        "factor_renamed": _l("The sign-in method was renamed."),
        "factor_removed": _l("The sign-in method was removed."),
    }
)


def _factor_page(signed_in: SignedIn, *, error: str | None = None, status: int = 200, **extra: Any) -> Any:
    return account_page(signed_in, error=error, status=status, factor_section=section(signed_in, **extra))


@bp.get("/account/factors/add")
def add_totp_form() -> ResponseReturnValue:
    signed_in = web_session.current()
    if signed_in is None:
        return redirect(url_for("web.login"))
    if not recently_signed_in(signed_in):
        return _factor_page(signed_in, error=str(NOT_RECENT), status=403)
    return _factor_page(signed_in, add=True)


@bp.post("/account/factors/totp")
def add_totp() -> ResponseReturnValue:
    signed_in = signed_in_form()
    if isinstance(signed_in, Response):
        return signed_in
    if not recently_signed_in(signed_in):
        return _factor_page(signed_in, error=str(NOT_RECENT), status=403)
    offer = request.form.get("offer", "")
    try:
        enrolled = usecases.factors().totp_confirm(
            signed_in.user, offer, request.form.get("code", ""), request.form.get("name", "")
        )
    except FactorError as exc:
        return _factor_page(signed_in, error=str(i18n.translate(exc.text)), status=400, offer=offer, add=True)
    _prove(signed_in)
    if enrolled.recovery_codes:
        return render_template(
            "recovery_codes.html", codes=enrolled.recovery_codes, next_url=url_for("account.index", done="factor_added")
        )
    return redirect(url_for("account.index", done="factor_added"), 303)


def _prove(signed_in: SignedIn) -> None:
    """A factor was just shown while adding it: this session has now shown two (a step-up in place)."""
    amr = mfa_policy.with_second_factor(signed_in.session.amr or [], ["otp"])
    sessions.step_up(uow.session(), signed_in, amr, deps().now())


@bp.post("/account/factors/rename")
def rename_factor() -> ResponseReturnValue:
    signed_in = signed_in_form()
    if isinstance(signed_in, Response):
        return signed_in
    try:
        usecases.factors().rename(signed_in.user, request.form.get("factor", ""), request.form.get("name", ""))
    except FactorError as exc:
        return _factor_page(signed_in, error=str(i18n.translate(exc.text)), status=400)
    return redirect(url_for("account.index", done="factor_renamed") + "#factors-h", 303)


@bp.post("/account/factors/remove")
def remove_factor() -> ResponseReturnValue:
    signed_in = signed_in_form()
    if isinstance(signed_in, Response):
        return signed_in
    if not recently_signed_in(signed_in):
        return _factor_page(signed_in, error=str(NOT_RECENT), status=403)
    try:
        usecases.factors().remove(signed_in.user, request.form.get("factor", ""))
    except FactorError as exc:
        return _factor_page(signed_in, error=str(i18n.translate(exc.text)), status=400)
    return redirect(url_for("account.index", done="factor_removed") + "#factors-h", 303)


@bp.post("/account/recovery-codes")
def new_recovery_codes() -> ResponseReturnValue:
    signed_in = signed_in_form()
    if isinstance(signed_in, Response):
        return signed_in
    if not recently_signed_in(signed_in):
        return _factor_page(signed_in, error=str(NOT_RECENT), status=403)
    factors = usecases.factors()
    if not factors.enrolled(signed_in.user):
        return _factor_page(
            signed_in,
            error=_l("Recovery codes replace a second step; add an authenticator app or a passkey first."),
            status=400,
        )
    codes = factors.regenerate_recovery_codes(signed_in.user)
    return render_template("recovery_codes.html", codes=codes, next_url=url_for("account.index") + "#factors-h")
