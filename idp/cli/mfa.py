"""``idp users factors | reset-mfa | mfa-policy``: the help desk's view of second factors (issue 19).

No command shows or sets a secret: ``factors`` lists what a user enrolled, ``reset-mfa`` removes all of
it (the user sets up a new one at the next sign-in), ``mfa-policy`` shows who must have one."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from idp.cli import CLIError, Context
from idp.cli.users import users_group
from idp.cli.users_admin import _user_or_fail

if TYPE_CHECKING:
    from idp.domain.factors.policy import Enrolment

#: The reason of a reset is kept in the audit trail and sent to the user; the admin API has the same limit.
REASON_MAX = 500


@users_group.command("factors")
@click.argument("login")
@click.option(
    "--json", "as_json", is_flag=True, help='Print {"registration_number", "factors", "recovery_codes_left"}.'
)
@click.pass_obj
def factors(obj: Context, login: str, as_json: bool) -> None:
    """List the second factors of LOGIN (registration number or e-mail): kind, name, when created and
    last used, id. Never a secret or key. Then how many unused recovery codes are left."""
    from idp.domain.factors.service import describe_factor

    with obj.transaction() as db:
        user = _user_or_fail(db, login)
        use_cases = obj.factors(db)
        found = [describe_factor(f, iso=True) for f in use_cases.factors_of(user)]
        left = use_cases.recovery_codes_left(user)
        standing = use_cases.standing(user)
    if as_json:
        click.echo(
            json.dumps({"registration_number": user.registration_number, "factors": found, "recovery_codes_left": left})
        )
        return
    click.echo(f"second factors of {user.registration_number}: {len(found) or 'none'}")
    for f in found:
        click.echo(
            f"  {f['kind']:<8} {f['name']:<24} created {f['created_at']}  "
            f"last used {f['last_used_at'] or 'never'}  id {f['id']}"
        )
    click.echo(f"recovery codes left: {left}")
    click.echo(f"policy: {_standing_text(standing)}")


def _standing_text(standing: Enrolment) -> str:
    if not standing.required:
        return "not required"
    if standing.enrolled:
        return "required, enrolled"
    if standing.forced:
        return "required; the next sign-in forces enrolment"
    return f"required; in grace ({standing.signins_left} sign-in(s) left)"


@users_group.command("reset-mfa")
@click.argument("login")
@click.option(
    "--reason",
    required=True,
    help="Why (e.g. the ticket number and 'phone lost'); kept in the audit trail and told to the user.",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"registration_number", "factors_removed"}.')
@click.pass_obj
def reset_mfa(obj: Context, login: str, reason: str, as_json: bool) -> None:
    """Remove every second factor and recovery code of LOGIN (the help desk's reset, audited as
    mfa.reset). The next sign-in asks the user to set up a new one before anything else (no grace);
    the user is told by e-mail."""
    from idp.domain.factors.service import FactorError

    if len(reason) > REASON_MAX:
        raise CLIError(f"--reason must be at most {REASON_MAX} characters")
    with obj.transaction() as db:
        user = _user_or_fail(db, login)
        try:
            removed = obj.factors(db).reset(user, reason)
        except FactorError as exc:
            raise CLIError(f"--reason: {exc.text}") from None
    if as_json:
        click.echo(json.dumps({"registration_number": user.registration_number, "factors_removed": removed}))
        return
    click.echo(
        f"removed {removed} second factor(s) and the recovery codes of {user.registration_number}; "
        "the next sign-in asks for a new one before anything else"
    )
    click.echo(f"told by e-mail: {user.email}" if user.email else "no e-mail address on file: tell the user yourself")


@users_group.command("mfa-policy")
@click.option("--json", "as_json", is_flag=True, help="Print the settings and the counts per role as JSON.")
@click.pass_obj
def mfa_policy(obj: Context, as_json: bool) -> None:
    """Who must sign in with a second factor: per role, whether IDP_MFA_REQUIRED_ROLES requires it, and
    how many enabled users are enrolled, in their grace period, forced to enrol at the next sign-in
    (grace over, or reset by the help desk), or not asked."""
    from idp.domain.factors.service import policy_status

    with obj.transaction() as db:
        status = policy_status(db, obj.settings, obj.deps.now())
    if as_json:
        click.echo(json.dumps(status))
        return
    click.echo(f"IDP_MFA_REQUIRED_ROLES: {', '.join(status['required_roles']) or 'none'}")
    click.echo(
        f"grace: {status['grace_days']} day(s) or {status['grace_signins']} sign-in(s), whichever runs out first"
    )
    header = ("role", "required", "users", "enrolled", "in grace", "forced", "not required")
    click.echo("  ".join(f"{h:<12}" for h in header).rstrip())
    for r in status["roles"]:
        cells = (r["role"], "yes" if r["required"] else "no", r["users"], r["enrolled"], r["in_grace"], r["forced"])
        click.echo("  ".join(f"{c!s:<12}" for c in (*cells, r["not_required"])).rstrip())
