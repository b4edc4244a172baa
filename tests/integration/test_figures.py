"""Figures for the closing note, each beside a baseline measured in the same run, with bounds
loose enough for a busy CI machine but tight enough to catch a kernel that polls or leaks.
They are printed in pytest's terminal summary and written to tests/artifacts/figures.txt."""

from __future__ import annotations

import statistics
import subprocess
import time
from queue import Empty

from harness import LOCAL, Notebook, rss_kib


def test_round_trip_of_true(local, figures):
    local.ok("true")
    times = []
    for _ in range(20):
        t0 = time.monotonic()
        local.ok("true")
        times.append(time.monotonic() - t0)
    base = []
    for _ in range(20):
        t0 = time.monotonic()
        subprocess.run(["bash", "-c", "true"], check=True)
        base.append(time.monotonic() - t0)
    k, b = statistics.median(times), statistics.median(base)
    figures(f"cell `true` round trip, median of 20: {k * 1000:.1f} ms   (baseline `bash -c true`: {b * 1000:.1f} ms)")
    assert k < 0.5, f"median round trip {k:.3f}s"


def test_start_to_first_kernel_info_reply(figures, kernelspecs):
    from jupyter_client import KernelManager

    km = KernelManager(kernel_name=LOCAL)
    t0 = time.monotonic()
    km.start_kernel()
    kc = km.blocking_client()
    kc.start_channels()
    took = None
    try:
        deadline = t0 + 30
        while time.monotonic() < deadline and took is None:
            kc.kernel_info()
            try:
                while True:
                    msg = kc.get_shell_msg(timeout=0.05)
                    if msg["msg_type"] == "kernel_info_reply":
                        took = time.monotonic() - t0
                        break
            except Empty:
                pass
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    t1 = time.monotonic()
    subprocess.run(["bash", "-lc", "true"], check=True)
    base = time.monotonic() - t1
    assert took is not None, "no kernel_info_reply within 30 s of start"
    figures(f"start to first kernel_info_reply: {took * 1000:.0f} ms   (baseline `bash -lc true`: {base * 1000:.0f} ms)")
    assert took < 5


def test_idle_rss(local, figures):
    for _ in range(5):
        local.ok("seq 1 2000 >/dev/null; echo x")
    time.sleep(0.5)
    kernel = rss_kib(local.pid)
    p = subprocess.Popen(["bash", "-c", "read -t 10 x"], stdin=subprocess.PIPE)
    try:
        time.sleep(0.3)
        base = rss_kib(p.pid)
    finally:
        p.kill()
        p.wait()
    figures(f"idle RSS of the kernel after 6 cells: {kernel / 1024:.1f} MiB   (baseline idle bash: {base / 1024:.1f} MiB)")
    assert kernel < 100 * 1024
