"""Exam-morning surge (issue 17, item 6): students sign in at a rising rate while the dashboard keeps
refreshing the tokens of those already in, against one provider pinned to one core.

Open loop: sign-ins *arrive* at the step's rate whatever the server does (a thread pool of
``--threads`` runs them), so a server beyond its capacity shows it as latency, 503s or timeouts
rather than as a slower client. Each sign-in is a fresh browser through the whole code flow with a
password (authorize → sign-in page → POST → code → token, ``offline_access``); the refresh tokens it
yields join a pool that the refresher draws from at ``--refresh-ratio`` × the sign-in rate (a token
refreshed every few minutes by each signed-in dashboard: at the end of a 5-minute surge there are as
many refreshes per second as sign-ins).

Per step it reports the sign-ins completed per second, their p50/p99, the refreshes and their p99,
how many were told to come back (503 + Retry-After: the admission gate) and how many timed out (a
hang: must be 0), and the server's CPU. The derived capacity is the highest completed rate of a step
with no timeout and a sign-in p99 under ``--p99-limit`` seconds, per server core; from it, the cores
for 10,000 students in 5 minutes. Bounded: at most 12 steps of at most 60 s. Loopback only.

    python bench/surge.py --issuer http://127.0.0.1:8199 --client-id … --client-secret … \\
        --username bench1 --password … --server-pid PID --rates 5,10,15,20,25,30,40 --json out.json
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))
import bench_extra as bx

cf, bl = bx.cf, bx.bl


class Step:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.signin_ms: list[float] = []
        self.refresh_ms: list[float] = []
        self.busy = self.timeouts = self.errors = 0
        self.first_error: str | None = None

    def fail(self, exc: BaseException) -> None:
        text = f"{type(exc).__name__}: {exc}"
        with self.lock:
            if isinstance(exc, (TimeoutError, socket.timeout)):
                self.timeouts += 1
            elif "HTTP 503" in text:
                self.busy += 1
            else:
                self.errors += 1
                self.first_error = self.first_error or text[:200]


def sign_in(meta: dict, cfg: dict, step: Step, pool: list[str]) -> None:
    started = time.perf_counter()
    try:
        tokens = bx.code_tokens(cf.Browser(False), meta, cfg, scope="openid offline_access")
    except Exception as exc:  # classified: busy (503), timeout, other
        step.fail(exc)
        return
    with step.lock:
        step.signin_ms.append((time.perf_counter() - started) * 1e3)
        pool.append(tokens["refresh_token"])


def refresh(meta: dict, cfg: dict, step: Step, pool: list[str]) -> None:
    with step.lock:
        if not pool:
            return
        token = pool.pop(random.randrange(len(pool)))
    started = time.perf_counter()
    try:
        answer = bx.token(cf.Browser(False), meta, cfg, grant_type="refresh_token", refresh_token=token)
    except Exception as exc:
        step.fail(exc)
        return
    with step.lock:
        step.refresh_ms.append((time.perf_counter() - started) * 1e3)
        pool.append(answer.get("refresh_token", token))


def run_step(rate: float, ratio: float, seconds: float, pool: list[str], ctx: dict) -> dict:
    step, meta, cfg, executor = Step(), ctx["meta"], ctx["cfg"], ctx["executor"]
    arrivals = []
    t = 0.0
    rng = random.Random(int(rate * 1000))  # Poisson arrivals, the same for every run of a step
    while t < seconds:
        t += rng.expovariate(rate)
        arrivals.append((t, sign_in))
    t = 0.0
    while ratio > 0 and t < seconds:
        t += rng.expovariate(rate * ratio)
        arrivals.append((t, refresh))
    arrivals.sort(key=lambda a: a[0])
    c0, w0 = bl.cpu_seconds(ctx["server_pids"]), time.perf_counter()
    futures = []
    for at, job in arrivals:
        delay = w0 + at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        futures.append(executor.submit(job, meta, cfg, step, pool))
    for future in futures:
        future.result()
    wall = time.perf_counter() - w0
    srv = (bl.cpu_seconds(ctx["server_pids"]) - c0) / wall
    s_ms, r_ms = sorted(step.signin_ms), sorted(step.refresh_ms)
    return dict(
        offered_signins_per_s=rate,
        signins_per_s=len(s_ms) / wall,
        signin_p50_ms=bl.percentile(s_ms, 50) if s_ms else None,
        signin_p99_ms=bl.percentile(s_ms, 99) if s_ms else None,
        refreshes_per_s=len(r_ms) / wall,
        refresh_p99_ms=bl.percentile(r_ms, 99) if r_ms else None,
        busy_503=step.busy,
        timeouts=step.timeouts,
        errors=step.errors,
        first_error=step.first_error,
        wall_s=wall,
        srv_cores=srv,
    )


def fmt(x: float | None, nd: int = 1) -> str:
    return "–" if x is None else f"{x:,.{nd}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--issuer", default=os.environ.get("ISSUER"))
    ap.add_argument("--client-id", default=os.environ.get("CLIENT_ID"))
    ap.add_argument("--client-secret", default=os.environ.get("CLIENT_SECRET"))
    ap.add_argument("--redirect-uri", default=os.environ.get("REDIRECT_URI", "http://127.0.0.1:3199/cb"))
    ap.add_argument("--username", default=os.environ.get("BENCH_USERNAME"))
    ap.add_argument("--password", default=os.environ.get("BENCH_PASSWORD"))
    ap.add_argument("--rates", default="5,10,15,20,25,30,40", help="sign-ins per second, one step each")
    ap.add_argument("--step-seconds", type=float, default=15)
    ap.add_argument("--refresh-ratio", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=96)
    ap.add_argument("--p99-limit", type=float, default=5.0, help="seconds: a step above it is past capacity")
    ap.add_argument("--load-cpus", default="0")
    ap.add_argument("--server-pid", type=int, action="append")
    ap.add_argument("--json")
    a = ap.parse_args()
    rates = [float(r) for r in a.rates.split(",") if r.strip()]
    if len(rates) > 12 or a.step_seconds > 60 or a.threads > 256:
        ap.error("bounded by design: at most 12 rates, --step-seconds <= 60, --threads <= 256")
    bl.assert_loopback(a.issuer)
    if a.load_cpus:
        os.sched_setaffinity(0, bl.parse_cpus(a.load_cpus))
    meta = bl.discover(a.issuer)
    basic = base64.b64encode(f"{a.client_id}:{a.client_secret}".encode()).decode()
    cfg = dict(
        client_id=a.client_id,
        redirect_uri=a.redirect_uri,
        username=a.username,
        password=a.password,
        basic="Basic " + basic,
    )
    pool: list[str] = []
    steps = []
    with ThreadPoolExecutor(max_workers=a.threads) as executor:
        ctx = dict(meta=meta, cfg=cfg, executor=executor, server_pids=bl.resolve_server_pids(a.server_pid, a.issuer))
        for rate in rates:
            result = run_step(rate, a.refresh_ratio, a.step_seconds, pool, ctx)
            steps.append(result)
            print(
                f"  offered {rate:5.1f}/s: signed in {result['signins_per_s']:5.1f}/s "
                f"p50 {fmt(result['signin_p50_ms'], 0)} ms p99 {fmt(result['signin_p99_ms'], 0)} ms; "
                f"refresh {result['refreshes_per_s']:5.1f}/s p99 {fmt(result['refresh_p99_ms'], 0)} ms; "
                f"503 {result['busy_503']} timeouts {result['timeouts']} errors {result['errors']}; "
                f"srv {result['srv_cores']:.2f} cores",
                flush=True,
            )
    good = [
        s
        for s in steps
        if s["timeouts"] == 0 and s["errors"] == 0 and (s["signin_p99_ms"] or 1e12) <= a.p99_limit * 1000
    ]
    best = max(good, key=lambda s: s["signins_per_s"], default=None)
    per_core = best["signins_per_s"] / max(best["srv_cores"], 1e-9) if best else None
    needed = (10_000 / 300) / per_core if per_core else None
    summary = dict(
        sustained_signins_per_s=best and best["signins_per_s"], per_core=per_core, cores_for_10k_in_5min=needed
    )
    print(
        f"sustained: {fmt(summary['sustained_signins_per_s'])} sign-ins/s ({fmt(per_core)} per server core); "
        f"10,000 students in 5 minutes (33.3/s) need {fmt(needed)} cores"
    )
    if a.json:
        with open(a.json, "w") as out:
            json.dump(
                dict(steps=steps, summary=summary, args=vars(a) | {"client_secret": "…", "password": "…"}),
                out,
                indent=1,
            )


if __name__ == "__main__":
    main()
