"""Registered clients kept in process memory for the protocol endpoints (token, introspection,
revocation, authorize): the token endpoint then needs no database round trip to authenticate a client.

Invalidation: every ORM flush or commit that touches a ``Client`` row in this process drops that
client from every cache at once (SQLAlchemy session events), so changes made through this process
(CLI, admin API, registration, rotation) apply to the next request. Changes made by another
process apply after ``IDP_CLIENT_CACHE_SECONDS`` at most; 0 turns the cache off.
A hand-written dict rather than a caching library: the invalidation hook is the point, and the
entries are few (one per client).
"""

from __future__ import annotations

import copy
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, make_transient_to_detached

from idp.http.protocol.models import OAuthClient
from idp.storage.sql.models import Client

_caches: weakref.WeakSet[ClientCache] = weakref.WeakSet()


class ClientCache:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._entries: dict[str, tuple[float, OAuthClient]] = {}
        self._lock = threading.Lock()
        _caches.add(self)

    def get(self, client_id: str) -> OAuthClient | None:
        if self.seconds <= 0:
            return None
        hit = self._entries.get(client_id)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, client_id: str, value: OAuthClient) -> None:
        if self.seconds > 0:
            with self._lock:
                self._entries[client_id] = (time.monotonic() + self.seconds, value)

    def drop(self, client_id: str | None = None) -> None:
        with self._lock:
            if client_id is None:
                self._entries.clear()
            else:
                self._entries.pop(client_id, None)


def detached_copy(row: Client) -> Client:
    """A copy of the row that belongs to no session (every column loaded, nothing lazy)."""
    values = {a.key: copy.deepcopy(getattr(row, a.key)) for a in sa_inspect(Client).column_attrs}
    clone = Client(**values)
    make_transient_to_detached(clone)
    return clone


def _drop_everywhere(client_ids: Iterable[str]) -> None:
    for cache in list(_caches):
        for client_id in client_ids:
            cache.drop(client_id)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: object) -> None:
    ids = {o.client_id for o in (*session.new, *session.dirty, *session.deleted) if isinstance(o, Client)}
    if ids:
        session.info.setdefault("idp_changed_clients", set()).update(ids)
        _drop_everywhere(ids)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # Dropped again after the commit: a concurrent request may have cached the old row in between.
    ids = session.info.pop("idp_changed_clients", None)
    if ids:
        _drop_everywhere(ids)


@event.listens_for(Session, "after_bulk_update")
def _after_bulk_update(update_context: Any) -> None:
    if update_context.mapper.class_ is Client:
        for cache in list(_caches):
            cache.drop()


@event.listens_for(Session, "after_bulk_delete")
def _after_bulk_delete(delete_context: Any) -> None:
    if delete_context.mapper.class_ is Client:
        for cache in list(_caches):
            cache.drop()
