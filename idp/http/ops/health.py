"""Readiness checks: each returns None when fine, or a short reason safe to show an operator."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from idp.core.errors import KeyStoreError, StoreUnavailable
from idp.http.context import deps

log = logging.getLogger(__name__)
PROBE_KEY = "health:probe"


def check_database() -> str | None:
    try:
        with deps().database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("readiness: database unavailable: %s", exc.__class__.__name__)
        return "unavailable"
    return None


#: Redis is down but its database fallback carries the short-lived state: still ready. Every
#: instance shares the one Redis, so taking them out of rotation would stop single sign-on, refresh
#: and JWKS too, all of which keep working (docs/reliability.md); password sign-in fails closed.
DEGRADED = "degraded: Redis unavailable, using the database"


def check_store() -> str | None:
    """Redis when configured (the in-process store cannot fail)."""
    store = deps().store
    try:
        getattr(store, "primary", store).get(PROBE_KEY)  # Redis itself, not the fallback behind it
    except StoreUnavailable:
        log.warning("readiness: Redis unavailable")
        return DEGRADED if hasattr(store, "fallback") else "unavailable"
    return None


def check_keys() -> str | None:
    """A current signing key for ID tokens (RS256, the default) and for access tokens."""
    try:
        keystore = deps().keystore
        for alg in dict.fromkeys(("RS256", deps().settings.tokens.access_token_alg)):
            keystore.signing_key(alg)
    except KeyStoreError as exc:
        log.warning("readiness: %s", exc)
        return "no current signing key"
    return None


CHECKS = {"database": check_database, "store": check_store, "signing_key": check_keys}


def readiness() -> tuple[str, dict[str, str]]:
    """``ok``, ``degraded`` (serving, a dependency has a fallback in use) or ``unavailable``."""
    results = {name: check() or "ok" for name, check in CHECKS.items()}
    if any(v not in ("ok", DEGRADED) for v in results.values()):
        return "unavailable", results
    return "degraded" if DEGRADED in results.values() else "ok", results
