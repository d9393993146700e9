"""``idp users show | reset-link | disable | enable | sign-out | set-email | set-locale | import``: helpdesk
and onboarding commands.

The operator never sets or sees a user's password: ``reset-link`` prints a one-time link for the
user, ``import --invite`` mails each new user an invitation link that works like a reset link."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, TextIO

import click

from idp.cli import CLIError, Context
from idp.cli.users import LOCALE_HELP, checked_locale, users_group

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from idp.domain.importer import Report
    from idp.storage.sql.models import User


def _user_or_fail(db: Session, login: str) -> User:
    from idp.storage.sql import users as user_repo

    user = user_repo.get_user_by_login(db, login) if len(login) <= 254 else None
    if user is None:
        raise CLIError(f"no user {login!r}")
    return user


@users_group.command("show")
@click.argument("login")
@click.option("--json", "as_json", is_flag=True, help="Print the user as a JSON object.")
@click.pass_obj
def show(obj: Context, login: str, as_json: bool) -> None:
    """Show LOGIN (registration number or e-mail): address, role, status and language."""
    from idp.domain.accounts import describe_user

    with obj.transaction() as db:
        result = describe_user(_user_or_fail(db, login))
    if as_json:
        click.echo(json.dumps(result))
        return
    state = "verified" if result["email_verified"] else "not verified"
    rows = [
        ("registration number", result["registration_number"]),
        ("sub", result["sub"]),
        ("name", result["name"] or "-"),
        ("e-mail", f"{result['email']} ({state})" if result["email"] else "-"),
        ("role", result["role"]),
        ("status", "active" if result["active"] else "disabled"),
        ("language", result["locale"] or "none (pages follow the browser)"),
    ]
    for label, value in rows:
        click.echo(f"{label + ':':<21}{value}")


@users_group.command("reset-link")
@click.argument("login")
@click.option("--json", "as_json", is_flag=True, help='Print {"link": …, "expires_in": …}.')
@click.pass_obj
def reset_link(obj: Context, login: str, as_json: bool) -> None:
    """Print a one-time password-reset link for LOGIN (registration number or e-mail).

    Give it to the user; earlier links stop working. The link expires after IDP_RESET_LINK_SECONDS."""
    with obj.transaction() as db:
        user = _user_or_fail(db, login)
        if not user.active:
            raise CLIError(f"user {user.registration_number} is disabled; enable it first")
        link = obj.accounts(db).reset_link_for_helpdesk(user)
    expires_in = obj.settings.accounts.reset_link_seconds
    if as_json:
        click.echo(
            json.dumps({"registration_number": user.registration_number, "link": link, "expires_in": expires_in})
        )
    else:
        click.echo(f"One-time link for {user.registration_number} (valid {expires_in // 60} minutes):\n{link}")


@users_group.command("disable")
@click.argument("login")
@click.pass_obj
def disable(obj: Context, login: str) -> None:
    """Disable LOGIN: sign-in refused, every session ended, every token and reset link revoked."""
    with obj.transaction() as db:
        user = _user_or_fail(db, login)
        obj.accounts(db).disable(user)
    click.echo(f"disabled {user.registration_number}; sessions ended and tokens revoked")


@users_group.command("sign-out")
@click.argument("login")
@click.option("--json", "as_json", is_flag=True, help='Print {"registration_number": …, "sessions_ended": N}.')
@click.pass_obj
def sign_out(obj: Context, login: str, as_json: bool) -> None:
    """Sign LOGIN out everywhere (incident response): every provider session ends, every token is
    revoked, and relying parties with a back-channel logout URI are told. The account stays usable."""
    with obj.transaction() as db:
        user = _user_or_fail(db, login)
        ended = obj.accounts(db).end_sessions(user)
    if as_json:
        click.echo(json.dumps({"registration_number": user.registration_number, "sessions_ended": len(ended)}))
    else:
        click.echo(f"signed {user.registration_number} out of {len(ended)} session(s); tokens revoked")


@users_group.command("enable")
@click.argument("login")
@click.pass_obj
def enable(obj: Context, login: str) -> None:
    """Enable LOGIN again (the password is unchanged; sessions ended by disabling stay ended)."""
    with obj.transaction() as db:
        user = _user_or_fail(db, login)
        obj.accounts(db).enable(user)
    click.echo(f"enabled {user.registration_number}")


@users_group.command("set-email")
@click.argument("login")
@click.argument("email")
@click.option(
    "--email-verified",
    is_flag=True,
    help="The institution assigned the new address. Without it the address is unverified until the user "
    "completes a link mailed to it.",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"registration_number", "email", "email_verified"}.')
@click.pass_obj
def set_email(obj: Context, login: str, email: str, email_verified: bool, as_json: bool) -> None:
    """Give LOGIN (registration number or e-mail) the address EMAIL (audited as user.email_changed)."""
    from idp.core.errors import UserExists

    email = email.strip()
    if "@" not in email or len(email) > 254:
        raise CLIError("EMAIL is not a valid e-mail address")
    with obj.transaction() as db:
        user = _user_or_fail(db, login)
        try:
            changed = obj.accounts(db).change_email(user, email, verified=email_verified)
        except UserExists as exc:
            raise CLIError(str(exc)) from None
        result = {
            "registration_number": user.registration_number,
            "email": user.email,
            "email_verified": user.email_verified,
        }
    if as_json:
        click.echo(json.dumps(result))
    else:
        state = "verified" if result["email_verified"] else "not verified"
        click.echo(f"{'changed' if changed else 'unchanged'}: {result['email']} ({state})")


@users_group.command(
    "set-locale",
    help="Set the language of LOGIN (registration number or e-mail) to LOCALE (audited as "
    f"user.locale_changed). LOCALE: {LOCALE_HELP} The user's own choice on the sign-in page replaces it later.",
)
@click.argument("login")
@click.argument("locale", callback=checked_locale)
@click.option("--json", "as_json", is_flag=True, help='Print {"registration_number", "locale"}.')
@click.pass_obj
def set_locale(obj: Context, login: str, locale: str | None, as_json: bool) -> None:
    with obj.transaction() as db:
        user = _user_or_fail(db, login)
        changed = obj.accounts(db).set_locale(user, locale)
        result = {"registration_number": user.registration_number, "locale": user.locale}
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(f"{'changed' if changed else 'unchanged'}: {result['locale'] or 'none (pages follow the browser)'}")


@users_group.command("import")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--invite", is_flag=True, help="E-mail each new user an invitation link to choose a password.")
@click.option(
    "--language",
    type=click.Choice(["en", "de"]),
    default="en",
    show_default=True,
    help="Language of the invitation e-mails to users without a language of their own (the locale column).",
)
@click.option(
    "--email-verified",
    is_flag=True,
    help="The institution assigned these e-mail addresses: mark them verified (a row's email_verified "
    "column, if the file has one, decides for that row).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the per-row report as JSON.")
@click.pass_obj
def import_users(
    obj: Context, csv_file: TextIO, invite: bool, language: str, email_verified: bool, as_json: bool
) -> None:
    """Create users from CSV_FILE with the header registration_number,email,name,role and the
    optional columns email_verified (yes/no; empty = --email-verified) and locale (the user's
    language: en or de; empty = none, the pages follow the browser).

    Good rows are created even when others are bad; bad rows are reported by line number and
    skipped. Running the same file again changes nothing (rows already imported are "unchanged").
    Imported users have no password until they follow an invitation or reset link.
    Exit status 1 when any row was rejected or any invitation could not be delivered."""
    from idp.domain.importer import import_rows, read_rows

    try:
        rows = read_rows(csv_file)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    with click.progressbar(rows, label="Importing", file=sys.stderr, show_pos=True) as progress:
        report = import_rows(
            progress,
            database=obj.deps.database,
            accounts=obj.accounts,
            invite=invite,
            language=language,
            email_verified_default=email_verified,
        )
    _print_report(report, as_json)
    if report.failed:
        raise SystemExit(1)


def _print_report(report: Report, as_json: bool) -> None:
    if as_json:
        click.echo(
            json.dumps(
                {
                    "created": report.created,
                    "unchanged": report.unchanged,
                    "invited": report.invited,
                    "errors": [{"line": line, "error": msg} for line, msg in report.errors],
                }
            )
        )
        return
    for line, message in report.errors:
        click.echo(f"line {line}: {message}", err=True)
    click.echo(
        f"{report.created} created, {report.unchanged} unchanged, {len(report.errors)} rejected, "
        f"{report.invited} invited"
    )
