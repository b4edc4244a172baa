"""The fleet benchmark of issue 15: `uptime` on 10, 100 and 1000 hosts, sshpty beside Ansible,
parallel-ssh and the floor sshd sets, in one run on the same hosts. Driven by `benches/run
--fleet` (read benches/README.md, "Fleet").

    benches/run --fleet                 # 10 and 100 hosts: benches/results/fleet-<commit>-<time>.*
    benches/run --fleet --with-1000     # and 1000 hosts (several minutes: Ansible's part)
    benches/run --fleet --check         # 10 hosts, properties only, no timing judged

The hosts (benches/fleet_hosts.py): N names h0001... on INSTANCES sshd listening on 127.0.0.1,
one ssh_config and one Ansible inventory naming them alike, known_hosts seeded. For each fleet
size, in this order:

  floor      N concurrent minimal fresh logins (`true`), by the cheaper of two clients: OpenSSH
             processes from one asyncio loop (`ssh -o ControlMaster=no NAME true`) and
             parallel-ssh's single process (libssh2), concurrency/pool the best of --pools;
             both with curve25519-sha256, the key exchange sshpty (russh) and libssh2 get from
             this sshd (OpenSSH's default, sntrup761x25519, costs its client ~150 ms of CPU per
             login here). Beside it the CPU bound: sshd's CPU per login (measured once,
             sequential logins) × N / cores
  Ansible    `ansible all -m raw -a uptime -f F` for each F of --forks. First run: fresh
             connections (ControlMaster=no). Second run: a warm-up run with ControlPersist
             opens one master per name (ControlPath per inventory name, as a real fleet has:
             Ansible's default path hashes host, port and user, so names of one sshd would share
             a master), then each F is timed with those masters warm. Best F of each taken.
             Ansible runs OpenSSH's default key exchange (as its users get it); one more first
             run at its best F with curve25519-sha256 is reported beside it.
  pssh       parallel-ssh (native, libssh2) at each pool size of --pools: the first run makes
             the connections, the second reuses them (benches/fleet_pssh.py). Best pool taken.
  sshpty     one kernel per fleet size and each F of --forks: `%inventory FILE`, then
             `%on --forks F all\\nuptime` twice (first run: logins included; second:
             connections reused). Best F of each taken. Time to idle, RSS and fds
             before and after, heartbeat p99 during each run. A kernel without the fleet magics
             is recorded as "not yet implemented" and the run goes on.

Before every first run the sshd instances are left until no connection is open, and the
CPU the sshd used during each run is recorded (per host). Every subprocess has a deadline, the
whole run one (--deadline, SIGALRM); the fleet, the ControlPersist masters and the kernels are
torn down in `finally`, also on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import bench  # noqa: E402  (its Kernel, Sampler, kernelspecs, environment: one of each)
from fleet_hosts import (  # noqa: E402
    Fleet, _all_pids, _cmdline, _cpu, _stat_fields, parse_ini_inventory,
)

VENV_BIN = Path(sys.executable).parent
ANSIBLE = VENV_BIN / "ansible"
ANSIBLE_INVENTORY = VENV_BIN / "ansible-inventory"
COMMAND = "uptime"
# What sshpty has each host do, for parallel-ssh to do too: a terminal (`use_pty`) and an
# interactive login shell that reads the profile (sshpty's LOGIN_BOOTSTRAP), running COMMAND.
TERMINAL_COMMAND = f"exec bash -l -i -c {COMMAND}"
NOT_YET = "not yet implemented"
# The key exchange russh (sshpty) and libssh2 (parallel-ssh) negotiate with OpenSSH 9.2's sshd;
# OpenSSH's own client prefers sntrup761x25519-sha512, whose key generation is slow.
CHEAP_KEX = ("-o", "KexAlgorithms=curve25519-sha256")
FRESH = ("-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "BatchMode=yes")


class FleetBenchError(RuntimeError):
    """A measurement could not be made; the message says which and why."""


class Deadline(BaseException):
    """The whole run's bound (--deadline) passed."""


def log(*a) -> None:
    print("[fleet]", *a, file=sys.stderr, flush=True)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def command_cpu_ms(runs: int = 40) -> float:
    """CPU milliseconds one local run of COMMAND costs right now, over RUNS runs: what each
    host's part costs every tool alike (all hosts are this one machine), measured with and
    without the kernel's terminal sessions open."""
    c0 = children_cpu()
    for _ in range(runs):
        subprocess.run([COMMAND], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL, timeout=30, check=False)
    return (children_cpu() - c0) / runs * 1000


