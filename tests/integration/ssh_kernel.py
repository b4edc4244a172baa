"""Helpers for the SSH-target tests (tests/integration/test_ssh_*.py, issue 3).

A test reads as with the local target, plus the server:

    def test_cd_carries(ssh):
        nb = ssh.login("h1-ops")               # a plain kernel, HOME = the client's home
        nb.ok("cd /tmp")
        assert nb.ok("pwd").text.strip() == "/tmp"

`ssh` (fixture `ssh`) is an `SSHSession`: the lab, h1 and h2, a fresh client HOME whose
~/.ssh/config has the harness's aliases with ServerAlive 1 s x 3 and ConnectTimeout 2 s, and a
factory of kernels started with that HOME and the lab's agent. Questions the kernel asks during a
login (host key, password, passphrase) are answered by `answering()`, which also records them.

A test module imports the fixtures it uses from this module (`ssh`, `ssh_servers`,
`ssh_kernelspec`). They do not build on sshd_harness's `ssh_lab`/`sshd_h1`/`sshd_h2` fixtures:
a session fixture imported into several modules is made once per module, and the second
`start_sshd(name="h1")` on the shared lab fails. This module keeps one SSHLab of its own for the
process (`shared_lab()`) and starts h1 and h2 on it once (`shared_sshd()`), so any number of
modules share them and sshd_harness's own fixtures (test_sshd_harness.py) are left alone.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Iterable, Sequence

import pytest

from harness import PLAIN, CellResult, Deadline, Notebook, plain_text, sshpty
from sshd_harness import NOT_ROOT_REASON, SSHD, ClientConfig, SSHLab

# Every test client: keepalives every second, three missed ones mean the peer is gone; a
# connection attempt gives up after two seconds.
ALIVE_INTERVAL = 1
ALIVE_COUNT = 3
CONNECT_TIMEOUT = 2
FAST = {
    "ServerAliveInterval": ALIVE_INTERVAL,
    "ServerAliveCountMax": ALIVE_COUNT,
    "ConnectTimeout": CONNECT_TIMEOUT,
}
# Detection bounds: what the issue promises, plus slack for a loaded CI machine.
LOSS_BOUND = ALIVE_INTERVAL * ALIVE_COUNT + 4
CONNECT_BOUND = CONNECT_TIMEOUT + 3

# The OpenSSH client, never asking, checking host keys strictly: the tests' own view of a host.
BATCH = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR",
         "-o", "ConnectTimeout=5"]


def wait_until(predicate, timeout: float, what: str):
    """Poll PREDICATE until it returns something true; fail naming WHAT after TIMEOUT."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def finish(cell, timeout: float) -> CellResult:
    """The end of CELL within TIMEOUT seconds, waited for here so that a test of a bound does
    not count as a hung cell for harness.py's circuit breaker (its own deadline is generous)."""
    d = Deadline(timeout, f"the end of cell {cell.code[:80]!r}")
    while not cell._done():
        cell.nb._pump_iopub(min(d.check(lambda: f"outputs so far: {cell._text()[-2000:]!r}"), 0.2))
    return cell.result(timeout=30)


def all_iopub_text(nb: Notebook) -> str:
    """Every IOPub message the notebook received, serialised: to look for a leaked secret."""
    while True:
        try:
            msg = nb.kc.get_iopub_msg(timeout=0.2)
        except Empty:
            break
        nb._iopub[(msg.get("parent_header") or {}).get("msg_id", "")].append(msg)
    return json.dumps([m for msgs in nb._iopub.values() for m in msgs], default=str)


# ---------------------------------------------------------------------------------------------
# Questions: input_request answered as a user would


@dataclass
class Asked:
    prompt: str
    password: bool


@dataclass
class Answered:
    result: CellResult
    asked: list[Asked] = field(default_factory=list)

    @property
    def prompts(self) -> list[str]:
        return [a.prompt for a in self.asked]


