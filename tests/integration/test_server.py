"""Through a real jupyter_server with its default settings, as JupyterLab and Notebook users run
the kernel (issue 4, "What it must show": a 50 MB cell produces no "IOPub data rate exceeded" and
the full output file matches; issue 11, item 9: the server's execution state stays busy while a
cell runs, whatever else is asked meanwhile). See server_harness.py.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from harness import LOCAL, PLAIN, Deadline, plain_text
from server_harness import JupyterServer
from ssh_kernel import FAST, ssh_servers  # noqa: F401  (a fixture, used by name)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with JupyterServer(tmp_path_factory.mktemp("jupyter-server"), name="jupyter-server") as s:
        yield s


@pytest.fixture
def kernel(server):
    k = server.start_kernel(LOCAL)
    k.run("true")  # the login at the first cell may print a line; each test sees its own cells
    yield k
    k.close()


def test_simple_cell(kernel):
    res = kernel.run("echo hello; echo world").ok()
    assert res.text == "hello\nworld\n", res.describe()
    assert not res.rate_exceeded


def test_password_login_answered_through_the_websocket(ssh_servers, tmp_path):
    """The stdin channel through jupyter_server: `%login` to a host that takes only a password
    asks with a password input_request, answered over the websocket; the password never comes
    back on any message."""
    lab, h1, _ = ssh_servers
    cfg = lab.ssh_config_for(tmp_path / "home", [h1], options=dict(FAST))
    with JupyterServer(tmp_path / "server", env=cfg.env(agent=False), real_home=True,
                       name="jupyter-server-ssh") as server:
        k = server.start_kernel(PLAIN)
        res = k.run("%login h1-ops-pw",
                    answer=lambda prompt, pw: lab.password if pw and "assword" in prompt else None,
                    timeout=40).ok()
        assert len(res.asked) == 1 and res.asked[0][1], res.asked
        assert re.search(r"^logged in to h1-ops-pw as sshpty-ops@", res.text, re.M), res.describe()
        assert k.run("whoami").ok().lines == ["sshpty-ops"]
        everything = json.dumps([m for msgs in k.by_parent.values() for m in msgs])
        assert lab.password not in everything, "the password came back on a message"


def test_read_prompt_answered_through_the_websocket(kernel):
    res = kernel.run("read -p 'name? ' name; echo \"hello $name\"",
                     answer=lambda prompt, pw: "bars" if prompt.startswith("name?") and not pw else None,
                     timeout=20).ok()
    # The prompt line, trimmed: JupyterLab puts its own space between prompt and answer.
    assert [p for p, _ in res.asked] == ["name?"], res.asked
    assert "hello bars" in res.lines, res.describe()
    # JupyterLab writes "name? bars" itself after Enter: the cell must not show the line too.
    assert not any("name?" in line for line in res.lines), res.describe()


# 500 000 numbered lines of 100 bytes: 50 MB, each line says which it is, so a loss is visible.
LINES = 500_000
PAD = "y" * 90
BIG_CELL = f"seq 1 {LINES} | awk '{{printf \"%08d {PAD}\\n\", $1}}'"
LINE = re.compile(r"^(\d{8}) (.*)$")


def numbered_lines(text: str, where: str) -> tuple[set[int], list[str]]:
    """The line numbers found in TEXT and the numbered lines that are not what was printed."""
    seen, bad = set(), []
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        if m.group(2) != PAD:
            bad.append(f"{where}: {line[:120]!r}")
        seen.add(int(m.group(1)))
    return seen, bad


def saved_output_files(text: str, since: float) -> list[Path]:
    """Absolute paths named in TEXT that are files written since SINCE: where the kernel says
    it saved the complete output."""
    found = []
    for p in sorted(set(re.findall(r"(/[\w.@%+=:,~-]+(?:/[\w.@%+=:,~-]+)+)", text))):
        path = Path(p)
        try:
            if path.is_file() and path.stat().st_mtime >= since - 1:
                found.append(path)
        except OSError:
            continue
    return found


@pytest.mark.timeout(420)
def test_50mb_cell_no_rate_exceeded_and_nothing_lost(kernel, figures):
    since = time.time()
    res = kernel.run(BIG_CELL, timeout=360).ok()
    peak_bytes, peak_msgs = res.window_peaks()
    figures(f"50 MB cell through jupyter_server: {res.elapsed:.1f} s, {len(res.outputs)} IOPub "
            f"messages, at most {peak_bytes} stream bytes / {peak_msgs} messages within 3 s "
            f"(server limits 3000000 / 3000)")
    text = res.notebook_text
    in_cell, bad = numbered_lines(text, "cell")
    assert not res.rate_exceeded, (
        f"jupyter_server dropped output {len(res.rate_exceeded)} times (default limits; "
        f"{len(in_cell)} of {LINES} lines reached the cell in {res.elapsed:.1f} s, "
        f"{len(res.streams)} stream messages; at most {peak_bytes} stream bytes and "
        f"{peak_msgs} messages arrived within 3 s):\n{res.rate_exceeded[0]}")
    files = saved_output_files(text, since)
    in_files: set[int] = set()
    try:
        for f in files:
            seen, bad_in_file = numbered_lines(f.read_text(errors="replace"), str(f))
            in_files |= seen
            bad += bad_in_file
    finally:
        for f in files:
            f.unlink(missing_ok=True)  # 50 MB each: not left on the machine
    assert not bad, "lines that are not what the program printed:\n" + "\n".join(bad[:20])
    missing = set(range(1, LINES + 1)) - in_cell - in_files
    assert not missing, (
        f"{len(missing)} of {LINES} lines neither in the cell ({len(in_cell)} there) nor in a "
        f"saved file named in it ({[str(f) for f in files]}, {len(in_files)} lines); first "
        f"missing: {sorted(missing)[:5]}; cell text head: {text[:600]!r}")
    if len(in_cell) < LINES:
        # Above the output limit: the complete output is in the file the cell names.
        assert files and in_files == set(range(1, LINES + 1)), (
            f"the cell holds {len(in_cell)} lines and names no complete output file: "
            f"{[str(f) for f in files]}")


def status_since(kernel, msg_id: str) -> list[tuple[str, str]]:
    """(parent msg_type, state) of every IOPub status from MSG_ID's first on, as received."""
    status = sorted((m for ms in kernel.by_parent.values() for m in ms
                     if m["msg_type"] == "status"), key=lambda m: m["_received"])
    first = next(i for i, m in enumerate(status) if m["parent_header"].get("msg_id") == msg_id)
    return [(m["parent_header"].get("msg_type"), m["content"]["execution_state"])
            for m in status[first:]]


