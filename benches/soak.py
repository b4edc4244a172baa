#!/usr/bin/env python3
"""The kernel's memory over a long session (issue 12, part 6): N cells over SSH (the bench's own
sshd, as `benches/run` starts it) in one kernel, the kernel's VmRSS sampled every STEP cells,
printed as a table (cells, RSS KiB, KiB since the first sample). The cells are what a runbook
does: echo, cd, a variable set, a loop, a function defined; with `--no-history` they are sent
with `store_history: false`, so the history (10 000 entries kept by design, each with up to
64 KiB of output) takes nothing.

    .venv-bench/bin/python benches/soak.py --cells 20000 --step 1000 --no-history
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402


CELLS = [
    "echo soak {i}",
    "cd /tmp",
    "x{m}={i}; echo $x{m}",
    "for j in 1 2 3; do echo $j; done",
    "f{m}() {{ echo {i}; }}; f{m}",
    "cd ~",
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=20000)
    ap.add_argument("--step", type=int, default=1000)
    ap.add_argument("--no-history", action="store_true")
    ap.add_argument("--out", default="")
    ap.add_argument("--local", action="store_true", help="the local target, not SSH")
    a = ap.parse_args()
    b = bench.Bench(argparse.Namespace(no_ssh=False, check=False))
    rows = []
    try:
        b.setup(with_baselines=False)
        if a.local:
            k = b.sshpty_local()
        else:
            b.ssh.start_master()
            k, _ = b.sshpty_ssh()
        t0 = time.monotonic()
        first = None
        for i in range(a.cells + 1):
            if i % a.step == 0:
                time.sleep(0.3)  # let the shells started ahead settle
                rss = bench.proc_status(k.pid, "VmRSS")
                first = rss if first is None else first
                rows.append((i, rss, rss - first, time.monotonic() - t0))
                print(f"{i:7d} cells  RSS {rss:7d} KiB  {rss - first:+6d} KiB  "
                      f"{time.monotonic() - t0:7.1f} s", flush=True)
            if i < a.cells:
                # Ten names and functions at most: the context stays the same size.
                k.ok(CELLS[i % len(CELLS)].format(i=i, m=i % 10), store_history=not a.no_history)
    finally:
        b.close()
    if a.out:
        lines = ["| cells | RSS (KiB) | since the first sample (KiB) | seconds |", "|---|---|---|---|"]
        lines += [f"| {c} | {r} | {d:+d} | {s:.0f} |" for c, r, d, s in rows]
        Path(a.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
