"""The back-channel logout deliverer of this app (``idp.domain.backchannel``): built from its
dependencies, woken when a request queued a delivery."""

from __future__ import annotations

from flask import Flask, current_app

from idp.core.deps import Deps
from idp.domain.backchannel import Deliverer
from idp.http import uow
from idp.storage.sql import logout_deliveries as outbox

KEY = "idp.backchannel"


def init_app(app: Flask, deps: Deps) -> None:
    deliverer = Deliverer(
        settings=deps.settings, clock=deps.clock, database=deps.database, keystore=deps.keystore, outbound=deps.outbound
    )
    app.extensions[KEY] = deliverer

    @app.teardown_request
    def _wake_deliverer(_exc: BaseException | None) -> None:
        # Rows queued by this request (committed, or rolled back: then the pass finds nothing).
        session = uow.current()
        if session is not None and session.info.pop(outbox.QUEUED_FLAG, False):
            deliverer.wake()


def get_deliverer(app: Flask | None = None) -> Deliverer:
    return (app or current_app).extensions[KEY]
