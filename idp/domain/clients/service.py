"""Client lifecycle shared by the CLI, ``/register`` (RFC 7591/7592) and the admin API.

Each operation changes the client and writes its audit event (with the actor) in the caller's
unit of work, which commits once, so a rejected request leaves nothing behind.

Client secrets are 256-bit random values stored as HMAC-SHA256 keyed with ``IDP_SECRET_KEY``.
Not argon2: a slow hash protects guessable passwords, but a 256-bit random secret cannot be
guessed, and argon2 would put ~50 ms of CPU on every token request (and hand attackers a cheap
way to burn it). The key means a leaked table cannot even confirm a guessed secret offline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from idp.core.clock import utc
from idp.core.errors import ClientOperationError
from idp.core.outbound import AllowList
from idp.core.request import RequestInfo
from idp.core.tokens import equals, keyed_hash, new_token, token_hash
from idp.domain.clients.rules import SECRET_METHODS, ClientSpec, apply_spec, build_client, client_metadata
from idp.storage.sql import audit
from idp.storage.sql import clients as client_repo
from idp.storage.sql.models import Client, InitialAccessToken

#: Default grace period of ``rotate-secret``: the old secret keeps working this long.
DEFAULT_GRACE_SECONDS = 86400


@dataclass
class Clients:
    """Client operations within one unit of work ``db``; every one audited with its ``actor``."""

    db: Session
    secret_key: str
    allow: AllowList
    now: Callable[[], float]
    info: RequestInfo = field(default_factory=RequestInfo)
    #: ``IDP_REQUIRE_PKCE_DEFAULT``: for new clients whose spec leaves ``require_pkce`` open.
    require_pkce_default: bool = True

    def _audit(self, type: str, row: Client | None, *, actor: str, **details: Any) -> None:
        audit.record(
            self.db,
            type,
            now=self.now(),
            client_id=row.client_id if row else None,
            **self.info.audit_fields(),
            actor=actor,
            **details,
        )

    def create(
        self, spec: ClientSpec, *, actor: str, team: str | None = None, registration_token: bool = False
    ) -> tuple[Client, str | None, str | None]:
        """Register a client: (row, secret or None, RFC 7592 registration access token or None)."""
        row, secret = build_client(
            spec,
            secret_key=self.secret_key,
            now=self.now(),
            created_by=actor,
            team=team,
            allow=self.allow,
            require_pkce_default=self.require_pkce_default,
        )
        rat = None
        if registration_token:
            rat = new_token()
            row.registration_token_hash = token_hash(rat)
        client_repo.add_client(self.db, row)
        self._audit(
            audit.CLIENT_REGISTERED,
            row,
            actor=actor,
            team=team,
            name=row.name,
            redirect_uris=row.redirect_uris,
            trusted=row.trusted,
            require_pkce=row.require_pkce,
            default_acr_values=row.default_acr_values,
        )
        return row, secret, rat

    def update(self, row: Client, spec: ClientSpec, *, actor: str) -> str | None:
        """Replace a client's metadata; returns a new secret only if the client newly needs one."""
        now = self.now()
        before = client_metadata(row)
        secret = apply_spec(row, spec, secret_key=self.secret_key, now=now, allow=self.allow)
        row.updated_at = now
        after = client_metadata(row)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        self._audit(audit.CLIENT_UPDATED, row, actor=actor, changed=changed, trusted=row.trusted)
        self.db.flush()
        return secret

    def set_active(self, row: Client, active: bool, *, actor: str) -> None:
        """Disable or enable. While disabled the client cannot authenticate and its tokens are refused."""
        row.active, row.updated_at = active, self.now()
        self._audit(audit.CLIENT_ENABLED if active else audit.CLIENT_DISABLED, row, actor=actor)
        self.db.flush()

    def delete(self, row: Client, *, actor: str) -> None:
        """Delete the client. Its grants and refresh tokens are deleted with it, and access tokens of a
        client that no longer exists fail verification (``tokens.access_token_state``)."""
        self._audit(audit.CLIENT_DELETED, row, actor=actor, name=row.name, team=row.team)
        client_repo.delete_client(self.db, row)

    def rotate_secret(self, row: Client, *, grace: int, actor: str) -> str:
        """A new secret; the current one keeps working for ``grace`` seconds (0 = stops now)."""
        if row.token_endpoint_auth_method not in SECRET_METHODS or not row.secret_hash:
            raise ClientOperationError(
                f"client {row.client_id} does not use a client secret "
                f"(token_endpoint_auth_method {row.token_endpoint_auth_method})"
            )
        if grace < 0:
            raise ClientOperationError("the grace period cannot be negative")
        now, secret = self.now(), new_token()
        row.previous_secret_hash = row.secret_hash if grace else None
        row.previous_secret_expires_at = now + grace if grace else None
        row.secret_hash, row.secret_issued_at, row.updated_at = keyed_hash(secret, self.secret_key), now, now
        self._audit(audit.CLIENT_SECRET_ROTATED, row, actor=actor, grace_seconds=grace)
        self.db.flush()
        return secret

    def issue_registration_token(
        self, *, team: str, expires_in: int, max_clients: int | None, actor: str
    ) -> tuple[InitialAccessToken, str]:
        """An RFC 7591 initial access token for an app team; only its hash is stored."""
        team = team.strip()
        if not team or len(team) > 200:
            raise ClientOperationError("the team name must be 1 to 200 characters")
        if expires_in <= 0:
            raise ClientOperationError("the token must expire in the future")
        if max_clients is not None and max_clients < 1:
            raise ClientOperationError("max clients must be at least 1")
        now, token = self.now(), new_token()
        row = client_repo.add_initial_token(
            self.db,
            InitialAccessToken(
                token_hash=token_hash(token),
                team=team,
                created_at=now,
                expires_at=now + expires_in,
                max_clients=max_clients,
                clients_registered=0,
                created_by=actor,
            ),
        )
        self._audit(
            audit.REGISTRATION_TOKEN_ISSUED,
            None,
            actor=actor,
            team=team,
            token_id=row.id,
            expires_at=row.expires_at,
            max_clients=max_clients,
        )
        return row, token

    def revoke_registration_token(self, row: InitialAccessToken, *, actor: str) -> bool:
        """Stop an initial access token from registering more clients (those it registered stay);
        False when it was already revoked."""
        if row.revoked_at is not None:
            return False
        row.revoked_at = self.now()
        self._audit(audit.REGISTRATION_TOKEN_REVOKED, None, actor=actor, token_id=row.id, team=row.team)
        return True


