"""Key store: signing keys with lifecycle states, kept as one file per key in ``IDP_KEYS_DIR``.

States: ``next`` (published, not signing) → ``current`` (signs) → ``retired`` (published,
verifies only) → removed. ``ensure_keys`` makes sure every supported algorithm has one
current and one next key, so relying parties can cache the next key before it signs.

Every process reads the same folder (a shared volume in multi-host deployments) and
reloads it when its modification time changes, checked at most once a second.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, KeySet, RSAKey

from .security.tokens import new_id

SUPPORTED_ALGS = ("RS256", "ES256")
PUBLISHED_STATES = ("next", "current", "retired")


class KeyStoreError(RuntimeError):
    """The key folder is missing, unreadable, or holds no usable key."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    state: str
    created_at: float
    key: RSAKey | ECKey

    def public_jwk(self) -> dict:
        return self.key.as_dict(private=False)


class FileKeyStore:
    def __init__(self, directory: str | Path, passphrase: str = ""):
        self.directory = Path(directory)
        self._passphrase = passphrase.encode() if passphrase else None
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = []
        self._loaded_mtime: float | None = None
        self._checked_at = 0.0
        self._jwks_bytes = b""

    # -- reading -------------------------------------------------------------------------
    def keys(self) -> list[SigningKey]:
        self._refresh()
        return self._keys

    def signing_key(self, alg: str) -> SigningKey:
        for k in self.keys():
            if k.alg == alg and k.state == "current":
                return k
        raise KeyStoreError(f"no current {alg} signing key in {self.directory}; run `idp init`")

    def verification_keys(self) -> KeySet:
        return KeySet([k.key for k in self.keys() if k.state in PUBLISHED_STATES])

    def jwks_bytes(self) -> bytes:
        """The public JWKS document, serialised once per key-set change."""
        self._refresh()
        return self._jwks_bytes

    def _refresh(self) -> None:
        now = time.monotonic()
        if self._loaded_mtime is not None and now - self._checked_at < 1.0:
            return
        with self._lock:
            self._checked_at = now
            try:
                mtime = self.directory.stat().st_mtime
            except FileNotFoundError:
                raise KeyStoreError(f"key folder {self.directory} does not exist; run `idp init`") from None
            if mtime == self._loaded_mtime:
                return
            self._keys = sorted(self._load_all(), key=lambda k: (k.alg, k.created_at))
            jwks = {"keys": [k.public_jwk() for k in self._keys if k.state in PUBLISHED_STATES]}
            self._jwks_bytes = json.dumps(jwks, separators=(",", ":")).encode()
            self._loaded_mtime = mtime

    def _load_all(self) -> list[SigningKey]:
        result = []
        for path in self.directory.glob("*.json"):
            try:
                data = json.loads(path.read_text())
                pem = serialization.load_pem_private_key(data["private_pem"].encode(), password=self._passphrase)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise KeyStoreError(f"cannot read signing key {path.name}: {exc.__class__.__name__}") from None
            result.append(_signing_key(data, pem))
        return result

    # -- writing -------------------------------------------------------------------------
    def ensure_keys(self, now: float) -> list[SigningKey]:
        """Create a current and a next key for every supported algorithm that lacks one."""
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = self._load_all()
        created = []
        for alg in SUPPORTED_ALGS:
            for state in ("current", "next"):
                if not any(k.alg == alg and k.state == state for k in existing):
                    created.append(self._create(alg, state, now))
        self._loaded_mtime = None
        return created

    def _create(self, alg: str, state: str, now: float) -> SigningKey:
        private = rsa.generate_private_key(65537, 2048) if alg == "RS256" else ec.generate_private_key(ec.SECP256R1())
        encryption = (serialization.BestAvailableEncryption(self._passphrase) if self._passphrase
                      else serialization.NoEncryption())
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        data = {"kid": new_id(), "alg": alg, "state": state, "created_at": now, "private_pem": pem.decode()}
        path = self.directory / f"{data['kid']}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        return _signing_key(data, private)


def _signing_key(data: dict, private) -> SigningKey:
    params = {"kid": data["kid"], "alg": data["alg"], "use": "sig"}
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    cls = RSAKey if data["alg"] == "RS256" else ECKey
    return SigningKey(data["kid"], data["alg"], data["state"], data["created_at"], cls.import_key(pem, params))


def init_app(app, keystore: FileKeyStore | None = None) -> None:
    s = app.extensions["idp.settings"]
    app.extensions["idp.keystore"] = keystore or FileKeyStore(s.keys_dir, s.keys_passphrase)


def get_keystore() -> FileKeyStore:
    from flask import current_app

    return current_app.extensions["idp.keystore"]
