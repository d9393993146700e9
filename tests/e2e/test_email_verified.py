"""``email_verified`` tells the truth (OIDC Core §5.1): set when the institution assigned the address
(``--email-verified`` on create and import) or when the user completes a link e-mailed to it (reset,
invitation, device approval); not by a link the helpdesk handed over; cleared when the address changes."""

from __future__ import annotations

import json

import requests

from tests.e2e.test_cli_users import NEW_PASSWORD, set_password_via
from tests.e2e.test_device_approval import (  # noqa: F401
    approve,
    ask_for_link,
    device_link_in,
    hasher,
    site,
    throttled_owner,
)
from tests.e2e.test_password_reset import ADA, request_reset
from tests.support.helpers import PASSWORD, bearer, decode_id_token, stored_user
from tests.support.mailserver import link_in
from tests.support.registration_helpers import admin_token

SCOPE = "openid email offline_access"


def claims_now(provider, password=PASSWORD) -> tuple[bool, bool]:
    """``email_verified`` in a fresh ID token and at /userinfo, for the user as stored now."""
    rp = provider.create_client()
    token = rp.exchange(rp.sign_in(provider.browser(), scope=SCOPE, password=password))
    id_claims = decode_id_token(provider, token["id_token"])[1]
    info = requests.get(provider.url + "/userinfo", headers=bearer(token["access_token"]), timeout=5).json()
    assert id_claims["email"] == info["email"]
    return id_claims["email_verified"], info["email_verified"]


def test_an_unconfirmed_address_is_false_and_an_assigned_one_true(provider):
    provider.create_user()
    provider.create_user(registration_number="S1000002", email="bea@example.edu", email_verified=True)

    assert claims_now(provider) == (False, False)
    browser = provider.browser()
    bea = provider.create_client(name="Bea's app")
    token = bea.exchange(bea.sign_in(browser, scope=SCOPE, username="S1000002"))
    assert decode_id_token(provider, token["id_token"])[1]["email_verified"] is True


def test_a_mailed_reset_link_verifies_the_address(mail_provider, smtp_server):
    provider = mail_provider()
    provider.create_user()
    request_reset(provider.browser())
    [mail] = smtp_server.wait_for(ADA)

    assert set_password_via(provider.browser(), link_in(mail)).status_code == 303

    assert stored_user(provider).email_verified
    [event] = provider.audit_events("user.email_verified")
    assert (event.user_id, event.details) == (stored_user(provider).id, {"via": "reset"})
    assert claims_now(provider, NEW_PASSWORD) == (True, True)


def test_a_helpdesk_link_proves_nothing_about_the_address(provider):
    provider.create_user()
    with provider.transaction() as db:
        from idp.storage.sql.users import get_user_by_login

        link = provider.accounts(db).reset_link_for_helpdesk(get_user_by_login(db, "S1000001"))

    assert set_password_via(provider.browser(), link).status_code == 303

    assert not stored_user(provider).email_verified
    assert provider.audit_events("user.email_verified") == []


def test_a_link_mailed_before_the_address_changed_proves_nothing(mail_provider, smtp_server, cli):
    provider = mail_provider()
    provider.create_user()
    request_reset(provider.browser())
    [mail] = smtp_server.wait_for(ADA)
    assert cli("users", "set-email", "S1000001", "ada.new@example.edu").returncode == 0

    assert set_password_via(provider.browser(), link_in(mail)).status_code == 303

    assert not stored_user(provider, "S1000001").email_verified


def test_device_approval_verifies_the_address(site, smtp_server):
    owner, page = throttled_owner(site)
    ask_for_link(owner, page, headers={"X-Forwarded-For": "198.51.100.7"})
    [mail] = smtp_server.wait_for(ADA)
    assert not stored_user(site).email_verified

    approve(owner, device_link_in(mail), headers={"X-Forwarded-For": "198.51.100.7"})

    assert stored_user(site).email_verified
    assert [e.details for e in site.audit_events("user.email_verified")] == [{"via": "device"}]


