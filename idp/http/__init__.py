"""The HTTP surfaces: one unit of work per request, one error registry, protocol/web/admin/ops."""

from __future__ import annotations

from flask import Flask

from idp.core.deps import Deps


def init_app(app: Flask, deps: Deps) -> None:
    """Register the blueprints and the per-request machinery on ``app`` (built by ``idp.app``)."""
    from idp.http import admin, documents, errors, i18n, ops, protocol, uow, web
    from idp.http.context import Request

    app.request_class = Request
    i18n.init_app(app)
    protocol.init_app(app, deps)
    web.init_app(app)
    ops.init_app(app)
    admin.init_app(app)
    errors.init_app(app)
    uow.init_app(app)  # last: it wraps every view registered above
    # In front of all of it: discovery and JWKS answered before Flask's request machinery.
    app.wsgi_app = documents.PrecomputedDocuments(app.wsgi_app, deps)  # type: ignore[method-assign]
