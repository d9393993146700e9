"""CORS for the endpoints a browser app (a single-page app, a public client with PKCE) calls itself:
``/token``, ``/userinfo``, ``/revoke``, ``/introspect`` (and the device and PAR endpoints once they
exist: add them to ``ENDPOINTS``). Every decision is made here.

As node oidc-provider's ``clientBasedCORS`` and Keycloak's web origins do, an origin is allowed per
client (``allowed_cors_origins``; by default a public client's redirect URI origins):

- a preflight (``OPTIONS``) names no client, so it succeeds for an origin that at least one active
  client allows; the browser then sends the real request;
- the real response carries ``Access-Control-Allow-Origin`` only when the client the request names
  (the authenticating client; for ``/userinfo`` the access token's client) allows the origin. When
  no client could be identified (an unknown ``client_id``, a bad token) it falls back to the
  preflight's rule, so the app can read the error. A refused origin gets no CORS headers and the
  request is otherwise handled as usual (the browser withholds the response from the page).

The request's ``Origin`` is echoed, never ``*`` (these endpoints take client secrets and tokens),
with ``Vary: Origin``; no ``Access-Control-Allow-Credentials``: nothing here uses cookies.
Discovery and the JWKS are public documents and keep ``*`` (``views._cached_json``).

Hand-written rather than flask-cors: that library decides by a static origin list per route, and
the decision here depends on the client a request names, known only after it is parsed.
"""

from __future__ import annotations

import time

from flask import Flask, Response, current_app, g, has_request_context, request
from sqlalchemy.exc import SQLAlchemyError

from idp.domain.clients.rules import effective_cors_origins
from idp.http import uow
from idp.http.protocol.client_cache import ClientCache
from idp.storage.sql.clients import active_clients
from idp.storage.sql.models import Client

#: View endpoint -> the methods a browser may use on it.
ENDPOINTS = {
    "protocol.token": "POST",
    "protocol.revoke": "POST",
    "protocol.introspect": "POST",
    "protocol.userinfo": "GET, POST",
}
ALLOW_HEADERS = "Authorization, Content-Type, DPoP"
#: The bearer-token challenge an app reads after a 401 (RFC 6750 §3).
EXPOSE_HEADERS = "WWW-Authenticate"
#: How long a browser may reuse a preflight answer (Chromium caps it at 7200).
MAX_AGE_SECONDS = 3600
_CLIENT = "idp_cors_client"


class _AllOrigins(ClientCache):
    """Every origin some active client allows, for preflights. A ``ClientCache`` so that the client
    cache's invalidation hooks reach it: any client changing drops the whole set."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self._origins: tuple[float, frozenset[str]] | None = None

    def origins(self) -> frozenset[str] | None:
        found = self._origins
        if self.seconds <= 0 or found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def keep(self, origins: frozenset[str]) -> None:
        if self.seconds > 0:
            self._origins = (time.monotonic() + self.seconds, origins)

    def drop(self, client_id: str | None = None) -> None:
        self._origins = None
        super().drop(None)


def init_app(app: Flask, seconds: float) -> None:
    app.extensions["idp.cors"] = _AllOrigins(seconds)


def note_client(row: Client | None) -> None:
    """Record the client a request names (the first one looked up decides)."""
    if row is not None and has_request_context() and request.endpoint in ENDPOINTS and g.get(_CLIENT) is None:
        setattr(g, _CLIENT, row)


def _allowed_anywhere(origin: str) -> bool:
    cache: _AllOrigins = current_app.extensions["idp.cors"]
    found = cache.origins()
    if found is None:
        found = frozenset(
            o
            for row in active_clients(uow.session())
            for o in effective_cors_origins(row.public, list(row.redirect_uris), row.allowed_cors_origins)
        )
        cache.keep(found)
    return origin in found


def _allowed(origin: str) -> bool:
    row: Client | None = g.get(_CLIENT)
    if row is None:
        return _allowed_anywhere(origin)
    return origin in effective_cors_origins(row.public, list(row.redirect_uris), row.allowed_cors_origins)


def preflight() -> Response | None:
    """``before_request``: answer a CORS preflight with 204 and no body (so no HTML page headers)."""
    if request.method != "OPTIONS" or request.endpoint not in ENDPOINTS:
        return None
    response = Response(status=204)
    del response.headers["Content-Type"]
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if origin and _allowed_anywhere(origin):
        response.headers.update(
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ENDPOINTS[request.endpoint],
                "Access-Control-Allow-Headers": ALLOW_HEADERS,
                "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
            }
        )
    return response


def apply(response: Response) -> Response:
    """``after_request``: the CORS headers of a real response (errors included)."""
    if request.endpoint not in ENDPOINTS or request.method == "OPTIONS":
        return response
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if not origin:
        return response
    try:
        allowed = _allowed(origin)
    except SQLAlchemyError:
        allowed = False  # the database is down: the response (a 503) stands, without CORS headers
    if allowed:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    return response
