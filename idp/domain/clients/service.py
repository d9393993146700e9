"""Client lifecycle shared by the CLI, ``/register`` (RFC 7591/7592) and the admin API.

Each operation changes the client and writes its audit event (with the actor) in the caller's
transaction; the caller commits once, so a rejected request leaves nothing behind.

Client secrets are 256-bit random values stored as HMAC-SHA256 keyed with ``IDP_SECRET_KEY``.
Not argon2: a slow hash protects guessable passwords, but a 256-bit random secret cannot be
guessed, and argon2 would put ~50 ms of CPU on every token request (and hand attackers a cheap
way to burn it). The key means a leaked table cannot even confirm a guessed secret offline.
"""

from __future__ import annotations

from idp import services
from idp.core.clock import utc
from idp.storage.sql import audit, clients as client_repo
from idp.storage.sql.models import Client, InitialAccessToken
from idp.domain.clients.rules import SECRET_METHODS, ClientSpec, apply_spec, build_client, client_metadata
from idp.core.tokens import equals, keyed_hash, new_token, token_hash
from idp.core.errors import ClientOperationError

#: Default grace period of ``rotate-secret``: the old secret keeps working this long.
DEFAULT_GRACE_SECONDS = 86400


def _audit(db, type: str, row: Client, *, actor: str, now: float, **details) -> None:
    audit.record(db, type, now=now, client_id=row.client_id, **services.request_audit_fields(), actor=actor,
                 **details)


def create(db, spec: ClientSpec, *, actor: str, now: float, team: str | None = None,
           registration_token: bool = False) -> tuple[Client, str | None, str | None]:
    """Register a client: (row, secret or None, RFC 7592 registration access token or None)."""
    row, secret = build_client(spec, secret_key=services.settings().secret_key, now=now, created_by=actor,
                               team=team, allow=services.outbound().allow)
    rat = None
    if registration_token:
        rat = new_token()
        row.registration_token_hash = token_hash(rat)
    client_repo.add_client(db, row)
    _audit(db, audit.CLIENT_REGISTERED, row, actor=actor, now=now, team=team, name=row.name,
           redirect_uris=row.redirect_uris, trusted=row.trusted)
    return row, secret, rat


def update(db, row: Client, spec: ClientSpec, *, actor: str, now: float) -> str | None:
    """Replace a client's metadata; returns a new secret only if the client newly needs one."""
    before = client_metadata(row)
    secret = apply_spec(row, spec, secret_key=services.settings().secret_key, now=now,
                        allow=services.outbound().allow)
    row.updated_at = now
    after = client_metadata(row)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    _audit(db, audit.CLIENT_UPDATED, row, actor=actor, now=now, changed=changed, trusted=row.trusted)
    db.flush()
    return secret


def set_active(db, row: Client, active: bool, *, actor: str, now: float) -> None:
    """Disable or enable. While disabled the client cannot authenticate and its tokens are refused."""
    row.active, row.updated_at = active, now
    _audit(db, audit.CLIENT_ENABLED if active else audit.CLIENT_DISABLED, row, actor=actor, now=now)
    db.flush()


def delete(db, row: Client, *, actor: str, now: float) -> None:
    """Delete the client. Its grants and refresh tokens are deleted with it, and access tokens of a
    client that no longer exists fail verification (``tokens.access_token_state``)."""
    _audit(db, audit.CLIENT_DELETED, row, actor=actor, now=now, name=row.name, team=row.team)
    client_repo.delete_client(db, row)


def rotate_secret(db, row: Client, *, grace: int, actor: str, now: float) -> str:
    """A new secret; the current one keeps working for ``grace`` seconds (0 = stops now)."""
    if row.token_endpoint_auth_method not in SECRET_METHODS or not row.secret_hash:
        raise ClientOperationError(f"client {row.client_id} does not use a client secret "
                                   f"(token_endpoint_auth_method {row.token_endpoint_auth_method})")
    if grace < 0:
        raise ClientOperationError("the grace period cannot be negative")
    secret = new_token()
    row.previous_secret_hash = row.secret_hash if grace else None
    row.previous_secret_expires_at = now + grace if grace else None
    row.secret_hash, row.secret_issued_at, row.updated_at = keyed_hash(secret, services.settings().secret_key), now, now
    _audit(db, audit.CLIENT_SECRET_ROTATED, row, actor=actor, now=now, grace_seconds=grace)
    db.flush()
    return secret


def secret_matches(row: Client, secret: str, *, secret_key: str, now: float) -> bool:
    """Constant-time check against the current secret and, during its grace period, the previous one."""
    if not row.secret_hash or not isinstance(secret, str):
        return False
    candidate = keyed_hash(secret, secret_key)
    current = equals(candidate, row.secret_hash)
    previous = bool(row.previous_secret_hash) and row.previous_secret_expires_at is not None \
        and now < row.previous_secret_expires_at and equals(candidate, row.previous_secret_hash)
    return current or previous


def issue_registration_token(db, *, team: str, expires_in: int, max_clients: int | None, actor: str,
                             now: float) -> tuple[InitialAccessToken, str]:
    """An RFC 7591 initial access token for an app team; only its hash is stored."""
    team = team.strip()
    if not team or len(team) > 200:
        raise ClientOperationError("the team name must be 1 to 200 characters")
    if expires_in <= 0:
        raise ClientOperationError("the token must expire in the future")
    if max_clients is not None and max_clients < 1:
        raise ClientOperationError("max clients must be at least 1")
    token = new_token()
    row = client_repo.add_initial_token(db, InitialAccessToken(
        token_hash=token_hash(token), team=team, created_at=now, expires_at=now + expires_in,
        max_clients=max_clients, clients_registered=0, created_by=actor))
    audit.record(db, audit.REGISTRATION_TOKEN_ISSUED, now=now, **services.request_audit_fields(), actor=actor,
                 team=team, token_id=row.id, expires_at=row.expires_at, max_clients=max_clients)
    return row, token


def describe(row: Client, now: float) -> dict:
    """What ``show`` and the admin API report: metadata plus status and secrets (never their values)."""
    body = client_metadata(row)
    body.update(active=row.active, trusted=row.trusted, team=row.team, created_by=row.created_by,
                created_at=iso(row.created_at), updated_at=iso(row.updated_at),
                managed_by_registration=row.registration_token_hash is not None, secrets=secrets_of(row, now))
    return body


def secrets_of(row: Client, now: float) -> list[dict]:
    """The secrets that work now: the current one, and the previous one during its grace period."""
    found = []
    if row.secret_hash:
        found.append({"state": "current", "issued_at": iso(row.secret_issued_at or row.created_at),
                      "expires_at": None})
    if row.previous_secret_hash and row.previous_secret_expires_at and now < row.previous_secret_expires_at:
        found.append({"state": "previous", "issued_at": None, "expires_at": iso(row.previous_secret_expires_at)})
    return found


def iso(ts: float | None) -> str | None:
    return None if ts is None else utc(ts).isoformat().replace("+00:00", "Z")
