"""``UnlimitedThrottle``: a ``Throttle`` that allows everything.

A test double for tests of other features that must not trip a limit (and a base class for tests
that record or refuse calls). Never chosen by ``build_throttle``.
"""

from __future__ import annotations

from typing import Any


class UnlimitedThrottle:
    """Allows everything: ``check`` and ``check_rate`` never raise, nothing is counted."""

    def check(self, login: str, ip: str, device: str | None = None) -> None:
        return None

    def record_failure(self, login: str, ip: str, device: str | None = None) -> list[tuple[str, float]]:
        return []

    def record_success(self, login: str, ip: str, device: str | None = None) -> None:
        return None

    def check_rate(self, name: str, key: str) -> None:
        return None

    def status(self, account: str | None = None, ip: str | None = None) -> dict[str, Any]:
        return {}

    def clear(self, account: str | None = None, ip: str | None = None) -> int:
        return 0
