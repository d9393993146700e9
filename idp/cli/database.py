"""``idp init`` and ``idp db upgrade``."""

from __future__ import annotations

import click

from idp.cli import CLIError, Context, main
from idp.core.settings import Settings


def _upgrade(settings: Settings) -> None:
    from pathlib import Path

    from sqlalchemy.exc import SQLAlchemyError

    from idp.storage.sql.migrate import upgrade

    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        upgrade(settings.database_url)
    except SQLAlchemyError as exc:
        raise CLIError(f"cannot migrate the database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}") from None


@main.command("init")
@click.pass_obj
def init_command(obj: Context) -> None:
    """Create or upgrade the schema and create a current and a next signing key per algorithm."""
    from sqlalchemy.exc import SQLAlchemyError

    from idp.domain.keys.lifecycle import Policy, ensure
    from idp.domain.keys.material import DEFAULT_FAMILIES, family_of

    settings = obj.settings
    _upgrade(settings)
    families = sorted(set(DEFAULT_FAMILIES) | {family_of(settings.access_token_alg)})
    try:
        with obj.transaction() as db:
            created = ensure(db, families, obj.deps.now(), Policy.from_settings(settings))
    except SQLAlchemyError as exc:
        raise CLIError(f"cannot create signing keys: {exc.__class__.__name__}") from None
    click.echo(f"database ready; {len(created)} signing key(s) created")


@main.group("db")
def db_group() -> None:
    """Database schema commands."""


@db_group.command("upgrade")
@click.pass_obj
def db_upgrade(obj: Context) -> None:
    """Apply every pending schema migration."""
    _upgrade(obj.settings)
    click.echo("database schema is up to date")
