"""Brute-force benchmark: 10,000 wrong-password attempts from 50 IPs at one account, then its owner.

Starts a real provider (``idp serve``: gunicorn, production argon2 parameters, the Redis throttle)
on loopback with ``IDP_TRUSTED_PROXIES=127.0.0.1/32`` so each attempt can claim one of 50
addresses in ``X-Forwarded-For``. The owner signs in once before the attack (receiving the
known-device cookie), the attack runs, then the owner signs in again from that browser.

Reports: attempts answered (by status), argon2 verifications the attack caused (from the audit
trail: every failure whose reason is not ``throttled`` was verified), the provider's CPU time
(gunicorn master + workers, from /proc), what the same attempts would have cost unthrottled, and
the owner's result. Not part of the test suite (timings are not tests).

    .venv/bin/python bench/attack.py [--attempts 10000] [--ips 50] [--threads 8]
        [--database-url URL] [--redis-url redis://127.0.0.1:6379/0] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

IDP = str(Path(sys.executable).with_name("idp"))
OWNER, PASSWORD, OWNER_IP = "S1000001", "owner's correct horse battery", "198.51.100.7"
FORM = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(root_pid: int) -> float:
    """utime + stime of a process and its children that are alive now."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == root_pid or ppid == root_pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


class Browser:
    def __init__(self, url: str, ip: str):
        self.url, self.ip, self.http = url, ip, requests.Session()
        self.form = dict(FORM.findall(self.http.get(url + "/login", timeout=10).text))

    def sign_in(self, username: str, password: str) -> requests.Response:
        return self.http.post(self.url + "/login", data={**self.form, "username": username, "password": password},
                              headers={"X-Forwarded-For": self.ip}, allow_redirects=False, timeout=30)


def argon2_verify_seconds(samples: int = 10) -> float:
    """CPU cost of one verification with the default (OWASP) parameters, measured here."""
    from idp.security.passwords import PasswordHasher
    from idp.settings import Settings

    s = Settings()
    hasher = PasswordHasher(memory_kib=s.argon2_memory_kib, time_cost=s.argon2_time_cost,
                            parallelism=s.argon2_parallelism)
    stored = hasher.hash("x" * 20)
    start = time.process_time()
    for _ in range(samples):
        hasher.verify(stored, "y" * 20)
    return (time.process_time() - start) / samples


def count_verified(database_url: str, since: float) -> tuple[int, int]:
    from sqlalchemy import create_engine, select

    from idp.db.models import AuditEvent

    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(AuditEvent.details).where(AuditEvent.type == "login.failure",
                                                             AuditEvent.occurred_at >= since)).all()
    engine.dispose()
    reasons = Counter((d or {}).get("reason") for (d,) in rows)
    return sum(n for r, n in reasons.items() if r != "throttled"), reasons["throttled"]


def attack(url: str, attempts: int, ips: int, threads: int) -> Counter:
    statuses, lock, next_i = Counter(), threading.Lock(), iter(range(attempts))
    browsers = [Browser(url, f"203.0.113.{i}") for i in range(ips)]

    def run():
        while True:
            with lock:
                i = next(next_i, None)
            if i is None:
                return
            code = browsers[i % ips].sign_in(OWNER, f"guess-{i}").status_code
            with lock:
                statuses[code] += 1

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=10_000)
    parser.add_argument("--ips", type=int, default=50)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json-out")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="idp-attack-"))
    port, prefix = free_port(), f"idpbench:{secrets.token_hex(4)}:"
    database_url = args.database_url or f"sqlite:///{tmp / 'idp.sqlite3'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(IDP_ISSUER=f"http://127.0.0.1:{port}", IDP_INSTANCE_DIR=str(tmp), IDP_KEYS_DIR=str(tmp / "keys"),
               IDP_DATABASE_URL=database_url, IDP_REDIS_URL=args.redis_url, IDP_REDIS_PREFIX=prefix,
               IDP_SECRET_KEY=secrets.token_urlsafe(40), IDP_TRUSTED_PROXIES="127.0.0.1/32", IDP_LOG_LEVEL="WARNING")
    subprocess.run([IDP, "init"], env=env, check=True, capture_output=True)
    subprocess.run([IDP, "users", "create", "--registration-number", OWNER, "--password-stdin"], env=env, check=True,
                   input=PASSWORD + "\n", text=True, capture_output=True)
    server = subprocess.Popen([IDP, "serve", "--port", str(port), "--workers", str(args.workers)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = env["IDP_ISSUER"]
    try:
        for _ in range(200):
            try:
                if requests.get(url + "/.well-known/openid-configuration", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        owner = Browser(url, OWNER_IP)
        assert owner.sign_in(OWNER, PASSWORD).status_code == 302, "owner could not sign in before the attack"

        started, cpu0, wall0 = time.time(), cpu_seconds(server.pid), time.perf_counter()
        statuses = attack(url, args.attempts, args.ips, args.threads)
        wall, cpu = time.perf_counter() - wall0, cpu_seconds(server.pid) - cpu0
        verified, throttled = count_verified(database_url, started)

        stranger = Browser(url, OWNER_IP).sign_in(OWNER, PASSWORD).status_code
        owner_result = owner.sign_in(OWNER, PASSWORD)
        per_verify = argon2_verify_seconds()
        result = {
            "attempts": args.attempts, "ips": args.ips, "client_threads": args.threads, "workers": args.workers,
            "database": database_url.split(":")[0], "answered": dict(sorted(statuses.items())),
            "argon2_verifications": verified, "throttled_audited": throttled,
            "provider_cpu_seconds": round(cpu, 2), "wall_seconds": round(wall, 1),
            "attempts_per_second": round(args.attempts / wall),
            "argon2_verify_cpu_ms": round(per_verify * 1000, 1),
            "unthrottled_cpu_seconds_estimate": round(args.attempts * per_verify, 1),
            "owner_known_device": owner_result.status_code,
            "owner_password_from_new_browser": stranger,
        }
    finally:
        server.terminate()
        server.wait(timeout=30)
        import redis

        r = redis.Redis.from_url(args.redis_url)
        keys = list(r.scan_iter(match=prefix + "*"))
        if keys:
            r.delete(*keys)
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
