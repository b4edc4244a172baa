"""Real OpenSSH servers on 127.0.0.1 for the SSH-target tests (issue 3), and the users they serve.

    lab = SSHLab()                            # packages, users, sudo, chroot, client keys, agent
    h1 = lab.start_sshd(name="h1")            # Debian's /usr/sbin/sshd on a free port
    cfg = lab.ssh_config_for(home, [h1])      # home/.ssh/config with aliases h1-ops, h1-fish...
    subprocess.run(cfg.ssh("h1-ops", "true"), env=cfg.env())
    lab.close()                               # also run at exit, and by `with SSHLab() as lab:`

The test users (created once, kept between runs, password in `lab.password`):
  sshpty-ops   bash; sudo that asks for the password every time (timestamp_timeout=0)
  sshpty-fish  fish login shell
  sshpty-tcsh  tcsh login shell
  sshpty-bb    chrooted by every sshd started here into /var/lib/sshpty-test/chroot-bb, where the
               only shell is busybox sh and there is no bash
Root logs in too, by key only (alias `h1-root`).

What stays on the machine between runs, reused idempotently: the Debian packages, the users and
their password (random, generated once per machine, /var/lib/sshpty-test/password), the sudoers
drop-in /etc/sudoers.d/sshpty-test and the chroot. What never outlives the lab: every process
started here (sshd listeners, their per-connection processes and what those ran, the ssh-agent,
silent listeners), the run directory with the keys, and the chroot's mounts. A run that was
SIGKILLed is cleaned up by the next lab created on the machine.

Everything here needs root (as CI has): without it `SSHLab()` raises `NotRoot`, and the pytest
fixtures at the end of this file skip with that reason. No pytest is needed above that section.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import errno
import fcntl
import hashlib
import os
import pwd
import re
import secrets
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

STATE_DIR = Path(os.environ.get("SSHPTY_TEST_STATE_DIR", "/var/lib/sshpty-test"))
RUNS_DIR = STATE_DIR / "runs"
CHROOT = STATE_DIR / "chroot-bb"
PASSWORD_FILE = STATE_DIR / "password"
SUDOERS_DROPIN = Path("/etc/sudoers.d/sshpty-test")
SSHD_BIN = "/usr/sbin/sshd"
LOOPBACK = "127.0.0.1"

NOT_ROOT_REASON = (
    "the sshd harness needs root: it installs Debian packages, creates the sshpty-* test users "
    "and runs sshd (run tests/run as root, as CI does)"
)


class HarnessError(RuntimeError):
    """Something the harness needs could not be set up; the message says what and why."""


class NotRoot(HarnessError):
    pass


class SSHDError(HarnessError):
    """An sshd instance did not start or stop as it should; the message carries its log tail."""


def require_root() -> None:
    if os.geteuid() != 0:
        raise NotRoot(NOT_ROOT_REASON)


def _run(argv: Sequence[str], *, timeout: float = 60, input: str | None = None,
         env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a setup command; on failure raise HarnessError naming the command and its output."""
    try:
        cp = subprocess.run(list(argv), input=input, capture_output=True, text=True,
                            timeout=timeout, env=env,
                            stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise HarnessError(f"`{' '.join(argv)}` did not finish within {timeout:.0f} s") from e
    except FileNotFoundError as e:
        raise HarnessError(f"`{argv[0]}` is not installed ({e})") from e
    if check and cp.returncode != 0:
        raise HarnessError(f"`{' '.join(argv)}` exited {cp.returncode}:\n"
                           f"{(cp.stdout + cp.stderr).strip()[-3000:]}")
    return cp


@contextlib.contextmanager
def _machine_lock():
    """Serialises the machine-wide setup (apt, users, chroot, mounts) between concurrent runs."""
    STATE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    with open(STATE_DIR / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------
# Debian packages


def _busybox_binary() -> str | None:
    for p in ("/usr/bin/busybox", "/bin/busybox"):
        if os.access(p, os.X_OK):
            return p
    return None


def _have(*commands: str) -> bool:
    return all(shutil.which(c, path="/usr/sbin:/usr/bin:/sbin:/bin") for c in commands)


# Package -> probe. busybox-static only when no busybox at all: it conflicts with Debian's
# (dynamic) `busybox`, and the chroot takes either (a dynamic one comes with its libraries).
PACKAGE_PROBES: dict[str, Callable[[], bool]] = {
    "openssh-server": lambda: os.access(SSHD_BIN, os.X_OK) and Path("/etc/pam.d/sshd").is_file(),
    "openssh-client": lambda: _have("ssh", "ssh-keygen", "ssh-agent", "ssh-add"),
    "sudo": lambda: _have("sudo", "visudo"),
    "vim": lambda: _have("vim"),
    "fish": lambda: _have("fish"),
    "tcsh": lambda: _have("tcsh"),
    "busybox-static": lambda: _busybox_binary() is not None,
    "procps": lambda: _have("ps", "pgrep"),
    "psmisc": lambda: _have("fuser", "killall"),
}


def ensure_packages(timeout: float = 900) -> list[str]:
    """Install the Debian packages the SSH tests need and are missing; return their names.

    `apt-get update` runs once, and only when something is missing. Services are not started by
    the install (openssh-server's postinst would start a system sshd on port 22 that nobody
    stops): a policy-rc.d that says no is put in place for the install unless one exists.
    """
    missing = [pkg for pkg, probe in PACKAGE_PROBES.items() if not probe()]
    if not missing:
        return []
    require_root()
    print(f"sshd_harness: installing {' '.join(missing)}", file=sys.stderr, flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    policy = Path("/usr/sbin/policy-rc.d")
    own_policy = not policy.exists()
    if own_policy:
        policy.write_text("#!/bin/sh\n# sshd_harness: no service starts during its install\n"
                          "exit 101\n")
        policy.chmod(0o755)
    try:
        lock = ["-o", "DPkg::Lock::Timeout=300"]
        _run(["apt-get", *lock, "update", "-q"], timeout=timeout, env=env)
        _run(["apt-get", *lock, "install", "-y", "-q", "--no-install-recommends",
              "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
              *missing], timeout=timeout, env=env)
    finally:
        if own_policy:
            policy.unlink(missing_ok=True)
    still = [pkg for pkg in missing if not PACKAGE_PROBES[pkg]()]
    if still:
        raise HarnessError(f"still missing after apt-get install: {' '.join(still)}")
    return missing


# ---------------------------------------------------------------------------------------------
# Test users, sudo, the busybox chroot


@dataclass(frozen=True)
class LabUser:
    name: str  # login name
    short: str  # used in host aliases: h1-<short>
    shell: str  # login shell as /etc/passwd says (for bb: the path inside the chroot)
    home: str  # home directory (for bb: inside the chroot)
    password: str | None  # None: key login only (root)
    chroot: str | None = None
    sudo_asks: bool = False


def _user_specs() -> list[tuple[str, str, str, str, str | None, bool]]:
    # (short, name, shell, home, chroot, sudo_asks). bb's shell is /bin/sh: sshd checks the shell
    # exists outside the chroot (dash there), then runs the same path inside it (busybox sh).
    return [
        ("ops", "sshpty-ops", "/bin/bash", "/home/sshpty-ops", None, True),
        ("fish", "sshpty-fish", "/usr/bin/fish", "/home/sshpty-fish", None, False),
        ("tcsh", "sshpty-tcsh", "/usr/bin/tcsh", "/home/sshpty-tcsh", None, False),
        ("bb", "sshpty-bb", "/bin/sh", "/home/sshpty-bb", str(CHROOT), False),
    ]


def machine_password() -> str:
    """The test users' password: random, made once per machine so concurrent runs agree.

    SSHPTY_TEST_PASSWORD overrides it.
    """
    if os.environ.get("SSHPTY_TEST_PASSWORD"):
        return os.environ["SSHPTY_TEST_PASSWORD"]
    STATE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    try:
        pw = PASSWORD_FILE.read_text().strip()
        if pw:
            return pw
    except FileNotFoundError:
        pass
    pw = "sshpty-" + secrets.token_urlsafe(12)
    fd = os.open(PASSWORD_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(pw + "\n")
    return pw


def ensure_users(password: str) -> dict[str, LabUser]:
    """Create the test users when absent (useradd), fix their shells, set their password."""
    users = {}
    for short, name, shell, home, chroot, sudo_asks in _user_specs():
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            argv = ["useradd", "--shell", shell, "--home-dir", home, "--user-group",
                    "--comment", "sshpty test user"]
            argv += ["--no-create-home"] if chroot else ["--create-home"]
            _run([*argv, name])
        else:
            if pw.pw_shell != shell:
                _run(["usermod", "--shell", shell, name])
        users[short] = LabUser(name, short, shell, home, password, chroot, sudo_asks)
    _run(["chpasswd"], input="".join(f"{u.name}:{password}\n" for u in users.values()))
    users["root"] = LabUser("root", "root", pwd.getpwnam("root").pw_shell, "/root", None)
    return users


def ensure_sudoers(user: str = "sshpty-ops") -> Path:
    """A sudoers.d drop-in: USER may run anything, and sudo asks for the password every time."""
    text = (
        "# sshpty integration tests (tests/integration/sshd_harness.py): a sudo that asks.\n"
        "# timestamp_timeout=0: every sudo asks, so a test never depends on an earlier one.\n"
        "# lecture=never: the first sudo of the machine prints the same bytes as the later ones.\n"
        f"Defaults:{user} timestamp_timeout=0, lecture=never\n"
        f"{user} ALL=(ALL) ALL\n"
    )
    if SUDOERS_DROPIN.exists() and SUDOERS_DROPIN.read_text() == text:
        return SUDOERS_DROPIN
    SUDOERS_DROPIN.parent.mkdir(mode=0o750, exist_ok=True)
    tmp = SUDOERS_DROPIN.with_name(".sshpty-test.new")  # a dot: sudo skips it while written
    tmp.write_text(text)
    tmp.chmod(0o440)
    _run(["visudo", "-cf", str(tmp)])
    os.replace(tmp, SUDOERS_DROPIN)
    return SUDOERS_DROPIN


def _mkdir_root(path: Path, mode: int = 0o755) -> None:
    """A directory owned by root and writable by root only, as sshd's ChrootDirectory demands
    of every component of the chroot's path."""
    path.mkdir(mode=mode, parents=True, exist_ok=True)
    os.chown(path, 0, 0)
    path.chmod(mode)


def _copy_if_changed(src: Path, dst: Path, mode: int) -> None:
    if not (dst.is_file() and not dst.is_symlink() and dst.read_bytes() == src.read_bytes()):
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".new")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    dst.chmod(mode)


def _shared_libraries(binary: str) -> list[str]:
    """The shared libraries a dynamic binary loads (ldd), empty for a static one."""
    cp = _run(["ldd", binary], check=False)
    libs = []
    for line in cp.stdout.splitlines():
        m = re.search(r"(/\S+) \(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


def ensure_busybox_chroot(user: LabUser) -> Path:
    """Build (or bring up to date) the chroot of the busybox-only user; return its path.

    sshd allocates the PTY before it chroots, so inside the chroot only what the user's programs
    open is needed: busybox and its applet links (no bash among them), /etc/passwd and group,
    the user's home, /tmp, and the character devices. /dev/pts and /proc are mounted into it by
    the lab while it runs (`tty` needs the pts node, `ps` needs /proc).
    """
    bb = _busybox_binary()
    if bb is None:
        raise HarnessError("busybox is not installed (ensure_packages() installs busybox-static)")
    pw = pwd.getpwnam(user.name)
    root = CHROOT
    for d in (STATE_DIR, root):
        _mkdir_root(d)
    for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "dev", "dev/pts", "proc",
              "home", "root"):
        _mkdir_root(root / d)
    _copy_if_changed(Path(bb), root / "bin/busybox", 0o755)
    for lib in _shared_libraries(bb):
        _copy_if_changed(Path(os.path.realpath(lib)), root / lib.lstrip("/"), 0o755)
    applets = _run([bb, "--list-full"]).stdout.split()
    for rel in applets:
        if os.path.basename(rel) in ("bash", "busybox"):
            continue  # the point of this user: no bash anywhere
        link = root / rel
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.exists():
                link.unlink()
            link.symlink_to("/bin/busybox")
    for stray in ("bin/bash", "usr/bin/bash"):
        if (root / stray).is_symlink() or (root / stray).exists():
            (root / stray).unlink()
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        f"{user.name}:x:{pw.pw_uid}:{pw.pw_gid}:sshpty test user:{user.home}:{user.shell}\n")
    (root / "etc/group").write_text(f"root:x:0:\n{user.name}:x:{pw.pw_gid}:\n")
    (root / "etc/shells").write_text("/bin/sh\n/bin/ash\n")
    for f in ("etc/passwd", "etc/group", "etc/shells"):
        (root / f).chmod(0o644)
    home = root / user.home.lstrip("/")
    home.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    tmp = root / "tmp"
    tmp.mkdir(exist_ok=True)
    tmp.chmod(0o1777)
    for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("random", 1, 8),
                               ("urandom", 1, 9), ("tty", 5, 0), ("ptmx", 5, 2)):
        node = root / "dev" / name
        if not node.exists():
            os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(major, minor))
        node.chmod(0o666)
    return root


