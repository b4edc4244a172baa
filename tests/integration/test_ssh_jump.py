"""Reaching a host through another (issue 3, item 1): ProxyJump through the second sshd (one and
two hops, from the config and from `-J`), ProxyCommand, and ForwardAgent (an `ssh` from the
remote host to the second sshd works with the forwarded agent, and not without it).

That a hop is really used is seen on the jump host: its sshd serves a connection of the hop's
user while the kernel is logged in, and killing that connection loses the target.
"""

from __future__ import annotations

import re
import shutil

from harness import pgrep, wait_no_process
from ssh_kernel import (  # noqa: F401  (fixtures are used by name)
    BATCH,
    LOSS_BOUND,
    kill_pids,
    no_questions,
    ssh,
    ssh_servers,
    wait_until,
)

LOST = r"(?i)connection\b.*\b(lost|closed)"


def served_by(nb) -> str:
    """The server port of the cell's SSH connection: which sshd the cells run on."""
    return nb.ok('echo "$SSH_CONNECTION"').text.split()[3]


def hop_connections(sshd, user="sshpty-ops"):
    return wait_until(lambda: sshd.connection_pids(user), 5,
                      f"a connection of {user} to the jump host {sshd}")


def target_lost_with_hop(ssh, nb, user="sshpty-ops"):
    kill_pids(hop_connections(ssh.h2, user))
    res = nb.run("echo should-not-run", timeout=LOSS_BOUND + 10)
    res.failed()
    assert re.search(LOST, res.error_text), res.describe()


def test_proxyjump_from_the_config(ssh):
    ssh.add_host("h1-via-h2", ssh.h1, ProxyJump="h2-ops")
    assert not ssh.h2.connection_pids("sshpty-ops")
    nb = ssh.login("h1-via-h2")
    assert served_by(nb) == str(ssh.h1.port)
    hop_connections(ssh.h2)
    nb.ok("cd /tmp; v=1")
    assert nb.ok('pwd; echo "$v"').lines == ["/tmp", "1"]
    target_lost_with_hop(ssh, nb)


def test_proxyjump_with_dash_j(ssh):
    nb = ssh.kernel()
    res = no_questions(nb, "%login -J h2-ops h1-ops")
    assert res.status == "ok", res.describe()
    assert served_by(nb) == str(ssh.h1.port)
    hop_connections(ssh.h2)


def test_proxyjump_two_hops(ssh):
    """h2 as sshpty-fish, then h2 again as sshpty-ops, then h1: each hop connects through the
    one before it."""
    ssh.add_host("h1-two-hops", ssh.h1, ProxyJump="h2-fish,h2-ops")
    nb = ssh.login("h1-two-hops")
    assert served_by(nb) == str(ssh.h1.port)
    hop_connections(ssh.h2, "sshpty-fish")
    hop_connections(ssh.h2, "sshpty-ops")
    target_lost_with_hop(ssh, nb, "sshpty-fish")


def test_proxycommand(ssh):
    """ProxyCommand spawned locally, its stdio the transport (%h %p expanded). netcat is not
    installed here: OpenSSH's `ssh -W` through h2 stands in for nc."""
    if shutil.which("nc"):
        command = "nc %h %p"
    else:
        command = f"ssh -F {ssh.cfg.path} {' '.join(BATCH)} -W %h:%p h2-ops"
    ssh.add_host("h1-cmd", ssh.h1, ProxyCommand=command)
    nb = ssh.login("h1-cmd")
    assert served_by(nb) == str(ssh.h1.port)
    marker = rf"ssh .*-W 127\.0\.0\.1:{ssh.h1.port}" if "-W" in command else rf"nc 127\.0\.0\.1 {ssh.h1.port}"
    assert pgrep(marker), "no ProxyCommand process runs for the connection"
    if "-W" in command:
        hop_connections(ssh.h2)
    nb.ok("cd /tmp; v=2")
    assert nb.ok('pwd; echo "$v"').lines == ["/tmp", "2"]
    assert nb.ok("%logout").text.startswith("logged out of h1-cmd")
    assert not wait_no_process(marker, timeout=5), "the ProxyCommand outlived %logout"


def forward_probe(ssh) -> str:
    """From h1, ssh to h2 by the agent only (no key files there, no password in batch mode)."""
    return ("ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
            f"-o LogLevel=ERROR -o ConnectTimeout=5 -p {ssh.h2.port} sshpty-ops@127.0.0.1 "
            "'echo forwarded-ok from $SSH_CONNECTION'")


def test_forward_agent_reaches_the_second_host(ssh):
    ssh.add_host("h1-fwd", ssh.h1, ForwardAgent="yes")
    nb = ssh.login("h1-fwd")
    assert "sshpty-test-plain" in nb.ok("ssh-add -l").text, "the agent's key is not listed on h1"
    res = nb.run(forward_probe(ssh), timeout=30)
    assert res.status == "ok", res.describe()
    line = res.lines[-1].split()
    assert line[:2] == ["forwarded-ok", "from"] and line[-1] == str(ssh.h2.port), res.describe()


def test_without_forward_agent_the_second_host_refuses(ssh):
    nb = ssh.login("h1-ops")
    assert nb.ok('echo "[${SSH_AUTH_SOCK-}]"').lines == ["[]"]
    res = nb.run(forward_probe(ssh), timeout=30).failed()
    assert res.errors[0]["ename"] == "ExitStatus" and "255" in res.error_text, res.describe()
    assert "forwarded-ok" not in res.text
