"""Extra benchmark rows on top of the shared harness (../shared/bench), for any issuer:

- ``userinfo``   GET userinfo with one bearer token (wrk, like bench_endpoints.py)
- ``refresh``    refresh_token grant, each worker following its own rotation chain (Python workers)
- ``sso``        authorize -> code -> token -> userinfo with an existing browser session (Python workers)

Same pinning and server-CPU accounting as the harness: load on --load-cpus, server CPU from /proc
for --server-pid (and descendants). Loopback targets only (benchlib.assert_loopback).
Also ``--argon2-cpu N``: argon2id verifies per second on core N with the given parameters (the
"physical limit" a password sign-in is compared with), measured in this process.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing as mp
import os
import resource
import secrets
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.environ.get("SHARED_BENCH", os.path.join(os.path.dirname(__file__), "../../shared/bench")))
import bench_code_flow as cf
import bench_endpoints as be
import benchlib as bl

MAX_STEPS = 25


def authorize(b, meta, cfg, *, scope, prompt=None, allow_forms=True):
    """Run the front channel until the redirect with a code; return (code, verifier, nonce)."""
    state, nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(16), secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = dict(
        response_type="code",
        client_id=cfg["client_id"],
        redirect_uri=cfg["redirect_uri"],
        scope=scope,
        state=state,
        nonce=nonce,
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    if prompt:
        params["prompt"] = prompt
    url = meta["authorization_endpoint"] + "?" + urllib.parse.urlencode(params)
    method, body, headers = "GET", None, None
    for _ in range(MAX_STEPS):
        status, hdrs, data = b.request(method, url, body, headers)
        if status in (301, 302, 303, 307, 308):
            loc = urllib.parse.urljoin(url, hdrs.get("Location", ""))
            if loc.split("?", 1)[0] == cfg["redirect_uri"]:
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
                if q.get("state", [None])[0] != state or "code" not in q:
                    raise cf.FlowError(f"bad redirect: {loc}")
                return q["code"][0], verifier, nonce
            url, method, body, headers = loc, "GET", None, None
            continue
        if status != 200:
            raise cf.FlowError(f"HTTP {status} at {url}: {data[:200]!r}")
        if not allow_forms:
            raise cf.FlowError(f"form shown although the session exists: {url}")
        forms = cf.parse_forms(data.decode("utf-8", "replace"))
        logins = [f for f in forms if any(i["type"] == "password" for i in f["inputs"])]
        form = (logins or forms)[0]
        fields, _ = cf.fill_form(form, cfg["username"], cfg["password"])
        url = urllib.parse.urljoin(url, form["action"] or url)
        method, body = "POST", urllib.parse.urlencode(fields).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
    raise cf.FlowError("no code after max steps")


def token(b, meta, cfg, **form):
    status, _, data = b.request(
        "POST",
        meta["token_endpoint"],
        urllib.parse.urlencode(form).encode(),
        {
            "Authorization": cfg["basic"],
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    if status != 200:
        raise cf.FlowError(f"token HTTP {status}: {data[:200]!r}")
    return json.loads(data)


def code_tokens(b, meta, cfg, *, scope="openid", prompt=None, allow_forms=True):
    code, verifier, _ = authorize(b, meta, cfg, scope=scope, prompt=prompt, allow_forms=allow_forms)
    return token(
        b,
        meta,
        cfg,
        grant_type="authorization_code",
        code=code,
        redirect_uri=cfg["redirect_uri"],
        code_verifier=verifier,
    )


def userinfo(b, meta, access_token):
    status, _, data = b.request(
        "GET",
        meta["userinfo_endpoint"],
        None,
        {"Authorization": "Bearer " + access_token, "Accept": "application/json"},
    )
    if status != 200 or b'"sub"' not in data:
        raise cf.FlowError(f"userinfo HTTP {status}: {data[:200]!r}")


# ------------------------------------------------------------------ scenarios (one Browser per worker)
class Refresh:
    def __init__(self, b, meta, cfg):
        self.b, self.meta, self.cfg = b, meta, cfg
        t = code_tokens(b, meta, cfg, scope="openid offline_access", prompt="consent")
        self.rt = t["refresh_token"]

    def step(self):
        t = token(self.b, self.meta, self.cfg, grant_type="refresh_token", refresh_token=self.rt)
        if "access_token" not in t:
            raise cf.FlowError("no access_token")
        self.rt = t.get("refresh_token", self.rt)


class SSO:
    def __init__(self, b, meta, cfg):
        self.b, self.meta, self.cfg = b, meta, cfg
        code_tokens(b, meta, cfg)  # signs in once: the session cookie stays in the jar

    def step(self):
        t = code_tokens(self.b, self.meta, self.cfg, allow_forms=False)
        userinfo(self.b, self.meta, t["access_token"])


SCENARIOS = {"refresh": Refresh, "sso": SSO}


def _worker(kind, meta, cfg, start_at, deadline, cpus, q):
    if cpus:
        os.sched_setaffinity(0, cpus)
    b = cf.Browser(False)
    lat, errors, first = [], 0, None
    try:
        s = SCENARIOS[kind](b, meta, cfg)
    except Exception as e:
        q.put(([], 1, f"setup: {type(e).__name__}: {e}"))
        return
    while time.time() < start_at:
        time.sleep(0.001)
    while time.time() < deadline and len(lat) < 200_000:
        t0 = time.perf_counter()
        try:
            s.step()
            lat.append(time.perf_counter() - t0)
        except Exception as e:
            errors += 1
            first = first or f"{type(e).__name__}: {e}"
            try:
                s = SCENARIOS[kind](b, meta, cfg)
            except Exception:
                break
    q.put((lat, errors, first))


def run_python(kind, meta, cfg, workers, duration, load_cpus, server_pids):
    cpus = bl.parse_cpus(load_cpus) if load_cpus else None
    q = mp.Queue()
    start_at = time.time() + 2.0 + 0.2 * workers  # setup (one sign-in per worker) happens before
    deadline = start_at + duration
    procs = [mp.Process(target=_worker, args=(kind, meta, cfg, start_at, deadline, cpus, q)) for _ in range(workers)]
    for p in procs:
        p.start()
    while time.time() < start_at:
        time.sleep(0.001)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    c0, w0 = bl.cpu_seconds(server_pids), time.perf_counter()
    res = [q.get(timeout=duration + 120) for _ in procs]
    c1, w1 = bl.cpu_seconds(server_pids), time.perf_counter()
    for p in procs:
        p.join(10)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    lat = sorted(x for r in res for x in r[0])
    wall = w1 - w0
    srv = (c1 - c0) / wall
    rps = len(lat) / wall
    return dict(
        requests=len(lat),
        errors=sum(r[1] for r in res),
        first_error=next((r[2] for r in res if r[2]), None),
        rps=rps,
        srv_cores=srv,
        rps_per_srv_core=rps / srv if srv > 0 else float("nan"),
        p50_ms=bl.percentile(lat, 50) * 1e3,
        p99_ms=bl.percentile(lat, 99) * 1e3,
        loadgen_cores=((ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)) / wall,
    )


def argon2_rate(cpu, memory_kib, time_cost, parallelism, seconds):
    from argon2 import PasswordHasher, Type

    os.sched_setaffinity(0, {cpu})
    ph = PasswordHasher(memory_cost=memory_kib, time_cost=time_cost, parallelism=parallelism, type=Type.ID)
    h = ph.hash("correct horse battery staple")
    # Per CPU-second of this thread (like the servers' "per core" figures): on a shared core the
    # wall-clock rate would count other jobs' time against argon2.
    n, t0, c0 = 0, time.perf_counter(), time.thread_time()
    while time.perf_counter() - t0 < seconds or n < 5:
        ph.verify(h, "correct horse battery staple")
        n += 1
    return n / (time.thread_time() - c0)


def median_run(fn, repeat):
    runs = [fn() for _ in range(repeat)]
    med = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
    return dict(
        med,
        rps_min=min(r["rps"] for r in runs),
        rps_max=max(r["rps"] for r in runs),
        errors_total=sum(r["errors"] for r in runs),
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--issuer", default=os.environ.get("ISSUER"))
    ap.add_argument("--client-id", default=os.environ.get("CLIENT_ID"))
    ap.add_argument("--client-secret", default=os.environ.get("CLIENT_SECRET"))
    ap.add_argument("--redirect-uri", default=os.environ.get("REDIRECT_URI", "http://127.0.0.1:3199/cb"))
    ap.add_argument("--username", default=os.environ.get("BENCH_USERNAME", "student1"))
    ap.add_argument("--password", default=os.environ.get("BENCH_PASSWORD", "anything"))
    ap.add_argument("--rows", default="userinfo,refresh,sso")
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=8, help="Python workers for refresh and sso")
    ap.add_argument("--load-cpus", default="0")
    ap.add_argument("--server-pid", type=int, action="append")
    ap.add_argument("--argon2-cpu", type=int, help="measure argon2id verifies/s on this core instead")
    ap.add_argument("--argon2", default="19456,2,1", help="memory KiB, time cost, parallelism")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.duration > 60 or a.repeat > 10 or a.workers > 32:
        ap.error("bounded by design: --duration <= 60, --repeat <= 10, --workers <= 32")

    if a.argon2_cpu is not None:
        m, t, p = (int(x) for x in a.argon2.split(","))
        rates = sorted(argon2_rate(a.argon2_cpu, m, t, p, max(1, a.duration // 2)) for _ in range(a.repeat))
        out = dict(
            argon2=dict(
                cpu=a.argon2_cpu,
                memory_kib=m,
                time_cost=t,
                parallelism=p,
                verifies_per_s=rates[len(rates) // 2],
                min=rates[0],
                max=rates[-1],
            )
        )
        print(json.dumps(out))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(out, f, indent=1)
        return 0

    meta = bl.discover(a.issuer)
    basic = (
        "Basic "
        + base64.b64encode(
            f"{urllib.parse.quote(a.client_id, safe='')}:{urllib.parse.quote(a.client_secret, safe='')}".encode()
        ).decode()
    )
    cfg = dict(
        client_id=a.client_id, redirect_uri=a.redirect_uri, username=a.username, password=a.password, basic=basic
    )
    pids = bl.resolve_server_pids(a.server_pid, a.issuer)
    rows = []
    for name in a.rows.split(","):
        if name == "userinfo":
            b = cf.Browser(False)
            at = code_tokens(b, meta, cfg)["access_token"]
            spec = dict(
                method="GET",
                url=meta["userinfo_endpoint"],
                body=None,
                expect='"sub"',
                headers={"Authorization": "Bearer " + at, "Accept": "application/json"},
            )
            with tempfile.TemporaryDirectory() as tmp:
                be.measured(be.run_wrk, spec, a.connections, 2, a.load_cpus, tmp, pids)  # warm-up
                r = median_run(
                    lambda spec=spec, tmp=tmp: be.measured(
                        be.run_wrk, spec, a.connections, a.duration, a.load_cpus, tmp, pids
                    ),
                    a.repeat,
                )
        else:
            run_python(name, meta, cfg, a.workers, 2, a.load_cpus, pids)  # warm-up
            r = median_run(
                lambda name=name: run_python(name, meta, cfg, a.workers, a.duration, a.load_cpus, pids), a.repeat
            )
        r["row"] = name
        rows.append(r)
        print(
            f"  {name:<9} {r['rps']:8.1f}/s ({r['rps_min']:.0f}-{r['rps_max']:.0f})  srv {r['srv_cores']:.2f} "
            f"cores  per srv core {r['rps_per_srv_core']:8.1f}  p50 {r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms"
            f"  err {r['errors_total']}  loadgen {r['loadgen_cores']:.2f}"
            + (f"  first error: {r.get('first_error')}" if r.get("first_error") else ""),
            flush=True,
        )
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(issuer=a.issuer, machine=bl.machine_line(), rows=rows), f, indent=1)
    return 1 if any(r["errors_total"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
