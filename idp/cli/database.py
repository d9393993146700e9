"""``idp init`` and ``idp db upgrade``."""

from __future__ import annotations

from pathlib import Path

import click

from idp.cli import CLIError, Context, main
from idp.core.settings import Settings


def _upgrade(settings: Settings) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from idp.storage.sql.migrate import upgrade

    if settings.storage.database_url.startswith("sqlite:///"):
        Path(settings.storage.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        upgrade(settings.storage.database_url)
    except SQLAlchemyError as exc:
        raise CLIError(f"cannot migrate the database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}") from None


def _create_dev_secrets() -> list[Path]:
    """The development secrets of a plain-http loopback issuer (``dev_secret_files``): each made once,
    random, readable by its owner only (0600); settings loading only reads them."""
    import os
    import secrets

    from idp.core.settings import dev_secret_files

    created = []
    for path in dev_secret_files():
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise CLIError(f"cannot create {path}: {exc.strerror}") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
        created.append(path)
    return created


@main.command("init")
@click.pass_obj
def init_command(obj: Context) -> None:
    """Create the development secrets of a plain-http loopback issuer (IDP_SECRET_KEY and
    IDP_KEYS_PASSPHRASE when unset, in the instance folder), create or upgrade the schema, and
    create a current and a next signing key per algorithm."""
    from sqlalchemy.exc import SQLAlchemyError

    from idp.domain.keys.lifecycle import Policy, ensure
    from idp.domain.keys.material import DEFAULT_FAMILIES, family_of

    for path in _create_dev_secrets():
        click.echo(f"development secret created: {path}")
    settings = obj.settings
    _upgrade(settings)
    families = sorted(set(DEFAULT_FAMILIES) | {family_of(settings.tokens.access_token_alg)})
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
