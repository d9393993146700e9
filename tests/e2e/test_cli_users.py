"""Operator commands, run as the real ``idp`` script: reset-link, disable/enable, import, and the
password policy on ``users create``."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import assert_one_line_error
from tests.support.helpers import PASSWORD, issue_tokens, parse_form, stored_user
from tests.support.mailserver import link_in

NEW_PASSWORD = "lantern orchard velvet compass"


def set_password_via(browser, link, password=NEW_PASSWORD):
    form = parse_form(browser.get(link).text)
    form.update(password=password, confirm=password)
    return browser.post(form.pop("_action"), data=form)


def signs_in(provider, username="S1000001", password=PASSWORD) -> bool:
    browser = provider.browser()
    return browser.submit_login(browser.get("/login"), username, password).status_code == 302


def test_reset_link_prints_a_one_time_link(provider, cli):
    provider.create_user()
    first = cli("users", "reset-link", "s1000001")
    assert first.returncode == 0, first.stderr
    assert "valid 30 minutes" in first.stdout
    second = cli("users", "reset-link", "ada@example.edu", "--json")
    result = json.loads(second.stdout)
    assert result["registration_number"] == "S1000001" and result["expires_in"] == 1800
    old_link = first.stdout.strip().splitlines()[-1]
    assert provider.browser().get(old_link).status_code == 410  # superseded by the second
    browser = provider.browser()
    assert set_password_via(browser, result["link"]).status_code == 303
    assert signs_in(provider, password=NEW_PASSWORD)
    assert [e.details["source"] for e in provider.audit_events("password.reset_link_issued")] == ["cli", "cli"]


def test_reset_link_errors_are_one_line(provider, cli):
    provider.create_user(active=False)
    assert_one_line_error(cli("users", "reset-link", "S9999999"), "no user 'S9999999'")
    assert_one_line_error(cli("users", "reset-link", "S1000001"), "disabled")


def test_disable_ends_sessions_and_tokens_and_enable_restores_sign_in(provider, cli):
    provider.create_user()
    browser = provider.browser()
    rp, tokens = issue_tokens(provider, browser)
    result = cli("users", "disable", "S1000001")
    assert result.returncode == 0, result.stderr
    assert "Signed in" not in browser.get("/").text
    refused = rp.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refused.status_code == 400
    assert not signs_in(provider)
    assert cli("users", "enable", "S1000001").returncode == 0
    assert signs_in(provider)
    assert (
        rp.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).status_code == 400
    )  # stays revoked
    assert {"user.disabled", "user.enabled"} <= {e.type for e in provider.audit_events()}
    assert_one_line_error(cli("users", "disable", "nobody"), "no user")


CSV = """registration_number,email,name,role
S2000001,bea@example.edu,Bea Good,student
S2000002,cem@example.edu,Cem Good,Employee
S2000003,bea@example.edu,Dup Mail,student
s2000001,other@example.edu,Dup Number,student
S2000004,not-an-email,Bad Mail,student
S2000005,eve@example.edu,Bad Role,admin
S2000006,too,many,fields,here
S1000001,someone@example.edu,Clash,student
S2000007,,No Mail,vendor
"""


def test_import_keeps_good_rows_reports_bad_ones_and_is_idempotent(provider, cli, tmp_path):
    provider.create_user()
    path = tmp_path / "users.csv"
    path.write_text(CSV)
    first = cli("users", "import", str(path))
    assert first.returncode == 1
    assert "3 created, 0 unchanged, 6 rejected, 0 invited" in first.stdout
    errors = [line for line in first.stderr.splitlines() if line.startswith("line ")]
    assert errors == [
        "line 4: duplicate e-mail: already on line 2",
        "line 5: duplicate registration number: already on line 2",
        "line 6: e-mail address 'not-an-email' is not valid",
        "line 7: role must be one of student, employee, vendor (got 'admin')",
        "line 8: expected 4 fields, found 5",
        "line 9: registration number S1000001 already exists with another e-mail",
    ]
    assert "Importing" in first.stderr
    for login in ("S2000001", "S2000002", "S2000007"):
        user = stored_user(provider, login)
        assert user is not None and user.password_hash is None and user.active
    assert stored_user(provider, "S2000002").role == "employee"
    assert stored_user(provider, "S2000003") is None

    again = cli("users", "import", str(path), "--json")
    report = json.loads(again.stdout)
    assert (report["created"], report["unchanged"], len(report["errors"])) == (0, 3, 6)
    assert again.returncode == 1


def test_import_refuses_a_file_without_the_right_header(cli, tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("reg,mail\nS1,a@b.c\n")
    assert_one_line_error(cli("users", "import", str(path)), "header must be registration_number,email,name,role")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert_one_line_error(cli("users", "import", str(empty)), "empty")


def test_import_with_invitations(provider, cli, tmp_path, smtp_server):
    path = tmp_path / "users.csv"
    path.write_text(
        "registration_number,email,name,role\nS2000001,bea@example.edu,Bea Good,student\nS2000002,,No Mail,student\n"
    )
    result = cli(
        "users",
        "import",
        str(path),
        "--invite",
        "--language",
        "de",
        smtp_host="127.0.0.1",
        smtp_port=str(smtp_server.port),
        smtp_security="none",
    )
    assert result.returncode == 1 and "2 created, 0 unchanged, 1 rejected, 1 invited" in result.stdout
    assert "line 3: created, but not invited: the row has no e-mail address" in result.stderr
    [mail] = smtp_server.wait_for("bea@example.edu")
    assert mail["Subject"] == "Ihr SPOM-Login-Konto ist eingerichtet"
    browser = provider.browser()
    page = browser.get(link_in(mail))
    assert "Choose your password" in page.text
    assert set_password_via(browser, link_in(mail)).status_code == 303
    assert signs_in(provider, "S2000001", NEW_PASSWORD)


@pytest.mark.parametrize(
    "password,message",
    [
        ("password123", "too common"),
        ("S1000001-secret", "registration number, name or e-mail"),
        ("short", "at least 8 characters"),
    ],
)
def test_users_create_applies_the_password_policy(cli, password, message):
    result = cli(
        "users",
        "create",
        "--registration-number",
        "S1000001",
        "--name",
        "Ada Lovelace",
        "--password-stdin",
        stdin=password + "\n",
    )
    assert_one_line_error(result, "password refused", message)


def test_mail_retry_sends_what_was_kept(cli, tmp_path, smtp_server):
    from idp.core.mail import Postman

    class Down:
        def send(self, *args):
            raise ConnectionRefusedError("mail server down")

    outbox = tmp_path / "outbox"
    assert not Postman(Down(), outbox / "failed", sender="x@example.edu", attempts=1).deliver(
        "ada@example.edu", "Reset your SPOM Login password", "the link", "<p>the link</p>"
    )
    assert_one_line_error(cli("mail", "retry", outbox_dir=str(outbox)), "no SMTP server configured")
    result = cli(
        "mail",
        "retry",
        "--json",
        outbox_dir=str(outbox),
        smtp_host="127.0.0.1",
        smtp_port=str(smtp_server.port),
        smtp_security="none",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"sent": 1, "failed": 0}
    [mail] = smtp_server.wait_for("ada@example.edu")
    assert mail["Subject"] == "Reset your SPOM Login password"
    assert list((outbox / "failed").glob("*.eml")) == []


def test_sign_out_ends_every_session_revokes_tokens_and_queues_backchannel_logout(provider, cli):
    from idp.http.context import deps
    from idp.storage.sql import logout_deliveries

    provider.create_user()
    browser = provider.browser()
    rp, tokens = issue_tokens(provider, browser)
    with provider.app.app_context(), deps().database.session() as db:
        from idp.storage.sql.models import Client

        db.get(Client, rp.client_id).backchannel_logout_uri = "http://127.0.0.1:9/backchannel"
        db.commit()
    result = cli("users", "sign-out", "S1000001", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"registration_number": "S1000001", "sessions_ended": 1}
    assert "Signed in" not in browser.get("/").text
    refused = rp.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refused.status_code == 400
    with provider.app.app_context(), deps().database.session() as db:
        assert [d.client_id for d in logout_deliveries.list_deliveries(db)] == [rp.client_id]
    assert signs_in(provider)  # the account itself stays usable
    assert "session.ended_by_user" in {e.type for e in provider.audit_events()}
    assert_one_line_error(cli("users", "sign-out", "nobody"), "no user")


# -- the user's language (users.locale) --------------------------------------------------------


def test_users_create_with_a_language_and_show_it(provider, cli):
    created = cli(
        "users",
        "create",
        "--registration-number",
        "S3000001",
        "--locale",
        "de",
        "--password-stdin",
        "--json",
        stdin=PASSWORD + "\n",
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["locale"] == "de" and stored_user(provider, "S3000001").locale == "de"
    shown = cli("users", "show", "s3000001")
    assert shown.returncode == 0, shown.stderr
    assert "language:" in shown.stdout and shown.stdout.split("language:")[1].split()[0] == "de"
    assert json.loads(cli("users", "show", "S3000001", "--json").stdout)["locale"] == "de"
    # The creation is in the audit trail, naming the user, the operator's tool and what was set.
    (created_event,) = json.loads(cli("audit", "list", "--type", "user.created", "--json").stdout)
    assert created_event["details"] == {"source": "cli", "role": "student", "email_verified": False, "locale": "de"}
    assert created_event["registration_number"] == "S3000001"
    plain = cli("users", "create", "--registration-number", "S3000002", "--password-stdin", stdin=PASSWORD + "\n")
    assert plain.returncode == 0 and stored_user(provider, "S3000002").locale is None
    assert "none (pages follow the browser)" in cli("users", "show", "S3000002").stdout
    assert_one_line_error(cli("users", "show", "nobody"), "no user 'nobody'")


@pytest.mark.parametrize("value", ["fr", "de-AT", "english"])
def test_an_unsupported_language_is_a_one_line_error_naming_the_allowed_ones(provider, cli, value):
    create = cli(
        "users",
        "create",
        "--registration-number",
        "S3000001",
        "--locale",
        value,
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert create.returncode == 2
    assert_one_line_error(create, "--locale", "en, de", "none")
    assert stored_user(provider, "S3000001") is None
    provider.create_user()
    assert_one_line_error(cli("users", "set-locale", "S1000001", value), "LOCALE", "en, de", "none")
    assert stored_user(provider).locale is None and provider.audit_events("user.locale_changed") == []


def test_set_locale_sets_and_clears_the_language_and_is_audited(provider, cli):
    provider.create_user()
    result = cli("users", "set-locale", "ada@example.edu", "DE")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "changed: de" and stored_user(provider).locale == "de"
    assert cli("users", "set-locale", "S1000001", "de").stdout.strip() == "unchanged: de"
    cleared = cli("users", "set-locale", "S1000001", "none", "--json")
    assert json.loads(cleared.stdout) == {"registration_number": "S1000001", "locale": None}
    assert stored_user(provider).locale is None
    events = provider.audit_events("user.locale_changed")
    assert [(e.details["locale"], e.details["previous"], e.details["source"]) for e in reversed(events)] == [
        ("de", None, "cli"),
        (None, "de", "cli"),
    ]
    assert_one_line_error(cli("users", "set-locale", "nobody", "de"), "no user 'nobody'")


def test_the_help_names_the_languages(cli):
    for command in (("users", "create"), ("users", "set-locale")):
        result = cli(*command, "--help")
        assert result.returncode == 0 and "(en, de)" in " ".join(result.stdout.split()), result.stdout
    assert "locale" in cli("users", "import", "--help").stdout


def test_import_takes_a_locale_column_and_invites_in_that_language(provider, cli, tmp_path, smtp_server):
    path = tmp_path / "users.csv"
    path.write_text(
        "registration_number,email,name,role,locale\n"
        "S2000001,bea@example.edu,Bea Good,student,de\n"
        "S2000002,cem@example.edu,Cem Good,student,\n"
        "S2000003,dan@example.edu,Dan Bad,student,fr\n"
    )
    smtp = {"smtp_host": "127.0.0.1", "smtp_port": str(smtp_server.port), "smtp_security": "none"}
    result = cli("users", "import", str(path), "--invite", "--language", "en", **smtp)
    assert result.returncode == 1 and "2 created, 0 unchanged, 1 rejected, 2 invited" in result.stdout
    [error] = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert error.startswith("line 4: locale must be one of en, de") and "(got 'fr')" in error
    assert stored_user(provider, "S2000001").locale == "de" and stored_user(provider, "S2000002").locale is None
    assert stored_user(provider, "S2000003") is None
    [german] = smtp_server.wait_for("bea@example.edu")
    [english] = smtp_server.wait_for("cem@example.edu")
    assert german["Subject"] == "Ihr SPOM-Login-Konto ist eingerichtet"
    assert "SPOM Login" in english["Subject"] and english["Subject"] != german["Subject"]
    [imported] = [e for e in provider.audit_events("user.imported") if e.details.get("locale")]
    assert imported.details["locale"] == "de"