def run_group(argv: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    """Run ARGV in a process group of its own; on timeout or interrupt the whole group is
    killed (by its id), so no fork of it outlives the measurement."""
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except BaseException:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.communicate()
        raise
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


# ---------------------------------------------------------------------------------------------
# The run's context: the fleet, a scratch directory, what each measurement shares


class Run:
    def __init__(self, args, fleet: Fleet, tmp: Path):
        self.args = args
        self.fleet = fleet
        self.tmp = tmp
        self.cores = os.cpu_count() or 1

    def quiet(self, timeout: float = 60) -> None:
        """Wait until the sshd instances serve no connection (the last run's are gone)."""
        deadline = time.monotonic() + timeout
        while self.fleet.connection_count():
            if time.monotonic() > deadline:
                raise FleetBenchError(f"sshd still has {self.fleet.connection_count()} "
                                      f"connection processes {timeout:.0f} s after a run")
            time.sleep(0.1)

    def measured(self, fn):
        """Run FN (returning a dict); add wall-independent figures: the sshd's and the
        waited-for children's CPU seconds during it."""
        s0, c0 = self.fleet.sshd_cpu(), children_cpu()
        r = fn()
        r["sshd_cpu_s"] = self.fleet.sshd_cpu() - s0
        r["client_children_cpu_s"] = children_cpu() - c0
        return r


def answered(r: dict, n: int) -> bool:
    return len(r.get("ok", ())) == n


# ---------------------------------------------------------------------------------------------
# The floor: sshd's work per login, and N minimal logins at once


def sshd_cpu_per_login(run: Run, logins: int, kex: tuple[str, ...]) -> dict:
    """Sequential `ssh NAME true` (fresh connection each, key exchange KEX options), the sshd
    idle between them: sshd's CPU per login (listener, connection processes, PAM session, the
    user's shell running `true`), the ssh client's CPU and the wall time of one login."""
    f = run.fleet
    names = f.names(len(f.hosts))
    run.quiet()
    s0, c0, t0 = f.sshd_cpu(), children_cpu(), time.perf_counter()
    for i in range(logins):
        cp = subprocess.run(f.ssh_argv(names[i % len(names)], "true", options=FRESH + kex),
                            env=f.env(), capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
        if cp.returncode != 0:
            raise FleetBenchError(f"ssh {names[i % len(names)]} true: exit {cp.returncode}: "
                                  f"{cp.stderr.strip()[-300:]}")
        run.quiet(10)
    wall = time.perf_counter() - t0
    return {"logins": logins, "sshd_cpu_per_login_s": (f.sshd_cpu() - s0) / logins,
            "client_cpu_per_login_s": (children_cpu() - c0) / logins,
            "wall_per_login_s": wall / logins}


async def _floor_async(run: Run, n: int, conc: int, timeout: float) -> dict:
    f = run.fleet
    env = f.env()
    sem = asyncio.Semaphore(conc)
    ok: list[str] = []
    failed: dict[str, str] = {}

    async def one(name: str) -> None:
        async with sem:
            p = await asyncio.create_subprocess_exec(
                *f.ssh_argv(name, "true", options=FRESH + CHEAP_KEX),
                env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
            try:
                _, err = await asyncio.wait_for(p.communicate(), timeout)
            except asyncio.TimeoutError:
                p.kill()
                await p.wait()
                failed[name] = f"not done within {timeout:.0f} s"
                return
            if p.returncode == 0:
                ok.append(name)
            else:
                failed[name] = f"exit {p.returncode}: {err.decode(errors='replace')[-200:]}"

    t0 = time.perf_counter()
    await asyncio.gather(*(one(name) for name in f.names(n)))
    return {"wall_s": time.perf_counter() - t0, "ok": ok, "failed": failed}


def floor_run(run: Run, n: int, conc: int) -> dict:
    run.quiet()
    r = run.measured(lambda: asyncio.run(_floor_async(run, n, conc, run.args.host_timeout)))
    r["concurrency"] = conc
    r["client"] = "openssh"
    return r


def floor_libssh2(run: Run, n: int, pool: int) -> dict:
    """The floor by parallel-ssh's one process: its first run of `true`."""
    both = pssh_run(run, n, pool, "true")
    r = both["first"]
    r["sshd_cpu_s_both_runs"] = both["sshd_cpu_s"]
    r["client_cpu_s_both_runs"] = both["client_cpu_s"]
    r["concurrency"] = pool
    r["client"] = "libssh2"
    return r


# ---------------------------------------------------------------------------------------------
# Ansible


_ANSIBLE_RESULT = re.compile(r"^(\S+) \| (CHANGED|SUCCESS|FAILED|UNREACHABLE!)(?: \| rc=(\d+))?",
                             re.M)


class Ansible:
    """ansible-core's ad-hoc `-m raw` on the fleet's inventory, with a config file of its own
    (no user or system ansible.cfg), host keys checked against the fleet's known_hosts."""

    def __init__(self, run: Run):
        self.run = run
        f = run.fleet
        self.dir = run.tmp / "ansible"
        self.cp_dir = Path(tempfile.mkdtemp(prefix="cp-", dir="/tmp"))  # short: socket paths
        (self.dir / "tmp").mkdir(parents=True, exist_ok=True)
        cfg = self.dir / "ansible.cfg"
        cfg.write_text("[defaults]\ndeprecation_warnings = False\n")
        # OpenSSH reads ~ from the passwd entry, not $HOME: the known_hosts file is named.
        self.keys = (f"-o UserKnownHostsFile={f.known_hosts} -o StrictHostKeyChecking=yes "
                     "-o BatchMode=yes")
        self.env = f.env()
        self.env.update(ANSIBLE_CONFIG=str(cfg), ANSIBLE_HOST_KEY_CHECKING="True",
                        ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(self.dir / "tmp"),
                        ANSIBLE_SSH_CONTROL_PATH_DIR=str(self.cp_dir),
                        ANSIBLE_TIMEOUT=str(int(run.args.host_timeout)),
                        ANSIBLE_PERSISTENT_CONTROL_PATH_DIR=str(self.cp_dir / "p"))

    def _once(self, n: int, forks: int, persist: bool, kex: tuple[str, ...] = ()) -> dict:
        env = dict(self.env)
        keys = " ".join((self.keys,) + kex)
        if persist:
            env["ANSIBLE_SSH_ARGS"] = f"-o ControlMaster=auto -o ControlPersist=900s {keys}"
        else:
            env["ANSIBLE_SSH_ARGS"] = f"-o ControlMaster=no -o ControlPath=none {keys}"
        argv = [str(ANSIBLE), "-i", str(self.run.fleet.inventory(n)), "all", "-m", "raw",
                "-a", COMMAND, "-f", str(forks)]
        if persist:
            # One master per inventory name, as on a real fleet (see the module's docstring).
            argv += ["-e", f"ansible_control_path={self.cp_dir}/{{{{ inventory_hostname }}}}"]
        t0 = time.perf_counter()
        try:
            cp = run_group(argv, env, self.run.args.tool_timeout)
        except subprocess.TimeoutExpired:
            return {"wall_s": time.perf_counter() - t0, "ok": [], "forks": forks, "exit": None,
                    "failed": {"*": f"not done within {self.run.args.tool_timeout:.0f} s"}}
        wall = time.perf_counter() - t0
        ok, failed = [], {}
        for m in _ANSIBLE_RESULT.finditer(cp.stdout):
            if m.group(2) in ("CHANGED", "SUCCESS") and m.group(3) in (None, "0"):
                ok.append(m.group(1))
            else:
                failed[m.group(1)] = m.group(0)
        if not ok and not failed:
            failed["*"] = f"exit {cp.returncode}: {(cp.stdout + cp.stderr).strip()[-300:]}"
        return {"wall_s": wall, "ok": ok, "failed": failed, "forks": forks, "exit": cp.returncode}

    def first(self, n: int, forks: int, kex: tuple[str, ...] = ()) -> dict:
        self.run.quiet()
        return self.run.measured(lambda: self._once(n, forks, persist=False, kex=kex))

    def warm_up(self, n: int, forks: int) -> dict:
        self.run.quiet()
        return self.run.measured(lambda: self._once(n, forks, persist=True))

    def second(self, n: int, forks: int) -> dict:
        return self.run.measured(lambda: self._once(n, forks, persist=True))

    def masters(self) -> list[int]:
        mark = str(self.cp_dir)
        return [p for p in _all_pids() if mark in _cmdline(p) and p != os.getpid()]

    def stop_masters(self) -> None:
        """`ssh -O exit` each ControlPersist master, then end (by pid) what is left of them."""
        for sock in self.cp_dir.iterdir() if self.cp_dir.is_dir() else ():
            if sock.is_socket():
                subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "fleet"],
                               capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while (left := self.masters()) and time.monotonic() < deadline:
            time.sleep(0.1)
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        self.stop_masters()
        shutil.rmtree(self.cp_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# parallel-ssh


def pssh_run(run: Run, n: int, pool: int, command: str = COMMAND, pty: bool = False) -> dict:
    """First and second run of parallel-ssh in one process (benches/fleet_pssh.py); with PTY,
    each host gets a terminal."""
    f = run.fleet
    hosts = run.tmp / f"pssh-hosts-{n}.json"
    hosts.write_text(json.dumps([[h.name, h.port, h.user, str(h.key)] for h in f.hosts[:n]]))
    run.quiet()
    s0, c0 = f.sshd_cpu(), children_cpu()
    t0 = time.perf_counter()
    try:
        cp = run_group([sys.executable, str(HERE / "fleet_pssh.py"), str(hosts), str(pool),
                        str(run.args.host_timeout), command, *(["pty"] if pty else [])],
                       f.env(), run.args.tool_timeout)
        why = None if cp.returncode == 0 else \
            f"exit {cp.returncode}: {cp.stderr.strip()[-300:]}"
    except subprocess.TimeoutExpired:
        why = f"not done within {run.args.tool_timeout:.0f} s"
    if why is not None:
        # One failed setting is a result (no host counted), not the end of the run.
        log(f"parallel-ssh at pool {pool}: {why}")
        failed = {"wall_s": time.perf_counter() - t0, "ok": [], "failed": {"*": why}}
        r = {"first": failed, "second": dict(failed)}
    else:
        r = json.loads(cp.stdout)
    r["pool"] = pool
    r["sshd_cpu_s"] = f.sshd_cpu() - s0  # both runs together
    r["client_cpu_s"] = children_cpu() - c0
    return r


# ---------------------------------------------------------------------------------------------
# sshpty


_NAME_RANGE = re.compile(r"\b(h)\[([0-9,:\- ]+)\]")
_NAME = re.compile(r"\bh\d{4,}\b")


def names_in(text: str, wanted: set[str]) -> set[str]:
    """The fleet names TEXT mentions: plain (h0042) and folded the way clubak/dshbak and
    Ansible write ranges (h[0001-0100,0105], h[0001:0100])."""
    found = {m.group(0) for m in _NAME.finditer(text)} & wanted
    width = len(next(iter(wanted))) - 1 if wanted else 4
    for m in _NAME_RANGE.finditer(text):
        for part in m.group(2).replace(" ", "").split(","):
            a, sep, b = re.split(r"([-:])", part, maxsplit=1) if re.search(r"[-:]", part) \
                else (part, "", part)
            if a.isdigit() and b.isdigit():
                for i in range(int(a), int(b) + 1):
                    name = f"h{i:0{width}d}"
                    if name in wanted:
                        found.add(name)
    return found


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _cell_text(r: bench.CellRun) -> str:
    return "\n".join(r.notes) + "\n" + json.dumps(r.reply)


class Sshpty:
    """The kernel (SSHPTY_BIN) through jupyter_client, as benches/bench.py starts it, with
    HOME the fleet's (its ~/.ssh/config is the fleet's ssh_config)."""

    def __init__(self, run: Run):
        self.run = run
        self.kernels: list[bench.Kernel] = []
        share = bench.install_kernelspecs(run.tmp / "prefix", sys.executable, False)
        os.environ["JUPYTER_PATH"] = str(share)
        os.environ["JUPYTER_RUNTIME_DIR"] = str(run.tmp / "runtime")
        os.environ["JUPYTER_PLATFORM_DIRS"] = "1"
        self.logs = run.tmp / "kernel-logs"
        self.logs.mkdir(exist_ok=True)

    def fleet_size(self, n: int, forks: int) -> dict:
        """One kernel: `%inventory`, then `%on --forks FORKS all` + uptime twice. A dict of
        the figures, or {"status": NOT_YET, "why": ...} when the kernel does not know the
        magics."""
        f = self.run.fleet
        self.run.quiet()
        k = bench.Kernel("bench-sshpty-plain", f.env(), self.kernels, self.logs)
        try:
            inv = k.execute(f"%inventory {f.inventory(n)}", timeout=60, keep_notes=True)
            if inv.status != "ok":
                return {"status": NOT_YET, "why": f"%inventory: {_short_error(inv)}"}
            pid = k.pid
            out: dict = {"status": "ok", "rss_before_kib": bench.proc_status(pid, "VmRSS"),
                         "fds_before": _fds(pid)}
            wanted = set(f.names(n))
            out["command_cpu_ms_before"] = command_cpu_ms()
            code = f"%on --forks {forks} all\n{COMMAND}"
            for which in ("first", "second"):
                s0, k0 = f.sshd_cpu(), _cpu(_stat_fields(pid))
                with bench.Sampler(k) as s:
                    r = k.execute(code, timeout=self.run.args.tool_timeout, keep_notes=True)
                sampled = s.report()
                if r.status != "ok" and which == "first" and not names_in(_cell_text(r), wanted):
                    return {"status": NOT_YET, "why": f"%on all: {_short_error(r)}"}
                seen = names_in(_cell_text(r), wanted)
                out[which] = {
                    "wall_s": r.elapsed, "status": r.status, "kernel_cpu_s": _cpu(_stat_fields(pid)) - k0,
                    "ok": sorted(seen) if r.status == "ok" else [],
                    "names_seen": len(seen), "sshd_cpu_s": f.sshd_cpu() - s0,
                    "hb": sampled["hb"], "hb_timeouts": sampled["hb_timeouts"],
                    "rss_max_kib": sampled["rss_max_kib"],
                    "rss_after_kib": bench.proc_status(pid, "VmRSS"), "fds_after": _fds(pid),
                    "iopub_messages": r.iopub_messages, "wire_bytes": r.wire_bytes}
            # With the kernel's N sessions open.
            out["command_cpu_ms_after"] = command_cpu_ms()
            first = out["first"]
            out["rss_per_idle_host_kib"] = (first["rss_after_kib"] - out["rss_before_kib"]) / n
            out["fds_per_idle_host"] = (first["fds_after"] - out["fds_before"]) / n
            out["rss_per_running_host_kib"] = (first["rss_max_kib"] - out["rss_before_kib"]) / n \
                if first["rss_max_kib"] else None
            return out
        finally:
            self.kernels.remove(k)
            k.close()

    def close(self) -> None:
        for k in self.kernels:
            try:
                k.close()
            except Exception as e:
                log(f"closing a kernel: {e}")
        self.kernels.clear()


def _short_error(r: bench.CellRun) -> str:
    reply = r.reply or {}
    text = " ".join(x for x in (reply.get("ename"), reply.get("evalue")) if x)
    if not text:
        text = " ".join(n.strip() for n in r.notes if n.strip())
    return f"{r.status}: {text[:300]}"


# ---------------------------------------------------------------------------------------------
# One fleet size, every tool


def best(runs: list[dict], key: str = "wall_s") -> dict | None:
    """The fastest run among those where every host answered (None if none did)."""
    good = [r for r in runs if r.get("all_ok")]
    return min(good, key=lambda r: r[key]) if good else None


def _mark(r: dict, n: int) -> dict:
    r["all_ok"] = answered(r, n)
    r["ok_count"] = len(r.get("ok", ()))
    r["failed"] = dict(list(r.get("failed", {}).items())[:5])  # a few reasons, not a thousand
    r.pop("ok", None)
    return r


def sizes_choices(choices: list[int], n: int) -> list[int]:
    """The settings worth trying for N hosts: those below N, and N itself for the rest."""
    return sorted({min(c, n) for c in choices})


def fleet_size(run: Run, n: int, sshpty: Sshpty | None) -> dict:
    a = run.args
    R: dict = {"hosts": n, "loadavg_start": os.getloadavg()}
    log(f"{n} hosts: floor")
    R["floor"] = [_mark(floor_run(run, n, c), n) for c in sizes_choices(a.pools, n)]
    R["floor"] += [_mark(floor_libssh2(run, n, c), n) for c in sizes_choices(a.pools, n)]
    if not a.no_ansible:
        ans = Ansible(run)
        try:
            log(f"{n} hosts: Ansible, fresh connections, forks {sizes_choices(a.forks, n)}")
            R["ansible_first"] = [_mark(ans.first(n, fk), n) for fk in sizes_choices(a.forks, n)]
            fk0 = (best(R["ansible_first"]) or {}).get("forks", sizes_choices(a.forks, n)[-1])
            log(f"{n} hosts: Ansible, fresh connections, curve25519, forks {fk0}")
            R["ansible_first_curve25519"] = [_mark(ans.first(n, fk0, CHEAP_KEX), n)]
            log(f"{n} hosts: Ansible, ControlPersist warm-up at forks {fk0}")
            R["ansible_warm_up"] = _mark(ans.warm_up(n, fk0), n)
            R["ansible_masters"] = len(ans.masters())
            R["ansible_second"] = [_mark(ans.second(n, fk), n) for fk in sizes_choices(a.forks, n)]
        finally:
            ans.close()
    if not a.no_pssh:
        log(f"{n} hosts: parallel-ssh, pools {sizes_choices(a.pools, n)}")
        first, second = [], []
        for pool in sizes_choices(a.pools, n):
            r = pssh_run(run, n, pool)
            for which, into in (("first", first), ("second", second)):
                x = _mark(r[which], n)
                x["pool"] = pool
                into.append(x)
            first[-1]["sshd_cpu_s_both_runs"] = r["sshd_cpu_s"]
            first[-1]["client_cpu_s_both_runs"] = r["client_cpu_s"]
        R["pssh_first"], R["pssh_second"] = first, second
        pool = (best(first) or {}).get("pool", sizes_choices(a.pools, n)[-1])
        log(f"{n} hosts: parallel-ssh with a terminal and a login shell, pool {pool}")
        r = pssh_run(run, n, pool, TERMINAL_COMMAND, pty=True)
        for which in ("first", "second"):
            x = _mark(r[which], n)
            x["pool"] = pool
            R[f"pssh_terminal_{which}"] = [x]
        R["pssh_terminal_first"][0]["sshd_cpu_s_both_runs"] = r["sshd_cpu_s"]
    if sshpty is not None:
        # At each of the settings Ansible's forks take (`%on --forks`), a fresh kernel each,
        # the best taken as for the others: the same number of tries for every tool.
        R["sshpty"] = []
        for fk in sizes_choices(a.forks, n):
            log(f"{n} hosts: sshpty, --forks {fk}")
            s = sshpty.fleet_size(n, fk)
            s["forks"] = fk
            for which in ("first", "second"):
                if which in s:
                    s[which]["all_ok"] = len(s[which]["ok"]) == n
                    s[which]["ok_count"] = len(s[which].pop("ok"))
                    s[which]["forks"] = fk
            R["sshpty"].append(s)
            if s["status"] != "ok":
                break
    R["loadavg_end"] = os.getloadavg()
    return R


# ---------------------------------------------------------------------------------------------
# Check mode: properties, no timing


def check(run: Run, sshpty: Sshpty | None) -> list[str]:
    f = run.fleet
    n = len(f.hosts)
    failures = []
    inv = f.inventory(n)
    ssh_view = f.ssh_view(n)
    ini = {name: (v.get("ansible_host", ""), int(v.get("ansible_port", 0)),
                  v.get("ansible_user", ""), v.get("ansible_ssh_private_key_file", ""))
           for name, v in parse_ini_inventory(inv).items()}
    if ini != ssh_view:
        failures.append(f"inventory and ssh_config disagree: {ini} vs {ssh_view}")
    if ANSIBLE_INVENTORY.exists():
        cp = subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(inv), "--list"],
                            capture_output=True, text=True, timeout=60, env=f.env(),
                            stdin=subprocess.DEVNULL)
        hv = json.loads(cp.stdout or "{}").get("_meta", {}).get("hostvars", {})
        seen = {name: (v.get("ansible_host"), int(v.get("ansible_port", 0)),
                       v.get("ansible_user"), v.get("ansible_ssh_private_key_file"))
                for name, v in hv.items()}
        if seen != ssh_view:
            failures.append(f"ansible-inventory and ssh -G disagree: {seen} vs {ssh_view}")
    R = fleet_size(run, n, sshpty)
    for key in ("floor", "ansible_first", "ansible_first_curve25519", "ansible_second",
                "pssh_first", "pssh_second", "pssh_terminal_first", "pssh_terminal_second"):
        for r in R.get(key, []):
            line = f"{key}: {r['ok_count']}/{n} hosts answered"
            print(f"  {line}", flush=True)
            if not r["all_ok"]:
                failures.append(f"{line}: {r['failed']}")
    for s in R.get("sshpty", []):
        if s["status"] == NOT_YET:
            print(f"  sshpty: {NOT_YET} ({s['why']})", flush=True)
        else:
            for which in ("first", "second"):
                x = s[which]
                print(f"  sshpty {which} (--forks {s['forks']}): {x['ok_count']}/{n} hosts "
                      f"named in the output, status {x['status']}", flush=True)
                if not x["all_ok"]:
                    failures.append(f"sshpty {which}: {x['ok_count']}/{n} hosts, {x['status']}")
    return failures


# ---------------------------------------------------------------------------------------------
# Report


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def fmt_ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}×"


