"""A fleet of ssh host names on a few real sshd on 127.0.0.1, for the fleet benchmark (issue 15).

    with Fleet(size=1000, instances=8, directory=tmp) as fleet:
        fleet.ssh_config            # Host h0001 ... h1000 (HostName, Port, User, IdentityFile)
        fleet.inventory(100)        # an Ansible INI inventory of h0001..h0100, written once
        fleet.env()                 # HOME whose ~/.ssh/config is the fleet's ssh_config
        fleet.sshd_cpu()            # CPU seconds used so far by the sshd instances and their
                                    # connections (and what those ran)

The sshd instances come from tests/integration/sshd_harness.py (SSHLab.start_sshd: its test
users, authorized keys and host keys, one ed25519 host key per instance), with the options a
thousand concurrent logins need (FLEET_SSHD_OPTIONS). Host hNNNN is served by instance
NNNN mod INSTANCES as user sshpty-ops, by the lab's unencrypted key.

Host keys: known_hosts holds one `[127.0.0.1]:PORT KEY` line per instance, no HostKeyAlias.
Every tool measured connects to 127.0.0.1 with the instance's port, so every tool looks up the
same line: OpenSSH (ssh_config HostName/Port, and Ansible's ssh, which is given ansible_host and
ansible_port), and sshpty (which checks `[HostName]:Port`). StrictHostKeyChecking is `yes`, so a
missing or wrong key fails instead of prompting. parallel-ssh's native client checks no host key
at all (it has no known_hosts check), which favours it slightly.

Nothing outlives the fleet: close() stops the instances, their connections and what those ran
(SSHLab.close), then `leftovers()` says what is still there (it must be empty).
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from sshd_harness import (  # noqa: E402
    LOOPBACK, SSHD, SSHLab, _all_pids, _cmdline, _descendants, _parents, _stat_fields,
)

USER = "sshpty-ops"

# What a thousand logins at once need of sshd (OpenSSH 9.2 here; sshd_config(5)):
# MaxStartups: unauthenticated connections before sshd drops new ones (default 10:30:100, which
# drops most of a hundred concurrent logins). MaxSessions: sessions per connection, for clients
# that multiplex (the harness's default is 10). UseDNS no: no reverse lookup of 127.0.0.1.
# LogLevel INFO: a production sshd's (the harness's VERBOSE writes more per login).
# PerSourcePenalties (OpenSSH >= 9.8) is set to `no` by the harness when sshd knows it.
FLEET_SSHD_OPTIONS = {
    "MaxStartups": "2000:30:3000",
    "MaxSessions": 1000,
    "UseDNS": "no",
    "LogLevel": "INFO",
    "LoginGraceTime": 120,
}

CLK_TCK = os.sysconf("SC_CLK_TCK")


def raise_open_files(want: int = 65536) -> tuple[int, int]:
    """Raise this process's RLIMIT_NOFILE (inherited by the sshd, the clients and the kernel
    started from it): soft to hard, and hard to WANT when root may. Returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if os.geteuid() == 0 and hard < want:
        try:
            nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
            hard = min(want, nr_open)
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError):
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def host_name(i: int, width: int = 4) -> str:
    """The fleet's I-th name (1-based): h0001."""
    return f"h{i:0{width}d}"


@dataclass(frozen=True)
class FleetHost:
    name: str
    port: int
    user: str
    key: Path
    instance: int


def _cpu(fields: list[str] | None) -> float:
    """utime+stime+cutime+cstime of one process, in seconds (0 when gone)."""
    if not fields:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


