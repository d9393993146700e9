"""Admin API routes. Every change goes through the domain (``idp.domain.clients.service``,
``idp.domain.accounts``: rules, audit with the actor) and is committed once, so a rejected request
leaves nothing behind."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any, overload

from flask import Response, jsonify, request

from idp.core.clock import utc
from idp.core.errors import ClientMetadataError, ClientOperationError
from idp.core.languages import DEFAULT as DEFAULT_LANGUAGE
from idp.core.params import ParameterError, ascii_int, ascii_number
from idp.domain.accounts import UnsupportedLanguage, check_locale, describe_user
from idp.domain.clients import service as client_admin
from idp.domain.clients.rules import editable_metadata, merge_metadata, spec_from_metadata, spec_of
from idp.domain.factors.service import FactorError, describe_factor, policy_status
from idp.domain.staff import IDENTITY, SECURITY, TEAM_PREFIX, RoleError, parse_role
from idp.http import uow, usecases
from idp.http.admin import Problem, actor, allow, bp, caller, now
from idp.http.admin.openapi import document
from idp.http.context import deps
from idp.storage.sql import audit, client_usage
from idp.storage.sql import clients as client_repo
from idp.storage.sql import users as user_repo
from idp.storage.sql.models import AuditEvent, Client, User

MAX_LIMIT = 200
#: Most events one ``GET /audit/export`` returns (page further with ``before_id``).
EXPORT_MAX = 10_000
#: Longest reason of a second-factor reset (kept in the audit trail and the user's mail).
REASON_MAX = 500


def _json_object() -> dict[str, Any]:
    if not request.is_json:
        raise Problem(415, "unsupported_media_type", "Send a JSON object with Content-Type: application/json.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Problem(400, "invalid_request", "The body must be a JSON object.")
    return body


@overload
def _int_arg(name: str, default: int, low: int, high: int) -> int: ...
@overload
def _int_arg(name: str, default: None, low: int, high: int) -> int | None: ...
def _int_arg(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        return ascii_int(raw, low=low, high=high)
    except ParameterError:
        raise Problem(
            400, "invalid_parameter", f"{name} must be an integer from {low} to {high}.", field=name
        ) from None


def _float_arg(name: str) -> float | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return ascii_number(raw, low=0, below=1e11)
    except ParameterError:
        raise Problem(
            400, "invalid_parameter", f"{name} must be POSIX seconds (a number such as 1700000000).", field=name
        ) from None


def _client(client_id: str) -> Client:
    """The client, if the caller may see it: another team's client is not found, as an unknown one."""
    row = client_repo.get_client(uow.session(), client_id)
    if row is None or not caller().sees_client(row.team):
        raise Problem(404, "client_not_found", "There is no client with this client_id.")
    return row


def _team_for_new_client(body: dict[str, Any]) -> str | None:
    """The team a new client belongs to: for an app team member, one of their teams (``team`` in the body
    when they are in several); the identity team may name any team, or none."""
    team = body.pop("team", None)
    if team is not None and not isinstance(team, str):
        raise Problem(400, "invalid_parameter", "team must be a string.", field="team")
    teams = caller().teams
    if caller().identity:
        return team
    if team is None and len(teams) == 1:
        return next(iter(teams))
    if team not in teams:
        raise Problem(
            400, "invalid_parameter", f"team must be one of your teams: {', '.join(sorted(teams))}.", field="team"
        )
    return team


def _metadata_problem(exc: ClientMetadataError) -> Problem:
    return Problem(400, exc.error, str(exc), field=exc.field)


def _describe(row: Client, status: int = 200, extra: Mapping[str, object] | None = None) -> tuple[Response, int]:
    body = client_admin.describe(row, now())
    body.update(extra or {})
    return jsonify(body), status


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())


CLIENT_ROLES = (IDENTITY, TEAM_PREFIX)


