"""Turn one `make bench` run folder (bench/results/raw/<tag>) into bench/results/latest.{md,json}
and the table in docs/performance.md (between the BENCH-TABLE markers)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load(folder: Path, name: str):
    p = folder / name
    return json.loads(p.read_text()) if p.exists() else None


def per_core(folder: Path, label: str) -> dict:
    """row name -> {per_core, rps, p99, srv, errors} for one server (saturation phase)."""
    out = {}
    ep = load(folder, f"endpoints_{label}.json")
    for r in (ep or {}).get("rows", []):
        if r["phase"] == "sat":
            out[r["endpoint"]] = dict(
                per_core=r["rps_per_srv_core"],
                rps=r["rps"],
                p99=r["p99_ms"],
                srv=r["srv_cores"],
                errors=r["errors_total"],
            )
    cf = load(folder, f"codeflow_{label}.json")
    for r in (cf or {}).get("rows", []):
        if r["phase"] == "sat":
            out["code_flow"] = dict(
                per_core=r["flows_per_srv_core"],
                rps=r["flows_s"],
                p99=r["p99_ms"],
                srv=r["srv_cores"],
                errors=r["errors_total"],
            )
    ex = load(folder, f"extra_{label}.json")
    for r in (ex or {}).get("rows", []):
        out[r["row"]] = dict(
            per_core=r["rps_per_srv_core"], rps=r["rps"], p99=r["p99_ms"], srv=r["srv_cores"], errors=r["errors_total"]
        )
    if "code_flow" in out and "sso" in out:
        # One interactive flow = the SSO front channel + login page + POST /login (its argon2 verify),
        # minus userinfo; the difference of the two CPU costs is the price of the sign-in itself.
        extra = 1 / out["code_flow"]["per_core"] - 1 / out["sso"]["per_core"]
        if extra > 0:
            out["login_post"] = dict(per_core=1 / extra, rps=float("nan"), p99=float("nan"), srv=float("nan"), errors=0)
    return out


ROWS = [  # key, label, compared with (peer[:target ratio] or argon2:target ratio)
    ("discovery", "discovery", "peer:1.5"),
    ("jwks", "JWKS", "peer:1.5"),
    ("token_cc", "client-credentials token", "peer"),
    ("introspect", "introspection", "peer"),
    ("userinfo", "userinfo", "peer"),
    ("refresh", "refresh-token grant", "peer"),
    ("sso", "SSO code flow with a session (authorize → code → token → userinfo)", "peer"),
    ("login_post", "password sign-in `POST /login` (derived: interactive flow − SSO flow CPU)", "argon2:0.9"),
    ("code_flow", "complete interactive code flow with password sign-in", "argon2:0.8"),
]


def fmt(x, nd=0):
    if x is None or x != x:
        return "–"
    return f"{x:,.{nd}f}"


def build(folder: Path) -> tuple[str, dict]:
    machine = (folder / "machine.txt").read_text().strip() if (folder / "machine.txt").exists() else "?"
    config = (folder / "config.txt").read_text().strip() if (folder / "config.txt").exists() else ""
    loads = (folder / "loadavg.txt").read_text().strip() if (folder / "loadavg.txt").exists() else ""
    rss = (folder / "rss.txt").read_text().strip() if (folder / "rss.txt").exists() else ""
    argon = (load(folder, "argon2.json") or {}).get("argon2", {})
    # The server of the production row (run_bench.sh writes it; runs before issue 17 were gunicorn's).
    server = next((part.split("=", 1)[1] for part in config.split() if part.startswith("server=")), "granian")
    peer, prod, emb = per_core(folder, "peer"), per_core(folder, "prod"), per_core(folder, "embedded")
    lines = [
        f"Run `{folder.name}` — {machine}",
        "",
        f"Settings: {config}; every `IDP_RATE_*_LIMIT` and `IDP_THROTTLE_{{ACCOUNT,DEVICE}}_FREE` set to 10^9 for the run (the throttle checks run, they never trip).",
        f"argon2id limit on the server core (m={argon.get('memory_kib')} KiB, t={argon.get('time_cost')}, "
        f"p={argon.get('parallelism')}): **{fmt(argon.get('verifies_per_s'), 1)} verifies/s** "
        f"({fmt(argon.get('min'), 1)}–{fmt(argon.get('max'), 1)}).",
        "",
        f"| row | peer (node oidc-provider, in memory) /s/core | SPOM Login ({server} + PostgreSQL + Redis) "
        "/s/core | target | **ratio** | p99 ms peer / ours | embedded (SQLite + in-process) /s/core |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    data = dict(run=folder.name, machine=machine, config=config, loadavg=loads, argon2=argon, rows=[])
    for key, label, versus in ROWS:
        o, p, e = prod.get(key), peer.get(key), emb.get(key)
        if versus.startswith("peer"):
            factor = versus.split(":")[1] if ":" in versus else "1.0"  # the ratio is ours ÷ peer either way
            base, target = (p or {}).get("per_core"), f"≥ {factor} × peer"
        else:
            base, target = argon.get("verifies_per_s"), f"≥ {versus.split(':')[1]} × argon2"
        ratio = (o["per_core"] / base) if (o and base) else None
        lines.append(
            f"| {label} | {fmt((p or {}).get('per_core'))} | {fmt((o or {}).get('per_core'), 0 if versus.startswith('peer') else 1)} "
            f"| {target} | **{fmt(ratio, 2)}** | {fmt((p or {}).get('p99'), 1)} / {fmt((o or {}).get('p99'), 1)} "
            f"| {fmt((e or {}).get('per_core'), 0 if versus.startswith('peer') else 1)} |"
        )
        data["rows"].append(dict(row=key, label=label, target=target, peer=p, prod=o, embedded=e, ratio=ratio))
    errs = {k: v["errors"] for d in (prod, peer, emb) for k, v in d.items() if v.get("errors")}
    lines += [
        "",
        f"Errors: {errs or 'none'}.",
        "",
        "Load average (1/5/15 min) at the start and end of each server's runs:",
        "",
        "```",
        loads,
        "```",
    ]
    if rss:
        lines += ["", "Worker RSS (KiB) before/after each server's runs:", "", "```", rss, "```"]
    return "\n".join(lines) + "\n", data


def _clean(value):
    """NaN (no figure) as null, so latest.json is strict JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def main(folder: str) -> None:
    f = Path(folder)
    md, data = build(f)
    res = ROOT / "bench" / "results"
    (res / "latest.md").write_text(md)
    (res / "latest.json").write_text(json.dumps(_clean(data), indent=1, allow_nan=False))
    doc = ROOT / "docs" / "performance.md"
    if doc.exists():
        text = doc.read_text()
        start, end = "<!-- BENCH-TABLE -->", "<!-- /BENCH-TABLE -->"
        if start in text and end in text:
            head, rest = text.split(start, 1)
            doc.write_text(head + start + "\n" + md + end + rest.split(end, 1)[1])
    print(md)


if __name__ == "__main__":
    main(sys.argv[1])
