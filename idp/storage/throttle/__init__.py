"""Sign-in throttling and named rate limits: ``idp.core.ports.Throttle`` on two backends.

========================= ===================================================================
``core``                  the arithmetic (GCRA token bucket, progressive delay), pure functions
``counter``               ``CounterThrottle``: the limiter logic over a backend's primitives
``memory``                ``MemoryThrottle``: in-process, one process only (the embedded default)
``redis``                 ``RedisThrottle``: ``core`` as Lua scripts, shared by every host
``unlimited``             ``UnlimitedThrottle``: allows everything (a test double)
========================= ===================================================================

``build_throttle`` picks one from the settings (``idp.app.create_app`` is its only caller). The
same behaviour suite runs on every backend (``tests/contract/test_throttle.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from idp.core.ports import Clock, Throttle

if TYPE_CHECKING:
    from idp.core.settings import Settings


def build_throttle(settings: Settings, clock: Clock) -> Throttle:
    """``RedisThrottle`` when ``IDP_REDIS_URL`` is set, else ``MemoryThrottle``; timed by ``clock``."""
    from idp.storage.throttle.core import Policy

    policy = Policy.from_settings(settings)
    if settings.storage.redis_url:
        from idp.storage.throttle.redis import RedisThrottle  # here: the embedded default never loads redis

        return RedisThrottle(
            settings.storage.redis_url, policy, clock, settings.server.secret_key, prefix=settings.storage.redis_prefix
        )
    from idp.storage.throttle.memory import MemoryThrottle

    return MemoryThrottle(policy, clock, settings.server.secret_key)
