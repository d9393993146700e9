"""``idp keys …``: JSON outputs, one-line errors, and auto-rotate run by many processes at once."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest
from click.testing import CliRunner

from idp.cli import main
from idp.domain.keys import lifecycle as keyring
from idp.storage.sql import audit
from tests.support.cli import IDP, base_env
from tests.support.constants import TEST_KEYS_PASSPHRASE

FIELDS = {"kid", "alg", "state", "created", "activated", "retires_at", "revoked", "removes_at"}


@pytest.fixture
def idp(tmp_path, database_url, fresh_keys, clean_database):
    """Run ``idp`` in-process against the run's database, after ``idp init``."""
    env = {
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        "IDP_DATABASE_URL": database_url,
        "IDP_SECRET_KEY": "s" * 40,
        "IDP_KEYS_PASSPHRASE": TEST_KEYS_PASSPHRASE,
    }

    def run(*args, expect=0, input=None, **overrides):
        environ = {**env, **{f"IDP_{k.upper()}": v for k, v in overrides.items()}}
        result = CliRunner().invoke(main, list(args), env=environ, input=input, catch_exceptions=False)
        assert result.exit_code == expect, (result.stdout, result.stderr)
        return result

    assert "4 signing key(s) created" in run("init").stdout
    return run


def listed(idp) -> list[dict]:
    return json.loads(idp("keys", "list", "--json").stdout)


def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_list_shows_each_key_with_its_lifecycle_times(idp):
    keys = listed(idp)
    assert len(keys) == 4 and all(set(k) == FIELDS for k in keys)
    for k in keys:
        assert (k["activated"] is not None) == (k["state"] == "current")
        assert k["retires_at"] is None and k["removes_at"] is None  # no schedule, nothing retired
    text = idp("keys", "list").stdout.splitlines()
    assert text[0].split() == ["KID", "ALG", "STATE", "CREATED", "ACTIVATED", "RETIRES-AT", "REMOVES-AT"]
    assert len(text) == 5 and all(k["kid"] in idp("keys", "list").stdout for k in keys)


def test_rotate_refuses_a_fresh_next_key_then_forced_rotates_every_family(idp):
    error = one_line_error(idp("keys", "rotate", expect=1))
    # The CLI runs on the real clock: the seconds since ``init`` are whatever this machine took.
    published = re.search(r"published for (\d+)s only", error)
    assert published and int(published.group(1)) < 60 and "--force" in error
    before = {(k["alg"], k["state"]): k["kid"] for k in listed(idp)}
    result = json.loads(idp("keys", "rotate", "--force", "--json").stdout)
    assert result == {
        "rotated": [
            {"alg": "ES256", "current": before[("ES256", "next")]},
            {"alg": "RS256", "current": before[("RS256", "next")]},
        ]
    }
    after = {k["kid"]: k for k in listed(idp)}
    for alg in ("ES256", "RS256"):
        retired = after[before[(alg, "current")]]
        assert retired["state"] == "retired"
        assert retired["removes_at"] == pytest.approx(retired["retires_at"] + 600 + 60)  # token lifetime + skew
    assert sorted(k["state"] for k in after.values()) == ["current", "current", "next", "next", "retired", "retired"]


@pytest.mark.parametrize(
    "args,message",
    [
        (("keys", "rotate", "--alg", "HS256"), "unsupported signing algorithm 'HS256'"),
        (("keys", "rotate", "--alg", "EdDSA"), "no Ed25519 keys to rotate"),
        (("keys", "revoke", "nope", "--reason", "test"), "no signing key with kid 'nope'"),
        (("keys", "revoke", "nope", "--reason", " "), "a reason is required"),
    ],
)
def test_errors_are_one_line(idp, args, message):
    assert message in one_line_error(idp(*args, expect=1))


def test_revoke_needs_a_reason(idp):
    assert "Missing option '--reason'" in idp("keys", "revoke", "x", expect=2).stderr


def test_revoke_takes_the_key_out_of_the_exported_jwks_and_is_audited(idp, fresh_keys):
    kid = next(k["kid"] for k in listed(idp) if k["alg"] == "RS256" and k["state"] == "current")
    exported = json.loads(idp("keys", "export-public").stdout)["keys"]
    assert kid in {k["kid"] for k in exported} and len(exported) == 4
    assert all("d" not in k for k in exported)
    result = json.loads(idp("keys", "revoke", kid, "--reason", "HSM audit finding", "--json").stdout)
    assert result == {"kid": kid, "alg": "RS256", "previous_state": "current", "sessions_ended": 0}
    exported = json.loads(idp("keys", "export-public").stdout)["keys"]
    assert kid not in {k["kid"] for k in exported} and len(exported) == 4  # new current and new next
    with fresh_keys.session() as db:
        event = audit.list_events(db, audit.EventFilter(type=audit.KEY_REVOKED))[0]
    assert event.details["reason"] == "HSM audit finding" and event.details["source"] == "cli"


