"""Back-channel logout delivery (OpenID Connect Back-Channel Logout 1.0).

``idp.storage.sql.logout_deliveries`` queues a row per (ended session, client) in the transaction that
ends the session. The ``Deliverer`` sends them afterwards: each ``idp serve`` worker runs one in a
daemon thread (woken at once when its own requests queued something, otherwise polling), and
tests call ``flush()`` to deliver deterministically. A dead relying party costs the deliverer one
timeout per attempt and never the user's request. Every attempt runs in a transaction of its own.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from joserfc import jwt

from idp.core.metrics import BACKCHANNEL_DELIVERIES
from idp.core.outbound import OutboundClient, OutboundError
from idp.core.ports import Clock, Database, KeyStore
from idp.core.settings import Settings
from idp.core.tokens import new_id
from idp.storage.sql import audit
from idp.storage.sql import logout_deliveries as outbox
from idp.storage.sql.models import Client, LogoutDelivery

log = logging.getLogger(__name__)

#: §2.6 "events": the member that makes a JWT a logout token.
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: Logout tokens are short-lived (§2.4 recommends two minutes at most).
TOKEN_SECONDS = 120
RETRY_BASE_SECONDS = 5
RETRY_MAX_SECONDS = 300
#: A relying party's answer is read only for its status; a longer body is an error (§2.8 allows a small JSON error).
RESPONSE_MAX_BYTES = 64 * 1024


def logout_token(client: Client, sub: str, sid: str, *, issuer: str, keystore: KeyStore, now: float) -> str:
    """A signed logout token (§2.4): iss, aud, iat, exp, jti, sub, sid, events; never a nonce (§2.4)."""
    now = int(now)
    claims = {
        "iss": issuer,
        "aud": client.client_id,
        "iat": now,
        "exp": now + TOKEN_SECONDS,
        "jti": new_id(),
        "sub": sub,
        "sid": sid,
        "events": {LOGOUT_EVENT: {}},
    }
    # Signed with the key of the algorithm the client gets its ID tokens in, which it already trusts.
    key = keystore.signing_key(client.id_token_signed_response_alg or "RS256")
    # §2.4: explicitly typed "logout+jwt" (RFC 8725 §3.11) so it can never pass as an ID token.
    header = {"alg": key.alg, "kid": key.kid, "typ": "logout+jwt"}
    return jwt.encode(header, claims, key.key, algorithms=[key.alg])


class Deliverer:
    """Sends queued logout tokens; ``flush`` once, or ``start`` a background thread."""

    def __init__(
        self, *, settings: Settings, clock: Clock, database: Database, keystore: KeyStore, outbound: OutboundClient
    ) -> None:
        self.settings, self.clock, self.database = settings, clock, database
        self.keystore, self.outbound = keystore, outbound
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._thread is None and self.settings.outbound.backchannel_poll_seconds > 0:
            self._thread = threading.Thread(target=self._run, name="backchannel-logout", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        poll = self.settings.outbound.backchannel_poll_seconds
        while not self._stop.is_set():
            try:
                self.flush()
            except Exception:  # the thread must outlive a database hiccup; the rows stay queued
                log.exception("back-channel logout delivery pass failed")
            self._wake.wait(poll)
            self._wake.clear()

    def flush(self) -> int:
        """Attempt every delivery that is due now; returns how many attempts were made."""
        attempts = 0
        with self._lock:
            while True:
                batch = self._claim_due()
                if not batch:
                    return attempts
                for delivery, client in batch:
                    self._attempt(delivery, client)
                    attempts += 1

    def _claim_due(self) -> list[tuple[LogoutDelivery, Client]]:
        now = self.clock.now()
        lease = now + 2 * self.settings.outbound.backchannel_timeout_seconds + 5
        claimed = []
        with self.database.transaction() as db:
            for row in outbox.due(db, now):
                if outbox.claim(db, row, lease):
                    client = db.get(Client, row.client_id)
                    claimed.append((row, client))
        return claimed

    def _attempt(self, delivery: LogoutDelivery, client: Client | None) -> None:
        settings = self.settings
        error: str | None
        if client is None or not client.backchannel_logout_uri:
            error, final = "the client no longer has a backchannel_logout_uri", True
        else:
            error, refused = self._post(client.backchannel_logout_uri, client, delivery)
            # A URL the outbound policy refuses stays refused: give up at once instead of retrying.
            final = refused or delivery.attempts + 1 >= settings.outbound.backchannel_attempts
        now, attempt = self.clock.now(), delivery.attempts + 1
        fields: dict[str, Any] = dict(
            now=now, user_id=delivery.user_id, client_id=delivery.client_id, sid=delivery.session_id, attempts=attempt
        )
        with self.database.transaction() as db:
            if error is None:
                outcome = "delivered"
                outbox.finish(db, delivery.id, now=now, outcome="delivered")
                audit.record(db, audit.BACKCHANNEL_DELIVERED, **fields)
            else:
                outcome = "failed" if final else "retrying"
                # Every failed attempt is audited; ``final`` says whether the provider gave up.
                audit.record(db, audit.BACKCHANNEL_FAILED, **fields, error=error, final=final)
                if final:
                    outbox.finish(db, delivery.id, now=now, outcome="failed", error=error)
                    log.error(
                        "back-channel logout to client %s gave up after %d attempt(s): %s",
                        delivery.client_id,
                        attempt,
                        error,
                    )
                else:
                    delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempt - 1))
                    outbox.retry_later(db, delivery.id, at=now + delay, error=error)
                    log.warning(
                        "back-channel logout to client %s failed (attempt %d, retry in %ds): %s",
                        delivery.client_id,
                        attempt,
                        delay,
                        error,
                    )
        BACKCHANNEL_DELIVERIES.labels(outcome).inc()

    def _post(self, uri: str, client: Client, delivery: LogoutDelivery) -> tuple[str | None, bool]:
        """POST the logout token (§2.5) to ``uri``, the client's ``backchannel_logout_uri``, through the
        outbound client: (None, False) on success, else a short reason (never the token, the URL or the response) and whether the policy refused it."""
        token = logout_token(
            client,
            delivery.sub,
            delivery.session_id,
            issuer=self.settings.server.issuer,
            keystore=self.keystore,
            now=self.clock.now(),
        )
        timeout = self.settings.outbound.backchannel_timeout_seconds
        try:
            response = self.outbound.post_form(
                uri, {"logout_token": token}, timeout=timeout, max_bytes=RESPONSE_MAX_BYTES
            )
        except OutboundError as exc:
            return (f"refused: {exc.reason}" if exc.refused else exc.reason), exc.refused
        # §2.8: 200 (or 204) is success; anything else is a failure (a redirect raised above).
        if 200 <= response.status < 300:
            return None, False
        return f"HTTP {response.status}", False
