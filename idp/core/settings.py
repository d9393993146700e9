"""Settings: ``IDP_*`` environment variables parsed once into a frozen, typed object, grouped by concern.

``Settings`` holds one small frozen section per concern (``settings.server``, ``settings.storage``,
``settings.sessions``, ``settings.tokens``, ``settings.clients``, ``settings.accounts``,
``settings.throttle``, ``settings.keys``, ``settings.mail``, ``settings.outbound``,
``settings.branding``). Each field names its variable, default and doc line where it is declared,
and each section checks its own fields in ``problems()`` next to them; the one rule that spans
sections is ``Settings._cross_section_problems``. ``Settings.from_env`` reports every problem at
once, each with its ``IDP_`` variable, the way dex's ``Validate()`` does. ``Settings.markdown()``
renders the tables of ``docs/configuration.md`` (``python -m idp.core.settings``; a test checks the
file holds them).

Loading only reads: the development secrets of a plain-http loopback issuer (``secret_key``,
``keys_passphrase`` in the instance folder) are created by ``idp init`` (``dev_secret_files`` says
which) and read here; if one is missing the error says to run ``idp init``.

Why dataclasses and not pydantic-settings (tried on this code): the variable names are flat
(``IDP_SESSION_IDLE_SECONDS``, ``IDP_CODE_SECONDS``) while the sections are nested, so every
field would need its own ``validation_alias`` anyway (and keyword construction by field name is
then silently ignored unless ``populate_by_name``); comma-separated lists need ``NoDecode`` plus a
validator per field (pydantic-settings decodes them as JSON); its messages ("Input should be
greater than 0 [type=greater_than, ...] For further information visit https://errors.pydantic.dev/...")
would have to be rewritten to keep the reasons operators need (RFC 6749 §4.1.2, WCAG contrast), so
most rules become custom validators anyway; and a model validator is skipped once a field fails,
which breaks "every problem at once". It would not be less code, and it adds pydantic-core.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from idp.core.outbound.policy import AllowList
from idp.core.roles import ROLES

log = logging.getLogger(__name__)


class SettingsError(ValueError):
    """Raised when the environment does not describe a valid configuration."""


#: Variables that existed once and are refused now, with what to do instead (a silently ignored
#: setting would let an operator believe it still works: IDP_KEYS_DIR named where keys were backed up).
REMOVED = {
    "IDP_KEYS_DIR": "no longer used, remove it: signing keys live in the database, encrypted with IDP_KEYS_PASSPHRASE "
    "(docs/key-rotation.md)",
}

#: Development secrets ``idp init`` creates in the instance folder for a plain-http loopback issuer.
DEV_SECRETS = {"IDP_SECRET_KEY": "secret_key", "IDP_KEYS_PASSPHRASE": "keys_passphrase"}


#: Unknown ``IDP_*`` names already warned about by this process (the CLI and each worker read the settings).
_warned: set[str] = set()


def _warn_unknown(variable: str, known: Mapping[str, object]) -> None:
    """A name that is no setting is ignored, but said so once: a typo (``IDP_REDIS_ULR``) would
    otherwise leave the provider quietly on the default it was meant to change."""
    if variable in _warned:
        return
    _warned.add(variable)
    close = difflib.get_close_matches(variable, known, n=1, cutoff=0.8)
    hint = f"; did you mean {close[0]}?" if close else ""
    log.warning("configuration: %s is not a setting and is ignored%s", variable, hint)


def setting(env: str, default: Any, doc: str) -> Any:
    """A field read from the environment variable ``env``."""
    return field(default=default, metadata={"env": env, "doc": doc})


class Section:
    """A group of settings: a frozen dataclass whose fields are made with ``setting``."""

    title: ClassVar[str]

    def problems(self) -> Iterator[str]:
        return iter(())

    @classmethod
    def env(cls, name: str) -> str:
        return str(_fields(cls)[name].metadata["env"])

    def _positive(self, *names: str) -> Iterator[str]:
        for name in names:
            if getattr(self, name) <= 0:
                yield f"{self.env(name)}: must be positive"

    def _not_negative(self, *names: str) -> Iterator[str]:
        for name in names:
            if getattr(self, name) < 0:
                yield f"{self.env(name)}: must not be negative"

    def _between(self, name: str, low: int, high: int) -> Iterator[str]:
        if not low <= getattr(self, name) <= high:
            yield f"{self.env(name)}: must be between {low} and {high}"

    def _networks(self, name: str) -> Iterator[str]:
        for cidr in getattr(self, name):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                yield f"{self.env(name)}: {cidr!r} is not an IP address or CIDR"


@dataclass(frozen=True)
class ServerSettings(Section):
    title: ClassVar[str] = "Server"
    issuer: str = setting(
        "IDP_ISSUER", "http://127.0.0.1:8000", "Public base URL of the provider; `https` unless loopback."
    )
    instance_dir: str = setting(
        "IDP_INSTANCE_DIR", "instance", "Folder for the embedded database and the development secrets of `idp init`."
    )
    secret_key: str = setting(
        "IDP_SECRET_KEY",
        "",
        "Secret for CSRF tokens and keyed hashes (at least 32 characters); required unless the issuer is "
        "plain-http loopback, where `idp init` creates one in the instance folder.",
    )
    trusted_proxies: tuple[str, ...] = setting(
        "IDP_TRUSTED_PROXIES", (), "Comma-separated CIDRs whose X-Forwarded-For is honoured."
    )
    metrics_networks: tuple[str, ...] = setting(
        "IDP_METRICS_NETWORKS",
        (),
        "CIDRs that may read /metrics directly (never via a trusted proxy); empty = /metrics off.",
    )
    log_level: str = setting("IDP_LOG_LEVEL", "INFO", "Python log level.")
    log_format: str = setting(
        "IDP_LOG_FORMAT", "json", "Log lines: `json` (one object per line, with the request id) or `text`."
    )
    http_server: str = setting(
        "IDP_SERVER",
        "granian",
        "HTTP server of `idp serve`: `granian` (Rust, WSGI interface; ~3x the requests/s of gunicorn on "
        "discovery and JWKS, docs/performance.md) or `gunicorn` (gthread workers).",
    )
    workers: int = setting(
        "IDP_WORKERS",
        0,
        "Worker processes started by `idp serve`; 0 = auto: one without IDP_REDIS_URL (the in-process "
        "store is per process), the usable CPU cores with it.",
    )
    threads: int = setting(
        "IDP_THREADS",
        4,
        "Requests a worker runs at once. The server gets 16 threads per one (granian's blocking threads, "
        "gunicorn's gthread threads): the others wait in the worker's run queue, and a sign-in that finds "
        "every thread taken is told to come back (503).",
    )
    malloc_mmap_threshold_kib: int = setting(
        "IDP_MALLOC_MMAP_THRESHOLD_KIB",
        128,
        "`idp serve` on glibc: memory blocks of this size or more come from mmap and "
        "go back to the system when freed, so each argon2id verify (19 MiB) does not "
        "stay in its thread's heap (worker RSS flat, ~12% fewer sign-ins/s; "
        "docs/performance.md); 0 = glibc's own adaptive threshold.",
    )
    worker_timeout: int = setting(
        "IDP_WORKER_TIMEOUT",
        30,
        "gunicorn only: seconds before it restarts a worker that stopped answering (granian has no such "
        "watchdog; it respawns a worker that died, docs/deploy.md).",
    )
    graceful_timeout: int = setting(
        "IDP_GRACEFUL_TIMEOUT",
        30,
        "Seconds in-flight requests get to finish after SIGTERM; then the workers are killed.",
    )

    # Cached: every cookie a response sets asks (a URL parse each time was 1% of a sign-in's CPU).
    @cached_property
    def issuer_is_loopback_http(self) -> bool:
        parts = urlsplit(self.issuer)
        return parts.scheme == "http" and _is_loopback_host(parts.hostname or "")

    @cached_property
    def secure_cookies(self) -> bool:
        """Cookies carry ``Secure`` except on a plain-http loopback issuer (local dev)."""
        return not self.issuer_is_loopback_http

    def dev_secret_path(self, variable: str) -> Path:
        return Path(self.instance_dir) / DEV_SECRETS[variable]

    def problems(self) -> Iterator[str]:
        parts = urlsplit(self.issuer)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            yield f"IDP_ISSUER: must be an absolute http(s) URL, got {self.issuer!r}"
        elif parts.scheme == "http" and not _is_loopback_host(parts.hostname):
            yield "IDP_ISSUER: must use https unless the host is loopback (127.0.0.1, ::1, localhost)"
        if parts.query or parts.fragment or self.issuer.endswith("/"):
            yield "IDP_ISSUER: must have no query, fragment or trailing slash (OpenID Discovery 1.0 §2)"
        if not self.secret_key:
            yield _missing_secret("IDP_SECRET_KEY", self)
        elif len(self.secret_key) < 32:
            yield "IDP_SECRET_KEY: must be at least 32 characters"
        yield from self._networks("trusted_proxies")
        yield from self._networks("metrics_networks")
        if self.log_format not in ("json", "text"):
            yield "IDP_LOG_FORMAT: one of json, text"
        if self.http_server not in ("granian", "gunicorn"):
            yield "IDP_SERVER: one of granian, gunicorn"
        yield from self._between("workers", 0, 64)
        yield from self._between("threads", 1, 64)
        yield from self._between("worker_timeout", 1, 3600)
        yield from self._between("graceful_timeout", 1, 3600)


@dataclass(frozen=True)
class StorageSettings(Section):
    title: ClassVar[str] = "Storage"
    database_url: str = setting(
        "IDP_DATABASE_URL", "", "SQLAlchemy URL; default SQLite (`idp.sqlite3`) under the instance folder."
    )
    database_connect_timeout: int = setting(
        "IDP_DATABASE_CONNECT_TIMEOUT", 3, "Seconds to wait for a database connection before answering 503."
    )
    redis_url: str = setting(
        "IDP_REDIS_URL", "", "Redis URL for short-lived state; empty = in-process store (one process only)."
    )
    redis_prefix: str = setting("IDP_REDIS_PREFIX", "idp:", "Prefix for every Redis key this provider writes.")
    audit_retention_days: int = setting(
        "IDP_AUDIT_RETENTION_DAYS", 365, "`idp audit prune` deletes audit events older than this."
    )

    def problems(self) -> Iterator[str]:
        yield from self._between("database_connect_timeout", 2, 60)
        yield from self._positive("audit_retention_days")


@dataclass(frozen=True)
class SessionSettings(Section):
    title: ClassVar[str] = "Sessions"
    idle_seconds: int = setting("IDP_SESSION_IDLE_SECONDS", 1800, "Provider session idle timeout.")
    max_seconds: int = setting("IDP_SESSION_MAX_SECONDS", 36000, "Provider session absolute lifetime.")
    interaction_seconds: int = setting(
        "IDP_INTERACTION_SECONDS", 1800, "How long a pending sign-in or consent page stays valid."
    )

    def problems(self) -> Iterator[str]:
        yield from self._positive("idle_seconds", "max_seconds", "interaction_seconds")


@dataclass(frozen=True)
class TokenSettings(Section):
    title: ClassVar[str] = "Tokens"
    code_seconds: int = setting("IDP_CODE_SECONDS", 60, "Authorization code lifetime.")
    access_token_seconds: int = setting("IDP_ACCESS_TOKEN_SECONDS", 600, "Access token (RFC 9068 JWT) lifetime.")
    id_token_seconds: int = setting("IDP_ID_TOKEN_SECONDS", 600, "ID token lifetime.")
    refresh_token_seconds: int = setting(
        "IDP_REFRESH_TOKEN_SECONDS", 1209600, "Refresh token lifetime (rotated on each use)."
    )
    refresh_reuse_grace_seconds: int = setting(
        "IDP_REFRESH_REUSE_GRACE_SECONDS",
        5,
        "A rotated refresh token reused this soon is refused without revoking its family; 0 = off.",
    )
    access_token_alg: str = setting(
        "IDP_ACCESS_TOKEN_ALG", "ES256", "JWS algorithm for access tokens (ES256 is ~6x cheaper than RS256)."
    )

    def problems(self) -> Iterator[str]:
        yield from self._positive("code_seconds", "access_token_seconds", "id_token_seconds", "refresh_token_seconds")
        if self.code_seconds > 600:
            yield "IDP_CODE_SECONDS: at most 600 (RFC 6749 §4.1.2 recommends ten minutes at most)"
        yield from self._between("refresh_reuse_grace_seconds", 0, 60)
        if self.access_token_alg not in ("ES256", "RS256", "EdDSA", "Ed25519"):
            yield "IDP_ACCESS_TOKEN_ALG: one of ES256, RS256, EdDSA, Ed25519"


@dataclass(frozen=True)
class ClientSettings(Section):
    title: ClassVar[str] = "Client registration"
    open_registration: int = setting(
        "IDP_OPEN_REGISTRATION",
        0,
        "1 lets anyone register clients at /register without an initial access token "
        "(RFC 7591 open registration); 0 requires one.",
    )
    require_pkce_default: int = setting(
        "IDP_REQUIRE_PKCE_DEFAULT",
        1,
        "1 makes new confidential clients require PKCE unless registered with it off; 0 leaves it "
        "off unless asked for (public clients always require it).",
    )
    cache_seconds: int = setting(
        "IDP_CLIENT_CACHE_SECONDS",
        0,
        "How long each process keeps a registered client in memory for the protocol "
        "endpoints; a change made in another process applies within this time "
        "(in the same process at once); 0 = off.",
    )

    def problems(self) -> Iterator[str]:
        if self.cache_seconds < 0:
            yield "IDP_CLIENT_CACHE_SECONDS: must not be negative (0 = off)"
        yield from self._between("require_pkce_default", 0, 1)


@dataclass(frozen=True)
class AccountSettings(Section):
    title: ClassVar[str] = "Accounts and passwords"
    max_login_length: int = setting("IDP_MAX_LOGIN_LENGTH", 254, "Longest accepted registration number or e-mail.")
    password_min_length: int = setting(
        "IDP_PASSWORD_MIN_LENGTH", 8, "Shortest accepted new password (8 to 64; 15 recommended)."
    )
    max_password_length: int = setting("IDP_MAX_PASSWORD_LENGTH", 128, "Longest accepted password (characters).")
    argon2_memory_kib: int = setting("IDP_ARGON2_MEMORY_KIB", 19456, "argon2id memory cost in KiB (OWASP: 19456).")
    argon2_time_cost: int = setting("IDP_ARGON2_TIME_COST", 2, "argon2id iterations (OWASP: 2).")
    argon2_parallelism: int = setting("IDP_ARGON2_PARALLELISM", 1, "argon2id lanes (OWASP: 1).")
    argon2_concurrency: int = setting(
        "IDP_ARGON2_CONCURRENCY",
        0,
        "Password verifications at once per worker; 0 = auto (the usable cores divided by the workers, at "
        "least 1). More only adds memory (19 MiB each) and latency (docs/performance.md).",
    )
    signin_max_wait_seconds: float = setting(
        "IDP_SIGNIN_MAX_WAIT_SECONDS",
        3.0,
        "How long a sign-in waits in the app for a free password verification before it is refused with "
        '503 and Retry-After (nothing counted; docs/performance.md, "Exam-morning surge").',
    )
    reset_link_seconds: int = setting("IDP_RESET_LINK_SECONDS", 1800, "How long a password-reset link stays valid.")
    invite_link_seconds: int = setting(
        "IDP_INVITE_LINK_SECONDS", 604800, "How long an invitation link (idp users import --invite) stays valid."
    )

    def problems(self) -> Iterator[str]:
        if not 8 <= self.password_min_length <= 64:
            yield "IDP_PASSWORD_MIN_LENGTH: between 8 and 64 (ASVS 5 V6.2.1; 15 recommended)"
        if not 64 <= self.max_password_length <= 1024:
            yield "IDP_MAX_PASSWORD_LENGTH: between 64 and 1024 (ASVS 5 V6.2.9 accepts at least 64)"
        if self.argon2_memory_kib < 8 * self.argon2_parallelism or self.argon2_time_cost < 1:
            yield "IDP_ARGON2_*: memory must be at least 8 KiB per lane and time cost at least 1"
        yield from self._positive("reset_link_seconds", "invite_link_seconds")
        if not 0 <= self.argon2_concurrency <= 256:
            yield "IDP_ARGON2_CONCURRENCY: between 0 (auto) and 256"
        if not 0 <= self.signin_max_wait_seconds <= 60:
            yield "IDP_SIGNIN_MAX_WAIT_SECONDS: between 0 and 60"


@dataclass(frozen=True)
class MfaSettings(Section):
    """Second factors (issue 19; docs/security.md, "Second factors")."""

    title: ClassVar[str] = "Second factors"
    required_roles: tuple[str, ...] = setting(
        "IDP_MFA_REQUIRED_ROLES",
        (),
        "Roles that must sign in with a second factor (comma-separated, e.g. employee); empty = none.",
    )
    grace_days: int = setting(
        "IDP_MFA_GRACE_DAYS",
        14,
        "Days a user of such a role may still sign in without a second factor, from the first sign-in that "
        "asked them to set one up; 0 = enrolment is forced at once.",
    )
    grace_signins: int = setting(
        "IDP_MFA_GRACE_SIGNINS",
        5,
        "Sign-ins a user of such a role may still make without a second factor (whichever of days and "
        "sign-ins runs out first ends the grace).",
    )

    def problems(self) -> Iterator[str]:
        for role in self.required_roles:
            if role not in ROLES:
                yield f"IDP_MFA_REQUIRED_ROLES: {role!r} is not a role (one of {', '.join(ROLES)})"
        yield from self._not_negative("grace_days", "grace_signins")


@dataclass(frozen=True)
class ThrottleSettings(Section):
    """Brute-force defence and rate limits (issue 3; docs/security.md). A "limit per seconds" pair is a
    token bucket: up to LIMIT at once, refilling one every SECONDS/LIMIT seconds."""

    title: ClassVar[str] = "Throttling and rate limits"
    rate_login_ip_limit: int = setting(
        "IDP_RATE_LOGIN_IP_LIMIT", 100, "Password verifications per client IP (IPv6: per /64) before it must wait."
    )
    rate_login_ip_seconds: int = setting(
        "IDP_RATE_LOGIN_IP_SECONDS", 900, "Period over which `IDP_RATE_LOGIN_IP_LIMIT` refills."
    )
    account_free: int = setting(
        "IDP_THROTTLE_ACCOUNT_FREE", 5, "Failed sign-ins per account before the progressive delay starts."
    )
    device_free: int = setting(
        "IDP_THROTTLE_DEVICE_FREE", 10, "Failed sign-ins per account from one known device before its own delay starts."
    )
    delay_seconds: int = setting(
        "IDP_THROTTLE_DELAY_SECONDS",
        30,
        "First wait once the free failures are used; it doubles with each further failure.",
    )
    max_delay_seconds: int = setting("IDP_THROTTLE_MAX_DELAY_SECONDS", 900, "Cap on the progressive wait.")
    reset_seconds: int = setting(
        "IDP_THROTTLE_RESET_SECONDS", 86400, "Failures are forgotten after this long without an attempt."
    )
    device_cookie_days: int = setting(
        "IDP_DEVICE_COOKIE_DAYS", 365, "Lifetime of the known-device cookie set after a successful sign-in."
    )
    device_link_seconds: int = setting(
        "IDP_DEVICE_LINK_SECONDS",
        900,
        "How long a device-approval link (offered on the throttled sign-in page) stays valid.",
    )
    rate_password_forgot_ip_limit: int = setting(
        "IDP_RATE_PASSWORD_FORGOT_IP_LIMIT", 20, "Forgot-password requests per client IP (IPv6: per /64)."
    )
    rate_password_forgot_ip_seconds: int = setting(
        "IDP_RATE_PASSWORD_FORGOT_IP_SECONDS", 3600, "Period over which `IDP_RATE_PASSWORD_FORGOT_IP_LIMIT` refills."
    )
    rate_password_forgot_account_limit: int = setting(
        "IDP_RATE_PASSWORD_FORGOT_ACCOUNT_LIMIT", 5, "Forgot-password requests per account."
    )
    rate_password_forgot_account_seconds: int = setting(
        "IDP_RATE_PASSWORD_FORGOT_ACCOUNT_SECONDS",
        3600,
        "Period over which `IDP_RATE_PASSWORD_FORGOT_ACCOUNT_LIMIT` refills.",
    )
    rate_device_link_ip_limit: int = setting(
        "IDP_RATE_DEVICE_LINK_IP_LIMIT", 20, "Device-approval link requests per client IP (IPv6: per /64)."
    )
    rate_device_link_ip_seconds: int = setting(
        "IDP_RATE_DEVICE_LINK_IP_SECONDS", 3600, "Period over which `IDP_RATE_DEVICE_LINK_IP_LIMIT` refills."
    )
    rate_device_link_account_limit: int = setting(
        "IDP_RATE_DEVICE_LINK_ACCOUNT_LIMIT", 5, "Device-approval links mailed per account."
    )
    rate_device_link_account_seconds: int = setting(
        "IDP_RATE_DEVICE_LINK_ACCOUNT_SECONDS", 3600, "Period over which `IDP_RATE_DEVICE_LINK_ACCOUNT_LIMIT` refills."
    )
    rate_password_reset_ip_limit: int = setting(
        "IDP_RATE_PASSWORD_RESET_IP_LIMIT", 20, "Password-reset submissions per client IP (IPv6: per /64)."
    )
    rate_password_reset_ip_seconds: int = setting(
        "IDP_RATE_PASSWORD_RESET_IP_SECONDS", 3600, "Period over which `IDP_RATE_PASSWORD_RESET_IP_LIMIT` refills."
    )
    rate_passkey_options_ip_limit: int = setting(
        "IDP_RATE_PASSKEY_OPTIONS_IP_LIMIT",
        300,
        "Passkey challenges per client IP (IPv6: per /64); every sign-in page asks for one (autofill), "
        "so size it for the busiest shared address (a campus NAT).",
    )
    rate_passkey_options_ip_seconds: int = setting(
        "IDP_RATE_PASSKEY_OPTIONS_IP_SECONDS", 60, "Period over which `IDP_RATE_PASSKEY_OPTIONS_IP_LIMIT` refills."
    )
    rate_register_ip_limit: int = setting(
        "IDP_RATE_REGISTER_IP_LIMIT", 10, "Dynamic client registrations per client IP (IPv6: per /64)."
    )
    rate_register_ip_seconds: int = setting(
        "IDP_RATE_REGISTER_IP_SECONDS", 3600, "Period over which `IDP_RATE_REGISTER_IP_LIMIT` refills."
    )
    rate_token_client_limit: int = setting(
        "IDP_RATE_TOKEN_CLIENT_LIMIT", 6000, "Token-endpoint requests per client (public clients: per client and IP)."
    )
    rate_token_client_seconds: int = setting(
        "IDP_RATE_TOKEN_CLIENT_SECONDS", 60, "Period over which `IDP_RATE_TOKEN_CLIENT_LIMIT` refills."
    )

    def problems(self) -> Iterator[str]:
        yield from self._positive(*_fields(type(self)))
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


@dataclass(frozen=True)
class KeySettings(Section):
    title: ClassVar[str] = "Signing keys"
    passphrase: str = setting(
        "IDP_KEYS_PASSPHRASE",
        "",
        "Passphrase that encrypts private signing keys at rest (at least 16 characters); "
        "required unless the issuer is plain-http loopback, where `idp init` creates one in "
        "the instance folder.",
    )
    rotation_days: int = setting(
        "IDP_KEY_ROTATION_DAYS", 0, "Rotate signing keys by themselves after this many days (0 = only by command)."
    )
    publication_seconds: int = setting(
        "IDP_KEY_PUBLICATION_SECONDS",
        86400,
        "How long a next key is published before it may sign; `idp keys rotate` refuses earlier unless forced.",
    )
    jwks_max_age_seconds: int = setting(
        "IDP_JWKS_MAX_AGE_SECONDS", 300, "Cache-Control max-age of /jwks.json; at most IDP_KEY_PUBLICATION_SECONDS."
    )
    clock_skew_seconds: int = setting(
        "IDP_CLOCK_SKEW_SECONDS",
        60,
        "Allowed clock difference with relying parties; retired keys stay published "
        "this long after their last token expires.",
    )
    reload_seconds: int = setting(
        "IDP_KEYS_RELOAD_SECONDS",
        2,
        "How often each process re-reads the signing keys (a rotation reaches every process within this time).",
    )

    def problems(self) -> Iterator[str]:
        if self.passphrase and len(self.passphrase) < 16:
            yield "IDP_KEYS_PASSPHRASE: must be at least 16 characters"
        if self.rotation_days < 0:
            yield "IDP_KEY_ROTATION_DAYS: must be 0 (off) or positive"
        yield from self._not_negative(
            "publication_seconds", "jwks_max_age_seconds", "reload_seconds", "clock_skew_seconds"
        )
        if self.jwks_max_age_seconds > self.publication_seconds:
            yield (
                "IDP_JWKS_MAX_AGE_SECONDS: must not exceed IDP_KEY_PUBLICATION_SECONDS (relying parties must see "
                "a next key before it signs)"
            )
        if 0 < self.rotation_days * 86400 < self.publication_seconds:
            yield "IDP_KEY_ROTATION_DAYS: the rotation period must be longer than IDP_KEY_PUBLICATION_SECONDS"


@dataclass(frozen=True)
class MailSettings(Section):
    title: ClassVar[str] = "Mail"
    outbox_dir: str = setting(
        "IDP_OUTBOX_DIR",
        "",
        "Folder for mail written instead of sent (no SMTP) and for mail that failed; empty = <instance>/outbox.",
    )
    smtp_host: str = setting("IDP_SMTP_HOST", "", "SMTP server; empty = write mail to the outbox folder and the log.")
    smtp_port: int = setting("IDP_SMTP_PORT", 587, "SMTP port (587 for STARTTLS, 465 for implicit TLS).")
    smtp_security: str = setting(
        "IDP_SMTP_SECURITY",
        "starttls",
        "SMTP transport security: starttls, tls or none (none only for loopback servers).",
    )
    smtp_username: str = setting("IDP_SMTP_USERNAME", "", "SMTP user name; empty = no authentication.")
    smtp_password: str = setting("IDP_SMTP_PASSWORD", "", "SMTP password.")
    smtp_ca_file: str = setting(
        "IDP_SMTP_CA_FILE", "", "PEM file of CAs to verify the SMTP server with; empty = system CAs."
    )
    smtp_timeout: int = setting("IDP_SMTP_TIMEOUT", 10, "SMTP connection timeout.")
    from_address: str = setting(
        "IDP_MAIL_FROM", "SPOM Login <no-reply@localhost>", "From address of the provider's mail."
    )
    attempts: int = setting(
        "IDP_MAIL_ATTEMPTS", 3, "Delivery attempts per message before it is kept in <outbox>/failed."
    )
    retry_seconds: int = setting("IDP_MAIL_RETRY_SECONDS", 5, "Pause between delivery attempts (doubled each time).")

    @property
    def outbox_path(self) -> Path:
        """The outbox folder (``Settings.from_env`` puts ``<instance>/outbox`` in for an empty ``IDP_OUTBOX_DIR``)."""
        return Path(self.outbox_dir or "instance/outbox")

    def problems(self) -> Iterator[str]:
        yield from self._positive("smtp_timeout", "attempts")
        yield from self._not_negative("retry_seconds")
        if self.smtp_security not in ("starttls", "tls", "none"):
            yield "IDP_SMTP_SECURITY: one of starttls, tls, none"
        elif self.smtp_host and self.smtp_security == "none" and not _is_loopback_host(self.smtp_host):
            yield "IDP_SMTP_SECURITY: none is allowed only for a loopback SMTP server"
        if not 1 <= self.smtp_port <= 65535:
            yield "IDP_SMTP_PORT: between 1 and 65535"


@dataclass(frozen=True)
class OutboundSettings(Section):
    title: ClassVar[str] = "Calls to relying parties"
    allow: tuple[str, ...] = setting(
        "IDP_OUTBOUND_ALLOW",
        (),
        "Comma-separated IP addresses/CIDRs and host names the provider may call for clients although they "
        "are internal (loopback development, internal relying parties): an internal address is called only "
        "inside a listed network; plain http only to a listed name or an IP inside a listed network; "
        "`localhost` names only when listed. Empty = public https only (docs/security.md).",
    )
    ca_file: str = setting(
        "IDP_OUTBOUND_CA_FILE",
        "",
        "PEM file of CAs for the provider's https calls to relying parties (back-channel "
        "logout, jwks_uri); empty = Mozilla's roots (certifi).",
    )
    backchannel_timeout_seconds: int = setting(
        "IDP_BACKCHANNEL_TIMEOUT_SECONDS", 5, "Timeout of one back-channel logout POST to a relying party."
    )
    backchannel_attempts: int = setting(
        "IDP_BACKCHANNEL_ATTEMPTS", 5, "Attempts per back-channel logout token before giving up (audited)."
    )
    backchannel_poll_seconds: int = setting(
        "IDP_BACKCHANNEL_POLL_SECONDS",
        2,
        "How often `idp serve` workers look for queued back-channel logouts; 0 = no background deliverer.",
    )

    def problems(self) -> Iterator[str]:
        try:
            AllowList.parse(self.allow)
        except ValueError as exc:
            yield f"IDP_OUTBOUND_ALLOW: {exc}"
        if not 1 <= self.backchannel_timeout_seconds <= 60:
            yield "IDP_BACKCHANNEL_TIMEOUT_SECONDS: between 1 and 60"
        if self.backchannel_attempts < 1:
            yield "IDP_BACKCHANNEL_ATTEMPTS: at least 1"
        if self.backchannel_poll_seconds < 0:
            yield "IDP_BACKCHANNEL_POLL_SECONDS: 0 or more"


@dataclass(frozen=True)
class BrandingSettings(Section):
    """Sign-in experience (issue 10; docs/ux.md): time zone of the dates shown, branding, the help contact."""

    title: ClassVar[str] = "Branding and help"
    time_zone: str = setting(
        "IDP_TIME_ZONE", "Europe/Berlin", "IANA time zone for dates and times on the provider's pages and in its mail."
    )
    name: str = setting("IDP_BRAND_NAME", "SPOM Login", "Name shown in the page header and titles.")
    logo_url: str = setting(
        "IDP_BRAND_LOGO_URL", "", "Logo image in the page header (https URL or a path on this server); empty = none."
    )
    primary_color: str = setting(
        "IDP_BRAND_PRIMARY_COLOR", "#0b5cad", "Primary colour as #rrggbb; must reach 4.5:1 contrast with white text."
    )
    help_contact_name: str = setting(
        "IDP_HELP_CONTACT_NAME",
        "",
        "Who helps people who cannot sign in (shown on /help); empty = 'IT service desk' in the page's language.",
    )
    help_contact_email: str = setting(
        "IDP_HELP_CONTACT_EMAIL", "", "E-mail address of that contact; empty = not shown."
    )
    help_contact_phone: str = setting("IDP_HELP_CONTACT_PHONE", "", "Phone number of that contact; empty = not shown.")
    help_contact_hours: str = setting(
        "IDP_HELP_CONTACT_HOURS", "", "When that contact is reachable, in the institution's words; empty = not shown."
    )
    console_url: str = setting(
        "IDP_CONSOLE_URL",
        "",
        "Address of the admin console (clients/console); the home page links it for people who hold a console "
        "role; empty = no link.",
    )

    def problems(self) -> Iterator[str]:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            yield f"IDP_TIME_ZONE: {self.time_zone!r} is not an IANA time zone (e.g. Europe/Berlin)"
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", self.primary_color):
            yield "IDP_BRAND_PRIMARY_COLOR: a colour as #rrggbb"
        elif _contrast_with_white(self.primary_color) < 4.5:
            yield "IDP_BRAND_PRIMARY_COLOR: too light; white text on it needs a contrast of 4.5:1 (WCAG 2.2 AA)"
        if self.logo_url and not (self.logo_url.startswith(("https://", "/")) and not self.logo_url.startswith("//")):
            yield "IDP_BRAND_LOGO_URL: an https URL or a path starting with /"
        if self.console_url and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s]*)?", self.console_url):
            yield "IDP_CONSOLE_URL: an absolute http(s) URL such as https://console.example.edu"


@dataclass(frozen=True)
class Settings:
    """Every setting, one section per concern. ``Settings()`` is the defaults, unvalidated and with
    nothing resolved; the provider and the CLI use ``Settings.from_env``."""

    server: ServerSettings = field(default_factory=ServerSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    sessions: SessionSettings = field(default_factory=SessionSettings)
    tokens: TokenSettings = field(default_factory=TokenSettings)
    clients: ClientSettings = field(default_factory=ClientSettings)
    accounts: AccountSettings = field(default_factory=AccountSettings)
    mfa: MfaSettings = field(default_factory=MfaSettings)
    throttle: ThrottleSettings = field(default_factory=ThrottleSettings)
    keys: KeySettings = field(default_factory=KeySettings)
    mail: MailSettings = field(default_factory=MailSettings)
    outbound: OutboundSettings = field(default_factory=OutboundSettings)
    branding: BrandingSettings = field(default_factory=BrandingSettings)

    @classmethod
    def sections(cls) -> dict[str, type[Section]]:
        """Attribute name -> section class, in declaration order."""
        return {f.name: f.default_factory for f in dataclasses.fields(cls)}  # type: ignore[misc]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``IDP_*`` variables, validated, with the defaults that depend on the instance
        folder filled in (database URL, outbox, development secrets read from ``idp init``'s files).

        ``overrides`` name a variable without its prefix, in lower case (``trusted_proxies=`` is
        ``IDP_TRUSTED_PROXIES``), and take typed values or strings; an unknown name is a ``TypeError``.
        """
        env = os.environ if environ is None else environ
        by_variable = {
            section.env(name): (attr, name) for attr, section in cls.sections().items() for name in _fields(section)
        }
        raw: dict[str, Any] = {k: v for k, v in env.items() if k in by_variable}
        for key, value in overrides.items():
            variable = "IDP_" + key.upper()
            if variable not in by_variable:
                raise TypeError(f"Settings.from_env: no setting {variable}")
            raw[variable] = value
        errors = [f"{name}: {why}" for name, why in REMOVED.items() if name in env]
        for variable in sorted(k for k in env if k.startswith("IDP_") and k not in by_variable and k not in REMOVED):
            _warn_unknown(variable, by_variable)
        values: dict[str, dict[str, Any]] = {attr: {} for attr in cls.sections()}
        for variable, value in raw.items():
            attr, name = by_variable[variable]
            type_name = str(_fields(cls.sections()[attr])[name].type)
            try:
                values[attr][name] = _parse(type_name, value) if isinstance(value, str) else value
            except ValueError:
                errors.append(f"{variable}: expected {type_name}, got {value!r}")
        sections: dict[str, Any] = {attr: section(**values[attr]) for attr, section in cls.sections().items()}
        settings = cls(**sections)._resolved()
        errors += settings.problems()
        if errors:
            raise SettingsError("; ".join(errors))
        return settings

    def _resolved(self) -> Settings:
        """Fill in what defaults to a place in the instance folder; reads files, never writes them."""
        server, storage, mail, keys = self.server, self.storage, self.mail, self.keys
        instance = Path(server.instance_dir)
        if not storage.database_url:
            storage = dataclasses.replace(storage, database_url=f"sqlite:///{instance.resolve() / 'idp.sqlite3'}")
        if not mail.outbox_dir:
            mail = dataclasses.replace(mail, outbox_dir=str(instance / "outbox"))
        if server.issuer_is_loopback_http:
            if not server.secret_key:
                server = dataclasses.replace(server, secret_key=_read_secret(server.dev_secret_path("IDP_SECRET_KEY")))
            if not keys.passphrase:
                keys = dataclasses.replace(keys, passphrase=_read_secret(server.dev_secret_path("IDP_KEYS_PASSPHRASE")))
        return dataclasses.replace(self, server=server, storage=storage, mail=mail, keys=keys)

    def problems(self) -> list[str]:
        """Every problem of every section, then the rules that span sections."""
        found = [p for attr in self.sections() for p in getattr(self, attr).problems()]
        return found + list(self._cross_section_problems())

    def warnings(self) -> list[str]:
        """What a public deployment should not run with but that does not stop the provider: logged at
        start and named by ``/readyz`` (``warnings``; still ready)."""
        found = []
        branding = self.branding
        if self.server.issuer.startswith("https://") and not (
            branding.help_contact_email or branding.help_contact_phone
        ):
            found.append(
                "IDP_HELP_CONTACT_EMAIL and IDP_HELP_CONTACT_PHONE are empty: /help tells people who cannot "
                "sign in to contact the help desk but gives them no way to reach it"
            )
        return found

    def _cross_section_problems(self) -> Iterator[str]:
        if not self.keys.passphrase:
            yield _missing_secret("IDP_KEYS_PASSPHRASE", self.server)

    @classmethod
    def documentation(cls) -> list[tuple[str, str, str, str]]:
        """(section title, variable, default, doc) for every setting, in declaration order."""
        rows = []
        for section in cls.sections().values():
            for f in _fields(section).values():
                default = ",".join(f.default) if isinstance(f.default, tuple) else str(f.default)
                rows.append((section.title, str(f.metadata["env"]), default, str(f.metadata["doc"])))
        return rows

    @classmethod
    def markdown(cls) -> str:
        """The tables of docs/configuration.md: one per section."""
        out: list[str] = []
        previous = None
        for title, variable, default, doc in cls.documentation():
            if title != previous:
                out += ([""] if out else []) + [f"## {title}", "", "| Variable | Default | Meaning |", "|---|---|---|"]
                previous = title
            shown = f"`{default}`" if default else "(empty)"
            out.append(f"| `{variable}` | {shown} | {doc} |")
        return "\n".join(out) + "\n"


