"""What one provider runs on: the backends ``idp.app`` picks and wires, once per app.

Only the composition root (``idp.app``) builds a ``Deps``; the HTTP layer and the CLI read the
one of their app and pass each use case exactly the parts it needs (CONVENTIONS 1; Dex's
``server.Config{Storage, Now}``). Use cases never see this object.
"""

from __future__ import annotations

from dataclasses import dataclass

from idp.core.admission import AdmissionGate
from idp.core.mail import Postman
from idp.core.outbound import OutboundClient
from idp.core.ports import Clock, Database, Hasher, KeyStore, Mailer, Notifier, Store, Throttle
from idp.core.settings import Settings


@dataclass(frozen=True)
class Deps:
    settings: Settings
    clock: Clock
    database: Database
    store: Store
    keystore: KeyStore
    hasher: Hasher
    #: Admission to password verification (``idp.core.admission``): bounded concurrency and wait.
    signin_gate: AdmissionGate
    throttle: Throttle
    mailer: Mailer
    postman: Postman
    outbound: OutboundClient
    notifier: Notifier

    def now(self) -> float:
        return self.clock.now()
