"""The console's shell (blueprint ``console``): the home page per role, the navigation, and how the
admin API's problems become pages in plain words. The pages themselves: ``people.py`` (identity team),
``apps.py`` (clients, for the identity team and app teams), ``security.py`` (security staff)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from ..common import step_up_required
from ..common.csrf import check_csrf
from ..common.i18n import N_
from . import api
from .api import APIProblem

bp = Blueprint(
    "console", __name__, template_folder="templates", static_folder="static", static_url_path="/console-static"
)

IDENTITY, SECURITY = "idp:admin", "idp:security"
#: Lists show this many rows per page (the API pages on the server, as the console does).
PAGE_SIZE = 25

#: What an API problem means, in words for people (the API's own detail is English and for developers);
#: a code not listed here shows the API's detail.
PLAIN = {
    "forbidden": N_("Your console roles do not include this. The identity team gives roles."),
    "insufficient_scope": N_("The console needs a sign-in with a second factor. Sign out and sign in again."),
    "client_not_found": N_("There is no such client, or it belongs to another team."),
    "user_not_found": N_("There is no such user."),
    "key_not_found": N_("There is no such key."),
    "confirmation_mismatch": N_("The confirmation does not match. Type it exactly as shown."),
    "reason_required": N_("Give a reason: it is kept in the audit trail and sent to the user."),
    "no_email": N_("This user has no e-mail address to send a link to."),
    "user_disabled": N_("This user is disabled: enable the account first."),
    "own_admin_role": N_("You cannot take the identity team's role from yourself; ask another member."),
}


def caller() -> dict[str, Any]:
    """``GET /me`` once per request: who is signed in and which console roles they hold now."""
    if "console_me" not in g:
        g.console_me = api.call("GET", "/me")
    found: dict[str, Any] = g.console_me
    return found


def roles() -> dict[str, bool]:
    held = set(caller().get("roles", []))
    return {
        "identity": IDENTITY in held,
        "security": SECURITY in held,
        "team": bool(caller().get("teams")),
    }


def console_page(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """A console page: signed in with a second factor (``step_up_required``); a form POST is CSRF-checked."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if request.method == "POST":
            check_csrf()
        return view(*args, **kwargs)

    return step_up_required(wrapper)


def plain(problem: APIProblem) -> str:
    message = PLAIN.get(problem.code)
    return _(message) if message else problem.detail or _("The request was refused.")


def render(template: str, **context: Any) -> str:
    return render_template(template, console_roles=roles(), me=caller(), **context)


def done(message: str, endpoint: str, **values: Any) -> ResponseReturnValue:
    """After an action: back to a page that says what happened (``message`` is already translated)."""
    session["console_notice"] = message
    return redirect(url_for(endpoint, **values))


def take_notice() -> str | None:
    notice: str | None = session.pop("console_notice", None)
    return notice


@bp.get("/")
@console_page
def home() -> ResponseReturnValue:
    return render("console/home.html", notice=take_notice())


def init_app(app: Flask) -> None:
    @app.errorhandler(APIProblem)
    def api_problem(problem: APIProblem) -> ResponseReturnValue:
        if problem.status == 401:  # the token stopped working (revoked, user disabled): sign in again
            session.clear()
            return redirect(url_for("rp.login", next=request.full_path.rstrip("?")))
        status = problem.status if problem.status in (400, 403, 404, 409) else 502
        titles = {
            403: _("Not allowed"),
            404: _("Not found"),
            409: _("This cannot be done now"),
            400: _("The request was refused"),
            502: _("SPOM Login did not answer as expected"),
        }
        return render_template("console/problem.html", title=titles[status], detail=plain(problem)), status
