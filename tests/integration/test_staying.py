"""Cells back to back (Run All, nbclient) run in one shell that stays between them (issue 12,
part 2; README "A cell's shell"): after its capture, a cell's shell waits for the next cell on
the same host, which then needs no new process, channel or restore. What it must keep from
before: a shell that left a job in the background, set a trap, lost its terminal, was stopped
or ran its hundredth cell ends as every cell's shell did, and the next cell gets a new one.
On both targets (targets.py).
"""

from __future__ import annotations

import re

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
