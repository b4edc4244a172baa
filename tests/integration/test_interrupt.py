"""Interrupt and the end of a cell, on the local target and over SSH (issue 2, item 10; issue 3
item 7): the cell ends with Interrupted and nothing is left on the target, background jobs end
with their cell, a kernel shut down mid-cell leaves nothing behind. Over SSH the target's
processes are looked at on the host with `ps` (targets.Target.processes).

Every test uses its own sleep duration, so a test never mistakes another test's process for its
own. A pattern matches the number and nothing longer (sleep 1000 but not sleep 10000).
"""

from __future__ import annotations

import os
import re
import signal
import time

from harness import pgrep
from ssh_kernel import finish
from targets import (  # noqa: F401  (fixtures are used by name)
    interrupted,
    nb,
    no_questions,
    sleeping,
    ssh,
    ssh_kernelspec,
    ssh_servers,
    ssh_target,
    target,
)


def test_interrupt_sleep(target):
    interrupted(target, target.nb, "echo started; sleep 1000", sleeping(1000), limit=5)
    assert target.nb.ok("echo after").lines == ["after"]


def test_interrupt_via_kernel_manager(target):
    interrupted(target, target.nb, "echo started; sleep 1001", sleeping(1001), limit=5,
                via_manager=True)


def test_interrupt_program_that_ignores_sigint(target):
    interrupted(target, target.nb, "echo started; bash -c \"trap '' INT; sleep 1002\"",
                sleeping(1002), limit=10)
    assert target.nb.ok("echo after").lines == ["after"]


# A program that handles Ctrl-C by cleaning up for T seconds (as dpkg and terraform do).
CLEANS_UP = """echo started; cat > /tmp/sshpty-cleanup-{n}.py <<'PY'
import os, time
os.unlink(__file__)
try:
    time.sleep(1000)
except KeyboardInterrupt:
    print("cleaning up", flush=True)
    time.sleep({t})
    print("cleaned-up", flush=True)
    raise SystemExit(1)
PY
python3 /tmp/sshpty-cleanup-{n}.py"""


def cleaning_up(n: int) -> str:
    return f"python3 /tmp/sshpty-cleanup-{n}"


def test_a_program_cleaning_up_after_ctrl_c_gets_its_time(target):
    """dpkg and terraform handle Ctrl-C and take a while to leave things clean: the kernel
    sees the handler (the target's /proc) and waits, saying so; nothing is hung up or killed."""
    res = interrupted(target, target.nb, CLEANS_UP.format(n=1005, t=3), cleaning_up(1005),
                      limit=15)
    assert "cleaned-up" in res.text, res.describe()
    assert re.search(r"python3 \(pid \d+\) handles Ctrl-C and is still running", res.text), \
        res.describe()
    assert target.nb.ok("echo after").lines == ["after"]


def test_stopping_again_kills_a_program_still_cleaning_up(target):
    nb = target.nb
    cell = nb.submit(CLEANS_UP.format(n=1006, t=1000), allow_stdin=True)
    target.wait_running(cleaning_up(1006), 30)
    time.sleep(0.2)
    nb.interrupt()
    cell.wait_for_text("handles Ctrl-C and is still running", timeout=15)
    assert not cell._done(), "the cell ended while its program cleaned up"
    t0 = time.monotonic()
    nb.interrupt()
    res = finish(cell, 20)
    took = time.monotonic() - t0
    res.failed()
    assert res.errors[0]["ename"] == "Interrupted", res.describe()
    assert "cleaned-up" not in res.text, res.describe()
    assert took < 5, f"the second stop took {took:.1f} s"
    assert not target.wait_gone(cleaning_up(1006)), "the cleanup still runs after the second stop"


def test_a_program_in_a_process_group_of_its_own_is_stopped_by_one_interrupt(target):
    """`timeout` puts what it runs in a process group of its own. The cell's shell has no job
    control, so the terminal's Ctrl-C reaches the shell and not that group; the kernel passes
    it on, as a terminal with job control would have: one stop ends the cell, nothing is left,
    and the waiting shell is not taken for a cleanup."""
    res = interrupted(target, target.nb, "echo started; timeout 100 sleep 1010",
                      sleeping(1010), limit=5)
    assert "handles Ctrl-C" not in res.text, res.describe()
    assert target.nb.ok("echo after").lines == ["after"]


# Set the terminal from a background process group: the group is stopped (SIGTTOU), as
# `timeout 100 vim` without --foreground is.
STOPPED_BY_THE_TERMINAL = "echo started; timeout 100 sh -c 'sleep 0.3; stty -echo; sleep 1011'"


def test_a_program_stopped_by_the_terminal_is_ended_by_one_interrupt(target):
    res = interrupted(target, target.nb, STOPPED_BY_THE_TERMINAL,
                      r"sh -c sleep 0.3; stty -echo; sleep 1011", limit=6)
    assert re.search(r"\(pid \d+\) is stopped", res.text), res.describe()
    assert "--foreground" in res.text, res.describe()
    assert not target.wait_gone(r"timeout 100 sh -c sleep 0.3; stty"), "timeout is left"
    assert target.nb.ok("echo after").lines == ["after"]


