"""Settings: ``IDP_*`` environment variables parsed once into a frozen, typed object.

Each field has a type, a default and a doc line (the doc lines are rendered into
``docs/configuration.md`` by hand; ``tests/test_settings.py`` checks both agree).
``Settings.from_env`` reports every problem at once, the way dex's ``Validate()`` does.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """Raised when the environment does not describe a valid configuration."""


def _doc(text: str, **kw):
    return field(metadata={"doc": text}, **kw)


@dataclass(frozen=True)
class Settings:
    issuer: str = _doc("Public base URL of the provider; `https` unless loopback.", default="http://127.0.0.1:8000")
    instance_dir: str = _doc("Folder for the embedded database and the generated dev secret.", default="instance")
    database_url: str = _doc("SQLAlchemy URL; default SQLite under the instance folder.", default="")
    redis_url: str = _doc("Redis URL for short-lived state; empty = in-process store (one process only).", default="")
    redis_prefix: str = _doc("Prefix for every Redis key this provider writes.", default="idp:")
    keys_dir: str = _doc("Folder holding the signing keys.", default="keys")
    keys_passphrase: str = _doc("Passphrase that encrypts private keys at rest (recommended in production).", default="")
    secret_key: str = _doc("Secret for CSRF tokens and keyed hashes; generated into the instance folder for loopback dev.", default="")
    trusted_proxies: tuple[str, ...] = _doc("Comma-separated CIDRs whose X-Forwarded-For is honoured.", default=())
    session_idle_seconds: int = _doc("Provider session idle timeout.", default=1800)
    session_max_seconds: int = _doc("Provider session absolute lifetime.", default=36000)
    interaction_seconds: int = _doc("How long a pending sign-in or consent page stays valid.", default=1800)
    code_seconds: int = _doc("Authorization code lifetime.", default=60)
    access_token_seconds: int = _doc("Access token (RFC 9068 JWT) lifetime.", default=600)
    id_token_seconds: int = _doc("ID token lifetime.", default=600)
    refresh_token_seconds: int = _doc("Refresh token lifetime (rotated on each use).", default=1209600)
    access_token_alg: str = _doc("JWS algorithm for access tokens (ES256 is ~6x cheaper than RS256).", default="ES256")
    argon2_memory_kib: int = _doc("argon2id memory cost in KiB (OWASP: 19456).", default=19456)
    argon2_time_cost: int = _doc("argon2id iterations (OWASP: 2).", default=2)
    argon2_parallelism: int = _doc("argon2id lanes (OWASP: 1).", default=1)
    max_login_length: int = _doc("Longest accepted registration number or e-mail.", default=254)
    max_password_length: int = _doc("Longest accepted password (characters).", default=128)
    log_level: str = _doc("Python log level.", default="INFO")
    open_registration: int = _doc("1 lets anyone register clients at /register without an initial access token "
                                  "(RFC 7591 open registration); 0 requires one.", default=0)

    @property
    def issuer_is_loopback_http(self) -> bool:
        parts = urlsplit(self.issuer)
        return parts.scheme == "http" and _is_loopback_host(parts.hostname or "")

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry ``Secure`` except on a plain-http loopback issuer (local dev)."""
        return not self.issuer_is_loopback_http

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "Settings":
        """Build settings from ``IDP_*`` variables (plus keyword overrides) and validate them."""
        env = os.environ if environ is None else environ
        values: dict = {}
        errors: list[str] = []
        for f in dataclasses.fields(cls):
            raw = env.get("IDP_" + f.name.upper())
            if raw is None:
                continue
            try:
                values[f.name] = _parse(f.type, raw)
            except ValueError:
                errors.append(f"IDP_{f.name.upper()}: expected {f.type}, got {raw!r}")
        values.update(overrides)
        if errors:
            # Name every problem at once: the values that did parse are validated too.
            raise SettingsError("; ".join(errors + list(cls(**values)._problems())))
        return cls(**values).validated()

    def validated(self) -> "Settings":
        errors = list(self._problems())
        if errors:
            raise SettingsError("; ".join(errors))
        resolved = self
        if not self.database_url:
            path = Path(self.instance_dir).resolve() / "idp.sqlite3"
            resolved = dataclasses.replace(resolved, database_url=f"sqlite:///{path}")
        if not self.secret_key:
            resolved = dataclasses.replace(resolved, secret_key=_dev_secret(Path(self.instance_dir)))
        return resolved

    def _problems(self):
        parts = urlsplit(self.issuer)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            yield f"IDP_ISSUER: must be an absolute http(s) URL, got {self.issuer!r}"
        elif parts.scheme == "http" and not _is_loopback_host(parts.hostname):
            yield "IDP_ISSUER: must use https unless the host is loopback (127.0.0.1, ::1, localhost)"
        if parts.query or parts.fragment or self.issuer.endswith("/"):
            yield "IDP_ISSUER: must have no query, fragment or trailing slash (OpenID Discovery 1.0 §2)"
        if not self.secret_key and not self.issuer_is_loopback_http:
            yield "IDP_SECRET_KEY: required when the issuer is not plain-http loopback"
        if self.secret_key and len(self.secret_key) < 32:
            yield "IDP_SECRET_KEY: must be at least 32 characters"
        for cidr in self.trusted_proxies:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                yield f"IDP_TRUSTED_PROXIES: {cidr!r} is not an IP address or CIDR"
        if self.access_token_alg not in ("ES256", "RS256", "EdDSA"):
            yield "IDP_ACCESS_TOKEN_ALG: one of ES256, RS256, EdDSA"
        for name in ("session_idle_seconds", "session_max_seconds", "code_seconds", "access_token_seconds",
                     "id_token_seconds", "refresh_token_seconds", "interaction_seconds"):
            if getattr(self, name) <= 0:
                yield f"IDP_{name.upper()}: must be positive"
        if self.code_seconds > 600:
            yield "IDP_CODE_SECONDS: at most 600 (RFC 6749 §4.1.2 recommends ten minutes at most)"
        if self.argon2_memory_kib < 8 * self.argon2_parallelism or self.argon2_time_cost < 1:
            yield "IDP_ARGON2_*: memory must be at least 8 KiB per lane and time cost at least 1"

    @classmethod
    def documentation(cls) -> list[tuple[str, str, str]]:
        """(variable, default, doc) for every setting, in declaration order."""
        rows = []
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else ""
            if isinstance(default, tuple):
                default = ",".join(default)
            rows.append((f"IDP_{f.name.upper()}", str(default), f.metadata["doc"]))
        return rows


def _parse(type_name: str, raw: str):
    if type_name == "int":
        return int(raw)
    if type_name.startswith("tuple"):
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    return raw.strip()


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _dev_secret(instance_dir: Path) -> str:
    """A per-installation secret for loopback development, kept in the instance folder."""
    path = instance_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value
