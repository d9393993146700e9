"""Short-lived, high-churn state (pending interactions, authorization codes, replay caches):
``idp.core.ports.Store`` on four backends.

=============================== ================================================================
``memory.MemoryStore``           in-process, one process only (the embedded default)
``redis.RedisStore``             Redis, shared by every worker on every host
``database.DatabaseStore``       table ``store_fallback``
``fallback.FallbackStore``       Redis first, the database while Redis is unreachable
=============================== ================================================================

``build_store`` picks one from the settings (``idp.app.create_app`` is its only caller). The same
behaviour suite runs on every backend (``tests/contract/test_store.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from idp.core.ports import Clock, Database, Store

if TYPE_CHECKING:
    from idp.core.settings import Settings


def build_store(settings: Settings, database: Database, clock: Clock) -> Store:
    """Redis with the database as its fallback during an outage when ``IDP_REDIS_URL`` is set;
    the in-process store otherwise. Expiry computed in Python follows ``clock``."""
    # Imported here: importing one backend must not load the others' libraries (redis, SQLAlchemy),
    # nor prometheus_client, which must not be imported before ``idp serve`` has set
    # PROMETHEUS_MULTIPROC_DIR (idp.http.ops.gunicorn).
    if not settings.storage.redis_url:
        from idp.storage.store.memory import MemoryStore

        return MemoryStore(now=clock.now)
    from idp.core.metrics import STORE_FALLBACK
    from idp.storage.store.database import DatabaseStore
    from idp.storage.store.fallback import FallbackStore
    from idp.storage.store.redis import RedisStore

    return FallbackStore(
        RedisStore(settings.storage.redis_url, settings.storage.redis_prefix),
        DatabaseStore(database, now=clock.now),
        on_fallback=STORE_FALLBACK.inc,
    )
