"""Faults (issue 3, item 5): a connection killed mid-cell and a silent peer, each detected within
ServerAliveInterval x ServerAliveCountMax (1 s x 3 here), said by the running cell and the next
one, then `%login` again reconnecting with the context restored; and `%login` to a closed port,
an unresolvable name and a listener that never speaks, each failing within ConnectTimeout (2 s).

Processes are looked at on this machine (the hosts are on loopback) rather than over another
SSH connection, so the kernel's connection is the only one of its user to the sshd.
"""

from __future__ import annotations

import re
import signal
import time

from harness import pgrep, wait_no_process
from ssh_kernel import (  # noqa: F401  (fixtures are used by name)
    CONNECT_BOUND,
    CONNECT_TIMEOUT,
    LOSS_BOUND,
    Stopped,
    connection_pids,
    finish,
    kill_pids,
    sleeping,
    ssh,
    ssh_servers,
    wait_until,
)

LOST = r"(?i)connection\b.*\b(lost|closed)"


def with_context(nb):
    nb.ok("cd /tmp; kept='yes it is'; fn() { echo fn-ran; }")
    return nb.ok('echo "$SSH_CONNECTION"').text.split()


def running(nb, n: int):
    cell = nb.submit(f"echo started; sleep {n}")
    wait_until(lambda: pgrep(sleeping(n)), 15, f"sleep {n} running on the host")
    time.sleep(0.2)
    return cell


def lost_error(res, what: str):
    res.failed()
    assert re.search(LOST, res.error_text), f"{what} should say the connection is lost\n" + \
        res.describe()


def next_cell_says_lost(nb):
    res = nb.run("echo should-not-run", timeout=LOSS_BOUND + 5)
    lost_error(res, "the next cell")
    assert "should-not-run" not in res.text
    assert "%login" in res.error_text, "the error should say how to reconnect\n" + res.describe()
    assert res.elapsed < 3, f"the next cell took {res.elapsed:.1f} s to say the connection is lost"
    assert re.search(r"^state: disconnected", nb.ok("%status").text, re.M)


def relogin_restores(nb, alias: str, old_connection: list[str]):
    res = nb.run(f"%login {alias}", timeout=30)
    assert res.status == "ok", res.describe()
    assert re.search(rf"^reconnected to {re.escape(alias)} ", res.text, re.M), res.describe()
    out = nb.ok('pwd; echo "$kept"; fn; echo "$SSH_CONNECTION"').lines
    assert out[:3] == ["/tmp", "yes it is", "fn-ran"], out
    assert out[3].split()[1] != old_connection[1], "SSH_CONNECTION is the old connection's"
    assert re.search(r"^state: connected", nb.ok("%status").text, re.M)


# ---------------------------------------------------------------------------------------------
# A connection that drops


def test_connection_killed_mid_cell(ssh):
    nb = ssh.login("h1-ops")
    conn = with_context(nb)
    cell = running(nb, 1941)
    t0 = time.monotonic()
    kill_pids(connection_pids(ssh.h1))
    res = finish(cell, LOSS_BOUND + 10)
    took = time.monotonic() - t0
    lost_error(res, "the running cell")
    assert took <= LOSS_BOUND, f"the lost connection was noticed after {took:.1f} s"
    assert not wait_no_process(sleeping(1941), timeout=5), "the cell's program outlived its sshd"
    next_cell_says_lost(nb)
    relogin_restores(nb, "h1-ops", conn)


def test_silent_peer_mid_cell(ssh):
    nb = ssh.login("h1-ops")
    conn = with_context(nb)
    cell = running(nb, 1942)
    stopped = Stopped(connection_pids(ssh.h1))
    try:
        t0 = time.monotonic()
        kill_pids(stopped.pids, signal.SIGSTOP)
        res = finish(cell, LOSS_BOUND + 20)
        took = time.monotonic() - t0
        lost_error(res, "the running cell")
        assert took <= LOSS_BOUND, f"the silent peer was noticed after {took:.1f} s"
        next_cell_says_lost(nb)
        relogin_restores(nb, "h1-ops", conn)  # a new connection; the old one is still stopped
    finally:
        stopped.resume()


def test_connection_killed_while_idle(ssh):
    nb = ssh.login("h1-ops")
    conn = with_context(nb)
    kill_pids(connection_pids(ssh.h1))
    time.sleep(0.5)
    next_cell_says_lost(nb)
    assert re.search(r"^\* h1-ops: .*\bdisconnected\b", nb.ok("%hosts").text, re.M)
    relogin_restores(nb, "h1-ops", conn)


