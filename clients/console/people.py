"""The identity team's pages: find a user, see their sign-in methods, roles and recent activity, and
act (disable, enable, sign out everywhere, send a reset link, reset the second factor, give or take
console roles). Every action has a confirmation page and is an admin API call."""

from __future__ import annotations

from urllib.parse import quote

from flask import abort, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from ..common.i18n import N_
from . import api
from .api import APIProblem
from .views import IDENTITY, PAGE_SIZE, SECURITY, bp, console_page, done, plain, render, take_notice

#: The confirmable actions on a user: (API path, the question, the button, what happened).
ACTIONS = {
    "disable": (
        "/disable",
        N_("Disable this account? Sign-in is refused, every session ends (apps are told) and every token is revoked."),
        N_("Disable the account"),
        N_("The account is disabled and its sessions have ended."),
    ),
    "enable": (
        "/enable",
        N_("Enable this account again? The password is unchanged."),
        N_("Enable the account"),
        N_("The account is enabled."),
    ),
    "sign-out": (
        "/sign-out",
        N_("Sign this user out everywhere? Every session ends and every app is told; the account stays usable."),
        N_("Sign out everywhere"),
        N_("The user is signed out everywhere."),
    ),
    "reset-link": (
        "/reset-link",
        N_("Send this user a one-time link to set a new password, to their own e-mail address?"),
        N_("Send the link"),
        N_("The link is on its way to the user's e-mail address."),
    ),
    "reset-mfa": (
        "/reset-mfa",
        N_(
            "Remove every second factor and recovery code of this user? Their next sign-in asks them to set up "
            "a new one. They are told by e-mail, with your reason."
        ),
        N_("Reset the second factor"),
        N_("The second factors are removed; the user sets up a new one at the next sign-in."),
    ),
}


@bp.get("/users")
@console_page
def users() -> ResponseReturnValue:
    query = request.args.get("q", "").strip()[:254]
    after = request.args.get("after_id", "")
    found = api.call(
        "GET", "/users", params={"q": query, "limit": PAGE_SIZE, "after_id": after if after.isdigit() else None}
    )
    more = found["next_after_id"] if len(found["users"]) == PAGE_SIZE else None
    return render("console/users.html", query=query, users=found["users"], next_after_id=more, first=not after)


def _user_page(sub: str, **extra: object) -> str:
    path = "/users/" + sub
    return render(
        "console/user.html",
        person=api.call("GET", path),
        factors=api.call("GET", path + "/factors"),
        roles=api.call("GET", path + "/roles")["roles"],
        events=api.call("GET", "/audit", params={"user": sub, "limit": 10})["events"],
        notice=take_notice(),
        **extra,
    )


@bp.get("/users/<sub>")
@console_page
def user(sub: str) -> ResponseReturnValue:
    return _user_page(sub)


@bp.route("/users/<sub>/<action>", methods=["GET", "POST"])
@console_page
def user_action(sub: str, action: str) -> ResponseReturnValue:
    if action not in ACTIONS:
        abort(404)
    path, question, button, outcome = ACTIONS[action]
    target = api.call("GET", "/users/" + sub)
    error, reason = None, request.form.get("reason", "").strip()
    if request.method == "POST":
        body = {"reason": reason} if action == "reset-mfa" else None
        try:
            api.call("POST", "/users/" + sub + path, body=body)
        except APIProblem as problem:
            if problem.status not in (400, 409):
                raise
            error = plain(problem)
        else:
            return done(_(outcome), "console.user", sub=sub)
    return render(
        "console/confirm_user.html",
        person=target,
        action=action,
        question=_(question),
        button=_(button),
        error=error,
        reason=reason,
    ), (400 if error else 200)


@bp.post("/users/<sub>/roles")
@console_page
def grant_role(sub: str) -> ResponseReturnValue:
    kind, team = request.form.get("kind", ""), request.form.get("team", "").strip()
    role = {"identity": IDENTITY, "security": SECURITY}.get(kind, f"team:{team}" if kind == "team" else "")
    try:
        api.call("POST", f"/users/{sub}/roles", body={"role": role})
    except APIProblem as problem:
        if problem.status != 400:
            raise
        return _user_page(sub, role_error=plain(problem)), 400
    return done(_("%(role)s given.", role=role), "console.user", sub=sub)


@bp.route("/users/<sub>/roles/revoke", methods=["GET", "POST"])
@console_page
def revoke_role(sub: str) -> ResponseReturnValue:
    role = request.values.get("role", "")
    target = api.call("GET", "/users/" + sub)
    if request.method == "POST":
        try:
            api.call("DELETE", f"/users/{sub}/roles/{quote(role, safe='')}")
        except APIProblem as problem:
            if problem.status not in (404, 409):
                raise
            return done(plain(problem), "console.user", sub=sub)
        return done(_("%(role)s taken away.", role=role), "console.user", sub=sub)
    return render("console/confirm_role.html", person=target, role=role)
