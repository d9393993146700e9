"""``idp throttle`` and ``idp audit``, run as the real console script against the test database
and the real Redis (own key prefix)."""

from __future__ import annotations

import json
import time

import pytest

from idp.core.clock import SystemClock
from idp.core.settings import ServerSettings, Settings, StorageSettings
from idp.storage.sql import audit
from idp.storage.sql.models import AuditEvent
from idp.storage.throttle.core import Policy
from idp.storage.throttle.redis import RedisThrottle
from tests.support.cli import PASSWORD, assert_one_line_error, base_env, run
from tests.support.constants import REDIS_URL, TEST_KEYS_PASSPHRASE

SECRET = "s" * 40


@pytest.fixture
def env(tmp_path, database_url, clean_database, redis_prefix):
    # Same keys passphrase as the run's providers: `idp init` on an empty key table (after a test
    # that emptied it) must not make keys the rest of the run cannot open.
    env = base_env(
        tmp_path,
        database_url=database_url,
        secret_key=SECRET,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        keys_passphrase=TEST_KEYS_PASSPHRASE,
    )
    assert run(env, "init").returncode == 0
    created = run(
        env,
        "users",
        "create",
        "--registration-number",
        "S1000001",
        "--email",
        "ada@example.edu",
        "--password-stdin",
        "--json",
        stdin=PASSWORD + "\n",
    )
    assert created.returncode == 0, created.stderr
    return env


def server_throttle(env):
    """The counters as a provider with these settings sees them (same Redis, prefix and secret)."""
    settings = Settings(
        server=ServerSettings(secret_key=SECRET),
        storage=StorageSettings(redis_url=REDIS_URL, redis_prefix=env["IDP_REDIS_PREFIX"]),
    )
    return RedisThrottle(
        REDIS_URL, Policy.from_settings(settings), SystemClock(), SECRET, prefix=settings.storage.redis_prefix
    )


def user_id(database):
    from sqlalchemy import text

    with database.engine.connect() as conn:
        return conn.execute(text("SELECT id FROM users WHERE registration_number_norm = 'S1000001'")).scalar_one()


def test_throttle_status_and_clear_by_user(env, clean_database):
    throttle = server_throttle(env)
    key = f"user:{user_id(clean_database)}"
    for _ in range(5):
        throttle.check(key, "203.0.113.9")
        throttle.record_failure(key, "203.0.113.9")
    status = run(env, "throttle", "status", "--user", "ada@example.edu", "--json")
    assert status.returncode == 0, status.stderr
    account = json.loads(status.stdout)["account"]
    assert account["failures"] == 5 and 28 <= account["retry_after"] <= 30
    text = run(env, "throttle", "status", "--user", "S1000001").stdout
    assert "account S1000001: 5 counted attempts, next attempt in" in text

    cleared = run(env, "throttle", "clear", "--user", "s1000001")
    assert cleared.returncode == 0 and cleared.stdout.startswith("cleared 1 counter(s) for account s1000001")
    throttle.check(key, "203.0.113.9")  # allowed again at once


def test_throttle_status_and_clear_by_ip(env):
    throttle = server_throttle(env)
    for i in range(3):
        throttle.check(f"user:{i}", "203.0.113.9")
    status = json.loads(run(env, "throttle", "status", "--ip", "203.0.113.9", "--json").stdout)
    assert status["ip"]["limits"]["login_ip"] == {"remaining": 97, "limit": 100, "retry_after": 0}
    assert "login_ip 97/100 left" in run(env, "throttle", "status", "--ip", "203.0.113.9").stdout
    assert run(env, "throttle", "clear", "--ip", "203.0.113.9").stdout.startswith("cleared 1 counter(s) for ip")
    status = json.loads(run(env, "throttle", "status", "--ip", "203.0.113.9", "--json").stdout)
    assert status["ip"]["limits"]["login_ip"]["remaining"] == 100


@pytest.mark.parametrize(
    "args,message",
    [
        (("status",), "give --user and/or --ip"),
        (("clear", "--ip", "not-an-ip"), "--ip: 'not-an-ip' is not an IP address"),
    ],
)
def test_throttle_usage_errors(env, args, message):
    assert_one_line_error(run(env, "throttle", *args), message)


def test_throttle_needs_redis(env):
    env = {**env, "IDP_REDIS_URL": ""}
    assert_one_line_error(run(env, "throttle", "status", "--user", "S1000001"), "IDP_REDIS_URL is not set")


