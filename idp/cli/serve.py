"""``idp serve``: run the provider under gunicorn."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from idp.cli import CLIError, Context, main

if TYPE_CHECKING:
    from flask import Flask


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", type=click.IntRange(1, 64), help="Worker processes  [default: IDP_WORKERS, 2]")
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    help="Threads per worker, gthread worker class when > 1  [default: IDP_THREADS, 4]",
)
@click.option(
    "--timeout",
    type=click.IntRange(1, 3600),
    help="Seconds before a silent worker is restarted  [default: IDP_WORKER_TIMEOUT, 30]",
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
    """Serve the provider with gunicorn (graceful shutdown on SIGTERM).

    Logs are JSON lines on stderr (IDP_LOG_FORMAT); Prometheus samples of all workers are summed
    through PROMETHEUS_MULTIPROC_DIR (a temporary folder unless set).
    """
    from gunicorn.app.base import BaseApplication

    from idp.http.ops.gunicorn import options, prepare_metrics_dir, remove_folder_on_exit, set_malloc_mmap_threshold

    settings = obj.settings  # validate before forking
    if (workers or settings.server.workers) > 1 and not settings.storage.redis_url:
        # Pending sign-ins and codes would live in one worker's memory and vanish on the next request.
        raise CLIError(
            "more than one worker needs IDP_REDIS_URL (the in-process store is per process); set it, or use --workers 1"
        )
    set_malloc_mmap_threshold(settings.server.malloc_mmap_threshold_kib)
    metrics_dir, made_here = prepare_metrics_dir()
    config = options(
        settings,
        bind=f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        workers=workers or settings.server.workers,
        threads=threads or settings.server.threads,
        timeout=timeout or settings.server.worker_timeout,
        graceful_timeout=graceful_timeout or settings.server.graceful_timeout,
    )
    if made_here:
        config["on_exit"] = remove_folder_on_exit(metrics_dir)

    class Server(BaseApplication):
        def load_config(self) -> None:
            for name, value in config.items():
                if name in self.cfg.settings:  # settings newer than the installed gunicorn are skipped
                    self.cfg.set(name, value)

        def load(self) -> Flask:
            from idp.app import create_app
            from idp.http.protocol.backchannel import get_deliverer

            app = create_app(settings)
            get_deliverer(app).start()  # in the worker, after the fork
            return app

    click.echo(
        f"SPOM Login provider: {settings.server.issuer} (listening on {host}:{port}, {config['workers']} worker(s))"
    )
    Server().run()
