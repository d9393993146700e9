"""``idp serve`` for real: a graceful shutdown that lets in-flight requests finish, and worker memory
handed back after argon2 (its options are checked in tests/unit/test_serve_options.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from idp.core.passwords import PasswordHasher
from tests.support.cluster import Cluster
from tests.support.helpers import PASSWORD, Browser


@pytest.mark.e2e
def test_sigterm_lets_the_request_in_flight_finish(tmp_path):
    cluster = Cluster(tmp_path)
    try:
        instance = cluster.start("graceful", IDP_WORKERS="1", IDP_GRACEFUL_TIMEOUT="20")
        slow = PasswordHasher(memory_kib=65536, time_cost=8)  # about a second per verification here
        with cluster.admin.app_context():
            from idp.http.context import deps
            from idp.storage.sql import users

            with deps().database.session() as db:
                users.create_user(
                    db,
                    registration_number="S2000002",
                    email=None,
                    name="Slow Hash",
                    role="student",
                    password_hash=slow.hash(PASSWORD),
                    now=time.time(),
                )
                db.commit()
        browser = Browser(cluster.provider(instance))
        page = browser.get("/login")
        result = {}

        def sign_in():
            result["response"] = browser.submit_login(page, username="S2000002")

        thread = threading.Thread(target=sign_in)
        thread.start()
        time.sleep(0.3)  # the request is now inside argon2
        assert thread.is_alive()
        exit_status = instance.stop(timeout=30)
        thread.join(timeout=30)

        assert result["response"].status_code == 302  # signed in, not cut off
        assert exit_status == 0
        assert "Handling signal: term" in instance.logs()
    finally:
        cluster.close()


ARGON2_SIZED_BLOCK = r"""
import ctypes, sys
from idp.http.ops.gunicorn import set_malloc_mmap_threshold
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
applied = set_malloc_mmap_threshold(int(sys.argv[1]))
size = 19 << 20  # an argon2id verify's memory
for _ in range(2):  # glibc raises its adaptive threshold at the first free of a large block
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
rss_kib = int(open("/proc/self/statm").read().split()[1]) * 4
print(applied, rss_kib)
"""


def test_worker_memory_from_a_large_block_goes_back_to_the_system_after_free():
    def run(kib):
        out = subprocess.run(
            [sys.executable, "-c", ARGON2_SIZED_BLOCK, str(kib)], capture_output=True, text=True, check=True
        ).stdout.split()
        return out[0] == "True", int(out[1])

    fixed_applied, fixed_rss = run(128)
    adaptive_applied, adaptive_rss = run(0)
    assert fixed_applied and not adaptive_applied
    # glibc's default keeps the freed 19 MiB in the heap; the fixed threshold hands it back.
    assert adaptive_rss - fixed_rss > 15 * 1024, (adaptive_rss, fixed_rss)