def test_a_headless_run_ends_a_program_stopped_by_the_terminal(target):
    """nbclient and papermill have no stop button: a program the terminal stopped would wait
    until its `timeout` (an hour here). Once the cell's output is quiet the kernel looks,
    finds it stopped, and ends the cell with an error that says why and what to use."""
    nb = target.nb
    cell = nb.submit(STOPPED_BY_THE_TERMINAL.replace("1011", "1012"))
    target.wait_running(r"sh -c sleep 0.3; stty -echo; sleep 1012", 30)
    t0 = time.monotonic()
    res = finish(cell, 40)
    took = time.monotonic() - t0
    res.failed()
    assert res.errors[0]["ename"] == "StoppedByTerminal", res.describe()
    assert re.search(r"sh \(pid \d+\) was stopped by the terminal", res.error_text), res.describe()
    assert "timeout --foreground" in res.error_text, res.describe()
    assert took < 20, f"the stopped program was ended after {took:.1f} s"
    assert not target.wait_gone(r"sh -c sleep 0.3; stty -echo; sleep 1012"), "it is left"
    assert nb.ok("echo after").lines == ["after"]


def test_interrupt_keeps_context_from_before(target):
    target.nb.ok("cd /tmp; before=yes")
    interrupted(target, target.nb, "echo started; sleep 1003", sleeping(1003), limit=5)
    assert target.nb.ok('pwd; echo "$before"').lines == ["/tmp", "yes"]


def test_interrupt_sudo_sleep(ssh, ssh_kernelspec, notebook):
    """SSH only (the local tests run as root, whose sudo asks nothing and can be signalled):
    sudo's sleep runs as root, the login user cannot signal it; Ctrl-C through the PTY
    (relayed by sudo) is what stops it."""
    h1 = ssh_target(ssh, ssh_kernelspec, notebook)
    h1.nb.ok(f"pw='{ssh.lab.password}'")
    interrupted(h1, h1.nb, "echo started; printf '%s\\n' \"$pw\" | sudo -S -p '' sleep 1933",
                sleeping(1933), limit=10, user="root")
    assert h1.nb.ok("echo after").lines == ["after"]


def test_interrupt_with_nothing_running(nb):
    nb.ok("true")
    reply = nb.interrupt()
    assert reply["msg_type"] == "interrupt_reply" and reply["content"]["status"] == "ok", reply
    assert nb.ok("echo fine").lines == ["fine"]


def test_background_job_does_not_hold_the_cell_and_ends_with_it(target):
    nb = target.nb
    t0 = time.monotonic()
    res = nb.run("sleep 1004 & echo started", timeout=30)
    assert time.monotonic() - t0 < 10, "a background job held the cell open"
    assert res.status == "ok" and res.lines == ["started"], res.describe()
    left = target.wait_gone(sleeping(1004), timeout=3)
    assert not left, f"background job survived its cell: {left}"


def test_background_job_with_output_redirected(target):
    res = target.nb.run("sleep 1005 >/dev/null 2>&1 & echo started", timeout=30)
    assert res.status == "ok" and res.lines == ["started"], res.describe()
    assert not target.wait_gone(sleeping(1005), timeout=3)


def test_nohup_survives(local):
    """Local: a nohup'd job outlives its cell and the next one."""
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


def test_kernel_shutdown_mid_cell_leaves_nothing(target):
    nb = target.login_kernel()
    nb.submit("echo started; sleep 1007")  # the first cell: it logs in, then runs
    target.wait_running(sleeping(1007), timeout=30)
    nb.close()  # shutdown_request while the cell runs; close() fails on local leftovers
    assert not target.wait_gone(sleeping(1007), timeout=5 if target.ssh else 3)


def test_kernel_shutdown_mid_cell_ending_a_sigint_ignoring_program(target):
    nb = target.login_kernel()
    nb.submit("bash -c \"trap '' INT; sleep 1008\"")
    target.wait_running(sleeping(1008), timeout=30)
    nb.close()
    assert not target.wait_gone(sleeping(1008), timeout=5 if target.ssh else 3)


def test_sh_host_interrupt_and_header(ssh, notebook):
    """A host without bash (busybox sh only): the interrupt, the context kept, the header."""
    bb = ssh.kernel()
    res = no_questions(bb, "%login h1-bb")
    assert res.status == "ok", res.describe()
    on_bb = ssh_target(ssh, "", notebook, alias="h1-bb", user="sshpty-bb")
    bb.ok("cd /tmp; export BEFORE=yes")
    interrupted(on_bb, bb, "echo started; sleep 1937", sleeping(1937), limit=5)
    assert bb.ok('pwd; echo "$BEFORE"').lines == ["/tmp", "yes"]
    res = bb.ok("cd /")
    heads = [m["content"] for m in res.displays]
    assert heads and "sshpty-bb@127.0.0.1" in heads[0]["data"]["text/plain"], res.describe()
