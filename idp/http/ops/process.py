"""What ``idp serve`` sets up in the parent process before either server (granian or gunicorn) starts its
workers: the worker count, glibc's mmap threshold, and the Prometheus multiprocess directory.

Nothing here imports ``prometheus_client``: it must see ``PROMETHEUS_MULTIPROC_DIR`` before its first
import, which happens in the workers.
"""

from __future__ import annotations

import ctypes
import os
import tempfile
from pathlib import Path

from idp.core.settings import Settings

M_MMAP_THRESHOLD = -3  # glibc <malloc.h>


class WorkerCountError(ValueError):
    """More than one worker asked for without the shared store they need."""


#: The server's threads per run slot (IDP_THREADS): one runs a request, the others wait for a slot in the
#: app's run queue (``idp.core.admission.RunQueue``). A worker out of threads is one receiving more than it
#: serves, and refuses sign-ins (503) rather than letting them queue unseen in the server's backlog; enough
#: threads that a busy worker never runs out (the bench's 16 concurrent sign-ins need 16), and idle waiting
#: threads cost a stack each, no CPU.
SERVER_THREADS_PER_SLOT = 16


def server_threads(threads: int) -> int:
    """The threads the HTTP server gives each worker for IDP_THREADS requests running at once."""
    return threads * SERVER_THREADS_PER_SLOT


def usable_cores() -> int:
    """The cores this process may run on (``taskset``, cgroup cpusets), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count(settings: Settings, explicit: int | None) -> int:
    """``--workers``, else IDP_WORKERS, else (0 = auto) one without Redis and the usable cores with it.

    More than one worker needs Redis: pending sign-ins and codes would live in one worker's memory and
    vanish on the next request, which another worker may answer."""
    workers = explicit or settings.server.workers
    if not workers:
        return usable_cores() if settings.storage.redis_url else 1
    if workers > 1 and not settings.storage.redis_url:
        raise WorkerCountError(
            "more than one worker needs IDP_REDIS_URL (the in-process store is per process); set it, or use --workers 1"
        )
    return workers


def set_malloc_mmap_threshold(kib: int) -> bool:
    """Fix glibc's mmap threshold at ``kib`` KiB (before the workers fork; they inherit it).

    glibc raises the threshold after the first large block is freed (up to 32 MiB), so from then
    on every argon2id verify's 19 MiB comes from the heap arena of the thread that ran it and
    stays there: one per thread, ~90 MB of a worker's RSS (bench, docs/performance.md). A fixed
    threshold hands those blocks back on free. Returns False where there is nothing to do
    (``kib`` 0, or a C library without ``mallopt``, e.g. musl or macOS)."""
    if kib <= 0:
        return False
    # Workers started by exec (multiprocessing "spawn") do not inherit mallopt; glibc reads this at startup.
    os.environ["MALLOC_MMAP_THRESHOLD_"] = str(kib * 1024)
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return mallopt(M_MMAP_THRESHOLD, kib * 1024) == 1


def prepare_metrics_dir() -> tuple[str, bool]:
    """Use ``PROMETHEUS_MULTIPROC_DIR`` (or a fresh temporary folder) and empty it of the previous
    run's samples, as prometheus-client requires; the workers inherit the variable.
    Returns the folder and whether it was made here (then it is removed when the server exits)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    created = not given
    path = given or tempfile.mkdtemp(prefix="idp-metrics-")
    Path(path).mkdir(parents=True, exist_ok=True)
    for stale in Path(path).glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path, created