def _mount_points() -> set[str]:
    points = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            points.add(line.split()[4].replace("\\040", " "))
    return points


def _mount_chroot_filesystems() -> tuple[list[str], list[str]]:
    """Mount /dev/pts (bound) and a /proc into the chroot when not there yet.

    Returns (mount points this call mounted, notes on what could not be done).
    """
    mounted, notes = [], []
    present = _mount_points()
    for target, argv in ((CHROOT / "dev/pts", ["mount", "--bind", "/dev/pts"]),
                         (CHROOT / "proc", ["mount", "-t", "proc", "proc"])):
        if str(target) in present:
            continue
        cp = _run([*argv, str(target)], check=False)
        if cp.returncode == 0:
            mounted.append(str(target))
        else:
            notes.append(f"cannot mount {target}: {(cp.stdout + cp.stderr).strip()}")
    if str(CHROOT / "dev/pts") not in _mount_points():
        # Without the bind mount, static nodes still let ttyname() find the terminal (devpts'
        # major is 136, the minor is the pts number).
        for n in range(64):
            node = CHROOT / "dev/pts" / str(n)
            if not node.exists():
                os.mknod(node, stat.S_IFCHR | 0o620, os.makedev(136, n))
    return mounted, notes


def _unmount(points: Iterable[str]) -> None:
    for p in points:
        _run(["umount", "-l", p], check=False)