@bp.get("/me")
@allow(IDENTITY, SECURITY, TEAM_PREFIX)
def me() -> Response:
    """Who the token speaks for and what it may do: the console shows it and hides what the roles do not
    allow (the API refuses it anyway)."""
    who, db = caller(), uow.session()
    sub, name = None, ""
    if who.user_id is not None:
        user = db.get(User, who.user_id)
        if user is not None:
            sub, name = user.sub, user.display_name or user.registration_number
    else:
        client = client_repo.get_client(db, who.actor.removeprefix("admin:"))
        name = client.name if client is not None else ""
    return jsonify(
        {"actor": who.actor, "sub": sub, "name": name, "roles": sorted(who.roles), "teams": sorted(who.teams)}
    )


@bp.get("/clients")
@allow(*CLIENT_ROLES)
def list_clients() -> Response:
    t, who = now(), caller()
    rows = [row for row in client_repo.list_clients(uow.session()) if who.sees_client(row.team)]
    return jsonify({"clients": [client_admin.describe(row, t) for row in rows]})


@bp.post("/clients")
@allow(*CLIENT_ROLES)
def create_client() -> tuple[Response, int]:
    """The identity team registers any client; an app team registers its own by the rules of /register."""
    body = _json_object()
    team = _team_for_new_client(body)
    try:
        spec = spec_from_metadata(body, privileged=caller().identity, allow=deps().outbound.allow)
    except ClientMetadataError as exc:
        raise _metadata_problem(exc) from None
    row, secret, _ = usecases.clients().create(spec, actor=actor(), team=team)
    extra = {"client_secret": secret} if secret else {}
    return _describe(row, 201, extra)


@bp.get("/clients/<client_id>")
@allow(*CLIENT_ROLES)
def get_client(client_id: str) -> Response:
    return jsonify(client_admin.describe(_client(client_id), now()))


@bp.patch("/clients/<client_id>")
@allow(*CLIENT_ROLES)
def update_client(client_id: str) -> tuple[Response, int]:
    """Merge the given members onto the client's metadata (omitted members keep their values). An app
    team edits by the rules of /register and cannot make its client ``trusted``."""
    row = _client(client_id)
    changes = _json_object()
    privileged = caller().identity
    if not privileged and "trusted" in changes and changes["trusted"] != row.trusted:
        raise Problem(
            403, "forbidden", "Only the identity team can make a client trusted (skip consent); ask them.", "trusted"
        )
    if privileged:
        merged, defaults = merge_metadata({**editable_metadata(row), "trusted": row.trusted}, changes), None
    else:  # as an RFC 7592 update: the stored client's trusted flag and identity-team scopes are kept
        changes.pop("trusted", None)
        merged, defaults = merge_metadata(editable_metadata(row), changes), spec_of(row)
    try:
        spec = spec_from_metadata(merged, privileged=privileged, defaults=defaults, allow=deps().outbound.allow)
        secret = usecases.clients().update(row, spec, actor=actor())
    except ClientMetadataError as exc:
        raise _metadata_problem(exc) from None
    extra = {"client_secret": secret} if secret else {}
    return _describe(row, extra=extra)


@bp.delete("/clients/<client_id>")
@allow(*CLIENT_ROLES)
def delete_client(client_id: str) -> tuple[str, int]:
    usecases.clients().delete(_client(client_id), actor=actor())
    return "", 204


@bp.post("/clients/<client_id>/disable")
def disable_client(client_id: str) -> tuple[Response, int]:
    row = _client(client_id)
    usecases.clients().set_active(row, False, actor=actor())
    return _describe(row)


@bp.post("/clients/<client_id>/enable")
def enable_client(client_id: str) -> tuple[Response, int]:
    row = _client(client_id)
    usecases.clients().set_active(row, True, actor=actor())
    return _describe(row)


@bp.post("/clients/<client_id>/rotate-secret")
@allow(*CLIENT_ROLES)
def rotate_secret(client_id: str) -> tuple[Response, int]:
    row = _client(client_id)
    body = _json_object() if request.content_length else {}
    grace = body.get("grace_seconds", client_admin.DEFAULT_GRACE_SECONDS)
    if not isinstance(grace, int) or isinstance(grace, bool) or not 0 <= grace <= 30 * 86400:
        raise Problem(
            400, "invalid_parameter", "grace_seconds must be an integer from 0 to 2592000.", field="grace_seconds"
        )
    try:
        secret = usecases.clients().rotate_secret(row, grace=grace, actor=actor())
    except ClientOperationError as exc:
        raise Problem(409, "no_client_secret", str(exc)) from None
    return _describe(row, extra={"client_secret": secret})