def answering(nb: Notebook, code: str, answers: Sequence[tuple[str, str | list[str]]] = (),
              timeout: float = 30, max_questions: int = 6) -> Answered:
    """Run CODE with allow_stdin true; answer each input_request whose prompt matches a regex
    of ANSWERS (first match) with its reply (a list: one reply per question, in order). A
    question nobody expected fails the test (after answering it with an empty line, so the
    kernel is not left waiting)."""
    replies = [(rx, list(r) if isinstance(r, (list, tuple)) else r) for rx, r in answers]

    def reply_to(prompt: str) -> str | None:
        for rx, r in replies:
            if re.search(rx, prompt):
                if isinstance(r, list):
                    return r.pop(0) if r else None
                return r
        return None

    cell = nb.submit(code, allow_stdin=True)
    asked: list[Asked] = []
    d = Deadline(timeout, f"the end of {code!r} (answering questions)")
    while not cell._done():
        try:
            msg = nb.kc.stdin_channel.get_msg(timeout=0.05)
        except Empty:
            nb._pump_iopub(min(d.check(lambda: f"asked so far: {asked}"), 0.1))
            continue
        if msg["msg_type"] != "input_request":
            continue
        c = msg["content"]
        asked.append(Asked(c.get("prompt"), c.get("password")))
        reply = reply_to(str(c.get("prompt")))
        send_input(nb, "" if reply is None else reply, msg)
        # Answered first, so the kernel is not left waiting: then both fields must be there.
        assert isinstance(c.get("prompt"), str) and isinstance(c.get("password"), bool), \
            f"an input_request without a str prompt and a bool password: {c!r}"
        assert reply is not None, f"unexpected question: {c!r}; asked so far: {asked}"
        assert len(asked) <= max_questions, f"asked {len(asked)} questions: {asked}"
    return Answered(cell.result(timeout=max(d.remaining(), 10)), asked)


def send_input(nb: Notebook, value: str, request: dict | None) -> None:
    """An input_reply to REQUEST, its parent header set as JupyterLab and Notebook 7 set it.

    REQUEST None sends what `BlockingKernelClient.input()` (jupyter_console) sends: no parent
    header at all.
    """
    if request is None:
        nb.kc.input(value)
        return
    msg = nb.session.msg("input_reply", {"value": value}, parent=request)
    nb.kc.stdin_channel.send(msg)


def no_questions(nb: Notebook, code: str, timeout: float = 30) -> CellResult:
    """Run CODE with allow_stdin true and fail if the kernel asks anything."""
    return answering(nb, code, (), timeout=timeout).result


# ---------------------------------------------------------------------------------------------
# The session: lab, hosts, client home, kernels


