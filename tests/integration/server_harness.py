"""A real jupyter_server (or JupyterLab) started by the test, and a client of its REST API and
kernel websockets: the path every browser's output takes (issues 4 and 5).

    with JupyterServer(tmp_path) as server:          # `jupyter server`, default settings
        kernel = server.start_kernel(LOCAL)          # POST /api/kernels
        res = kernel.run("echo hello")               # execute_request over the websocket
        assert res.text == "hello\\n"
        kernel.run("read -p 'name? ' x", answer=lambda prompt, password: "bars")

The server listens on a free port of 127.0.0.1 with a random token, its root in a temp
directory, and nothing configured beyond that: an empty JUPYTER_CONFIG_DIR, so the default IOPub
rate limits (1 MB/s of stream data or 1000 messages/s over a 3 s window, above which the server
drops output and puts "IOPub data rate exceeded" into the cell) are the ones in force, as in a
user's JupyterLab. Kernelspecs come from JUPYTER_PATH (conftest installs the test ones).

The websocket speaks the JSON form of the protocol (no subprotocol); JupyterLab speaks the binary
v1 form. Both go through the same rate limiter (ZMQChannelsWebsocketConnection._limit_rate).

Every wait has a deadline. `stop()` (also on `with` exit and at interpreter exit) deletes the
kernels, asks the server to shut down, kills its process group if it does not, and reports any
process a kernel left behind (found by a tag in their environment, as harness.Notebook does).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Callable

from harness import REPO, TAG_VAR, CellResult, Deadline, check_iopub_order, cmdline, kernel_env, \
    plain_text, tagged_processes

ARTIFACTS = REPO / "tests" / "artifacts"

# What jupyter_server writes into a cell when its rate limiter drops output.
RATE_EXCEEDED = re.compile(r"IOPub (data|message) rate exceeded")

# An answer to an input_request: (prompt, password) -> the text to send, or None to fail the
# cell's run (the box is still answered, with an empty line, so the kernel is not left waiting).
Answer = Callable[[str, bool], "str | None"]

_RUNNING: list["JupyterServer"] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerError(AssertionError):
    """The server did not start or stop as it should; the message carries its log's tail."""


