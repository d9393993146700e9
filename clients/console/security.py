"""Security staff's pages: signing keys (timeline, rotate, emergency revoke with a typed confirmation),
the audit trail (filters in the query string, pages, JSONL export), sign-in anomalies (throttled now,
failures per hour as a chart drawn on the server); and, with the identity team, the throttle and the
provider's settings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Response, request, stream_with_context
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from . import api
from .api import APIProblem
from .chart import bars
from .views import PAGE_SIZE, bp, console_page, done, plain, render, take_notice

#: The audit filters the page passes on to the API, as they stand in the query string.
AUDIT_FILTERS = ("user", "ip", "type", "client_id", "since", "until")


@bp.get("/keys")
@console_page
def keys() -> ResponseReturnValue:
    found = api.call("GET", "/keys")
    by_alg: dict[str, list[dict[str, Any]]] = {}
    for key in found["keys"]:
        by_alg.setdefault(key["alg"], []).append(key)
    return render(
        "console/keys.html", by_alg=by_alg, publication_seconds=found.get("publication_seconds"), notice=take_notice()
    )


@bp.route("/keys/rotate", methods=["GET", "POST"])
@console_page
def rotate_keys() -> ResponseReturnValue:
    alg = request.values.get("alg", "").strip() or None
    error = None
    if request.method == "POST":
        try:
            result = api.call("POST", "/keys/rotate", body={"alg": alg, "force": request.form.get("force") == "1"})
        except APIProblem as problem:
            if problem.status not in (400, 409):
                raise
            error = plain(problem)
        else:
            names = ", ".join(r["alg"] for r in result["rotated"])
            return done(_("Rotated: %(algs)s. The new keys sign from now on.", algs=names), "console.keys")
    return render("console/confirm_rotate_keys.html", alg=alg, error=error), (409 if error else 200)


@bp.route("/keys/<kid>/revoke", methods=["GET", "POST"])
@console_page
def revoke_key(kid: str) -> ResponseReturnValue:
    error = None
    reason = request.form.get("reason", "").strip()
    end_sessions = request.form.get("end_sessions") == "1"
    if request.method == "POST":
        body = {"reason": reason, "end_sessions": end_sessions, "confirm": request.form.get("confirm", "").strip()}
        try:
            result = api.call("POST", f"/keys/{kid}/revoke", body=body)
        except APIProblem as problem:
            if problem.status not in (400, 409):
                raise
            error = plain(problem)
        else:
            return done(
                _("Key %(kid)s is revoked; %(n)s session(s) ended.", kid=kid, n=result.get("sessions_ended", 0)),
                "console.keys",
            )
    return render("console/confirm_revoke_key.html", kid=kid, error=error, reason=reason, end_sessions=end_sessions), (
        400 if error else 200
    )


def _posix(value: str) -> float | None:
    """A ``datetime-local`` field (``2026-12-03T14:00``, read as UTC) as POSIX seconds; None if blank or bad."""
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp() if value else None
    except ValueError:
        return None


def _audit_params() -> dict[str, Any]:
    args = {name: request.args.get(name, "").strip()[:64] for name in AUDIT_FILTERS}
    params: dict[str, Any] = {k: v for k, v in args.items() if k not in ("since", "until")}
    params.update(since=_posix(args["since"]), until=_posix(args["until"]))
    return params


@bp.get("/audit")
@console_page
def audit() -> ResponseReturnValue:
    before = request.args.get("before_id", "")
    params = {**_audit_params(), "limit": PAGE_SIZE, "before_id": before if before.isdigit() else None}
    events = api.call("GET", "/audit", params=params)["events"]
    filters = {name: request.args.get(name, "") for name in AUDIT_FILTERS}
    older = events[-1]["id"] if len(events) == PAGE_SIZE else None
    return render("console/audit.html", events=events, filters=filters, older=older, first=not before)


@bp.get("/audit/export")
@console_page
def audit_export() -> ResponseReturnValue:
    upstream = api.stream("/audit/export", params=_audit_params())

    def relay() -> Iterator[bytes]:
        try:
            yield from upstream.iter_content(chunk_size=65536)
        finally:
            upstream.close()

    return Response(
        stream_with_context(relay()),
        mimetype="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="audit.jsonl"'},
    )


@bp.get("/anomalies")
@console_page
def anomalies() -> ResponseReturnValue:
    found = api.call("GET", "/anomalies")
    hours = found["failures_per_hour"]
    return render(
        "console/anomalies.html",
        throttled=found["throttled"],
        chart=bars([h["count"] for h in hours], [h["hour"][11:16] for h in hours]),
        total=sum(h["count"] for h in hours),
    )


@bp.route("/throttle", methods=["GET", "POST"])
@console_page
def throttle() -> ResponseReturnValue:
    user, ip = request.values.get("user", "").strip()[:254], request.values.get("ip", "").strip()[:64]
    status = error = None
    if request.method == "POST":
        try:
            cleared = api.call("DELETE", "/throttle", params={"user": user, "ip": ip})
        except APIProblem as problem:
            if problem.status != 400:
                raise
            error = plain(problem)
        else:
            return done(
                _("Cleared %(n)s counter(s).", n=cleared.get("cleared", 0)), "console.throttle", user=user, ip=ip
            )
    elif user or ip:
        try:
            status = api.call("GET", "/throttle", params={"user": user, "ip": ip})
        except APIProblem as problem:
            if problem.status != 400:
                raise
            error = plain(problem)
    return render("console/throttle.html", user=user, ip=ip, status=status, error=error, notice=take_notice()), (
        400 if error else 200
    )


@bp.get("/settings")
@console_page
def settings() -> ResponseReturnValue:
    return render("console/settings.html", settings=api.call("GET", "/settings"))
