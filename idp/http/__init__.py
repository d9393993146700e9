"""The HTTP surfaces: one unit of work per request, one error registry, protocol/web/admin/ops."""

from __future__ import annotations

from flask import Flask
from flask.sessions import NullSession, SessionInterface

from idp.core.deps import Deps


def init_app(app: Flask, deps: Deps) -> None:
    """Register the blueprints and the per-request machinery on ``app`` (built by ``idp.app``)."""
    from idp.http import admin, capacity, documents, errors, i18n, ops, protocol, uow, web
    from idp.http.context import Request

    app.request_class = Request
    app.session_interface = NoFlaskSession()
    i18n.init_app(app)
    protocol.init_app(app, deps)
    web.init_app(app)
    ops.init_app(app)
    admin.init_app(app)
    errors.init_app(app)
    uow.init_app(app)  # last: it wraps every view registered above
    # At most IDP_THREADS requests at once, and sign-ins refused when the worker is out of threads.
    capacity.install(app, deps.settings.server.threads, deps.settings.accounts.signin_max_wait_seconds)
    # In front of all of it: discovery and JWKS answered before Flask's request machinery.
    app.wsgi_app = documents.PrecomputedDocuments(app.wsgi_app, deps)  # type: ignore[method-assign]


class NoFlaskSession(SessionInterface):
    """The provider keeps its own cookies (``http.session``, CSRF, the browser binding); Flask's signed
    session cookie is never used, so it is neither read nor written per request (its loading was 3% of
    a discovery request, docs/performance.md). Writing to ``flask.session`` raises instead of
    silently doing nothing."""

    def open_session(self, app: Flask, request: object) -> NullSession:
        return self.make_null_session(app)

    def save_session(self, app: Flask, session: object, response: object) -> None:
        return None
