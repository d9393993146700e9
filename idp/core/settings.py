"""Settings: ``IDP_*`` environment variables parsed once into a frozen, typed object.

Each field has a type, a default and a doc line (the doc lines are rendered into
``docs/configuration.md`` by hand; ``tests/unit/test_settings.py`` checks both agree).
``Settings.from_env`` reports every problem at once, the way dex's ``Validate()`` does.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from idp.core.outbound.policy import AllowList


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
    keys_dir: str = _doc(
        "Unused since signing keys moved into the database (docs/key-rotation.md); still accepted.", default="keys"
    )
    keys_passphrase: str = _doc(
        "Passphrase that encrypts private signing keys at rest (at least 16 characters); "
        "required unless the issuer is plain-http loopback, where one is generated into "
        "the instance folder.",
        default="",
    )
    secret_key: str = _doc(
        "Secret for CSRF tokens and keyed hashes; generated into the instance folder for loopback dev.", default=""
    )
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
    password_min_length: int = _doc("Shortest accepted new password (8 to 64; 15 recommended).", default=8)
    reset_link_seconds: int = _doc("How long a password-reset link stays valid.", default=1800)
    invite_link_seconds: int = _doc(
        "How long an invitation link (idp users import --invite) stays valid.", default=604800
    )
    outbox_dir: str = _doc(
        "Folder for mail written instead of sent (no SMTP) and for mail that failed; empty = <instance>/outbox.",
        default="",
    )
    smtp_host: str = _doc("SMTP server; empty = write mail to the outbox folder and the log.", default="")
    smtp_port: int = _doc("SMTP port (587 for STARTTLS, 465 for implicit TLS).", default=587)
    smtp_security: str = _doc(
        "SMTP transport security: starttls, tls or none (none only for loopback servers).", default="starttls"
    )
    smtp_username: str = _doc("SMTP user name; empty = no authentication.", default="")
    smtp_password: str = _doc("SMTP password.", default="")
    smtp_ca_file: str = _doc("PEM file of CAs to verify the SMTP server with; empty = system CAs.", default="")
    smtp_timeout: int = _doc("SMTP connection timeout.", default=10)
    mail_from: str = _doc("From address of the provider's mail.", default="SPOM Login <no-reply@localhost>")
    mail_attempts: int = _doc("Delivery attempts per message before it is kept in <outbox>/failed.", default=3)
    mail_retry_seconds: int = _doc("Pause between delivery attempts (doubled each time).", default=5)
    backchannel_timeout_seconds: int = _doc("Timeout of one back-channel logout POST to a relying party.", default=5)
    backchannel_attempts: int = _doc("Attempts per back-channel logout token before giving up (audited).", default=5)
    outbound_allow: tuple[str, ...] = _doc(
        "Comma-separated IP addresses/CIDRs and host names the provider may call for clients although they "
        "are internal (loopback development, internal relying parties): an internal address is called only "
        "inside a listed network; plain http only to a listed name or an IP inside a listed network; "
        "`localhost` names only when listed. Empty = public https only (docs/security.md).",
        default=(),
    )
    outbound_ca_file: str = _doc(
        "PEM file of CAs for the provider's https calls to relying parties (back-channel "
        "logout, jwks_uri); empty = Mozilla's roots (certifi).",
        default="",
    )
    backchannel_poll_seconds: int = _doc(
        "How often `idp serve` workers look for queued back-channel logouts; 0 = no background deliverer.", default=2
    )
    # Brute-force defence and rate limits (issue 3; docs/security.md). A "limit per seconds" pair is a
    # token bucket: up to LIMIT at once, refilling one every SECONDS/LIMIT seconds.
    rate_login_ip_limit: int = _doc(
        "Password verifications per client IP (IPv6: per /64) before it must wait.", default=100
    )
    rate_login_ip_seconds: int = _doc("Period over which `IDP_RATE_LOGIN_IP_LIMIT` refills.", default=900)
    throttle_account_free: int = _doc("Failed sign-ins per account before the progressive delay starts.", default=5)
    throttle_device_free: int = _doc(
        "Failed sign-ins per account from one known device before its own delay starts.", default=10
    )
    throttle_delay_seconds: int = _doc(
        "First wait once the free failures are used; it doubles with each further failure.", default=30
    )
    throttle_max_delay_seconds: int = _doc("Cap on the progressive wait.", default=900)
    throttle_reset_seconds: int = _doc("Failures are forgotten after this long without an attempt.", default=86400)
    device_cookie_days: int = _doc("Lifetime of the known-device cookie set after a successful sign-in.", default=365)
    rate_password_forgot_ip_limit: int = _doc("Forgot-password requests per client IP (IPv6: per /64).", default=20)
    rate_password_forgot_ip_seconds: int = _doc(
        "Period over which `IDP_RATE_PASSWORD_FORGOT_IP_LIMIT` refills.", default=3600
    )
    rate_password_forgot_account_limit: int = _doc("Forgot-password requests per account.", default=5)
    rate_password_forgot_account_seconds: int = _doc(
        "Period over which `IDP_RATE_PASSWORD_FORGOT_ACCOUNT_LIMIT` refills.", default=3600
    )
    device_link_seconds: int = _doc(
        "How long a device-approval link (offered on the throttled sign-in page) stays valid.", default=900
    )
    rate_device_link_ip_limit: int = _doc("Device-approval link requests per client IP (IPv6: per /64).", default=20)
    rate_device_link_ip_seconds: int = _doc("Period over which `IDP_RATE_DEVICE_LINK_IP_LIMIT` refills.", default=3600)
    rate_device_link_account_limit: int = _doc("Device-approval links mailed per account.", default=5)
    rate_device_link_account_seconds: int = _doc(
        "Period over which `IDP_RATE_DEVICE_LINK_ACCOUNT_LIMIT` refills.", default=3600
    )
    rate_password_reset_ip_limit: int = _doc("Password-reset submissions per client IP (IPv6: per /64).", default=20)
    rate_password_reset_ip_seconds: int = _doc(
        "Period over which `IDP_RATE_PASSWORD_RESET_IP_LIMIT` refills.", default=3600
    )
    rate_register_ip_limit: int = _doc("Dynamic client registrations per client IP (IPv6: per /64).", default=10)
    rate_register_ip_seconds: int = _doc("Period over which `IDP_RATE_REGISTER_IP_LIMIT` refills.", default=3600)
    rate_token_client_limit: int = _doc(
        "Token-endpoint requests per client (public clients: per client and IP).", default=6000
    )
    rate_token_client_seconds: int = _doc("Period over which `IDP_RATE_TOKEN_CLIENT_LIMIT` refills.", default=60)
    audit_retention_days: int = _doc("`idp audit prune` deletes audit events older than this.", default=365)
    key_rotation_days: int = _doc(
        "Rotate signing keys by themselves after this many days (0 = only by command).", default=0
    )
    key_publication_seconds: int = _doc(
        "How long a next key is published before it may sign; `idp keys rotate` refuses earlier unless forced.",
        default=86400,
    )
    jwks_max_age_seconds: int = _doc(
        "Cache-Control max-age of /jwks.json; at most IDP_KEY_PUBLICATION_SECONDS.", default=300
    )
    clock_skew_seconds: int = _doc(
        "Allowed clock difference with relying parties; retired keys stay published "
        "this long after their last token expires.",
        default=60,
    )
    keys_reload_seconds: int = _doc(
        "How often each process re-reads the signing keys (a rotation reaches every process within this time).",
        default=2,
    )
    log_format: str = _doc("Log lines: `json` (one object per line, with the request id) or `text`.", default="json")
    workers: int = _doc("gunicorn worker processes started by `idp serve`.", default=2)
    threads: int = _doc(
        "Threads per gunicorn worker (gthread worker class when > 1: keeps HTTP keep-alive "
        "connections, ~3x the requests/s of sync workers in bench/).",
        default=4,
    )
    malloc_mmap_threshold_kib: int = _doc(
        "`idp serve` on glibc: memory blocks of this size or more come from mmap and "
        "go back to the system when freed, so each argon2id verify (19 MiB) does not "
        "stay in its thread's heap (worker RSS flat, ~12% fewer sign-ins/s; "
        "docs/performance.md); 0 = glibc's own adaptive threshold.",
        default=128,
    )
    worker_timeout: int = _doc("Seconds before gunicorn restarts a worker that stopped answering.", default=30)
    graceful_timeout: int = _doc("Seconds in-flight requests get to finish after SIGTERM.", default=30)
    database_connect_timeout: int = _doc("Seconds to wait for a database connection before answering 503.", default=3)
    metrics_networks: tuple[str, ...] = _doc(
        "CIDRs that may read /metrics directly (never via a trusted proxy); empty = /metrics off.", default=()
    )
    refresh_reuse_grace_seconds: int = _doc(
        "A rotated refresh token reused this soon is refused without revoking its family; 0 = off.", default=5
    )
    open_registration: int = _doc(
        "1 lets anyone register clients at /register without an initial access token "
        "(RFC 7591 open registration); 0 requires one.",
        default=0,
    )
    client_cache_seconds: int = _doc(
        "How long each process keeps a registered client in memory for the protocol "
        "endpoints; a change made in another process applies within this time "
        "(in the same process at once); 0 = off.",
        default=0,
    )
    # Sign-in experience (issue 10; docs/ux.md): time zone of the dates shown, the institution's help contact, branding.
    time_zone: str = _doc(
        "IANA time zone for dates and times on the provider's pages and in its mail.", default="Europe/Berlin"
    )
    brand_name: str = _doc("Name shown in the page header and titles.", default="SPOM Login")
    brand_logo_url: str = _doc(
        "Logo image in the page header (https URL or a path on this server); empty = none.", default=""
    )
    brand_primary_color: str = _doc(
        "Primary colour as #rrggbb; must reach 4.5:1 contrast with white text.", default="#0b5cad"
    )
    help_contact_name: str = _doc("Who helps people who cannot sign in (shown on /help).", default="IT service desk")
    help_contact_email: str = _doc("E-mail address of that contact; empty = not shown.", default="")
    help_contact_phone: str = _doc("Phone number of that contact; empty = not shown.", default="")
    help_contact_hours: str = _doc(
        "When that contact is reachable, in the institution's words; empty = not shown.", default=""
    )

    @property
    def issuer_is_loopback_http(self) -> bool:
        parts = urlsplit(self.issuer)
        return parts.scheme == "http" and _is_loopback_host(parts.hostname or "")

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry ``Secure`` except on a plain-http loopback issuer (local dev)."""
        return not self.issuer_is_loopback_http

    @property
    def outbox_path(self) -> Path:
        return Path(self.outbox_dir) if self.outbox_dir else Path(self.instance_dir) / "outbox"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
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

    def validated(self) -> Settings:
        errors = list(self._problems())
        if errors:
            raise SettingsError("; ".join(errors))
        resolved = self
        if not self.database_url:
            path = Path(self.instance_dir).resolve() / "idp.sqlite3"
            resolved = dataclasses.replace(resolved, database_url=f"sqlite:///{path}")
        if not self.secret_key:
            resolved = dataclasses.replace(resolved, secret_key=_dev_secret(Path(self.instance_dir)))
        if not self.keys_passphrase:
            resolved = dataclasses.replace(
                resolved, keys_passphrase=_dev_secret(Path(self.instance_dir), "keys_passphrase")
            )
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
        for cidr in self.metrics_networks:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                yield f"IDP_METRICS_NETWORKS: {cidr!r} is not an IP address or CIDR"
        try:
            AllowList.parse(self.outbound_allow)
        except ValueError as exc:
            yield f"IDP_OUTBOUND_ALLOW: {exc}"
        if self.log_format not in ("json", "text"):
            yield "IDP_LOG_FORMAT: one of json, text"
        for name, low, high in (
            ("workers", 1, 64),
            ("threads", 1, 64),
            ("worker_timeout", 1, 3600),
            ("graceful_timeout", 1, 3600),
            ("database_connect_timeout", 2, 60),
            ("refresh_reuse_grace_seconds", 0, 60),
        ):
            if not low <= getattr(self, name) <= high:
                yield f"IDP_{name.upper()}: must be between {low} and {high}"
        if self.access_token_alg not in ("ES256", "RS256", "EdDSA", "Ed25519"):
            yield "IDP_ACCESS_TOKEN_ALG: one of ES256, RS256, EdDSA, Ed25519"
        for name in (
            "session_idle_seconds",
            "session_max_seconds",
            "code_seconds",
            "access_token_seconds",
            "id_token_seconds",
            "refresh_token_seconds",
            "interaction_seconds",
        ):
            if getattr(self, name) <= 0:
                yield f"IDP_{name.upper()}: must be positive"
        if self.code_seconds > 600:
            yield "IDP_CODE_SECONDS: at most 600 (RFC 6749 §4.1.2 recommends ten minutes at most)"
        if not 8 <= self.password_min_length <= 64:
            yield "IDP_PASSWORD_MIN_LENGTH: between 8 and 64 (ASVS 5 V6.2.1; 15 recommended)"
        if not 64 <= self.max_password_length <= 1024:
            yield "IDP_MAX_PASSWORD_LENGTH: between 64 and 1024 (ASVS 5 V6.2.9 accepts at least 64)"
        for name in (
            "reset_link_seconds",
            "invite_link_seconds",
            "device_link_seconds",
            "smtp_timeout",
            "mail_attempts",
        ):
            if getattr(self, name) <= 0:
                yield f"IDP_{name.upper()}: must be positive"
        if self.mail_retry_seconds < 0:
            yield "IDP_MAIL_RETRY_SECONDS: must not be negative"
        if self.smtp_security not in ("starttls", "tls", "none"):
            yield "IDP_SMTP_SECURITY: one of starttls, tls, none"
        elif self.smtp_host and self.smtp_security == "none" and not _is_loopback_host(self.smtp_host):
            yield "IDP_SMTP_SECURITY: none is allowed only for a loopback SMTP server"
        if not 1 <= self.smtp_port <= 65535:
            yield "IDP_SMTP_PORT: between 1 and 65535"
        if self.backchannel_timeout_seconds <= 0 or self.backchannel_timeout_seconds > 60:
            yield "IDP_BACKCHANNEL_TIMEOUT_SECONDS: between 1 and 60"
        if self.backchannel_attempts < 1:
            yield "IDP_BACKCHANNEL_ATTEMPTS: at least 1"
        if self.backchannel_poll_seconds < 0:
            yield "IDP_BACKCHANNEL_POLL_SECONDS: 0 or more"
        if not self.keys_passphrase and not self.issuer_is_loopback_http:
            yield "IDP_KEYS_PASSPHRASE: required when the issuer is not plain-http loopback"
        if self.keys_passphrase and len(self.keys_passphrase) < 16:
            yield "IDP_KEYS_PASSPHRASE: must be at least 16 characters"
        if self.key_rotation_days < 0:
            yield "IDP_KEY_ROTATION_DAYS: must be 0 (off) or positive"
        for name in ("key_publication_seconds", "jwks_max_age_seconds", "keys_reload_seconds", "clock_skew_seconds"):
            if getattr(self, name) < 0:
                yield f"IDP_{name.upper()}: must not be negative"
        if self.jwks_max_age_seconds > self.key_publication_seconds:
            yield (
                "IDP_JWKS_MAX_AGE_SECONDS: must not exceed IDP_KEY_PUBLICATION_SECONDS (relying parties must see "
                "a next key before it signs)"
            )
        if 0 < self.key_rotation_days * 86400 < self.key_publication_seconds:
            yield "IDP_KEY_ROTATION_DAYS: the rotation period must be longer than IDP_KEY_PUBLICATION_SECONDS"
        if self.argon2_memory_kib < 8 * self.argon2_parallelism or self.argon2_time_cost < 1:
            yield "IDP_ARGON2_*: memory must be at least 8 KiB per lane and time cost at least 1"
        if self.client_cache_seconds < 0:
            yield "IDP_CLIENT_CACHE_SECONDS: must not be negative (0 = off)"
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            yield f"IDP_TIME_ZONE: {self.time_zone!r} is not an IANA time zone (e.g. Europe/Berlin)"
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", self.brand_primary_color):
            yield "IDP_BRAND_PRIMARY_COLOR: a colour as #rrggbb"
        elif _contrast_with_white(self.brand_primary_color) < 4.5:
            yield "IDP_BRAND_PRIMARY_COLOR: too light; white text on it needs a contrast of 4.5:1 (WCAG 2.2 AA)"
        if self.brand_logo_url and not (
            self.brand_logo_url.startswith(("https://", "/")) and not self.brand_logo_url.startswith("//")
        ):
            yield "IDP_BRAND_LOGO_URL: an https URL or a path starting with /"
        if (
            self.rate_device_link_account_limit > 0
            and self.device_link_seconds * self.rate_device_link_account_limit < self.rate_device_link_account_seconds
        ):
            # A request refused by the per-account limit must leave a working link in the owner's inbox
            # (someone else's requests must not lock the owner out): the limit refills one link per
            # SECONDS/LIMIT, so the newest mailed link is at most that old.
            yield (
                "IDP_DEVICE_LINK_SECONDS: must be at least IDP_RATE_DEVICE_LINK_ACCOUNT_SECONDS / "
                "IDP_RATE_DEVICE_LINK_ACCOUNT_LIMIT, so the newest mailed link still works when the limit refuses"
            )
        for f in dataclasses.fields(self):
            if f.name.startswith(("rate_", "throttle_")) or f.name in ("device_cookie_days", "audit_retention_days"):
                if getattr(self, f.name) <= 0:
                    yield f"IDP_{f.name.upper()}: must be positive"

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


def _dev_secret(instance_dir: Path, name: str = "secret_key") -> str:
    """A per-installation secret for loopback development, kept in the instance folder (0600)."""
    path = instance_dir / name
    if path.exists():
        return path.read_text().strip()
    instance_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _contrast_with_white(hex_colour: str) -> float:
    """WCAG 2.2 contrast ratio of white against ``#rrggbb`` (relative luminance, §1.4.3)."""

    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (luminance + 0.05)
