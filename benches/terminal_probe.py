"""Where the live terminal's keystroke latency goes, without a browser or jupyter_server.

    python benches/terminal_probe.py [--keys 100] [--kernel-bin PATH]   # as root

A companion of benches/terminal.py (not run by benches/run): one test sshd (sshd_harness,
alias h1-ops), and in the same run, interleaved key by key:
  kernel   the sshpty kernel through jupyter_client (ZMQ, no server): a `%shell` cell logged in
           to h1-ops, the `sshpty.terminal` comm attached, `cat` running; a `keys` comm_msg
           sent → the `output` comm_msg carrying the echo received
  ssh      OpenSSH `ssh -tt h1-ops cat` from a local PTY: the key written to the PTY → its
           echo read back (what terminado's side of JupyterLab's terminal does)
Prints p50/p90/p99 of each and their ratio; the difference is the kernel's own path (its
comm handling, SSH library, output batching: src/kernel/terminal.rs BATCH).
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from queue import Empty

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from sshd_harness import SSHLab  # noqa: E402

ALIAS = "h1-ops"
TARGET = "sshpty.terminal"
MIME = "application/vnd.sshpty.terminal+json"


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, round(p * (len(s) - 1)))]


def stats(xs):
    return {"n": len(xs), "p50": statistics.median(xs), "p90": pct(xs, 0.9), "p99": pct(xs, 0.99),
            "min": min(xs), "max": max(xs)}


IDLE = 30.0


def idle_cpu(pid: int, seconds: float) -> float:
    """% of a core PID used (utime+stime) over SECONDS."""
    def ticks():
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    a = ticks()
    time.sleep(seconds)
    return 100 * (ticks() - a) / os.sysconf("SC_CLK_TCK") / seconds


class KernelSide:
    def __init__(self, kernel_name: str, env: dict):
        from jupyter_client import KernelManager
        self.km = KernelManager(kernel_name=kernel_name)
        self.km.start_kernel(env=env)
        self.kc = self.km.blocking_client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.comm = uuid.uuid4().hex
        self.kc.shell_channel.send(self.kc.session.msg("comm_open", {
            "comm_id": self.comm, "target_name": TARGET, "data": {"version": 1, "tab": "probe"}}))
        # Logged in, no terminal yet: the kernel's idle CPU with nothing attached.
        self.kc.execute("true")
        time.sleep(3)
        self._drain()
        self.idle_plain = idle_cpu(self.km.provisioner.pid, IDLE)
        self.kc.execute("%shell", allow_stdin=True)
        self.term = self._terminal_id(60)
        self._send({"request": "attach", "terminal": self.term, "cols": 120, "rows": 40})
        self._until(lambda d: d.get("event") == "screen", 30)
        time.sleep(1)
        self.keys("cat\r")
        self._until(lambda d: "cat" in d.get("data", ""), 30)
        time.sleep(0.5)
        self._drain()

    def _send(self, data: dict) -> None:
        self.kc.shell_channel.send(self.kc.session.msg("comm_msg", {"comm_id": self.comm,
                                                                    "data": data}))

    def keys(self, s: str) -> None:
        self._send({"request": "keys", "terminal": self.term, "data": s})

    def _terminal_id(self, timeout: float) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                m = self.kc.get_iopub_msg(timeout=0.5)
            except Empty:
                continue
            if m["msg_type"] in ("display_data", "update_display_data") and \
                    MIME in m["content"]["data"]:
                return m["content"]["data"][MIME]["terminal"]
            if m["msg_type"] == "error":
                raise RuntimeError(f"%shell: {m['content']}")
        raise RuntimeError("no live terminal display")

    def _until(self, pred, timeout: float) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                m = self.kc.get_iopub_msg(timeout=max(0.001, end - time.monotonic()))
            except Empty:
                break
            if m["msg_type"] == "comm_msg" and m["content"].get("comm_id") == self.comm \
                    and pred(m["content"]["data"]):
                return time.perf_counter()
        raise RuntimeError(f"nothing matched within {timeout} s")

    def _drain(self) -> None:
        while True:
            try:
                self.kc.get_iopub_msg(timeout=0.2)
            except Empty:
                return

    def one(self, ch: str) -> float:
        t0 = time.perf_counter()
        self.keys(ch)
        return self._until(lambda d: d.get("event") == "output" and ch in d.get("data", ""),
                           10) - t0

    def close(self) -> None:
        try:
            self.keys("\x04")
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=True)


class SshSide:
    def __init__(self, cfg_path: Path, env: dict):
        self.master, slave = os.openpty()
        self.p = subprocess.Popen(["ssh", "-F", str(cfg_path), "-tt", ALIAS, "cat"], env=env,
                                  stdin=slave, stdout=slave, stderr=slave,
                                  start_new_session=True)
        os.close(slave)
        import tty
        tty.setraw(self.master)  # the local side passes bytes through, as terminado's PTY does
        time.sleep(2)
        self._read(0.5)

    def _read(self, timeout: float) -> bytes:
        got = b""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r, _, _ = select.select([self.master], [], [], max(0, end - time.monotonic()))
            if not r:
                break
            got += os.read(self.master, 65536)
        return got

    def one(self, ch: str) -> float:
        t0 = time.perf_counter()
        os.write(self.master, ch.encode())
        end = t0 + 10
        got = b""
        while ch.encode() not in got:
            r, _, _ = select.select([self.master], [], [], max(0, end - time.perf_counter()))
            if not r:
                raise RuntimeError("no echo from ssh within 10 s")
            got += os.read(self.master, 65536)
        return time.perf_counter() - t0

    def close(self) -> None:
        self.p.kill()
        self.p.wait(5)
        os.close(self.master)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=100)
    ap.add_argument("--gap", type=float, default=0.05, help="s after each echo")
    ap.add_argument("--kernel-bin", default=os.environ.get("SSHPTY_BIN",
                                                           str(REPO / "target/release/sshpty")))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sshpty-term-probe-"))
    lab = kernel = ssh = None
    try:
        binary = tmp / "sshpty"
        shutil.copy2(args.kernel_bin, binary)
        lab = SSHLab()
        h1 = lab.start_sshd(name="h1", ClientAliveInterval=None)
        home = tmp / "home"
        home.mkdir()
        cfg = lab.ssh_config_for(home, [h1])
        env = cfg.env(agent=False)
        prefix = tmp / "prefix"
        subprocess.run([str(binary), "install", "--prefix", str(prefix), "--name", "probe",
                        "--login", ALIAS, "--no-header"], check=True, capture_output=True,
                       timeout=60)
        os.environ["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
        os.environ["JUPYTER_RUNTIME_DIR"] = str(tmp / "runtime")
        kernel = KernelSide("probe", env)
        ssh = SshSide(cfg.path, env)
        res = {"kernel": [], "ssh": []}
        letters = "abcdefghijklmnopqrstuvwxyz"
        for i in range(args.keys):
            ch = letters[i % 26]
            for name, side in (("kernel", kernel), ("ssh", ssh))[:: 1 if i % 2 else -1]:
                res[name].append(side.one(ch) * 1000)
                time.sleep(args.gap)
            if i % 40 == 39:
                kernel.keys("\r")
                os.write(ssh.master, b"\r")
                time.sleep(0.3)
                kernel._drain()
                ssh._read(0.2)
        k, s = stats(res["kernel"]), stats(res["ssh"])
        for name, st in (("kernel (jupyter_client, no server)", k), ("ssh -tt from a PTY", s)):
            print(f"{name}: p50 {st['p50']:.1f} ms, p90 {st['p90']:.1f}, p99 {st['p99']:.1f}, "
                  f"min {st['min']:.1f}, max {st['max']:.1f} (n={st['n']})")
        print(f"ratio p50 {k['p50'] / s['p50']:.2f}×, p99 {k['p99'] / s['p99']:.2f}×")
        time.sleep(3)
        kernel._drain()
        attached = idle_cpu(kernel.km.provisioner.pid, IDLE)
        print(f"kernel idle CPU over {IDLE:.0f} s: logged in, no terminal {kernel.idle_plain:.3f} %; "
              f"%shell attached (cat waiting) {attached:.3f} % of a core")
        return 0
    finally:
        for x in (ssh, kernel):
            if x is not None:
                try:
                    x.close()
                except Exception as e:
                    print(f"close: {e}", file=sys.stderr)
        if lab is not None:
            lab.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
