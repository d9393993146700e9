"""Ports: the interfaces the domain and the HTTP layer depend on. ``idp.app`` picks an implementation
of each (in-process or Redis, SMTP or outbox, …); tests pass their own (CONVENTIONS 6)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from joserfc.jwk import Key, KeySet


class Clock(Protocol):
    def now(self) -> float:
        """Current time as POSIX seconds (UTC)."""


class Store(Protocol):
    def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        """Save ``value`` under ``key``, replacing any earlier value, for at most ``ttl`` seconds."""

    def get(self, key: str) -> dict[str, Any] | None:
        """The value under ``key``, or None."""

    def pop(self, key: str) -> dict[str, Any] | None:
        """Atomically read and delete ``key``: of two concurrent callers only one gets the value."""

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        """Save ``value`` only if ``key`` is absent (atomically); False if it was already there.
        Replay caches use it: of two concurrent uses of one ``jti`` only the first is accepted."""


class Throttle(Protocol):
    def check(self, login: str, ip: str, device: str | None = None) -> None:
        """Reserve one password verification for account key ``login`` from ``ip`` (and the known
        ``device`` of that account, if any); raise ``TooManyAttempts`` if it may not even be verified."""

    def record_failure(self, login: str, ip: str, device: str | None = None) -> list[tuple[str, float]]:
        """The reserved attempt failed. Returns the limiters now engaged as ``(scope, seconds to wait)``."""

    def record_success(self, login: str, ip: str, device: str | None = None) -> None:
        """Forget the failures of the limiter that was used, and give the IP its token back."""

    def check_rate(self, name: str, key: str) -> None:
        """Count one request against the named limit (e.g. ``"password_forgot_ip"``) for ``key``;
        raise ``TooManyAttempts`` when it is exhausted, ``ValueError`` for an unknown name."""

    def status(self, account: str | None = None, ip: str | None = None) -> dict[str, Any]:
        """What the limiters hold for an account key and/or an IP (for ``idp throttle status``)."""

    def clear(self, account: str | None = None, ip: str | None = None) -> int:
        """Forget the counters of an account key (with its devices) and/or an IP; returns how many."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str  # key family: RS256, ES256, Ed25519
    state: str
    created_at: float
    key: Key  # private for the current key of a family


class KeyStore(Protocol):
    """What the protocol code needs from a key store (``create_app(keystore=…)`` takes any)."""

    def signing_key(self, alg: str) -> SigningKey:
        """The current key that signs with JWS ``alg`` (private half in ``.key``)."""

    def verification_keys(self) -> KeySet:
        """Public keys our own tokens may be signed with (next, current, retired; never revoked)."""

    def jwks_bytes(self) -> bytes:
        """The serialised public JWKS document for ``/jwks.json``."""

    def keys(self) -> list[SigningKey]:
        """The published keys, public halves only."""


class Mailer(Protocol):
    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        """Deliver one message (plain text, optionally with an HTML alternative) or raise."""


class Hasher(Protocol):
    """Password hashing (argon2id in ``idp.core.passwords``)."""

    def hash(self, password: str) -> str:
        """A new hash of ``password``."""

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True if ``password`` matches; spends the same work when ``stored_hash`` is None."""

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with other parameters than the configured ones."""


class Database(Protocol):
    """The SQL database (``idp.storage.sql.database.Database``): sessions for units of work."""

    engine: Any

    def session(self) -> Any:
        """A new ORM session (the caller's unit of work commits or rolls it back)."""

    def read_session(self) -> Any:
        """A new ORM session that only reads, outside any transaction (one round trip per query)."""

    def transaction(self) -> AbstractContextManager[Any]:
        """A session in a transaction of its own, committed when the block ends without an error."""

    def dispose(self) -> None:
        """Close every pooled connection."""


class Notifier(Protocol):
    """The provider's e-mails (``idp.http.mail``): composed in the user's language, sent by the postman."""

    def send(self, kind: str, to: str, lang: str, *, later: bool = True, **context: Any) -> Any:
        """Compose mail ``kind`` (reset, invite, changed, device) and send it; ``later`` hands it to the
        mail thread."""
