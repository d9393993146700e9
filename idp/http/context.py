"""Per-request plumbing: the app's dependencies and the request's facts (``deps``,
``request_info``), the request class, client IP behind trusted proxies, request ids, security headers.

``deps()`` is how the HTTP layer reaches what ``idp.app`` wired; views hand use cases exactly the
parts they need, and ``request_info()`` as a value: nothing below ``idp.http`` looks anything up."""

from __future__ import annotations

import ipaddress
import itertools
import os
import re
import secrets
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from flask import Request as FlaskRequest
from flask import Response, current_app, g, request
from itsdangerous import TimestampSigner

from idp.core.deps import Deps
from idp.core.request import RequestInfo

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClockSigner(TimestampSigner):
    """Ages signed values (forms, the way back to an app) by the clock service, so tests can
    expire them without sleeping."""

    def get_timestamp(self) -> int:
        return int(deps().now())


def deps() -> Deps:
    """What this app runs on (built once by ``idp.app.create_app``)."""
    return current_app.extensions["idp"]


def request_info() -> RequestInfo:
    """The current request's client address, user agent and request id, for use cases to record."""
    info = g.get("idp_request_info")
    if info is None:
        info = g.idp_request_info = RequestInfo(
            ip=client_ip(), user_agent=request.headers.get("User-Agent", "")[:300], request_id=g.get("request_id", "")
        )
    return info


_NON_ASCII = re.compile(rb"[\x80-\xff]")


class Request(FlaskRequest):
    """Flask's request, with the raw query string made ASCII first.

    Werkzeug decodes the query string as strict UTF-8 wherever it reads it (``args``,
    ``full_path``, ``url``), so a query holding raw bytes that are not UTF-8 raised
    ``UnicodeDecodeError``, a 500 (werkzeug keeps that on purpose: pallets/werkzeug#3022). Each
    non-ASCII byte is percent-encoded instead: valid UTF-8 still means the same text, and invalid
    bytes stay percent-encoded, as werkzeug already does with invalid escapes."""

    def __init__(self, environ: WSGIEnvironment, populate_request: bool = True, shallow: bool = False) -> None:
        super().__init__(environ, populate_request, shallow)
        if not self.query_string.isascii():
            self.query_string = _NON_ASCII.sub(lambda m: b"%%%02X" % m.group()[0], self.query_string)


class NulInRequest(Exception):
    """A request value holds a NUL character (answered with 400 ``invalid_request``)."""


def refuse_nul() -> None:
    """No parameter of ours (identifier, name, password, URI) can hold NUL, and PostgreSQL refuses it
    in a query (a ``DataError``: the 500s of /login, the account page and the admin API with
    ``%00``). Checked once here for every route, on every value a handler may read: path, query,
    form, JSON strings, cookies and the stored ``User-Agent``."""
    if _no_nul_anywhere():
        return
    values = [request.path, request.headers.get("User-Agent", ""), *request.cookies.keys(), *request.cookies.values()]
    sources = [request.args]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(request.form)
    values += [text for source in sources for pair in source.items(multi=True) for text in pair]
    if any("\x00" in value for value in values) or (request.is_json and _nul_in_json(request.get_json(silent=True))):
        raise NulInRequest()


#: How a NUL can be written in each raw source: a raw byte anywhere; ``%00`` in a query string or an
#: urlencoded body; ``\u0000`` in JSON; an octal escape (``"\000"``) in a quoted cookie value.
_QUERY_OR_FORM_NUL = re.compile(rb"\x00|%00")
_JSON_NUL = re.compile(rb"\x00|\\u0000")


def _no_nul_anywhere() -> bool:
    """True when no raw source of the request can spell a NUL: the exact check above, which parses
    every value, is then skipped (it cost 43 µs, 8% of a token request). Anything this cannot rule
    out (a multipart body, a backslash in the cookies, a form parsed already) gets the exact check."""
    environ = request.environ
    if "\x00" in request.path or "\x00" in environ.get("HTTP_USER_AGENT", ""):
        return False
    cookies = environ.get("HTTP_COOKIE", "")
    if "\x00" in cookies or "\\" in cookies or _QUERY_OR_FORM_NUL.search(request.query_string):
        return False
    if "form" in request.__dict__:  # parsed before this hook: its raw bytes are gone
        return False
    mimetype = request.mimetype
    if mimetype == "application/x-www-form-urlencoded":
        return not _QUERY_OR_FORM_NUL.search(request.get_data(cache=True))
    if request.is_json:
        return not _JSON_NUL.search(request.get_data(cache=True))
    return mimetype != "multipart/form-data"  # other bodies are never read as values


