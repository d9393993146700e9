"""``idp init`` and ``idp db upgrade``."""

from __future__ import annotations

import click

from . import CLIError, main


def _upgrade(settings) -> None:
    from pathlib import Path

    from sqlalchemy.exc import SQLAlchemyError

    from ..db.migrate import upgrade

    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        upgrade(settings.database_url)
    except SQLAlchemyError as exc:
        raise CLIError(f"cannot migrate the database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}") from None


@main.command("init")
@click.pass_obj
def init_command(obj):
    """Create or upgrade the schema and create signing keys if none exist."""
    import time

    from ..keystore import FileKeyStore, KeyStoreError

    settings = obj.settings
    _upgrade(settings)
    try:
        created = FileKeyStore(settings.keys_dir, settings.keys_passphrase).ensure_keys(time.time())
    except (OSError, KeyStoreError) as exc:
        raise CLIError(f"cannot prepare signing keys in {settings.keys_dir}: {exc}") from None
    click.echo(f"database ready; {len(created)} signing key(s) created in {settings.keys_dir}")


@main.group("db")
def db_group():
    """Database schema commands."""


@db_group.command("upgrade")
@click.pass_obj
def db_upgrade(obj):
    """Apply every pending schema migration."""
    _upgrade(obj.settings)
    click.echo("database schema is up to date")
