"""The targets a behaviour is tested on: this machine (`%login local`) and a server over SSH
(h1 of ssh_kernel's lab, as sshpty-ops). A behaviour both targets have is one test that takes
`target` (or `nb`, a kernel logged in to it) and runs once per target, its id saying which:

    def test_cd_carries(nb):                     # test_cd_carries[local], test_cd_carries[ssh]
        nb.ok("cd /tmp")
        assert nb.ok("pwd").text.strip() == "/tmp"

    def test_first_cell_starts_there(target):     # what differs per target is in the Target
        assert target.nb.ok("pwd").text.strip() == target.start_dir

The ssh param is skipped when not root (sshd_harness.NOT_ROOT_REASON), as every SSH test is.
A module imports these fixtures by name, with the SSH fixtures they are built on:

    from targets import nb, ssh, ssh_kernelspec, ssh_servers, target  # noqa: F401

(ssh_kernel.py says why fixtures are imported into modules rather than put in conftest.)
"""

from __future__ import annotations

import getpass
import os
import pwd
import re
import time
from dataclasses import dataclass, field
from typing import Callable

import pytest

from harness import LOCAL, PLAIN, CellResult, Notebook, cmdline, pgrep
from ssh_kernel import (  # noqa: F401  (fixtures re-exported, used by name)
    SSHSession,
    finish,
    no_questions,
    sleeping,
    ssh,
    ssh_kernelspec,
    ssh_servers,
    wait_until,
)
from sshd_harness import NOT_ROOT_REASON

# The params of `target`: the SSH one needs the lab, hence root.
TARGETS = [
    "local",
    pytest.param("ssh", marks=pytest.mark.skipif(os.geteuid() != 0, reason=NOT_ROOT_REASON)),
]


@dataclass
class Target:
    """One target, as the tests of a behaviour on both targets see it.

    `nb` is the kernel a test usually wants: the kernelspec installed with `--login NAME
    --no-header`, logged in by its first cell (as conftest's `local`). `login()` gives a plain
    kernel logged in by `%login NAME`, header on; `login_kernel()` one of the `--login`
    kernelspec not logged in yet.
    """

    name: str  # the param: "local" or "ssh"
    login_name: str  # what `%login` takes: "local", "h1-ops"
    user: str  # who the cells run as
    start_dir: str  # where the first cell runs: local, the kernel's directory; SSH, the home
    host: str  # the host the header and %status name
    ssh: SSHSession | None  # the SSH lab's session (client HOME, hosts), None on local
    login_kernelspec: str
    _notebook: Callable[..., Notebook] = field(repr=False)
    gone_within: float = 1.0  # seconds a process may take to disappear from `processes`
    ps_alias: str = ""  # SSH: the alias `processes` runs ps through (h1-ops: a host with ps)
    _nb: Notebook | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return self.name

    def kernel(self) -> Notebook:
        """A plain kernel: no target until `%login`, header on (over SSH: started with the
        client HOME and the lab's agent)."""
        if self.ssh is not None:
            return self.ssh.kernel()
        return self._notebook(PLAIN)

    def login(self, nb: Notebook | None = None) -> Notebook:
        """A plain kernel (or NB) logged in by `%login NAME`, its login line checked."""
        if self.ssh is not None:
            return self.ssh.login(self.login_name, nb)
        nb = nb or self.kernel()
        res = no_questions(nb, f"%login {self.login_name}")
        assert res.status == "ok", res.describe()
        assert re.search(rf"^logged in to {re.escape(self.login_name)} as \S+@\S+$", res.text,
                         re.M), res.describe()
        return nb

    def login_kernel(self) -> Notebook:
        """A kernel of the `--login NAME --no-header` kernelspec, not logged in yet: it logs in
        at its first cell."""
        if self.ssh is not None:
            return self.ssh.kernel(kernel_name=self.login_kernelspec)
        return self._notebook(self.login_kernelspec)

    @property
    def nb(self) -> Notebook:
        """The `--login NAME --no-header` kernel, its first cell (the login) run."""
        if self._nb is None:
            self._nb = self.login_kernel()
            self._nb.ok("true")
        return self._nb

    def processes(self, pattern: str, user: str | None = None) -> list[str]:
        """What runs matching the regex PATTERN, as `PID COMMAND` lines. Local: every command
        line `pgrep -f` finds. SSH: the processes of USER (default: the login user) on the
        host whose command starts with PATTERN, seen by `ps` through a connection of the
        test's own."""
        if self.ssh is None:
            return [f"{p} {cmdline(p)}" for p in pgrep(pattern)]
        rx = rf"^\d+\s+{re.escape(user or self.user)}\s+{pattern}"
        return self.ssh.remote_processes(self.ps_alias or self.login_name, rx)

    def wait_running(self, pattern: str, timeout: float = 30, user: str | None = None) -> list[str]:
        return wait_until(lambda: self.processes(pattern, user), timeout,
                          f"{pattern!r} running on {self.name} as {user or self.user}")

    def wait_gone(self, pattern: str, timeout: float | None = None,
                  user: str | None = None) -> list[str]:
        """Wait until nothing matches PATTERN; return what is left after TIMEOUT (default
        `gone_within`)."""
        end = time.monotonic() + (self.gone_within if timeout is None else timeout)
        while True:
            left = self.processes(pattern, user)
            if not left or time.monotonic() > end:
                return left
            time.sleep(0.1)


