"""Console roles from the command line (issue 20): ``idp users roles | grant-role | revoke-role | staff``
and ``idp clients create-console``, run as the ``idp`` script on the provider's database. Roles are
data, audited in the transaction that changes them; a bad role is a one-line error."""

from __future__ import annotations

import json

import requests

from tests.support.cli import assert_one_line_error


def test_grant_list_and_revoke_console_roles_each_audited(provider, cli):
    provider.create_user()
    assert cli("users", "roles", "S1000001").stdout.strip() == "console roles of S1000001: none"
    granted = cli("users", "grant-role", "ada@example.edu", "team:Timetable team")
    assert granted.returncode == 0, granted.stderr
    assert granted.stdout.strip() == "S1000001 now holds team:Timetable team"
    assert cli("users", "grant-role", "S1000001", "idp:security").returncode == 0
    again = cli("users", "grant-role", "S1000001", "idp:security")
    assert again.stdout.strip() == "S1000001 already held idp:security"
    listed = json.loads(cli("users", "roles", "S1000001", "--json").stdout)
    assert listed == {"registration_number": "S1000001", "roles": ["idp:security", "team:Timetable team"]}
    assert json.loads(cli("users", "staff", "idp:security", "--json").stdout) == ["S1000001"]

    revoked = cli("users", "revoke-role", "S1000001", "idp:security")
    assert revoked.returncode == 0 and revoked.stdout.strip() == "S1000001 no longer holds idp:security"
    assert cli("users", "staff", "idp:security").stdout.strip() == "no one holds idp:security"
    granted_events = provider.audit_events("user.role_granted")
    assert sorted((e.details["role"], e.details["source"]) for e in granted_events) == [
        ("idp:security", "cli"),
        ("team:Timetable team", "cli"),
    ]  # the second grant of idp:security wrote nothing
    assert [e.details["role"] for e in provider.audit_events("user.role_revoked")] == ["idp:security"]


def test_bad_roles_and_unknown_users_are_one_line_errors(provider, cli):
    provider.create_user()
    provider.create_user(registration_number="S1000002", email="off@example.edu", active=False)
    assert_one_line_error(cli("users", "grant-role", "S1000001", "admin"), "a role is idp:admin")
    assert_one_line_error(cli("users", "grant-role", "S1000001", "team:"), "team name")
    assert_one_line_error(cli("users", "grant-role", "S9999999", "idp:admin"), "no user 'S9999999'")
    assert_one_line_error(cli("users", "grant-role", "S1000002", "idp:admin"), "is disabled")
    assert_one_line_error(cli("users", "revoke-role", "S1000001", "idp:admin"), "does not hold idp:admin")
    assert provider.audit_events("user.role_granted") == []


def test_create_console_registers_a_trusted_mfa_client_with_the_console_scope(provider, cli):
    result = cli("clients", "create-console", "--base-url", "https://console.example.edu/", "--json")
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    shown = json.loads(cli("clients", "show", created["client_id"], "--json").stdout)
    assert shown["client_name"] == "SPOM Login console" and shown["trusted"] is True
    assert shown["scope"] == "openid profile idp:console"
    assert shown["default_acr_values"] == ["urn:spom:acr:mfa"]
    assert shown["redirect_uris"] == ["https://console.example.edu/callback"]
    assert shown["backchannel_logout_uri"] == "https://console.example.edu/backchannel-logout"
    assert len(created["client_secret"]) >= 32


def test_the_console_scope_cannot_be_given_to_any_other_client(provider, cli):
    # Not to a client that is not trusted, nor to a service client, nor through /register.
    shadow = ("clients", "create", "--name", "Shadow", "--redirect-uri", "https://x.example.edu/cb")
    assert_one_line_error(cli(*shadow, "--scope", "openid idp:console"), "idp:console is only for the console")
    token = json.loads(cli("clients", "issue-registration-token", "--team", "alpha", "--json").stdout)["token"]
    response = requests.post(
        provider.url + "/register",
        json={"redirect_uris": ["https://x.example.edu/cb"], "scope": "openid idp:console"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_client_metadata"
