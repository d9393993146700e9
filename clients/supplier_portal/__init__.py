"""Supplier Portal: purchase orders and invoices for vendors; approvals for staff.

A second institutional app with its own client registration and its own session, signed in
through SPOM Login. Configured by ``SUPPLIER_PORTAL_*`` variables; ``python -m clients.supplier_portal``.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from ..common import RPConfig, create_rp_app
from ..common.config import Clock
from ..common.storage import RPDatabase
from . import content

DEFAULTS = {
    "name": "Supplier Portal",
    "base_url": "http://127.0.0.1:8002",
    "issuer": "http://127.0.0.1:8000",
    "database": "instance/supplier_portal.sqlite3",
    "cookie_name": "spom_supplier_session",
}


def config_from_env(environ: Mapping[str, str] | None = None) -> RPConfig:
    return RPConfig.from_env("SUPPLIER_PORTAL", DEFAULTS, environ)


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