# ---------------------------------------------------------------------------------------------
# Processes: found through /proc, ended by pid


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, ...]."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rfind(")") + 2:].split()


def _alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _start_time(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[19] if fields else None  # field 22 of stat, 20th after the name


def _all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def _parents() -> dict[int, int]:
    parents = {}
    for pid in _all_pids():
        fields = _stat_fields(pid)
        if fields:
            parents[pid] = int(fields[1])
    return parents


def _descendants(roots: Iterable[int], parents: dict[int, int] | None = None) -> set[int]:
    parents = _parents() if parents is None else parents
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        for child in children.get(pid, ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _established_inodes(port: int) -> set[str]:
    """Socket inodes of established TCP connections whose local port is PORT."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "01":
                inodes.add(cols[9])
    return inodes


def _pids_holding(inodes: set[str]) -> set[int]:
    if not inodes:
        return set()
    wanted = {f"socket:[{i}]" for i in inodes}
    holders = set()
    for pid in _all_pids():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    holders.add(pid)
                    break
            except OSError:
                continue
    return holders


def _terminate(pids: Iterable[int], grace: float = 2.0) -> list[int]:
    """SIGTERM the pids, SIGKILL what is left after GRACE seconds; return what survived."""
    pids = [p for p in set(pids) if p > 1 and p != os.getpid()]
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        for p in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            pids = [p for p in pids if _alive(p)]
            if not pids:
                return []
            time.sleep(0.05)
    return [p for p in pids if _alive(p)]


# Title of a per-connection sshd process: "sshd: USER [priv]", "sshd: USER@pts/0", and from
# OpenSSH 9.8 on "sshd-session: USER ..." (the listener's title says "[listener]").
_CONNECTION_TITLE = re.compile(r"^sshd(?:-session|-auth)?: (?!.*\[listener\])(\S+?)(?:@|\s|$)")


def _connection_processes(port: int, user: str | None) -> list[int]:
    """The sshd processes serving connections to PORT (for USER, when given), sorted."""
    parents = _parents()
    group = {p for p in _pids_holding(_established_inodes(port))
             if _CONNECTION_TITLE.match(_cmdline(p))}
    for p in list(group):  # the [priv] monitor above the process that holds the socket
        up = parents.get(p)
        while up and up > 1 and _CONNECTION_TITLE.match(_cmdline(up)) and up not in group:
            group.add(up)
            up = parents.get(up)
    group |= {d for d in _descendants(group, parents) if _CONNECTION_TITLE.match(_cmdline(d))}
    if user is not None:
        group = {p for p in group
                 if (m := _CONNECTION_TITLE.match(_cmdline(p))) and m.group(1) == user}
    return sorted(group)


# ---------------------------------------------------------------------------------------------
# sshd instances


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _read_banner(port: int, timeout: float) -> bytes:
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        data = b""
        while b"\n" not in data and len(data) < 1024:
            chunk = s.recv(256)
            if not chunk:
                break
            data += chunk
        return data


_PSP_SUPPORT: bool | None = None


class SSHD:
    """One /usr/sbin/sshd listening on 127.0.0.1:PORT with its own config, host key and log.

    Made by `SSHLab.start_sshd`. `port`, `name`, `config_path`, `log_path`, `host_key` (path of
    the private key), `pid` (of the listener) describe it.
    """

    def __init__(self, lab: "SSHLab", name: str, options: dict):
        self.lab = lab
        self.name = name
        self.host = LOOPBACK
        self.dir = lab.run_dir / f"sshd-{name}"
        self.dir.mkdir(mode=0o755)
        self.config_path = self.dir / "sshd_config"
        self.log_path = self.dir / "sshd.log"
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.options = dict(options)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._log_file = None
        self.per_source_penalties = False
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"sshpty-test-{name}",
              "-f", str(self.host_key)])

    # -- configuration --------------------------------------------------------------------

    def _config_text(self, port: int, penalties: bool) -> str:
        lab = self.lab
        defaults: dict[str, object] = {
            "ListenAddress": LOOPBACK,
            "Port": port,
            "AddressFamily": "inet",
            "HostKey": self.host_key,
            "PidFile": self.dir / "sshd.pid",
            "UsePAM": "yes",
            "PubkeyAuthentication": "yes",
            "PasswordAuthentication": "yes",
            "KbdInteractiveAuthentication": "yes",
            "PermitRootLogin": "prohibit-password",
            "AuthorizedKeysFile": lab.authorized_keys_dir / "%u",
            "AllowAgentForwarding": "yes",
            "AllowTcpForwarding": "yes",
            "MaxSessions": 10,
            "LogLevel": "VERBOSE",
            # StrictModes stays on: the run directory is root's all the way up from /var/lib
            # (under the world-writable /tmp it would refuse the authorized_keys files).
            "StrictModes": "yes",
            "PrintMotd": "no",  # Debian's PAM prints the motd, as on a real host
            "X11Forwarding": "no",
            "AcceptEnv": "LANG LC_*",
            "Subsystem": "sftp internal-sftp",  # works inside the chroot too
        }
        # Caller's options override by keyword, case-insensitively; None removes one.
        merged = {k.lower(): (k, v) for k, v in defaults.items()}
        for k, v in self.options.items():
            merged[k.lower()] = (k, v)
        lines = [f"# sshd {self.name}: written by tests/integration/sshd_harness.py"]
        if penalties:
            # OpenSSH >= 9.8 penalises addresses that fail auth; tests that fail on purpose
            # must not lock the next ones out.
            lines.append("PerSourcePenalties no")
        for k, v in merged.values():
            for value in (v if isinstance(v, (list, tuple)) else [v]):
                if value is not None:
                    lines.append(f"{k} {value}")
        bb = lab.users["bb"]
        lines += ["", f"Match User {bb.name}", f"    ChrootDirectory {bb.chroot}"]
        return "\n".join(lines) + "\n"

    def _write_config(self, port: int) -> None:
        global _PSP_SUPPORT
        if _PSP_SUPPORT is None:
            # Ask this sshd whether it knows the keyword: `sshd -t` rejects unknown ones.
            self.config_path.write_text(self._config_text(port, True))
            cp = _run([SSHD_BIN, "-t", "-f", str(self.config_path)], check=False)
            _PSP_SUPPORT = cp.returncode == 0 or "persourcepenalties" not in cp.stderr.lower()
        self.per_source_penalties = _PSP_SUPPORT
        self.config_path.write_text(self._config_text(port, _PSP_SUPPORT))
        cp = _run([SSHD_BIN, "-t", "-f", str(self.config_path)], check=False)
        if cp.returncode != 0:
            raise SSHDError(f"sshd {self.name}: {self.config_path} is rejected by `sshd -t`:\n"
                            f"{cp.stderr.strip()}")

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> "SSHD":
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        last = ""
        for _attempt in range(3):
            port = _free_port()
            self._write_config(port)
            self._log_file = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [SSHD_BIN, "-D", "-e", "-f", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT,
                start_new_session=True,
                env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"})
            (self.dir / "listener").write_text(f"{self.proc.pid} {port}\n")
            self.port = port
            try:
                self._wait_ready(timeout)
                return self
            except SSHDError as e:
                last = str(e)
                self._stop_listener()
                self._log_file.close()
                self._log_file = None
                if "Address already in use" not in self.log_tail():
                    raise
        raise SSHDError(last)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        why = "no connection yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SSHDError(f"sshd {self.name} exited with {self.proc.returncode} at start;"
                                f" {self.log_path} ends with:\n{self.log_tail()}")
            try:
                banner = _read_banner(self.port, timeout=max(0.2, deadline - time.monotonic()))
                if banner.startswith(b"SSH-"):
                    return
                why = f"got {banner!r} instead of an SSH banner"
            except OSError as e:
                why = str(e)
            time.sleep(0.05)
        raise SSHDError(f"sshd {self.name} on port {self.port} not ready within {timeout:.0f} s "
                        f"({why}); {self.log_path} ends with:\n{self.log_tail()}")

    def _stop_listener(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill_listener(self) -> None:
        """SIGTERM the listening sshd only: new connections are refused from then on, while the
        per-connection processes (forked children in sessions of their own) and their sessions
        go on. OpenSSH's listener closes its sockets and exits on SIGTERM without touching them.
        """
        if self.proc is None or self.proc.poll() is not None:
            raise SSHDError(f"sshd {self.name}: the listener is not running")
        self._stop_listener()

    def stop(self) -> None:
        """Stop the listener, every connection it served and everything those ran. Idempotent."""
        if self.proc is None:
            return
        parents = _parents()
        tree = set(_connection_processes(self.port, None))
        if self.proc.poll() is None:
            tree |= _descendants([self.proc.pid], parents)
        tree |= _descendants(tree, parents)
        self._stop_listener()
        left = _terminate(tree)
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        if left:
            raise SSHDError(f"sshd {self.name}: processes survived SIGKILL: {left}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    # -- inspection ---------------------------------------------------------------------------

    def connection_pids(self, user: str | None = None) -> list[int]:
        """The per-connection sshd processes serving USER (all users when None) on this
        instance: "sshd: USER [priv]" and "sshd: USER@pts/N" / "@notty". Killing them drops the
        connection; SIGSTOP makes the peer silent. Found by the TCP connections they hold to
        this port, so they are found after kill_listener() too, and never another instance's.
        """
        return _connection_processes(self.port, user)

    def public_key(self) -> str:
        """The host key as 'ssh-ed25519 AAAA...' (no comment)."""
        return " ".join(Path(f"{self.host_key}.pub").read_text().split()[:2])

    def known_hosts_line(self) -> str:
        """'[127.0.0.1]:PORT ssh-ed25519 AAAA...', the line OpenSSH writes for this host."""
        return f"[{self.host}]:{self.port} {self.public_key()}"

    def host_key_fingerprint(self) -> str:
        """'SHA256:...' as ssh and ssh-keygen -l print it."""
        blob = base64.b64decode(self.public_key().split()[1])
        return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_for_log(self, pattern: str, timeout: float = 5.0) -> re.Match:
        """Wait until the log matches the regex PATTERN; raise SSHDError with the tail if not."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.log(), re.M)
            if m:
                return m
            if time.monotonic() > deadline:
                raise SSHDError(f"sshd {self.name}: no log line matching {pattern!r} within "
                                f"{timeout:.0f} s; log ends with:\n{self.log_tail()}")
            time.sleep(0.05)

    def __repr__(self) -> str:
        return f"<SSHD {self.name} {self.host}:{self.port} pid={self.pid}>"


# ---------------------------------------------------------------------------------------------
# Client side: keys, agent, ssh config


@dataclass
class ClientKeys:
    """Per-run key material: an unencrypted and an encrypted ed25519 key and an agent with the
    unencrypted one loaded."""

    dir: Path
    plain: Path
    encrypted: Path
    passphrase: str
    agent_sock: Path
    agent: subprocess.Popen = field(repr=False)

    def public(self, key: Path) -> str:
        return Path(f"{key}.pub").read_text().strip()


def _make_client_keys(directory: Path) -> ClientKeys:
    directory.mkdir(mode=0o700)
    plain, enc = directory / "id_plain", directory / "id_encrypted"
    passphrase = "pass-" + secrets.token_urlsafe(9)
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sshpty-test-plain",
          "-f", str(plain)])
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "sshpty-test-encrypted",
          "-f", str(enc)])
    sock = directory / "agent.sock"
    # -D: in the foreground, so the pid is ours to stop.
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    (directory / "agent.pid").write_text(f"{agent.pid}\n")
    deadline = time.monotonic() + 5
    while not sock.exists():
        if agent.poll() is not None or time.monotonic() > deadline:
            agent.kill()
            raise HarnessError(f"ssh-agent did not create {sock} within 5 s")
        time.sleep(0.02)
    _run(["ssh-add", "-q", str(plain)], env=dict(os.environ, SSH_AUTH_SOCK=str(sock)))
    return ClientKeys(directory, plain, enc, passphrase, sock, agent)