def test_throttle_with_redis_unreachable_is_a_one_line_error(env):
    from tests.support.live import free_port

    env = {**env, "IDP_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    assert_one_line_error(run(env, "throttle", "clear", "--user", "S1000001"), "cannot reach Redis")


def add_events(database, now: float):
    """The trail holds exactly these three events (the setup's own, e.g. ``user.created``, are removed)."""
    with database.sessionmaker() as db:
        db.query(AuditEvent).delete()
        uid = db.execute(
            __import__("sqlalchemy").text("SELECT id FROM users WHERE registration_number_norm = 'S1000001'")
        ).scalar_one()
        audit.record(db, audit.LOGIN_FAILURE, now=now - 400 * 86400, user_id=uid, ip="192.0.2.1", reason="bad_password")
        audit.record(db, audit.LOGIN_FAILURE, now=now - 86400, user_id=None, ip="203.0.113.9", reason="unknown_user")
        audit.record(
            db, audit.LOGIN_SUCCESS, now=now - 60, user_id=uid, ip="203.0.113.9", user_agent="Firefox", request_id="r-1"
        )
        db.commit()


def test_audit_list_filters_and_json(env, clean_database):
    now = time.time()
    add_events(clean_database, now)
    listed = run(env, "audit", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    everything = json.loads(listed.stdout)
    assert [e["type"] for e in everything] == ["login.success", "login.failure", "login.failure"]
    newest = everything[0]
    assert newest["registration_number"] == "S1000001" and newest["request_id"] == "r-1"
    assert newest["time"].endswith("Z")

    by_user = json.loads(run(env, "audit", "list", "--user", "ada@example.edu", "--json").stdout)
    assert len(by_user) == 2
    by_ip = json.loads(run(env, "audit", "list", "--ip", "203.0.113.9", "--type", "login.failure", "--json").stdout)
    assert [e["details"]["reason"] for e in by_ip] == ["unknown_user"]
    since = time.strftime("%Y-%m-%d", time.gmtime(now - 30 * 86400))
    assert len(json.loads(run(env, "audit", "list", "--since", since, "--json").stdout)) == 2
    lines = run(env, "audit", "list", "--limit", "1").stdout.splitlines()
    assert len(lines) == 2 and lines[0].split() == ["TIME", "TYPE", "USER", "IP", "CLIENT", "DETAILS"]
    assert lines[1].split()[1:4] == ["login.success", "S1000001", "203.0.113.9"]
    assert lines[1].index("login.success") == lines[0].index("TYPE")  # the header names each column
    table = run(env, "audit", "list").stdout.splitlines()
    ip_column = table[0].index("IP")
    assert [line[ip_column:].split()[0] for line in table[1:]] == ["203.0.113.9", "203.0.113.9", "192.0.2.1"]


@pytest.mark.parametrize(
    "args,message",
    [
        (("list", "--user", "S404"), "no user with registration number or e-mail 'S404'"),
        (("list", "--since", "yesterday"), "--since: 'yesterday' is not a date"),
    ],
)
def test_audit_usage_errors(env, args, message):
    assert_one_line_error(run(env, "audit", *args), message)


def test_audit_export_jsonl(env, clean_database, tmp_path):
    add_events(clean_database, time.time())
    lines = run(env, "audit", "export", "--format", "jsonl").stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["type"] for r in rows] == ["login.failure", "login.failure", "login.success"]  # oldest first
    out = tmp_path / "audit.jsonl"
    assert (
        run(env, "audit", "export", "--format", "jsonl", "--type", "login.success", "--output", str(out)).returncode
        == 0
    )
    assert [json.loads(line)["request_id"] for line in out.read_text().splitlines()] == ["r-1"]


def test_audit_prune_keeps_the_retention_period(env, clean_database):
    add_events(clean_database, time.time())
    result = run(env, "audit", "prune", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["deleted"] == 1
    with clean_database.sessionmaker() as db:
        assert db.query(AuditEvent).count() == 2
    short = run({**env, "IDP_AUDIT_RETENTION_DAYS": "0"}, "audit", "prune")
    assert_one_line_error(short, "IDP_AUDIT_RETENTION_DAYS: must be positive")
    assert run({**env, "IDP_AUDIT_RETENTION_DAYS": "1"}, "audit", "prune").stdout.startswith("deleted 1 audit event(s)")
