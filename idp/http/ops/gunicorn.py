"""gunicorn configuration for ``idp serve``: workers and timeouts from settings, JSON logs,
trusted proxies, and the Prometheus multiprocess directory.

Nothing here imports ``prometheus_client`` at module level: it must see
``PROMETHEUS_MULTIPROC_DIR`` before its first import, which happens in the workers.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger as _GunicornLogger
from gunicorn.workers.base import Worker

from idp.core.settings import Settings
from idp.http.ops.logs import dict_config


class Logger(_GunicornLogger):
    """gunicorn's own logger without its access log: the app logs each request itself, with its
    request id (``idp.http.ops.logs``). gunicorn builds the access-log fields of every request whenever a
    logging config is given, even with ``accesslog`` unset: ~10% of a discovery request (py-spy)."""

    def _compute_access_log_enabled(self) -> bool:
        return False

    def access(self, resp: object, req: object, environ: dict[str, Any], request_time: timedelta) -> None:
        return None


M_MMAP_THRESHOLD = -3  # glibc <malloc.h>


def set_malloc_mmap_threshold(kib: int) -> bool:
    """Fix glibc's mmap threshold at ``kib`` KiB (before the workers fork; they inherit it).

    glibc raises the threshold after the first large block is freed (up to 32 MiB), so from then
    on every argon2id verify's 19 MiB comes from the heap arena of the thread that ran it and
    stays there: one per thread, ~90 MB of a worker's RSS (bench, docs/performance.md). A fixed
    threshold hands those blocks back on free. Returns False where there is nothing to do
    (``kib`` 0, or a C library without ``mallopt``, e.g. musl or macOS)."""
    if kib <= 0:
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return mallopt(M_MMAP_THRESHOLD, kib * 1024) == 1


def prepare_metrics_dir() -> tuple[str, bool]:
    """Use ``PROMETHEUS_MULTIPROC_DIR`` (or a fresh temporary folder) and empty it of the previous
    run's samples, as prometheus-client requires; the workers inherit the variable.
    Returns the folder and whether it was made here (then ``on_exit`` removes it)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    created = not given
    path = given or tempfile.mkdtemp(prefix="idp-metrics-")
    Path(path).mkdir(parents=True, exist_ok=True)
    for stale in Path(path).glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path, created


def remove_folder_on_exit(path: str) -> Callable[[Arbiter], None]:
    """A gunicorn ``on_exit`` hook (master only, after the workers are gone)."""

    def on_exit(_server: Arbiter) -> None:
        shutil.rmtree(path, ignore_errors=True)

    return on_exit


def child_exit(_server: Arbiter, worker: Worker) -> None:
    """A worker ended: fold its live gauges away (prometheus-client multiprocess mode)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def options(
    settings: Settings, *, bind: str, workers: int, threads: int, timeout: int, graceful_timeout: int
) -> dict[str, Any]:
    """gunicorn settings. SIGTERM stops accepting, lets in-flight requests finish for up to
    ``graceful_timeout`` seconds, then exits."""
    proxies = [str(ipaddress.ip_network(c, strict=False)) for c in settings.server.trusted_proxies]
    return {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": timeout,
        "graceful_timeout": graceful_timeout,
        "accesslog": None,  # the app logs each request itself, with its request id (idp.http.ops.logs)
        "logger_class": "idp.http.ops.gunicorn.Logger",
        "logconfig_dict": dict_config(settings.server.log_level, settings.server.log_format),
        # X-Forwarded-Proto is believed only from the proxies the app trusts for X-Forwarded-For.
        "forwarded_allow_ips": ",".join(proxies) if proxies else "127.0.0.1",
        "child_exit": child_exit,
        # gunicorn >= 25.1 opens a control socket at one fixed path per user: instances on one host
        # would fight over it, and nothing here needs runtime control (SIGTERM/SIGHUP suffice).
        "control_socket_disable": True,
    }
