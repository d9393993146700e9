"""SPOM Login: an OpenID Connect provider. ``create_app`` builds the WSGI application."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request

from idp.core import clock as clock_service, mail as mailer_service
from idp.storage.sql import database as db_service
from idp.domain.keys import keystore as keystore_service
from idp.core import outbound as outbound_service
from idp.storage.store import build_store
from idp.core import passwords as password_service
from idp.storage.throttle import build_throttle
from idp.core.settings import Settings

log = logging.getLogger("idp")


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark for translation, translate later"
    return message


def create_app(settings: Settings | None = None, *, clock=None, database=None, store=None, keystore=None,
               hasher=None, throttle=None, mailer=None, outbound=None) -> Flask:
    """Build the provider. Every service can be swapped (tests pass a ``FixedClock``, say)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, template_folder="http/web/templates", static_folder="http/web/static")
    from idp.http.context import Request

    app.request_class = Request
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=64 * 1024,
                      SESSION_COOKIE_SECURE=settings.secure_cookies)
    app.extensions["idp.core.settings"] = settings
    clock_service.init_app(app, clock)
    db_service.init_app(app, database)
    app.extensions["idp.storage.store.memory"] = store or build_store(
        settings, app.extensions["idp.storage.sql.database"], app.extensions["idp.core.clock"])
    keystore_service.init_app(app, keystore)
    password_service.init_app(app, hasher)
    app.extensions["idp.throttle"] = throttle or build_throttle(settings, app.extensions["idp.core.clock"])
    mailer_service.init_app(app, mailer)
    outbound_service.init_app(app, outbound)

    from idp.http import admin, i18n, ops, protocol
    from idp.http.web import init_app as init_web

    i18n.init_app(app)
    protocol.init_app(app)
    init_web(app)
    ops.init_app(app)
    admin.init_app(app)
    _register_error_handlers(app)
    return app


def _forget_unreadable_body() -> None:
    """A body that cannot be read (larger than allowed, shorter than its ``Content-Length``) raises
    on each read of ``request.form``, and the error page reads it (the locale selector and the
    language links look for an ``interaction``), which turned a 413 or 400 into a traceback and a
    500. Such a request is given an empty body. (``form``, ``files``, ``values`` and ``stream`` are
    werkzeug cached properties: assignable.)"""
    from io import BytesIO

    from werkzeug.datastructures import ImmutableMultiDict
    from werkzeug.exceptions import HTTPException

    try:
        request.form  # noqa: B018 (parsed once, or raises)
    except HTTPException:
        request.form, request.files, request.stream = ImmutableMultiDict(), ImmutableMultiDict(), BytesIO()
        request.values = request.args


def _register_error_handlers(app: Flask) -> None:
    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, TimeoutError as PoolTimeout

    from idp.core.errors import KeyStoreError
    from idp.core.metrics import UNAVAILABLE
    from idp.core.errors import StoreUnavailable
    from idp.http.context import NulInRequest

    def wants_json() -> bool:
        return request.path not in ("/", "/login", "/consent", "/logout", "/help", "/language") and \
            not request.path.startswith(("/authorize", "/password/", "/account"))

    def page(status: int, error: str, description: str, headers=None):
        from idp.http.admin import is_admin_path, problem_response

        _forget_unreadable_body()
        if is_admin_path():  # the admin API answers in RFC 9457 problem details
            return problem_response(status, error, description, headers=headers)
        if wants_json():
            return jsonify(error=error, error_description=description), status
        from flask_babel import gettext

        # Pages speak the reader's language; the JSON and problem answers stay as they are.
        return render_template("error.html", error=error, description=gettext(description)), status

    @app.errorhandler(404)
    def not_found(_e):
        return page(404, "not_found", N_("There is no such page."))

    @app.errorhandler(405)
    def method_not_allowed(e):
        allow = {"Allow": ", ".join(sorted(e.valid_methods))} if getattr(e, "valid_methods", None) else {}
        response = page(405, "method_not_allowed", N_("This method is not allowed here."))
        if isinstance(response, tuple):
            return response[0], response[1], allow
        response.headers.update(allow)
        return response

    @app.errorhandler(413)
    def too_large(_e):
        return page(413, "request_too_large", N_("The request is too large."))

    @app.errorhandler(NulInRequest)
    def nul_in_request(_e):
        return page(400, "invalid_request", N_("The request contains a NUL character, which no parameter may hold."))

    dependency_of = {StoreUnavailable: "store", KeyStoreError: "keys", OperationalError: "database",
                     InterfaceError: "database", DisconnectionError: "database", PoolTimeout: "database"}

    def unavailable(exc):
        # A dependency is down (Redis, PostgreSQL, the key folder): answer at once, never hang or 500.
        dependency = next(d for cls, d in dependency_of.items() if isinstance(exc, cls))
        UNAVAILABLE.labels(dependency).inc()
        log.error("service unavailable: %s (%s)", dependency, exc.__class__.__name__)
        response = make_response(page(503, "temporarily_unavailable",
                                      N_("The service is temporarily unavailable. Try again shortly.")))
        response.headers["Retry-After"] = "5"
        return response

    for exc_class in dependency_of:
        app.register_error_handler(exc_class, unavailable)

    @app.errorhandler(Exception)
    def server_error(exc):
        from werkzeug.exceptions import HTTPException

        from idp.http.protocol.errors import GENERIC, REFUSED_DESCRIPTION_LOG, is_refused_description

        if isinstance(exc, HTTPException):
            return page(exc.code or 500, "http_error", exc.description or "")
        if is_refused_description(exc):
            log.warning(REFUSED_DESCRIPTION_LOG, request.endpoint)
            return page(400, "invalid_request", GENERIC["invalid_request"])
        log.exception("unhandled error")
        return page(500, "server_error", N_("Something went wrong on our side."))