class Fleet:
    """SIZE host names on INSTANCES sshd listeners; files under DIRECTORY (removed by close)."""

    def __init__(self, size: int, instances: int, directory: Path):
        if instances < 1 or size < 1:
            raise ValueError("a fleet needs at least one host and one sshd instance")
        self.nofile = raise_open_files()
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lab = SSHLab()
        self.sshds: list[SSHD] = []
        self._closed = False
        try:
            for i in range(min(instances, size)):
                self.sshds.append(self.lab.start_sshd(name=f"fleet{i}", **FLEET_SSHD_OPTIONS))
            self.home = self.dir / "home"
            ssh_dir = self.home / ".ssh"
            ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.key = ssh_dir / "fleet_key"
            shutil.copyfile(self.lab.keys.plain, self.key)
            self.key.chmod(0o600)
            shutil.copyfile(f"{self.lab.keys.plain}.pub", f"{self.key}.pub")
            self.known_hosts = ssh_dir / "known_hosts"
            self.ssh_config = ssh_dir / "config"
            width = max(4, len(str(size)))
            k = len(self.sshds)
            self.hosts = [FleetHost(host_name(i + 1, width), self.sshds[i % k].port, USER,
                                    self.key, i % k) for i in range(size)]
            self._write_client_files()
            self._inventories: dict[int, Path] = {}
        except BaseException:
            self.close()
            raise

    # -- the generated files ------------------------------------------------------------------

    def _write_client_files(self) -> None:
        self.known_hosts.write_text("".join(s.known_hosts_line() + "\n" for s in self.sshds))
        out = ["# The fleet of benches/fleet_hosts.py: one block per name, all on 127.0.0.1.", ""]
        for h in self.hosts:
            out += [f"Host {h.name}", f"    HostName {LOOPBACK}", f"    Port {h.port}",
                    f"    User {h.user}", f"    IdentityFile {h.key}", "    IdentitiesOnly yes",
                    f"    UserKnownHostsFile {self.known_hosts}",
                    "    StrictHostKeyChecking yes", ""]
        self.ssh_config.write_text("\n".join(out))
        self.ssh_config.chmod(0o600)

    def inventory(self, n: int) -> Path:
        """An Ansible INI inventory of the first N names (group `fleet`), written once."""
        if n > len(self.hosts):
            raise ValueError(f"the fleet has {len(self.hosts)} hosts, not {n}")
        if n not in self._inventories:
            path = self.dir / f"inventory-{n}.ini"
            lines = ["# The first {n} names of benches/fleet_hosts.py's fleet.".format(n=n),
                     "[fleet]"]
            for h in self.hosts[:n]:
                lines.append(f"{h.name} ansible_host={LOOPBACK} ansible_port={h.port} "
                             f"ansible_user={h.user} ansible_ssh_private_key_file={h.key}")
            path.write_text("\n".join(lines) + "\n")
            self._inventories[n] = path
        return self._inventories[n]

    def names(self, n: int) -> list[str]:
        return [h.name for h in self.hosts[:n]]

    def env(self, base: dict | None = None) -> dict:
        """Environment of a client: HOME is the fleet's (its ~/.ssh/config is ssh_config), no
        agent (every tool logs in by the key file the config or inventory names)."""
        env = dict(os.environ if base is None else base, HOME=str(self.home))
        env.pop("SSH_AUTH_SOCK", None)
        return env

    def ssh_argv(self, name: str, *command: str, options: tuple[str, ...] = ()) -> list[str]:
        return ["ssh", "-F", str(self.ssh_config), *options, name, *command]

    # -- agreement of the two descriptions ----------------------------------------------------

    def ssh_view(self, n: int) -> dict[str, tuple[str, int, str, str]]:
        """name -> (hostname, port, user, identity file) as `ssh -G` resolves the config."""
        view = {}
        for name in self.names(n):
            cp = subprocess.run(["ssh", "-G", "-F", str(self.ssh_config), name],
                                capture_output=True, text=True, timeout=10,
                                stdin=subprocess.DEVNULL, env=self.env())
            opts: dict[str, str] = {}
            for line in cp.stdout.splitlines():
                k, _, v = line.partition(" ")
                opts.setdefault(k, v)  # identityfile repeats; the first is the configured one
            view[name] = (opts.get("hostname", ""), int(opts.get("port", "0")),
                          opts.get("user", ""), os.path.expanduser(opts.get("identityfile", "")))
        return view

    # -- what the servers did ----------------------------------------------------------------

    def sshd_cpu(self) -> float:
        """CPU seconds of the sshd listeners, the connections they serve and what those ran:
        the listeners' own and reaped children's times, plus the live descendants' (a live
        connection's process has not been added to its parent's children's times yet)."""
        parents = _parents()
        roots = [s.pid for s in self.sshds if s.running]
        total = sum(_cpu(_stat_fields(p)) for p in roots)
        total += sum(_cpu(_stat_fields(p)) for p in _descendants(roots, parents))
        return total

    def connection_count(self) -> int:
        """Processes below the listeners (connections and their sessions) right now."""
        return len(_descendants([s.pid for s in self.sshds if s.running]))

    # -- teardown -----------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.ports = [s.port for s in self.sshds]
        self.run_dir = self.lab.run_dir
        try:
            self.lab.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def leftovers(self) -> list[str]:
        """After close(): processes still running from this fleet (their command line names
        its run directory or files, or they are sshd serving its ports) and ports that still
        accept connections. Empty when the teardown was complete."""
        marks = [str(self.run_dir), str(self.dir)]
        found = []
        ports = set(self.ports)
        for pid in _all_pids():
            cmd = _cmdline(pid)
            if any(m in cmd for m in marks) and pid != os.getpid():
                found.append(f"pid {pid}: {cmd[:120]}")
        for port in ports:
            with socket.socket() as s:
                s.settimeout(0.5)
                if s.connect_ex((LOOPBACK, port)) == 0:
                    found.append(f"port {port} still accepts connections")
        return found

    def __enter__(self) -> "Fleet":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_INI_HOST = re.compile(r"^(\S+)\s+(.*)$")


def parse_ini_inventory(path: Path) -> dict[str, dict[str, str]]:
    """name -> host variables of an INI inventory as fleet.inventory() writes it (no groups of
    groups, no ranges): what --check compares with `ssh -G` when ansible-inventory is absent."""
    hosts: dict[str, dict[str, str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        m = _INI_HOST.match(line)
        name, rest = (m.group(1), m.group(2)) if m else (line, "")
        hosts[name] = dict(kv.split("=", 1) for kv in rest.split() if "=" in kv)
    return hosts
