"""One error registry (node oidc-provider ``lib/helpers/errors.js`` + ``shared/error_handler.js``):
each error a request can end in is described once (``describe``: status, code, words, headers) and
rendered by the kind of route that raised it (``kind``):

- ``problem``: the admin API, RFC 9457 problem details;
- ``oauth``: protocol and API endpoints, ``{"error", "error_description"}`` JSON;
- ``page``: pages for people, in their language.

A path that matches no route is judged by what the client accepts: browsers (``text/html``) get
the page, API clients the JSON. Forms that show an error next to their fields (the sign-in page
when throttled, say) take the same description from ``describe`` and render it themselves.
Anything unknown is a plain ``server_error``, logged with its traceback; nothing else is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask_babel import gettext, ngettext
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from idp.core import metrics
from idp.core.errors import Busy, KeyStoreError, StoreUnavailable, TooManyAttempts
from idp.http.context import NulInRequest

log = logging.getLogger("idp")

PAGE, OAUTH, PROBLEM = "page", "oauth", "problem"
#: Endpoints of the ``protocol`` blueprint that people open in a browser.
PAGE_ENDPOINTS = {"protocol.authorize", "protocol.resume"}


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark for translation, translate later"
    return message


def N_plural(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802 - ngettext's, marked for later
    return singular, plural


BUSY = N_("Many people are signing in right now. Please try again in a few seconds.")
#: A page's words for an invalid request whose own description is technical (the authorize page's too).
INVALID_REQUEST_PAGE = N_("The application sent a request that is incomplete or not valid.")
HTTP_ERROR_PAGE = N_("Your browser sent a request we cannot handle.")
#: A person never chose an HTTP method: the page says what to do instead (the API keeps the technical words).
METHOD_NOT_ALLOWED_PAGE = N_(
    "This page cannot be opened this way. Go back and use the links and buttons on the page, or start again "
    "from the sign-in page."
)
TOO_MANY = N_plural(
    "Too many attempts. Try again in %(num)d minute.", "Too many attempts. Try again in %(num)d minutes."
)


@dataclass(frozen=True)
class Described:
    """How an error reads: ``message`` is English (a msgid); ``text()`` says it in the reader's language."""

    status: int
    code: str
    message: str
    headers: dict = field(default_factory=dict)
    #: (singular, plural, n) when the words depend on a number (the minutes to wait)
    plural: tuple | None = None
    #: The page's words (a msgid) when ``message`` is a technical text only APIs get (not in the catalogue)
    page_message: str | None = None

    def text(self) -> str:
        if self.plural is not None:
            return ngettext(*self.plural)
        return gettext(self.page_message or self.message)


#: What a dependency that is down is called in logs and in ``idp_dependency_unavailable_total``.
DEPENDENCY = {
    StoreUnavailable: "store",
    KeyStoreError: "keys",
    OperationalError: "database",
    InterfaceError: "database",
    DisconnectionError: "database",
    PoolTimeout: "database",
}


