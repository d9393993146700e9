"""Client registration rules, shared by the CLI (and later the admin API and RFC 7591 ``/register``)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .db.models import Client
from .security.tokens import keyed_hash, new_id, new_token

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
#: ID-token algorithms a client may register: both Ed25519 labels (see ``idp.keycrypto``).
ALGS = ("RS256", "ES256", "EdDSA", "Ed25519")
DEFAULT_SCOPE = "openid profile email offline_access"


class ClientMetadataError(ValueError):
    """Invalid client metadata; ``field`` names the offending member (RFC 7591 §3.2.2)."""

    def __init__(self, field_name: str, message: str, error: str = "invalid_client_metadata"):
        super().__init__(f"{field_name}: {message}")
        self.field, self.error = field_name, error


@dataclass
class ClientSpec:
    name: str
    redirect_uris: list[str] = field(default_factory=list)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    grant_types: list[str] = field(default_factory=lambda: ["authorization_code", "refresh_token"])
    public: bool = False
    trusted: bool = False
    scope: str = DEFAULT_SCOPE
    id_token_signed_response_alg: str = "RS256"
    #: OpenID Connect Back-Channel Logout 1.0 §2.2; None = the client does not want logout tokens.
    backchannel_logout_uri: str | None = None

    def validate(self) -> None:
        if not self.name.strip() or len(self.name) > 200:
            raise ClientMetadataError("client_name", "must be 1 to 200 characters")
        for g in self.grant_types:
            if g not in GRANT_TYPES:
                raise ClientMetadataError("grant_types", f"unsupported grant type {g!r}")
        if not self.grant_types:
            raise ClientMetadataError("grant_types", "at least one grant type is required")
        if self.public and "client_credentials" in self.grant_types:
            raise ClientMetadataError("grant_types", "a public client cannot use client_credentials")
        if "refresh_token" in self.grant_types and "authorization_code" not in self.grant_types:
            raise ClientMetadataError("grant_types", "refresh_token needs authorization_code")
        if "authorization_code" in self.grant_types and not self.redirect_uris:
            raise ClientMetadataError("redirect_uris", "required for the authorization_code grant",
                                      "invalid_redirect_uri")
        for uri in self.redirect_uris:
            check_redirect_uri(uri, "redirect_uris")
        for uri in self.post_logout_redirect_uris:
            check_redirect_uri(uri, "post_logout_redirect_uris")
        if self.backchannel_logout_uri is not None:
            check_backchannel_logout_uri(self.backchannel_logout_uri)
        if self.id_token_signed_response_alg not in ALGS:
            raise ClientMetadataError("id_token_signed_response_alg", f"one of {', '.join(ALGS)}")
        if not self.scope.split():
            raise ClientMetadataError("scope", "at least one scope is required")


def check_redirect_uri(uri: str, field_name: str) -> None:
    """Absolute, no fragment, https unless loopback (RFC 8252 §7.3), no wildcards."""
    error = "invalid_redirect_uri" if field_name == "redirect_uris" else "invalid_client_metadata"
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise ClientMetadataError(field_name, f"{uri!r} is not a URI", error) from None
    if not parts.scheme or not parts.netloc and parts.scheme in ("http", "https"):
        raise ClientMetadataError(field_name, f"{uri!r} must be an absolute URI", error)
    if parts.fragment or "#" in uri:
        raise ClientMetadataError(field_name, f"{uri!r} must not contain a fragment", error)
    if "*" in uri:
        raise ClientMetadataError(field_name, f"{uri!r} must not contain wildcards", error)
    if parts.scheme == "http" and not _loopback(parts.hostname or ""):
        raise ClientMetadataError(field_name, f"{uri!r} must use https (http only for loopback)", error)
    if parts.scheme not in ("http", "https") and "." not in parts.scheme:
        # RFC 8252 §7.1: private-use schemes are reverse domain names, e.g. edu.example.app
        raise ClientMetadataError(field_name, f"{uri!r}: use https or a reverse-domain private scheme", error)


def check_backchannel_logout_uri(uri: str) -> None:
    """Back-Channel Logout 1.0 §2.2: an absolute http(s) URL (https unless loopback), no fragment."""
    check_redirect_uri(uri, "backchannel_logout_uri")
    if urlsplit(uri).scheme not in ("http", "https"):
        raise ClientMetadataError("backchannel_logout_uri", f"{uri!r} must be an http(s) URL")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_client(spec: ClientSpec, *, secret_key: str, now: float) -> tuple[Client, str | None]:
    """A new ``Client`` row and its secret (None for public clients); the secret is only hashed here."""
    spec.validate()
    secret = None if spec.public else new_token()
    row = Client(client_id=new_id(), name=spec.name.strip(), public=spec.public, trusted=spec.trusted, active=True,
                 secret_hash=keyed_hash(secret, secret_key) if secret else None,
                 token_endpoint_auth_method="none" if spec.public else "client_secret_basic",
                 redirect_uris=list(spec.redirect_uris), post_logout_redirect_uris=list(spec.post_logout_redirect_uris),
                 grant_types=list(spec.grant_types),
                 response_types=["code"] if "authorization_code" in spec.grant_types else [],
                 scope=" ".join(dict.fromkeys(spec.scope.split())),
                 id_token_signed_response_alg=spec.id_token_signed_response_alg,
                backchannel_logout_uri=spec.backchannel_logout_uri, created_at=now)
    return row, secret
