"""Admission to password verification: at most ``concurrency`` argon2id runs at once per process,
and a bounded wait for the next one.

argon2id is the one piece of work that is deliberately expensive (19 MiB and ~35 ms of a core per
verify). With more sign-ins at once than cores, each takes longer for all of them, memory grows by
19 MiB per concurrent verify, and a surge turns into a queue with no end: requests that time out in
the client after their work was done. So a sign-in takes a slot first; if none comes free within
``max_wait`` seconds it is refused at once with ``Busy`` (503, ``Retry-After``), before the throttle
counts an attempt. Other requests (tokens, userinfo, pages) never wait here, and since argon2-cffi
releases the GIL, they keep being served on the worker's other threads during a verify.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from idp.core.errors import Busy


class AdmissionGate:
    def __init__(self, concurrency: int, max_wait: float) -> None:
        self.max_wait = max_wait
        self._slots = threading.BoundedSemaphore(concurrency) if concurrency > 0 else None

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one slot for the block, or raise ``Busy`` after ``max_wait`` seconds (0: at once)."""
        if self._slots is None:
            yield
            return
        if self.max_wait > 0:
            admitted = self._slots.acquire(timeout=self.max_wait)
        else:
            admitted = self._slots.acquire(blocking=False)
        if not admitted:
            raise Busy(max(1, math.ceil(self.max_wait)))
        try:
            yield
        finally:
            self._slots.release()