class SSHSession:
    def __init__(self, lab: SSHLab, h1: SSHD, h2: SSHD, home: Path, make_notebook):
        self.lab = lab
        self.h1 = h1
        self.h2 = h2
        self.cfg: ClientConfig = lab.ssh_config_for(home, [h1, h2], options=dict(FAST))
        self._make = make_notebook

    @property
    def home(self) -> Path:
        return self.cfg.home

    @property
    def known_hosts(self) -> Path:
        return self.cfg.known_hosts

    def env(self, agent: bool = True) -> dict:
        return self.cfg.env(agent=agent)

    def kernel(self, agent: bool = True, kernel_name: str = PLAIN,
               env: dict | None = None) -> Notebook:
        """A kernel (no login yet) with HOME = the client's home, SSH_AUTH_SOCK = the agent;
        ENV: more variables for the kernel's environment."""
        kw = {}
        if "real_home" in inspect.signature(self._make).parameters:
            # The harness gives kernels a test HOME of its own unless told to keep env's.
            kw["real_home"] = True
        return self._make(kernel_name, env={**self.env(agent), **(env or {})}, **kw)

    def login(self, alias: str, nb: Notebook | None = None, agent: bool = True) -> Notebook:
        """A kernel logged in to ALIAS by `%login ALIAS`, its login line checked."""
        nb = nb or self.kernel(agent)
        res = no_questions(nb, f"%login {alias}")
        assert res.status == "ok", res.describe()
        assert re.search(rf"^logged in to {re.escape(alias)} as \S+@\S+$", res.text, re.M), \
            res.describe()
        return nb

    def add_host(self, alias: str, sshd: SSHD | None = None, user: str = "sshpty-ops",
                 auth: str = "key", **options) -> str:
        return self.cfg.add_host(alias, sshd, user, auth, **options)

    # -- the host seen with the OpenSSH client, independently of the kernel

    def ssh(self, alias: str, command: str, timeout: float = 20) -> subprocess.CompletedProcess:
        return subprocess.run(self.cfg.ssh(alias, command, options=BATCH), env=self.env(),
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def remote_processes(self, alias: str, pattern: str) -> list[str]:
        """Processes on ALIAS's host (`ps -ww` run there) whose command line matches the regex
        PATTERN; the ps itself never matches, its command line does not hold PATTERN."""
        r = self.ssh(alias, "ps -ww -eo pid,user:32,args")
        assert r.returncode == 0, f"ps on {alias} failed: {r.stderr}"
        rx = re.compile(pattern)
        # ps right-aligns the pid column to the widest pid: match the line without its padding.
        found = (line.strip() for line in r.stdout.splitlines()[1:])
        return [line for line in found if rx.search(line)]

    def wait_remote_gone(self, alias: str, pattern: str, timeout: float = 5) -> list[str]:
        """Wait until nothing matching PATTERN runs on ALIAS's host; return what is left."""
        end = time.monotonic() + timeout
        while True:
            left = self.remote_processes(alias, pattern)
            if not left or time.monotonic() > end:
                return left
            time.sleep(0.2)


_LAB: SSHLab | None = None


def shared_lab() -> SSHLab:
    """This module's SSHLab, made at first use; skips the test when not root."""
    global _LAB
    if os.geteuid() != 0:
        pytest.skip(NOT_ROOT_REASON)
    if _LAB is None or _LAB._closed:
        _LAB = SSHLab()
    return _LAB


def shared_sshd(name: str) -> SSHD:
    """The shared lab's sshd NAME, started at first use."""
    lab = shared_lab()
    for sshd in lab.sshds:
        if sshd.name == name:
            assert sshd.running, f"{sshd} is not running any more"
            return sshd
    return lab.start_sshd(name=name)


@pytest.fixture(scope="session")
def ssh_servers():
    """(lab, h1, h2), shared by every module; the lab is closed at the end of the session."""
    lab = shared_lab()
    yield lab, shared_sshd("h1"), shared_sshd("h2")
    lab.close()  # idempotent: each importing module's copy of this fixture ends here


@pytest.fixture
def ssh(ssh_servers, tmp_path, notebook) -> SSHSession:
    lab, h1, h2 = ssh_servers
    return SSHSession(lab, h1, h2, tmp_path / "home", notebook)


SSH_KERNEL = "sshpty-test-ssh-h1"  # --login h1-ops --no-header


def install_ssh_kernelspec(prefix: Path) -> str | None:
    """Install the `--login h1-ops --no-header` kernelspec into PREFIX and put its share dir
    first in JUPYTER_PATH; return the JUPYTER_PATH from before (to restore)."""
    r = sshpty("install", "--prefix", str(prefix), "--name", SSH_KERNEL, "--login", "h1-ops",
               "--no-header")
    assert r.returncode == 0, f"sshpty install --login h1-ops failed: {r.stderr}{r.stdout}"
    share = prefix / "share" / "jupyter"
    assert (share / "kernels" / SSH_KERNEL / "kernel.json").is_file()
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(share)] + ([old] if old else []))
    return old


def restore_jupyter_path(old: str | None) -> None:
    if old is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = old


@pytest.fixture(scope="session")
def ssh_kernelspec(kernelspecs, tmp_path_factory) -> str:
    """A kernelspec installed with `--login h1-ops --no-header` (the alias resolves through the
    HOME a kernel is started with); its prefix is put first in JUPYTER_PATH for the session."""
    old = install_ssh_kernelspec(tmp_path_factory.mktemp("ssh-prefix"))
    yield SSH_KERNEL
    restore_jupyter_path(old)


# ---------------------------------------------------------------------------------------------
# Connections on the server side


@dataclass
class Stopped:
    """Per-connection sshd processes stopped with SIGSTOP; resumed at exit, whatever happens."""

    pids: list[int]

    def resume(self) -> None:
        for p in self.pids:
            try:
                os.kill(p, signal.SIGCONT)
            except OSError:
                pass


def connection_pids(sshd: SSHD, user: str = "sshpty-ops", want: int = 1) -> list[int]:
    """The sshd processes serving USER's connections; fails when there are fewer than WANT
    (the test would prove nothing)."""
    return wait_until(lambda: (p := sshd.connection_pids(user)) and len(p) >= want and p, 5,
                      f"a connection of {user} to {sshd}")


def kill_pids(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def sleeping(n: int) -> str:
    """A ps line of `sleep N` (and not of sleep N0)."""
    return rf"sleep {n}([^0-9]|$)"


def lines(res: CellResult) -> list[str]:
    return plain_text(res.stream).splitlines()
