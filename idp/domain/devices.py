"""Known-device cookies (OWASP "Blocking Brute Force Attacks", device cookies).

After a successful sign-in the browser receives a signed cookie naming the account and a random
device id. A later sign-in to *that* account from *that* browser is throttled under its own
allowance (``throttle_device_free``) instead of the account's, so an attacker hammering the
account from elsewhere cannot lock its owner out. The cookie is only an allowance, never a
credential: the password is verified as always. A browser also becomes a known device when the
account's owner completes an e-mailed device-approval link (``idp.domain.device_links``).

Signed with itsdangerous (which Flask ships) under the server secret; the issue time inside is
checked against the clock service so tests can age a cookie without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, URLSafeSerializer

from idp.core.ports import Clock
from idp.core.tokens import new_id

if TYPE_CHECKING:
    from idp.core.settings import Settings

SALT = "idp.device"


@dataclass(frozen=True)
class Devices:
    """Issue and read device cookies under ``secret_key``, aged by ``now`` (``max_age`` seconds)."""

    secret_key: str
    now: Callable[[], float]
    max_age: int

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> Devices:
        return cls(settings.server.secret_key, clock.now, settings.throttle.device_cookie_days * 86400)

    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(self.secret_key, salt=SALT)

    def issue(self, user_id: int, device_id: str | None = None) -> tuple[str, str]:
        """(cookie value, device id) for a browser that just signed in as ``user_id``."""
        device_id = device_id or new_id()
        return self._serializer().dumps({"u": user_id, "d": device_id, "t": int(self.now())}), device_id

    def device_for(self, cookie: str | None, user_id: int) -> str | None:
        """The device id in ``cookie`` if it is genuine, unexpired and was issued for ``user_id``."""
        found = self.read(cookie)
        return found[1] if found is not None and found[0] == user_id else None

    def read(self, cookie: str | None) -> tuple[int, str] | None:
        """(user id, device id) of a genuine, unexpired cookie, else None."""
        if not cookie or len(cookie) > 512:
            return None
        try:
            data = self._serializer().loads(cookie)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), int) or not isinstance(data.get("d"), str):
            return None
        if not isinstance(data.get("t"), int) or self.now() - data["t"] > self.max_age:
            return None
        return data["u"], data["d"]
