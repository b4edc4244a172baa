"""The measuring harness of issue 6, driven by benches/run (read that first).

    benches/run                # full run: figures, baselines, ratios, targets
    benches/run --check        # properties only (every line delivered, message sizes); no timing

Everything runs in one process against one lab: a real OpenSSH sshd on 127.0.0.1 started by
tests/integration/sshd_harness.py (SSHLab, user sshpty-ops, alias h1-ops), the sshpty kernel
built in release mode, and the baselines measured in the same run on the same sshd: `ssh -tt`
over a ControlMaster connection, a fresh `ssh`, `bash -c`, the Python SSH Kernel (sshkernel
0.11.1 from PyPI) and bash_kernel. Kernels are driven with jupyter_client's blocking client;
IOPub messages are read from its channel socket frame by frame (what get_iopub_msg does) so
their wire size is counted too.

Every wait has a deadline; kernels, the ControlMaster, the lab's sshd and its run directory
are torn down in `finally` blocks and on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import zmq  # noqa: E402
from jupyter_client import KernelManager  # noqa: E402

from sshd_harness import SSHLab  # noqa: E402

BIN = Path(os.environ.get("SSHPTY_BIN", REPO / "target" / "release" / "sshpty")).resolve()
ALIAS = "h1-ops"
SEQ_N = 200_000
SEQ_CMD = f"seq 1 {SEQ_N}"
BIG_BYTES = 100_000_000
FOLD = 99
# The kernel paces output to stay under jupyter_server's rate limits over a sliding 4 s span
# (kernel/pacing.rs: the server's 3 s window plus a second of relay delay): a large-output
# cell starts after this long without output, so what the previous
# repetition sent does not slow the next one (each measures one such cell, as a user runs it).
PACING_SETTLE = 4.5


def fold_cmd(nbytes: int) -> str:
    return f"head -c {nbytes} /dev/zero | tr '\\0' 'y' | fold -w {FOLD}"


_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[P_^X][^\x1b]*\x1b\\"
    r"|\x1b[@-Z\\-_]"
)


class BenchError(RuntimeError):
    """A measurement could not be made; the message says which and why."""


def log(*a) -> None:
    print("[bench]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Statistics


def summary(xs: list[float], unit_scale: float = 1000.0) -> dict:
    """median, p95, p99, min, max (in ms by default) and the count."""
    if not xs:
        return {"n": 0}
    s = sorted(xs)

    def q(p: float) -> float:
        return s[min(len(s) - 1, max(0, round(p * (len(s) - 1))))] * unit_scale

    return {"n": len(s), "median": statistics.median(s) * unit_scale, "p95": q(0.95),
            "p99": q(0.99), "min": s[0] * unit_scale, "max": s[-1] * unit_scale}


# ---------------------------------------------------------------------------------------------
# Checking delivered lines against what the command prints


class Lines:
    """Feeds stream text and compares it, line by line and in order, with what `seq 1 N`
    (kind "seq") or `fold -w 99` of N bytes of `y` (kind "fold") prints. Streaming: nothing
    of the output is kept but the current partial line."""

    def __init__(self, kind: str, nbytes_or_n: int):
        self.kind = kind
        if kind == "seq":
            self.expected = nbytes_or_n
        else:
            full, rest = divmod(nbytes_or_n, FOLD)
            self.expected = full + (1 if rest else 0)
            self.last = "y" * (rest or FOLD)
        self.next = 0  # index of the next expected line
        self.matched = 0
        self.out_of_order = 0
        self.other = 0  # lines that are not the command's (kernel notes, headers)
        self.other_samples: list[str] = []
        self._partial = ""

    def want(self, i: int) -> str:
        if self.kind == "seq":
            return str(i + 1)
        return self.last if i == self.expected - 1 else "y" * FOLD

    def feed(self, text: str) -> None:
        text = self._partial + text
        parts = text.split("\n")
        self._partial = parts.pop()
        for line in parts:
            self._line(line)

    def finish(self) -> "Lines":
        if self._partial:
            self._line(self._partial)
            self._partial = ""
        return self

    def _line(self, raw: str) -> None:
        line = _ANSI.sub("", raw).rstrip("\r")
        if line.startswith("\r"):
            line = line.lstrip("\r")
        if self.next < self.expected and line == self.want(self.next):
            self.next += 1
            self.matched += 1
            return
        if self.kind == "seq" and line.isdigit():
            v = int(line) - 1
            if v >= self.next and v < self.expected:  # a gap: the lines between were lost
                self.next = v + 1
                self.matched += 1
                return
            if 0 <= v < self.next:
                self.out_of_order += 1
                return
        if line == "":
            return
        self.other += 1
        if len(self.other_samples) < 5:
            self.other_samples.append(line[:200])

    @property
    def lost(self) -> int:
        return self.expected - self.matched

    def report(self) -> dict:
        return {"expected": self.expected, "delivered_in_order": self.matched,
                "lost": self.lost, "out_of_order": self.out_of_order, "other_lines": self.other,
                "other_samples": self.other_samples}


def check_file(path: Path, kind: str, n: int) -> dict:
    lines = Lines(kind, n)
    with open(path, "r", errors="replace", newline="") as f:
        while chunk := f.read(1 << 20):
            lines.feed(chunk)
    return lines.finish().report()


_PATH = re.compile(r"(/[^\s'\"`<>:,;()\[\]]+)")


def announced_files(texts: list[str]) -> list[Path]:
    """Absolute paths the kernel mentions in its notes that exist here as regular files."""
    found: list[Path] = []
    for t in texts:
        for m in _PATH.finditer(_ANSI.sub("", t)):
            p = Path(m.group(1).rstrip("."))
            if str(p).startswith(("/dev/", "/proc/")):
                continue
            try:
                if p.is_file() and p not in found:
                    found.append(p)
            except OSError:
                continue
    return found


# ---------------------------------------------------------------------------------------------
# Kernels through jupyter_client


@dataclass
class CellRun:
    code: str
    status: str
    elapsed: float  # execute_request sent -> status idle received
    first_output: float | None  # -> first stream message
    last_output: float | None  # -> last stream/display message
    iopub_messages: int  # for this request, busy..idle
    stream_messages: int
    stream_payload: int  # bytes of stream text (UTF-8)
    wire_bytes: int  # every frame of every IOPub message for this request
    notes: list[str] = field(default_factory=list)  # stderr, display text, head/tail of stdout
    reply: dict = field(default_factory=dict)


class Kernel:
    """One kernel started by jupyter_client's KernelManager, with its blocking client."""

    def __init__(self, name: str, env: dict, registry: list, log_dir: Path,
                 start_timeout: float = 60):
        self.name = name
        self.km = KernelManager(kernel_name=name)
        self.km.shutdown_wait_time = 5
        registry.append(self)
        # The kernel's own stderr goes to a file: shown when a measurement fails.
        self.log_path = log_dir / f"{name}-{len(registry)}.log"
        log_file = open(self.log_path, "wb")
        t0 = time.perf_counter()
        try:
            self.km.start_kernel(env=env, stdout=log_file, stderr=log_file)
        finally:
            log_file.close()  # the kernel has its own copy
        self.kc = self.km.blocking_client()
        self.kc.start_channels()
        self.start_to_info = self._first_kernel_info(t0, start_timeout)
        self.drain()

    def _first_kernel_info(self, t0: float, timeout: float) -> float:
        """Seconds from start_kernel to the first kernel_info_reply (a request every 50 ms)."""
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            if not self.km.is_alive():
                raise BenchError(f"kernel {self.name} exited during start")
            self.kc.kernel_info()
            try:
                end = time.perf_counter() + 0.05
                while time.perf_counter() < end:
                    msg = self.kc.get_shell_msg(timeout=max(0.001, end - time.perf_counter()))
                    if msg["msg_type"] == "kernel_info_reply":
                        return time.perf_counter() - t0
            except Empty:
                pass
        raise BenchError(f"kernel {self.name}: no kernel_info_reply within {timeout:.0f} s")

    @property
    def pid(self) -> int:
        pid = getattr(getattr(self.km, "provisioner", None), "pid", None)
        if pid is None:
            raise BenchError(f"no pid for kernel {self.name}")
        return pid

    def drain(self, quiet: float = 0.3) -> None:
        """Drop what is queued on IOPub and shell (replies to the start-up kernel_infos)."""
        for get in (self.kc.get_iopub_msg, self.kc.get_shell_msg):
            while True:
                try:
                    get(timeout=quiet)
                except Empty:
                    break

    def _iopub(self, timeout: float) -> tuple[dict, int] | None:
        """One IOPub message and its wire size, as get_iopub_msg reads it."""
        sock = self.kc.iopub_channel.socket
        if not sock.poll(max(1, int(timeout * 1000))):
            return None
        frames = sock.recv_multipart(copy=True)
        size = sum(len(f) for f in frames)
        _, smsg = self.kc.session.feed_identities(frames)
        return self.kc.session.deserialize(smsg), size

    def execute(self, code: str, timeout: float = 60, on_text: Callable[[str], None] | None = None,
                keep_notes: bool = False, store_history: bool = True) -> CellRun:
        t0 = time.perf_counter()
        msg_id = self.kc.execute(code, silent=False, store_history=store_history, allow_stdin=False)
        deadline = t0 + timeout
        n = streams = payload = wire = 0
        first = last = None
        notes: list[str] = []
        head = tail = ""
        texts: list[str] = []
        idle = None
        while idle is None:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise BenchError(f"{self.name}: cell {code[:60]!r} not idle within {timeout:.0f} s "
                                 f"({n} IOPub messages so far, {payload} bytes of stream)")
            got = self._iopub(min(left, 1.0))
            if got is None:
                if not self.km.is_alive():
                    raise BenchError(f"{self.name}: kernel died during {code[:60]!r}")
                continue
            msg, size = got
            if (msg.get("parent_header") or {}).get("msg_id") != msg_id:
                continue
            now = time.perf_counter()
            n += 1
            wire += size
            t = msg["msg_type"]
            c = msg["content"]
            if t == "status" and c.get("execution_state") == "idle":
                idle = now
            elif t == "stream":
                streams += 1
                text = c.get("text", "")
                payload += len(text.encode())
                first = first if first is not None else now
                last = now
                if c.get("name") == "stdout":
                    if on_text:
                        # Checked after the idle: checking 200 000 lines here, between
                        # receives, would delay the receipt of the next message and so
                        # count the client's own work as the kernel's.
                        texts.append(text)
                    if keep_notes:
                        if len(head) < 65536:
                            head += text[: 65536 - len(head)]
                        tail = (tail + text)[-65536:]
                else:
                    notes.append(text)
            elif t in ("display_data", "update_display_data", "execute_result", "error"):
                last = now
                data = c.get("data") or {}
                notes.append(str(data.get("text/plain", "")) + str(c.get("evalue", "")))
        reply = self._reply(msg_id, max(5.0, deadline - time.perf_counter()))
        for text in texts:
            on_text(text)
        if keep_notes:
            notes += [head, tail]
        return CellRun(code, reply.get("status", "?"), idle - t0,
                       None if first is None else first - t0, None if last is None else last - t0,
                       n, streams, payload, wire, notes, reply)

    def interrupt_time(self, code: str, settle: float = 0.5, timeout: float = 60) -> float:
        """Seconds from an interrupt_request (sent SETTLE s after CODE was) to the cell's idle."""
        msg_id = self.kc.execute(code, silent=False, store_history=False, allow_stdin=False)
        time.sleep(settle)
        t0 = time.perf_counter()
        self.km.interrupt_kernel()  # interrupt_mode "message": an interrupt_request
        while True:
            left = t0 + timeout - time.perf_counter()
            if left <= 0:
                raise BenchError(f"{self.name}: {code[:60]!r} not idle {timeout:.0f} s after an interrupt")
            got = self._iopub(min(left, 1.0))
            if got is None:
                continue
            msg, _ = got
            if ((msg.get("parent_header") or {}).get("msg_id") == msg_id
                    and msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle"):
                idle = time.perf_counter()
                break
        self._reply(msg_id, 10)
        return idle - t0

    def _reply(self, msg_id: str, timeout: float) -> dict:
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise BenchError(f"{self.name}: no reply to {msg_id} within {timeout:.0f} s")
            try:
                msg = self.kc.get_shell_msg(timeout=min(left, 1.0))
            except Empty:
                continue
            if (msg.get("parent_header") or {}).get("msg_id") == msg_id:
                return msg["content"]

    def ok(self, code: str, timeout: float = 60, store_history: bool = True) -> CellRun:
        r = self.execute(code, timeout, store_history=store_history)
        if r.status != "ok":
            raise BenchError(f"{self.name}: cell {code!r} -> {r.status}: {r.reply} {r.notes}")
        return r

    def complete(self, code: str, timeout: float = 15) -> tuple[float, dict]:
        t0 = time.perf_counter()
        msg_id = self.kc.complete(code, len(code))
        reply = self._reply(msg_id, timeout)
        return time.perf_counter() - t0, reply

    def close(self) -> None:
        try:
            if self.km.is_alive():
                self.km.request_shutdown()
                end = time.monotonic() + 5
                while self.km.is_alive() and time.monotonic() < end:
                    time.sleep(0.05)
        except Exception as e:  # still stop it below
            log(f"shutdown of {self.name}: {e}")
        finally:
            try:
                self.kc.stop_channels()
            finally:
                self.km.shutdown_kernel(now=True)


def proc_status(pid: int, key: str) -> int:
    """A kB field of /proc/PID/status (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise BenchError(f"no {key} in /proc/{pid}/status")


class Sampler:
    """While running: VmRSS of PID every 10 ms, and a heartbeat ping (REQ on the hb port)
    every 10 ms; a ping unanswered within HB_TIMEOUT counts as a timeout and the socket is
    made anew (a REQ socket stays stuck otherwise)."""

    HB_TIMEOUT = 2.0

    def __init__(self, kernel: Kernel, heartbeat: bool = True):
        self.pid = kernel.pid
        info = kernel.km.get_connection_info()
        self.hb_addr = f"{info['transport']}://{info['ip']}:{info['hb_port']}"
        self.rss: list[int] = []
        self.hb: list[float] = []
        self.hb_timeouts = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._rss, daemon=True)]
        if heartbeat:
            self._threads.append(threading.Thread(target=self._ping, daemon=True))

    def __enter__(self) -> "Sampler":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(self.HB_TIMEOUT + 1)

    def _rss(self) -> None:
        while not self._stop.is_set():
            try:
                self.rss.append(proc_status(self.pid, "VmRSS"))
            except (OSError, BenchError):
                return
            time.sleep(0.01)

    def _ping(self) -> None:
        ctx = zmq.Context.instance()
        sock = None
        try:
            while not self._stop.is_set():
                if sock is None:
                    sock = ctx.socket(zmq.REQ)
                    sock.setsockopt(zmq.LINGER, 0)
                    sock.connect(self.hb_addr)
                t0 = time.perf_counter()
                sock.send(b"ping")
                if sock.poll(int(self.HB_TIMEOUT * 1000)):
                    sock.recv()
                    dt = time.perf_counter() - t0
                    self.hb.append(dt)
                else:
                    self.hb_timeouts += 1
                    sock.close(0)
                    sock = None
                    dt = self.HB_TIMEOUT
                self._stop.wait(max(0.0, 0.01 - dt))
        finally:
            if sock is not None:
                sock.close(0)

    def report(self) -> dict:
        return {"rss_max_kib": max(self.rss) if self.rss else None, "rss_samples": len(self.rss),
                "hb": summary(self.hb), "hb_timeouts": self.hb_timeouts}


# ---------------------------------------------------------------------------------------------
# The OpenSSH baselines


class OpenSSH:
    """The OpenSSH client on the lab's config, with a ControlMaster connection to ALIAS."""

    def __init__(self, cfg, env: dict, run_dir: Path):
        self.cfg = cfg
        self.env = env
        self.ctl = str(run_dir / "cm.sock")
        self.master: subprocess.Popen | None = None

    def argv(self, *extra: str) -> list[str]:
        return ["ssh", "-F", str(self.cfg.path), "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
                *extra]

    def start_master(self, timeout: float = 15) -> None:
        self.master = subprocess.Popen(
            self.argv("-M", "-S", self.ctl, "-N", "-o", "ControlPersist=no", ALIAS),
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.master.poll() is not None:
                raise BenchError(f"ssh ControlMaster exited: {self.master.stderr.read().decode()}")
            if subprocess.run(self.argv("-S", self.ctl, "-O", "check", ALIAS), env=self.env,
                              capture_output=True, timeout=10).returncode == 0:
                return
            time.sleep(0.05)
        raise BenchError(f"ssh ControlMaster not ready within {timeout} s")

    def stop_master(self) -> None:
        if self.master is None:
            return
        try:
            subprocess.run(self.argv("-S", self.ctl, "-O", "exit", ALIAS), env=self.env,
                           capture_output=True, timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if self.master.poll() is None:
            self.master.terminate()
            try:
                self.master.wait(5)
            except subprocess.TimeoutExpired:
                self.master.kill()
                self.master.wait(5)
        self.master = None
        Path(self.ctl).unlink(missing_ok=True)

    def mux_tt(self, command: str, timeout: float = 60,
               terminal: bool = True) -> tuple[float, int]:
        """`ssh -tt` over the ControlMaster: seconds to the last byte (EOF), bytes received.

        `terminal`: run from a terminal (a local PTY as ssh's stdin), as a user does. Without
        one, the master cannot read the client's terminal modes ("mux_master_process_new_
        session: tcgetattr: Inappropriate ioctl for device") and the remote PTY gets none
        set: no output processing (a `\n` is not turned into `\r\n`), which a program
        writing to it finds about three times faster than writing to a terminal. sshpty's
        PTY is a terminal, so output-heavy baselines are taken from one."""
        argv = self.argv("-S", self.ctl, "-tt", ALIAS, command)
        if not terminal:
            return timed_read(argv, self.env, timeout)
        master, slave = os.openpty()
        try:
            return timed_read(argv, self.env, timeout, stdin=slave)
        finally:
            os.close(slave)
            os.close(master)

    def fresh(self, command: str = "true", timeout: float = 30) -> float:
        """A fresh connection: connect, authenticate, run, close."""
        t0 = time.perf_counter()
        cp = subprocess.run(self.argv("-S", "none", "-o", "ControlMaster=no", ALIAS, command),
                            env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                            timeout=timeout)
        dt = time.perf_counter() - t0
        if cp.returncode != 0:
            raise BenchError(f"fresh ssh {ALIAS} {command} -> {cp.returncode}: {cp.stderr!r}")
        return dt


def timed_read(argv: list[str], env: dict | None, timeout: float,
               stdin: int = subprocess.DEVNULL) -> tuple[float, int]:
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdin=stdin, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    n = 0
    try:
        fd = p.stdout.fileno()
        while chunk := os.read(fd, 1 << 20):
            n += len(chunk)
        dt = time.perf_counter() - t0
        rc = p.wait(timeout)
    finally:
        timer.cancel()
        if p.poll() is None:
            p.kill()
            p.wait(5)
        p.stdout.close()
        err = p.stderr.read().decode(errors="replace")
        p.stderr.close()
    if rc != 0:
        raise BenchError(f"{' '.join(argv[-2:])} exited {rc} (killed after {timeout} s?): {err[-500:]}")
    return dt, n


def pty_read(command: str, timeout: float = 60) -> float:
    """`bash -c COMMAND` in a new local PTY: seconds to the last byte (the local target's
    baseline, as `ssh -tt` is the SSH target's)."""
    master, slave = os.openpty()
    t0 = time.perf_counter()
    p = subprocess.Popen(["bash", "-c", command], stdin=slave, stdout=slave, stderr=slave,
                         start_new_session=True)
    os.close(slave)
    deadline = t0 + timeout
    try:
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise BenchError(f"`{command}` in a PTY not done within {timeout} s")
            r, _, _ = select.select([master], [], [], min(left, 1.0))
            if not r:
                continue
            try:
                if not os.read(master, 1 << 20):
                    break
            except OSError:  # EIO: every holder of the slave closed it
                break
        dt = time.perf_counter() - t0
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
        p.wait(5)
    return dt


def timed_runs(fn: Callable[[], float], n: int) -> list[float]:
    return [fn() for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# Setup: kernelspecs, homes, the lab


def install_kernelspecs(prefix: Path, python: str, with_baselines: bool) -> Path:
    specs = {
        "bench-sshpty-plain": ["--no-header"],
        "bench-sshpty-local": ["--login", "local", "--no-header"],
    }
    for name, args in specs.items():
        cp = subprocess.run([str(BIN), "install", "--prefix", str(prefix), "--name", name, *args],
                            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        if cp.returncode != 0:
            raise BenchError(f"sshpty install {name}: {cp.stderr}{cp.stdout}")
    share = prefix / "share" / "jupyter"
    if with_baselines:
        for name, module in (("bench-sshkernel", "sshkernel"), ("bench-bash-kernel", "bash_kernel")):
            d = share / "kernels" / name
            d.mkdir(parents=True, exist_ok=True)
            (d / "kernel.json").write_text(json.dumps({
                "argv": [python, "-m", module, "-f", "{connection_file}"],
                "display_name": name, "language": "bash"}))
    return share


def baseline_available(module: str) -> bool:
    try:
        __import__(module)
        return True
    except Exception:
        return False


class Bench:
    def __init__(self, args):
        self.args = args
        self.kernels: list[Kernel] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="sshpty-bench-"))
        self.lab: SSHLab | None = None
        self.ssh: OpenSSH | None = None
        self.results: dict = {}

    # -- lifecycle
    def setup(self, with_baselines: bool) -> None:
        share = install_kernelspecs(self.tmp / "prefix", sys.executable, with_baselines)
        os.environ["JUPYTER_PATH"] = str(share)
        os.environ["JUPYTER_RUNTIME_DIR"] = str(self.tmp / "runtime")
        os.environ["JUPYTER_PLATFORM_DIRS"] = "1"
        home = self.tmp / "home"
        home.mkdir()
        self.home = home
        self.env = dict(os.environ, HOME=str(home))
        self.env.pop("SSH_AUTH_SOCK", None)
        if os.geteuid() == 0 and not self.args.no_ssh:
            t0 = time.monotonic()
            self.lab = SSHLab()
            h1 = self.lab.start_sshd(name="h1")
            self.cfg = self.lab.ssh_config_for(home, [h1])
            self.env = self.cfg.env(agent=False)
            self.ssh = OpenSSH(self.cfg, self.env, self.tmp)
            log(f"lab ready in {time.monotonic() - t0:.1f} s: sshd {h1.host}:{h1.port}")
        else:
            log("not root (or --no-ssh): SSH measurements skipped")

    def close(self) -> None:
        for k in reversed(self.kernels):
            try:
                k.close()
            except Exception as e:
                log(f"closing kernel {k.name}: {e}")
        self.kernels.clear()
        if self.ssh is not None:
            self.ssh.stop_master()
        if self.lab is not None:
            try:
                self.lab.close()
            except Exception as e:
                log(f"closing the lab: {e}")
        shutil.rmtree(self.tmp, ignore_errors=True)

    def kernel(self, name: str) -> Kernel:
        logs = self.tmp / "logs"
        logs.mkdir(exist_ok=True)
        return Kernel(name, self.env, self.kernels, logs)

    def show_kernel_logs(self) -> None:
        for k in self.kernels:
            try:
                tail = k.log_path.read_text(errors="replace")[-2000:].strip()
            except OSError:
                continue
            if tail:
                log(f"stderr of kernel {k.name} (tail):\n{tail}")

    def drop(self, k: Kernel) -> None:
        k.close()
        self.kernels.remove(k)

    def sshpty_ssh(self) -> tuple[Kernel, float]:
        k = self.kernel("bench-sshpty-plain")
        r = k.ok(f"%login {ALIAS}", timeout=60)
        return k, r.elapsed

    def sshpty_local(self) -> Kernel:
        k = self.kernel("bench-sshpty-local")
        k.ok("true", timeout=60)  # the login happens at the first cell
        return k

    # -- large outputs
    def big_cell(self, k: Kernel, kind: str, size: int, timeout: float, sample: bool) -> dict:
        code = SEQ_CMD if kind == "seq" else fold_cmd(size)
        lines = Lines(kind, size)
        hwm_before = proc_status(k.pid, "VmHWM")
        if sample:
            with Sampler(k) as s:
                r = k.execute(code, timeout, on_text=lines.feed, keep_notes=True)
            sampled = s.report()
        else:
            r = k.execute(code, timeout, on_text=lines.feed, keep_notes=True)
            sampled = None
        lines.finish()
        out = {"status": r.status, "elapsed_s": r.elapsed, "last_output_s": r.last_output,
               "iopub_messages": r.iopub_messages, "stream_messages": r.stream_messages,
               "stream_payload_bytes": r.stream_payload, "wire_bytes": r.wire_bytes,
               "payload_per_stream_message": r.stream_payload / max(1, r.stream_messages),
               "lines": lines.report(), "hwm_before_kib": hwm_before,
               "hwm_after_kib": proc_status(k.pid, "VmHWM"), "sampled": sampled}
        files = announced_files(r.notes)
        out["saved_files"] = [str(p) for p in files]
        out["notes"] = [n[:300] for n in r.notes[:-2] if n.strip()][:5]
        lost = lines.lost
        for p in files:
            rep = check_file(p, kind, size)
            out.setdefault("saved_file_lines", {})[str(p)] = rep
            # Lines moved to a saved-output file the kernel announced count as delivered if
            # the file holds them (in order): it is then the complete output.
            lost = min(lost, rep["lost"])
        out["lines_lost"] = lost
        return out


# ---------------------------------------------------------------------------------------------
# The full run


def p(x: dict, key: str = "median") -> float | None:
    return x.get(key) if isinstance(x, dict) else None


SECTIONS = ("cell", "baselines", "complete", "rss", "login", "start", "seq", "big", "interrupt",
            "cargo")

# Interrupting a program that handles Ctrl-C by dying (the floor) and one that ignores both
# Ctrl-C and the hang-up (issue 12: gone within 4 s over SSH; 7.5-8.7 s before).
INTERRUPT_PLAIN = "sleep 1000"
INTERRUPT_IGNORING = "bash -c \"trap '' INT HUP; while :; do sleep 0.05; done\""


def full(b: Bench) -> dict:
    a = b.args
    only = {x.strip() for x in a.only.split(",") if x.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        raise BenchError(f"--only: unknown sections {sorted(unknown)}; known: {SECTIONS}")

    def want(section: str) -> bool:
        return not only or section in only
    R = b.results
    R["reps"] = {"cell": a.reps, "baseline_kernel_cells": a.sk_reps, "login": a.login_reps,
                 "start": a.start_reps,
                 "seq": a.seq_reps, "big": a.big_reps, "complete": a.reps}
    have_ssh = b.ssh is not None
    have_sk = have_ssh and baseline_available("sshkernel")
    have_bk = baseline_available("bash_kernel")

    # ---- per-cell `true`: each figure and its baseline interleaved, one of each in turn, so
    # a load that comes and goes (2 cores shared with builds) weighs on both alike.
    local = b.sshpty_local()
    remote = None
    if have_ssh:
        b.ssh.start_master()
        remote, first_login = b.sshpty_ssh()
        R["login_first_cell_s"] = first_login
    if want("cell"):
        pairs: list[tuple[str, Callable[[], float]]] = [
            ("bash_c_true", lambda: _timed_subprocess(["bash", "-c", "true"])),
            ("cell_true_local", lambda: local.ok("true").elapsed)]
        if have_ssh:
            mux = b.ssh.argv("-S", b.ssh.ctl, ALIAS, "true")
            pairs += [("ssh_tt_true", lambda: b.ssh.mux_tt("true", terminal=False)[0]),
                      ("cell_true_ssh", lambda: remote.ok("true").elapsed),
                      ("ssh_mux_true", lambda: _timed_subprocess(mux, b.env))]
        log("per-cell true: " + ", ".join(k for k, _ in pairs))
        R.update(interleaved(pairs, a.reps, warmup=5))
        if have_ssh:
            # As "Run All" sends them: each cell right after the previous one's idle, so the
            # shell the kernel starts ahead for the next cell may not be ready yet.
            R["cell_true_ssh_back_to_back"] = summary([remote.ok("true").elapsed
                                                       for _ in range(a.reps)])
    if have_sk and want("baselines"):
        log("per-cell true: sshkernel")
        sk = b.kernel("bench-sshkernel")
        R["sshkernel_start_s"] = [sk.start_to_info]
        sk.ok(f"%login {ALIAS}", timeout=60)
        for _ in range(3):
            sk.ok("true")
        R["sshkernel_cell_true"] = summary([sk.ok("true").elapsed for _ in range(a.sk_reps)])
        time.sleep(0.5)
        R["sshkernel_idle_rss_kib"] = proc_status(sk.pid, "VmRSS")
        log("%login: sshkernel")
        times = []
        for _ in range(a.login_reps):
            sk.ok("%logout")
            times.append(sk.ok(f"%login {ALIAS}", timeout=60).elapsed)
        R["sshkernel_login"] = summary(times)
        b.drop(sk)
    if have_bk and want("baselines"):
        log("per-cell true: bash_kernel")
        bk = b.kernel("bench-bash-kernel")
        R["bash_kernel_start_s"] = bk.start_to_info
        for _ in range(3):
            bk.ok("true")
        R["bash_kernel_cell_true"] = summary([bk.ok("true").elapsed for _ in range(a.sk_reps)])
        b.drop(bk)

    # ---- completion
    targets = [("local", local)] + ([("ssh", remote)] if have_ssh else [])
    if want("complete"):
        log("completion")
        for where, k in targets:
            for label, code in (("command", "sys"), ("path", "/us")):
                t, reply = k.complete(code)  # warm-up, and a check that it answers
                matches = reply.get("matches", [])
                times = [k.complete(code)[0] for _ in range(a.reps)]
                R[f"complete_{label}_{where}"] = dict(summary(times), matches=len(matches),
                                                      sample=matches[:3])

    # ---- idle RSS after login (and a few cells)
    if want("rss"):
        time.sleep(0.5)
        R["idle_rss_local_kib"] = proc_status(local.pid, "VmRSS")
        if have_ssh:
            R["idle_rss_ssh_kib"] = proc_status(remote.pid, "VmRSS")
            with Sampler(remote) as s:
                time.sleep(2)
            R["hb_idle_ssh"] = s.report()["hb"]

    # ---- %login vs a fresh ssh (interleaved)
    if have_ssh and want("login"):
        log("%login vs fresh ssh")
        lk = b.kernel("bench-sshpty-plain")

        def login() -> float:
            t = lk.ok(f"%login {ALIAS}", timeout=60).elapsed
            lk.ok("%logout")
            return t

        R.update(interleaved([("fresh_ssh_true", b.ssh.fresh), ("login", login)],
                             a.login_reps, warmup=1))
        b.drop(lk)

    # ---- start to first kernel_info_reply
    if want("start"):
        log("start to first kernel_info_reply")
        st = []
        for _ in range(a.start_reps):
            k = b.kernel("bench-sshpty-plain")
            st.append(k.start_to_info)
            b.drop(k)
        R["start"] = summary(st)
        if have_sk and "sshkernel_start_s" in R:
            for _ in range(a.start_reps - 1):
                k = b.kernel("bench-sshkernel")
                R["sshkernel_start_s"].append(k.start_to_info)
                b.drop(k)
            R["sshkernel_start"] = summary(R.pop("sshkernel_start_s"))

    # ---- large outputs: `seq` interleaved with its `ssh -tt` baseline, then 100 MB
    if want("seq"):
        seq_runs: dict[str, list[dict]] = {w: [] for w, _ in targets}
        pairs = [(f"seq_{w}_elapsed", _seq_cell(b, k, seq_runs[w])) for w, k in targets]
        pairs.insert(0, ("pty_seq", lambda: pty_read(SEQ_CMD)))
        if have_ssh:
            pairs.insert(0, ("ssh_tt_seq", lambda: b.ssh.mux_tt(SEQ_CMD)[0]))
            pairs.insert(1, ("ssh_tt_seq_raw",
                             lambda: b.ssh.mux_tt(SEQ_CMD, terminal=False)[0]))
        log(f"{SEQ_CMD}: " + ", ".join(k for k, _ in pairs))
        seq = interleaved(pairs, a.seq_reps, warmup=1)
        R["pty_seq"] = seq["pty_seq"]
        if have_ssh:
            R["ssh_tt_seq"] = seq["ssh_tt_seq"]
            R["ssh_tt_seq_raw"] = seq["ssh_tt_seq_raw"]
            R["ssh_tt_seq_bytes"] = b.ssh.mux_tt(SEQ_CMD)[1]
            R["ssh_tt_seq_raw_bytes"] = b.ssh.mux_tt(SEQ_CMD, terminal=False)[1]
        for where, k in targets:
            R[f"seq_{where}"] = {"elapsed": seq[f"seq_{where}_elapsed"],
                                 "runs": seq_runs[where][-a.seq_reps:]}
    if want("interrupt"):
        for where, k in targets:
            log(f"interrupt: {where}")
            R[f"interrupt_plain_{where}"] = summary(
                [k.interrupt_time(INTERRUPT_PLAIN) for _ in range(3)], unit_scale=1.0)
            R[f"interrupt_ignoring_{where}"] = summary(
                [k.interrupt_time(INTERRUPT_IGNORING) for _ in range(3)], unit_scale=1.0)
            k.ok("true")
    if want("big"):
        if have_ssh:
            log("100 MB through ssh -tt")
            big = [b.ssh.mux_tt(fold_cmd(BIG_BYTES), timeout=300) for _ in range(a.big_reps)]
            R["ssh_tt_big"] = summary([x[0] for x in big], 1.0)
            R["ssh_tt_big_bytes"] = big[0][1]
        log("100 MB through bash -c in a local PTY")
        R["pty_big"] = summary([pty_read(fold_cmd(BIG_BYTES), timeout=300)
                                for _ in range(a.big_reps)], 1.0)
        for where, k in targets:
            log(f"100 MB through sshpty {where}")
            runs = []
            for _ in range(a.big_reps):
                time.sleep(PACING_SETTLE)
                runs.append(b.big_cell(k, "fold", BIG_BYTES, a.big_timeout, sample=True))
            R[f"big_{where}"] = {
                "elapsed": summary([r["elapsed_s"] for r in runs], 1.0),
                "last_output": summary([r["last_output_s"] or 0 for r in runs], 1.0),
                "runs": runs}

    # ---- renderer and detector throughput
    if not a.no_cargo_bench and want("cargo"):
        log("cargo bench -p sshpty-terminal")
        R["terminal_benches"] = cargo_benches(a.cargo_bench_timeout)
    return R


def interleaved(pairs: list[tuple[str, Callable[[], float]]], reps: int,
                warmup: int = 0) -> dict:
    """Run each measurement once in turn, REPS rounds (after WARMUP rounds not counted);
    the summary of each, by name."""
    samples: dict[str, list[float]] = {name: [] for name, _ in pairs}
    for i in range(warmup + reps):
        for name, fn in pairs:
            t = fn()
            if i >= warmup:
                samples[name].append(t)
    return {name: summary(xs) for name, xs in samples.items()}


def _seq_cell(b: Bench, k: Kernel, runs: list[dict]) -> Callable[[], float]:
    def one() -> float:
        time.sleep(PACING_SETTLE)
        r = b.big_cell(k, "seq", SEQ_N, 300, sample=False)
        runs.append(r)
        return r["elapsed_s"]
    return one


def _timed_subprocess(argv: list[str], env: dict | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30, check=True)
    return time.perf_counter() - t0


def terminal_bench_names() -> list[str]:
    """The [[bench]] targets of the terminal crate, as its Cargo.toml lists them."""
    text = (REPO / "crates" / "terminal" / "Cargo.toml").read_text()
    return re.findall(r'\[\[bench\]\]\s*\n\s*name\s*=\s*"([^"]+)"', text)


def crate_version(name: str) -> str:
    """The version of crate `name` that Cargo.lock pins (the terminal bench's baselines)."""
    try:
        lock = (REPO / "Cargo.lock").read_text()
    except OSError:
        return "?"
    m = re.search(r'\[\[package\]\]\s*\nname = "%s"\s*\nversion = "([^"]+)"' % re.escape(name), lock)
    return m.group(1) if m else "?"


def rate_table(text: str) -> dict[str, dict[str, float]]:
    """A bench's printed table (a header naming its columns, `render MB/s`, `copy MB/s`...,
    then one line per stream ending in as many numbers) as {stream: {column: value}}."""
    cols: list[str] = []
    table: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if not cols:
            if "MB/s" in line:
                cols = re.findall(r"\S+(?: MB/s)?", line)[1:]
            continue
        nums = re.findall(r"\s+(-?[\d.]+|NaN|inf)", line)
        if len(nums) < len(cols):
            continue
        nums = nums[-len(cols):]
        name = re.sub(r"(\s+(-?[\d.]+|NaN|inf)){%d}\s*$" % len(cols), "", line).strip()
        try:
            table[name] = {c: float(v) for c, v in zip(cols, nums)}
        except ValueError:
            continue
    return table


def cargo_benches(timeout: float) -> dict:
    """`cargo bench -p sshpty-terminal`, one bench target at a time so each one's printed
    table is kept apart; the MB/s figures are parsed from the tables."""
    parsed: dict = {"raw": {}, "errors": {}}
    deadline = time.monotonic() + timeout
    for name in terminal_bench_names():
        left = deadline - time.monotonic()
        if left <= 10:
            parsed["errors"][name] = "not run: the time for cargo bench was used up"
            continue
        try:
            cp = subprocess.run(["cargo", "bench", "-q", "-p", "sshpty-terminal", "--bench", name], cwd=REPO, capture_output=True, text=True,
                                timeout=left, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            parsed["errors"][name] = f"stopped after {left:.0f} s"
            continue
        parsed["raw"][name] = cp.stdout.splitlines()
        if cp.returncode != 0:
            parsed["errors"][name] = cp.stderr[-1500:]
        if name != "hostile":
            table = rate_table(cp.stdout)
            if table:
                parsed.setdefault("tables", {})[name] = table
    return parsed


# ---------------------------------------------------------------------------------------------
# The short mode: properties, never timings


def check(b: Bench) -> list[str]:
    failures: list[str] = []
    targets = [("local", b.sshpty_local())]
    if b.ssh is not None:
        targets.append(("ssh", b.sshpty_ssh()[0]))
    for where, k in targets:
        for kind, size, label in (("seq", SEQ_N, SEQ_CMD), ("fold", 5_000_000, "5 MB of fold")):
            r = b.big_cell(k, kind, size, 300, sample=False)
            name = f"{where}: {label}"
            b.results[f"check_{where}_{kind}"] = r
            lines = r["lines"]
            per = r["payload_per_stream_message"]
            print(f"  {name}: {lines['delivered_in_order']}/{lines['expected']} lines in order, "
                  f"lost {r['lines_lost']}, out of order {lines['out_of_order']}; "
                  f"{r['stream_messages']} stream messages ({r['iopub_messages']} IOPub), "
                  f"{per / 1024:.1f} KiB per stream message"
                  + (f"; saved file {r['saved_files']}" if r["saved_files"] else ""), flush=True)
            if r["status"] != "ok":
                failures.append(f"{name}: status {r['status']}")
            if r["lines_lost"] != 0:
                failures.append(f"{name}: {r['lines_lost']} lines lost "
                                f"(other lines seen: {lines['other_samples']})")
            if lines["out_of_order"]:
                failures.append(f"{name}: {lines['out_of_order']} lines out of order")
            if kind == "seq" and r["stream_messages"] > 200:
                failures.append(f"{name}: {r['stream_messages']} stream messages (at most 200)")
            if per < 8192:
                failures.append(f"{name}: {per:.0f} bytes of payload per stream message "
                                "on average (at least 8 KiB)")
    return failures


# ---------------------------------------------------------------------------------------------
# Report


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except Exception:
        return ""


def environment() -> dict:
    ssh_v = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
            "commit_subject": git("log", "-1", "--format=%s"),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "cpus": os.cpu_count(), "machine": platform.machine(), "kernel": platform.release(),
            "loadavg_start": os.getloadavg(), "python": platform.python_version(),
            "openssh": ssh_v, "sshkernel": _version("sshkernel"),
            "bash_kernel": _version("bash_kernel"), "jupyter_client": _version("jupyter_client")}


def _version(dist: str) -> str | None:
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:
        return None


def fmt_ms(x: dict | None) -> str:
    if not x or not x.get("n"):
        return "—"
    return f"{x['median']:.1f} ms (p95 {x['p95']:.1f}, n={x['n']})"


def fmt_s(x: dict | None) -> str:
    if not x or not x.get("n"):
        return "—"
    return f"{x['median']:.2f} s (max {x['max']:.2f}, n={x['n']})"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def markdown(R: dict, env: dict) -> str:
    rows: list[tuple[str, str, str, str, str, str]] = []

    def row(figure, value, baseline_name, baseline, r, target="", met=None):
        rs = "—" if r is None else (f"{r:.2f}×" if r >= 0.01 else f"{r:.4f}×")
        m = "" if met is None else ("**met**" if met else "**missed**")
        rows.append((figure, value, baseline_name, baseline, rs, f"{target} {m}".strip()))

    def mk(x):
        return p(x) if x else None

    ct_ssh, tt = R.get("cell_true_ssh"), R.get("ssh_tt_true")
    r = ratio(mk(ct_ssh), mk(tt))
    row("cell `true`, SSH target", fmt_ms(ct_ssh), "`ssh -tt` over ControlMaster", fmt_ms(tt), r,
        "≤ 0.75×", None if r is None else r <= 0.75)
    row("", "", "`ssh` (no -tt) over ControlMaster", fmt_ms(R.get("ssh_mux_true")),
        ratio(mk(ct_ssh), mk(R.get("ssh_mux_true"))))
    b2b = R.get("cell_true_ssh_back_to_back")
    if b2b:
        row("cell `true`, SSH target, cells back to back (as Run All sends them)", fmt_ms(b2b),
            "`ssh -tt` over ControlMaster", fmt_ms(tt), ratio(mk(b2b), mk(tt)), "≤ 0.5×",
            None if ratio(mk(b2b), mk(tt)) is None else ratio(mk(b2b), mk(tt)) <= 0.5)
    row("", "", "sshkernel 0.11.1 cell `true`", fmt_ms(R.get("sshkernel_cell_true")),
        ratio(mk(ct_ssh), mk(R.get("sshkernel_cell_true"))))
    for where in ("ssh", "local"):
        ig, pl = R.get(f"interrupt_ignoring_{where}"), R.get(f"interrupt_plain_{where}")
        if ig:
            row(f"interrupt to idle, {where}: a program ignoring Ctrl-C and the hang-up "
                f"(`{INTERRUPT_IGNORING}`)", f"{p(ig):.2f} s (max {ig['max']:.2f}, n={ig['n']})",
                f"interrupting `{INTERRUPT_PLAIN}` (Ctrl-C ends it)",
                f"{p(pl):.2f} s" if pl else "—", ratio(p(ig), p(pl) if pl else None),
                "≤ 4 s" if where == "ssh" else "", ig["max"] <= 4 if where == "ssh" else None)
    row("cell `true`, local target", fmt_ms(R.get("cell_true_local")), "`bash -c true`",
        fmt_ms(R.get("bash_c_true")), ratio(mk(R.get("cell_true_local")), mk(R.get("bash_c_true"))))
    row("", "", "bash_kernel cell `true`", fmt_ms(R.get("bash_kernel_cell_true")),
        ratio(mk(R.get("cell_true_local")), mk(R.get("bash_kernel_cell_true"))))
    lg, fr = R.get("login"), R.get("fresh_ssh_true")
    r = ratio(mk(lg), mk(fr))
    row("`%login h1-ops`", fmt_ms(lg), "fresh `ssh h1-ops true`", fmt_ms(fr), r, "≤ 0.25×",
        None if r is None else r <= 0.25)
    row("", "", "sshkernel `%login`", fmt_ms(R.get("sshkernel_login")),
        ratio(mk(lg), mk(R.get("sshkernel_login"))))
    for where in ("ssh", "local"):
        s = R.get(f"seq_{where}")
        if not s:
            continue
        runs = s["runs"]
        if where == "ssh":
            r = ratio(mk(s["elapsed"]), mk(R.get("ssh_tt_seq")))
            row(f"`{SEQ_CMD}`, {where}: time to idle", fmt_ms(s["elapsed"]),
                "`ssh -tt` over ControlMaster, from a terminal "
                f"({R.get('ssh_tt_seq_bytes', 0) / 1e6:.2f} MB)", fmt_ms(R.get("ssh_tt_seq")), r,
                "≤ 3×", None if r is None else r <= 3)
            raw = R.get("ssh_tt_seq_raw")
            if raw:
                row("", "", "`ssh -tt` over ControlMaster without a local terminal (remote "
                    "PTY without output processing: "
                    f"{R.get('ssh_tt_seq_raw_bytes', 0) / 1e6:.2f} MB, no `\\r`)",
                    fmt_ms(raw), ratio(mk(s["elapsed"]), mk(raw)))
        else:
            row(f"`{SEQ_CMD}`, {where}: time to idle", fmt_ms(s["elapsed"]),
                "`bash -c` in a local PTY", fmt_ms(R.get("pty_seq")),
                ratio(mk(s["elapsed"]), mk(R.get("pty_seq"))))
        msgs = max(x["iopub_messages"] for x in runs)
        row(f"`{SEQ_CMD}`, {where}: IOPub messages (stream)",
            f"{msgs} ({max(x['stream_messages'] for x in runs)}), "
            f"{runs[0]['wire_bytes'] / 1e6:.2f} MB on the wire for "
            f"{runs[0]['stream_payload_bytes'] / 1e6:.2f} MB of text",
            "sshkernel (prior art)", "200 000 messages, 107 MB", None, "≤ 200", msgs <= 200)
        lost = max(x["lines_lost"] for x in runs)
        row(f"`{SEQ_CMD}`, {where}: lines lost", str(lost), "", "", None, "0", lost == 0)
    for where in ("ssh", "local"):
        s = R.get(f"big_{where}")
        if not s:
            continue
        runs = s["runs"]
        base, base_name = ((R.get("ssh_tt_big"), "`ssh -tt` over ControlMaster") if where == "ssh"
                           else (R.get("pty_big"), "`bash -c` in a local PTY"))
        row(f"100 MB cell, {where}: time to idle (last output at "
            f"{p(s.get('last_output') or {}) or 0:.2f} s)", fmt_s(s["elapsed"]),
            base_name, fmt_s(base), ratio(mk(s["elapsed"]), mk(base)))
        x = runs[0]
        row(f"100 MB cell, {where}: IOPub messages (stream), bytes",
            f"{x['iopub_messages']} ({x['stream_messages']}), {x['wire_bytes'] / 1e6:.1f} MB wire, "
            f"{x['stream_payload_bytes'] / 1e6:.1f} MB text", "", "", None,
            "≥ 8 KiB/stream msg", x["payload_per_stream_message"] >= 8192)
        lost = max(y["lines_lost"] for y in runs)
        saved = ""
        for path, rep in (x.get("saved_file_lines") or {}).items():
            saved += (f"; the saved-output file it names (…/{Path(path).name}) holds "
                      f"{rep['delivered_in_order']} in order, {rep['lost']} missing")
        delivered = x["lines"]["delivered_in_order"]
        row(f"100 MB cell, {where}: lines lost", f"{lost} of {x['lines']['expected']}; "
            f"{delivered} in the notebook{saved}", "", "", None, "0", lost == 0)
        peak = max(max(y["hwm_after_kib"], y["sampled"]["rss_max_kib"] or 0) for y in runs)
        row(f"100 MB cell, {where}: kernel peak RSS", f"{peak / 1024:.1f} MiB", "", "", None,
            "< 64 MB", peak * 1024 < 64e6)
        hbp99 = max(y["sampled"]["hb"].get("p99", 0) for y in runs)
        hbp50 = statistics.median(y["sampled"]["hb"].get("median", 0) for y in runs)
        to = sum(y["sampled"]["hb_timeouts"] for y in runs)
        row(f"100 MB cell, {where}: heartbeat p50 / p99", f"{hbp50:.1f} / {hbp99:.1f} ms"
            + (f", {to} pings unanswered in 2 s" if to else ""),
            "idle heartbeat (SSH kernel)", fmt_ms(R.get("hb_idle_ssh")), None, "p99 < 200 ms",
            hbp99 < 200 and to == 0)
    st, sk = R.get("start"), R.get("sshkernel_start")
    r = ratio(mk(st), mk(sk))
    row("start to first kernel_info_reply", fmt_ms(st), "sshkernel", fmt_ms(sk), r, "≤ 0.25×",
        None if r is None else r <= 0.25)
    bks = R.get("bash_kernel_start_s")
    if bks:
        row("", "", "bash_kernel (one start)", f"{bks * 1000:.0f} ms", ratio(mk(st), bks * 1000))
    for where in ("ssh", "local"):
        v = R.get(f"idle_rss_{where}_kib")
        if v is None:
            continue
        skr = R.get("sshkernel_idle_rss_kib")
        row(f"idle RSS after login, {where}", f"{v / 1024:.1f} MiB",
            "sshkernel after login" if where == "ssh" else "",
            f"{skr / 1024:.1f} MiB" if skr and where == "ssh" else "",
            ratio(v, skr) if where == "ssh" else None, "≤ 16 MB", v * 1024 <= 16e6)
    for where in ("local", "ssh"):
        for label, code in (("command", "sys"), ("path", "/us")):
            c = R.get(f"complete_{label}_{where}")
            if c:
                row(f"completion `{code}`, {where}", fmt_ms(c), "", f"{c['matches']} matches",
                    None, "≤ 10 ms", c["median"] <= 10)
    tb = R.get("terminal_benches") or {}
    tables = tb.get("tables") or {}
    ren = (tables.get("throughput") or {}).get("all") or {}
    if "render MB/s" in ren:
        row("renderer throughput, mixed corpus (`--bench throughput`)",
            f"{ren['render MB/s']:.1f} MB/s", "copying the same bytes",
            f"{ren.get('copy MB/s', 0):.0f} MB/s", ratio(ren["render MB/s"], ren.get("copy MB/s")))
        # The two baselines the bench measures in the same run on the same corpus (issue 12):
        # vte's bare parser (the ceiling for a vte-based emulator) and alacritty_terminal.
        if "vte MB/s" in ren:
            r = ratio(ren["render MB/s"], ren["vte MB/s"])
            row("", "", f"vte {crate_version('vte')} bare parser, every callback into a checksum",
                f"{ren['vte MB/s']:.1f} MB/s", r, "≥ 0.5×", None if r is None else r >= 0.5)
        if "alacritty MB/s" in ren:
            r = ratio(ren["render MB/s"], ren["alacritty MB/s"])
            row("", "", f"alacritty_terminal {crate_version('alacritty_terminal')}, same bytes",
                f"{ren['alacritty MB/s']:.1f} MB/s", r, "≥ 1×", None if r is None else r >= 1)
    det = (tables.get("prompts") or {}).get("all") or {}
    dcol = next((c for c in det if "detect" in c), None)
    if dcol:
        row(f"renderer + prompt detector, mixed corpus (`--bench prompts`, {dcol})",
            f"{det[dcol]:.1f} MB/s", "the renderer alone, same corpus",
            f"{det.get('render MB/s', 0):.1f} MB/s", ratio(det[dcol], det.get("render MB/s")))
    for bench_name, table in tables.items():
        if bench_name not in ("throughput", "prompts") and "all" in table:
            for col, v in table["all"].items():
                if "MB/s" in col:
                    row(f"`--bench {bench_name}`: {col}, all", f"{v:.1f} MB/s", "", "", None)

    out = [f"# sshpty benchmarks: {env['commit']}{' (dirty)' if env['dirty'] else ''}, {env['date']}",
           "",
           f"{env['cpus']} CPUs, Linux {env['kernel']}, {env['openssh']}, sshd on 127.0.0.1 "
           f"(tests/integration/sshd_harness.py, user sshpty-ops); client: jupyter_client "
           f"{env['jupyter_client']}; baselines: sshkernel {env['sshkernel']}, bash_kernel "
           f"{env['bash_kernel']}. Load average at start: "
           f"{' '.join(f'{x:.2f}' for x in env['loadavg_start'])}, at the end: "
           f"{' '.join(f'{x:.2f}' for x in env.get('loadavg_end', ()))}"
           + (" (a shared machine: figure and baseline are measured in turn, so the ratios "
              "hold better than the absolute times)." if env['loadavg_start'][0] > (env['cpus'] or 1)
              else "."),
           "",
           f"Repetitions: {json.dumps(R.get('reps'))}. Times are medians (p95 beside them); "
           "ratio = sshpty's figure / the baseline's. Per-cell time: execute_request sent → "
           "status idle received. Large-output cells start after "
           f"{PACING_SETTLE} s without output (the kernel paces output over jupyter_server's "
           "3 s rate-limit window; the previous repetition must not slow the next).",
           "",
           "| figure | sshpty | baseline | baseline figure | ratio | target |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        out.append("| " + " | ".join(x.replace("|", "\\|") for x in r) + " |")
    missed = [r[0] for r in rows if "**missed**" in r[5]]
    out += ["", "Targets missed: " + (", ".join(missed) if missed else "none")]
    raw = (tb.get("raw") or {})
    if raw:
        out += ["", "## cargo bench -p sshpty-terminal"]
        for name, lines in raw.items():
            out += ["", f"`--bench {name}`:", "", "```", *lines, "```"]
        for name, err in (tb.get("errors") or {}).items():
            out += ["", f"`--bench {name}` failed: {err.strip()[-300:]}"]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="properties only, no timings")
    ap.add_argument("--reps", type=int, default=100, help="per-cell repetitions (≥ 50)")
    ap.add_argument("--sk-reps", type=int, default=50, help="sshkernel/bash_kernel cells")
    ap.add_argument("--login-reps", type=int, default=20)
    ap.add_argument("--start-reps", type=int, default=10)
    ap.add_argument("--seq-reps", type=int, default=5)
    ap.add_argument("--big-reps", type=int, default=2)
    ap.add_argument("--big-timeout", type=float, default=600)
    ap.add_argument("--cargo-bench-timeout", type=float, default=900)
    ap.add_argument("--no-cargo-bench", action="store_true")
    ap.add_argument("--no-ssh", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated sections to run (default all): "
                    + ",".join(SECTIONS))
    ap.add_argument("--results", default=str(REPO / "benches" / "results"))
    args = ap.parse_args()

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    if not BIN.is_file():
        log(f"{BIN} does not exist: build it with `cargo build --release`")
        return 2
    b = Bench(args)
    env = environment()
    try:
        b.setup(with_baselines=not args.check)
        if args.check:
            failures = check(b)
            if failures:
                print("benches --check FAILED:\n  " + "\n  ".join(failures), flush=True)
                return 1
            print("benches --check: every property holds", flush=True)
            return 0
        R = full(b)
    except BenchError as e:
        log(f"FAILED: {e}")
        b.show_kernel_logs()
        return 1
    finally:
        b.close()
    env["loadavg_end"] = os.getloadavg()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    base = out / f"{env['commit'] or 'nogit'}-{stamp}"
    Path(f"{base}.json").write_text(json.dumps({"environment": env, "results": R}, indent=1,
                                               default=str) + "\n")
    md = markdown(R, env)
    Path(f"{base}.md").write_text(md)
    print(md, flush=True)
    log(f"written {base}.json and {base}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
