"""The SPOM dashboard: modules and progress, assessments and scores, a profile card.

Configured by ``DASHBOARD_*`` variables (see ``clients/README.md``); ``python -m clients.dashboard`` serves it.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from ..common import RPConfig, create_rp_app
from ..common.config import Clock
from ..common.storage import RPDatabase
from . import content

DEFAULTS = {
    "name": "SPOM Dashboard",
    "base_url": "http://127.0.0.1:8001",
    "issuer": "http://127.0.0.1:8000",
    "database": "instance/dashboard.sqlite3",
    "cookie_name": "spom_dashboard_session",
}


def config_from_env(environ: Mapping[str, str] | None = None) -> RPConfig:
    return RPConfig.from_env("DASHBOARD", DEFAULTS, environ)


def create_app(
    config: RPConfig | None = None, *, clock: Clock | None = None, links: tuple[tuple[str, str], ...] = ()
) -> Flask:
    config = config or config_from_env()
    database = RPDatabase(config.database)
    app = create_rp_app(__name__, config, clock=clock, database=database, links=links)
    content.init(database, app.extensions["rp"].clock.now())
    from .views import bp

    app.register_blueprint(bp)
    return app
