"""``idp init`` creates the development secrets of a plain-http loopback issuer (settings loading only
reads them; tests/unit/test_settings.py)."""

from __future__ import annotations

import os
import stat

from click.testing import CliRunner

from idp.cli import main
from idp.core.settings import Settings


def test_idp_init_creates_the_dev_secrets_0600_and_loading_reads_them(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    for name in [n for n in os.environ if n.startswith("IDP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("IDP_INSTANCE_DIR", str(instance))
    result = CliRunner().invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    for name in ("secret_key", "keys_passphrase"):
        path = instance / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert f"development secret created: {path}" in result.output
    settings = Settings.from_env({"IDP_INSTANCE_DIR": str(instance)})
    assert settings.server.issuer == "http://127.0.0.1:8000" and not settings.server.secure_cookies
    assert settings.server.secret_key == (instance / "secret_key").read_text() and len(settings.server.secret_key) >= 32
    assert settings.keys.passphrase == (instance / "keys_passphrase").read_text()
    assert settings.storage.database_url == f"sqlite:///{instance.resolve() / 'idp.sqlite3'}"
    before = sorted(instance.iterdir())
    again = CliRunner().invoke(main, ["init"])
    assert again.exit_code == 0 and "development secret created" not in again.output
    assert sorted(instance.iterdir()) == before
    assert Settings.from_env({"IDP_INSTANCE_DIR": str(instance)}).server.secret_key == settings.server.secret_key
