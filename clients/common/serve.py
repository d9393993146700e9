"""Serve a relying party with gunicorn (one process, a few threads: its sessions live in SQLite)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask


def serve(app: Flask, base_url: str, threads: int = 4, bind: str | None = None) -> None:
    """Listen on ``bind`` (``host:port``), by default the host and port of ``base_url`` (right when
    the app is reached directly; behind a reverse proxy, e.g. in a container, pass ``0.0.0.0:8001``)."""
    from gunicorn.app.base import BaseApplication

    if not bind:
        parts = urlsplit(base_url)
        bind = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", bind)
            self.cfg.set("workers", 1)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("accesslog", None)
            # gunicorn's control socket has one default path per user: several servers on a host clash.
            # (The setting exists since gunicorn 25; older ones, allowed by pyproject, have no socket.)
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Flask:
            return app

    Server().run()
