"""``idp serve``'s granian and gunicorn settings from IDP_* (overridable on the command line), the worker count,
the trusted-proxy scheme, and the settings that stop it before it starts (the real servers are tested in
tests/e2e/test_serve.py)."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from idp.cli import main
from idp.core.settings import ServerSettings, Settings
from idp.http.ops import granian
from idp.http.ops.gunicorn import options
from idp.http.ops.process import WorkerCountError, worker_count
from idp.http.ops.proxy import ForwardedProto


def test_serve_help_names_the_settings_behind_each_default():
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for setting in (
        "IDP_SERVER",
        "IDP_WORKERS",
        "IDP_REDIS_URL",
        "IDP_THREADS",
        "IDP_WORKER_TIMEOUT",
        "IDP_GRACEFUL_TIMEOUT",
    ):
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
    # 16 server threads per request running at once: the others wait in the app's run queue.
    assert (config["workers"], config["threads"], config["worker_class"]) == (5, 64, "gthread")
    assert (config["timeout"], config["graceful_timeout"]) == (40, 20)
    # gunicorn believes X-Forwarded-Proto only from the proxies the app trusts.
    assert config["forwarded_allow_ips"] == "10.0.0.7/32,192.168.1.0/24"
    assert config["logconfig_dict"]["formatters"]["json"]["()"] == "pythonjsonlogger.json.JsonFormatter"
    assert config["accesslog"] is None


def test_invalid_settings_stop_serve_before_it_starts(monkeypatch, tmp_path):
    monkeypatch.setenv("IDP_INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("IDP_WORKERS", "65")
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    assert "IDP_WORKERS: must be between 0 and 64" in result.output


def test_several_workers_without_redis_are_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("IDP_INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("IDP_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("IDP_KEYS_PASSPHRASE", "p" * 16)
    monkeypatch.delenv("IDP_REDIS_URL", raising=False)
    result = CliRunner().invoke(main, ["serve", "--workers", "2"])
    assert result.exit_code == 1
    assert "more than one worker needs IDP_REDIS_URL" in result.output


def test_granian_options_come_from_settings():
    settings = Settings(server=ServerSettings(secret_key="s" * 40, log_level="DEBUG", log_format="json"))
    config = granian.options(settings, host="0.0.0.0", port=8000, workers=3, threads=6, graceful_timeout=25)
    assert (config["workers"], config["blocking_threads"]) == (3, 96)  # 6 run at once, 90 wait in the run queue
    # granian's backpressure counts connections (idle keep-alive ones too): gunicorn's worker_connections.
    assert config["backpressure"] == 1000
    assert config["respawn_failed_workers"] is True
    assert config["workers_kill_timeout"] == 25  # then a worker that has not finished is killed
    assert config["log_access"] is False  # the app logs each request, with its request id
    assert config["log_dictconfig"]["loggers"]["_granian"]["handlers"] == ["stderr"]
    assert config["log_level"] == "debug"


def test_the_worker_count_is_one_without_redis_and_the_usable_cores_with_it():
    without = Settings(server=ServerSettings(secret_key="s" * 40))
    assert without.server.workers == 0  # unset = auto
    assert worker_count(without, None) == 1
    with_redis = Settings.from_env({}, secret_key="s" * 40, keys_passphrase="p" * 16, redis_url="redis://r:6379/0")
    assert worker_count(with_redis, None) == len(os.sched_getaffinity(0))
    assert worker_count(with_redis, 3) == 3
    assert worker_count(without, 1) == 1


def test_an_explicit_worker_count_above_one_without_redis_is_refused():
    settings = Settings.from_env({"IDP_WORKERS": "3"}, secret_key="s" * 40, keys_passphrase="p" * 16)
    with pytest.raises(WorkerCountError, match="more than one worker needs IDP_REDIS_URL"):
        worker_count(settings, None)


def test_an_unknown_server_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("IDP_INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("IDP_SERVER", "uwsgi")
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    assert "IDP_SERVER: one of granian, gunicorn" in result.output


def scheme_seen(settings: Settings, remote_addr: str, proto: str) -> str:
    seen = {}

    def app(environ, start_response):
        seen["scheme"] = environ["wsgi.url_scheme"]
        return [b""]

    environ = {"REMOTE_ADDR": remote_addr, "HTTP_X_FORWARDED_PROTO": proto, "wsgi.url_scheme": "http"}
    ForwardedProto(app, settings)(environ, lambda *a: None)
    return seen["scheme"]


def test_x_forwarded_proto_is_believed_only_from_a_trusted_proxy():
    proxies = Settings(server=ServerSettings(secret_key="s" * 40, trusted_proxies=("10.0.0.0/8",)))
    assert scheme_seen(proxies, "10.1.2.3", "https") == "https"
    assert scheme_seen(proxies, "192.0.2.9", "https") == "http"
    assert scheme_seen(proxies, "127.0.0.1", "https") == "http"  # not in the list once one is given
    assert scheme_seen(proxies, "10.1.2.3", "gopher") == "http"
    # None configured: loopback only, gunicorn's default for forwarded_allow_ips.
    default = Settings(server=ServerSettings(secret_key="s" * 40))
    assert scheme_seen(default, "127.0.0.1", "https") == "https"
    assert scheme_seen(default, "192.0.2.9", "https") == "http"