def test_a_completion_while_a_cell_runs_leaves_the_kernel_busy(kernel, tmp_path):
    """jupyter_server takes the kernel's execution state (GET /api/kernels/<id>, what
    JupyterLab shows and culling reads) from the IOPub status messages it sees, whatever request
    they answer (but kernel_info, comm_info, interrupt, shutdown, debug: its
    untracked_message_types): a completion, an inspection or an is_complete answered while a
    cell runs must not make it say idle. The cell runs until the test lets it end, so no timing
    decides anything; after each reply the state is read five times over a second, while the
    cell still runs."""
    go = tmp_path / "go"
    # allow_stdin, as JupyterLab sends it: 'started' shows at once in the live view.
    cell = kernel.submit(f"echo started; while [ ! -e {go} ]; do sleep 0.1; done; echo finished",
                         allow_stdin=True)
    msgs = kernel.by_parent[cell]

    def cell_text() -> str:
        return plain_text("".join(m["content"]["text"] if m["msg_type"] == "stream"
                                  else m["content"].get("data", {}).get("text/plain", "")
                                  for m in msgs if m["msg_type"] in ("stream", "update_display_data",
                                                                     "display_data")))

    def cell_done() -> bool:
        return any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                   for m in msgs)

    d = Deadline(30, "the cell to print 'started'")
    while "started" not in cell_text():
        assert not cell_done(), f"the cell ended early: {cell_text()!r}"
        kernel.pump(min(d.check(cell_text), 0.2))
    d = Deadline(10, "the server to say the running cell's kernel is busy")
    while kernel.execution_state() != "busy":
        kernel.pump(min(d.check(kernel.server.log_tail), 0.2))

    requests = [("complete_request", {"code": "ech", "cursor_pos": 3}),
                ("complete_request", {"code": "cat /et", "cursor_pos": 7}),
                ("inspect_request", {"code": "echo", "cursor_pos": 4, "detail_level": 0}),
                ("is_complete_request", {"code": "if true; then"}),
                ("complete_request", {"code": "ech", "cursor_pos": 3})]
    seen: list[str] = []
    for msg_type, content in requests:
        reply = kernel.request(msg_type, content, timeout=20)
        want = "incomplete" if msg_type == "is_complete_request" else "ok"
        assert reply["content"]["status"] == want, reply
        if msg_type == "complete_request" and content["code"] == "ech":
            assert "echo" in reply["content"]["matches"], reply
        states = []
        for _ in range(5):
            kernel.pump(0.2)  # whatever the kernel published for the request is in by now
            states.append(kernel.execution_state())
        seen.append(f"after the {msg_type} reply: {states}")
        assert not cell_done(), "the cell ended before the test let it"
        assert states == ["busy"] * 5, (
            "jupyter_server says the kernel is not busy while a cell runs:\n  " + "\n  ".join(seen)
            + "\nIOPub status messages since the cell's, in order (parent type: state): "
            + str(status_since(kernel, cell)))

    go.write_text("")
    d = Deadline(30, "the end of the cell")
    while not cell_done():
        kernel.pump(min(d.check(cell_text), 0.2))
    assert cell_text().splitlines()[-1] == "finished", cell_text()
    d = Deadline(10, "the server to say the kernel is idle after the cell")
    while (state := kernel.execution_state()) != "idle":
        kernel.pump(min(d.check(lambda: f"execution_state {state!r}"), 0.2))
