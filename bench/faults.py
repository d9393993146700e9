"""Fault figures for docs/reliability.md: two `idp serve` instances (2 workers each) under bounded
loopback load; Redis, then PostgreSQL, cut for a few seconds through a loopback proxy and restored.

Run from the repository root (PostgreSQL and Redis on 127.0.0.1, as for the tests):

    .venv/bin/python -m bench.faults [--rounds 3] [--down 4]

Prints one Markdown table row per round and dependency. Nothing here is a test: the tests in
tests/e2e/test_faults.py assert the behaviour with generous bounds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from tests.cluster import Cluster
from tests.load import Load, run_outage

KINDS = ("sign_in", "authorize", "userinfo", "client_credentials")


def fmt(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def round_figures(cluster, instances, proxy, down: float) -> dict:
    outage = run_outage(
        Load(cluster, instances),
        proxy,
        down=down,
        recovered=lambda o: all(o.recovery(k) is not None for k in ("sign_in", "userinfo")),
    )
    during = outage.during()
    refused = [s.duration for s in during if s.status == 503]
    return {
        "requests": len(during),
        "503": sum(1 for s in during if s.status == 503),
        "other errors": len(outage.unexpected()),
        "first 503 (s)": min(
            (outage.first_503_after_cut(k) for k in KINDS if outage.first_503_after_cut(k) is not None), default=None
        ),
        "median 503 (s)": statistics.median(refused) if refused else None,
        "slowest (s)": outage.slowest(),
        "sign-in back (s)": outage.recovery("sign_in"),
        "userinfo back (s)": outage.recovery("userinfo"),
        "ok during": ", ".join(
            sorted({s.kind for s in during if s.status == 200 or (s.kind, s.status) == ("authorize", 302)})
        )
        or "—",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--down", type=float, default=4.0, help="seconds each outage lasts")
    args = parser.parse_args()
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="idp-faults-")))
    try:
        instances = [cluster.start("a"), cluster.start("b")]
        cluster.provider(instances[0]).create_user()
        columns = None
        for dependency, proxy in (("Redis", cluster.redis_proxy), ("PostgreSQL", cluster.pg_proxy)):
            for n in range(args.rounds):
                figures = round_figures(cluster, instances, proxy, args.down)
                if columns is None:
                    columns = list(figures)
                    print("| dependency | round | " + " | ".join(columns) + " |")
                    print("|---" * (len(columns) + 2) + "|")
                cells = [fmt(v) if isinstance(v, float) or v is None else str(v) for v in figures.values()]
                print(f"| {dependency} | {n + 1} | " + " | ".join(cells) + " |", flush=True)
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
