"""The deployment's scripts run for real (deploy/tls/self_signed.py, deploy/register_clients.py against the
test database); the deployment files themselves are checked in tests/unit/test_deploy.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.constants import ROOT


def test_the_self_signed_certificate_is_made_once(tmp_path):
    import subprocess
    import sys

    script = ROOT / "deploy" / "tls" / "self_signed.py"
    first = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "login.example.edu"], capture_output=True, text=True, check=True
    )
    assert "written" in first.stdout
    cert = (tmp_path / "tls.crt").read_bytes()
    assert (tmp_path / "tls.key").stat().st_mode & 0o077 == 0
    again = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "login.example.edu"], capture_output=True, text=True, check=True
    )
    assert "keeping it" in again.stdout and (tmp_path / "tls.crt").read_bytes() == cert
    # Public roots plus this certificate, for IDP_OUTBOUND_CA_FILE and REQUESTS_CA_BUNDLE in the containers.
    bundle = (tmp_path / "ca-bundle.pem").read_bytes()
    assert bundle.endswith(cert) and bundle.count(b"BEGIN CERTIFICATE") > 1


def test_register_clients_script_registers_once_and_the_app_reads_its_file(tmp_path, database_url, clean_database):
    """deploy/register_clients.py against a real database, run twice; RPConfig reads what it wrote."""
    import json
    import os
    import subprocess
    import sys

    from clients.common.config import RPConfig
    from clients.dashboard import DEFAULTS
    from tests.support.constants import TEST_KEYS_PASSPHRASE

    env = {
        **os.environ,
        "IDP_DATABASE_URL": database_url,
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        "IDP_KEYS_PASSPHRASE": TEST_KEYS_PASSPHRASE,
        "IDP_SECRET_KEY": "k" * 40,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    args = [
        sys.executable,
        str(ROOT / "deploy" / "register_clients.py"),
        str(tmp_path / "clients"),
        "dashboard=https://login.example.edu:8443",
    ]
    first = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    path = tmp_path / "clients" / "dashboard.json"
    credentials = json.loads(path.read_text())
    assert path.stat().st_mode & 0o077 == 0
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "keeping it" in again.stdout
    assert json.loads(path.read_text()) == credentials
    shown = subprocess.run(
        ["idp", "clients", "show", credentials["client_id"], "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    client = json.loads(shown.stdout)
    assert client["backchannel_logout_uri"] == "https://login.example.edu:8443/backchannel-logout"
    assert client["redirect_uris"] == ["https://login.example.edu:8443/callback"]
    config = RPConfig.from_env("DASHBOARD", DEFAULTS, {"DASHBOARD_CLIENT_FILE": str(path), "DASHBOARD_SECRET_KEY": "s"})
    assert (config.client_id, config.client_secret) == (credentials["client_id"], credentials["client_secret"])
    bad = tmp_path / "missing.json"
    with pytest.raises(ValueError, match="DASHBOARD_CLIENT_FILE: cannot read"):
        RPConfig.from_env("DASHBOARD", DEFAULTS, {"DASHBOARD_CLIENT_FILE": str(bad), "DASHBOARD_SECRET_KEY": "s"})
