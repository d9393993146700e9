"""``idp audit …``: read, export and prune the append-only audit trail."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from idp.cli import CLIError, Context, main
from idp.storage.sql.audit import TYPES

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from idp.storage.sql.models import AuditEvent


@main.group("audit")
def audit_group() -> None:
    """Read, export and prune the audit trail."""


def _since(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CLIError(f"--since: {value!r} is not a date (YYYY-MM-DD) or ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _rows(events: Sequence[AuditEvent], db: Session) -> list[dict[str, Any]]:
    """Events as dicts, each with the registration number of its user (when there is one)."""
    from sqlalchemy import select

    from idp.storage.sql.audit import as_dict
    from idp.storage.sql.models import User

    ids = {e.user_id for e in events if e.user_id is not None}
    numbers = dict(db.execute(select(User.id, User.registration_number).where(User.id.in_(ids))).all()) if ids else {}
    return [
        dict(as_dict(e), registration_number=numbers.get(e.user_id) if e.user_id is not None else None) for e in events
    ]


#: The columns of ``idp audit list`` (details and request id follow, as ``key=value``).
COLUMNS = ("TIME", "TYPE", "USER", "IP", "CLIENT")


def _cells(row: dict[str, Any]) -> list[str]:
    who = row["registration_number"] or (f"user#{row['user_id']}" if row["user_id"] else "-")
    details = " ".join(f"{k}={v}" for k, v in sorted(row["details"].items()))
    rest = " ".join(x for x in (details, f"req={row['request_id']}") if x)
    return [row["time"], row["type"], who, row["ip"] or "-", row["client_id"] or "-", rest]


def _table(rows: list[dict[str, Any]]) -> list[str]:
    """A header row, then one aligned line per event (like ``idp keys list``)."""
    cells = [[*COLUMNS, "DETAILS"], *(_cells(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    return ["  ".join([*(c[i].ljust(widths[i]) for i in range(len(COLUMNS))), c[-1]]).rstrip() for c in cells]


@audit_group.command("list")
@click.option("--user", help="Registration number or e-mail of the user.")
@click.option("--ip", help="Client IP address.")
@click.option("--since", help="Only events at or after this date/time (UTC), e.g. 2026-01-01.")
@click.option("--type", "type_", type=click.Choice(TYPES), help="Only this event type.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def list_(
    obj: Context, user: str | None, ip: str | None, since: str | None, type_: str | None, limit: int, as_json: bool
) -> None:
    """Show events, newest first."""
    from idp.storage.sql import audit
    from idp.storage.sql import users as user_repo

    since_ts = _since(since)
    with obj.transaction() as db:
        user_id = None
        if user:
            found = user_repo.get_user_by_login(db, user)
            if found is None:
                raise CLIError(f"no user with registration number or e-mail {user!r}")
            user_id = found.id
        rows = _rows(
            audit.list_events(
                db,
                audit.EventFilter(user_id=user_id, ip=ip.strip() if ip else None, since=since_ts, type=type_),
                limit=limit,
            ),
            db,
        )
    if as_json:
        click.echo(json.dumps(rows))
    elif rows:
        for line in _table(rows):
            click.echo(line)
    else:
        click.echo("no audit events match", err=True)


@audit_group.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl"]),
    default="jsonl",
    show_default=True,
    help="One JSON object per line (for a SIEM).",
)
@click.option("--since", help="Only events at or after this date/time (UTC).")
@click.option("--type", "type_", type=click.Choice(TYPES), help="Only this event type.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Write here instead of stdout.")
@click.pass_obj
def export(obj: Context, fmt: str, since: str | None, type_: str | None, output: str | None) -> None:
    """Export events, oldest first."""
    from idp.storage.sql import audit

    since_ts = _since(since)
    with obj.transaction() as db, click.open_file(output or "-", "w") as out:
        batch = []
        for event in audit.iter_events(db, since=since_ts, type=type_):
            batch.append(event)
            if len(batch) == 1000:
                out.writelines(json.dumps(row) + "\n" for row in _rows(batch, db))
                batch = []
        out.writelines(json.dumps(row) + "\n" for row in _rows(batch, db))


@audit_group.command("prune")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def prune(obj: Context, as_json: bool) -> None:
    """Delete events older than IDP_AUDIT_RETENTION_DAYS."""
    from idp.core.clock import utc
    from idp.storage.sql import audit

    before = obj.deps.now() - obj.settings.storage.audit_retention_days * 86400
    with obj.transaction() as db:
        removed = audit.prune(db, before=before)
    cutoff = utc(before).isoformat().replace("+00:00", "Z")
    click.echo(
        json.dumps({"deleted": removed, "before": cutoff})
        if as_json
        else f"deleted {removed} audit event(s) older than {cutoff}"
    )