def dev_secret_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The development secrets ``idp init`` must create: for a plain-http loopback issuer, the file of
    each of ``IDP_SECRET_KEY`` and ``IDP_KEYS_PASSPHRASE`` that is not set (existing files included)."""
    env = os.environ if environ is None else environ
    defaults = ServerSettings()
    server = ServerSettings(
        issuer=env.get("IDP_ISSUER", defaults.issuer).strip(),
        instance_dir=env.get("IDP_INSTANCE_DIR", defaults.instance_dir).strip(),
    )
    if not server.issuer_is_loopback_http:
        return []
    return [server.dev_secret_path(v) for v in DEV_SECRETS if not env.get(v, "").strip()]


def _fields(section: type) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(section)}


def _missing_secret(variable: str, server: ServerSettings) -> str:
    if server.issuer_is_loopback_http:
        return (
            f"{variable}: not set and {server.dev_secret_path(variable)} does not exist, run `idp init` "
            "to create the development secrets of this loopback issuer"
        )
    return f"{variable}: required when the issuer is not plain-http loopback"


def _read_secret(path: Path) -> str:
    """The secret in ``path``; "" when there is none (the problem then says to run ``idp init``)."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:  # a folder, no permission: a configuration error, not a traceback
        raise SettingsError(f"cannot read the development secret {path}: {exc}") from None


def _parse(type_name: str, raw: str) -> Any:
    if type_name == "int":
        return int(raw)
    if type_name == "float":
        return float(raw)
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


def _contrast_with_white(hex_colour: str) -> float:
    """WCAG 2.2 contrast ratio of white against ``#rrggbb`` (relative luminance, §1.4.3)."""

    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (luminance + 0.05)


if __name__ == "__main__":  # python -m idp.core.settings: the tables for docs/configuration.md
    print(Settings.markdown(), end="")
