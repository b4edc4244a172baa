"""One cell on many hosts (issue 15): `%inventory FILE` (an Ansible inventory) and `%on PATTERN`
(Ansible's host patterns) on the real test sshds h1 and h2. Each host keeps its own connection
and context across `%on` cells, the notebook's current host stays current, a host that fails or
cannot be reached fails the cell after every host had its turn, the folded outputs and the table
of hosts go into the notebook with the run's facts, and an interrupt stops the fleet.
test_fleet_many.py runs tens of hosts at once."""

from __future__ import annotations

import resource
import socket
import time

from harness import LOCAL
from ssh_kernel import ssh, ssh_servers  # noqa: F401  (fixtures are used by name)


def fleet_text(res) -> str:
    """The folded outputs' text/plain (dshbak -c style blocks)."""
    for msg in res.displays:
        data = msg["content"].get("data", {})
        if data.get("text/html", "").startswith('<div class="sshpty-fleet">'):
            return data["text/plain"]
    raise AssertionError(f"no folded outputs in the cell's outputs:\n{res.describe()}")


def port_of(res) -> list[str]:
    return [line.split()[1] for line in fleet_text(res).splitlines() if line.startswith("port ")]


def fleet_facts(res) -> dict:
    for msg in res.displays:
        meta = msg["content"].get("metadata", {}).get("sshpty", {})
        if "fleet" in meta:
            return meta["fleet"]
    raise AssertionError(f"no fleet table in the cell's outputs:\n{res.describe()}")


def open_file_limits(pid: int) -> tuple[str, str]:
    for line in open(f"/proc/{pid}/limits"):
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return soft, hard
    raise AssertionError("no open-file limit in /proc/PID/limits")


def test_what_the_kernel_starts_gets_the_open_file_limit_it_was_started_with(notebook):
    """The kernel raises its own limit for its connections; a local cell's shell (and every
    other process it starts here) gets the one it was given, as from a terminal."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(512, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        nb = notebook(LOCAL)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert open_file_limits(nb.pid) == (str(hard), str(hard)), open_file_limits(nb.pid)
    assert nb.ok("ulimit -Sn; ulimit -Hn").lines[-2:] == [str(low), str(hard)]


def test_on_alone_says_what_a_pattern_selects_among_logged_in_hosts(ssh):
    # A connection per host: the kernel takes all the open files it is allowed, though
    # started with a low soft limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(512, hard), hard))
    try:
        nb = ssh.kernel()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert open_file_limits(nb.pid) == (str(hard), str(hard)), open_file_limits(nb.pid)
    res = nb.run("%on all")
    assert res.status == "error" and res.errors[0]["ename"] == "HostPattern", res.describe()
    ssh.login("h1-ops", nb)
    ssh.login("h2-ops", nb)
    assert "all selects 2 hosts" in nb.ok("%on all").text
    # A plain name from ssh_config may be given though not logged in to; a glob may not
    # reach beyond the logged-in hosts.
    assert "h1-fish selects 1 host: h1-fish" in nb.ok("%on h1-fish").text
    assert "selects 1 host: h2-ops" in nb.ok("%on all:!h1-ops").text
    res = nb.run("%on web*")
    assert res.status == "error" and res.errors[0]["ename"] == "HostPattern", res.describe()
    assert "h1-ops" in res.error_text, res.error_text
    res = nb.run("%on h1-ops\n%status\necho x")
    assert res.errors[0]["ename"] == "MagicUsage", res.describe()


def test_each_host_keeps_its_connection_and_context_and_the_current_host_stays(ssh):
    nb = ssh.login("h1-ops")
    ssh.login("h2-ops", nb)  # current: h2-ops
    before = ssh.h1.connection_pids("sshpty-ops")
    res = nb.ok('%on all\ncd /tmp; mark="was-$(hostname)"; echo "port ${SSH_CONNECTION##* }"')
    assert sorted(port_of(res)) == sorted([str(ssh.h1.port), str(ssh.h2.port)]), res.describe()
    facts = fleet_facts(res)
    assert [h["status"] for h in facts["hosts"]] == ["ok", "ok"], facts
    assert {h["host"] for h in facts["hosts"]} == {"h1-ops", "h2-ops"}
    assert facts["pattern"] == "all" and facts["started"] and "by" in facts
    res = nb.ok('%on all\npwd; echo "$mark"')
    # Both hosts are this machine: one output, folded under both names.
    assert fleet_text(res).splitlines() == [
        "----------------", "h[1-2]-ops", "----------------", "/tmp", f"was-{socket.gethostname()}",
    ], res.describe()
    # The current host is still h2-ops, and it has the context its %on part left.
    assert nb.ok('echo "${SSH_CONNECTION##* }"; pwd').lines == [str(ssh.h2.port), "/tmp"]
    assert ssh.h1.connection_pids("sshpty-ops") == before, "%on opened a new connection to h1"


def test_an_inventory_with_a_failing_and_an_unreachable_host(ssh, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # nothing listens there once closed
    key = ssh.cfg.identity
    common = f"ansible_host=127.0.0.1 ansible_user=sshpty-ops ansible_ssh_private_key_file={key}"
    inv = tmp_path / "hosts.ini"
    inv.write_text(f"""# the test fleet