class JupyterServer:
    """`jupyter server` (app="server") or `jupyter lab` (app="lab") on 127.0.0.1."""

    # Where its API is under the URL (a JupyterHub user's server has /user/NAME).
    base_path = ""

    def __init__(self, workdir: Path, app: str = "server", env: dict | None = None,
                 real_home: bool = False, name: str | None = None, python: str | None = None,
                 wrap: list[str] | None = None):
        """PYTHON: the interpreter whose Jupyter runs (another venv's, say); this one's when
        not given. WRAP: a command the server runs under (`unshare --uts ...`)."""
        self.app = app
        self.python = python or sys.executable
        self.wrap = wrap or []
        self.workdir = Path(workdir)
        self.root_dir = self.workdir / "root"
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.tag = uuid.uuid4().hex
        self.name = name or f"jupyter-{app}-{self.port}"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.log_path = ARTIFACTS / f"{self.name}.log"
        self.kernels: list[ServerKernel] = []
        self.proc: subprocess.Popen | None = None
        self._stopped = False

        config = self.workdir / "config"
        config.mkdir(exist_ok=True)
        self.env = kernel_env(env, real_home)  # kernels inherit it: HOME as for other tests
        self.env.update({
            TAG_VAR: self.tag,
            # Nothing but defaults: no user configuration is read.
            "JUPYTER_CONFIG_DIR": str(config),
            "JUPYTERLAB_SETTINGS_DIR": str(self.workdir / "lab-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.workdir / "lab-workspaces"),
            "PYTHONUNBUFFERED": "1",
        })
        self.env.pop("JUPYTER_CONFIG_PATH", None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- lifecycle
    def start(self, timeout: float = 60) -> "JupyterServer":
        argv = [*self.wrap, self.python, "-m", "jupyter", self.app, "--no-browser",
                "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root_dir}"]
        if os.geteuid() == 0:
            argv.append("--allow-root")  # CI runs as root; the server refuses root without it
        self._log = open(self.log_path, "wb")
        # Its own process group: whatever it started (kernels, their shells) can be killed at once.
        self.proc = subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        _RUNNING.append(self)
        d = Deadline(timeout, f"jupyter {self.app} answering on {self.url}")
        while True:
            if self.proc.poll() is not None:
                raise ServerError(f"jupyter {self.app} exited {self.proc.returncode} at start:\n"
                                  f"{self.log_tail()}")
            try:
                status = self.api("GET", "/api/status", timeout=2)
                if "started" in status:
                    return self
            except (OSError, urllib.error.URLError):
                pass
            d.check(self.log_tail)
            time.sleep(0.2)

    def stop(self) -> list[str]:
        """Stop the kernels and the server; return what was left running (and killed)."""
        if self._stopped or self.proc is None:
            return []
        self._stopped = True
        try:
            for k in self.kernels:
                k.close()
            if self.proc.poll() is None:
                try:
                    self.api("POST", "/api/shutdown", timeout=5)
                except (OSError, urllib.error.URLError, json.JSONDecodeError):
                    pass
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    pass
            left = self._left_behind()
            if self.proc.poll() is None or left:
                self._killpg(signal.SIGKILL)
                for p in left:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
                self.proc.wait(timeout=10)
            return [f"{p} {cmdline(p)!r}" for p in left]
        finally:
            self._log.close()
            if self in _RUNNING:
                _RUNNING.remove(self)

    def _killpg(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except OSError:
            pass

    def _left_behind(self, grace: float = 5) -> list[int]:
        """Processes started under this server (tagged) still alive after GRACE seconds."""
        end = time.monotonic() + grace
        while True:
            left = [p for p in tagged_processes(self.tag)
                    if p != os.getpid() and p != self.proc.pid]
            if not left or time.monotonic() > end:
                return left
            time.sleep(0.1)

    def __enter__(self) -> "JupyterServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        left = self.stop()
        assert exc[0] is not None or not left, f"left behind after the server stopped: {left}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return f"--- {self.log_path} (tail)\n" + self.log_path.read_text(errors="replace")[-chars:]
        except OSError as e:
            return f"(no log: {e})"

    # ---- REST API
    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def start_kernel(self, kernel_name: str, ready_timeout: float = 30) -> "ServerKernel":
        k = ServerKernel(self, kernel_name)
        self.kernels.append(k)
        k.connect(ready_timeout)
        return k


@atexit.register
def _stop_all() -> None:
    for s in list(_RUNNING):
        try:
            s.stop()
        except Exception:
            pass


class ServerKernel:
    """A kernel started through the REST API, driven through its websocket."""

    def __init__(self, server: JupyterServer, kernel_name: str):
        self.server = server
        self.kernel_name = kernel_name
        self.id = server.api("POST", "/api/kernels", {"name": kernel_name})["id"]
        self.session = uuid.uuid4().hex
        self.ws = None
        self.closed = False
        # Every message received, by the msg_id of its parent (IOPub and stdin alike).
        self.by_parent: dict[str, list[dict]] = {}
        self.replies: dict[str, dict] = {}
        self.received = 0

    def connect(self, ready_timeout: float) -> None:
        import websocket  # websocket-client, from PyPI (tests/run installs it)

        url = (f"ws://127.0.0.1:{self.server.port}{self.server.base_path}/api/kernels/{self.id}/channels"
               f"?session_id={self.session}")
        self.ws = websocket.create_connection(
            url, header=[f"Authorization: token {self.server.token}"], timeout=ready_timeout)
        # kernel_info answered = the kernel is up and the server relays both ways.
        msg_id = self.send("shell", "kernel_info_request", {})
        self.reply(msg_id, ready_timeout)

    # ---- messages
    def send(self, channel: str, msg_type: str, content: dict, parent: dict | None = None) -> str:
        header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "username": "test",
                  "session": self.session, "version": "5.3",
                  "date": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())}
        msg = {"header": header, "parent_header": parent or {}, "metadata": {},
               "content": content, "channel": channel, "buffers": []}
        self.ws.send(json.dumps(msg))
        return header["msg_id"]

    def _receive(self, timeout: float) -> dict | None:
        """One message from the websocket within TIMEOUT seconds (None: nothing came)."""
        import websocket

        self.ws.settimeout(max(timeout, 0.01))
        try:
            raw = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            return None
        msg = json.loads(raw)
        # When it arrived and how big it was on the wire: to see what the rate limiter saw.
        msg["_received"], msg["_size"] = time.monotonic(), len(raw)
        self.received += 1
        msg.setdefault("msg_type", msg["header"]["msg_type"])
        parent = (msg.get("parent_header") or {}).get("msg_id", "")
        if msg.get("channel") == "shell":
            self.replies[parent] = msg
        else:
            self.by_parent.setdefault(parent, []).append(msg)
        return msg

    def reply(self, msg_id: str, timeout: float) -> dict:
        d = Deadline(timeout, f"the shell reply to {msg_id} from kernel {self.id}")
        while msg_id not in self.replies:
            self._receive(min(d.check(self.server.log_tail), 0.5))
        return self.replies.pop(msg_id)

    def request(self, msg_type: str, content: dict, timeout: float = 15) -> dict:
        """A shell request and its reply (the request's IOPub messages are kept by_parent)."""
        return self.reply(self.send("shell", msg_type, content), timeout)

    def pump(self, seconds: float) -> None:
        """Receive (and keep) whatever comes for SECONDS."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self._receive(min(left, 0.2))

    def execution_state(self) -> str:
        """What the server says the kernel is doing (GET /api/kernels/<id>)."""
        return self.server.api("GET", f"/api/kernels/{self.id}", timeout=10)["execution_state"]

    # ---- cells
    def submit(self, code: str, allow_stdin: bool = False) -> str:
        """Send an execute_request for CODE; its msg_id (its messages go to by_parent)."""
        msg_id = self.send("shell", "execute_request", {
            "code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": allow_stdin, "stop_on_error": True})
        self.by_parent.setdefault(msg_id, [])
        return msg_id

    def run(self, code: str, timeout: float = 60, answer: Answer | None = None,
            allow_stdin: bool | None = None) -> "ServerCellResult":
        """Run CODE; every IOPub message of it is kept. input_requests are answered by ANSWER
        (allow_stdin is true when ANSWER is given)."""
        if allow_stdin is None:
            allow_stdin = answer is not None
        t0 = time.monotonic()
        msg_id = self.submit(code, allow_stdin)
        asked: list[tuple[str, bool]] = []
        unexpected: list[str] = []
        seen_stdin = 0
        d = Deadline(timeout, f"the end (status idle) of cell {code[:80]!r} via jupyter_server")
        msgs = self.by_parent.setdefault(msg_id, [])

        def so_far() -> str:
            text = plain_text("".join(m["content"].get("text", "") for m in msgs
                                      if m["msg_type"] == "stream"))
            return f"{len(msgs)} messages; output tail: {text[-1500:]!r}\n{self.server.log_tail(1500)}"

        while not any(m["msg_type"] == "status" and m["content"].get("execution_state") == "idle"
                      for m in msgs):
            self._receive(min(d.check(so_far), 0.5))
            for m in msgs[seen_stdin:]:
                seen_stdin += 1
                if m.get("channel") != "stdin" or m["msg_type"] != "input_request":
                    continue
                prompt, password = m["content"].get("prompt"), m["content"].get("password")
                if not (isinstance(prompt, str) and isinstance(password, bool)):
                    unexpected.append(f"an input_request without a str prompt and a bool "
                                      f"password: {m['content']!r}")
                    prompt, password = str(prompt), bool(password)
                asked.append((prompt, password))
                value = answer(prompt, password) if answer else None
                if value is None:
                    unexpected.append(prompt)
                self.send("stdin", "input_reply", {"value": value or ""}, parent=m["header"])
        elapsed = time.monotonic() - t0
        reply = self.reply(msg_id, max(d.remaining(), 10))
        iopub = [m for m in msgs if m.get("channel") != "stdin"]
        res = ServerCellResult(code, msg_id, reply, iopub, elapsed, asked=asked)
        check_iopub_order(res, silent=False)
        assert not unexpected, f"unexpected input_request(s) {unexpected!r}\n{res.describe()}"
        return res

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self.ws is not None:
                self.ws.close()
        except OSError:
            pass
        try:
            self.server.api("DELETE", f"/api/kernels/{self.id}", timeout=20)
        except (OSError, urllib.error.URLError):
            pass


class ServerCellResult(CellResult):
    """harness.CellResult plus what only the server path shows."""

    def __init__(self, *args, asked: list[tuple[str, bool]] | None = None):
        super().__init__(*args)
        self.asked = asked or []

    @property
    def rate_exceeded(self) -> list[str]:
        """The server's own "IOPub ... rate exceeded" notices in this cell."""
        return [m["content"]["text"] for m in self.streams if RATE_EXCEEDED.search(m["content"]["text"])]

    def window_peaks(self, window: float = 3.0) -> tuple[int, int]:
        """The most stream bytes (whole messages, as the server counts them) and the most
        output messages that arrived within any WINDOW seconds: near what jupyter_server's
        limiter saw (it counts at relay time, this client at arrival)."""
        counted = [m for m in self.outputs
                   if m["msg_type"] not in ("status", "execute_input") and "_received" in m]
        peak_bytes = peak_msgs = 0
        start = 0
        total = 0
        for end, m in enumerate(counted):
            total += m["_size"] if m["msg_type"] == "stream" else 0
            while counted[start]["_received"] <= m["_received"] - window:
                total -= counted[start]["_size"] if counted[start]["msg_type"] == "stream" else 0
                start += 1
            peak_bytes = max(peak_bytes, total)
            peak_msgs = max(peak_msgs, end - start + 1)
        return peak_bytes, peak_msgs

    @property
    def notebook_text(self) -> str:
        """What the saved notebook would hold, as plain text: the stream text and the last state
        of every display (display_data, then its update_display_data by display_id), in the
        order the displays first appeared."""
        parts: list[str | list] = []
        displays: dict[str, list] = {}
        for m in self.outputs:
            c, t = m["content"], m["msg_type"]
            if t == "stream":
                parts.append(c.get("text", ""))
            elif t in ("display_data", "update_display_data", "execute_result"):
                text = (c.get("data") or {}).get("text/plain", "")
                did = (c.get("transient") or {}).get("display_id")
                if t == "update_display_data":
                    if did in displays:
                        displays[did][0] = text
                    continue
                slot = [text]
                if did:
                    displays[did] = slot
                parts.append(slot)
            elif t == "clear_output":
                parts.clear()
                displays.clear()
        return plain_text("".join(p if isinstance(p, str) else p[0] + ("" if p[0].endswith("\n") else "\n")
                                  for p in parts))
