"""The passkey pages' routes (issue 19): adding a passkey on the account page or during a forced
enrolment, the passkey as the second step after the password, and the sign-in with a passkey alone
on the login page (its button, and the browser's autofill through conditional mediation).

Each ceremony is two requests. ``POST /passkeys/options`` (CSRF-checked, called by
``static/passkeys.js``) answers the WebAuthn options as JSON, with a challenge bound to this browser,
the purpose and the user (``idp.domain.factors.passkeys``). The browser's answer then comes back in an
ordinary form post (hidden field ``credential``), so the server renders what follows like any other
form: the recovery codes after a first factor, a message on the same page, or the way on.
"""

from __future__ import annotations

from flask import Response, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from idp.core.errors import ThrottleUnavailable, TooManyAttempts
from idp.domain import sessions
from idp.domain.factors import policy as mfa_policy
from idp.domain.factors.passkeys import Passkeys
from idp.domain.factors.service import FactorError
from idp.http import errors, i18n, uow, usecases
from idp.http import session as web_session
from idp.http.context import client_ip, deps
from idp.http.protocol import interactions
from idp.http.protocol.app_return import WayBack
from idp.http.session import SignedIn
from idp.http.web import account, second_factor, views
from idp.http.web.csrf import CSRFError, validate_csrf
from idp.http.web.factor_section import recently_signed_in, section
from idp.http.web.signin_flow import Subject, finish, passwordless, subject

account.NOTICES["passkey_added"] = _l("Your passkey was added.")
TEXT = {
    "signed_out": _l("You are no longer signed in. Sign in again, then add the passkey."),
    "not_recent": _l(
        "For your security, adding a passkey needs a recent sign-in. Sign out, sign in again, and then add the passkey."
    ),
    "purpose": _l("This passkey request is not valid. Reload the page and try again."),
}
#: ``purpose`` of an options request: add on the account page, add during enrolment, second step, alone.
PURPOSES = ("account", "enrol", "second_factor", "signin")


def passkeys() -> Passkeys:
    """The passkey ceremonies of this request's browser (its binding cookie is set if it had none)."""
    return Passkeys(usecases.factors(), deps().store, interactions.browser_hash(), defer=uow.on_commit)


def _text(exc: FactorError) -> str:
    return str(i18n.translate(exc.text))


# -- the page's script asks for options -------------------------------------------------------


