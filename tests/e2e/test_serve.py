"""``idp serve`` for real, on both servers (IDP_SERVER=granian, the default, and gunicorn): a graceful shutdown
that lets in-flight requests finish, JSON logs with request ids, metrics summed across workers, a crashed
worker replaced; the start on no settings at all; and worker memory handed back after argon2 (the options
are checked in tests/unit/test_serve_options.py)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from idp.core.passwords import PasswordHasher
from tests.support.cluster import IDP_COMMAND, Cluster, Instance, free_port
from tests.support.helpers import PASSWORD, Browser

SERVERS = ["granian", "gunicorn"]
#: The line each server logs when SIGTERM starts its graceful shutdown.
SHUTDOWN_LINE = {"granian": "Shutting down granian", "gunicorn": "Handling signal: term"}


@pytest.mark.e2e
@pytest.mark.parametrize("server", SERVERS)
def test_sigterm_lets_the_request_in_flight_finish(tmp_path, server):
    cluster = Cluster(tmp_path)
    try:
        instance = cluster.start("graceful", IDP_SERVER=server, IDP_WORKERS="1", IDP_GRACEFUL_TIMEOUT="20")
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
        assert SHUTDOWN_LINE[server] in instance.logs()
    finally:
        cluster.close()


def worker_pids(instance: Instance) -> set[int]:
    pid = instance.process.pid
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


@pytest.mark.e2e
@pytest.mark.parametrize("server", SERVERS)
def test_logs_metrics_and_a_crashed_worker_replaced(tmp_path, server):
    cluster = Cluster(tmp_path)
    try:
        instance = cluster.start(server, IDP_SERVER=server, IDP_WORKERS="2", IDP_LOG_LEVEL="INFO")
        assert f"{server}, 2 worker(s)" in instance.logs()
        for _ in range(6):  # new connections: the scrape below sums whichever workers answered them
            assert requests.get(instance.url + "/jwks.json", timeout=10).status_code == 200
        marker = requests.get(instance.url + "/.well-known/openid-configuration", timeout=10)
        request_id = marker.headers["X-Request-ID"]
        records = [json.loads(line) for line in instance.logs().splitlines() if line.startswith("{")]
        assert any(
            r["logger"] == "idp.access" and r["request_id"] == request_id and r["path"].startswith("/.well-known")
            for r in records
        )
        text = requests.get(instance.url + "/metrics", timeout=10).text
        jwks = [line for line in text.splitlines() if line.startswith("idp_http_responses_total") and "jwks" in line]
        assert jwks and sum(float(line.split(" ")[1]) for line in jwks) >= 6  # summed over both workers

        workers = worker_pids(instance)
        assert len(workers) == 2
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            now = worker_pids(instance)
            if victim not in now and len(now) == 2:
                break
            time.sleep(0.1)
        assert victim not in now and len(now) == 2, instance.logs()[-2000:]
        assert instance.process.poll() is None
        cluster_ready = time.monotonic() + 15
        while time.monotonic() < cluster_ready:
            statuses = set()
            for _ in range(4):
                try:
                    statuses.add(requests.get(instance.url + "/healthz", timeout=5).status_code)
                except requests.RequestException:
                    statuses.add(0)
            if statuses == {200}:
                break
            time.sleep(0.1)
        assert statuses == {200}
    finally:
        cluster.close()


@pytest.mark.e2e
def test_serve_starts_with_no_settings_at_all_and_stops_on_sigterm(tmp_path):
    """`make serve` on the embedded default: no IDP_* variable, so no Redis: one worker, with threads."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    assert subprocess.run([IDP_COMMAND, "init"], env=env, cwd=tmp_path, capture_output=True).returncode == 0
    port = free_port()
    process = subprocess.Popen(
        [IDP_COMMAND, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        answered = False
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None and not answered:
            try:
                answered = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except requests.RequestException:  # not listening yet
                time.sleep(0.1)
        assert answered, process.communicate(timeout=5)[0] if process.poll() is not None else "no answer in 20 s"
        # More keep-alive connections than threads, all open at once, are all answered (granian's
        # backpressure counts connections: a limit of IDP_THREADS left half of these waiting).
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(8)]
        for connection in connections:
            connection.request("GET", "/healthz")
        for connection in connections:
            assert connection.getresponse().status == 200
            connection.close()
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
        assert process.returncode == 0, out
        assert "granian, 1 worker(s) x 4 thread(s)" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


ARGON2_SIZED_BLOCK = r"""
import ctypes, sys
from idp.http.ops.process import set_malloc_mmap_threshold
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
