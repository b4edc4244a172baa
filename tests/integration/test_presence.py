"""The host in sight, kernel side (issue 13, items 2 and 3): the `sshpty.host` comm a frontend
opens tells it where the kernel is (user@host, connection state, mark) at once and again on
every change, with no cell run and no polling by the frontend; the user's marks file marks
hosts in every header (text and colour, escaped) and a notebook's `%mark` cannot relabel them.

Driven with jupyter_client, as the JupyterLab extension's messages would arrive (test_lab_host.py
drives the extension itself in a browser).
"""

from __future__ import annotations

import re
import signal
import time
import uuid

from harness import Deadline, Notebook
from ssh_kernel import (  # noqa: F401  (fixtures are used by name)
    ALIVE_COUNT,
    ALIVE_INTERVAL,
    LOSS_BOUND,
    Stopped,
    connection_pids,
    kill_pids,
    no_questions,
    ssh,
    ssh_servers,
)

TARGET = "sshpty.host"


class Comm:
    """One comm a test opened on a kernel, and what the kernel sent on it."""

    def __init__(self, nb: Notebook, target: str = TARGET):
        self.nb = nb
        self.id = uuid.uuid4().hex
        self.seen: list[dict] = []
        msg = nb.session.msg("comm_open", {"comm_id": self.id, "target_name": target, "data": {}})
        nb.kc.shell_channel.send(msg)
        self.open_id = msg["header"]["msg_id"]

    def _pump(self, timeout: float) -> None:
        self.nb._pump_iopub(timeout)
        for msgs in self.nb._iopub.values():
            for m in list(msgs):
                if m["msg_type"] in ("comm_msg", "comm_close") and \
                        m["content"].get("comm_id") == self.id:
                    msgs.remove(m)
                    self.seen.append(m)

    def wait(self, predicate, timeout: float, what: str) -> dict:
        """The first message (oldest first, consumed) whose data satisfies PREDICATE."""
        d = Deadline(timeout, f"{what}; seen: {[m['content'].get('data') for m in self.seen]}")
        while True:
            for i, m in enumerate(self.seen):
                if m["msg_type"] == "comm_msg" and predicate(m["content"]["data"]):
                    del self.seen[: i + 1]
                    return m["content"]["data"]
            self._pump(min(d.check(), 0.3))

    def state(self, state: str, timeout: float = 10) -> dict:
        return self.wait(lambda d: d.get("state") == state, timeout, f"state {state}")

    def send(self, data: dict) -> None:
        self.nb.kc.shell_channel.send(
            self.nb.session.msg("comm_msg", {"comm_id": self.id, "data": data}))

    def quiet_for(self, seconds: float) -> list[dict]:
        """What arrives on this comm in SECONDS (to show nothing is sent without a change)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._pump(0.2)
        got, self.seen = self.seen, []
        return got


def test_a_frontend_is_told_at_once_and_at_each_change_of_a_local_kernel(notebook):
    nb = notebook("sshpty-test-plain")
    comm = Comm(nb)
    first = comm.state("not-logged-in", timeout=5)
    assert first["version"] == 1 and first["label"] == "not logged in" and first["mark"] is None
    info = nb.shell_request("comm_info_request", {"target_name": TARGET})
    assert comm.id in info["content"]["comms"], info["content"]
    assert info["content"]["comms"][comm.id]["target_name"] == TARGET
    # Nothing changes, nothing is sent: no polling traffic against the server's rate budget.
    assert comm.quiet_for(1.5) == [], "messages without a change"

    nb.ok("%login local")
    now = comm.state("connected", timeout=15)
    assert now["target"] == "local" and now["user"] and now["host"], now
    assert now["label"].startswith(f"{now['user']}@{now['host']}"), now
    # Asked again, it answers again with the same.
    comm.send({"request": "presence"})
    assert comm.wait(lambda d: True, 5, "an answer to request presence") == now
    nb.ok("%logout")
    comm.state("not-logged-in")


def test_a_comm_for_another_target_is_closed_and_nonsense_is_ignored(notebook):
    nb = notebook("sshpty-test-plain")
    other = Comm(nb, target="jupyter.widget")
    d = Deadline(5, "comm_close for a target the kernel does not serve")
    while not any(m["msg_type"] == "comm_close" for m in other.seen):
        other._pump(min(d.check(), 0.3))
    ours = Comm(nb)
    ours.state("not-logged-in")
    for data in ({"request": 1}, {"request": "x" * 100_000}, {"nonsense": [None]}):
        ours.send(data)
    # A comm_msg for a comm never opened, and one after close.
    stray = Comm.__new__(Comm)
    stray.nb, stray.id, stray.seen = nb, "never-opened", []
    stray.send({"request": "presence"})
    assert ours.quiet_for(1.0) == [], "answered nonsense"
    nb.kc.shell_channel.send(nb.session.msg("comm_close", {"comm_id": ours.id, "data": {}}))
    info = nb.shell_request("comm_info_request", {})
    assert info["content"]["comms"] == {}, info["content"]
    # The kernel carries on.
    assert nb.ok("%status").text.startswith("target: none")


def marks_env(ssh, tmp_path, text: str) -> dict:
    marks = tmp_path / "marks"
    marks.write_text(text)
    return {**ssh.env(), "SSHPTY_MARKS": str(marks)}


def test_a_lost_connection_shows_without_a_cell_and_a_relogin_brings_it_back(ssh, tmp_path):
    nb = ssh.kernel()
    comm = Comm(nb)
    comm.state("not-logged-in")
    ssh.login("h1-ops", nb)
    up = comm.state("connected", timeout=15)
    assert up["target"] == "h1-ops" and up["user"] == "sshpty-ops", up
    assert up["label"] == "sshpty-ops@127.0.0.1 (h1-ops)", up

    # A silent peer: no cell runs; keepalives go unanswered; the frontend is told.
    stopped = Stopped(connection_pids(ssh.h1))
    try:
        kill_pids(stopped.pids, signal.SIGSTOP)
        t0 = time.monotonic()
        comm.state("lost", timeout=LOSS_BOUND + 5)
        took = time.monotonic() - t0
        assert took <= LOSS_BOUND, f"lost shown after {took:.1f} s (bound {LOSS_BOUND} s)"
        assert took >= ALIVE_INTERVAL, f"lost after {took:.1f} s: before any keepalive missed?"
        cell = nb.submit("%login h1-ops")
        comm.state("reconnecting", timeout=10)
        res = cell.result(30)
        assert res.status == "ok", res.describe()
        comm.state("connected", timeout=10)
    finally:
        stopped.resume()
    # A killed connection too.
    kill_pids(connection_pids(ssh.h1, want=1)[-1:])
    comm.state("lost", timeout=LOSS_BOUND)


def test_a_marked_host_is_marked_in_every_header_and_the_comm(ssh, tmp_path):
    env = marks_env(ssh, tmp_path, "h1-* production red  # ours\n")
    nb = ssh._make("sshpty-test-plain", env=env, real_home=True)
    comm = Comm(nb)
    assert no_questions(nb, "%login h1-ops").status == "ok"
    up = comm.state("connected", timeout=15)
    assert up["mark"] == {"name": "production", "colour": "red", "css": "#c62828"}, up
    res = nb.ok("echo hi")
    header = res.displays[0]["content"]
    plain = header["data"]["text/plain"]
    assert plain.startswith("[production] sshpty-ops@127.0.0.1:"), plain
    page = header["data"]["text/html"]
    assert "#c62828" in page and ">production</span>" in page, page
    assert header["metadata"]["sshpty"]["mark"] == {"name": "production", "colour": "red"}

    assert "\nmark: production (red, from your marks file)\n" in nb.ok("%status").text
    assert re.search(r"^\* h1-ops \[production\]: sshpty-ops@", nb.ok("%hosts").text, re.M)

    # The notebook tries to relabel it: the file wins, and the user is told.
    res = nb.ok("%mark h1-* staging green\necho again")
    assert "your marks file marks h1-ops (production) otherwise" in res.stream, res.describe()
    assert res.displays[0]["content"]["data"]["text/plain"].startswith("[production] "), \
        res.describe()
    # Nothing changed, so nothing is sent; asked, the kernel still says production.
    assert comm.quiet_for(1.0) == [], "the comm was told of a change that did not happen"
    comm.send({"request": "presence"})
    assert comm.wait(lambda d: True, 5, "presence")["mark"]["name"] == "production"

    # A host name with HTML in it is refused at %login, as OpenSSH's ssh refuses it; what can
    # carry HTML (a mark from the file, a directory) is shown as text.
    res = nb.run("%login '<b>evil</b>'")
    assert res.status == "error" and "contains characters no host name has" in res.error_text
    (tmp_path / "marks").write_text("h1-* <img/src=x/onerror=alert(1)> purple\n")
    res = nb.ok("mkdir -p '/tmp/<b>dir</b>' && cd '/tmp/<b>dir</b>' && echo x")
    page = res.displays[0]["content"]["data"]["text/html"]
    assert "<img" not in page and "&lt;img/src=x/onerror=alert(1)&gt;</span>" in page, page
    res = nb.ok("echo y")
    page = res.displays[0]["content"]["data"]["text/html"]
    assert "<b>" not in page and "/tmp/&lt;b&gt;dir&lt;/b&gt;" in page, page
    now = comm.state("connected", timeout=5)
    assert now["mark"] == {"name": "<img/src=x/onerror=alert(1)>", "colour": "purple",
                           "css": "#6a1b9a"}, now
