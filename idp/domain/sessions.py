"""The provider session (single sign-on): which user a browser is signed in as, and ending it.

A session is a row whose id names it in tokens (``sid``) and whose cookie value is stored only as a
hash. Ending one, by any path (sign-out, reset, disable, "sign out everywhere", an admin), queues a
back-channel logout token for every relying party under it in the same transaction, so a commit
that ends a session also commits the promise to tell its apps (OpenID Back-Channel Logout 1.0).
Cookies are the HTTP layer's business (``idp.http.session``); nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from idp.core.request import RequestInfo
from idp.storage.sql import logout_deliveries
from idp.storage.sql import sessions as session_repo
from idp.storage.sql.models import BrowserSession, User


@dataclass
class SignedIn:
    session: BrowserSession
    user: User


def find(db: Session, token: str, *, now: float, idle: int) -> SignedIn | None:
    """The live session of cookie value ``token`` and its (active) user, its activity recorded at
    most once a minute; None when ended, past its absolute or idle limit, or the user is disabled."""
    found = session_repo.find_active_session(db, token, now=now, idle=idle)
    if found is None or not found[1].active:
        return None
    row, user = found
    session_repo.touch(db, row, now)
    return SignedIn(row, user)


def start(
    db: Session, user: User, amr: list[str], *, now: float, idle: int, absolute: int, info: RequestInfo
) -> tuple[SignedIn, str]:
    """A new session for ``user`` (never the pre-login one, ASVS 7.2.4): it and its cookie value."""
    row, token = session_repo.start_session(
        db, user_id=user.id, amr=amr, now=now, idle=idle, absolute=absolute, ip=info.ip, user_agent=info.user_agent
    )
    return SignedIn(row, user), token


def end(db: Session, session_id: str, now: float) -> bool:
    """End one session and queue back-channel logout for its relying parties; False if it had ended."""
    if not session_repo.end_session(db, session_id, now):
        return False
    logout_deliveries.queue_logout(db, [session_id], now)
    return True


def end_user_sessions(
    db: Session, user_id: int, now: float, *, except_session_id: str | None = None, only_session_id: str | None = None
) -> list[str]:
    """End every live session of a user, all but one (``except_session_id``) or just one
    (``only_session_id``), queuing back-channel logout for each; returns the ids ended."""
    ended = session_repo.end_user_sessions(
        db, user_id, now, except_session_id=except_session_id, only_session_id=only_session_id
    )
    logout_deliveries.queue_logout(db, ended, now)
    return ended


def step_up(db: Session, signed_in: SignedIn, amr: list[str], now: float) -> None:
    """The session showed a second factor now and its methods are ``amr``
    (``idp.domain.factors.policy.with_second_factor``): in place, without a new password or a new
    session id, so the apps signed in under it keep their ``sid``. Tokens issued from now on carry
    the new ``amr``; those issued before keep theirs."""
    row = signed_in.session
    row.amr = list(amr)
    row.mfa_at = now
    db.flush()
