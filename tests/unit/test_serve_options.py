"""``idp serve``'s gunicorn settings from IDP_* (overridable on the command line), and the settings that stop
it before it starts (the real server's graceful shutdown is tests/e2e/test_serve.py)."""

from __future__ import annotations

from click.testing import CliRunner

from idp.cli import main
from idp.core.settings import ServerSettings, Settings
from idp.http.ops.gunicorn import options


def test_serve_help_names_the_settings_behind_each_default():
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for setting in ("IDP_WORKERS", "IDP_THREADS", "IDP_WORKER_TIMEOUT", "IDP_GRACEFUL_TIMEOUT"):
        assert setting in result.output


def test_gunicorn_options_come_from_settings():
    settings = Settings(
        server=ServerSettings(
            workers=5,
            threads=4,
            worker_timeout=40,
            graceful_timeout=20,
            secret_key="s" * 40,
            trusted_proxies=("10.0.0.7", "192.168.1.0/24"),
            log_format="json",
        )
    )
    config = options(
        settings,
        bind="0.0.0.0:8000",
        workers=settings.server.workers,
        threads=settings.server.threads,
        timeout=settings.server.worker_timeout,
        graceful_timeout=settings.server.graceful_timeout,
    )
    assert (config["workers"], config["threads"], config["worker_class"]) == (5, 4, "gthread")
    assert (config["timeout"], config["graceful_timeout"]) == (40, 20)
    # gunicorn believes X-Forwarded-Proto only from the proxies the app trusts.
    assert config["forwarded_allow_ips"] == "10.0.0.7/32,192.168.1.0/24"
    assert config["logconfig_dict"]["formatters"]["json"]["()"] == "pythonjsonlogger.json.JsonFormatter"
    assert config["accesslog"] is None


def test_invalid_settings_stop_serve_before_it_starts(monkeypatch, tmp_path):
    monkeypatch.setenv("IDP_INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("IDP_WORKERS", "0")
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    assert "IDP_WORKERS: must be between 1 and 64" in result.output


def test_several_workers_without_redis_are_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("IDP_INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("IDP_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("IDP_KEYS_PASSPHRASE", "p" * 16)
    monkeypatch.delenv("IDP_REDIS_URL", raising=False)
    result = CliRunner().invoke(main, ["serve", "--workers", "2"])
    assert result.exit_code == 1
    assert "more than one worker needs IDP_REDIS_URL" in result.output
