"""Jupyter wire protocol: requests other than execute's output, and the kernel's lifecycle
(issue 2, item 3)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from harness import BIN, LOCAL, PLAIN, Notebook, _alive, _kill, plain_text, wait_process


def version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def check_kernel_info(reply: dict) -> None:
    c = reply["content"]
    assert reply["msg_type"] == "kernel_info_reply"
    assert c["status"] == "ok", c
    assert version_tuple(c["protocol_version"]) >= (5, 3), c["protocol_version"]
    li = c["language_info"]
    assert li["name"] == "bash"
    assert li["mimetype"] == "text/x-sh"
    assert li["file_extension"] == ".sh"
    assert li["pygments_lexer"] == "bash"
    assert li["codemirror_mode"] == "shell"
    assert version_tuple(reply["header"]["version"]) >= (5, 2), "header version must be >= 5.2"


def test_kernel_info_on_shell(plain):
    check_kernel_info(plain.shell_request("kernel_info_request", {}))


def test_kernel_info_on_control(plain):
    check_kernel_info(plain.control_request("kernel_info_request", {}))


def test_kernel_info_answered_before_login_of_a_login_kernel(notebook):
    """--login kernels log in at the first execute, so kernel_info does not wait for a login."""
    nb = notebook(LOCAL)
    t0 = time.monotonic()
    check_kernel_info(nb.shell_request("kernel_info_request", {}, timeout=5))
    assert time.monotonic() - t0 < 1


def test_kernel_info_on_control_while_a_cell_runs(local):
    cell = local.submit("echo started; sleep 5.01")
    wait_process(r"sleep 5\.01", timeout=30)
    t0 = time.monotonic()
    reply = local.control_request("kernel_info_request", {}, timeout=5)
    took = time.monotonic() - t0
    check_kernel_info(reply)
    assert took < 1, f"control kernel_info took {took:.2f}s while a cell ran"
    res = cell.result(timeout=30).ok()
    assert res.elapsed >= 4.5, "the cell should still have been running"


def test_heartbeat_answers_while_a_cell_runs(local):
    cell = local.submit("echo started; sleep 3.01")
    wait_process(r"sleep 3\.01", timeout=30)
    assert local.kc.is_alive()
    hb = local.kc.hb_channel
    assert hb.is_beating(), "heartbeat channel stopped while a cell ran"
    cell.result(timeout=30).ok()


def test_comm_info_is_answered_empty(plain):
    reply = plain.shell_request("comm_info_request", {})
    assert reply["msg_type"] == "comm_info_reply"
    assert reply["content"]["status"] == "ok"
    assert reply["content"]["comms"] == {}


def test_unknown_message_type_does_not_crash(plain):
    msg = plain.session.msg("no_such_request", {})
    plain.kc.shell_channel.send(msg)
    time.sleep(0.5)
    assert plain.km.is_alive()
    check_kernel_info(plain.shell_request("kernel_info_request", {}))


def test_shutdown_with_restart_replies_restart_true(plain):
    reply = plain.control_request("shutdown_request", {"restart": True}, timeout=10)
    assert reply["msg_type"] == "shutdown_reply"
    assert reply["content"]["restart"] is True
    assert reply["content"]["status"] == "ok", reply
    deadline = time.monotonic() + 10
    while plain.km.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not plain.km.is_alive(), "kernel still running 10 s after shutdown_request"


def test_shutdown_without_restart(local):
    local.ok("echo logged-in")
    reply = local.control_request("shutdown_request", {"restart": False}, timeout=10)
    assert reply["content"]["restart"] is False
    deadline = time.monotonic() + 10
    while local.km.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not local.km.is_alive()


def test_stop_on_error_aborts_the_next_queued_cell(local):
    local.ok("true")  # log in first, so the timing below is the cell's own
    first = local.submit("sleep 0.5; false", stop_on_error=True)
    second = local.submit("echo second-ran")
    r1 = first.result(timeout=30)
    assert r1.status == "error", r1.describe()
    reply2 = local._shell_reply(second.msg_id, 30)
    assert reply2["content"]["status"] == "aborted", reply2["content"]
    # The aborted cell printed nothing: give it a moment, then look at its IOPub traffic.
    time.sleep(0.5)
    while True:
        before = sum(len(v) for v in local._iopub.values())
        local._pump_iopub(0.3)
        if sum(len(v) for v in local._iopub.values()) == before:
            break
    text = plain_text("".join(m["content"].get("text", "") for m in local._iopub[second.msg_id]))
    assert "second-ran" not in text
    local.ok("echo next-cell-runs")  # aborting ends with the queue: later cells run


def test_a_cell_sent_once_the_failed_cell_replied_runs(local):
    """Only the cells queued before the failed cell's reply are aborted. A client that waits
    for that reply and then sends its next cell (nbclient does, a test does) has it run: in CI
    the kernel once aborted such a cell, its abort loop having run after the reply went out."""
    local.ok("true")
    for i in range(20):
        failed = local.submit("false", stop_on_error=True)
        assert local._shell_reply(failed.msg_id, 30)["content"]["status"] == "error"
        after = local.submit(f"echo after-{i}")
        reply = local._shell_reply(after.msg_id, 30)
        assert reply["content"]["status"] == "ok", (i, reply["content"])


def test_stop_on_error_false_does_not_abort(local):
    local.ok("true")
    first = local.submit("sleep 0.5; false", stop_on_error=False)
    second = local.submit("echo second-ran")
    assert first.result(timeout=30).status == "error"
    r2 = second.result(timeout=30).ok()
    assert "second-ran" in r2.text


def test_silent_cell_broadcasts_nothing_but_status(local):
    res = local.run("echo should-not-show", silent=True).ok()
    assert res.output_msgs == [], res.describe()


def test_execution_count_increments(local):
    a = local.ok("true").reply["execution_count"]
    b = local.ok("true").reply["execution_count"]
    assert b == a + 1


def test_kernel_exits_when_its_parent_dies(tmp_path):
    """A kernel whose parent (the Jupyter server) is SIGKILLed exits by itself."""
    from jupyter_client.connect import write_connection_file

    cf, _ = write_connection_file(str(tmp_path / "conn.json"), key=b"abc")
    launcher = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([{str(BIN)!r}, 'kernel', '--connection-file', {cf!r}],"
        " stdin=subprocess.DEVNULL)\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(1000)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", launcher], stdout=subprocess.PIPE, text=True)
    kernel_pid = None
    try:
        kernel_pid = int(parent.stdout.readline())
        time.sleep(1.5)
        assert _alive(kernel_pid), "kernel exited on its own before the test"
        parent.kill()
        parent.wait(timeout=5)
        deadline = time.monotonic() + 10
        while _alive(kernel_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(kernel_pid), "kernel still running 10 s after its parent died"
    finally:
        parent.kill()
        if kernel_pid:
            _kill(kernel_pid)


# ---- history


HIST = ["echo hist-one", "echo hist-two", "echo hist-three"]


def _with_history(nb):
    for c in HIST:
        nb.ok(c)
    nb.ok("echo not-stored", store_history=False)


def test_history_tail(local):
    _with_history(local)
    tail = local.history(hist_access_type="tail", n=3)
    assert tail["status"] == "ok", tail
    assert [h[2] for h in tail["history"]] == HIST, tail


def test_history_range(local):
    _with_history(local)
    tail = local.history(hist_access_type="tail", n=3)
    session, start = tail["history"][0][0], tail["history"][0][1]
    rng = local.history(hist_access_type="range", session=session, start=start, stop=start + 2)
    assert rng["status"] == "ok", rng
    assert [h[2] for h in rng["history"]] == HIST[:2], rng
    assert [h[1] for h in rng["history"]] == [start, start + 1]


def test_history_search(local):
    _with_history(local)
    found = local.history(hist_access_type="search", pattern="echo hist-t*")
    assert found["status"] == "ok", found
    assert sorted(h[2] for h in found["history"]) == ["echo hist-three", "echo hist-two"], found
    everything = local.history(hist_access_type="search", pattern="*")
    assert "echo not-stored" not in [h[2] for h in everything["history"]]


def test_history_with_output(local):
    local.ok("echo hist-out-marker")
    tail = local.history(hist_access_type="tail", n=1, output=True)
    entry = tail["history"][-1]
    inp, out = entry[2]
    assert inp == "echo hist-out-marker"
    assert out is None or isinstance(out, str)
