"""The SPOM Login console: pages for the identity team, app teams and security staff (issue 20).

A relying party of the provider like the dashboard (code + PKCE, every sign-in with a second factor,
a short session), whose pages call the provider's admin API with the signed-in person's access token
(``api.py``): what a person may see and do is what the API lets their console roles do.

Configured by ``CONSOLE_*`` variables (see ``clients/README.md``); ``python -m clients.console`` serves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from ..common import RPConfig, create_rp_app
from ..common.config import Clock

DEFAULTS = {
    "name": "SPOM Login console",
    "base_url": "http://127.0.0.1:8003",
    "issuer": "http://127.0.0.1:8000",
    "database": "instance/console.sqlite3",
    "cookie_name": "spom_console_session",
    # The console's scope gives its access tokens to the admin API; no offline_access: a refresh token
    # ends with the provider session.
    "scope": "openid profile idp:console",
    # Every sign-in asks for a second factor (the console's client also has it as default_acr_values).
    "acr_values": "urn:spom:acr:mfa",
    # Short sessions: 15 minutes idle, an hour at most (the provider's own session may be longer).
    "session_idle_seconds": "900",
    "session_max_seconds": "3600",
}


def config_from_env(environ: Mapping[str, str] | None = None) -> RPConfig:
    return RPConfig.from_env("CONSOLE", DEFAULTS, environ)


def create_app(config: RPConfig | None = None, *, clock: Clock | None = None, **kwargs: Any) -> Flask:
    config = config or config_from_env()
    app = create_rp_app(__name__, config, clock=clock, **kwargs)
    from . import apps, people, security, views  # noqa: F401  (register the routes on views.bp)

    app.register_blueprint(views.bp)
    views.init_app(app)
    return app
