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
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, Key, KeyParameters, OKPKey, RSAKey

FAMILIES = ("RS256", "ES256", "Ed25519")
#: Families every installation keeps ready: RS256 is the OIDC default for ID tokens,
#: ES256 the default for access tokens. Ed25519 keys are made when first needed.
DEFAULT_FAMILIES = ("RS256", "ES256")
#: JWS algorithms we sign and verify, each with its key family.
JWS_ALGS = {"RS256": "RS256", "ES256": "ES256", "Ed25519": "Ed25519", "EdDSA": "Ed25519"}

#: The private and public key objects of the three families (``cryptography``).
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

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


def generate(family: str) -> PrivateKey:
    if family == "RS256":
        return rsa.generate_private_key(65537, 2048)
    if family == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if family == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported key family {family!r}")


def encrypt(private: PrivateKey, passphrase: str) -> str:
    if not passphrase:
        raise ValueError("a passphrase is required: private keys are never stored in clear")
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    ).decode()


@functools.lru_cache(maxsize=64)
def decrypt(pem: str, passphrase: str) -> PrivateKey:
    """The private key object. Cached per process: PBKDF2 makes each decryption ~40 ms."""
    try:
        private = serialization.load_pem_private_key(pem.encode(), password=passphrase.encode() or None)
    except (ValueError, TypeError):
        raise KeyDecryptionError(
            "cannot decrypt a signing key: is IDP_KEYS_PASSPHRASE the one it was made with?"
        ) from None
    if not isinstance(private, PrivateKey):  # only ``generate``'s keys are stored
        raise KeyDecryptionError(f"a stored signing key is of an unsupported type ({type(private).__name__})")
    return private


def jwk(kid: str, family: str, key_object: PrivateKey | PublicKey) -> Key:
    """A joserfc key (private or public) carrying our kid, ``use`` and ``alg`` parameters."""
    params: KeyParameters = {"kid": kid, "use": "sig"}
    if family != "Ed25519":
        params["alg"] = family
    if family == "RS256" and isinstance(key_object, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return RSAKey.import_key(key_object, params)
    if family == "ES256" and isinstance(key_object, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return ECKey.import_key(key_object, params)
    if family == "Ed25519" and isinstance(key_object, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return OKPKey.import_key(key_object, params)
    raise ValueError(f"not a {family} key: {type(key_object).__name__}")


def public_jwk(kid: str, family: str, private: PrivateKey) -> dict[str, Any]:
    return jwk(kid, family, private.public_key()).as_dict(private=False)


def import_public(data: dict[str, Any]) -> Key:
    """The public joserfc key of a stored JWK (``kty`` RSA, EC or OKP)."""
    kty = data["kty"]
    if kty == "RSA":
        return RSAKey.import_key(data)
    if kty == "EC":
        return ECKey.import_key(data)
    if kty == "OKP":
        return OKPKey.import_key(data)
    raise KeyError(kty)
