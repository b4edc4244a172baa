"""Cells over SSH behave as on the local target (issue 3, item 4; the rows of item 7, 8, 9 and
10 of the kernel-core issue): context carried, exit statuses, interrupt with nothing left on the
host, completion, header and %status; and login shells that are not bash.

Sleep durations are unique to this file (19xx) and processes are looked up on the host by user,
so a test never mistakes another run's process for its own.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from ssh_kernel import (  # noqa: F401  (fixtures are used by name)
    finish,
    no_questions,
    sleeping,
    ssh,
    ssh_servers,
    ssh_kernelspec,
    wait_until,
)
from test_context import forged_block


@pytest.fixture
def h1(ssh):
    """A plain kernel logged in to h1-ops (header on)."""
    return ssh.login("h1-ops")


def on_host(user: str, n: int) -> str:
    """A `ps -eo pid,user:32,args` line of USER's `sleep N`."""
    return rf"^\d+\s+{re.escape(user)}\s+{sleeping(n)}"


# ---------------------------------------------------------------------------------------------
# The context (kernel-core item 7)


def test_cd_carries_and_cd_minus_goes_back(h1):
    assert h1.ok("pwd").text.strip() == "/home/sshpty-ops"
    h1.ok("cd /tmp")
    assert h1.ok("pwd").text.strip() == "/tmp"
    h1.ok("cd -")
    assert h1.ok('pwd; echo "$OLDPWD"').lines == ["/home/sshpty-ops", "/tmp"]


def test_variables_exported_and_not(h1):
    h1.ok("export EXPV='hello world'; UNEXP='just here'")
    res = h1.ok("echo \"[$EXPV] [$UNEXP]\"; bash -c 'echo \"child [$EXPV] [$UNEXP]\"'")
    assert res.lines == ["[hello world] [just here]", "child [hello world] []"]


def test_arrays(h1):
    h1.ok('arr=(one "two words" three); arr[7]=seven; declare -A m=([k1]=v1 ["k 2"]="v 2")')
    res = h1.ok('echo "${#arr[@]}|${arr[1]}|${arr[7]}|${m[k 2]}|${#m[@]}"')
    assert res.lines == ["4|two words|seven|v 2|2"]


def test_function(h1):
    h1.ok('greet() { echo "hello $1 from $(hostname)"; }')
    host = h1.ok("hostname").text.strip()
    assert h1.ok("greet bob").lines == [f"hello bob from {host}"]


def test_alias_and_login_profile_aliases(h1):
    h1.ok("alias sayit='echo aliased'")
    assert h1.ok("sayit x").lines == ["aliased x"]
    # Debian's ~/.bashrc (sourced by ~/.profile in the login shell) defines ls --color=auto.
    assert "--color=auto" in h1.ok("alias ls").text


def test_options_and_umask(h1):
    h1.ok("shopt -s extglob; set -o noclobber; umask 027")
    res = h1.ok("shopt -q extglob && echo extglob-on; [[ -o noclobber ]] && echo noclobber-on\n"
                "umask\necho @(a|b)")
    assert res.lines == ["extglob-on", "noclobber-on", "0027", "@(a|b)"]


def test_value_with_newlines_quotes_colons_and_non_utf8(h1):
    h1.ok("x=$'a\\nb: \"c\" \\'d\\' \\xff'")
    res = h1.ok('printf %s "$x" | od -An -tx1')
    assert " ".join(res.text.split()) == b"a\nb: \"c\" 'd' \xff".hex(" ")


def test_large_value_carries(h1):
    h1.ok("big=$(head -c 300000 /dev/zero | tr '\\0' x)")
    assert h1.ok("echo ${#big}").lines == ["300000"]


def test_ssh_variables_are_those_of_each_connection(ssh, h1):
    """SSH_CONNECTION and SSH_TTY are never restored: each cell sees its own channel's."""
    a = h1.ok('echo "$SSH_CONNECTION"; echo "$SSH_TTY"; tty').lines
    assert a[0].split()[3] == str(ssh.h1.port), a
    assert a[1] == a[2] and a[2].startswith("/dev/pts/"), f"SSH_TTY is not this cell's tty: {a}"


def test_exit_3_keeps_the_state_from_before_and_says_so(h1):
    h1.ok("cd /tmp; kept=before")
    res = h1.run("kept=after; cd /; exit 3").failed()
    assert res.errors[0]["ename"] == "ExitStatus" and re.search(r"\b3\b", res.error_text)
    assert re.search(r"state|context", res.error_text, re.I), res.describe()
    assert h1.ok('echo "$kept"; pwd').lines == ["before", "/tmp"]


def test_set_e_failure(h1):
    res = h1.run("set -e; false; echo no").failed()
    assert "no" not in res.lines
    assert h1.ok("echo yes").lines == ["yes"]