def fmt_run(r: dict | None, setting: str = "") -> str:
    if r is None:
        return "—"
    s = f"{r['wall_s']:.2f} s"
    return f"{s} ({setting}={r[setting]})" if setting and setting in r else s


def summarize(R: dict, cpu: dict, cores: int) -> dict:
    """Per fleet size and run: the figure each column shows, and the ratios."""
    rows = {}
    for size in R["sizes"]:
        n = size["hosts"]
        fl = best(size.get("floor", []))
        for which in ("first", "second"):
            an = best(size.get(f"ansible_{which}", []))
            ps = best(size.get(f"pssh_{which}", []))
            pt = best(size.get(f"pssh_terminal_{which}", []))
            runs = size.get("sshpty") or []
            spr = best([r[which] for r in runs if r.get("status") == "ok" and which in r])
            sp_wall = spr["wall_s"] if spr else None
            last = runs[-1] if runs else {"status": "not run"}
            if spr:
                sp_status = "ok"
            elif last["status"] == "ok":
                sp_status = f"{last[which]['ok_count']}/{n} hosts"
            else:
                sp_status = last["status"]
            row = {"floor_s": fl["wall_s"] if fl and which == "first" else None,
                   "floor_concurrency": fl["concurrency"] if fl and which == "first" else None,
                   "floor_client": fl["client"] if fl and which == "first" else None,
                   "cpu_bound_s": cpu["sshd_cpu_per_login_s"] * n / cores
                   if which == "first" else None,
                   "ansible_s": an["wall_s"] if an else None, "ansible_forks": an and an["forks"],
                   "pssh_s": ps["wall_s"] if ps else None, "pssh_pool": ps and ps["pool"],
                   "sshpty_s": sp_wall, "sshpty_forks": spr and spr["forks"],
                   "sshpty_status": sp_status,
                   "pssh_terminal_s": pt["wall_s"] if pt else None,
                   "pssh_terminal_pool": pt and pt["pool"],
                   "ansible_sshd_cpu_per_host_ms": an["sshd_cpu_s"] / n * 1000 if an else None,
                   # What the client machine spends per host (the tool's own processes).
                   "client_cpu_ms": {
                       "sshpty": spr["kernel_cpu_s"] / n * 1000
                       if spr and "kernel_cpu_s" in spr else None,
                       "pssh": ps["cpu_s"] / n * 1000 if ps and "cpu_s" in ps else None,
                       "pssh_terminal": pt["cpu_s"] / n * 1000 if pt and "cpu_s" in pt else None,
                       "ansible": an["client_children_cpu_s"] / n * 1000 if an else None}}
            row["sshpty_vs_ansible"] = ratio(sp_wall, row["ansible_s"])
            row["sshpty_vs_pssh"] = ratio(sp_wall, row["pssh_s"])
            row["sshpty_vs_pssh_terminal"] = ratio(sp_wall, row["pssh_terminal_s"])
            row["sshpty_vs_floor"] = ratio(sp_wall, row["floor_s"])
            row["pssh_vs_ansible"] = ratio(row["pssh_s"], row["ansible_s"])
            rows[f"{n}/{which}"] = row
    return rows