def _nul_in_json(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_nul_in_json(k) or _nul_in_json(v) for k, v in value.items())
    return isinstance(value, list) and any(_nul_in_json(v) for v in value)


@lru_cache(maxsize=16)
def trusted_networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _trusted(addr: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip() -> str:
    """The client's address, behind trusted proxies (``client_ip_for``), once per request."""
    cached = g.get("client_ip")
    if cached is None:
        networks = trusted_networks(deps().settings.server.trusted_proxies)
        cached = g.client_ip = client_ip_for(
            request.remote_addr or "", request.headers.get("X-Forwarded-For", ""), networks
        )
    return cached


def client_ip_for(remote_addr: str, forwarded_for: str, networks: tuple[IPNetwork, ...]) -> str:
    """``X-Forwarded-For`` is honoured only when the peer is a trusted proxy, and then read right
    to left up to the first address that is not itself a trusted proxy."""
    addr = remote_addr
    if networks and _trusted(addr, networks):
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        for hop in reversed(hops):
            addr = hop
            if not _trusted(hop, networks):
                break
    try:
        return str(ipaddress.ip_address(addr))
    except ValueError:
        return ""


def assign_request_id() -> None:
    """A request id for logs and audit (``request_id_for``)."""
    networks = trusted_networks(deps().settings.server.trusted_proxies)
    g.request_id = request_id_for(request.headers.get("X-Request-ID", ""), request.remote_addr or "", networks)


def request_id_for(incoming: str, remote_addr: str, networks: tuple[IPNetwork, ...]) -> str:
    """The trusted proxy's ``X-Request-ID`` (short, printable ASCII) or a new one."""
    if (
        incoming
        and len(incoming) <= 64
        and incoming.isascii()
        and incoming.isprintable()
        and networks
        and _trusted(remote_addr, networks)
    ):
        return incoming
    return new_request_id()


_ids: dict[str, Any] = {}


def new_request_id() -> str:
    """16 hex characters, unique within this process: a random prefix per process (drawn again after
    a fork) and a counter. Ids correlate log lines; they guard nothing, so they need no fresh
    randomness: ``secrets.token_hex`` per request was 7% of a discovery request's profile."""
    pid = os.getpid()
    if _ids.get("pid") != pid:
        _ids.update(pid=pid, prefix=secrets.token_hex(4), counter=itertools.count(1))
    return f"{_ids['prefix']}{next(_ids['counter']) & 0xFFFFFFFF:08x}"


# script-src 'self': the one comfort script (static/idp.js, Caps Lock and password toggle); never inline.
# img-src https: lets IDP_BRAND_LOGO_URL point at the institution's own web server.
# connect-src 'self': static/passkeys.js fetches its WebAuthn options from this origin.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; connect-src 'self'; "
    "form-action 'self' {form_action}; frame-ancestors 'none'; base-uri 'none'"
)


@lru_cache(maxsize=4)
def base_headers(issuer: str) -> tuple[tuple[str, str], ...]:
    """The headers every response gets, Flask's and the fast path's (``idp.http.documents``)."""
    hsts = (("Strict-Transport-Security", "max-age=31536000"),) if issuer.startswith("https://") else ()
    return (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"), *hsts)


def security_headers(response: Response) -> Response:
    """Headers every response gets; HTML pages also get CSP and no caching."""
    for name, value in base_headers(deps().settings.server.issuer):
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        # form-action must allow the redirect after a form post (to registered redirect URIs);
        # browsers apply form-action to redirects, so leave it open to http(s) targets.
        response.headers.setdefault("Content-Security-Policy", CSP.format(form_action="https: http:"))
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Request-ID"] = g.get("request_id", "")
    return response