def test_cd_into_directory_later_deleted(h1):
    h1.ok("d=$(mktemp -d); cd $d; rmdir $d")
    res = h1.run("echo alive; pwd")
    assert "alive" in res.text, res.describe()
    assert h1.ok("echo still").lines == ["still"]


def test_exec_true(h1):
    h1.ok("before=1")
    res = h1.run("exec true", timeout=30)
    assert res.status in ("ok", "error"), res.describe()
    assert h1.ok('echo "next [$before]"').lines == ["next [1]"]


def test_kill_9_self_is_a_signal(h1):
    h1.ok("survivor=yes")
    res = h1.run("kill -9 $$", timeout=30).failed()
    assert res.errors[0]["ename"] == "Signal", res.describe()
    assert re.search(r"KILL|signal\D{0,3}9\b", res.error_text, re.I), res.describe()
    assert h1.ok('echo "$survivor"').lines == ["yes"]


def test_exit_status_of_the_last_command(h1):
    res = h1.run("false").failed()
    assert res.errors[0]["ename"] == "ExitStatus" and "exit status 1" in res.error_text


def test_forged_marker_printed_by_a_cell_changes_nothing(h1):
    h1.ok("cd /tmp; victim=original")
    octal = "".join(f"\\{b:03o}" for b in forged_block("deadbeef"))
    h1.run(f"printf '{octal}'")
    assert h1.ok('pwd; echo "$victim"').lines == ["/tmp", "original"]


def test_forged_marker_in_a_file_on_the_host_changes_nothing(h1):
    octal = "".join(f"\\{b:03o}" for b in forged_block("deadbeef"))
    h1.ok(f"printf '{octal}tail\\n' > ~/forged.bin; victim=original; cd /tmp")
    h1.run("cat ~/forged.bin")
    assert h1.ok('pwd; echo "$victim"; rm -f ~/forged.bin').lines == ["/tmp", "original"]


def test_restored_value_never_in_the_hosts_process_list(ssh, h1):
    h1.ok("secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n')")
    secret = h1.ok('echo "$secret"').text.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", secret), secret
    # On the host, during the cell (its state was just restored): ps into a file, then count.
    res = h1.ok('ps -ww -eo args > /tmp/ps.$$; grep -c -F -- "$secret" /tmp/ps.$$; rm -f /tmp/ps.$$')
    assert res.lines[-1].strip() == "0", res.describe()
    # The host is this machine (loopback): watch its process list while cells restore it.
    for _ in range(3):
        cell = h1.submit("sleep 0.3; echo done")
        while not cell._done():
            out = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
            assert secret not in out, "a restored value is visible in ps on the host"
            h1._pump_iopub(0.02)
        cell.result(timeout=30).ok()


# ---------------------------------------------------------------------------------------------
# Output over the channel


def test_all_output_arrives_before_the_cell_ends(h1):
    """The exit status arrives before the last data: the channel is read until it closes."""
    for _ in range(3):
        res = h1.ok("seq 1 30000; printf 'last line without newline'")
        assert res.lines[0] == "1" and res.lines[-2] == "30000", res.lines[-3:]
        assert res.lines[-1] == "last line without newline"


def test_output_streams_while_the_cell_runs(h1):
    cell = h1.submit("echo early; sleep 3; echo late")
    t0 = time.monotonic()
    cell.wait_for_text("early", timeout=10)
    assert time.monotonic() - t0 < 2, "the first line came only when the cell ended"
    assert "late" not in cell._text()
    finish(cell, 15).ok()


def test_big_output_then_exit_status(h1):
    res = h1.run("head -c 2000000 /dev/zero | tr '\\0' 'y' | fold -w 100; exit 4", timeout=60)
    res.failed()
    assert res.text.count("y" * 100) == 20000
    assert re.search(r"\b4\b", res.error_text)


# ---------------------------------------------------------------------------------------------
# Interrupt and timeout over SSH (kernel-core item 10, issue 3 item 7)


def interrupted(ssh, nb, code, user, n, limit):
    cell = nb.submit(code)
    # Wait for the process on the host, not for output: streaming has its own test.
    alias = "h1-ops"  # ps through a connection of our own
    try:
        wait_present(ssh, user, n)
    except AssertionError as e:
        nb._pump_iopub(0.5)
        raise AssertionError(f"{e}; the cell so far: {cell.outputs}; ps: "
                             f"{ssh.remote_processes(alias, 'sleep|bash')}") from None
    time.sleep(0.2)
    t0 = time.monotonic()
    reply = nb.interrupt()
    assert reply["content"].get("status", "ok") == "ok"
    res = finish(cell, limit + 10)
    took = time.monotonic() - t0
    res.failed()
    assert res.errors[0]["ename"] == "Interrupted", res.describe()
    assert took <= limit, f"the interrupt took {took:.1f} s (limit {limit} s)"
    left = ssh.wait_remote_gone(alias, on_host(user, n), timeout=3)
    assert not left, f"still running on the host after the interrupt: {left}"
    return res


