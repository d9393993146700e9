"""gunicorn configuration for ``idp serve``: workers and timeouts from settings, JSON logs,
trusted proxies, and the Prometheus multiprocess directory.

Nothing here imports ``prometheus_client`` at module level: it must see
``PROMETHEUS_MULTIPROC_DIR`` before its first import, which happens in the workers.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
from pathlib import Path

from ..settings import Settings
from .logs import dict_config


def prepare_metrics_dir() -> tuple[str, bool]:
    """Use ``PROMETHEUS_MULTIPROC_DIR`` (or a fresh temporary folder) and empty it of the previous
    run's samples, as prometheus-client requires; the workers inherit the variable.
    Returns the folder and whether it was made here (then ``on_exit`` removes it)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    created = not path
    if created:
        path = tempfile.mkdtemp(prefix="idp-metrics-")
    Path(path).mkdir(parents=True, exist_ok=True)
    for stale in Path(path).glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path, created


def remove_folder_on_exit(path: str):
    """A gunicorn ``on_exit`` hook (master only, after the workers are gone)."""

    def on_exit(_server) -> None:
        shutil.rmtree(path, ignore_errors=True)

    return on_exit


def child_exit(_server, worker) -> None:
    """A worker ended: fold its live gauges away (prometheus-client multiprocess mode)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def options(settings: Settings, *, bind: str, workers: int, threads: int, timeout: int,
            graceful_timeout: int) -> dict:
    """gunicorn settings. SIGTERM stops accepting, lets in-flight requests finish for up to
    ``graceful_timeout`` seconds, then exits."""
    proxies = [str(ipaddress.ip_network(c, strict=False)) for c in settings.trusted_proxies]
    return {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": timeout,
        "graceful_timeout": graceful_timeout,
        "accesslog": None,  # the app logs each request itself, with its request id (idp.ops.logs)
        "logconfig_dict": dict_config(settings.log_level, settings.log_format),
        # X-Forwarded-Proto is believed only from the proxies the app trusts for X-Forwarded-For.
        "forwarded_allow_ips": ",".join(proxies) if proxies else "127.0.0.1",
        "child_exit": child_exit,
        # gunicorn >= 25.1 opens a control socket at one fixed path per user: instances on one host
        # would fight over it, and nothing here needs runtime control (SIGTERM/SIGHUP suffice).
        "control_socket_disable": True,
    }
