"""``make demo``: seeding is idempotent (users, console roles, clients and their teams), and the launcher
runs four servers (provider, dashboard, portal, console) that one Ctrl-C stops."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import requests

from tests.support.cli import run
from tests.support.live import free_port


def demo_env(tmp_path) -> dict:
    return {
        **os.environ,
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        "IDP_ARGON2_MEMORY_KIB": "1024",
        "IDP_ARGON2_TIME_COST": "1",
    }


def run_demo(env, *args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "idp.demo", *args], env=env, capture_output=True, text=True, timeout=120, **kw
    )


def test_seeding_twice_keeps_the_same_users_and_clients(tmp_path):
    env = demo_env(tmp_path)
    assert run(env, "init").returncode == 0  # in process: the demo's own runs are the subprocesses under test
    first = run_demo(env, "--seed-only")
    assert first.returncode == 0, first.stderr
    creds = json.loads((tmp_path / "instance" / "demo_clients.json").read_text())
    second = run_demo(env, "--seed-only")
    assert second.returncode == 0, second.stderr
    assert json.loads((tmp_path / "instance" / "demo_clients.json").read_text()) == creds
    # A user may have changed the password since the first run: the second run says so.
    assert "Password for every demo user: spom-demo-password\n" in first.stdout
    assert "Password for every demo user: spom-demo-password (unless changed)\n" in second.stdout
    assert set(creds) == {"dashboard", "portal", "console"}
    assert "employees need a second step" in second.stdout
    assert run(env, "users", "roles", "E2000010").stdout.strip() == "console roles of E2000010: idp:admin"
    assert run(env, "users", "roles", "E2000011").stdout.strip() == "console roles of E2000011: idp:security"
    assert run(env, "users", "roles", "E2000012").stdout.strip() == "console roles of E2000012: team:dashboard"
    console = json.loads(run(env, "clients", "show", creds["console"]["client_id"], "--json").stdout)
    assert "idp:console" in console["scope"].split() and console["default_acr_values"] == ["urn:spom:acr:mfa"]
    dashboard = json.loads(run(env, "clients", "show", creds["dashboard"]["client_id"], "--json").stdout)
    assert dashboard["team"] == "dashboard"
    for text in (
        "S1000001",
        "E2000001",
        "V3000001",
        "spom-demo-password",
        "http://127.0.0.1:8001",
        "http://127.0.0.1:8002",
        "http://127.0.0.1:8003",
        "E2000010",
        "E2000011",
        "E2000012",
        creds["dashboard"]["client_id"],
    ):
        assert text in second.stdout
    assert oct((tmp_path / "instance" / "demo_clients.json").stat().st_mode & 0o777) == "0o600"


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_one_interrupt_stops_all_four_servers(tmp_path):
    env = demo_env(tmp_path)
    assert run(env, "init").returncode == 0
    ports = [free_port(), free_port(), free_port(), free_port()]
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "idp.demo",
                "--provider-port",
                str(ports[0]),
                "--dashboard-port",
                str(ports[1]),
                "--portal-port",
                str(ports[2]),
                "--console-port",
                str(ports[3]),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not all(listening(p) for p in ports):  # waiting for four processes to start, not for a timer
            assert proc.poll() is None and time.monotonic() < deadline, "the demo did not start"
            time.sleep(0.1)
        discovery = requests.get(f"http://127.0.0.1:{ports[0]}/.well-known/openid-configuration", timeout=10)
        # A host name, so that browsers accept it as the passkeys' RP ID (an IP address is refused).
        assert discovery.json()["issuer"] == f"http://localhost:{ports[0]}"
        for app_port in ports[1:]:
            response = requests.get(f"http://127.0.0.1:{app_port}/", allow_redirects=False, timeout=10)
            assert response.status_code == 302 and "/login" in response.headers["Location"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        text = log.read_text()
        assert "demo: stopped" in text
        assert "Booting worker" not in text and "Listening at" not in text  # server lines stay quiet
        assert not any(listening(p) for p in ports)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
