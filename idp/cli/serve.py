"""``idp serve``: run the provider under gunicorn."""

from __future__ import annotations

import click

from . import CLIError, main


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Threads per worker (gthread worker class when > 1).")
@click.option("--timeout", default=30, show_default=True, type=click.IntRange(1, 3600),
              help="Seconds before a silent worker is restarted.")
@click.pass_obj
def serve(obj, host, port, workers, threads, timeout):
    """Serve the provider with gunicorn (graceful shutdown on SIGTERM)."""
    from gunicorn.app.base import BaseApplication

    settings = obj.settings  # validate before forking
    import logging

    # Workers inherit this: the provider's own log lines (mail written to the outbox, mail that
    # could not be delivered, unhandled errors) go to stderr at IDP_LOG_LEVEL.
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        raise CLIError(f"IDP_LOG_LEVEL: unknown level {settings.log_level!r}")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread" if threads > 1 else "sync")
            self.cfg.set("timeout", timeout)
            self.cfg.set("graceful_timeout", timeout)
            self.cfg.set("accesslog", None)

        def load(self):
            from .. import create_app
            from ..protocol.backchannel import get_deliverer

            app = create_app(settings)
            get_deliverer(app).start()  # in the worker, after the fork
            return app

    click.echo(f"SPOM Login provider: {settings.issuer} (listening on {host}:{port}, {workers} worker(s))")
    Server().run()
