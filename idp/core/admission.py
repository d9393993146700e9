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
from collections import deque
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

    def closed(self) -> AdmissionGate:
        """A gate for a sign-in the worker's run queue has already refused (``RunQueue``): ``admit``
        raises ``Busy`` at once, so the refusal is rendered, counted and audited like any other."""
        return _ClosedGate(self.max_wait)


class _ClosedGate(AdmissionGate):
    def __init__(self, max_wait: float) -> None:
        super().__init__(0, max_wait)

    @contextmanager
    def admit(self) -> Iterator[None]:
        raise Busy(self.max_wait)
        yield  # a generator, as the context manager needs


class RunQueue:
    """At most ``slots`` requests of one worker run at once; the others wait here for a slot, first
    come, first served.

    The server gives the worker ``threads`` threads, more than slots (``idp.http.ops.process.
    server_threads``), so that waiting happens here, where the app can see it, rather than only in the
    server's connection backlog, where nothing could ever be told to come back (the exam-morning surge
    of docs/performance.md: no 503 at four times the capacity, only longer and longer waits).

    Requests that start a password verification are *sheddable*: they are refused (``enter`` is
    False; the sign-in is answered 503 with ``Retry-After``, nothing counted) when the worker is out
    of threads, or after waiting ``max_wait`` seconds for a slot. Every other request waits its turn:
    tokens, refreshes and pages are what the people already signed in need.

    Out of threads: this request holds the worker's last thread, so the next request, whatever it
    is, queues in the server's backlog, unseen. A worker that is merely busy (a closed group of
    clients, however many are waiting for a slot) never gets there; one that receives more than it
    serves does, and stays there until it sheds enough."""

    def __init__(self, slots: int, threads: int, max_wait: float) -> None:
        self.threads, self.max_wait = threads, max_wait
        self._lock = threading.Lock()
        self._free = slots
        # First come, first served: each waiter holds a lock of its own, and ``leave`` hands its slot to
        # the oldest. (``threading.Semaphore`` lets a newcomer take a slot ahead of a woken waiter, which
        # sends that waiter to the back: measured, twice the p99 of the token rows.)
        self._waiters: deque[threading.Lock] = deque()
        #: Requests running now.
        self.running = 0

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot now."""
        return len(self._waiters)

    def enter(self, sheddable: bool = False) -> bool:
        """Take a slot and return True (``leave`` gives it back), or, for a sheddable request, return
        False: at once when it holds the worker's last thread, or when no slot came free within
        ``max_wait``."""
        with self._lock:
            if sheddable and self.running + len(self._waiters) + 1 >= self.threads:
                return False
            if self._free > 0 and not self._waiters:
                self._free -= 1
                self.running += 1
                return True
            if sheddable and self.max_wait <= 0:
                return False
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=self.max_wait if sheddable else -1):
            return True  # ``leave`` handed it a slot
        with self._lock:
            if turn in self._waiters:  # not handed a slot in time
                self._waiters.remove(turn)
                return False
        return True  # handed a slot just as the wait ran out: it is ours

    def leave(self) -> None:
        """Give the slot back: to the oldest waiter, or to the pool."""
        with self._lock:
            if self._waiters:
                self._waiters.popleft().release()  # the slot changes hands: ``running`` stays
            else:
                self._free += 1
                self.running -= 1
