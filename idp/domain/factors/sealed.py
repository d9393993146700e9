"""Secrets at rest sealed with ``IDP_KEYS_PASSPHRASE``, like the signing keys: the TOTP secrets, and
the half-finished enrolment a form carries between the QR code and its confirmation.

AES-256-GCM (``cryptography``) under a key derived once per process from the passphrase with scrypt
(RFC 7914; n=2**15, r=8, p=1: ~50 ms, paid once, then cached). The salt is a fixed label, so one
derivation serves every secret; each sealed value has its own random 96-bit nonce. ``purpose`` is
authenticated as associated data, so a value sealed for one use cannot be replayed as another.
Format: ``v1.<nonce>.<ciphertext>`` (base64url). ``idp keys change-passphrase`` re-seals them.
"""

from __future__ import annotations

import base64
import functools
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

_SALT = b"spom-login/sealed-secrets/v1"
_VERSION = "v1"


class Unsealable(ValueError):
    """Not a value sealed with this passphrase for this purpose (tampered, truncated or foreign)."""


@functools.lru_cache(maxsize=4)
def _key(passphrase: str) -> bytes:
    if not passphrase:
        raise ValueError("a passphrase is required: secrets are never stored in clear")
    return Scrypt(salt=_SALT, length=32, n=2**15, r=8, p=1).derive(passphrase.encode("utf-8"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(plaintext: str, passphrase: str, purpose: str) -> str:
    nonce = os.urandom(12)
    ciphertext = AESGCM(_key(passphrase)).encrypt(nonce, plaintext.encode("utf-8"), purpose.encode("utf-8"))
    return f"{_VERSION}.{_b64(nonce)}.{_b64(ciphertext)}"


def unseal(sealed: str, passphrase: str, purpose: str) -> str:
    try:
        version, nonce, ciphertext = sealed.split(".")
        if version != _VERSION:
            raise Unsealable("unknown format")
        plain = AESGCM(_key(passphrase)).decrypt(_unb64(nonce), _unb64(ciphertext), purpose.encode("utf-8"))
        return plain.decode("utf-8")
    except (ValueError, InvalidTag, UnicodeDecodeError) as exc:
        if isinstance(exc, Unsealable):
            raise
        raise Unsealable("not sealed with this passphrase for this purpose") from None


def reseal(sealed: str, old: str, new: str, purpose: str) -> str:
    """The same secret sealed with a new passphrase (``idp keys change-passphrase``)."""
    return seal(unseal(sealed, old, purpose), new, purpose)
