"""gunicorn configuration for ``idp serve`` with IDP_SERVER=gunicorn: workers and timeouts from settings,
JSON logs, trusted proxies, and the Prometheus multiprocess hooks (the parent's setup is ``process``).

Nothing here imports ``prometheus_client`` at module level: it must see
``PROMETHEUS_MULTIPROC_DIR`` before its first import, which happens in the workers.
"""

from __future__ import annotations

import ipaddress
import shutil
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger as _GunicornLogger
from gunicorn.workers.base import Worker

from idp.core.settings import Settings
from idp.http.ops.logs import dict_config
from idp.http.ops.process import server_threads


class Logger(_GunicornLogger):
    """gunicorn's own logger without its access log: the app logs each request itself, with its
    request id (``idp.http.ops.logs``). gunicorn builds the access-log fields of every request whenever a
    logging config is given, even with ``accesslog`` unset: ~10% of a discovery request (py-spy)."""

    def _compute_access_log_enabled(self) -> bool:
        return False

    def access(self, resp: object, req: object, environ: dict[str, Any], request_time: timedelta) -> None:
        return None


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
        "threads": server_threads(threads),  # IDP_THREADS run at once, the others wait in the app's run queue
        "worker_class": "gthread",
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
