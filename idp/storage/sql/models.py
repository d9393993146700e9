"""SQLAlchemy 2 typed models: the durable state of the provider.

Times are POSIX seconds (float) taken from the clock service, so tests can move time and
SQLite and PostgreSQL store the same values. Secrets (session ids, refresh tokens, client
secrets) are stored only as hashes; see ``idp.core.tokens``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Stable public subject identifier (never reused, never the registration number).
    sub: Mapped[str] = mapped_column(String(64), unique=True)
    registration_number: Mapped[str] = mapped_column(String(64))
    #: Trimmed and upper-cased registration number: the case-insensitive lookup key.
    registration_number_norm: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    email_norm: Mapped[str | None] = mapped_column(String(254), unique=True)
    #: The address is known to be the user's: assigned by the institution, or a link e-mailed to it was
    #: completed. Cleared when the address changes (``users.set_email``).
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default="student")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[float] = mapped_column(Float)
    password_changed_at: Mapped[float | None] = mapped_column(Float)
    #: The language the user chose (a code of ``idp.core.languages.LANGUAGES``, BCP 47 such as "de"):
    #: signed-in pages and every mail use it; the ``locale`` claim (``profile`` scope). NULL: not chosen.
    locale: Mapped[str | None] = mapped_column(String(16))
    #: Second factors (issue 19). Set by a helpdesk reset (``reset-mfa``): the next sign-in must enrol a
    #: factor before anything else, whatever the role's policy and grace.
    mfa_enrol_required: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The enrolment grace of a role that requires a second factor: when the first sign-in under it was,
    #: and how many sign-ins were made under it (``IDP_MFA_GRACE_DAYS`` / ``IDP_MFA_GRACE_SIGNINS``).
    mfa_grace_started_at: Mapped[float | None] = mapped_column(Float)
    mfa_grace_signins: Mapped[int] = mapped_column(Integer, default=0)


class Client(Base):
    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: Keyed hash of the secret (HMAC-SHA256); NULL for public clients.
    secret_hash: Mapped[str | None] = mapped_column(String(128))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(40))
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    grant_types: Mapped[list] = mapped_column(JSON, default=list)
    response_types: Mapped[list] = mapped_column(JSON, default=list)
    scope: Mapped[str] = mapped_column(Text, default="")
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(10), default="RS256")
    #: The authorization request must carry a PKCE ``code_challenge`` (always true for public clients).
    require_pkce: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[float] = mapped_column(Float)
    #: OpenID Connect Back-Channel Logout 1.0 §2.2: where logout tokens are POSTed (None = not wanted).
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000), default=None)
    #: After ``rotate-secret``: the keyed hash of the old secret and when it stops working.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(128))
    previous_secret_expires_at: Mapped[float | None] = mapped_column(Float)
    secret_issued_at: Mapped[float | None] = mapped_column(Float)
    #: ``private_key_jwt`` (RFC 7523): the client's public keys, inline or by URL (never both).
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    jwks_uri: Mapped[str | None] = mapped_column(String(2000))
    #: Browser origins that may call /token, /userinfo, /revoke and /introspect (CORS); NULL = the
    #: default (a public client: the origins of its redirect URIs; a confidential one: none).
    allowed_cors_origins: Mapped[list | None] = mapped_column(JSON, default=None)
    #: OpenID Connect Dynamic Registration §2 ``default_acr_values``: the ``acr`` values asked for when an
    #: authorization request carries no ``acr_values`` (``["urn:spom:acr:mfa"]``: a second factor is
    #: required); NULL = none.
    default_acr_values: Mapped[list | None] = mapped_column(JSON, default=None)
    #: "web" or "native" (OpenID Connect Dynamic Registration §2); native apps may use private-use schemes.
    application_type: Mapped[str] = mapped_column(String(10), default="web")
    #: Informational RFC 7591 metadata: client_uri, logo_uri, tos_uri, policy_uri, contacts, software_*.
    info: Mapped[dict] = mapped_column(JSON, default=dict)
    #: The app team that owns the client (from its initial access token), if registered by one.
    team: Mapped[str | None] = mapped_column(String(200))
    #: SHA-256 of the RFC 7592 registration access token; NULL when not managed through /register.
    registration_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[float | None] = mapped_column(Float)


class InitialAccessToken(Base):
    """RFC 7591 §3 initial access token: lets one app team register up to ``max_clients`` clients."""

    __tablename__ = "initial_access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: SHA-256 of the token (256 random bits; only the hash is kept).
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    team: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    max_clients: Mapped[int | None] = mapped_column(Integer)
    clients_registered: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    revoked_at: Mapped[float | None] = mapped_column(Float)


class BrowserSession(Base):
    """A signed-in browser at the provider (the OP session that single sign-on rides on)."""

    __tablename__ = "browser_sessions"

    #: Public session id, used as the ``sid`` claim; not a credential.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: SHA-256 of the cookie value, the credential.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    auth_time: Mapped[float] = mapped_column(Float)
    amr: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[float] = mapped_column(Float)
    last_seen_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float)
    ip: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    #: When a second factor was last proven in this session (sign-in or step-up); NULL: password only.
    mfa_at: Mapped[float | None] = mapped_column(Float)


class Consent(Base):
    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("user_id", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[float] = mapped_column(Float)


class Grant(Base):
    """One authorization (a code exchange): the family of every token issued from it."""

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str | None] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(Text)
    auth_time: Mapped[float] = mapped_column(Float)
    amr: Mapped[list] = mapped_column(JSON, default=list)
    #: The OIDC ``claims`` request parameter (Core §5.5), for the userinfo endpoint.
    claims: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    #: Set when this token was exchanged for its successor; a second use is reuse.
    rotated_at: Mapped[float | None] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)


class RevokedAccessToken(Base):
    """RFC 7009 revocation of a self-contained access token: its ``jti`` until it expires."""

    __tablename__ = "revoked_access_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float)


class AuditEvent(Base):
    """Append-only trail: who did what, when, from where."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_occurred_at", "occurred_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[float] = mapped_column(Float)
    type: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    client_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(45), default="", index=True)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)


