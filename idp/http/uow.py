"""One unit of work per request: one database session, committed once (warehouse ``db.py``).

Views and use cases add to ``session()``; nobody else commits. When the view returns, ``finish``
commits, unless the request was doomed (``doom``) or the view is marked ``commit_on_success`` and
answered with an error; an exception leaves the transaction uncommitted and teardown rolls it back.
So a rejected request leaves nothing half-written, and what a use case records (an audit row of a
refused sign-in, say) is committed with the response that reports it. ``separate()`` is the one
way out: a transaction of its own, for writes that must stand although the request fails (the
revocation of a replayed code, the audit of it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from flask import Flask, Response, g
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from idp.http.context import deps

View = TypeVar("View", bound=Callable[..., Any])

_SESSION = "idp_uow_session"
_DOOMED = "idp_uow_doomed"
_DEFERRED = "idp_uow_deferred"
_READ_ONLY = "idp_uow_read_only"


def session() -> Session:
    """The current request's session (created on first use)."""
    found = g.get(_SESSION)
    if found is None:
        database = deps().database
        found = database.read_session() if g.get(_READ_ONLY) else database.session()
        setattr(g, _SESSION, found)
    return found


def current() -> Session | None:
    """The request's session if it made one (teardown hooks look at what it queued)."""
    return g.get(_SESSION)


def doom() -> None:
    """Nothing this request wrote may be committed (the view answers with an error it built itself)."""
    setattr(g, _DOOMED, True)


def on_commit(action: Callable[[], object]) -> None:
    """Run ``action`` once this request's work is committed (at once if it has none yet).

    For writes to the short-lived store that belong with the request's work (a pending sign-in, an
    authorization code): they happen only if the work is committed, and never while the request's
    transaction holds SQLite's one write lock (the store's database fallback writes through a
    connection of its own, and would wait for that lock until it timed out). A failure raises
    like any other (a 503 when the store is down)."""
    if g.get(_SESSION) is None:
        action()
        return
    g.setdefault(_DEFERRED, []).append(action)


def separate() -> AbstractContextManager[Session]:
    """A transaction of its own, committed at the end of the block whatever the request's outcome."""
    return deps().database.transaction()


def commit_on_success(view: View) -> View:
    """Mark a view whose error responses are built, not raised (Authlib's endpoints): a 4xx or 5xx
    from it is not committed, e.g. the successor refresh token of a rotation that lost a race."""
    view.idp_commit_on_success = True  # type: ignore[attr-defined]  # a marker attribute on a function
    return view


def read_only(view: View) -> View:
    """Mark a view that only reads (userinfo, introspection): its session runs each query on its
    own, without the BEGIN and ROLLBACK around it (docs/performance.md: round trips per request).
    A write from such a view raises instead of committing piecemeal."""
    view.idp_read_only = True  # type: ignore[attr-defined]  # a marker attribute on a function
    return view


def finish(response: Any, view: Callable | None = None) -> Any:
    """Commit the request's work, unless it is doomed or ``view`` refuses errors."""
    current: Session | None = g.get(_SESSION)
    if current is None:
        for action in g.pop(_DEFERRED, []):  # made before any session existed: nothing to wait for
            action()
        return response
    failed = getattr(view, "idp_commit_on_success", False) and response.status_code >= 400
    deferred = g.pop(_DEFERRED, [])
    if g.get(_DOOMED) or failed:
        current.rollback()
        return response
    current.commit()
    for action in deferred:
        action()
    return response


def _transactional(view: Callable, app: Flask) -> Callable:
    read = getattr(view, "idp_read_only", False)

    @functools.wraps(view)
    def run(*args: Any, **kwargs: Any) -> Response:
        if read:
            setattr(g, _READ_ONLY, True)
        response = app.make_response(view(*args, **kwargs))
        return finish(response, view)

    return run


def init_app(app: Flask) -> None:
    """Wrap every view (after all blueprints are registered) and close the session at teardown."""
    for endpoint, view in list(app.view_functions.items()):
        app.view_functions[endpoint] = _transactional(view, app)

    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        current = g.pop(_SESSION, None)
        if current is not None:
            try:
                current.rollback()
                current.close()
            except SQLAlchemyError:  # the connection died (database restart): drop it, never raise here
                current.invalidate()
