"""Jupyter's `ipc` transport (issue 17, step 1): the kernel listens on Unix sockets in the
runtime directory, mode 0600, and on no TCP port; jupyter_client talks to it as to any kernel.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

from jupyter_client import KernelManager

from harness import LOCAL, kernel_env, plain_text


def listening_tcp_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                inodes.add(fields[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[len("socket:["):-1])
    return found


def run(kc, code: str, timeout: float = 30) -> tuple[str, str]:
    msg_id = kc.execute(code)
    text, status = "", ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=deadline - time.monotonic())
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            text += msg["content"]["text"]
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=timeout)
    status = reply["content"]["status"]
    return plain_text(text), status


def test_kernel_serves_ipc_on_private_unix_sockets_only(kernelspecs):
    km = KernelManager(kernel_name=LOCAL, transport="ipc")
    km.start_kernel(env=kernel_env())
    try:
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=30)
        text, status = run(kc, "echo hello-over-ipc")
        assert status == "ok" and text.strip() == "hello-over-ipc", text
        info = json.loads(Path(km.connection_file).read_text())
        assert info["transport"] == "ipc"
        ports = [info[k] for k in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")]
        for port in ports:
            path = Path(f"{info['ip']}-{port}")
            mode = path.stat().st_mode
            assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600, (path, oct(mode))
        pid = km.provisioner.pid
        assert pid and not (socket_inodes(pid) & listening_tcp_inodes()), \
            "the kernel listens on a TCP port although its connection file says ipc"
        # Interrupt and the heartbeat go the same way.
        assert km.is_alive()
        kc.stop_channels()
    finally:
        km.shutdown_kernel(now=False)
    for port in ports:
        assert not Path(f"{info['ip']}-{port}").exists(), "a socket file outlived the kernel"