@dataclass
class HostEntry:
    alias: str
    sshd: SSHD | None
    user: str | None
    auth: str  # "key", "agent", "encrypted", "password", or "custom"
    options: dict


class ClientConfig:
    """An ssh_config for a temporary HOME: HOME/.ssh/config with a Host alias per sshd, user and
    way of logging in, HOME/.ssh/known_hosts with each sshd's key, and the keys copied into
    HOME/.ssh (not under the default names, so nothing logs in by a key it was not given).

    Aliases, for an sshd named h1 and each user short name (ops, fish, tcsh, bb):
      h1-ops          the unencrypted key (IdentitiesOnly)
      h1-ops-agent    no key file: the agent in SSH_AUTH_SOCK (env()) is what logs in
      h1-ops-enc      the encrypted key only (passphrase: lab.keys.passphrase)
      h1-ops-pw       no public key: keyboard-interactive / password (lab.password)
      h1-root         root, by the unencrypted key
    """

    def __init__(self, lab: "SSHLab", home: Path, sshds: Sequence[SSHD],
                 options: dict | None = None, owner: str | None = None):
        self.lab = lab
        self.home = Path(home)
        self.ssh_dir = self.home / ".ssh"
        self.ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = self.ssh_dir / "config"
        self.known_hosts = self.ssh_dir / "known_hosts"
        self.options = dict(options or {})
        self.owner = owner
        self.identity = self.ssh_dir / "sshpty_plain"
        self.encrypted_identity = self.ssh_dir / "sshpty_encrypted"
        for src, dst in ((lab.keys.plain, self.identity),
                         (lab.keys.encrypted, self.encrypted_identity)):
            shutil.copyfile(src, dst)
            dst.chmod(0o600)
            shutil.copyfile(f"{src}.pub", f"{dst}.pub")
        self.hosts: dict[str, HostEntry] = {}
        for sshd in sshds:
            for u in lab.users.values():
                self._add_standard(sshd, u)
        self.write()

    def _add_standard(self, sshd: SSHD, user: LabUser) -> None:
        base = f"{sshd.name}-{user.short}"
        self.add_host(base, sshd, user.name, "key", write=False)
        if user.password is not None:
            self.add_host(f"{base}-agent", sshd, user.name, "agent", write=False)
            self.add_host(f"{base}-enc", sshd, user.name, "encrypted", write=False)
            self.add_host(f"{base}-pw", sshd, user.name, "password", write=False)

    def add_host(self, alias: str, sshd: SSHD | None = None, user: str | None = None,
                 auth: str = "key", *, write: bool = True, **options) -> str:
        """Add (or replace) a Host block; OPTIONS are ssh_config keywords (ProxyJump=...)."""
        self.hosts[alias] = HostEntry(alias, sshd, user, auth if sshd else "custom", options)
        if write:
            self.write()
        return alias

    def alias(self, sshd: SSHD, user: str, auth: str = "key") -> str:
        """The alias for SSHD, USER (short or full name) and AUTH."""
        for h in self.hosts.values():
            names = (h.user, h.user.removeprefix("sshpty-")) if h.user else ()
            if h.sshd is sshd and h.auth == auth and user in names:
                return h.alias
        raise KeyError(f"no {auth} alias for {user} on {sshd}")

    def _block(self, h: HostEntry) -> list[str]:
        opts: dict[str, object] = {}
        if h.sshd is not None:
            opts.update(HostName=h.sshd.host, Port=h.sshd.port, User=h.user,
                        UserKnownHostsFile=self.known_hosts)
            if h.auth == "key":
                opts.update(IdentityFile=self.identity, IdentitiesOnly="yes")
            elif h.auth == "encrypted":
                opts.update(IdentityFile=self.encrypted_identity, IdentitiesOnly="yes")
            elif h.auth == "password":
                opts.update(PubkeyAuthentication="no")
        opts.update(self.options)
        opts.update(h.options)
        lines = [f"Host {h.alias}"]
        for k, v in opts.items():
            if v is not None:
                lines.append(f"    {k} {v}")
        return lines

    def write(self) -> None:
        out = ["# written by tests/integration/sshd_harness.py", ""]
        for h in self.hosts.values():
            out += self._block(h) + [""]
        self.path.write_text("\n".join(out))
        self.path.chmod(0o600)
        # known_hosts is only appended to: a test may have changed it on purpose.
        have = self.known_hosts.read_text().splitlines() if self.known_hosts.exists() else []
        new = []
        for h in self.hosts.values():
            if h.sshd is not None and h.sshd.port:
                line = h.sshd.known_hosts_line()
                if line not in have and line not in new:
                    new.append(line)
        if new:
            with open(self.known_hosts, "a") as f:
                f.write("".join(line + "\n" for line in new))
        if self.owner:
            pw = pwd.getpwnam(self.owner)
            for p in [self.home, self.ssh_dir, *self.ssh_dir.iterdir()]:
                os.chown(p, pw.pw_uid, pw.pw_gid)

    def env(self, base: dict | None = None, agent: bool = True) -> dict:
        """Environment for a client: HOME set to the temp home, SSH_AUTH_SOCK to the agent."""
        env = dict(os.environ if base is None else base, HOME=str(self.home))
        env.pop("SSH_AUTH_SOCK", None)
        if agent:
            env["SSH_AUTH_SOCK"] = str(self.lab.keys.agent_sock)
        return env

    def ssh(self, alias: str, *command: str, options: Sequence[str] = ()) -> list[str]:
        """argv of an OpenSSH client using this config: ['ssh', '-F', CONFIG, ..., ALIAS, ...]."""
        return ["ssh", "-F", str(self.path), *options, alias, *command]

    @property
    def text(self) -> str:
        return self.path.read_text()