def describe_registration_token(row: InitialAccessToken) -> dict[str, Any]:
    """A registration token as the admin API lists it: never the token, only its use."""
    return {
        "id": row.id,
        "team": row.team,
        "created_at": iso(row.created_at),
        "expires_at": iso(row.expires_at),
        "max_clients": row.max_clients,
        "clients_registered": row.clients_registered,
        "created_by": row.created_by,
        "revoked_at": iso(row.revoked_at),
    }


def secret_matches(row: Client, secret: str, *, secret_key: str, now: float) -> bool:
    """Constant-time check against the current secret and, during its grace period, the previous one."""
    if not row.secret_hash or not isinstance(secret, str):
        return False
    candidate = keyed_hash(secret, secret_key)
    current = equals(candidate, row.secret_hash)
    previous = bool(
        row.previous_secret_hash
        and row.previous_secret_expires_at is not None
        and now < row.previous_secret_expires_at
        and equals(candidate, row.previous_secret_hash)
    )
    return current or previous


def describe(row: Client, now: float) -> dict[str, Any]:
    """What ``show`` and the admin API report: metadata plus status and secrets (never their values)."""
    body = client_metadata(row)
    body.update(
        active=row.active,
        trusted=row.trusted,
        team=row.team,
        created_by=row.created_by,
        created_at=iso(row.created_at),
        updated_at=iso(row.updated_at),
        managed_by_registration=row.registration_token_hash is not None,
        secrets=secrets_of(row, now),
    )
    return body


def secrets_of(row: Client, now: float) -> list[dict]:
    """The secrets that work now: the current one, and the previous one during its grace period."""
    found = []
    if row.secret_hash:
        found.append({"state": "current", "issued_at": iso(row.secret_issued_at or row.created_at), "expires_at": None})
    if row.previous_secret_hash and row.previous_secret_expires_at and now < row.previous_secret_expires_at:
        found.append({"state": "previous", "issued_at": None, "expires_at": iso(row.previous_secret_expires_at)})
    return found


def iso(ts: float | None) -> str | None:
    return None if ts is None else utc(ts).isoformat().replace("+00:00", "Z")