def test_silent_peer_while_idle_is_known_by_the_next_cell(ssh):
    nb = ssh.login("h1-ops")
    conn = with_context(nb)
    stopped = Stopped(connection_pids(ssh.h1))
    try:
        kill_pids(stopped.pids, signal.SIGSTOP)
        time.sleep(LOSS_BOUND - 1)  # the keepalives have had their chance
        next_cell_says_lost(nb)
        relogin_restores(nb, "h1-ops", conn)
    finally:
        stopped.resume()


def test_relogin_while_the_server_is_still_down_keeps_the_context(ssh):
    """A reconnect that fails leaves the host and its context for a later one."""
    with ssh.lab.closed_port() as closed:
        ssh.add_host("h1-movable", ssh.h1, Port=ssh.h1.port)
        nb2 = ssh.login("h1-movable")
        nb2.ok("cd /tmp; kept=still")
        kill_pids(connection_pids(ssh.h1))
        # The kernel notices the loss (a reset connection: at once, but asynchronously).
        wait_until(lambda: re.search(r"^state: disconnected", nb2.ok("%status").text, re.M),
                   10, "the kernel noticing the killed connection")
        ssh.add_host("h1-movable", ssh.h1, Port=closed.port)  # the server "is down"
        res = nb2.run("%login h1-movable", timeout=CONNECT_BOUND + 10).failed()
        assert res.errors[0]["ename"] == "LoginFailed", res.describe()
        ssh.add_host("h1-movable", ssh.h1, Port=ssh.h1.port)  # back up
        res = nb2.run("%login h1-movable", timeout=30)
        assert re.search(r"^reconnected to h1-movable ", res.text, re.M), res.describe()
        assert nb2.ok('pwd; echo "$kept"').lines == ["/tmp", "still"]


# ---------------------------------------------------------------------------------------------
# Hosts that cannot be reached


def failed_in_time(nb, code: str):
    t0 = time.monotonic()
    res = finish(nb.submit(code), CONNECT_BOUND + 20)
    took = time.monotonic() - t0
    res.failed()
    assert res.errors[0]["ename"] == "LoginFailed", res.describe()
    assert took <= CONNECT_BOUND, f"{code!r} failed after {took:.1f} s (ConnectTimeout {CONNECT_TIMEOUT} s)"
    return res


def test_login_to_a_closed_port(ssh):
    with ssh.lab.closed_port() as closed:
        ssh.add_host("closed", None, None, HostName="127.0.0.1", Port=closed.port,
                     User="sshpty-ops", ConnectTimeout=CONNECT_TIMEOUT)
        res = failed_in_time(ssh.kernel(), "%login closed")
        assert re.search(r"(?i)refused", res.error_text) and str(closed.port) in res.error_text, \
            res.describe()


def test_login_to_an_unresolvable_name(ssh):
    res = failed_in_time(ssh.kernel(),
                         f"%login -o ConnectTimeout={CONNECT_TIMEOUT} sshpty-ops@no-such-host.invalid")
    assert "no-such-host.invalid" in res.error_text, res.describe()


def test_login_to_a_listener_that_never_speaks(ssh):
    silent = ssh.lab.silent_listener(lifetime=30)
    try:
        ssh.add_host("silent", None, None, HostName="127.0.0.1", Port=silent.port,
                     User="sshpty-ops", ConnectTimeout=CONNECT_TIMEOUT)
        res = failed_in_time(ssh.kernel(), "%login silent")
        assert re.search(r"ConnectTimeout|banner", res.error_text), res.describe()
        assert silent.accepted >= 1, "the kernel never connected to the silent listener"
    finally:
        silent.close()


def test_a_failed_login_leaves_the_current_host_alone(ssh):
    nb = ssh.login("h1-ops")
    nb.ok("cd /tmp")
    with ssh.lab.closed_port() as closed:
        res = nb.run(f"%login -p {closed.port} -o ConnectTimeout=2 sshpty-ops@127.0.0.1",
                     timeout=CONNECT_BOUND + 10).failed()
        assert res.errors[0]["ename"] == "LoginFailed"
    assert nb.ok("pwd; echo $SSH_CONNECTION").lines[0] == "/tmp"