# ---------------------------------------------------------------------------------------------
# Peers that are not sshd


class SilentListener:
    """A TCP listener on 127.0.0.1 that accepts connections and never sends a byte (no SSH
    banner). It stops by itself after LIFETIME seconds, or at close()."""

    def __init__(self, lifetime: float = 60.0):
        self._sock = socket.socket()
        self._sock.bind((LOOPBACK, 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._deadline = time.monotonic() + lifetime
        self._thread = threading.Thread(target=self._serve, name=f"silent-{self.port}",
                                        daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                try:
                    conn, _ = self._sock.accept()
                except socket.timeout:
                    continue
                except OSError:
                    break
                self._conns.append(conn)
                self.accepted += 1
        finally:
            for c in self._conns:
                c.close()
            self._sock.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def __enter__(self) -> "SilentListener":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ClosedPort:
    """A port on 127.0.0.1 where nothing listens: a socket bound to it but not listening, so
    connecting is refused at once and no other program can take the port meanwhile."""

    def __init__(self):
        self._sock = socket.socket()
        self._sock.bind((LOOPBACK, 0))
        self.port = self._sock.getsockname()[1]

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "ClosedPort":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# The lab


def _reap_stale_runs() -> None:
    """Stop what a run that died without cleaning up (SIGKILL) left: its sshd listeners, their
    connections, its agent; remove its directory. A run whose owner process lives is left."""
    if not RUNS_DIR.is_dir():
        return
    for run in RUNS_DIR.iterdir():
        try:
            pid, start = (run / "owner").read_text().split()
            if _start_time(int(pid)) == start:
                continue
        except (OSError, ValueError):
            if time.time() - run.stat().st_mtime < 60:
                continue  # being created right now
        doomed: set[int] = set()
        for listener in run.glob("sshd-*/listener"):
            with contextlib.suppress(OSError, ValueError):
                lpid, port = (int(x) for x in listener.read_text().split())
                if str(run) in _cmdline(lpid):
                    doomed.add(lpid)
                conns = _connection_processes(port, None)
                doomed |= set(conns) | _descendants(conns)
        with contextlib.suppress(OSError, ValueError):
            apid = int((run / "client" / "agent.pid").read_text())
            if str(run) in _cmdline(apid):
                doomed.add(apid)
        _terminate(doomed)
        shutil.rmtree(run, ignore_errors=True)


class SSHLab:
    """Everything the SSH tests need on this machine, for the lifetime of one run.

    Attributes: `users` (short name -> LabUser: ops, fish, tcsh, bb, root), `password` (the test
    users'), `keys` (ClientKeys: .plain, .encrypted, .passphrase, .agent_sock), `run_dir`,
    `installed` (packages this lab installed), `sshds`, `setup_seconds`, `notes` (what could not
    be done, e.g. a mount). Close with close() or a with block; atexit closes it too.
    """

    def __init__(self, *, install: bool = True):
        require_root()
        t0 = time.monotonic()
        self._closed = False
        self.sshds: list[SSHD] = []
        self._listeners: list[SilentListener | ClosedPort] = []
        self.notes: list[str] = []
        with _machine_lock():
            self.installed = ensure_packages() if install else []
            self.password = machine_password()
            self.users = ensure_users(self.password)
            ensure_sudoers(self.users["ops"].name)
            ensure_busybox_chroot(self.users["bb"])
            _reap_stale_runs()
            RUNS_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
            # Under /var/lib, root's all the way up, so sshd's StrictModes accepts the
            # authorized_keys files (it would refuse anything under the world-writable /tmp).
            self.run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=RUNS_DIR))
            self.run_dir.chmod(0o755)
            (self.run_dir / "owner").write_text(f"{os.getpid()} {_start_time(os.getpid())}\n")
            _, notes = _mount_chroot_filesystems()
            self.notes += notes
        atexit.register(self.close)
        try:
            self.keys = _make_client_keys(self.run_dir / "client")
            self.authorized_keys_dir = self.run_dir / "authorized_keys"
            self.authorized_keys_dir.mkdir(mode=0o755)
            keys = self.keys.public(self.keys.plain) + "\n" + \
                self.keys.public(self.keys.encrypted) + "\n"
            for u in self.users.values():
                f = self.authorized_keys_dir / u.name
                f.write_text(keys)
                f.chmod(0o644)
        except BaseException:
            self.close()
            raise
        self.setup_seconds = time.monotonic() - t0

    def start_sshd(self, name: str | None = None, **options) -> SSHD:
        """Start an sshd (named h1, h2, ... unless NAME) and wait for its banner.

        OPTIONS are sshd_config keywords overriding the defaults (MaxSessions=3,
        ClientAliveInterval=1; a list repeats the keyword; None removes a default).
        """
        if self._closed:
            raise HarnessError("this SSHLab is closed")
        name = name or f"h{len(self.sshds) + 1}"
        if any(s.name == name for s in self.sshds):
            raise HarnessError(f"an sshd named {name} exists already in this lab")
        sshd = SSHD(self, name, options)
        self.sshds.append(sshd)
        return sshd.start()

    def ssh_config_for(self, home: Path | str, sshds: Sequence[SSHD] | None = None, *,
                       options: dict | None = None, owner: str | None = None) -> ClientConfig:
        """Write HOME/.ssh/config (+ known_hosts, keys) with aliases for SSHDS (default: all of
        this lab's). OPTIONS go into every Host block (ServerAliveInterval=1...). OWNER: chown the
        files to that user, for a client that does not run as root."""
        return ClientConfig(self, Path(home), self.sshds if sshds is None else sshds,
                            options, owner)

    def silent_listener(self, lifetime: float = 60.0) -> SilentListener:
        sl = SilentListener(lifetime)
        self._listeners.append(sl)
        return sl

    def closed_port(self) -> ClosedPort:
        cp = ClosedPort()
        self._listeners.append(cp)
        return cp

    def close(self) -> None:
        """Stop every process this lab started, unmount, remove the run directory. Idempotent;
        raises HarnessError at the end if something would not stop."""
        if self._closed:
            return
        self._closed = True
        errors = []
        for sshd in self.sshds:
            try:
                sshd.stop()
            except Exception as e:  # stop the others all the same
                errors.append(str(e))
        for item in self._listeners:
            item.close()
        keys = getattr(self, "keys", None)
        if keys is not None and keys.agent.poll() is None:
            keys.agent.terminate()
            try:
                keys.agent.wait(5)
            except subprocess.TimeoutExpired:
                keys.agent.kill()
                keys.agent.wait(5)
        with _machine_lock():
            # The mounts are shared with other live runs on the machine: the last one unmounts.
            # Also those a killed run left, which this lab found mounted and used.
            others = [r for r in RUNS_DIR.iterdir() if r != self.run_dir and _run_alive(r)]
            if not others:
                present = _mount_points()
                _unmount(p for p in (str(CHROOT / "dev/pts"), str(CHROOT / "proc"))
                         if p in present)
            shutil.rmtree(self.run_dir, ignore_errors=True)
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)
        if errors:
            raise HarnessError("; ".join(errors))

    def __enter__(self) -> "SSHLab":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _run_alive(run: Path) -> bool:
    try:
        pid, start = (run / "owner").read_text().split()
        return _start_time(int(pid)) == start
    except (OSError, ValueError):
        return False


