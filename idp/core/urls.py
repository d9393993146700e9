"""Local redirect targets: the one parser for every ``next``-style parameter (no open redirect)."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit

#: A base no request can name: resolving against it shows whether a value leaves this server.
_BASE = "https://this-server.invalid/"
MAX_LENGTH = 2000


def safe_local_path(value: object, default: str = "/") -> str:
    """``value`` as a path (with query) on this server, normalised, or ``default``.

    Browsers are lenient where a naive check is strict: they drop tabs and newlines anywhere
    (``/\\t/evil.example`` becomes ``//evil.example``), read ``\\`` as ``/`` and treat ``//host``
    (and ``///host``) as another host. So rather than looking for bad prefixes, refuse control
    characters, whitespace, backslashes and non-ASCII outright, resolve the value the way a browser would
    (urllib, RFC 3986 dot segments included) against a base of our own, and accept it only if it
    stays on that base; what is returned is rebuilt from the parsed parts.
    """
    if not isinstance(value, str) or not value.startswith("/") or len(value) > MAX_LENGTH:
        return default
    if not value.isascii() or "\\" in value or any(c.isspace() or not c.isprintable() for c in value):
        return default  # our own links are percent-encoded ASCII: anything else is refused, not guessed at
    parts = urlsplit(urljoin(_BASE, value))
    if f"{parts.scheme}://{parts.netloc}/" != _BASE or parts.path.startswith("//"):
        return default
    return urlunsplit(("", "", parts.path, parts.query, parts.fragment))
