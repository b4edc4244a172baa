"""The live terminal in the cell, kernel side (issue 14): a client that opened the
`sshpty.terminal` comm gets, for a full-screen program in a cell it ran, a display standing
for a live terminal; attaching to it sends the screen and modes, then the program's output;
its keys go to the program with no box asked; other sessions watch and cannot type, a later
page of the same tab (a reload) types; keys for a terminal whose cell ended go nowhere.

Driven with jupyter_client, as the JupyterLab extension's messages would arrive
(test_lab_terminal.py drives the extension itself in chromium).
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from queue import Empty

from harness import Deadline, Notebook, wait_process
from ssh_kernel import ssh, ssh_servers  # noqa: F401  (fixtures are used by name)
from ssh_kernel import answering

TARGET = "sshpty.terminal"
MIME = "application/vnd.sshpty.terminal+json"


class Client:
    """A client session of its own on NB's kernel (another tab, a collaborator), or NB's own."""

    def __init__(self, nb: Notebook, own: bool = True):
        self.nb = nb
        if own:
            self.kc = nb.kc
        else:
            self.kc = nb.km.client()
            self.kc.start_channels()
        self.session = self.kc.session


class Comm:
    """A `sshpty.terminal` comm opened by CLIENT with tab token TAB, and what came on it."""

    def __init__(self, client: Client, tab: str):
        self.client = client
        self.id = uuid.uuid4().hex
        self.seen: list[dict] = []
        client.kc.shell_channel.send(client.session.msg(
            "comm_open",
            {"comm_id": self.id, "target_name": TARGET, "data": {"version": 1, "tab": tab}}))

    def send(self, data: dict) -> str:
        msg = self.client.session.msg("comm_msg", {"comm_id": self.id, "data": data})
        self.client.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def _pump(self, timeout: float) -> None:
        kc = self.client.kc
        if kc is self.client.nb.kc:
            nb = self.client.nb
            nb._pump_iopub(timeout)
            for msgs in nb._iopub.values():
                for m in list(msgs):
                    if m["msg_type"] == "comm_msg" and m["content"].get("comm_id") == self.id:
                        msgs.remove(m)
                        self.seen.append(m["content"]["data"])
            return
        try:
            m = kc.get_iopub_msg(timeout=max(timeout, 0.01))
        except Empty:
            return
        if m["msg_type"] == "comm_msg" and m["content"].get("comm_id") == self.id:
            self.seen.append(m["content"]["data"])

    def wait(self, event: str, timeout: float = 15) -> dict:
        d = Deadline(timeout, f"event {event}; seen: {[s.get('event') for s in self.seen]}")
        while True:
            for i, data in enumerate(self.seen):
                if data.get("event") == event:
                    del self.seen[: i + 1]
                    return data
            self._pump(min(d.check(), 0.2))

    def output_until(self, needle: str, timeout: float = 15) -> str:
        """The terminal's output events joined, until NEEDLE is in them."""
        got = ""
        d = Deadline(timeout, f"{needle!r} in the terminal's output")
        while needle not in got:
            got += self.wait("output", timeout=d.check())["data"]
        return got


def terminal_display(nb: Notebook, msg_id: str, timeout: float = 15) -> str:
    """The id of the live terminal the cell MSG_ID's display stands for."""
    d = Deadline(timeout, "a display standing for a live terminal")
    while True:
        for m in nb._iopub[msg_id]:
            if m["msg_type"] in ("display_data", "update_display_data") and MIME in m["content"]["data"]:
                return m["content"]["data"][MIME]["terminal"]
        nb._pump_iopub(min(d.check(), 0.2))


def no_input_requests(nb: Notebook) -> list:
    asked = []
    while True:
        try:
            asked.append(nb.kc.stdin_channel.get_msg(timeout=0.05))
        except Empty:
            return asked


def vim(path: Path) -> str:
    return f"vim -u NONE -i NONE -N {path}"


def test_a_full_screen_program_becomes_a_live_terminal_typed_by_its_session(local, tmp_path):
    comm = Comm(Client(local), tab="tab-a")
    target = tmp_path / "typed.txt"
    cell = local.submit(vim(target), allow_stdin=True)
    term = terminal_display(local, cell.msg_id)
    comm.send({"request": "attach", "terminal": term, "cols": 100, "rows": 30})
    screen = comm.wait("screen")
    assert screen["typing"] is True and screen["terminal"] == term, screen
    assert (screen["cols"], screen["rows"]) == (100, 50), screen
    # The replay puts the page on the alternate screen with vim's modes (the screen as far
    # as vim drew it); vim's empty-line tildes come in it or right after.
    assert "\x1b[?1049h" in screen["data"], screen["data"][:200]
    assert "~" in screen["data"] or "~" in comm.output_until("~")
    comm.send({"request": "keys", "terminal": term, "data": "ihello from the terminal"})
    assert "hello from the terminal" in comm.output_until("terminal")
    comm.send({"request": "keys", "terminal": term, "data": "\x1b:wq\r"})
    res = cell.result(30)
    res.ok()
    assert target.read_text() == "hello from the terminal\n"
    assert comm.wait("ended")["terminal"] == term
    assert not no_input_requests(local), "a box was asked for while the terminal ran"
    # The saved notebook keeps the screen as text: the display's last state has no terminal.
    last = [m for m in local._iopub[cell.msg_id]
            if m["msg_type"] in ("display_data", "update_display_data")
            and m["content"]["transient"].get("display_id", "").startswith("sshpty-live-")][-1]
    assert MIME not in last["content"]["data"] and "text/plain" in last["content"]["data"], last


