"""The test harness: a `Notebook` handle on a real sshpty kernel driven by jupyter_client.

A test reads "run this cell, expect this output":

    def test_cd_carries(local):
        local.run("cd /tmp")
        assert local.run("pwd").text.strip() == "/tmp"

Every wait has a deadline; a deadline that passes fails the test with what had arrived so far.
`Notebook.close()` shuts the kernel down with a shutdown_request and fails if the kernel does not
exit or leaves processes behind (found with pgrep and by a tag in their environment).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("SSHPTY_BIN", REPO / "target" / "release" / "sshpty")).resolve()

LOCAL = "sshpty-test-local"  # --login local --no-header
PLAIN = "sshpty-test-plain"  # no login, header on

# Circuit breakers, so a broken kernel fails the suite in minutes, not hours: a kernelspec whose
# kernel did not become ready once fails every later start at once, and after a few cells ran
# into their deadline, later cells get a short one.
_START_FAILURES: dict[str, str] = {}
_CELL_TIMEOUTS = 0
HUNG_CELLS_BEFORE_SHORT_DEADLINES = 3
SHORT_DEADLINE = 10

# The HOME every test kernel gets (set by conftest): a login environment the tests own, with
# a ~/.profile and ~/.bashrc of known content, instead of whatever the machine's root has (on
# ours, a pyenv init whose rehash lock can stall a login shell). One test uses the real HOME.
TEST_HOME: str | None = None

BASHRC = """# sshpty test home: what a login shell must bring into the context
alias from_bashrc='echo from-bashrc'
bashrc_function() { echo "bashrc function $1"; }
BASHRC_PLAIN=plain-from-bashrc
"""
PROFILE = """# sshpty test home
export FROM_PROFILE=profile-was-read
if [ -n "$BASH_VERSION" ] && [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi
"""


def make_test_home(path: Path) -> str:
    path.mkdir(parents=True, exist_ok=True)
    (path / ".bashrc").write_text(BASHRC)
    (path / ".profile").write_text(PROFILE)
    return str(path)


def kernel_env(env: dict | None = None, real_home: bool = False) -> dict:
    """The environment a test kernel starts with: os.environ (or `env`), HOME the test home."""
    out = dict(os.environ if env is None else env)
    if TEST_HOME and not real_home:
        out["HOME"] = TEST_HOME
    return out


# Environment variable put into every kernel's environment, so processes that a kernel left
# behind are found even after they were re-parented away from it.
TAG_VAR = "SSHPTY_TEST_TAG"

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC
    r"|\x1b[P_^X][^\x1b]*\x1b\\"  # DCS, APC, PM, SOS
    r"|\x1b[@-Z\\-_]"  # other two-byte escapes
)


def plain_text(s: str) -> str:
    """Terminal output as a reader sees it: no escape sequences, CRLF as LF."""
    return _ANSI.sub("", s).replace("\r\n", "\n")


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class CellResult:
    code: str
    msg_id: str
    reply_msg: dict
    outputs: list  # every IOPub message for this request, busy ... idle
    elapsed: float

    @property
    def reply(self) -> dict:
        return self.reply_msg["content"]

    @property
    def status(self) -> str:
        return self.reply["status"]

    @property
    def output_msgs(self) -> list:
        """IOPub messages between execute_input and idle (what a notebook would show)."""
        return [m for m in self.outputs if m["msg_type"] not in ("status", "execute_input")]

    @property
    def output_types(self) -> list[str]:
        return [m["msg_type"] for m in self.output_msgs]

    @property
    def streams(self) -> list:
        return [m for m in self.outputs if m["msg_type"] == "stream"]

    @property
    def stream(self) -> str:
        """All stream text, in order, as sent."""
        return "".join(m["content"]["text"] for m in self.streams)

    @property
    def text(self) -> str:
        """Stream text without terminal escapes, CRLF as LF."""
        return plain_text(self.stream)

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    @property
    def errors(self) -> list[dict]:
        return [m["content"] for m in self.outputs if m["msg_type"] == "error"]

    @property
    def error_text(self) -> str:
        """ename, evalue and traceback of every error output and of the reply, as plain text."""
        parts = []
        for e in self.errors + ([self.reply] if self.status == "error" else []):
            parts += [str(e.get("ename", "")), str(e.get("evalue", ""))]
            parts += [str(t) for t in e.get("traceback", []) or []]
        return plain_text("\n".join(parts))

    @property
    def displays(self) -> list:
        return [m for m in self.outputs if m["msg_type"] in ("display_data", "update_display_data")]

    def describe(self) -> str:
        lines = [f"cell {self.code[:200]!r} -> reply status {self.status!r} in {self.elapsed:.2f}s"]
        for m in self.outputs:
            c = m["content"]
            if m["msg_type"] == "stream":
                lines.append(f"  stream[{c.get('name')}] {c.get('text', '')[:500]!r}")
            elif m["msg_type"] == "status":
                lines.append(f"  status {c.get('execution_state')}")
            elif m["msg_type"] == "execute_input":
                lines.append("  execute_input")
            else:
                lines.append(f"  {m['msg_type']} {json.dumps(c)[:500]}")
        if self.status != "ok":
            lines.append(f"  reply {json.dumps(self.reply)[:500]}")
        return "\n".join(lines)

    # Assertions that say what went wrong with the whole exchange in view.
    def ok(self) -> "CellResult":
        assert self.status == "ok", self.describe()
        return self

    def failed(self) -> "CellResult":
        assert self.status == "error", self.describe()
        assert len(self.errors) == 1, "want exactly one error output\n" + self.describe()
        return self


# ---------------------------------------------------------------------------------------------
# The kernel handle


class Deadline:
    def __init__(self, seconds: float, what: str):
        self.end = time.monotonic() + seconds
        self.seconds = seconds
        self.what = what

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def check(self, detail: Callable[[], str] = lambda: "") -> float:
        left = self.remaining()
        if left <= 0:
            raise AssertionError(f"timed out after {self.seconds}s waiting for {self.what}\n{detail()}")
        return left


class Cell:
    """An execute_request in flight."""

    def __init__(self, nb: "Notebook", msg_id: str, code: str, silent: bool):
        self.nb = nb
        self.msg_id = msg_id
        self.code = code
        self.silent = silent
        self.sent = time.monotonic()

    @property
    def outputs(self) -> list:
        return self.nb._iopub[self.msg_id]

    def _text(self) -> str:
        return plain_text(
            "".join(m["content"]["text"] for m in self.outputs if m["msg_type"] == "stream")
        )

    def _done(self) -> bool:
        return any(
            m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
            for m in self.outputs
        )

    def _views(self) -> str:
        """The latest text of each display (the live view of a cell run with allow_stdin)."""
        latest: dict[str, str] = {}
        for m in self.outputs:
            if m["msg_type"] in ("display_data", "update_display_data"):
                did = (m["content"].get("transient") or {}).get("display_id", "")
                latest[did] = m["content"]["data"].get("text/plain", "")
        return plain_text("\n".join(latest.values()))

    def wait_for_text(self, needle: str, timeout: float = 30) -> None:
        """Wait until the cell shows `needle` (e.g. 'started' before an interrupt): in its
        stream, or in its live view (lines the program can still redraw are shown only there,
        to a client that sends allow_stdin; to one that does not, once final)."""
        d = Deadline(timeout, f"{needle!r} in the output of {self.code[:80]!r}")
        while needle not in self._text() and needle not in self._views():
            if self._done():
                raise AssertionError(f"cell ended without printing {needle!r}: {self._text()!r}")
            self.nb._pump_iopub(min(d.check(self._text), 0.5))

    def wait_busy(self, timeout: float = 10) -> None:
        d = Deadline(timeout, f"execute_input of {self.code[:80]!r}")
        want = "status" if self.silent else "execute_input"
        while not any(m["msg_type"] == want for m in self.outputs):
            self.nb._pump_iopub(min(d.check(), 0.5))

    def result(self, timeout: float = 60) -> CellResult:
        global _CELL_TIMEOUTS
        if _CELL_TIMEOUTS >= HUNG_CELLS_BEFORE_SHORT_DEADLINES:
            timeout = min(timeout, SHORT_DEADLINE)
        d = Deadline(timeout, f"the end (status idle) of cell {self.code[:80]!r}")
        try:
            while not self._done():
                self.nb._pump_iopub(min(d.check(lambda: f"outputs so far: {self._text()[-2000:]!r}"), 0.5))
        except AssertionError:
            _CELL_TIMEOUTS += 1
            raise
        elapsed = time.monotonic() - self.sent
        reply = self.nb._shell_reply(self.msg_id, max(d.remaining(), 5))
        res = CellResult(self.code, self.msg_id, reply, list(self.outputs), elapsed)
        check_iopub_order(res, self.silent)
        return res


def check_iopub_order(res: CellResult, silent: bool) -> None:
    """busy -> execute_input -> ... -> idle, and nothing after idle.

    The cell's one idle is its last message. Before it the cell may say busy again: a request
    answered while the cell runs (a completion) ends with its own idle, which the kernel follows
    with a busy of the running cell, so that a client taking the state from any status (as
    jupyter_server does) still sees the kernel busy (test_server.py)."""
    types = [m["msg_type"] for m in res.outputs]
    states = [m["content"]["execution_state"] for m in res.outputs if m["msg_type"] == "status"]
    where = res.describe()
    assert types and types[0] == "status" and states[0] == "busy", "first IOPub message is not busy\n" + where
    assert types[-1] == "status" and states[-1] == "idle", "last IOPub message is not idle\n" + where
    assert states == ["busy"] * (len(states) - 1) + ["idle"], f"status sequence {states}\n" + where
    if silent:
        assert "execute_input" not in types, "silent cell broadcast execute_input\n" + where
    else:
        assert types[1] == "execute_input", "execute_input is not right after busy\n" + where
        ei = res.outputs[1]["content"]
        assert ei["code"] == res.code, "execute_input carries other code\n" + where
        if res.status == "ok" or res.status == "error":
            assert ei["execution_count"] == res.reply["execution_count"], (
                "execute_input and execute_reply disagree on execution_count\n" + where
            )


class Notebook:
    """One running kernel and a blocking client on it."""

    def __init__(self, kernel_name: str, env: dict | None = None, start_timeout: float = 30,
                 real_home: bool = False, stderr_path: Path | None = None):
        from jupyter_client import KernelManager

        self.kernel_name = kernel_name
        self.tag = uuid.uuid4().hex
        base = kernel_env(env, real_home)
        base[TAG_VAR] = self.tag
        self.allowed_leftovers: set[int] = set()
        self._iopub: dict[str, list] = defaultdict(list)
        self._shell: dict[str, dict] = {}
        self._control: dict[str, dict] = {}
        self._stdin: list = []
        self.closed = False
        if kernel_name in _START_FAILURES:
            raise AssertionError(f"{kernel_name} did not start earlier in this run: {_START_FAILURES[kernel_name]}")
        self.km = KernelManager(kernel_name=kernel_name)
        self.km.shutdown_wait_time = 5
        t0 = time.monotonic()
        if stderr_path is not None:
            # The kernel's log (SSHPTY_LOG) goes to this file, for tests that read it.
            self._stderr = open(stderr_path, "w")
            self.km.start_kernel(env=base, stderr=self._stderr)
        else:
            self.km.start_kernel(env=base)
        self.kc = self.km.blocking_client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=start_timeout)
        except Exception as e:
            _START_FAILURES[kernel_name] = f"{type(e).__name__}: {e}"
            self.close(check=False)
            raise
        self.ready_after = time.monotonic() - t0
        self._drain_iopub()

    # ---- plumbing
    @property
    def pid(self) -> int | None:
        prov = getattr(self.km, "provisioner", None)
        return getattr(prov, "pid", None) if prov is not None else None

    @property
    def session(self):
        return self.kc.session

    def _drain_iopub(self) -> None:
        while True:
            try:
                self.kc.get_iopub_msg(timeout=0.2)
            except Empty:
                return

    def _pump_iopub(self, timeout: float) -> None:
        try:
            msg = self.kc.get_iopub_msg(timeout=max(timeout, 0.01))
        except Empty:
            return
        parent = (msg.get("parent_header") or {}).get("msg_id", "")
        self._iopub[parent].append(msg)

    def _shell_reply(self, msg_id: str, timeout: float) -> dict:
        d = Deadline(timeout, f"the shell reply to {msg_id}")
        while msg_id not in self._shell:
            try:
                msg = self.kc.get_shell_msg(timeout=min(d.check(), 0.5))
            except Empty:
                continue
            self._shell[(msg.get("parent_header") or {}).get("msg_id", "")] = msg
        return self._shell.pop(msg_id)

    def _control_reply(self, msg_id: str, timeout: float) -> dict:
        d = Deadline(timeout, f"the control reply to {msg_id}")
        while msg_id not in self._control:
            try:
                msg = self.kc.control_channel.get_msg(timeout=min(d.check(), 0.5))
            except Empty:
                continue
            self._control[(msg.get("parent_header") or {}).get("msg_id", "")] = msg
        return self._control.pop(msg_id)

    def iopub_for(self, msg_id: str, timeout: float = 5) -> list:
        """IOPub messages of a non-execute request, until its idle."""
        d = Deadline(timeout, f"idle for {msg_id}")
        while not any(
            m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
            for m in self._iopub[msg_id]
        ):
            self._pump_iopub(min(d.check(), 0.5))
        return self._iopub[msg_id]

    # ---- execute
    def submit(
        self,
        code: str,
        *,
        silent: bool = False,
        store_history: bool = True,
        allow_stdin: bool = False,
        stop_on_error: bool = True,
    ) -> Cell:
        msg_id = self.kc.execute(
            code,
            silent=silent,
            store_history=store_history,
            allow_stdin=allow_stdin,
            stop_on_error=stop_on_error,
        )
        return Cell(self, msg_id, code, silent)

    def run(self, code: str, *, timeout: float = 60, **opts: Any) -> CellResult:
        return self.submit(code, **opts).result(timeout)

    def ok(self, code: str, **opts: Any) -> CellResult:
        """Run a cell that must succeed."""
        return self.run(code, **opts).ok()

    # ---- other shell requests
    def shell_request(self, msg_type: str, content: dict, timeout: float = 15) -> dict:
        msg = self.session.msg(msg_type, content)
        self.kc.shell_channel.send(msg)
        return self._shell_reply(msg["header"]["msg_id"], timeout)

    def complete(self, code: str, cursor_pos: int | None = None, timeout: float = 15) -> dict:
        if cursor_pos is None:
            cursor_pos = len(code)
        return self.shell_request("complete_request", {"code": code, "cursor_pos": cursor_pos}, timeout)["content"]

    def inspect(self, code: str, cursor_pos: int | None = None, timeout: float = 15) -> dict:
        if cursor_pos is None:
            cursor_pos = len(code)
        return self.shell_request(
            "inspect_request", {"code": code, "cursor_pos": cursor_pos, "detail_level": 0}, timeout
        )["content"]

    def is_complete(self, code: str, timeout: float = 15) -> dict:
        return self.shell_request("is_complete_request", {"code": code}, timeout)["content"]

    def history(self, timeout: float = 15, **content: Any) -> dict:
        """history_request exactly as jupyter_client sends it (optional fields left out)."""
        content.setdefault("output", False)
        content.setdefault("raw", True)
        msg_id = self.kc.history(**content)
        return self._shell_reply(msg_id, timeout)["content"]

    # ---- control
    def control_request(self, msg_type: str, content: dict | None = None, timeout: float = 5) -> dict:
        msg = self.session.msg(msg_type, content or {})
        self.kc.control_channel.send(msg)
        return self._control_reply(msg["header"]["msg_id"], timeout)

    def interrupt(self, timeout: float = 5) -> dict:
        return self.control_request("interrupt_request", {}, timeout)

    # ---- raw wire access (signature tests)
    def connection_info(self) -> dict:
        with open(self.km.connection_file) as f:
            return json.load(f)

    def raw_socket(self, channel: str = "shell"):
        import zmq

        info = self.connection_info()
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IDENTITY, uuid.uuid4().hex.encode())
        sock.connect(f"{info['transport']}://{info['ip']}:{info[channel + '_port']}")
        return sock

    def raw_frames(self, msg_type: str, content: dict, *, key: bytes | None = None,
                   signature: bytes | None = None, content_bytes: bytes | None = None) -> list[bytes]:
        """A wire message: delimiter, HMAC, header, parent, metadata, content.

        key=None signs with the kernel's key; `signature` overrides the computed HMAC.
        """
        info = self.connection_info()
        if key is None:
            key = info["key"].encode()
        header = {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "username": "test",
            "session": uuid.uuid4().hex,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
            "version": "5.3",
        }
        parts = [json.dumps(header).encode(), b"{}", b"{}",
                 content_bytes if content_bytes is not None else json.dumps(content).encode()]
        if signature is None:
            h = hmac.new(key, digestmod=hashlib.sha256)
            for p in parts:
                h.update(p)
            signature = h.hexdigest().encode()
        return [b"<IDS|MSG>", signature] + parts

    # ---- lifecycle
    def close(self, check: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        pid = self.pid
        before = set(descendants(pid)) if pid else set()
        exited = True
        try:
            if self.km.is_alive():
                self.km.request_shutdown()
                d = time.monotonic() + 10
                while self.km.is_alive() and time.monotonic() < d:
                    time.sleep(0.05)
                exited = not self.km.is_alive()
        finally:
            try:
                self.kc.stop_channels()
            finally:
                self.km.shutdown_kernel(now=True)
        leftovers = self._leftovers(before)
        names = {p: cmdline(p) for p in leftovers}
        for p in leftovers:
            _kill(p)
        if check:
            problems = []
            if not exited:
                problems.append("kernel did not exit within 10 s of a shutdown_request")
            if leftovers:
                problems.append("kernel left processes behind: " + "; ".join(
                    f"{p} {names.get(p, '?')!r}" for p in leftovers))
            assert not problems, "; ".join(problems)

    def _leftovers(self, before: set[int]) -> list[int]:
        deadline = time.monotonic() + 5
        while True:
            alive = {p for p in before if _alive(p)} | set(tagged_processes(self.tag))
            alive -= self.allowed_leftovers
            alive.discard(os.getpid())
            if not alive or time.monotonic() > deadline:
                return sorted(alive)
            time.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# Processes


def pgrep(pattern: str) -> list[int]:
    """pids whose full command line matches the extended regex `pattern` (pgrep -f)."""
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split() if int(p) != os.getpid()]


def wait_process(pattern: str, timeout: float = 30) -> list[int]:
    """Wait until a process matches; fail if none does in time."""
    d = Deadline(timeout, f"a process matching {pattern!r}")
    while True:
        found = pgrep(pattern)
        if found:
            return found
        d.check()
        time.sleep(0.05)


def wait_no_process(pattern: str, timeout: float = 3) -> list[int]:
    """Wait until no process matches; return the ones still there at the deadline."""
    end = time.monotonic() + timeout
    while True:
        left = pgrep(pattern)
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.1)


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        r = subprocess.run(["pgrep", "-P", str(p)], capture_output=True, text=True)
        kids = [int(k) for k in r.stdout.split()]
        out += kids
        todo += kids
    return out


def tagged_processes(tag: str) -> list[int]:
    needle = f"{TAG_VAR}={tag}".encode()
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            env = (d / "environ").read_bytes()
            stat = (d / "stat").read_text()
        except OSError:
            continue
        if needle in env.split(b"\0") and ") Z " not in stat:
            found.append(int(d.name))
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return ") Z " not in stat


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


# ---------------------------------------------------------------------------------------------
# Kernelspecs and the binary


def sshpty(*args: str, env: dict | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, env=env,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def install_kernelspecs(prefix: Path) -> Path:
    """Install the two test kernelspecs with the binary's own installer; return share/jupyter."""
    for args in (
        ["--name", LOCAL, "--login", "local", "--no-header"],
        ["--name", PLAIN],
    ):
        r = sshpty("install", "--prefix", str(prefix), *args)
        assert r.returncode == 0, f"sshpty install {' '.join(args)} failed ({r.returncode}): {r.stderr}{r.stdout}"
    share = prefix / "share" / "jupyter"
    for name in (LOCAL, PLAIN):
        assert (share / "kernels" / name / "kernel.json").is_file(), f"no kernel.json for {name}"
    return share


def completions_applied(reply: dict, code: str) -> list[str]:
    """Each match put in place of code[cursor_start:cursor_end], as an editor does."""
    s, e = reply["cursor_start"], reply["cursor_end"]
    return [code[:s] + m + code[e:] for m in reply["matches"]]
