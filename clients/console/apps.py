"""Clients: the identity team sees every client, an app team only its own (the API answers 404 for
another team's, and so does the console). Register with the rules of ``/register``, edit the URIs and
browser origins, rotate the secret (shown once, the old one works for a grace period), see usage,
delete with a typed confirmation; the identity team also issues registration tokens."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from . import api
from .api import APIProblem
from .views import PAGE_SIZE, bp, console_page, done, plain, render, take_notice

#: The lists a form edits, one value per line.
LISTS = ("redirect_uris", "post_logout_redirect_uris", "allowed_cors_origins")
#: Grace periods offered when rotating a secret (seconds).
GRACE_CHOICES = (0, 3600, 86400, 7 * 86400)


def _lines(name: str) -> list[str]:
    return [v.strip() for v in request.form.get(name, "").splitlines() if v.strip()]


def _metadata_from_form() -> dict[str, Any]:
    body: dict[str, Any] = {name: _lines(name) for name in LISTS}
    if not body["allowed_cors_origins"]:
        body["allowed_cors_origins"] = None  # the default: a browser app's redirect-URI origins
    back = request.form.get("backchannel_logout_uri", "").strip()
    body["backchannel_logout_uri"] = back or None
    return body


@bp.get("/clients")
@console_page
def clients() -> ResponseReturnValue:
    # The API answers the caller's whole list (an institution has hundreds of clients, not more);
    # the page shows it PAGE_SIZE at a time, by name, the page number in the query string.
    found = sorted(api.call("GET", "/clients")["clients"], key=lambda c: (c["client_name"].casefold(), c["client_id"]))
    pages = max(1, -(-len(found) // PAGE_SIZE))
    raw = request.args.get("page", "1")
    number = min(int(raw), pages) if raw.isdigit() and int(raw) > 0 else 1
    shown = found[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    return render("console/clients.html", clients=shown, page=number, pages=pages, notice=take_notice())


@bp.route("/clients/new", methods=["GET", "POST"])
@console_page
def new_client() -> ResponseReturnValue:
    error = field = None
    if request.method == "POST":
        body = _metadata_from_form()
        body["client_name"] = request.form.get("client_name", "").strip()
        if request.form.get("kind") == "browser":
            body["token_endpoint_auth_method"] = "none"
        if body["backchannel_logout_uri"] is None:
            del body["backchannel_logout_uri"]
        team = request.form.get("team", "").strip()
        if team:
            body["team"] = team
        try:
            created = api.call("POST", "/clients", body=body)
        except APIProblem as problem:
            if problem.status != 400:
                raise
            error, field = plain(problem), problem.field
        else:
            return render("console/client_created.html", client=created, secret=created.get("client_secret"))
    return render("console/client_new.html", form=request.form, error=error, field=field), (400 if error else 200)


def _client_page(client_id: str, **extra: Any) -> str:
    return render(
        "console/client.html",
        client=api.call("GET", "/clients/" + client_id),
        usage=api.call("GET", f"/clients/{client_id}/usage"),
        notice=take_notice(),
        **extra,
    )


@bp.get("/clients/<client_id>")
@console_page
def client(client_id: str) -> ResponseReturnValue:
    return _client_page(client_id)


@bp.post("/clients/<client_id>")
@console_page
def edit_client(client_id: str) -> ResponseReturnValue:
    try:
        api.call("PATCH", "/clients/" + client_id, body=_metadata_from_form())
    except APIProblem as problem:
        if problem.status != 400:
            raise
        return _client_page(client_id, error=plain(problem), field=problem.field, form=request.form), 400
    return done(_("The client is saved."), "console.client", client_id=client_id)


@bp.route("/clients/<client_id>/rotate-secret", methods=["GET", "POST"])
@console_page
def rotate_secret(client_id: str) -> ResponseReturnValue:
    found = api.call("GET", "/clients/" + client_id)
    if request.method == "POST":
        grace = request.form.get("grace_seconds", "")
        seconds = int(grace) if grace.isdigit() and int(grace) in GRACE_CHOICES else 86400
        rotated = api.call("POST", f"/clients/{client_id}/rotate-secret", body={"grace_seconds": seconds})
        return render("console/client_created.html", client=rotated, secret=rotated["client_secret"], rotated=True)
    return render("console/confirm_rotate.html", client=found, choices=GRACE_CHOICES)


@bp.route("/clients/<client_id>/delete", methods=["GET", "POST"])
@console_page
def delete_client(client_id: str) -> ResponseReturnValue:
    found, error = api.call("GET", "/clients/" + client_id), None
    if request.method == "POST":
        if request.form.get("confirm", "").strip() != found["client_name"]:
            error = _("The name does not match. Type the client's name exactly as shown.")
        else:
            api.call("DELETE", "/clients/" + client_id)
            return done(_("%(name)s is deleted.", name=found["client_name"]), "console.clients")
    return render("console/confirm_delete.html", client=found, error=error), (400 if error else 200)


@bp.route("/registration-tokens", methods=["GET", "POST"])
@console_page
def registration_tokens() -> ResponseReturnValue:
    error = issued = None
    if request.method == "POST":
        days = request.form.get("days", "30")
        body: dict[str, Any] = {
            "team": request.form.get("team", "").strip(),
            "expires_in": int(days) * 86400 if days.isdigit() and 0 < int(days) <= 365 else 30 * 86400,
        }
        limit = request.form.get("max_clients", "").strip()
        if limit:
            body["max_clients"] = int(limit) if limit.isdigit() else limit
        try:
            issued = api.call("POST", "/registration-tokens", body=body)
        except APIProblem as problem:
            if problem.status != 400:
                raise
            error = plain(problem)
    tokens = api.call("GET", "/registration-tokens")["tokens"]
    return render(
        "console/registration_tokens.html",
        error=error,
        issued=issued,
        form=request.form,
        tokens=tokens,
        notice=take_notice(),
    ), (400 if error else 200)


@bp.route("/registration-tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@console_page
def revoke_registration_token(token_id: int) -> ResponseReturnValue:
    live = {t["id"]: t for t in api.call("GET", "/registration-tokens")["tokens"]}
    if token_id not in live:
        return done(_("That registration token no longer works (revoked or expired)."), "console.registration_tokens")
    if request.method == "POST":
        api.call("POST", f"/registration-tokens/{token_id}/revoke")
        return done(
            _("The token for team %(team)s is revoked.", team=live[token_id]["team"]), "console.registration_tokens"
        )
    return render("console/confirm_revoke_token.html", token=live[token_id])
