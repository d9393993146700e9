"""Admission to password verification: at most ``concurrency`` argon2id runs at once per process,
and a bounded wait for the next one; and the worker's run queue (``RunQueue``), which sees when the
whole worker, not only the verifications, is past its capacity.

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
import time
from collections import deque
from collections.abc import Callable, Iterator
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

    def closed(self) -> AdmissionGate:
        """A gate for a sign-in the worker's run queue has already refused (``RunQueue``): ``admit``
        raises ``Busy`` at once, so the refusal is rendered, counted and audited like any other."""
        return _ClosedGate(self.max_wait)


class _ClosedGate(AdmissionGate):
    def __init__(self, max_wait: float) -> None:
        super().__init__(0, max_wait)

    @contextmanager
    def admit(self) -> Iterator[None]:
        raise Busy(max(1, math.ceil(self.max_wait)))
        yield  # a generator, as the context manager needs


class RunQueue:
    """At most ``slots`` requests of one worker run at once; the others wait here for a slot.

    The server gives the worker more threads than slots (``idp.http.ops.process.server_threads``) so
    that a queue forms here, where its wait can be seen, rather than in the server's connection
    backlog, where the app cannot see it and nothing could ever be told to come back (the exam-morning
    surge of docs/performance.md: no 503 at four times the capacity, only longer and longer waits).

    Requests that start a password verification are *sheddable*: they are refused (``enter`` is
    False; the sign-in is answered 503 with ``Retry-After``, nothing counted) at once while a queue
    *stands*, or after waiting ``max_wait`` seconds for a slot. Every other request waits its turn:
    tokens, refreshes and pages are what the people already signed in need.

    A queue stands, after CoDel's rule (RFC 8289 §3.2), when every slot is taken and every request
    admitted for the last ``INTERVAL`` seconds waited longer than ``TARGET``: a burst that drains
    lets some request in quickly and stops it; a worker past its capacity does not."""

    #: A wait longer than this means the request found every slot taken for several requests' time.
    TARGET = 0.05
    #: For this long, no admitted request waited less than ``TARGET``: the queue is not a burst.
    INTERVAL = 0.5

    def __init__(self, slots: int, max_wait: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.slots, self.max_wait = slots, max_wait
        self._now = monotonic
        self._lock = threading.Lock()
        self._free = slots
        # First come, first served: each waiter holds a lock of its own, and ``leave`` hands its slot to
        # the oldest. (``threading.Semaphore`` lets a newcomer take a slot ahead of a woken waiter, which
        # sends that waiter to the back: measured, twice the p99 of the token rows.)
        self._waiters: deque[threading.Lock] = deque()
        #: Requests running now.
        self.running = 0
        #: Since when every admitted request waited longer than TARGET (None: the last one did not).
        self._above_since: float | None = None

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot now."""
        return len(self._waiters)

    @property
    def retry_after(self) -> int:
        """What a refused sign-in is told: come back after the wait it was not given."""
        return max(1, math.ceil(self.max_wait))

    def standing(self) -> bool:
        since = self._above_since
        return since is not None and self.running >= self.slots and self._now() - since >= self.INTERVAL

    def enter(self, sheddable: bool = False) -> bool:
        """Take a slot and return True (``leave`` gives it back), or, for a sheddable request, return
        False: at once while a queue stands, or when no slot came free within ``max_wait``."""
        if sheddable and self.standing():
            return False
        arrived = self._now()
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                self.running += 1
                self._above_since = None  # admitted without waiting: no queue stands
                return True
            if sheddable and self.max_wait <= 0:
                return False
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if not turn.acquire(timeout=self.max_wait if sheddable else -1):
            with self._lock:
                if turn in self._waiters:  # not handed a slot in time
                    self._waiters.remove(turn)
                    return False
            # else ``leave`` handed it the slot just as the wait ran out: it is ours
        waited = self._now() - arrived
        if waited <= self.TARGET:
            self._above_since = None
        elif self._above_since is None:
            self._above_since = arrived
        return True

    def leave(self) -> None:
        """Give the slot back: to the oldest waiter, or to the pool."""
        with self._lock:
            if self._waiters:
                self._waiters.popleft().release()  # the slot changes hands: ``running`` stays
            else:
                self._free += 1
                self.running -= 1
