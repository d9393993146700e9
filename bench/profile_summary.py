"""Summarise a py-spy ``--format raw`` profile (collapsed stacks) as inclusive percentages.

    python bench/profile_summary.py profile_userinfo.txt [--top 25] [--match idp/,authlib/]

Each line of the input is ``frame;frame;...;frame count``; a frame reads ``function (file:line)``.
A function counts once per sample however often it recurs in that stack (inclusive time). The output
is the excerpt format of docs/performance.md: percentage, function, shortened file.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def short(path: str) -> str:
    for marker in ("site-packages/", "/work/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return path.split("/main/", 1)[-1]


def summarise(lines, top: int, match: tuple[str, ...]) -> list[str]:
    inclusive: Counter = Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        seen = set()
        for frame in stack.split(";"):
            m = FRAME.match(frame.strip())
            key = (m["func"], short(m["file"])) if m else (frame.strip(), "")
            if key not in seen:
                seen.add(key)
                inclusive[key] += n
    rows = []
    for (func, path), n in inclusive.most_common():
        if match and not any(s in path for s in match):
            continue
        rows.append(f"{100 * n / max(total, 1):5.1f}% {func:<45} ({path})")
        if len(rows) >= top:
            break
    return [f"{total} samples", *rows]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("raw")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--match", default="", help="comma-separated path fragments to keep (default: all)")
    a = ap.parse_args()
    with open(a.raw) as f:
        print("\n".join(summarise(f, a.top, tuple(s for s in a.match.split(",") if s))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
