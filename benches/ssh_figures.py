#!/usr/bin/env python3
"""Issue 3's figures, side by side in one run on loopback, against one real OpenSSH sshd
started by the test harness (tests/integration/sshd_harness.py; needs root, as the tests do):

  - per-cell round trip of `true` through the kernel (execute_request sent → status idle, with
    jupyter_client) on the SSH target, versus `ssh -tt HOST true` over a ControlMaster
    connection to the same sshd;
  - `%login HOST` (execute_request → idle: connect, authenticate, capture the login shell's
    environment) versus a fresh `ssh HOST true`.

Medians (and quartiles) of N runs each (N=60 by default, `--n`). Build first
(`cargo build --release`); run with the test venv:

    .venv-test/bin/python benches/ssh_figures.py [--n 60] [--logins 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import jupyter_client  # noqa: E402
from sshd_harness import SSHLab  # noqa: E402

KERNEL = ROOT / "target" / "release" / "sshpty"
BATCH = ["-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]


def run_cell(kc, code: str, timeout: float = 60) -> tuple[float, str]:
    """Seconds from sending the execute_request to the kernel's idle for it; reply status."""
    t0 = time.perf_counter()
    msg_id = kc.execute(code, store_history=False)
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"):
            took = time.perf_counter() - t0
            break
    reply = kc.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=timeout)
    return took, reply["content"]["status"]


def timed(argv: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    return time.perf_counter() - t0


def summary(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return f"{q[1] * 1000:8.1f} ms   ({q[0] * 1000:.1f}–{q[2] * 1000:.1f}, n={len(xs)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="round trips per method (≥ 50)")
    ap.add_argument("--logins", type=int, default=20, help="logins per method")
    args = ap.parse_args()
    if not KERNEL.is_file():
        sys.exit(f"{KERNEL} is missing: run cargo build --release first")

    tmp = Path(tempfile.mkdtemp(prefix="sshpty-figures-"))
    with SSHLab() as lab:
        sshd = lab.start_sshd(name="fig")
        cfg = lab.ssh_config_for(tmp / "home", [sshd])
        host = cfg.alias(sshd, "ops")
        env = cfg.env(agent=False)
        ssh = lambda *a: cfg.ssh(host, *a, options=BATCH)  # noqa: E731

        prefix = tmp / "prefix"
        subprocess.run([str(KERNEL), "install", "--prefix", str(prefix), "--name",
                        "sshpty-figures", "--no-header"], check=True, capture_output=True)
        os.environ["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
        km = jupyter_client.KernelManager(kernel_name="sshpty-figures")
        km.start_kernel(env=env)
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=30)

            # %login versus a fresh `ssh host true`, interleaved so drift hits both alike.
            logins, fresh = [], []
            for _ in range(args.logins):
                took, status = run_cell(kc, f"%login {host}")
                assert status == "ok", "%login failed"
                logins.append(took)
                run_cell(kc, f"%logout {host}")
                fresh.append(timed(ssh("true"), env))
            assert run_cell(kc, f"%login {host}")[1] == "ok"

            # Per-cell round trips: the kernel's, and ssh -tt over a ControlMaster.
            control = tmp / "cm"
            subprocess.run(cfg.ssh(host, options=BATCH + ["-M", "-S", str(control), "-N", "-f"]),
                           env=env, check=True, stdin=subprocess.DEVNULL, timeout=30)
            try:
                cells, muxed = [], []
                for _ in range(3):  # warm-up, not counted
                    run_cell(kc, "true")
                    timed(cfg.ssh(host, "true", options=BATCH + ["-S", str(control), "-tt"]), env)
                for _ in range(args.n):
                    took, status = run_cell(kc, "true")
                    assert status == "ok", "a cell failed"
                    cells.append(took)
                    muxed.append(timed(cfg.ssh(host, "true", options=BATCH + [
                        "-S", str(control), "-tt"]), env))
            finally:
                subprocess.run(cfg.ssh(host, options=["-S", str(control), "-O", "exit"]),
                               env=env, capture_output=True, timeout=10)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
            shutil.rmtree(tmp, ignore_errors=True)

    ssh_version = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    print(f"loopback, OpenSSH sshd from the test harness; {ssh_version}; "
          f"{platform.machine()}, {os.cpu_count()} CPUs; median (quartiles)")
    print(f"{'per-cell round trip of `true`':44} ")
    print(f"  {'sshpty kernel (execute_request → idle)':42} {summary(cells)}")
    print(f"  {'ssh -tt HOST true over a ControlMaster':42} {summary(muxed)}")
    print(f"{'logging in':44}")
    print(f"  {'sshpty %login HOST (→ idle)':42} {summary(logins)}")
    print(f"  {'fresh ssh HOST true':42} {summary(fresh)}")


if __name__ == "__main__":
    main()
