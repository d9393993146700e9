"""``idp keys``: list, rotate, revoke, export-public, auto-rotate (docs/key-rotation.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from idp.cli import CLIError, Context, main

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from idp.domain.keys.lifecycle import Policy


@main.group("keys")
def keys_group() -> None:
    """Signing keys: lifecycle next -> current -> retired -> removed (see docs/key-rotation.md)."""


@contextmanager
def _transaction(obj: Context) -> Iterator[Session]:
    """A database session for one key command; its one-line errors for everything that can fail."""
    from sqlalchemy.exc import IntegrityError, SQLAlchemyError

    from idp.core.errors import KeyLifecycleError
    from idp.domain.keys.material import KeyDecryptionError

    try:
        with obj.transaction() as db:
            yield db
    except KeyLifecycleError as exc:
        raise CLIError(str(exc)) from None
    except (KeyDecryptionError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    except IntegrityError:
        raise CLIError("another process changed the keys at the same moment; run the command again") from None
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        hint = "; run `idp init`" if "signing_keys" in first else ""
        raise CLIError(f"cannot use the database: {exc.__class__.__name__}{hint}") from None


def _context(obj: Context) -> tuple[Policy, float]:
    from idp.domain.keys.lifecycle import Policy

    return Policy.from_settings(obj.settings), obj.deps.now()


def _iso(ts: float | None) -> str:
    from idp.core.clock import utc

    return utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ") if ts is not None else "-"


def _families(db: Session, alg: str | None) -> list[str]:
    from idp.domain.keys.material import family_of
    from idp.storage.sql import keys as key_repo

    if alg:
        try:
            return [family_of(alg)]
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    return sorted({r.alg for r in key_repo.list_keys(db) if r.state == "current"})


@keys_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (times in POSIX seconds).")
@click.pass_obj
def list_keys(obj: Context, as_json: bool) -> None:
    """List every stored key: kid, alg, state, created, activated, retires-at, removes-at."""
    from idp.domain.keys.lifecycle import describe
    from idp.storage.sql import keys as key_repo

    policy, _now = _context(obj)
    with _transaction(obj) as db:
        rows = [describe(r, policy) for r in key_repo.list_keys(db)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'KID':<24} {'ALG':<8} {'STATE':<8} {'CREATED':<20} {'ACTIVATED':<20} {'RETIRES-AT':<20} REMOVES-AT")
    for r in rows:
        click.echo(
            f"{r['kid']:<24} {r['alg']:<8} {r['state']:<8} {_iso(r['created']):<20} "
            f"{_iso(r['activated']):<20} {_iso(r['retires_at']):<20} {_iso(r['removes_at'])}"
        )


@keys_group.command("rotate")
@click.option(
    "--alg", help="Rotate only this family (RS256, ES256, Ed25519; EdDSA means Ed25519). Default: all in use."
)
@click.option(
    "--force",
    is_flag=True,
    help="Rotate even if the next key was published less than "
    "IDP_KEY_PUBLICATION_SECONDS ago (relying parties may not have it).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def rotate_keys(obj: Context, alg: str | None, force: bool, as_json: bool) -> None:
    """Promote next to current, retire the old current, publish a new next key: one transaction."""
    from idp.domain.keys.lifecycle import rotate

    policy, now = _context(obj)
    with _transaction(obj) as db:
        families = _families(db, alg)
        if not families:
            raise CLIError("no signing keys yet; run `idp init`")
        done = [
            {"alg": f, "current": rotate(db, f, now, policy, force=force, audit_fields={"source": "cli"}).kid}
            for f in families
        ]
    if as_json:
        click.echo(json.dumps({"rotated": done}))
    for d in [] if as_json else done:
        click.echo(f"{d['alg']}: key {d['current']} now signs; the previous key is retired")


@keys_group.command("revoke")
@click.argument("kid")
@click.option("--reason", required=True, help="Why (recorded in the audit trail).")
@click.option("--end-sessions", is_flag=True, help="Also end the sessions of users who got tokens signed by the key.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def revoke_key(obj: Context, kid: str, reason: str, end_sessions: bool, as_json: bool) -> None:
    """Emergency: remove a key from JWKS at once; tokens it signed stop verifying here."""
    from idp.domain.keys.lifecycle import revoke

    policy, now = _context(obj)
    with _transaction(obj) as db:
        result = revoke(db, kid, now, policy, reason=reason, end_sessions=end_sessions, audit_fields={"source": "cli"})
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(
        f"key {kid} ({result['alg']}, was {result['previous_state']}) revoked; "
        f"{result['sessions_ended']} session(s) ended"
    )


@keys_group.command("export-public")
@click.pass_obj
def export_public(obj: Context) -> None:
    """Print the public JWKS (next, current and retired keys) for out-of-band distribution."""
    from idp.domain.keys.lifecycle import PUBLISHED_STATES
    from idp.storage.sql import keys as key_repo

    with _transaction(obj) as db:
        keys = [dict(r.public_jwk) for r in key_repo.list_keys(db) if r.state in PUBLISHED_STATES]
    click.echo(json.dumps({"keys": keys}, indent=2))


@keys_group.command("auto-rotate")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@click.pass_obj
def auto_rotate(obj: Context, as_json: bool) -> None:
    """Do whatever lifecycle work is due (missing keys, scheduled rotation per IDP_KEY_ROTATION_DAYS,
    removal of expired retired keys). Safe from cron on many hosts at once: the work happens once."""
    from idp.domain.keys.lifecycle import maintain
    from idp.domain.keys.material import DEFAULT_FAMILIES, family_of

    policy, now = _context(obj)
    with _transaction(obj) as db:
        families = sorted(
            set(_families(db, None)) | set(DEFAULT_FAMILIES) | {family_of(obj.settings.tokens.access_token_alg)}
        )
        done = maintain(db, families, now, policy)
    if as_json:
        click.echo(json.dumps(done))
        return
    click.echo(f"created {len(done['created'])}, rotated {len(done['rotated'])}, removed {len(done['removed'])} key(s)")


@keys_group.command("change-passphrase")
@click.pass_obj
def change_passphrase(obj: Context) -> None:
    """Re-encrypt every stored private key and authenticator-app secret with a new passphrase read
    from standard input.

    Run it with the current IDP_KEYS_PASSPHRASE; then give every host the new one."""
    from idp.cli import read_secret_stdin
    from idp.domain.factors.service import reseal_secrets
    from idp.domain.keys.lifecycle import rewrap

    new = read_secret_stdin("the new passphrase")
    if len(new) < 16:
        raise CLIError("the new passphrase must be at least 16 characters")
    policy, _now = _context(obj)
    with _transaction(obj) as db:
        count = rewrap(db, policy.passphrase, new)
        secrets = reseal_secrets(db, policy.passphrase, new)
    click.echo(
        f"{count} private key(s) and {secrets} authenticator-app secret(s) re-encrypted; "
        "now set IDP_KEYS_PASSPHRASE to the new passphrase everywhere"
    )
