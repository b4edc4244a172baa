"""Cells back to back (Run All, nbclient) run in one shell that stays between them (issue 12,
part 2; README "A cell's shell"): after its capture, a cell's shell waits for the next cell on
the same host, which then needs no new process, channel or restore. What it must keep from
before: a shell that left a job in the background, set a trap, lost its terminal, was stopped
or ran its hundredth cell ends as every cell's shell did, and the next cell gets a new one.
On both targets (targets.py).
"""

from __future__ import annotations

import re
import signal
import time
import uuid

from targets import (  # noqa: F401  (fixtures are used by name)
    interrupted,
    nb,
    ssh,
    ssh_kernelspec,
    ssh_servers,
    target,
)
from ssh_kernel import sleeping


def shell_pid(nb) -> str:
    text = nb.ok("echo pid=$$").text
    m = re.search(r"pid=(\d+)", text)
    assert m, text
    return m.group(1)


def test_the_next_cell_runs_in_the_same_shell_with_its_state(nb):
    first = nb.ok("x=1; cd /tmp; echo pid=$$").text
    pid = re.search(r"pid=(\d+)", first).group(1)
    # The state the cell left is there without a restore, and so is what no restore brings
    # back (a plain shell variable the context keeps anyway, and `cd -`).
    res = nb.ok('echo "$$ $x $PWD"; cd / && cd - >/dev/null && pwd')
    assert res.lines == [f"{pid} 1 /tmp", "/tmp"], res.describe()
    assert shell_pid(nb) == pid


def modes(nb) -> tuple[str, set[str]]:
    """The shell's pid and the terminal's local modes as `stty -a` lists them."""
    text = nb.ok('echo "pid=$$"; stty -a').text
    pid = re.search(r"pid=(\d+)", text).group(1)
    return pid, set(re.findall(r"-?\b(?:icanon|echo|isig|iexten|opost)\b", text))


def test_the_terminals_modes_are_set_back_only_after_a_cell_that_may_have_changed_them(nb):
    """A shell that stays keeps the terminal's modes, as a terminal does, unless its cell
    showed a program taking the terminal (here the alternate screen), was given input, or
    may run `stty`: then the next cell starts with a new terminal's modes (`stty sane`).
    The cells hide `stty` from their text, so only what the kernel saw can tell."""
    pid, sane = modes(nb)
    assert {"icanon", "echo", "isig", "iexten", "opost"} <= sane, sane
    # Nothing shown, nothing typed: the change stays, as in a terminal.
    nb.ok("c=st; ${c}ty -iexten")
    now_pid, now = modes(nb)
    assert now_pid == pid and "-iexten" in now, now
    # (That cell said `stty`: set back before the next.)
    assert "iexten" in modes(nb)[1]
    # A full-screen program that dies in raw mode: set back.
    nb.ok(r"printf '\e[?1049h'; c=st; ${c}ty raw -echo; printf '\e[?1049l'")
    now_pid, now = modes(nb)
    assert now_pid == pid, "the shell did not stay"
    assert {"icanon", "echo", "isig", "iexten", "opost"} <= now, now
    assert nb.ok("echo a; echo b").lines == ["a", "b"]


def test_a_waiting_shell_gets_the_definitions_a_cell_in_another_shell_changed(nb):
    """A shell that stays is not sent the context's functions and aliases again: it holds
    them. Definitions changed in another shell reach the next cell: a cell too large for the
    waiting shell (over 4 KiB) runs in a shell of its own and redefines a function and an
    alias. And the display helpers come back in the next cell after a cell removed one."""
    pid = shell_pid(nb)
    nb.ok("f() { echo one; }; alias g='echo g-one'")
    assert nb.ok("f; g").lines == ["one", "g-one"]
    assert shell_pid(nb) == pid
    pad = "# " + "x" * 4200 + "\n"
    nb.ok(f"{pad}f() {{ echo two; }}; alias g='echo g-two'")
    assert nb.ok("f; g").lines == ["two", "g-two"]
    nb.ok("unset -f display")
    assert nb.ok("type -t display").lines == ["function"]


def test_a_job_left_in_the_background_ends_with_its_shell(target):
    nb = target.nb
    before = shell_pid(nb)
    nb.ok("sleep 1471 &")
    after = shell_pid(nb)
    assert after != before
    # Hung up with its shell, as when a terminal closes.
    assert not target.wait_gone(sleeping(1471), 10), "the job outlived its cell's shell"


def test_an_exit_trap_runs_at_the_end_of_its_cell(nb):
    before = shell_pid(nb)
    res = nb.ok("trap 'echo bye-from-trap' EXIT; echo hi")
    assert "hi" in res.lines and "bye-from-trap" in res.text, res.describe()
    assert shell_pid(nb) != before


def test_a_shell_whose_output_went_elsewhere_ends_and_the_kernel_goes_on(nb):
    """`exec >/dev/null`: the shell cannot be seen to stay, so it does not; the cell ends as
    it always has (when the shell exits), and the next cell has a shell of its own."""
    before = shell_pid(nb)
    res = nb.run("exec >/dev/null; echo gone", timeout=30)
    assert "gone" not in res.text
    assert shell_pid(nb) != before


