"""Self-test of sshd_harness: the real OpenSSH client against the harness's sshd, no kernel.

If one of these fails, the SSH-target tests that build on the harness cannot be trusted: look
here first. Every wait has a bound; the whole file takes well under a minute on a warm machine.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time

import pytest

from sshd_harness import (  # noqa: F401  (fixtures are used by name)
    SSHLab,
    ensure_packages,
    run_in_pty,
    ssh_client,
    ssh_lab,
    sshd_h1,
    sshd_h2,
)

# Non-interactive client: never prompts, checks the host key against the generated known_hosts.
BATCH = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR",
         "-o", "ConnectTimeout=5"]
# For run_in_pty: prompts allowed, host key still checked.
INTERACTIVE = ["-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR",
               "-o", "ConnectTimeout=5"]


def ssh(cfg, alias, command, *, options=(), env=None, input=None, timeout=20):
    # ssh takes the first value of an option: the test's own come first.
    return subprocess.run(cfg.ssh(alias, command, options=[*options, *BATCH]),
                          env=env or cfg.env(), input=input, capture_output=True, text=True,
                          timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)


def getent_shell(user: str) -> str:
    return subprocess.run(["getent", "passwd", user], capture_output=True, text=True,
                          check=True).stdout.strip().split(":")[6]


def read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    """Read FD until NEEDLE arrives; fail with what came if it does not within TIMEOUT."""
    data, deadline = b"", time.monotonic() + timeout
    while needle not in data:
        left = deadline - time.monotonic()
        assert left > 0, f"{needle!r} not read within {timeout} s; got {data!r}"
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 4096)
            assert chunk, f"EOF before {needle!r}; got {data!r}"
            data += chunk
    return data


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# The machine


def test_packages_users_and_sudoers_in_place(ssh_lab):
    assert ensure_packages() == [], "a second ensure_packages() must find everything installed"
    assert getent_shell("sshpty-ops") == "/bin/bash"
    assert getent_shell("sshpty-fish") == ssh_lab.users["fish"].shell == "/usr/bin/fish"
    assert getent_shell("sshpty-tcsh") == ssh_lab.users["tcsh"].shell == "/usr/bin/tcsh"
    assert getent_shell("sshpty-bb") == "/bin/sh"  # busybox sh inside its chroot
    subprocess.run(["visudo", "-cf", "/etc/sudoers.d/sshpty-test"], check=True,
                   capture_output=True)
    assert "timestamp_timeout=0" in open("/etc/sudoers.d/sshpty-test").read()


def test_sshd_config_and_known_hosts_line(sshd_h1, ssh_client):
    config = sshd_h1.config_path.read_text()
    for line in ("UsePAM yes", "PasswordAuthentication yes", "KbdInteractiveAuthentication yes",
                 "PubkeyAuthentication yes", "AllowAgentForwarding yes", "AllowTcpForwarding yes",
                 "MaxSessions 10", "LogLevel VERBOSE", "ListenAddress 127.0.0.1",
                 "Match User sshpty-bb"):
        assert line in config
    version = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr
    major, minor = (int(x) for x in version.split("_")[1].split("p")[0].split(".")[:2])
    knows_penalties = (major, minor) >= (9, 8)
    assert ("PerSourcePenalties no" in config) == knows_penalties == sshd_h1.per_source_penalties

    # The line we write is the line OpenSSH's own keyscan reads from the server.
    scan = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p", str(sshd_h1.port), "127.0.0.1"],
                          capture_output=True, text=True, timeout=10)
    assert sshd_h1.known_hosts_line() in scan.stdout.splitlines()
    fp = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{sshd_h1.host_key}.pub"],
                        capture_output=True, text=True, check=True).stdout.split()[1]
    assert sshd_h1.host_key_fingerprint() == fp
    assert sshd_h1.known_hosts_line() in ssh_client.known_hosts.read_text()


# ---------------------------------------------------------------------------------------------
# Ways of logging in


@pytest.mark.parametrize("alias,user", [("h1-ops", "sshpty-ops"), ("h1-root", "root"),
                                        ("h2-ops", "sshpty-ops")])
def test_login_by_key(ssh_client, alias, user):
    r = ssh(ssh_client, alias, "id -un")
    assert (r.returncode, r.stdout.strip()) == (0, user), r.stderr


def test_login_by_agent_only(ssh_client, sshd_h1):
    r = ssh(ssh_client, "h1-ops-agent", "id -un")
    assert (r.returncode, r.stdout.strip()) == (0, "sshpty-ops"), r.stderr
    # The alias names no key file: without the agent, nothing logs in.
    r = ssh(ssh_client, "h1-ops-agent", "true", env=ssh_client.env(agent=False),
            options=["-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no"])
    assert r.returncode == 255 and "Permission denied" in r.stderr, r.stderr


def test_login_by_encrypted_key_asks_passphrase(ssh_lab, ssh_client):
    r = run_in_pty(ssh_client.ssh("h1-ops-enc", "id -un", options=INTERACTIVE),
                   [(r"Enter passphrase for key '[^']+': ", ssh_lab.keys.passphrase)],
                   env=ssh_client.env(agent=False), timeout=20)
    assert r.returncode == 0 and "sshpty-ops" in r.output, r.output
    assert len(r.answered) == 1


@pytest.mark.parametrize("method,prompt", [
    ("keyboard-interactive", r"\(sshpty-ops@127\.0\.0\.1\) Password: "),
    ("password", r"sshpty-ops@127\.0\.0\.1's password: "),
])
def test_login_by_password(ssh_lab, ssh_client, method, prompt):
    r = run_in_pty(ssh_client.ssh("h1-ops-pw", "id -un",
                                  options=[*INTERACTIVE, "-o", f"PreferredAuthentications={method}"]),
                   [(prompt, ssh_lab.password)], env=ssh_client.env(agent=False), timeout=20)
    assert r.returncode == 0 and "sshpty-ops" in r.output, r.output
    assert len(r.answered) == 1


def test_sudo_asks_for_the_password_every_time(ssh_lab, ssh_client):
    r = ssh(ssh_client, "h1-ops", "sudo -n true")
    assert r.returncode == 1 and "password is required" in r.stderr, r.stderr
    # On a terminal: `sudo -k` and two sudo in a row, each asks (timestamp_timeout=0).
    r = run_in_pty(ssh_client.ssh("h1-ops", "sudo -k; sudo id -un; sudo id -un",
                                  options=[*INTERACTIVE, "-tt"]),
                   [(r"\[sudo\] password for sshpty-ops: ", ssh_lab.password)],
                   env=ssh_client.env(), timeout=20)
    assert r.returncode == 0, r.output
    assert len(r.answered) == 2, r.output
    assert r.output.count("root") == 2, r.output
    # sudo -S reads it from stdin.
    r = ssh(ssh_client, "h1-ops", "sudo -S -p 'pw? ' id -un", input=ssh_lab.password + "\n")
    assert (r.returncode, r.stdout.strip()) == (0, "root") and "pw? " in r.stderr, r.stderr


# ---------------------------------------------------------------------------------------------
# Login shells


@pytest.mark.parametrize("short,pid_var", [("fish", "$fish_pid"), ("tcsh", "$$")])
def test_login_shell(ssh_lab, ssh_client, short, pid_var):
    shell = ssh_lab.users[short].shell
    assert getent_shell(f"sshpty-{short}") == shell
    # $fish_pid exists only in fish: the command really is run by that shell.
    r = ssh(ssh_client, f"h1-{short}", f"echo $SHELL; ps -o comm= -p {pid_var}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [shell, short]


def test_busybox_user_has_no_bash_and_gets_a_pty(ssh_client):
    r = ssh(ssh_client, "h1-bb", "command -v bash; echo rc=$?; readlink /proc/$$/exe; "
                                 "ls /bin/bash /usr/bin/bash 2>&1; ps >/dev/null && echo ps-ok")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("rc=") and lines[0] != "rc=0", r.stdout  # printed nothing
    assert lines[1] == "/bin/busybox", r.stdout
    assert "ps-ok" in r.stdout
    r = run_in_pty(ssh_client.ssh("h1-bb", "tty; stty size; echo $0",
                                  options=[*INTERACTIVE, "-tt"]),
                   env=ssh_client.env(), timeout=20, size=(24, 120))
    assert r.returncode == 0, r.output
    out = r.output.replace("\r", "").splitlines()
    assert out[0].startswith("/dev/pts/") and out[1] == "24 120", r.output


# ---------------------------------------------------------------------------------------------
# Topology: a jump host, a listener that is gone, a peer that never answers


def test_proxyjump_through_second_sshd(ssh_client, sshd_h1, sshd_h2):
    accepted = "Accepted publickey for sshpty-ops"
    before = sshd_h2.log().count(accepted)
    r = ssh(ssh_client, "h1-ops", "echo $SSH_CONNECTION", options=["-J", "h2-ops"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[2:4] == ["127.0.0.1", str(sshd_h1.port)]
    ssh_client.add_host("h1-via-h2", sshd_h1, "sshpty-fish", ProxyJump="h2-ops")
    r = ssh(ssh_client, "h1-via-h2", "id -un")
    assert (r.returncode, r.stdout.strip()) == (0, "sshpty-fish"), r.stderr
    assert sshd_h2.log().count(accepted) == before + 2  # both logins went through h2


def test_forwarded_agent_reaches_the_second_sshd(ssh_client, sshd_h2):
    # From h1, with the agent forwarded (-A), ssh on to h2 with no key file on h1.
    hop = (f"ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
           f"-o LogLevel=ERROR -p {sshd_h2.port} sshpty-fish@127.0.0.1 id -un")
    r = ssh(ssh_client, "h1-ops-agent", hop, options=["-A"])
    assert (r.returncode, r.stdout.strip()) == (0, "sshpty-fish"), r.stderr
    r = ssh(ssh_client, "h1-ops-agent", hop)  # the same without -A fails
    assert r.returncode == 255, r.stdout


def test_connection_pids_are_this_users_on_this_instance(ssh_client, sshd_h1, sshd_h2):
    p = subprocess.Popen(ssh_client.ssh("h1-fish", "echo up; sleep 20", options=[*BATCH, "-tt"]),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=ssh_client.env())
    try:
        read_until(p.stdout.fileno(), b"up", 10)
        pids = sshd_h1.connection_pids("sshpty-fish")
        titles = [open(f"/proc/{pid}/cmdline").read().replace("\0", " ") for pid in pids]
        assert any("[priv]" in t for t in titles) and any("@pts/" in t for t in titles), titles
        assert all(t.startswith("sshd: sshpty-fish") for t in titles), titles
        assert sshd_h1.connection_pids("sshpty-ops") == []
        assert sshd_h2.connection_pids("sshpty-fish") == []
        # Killing them drops the connection, as a test of connection loss will do.
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        assert p.wait(10) == 255
        wait_for(lambda: not sshd_h1.connection_pids("sshpty-fish"), 5, "connection gone")
    finally:
        p.kill()
        p.wait(5)


def test_kill_listener_keeps_sessions_and_refuses_new_ones(ssh_lab, tmp_path):
    kl = ssh_lab.start_sshd(name="kl", MaxSessions=3)
    try:
        assert "MaxSessions 3" in kl.config_path.read_text()
        assert "MaxSessions 10" not in kl.config_path.read_text()
        cfg = ssh_lab.ssh_config_for(tmp_path / "home", [kl])
        p = subprocess.Popen(cfg.ssh("kl-ops", "echo started; read line; echo got $line; "
                                     "exec sleep 30", options=BATCH),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=cfg.env())
        try:
            read_until(p.stdout.fileno(), b"started\n", 10)
            conn = kl.connection_pids("sshpty-ops")
            assert conn
            kl.kill_listener()
            assert not kl.running
            t = time.monotonic()
            r = ssh(cfg, "kl-ops", "true", timeout=10)
            assert r.returncode == 255 and "Connection refused" in r.stderr, r.stderr
            assert time.monotonic() - t < 3
            # The existing session still answers.
            assert all(alive(pid) for pid in conn)
            assert kl.connection_pids("sshpty-ops") == conn
            p.stdin.write(b"ping\n")
            p.stdin.flush()
            read_until(p.stdout.fileno(), b"got ping\n", 10)
            # stop() ends the orphaned connections and what they run.
            kl.stop()
            assert p.wait(10) == 255  # the connection closed by the remote end
            assert kl.connection_pids() == []
        finally:
            p.kill()
            p.wait(5)
    finally:
        kl.stop()


def test_silent_listener_and_closed_port_fail_in_bound(ssh_lab, ssh_client):
    with ssh_lab.silent_listener(lifetime=20) as silent, ssh_lab.closed_port() as closed:
        ssh_client.add_host("silent", HostName="127.0.0.1", Port=silent.port, User="sshpty-ops")
        ssh_client.add_host("closed", HostName="127.0.0.1", Port=closed.port, User="sshpty-ops")
        t = time.monotonic()
        r = ssh(ssh_client, "silent", "true", options=["-o", "ConnectTimeout=2"], timeout=15)
        elapsed = time.monotonic() - t
        assert r.returncode == 255 and "banner exchange" in r.stderr, r.stderr
        assert 1.5 <= elapsed <= 4.5, elapsed
        assert silent.accepted >= 1
        t = time.monotonic()
        r = ssh(ssh_client, "closed", "true", options=["-o", "ConnectTimeout=2"], timeout=15)
        assert r.returncode == 255 and "Connection refused" in r.stderr, r.stderr
        assert time.monotonic() - t < 1.5


# ---------------------------------------------------------------------------------------------
# Cleanup


def test_closing_a_lab_stops_everything_it_started(ssh_lab, tmp_path):
    t = time.monotonic()
    other = SSHLab()  # a second lab: its own run dir, keys and agent; the machine set-up reused
    warm_setup = time.monotonic() - t
    try:
        s = other.start_sshd(name="c1")
        cfg = other.ssh_config_for(tmp_path / "home", [s])
        # A PTY session whose shell becomes a long sleep: its pid is the one printed.
        p = subprocess.Popen(cfg.ssh("c1-ops", "echo pid=$$; exec sleep 60",
                                     options=[*BATCH, "-tt"]),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=cfg.env())
        out = read_until(p.stdout.fileno(), b"\n", 10)
        sleep_pid = int(out.split(b"pid=")[1].split()[0])
        started = [s.pid, other.keys.agent.pid, sleep_pid, *s.connection_pids()]
        silent = other.silent_listener(lifetime=30)
        run_dir = other.run_dir
        assert all(alive(pid) for pid in started)
    finally:
        other.close()
    assert [pid for pid in started if alive(pid)] == []
    assert not run_dir.exists()
    wait_for(lambda: not silent._thread.is_alive(), 3, "silent listener thread ends")
    p.wait(10)
    print(f"warm SSHLab() setup: {warm_setup:.2f} s")
    assert warm_setup < 10