def markdown(R: dict, env: dict) -> str:
    cpu = R["sshd_cpu_per_login"]
    dk = R["sshd_cpu_per_login_default_kex"]
    cores = env["cpus"]
    out = [f"# Fleet bench: `{COMMAND}` on N hosts, {env['commit']} ({env['date']})", "",
           f"{cores} cores, load average {env['loadavg_start'][0]:.2f} → "
           f"{env.get('loadavg_end', [0])[0]:.2f}; {env['openssh']}; ansible-core "
           f"{env.get('ansible_core')}, parallel-ssh {env.get('parallel_ssh')}; "
           f"{R['instances']} sshd instances on 127.0.0.1; open files {R['nofile'][0]}.", "",
           "Seconds to all hosts done (sshpty: `execute_request` → idle). First run: every tool "
           "logs in afresh; second run: connections the tool kept (Ansible: ControlPersist "
           "masters warm, one per name). Each tool at its best setting (shown) among "
           f"forks {R['forks']} (Ansible's `-f`, sshpty's `%on --forks`) / pools "
           f"{R['pools']}.", "",
           "The column \"parallel-ssh, terminal\" has each host do what sshpty has it do: "
           f"a terminal (`use_pty`) and a login shell reading the profile (`{TERMINAL_COMMAND}`), "
           "at parallel-ssh's best pool for the plain command.", "",
           "| hosts | run | floor | sshd CPU bound | Ansible | parallel-ssh | "
           "parallel-ssh, terminal | sshpty | sshpty/Ansible | sshpty/pssh | "
           "sshpty/pssh-terminal | sshpty/floor | pssh/Ansible |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in R["summary"].items():
        n, which = key.split("/")

        def s(x):
            return "—" if x is None else f"{x:.2f} s"
        floor = s(r["floor_s"]) + (f" ({r['floor_client']}, c={r['floor_concurrency']})"
                                   if r["floor_s"] else "")
        ans = s(r["ansible_s"]) + (f" (-f {r['ansible_forks']})" if r["ansible_s"] else "")
        ps = s(r["pssh_s"]) + (f" (pool {r['pssh_pool']})" if r["pssh_s"] else "")
        pt = s(r["pssh_terminal_s"]) + (f" (pool {r['pssh_terminal_pool']})"
                                        if r["pssh_terminal_s"] else "")
        sp = s(r["sshpty_s"]) + f" (--forks {r['sshpty_forks']})" \
            if r["sshpty_s"] is not None else r["sshpty_status"]
        out.append(f"| {n} | {which} | {floor} | {s(r['cpu_bound_s'])} | {ans} | {ps} | {pt} | "
                   f"{sp} | {fmt_ratio(r['sshpty_vs_ansible'])} | "
                   f"{fmt_ratio(r['sshpty_vs_pssh'])} | "
                   f"{fmt_ratio(r['sshpty_vs_pssh_terminal'])} | "
                   f"{fmt_ratio(r['sshpty_vs_floor'])} | {fmt_ratio(r['pssh_vs_ansible'])} |")
    out += ["", "## The client's CPU per host", "",
            "CPU milliseconds the tool's own processes spent per host, in the run the table "
            "above shows: sshpty's kernel; parallel-ssh's process; Ansible's processes and the "
            "ssh clients they start. Here every host is this machine, so each host's sshd, "
            "shell and command share the same cores; on a real fleet they run on the hosts, and "
            "this figure is what bounds how many hosts one client machine serves at once.", "",
            "| hosts | run | sshpty | parallel-ssh | parallel-ssh, terminal | Ansible |",
            "|---|---|---|---|---|---|"]
    for key, r in R["summary"].items():
        n, which = key.split("/")
        c = r["client_cpu_ms"]

        def ms(x):
            return "—" if x is None else f"{x:.1f} ms"
        out.append(f"| {n} | {which} | {ms(c['sshpty'])} | {ms(c['pssh'])} | "
                   f"{ms(c['pssh_terminal'])} | {ms(c['ansible'])} |")
    out += ["", "## The floor: sshd's work per login", "",
            f"Sequential `ssh NAME true`, fresh connections, {cpu['logins']} logins: sshd "
            f"{cpu['sshd_cpu_per_login_s'] * 1000:.1f} ms of CPU per login (listener, connection "
            "processes, PAM session, the shell running `true`), the ssh client "
            f"{cpu['client_cpu_per_login_s'] * 1000:.1f} ms, "
            f"{cpu['wall_per_login_s'] * 1000:.0f} ms wall per login. On {cores} cores, N logins "
            f"cost sshd at least N × {cpu['sshd_cpu_per_login_s'] * 1000:.1f} ms / {cores} "
            f"(the \"sshd CPU bound\" column; 1000 hosts: "
            f"{cpu['sshd_cpu_per_login_s'] * 1000 / cores:.1f} s), and with OpenSSH clients on "
            f"the same machine N × {(cpu['sshd_cpu_per_login_s'] + cpu['client_cpu_per_login_s']) * 1000:.1f} ms / {cores} "
            f"(1000 hosts: {(cpu['sshd_cpu_per_login_s'] + cpu['client_cpu_per_login_s']) * 1000 / cores:.1f} s). "
            "Key exchange curve25519-sha256, as sshpty (russh) and libssh2 negotiate here. "
            "With OpenSSH's default (sntrup761x25519-sha512, what Ansible's ssh uses): sshd "
            f"{dk['sshd_cpu_per_login_s'] * 1000:.1f} ms, the client "
            f"{dk['client_cpu_per_login_s'] * 1000:.1f} ms, "
            f"{dk['wall_per_login_s'] * 1000:.0f} ms wall per login.",
            "", "## Every setting tried", "",
            "| hosts | tool | run | setting | seconds | hosts ok | sshd CPU per host |",
            "|---|---|---|---|---|---|---|"]
    for size in R["sizes"]:
        n = size["hosts"]
        for key, tool, which, setting in (("floor", "floor (`true`)", "first", "concurrency"),
                                          ("ansible_first", "Ansible", "first", "forks"),
                                          ("ansible_first_curve25519", "Ansible, curve25519",
                                           "first", "forks"),
                                          ("ansible_second", "Ansible", "second", "forks"),
                                          ("pssh_first", "parallel-ssh", "first", "pool"),
                                          ("pssh_second", "parallel-ssh", "second", "pool"),
                                          ("pssh_terminal_first", "parallel-ssh, terminal",
                                           "first", "pool"),
                                          ("pssh_terminal_second", "parallel-ssh, terminal",
                                           "second", "pool"),
                                          ("sshpty_first", "sshpty", "first", "forks"),
                                          ("sshpty_second", "sshpty", "second", "forks")):
            rows = size.get(key, []) if not key.startswith("sshpty") else [
                r[key.split("_")[1]] for r in size.get("sshpty", []) if r["status"] == "ok"]
            for r in rows:
                # Not for sshpty, whose sessions are still open when a run ends: summed over
                # the live processes, it read 9.5 ms a host at 1000 hosts where a system-wide
                # profile of the same run showed about 45 (sshd and what it ran): a count
                # that misses most of it is not shown.
                cpu_s = None if key.startswith("sshpty") else \
                    r.get("sshd_cpu_s", r.get("sshd_cpu_s_both_runs"))
                cpu_txt = "—" if cpu_s is None else f"{cpu_s / n * 1000:.1f} ms" + \
                    (" (both runs)" if "sshd_cpu_s" not in r else "")
                label = f"{tool} ({r['client']})" if "client" in r else tool
                out.append(f"| {n} | {label} | {which} | {setting} {r[setting]} | "
                           f"{r['wall_s']:.2f} | {r['ok_count']}/{n} | {cpu_txt} |")
        w = size.get("ansible_warm_up")
        if w:
            out.append(f"| {n} | Ansible | warm-up (ControlPersist, opens masters) | forks "
                       f"{w['forks']} | {w['wall_s']:.2f} | {w['ok_count']}/{n} | "
                       f"{w['sshd_cpu_s'] / n * 1000:.1f} ms |")
    out += ["", "## sshpty", ""]
    for size in R["sizes"]:
        n = size["hosts"]
        if not size.get("sshpty"):
            out.append(f"- {n} hosts: not run")
        for s in size.get("sshpty", []):
            if s["status"] != "ok":
                out.append(f"- {n} hosts: {s['status']} ({s.get('why', '')})")
                continue
            f1, f2 = s["first"], s["second"]
            out.append(
                f"- {n} hosts, `--forks {s['forks']}`: first {f1['wall_s']:.2f} s "
                f"({f1['ok_count']}/{n} named), second "
                f"{f2['wall_s']:.2f} s; RSS {s['rss_before_kib']} → {f1['rss_after_kib']} KiB "
                f"({s['rss_per_idle_host_kib']:.0f} KiB per connected idle host, goal ≤ 256; "
                f"peak {f1['rss_max_kib']} KiB while running), fds {s['fds_before']} → "
                f"{f1['fds_after']} ({s['fds_per_idle_host']:.2f} per host); heartbeat p99 "
                f"{f1['hb'].get('p99', float('nan')):.1f} ms first / "
                f"{f2['hb'].get('p99', float('nan')):.1f} ms second (goal < 200 ms at 1000)")
            if "command_cpu_ms_after" in s:
                b, a = s["command_cpu_ms_before"], s["command_cpu_ms_after"]
                out.append(
                    f"  - `{COMMAND}` itself, run here: {b:.2f} ms of CPU before the kernel "
                    f"logged in, {a:.2f} ms with its {n} sessions open; {n} hosts × {a:.2f} ms "
                    f"= {n * a / 1000:.2f} CPU-s of every tool's run is the command's own")
    return "\n".join(out) + "\n"


def environment() -> dict:
    env = bench.environment()
    for k in ("sshkernel", "bash_kernel"):
        env.pop(k, None)
    env["ansible_core"] = bench._version("ansible-core")
    env["parallel_ssh"] = bench._version("parallel-ssh")
    env["sshd"] = subprocess.run(["sshd", "-V"], capture_output=True, text=True).stderr.strip() \
        if shutil.which("sshd") else None
    env["kernel_bin"] = str(bench.BIN)
    return env


# ---------------------------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="10 hosts, one run each, properties only (every host answered, the "
                    "inventory and ssh_config agree, the teardown leaves no sshd)")
    ap.add_argument("--hosts", type=_ints, default=[10, 100], help="fleet sizes (default 10,100)")
    ap.add_argument("--with-1000", action="store_true", help="add the 1000-host size")
    ap.add_argument("--instances", type=int, default=8, help="sshd instances (default 8)")
    ap.add_argument("--forks", type=_ints, default=[50, 100, 200], help="Ansible's forks and sshpty's %on --forks tried")
    ap.add_argument("--pools", type=_ints, default=[50, 100, 200],
                    help="parallel-ssh pool sizes and floor concurrencies tried")
    ap.add_argument("--cpu-logins", type=int, default=30,
                    help="sequential logins measuring sshd's CPU per login")
    ap.add_argument("--host-timeout", type=float, default=120,
                    help="per host: connect/command timeout of each tool")
    ap.add_argument("--tool-timeout", type=float, default=900, help="per tool run")
    ap.add_argument("--deadline", type=float, default=None,
                    help="bound on the whole run, seconds (default 600 with --check, else 5400)")
    ap.add_argument("--no-ansible", action="store_true")
    ap.add_argument("--no-pssh", action="store_true")
    ap.add_argument("--no-sshpty", action="store_true")
    ap.add_argument("--results", default=str(REPO / "benches" / "results"))
    args = ap.parse_args()
    if args.check:
        args.hosts, args.forks, args.pools, args.cpu_logins = [10], [10], [10], 5
    elif args.with_1000 and 1000 not in args.hosts:
        args.hosts.append(1000)
    args.hosts.sort()

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    def on_alarm(signum, frame):
        raise Deadline(f"the run's deadline ({deadline:.0f} s) passed")

    deadline = args.deadline or (600 if args.check else 5400)
    # SIGINT too: a shell without job control starts background jobs with SIGINT ignored, and
    # `timeout -s INT` (benches/run) must still reach the teardown.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(deadline))
    if not args.no_sshpty and not bench.BIN.is_file():
        log(f"{bench.BIN} does not exist: build it (cargo build --release) or set SSHPTY_BIN")
        return 2
    if not args.no_ansible and not ANSIBLE.exists():
        log(f"{ANSIBLE} does not exist: install ansible-core into this venv (benches/run --fleet)")
        return 2
    env = environment()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(args.results) / f"fleet-{env['commit'] or 'nogit'}-{stamp}"
    tmp = Path(tempfile.mkdtemp(prefix="sshpty-fleet-"))
    fleet = sshpty = None
    failures: list[str] = []
    interrupted = False
    R: dict = {}
    try:
        t0 = time.monotonic()
        fleet = Fleet(max(args.hosts), args.instances, tmp / "fleet")
        log(f"{len(fleet.hosts)} names on {len(fleet.sshds)} sshd in "
            f"{time.monotonic() - t0:.1f} s (open files {fleet.nofile[0]})")
        run = Run(args, fleet, tmp)
        sshpty = None if args.no_sshpty else Sshpty(run)
        R = {"instances": len(fleet.sshds), "nofile": fleet.nofile, "forks": args.forks,
             "pools": args.pools, "command": COMMAND}
        R["sshd_cpu_per_login"] = sshd_cpu_per_login(run, args.cpu_logins, CHEAP_KEX)
        R["sshd_cpu_per_login_default_kex"] = sshd_cpu_per_login(run, args.cpu_logins, ())
        for key, what in (("sshd_cpu_per_login", "curve25519"),
                          ("sshd_cpu_per_login_default_kex", "OpenSSH's default kex")):
            c = R[key]
            log(f"per login ({what}): sshd {c['sshd_cpu_per_login_s'] * 1000:.1f} ms CPU, "
                f"ssh client {c['client_cpu_per_login_s'] * 1000:.1f} ms CPU, "
                f"{c['wall_per_login_s'] * 1000:.0f} ms wall")
        if args.check:
            failures = check(run, sshpty)
        else:
            R["sizes"] = []
            for n in args.hosts:
                R["sizes"].append(fleet_size(run, n, sshpty))
                R["summary"] = summarize(R, R["sshd_cpu_per_login"], run.cores)
                # Written after each size: a run stopped later keeps what it measured.
                R["complete"] = n == args.hosts[-1]
                write_results(R, env, base, final=R["complete"])
    except (FleetBenchError, bench.BenchError, Deadline, subprocess.TimeoutExpired) as e:
        log(f"FAILED: {e}")
        failures.append(str(e))
        if sshpty is not None:
            bench_show_logs(sshpty)
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}): tearing down")
        interrupted = True
    finally:
        signal.alarm(0)
        if sshpty is not None:
            sshpty.close()
        if fleet is not None:
            try:
                fleet.close()
            except Exception as e:
                failures.append(f"teardown: {e}")
            left = fleet.leftovers()
            if left:
                failures.append("teardown left: " + "; ".join(left[:10]))
        shutil.rmtree(tmp, ignore_errors=True)
    if interrupted:
        for f in failures:
            log(f)
        return 130
    if args.check:
        if failures:
            print("benches/fleet.py --check FAILED:\n  " + "\n  ".join(failures), flush=True)
            return 1
        print("benches/fleet.py --check: every host answered, inventory and ssh_config agree, "
              "no sshd left", flush=True)
        return 0
    if R.get("sizes") and not R.get("complete"):
        log(f"the sizes measured before the failure are in {base}.md")
    return 1 if failures else 0


def write_results(R: dict, env: dict, base: Path, final: bool) -> None:
    """BASE.json (every figure) and BASE.md (the tables); the final call also prints them."""
    env["loadavg_end"] = os.getloadavg()
    base.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{base}.json").write_text(json.dumps({"environment": env, "results": R}, indent=1,
                                               default=str) + "\n")
    md = markdown(R, env)
    if not final:
        md = "**Partial: the run did not reach its last fleet size.**\n\n" + md
    Path(f"{base}.md").write_text(md)
    if final:
        print(md, flush=True)
        log(f"written {base}.json and {base}.md")


def bench_show_logs(sshpty: Sshpty) -> None:
    for k in sshpty.kernels:
        try:
            tail = k.log_path.read_text(errors="replace")[-2000:].strip()
        except OSError:
            continue
        if tail:
            log(f"stderr of the kernel (tail):\n{tail}")


if __name__ == "__main__":
    sys.exit(main())
