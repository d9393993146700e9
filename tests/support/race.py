"""``at_once``: run a call on several threads released together, to test atomicity."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


def at_once(n: int, call: Callable[[int], object]) -> list:
    """Start ``call(0)`` … ``call(n - 1)`` on ``n`` threads that wait at one barrier and are then
    released together; return the results in order (an exception in a thread is raised here)."""
    barrier = threading.Barrier(n)

    def run(i: int):
        barrier.wait(timeout=30)
        return call(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n), timeout=120))