def describe(exc: BaseException) -> Described:
    """The one description of ``exc`` (status, code, words, headers), whatever renders it."""
    if isinstance(exc, TooManyAttempts):
        minutes = max(1, -(-exc.retry_after // 60))
        return Described(
            429,
            "too_many_requests",
            "Too many attempts. Try again later.",
            {"Retry-After": str(exc.retry_after)},
            plural=(*TOO_MANY, minutes),
        )
    if isinstance(exc, Busy):  # at capacity for sign-ins: come back shortly, nothing was counted
        return Described(503, "temporarily_unavailable", BUSY, {"Retry-After": str(exc.retry_after)})
    for cls, _dependency in DEPENDENCY.items():
        if isinstance(exc, cls):  # a dependency is down: answer at once, never hang or 500
            return Described(
                503,
                "temporarily_unavailable",
                N_("The service is temporarily unavailable. Try again shortly."),
                {"Retry-After": "5"},
            )
    if isinstance(exc, NulInRequest):
        return Described(
            400, "invalid_request", N_("The request contains a NUL character, which no parameter may hold.")
        )
    if isinstance(exc, HTTPException):
        return _http(exc)
    from idp.http.protocol.errors import GENERIC, is_refused_description

    if is_refused_description(exc):
        return Described(400, "invalid_request", GENERIC["invalid_request"], page_message=INVALID_REQUEST_PAGE)
    return Described(500, "server_error", N_("Something went wrong on our side."))


def _http(exc: HTTPException) -> Described:
    code = exc.code or 500
    if code == 404:
        return Described(404, "not_found", N_("There is no such page."))
    if code == 405:
        methods = getattr(exc, "valid_methods", None)  # set by MethodNotAllowed
        allow = {"Allow": ", ".join(sorted(methods))} if methods else {}
        return Described(
            405,
            "method_not_allowed",
            N_("This method is not allowed here."),
            allow,
            page_message=METHOD_NOT_ALLOWED_PAGE,
        )
    if code == 413:
        return Described(413, "request_too_large", N_("The request is too large."))
    # werkzeug's own English sentence for the other statuses stays the API's description; a page says ours.
    return Described(code, "http_error", exc.description or "", page_message=HTTP_ERROR_PAGE)


def kind() -> str:
    """How this request's errors are rendered: by its route, or (no route) by what it accepts."""
    endpoint = request.endpoint
    if endpoint is None and request.path.startswith("/admin/api/"):
        return PROBLEM
    if endpoint is None:
        html = (
            request.accept_mimetypes.accept_html
            and request.accept_mimetypes["text/html"] >= request.accept_mimetypes["application/json"]
        )
        return PAGE if html else OAUTH
    if endpoint.startswith("admin."):
        return PROBLEM
    if endpoint.startswith(("protocol.", "ops.")) and endpoint not in PAGE_ENDPOINTS:
        return OAUTH
    return PAGE


def render(described: Described) -> Response:
    """``described`` as this request's kind of route answers."""
    _forget_unreadable_body()
    route = kind()
    if route == PROBLEM:
        from idp.http.admin import problem_response

        return problem_response(described.status, described.code, described.message, headers=described.headers)
    if route == OAUTH:
        response = jsonify(error=described.code, error_description=described.message)
        response.headers["Cache-Control"] = "no-store"  # RFC 6749 §5.1: never cache a token endpoint's answer
    else:
        response = make_response(render_template("error.html", error=described.code, description=described.text()))
    response.status_code = described.status
    response.headers.update(described.headers)
    return response


def _forget_unreadable_body() -> None:
    """A body that cannot be read (larger than allowed, shorter than its ``Content-Length``) raises
    on each read of ``request.form``, and the error page reads it (the locale selector and the
    language links look for an ``interaction``), which turned a 413 or 400 into a traceback and a
    500. Such a request is given an empty body. (``form``, ``files``, ``values`` and ``stream`` are
    werkzeug cached properties: assignable.)"""
    from io import BytesIO

    from werkzeug.datastructures import CombinedMultiDict, ImmutableMultiDict

    try:
        request.form  # noqa: B018 (parsed once, or raises)
    except HTTPException:
        request.form, request.files, request.stream = ImmutableMultiDict(), ImmutableMultiDict(), BytesIO()
        request.values = CombinedMultiDict([request.args])


def handle(exc: Exception) -> Response:
    described = describe(exc)
    if described.status == 503:
        dependency = next(d for cls, d in DEPENDENCY.items() if isinstance(exc, cls))
        metrics.UNAVAILABLE.labels(dependency).inc()
        log.error("service unavailable: %s (%s)", dependency, exc.__class__.__name__)
    elif described.status == 500:
        log.exception("unhandled error")
    elif described.code == "invalid_request" and not isinstance(exc, (HTTPException, NulInRequest)):
        from idp.http.protocol.errors import REFUSED_DESCRIPTION_LOG

        log.warning(REFUSED_DESCRIPTION_LOG, request.endpoint)
    return render(described)


def init_app(app: Flask) -> None:
    app.register_error_handler(Exception, handle)