def test_another_session_watches_and_a_reload_of_the_same_tab_types(local, tmp_path):
    Comm(Client(local), tab="tab-a")
    other = Client(local, own=False)
    reload = Client(local, own=False)
    try:
        target = tmp_path / "shared.txt"
        cell = local.submit(vim(target), allow_stdin=True)
        term = terminal_display(local, cell.msg_id)
        watcher = Comm(other, tab="tab-b")
        watcher.send({"request": "attach", "terminal": term, "cols": 80, "rows": 24})
        assert watcher.wait("screen")["typing"] is False
        watcher.send({"request": "keys", "terminal": term, "data": "iwatcher typed\x1b:wq\r"})
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            local._pump_iopub(0.2)
        assert not cell._done(), "a watching session's keys reached the program"
        # The same tab, reloaded: a new session, the same tab token.
        again = Comm(reload, tab="tab-a")
        again.send({"request": "attach", "terminal": term, "cols": 80, "rows": 24})
        assert again.wait("screen")["typing"] is True
        again.send({"request": "keys", "terminal": term, "data": "ifrom the reloaded page\x1b:wq\r"})
        # The watcher sees the program's output as it comes.
        assert "reloaded page" in watcher.output_until("reloaded page")
        cell.result(30).ok()
        assert target.read_text() == "from the reloaded page\n"
    finally:
        other.kc.stop_channels()
        reload.kc.stop_channels()


def test_keys_for_a_terminal_whose_cell_ended_go_nowhere(local, tmp_path):
    comm = Comm(Client(local), tab="tab-a")
    cell = local.submit(vim(tmp_path / "x.txt"), allow_stdin=True)
    term = terminal_display(local, cell.msg_id)
    comm.send({"request": "attach", "terminal": term, "cols": 80, "rows": 24})
    comm.wait("screen")
    comm.send({"request": "keys", "terminal": term, "data": ":q!\r"})
    cell.result(30).ok()
    comm.send({"request": "keys", "terminal": term, "data": "echo leaked\r"})
    comm.send({"request": "attach", "terminal": term, "cols": 80, "rows": 24})
    assert comm.wait("ended")["terminal"] == term  # an attach to it is told it ended
    res = local.ok("read -t 1 line; echo \"[${line:-}]\"", allow_stdin=True)
    assert res.lines[-1] == "[]", res.describe()


def test_the_owner_resizes_the_pty_and_the_program_sees_it(local, tmp_path):
    comm = Comm(Client(local), tab="tab-a")
    out = tmp_path / "cols"
    code = (f"printf '\\033[?1049h'; read -r _; tput cols > {out}; tput lines >> {out}; "
            "printf '\\033[?1049l'")
    cell = local.submit(code, allow_stdin=True)
    term = terminal_display(local, cell.msg_id)
    comm.send({"request": "attach", "terminal": term, "cols": 123, "rows": 7})
    screen = comm.wait("screen")
    # The page's width gives the cols; the rows stay the PTY's until a resize asks.
    assert (screen["cols"], screen["rows"]) == (123, 50), screen
    comm.send({"request": "resize", "terminal": term, "cols": 97, "rows": 31})
    assert (comm.wait("size")["cols"]) == 97
    comm.send({"request": "keys", "terminal": term, "data": "\r"})
    cell.result(30).ok()
    assert out.read_text().split() == ["97", "31"]


def test_a_client_without_the_comm_gets_the_keys_box_as_before(local):
    # No comm opened (nbclient with stdin, a JupyterLab without the extension): a full-screen
    # program shows its screen as a display and takes keys through the box, as before.
    code = "printf '\\033[?1049hpress a key'; read -rsn1 k; printf '\\033[?1049l'; echo \"got [$k]\""
    a = answering(local, code, [(r"^keys for the program above", "x")])
    assert a.result.ok().lines[-1] == "got [x]", a.result.describe()
    assert len(a.asked) == 1
    assert not any(MIME in m["content"].get("data", {}) for m in a.result.outputs
                   if m["msg_type"] in ("display_data", "update_display_data"))


def start_shell(nb: Notebook, comm: Comm):
    """A `%shell` cell, attached: (the cell, its terminal id)."""
    cell = nb.submit("%shell", allow_stdin=True)
    term = terminal_display(nb, cell.msg_id)
    comm.send({"request": "attach", "terminal": term, "cols": 100, "rows": 30})
    assert comm.wait("screen")["typing"] is True
    return cell, term


