"""Discovery and JWKS served before Flask: precomputed bytes with an ETag, answered in the WSGI layer.

Both documents are the same bytes for every caller until the keys or the settings change, and they
are most of what an RP library fetches. Flask's request machinery (request and app contexts, URL
matching, a dozen hooks) cost four times the work of the answer itself (docs/performance.md), so
this thin layer in front of the app answers ``GET``/``HEAD`` of exactly these two paths itself, with
what the Flask views send: ``Cache-Control``, ``Access-Control-Allow-Origin: *``, the ETag
(werkzeug's, so both paths agree), ``If-None-Match`` → 304 (RFC 9110 §13.1.2, weak comparison), the
security headers, the request id, one access-log line and the request metrics.

Everything else goes to Flask unchanged, and so do these paths whenever the fast path has nothing
to add: another method (the CORS preflight, 405), a query string (rare; Flask's NUL check applies),
or a key store that cannot be read (Flask renders the registry's 503).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import generate_etag, parse_etags

from idp.core import metrics
from idp.core.deps import Deps
from idp.core.errors import KeyStoreError
from idp.http import context
from idp.http.ops import logs
from idp.http.protocol.discovery import DISCOVERY_MAX_AGE, serialised

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Document:
    """One path's answer: where its bytes come from and its cache lifetime."""

    def __init__(self, endpoint: str, body: Callable[[], bytes], max_age: int) -> None:
        self.endpoint, self.body = endpoint, body
        self.cache_control = f"public, max-age={max_age}"
        self._last: tuple[bytes, str] = (b"", "")  # the bytes and their (unquoted) entity tag

    def current(self) -> tuple[bytes, str]:
        """The bytes and their entity tag (unquoted), hashed again only when the bytes change."""
        body = self.body()
        last_body, etag = self._last
        if body is not last_body and body != last_body:
            etag = generate_etag(body)
            self._last = (body, etag)
        return body, etag


class PrecomputedDocuments:
    """WSGI middleware: ``/.well-known/openid-configuration`` and ``/jwks.json`` without Flask."""

    def __init__(self, app: WSGIApp, deps: Deps) -> None:
        self.app, self.deps = app, deps
        s = deps.settings
        discovery = serialised(s.server.issuer, s.tokens.access_token_alg)
        self.documents = {
            "/.well-known/openid-configuration": _Document("protocol.discovery", lambda: discovery, DISCOVERY_MAX_AGE),
            # No longer than a next key is published before it signs (settings validation), so every
            # relying party that honours the cache lifetime holds the next key before it is used.
            "/jwks.json": _Document(
                "protocol.jwks", lambda: deps.keystore.jwks_bytes(), deps.settings.keys.jwks_max_age_seconds
            ),
        }
        self.base_headers = context.base_headers(s.server.issuer)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        document = self.documents.get(environ.get("PATH_INFO", ""))
        method = environ.get("REQUEST_METHOD", "")
        if document is None or method not in ("GET", "HEAD") or environ.get("QUERY_STRING"):
            return self.app(environ, start_response)
        started = time.perf_counter()
        try:
            body, etag = document.current()
        except KeyStoreError:
            return self.app(environ, start_response)  # the registry's 503, rendered by Flask
        networks = context.trusted_networks(self.deps.settings.server.trusted_proxies)
        remote = environ.get("REMOTE_ADDR", "")
        request_id = context.request_id_for(environ.get("HTTP_X_REQUEST_ID", ""), remote, networks)
        headers = [
            ("Cache-Control", document.cache_control),
            ("Access-Control-Allow-Origin", "*"),
            ("ETag", f'"{etag}"'),
        ]
        headers += self.base_headers
        headers.append(("X-Request-ID", request_id))
        if parse_etags(environ.get("HTTP_IF_NONE_MATCH")).contains_weak(etag):
            status, payload = 304, b""
            start_response("304 Not Modified", headers)
        else:
            status, payload = 200, (b"" if method == "HEAD" else body)
            headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            start_response("200 OK", headers)
        duration = time.perf_counter() - started
        metrics.child(metrics.REQUEST_SECONDS, document.endpoint, method).observe(duration)
        metrics.child(metrics.RESPONSES, document.endpoint, method, str(status)).inc()
        if logs.access_log.isEnabledFor(logging.INFO):
            ip = context.client_ip_for(remote, environ.get("HTTP_X_FORWARDED_FOR", ""), networks)
            logs.log_line(method, environ.get("PATH_INFO", ""), status, document.endpoint, duration, ip, request_id)
        return [payload]