[web]
w1 ansible_port={ssh.h1.port} {common}
w2 ansible_port={ssh.h2.port} {common} ansible_password=never-shown

[db]
d1 ansible_port={dead} {common}

[prod:children]
web
db
""")
    nb = ssh.kernel()
    res = nb.ok(f"%inventory {inv}")
    assert "3 hosts" in res.text and "never-shown" not in res.text, res.describe()
    assert "selects 2 hosts" in nb.ok("%on prod:!d1").text
    assert "selects 1 host: w2" in nb.ok("%on web:&prod:!w1").text
    res = nb.run(f'%on prod\necho "on $(whoami) port ${{SSH_CONNECTION##* }}"; '
                 f'test "${{SSH_CONNECTION##* }}" != {ssh.h2.port}', timeout=90)
    assert res.status == "error" and res.errors[0]["ename"] == "FleetFailed", res.describe()
    assert "2 of 3 hosts" in res.error_text, res.error_text
    text = fleet_text(res)
    assert f"on sshpty-ops port {ssh.h1.port}" in text, res.describe()
    assert "d1 (unreachable: " in text, text
    assert "w2 (exit 1)" in text, text
    facts = fleet_facts(res)
    by_host = {h["host"]: h for h in facts["hosts"]}
    assert by_host["w1"]["status"] == "ok" and by_host["w1"]["exit_code"] == 0, facts
    assert by_host["w2"]["status"] == "failed" and by_host["w2"]["exit_code"] == 1, facts
    assert by_host["d1"]["status"] == "unreachable", facts
    assert "never-shown" not in str(res.output_msgs)
    # The hosts that answered are kept for later cells; none became current.
    res = nb.run("echo x")
    assert res.errors[0]["ename"] == "NoTarget", res.describe()


def test_an_interrupt_stops_the_fleet_and_leaves_nothing_running(ssh):
    nb = ssh.login("h1-ops")
    ssh.login("h2-ops", nb)
    cell = nb.submit("%on all\nsleep 1011")
    deadline = time.monotonic() + 30
    # Both hosts run at once.
    while not (ssh.remote_processes("h1-ops", r"sleep 1011")
               and ssh.remote_processes("h2-ops", r"sleep 1011")):
        assert time.monotonic() < deadline, "sleep never started on both hosts"
        time.sleep(0.2)
    nb.interrupt()
    res = cell.result(30)
    assert res.status == "error" and res.errors[0]["ename"] == "Interrupted", res.describe()
    assert not ssh.wait_remote_gone("h1-ops", r"sleep 1011")
    assert not ssh.wait_remote_gone("h2-ops", r"sleep 1011")
    facts = fleet_facts(res)
    assert facts["halted"] == "interrupt" and facts["not_started"] == [], facts
    assert nb.ok("echo still here").text.strip().endswith("still here")
    # With one host at a time, the interrupt leaves the second unstarted.
    cell = nb.submit("%on --forks 1 h1-ops,h2-ops\nsleep 1012")
    deadline = time.monotonic() + 30
    while not ssh.remote_processes("h1-ops", r"sleep 1012"):
        assert time.monotonic() < deadline, "sleep never started on h1"
        time.sleep(0.2)
    nb.interrupt()
    res = cell.result(30)
    assert res.errors[0]["ename"] == "Interrupted", res.describe()
    assert fleet_facts(res)["not_started"] == ["h2-ops"], fleet_facts(res)
    assert not ssh.wait_remote_gone("h1-ops", r"sleep 1012")


def test_a_fleet_through_a_jump_host_shares_one_connection_to_it(ssh):
    names = [f"j{i}" for i in range(1, 7)]
    for n in names:
        ssh.add_host(n, ssh.h1, ProxyJump="h2-ops")
    assert not ssh.h2.connection_pids("sshpty-ops")
    nb = ssh.kernel()
    res = nb.ok(f"%on {','.join(names)}\n" + 'echo "via ${SSH_CONNECTION##* }"', timeout=60)
    assert fleet_text(res).splitlines() == [
        "----------------", "j[1-6]", "----------------", f"via {ssh.h1.port}",
    ], res.describe()
    # One login on the jump host carries all six (sshd shows one connection as its
    # privileged monitor and the user's process), however many hosts are behind it.
    hop = ssh.h2.connection_pids("sshpty-ops")
    assert 1 <= len(hop) <= 2, hop
    one_host = nb.ok("%login j1\n" + 'echo "${SSH_CONNECTION##* }"')
    assert one_host.lines[-1] == str(ssh.h1.port), one_host.describe()
    nb.ok(f"%on {','.join(names)}\ntrue")
    assert ssh.h2.connection_pids("sshpty-ops") == hop
