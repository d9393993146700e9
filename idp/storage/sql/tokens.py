"""Grants, refresh tokens and access-token revocations.

A grant is one authorization (one code exchange); every refresh token and access token
issued from it belongs to its family. Revoking the grant revokes them all (code replay,
refresh-token reuse).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam, insert, literal, select, update
from sqlalchemy.orm import Session

from idp.core.tokens import token_hash
from idp.storage.sql.database import rowcount
from idp.storage.sql.models import BrowserSession, Client, Grant, RefreshToken, RevokedAccessToken, User


def add_grant(db: Session, grant: Grant) -> Grant:
    db.add(grant)
    db.flush()
    return grant


def exchange_code(db: Session, grant: Grant, *, refresh_token: str | None, lifetime: int) -> User | None:
    """The code exchange's writes and its one read: ``grant`` (unsaved) and, if given, its first
    refresh token (valid ``lifetime`` seconds from the grant's creation) are stored if the grant's
    user exists and is active; returns that user, if it exists.

    On PostgreSQL one statement: the INSERTs are CTEs of the SELECT of the user, the grant's
    conditional on the user (INSERT … SELECT … FROM users), the refresh token's on the grant (one
    round trip instead of three; docs/performance.md, "Round trips per request"). SQLite cannot put
    an INSERT in a CTE and has no round trips to save.
    """
    read = select(User).where(User.id == grant.user_id)
    row = None
    if refresh_token is not None:
        row = _new_refresh_token(refresh_token, grant.id, grant.client_id, grant.scope, grant.created_at, lifetime)
    if db.get_bind().dialect.name != "postgresql":
        user = db.scalar(read)
        if user is not None and user.active:
            # Added, not flushed: the INSERTs wait for the commit, so the request does not hold
            # SQLite's one write lock while the tokens are made (the keystore may write keys then).
            db.add_all([grant] if row is None else [grant, row])
        return user
    values = _values(grant, "user_id")
    from_user = select(*_literals(Grant, values), User.id).where(User.id == grant.user_id, User.active.is_(True))
    stored = insert(Grant).from_select([*values, "user_id"], from_user).returning(Grant.id).cte("stored_grant")
    ctes = [stored]
    if row is not None:
        values = _values(row, "id", "grant_id")
        from_grant = select(*_literals(RefreshToken, values), stored.c.id)
        ctes.append(insert(RefreshToken).from_select([*values, "grant_id"], from_grant).cte("stored_token"))
    return db.scalar(read.add_cte(*ctes))


def _values(row: Any, *leave_out: str) -> dict[str, Any]:
    """An unsaved row's column values, for a Core INSERT."""
    return {c.key: getattr(row, c.key) for c in row.__table__.c if c.key not in leave_out}


def _literals(model: Any, values: dict[str, Any]) -> list[Any]:
    """The values as literals of their columns' types (JSON bound as JSON), for INSERT … SELECT."""
    return [literal(value, model.__table__.c[key].type) for key, value in values.items()]


