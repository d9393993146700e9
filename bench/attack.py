"""Brute-force benchmark: 10,000 wrong-password attempts from 50 IPs at one account, and its owner.

Starts a real provider (``idp serve``: granian, production argon2 parameters, the Redis throttle,
mail written to the outbox folder) on loopback with ``IDP_TRUSTED_PROXIES=127.0.0.1/32`` so each
attempt can claim one of 50 addresses in ``X-Forwarded-For``. The owner signs in once before the
attack (receiving the known-device cookie). While the attack runs (after ``--owner-after``
attempts), the owner on a *new* browser is told to wait, asks for the device-approval link on that
page, takes it from the mail, approves the browser and signs in with the password; after the
attack the owner signs in again from the first browser.

Reports: attempts answered (by status), argon2 verifications (from the audit trail: every failure
whose reason is not ``throttled`` was verified, and every success), the provider's CPU time
(the server master + workers, from /proc), what the same attempts would have cost unthrottled, the
new device's steps and time to get in, and the owner's results. Not part of the test suite
(timings are not tests).

    .venv/bin/python bench/attack.py [--attempts 10000] [--ips 50] [--threads 8]
        [--owner-after 1000] [--database-url URL] [--redis-url redis://127.0.0.1:6379/0] [--json-out FILE]
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
from email import policy
from email.parser import BytesParser
from pathlib import Path

import requests

IDP = str(Path(sys.executable).with_name("idp"))
OWNER, PASSWORD, OWNER_IP = "S1000001", "owner's correct horse battery", "198.51.100.7"
OWNER_EMAIL = "ada@example.edu"
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
        return self.http.post(
            self.url + "/login",
            data={**self.form, "username": username, "password": password},
            headers={"X-Forwarded-For": self.ip},
            allow_redirects=False,
            timeout=30,
        )


def argon2_verify_seconds(samples: int = 10) -> float:
    """CPU cost of one verification with the default (OWASP) parameters, measured here."""
    from idp.core.passwords import PasswordHasher
    from idp.core.settings import Settings

    s = Settings()
    hasher = PasswordHasher(
        memory_kib=s.accounts.argon2_memory_kib,
        time_cost=s.accounts.argon2_time_cost,
        parallelism=s.accounts.argon2_parallelism,
    )
    stored = hasher.hash("x" * 20)
    start = time.process_time()
    for _ in range(samples):
        hasher.verify(stored, "y" * 20)
    return (time.process_time() - start) / samples


def count_verified(database_url: str, since: float) -> tuple[int, int, int]:
    """(failures that were verified, throttled failures, successes) audited since ``since``."""
    from sqlalchemy import create_engine, select

    from idp.storage.sql.models import AuditEvent

    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(AuditEvent.type, AuditEvent.details).where(
                AuditEvent.type.in_(("login.failure", "login.success")), AuditEvent.occurred_at >= since
            )
        ).all()
    engine.dispose()
    reasons = Counter((d or {}).get("reason") for (t, d) in rows if t == "login.failure")
    successes = sum(1 for t, _ in rows if t == "login.success")
    return sum(n for r, n in reasons.items() if r != "throttled"), reasons["throttled"], successes


def attack(
    url: str, attempts: int, ips: int, threads: int, progress: threading.Event | None = None, progress_at: int = 0
) -> Counter:
    """The attempts from ``threads`` threads; ``progress`` is set once ``progress_at`` were answered."""
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
                if progress is not None and sum(statuses.values()) >= progress_at:
                    progress.set()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return statuses


def form_of(html: str, action: str) -> dict:
    """The hidden fields of the form posting to ``action``."""
    match = re.search(r'<form method="post" action="' + re.escape(action) + r'"[^>]*>(.*?)</form>', html, re.S)
    return dict(FORM.findall(match.group(1))) if match else {}


def mailed_link(outbox: Path, timeout: float = 60) -> str:
    """The device-approval link of the first such mail in the outbox folder (polls: a benchmark)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(outbox.glob("*.eml")):
            text = BytesParser(policy=policy.default).parsebytes(path.read_bytes()).get_body(("plain",)).get_content()
            found = re.search(r"https?://\S+/login/device\?token=[\w-]+", text)
            if found:
                return found.group(0)
        time.sleep(0.05)
    raise RuntimeError(f"no device-approval mail in {outbox} after {timeout} s")


