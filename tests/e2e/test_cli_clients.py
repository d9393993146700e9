"""``idp clients …`` for the identity team, run as the real console script."""

from __future__ import annotations

import json

from idp.domain.clients.rules import ADMIN_SCOPE
from idp.storage.sql.clients import find_initial_token, get_client
from tests.support.cli import assert_one_line_error, run

COMMANDS = (
    "create",
    "create-admin",
    "list",
    "show",
    "update",
    "disable",
    "enable",
    "delete",
    "rotate-secret",
    "issue-registration-token",
)


def ok(result) -> dict | list:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_command_has_help():
    from click.testing import CliRunner

    from idp.cli import main

    runner = CliRunner()
    for command in COMMANDS:
        result = runner.invoke(main, ["clients", command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, command
    assert "--grace" in runner.invoke(main, ["clients", "rotate-secret", "--help"]).output


def test_client_lifecycle(env, clean_database):
    created = ok(
        run(env, "clients", "create", "--name", "Library", "--redirect-uri", "https://lib.example.edu/cb", "--json")
    )
    client_id = created["client_id"]
    assert [c["client_id"] for c in ok(run(env, "clients", "list", "--json"))] == [client_id]

    shown = ok(run(env, "clients", "show", client_id, "--json"))
    assert shown["client_name"] == "Library" and shown["active"] and "client_secret" not in shown
    assert created["client_secret"] not in run(env, "clients", "show", client_id).stdout

    updated = ok(
        run(env, "clients", "update", client_id, "--redirect-uri", "https://lib.example.edu/new", "--trusted", "--json")
    )
    assert updated["redirect_uris"] == ["https://lib.example.edu/new"] and updated["trusted"]
    assert_one_line_error(
        run(env, "clients", "update", client_id, "--redirect-uri", "http://lib.example.edu/cb"),
        "redirect_uris",
        "https",
    )
    with clean_database.session() as db:
        assert get_client(db, client_id).redirect_uris == ["https://lib.example.edu/new"]

    assert ok(run(env, "clients", "disable", client_id, "--json")) == {"client_id": client_id, "active": False}
    assert "disabled" in run(env, "clients", "show", client_id).stdout
    assert ok(run(env, "clients", "enable", client_id, "--json"))["active"] is True

    rotated = ok(run(env, "clients", "rotate-secret", client_id, "--grace", "1h", "--json"))
    assert rotated["client_secret"] != created["client_secret"]
    states = {s["state"]: s for s in rotated["secrets"]}
    assert set(states) == {"current", "previous"} and states["previous"]["expires_at"].endswith("Z")
    text = run(env, "clients", "show", client_id).stdout
    assert "secret:         current" in text and "secret:         previous (valid until " in text

    assert ok(run(env, "clients", "delete", client_id, "--json")) == {"client_id": client_id, "deleted": True}
    assert_one_line_error(run(env, "clients", "show", client_id), "no client")
    with clean_database.session() as db:
        assert get_client(db, client_id) is None
        from idp.storage.sql import audit

        events = [e.type for e in audit.list_events(db, audit.EventFilter(client_id=client_id))]
        actors = {e.details.get("actor", "") for e in audit.list_events(db, audit.EventFilter(client_id=client_id))}
    assert set(events) == {
        "client.registered",
        "client.updated",
        "client.disabled",
        "client.enabled",
        "client.secret_rotated",
        "client.deleted",
    }
    assert all(a.startswith("cli") for a in actors)


def test_registration_token_is_printed_once_and_stored_hashed(env, clean_database):
    printed = ok(
        run(
            env,
            "clients",
            "issue-registration-token",
            "--team",
            "Library",
            "--expires",
            "30d",
            "--max-clients",
            "5",
            "--json",
        )
    )
    assert set(printed) == {"token", "expires_at"} and len(printed["token"]) >= 43
    with clean_database.session() as db:
        from sqlalchemy import text

        stored = db.execute(text("SELECT token_hash, team, max_clients FROM initial_access_tokens")).one()
        assert printed["token"] not in stored.token_hash and stored.team == "Library" and stored.max_clients == 5
        assert find_initial_token(db, printed["token"], now=0) is not None
    assert_one_line_error(
        run(env, "clients", "issue-registration-token", "--team", "Library", "--expires", "soon"), "--expires"
    )
    assert_one_line_error(run(env, "clients", "issue-registration-token", "--team", "  "), "team")


def test_admin_client(env, clean_database):
    printed = ok(run(env, "clients", "create-admin", "--name", "Identity automation", "--json"))
    with clean_database.session() as db:
        row = get_client(db, printed["client_id"])
        assert row.scope == ADMIN_SCOPE and row.grant_types == ["client_credentials"] and not row.trusted
    assert_one_line_error(
        run(
            env,
            "clients",
            "create",
            "--name",
            "Sneaky",
            "--redirect-uri",
            "https://x.example.edu/cb",
            "--scope",
            "openid idp:admin",
        ),
        "scope",
    )


def test_errors_are_one_line(env, clean_database):
    assert_one_line_error(run(env, "clients", "rotate-secret", "nope"), "no client")
    public = ok(
        run(env, "clients", "create", "--name", "App", "--public", "--redirect-uri", "edu.example.app:/cb", "--json")
    )
    assert_one_line_error(run(env, "clients", "rotate-secret", public["client_id"]), "does not use a client secret")
    assert_one_line_error(run(env, "clients", "rotate-secret", public["client_id"], "--grace", "1 day"), "--grace")
    assert_one_line_error(
        run(
            env,
            "clients",
            "create",
            "--name",
            "Keys",
            "--redirect-uri",
            "https://k.example.edu/cb",
            "--auth-method",
            "private_key_jwt",
        ),
        "jwks",
    )


def test_identifiers_never_begin_with_a_dash_so_commands_can_take_them():
    from idp.core.tokens import new_id

    assert all(new_id()[0].isalnum() for _ in range(2000))


# -- what app teams need from `create` (issue 16, finding 6) ----------------------------------------


def test_create_json_gives_everything_an_app_team_configures(env):
    env = {**env, "IDP_ISSUER": "http://127.0.0.1:8123"}
    created = ok(
        run(env, "clients", "create", "--name", "Library", "--redirect-uri", "https://lib.example.edu/cb", "--json")
    )
    assert created["issuer"] == env["IDP_ISSUER"]
    assert created["discovery_url"] == env["IDP_ISSUER"] + "/.well-known/openid-configuration"
    assert created["client_id"] and created["client_secret"]
    assert created["redirect_uris"] == ["https://lib.example.edu/cb"]
    assert created["grant_types"] == ["authorization_code", "refresh_token"]
    assert created["token_endpoint_auth_method"] == "client_secret_basic"
    assert created["scope"] == "openid profile email offline_access"
    assert created["allowed_cors_origins"] == []
    text = run(env, "clients", "create", "--name", "Wiki", "--redirect-uri", "https://wiki.example.edu/cb").stdout
    assert f"discovery:     {env['IDP_ISSUER']}/.well-known/openid-configuration" in text


def test_a_client_credentials_only_client_may_have_no_scope(env):
    created = ok(
        run(env, "clients", "create", "--name", "Sync", "--grant-type", "client_credentials", "--scope", "", "--json")
    )
    assert created["scope"] == "" and created["grant_types"] == ["client_credentials"]
    assert_one_line_error(
        run(env, "clients", "create", "--name", "RP", "--redirect-uri", "https://rp.example.edu/cb", "--scope", ""),
        "scope: at least one scope is required for the authorization_code grant",
    )


def test_backchannel_logout_uri_accepts_what_its_help_says(env):
    from click.testing import CliRunner

    from idp.cli import main

    help_text = " ".join(CliRunner().invoke(main, ["clients", "create", "--help"]).output.split())
    assert "a query string is kept" in help_text and "IDP_OUTBOUND_ALLOW" in help_text
    base = ["clients", "create", "--name", "RP", "--redirect-uri", "https://rp.example.edu/cb", "--json"]
    with_query = ok(run(env, *base, "--backchannel-logout-uri", "https://rp.example.edu/bc?tenant=1"))
    assert with_query["backchannel_logout_uri"] == "https://rp.example.edu/bc?tenant=1"
    loopback = "http://127.0.0.1:8001/bc?x=1"
    assert_one_line_error(run(env, *base, "--backchannel-logout-uri", loopback), "backchannel_logout_uri", "https")
    allowed = ok(run({**env, "IDP_OUTBOUND_ALLOW": "127.0.0.1/32"}, *base, "--backchannel-logout-uri", loopback))
    assert allowed["backchannel_logout_uri"] == loopback