def test_changing_the_address_clears_the_flag_and_is_audited(provider, cli):
    provider.create_user(email_verified=True)

    result = cli("users", "set-email", "S1000001", "ada@newmail.example.edu", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "registration_number": "S1000001",
        "email": "ada@newmail.example.edu",
        "email_verified": False,
    }
    assert claims_now(provider) == (False, False)
    [event] = provider.audit_events("user.email_changed")
    assert event.details == {"email_verified": False, "source": "cli"}
    # The institution confirms it: the same address, now verified.
    assert "verified" in cli("users", "set-email", "S1000001", "ada@newmail.example.edu", "--email-verified").stdout
    assert stored_user(provider, "S1000001").email_verified
    assert [e.details for e in provider.audit_events("user.email_verified")] == [{"via": "operator", "source": "cli"}]


def test_set_email_refuses_bad_input(provider, cli):
    provider.create_user()
    provider.create_user(registration_number="S1000002", email="bea@example.edu")
    taken = cli("users", "set-email", "S1000001", "BEA@example.edu")
    assert taken.returncode != 0 and "already exists" in taken.stderr
    assert cli("users", "set-email", "S1000001", "not-an-address").returncode != 0
    assert cli("users", "set-email", "S9999999", "x@example.edu").returncode != 0
    assert stored_user(provider, "S1000001").email == ADA


def test_create_with_email_verified(provider, cli):
    password = "lantern orchard velvet compass"
    created = cli(
        "users",
        "create",
        "--registration-number",
        "S3000001",
        "--email",
        "cy@example.edu",
        "--email-verified",
        "--password-stdin",
        "--json",
        stdin=password + "\n",
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["email_verified"] is True
    plain = cli(
        "users",
        "create",
        "--registration-number",
        "S3000002",
        "--email",
        "di@example.edu",
        "--password-stdin",
        "--json",
        stdin=password + "\n",
    )
    assert json.loads(plain.stdout)["email_verified"] is False
    refused = cli(
        "users",
        "create",
        "--registration-number",
        "S3000003",
        "--email-verified",
        "--password-stdin",
        stdin=password + "\n",
    )
    assert refused.returncode != 0 and "--email-verified needs --email" in refused.stderr


def test_import_flag_column_and_invitation(provider, cli, tmp_path, smtp_server):
    path = tmp_path / "users.csv"
    path.write_text(
        "registration_number,email,name,role,email_verified\n"
        "S4000001,ed@example.edu,Ed,student,\n"
        "S4000002,flo@example.edu,Flo,student,no\n"
        "S4000003,gil@example.edu,Gil,student,yes\n"
        "S4000004,,Hal,student,yes\n"
        "S4000005,ivy@example.edu,Ivy,student,maybe\n"
    )
    result = cli("users", "import", str(path), "--email-verified", "--json")

    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["created"] == 3
    assert [e["line"] for e in report["errors"]] == [5, 6]
    assert "email_verified needs an e-mail address" in report["errors"][0]["error"]
    assert "email_verified must be yes or no" in report["errors"][1]["error"]
    verified = {n: stored_user(provider, n).email_verified for n in ("S4000001", "S4000002", "S4000003")}
    assert verified == {"S4000001": True, "S4000002": False, "S4000003": True}
    assert [e.details["email_verified"] for e in provider.audit_events("user.imported")] == [True, False, True]

    # Without the flag or the column, an invitation link completed verifies the address.
    path.write_text("registration_number,email,name,role\nS4000009,jo@example.edu,Jo,student\n")
    invited = cli(
        "users",
        "import",
        str(path),
        "--invite",
        smtp_host="127.0.0.1",
        smtp_port=str(smtp_server.port),
        smtp_security="none",
    )
    assert invited.returncode == 0, invited.stderr
    assert not stored_user(provider, "S4000009").email_verified
    [mail] = smtp_server.wait_for("jo@example.edu")
    assert set_password_via(provider.browser(), link_in(mail)).status_code == 303
    assert stored_user(provider, "S4000009").email_verified


def test_the_admin_api_reports_it(provider):
    provider.create_user(email_verified=True)
    token = admin_token(provider)

    users = requests.get(provider.url + "/admin/api/users", headers=bearer(token), timeout=5).json()

    assert [u["email_verified"] for u in users["users"]] == [True]