def owner_on_new_device(url: str, outbox: Path) -> dict:
    """The owner's new browser during the attack: told to wait, asks for the link, approves, signs in."""
    started, xff = time.perf_counter(), {"X-Forwarded-For": OWNER_IP}
    browser = Browser(url, OWNER_IP)
    first = browser.sign_in(OWNER, PASSWORD)
    steps = {"password_before_approval": first.status_code}
    if first.status_code == 429:  # else it got in at once: the attacker was not first after a wait
        post = browser.http.post
        steps["ask_for_link"] = post(
            url + "/login/device/link", data=form_of(first.text, "/login/device/link"), headers=xff, timeout=30
        ).status_code
        link = mailed_link(outbox)
        steps["mail_in_outbox_after_seconds"] = round(time.perf_counter() - started, 2)
        confirm = browser.http.get(link, headers=xff, timeout=10)
        steps["open_link"] = confirm.status_code
        done = post(
            url + "/login/device",
            data=form_of(confirm.text, "/login/device"),
            headers=xff,
            allow_redirects=False,
            timeout=30,
        )
        steps["approve"] = done.status_code
        approved = browser.http.get(url + done.headers.get("Location", "/login"), headers=xff, timeout=10)
        steps["password_after_approval"] = post(
            url + "/login",
            data={**form_of(approved.text, "/login"), "username": OWNER, "password": PASSWORD},
            headers=xff,
            allow_redirects=False,
            timeout=30,
        ).status_code
    return {"steps": steps, "seconds_to_get_in": round(time.perf_counter() - started, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=10_000)
    parser.add_argument("--ips", type=int, default=50)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--owner-after",
        type=int,
        default=1000,
        help="attempts answered before the owner's new browser tries (during the attack)",
    )
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json-out")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="idp-attack-"))
    port, prefix = free_port(), f"idpbench:{secrets.token_hex(4)}:"
    database_url = args.database_url or f"sqlite:///{tmp / 'idp.sqlite3'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(
        IDP_ISSUER=f"http://127.0.0.1:{port}",
        IDP_INSTANCE_DIR=str(tmp),
        IDP_DATABASE_URL=database_url,
        IDP_REDIS_URL=args.redis_url,
        IDP_REDIS_PREFIX=prefix,
        IDP_SECRET_KEY=secrets.token_urlsafe(40),
        IDP_TRUSTED_PROXIES="127.0.0.1/32",
        IDP_LOG_LEVEL="WARNING",
    )
    subprocess.run([IDP, "init"], env=env, check=True, capture_output=True)
    subprocess.run(
        [IDP, "users", "create", "--registration-number", OWNER, "--email", OWNER_EMAIL, "--password-stdin"],
        env=env,
        check=True,
        input=PASSWORD + "\n",
        text=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [IDP, "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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
        progress, new_device, answered = threading.Event(), {}, {}

        def owner_during_attack():
            progress.wait()
            new_device.update(owner_on_new_device(url, tmp / "outbox"))
            new_device["attack_still_running"] = attacking.is_alive()

        attacking = threading.Thread(
            target=lambda: answered.update(
                statuses=attack(url, args.attempts, args.ips, args.threads, progress, args.owner_after)
            )
        )
        owner_thread = threading.Thread(target=owner_during_attack)
        attacking.start()
        owner_thread.start()
        attacking.join()
        wall, cpu = time.perf_counter() - wall0, cpu_seconds(server.pid) - cpu0
        owner_thread.join()
        statuses = answered["statuses"]
        verified, throttled, successes = count_verified(database_url, started)

        stranger = Browser(url, OWNER_IP).sign_in(OWNER, PASSWORD).status_code
        owner_result = owner.sign_in(OWNER, PASSWORD)
        per_verify = argon2_verify_seconds()
        result = {
            "attempts": args.attempts,
            "ips": args.ips,
            "client_threads": args.threads,
            "workers": args.workers,
            "database": database_url.split(":")[0],
            "answered": dict(sorted(statuses.items())),
            "argon2_verifications": verified + successes,
            "attack_verifications": verified,
            "throttled_audited": throttled,
            "owner_new_device": new_device,
            "provider_cpu_seconds": round(cpu, 2),
            "wall_seconds": round(wall, 1),
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
