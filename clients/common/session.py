"""A server-side Flask session: the cookie carries only a random token; the data lives in the app's
database, so back-channel logout can end a session the browser is not presenting.

Written here rather than using Flask-Session because back-channel logout must find sessions by the
provider's ``sid``/``sub``, which a generic session store does not index.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete, update
from sqlalchemy.orm import Session
from werkzeug.datastructures import CallbackDict

from .config import Clock, RPConfig
from .storage import RPDatabase, RPSession, purge_sessions

#: Writes of ``last_seen_at`` alone happen at most this often (the hot path stays read-only).
TOUCH_SECONDS = 60


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _drop(db: Session, token_hash: str, *, commit: bool = True) -> None:
    """Delete a session row by key. A bulk DELETE, not ``db.delete(row)``: two requests of the same browser
    (a page and its favicon) may both see the expiry, and the second must find nothing to delete quietly."""
    db.execute(delete(RPSession).where(RPSession.token_hash == token_hash))
    if commit:
        db.commit()


class ServerSession(CallbackDict, SessionMixin):
    def __init__(
        self, initial: dict[str, Any] | None = None, token: str | None = None, ended: str | None = None
    ) -> None:
        def on_update(self: ServerSession) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.token = token
        #: Why the browser's previous session is gone: "expired" or "signed_out" (else None).
        self.ended = ended
        # An ended session is saved even if the request stores nothing new (a signed-out one drops its cookie).
        self.modified = ended is not None
        self.regenerate = False

    def rotate(self) -> None:
        """A new session id after sign-in (no session fixation); the data is carried over."""
        self.regenerate = True
        self.modified = True


class ServerSessionInterface(SessionInterface):
    def __init__(self, config: RPConfig, database: RPDatabase, clock: Clock) -> None:
        self.config, self.database, self.clock = config, database, clock

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(self.config.cookie_name)
        if not token or len(token) > 100:
            return ServerSession()
        now = self.clock.now()
        with self.database.session() as db:
            row = db.get(RPSession, _hash(token))
            if row is None:
                return ServerSession(ended="expired")
            if row.logged_out_at is not None:
                _drop(db, row.token_hash)
                return ServerSession(ended="signed_out")
            if (
                now - row.last_seen_at >= self.config.session_idle_seconds
                or now - row.created_at >= self.config.session_max_seconds
            ):
                _drop(db, row.token_hash)
                return ServerSession(ended="expired")
            if now - row.last_seen_at >= TOUCH_SECONDS:
                db.execute(update(RPSession).where(RPSession.token_hash == row.token_hash).values(last_seen_at=now))
                db.commit()
            return ServerSession(json.loads(row.data), token=token)

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:  # type: ignore[override]  # Flask types it SessionMixin; this interface only ever gets its own ServerSession
        cookie = dict(httponly=True, samesite="Lax", secure=self.config.secure_cookies, path="/")
        if not session.modified:
            return
        now = self.clock.now()
        with self.database.session() as db:
            if session.token and (session.regenerate or not session):
                _drop(db, _hash(session.token), commit=False)
            if not session:
                db.commit()
                # An expired session keeps its cookie: the browser's next requests must still learn that it
                # expired (and return silently through the provider) even when another of its requests (the
                # favicon, a stylesheet) saw the expiry first. A new sign-in replaces the cookie.
                if session.token or session.ended == "signed_out":
                    response.delete_cookie(self.config.cookie_name, **cookie)
                return
            user = session.get("user") or {}
            fields = dict(data=json.dumps(dict(session)), sub=user.get("sub"), sid=user.get("sid"), last_seen_at=now)
            if session.token and not session.regenerate:
                # Statements, not ORM rows: another request of this browser may have ended the row meanwhile,
                # and then there is nothing to update (the next request finds the session gone).
                db.execute(update(RPSession).where(RPSession.token_hash == _hash(session.token)).values(**fields))
                db.commit()
                return
            # New sessions are rare next to page views: a good moment to drop dead rows.
            purge_sessions(db, now=now, idle=self.config.session_idle_seconds, absolute=self.config.session_max_seconds)
            session.token = secrets.token_urlsafe(32)
            session.regenerate = False
            db.add(RPSession(token_hash=_hash(session.token), created_at=now, **fields))
            db.commit()
            response.set_cookie(
                self.config.cookie_name, session.token, max_age=self.config.session_max_seconds, **cookie
            )