_DEFAULT_LAB: SSHLab | None = None


def lab() -> SSHLab:
    """The process-wide lab, made at first use (what the pytest fixtures use)."""
    global _DEFAULT_LAB
    if _DEFAULT_LAB is None or _DEFAULT_LAB._closed:
        _DEFAULT_LAB = SSHLab()
    return _DEFAULT_LAB


def start_sshd(**options) -> SSHD:
    """start_sshd on the process-wide lab."""
    return lab().start_sshd(**options)


def ssh_config_for(home: Path | str, sshds: Sequence[SSHD] | None = None, **kw) -> ClientConfig:
    """ssh_config_for on the process-wide lab."""
    return lab().ssh_config_for(home, sshds, **kw)


# ---------------------------------------------------------------------------------------------
# Driving a program that asks on its terminal (ssh's password prompt, sudo) without pexpect


@dataclass
class PtyResult:
    returncode: int
    output: str  # everything the program wrote to the terminal, as text
    answered: list[str]  # the prompts answered, in order (the matched text)


def run_in_pty(argv: Sequence[str], answers: Sequence[tuple[str, str]] = (), *,
               timeout: float = 20.0, env: dict | None = None,
               size: tuple[int, int] = (24, 120)) -> PtyResult:
    """Run ARGV with a new PTY as its controlling terminal; whenever the output (after the last
    answered prompt) matches one of the regexes in ANSWERS, type its reply and Enter.

    Each prompt occurrence is answered once, so two sudo prompts get two answers. Raises
    TimeoutError with the transcript when the program is not done within TIMEOUT seconds.
    """
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    # `setsid --ctty` makes the PTY the controlling terminal (ssh reads passwords from /dev/tty)
    # without forking this (threaded) Python process by hand.
    proc = subprocess.Popen(["setsid", "--ctty", *argv], stdin=slave, stdout=slave,
                            stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out = b""
    pos = 0
    answered: list[str] = []
    patterns = [(re.compile(p.encode()), r) for p, r in answers]
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                proc.wait(5)
                raise TimeoutError(f"{' '.join(argv)} not done within {timeout:.0f} s; "
                                   f"transcript:\n{out.decode(errors='replace')}")
            ready, _, _ = select.select([master], [], [], min(left, 0.1))
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError as e:
                    if e.errno != errno.EIO:
                        raise
                    chunk = b""
                if not chunk:
                    break  # every holder of the terminal closed it
                out += chunk
                for rx, reply in patterns:
                    m = rx.search(out, pos)
                    if m:
                        answered.append(m.group(0).decode(errors="replace"))
                        pos = m.end()
                        os.write(master, reply.encode() + b"\r")
                        break
            elif proc.poll() is not None:
                # Exited; a grandchild may still hold the terminal: take what is there and go.
                break
        rc = proc.wait(max(0.1, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    return PtyResult(rc, out.decode(errors="replace"), answered)


# ---------------------------------------------------------------------------------------------
# pytest fixtures (import them into a test module or conftest: `from sshd_harness import ...`)

try:
    import pytest
except ImportError:  # the module is usable without pytest
    pytest = None

if pytest is not None:

    @pytest.fixture(scope="session")
    def ssh_lab():
        """The session's SSHLab; skips when not root (see NOT_ROOT_REASON)."""
        if os.geteuid() != 0:
            pytest.skip(NOT_ROOT_REASON)
        the_lab = lab()
        yield the_lab
        the_lab.close()

    @pytest.fixture(scope="session")
    def sshd_h1(ssh_lab) -> SSHD:
        """The main test host."""
        return ssh_lab.start_sshd(name="h1")

    @pytest.fixture(scope="session")
    def sshd_h2(ssh_lab) -> SSHD:
        """A second sshd: the jump host for ProxyJump, the target of a forwarded agent."""
        return ssh_lab.start_sshd(name="h2")

    @pytest.fixture
    def ssh_client(ssh_lab, sshd_h1, sshd_h2, tmp_path) -> ClientConfig:
        """A fresh temp HOME with .ssh/config aliases for h1 and h2 (h1-ops, h2-ops-pw, ...)."""
        return ssh_lab.ssh_config_for(tmp_path / "home", [sshd_h1, sshd_h2])


if __name__ == "__main__":
    # Manual use: set up, start h1 and h2, print the aliases, and clean up.
    with SSHLab() as the_lab:
        h1, h2 = the_lab.start_sshd(), the_lab.start_sshd()
        home = Path(tempfile.mkdtemp(prefix="sshpty-home-"))
        cfg = the_lab.ssh_config_for(home)
        print(f"setup {the_lab.setup_seconds:.1f} s; installed: {the_lab.installed or 'nothing'}")
        print(f"config: {cfg.path}\naliases: {' '.join(cfg.hosts)}")
        print(f"SSH_AUTH_SOCK={the_lab.keys.agent_sock}")
        t = time.monotonic()
        cp = subprocess.run(cfg.ssh("h1-ops", "id"), env=cfg.env(), capture_output=True,
                            text=True, timeout=20, stdin=subprocess.DEVNULL)
        print(f"ssh h1-ops id -> {cp.returncode} {cp.stdout.strip()} "
              f"({time.monotonic() - t:.2f} s) {cp.stderr.strip()}")
        shutil.rmtree(home, ignore_errors=True)
