"""``idp serve``: run the provider under granian (default) or gunicorn (IDP_SERVER)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import click

from idp.cli import CLIError, Context, main

if TYPE_CHECKING:
    from flask import Flask

    from idp.core.settings import Settings


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Worker processes  [default: IDP_WORKERS; unset: 1 without IDP_REDIS_URL, the usable cores with it]",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    help="Requests a worker runs at once (the server gets 16 threads per one, the others wait in the "
    "run queue)  [default: IDP_THREADS, 4]",
)
@click.option(
    "--timeout",
    type=click.IntRange(1, 3600),
    help="gunicorn only: seconds before a silent worker is restarted  [default: IDP_WORKER_TIMEOUT, 30]",
)
@click.option(
    "--graceful-timeout",
    type=click.IntRange(1, 3600),
    help="Seconds in-flight requests get after SIGTERM  [default: IDP_GRACEFUL_TIMEOUT, 30]",
)
@click.pass_obj
def serve(
    obj: Context,
    host: str,
    port: int,
    workers: int | None,
    threads: int | None,
    timeout: int | None,
    graceful_timeout: int | None,
) -> None:
    """Serve the provider with granian, or gunicorn when IDP_SERVER=gunicorn (graceful shutdown on SIGTERM,
    a crashed worker replaced).

    Logs are JSON lines on stderr (IDP_LOG_FORMAT); Prometheus samples of all workers are summed
    through PROMETHEUS_MULTIPROC_DIR (a temporary folder unless set).
    """
    from idp.http.ops.process import (
        WorkerCountError,
        prepare_metrics_dir,
        server_threads,
        set_malloc_mmap_threshold,
        worker_count,
    )

    settings = obj.settings  # validate before forking
    try:
        count = worker_count(settings, workers)
    except WorkerCountError as e:
        raise CLIError(str(e)) from None
    set_malloc_mmap_threshold(settings.server.malloc_mmap_threshold_kib)
    metrics_dir, made_here = prepare_metrics_dir()
    threads = threads or settings.server.threads
    # The workers' apps size their run queue from the settings: --threads wins there too.
    settings = replace(settings, server=replace(settings.server, threads=threads))
    graceful_timeout = graceful_timeout or settings.server.graceful_timeout
    name = settings.server.http_server
    click.echo(
        f"SPOM Login provider: {settings.server.issuer} "
        f"(listening on {host}:{port}, {name}, {count} worker(s) x {threads} thread(s), "
        f"{server_threads(threads)} server threads per worker)"
    )
    if name == "granian":
        from idp.http.ops import granian

        config = granian.options(
            settings, host=host, port=port, workers=count, threads=threads, graceful_timeout=graceful_timeout
        )
        granian.serve(config, partial(worker_app, settings), settings, metrics_dir, made_here)
    else:
        _gunicorn(
            settings,
            host,
            port,
            count,
            threads,
            timeout or settings.server.worker_timeout,
            graceful_timeout,
            metrics_dir,
            made_here,
        )


def worker_app(settings: Settings) -> Flask:
    """The app of one worker, built after the fork (module level: granian may pickle it to a spawned worker)."""
    from idp.app import create_app
    from idp.http.protocol.backchannel import get_deliverer

    app = create_app(settings)
    get_deliverer(app).start()  # in the worker, after the fork
    return app


def _gunicorn(
    settings: Settings,
    host: str,
    port: int,
    workers: int,
    threads: int,
    timeout: int,
    graceful_timeout: int,
    metrics_dir: str,
    made_here: bool,
) -> None:
    from gunicorn.app.base import BaseApplication

    from idp.http.ops.gunicorn import options, remove_folder_on_exit

    config = options(
        settings,
        bind=f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        workers=workers,
        threads=threads,
        timeout=timeout,
        graceful_timeout=graceful_timeout,
    )
    if made_here:
        config["on_exit"] = remove_folder_on_exit(metrics_dir)

    class Server(BaseApplication):
        def load_config(self) -> None:
            for name, value in config.items():
                if name in self.cfg.settings:  # settings newer than the installed gunicorn are skipped
                    self.cfg.set(name, value)

        def load(self) -> Flask:
            return worker_app(settings)

    Server().run()