def test_an_interrupted_cell_leaves_no_shell_behind(target):
    nb = target.nb
    before = shell_pid(nb)
    interrupted(target, nb, "echo started; sleep 1472", sleeping(1472), limit=5)
    assert shell_pid(nb) != before


def test_one_shell_runs_a_hundred_cells_at_most(local):
    pids = [shell_pid(local) for _ in range(230)]
    runs: list[int] = []
    for i, p in enumerate(pids):
        if i and p == pids[i - 1]:
            runs[-1] += 1
        else:
            runs.append(1)
    # The chain is cut at 100 cells (its evals nest), and a new shell takes over.
    assert max(runs) <= 100, runs
    assert len(runs) <= 5 and max(runs) >= 90, runs


def test_the_logins_own_session_runs_the_first_cells(ssh):
    """The session that read the login environment stays as the first cell's shell (its
    context restored there), and that shell as the next cells': a login and three cells
    cost the host one terminal session, which sshd logs (LogLevel VERBOSE)."""
    sshd = ssh.lab.start_sshd(name=f"one-{uuid.uuid4().hex[:8]}")
    try:
        ssh.add_host("one", sshd, "sshpty-ops")
        nb = ssh.login("one")
        first = nb.ok('x=1; cd /tmp; echo "pid=$$ $(alias ls)"; grep SigIgn /proc/self/status; '
                      'echo "n=${n-unset} l=${__sshpty_l-unset}"').text
        # The bootstraps' own variables (the login's line, a length) are not the cell's.
        assert "n=unset l=unset" in first, first
        # What the login read (Debian's ~/.bashrc alias) is there, as in a shell of its own,
        # and nothing of the interactive login shell it was: SIGQUIT is not ignored.
        assert "alias ls='ls --color=auto'" in first, first
        ignored = int(re.search(r"SigIgn:\s*([0-9a-f]+)", first).group(1), 16)
        assert not ignored & (1 << (signal.SIGQUIT - 1)), first
        pid = re.search(r"pid=(\d+)", first).group(1)
        assert nb.ok('echo "$$ $x $PWD"').lines == [f"{pid} 1 /tmp"]
        assert shell_pid(nb) == pid
        sessions = [line for line in sshd.log().splitlines()
                    if "Starting session:" in line and " on pts/" in line]
        assert len(sessions) == 1, sessions
    finally:
        sshd.stop()


def test_one_connection_stays_within_five_sessions(ssh):
    """The README's budget of sessions per connection: an sshd with `MaxSessions 5` serves
    cells back to back, completion, a transfer, and cells too large for the waiting shell
    (a second shell beside it) that are stopped while they ignore Ctrl-C and the hang-up (a
    look at /proc, then a kill, each on a channel of its own); repeated, so a session left
    open would show."""
    sshd = ssh.lab.start_sshd(name=f"budget-{uuid.uuid4().hex[:8]}", MaxSessions=5)
    try:
        ssh.add_host("budget", sshd, "sshpty-ops")
        nb = ssh.login("budget")
        pad = "# " + "x" * 4200 + "\n"  # over 4 KiB: the cell starts a shell of its own
        for round_ in range(3):
            for i in range(5):
                assert nb.ok(f"echo b2b-{round_}-{i}").lines == [f"b2b-{round_}-{i}"]
            assert "echo" in nb.complete("ech")["matches"]
            nb.ok(f"%upload {__file__} /tmp/budget-{round_}.py")
            assert nb.ok(f"echo {round_}; cat /tmp/budget-{round_}.py | wc -l").lines[0] == \
                str(round_)
            n = 1480 + round_
            cell = nb.submit(f"{pad}bash -c \"trap '' INT HUP; sleep {n}\"")
            end = time.monotonic() + 30
            while not ssh.remote_processes("budget", sleeping(n)):
                assert time.monotonic() < end, "the cell's sleep did not start"
                time.sleep(0.1)
            assert "echo" in nb.complete("ech")["matches"]
            nb.interrupt()
            res = cell.result(30)
            assert res.status == "error", res.describe()
            assert not ssh.wait_remote_gone("budget", sleeping(n), 10)
        assert nb.ok("echo still-serving").lines == ["still-serving"]
        log = sshd.log()
        assert not re.search(r"(?i)no more sessions|open failed|administratively prohibited",
                             log), log[-3000:]
    finally:
        sshd.stop()


def test_a_refused_session_is_a_clear_error_and_the_connection_stays(ssh):
    """With `MaxSessions 2`, a third session is refused: the cell that needed it fails saying
    so (not "connection lost"), and the next cell runs on the same connection."""
    sshd = ssh.lab.start_sshd(name=f"max2-{uuid.uuid4().hex[:8]}", MaxSessions=2)
    try:
        ssh.add_host("max2", sshd, "sshpty-ops")
        nb = ssh.login("max2")
        conn = nb.ok('echo "$SSH_CONNECTION"').text.split()
        assert "echo" in nb.complete("ech")["matches"]  # the helper: the second session
        res = nb.run("# " + "x" * 4200 + "\necho big")  # a shell of its own: a third
        res.failed()
        assert re.search(r"refused a new session.*MaxSessions.*connection is kept",
                         res.error_text), res.describe()
        assert "lost" not in res.error_text, res.describe()
        assert nb.ok('echo "$SSH_CONNECTION"').text.split() == conn
    finally:
        sshd.stop()