def test_auto_rotate_creates_missing_keys_and_is_idempotent(idp, fresh_keys):
    from idp.storage.sql.models import StoredKey

    with fresh_keys.engine.begin() as conn:
        conn.execute(StoredKey.__table__.delete())
    first = json.loads(idp("keys", "auto-rotate", "--json").stdout)
    assert len(first["created"]) == 4 and first["rotated"] == [] and first["removed"] == []
    assert json.loads(idp("keys", "auto-rotate", "--json").stdout) == {"created": [], "rotated": [], "removed": []}


def test_keys_commands_on_an_unmigrated_database_say_run_init(tmp_path):
    env = {
        "IDP_INSTANCE_DIR": str(tmp_path),
        "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        "IDP_SECRET_KEY": "s" * 40,
        "IDP_KEYS_PASSPHRASE": TEST_KEYS_PASSPHRASE,
    }
    result = CliRunner().invoke(main, ["keys", "list"], env=env)
    assert result.exit_code == 1
    assert one_line_error(result) == "error: cannot use the database: OperationalError; run `idp init`"


def test_auto_rotate_from_many_processes_at_once_rotates_once(tmp_path, database_url, fresh_keys, clean_database):
    # Keys made two days ago; the schedule says one day: every process finds a rotation due.
    policy = keyring.Policy(
        TEST_KEYS_PASSPHRASE, publication_seconds=86400, rotation_seconds=86400, retention_seconds=660
    )
    with fresh_keys.session() as db:
        keyring.ensure(db, ["RS256", "ES256"], time.time() - 2 * 86400, policy)
        db.commit()
    env = base_env(
        tmp_path,
        database_url=database_url,
        secret_key="s" * 40,
        keys_passphrase=TEST_KEYS_PASSPHRASE,
        key_rotation_days="1",
    )
    processes = [
        subprocess.Popen(
            [IDP, "keys", "auto-rotate", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outputs = []
    for p in processes:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outputs.append(json.loads(out))
    assert sorted(len(o["rotated"]) for o in outputs) == [0, 0, 0, 2]
    with fresh_keys.session() as db:
        states = sorted((k.alg, k.state) for k in db.query(keyring.StoredKey))
    assert states == [
        ("ES256", "current"),
        ("ES256", "next"),
        ("ES256", "retired"),
        ("RS256", "current"),
        ("RS256", "next"),
        ("RS256", "retired"),
    ]


def test_change_passphrase_re_encrypts_every_private_key(idp, fresh_keys):
    from cryptography.hazmat.primitives import serialization

    new = "a brand new passphrase"
    result = idp("keys", "change-passphrase", input=new + "\n")
    assert result.stdout.startswith("4 private key(s) and 0 authenticator-app secret(s) re-encrypted")
    with fresh_keys.session() as db:
        rows = db.query(keyring.StoredKey).all()
    for row in rows:
        serialization.load_pem_private_key(row.private_key.encode(), password=new.encode())
        with pytest.raises(ValueError):
            serialization.load_pem_private_key(row.private_key.encode(), password=TEST_KEYS_PASSPHRASE.encode())
    # The old passphrase no longer opens them: a clear one-line error, nothing changed.
    error = one_line_error(idp("keys", "change-passphrase", input="yet another passphrase\n", expect=1))
    assert "is IDP_KEYS_PASSPHRASE the one it was made with?" in error
    assert idp("keys", "change-passphrase", input=TEST_KEYS_PASSPHRASE + "\n", keys_passphrase=new).exit_code == 0


def test_change_passphrase_needs_a_long_new_passphrase_on_stdin(idp):
    assert "at least 16 characters" in one_line_error(idp("keys", "change-passphrase", input="short\n", expect=1))
    assert "expected on standard input" in one_line_error(idp("keys", "change-passphrase", input="", expect=1))


def test_keys_help_needs_no_configuration(tmp_path):
    for sub in ("list", "rotate", "revoke", "export-public", "auto-rotate", "change-passphrase"):
        result = CliRunner().invoke(main, ["keys", sub, "--help"], env={"IDP_ISSUER": "not a url"})
        assert result.exit_code == 0 and "Usage:" in result.stdout
