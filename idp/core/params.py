"""Parsing untrusted request input: numbers and HTTP Basic client credentials.

Python's own parsers are too generous for protocol input: ``str.isdigit()`` is true for '²',
which ``int()`` then refuses (a 500 once), ``int()`` and ``float()`` accept Arabic-Indic digits,
'1_000', ' +5 ', 'nan' and 'inf', and ``bytes.decode()`` raises on credentials that are not
UTF-8. Everything here accepts only the ASCII forms the specifications define and raises
``ParameterError`` (a ``ValueError``) for the rest, so a caller turns bad input into a 400 or
401 in one ``except``. Pure functions: no Flask, no services.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote_plus

#: ASCII digits only; ``\\d`` would match every Unicode decimal digit.
_DIGITS = re.compile(r"[0-9]{1,18}")
#: A JSON number without sign (RFC 8259 §6) in ASCII: no 'nan', 'inf', '_' or Unicode digits.
_DECIMAL = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,9})?(?:[eE][+-]?[0-9]{1,3})?")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
#: Longest Basic credentials decoded (a client id and secret are far shorter).
MAX_CREDENTIALS = 4096


class ParameterError(ValueError):
    """A request value that is not in the form the protocol defines."""


def ascii_int(raw: str, *, low: int, high: int) -> int:
    """A non-negative decimal integer written in ASCII digits, within ``low``..``high``."""
    if not isinstance(raw, str) or not _DIGITS.fullmatch(raw):
        raise ParameterError("not a number in ASCII digits")
    value = int(raw)
    if not low <= value <= high:
        raise ParameterError("out of range")
    return value


#: OIDC Core §3.1.2.1 ``max_age`` in seconds; nine digits (31 years) is more than any policy needs.
MAX_AGE_LIMIT = 999_999_999


def parse_max_age(raw: str | None) -> int | None:
    """``max_age`` of an authorization request: absent, or 0..``MAX_AGE_LIMIT`` in ASCII digits."""
    return None if raw is None else ascii_int(raw, low=0, high=MAX_AGE_LIMIT)


def ascii_number(raw: str, *, low: float, below: float) -> float:
    """A non-negative decimal number (``123``, ``123.5``, ``1.5e9``) in ASCII, ``low <= n < below``."""
    if not isinstance(raw, str) or not _DECIMAL.fullmatch(raw):
        raise ParameterError("not a decimal number in ASCII digits")
    value = float(raw)
    if not low <= value < below:
        raise ParameterError("out of range")
    return value


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """The client id and secret of an ``Authorization: Basic`` header (RFC 6749 §2.3.1).

    ``None`` when the header is absent or another scheme. The client id and secret are each
    form-urlencoded, joined by ':', then base64-encoded (RFC 7617 §2, UTF-8 per §2.1); a header
    that breaks any step raises ``ParameterError``, which the token endpoint answers with
    ``invalid_client`` and 401 rather than trying another authentication method.
    """
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    token = token.strip()
    if not token or len(token) > MAX_CREDENTIALS or not _BASE64.fullmatch(token):
        raise ParameterError("Basic credentials are not base64")
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ParameterError("Basic credentials are not base64 of UTF-8 text") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise ParameterError("Basic credentials have no ':'")
    try:
        return unquote_plus(client_id, errors="strict"), unquote_plus(secret, errors="strict")
    except UnicodeDecodeError:
        raise ParameterError("Basic credentials are not form-urlencoded UTF-8") from None
