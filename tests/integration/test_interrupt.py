"""Interrupt and the end of a cell (issue 2, item 10).

Every test uses its own sleep duration, so pgrep never confuses one test's process with
another's. A pattern matches the number and nothing longer (sleep 1000 but not sleep 10000).
"""

from __future__ import annotations

import os
import re
import signal
import time

from harness import pgrep, wait_no_process, wait_process


def sleeping(n: int) -> str:
    return rf"sleep {n}([^0-9]|$)"


def _interrupted(nb, code, pattern, limit, via_manager=False):
    cell = nb.submit(code)
    # Wait for the process itself, not for output: streaming has its own test.
    wait_process(pattern, timeout=30)
    time.sleep(0.2)
    t0 = time.monotonic()
    if via_manager:
        nb.km.interrupt_kernel()
    else:
        reply = nb.interrupt()
        assert reply["msg_type"] == "interrupt_reply"
        assert reply["content"].get("status", "ok") == "ok"
    res = cell.result(timeout=limit + 20)
    took = time.monotonic() - t0
    assert took <= limit, f"interrupt took {took:.1f}s (limit {limit}s)"
    res.failed()
    assert re.search(r"interrupt", res.error_text, re.I), res.describe()
    left = wait_no_process(pattern, timeout=1)
    assert not left, f"still running after the interrupt: {left}"
    return res


def test_interrupt_sleep(local):
    _interrupted(local, "echo started; sleep 1000", sleeping(1000), limit=5)
    assert local.ok("echo after").lines == ["after"]


def test_interrupt_via_kernel_manager(local):
    _interrupted(local, "echo started; sleep 1001", sleeping(1001), limit=5, via_manager=True)


def test_interrupt_program_that_ignores_sigint(local):
    _interrupted(local, "echo started; bash -c \"trap '' INT; sleep 1002\"", sleeping(1002), limit=10)
    assert local.ok("echo after").lines == ["after"]


def test_interrupt_keeps_context_from_before(local):
    local.ok("cd /tmp; before=yes")
    _interrupted(local, "echo started; sleep 1003", sleeping(1003), limit=5)
    assert local.ok('pwd; echo "$before"').lines == ["/tmp", "yes"]


def test_interrupt_with_nothing_running(local):
    local.ok("true")
    assert local.interrupt()["content"].get("status", "ok") == "ok"
    assert local.ok("echo fine").lines == ["fine"]


def test_background_job_does_not_hold_the_cell_and_ends_with_it(local):
    local.ok("true")
    t0 = time.monotonic()
    res = local.run("sleep 1004 & echo started", timeout=30)
    assert time.monotonic() - t0 < 10, "a background job held the cell open"
    assert res.status == "ok" and "started" in res.text, res.describe()
    left = wait_no_process(sleeping(1004), timeout=3)
    assert not left, f"background job survived its cell: {left}"


def test_background_job_with_output_redirected(local):
    local.ok("true")
    res = local.run("sleep 1005 >/dev/null 2>&1 & echo started", timeout=30)
    assert res.status == "ok"
    assert not wait_no_process(sleeping(1005), timeout=3)


def test_nohup_survives(local):
    local.ok("true")
    pids = []
    try:
        res = local.run("nohup sleep 1006 >/dev/null 2>&1 & echo started", timeout=30)
        assert res.status == "ok" and "started" in res.text, res.describe()
        time.sleep(1)
        pids = pgrep(sleeping(1006))
        local.allowed_leftovers.update(pids)
        assert pids, "nohup'd process did not survive its cell"
        time.sleep(1)
        local.ok("echo next")
        assert set(pids) <= set(pgrep(sleeping(1006))), "nohup'd process killed by the next cell"
    finally:
        for p in pids + pgrep(sleeping(1006)):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass


def test_kernel_shutdown_mid_cell_leaves_nothing(notebook):
    from harness import LOCAL

    nb = notebook(LOCAL)
    nb.submit("echo started; sleep 1007")
    wait_process(sleeping(1007), timeout=30)
    nb.close()  # shutdown_request while the cell runs; close() fails on leftovers
    assert not wait_no_process(sleeping(1007), timeout=3)


def test_kernel_shutdown_mid_cell_ending_a_sigint_ignoring_program(notebook):
    from harness import LOCAL

    nb = notebook(LOCAL)
    nb.submit("bash -c \"trap '' INT; sleep 1008\"")
    wait_process(sleeping(1008), timeout=30)
    nb.close()
    assert not wait_no_process(sleeping(1008), timeout=3)
