"""Random credentials and how they are stored.

Session ids, authorization codes and refresh tokens are 256-bit random values; only their
SHA-256 is stored, so a database leak yields nothing usable. Because these values carry
256 bits of entropy, a fast unsalted hash is enough: there is nothing to brute-force.
Client secrets get a *keyed* hash (HMAC-SHA256 with the server secret) so a leaked table
cannot even be used to confirm a guessed secret offline; argon2 would only add ~50 ms to
every token request without adding protection to a 256-bit secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token() -> str:
    """A URL-safe token with 256 bits of entropy."""
    return secrets.token_urlsafe(32)


def new_id() -> str:
    """A public identifier with 128 bits of entropy (not a credential). Never begins with ``-`` or
    ``_``: ids are typed on command lines (``idp clients show <client_id>``), where a leading dash
    reads as an option (1 id in 32 did)."""
    while True:
        value = secrets.token_urlsafe(16)
        if value[0].isalnum():
            return value


def token_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def keyed_hash(value: str, key: str) -> str:
    return hmac.new(key.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).hexdigest()


def equals(a: str, b: str) -> bool:
    """Constant-time comparison of two strings."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