@bp.get("/clients/<client_id>/usage")
@allow(*CLIENT_ROLES)
def client_usage_of(client_id: str) -> Response:
    """When the client last got a token for a user, how many live sessions it is signed in under, and its
    errors of the last 24 hours by audit event type."""
    row = _client(client_id)
    limits = deps().settings.sessions
    found = client_usage.usage(
        uow.session(), row.client_id, now=now(), idle=limits.idle_seconds, session_max=limits.max_seconds
    )
    return jsonify(
        {
            "last_token_at": _iso(found.last_token_at),
            "active_sessions": found.active_sessions,
            "errors_24h": found.errors,
        }
    )


@bp.post("/registration-tokens")
def issue_registration_token() -> tuple[Response, int]:
    body = _json_object()
    team, expires_in, max_clients = body.get("team"), body.get("expires_in", 30 * 86400), body.get("max_clients")
    if not isinstance(team, str):
        raise Problem(400, "invalid_parameter", "team must be a string.", field="team")
    for name, value, required in (("expires_in", expires_in, True), ("max_clients", max_clients, False)):
        if (value is None and required) or (
            value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10**8)
        ):
            raise Problem(400, "invalid_parameter", f"{name} must be a positive integer.", field=name)
    try:
        row, token = usecases.clients().issue_registration_token(
            team=team, expires_in=expires_in, max_clients=max_clients, actor=actor()
        )
    except ClientOperationError as exc:
        raise Problem(400, "invalid_parameter", str(exc), field="team") from None
    return jsonify(
        {"token": token, "team": row.team, "expires_at": _iso(row.expires_at), "max_clients": row.max_clients}
    ), 201


@bp.get("/registration-tokens")
def list_registration_tokens() -> Response:
    """The tokens that still work, newest first (never the token itself: only its hash is kept)."""
    rows = client_repo.live_initial_tokens(uow.session(), now())
    return jsonify({"tokens": [client_admin.describe_registration_token(r) for r in rows]})


@bp.post("/registration-tokens/<int:token_id>/revoke")
def revoke_registration_token(token_id: int) -> Response:
    row = client_repo.get_initial_token(uow.session(), token_id)
    if row is None:
        raise Problem(404, "token_not_found", "There is no registration token with this id.")
    usecases.clients().revoke_registration_token(row, actor=actor())
    return jsonify(client_admin.describe_registration_token(row))


def _user(row: User) -> dict[str, Any]:
    return {**describe_user(row), "created_at": _iso(row.created_at)}


@bp.get("/users")
def list_users() -> Response:
    query = request.args.get("q")
    if query is not None and len(query) > 254:
        raise Problem(400, "invalid_parameter", "q must be at most 254 characters.", field="q")
    rows = user_repo.list_users(
        uow.session(),
        query=query,
        limit=_int_arg("limit", 50, 1, MAX_LIMIT),
        after_id=_int_arg("after_id", None, 0, 2**31 - 1),
    )
    return jsonify({"users": [_user(r) for r in rows], "next_after_id": rows[-1].id if rows else None})


def _user_row(sub: str) -> User:
    row = user_repo.get_user_by_sub(uow.session(), sub)
    if row is None:
        raise Problem(404, "user_not_found", "There is no user with this subject identifier.")
    return row


@bp.get("/users/<sub>")
def get_user(sub: str) -> Response:
    return jsonify(_user(_user_row(sub)))


#: The members of a user that ``PATCH /users/{sub}`` changes (the rest is managed by the CLI and the user).
EDITABLE_USER_MEMBERS = ("locale",)


@bp.patch("/users/<sub>")
def update_user(sub: str) -> Response:
    """Change the given members (only ``locale`` for now: a language, or null to follow the browser)."""
    row = _user_row(sub)
    changes = _json_object()
    for name in changes:
        if name not in EDITABLE_USER_MEMBERS:
            raise Problem(
                400,
                "read_only",
                f"Only {', '.join(EDITABLE_USER_MEMBERS)} can be changed through the API.",
                field=name[:64],
            )
    if "locale" in changes:
        try:
            locale = check_locale(changes["locale"])
        except UnsupportedLanguage as exc:
            raise Problem(400, "invalid_parameter", str(exc), field="locale") from None
        usecases.accounts(source=actor()).set_locale(row, locale)
    return jsonify(_user(row))