def wait_present(ssh, user, n):
    return wait_until(lambda: ssh.remote_processes("h1-ops", on_host(user, n)), 5,
                      f"sleep {n} of {user} running on the host")


def test_interrupt_sleep_leaves_nothing_on_the_host(ssh, h1):
    h1.ok("cd /tmp; before=yes")
    interrupted(ssh, h1, "echo started; sleep 1931", "sshpty-ops", 1931, limit=5)
    assert h1.ok('pwd; echo "$before"').lines == ["/tmp", "yes"]


def test_interrupt_program_that_ignores_sigint(ssh, h1):
    interrupted(ssh, h1, "echo started; bash -c \"trap '' INT; sleep 1932\"", "sshpty-ops", 1932,
                limit=10)
    assert h1.ok("echo after").lines == ["after"]


def test_interrupt_sudo_sleep(ssh, h1):
    """sudo's sleep runs as root: the login user cannot signal it, Ctrl-C through the PTY
    (relayed by sudo) is what stops it."""
    h1.ok(f"pw='{ssh.lab.password}'")
    interrupted(ssh, h1, "echo started; printf '%s\\n' \"$pw\" | sudo -S -p '' sleep 1933",
                "root", 1933, limit=10)
    assert h1.ok("echo after").lines == ["after"]


def test_timeout_over_ssh(ssh, h1):
    h1.ok("%timeout 2")
    cell = h1.submit("echo started; sleep 1934")
    res = finish(cell, 15).failed()
    assert res.errors[0]["ename"] == "Timeout", res.describe()
    assert not ssh.wait_remote_gone("h1-ops", on_host("sshpty-ops", 1934), timeout=3)


def test_background_job_ends_with_its_cell(ssh, h1):
    t0 = time.monotonic()
    res = h1.run("sleep 1935 & echo started", timeout=30)
    assert res.status == "ok" and time.monotonic() - t0 < 10, res.describe()
    assert not ssh.wait_remote_gone("h1-ops", on_host("sshpty-ops", 1935), timeout=3)


def test_kernel_shutdown_mid_cell_leaves_nothing_on_the_host(ssh, h1):
    h1.submit("echo started; sleep 1936")
    wait_present(ssh, "sshpty-ops", 1936)
    h1.close()  # shutdown_request while the cell runs; close() fails on local leftovers
    assert not ssh.wait_remote_gone("h1-ops", on_host("sshpty-ops", 1936), timeout=5)


# ---------------------------------------------------------------------------------------------
# Completion, header, %status


def test_completion_uses_the_host_and_the_context(h1):
    h1.ok("cd $(mktemp -d); touch uniq_remote_file_1; my_remote_fn_abc() { :; }")
    r = h1.complete("ech")
    assert "echo" in r["matches"], r
    r = h1.complete("cat uniq_rem")
    assert any(m.endswith("uniq_remote_file_1") for m in r["matches"]), r
    r = h1.complete("my_remote_fn_a")
    assert "my_remote_fn_abc" in r["matches"], r


def test_header_names_the_host(ssh, h1):
    res = h1.ok("cd /tmp")
    heads = [m["content"] for m in res.displays]
    assert heads, res.describe()
    text = heads[0]["data"]["text/plain"]
    assert "sshpty-ops@127.0.0.1" in text, text
    meta = heads[0]["metadata"]["sshpty"]
    assert meta["target"] == "h1-ops" and meta["host"] == "127.0.0.1" and meta["user"] == "sshpty-ops"


def test_status_shows_host_user_address_since_and_context(ssh, h1):
    t = h1.ok("%status").text
    assert re.search(r"^target: h1-ops$", t, re.M), t
    assert re.search(rf"^host: 127\.0\.0\.1 \(127\.0\.0\.1:{ssh.h1.port}\)$", t, re.M), t
    assert re.search(r"^user: sshpty-ops$", t, re.M), t
    assert re.search(r"^state: connected since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", t, re.M), t
    m = re.search(r"^context: ([0-9.]+) KiB", t, re.M)
    assert m, t
    h1.ok("filler=$(head -c 50000 /dev/zero | tr '\\0' f)")
    m2 = re.search(r"^context: ([0-9.]+) KiB", h1.ok("%status").text, re.M)
    assert float(m2.group(1)) >= float(m.group(1)) + 45, (m.group(0), m2.group(0))