def revoke_grant(db: Session, grant_id: str, now: float) -> None:
    db.execute(update(Grant).where(Grant.id == grant_id, Grant.revoked_at.is_(None)).values(revoked_at=now))
    db.execute(
        update(RefreshToken)
        .where(RefreshToken.grant_id == grant_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def add_refresh_token(
    db: Session, *, token: str, grant_id: str, client_id: str, scope: str, now: float, lifetime: int
) -> RefreshToken:
    row = _new_refresh_token(token, grant_id, client_id, scope, now, lifetime)
    db.add(row)
    db.flush()
    return row


def _new_refresh_token(
    token: str, grant_id: str, client_id: str, scope: str, now: float, lifetime: int
) -> RefreshToken:
    return RefreshToken(
        token_hash=token_hash(token),
        grant_id=grant_id,
        client_id=client_id,
        scope=scope,
        issued_at=now,
        expires_at=now + lifetime,
    )


def find_refresh_token(db: Session, token: str) -> tuple[RefreshToken, Grant] | None:
    row = db.execute(
        select(RefreshToken, Grant)
        .join(Grant, Grant.id == RefreshToken.grant_id)
        .where(RefreshToken.token_hash == token_hash(token))
    ).first()
    return None if row is None else (row[0], row[1])


class RefreshClaim(NamedTuple):
    """A refresh token as it was before ``claim_refresh_token`` (its grant, user and browser session
    with it), and whether it is the request's to rotate (``confirm_claim``)."""

    row: RefreshToken
    grant: Grant
    user: User | None
    browser_session: BrowserSession | None
    won: bool


def claim_refresh_token(db: Session, token: str, now: float) -> RefreshClaim | None:
    """Read what the refresh grant needs of a refresh token: the token as it was (``rotated_at`` for
    the reuse detection), its grant, the user and the browser session the grant came from; and
    claim it, if it is neither used nor revoked. None if there is no such token.

    On PostgreSQL one round trip (docs/performance.md, "Round trips per request"): the conditional
    UPDATE that claims the token is a CTE of the SELECT, and ``won`` says whether it matched. Of two
    concurrent uses only one does; the other's UPDATE waits for the winner's commit, then matches
    nothing, and its SELECT sees the token unused, as it was when the statement began (a race, not
    a reuse). SQLite cannot put an UPDATE in a CTE and has no round trips to save: there this only
    reads (``won``: the token is unused) and ``confirm_claim`` claims it once the tokens are made, so
    the request does not hold SQLite's one write lock meanwhile (the keystore may write keys then).
    """
    # populate_existing: the token as the database has it, over any copy the session already holds
    read = (
        select(RefreshToken, Grant, User, BrowserSession)
        .join(Grant, Grant.id == RefreshToken.grant_id)
        .outerjoin(User, User.id == Grant.user_id)
        .outerjoin(BrowserSession, BrowserSession.id == Grant.session_id)
        .where(RefreshToken.token_hash == token_hash(token))
        .execution_options(populate_existing=True)
    )
    if db.get_bind().dialect.name != "postgresql":
        row = db.execute(read).first()
        if row is None:
            return None
        return RefreshClaim(row[0], row[1], row[2], row[3], row[0].rotated_at is None and row[0].revoked_at is None)
    claimed = _claim(RefreshToken.token_hash == token_hash(token), now).returning(RefreshToken.id).cte("claimed")
    found = db.execute(
        read.add_columns(claimed.c.id.is_not(None)).outerjoin(claimed, claimed.c.id == RefreshToken.id)
    ).first()
    return None if found is None else RefreshClaim(*found)


def confirm_claim(db: Session, row: RefreshToken, now: float) -> bool:
    """Whether the request may rotate ``row``, a token ``claim_refresh_token`` gave it (``won``). On
    PostgreSQL that claimed it already; on SQLite the conditional UPDATE claims it now, and of two
    concurrent uses only one matches."""
    if db.get_bind().dialect.name == "postgresql":
        return True
    return rowcount(db.execute(_claim(RefreshToken.id == row.id, now))) == 1


def _claim(which: Any, now: float) -> Any:  # an Update
    return (
        update(RefreshToken)
        .where(which, RefreshToken.rotated_at.is_(None), RefreshToken.revoked_at.is_(None))
        .values(rotated_at=now)
    )


def revoke_refresh_token(db: Session, token_id: int, now: float) -> None:
    db.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_access_token(db: Session, jti: str, expires_at: float) -> None:
    if db.get(RevokedAccessToken, jti) is None:
        db.add(RevokedAccessToken(jti=jti, expires_at=expires_at))
        db.flush()


def access_token_state(db: Session, jti: str, grant_id: str | None, client_id: str | None = None) -> bool:
    """True if an access token is still good: its jti not revoked, its grant (if any) live, and
    its client (if given) still registered and enabled, so deleting or disabling a client
    revokes its self-contained tokens too.

    One round trip: the checks are EXISTS subqueries of one SELECT, built once per shape
    (``_state_query``): building the statement was a third of an introspection request's time.
    """
    params = {"jti": jti, "grant_id": grant_id, "client_id": client_id}
    is_revoked, *live = db.execute(_state_query(grant_id is not None, client_id is not None), params).one()
    return all(live) and not is_revoked


def _jti_revoked() -> Any:
    return select(RevokedAccessToken.jti).where(RevokedAccessToken.jti == bindparam("jti")).exists()


def _client_live() -> Any:
    return select(Client.client_id).where(Client.client_id == bindparam("client_id"), Client.active.is_(True)).exists()


@lru_cache(maxsize=4)
def _state_query(with_grant: bool, with_client: bool) -> Any:  # a Select of as many booleans as checks
    checks = [_jti_revoked()]
    if with_grant:
        checks.append(select(Grant.id).where(Grant.id == bindparam("grant_id"), Grant.revoked_at.is_(None)).exists())
    if with_client:
        checks.append(_client_live())
    return select(*checks)


def userinfo_subject(db: Session, jti: str, grant_id: str, client_id: str, sub: str) -> tuple[User, dict] | None:
    """The user an access token speaks for and its grant's requested claims, if the token is still
    good (as ``access_token_state``) and the user still active with that ``sub``; else None.

    One SELECT instead of three (the state check, the grant, the user): /userinfo is called by every
    relying party on every sign-in and was the slowest row of the benchmark (docs/performance.md).
    """
    params = {"jti": jti, "grant_id": grant_id, "client_id": client_id, "sub": sub}
    row = db.execute(_userinfo_query(), params).first()
    return None if row is None else (row[0], row[1] or {})


@lru_cache(maxsize=1)
def _userinfo_query() -> Any:  # built once, like ``_state_query``
    return (
        select(User, Grant.claims)
        .join(Grant, Grant.user_id == User.id)
        .where(
            Grant.id == bindparam("grant_id"),
            Grant.revoked_at.is_(None),
            User.sub == bindparam("sub"),
            User.active.is_(True),
            _client_live(),
            ~_jti_revoked(),
        )
    )


def revoke_user_tokens(
    db: Session, user_id: int, now: float, *, client_id: str | None = None, session_ids: list[str] | None = None
) -> int:
    """Revoke the grants of a user (every refresh token, and with the grant every access token,
    since ``access_token_state`` checks it): all of them, one client's, or those of some sessions.

    Returns how many grants were revoked."""
    where = [Grant.user_id == user_id, Grant.revoked_at.is_(None)]
    if client_id is not None:
        where.append(Grant.client_id == client_id)
    if session_ids is not None:
        if not session_ids:
            return 0
        where.append(Grant.session_id.in_(session_ids))
    grant_ids = list(db.scalars(select(Grant.id).where(*where)))
    if grant_ids:
        db.execute(update(Grant).where(Grant.id.in_(grant_ids)).values(revoked_at=now))
        db.execute(
            update(RefreshToken)
            .where(RefreshToken.grant_id.in_(grant_ids), RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return len(grant_ids)
