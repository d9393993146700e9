"""``idp users roles | grant-role | revoke-role | staff``: the console roles of people (issue 20).

Roles are data (``idp.domain.staff``): ``idp:admin`` (identity team), ``idp:security`` (security staff),
``team:NAME`` (an app team: its clients only). A change is audited and applies to the holder's next
admin API request, so taking a role away needs no sign-out."""

from __future__ import annotations

import json

import click

from idp.cli import CLIError, Context
from idp.cli.users import users_group
from idp.cli.users_admin import _user_or_fail


def _role(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from idp.domain.staff import RoleError, parse_role

    try:
        return parse_role(value)
    except RoleError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@users_group.command("roles")
@click.argument("login")
@click.option("--json", "as_json", is_flag=True, help='Print {"registration_number": …, "roles": […]}.')
@click.pass_obj
def roles(obj: Context, login: str, as_json: bool) -> None:
    """List the console roles of LOGIN (registration number or e-mail)."""
    with obj.transaction() as db:
        user = _user_or_fail(db, login)
        held = obj.accounts(db).roles(user)
    if as_json:
        click.echo(json.dumps({"registration_number": user.registration_number, "roles": held}))
    else:
        click.echo(f"console roles of {user.registration_number}: {', '.join(held) or 'none'}")


@users_group.command("grant-role")
@click.argument("login")
@click.argument("role", callback=_role)
@click.pass_obj
def grant_role(obj: Context, login: str, role: str) -> None:
    """Give LOGIN the console role ROLE: idp:admin (identity team), idp:security (security staff) or
    team:NAME (the app team NAME, whose clients it then manages). The console asks for a second factor."""
    with obj.transaction() as db:
        user = _user_or_fail(db, login)
        if not user.active:
            raise CLIError(f"user {user.registration_number} is disabled; enable it first")
        added = obj.accounts(db).grant_role(user, role)
    click.echo(f"{user.registration_number} {'now holds' if added else 'already held'} {role}")


@users_group.command("revoke-role")
@click.argument("login")
@click.argument("role", callback=_role)
@click.pass_obj
def revoke_role(obj: Context, login: str, role: str) -> None:
    """Take the console role ROLE from LOGIN (effective at its next request)."""
    with obj.transaction() as db:
        user = _user_or_fail(db, login)
        removed = obj.accounts(db).revoke_role(user, role)
    if not removed:
        raise CLIError(f"{user.registration_number} does not hold {role}")
    click.echo(f"{user.registration_number} no longer holds {role}")


@users_group.command("staff")
@click.argument("role", callback=_role)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of the holders' registration numbers.")
@click.pass_obj
def staff(obj: Context, role: str, as_json: bool) -> None:
    """List who holds the console role ROLE."""
    from idp.storage.sql import staff as staff_repo

    with obj.transaction() as db:
        found = [u.registration_number for u in staff_repo.holders(db, role)]
    if as_json:
        click.echo(json.dumps(found))
    else:
        click.echo("\n".join(found) if found else f"no one holds {role}")
