"""The ``idp`` console script: most commands in-process through click's CliRunner (``run``), ``init`` and
``serve`` also as the real script in a subprocess, each with its own instance and key folders."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import time

import pytest
import requests

from idp.storage.sql import users as user_repo
from idp.storage.sql.clients import get_client
from tests.support.cli import IDP, PASSWORD, assert_one_line_error, base_env, run
from tests.support.constants import TEST_KEYS_PASSPHRASE
from tests.support.live import free_port

# -- init ------------------------------------------------------------------------------------


def test_init_creates_database_and_encrypted_keys_and_is_idempotent(tmp_path):
    env = base_env(tmp_path)
    first = run(env, "init", script=True)  # the installed console script itself
    assert first.returncode == 0, first.stderr
    assert "4 signing key(s) created" in first.stdout
    assert (tmp_path / "instance" / "idp.sqlite3").is_file()
    secret = tmp_path / "instance" / "secret_key"
    assert secret.is_file() and stat.S_IMODE(secret.stat().st_mode) == 0o600

    passphrase = tmp_path / "instance" / "keys_passphrase"
    assert passphrase.is_file() and stat.S_IMODE(passphrase.stat().st_mode) == 0o600
    listed = json.loads(run(env, "keys", "list", "--json").stdout)
    assert sorted((k["alg"], k["state"]) for k in listed) == [
        ("ES256", "current"),
        ("ES256", "next"),
        ("RS256", "current"),
        ("RS256", "next"),
    ]

    secret_value, passphrase_value = secret.read_text(), passphrase.read_text()
    second = run(env, "init")
    assert second.returncode == 0, second.stderr
    assert "0 signing key(s) created" in second.stdout
    assert json.loads(run(env, "keys", "list", "--json").stdout) == listed
    assert secret.read_text() == secret_value and passphrase.read_text() == passphrase_value
    assert not (tmp_path / "keys").exists()


def test_db_upgrade(tmp_path):
    # Only `idp init` creates the development secrets; other commands ask for it and write nothing.
    result = run(base_env(tmp_path), "db", "upgrade")
    assert_one_line_error(result, "invalid configuration", "IDP_SECRET_KEY: not set", "run `idp init`")
    assert not (tmp_path / "instance").exists()
    result = run(base_env(tmp_path, secret_key="s" * 40, keys_passphrase=TEST_KEYS_PASSPHRASE), "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert (tmp_path / "instance" / "idp.sqlite3").is_file()


def test_invalid_issuer_is_invalid_configuration(tmp_path):
    for issuer in ("http://example.com", "https://login.example.edu/"):
        result = run(base_env(tmp_path, issuer=issuer, secret_key="s" * 40), "init")
        assert_one_line_error(result, "invalid configuration", "IDP_ISSUER")
    assert not (tmp_path / "keys").exists()


def test_non_integer_setting_is_invalid_configuration(tmp_path):
    result = run(base_env(tmp_path, code_seconds="sixty"), "init")
    assert_one_line_error(result, "invalid configuration", "IDP_CODE_SECONDS")


def test_help_needs_no_configuration(tmp_path):
    env = base_env(tmp_path, issuer="not a url")
    for args in (["--help"], ["users", "create", "--help"], ["clients", "create", "--help"], ["serve", "--help"]):
        result = run(env, *args)
        assert result.returncode == 0, result.stderr
        assert "Usage:" in result.stdout


def test_usage_errors_are_one_line_with_exit_status_2(tmp_path):
    env = base_env(tmp_path)
    cases = [
        (["users", "create"], "Missing option '--registration-number'", "idp users create --help"),
        (["nope"], "No such command 'nope'", "idp --help"),
        (["keys", "revoke", "x"], "Missing option '--reason'", "idp keys revoke --help"),
        (["clients", "create", "--name", "x", "--auth-method", "magic"], "'magic' is not one of", ""),
        (["--bogus"], "No such option", "--bogus"),
    ]
    for args, *fragments in cases:
        result = run(env, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert_one_line_error(result, *fragments)
        assert result.stdout == ""


# -- users -------------------------------------------------------------------------------------


def test_users_create_reads_password_from_stdin(env, clean_database):
    result = run(
        env,
        "users",
        "create",
        "--registration-number",
        "s1000001",
        "--email",
        "Ada@Example.edu",
        "--name",
        "Ada Lovelace",
        "--role",
        "employee",
        "--password-stdin",
        "--json",
        stdin=PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["registration_number"] == "s1000001" and created["role"] == "employee"
    assert PASSWORD not in result.stdout + result.stderr

    with clean_database.session() as db:
        user = user_repo.get_user_by_login(db, "ada@example.edu")
        assert user is not None and user.sub == created["sub"]
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


def test_duplicate_user_is_a_one_line_error(env):
    args = ["users", "create", "--registration-number", "S1000001", "--password-stdin"]
    assert run(env, *args, stdin=PASSWORD).returncode == 0
    assert_one_line_error(run(env, *args, stdin=PASSWORD), "already exists")
    # The same registration number in another case is the same user.
    assert_one_line_error(
        run(env, "users", "create", "--registration-number", "s1000001", "--password-stdin", stdin=PASSWORD),
        "already exists",
    )


def test_missing_password_is_an_error(env, clean_database):
    assert_one_line_error(run(env, "users", "create", "--registration-number", "S1000002"), "password")
    assert_one_line_error(
        run(env, "users", "create", "--registration-number", "S1000002", "--password-stdin", stdin=""), "password"
    )
    assert_one_line_error(
        run(env, "users", "create", "--registration-number", "S1000002", "--password-stdin", stdin="short\n"),
        "password",
    )
    with clean_database.session() as db:
        assert user_repo.get_user_by_login(db, "S1000002") is None


# -- clients -----------------------------------------------------------------------------------


def test_clients_create_json_prints_what_an_rp_library_needs(env, clean_database):
    result = run(
        env,
        "clients",
        "create",
        "--name",
        "SPOM Dashboard",
        "--redirect-uri",
        "https://spom.example.edu/callback",
        "--post-logout-redirect-uri",
        "https://spom.example.edu/",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    # Everything an RP library is configured with (issue 16): issuer, discovery, the registered metadata.
    issuer = env.get("IDP_ISSUER", "http://127.0.0.1:8000")
    assert printed["issuer"] == issuer
    assert printed["discovery_url"] == issuer + "/.well-known/openid-configuration"
    assert printed["redirect_uris"] == ["https://spom.example.edu/callback"]
    assert printed["post_logout_redirect_uris"] == ["https://spom.example.edu/"]
    assert printed["token_endpoint_auth_method"] == "client_secret_basic"
    assert len(printed["client_secret"]) >= 43
    with clean_database.session() as db:
        row = get_client(db, printed["client_id"])
        assert row.redirect_uris == ["https://spom.example.edu/callback"]
        assert row.post_logout_redirect_uris == ["https://spom.example.edu/"]
        assert row.secret_hash and printed["client_secret"] not in row.secret_hash
        assert not row.public


def test_public_client_has_no_secret(env, clean_database):
    result = run(
        env,
        "clients",
        "create",
        "--name",
        "Mobile app",
        "--public",
        "--redirect-uri",
        "edu.example.app:/callback",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert "client_secret" not in printed and printed["token_endpoint_auth_method"] == "none"
    with clean_database.session() as db:
        row = get_client(db, printed["client_id"])
        assert row.public and row.secret_hash is None and row.token_endpoint_auth_method == "none"

    text = run(
        env, "clients", "create", "--name", "Mobile app 2", "--public", "--redirect-uri", "http://127.0.0.1:8765/cb"
    )
    assert text.returncode == 0 and "client_id:" in text.stdout and "client_secret" not in text.stdout


def test_service_client(env, clean_database):
    result = run(
        env,
        "clients",
        "create",
        "--name",
        "Sync",
        "--grant-type",
        "client_credentials",
        "--scope",
        "api.read",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    with clean_database.session() as db:
        row = get_client(db, json.loads(result.stdout)["client_id"])
        assert row.grant_types == ["client_credentials"] and row.scope == "api.read"


@pytest.mark.parametrize(
    "uri,fragment",
    [
        ("http://example.com/cb", "https"),
        ("https://rp.example.edu/cb#section", "fragment"),
        ("https://*.example.edu/cb", "wildcard"),
        ("/relative/cb", "absolute"),
    ],
)
def test_invalid_redirect_uri_is_a_one_line_error(env, clean_database, uri, fragment):
    result = run(env, "clients", "create", "--name", "Bad RP", "--redirect-uri", uri, "--json")
    assert_one_line_error(result, fragment)
    assert result.stdout == ""


def test_code_client_needs_a_redirect_uri(env):
    assert_one_line_error(run(env, "clients", "create", "--name", "No URI"), "redirect_uris")


# -- serve -------------------------------------------------------------------------------------


def test_serve_answers_and_stops_on_sigterm(tmp_path):
    port = free_port()
    env = base_env(tmp_path, issuer=f"http://127.0.0.1:{port}")
    assert run(env, "init").returncode == 0
    process = subprocess.Popen(
        [IDP, "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        document = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration", timeout=2)
                if response.status_code == 200:
                    document = response.json()
                    break
            except requests.RequestException:  # not listening yet, or still booting
                pass
            time.sleep(0.2)
        assert process.poll() is None, process.communicate(timeout=5)
        assert document is not None, "the provider did not answer within 30 s"
        assert document["issuer"] == f"http://127.0.0.1:{port}"
        assert document["token_endpoint"] == f"http://127.0.0.1:{port}/token"
        assert requests.get(f"http://127.0.0.1:{port}/jwks.json", timeout=2).json()["keys"]

        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert f"http://127.0.0.1:{port}" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_serve_refuses_invalid_configuration(tmp_path):
    result = run(base_env(tmp_path, issuer="http://example.com"), "serve", "--port", str(free_port()))
    assert_one_line_error(result, "invalid configuration")


def test_clients_create_with_backchannel_logout_uri(env, clean_database):
    result = run(
        env,
        "clients",
        "create",
        "--name",
        "Supplier Portal",
        "--redirect-uri",
        "https://suppliers.example.edu/callback",
        "--backchannel-logout-uri",
        "https://suppliers.example.edu/backchannel-logout",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    with clean_database.session() as db:
        row = get_client(db, json.loads(result.stdout)["client_id"])
        assert row.backchannel_logout_uri == "https://suppliers.example.edu/backchannel-logout"
    assert_one_line_error(
        run(
            env,
            "clients",
            "create",
            "--name",
            "Bad",
            "--redirect-uri",
            "https://suppliers.example.edu/callback",
            "--backchannel-logout-uri",
            "http://suppliers.example.edu/bcl",
        ),
        "backchannel_logout_uri",
    )