@bp.get("/users/<sub>/factors")
def user_factors(sub: str) -> Response:
    """The user's second factors (never a secret or key) and how many unused recovery codes remain."""
    row, factors = _user_row(sub), usecases.factors(source=actor())
    return jsonify(
        {
            "factors": [describe_factor(f, iso=True) for f in factors.factors_of(row)],
            "recovery_codes_left": factors.recovery_codes_left(row),
        }
    )


@bp.post("/users/<sub>/reset-mfa")
def reset_mfa(sub: str) -> Response:
    """The help desk's reset: every factor and recovery code goes, the next sign-in forces enrolment,
    the user is mailed (after the commit). ``reason`` is required and kept in the audit trail."""
    row = _user_row(sub)
    reason = _json_object().get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise Problem(
            400, "reason_required", "Give the reason for the reset in reason (kept in the audit trail).", field="reason"
        )
    if len(reason) > REASON_MAX:
        raise Problem(400, "invalid_parameter", f"reason must be at most {REASON_MAX} characters.", field="reason")
    try:
        removed = usecases.factors(source=actor()).reset(row, reason)
    except FactorError as exc:
        raise Problem(400, "reason_required", str(exc.text), field="reason") from None
    return jsonify({"factors_removed": removed})


def _not_yourself(row: User, code: str, detail: str) -> None:
    if caller().user_id == row.id:
        raise Problem(409, code, detail)


@bp.post("/users/<sub>/disable")
def disable_user(sub: str) -> Response:
    """Sign-in refused, every session ended (relying parties told by back-channel logout), every token
    and reset link revoked. Disabling a disabled user changes nothing."""
    row = _user_row(sub)
    _not_yourself(row, "own_account", "You cannot disable your own account; another member of the identity team can.")
    if row.active:
        usecases.accounts(source=actor()).disable(row)
    return jsonify(_user(row))


@bp.post("/users/<sub>/enable")
def enable_user(sub: str) -> Response:
    """Sign-in allowed again (the password is unchanged; ended sessions stay ended)."""
    row = _user_row(sub)
    if not row.active:
        usecases.accounts(source=actor()).enable(row)
    return jsonify(_user(row))


@bp.post("/users/<sub>/sign-out")
def sign_out_user(sub: str) -> Response:
    """Incident response: every session of the user ends, every token is revoked, relying parties with
    a back-channel logout URI are told. The account stays usable."""
    ended = usecases.accounts(source=actor()).end_sessions(_user_row(sub))
    return jsonify({"sessions_ended": len(ended)})


@bp.post("/users/<sub>/reset-link")
def send_reset_link(sub: str) -> tuple[Response, int]:
    """Mail the user a one-time password-reset link, to their own address only (the API never shows
    it); earlier links stop working."""
    row = _user_row(sub)
    if not row.active:
        raise Problem(409, "user_disabled", "The user is disabled; enable the account first.")
    if not row.email:
        raise Problem(409, "no_email", "The user has no e-mail address to send the link to.")
    usecases.accounts(source=actor()).mail_reset_link(row, DEFAULT_LANGUAGE)
    return jsonify({"sent": True}), 202


def _role(value: object) -> str:
    try:
        return parse_role(value)
    except RoleError as exc:
        raise Problem(400, "invalid_parameter", f"role: {exc}.", field="role") from None


def _roles(row: User, status: int = 200) -> tuple[Response, int]:
    return jsonify({"roles": usecases.accounts(source=actor()).roles(row)}), status


@bp.get("/users/<sub>/roles")
def user_roles(sub: str) -> tuple[Response, int]:
    return _roles(_user_row(sub))


@bp.post("/users/<sub>/roles")
def grant_user_role(sub: str) -> tuple[Response, int]:
    """Give a console role (``{"role": "team:Library"}``); it applies at the holder's next request."""
    row = _user_row(sub)
    role = _role(_json_object().get("role"))
    if not row.active:
        raise Problem(409, "user_disabled", "The user is disabled; enable the account first.")
    added = usecases.accounts(source=actor()).grant_role(row, role)
    return _roles(row, 201 if added else 200)


