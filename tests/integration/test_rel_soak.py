"""Reliability (issue 7, item 6): a long session. 2 000 cells (SSHPTY_SOAK_CELLS; about two
minutes here, so tests/run runs all of them; `tests/run -m soak` runs this test alone) in one
kernel:
echo, cd, variables set, small loops, a prompt answered through input_request every 50 cells,
two hosts (h1 and h2) switched between, one forced reconnect (the connection's sshd processes
killed, then `%login` again).

Measured at cell 100 and at the end: the kernel's RSS (VmRSS) may grow by at most 2 MB, its
open file descriptors may not grow, and the context (`%status`, per host) may be no larger than
what the cells set: they only ever overwrite the same few names, so it stays the size it had
at cell 100 (within the few bytes a longer counter value takes).
"""

from __future__ import annotations

import os
import re
import time

import pytest

from harness import rss_kib
from ssh_kernel import (  # noqa: F401  (fixtures are used by name)
    answering,
    connection_pids,
    kill_pids,
    ssh,
    ssh_servers,
)

CELLS = int(os.environ.get("SSHPTY_SOAK_CELLS", "2000"))
MEASURE_AT = 100
RSS_GROWTH_KIB = 2 * 1024
CONTEXT_SLACK_KIB = 0.5  # counters going from 3 to 4 digits, in a few names
DIRS = ["/tmp", "/var", "/usr/share", "/home/sshpty-ops"]


def fds(pid: int) -> list[str]:
    """The kernel's open file descriptors, as what they point to (for a readable failure)."""
    out = []
    for fd in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
        try:
            out.append(f"{fd}->{os.readlink(f'/proc/{pid}/fd/{fd}')}")
        except OSError:
            pass  # closed meanwhile
    return out


def context_kib(nb) -> float:
    m = re.search(r"^context: ([0-9.]+) KiB", nb.ok("%status").text, re.M)
    assert m, "no context size in %status"
    return float(m.group(1))


class Soak:
    def __init__(self, ssh, nb):
        self.ssh = ssh
        self.nb = nb
        self.host = "h1-ops"
        self.cwd = {"h1-ops": "/home/sshpty-ops", "h2-ops": "/home/sshpty-ops"}
        self.var = {}
        self.cells = 0
        self.prompts = 0
        self.reconnects = 0

    def run(self, code: str):
        self.cells += 1
        return self.nb.run(code, timeout=60)

    def ok(self, code: str):
        res = self.run(code)
        assert res.status == "ok", f"cell {self.cells}: " + res.describe()
        return res

    def switch(self, host: str):
        res = self.ok(f"%login {host}")
        assert res.lines == [f"switched to {host}"], res.describe()
        self.host = host

    def step(self, i: int):
        kind = i % 7
        if i % 50 == 25:
            self.cells += 1
            a = answering(self.nb, "read -p 'soak answer? ' a; echo \"got $a\"",
                          [(r"^soak answer\?$", f"ans{i}")], timeout=60)
            assert a.result.ok().lines == [f"got ans{i}"], a.result.describe()
            self.prompts += 1
        elif i % 97 == 0:
            self.switch("h2-ops" if self.host == "h1-ops" else "h1-ops")
        elif kind == 0:
            assert self.ok(f"echo soak-{i}").lines == [f"soak-{i}"]
        elif kind == 1:
            d = DIRS[i % len(DIRS)]
            self.ok(f"cd {d}")
            self.cwd[self.host] = d
        elif kind == 2:
            self.ok(f"soak_var=v{i}; export SOAK_EXPORTED=e{i}; soak_arr[{i % 5}]={i}")
            self.var[self.host] = i
        elif kind == 3:
            res = self.ok("for j in 1 2 3; do printf '%s,' $j; done; echo")
            assert res.lines == ["1,2,3,"], res.describe()
        elif kind == 4:
            res = self.ok('pwd; echo "${soak_var-unset}"')
            want_var = f"v{self.var[self.host]}" if self.host in self.var else "unset"
            assert res.lines == [self.cwd[self.host], want_var], (self.cells, res.describe())
        elif kind == 5:
            res = self.ok("seq 1 200 | tail -n 1; false || true")
            assert res.lines == ["200"], res.describe()
        else:
            res = self.run("exit 3")
            assert res.status == "error" and res.errors[0]["ename"] == "ExitStatus", \
                res.describe()

    def reconnect(self):
        """Kill the current connection's sshd processes; the next cell says the connection is
        lost; `%login` again reconnects with the context."""
        sshd = self.ssh.h1 if self.host == "h1-ops" else self.ssh.h2
        kill_pids(connection_pids(sshd))
        time.sleep(0.3)
        res = self.run("echo lost?")
        assert res.status == "error" and re.search(r"(?i)connection", res.error_text), \
            res.describe()
        res = self.ok(f"%login {self.host}")
        assert re.search(rf"^reconnected to {self.host} ", res.text, re.M), res.describe()
        self.reconnects += 1


@pytest.mark.soak
@pytest.mark.timeout(max(300, CELLS // 2))
def test_soak(ssh, figures):
    nb = ssh.login("h1-ops")
    ssh.login("h2-ops", nb)  # both connections open before the first measurement
    nb.ok("%login h1-ops")
    soak = Soak(ssh, nb)
    pid = nb.pid
    t0 = time.monotonic()
    at_100 = None
    series = []  # (cell, RSS KiB) every 250 cells: a leak grows with them, noise does not
    for i in range(1, CELLS + 1):
        soak.step(i)
        if i % 250 == 0:
            series.append(f"{i}:{rss_kib(pid)}")
        if i == int(CELLS * 0.6):
            soak.reconnect()
        if i == MEASURE_AT:
            ctx = {h: None for h in ("h1-ops", "h2-ops")}
            here = soak.host
            for h in ctx:  # measured on each host (switching back and forth)
                if soak.host != h:
                    soak.switch(h)
                ctx[h] = context_kib(nb)
            if soak.host != here:
                soak.switch(here)
            at_100 = (rss_kib(pid), fds(pid), ctx)
    took = time.monotonic() - t0
    rss_end, fds_end = rss_kib(pid), fds(pid)
    ctx_end = {}
    for h in ("h1-ops", "h2-ops"):
        if soak.host != h:
            soak.switch(h)
        ctx_end[h] = context_kib(nb)
    rss_100, fds_100, ctx_100 = at_100
    figures(f"soak: {soak.cells} cells ({soak.prompts} prompts answered, 2 hosts, "
            f"{soak.reconnects} reconnect) in {took:.0f} s; kernel RSS at cell {MEASURE_AT} "
            f"{rss_100} KiB, at the end {rss_end} KiB ({rss_end - rss_100:+d} KiB); open fds "
            f"{len(fds_100)} -> {len(fds_end)}; context KiB {ctx_100} -> {ctx_end}; "
            f"RSS KiB by cell: {' '.join(series)}")
    assert soak.prompts >= CELLS // 50 and soak.reconnects == 1
    assert rss_end - rss_100 <= RSS_GROWTH_KIB, \
        f"RSS grew by {rss_end - rss_100} KiB between cell {MEASURE_AT} and cell {CELLS}"
    assert len(fds_end) <= len(fds_100), \
        f"extra fds: {sorted(set(fds_end) - set(fds_100))} (gone: {sorted(set(fds_100) - set(fds_end))})"
    for h in ctx_end:
        assert ctx_end[h] <= ctx_100[h] + CONTEXT_SLACK_KIB, (h, ctx_100[h], ctx_end[h])
