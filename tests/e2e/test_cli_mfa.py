"""The help desk's second-factor commands (issue 19): ``idp users factors``, ``idp users reset-mfa`` and
``idp users mfa-policy``, run as the ``idp`` script on the provider's database."""

from __future__ import annotations

import json

from tests.support.cli import assert_one_line_error
from tests.support.factors import enrol_totp_for as enrol_totp
from tests.support.factors import user
from tests.support.helpers import stored_user, update_user
from tests.support.mailserver import text_of


def test_factors_lists_what_was_enrolled_and_never_a_secret(provider, cli):
    provider.create_user()
    before = cli("users", "factors", "S1000001").stdout
    assert "second factors of S1000001: none" in before and "policy: not required" in before
    required = cli("users", "factors", "S1000001", mfa_required_roles="student").stdout
    assert "policy: required; in grace (5 sign-in(s) left)" in required
    secret, codes = enrol_totp(provider, name="Work phone")
    assert codes and len(codes) == 10

    shown = cli("users", "factors", "ada@example.edu")
    assert shown.returncode == 0, shown.stderr
    assert "second factors of S1000001: 1" in shown.stdout
    assert "totp" in shown.stdout and "Work phone" in shown.stdout and "recovery codes left: 10" in shown.stdout
    listed = json.loads(cli("users", "factors", "S1000001", "--json").stdout)
    [factor] = listed["factors"]
    assert listed["registration_number"] == "S1000001" and listed["recovery_codes_left"] == 10
    assert factor["kind"] == "totp" and factor["name"] == "Work phone" and factor["id"]
    assert factor["created_at"].endswith("Z") and factor["last_used_at"].endswith("Z")
    for output in (shown.stdout, json.dumps(listed)):
        assert secret not in output and not any(code in output for code in codes)


def test_reset_mfa_removes_every_factor_forces_enrolment_and_mails_the_user(provider, cli, smtp_server):
    provider.create_user()
    update_user(provider, locale="de")
    enrol_totp(provider)
    enrol_totp(provider, name="Tablet")

    result = cli(
        "users",
        "reset-mfa",
        "S1000001",
        "--reason",
        "Ticket 4711: phone lost",
        smtp_host="127.0.0.1",
        smtp_port=str(smtp_server.port),
        smtp_security="none",
    )
    assert result.returncode == 0, result.stderr
    assert "removed 2 second factor(s)" in result.stdout and "next sign-in" in result.stdout
    assert "told by e-mail: ada@example.edu" in result.stdout
    assert stored_user(provider).mfa_enrol_required
    with provider.transaction() as db:
        use_cases = provider.factors(db)
        owner = user(db)
        assert use_cases.factors_of(owner) == [] and use_cases.recovery_codes_left(owner) == 0
        assert use_cases.standing(owner).forced  # no grace after a reset
    [event] = provider.audit_events("mfa.reset")
    assert event.details["source"] == "cli" and event.details["factors_removed"] == 2
    assert event.details["reason"] == "Ticket 4711: phone lost"

    [mail] = smtp_server.wait_for("ada@example.edu")  # the user's stored language, not the operator's
    assert mail["Subject"] == "Der zweite Anmeldeschritt Ihres SPOM-Login-Kontos wurde zurückgesetzt"
    body = text_of(mail)
    assert "Hallo Ada Lovelace," in body and "Angegebener Grund: Ticket 4711: phone lost" in body

    again = json.loads(cli("users", "reset-mfa", "S1000001", "--reason", "again", "--json").stdout)
    assert again == {"registration_number": "S1000001", "factors_removed": 0}


def test_reset_mfa_needs_a_reason_and_a_user(provider, cli):
    provider.create_user()
    enrol_totp(provider)
    missing = cli("users", "reset-mfa", "S1000001")
    assert missing.returncode == 2
    assert_one_line_error(missing, "Missing option '--reason'")
    for blank in ("", "   "):
        assert_one_line_error(cli("users", "reset-mfa", "S1000001", "--reason", blank), "--reason", "Give a reason")
    assert_one_line_error(cli("users", "reset-mfa", "S1000001", "--reason", "x" * 501), "at most 500 characters")
    assert_one_line_error(cli("users", "reset-mfa", "S9999999", "--reason", "lost"), "no user 'S9999999'")
    assert "second factors of S1000001: 1" in cli("users", "factors", "S1000001").stdout  # nothing changed
    assert provider.audit_events("mfa.reset") == []
    assert_one_line_error(cli("users", "factors", "S9999999"), "no user 'S9999999'")
    provider.create_user("S1000002", None, "No Mail")
    no_mail = cli("users", "reset-mfa", "S1000002", "--reason", "lost")
    assert no_mail.returncode == 0 and "no e-mail address on file: tell the user yourself" in no_mail.stdout


def test_mfa_policy_counts_the_users_of_each_role(provider, cli):
    provider.create_user()  # a student: not required
    provider.create_user("E1000001", "eve@example.edu", "Eve", role="employee")  # enrolled
    provider.create_user("E1000002", "emil@example.edu", "Emil", role="employee")  # in grace
    provider.create_user("E1000003", "erna@example.edu", "Erna", role="employee")  # grace over
    provider.create_user("E1000004", None, "Ed", role="employee", active=False)  # disabled: not counted
    provider.create_user("V1000001", "vic@example.edu", "Vic", role="vendor")  # reset by the help desk
    enrol_totp(provider, "E1000001")
    update_user(provider, "E1000003", mfa_grace_started_at=provider.clock.now() - 30 * 86400)  # 14 days over
    update_user(provider, "V1000001", mfa_enrol_required=True)

    result = cli("users", "mfa-policy", "--json", mfa_required_roles="employee", mfa_grace_days="20")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["required_roles"] == ["employee"]
    assert status["grace_days"] == 20 and status["grace_signins"] == 5
    by_role = {r.pop("role"): r for r in status["roles"]}
    assert by_role == {
        "student": {"required": False, "users": 1, "enrolled": 0, "in_grace": 0, "forced": 0, "not_required": 1},
        "employee": {"required": True, "users": 3, "enrolled": 1, "in_grace": 1, "forced": 1, "not_required": 0},
        "vendor": {"required": False, "users": 1, "enrolled": 0, "in_grace": 0, "forced": 1, "not_required": 0},
    }
    text = cli("users", "mfa-policy", mfa_required_roles="employee").stdout
    assert "IDP_MFA_REQUIRED_ROLES: employee" in text and "14 day(s) or 5 sign-in(s)" in text
    assert [line.split() for line in text.splitlines() if line.startswith("employee")] == [
        ["employee", "yes", "3", "1", "1", "1", "0"]
    ]
    assert "IDP_MFA_REQUIRED_ROLES: none" in cli("users", "mfa-policy").stdout
