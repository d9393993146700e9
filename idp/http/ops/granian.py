"""granian configuration for ``idp serve`` (the default, IDP_SERVER=granian): a Rust HTTP server in front of
the WSGI app, several times gunicorn's requests/s on one core (docs/performance.md).

What gunicorn gave ``idp serve`` and how it is kept here:

- workers and threads: ``workers`` processes, each running IDP_THREADS requests at once (the app's run
  queue) on ``blocking_threads`` = ``process.server_threads``, the others waiting in that queue;
- graceful shutdown: SIGTERM makes granian stop accepting and each worker finish its in-flight requests;
  ``workers_kill_timeout`` (IDP_GRACEFUL_TIMEOUT) kills one that has not finished by then;
- worker restart on crash: ``respawn_failed_workers`` starts a replacement at once; a worker that dies again
  within 5.5 s of its respawn is a crash loop, and granian exits non-zero (gunicorn likewise exits when a
  worker cannot boot), leaving the restart to the orchestrator;
- request timeout: granian has no watchdog for a stuck Python request (nor, in effect, gunicorn's gthread
  worker, whose heartbeat is its main loop, not the request threads). What bounds a worker instead:
  ``backpressure`` (at most ``CONNECTIONS_PER_WORKER`` connections, gunicorn's ``worker_connections``;
  the rest wait in the listen backlog), IDP_THREADS requests running at once, sign-ins refused with 503
  when the worker is out of threads (``idp.http.capacity``), granian's 30 s limit for reading a
  request's headers (slow clients), and the proxy's own timeouts;
- JSON logs with request ids: the same ``logging`` config, granian's own logger included, and no access
  log (the app logs each request with its request id);
- Prometheus multiprocess metrics: ``PROMETHEUS_MULTIPROC_DIR`` is set before the workers start (``process``).
  granian has no per-worker exit hook like gunicorn's ``child_exit``; ``mark_process_dead`` only folds away
  ``live*`` gauges and the app has none (counters and histograms; the key-age gauge is computed per scrape);
- trusted proxies: ``X-Forwarded-For`` is the app's own; ``X-Forwarded-Proto`` is ``proxy.ForwardedProto``;
- the malloc setting: ``process.set_malloc_mmap_threshold`` in the parent, and again in each worker.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from granian.constants import Interfaces
from granian.log import LogLevels
from granian.server import Server

from idp.core.settings import Settings
from idp.http.ops.logs import dict_config
from idp.http.ops.process import server_threads, set_malloc_mmap_threshold
from idp.http.ops.proxy import ForwardedProto

if TYPE_CHECKING:
    from flask import Flask

#: Connections one worker holds at once. granian's "backpressure" counts connections, not requests: an idle
#: keep-alive connection keeps its slot, so a limit of IDP_THREADS let 4 of 8 keep-alive clients wait
#: forever (measured). gunicorn's gthread worker has the same bound, ``worker_connections`` (1000).
CONNECTIONS_PER_WORKER = 1000


def options(
    settings: Settings, *, host: str, port: int, workers: int, threads: int, graceful_timeout: int
) -> dict[str, Any]:
    """Keyword arguments of granian's ``Server``."""
    level = settings.server.log_level.lower()
    return {
        "address": host,
        "port": port,
        "interface": Interfaces.WSGI,
        "workers": workers,
        "blocking_threads": server_threads(threads),
        "backpressure": CONNECTIONS_PER_WORKER,
        "websockets": False,
        "log_enabled": True,
        "log_level": LogLevels(level) if level in LogLevels.__members__ else LogLevels.info,
        "log_dictconfig": dict_config(settings.server.log_level, settings.server.log_format),
        "log_access": False,
        "respawn_failed_workers": True,
        "workers_kill_timeout": graceful_timeout,
    }


def serve(
    config: dict[str, Any],
    load_app: Callable[[], Flask],
    settings: Settings,
    metrics_dir: str,
    remove_metrics_dir: bool,
) -> None:
    """Run granian until SIGTERM. ``load_app`` runs in each worker; it must be picklable (a ``partial`` of a
    module-level function) in case workers are spawned rather than forked."""
    server = Server("idp.app:create_app", **config)
    if remove_metrics_dir:
        server.on_shutdown(partial(shutil.rmtree, metrics_dir, ignore_errors=True))
    server.serve(target_loader=partial(_worker_app, load_app, settings), wrap_loader=False)


def _worker_app(load_app: Callable[[], Flask], settings: Settings) -> ForwardedProto:
    set_malloc_mmap_threshold(settings.server.malloc_mmap_threshold_kib)  # a spawned worker did not inherit it
    return ForwardedProto(load_app(), settings)