def test_kernelspec_with_login_no_header(ssh, notebook, ssh_kernelspec):
    nb = ssh.kernel(kernel_name=ssh_kernelspec)
    res = no_questions(nb, "whoami")
    assert res.status == "ok" and res.lines[-1] == "sshpty-ops", res.describe()
    assert not res.displays, "--no-header: no header"
    assert nb.ok("echo $SSH_CONNECTION").text.split()[3] == str(ssh.h1.port)


# ---------------------------------------------------------------------------------------------
# Login shells that are not bash


@pytest.mark.parametrize("user", ["fish", "tcsh"])
def test_cells_run_in_bash_whatever_the_login_shell(ssh, user):
    nb = ssh.login(f"h1-{user}")
    res = nb.ok('echo "[$BASH_VERSION]"; ps -o comm= -p $$')
    assert re.fullmatch(r"\[\d+\.\d+\S*\]", res.lines[0]), res.describe()
    assert res.lines[1] == "bash", res.describe()
    nb.ok("cd /tmp; v=carried; f() { echo func; }")
    assert nb.ok('pwd; echo "$v"; f').lines == ["/tmp", "carried", "func"]


def test_host_without_bash_runs_cells_in_sh_with_cwd_and_exports(ssh):
    nb = ssh.kernel()
    res = no_questions(nb, "%login h1-bb")
    assert res.status == "ok", res.describe()
    assert "logged in to h1-bb" in res.text, res.describe()
    # Said once, by the first cell after the login (whose environment is read meanwhile):
    # no bash there, and what is carried.
    cell = nb.ok("cd /tmp; export CARRIED=yes")
    assert re.search(r"has no bash.*sh.*working directory and exported variables", cell.text), \
        cell.describe()
    assert "sh (no bash" in nb.ok("%status").text
    cell = nb.ok("cd /tmp; export CARRIED=yes")
    assert "bash" not in cell.text, "the note is given once"
    assert nb.ok('pwd; echo "$CARRIED"').lines == ["/tmp", "yes"]
    # No bash ran it: busybox sh did.
    assert nb.ok("readlink /proc/$$/exe").lines == ["/bin/busybox"]


@pytest.fixture
def bb(ssh):
    nb = ssh.kernel()
    res = no_questions(nb, "%login h1-bb")
    assert res.status == "ok", res.describe()
    return nb


def test_sh_host_carries_awkward_values_and_unset(bb):
    bb.ok("export Q=\"it's \\$x \\\"q\\\" \\\\ end\"; export NL='a\nb'; PLAIN=local")
    res = bb.ok('printf "[%s]\\n" "$Q" "$NL" "$PLAIN"; sh -c \'echo "child [$Q]"\'')
    assert res.lines == ["[it's $x \"q\" \\ end]", "[a", "b]", "[]", "child [it's $x \"q\" \\ end]"], \
        res.describe()
    # A login variable unset by a cell stays unset.
    assert bb.ok('echo "[$HOME]"').lines == ["[/home/sshpty-bb]"]
    bb.ok("unset HOME")
    assert bb.ok('echo "[$HOME]"').lines == ["[]"]


def test_sh_host_exit_status_and_state_kept(bb):
    bb.ok("cd /tmp; export KEPT=before")
    res = bb.run("export KEPT=after; cd /; exit 3").failed()
    assert res.errors[0]["ename"] == "ExitStatus" and re.search(r"\b3\b", res.error_text)
    res = bb.run("false").failed()
    assert res.errors[0]["ename"] == "ExitStatus" and re.search(r"\b1\b", res.error_text)
    assert bb.ok('echo "$KEPT"; pwd').lines == ["before", "/tmp"]
    bb.ok("%strict on")
    res = bb.run("false; echo not-reached").failed()
    assert "not-reached" not in res.text, res.describe()
    bb.ok("%strict off")
    assert bb.ok("echo after").lines == ["after"]


def test_sh_host_deleted_directory_falls_back(bb):
    bb.ok("mkdir -p /tmp/sshpty-bb-gone/sub; cd /tmp/sshpty-bb-gone/sub; rm -r /tmp/sshpty-bb-gone")
    res = bb.run("pwd")
    assert res.status == "ok" and res.lines[0] == "/tmp", res.describe()
    assert re.search(r"directory /tmp/sshpty-bb-gone/sub .*the cell ran in /tmp", res.text), \
        res.describe()


def test_sh_host_interrupt_and_header(ssh, bb):
    bb.ok("cd /tmp; export BEFORE=yes")
    interrupted(ssh, bb, "echo started; sleep 1937", "sshpty-bb", 1937, limit=5)
    assert bb.ok('pwd; echo "$BEFORE"').lines == ["/tmp", "yes"]
    res = bb.ok("cd /")
    heads = [m["content"] for m in res.displays]
    assert heads and "sshpty-bb@127.0.0.1" in heads[0]["data"]["text/plain"], res.describe()