@views.bp.post("/passkeys/options")
def passkey_options() -> ResponseReturnValue:
    """WebAuthn options for ``navigator.credentials.create`` (adding) or ``.get`` (signing in)."""
    purpose = request.form.get("purpose", "")
    try:
        validate_csrf()
    except CSRFError as exc:
        return _json_error(str(views.MESSAGES[exc.reason]), 400)
    if purpose not in PURPOSES:
        return _json_error(str(TEXT["purpose"]), 400)
    try:  # each answer stores a challenge for minutes: bounded per client IP
        deps().throttle.check_rate("passkey_options_ip", client_ip())
    except TooManyAttempts as exc:
        response, status = _json_error(errors.describe(exc).text(), 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response, status
    except ThrottleUnavailable:
        return _json_error(str(second_factor.TEXT["unavailable"]), 503)
    if purpose == "signin":
        return _options(passkeys().authentication_options(None))
    if purpose == "account":
        signed_in = web_session.current()
        if signed_in is None:
            return _json_error(str(TEXT["signed_out"]), 401)
        if not recently_signed_in(signed_in):
            return _json_error(str(TEXT["not_recent"]), 403)
        return _options(passkeys().registration_options(signed_in.user))
    who = subject()
    if who is None:
        return _json_error(str(second_factor.TEXT["pending_gone"]), 400)
    if purpose == "enrol":
        return _options(passkeys().registration_options(who.user))
    return _options(passkeys().authentication_options(who.user))


def _options(options_json: str) -> Response:
    return Response(options_json, mimetype="application/json", headers={"Cache-Control": "no-store"})


def _json_error(message: str, status: int) -> tuple[Response, int]:
    response = jsonify(error=message)
    response.headers["Cache-Control"] = "no-store"
    return response, status


# -- the answers, in ordinary form posts ------------------------------------------------------


@account.bp.post("/account/passkeys")
def add_passkey() -> ResponseReturnValue:
    """Add a passkey on the account page (several are allowed, each with a name)."""
    signed_in = account.signed_in_form()
    if isinstance(signed_in, Response):
        return signed_in
    if not recently_signed_in(signed_in):
        return account.account_page(signed_in, error=TEXT["not_recent"], status=403, factor_section=section(signed_in))
    try:
        enrolled, amr = passkeys().register(
            signed_in.user, request.form.get("credential", ""), request.form.get("name", "")
        )
    except FactorError as exc:
        return account.account_page(signed_in, error=_text(exc), status=400, factor_section=section(signed_in))
    _prove(signed_in, amr)
    done = url_for("account.index", done="passkey_added")
    if enrolled.recovery_codes:
        return render_template("recovery_codes.html", codes=enrolled.recovery_codes, next_url=done)
    return redirect(done + "#factors-h", 303)


def _prove(signed_in: SignedIn, amr: list[str]) -> None:
    """The passkey was just used to add it: this session has now shown a second factor (as
    ``account_factors._prove`` does for an authenticator app)."""
    merged = mfa_policy.with_second_factor(signed_in.session.amr or [], amr)
    sessions.step_up(uow.session(), signed_in, merged, deps().now())


@views.bp.post("/login/passkey/enrol")
def passkey_enrol() -> ResponseReturnValue:
    """Add a passkey where the sign-in asks for a second factor first (forced, or asked for by an app)."""
    who = subject()
    try:
        validate_csrf()
    except CSRFError as exc:
        return second_factor.enrol_page(who, error=str(views.MESSAGES[exc.reason]), status=400) if who else _gone()
    if who is None:
        return _gone()
    if usecases.factors().enrolled(who.user) and who.pending is not None:
        return redirect(who.way.url("web.second_factor", **who.fields()), 303)
    try:
        enrolled, amr = passkeys().register(who.user, request.form.get("credential", ""), request.form.get("name", ""))
    except FactorError as exc:
        return second_factor.enrol_page(who, error=_text(exc), status=400)
    next_url = finish(who, amr)
    if enrolled.recovery_codes:
        return render_template(
            "recovery_codes.html", codes=enrolled.recovery_codes, next_url=next_url, client=who.way.client
        )
    return redirect(next_url, 303)


@views.bp.post("/login/passkey")
def passkey_second_factor() -> ResponseReturnValue:
    """The passkey as the second step after the password, or to step a session up."""
    who = subject()
    try:
        validate_csrf()
    except CSRFError as exc:
        return _second_factor_page(who, str(views.MESSAGES[exc.reason])) if who else _gone()
    if who is None:
        return _gone()
    try:
        used = passkeys().authenticate(request.form.get("credential", ""), who.user)
    except FactorError as exc:
        return _second_factor_page(who, _text(exc))
    return redirect(finish(who, used.amr), 303)


def _second_factor_page(who: Subject, error: str) -> ResponseReturnValue:
    return second_factor.factor_page(who, second_factor.PASSKEY, error=error, status=400)


@views.bp.post("/login/passkey/signin")
def passkey_signin() -> ResponseReturnValue:
    """A sign-in with a passkey alone, from the login page; on to the app's pending request, if any."""
    raw_id = request.form.get("interaction")
    way = WayBack.from_request()
    try:
        validate_csrf()
    except CSRFError as exc:
        return views.login_page(way, error=views.MESSAGES[exc.reason], error_help=views.HELP[exc.reason], status=400)
    if raw_id and way.interaction is None and way.back is None:
        problem = interactions.PROBLEMS[way.problem or interactions.EXPIRED]
        return views.login_page(WayBack(), error=problem, status=400)
    try:
        used = passkeys().authenticate(request.form.get("credential", ""), None)
    except FactorError as exc:
        return views.login_page(way, error=_text(exc), status=400)
    url = passwordless(used.user, mfa_policy.with_second_factor([], used.amr), way)
    return redirect(url, 303 if url == way.home else 302)


def _gone() -> ResponseReturnValue:
    return second_factor.gone()


# -- the login page brings its binding cookie ------------------------------------------------


def _bind_login_page(response: Response) -> Response:
    if response.mimetype == "text/html" and request.endpoint in ("web.login", "web.login_post"):
        # The browser's binding cookie comes with the page (``interactions.apply_cookie`` runs after
        # this), not with its first options request: the autofill's request and the button's,
        # racing, would otherwise each make one and bind their challenges to different cookies.
        interactions.set_probe()
    return response


views.bp.after_request(_bind_login_page)