@bp.delete("/users/<sub>/roles/<role>")
def revoke_user_role(sub: str, role: str) -> tuple[Response, int]:
    """Take a console role away, effective at the holder's next request (no sign-out needed)."""
    row = _user_row(sub)
    role = _role(role)
    if role == IDENTITY:
        _not_yourself(
            row,
            "own_admin_role",
            f"You cannot take {IDENTITY} from yourself; another member of the identity team can.",
        )
    if not usecases.accounts(source=actor()).revoke_role(row, role):
        raise Problem(404, "role_not_held", "The user does not hold this role.", field="role")
    return _roles(row)


@bp.get("/mfa-policy")
def mfa_policy() -> Response:
    d = deps()
    return jsonify(policy_status(uow.session(), d.settings, d.now()))


def _audit_filters() -> audit.EventFilter:
    """The filters ``/audit`` and ``/audit/export`` share, checked (a bad one is a 400 naming it)."""
    db = uow.session()
    user_id = None
    if request.args.get("user") is not None:
        user = user_repo.get_user_by_sub(db, request.args["user"][:64])
        user_id = user.id if user else -1
    for name in ("type", "client_id"):
        if len(request.args.get(name, "")) > 64:
            raise Problem(400, "invalid_parameter", f"{name} must be at most 64 characters.", field=name)
    ip = request.args.get("ip")
    if ip is not None:
        try:
            ip = str(ipaddress.ip_address(ip[:64]))  # as stored: the canonical form
        except ValueError:
            raise Problem(400, "invalid_parameter", "ip must be an IPv4 or IPv6 address.", field="ip") from None
    return audit.EventFilter(
        user_id=user_id,
        type=request.args.get("type"),
        client_id=request.args.get("client_id"),
        ip=ip,
        since=_float_arg("since"),
        until=_float_arg("until"),
    )


@bp.get("/audit")
@allow(IDENTITY, SECURITY)
def audit_events() -> Response:
    """Newest first; page with ``before_id`` (the last ``id`` of the previous page)."""
    rows = audit.list_events(
        uow.session(),
        _audit_filters(),
        limit=_int_arg("limit", 100, 1, MAX_LIMIT),
        before_id=_int_arg("before_id", None, 0, 2**31 - 1),
    )
    return jsonify({"events": [_event(r) for r in rows]})


@bp.get("/audit/export")
@allow(IDENTITY, SECURITY)
def export_audit_events() -> Response:
    """The events ``/audit`` filters, as NDJSON (one JSON object a line), newest (highest id) first, at
    most ``EXPORT_MAX``. When more match, ``X-Next-Before-Id`` is the ``before_id`` of the next export."""
    filters = _audit_filters()
    limit = _int_arg("limit", EXPORT_MAX, 1, EXPORT_MAX)
    before_id = _int_arg("before_id", None, 0, 2**31 - 1)
    lines: list[str] = []
    last_id: int | None = None
    for row in audit.newest_events(uow.session(), filters, limit=limit + 1, before_id=before_id):
        if len(lines) == limit:  # one more than asked exists: say where the next export starts
            break
        lines.append(json.dumps(_event(row), ensure_ascii=False, separators=(",", ":")) + "\n")
        last_id = row.id
    else:
        last_id = None
    response = Response("".join(lines), mimetype="application/x-ndjson")
    response.headers["Content-Disposition"] = 'attachment; filename="audit.ndjson"'
    if last_id is not None:
        response.headers["X-Next-Before-Id"] = str(last_id)
    return response


def _event(row: AuditEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "occurred_at": _iso(row.occurred_at),
        "type": row.type,
        "user_id": row.user_id,
        "client_id": row.client_id,
        "ip": row.ip,
        "user_agent": row.user_agent,
        "request_id": row.request_id,
        "details": row.details or {},
    }


def _iso(ts: float | None) -> str | None:
    return None if ts is None else utc(ts).isoformat().replace("+00:00", "Z")