def local_target(notebook) -> Target:
    return Target(name="local", login_name="local", user=getpass.getuser(),
                  # jupyter_client starts the kernel in the test's working directory.
                  start_dir=os.getcwd(), host=os.uname().nodename, ssh=None,
                  login_kernelspec=LOCAL, _notebook=notebook)


def ssh_target(ssh_session: SSHSession, kernelspec: str, notebook, alias: str = "h1-ops",
               user: str = "sshpty-ops") -> Target:
    """ALIAS (a host of ssh_session's config) as USER; KERNELSPEC: its `--login` kernelspec
    (h1-ops's: ssh_kernel.SSH_KERNEL)."""
    home = pwd.getpwnam(user).pw_dir
    # `ps` over a connection of its own takes a moment: a process gets 3 s to go. It runs as
    # sshpty-ops on h1 (the same machine: the users' processes are all seen there).
    return Target(name="ssh", login_name=alias, user=user, start_dir=home,
                  host="127.0.0.1", ssh=ssh_session, login_kernelspec=kernelspec,
                  _notebook=notebook, gone_within=3.0, ps_alias="h1-ops")


@pytest.fixture(params=TARGETS)
def target(request, notebook) -> Target:
    """The local target, or h1-ops over SSH."""
    if request.param == "local":
        return local_target(notebook)
    return ssh_target(request.getfixturevalue("ssh"), request.getfixturevalue("ssh_kernelspec"),
                      notebook)


@pytest.fixture
def nb(target) -> Notebook:
    """A kernel logged in to the target (no header), as conftest's `local` is."""
    return target.nb


# ---------------------------------------------------------------------------------------------
# Interrupts


def interrupted(target: Target, nb: Notebook, code: str, pattern: str, limit: float,
                user: str | None = None, via_manager: bool = False) -> CellResult:
    """Run CODE, wait until PATTERN runs on the target, interrupt (with an interrupt_request,
    or jupyter_client's KernelManager.interrupt_kernel): the cell must end with one
    Interrupted error within LIMIT seconds and nothing matching PATTERN may be left."""
    cell = nb.submit(code)
    # Wait for the process itself, not for output: streaming has its own test.
    try:
        target.wait_running(pattern, 30, user)
    except AssertionError as e:
        nb._pump_iopub(0.5)
        raise AssertionError(f"{e}; the cell so far: {cell.outputs}") from None
    time.sleep(0.2)
    t0 = time.monotonic()
    if via_manager:
        nb.km.interrupt_kernel()
    else:
        reply = nb.interrupt()
        assert reply["msg_type"] == "interrupt_reply", reply
        assert reply["content"]["status"] == "ok", reply
    res = finish(cell, limit + 20)
    took = time.monotonic() - t0
    res.failed()
    assert res.errors[0]["ename"] == "Interrupted", res.describe()
    assert re.search(r"interrupt", res.error_text, re.I), res.describe()
    assert took <= limit, f"the interrupt took {took:.1f} s (limit {limit} s)"
    left = target.wait_gone(pattern, user=user)
    assert not left, f"still running on {target.name} after the interrupt: {left}"
    return res
