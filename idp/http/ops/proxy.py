"""``X-Forwarded-Proto`` from a trusted proxy, as WSGI middleware for servers that do not handle it.

gunicorn sets ``wsgi.url_scheme`` from it for ``forwarded_allow_ips``; granian does not, so ``idp serve``
wraps the app in this under granian with the same rule: only a peer in IDP_TRUSTED_PROXIES (127.0.0.1
when that is empty, gunicorn's default) is believed. werkzeug's ``ProxyFix`` trusts a number of hops,
not addresses, so it cannot express that. ``X-Forwarded-For`` is the app's own (``idp.http.context``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from idp.core.settings import Settings

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ForwardedProto:
    def __init__(self, app: WSGIApp, settings: Settings) -> None:
        self.app = app
        cidrs = settings.server.trusted_proxies or ("127.0.0.1",)
        self.networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        proto = environ.get("HTTP_X_FORWARDED_PROTO", "").strip().lower()
        if proto in ("http", "https") and self._trusted(environ.get("REMOTE_ADDR", "")):
            environ["wsgi.url_scheme"] = proto
        return self.app(environ, start_response)

    def _trusted(self, addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)
