"""Key store service: each process's view of the signing keys kept in the database.

Every process re-reads the (small) ``signing_keys`` table at most every
``IDP_KEYS_RELOAD_SECONDS`` of the app clock, so a rotation or revocation made anywhere
reaches every process on every host within that time, without a restart. Private keys
are decrypted only for current keys, once per process. On each re-read a cheap check
(``keyring.due``) decides whether lifecycle work is due — missing keys, a scheduled
rotation (``IDP_KEY_ROTATION_DAYS``), retired keys past retention — and only then takes
the lock and does it, so no background thread or cron job is needed (``idp keys
auto-rotate`` runs the same check for deployments that prefer cron).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from joserfc.jwk import KeySet
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from idp.core.errors import KeyStoreError
from idp.core.ports import Clock, Database, SigningKey
from idp.domain.keys import lifecycle as keyring
from idp.domain.keys import material as keycrypto
from idp.storage.sql import keys as key_repo
from idp.storage.sql.models import StoredKey

if TYPE_CHECKING:
    from idp.core.settings import Settings

log = logging.getLogger("idp.keys")


@dataclass(frozen=True)
class _Snapshot:
    loaded_at: float
    keys: tuple[SigningKey, ...]  # published keys, public halves
    signing: dict[str, SigningKey]  # family -> SigningKey with the private key
    verification: KeySet
    jwks: bytes
    fingerprint: tuple[tuple[str, str], ...]  # (kid, state) of every row: unchanged rows need no rebuild


class DatabaseKeyStore:
    def __init__(self, database: Database, settings: Settings, clock: Clock) -> None:
        self._database, self._clock = database, clock
        self._policy = keyring.Policy.from_settings(settings)
        self._reload_seconds = settings.keys.reload_seconds
        self._families = set(keycrypto.DEFAULT_FAMILIES) | {keycrypto.family_of(settings.tokens.access_token_alg)}
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None

    # -- reading (hot path) ----------------------------------------------------------------
    def keys(self) -> list[SigningKey]:
        """Published keys (next, current, retired), public halves only."""
        return list(self._current().keys)

    def signing_key(self, alg: str) -> SigningKey:
        """The current key that signs with JWS ``alg``; a family's first keys are made on first use."""
        family = keycrypto.family_of(alg)
        found = self._current().signing.get(family)
        if found is None:
            with self._lock:
                self._families.add(family)
            found = self.refresh().signing.get(family)
        if found is None:
            raise KeyStoreError(f"no current {family} signing key")
        return found

    def verification_keys(self) -> KeySet:
        """Keys our own tokens may carry: current and retired, and next too — another process
        may already sign with it while this one has not re-read the keys yet."""
        return self._current().verification

    def jwks_bytes(self) -> bytes:
        """The public JWKS document, serialised once per key-set change."""
        return self._current().jwks

    # -- loading -------------------------------------------------------------------------
    def _current(self) -> _Snapshot:
        snap, now = self._snapshot, self._clock.now()
        if snap is not None and 0 <= now - snap.loaded_at < self._reload_seconds:
            return snap
        return self.refresh()

    def refresh(self) -> _Snapshot:
        """Re-read the keys now (doing lifecycle work first when it is due)."""
        with self._lock:
            now = self._clock.now()
            try:
                self._snapshot = self._load(now)
            except SQLAlchemyError as exc:
                if self._snapshot is None:
                    raise KeyStoreError(f"cannot read signing keys: {exc.__class__.__name__}") from None
                # Keep signing with what we have; try again after the next interval.
                log.warning("cannot re-read signing keys (%s); keeping the loaded set", exc.__class__.__name__)
                self._snapshot = replace(self._snapshot, loaded_at=now)
            return self._snapshot

    def _load(self, now: float) -> _Snapshot:
        with self._database.session() as db:
            rows = key_repo.list_keys(db)
        # Families in use: the defaults, the access-token one, any a client asked for, any stored.
        families = sorted(self._families | {r.alg for r in rows if r.state == "current"})
        if keyring.due(rows, families, now, self._policy):
            self._maintain(families, now)
            with self._database.session() as db:
                rows = key_repo.list_keys(db)
        fingerprint = tuple((r.kid, r.state) for r in rows)
        if self._snapshot is not None and self._snapshot.fingerprint == fingerprint:
            return replace(self._snapshot, loaded_at=now)
        return self._build(rows, now, fingerprint)

    def _maintain(self, families: list[str], now: float) -> None:
        """Lifecycle work that is due (missing keys, a scheduled rotation, removals), in a transaction
        of its own: this process's key store is its own unit of work, outside any request."""
        try:
            with self._database.transaction() as db:
                done = keyring.maintain(db, families, now, self._policy)
        except IntegrityError:
            return  # another process made the same change first: the caller reads its result
        if done["rotated"] or done["removed"]:
            log.info("signing keys: rotated %s, removed %s", done["rotated"], done["removed"])

    def _build(self, rows: Sequence[StoredKey], now: float, fingerprint: tuple[tuple[str, str], ...]) -> _Snapshot:
        published: list[SigningKey] = []
        signing: dict[str, SigningKey] = {}
        for row in rows:
            if row.state not in keyring.PUBLISHED_STATES:
                continue
            public = keycrypto.import_public(row.public_jwk)
            published.append(SigningKey(row.kid, row.alg, row.state, row.created_at, public))
            if row.state == "current":
                try:
                    private = keycrypto.decrypt(row.private_key, self._policy.passphrase)
                except keycrypto.KeyDecryptionError as exc:
                    log.error("signing key %s: %s", row.kid, exc)
                    raise KeyStoreError(f"signing key {row.kid}: {exc}") from None
                signing[row.alg] = SigningKey(
                    row.kid, row.alg, row.state, row.created_at, keycrypto.jwk(row.kid, row.alg, private)
                )
        jwks = json.dumps(
            {"keys": [dict(r.public_jwk) for r in rows if r.state in keyring.PUBLISHED_STATES]}, separators=(",", ":")
        ).encode()
        return _Snapshot(now, tuple(published), signing, KeySet([k.key for k in published]), jwks, fingerprint)