def test_the_shell_magic_is_a_shell_whose_context_carries_after_exit(local, tmp_path):
    home = Path(local.ok("echo $HOME").lines[-1])
    history = home / ".bash_history"
    before = history.read_bytes() if history.exists() else None
    comm = Comm(Client(local), tab="tab-a")
    cell, term = start_shell(local, comm)
    sent = []
    keys = lambda s: sent.append(comm.send({"request": "keys", "terminal": term, "data": s}))  # noqa: E731
    keys(f"cd {tmp_path}; carried=42; greet() {{ echo \"hi $1\"; }}\r")
    keys("for i in 1 2\r")  # a command over several lines is read on until whole
    keys("do echo \"n$i\"; done\r")
    assert "n2" in comm.output_until("n2")
    # While the terminal shows it, the session's text is held (the page would only draw a
    # copy hidden under the terminal), and a key costs no status messages.
    local._pump_iopub(0.3)
    assert not [m for m in local._iopub[cell.msg_id] if m["msg_type"] == "stream"]
    key_status = [m for k in sent for m in local._iopub[k] if m["msg_type"] == "status"]
    assert not key_status, key_status[:2]
    keys("sleep 301\r")
    # Ctrl-C once sleep runs: one that lands while bash starts the job can miss it (bash's
    # own race, in any terminal).
    wait_process(r"^sleep 301$")
    keys("\x03")  # Ctrl-C stops the command, not the shell
    keys("echo still-here\r")
    assert "still-here" in comm.output_until("still-here")
    keys("exit\r")
    res = cell.result(30)
    res.ok()
    assert comm.wait("ended")["terminal"] == term
    assert not no_input_requests(local)
    # The session is the cell's transcript; the context carries to the next cells.
    assert "n1\nn2\n" in res.text, res.describe()
    assert local.ok('pwd; echo "$carried"; greet you').lines == [str(tmp_path), "42", "hi you"]
    after = history.read_bytes() if history.exists() else None
    assert after == before, "the session wrote to ~/.bash_history"
    assert "sleep 301" not in local.ok("history 5 2>/dev/null || true").text


def test_the_shell_magic_needs_a_live_terminal_and_runs_alone(local):
    res = local.run("%shell", allow_stdin=True)  # no comm: no terminal
    assert res.errors[0]["ename"] == "NeedsTerminal", res.describe()
    res = local.run("%shell")  # headless
    assert res.errors[0]["ename"] == "NeedsTerminal", res.describe()
    Comm(Client(local), tab="tab-a")
    res = local.run("%shell\necho after", allow_stdin=True)
    assert res.errors[0]["ename"] == "MagicUsage", res.describe()


def test_sudo_in_the_terminal_is_answered_there_with_no_box(ssh):
    nb = ssh.login("h1-ops")
    comm = Comm(Client(nb), tab="tab-a")
    cell, term = start_shell(nb, comm)
    keys = lambda s: comm.send({"request": "keys", "terminal": term, "data": s})  # noqa: E731
    keys("sudo -k; sudo whoami\r")
    seen = comm.output_until("password for")
    assert "[sudo] password for sshpty-ops:" in seen and "[sshpty:" not in seen, seen
    keys(ssh.lab.password + "\r")
    seen = comm.output_until("root")
    assert ssh.lab.password not in seen
    # The next prompt first: keys typed while sudo (use_pty) still relays the terminal go
    # to the command's own terminal and are lost with it, in any terminal.
    if not re.search(r"root\r?\n.*\$ ", seen):
        comm.output_until("$ ")
    keys("exit\r")
    res = cell.result(30)
    res.ok()
    assert not no_input_requests(nb), "a box was asked for while the terminal ran"
    assert ssh.lab.password not in str(nb._iopub)


def test_the_stop_button_ends_a_shell_session_keeping_its_context(local):
    comm = Comm(Client(local), tab="tab-a")
    cell, term = start_shell(local, comm)
    comm.send({"request": "keys", "terminal": term, "data": "cd /tmp; kept=yes; sleep 300\r"})
    # The stop once sleep runs. Keys and the stop come on different channels: under load a
    # stop sent 0.5 s after the keys reached the terminal first (CI, twice), or as bash
    # started the job, which a Ctrl-C then misses (bash's own race, in any terminal).
    wait_process(r"^sleep 300$")
    local.interrupt()  # while sleep runs: Ctrl-C stops it, Ctrl-D ends the session
    res = cell.result(15)
    assert res.errors and res.errors[0]["ename"] == "Interrupted", res.describe()
    assert local.ok('pwd; echo "$kept"').lines == ["/tmp", "yes"]
    # The session's sleep gets its signal with the session's end; it may take a moment to go.
    left = local.ok("pgrep -f 'sleep 300' || true").lines
    end = time.monotonic() + 5
    while left and time.monotonic() < end:
        time.sleep(0.2)
        left = local.ok("pgrep -f 'sleep 300' || true").lines
    assert not left, f"sleep 300 still runs 5 s after the stop: {left}"
