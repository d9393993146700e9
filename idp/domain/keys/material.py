"""Signing-key material: generation per algorithm family, encryption at rest, JWK views.

A key *family* is what the lifecycle tracks (one current and one next key each):
``RS256``, ``ES256`` and ``Ed25519``. A JWS ``alg`` names the family it signs with; the
Ed25519 family signs both as ``Ed25519`` (RFC 9864's fully-specified name) and as the
older polymorphic ``EdDSA`` (RFC 8037) that RFC 9864 deprecates but most relying-party
libraries still expect — a client's ``id_token_signed_response_alg`` picks the label.
Its JWK is therefore published without an ``alg`` member (optional, RFC 7517 §4.4), so
neither label contradicts the key.

Private keys are PKCS#8 PEM encrypted with the passphrase (``cryptography``'s
``BestAvailableEncryption``: PBKDF2 + AES-256-CBC), a standard format that
``openssl pkcs8`` can open in a disaster.
"""

from __future__ import annotations

import functools
import warnings

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey

FAMILIES = ("RS256", "ES256", "Ed25519")
#: Families every installation keeps ready: RS256 is the OIDC default for ID tokens,
#: ES256 the default for access tokens. Ed25519 keys are made when first needed.
DEFAULT_FAMILIES = ("RS256", "ES256")
#: JWS algorithms we sign and verify, each with its key family.
JWS_ALGS = {"RS256": "RS256", "ES256": "ES256", "Ed25519": "Ed25519", "EdDSA": "Ed25519"}

# joserfc warns on every use of "EdDSA" (RFC 9864 deprecates it); we use it only for clients
# that registered it, on purpose, so the warning would be noise in the provider's log.
warnings.filterwarnings("ignore", message="EdDSA is deprecated via RFC 9864", category=SecurityWarning)


class KeyDecryptionError(ValueError):
    """A stored private key cannot be decrypted (wrong ``IDP_KEYS_PASSPHRASE``?)."""


def family_of(alg: str) -> str:
    """The key family a JWS algorithm (or a family name) signs with."""
    try:
        return JWS_ALGS[alg]
    except KeyError:
        raise ValueError(f"unsupported signing algorithm {alg!r}; one of {', '.join(JWS_ALGS)}") from None


def generate(family: str):
    if family == "RS256":
        return rsa.generate_private_key(65537, 2048)
    if family == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if family == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported key family {family!r}")


def encrypt(private, passphrase: str) -> str:
    if not passphrase:
        raise ValueError("a passphrase is required: private keys are never stored in clear")
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    ).decode()


@functools.lru_cache(maxsize=64)
def decrypt(pem: str, passphrase: str):
    """The private key object. Cached per process: PBKDF2 makes each decryption ~40 ms."""
    try:
        return serialization.load_pem_private_key(pem.encode(), password=passphrase.encode() or None)
    except (ValueError, TypeError):
        raise KeyDecryptionError(
            "cannot decrypt a signing key: is IDP_KEYS_PASSPHRASE the one it was made with?"
        ) from None


def jwk(kid: str, family: str, key_object):
    """A joserfc key (private or public) carrying our kid, ``use`` and ``alg`` parameters."""
    params = {"kid": kid, "use": "sig"}
    if family != "Ed25519":
        params["alg"] = family
    cls = {"RS256": RSAKey, "ES256": ECKey, "Ed25519": OKPKey}[family]
    return cls.import_key(key_object, params)


def public_jwk(kid: str, family: str, private) -> dict:
    return jwk(kid, family, private.public_key()).as_dict(private=False)


def import_public(data: dict):
    cls = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}[data["kty"]]
    return cls.import_key(data)
