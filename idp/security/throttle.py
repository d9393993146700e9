"""Sign-in throttling seam: consulted before any password hash is computed.

This module defines the interface and the policy-free default. The Redis and in-process
limiters (per IP, per account, per account + known device) plug in here.
"""

from __future__ import annotations

from typing import Protocol


class TooManyAttempts(Exception):
    """Sign-in refused before verification; ``retry_after`` in seconds."""

    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


class LoginThrottle(Protocol):
    def check(self, login: str, ip: str) -> None:
        """Raise ``TooManyAttempts`` if this attempt may not even be verified."""

    def record_failure(self, login: str, ip: str) -> None:
        """Count a failed attempt."""

    def record_success(self, login: str, ip: str) -> None:
        """Forget the failures of a login that just succeeded."""

    def check_rate(self, name: str, key: str) -> None:
        """Count one request against the named limit (e.g. ``"password_forgot_ip"``) for ``key``;
        raise ``TooManyAttempts`` when it is exhausted."""


class UnlimitedThrottle:
    """Allows every attempt: the default until limits are configured."""

    def check(self, login: str, ip: str) -> None:
        return None

    def record_failure(self, login: str, ip: str) -> None:
        return None

    def record_success(self, login: str, ip: str) -> None:
        return None

    def check_rate(self, name: str, key: str) -> None:
        return None


def init_app(app, throttle: LoginThrottle | None = None) -> None:
    app.extensions["idp.throttle"] = throttle or UnlimitedThrottle()
