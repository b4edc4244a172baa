"""Several hosts in one notebook (issue 3, item 6): `%login` switches, each host keeps its own
connection and context, `%login` again switches back to the live connection, `%logout [HOST]`,
`%hosts` lists them with their state. (`%logout` then `%login` of one host, on both targets:
test_magics.py.)"""

from __future__ import annotations

import re

from ssh_kernel import (  # noqa: F401  (fixtures are used by name)
    LOSS_BOUND,
    connection_pids,
    kill_pids,
    ssh,
    ssh_servers,
    wait_until,
)


def server_port(nb) -> str:
    return nb.ok('echo "$SSH_CONNECTION"').text.split()[3]


def test_two_hosts_keep_separate_contexts(ssh):
    nb = ssh.login("h1-ops")
    nb.ok("cd /tmp; who=one; only_on_one() { echo one-fn; }")
    ssh.login("h2-ops", nb)
    assert server_port(nb) == str(ssh.h2.port)
    assert nb.ok('pwd; echo "[${who-unset}]"; type -t only_on_one || echo no-fn').lines == \
        ["/home/sshpty-ops", "[unset]", "no-fn"]
    nb.ok("cd /var; who=two")

    res = nb.ok("%login h1-ops")
    assert res.lines == ["switched to h1-ops"], res.describe()
    assert server_port(nb) == str(ssh.h1.port)
    assert nb.ok('pwd; echo "$who"; only_on_one').lines == ["/tmp", "one", "one-fn"]

    assert nb.ok("%login h2-ops").lines == ["switched to h2-ops"]
    assert nb.ok('pwd; echo "$who"').lines == ["/var", "two"]
    assert server_port(nb) == str(ssh.h2.port)


def test_switching_back_reuses_the_live_connection(ssh):
    nb = ssh.login("h1-ops")
    before = connection_pids(ssh.h1)
    ssh.login("h2-ops", nb)
    nb.ok("%login h1-ops")
    nb.ok("true")
    assert ssh.h1.connection_pids("sshpty-ops") == before, "switching back opened a new connection"


def test_same_server_as_two_users(ssh):
    nb = ssh.login("h1-ops")
    nb.ok("mark=ops")
    ssh.login("h1-fish", nb)
    assert nb.ok('whoami; echo "[${mark-}]"').lines == ["sshpty-fish", "[]"]
    nb.ok("%login h1-ops")
    assert nb.ok('whoami; echo "$mark"').lines == ["sshpty-ops", "ops"]


def test_hosts_lists_each_with_its_state(ssh):
    nb = ssh.login("h1-ops")
    nb.ok("cd /tmp")
    ssh.login("h2-ops", nb)
    text = nb.ok("%hosts").text
    assert re.search(r"^  h1-ops: sshpty-ops@127\.0\.0\.1 · connected · /tmp$", text, re.M), text
    assert re.search(r"^\* h2-ops: sshpty-ops@127\.0\.0\.1 · connected · /home/sshpty-ops$",
                     text, re.M), text
    kill_pids(connection_pids(ssh.h1))
    text = wait_until(lambda: (t := nb.ok("%hosts").text) and "disconnected" in t and t,
                      LOSS_BOUND, "%hosts to show the lost connection")
    assert re.search(r"^  h1-ops: .*· disconnected ·", text, re.M), text
    assert re.search(r"^\* h2-ops: .*· connected ·", text, re.M), text
    # The other host's loss does not touch the current one.
    assert server_port(nb) == str(ssh.h2.port)


def test_logout_of_another_host_and_of_the_current_one(ssh):
    nb = ssh.login("h1-ops")
    ssh.login("h2-ops", nb)
    assert nb.ok("%logout h1-ops").lines == ["logged out of h1-ops"]
    wait_until(lambda: not ssh.h1.connection_pids("sshpty-ops"), 5,
               "the logged-out connection to end on the server")
    assert server_port(nb) == str(ssh.h2.port), "logging out of another host moved the target"
    assert "h1-ops" not in nb.ok("%hosts").text
    assert nb.ok("%logout").lines == ["logged out of h2-ops"]
    res = nb.run("echo hi").failed()
    assert res.errors[0]["ename"] == "NoTarget", res.describe()
    res = nb.run("%logout h1-ops").failed()
    assert "not logged in to h1-ops" in res.error_text


def test_kernel_shutdown_closes_every_connection(ssh):
    nb = ssh.login("h1-ops")
    ssh.login("h2-ops", nb)
    connection_pids(ssh.h1)
    connection_pids(ssh.h2)
    nb.close()
    wait_until(lambda: not ssh.h1.connection_pids("sshpty-ops")
               and not ssh.h2.connection_pids("sshpty-ops"), 5,
               "the kernel's connections to end on the servers after its shutdown")
