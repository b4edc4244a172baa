"""The completion helper (issue 6): one shell per host, without a PTY, answers every completion
and inspection. It follows the cells' context, survives its own death, never holds the kernel
(a stuck one is killed with what it started) and goes with its host. Each test runs on the local
target and on an SSH host.

Sleep durations are unique to this file (73xx), so a test never mistakes another's process for
its own.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness import _alive, completions_applied, plain_text, wait_no_process
from targets import (  # noqa: F401  (fixtures are used by name)
    nb,
    no_questions,
    ssh,
    ssh_kernelspec,
    ssh_servers,
    target,
    wait_until,
)

HELPER = "bash --noprofile --norc -s sshpty-complete"


@pytest.fixture
def shared_dir():
    """A directory both the test and the SSH host's user (on this machine) can use."""
    d = Path(tempfile.mkdtemp(prefix="sshpty-helper-", dir="/tmp"))
    d.chmod(0o777)
    yield d
    subprocess.run(["rm", "-rf", str(d)], check=False)


def helper_pids(nb) -> list[int]:
    """NB's helper: a child of the process the cells' shells are started by (the kernel, or the
    connection's sshd; each cell runs in a new shell, so its $PPID is that process)."""
    parent = int(nb.ok("echo $PPID").text.strip())
    found: list[int] = []
    for p in (parent, int(Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[1])):
        out = subprocess.run(["pgrep", "-P", str(p), "-f", "^" + HELPER], capture_output=True, text=True)
        found += [int(x) for x in out.stdout.split()]
    return found


def the_helper(nb) -> int:
    pids = helper_pids(nb)
    assert len(pids) == 1, f"expected one completion helper, found {pids}"
    return pids[0]


def test_one_helper_follows_the_context(nb):
    assert "echo" in nb.complete("ech")["matches"]
    first = the_helper(nb)
    nb.ok("helperfn_zq() { :; }; alias helperal_zq=true; helpervar_zq=1")
    r = nb.complete("helper")
    assert {"helperfn_zq", "helperal_zq"} <= set(r["matches"]), r
    assert "$helpervar_zq" in nb.complete("echo $helperv")["matches"]
    # Unset in a cell: gone from the helper too.
    nb.ok("unset -f helperfn_zq; unalias helperal_zq; unset helpervar_zq")
    r = nb.complete("helper")
    assert not {"helperfn_zq", "helperal_zq"} & set(r["matches"]), r
    assert nb.complete("echo $helperv")["matches"] == []
    # All of it answered by the same process.
    assert the_helper(nb) == first


def test_cd_in_a_cell_changes_what_a_relative_path_completes_to(nb, shared_dir):
    (shared_dir / "a").mkdir()
    (shared_dir / "b" / "zq sub dir").mkdir(parents=True)
    (shared_dir / "a" / "zq_only_in_a").write_text("")
    (shared_dir / "b" / "zq only in b").write_text("")
    assert "echo" in nb.complete("ech")["matches"]  # the helper runs before the cd
    nb.ok(f"cd {shared_dir}/a")
    assert nb.complete("cat zq")["matches"] == ["zq_only_in_a"]
    nb.ok("cd ../b")
    code = "cat zq"
    words = [shlex.split(a)[1] for a in completions_applied(nb.complete(code), code)]
    assert sorted(words) == ["zq only in b", "zq sub dir/"]


def test_completion_answers_after_the_helper_was_killed(nb):
    assert "echo" in nb.complete("ech")["matches"]
    old = the_helper(nb)
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: not _alive(old), 5, f"the helper {old} killed")
    assert "echo" in nb.complete("ech")["matches"]
    assert the_helper(nb) != old


def test_completion_while_a_cell_runs(nb, shared_dir):
    go = shared_dir / "go"
    cell = nb.submit(f"echo started; while [ ! -e {go} ]; do sleep 0.1; done; echo finished",
                     allow_stdin=True)
    cell.wait_for_text("started")
    assert "echo" in nb.complete("ech")["matches"]
    assert "readonly" in plain_text(nb.inspect("readonly")["data"]["text/plain"])
    assert not cell._done(), "the completion was answered while the cell ran"
    go.write_text("")
    assert cell.result(timeout=30).ok().lines[-1] == "finished"


def test_a_stuck_helper_is_killed_and_replaced(nb, shared_dir):
    # Inspecting a file runs whatis: this one never ends (a man-db waiting on a lock, say).
    whatis = shared_dir / "whatis"
    whatis.write_text("#!/bin/sh\nsleep 7341\n")
    whatis.chmod(0o755)
    (shared_dir / "zq_command").write_text("#!/bin/sh\n")
    (shared_dir / "zq_command").chmod(0o755)
    assert "echo" in nb.complete("ech")["matches"]
    nb.ok(f"PATH={shared_dir}:$PATH")
    r = nb.inspect("zq_command", timeout=30)
    assert r["status"] == "ok" and r["found"] is False, r
    assert not wait_no_process(r"^sleep 7341$", timeout=10), "the stuck helper's command is left"
    assert "echo" in nb.complete("ech")["matches"]
    assert "builtin" in plain_text(nb.inspect("echo")["data"]["text/plain"])


def test_logout_ends_the_helper(nb):
    assert "echo" in nb.complete("ech")["matches"]
    pid = the_helper(nb)
    nb.ok("%logout")
    wait_until(lambda: not _alive(pid), 10, f"the helper {pid} gone after %logout")


def test_host_without_bash_answers_empty(ssh):
    nb = ssh.kernel()
    assert no_questions(nb, "%login h1-bb").status == "ok"
    r = nb.complete("ech")
    assert r["status"] == "ok" and r["matches"] == [], r
    assert nb.inspect("echo")["found"] is False
    assert nb.ok("echo still-here").lines[-1] == "still-here"