class PasswordResetToken(Base):
    """A single-use e-mailed link: password reset, invitation (issue 4) or device approval (issue 14).
    Only the SHA-256 of the token is kept."""

    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: ``reset`` (forgot password, helpdesk link), ``invite`` (bulk import) or ``device`` (approve a
    #: browser as a known device from the throttled sign-in page); see ``idp.storage.sql.resets``.
    purpose: Mapped[str] = mapped_column(String(10), default="reset")
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    used_at: Mapped[float | None] = mapped_column(Float)
    #: Set when a newer link, a reset or a password change made this one void.
    superseded_at: Mapped[float | None] = mapped_column(Float)
    #: The normalised address the link was e-mailed to; NULL when handed over otherwise (helpdesk).
    #: Completing the link verifies the user's e-mail only while it is still this address.
    mailed_to: Mapped[str | None] = mapped_column(String(254))
    #: The pending authorization request the link was asked for in, to return to afterwards.
    interaction_id: Mapped[str | None] = mapped_column(String(100))
    #: The app that request came from (client and redirect URI as asked), for when the interaction
    #: is gone or the link is opened in another browser; re-checked against the registration on use.
    return_client_id: Mapped[str | None] = mapped_column(String(64))
    return_redirect_uri: Mapped[str | None] = mapped_column(Text)


class LogoutDelivery(Base):
    """A back-channel logout token owed to one client for one ended provider session (an outbox row).

    Written in the same transaction that ends the session, delivered afterwards by
    ``idp.http.protocol.backchannel.Deliverer`` (outside the user's request), retried with backoff.
    """

    __tablename__ = "logout_deliveries"
    __table_args__ = (Index("ix_logout_deliveries_pending", "done_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(64))
    sub: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: When the next attempt is due; also the lease that stops two workers sending the same row.
    next_attempt_at: Mapped[float] = mapped_column(Float)
    #: Set when delivered or given up (``outcome`` says which).
    done_at: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(20), default="pending")
    last_error: Mapped[str] = mapped_column(String(300), default="")


class StoredKey(Base):
    """A signing key and its lifecycle state (issue 7).

    Keys live in the database, not in files: it is already the one store every provider
    process on every host shares, a rotation is one transaction (readers see the key set
    before or after it, never half of it), and the partial unique indexes below make a
    second ``current`` or ``next`` key per algorithm impossible whatever the callers do.
    ``private_key`` is PKCS#8 PEM encrypted with ``IDP_KEYS_PASSPHRASE``; it is emptied
    when the key is revoked. ``public_jwk`` lets readers publish and verify without it.
    """

    __tablename__ = "signing_keys"
    __table_args__ = (
        Index(
            "ix_signing_keys_one_current",
            "alg",
            unique=True,
            postgresql_where=text("state = 'current'"),
            sqlite_where=text("state = 'current'"),
        ),
        Index(
            "ix_signing_keys_one_next",
            "alg",
            unique=True,
            postgresql_where=text("state = 'next'"),
            sqlite_where=text("state = 'next'"),
        ),
    )

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Key family: RS256, ES256 or Ed25519 (RFC 9864 name; also signs as "EdDSA").
    alg: Mapped[str] = mapped_column(String(16))
    #: next → current → retired → (deleted); or revoked (emergency), then deleted.
    state: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[float] = mapped_column(Float)
    activated_at: Mapped[float | None] = mapped_column(Float)
    retired_at: Mapped[float | None] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    private_key: Mapped[str] = mapped_column(Text)


class StoreEntry(Base):
    """Short-lived store state (pending sign-ins, codes, replay caches) kept here only while Redis
    is unreachable (``idp.storage.store.fallback``). Empty outside outages; expired rows are deleted."""

    __tablename__ = "store_fallback"

    #: SHA-256 of the store key.
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class Factor(Base):
    """A second factor of a user (issue 19): an authenticator app (``totp``) or a passkey (``passkey``,
    a WebAuthn credential). Recovery codes are ``RecoveryCode`` rows. Never shown with its secret."""

    __tablename__ = "factors"

    #: Public id (random), used in forms and the admin API.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    #: The name the user gave it ("Phone", "YubiKey").
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    last_used_at: Mapped[float | None] = mapped_column(Float)
    #: TOTP: the shared secret (base32), encrypted at rest (``idp.domain.factors.sealed``).
    secret: Mapped[str | None] = mapped_column(Text)
    #: TOTP: the last time step accepted; a code of this step or an earlier one is a replay.
    last_step: Mapped[int | None] = mapped_column(Integer)
    #: Passkey: the credential id (base64url), its COSE public key (base64url), the signature counter.
    credential_id: Mapped[str | None] = mapped_column(String(1400), unique=True)
    public_key: Mapped[str | None] = mapped_column(Text)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    transports: Mapped[list] = mapped_column(JSON, default=list)
    #: Passkey flags: may be synced to other devices (BE), and is (BS).
    backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    backup_state: Mapped[bool] = mapped_column(Boolean, default=False)
    aaguid: Mapped[str] = mapped_column(String(36), default="")


class RecoveryCode(Base):
    """One of a user's single-use recovery codes (issue 19): only its keyed hash is kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    used_at: Mapped[float | None] = mapped_column(Float)


class StaffRole(Base):
    """A console role a person holds (issue 20; ``idp.domain.staff``): ``idp:admin``, ``idp:security`` or
    ``team:<name>``. Read on every admin API request, so taking a role away takes effect at once."""

    __tablename__ = "staff_roles"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(120))
    granted_at: Mapped[float] = mapped_column(Float)
    #: The actor that gave it (``cli``, ``user:<sub>``, ``admin:<client_id>``).
    granted_by: Mapped[str] = mapped_column(String(200), default="")
