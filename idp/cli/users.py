"""``idp users …``: manage people who sign in."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from idp.cli import CLIError, Context, main, read_secret_stdin
from idp.core.errors import UserExists
from idp.core.languages import LANGUAGES

if TYPE_CHECKING:
    pass

#: The help of every --locale / LOCALE (the allowed values come from idp.core.languages).
LOCALE_HELP = (
    f"The user's language ({', '.join(LANGUAGES)}): their pages, their mail and the locale claim follow it; "
    "'none': not chosen, the pages follow the browser."
)


def checked_locale(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: ``value`` checked by the domain's one rule (``accounts.check_locale``)."""
    from idp.domain.accounts import UnsupportedLanguage, parse_locale

    if value is None:
        return None
    try:
        return parse_locale(value)
    except UnsupportedLanguage as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@main.group("users")
def users_group() -> None:
    """Manage users."""


@users_group.command("create")
@click.option("--registration-number", required=True, help="Unique registration number (case-insensitive).")
@click.option("--email", default=None, help="Optional unique e-mail address.")
@click.option(
    "--email-verified",
    is_flag=True,
    help="The institution assigned this address: tokens say email_verified true. Without it the address "
    "becomes verified when the user completes a link mailed to it.",
)
@click.option("--name", default="", help="Display name.")
@click.option("--role", type=click.Choice(["student", "employee", "vendor"]), default="student", show_default=True)
@click.option("--locale", default=None, callback=checked_locale, help=LOCALE_HELP + " Default: none.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def create_user(
    obj: Context,
    registration_number: str,
    email: str | None,
    name: str,
    role: str,
    locale: str | None,
    email_verified: bool,
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Create a user. The password is read from standard input, never from the command line."""
    from idp.domain.accounts import describe_user
    from idp.domain.password_policy import PasswordPolicy, UserContext
    from idp.storage.sql import audit
    from idp.storage.sql import users as user_repo

    if not registration_number.strip() or len(registration_number.strip()) > 64:
        raise CLIError("--registration-number must be 1 to 64 characters")
    if email is not None and ("@" not in email or len(email) > 254):
        raise CLIError("--email is not a valid e-mail address")
    if email_verified and not email:
        raise CLIError("--email-verified needs --email")
    password = read_secret_stdin("password") if password_stdin else None
    if password is None:
        raise CLIError("a password is required: pass --password-stdin and write it to standard input")
    problems = PasswordPolicy.from_settings(obj.settings).check(
        password, UserContext(registration_number, name, email or "")
    )
    if problems:
        raise CLIError("password refused: " + " ".join(map(str, problems)))
    deps = obj.deps
    with obj.transaction() as db:
        try:
            user = user_repo.create_user(
                db,
                registration_number=registration_number,
                email=email,
                name=name,
                role=role,
                password_hash=deps.hasher.hash(password),
                now=deps.now(),
                email_verified=email_verified,
            )
        except UserExists as exc:
            raise CLIError(str(exc)) from None
        user_repo.set_locale(db, user, locale)  # part of the new row, recorded with it below
        # Who created the account, and when, is part of the trail (like an import's ``user.imported``).
        audit.record(
            db,
            audit.USER_CREATED,
            now=deps.now(),
            user_id=user.id,
            source="cli",
            role=role,
            email_verified=email_verified,
            locale=user.locale,
        )
        result = describe_user(user)
    click.echo(json.dumps(result) if as_json else f"created user {result['registration_number']} (sub {result['sub']})")
