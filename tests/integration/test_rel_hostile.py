"""Reliability (issue 7, item 4): hostile input against the real kernel.

Already covered elsewhere: unsigned, wrongly signed and other-bytes-signed messages never run,
malformed JSON and too few frames are dropped (test_signatures.py); unknown message types on
shell (test_protocol.py); the ZMTP layer's bounds (2^40-byte frame header, a message over
max_message, a million empty frames, bad flags, bad handshakes) in crates/jupyter/src/zmtp/tests.rs against
the socket type alone; forged context markers printed by a cell or catted from a file
(test_context.py, on both targets); a forged sudo prompt (test_prompts.py); malformed
~/.ssh/config lines and Match blocks in the parser's unit tests (crates/targets/src/ssh/config.rs).

Here, against a running kernel process (its RSS watched, the next cell answered): the ZMTP
attacks on the shell port over raw TCP; a client vanishing mid-frame and mid-request; fields of
the wrong JSON type; unknown types on control; a connection file readable by others; output
carrying OSC and other escape sequences (window title reports that would type text into the
shell, OSC 7 working directory reports, clipboard writes) that must not change the context or
run anything; a program printing the cell's own sudo prompt; and an ~/.ssh/config with
malformed lines and a Match block, logged in through.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import zmq

from harness import BIN, _alive, _kill, rss_kib
from ssh_kernel import all_iopub_text, answering
from targets import (  # noqa: F401  (fixtures are used by name; nb: a kernel on each target)
    nb,
    no_questions,
    ssh,
    ssh_kernelspec,
    ssh_servers,
    target,
)

# RSS a kernel may gain from one attack (the attacks announce gigabytes and terabytes).
RSS_SLACK_KIB = 16 * 1024


# ---------------------------------------------------------------------------------------------
# ZMTP over raw TCP


def greeting() -> bytes:
    """A ZMTP 3.0 greeting, NULL mechanism, as client (RFC 23)."""
    return b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0") + b"\0" + b"\0" * 31


def ready(socket_type: bytes = b"DEALER") -> bytes:
    body = b"\x05READY" + b"\x0bSocket-Type" + len(socket_type).to_bytes(4, "big") + socket_type
    return b"\x04" + bytes([len(body)]) + body


def zmtp_peer(nb, channel: str = "shell") -> socket.socket:
    """A TCP connection to the kernel's CHANNEL port that has done the ZMTP handshake."""
    info = nb.connection_info()
    s = socket.create_connection((info["ip"], info[f"{channel}_port"]), timeout=5)
    s.sendall(greeting())
    got = b""
    while len(got) < 64:
        chunk = s.recv(64 - len(got))
        assert chunk, "the kernel closed the connection during the greeting"
        got += chunk
    assert got[:1] == b"\xff" and got[10] == 3, got
    s.sendall(ready())
    return s


def closed_by_kernel(s: socket.socket, timeout: float = 5) -> bool:
    """Whether the kernel closes S within TIMEOUT (reading and discarding what it sends)."""
    s.settimeout(0.2)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if not s.recv(65536):
                return True
        except socket.timeout:
            continue
        except OSError:
            return True
    return False


def alive_and_answering(nb, rss_before: int, what: str) -> None:
    assert nb.km.is_alive(), f"the kernel died after {what}"
    assert nb.ok("echo still-here").lines == ["still-here"], what
    grew = rss_kib(nb.pid) - rss_before
    assert grew < RSS_SLACK_KIB, f"RSS grew by {grew} KiB after {what}"


@pytest.fixture
def kernel(local):
    local.ok("true")
    return local


def test_frame_header_announcing_2_pow_40_bytes(kernel):
    before = rss_kib(kernel.pid)
    s = zmtp_peer(kernel)
    try:
        s.sendall(b"\x02" + (1 << 40).to_bytes(8, "big") + b"x" * 1000)
        assert closed_by_kernel(s), "the kernel kept a peer that announced a 1 TiB frame"
    finally:
        s.close()
    alive_and_answering(kernel, before, "a 2^40-byte frame header")


def test_a_million_empty_frames(kernel):
    before = rss_kib(kernel.pid)
    s = zmtp_peer(kernel)
    try:
        try:
            s.sendall(b"\x01\x00" * 1_000_000 + b"\x00\x00")  # MORE, size 0 ... last, size 0
        except OSError:
            pass  # the kernel hung up first, as it should
        assert closed_by_kernel(s), "the kernel kept a peer sending a million frames"
    finally:
        s.close()
    alive_and_answering(kernel, before, "a million empty frames")


def test_a_message_over_64_mib(kernel):
    before = rss_kib(kernel.pid)
    s = zmtp_peer(kernel)
    try:
        try:
            for _ in range(70):  # 70 frames of 1 MiB, announced one by one
                s.sendall(b"\x03" + (1 << 20).to_bytes(8, "big") + b"\0" * (1 << 20))
        except OSError:
            pass
        assert closed_by_kernel(s), "the kernel kept a peer sending a 70 MiB message"
    finally:
        s.close()
    alive_and_answering(kernel, before, "a 70 MiB message")


def test_a_client_vanishing_mid_frame(kernel):
    before = rss_kib(kernel.pid)
    for partial in (b"\x02" + (1000).to_bytes(8, "big") + b"0123456789",  # 10 of 1000 bytes
                    b"\x01\x09<IDS|MSG>",  # the delimiter, then nothing of the rest
                    b"\x04\x20\x05READY"):  # half a command
        s = zmtp_peer(kernel)
        s.sendall(partial)
        s.close()
    # A connection that never finishes its greeting either.
    info = kernel.connection_info()
    half = socket.create_connection((info["ip"], info["shell_port"]), timeout=5)
    half.sendall(greeting()[:20])
    half.close()
    alive_and_answering(kernel, before, "clients vanishing mid-frame")


def test_a_client_vanishing_mid_request(kernel, tmp_path):
    """A signed execute_request whose sender disconnects at once: the cell runs (as with
    ipykernel), its reply goes nowhere, and the next client is served."""
    marker = tmp_path / "ran"
    sock = kernel.raw_socket("shell")
    sock.send_multipart(kernel.raw_frames(
        "execute_request",
        {"code": f"sleep 0.5; touch {marker}", "silent": False, "store_history": True,
         "user_expressions": {}, "allow_stdin": True, "stop_on_error": True}))
    time.sleep(0.1)
    sock.close(linger=0)
    before = rss_kib(kernel.pid)
    alive_and_answering(kernel, before, "a client vanishing mid-request")
    assert marker.exists(), "the vanished client's cell did not run to its end"


@pytest.mark.parametrize("content", [
    {"code": 42, "silent": False},
    {"code": ["touch MARK"], "silent": False},
    {"code": {"x": "touch MARK"}},
    {"code": "touch MARK", "silent": "no", "store_history": 3},
    {"code": "touch MARK", "allow_stdin": "yes"},
    {"code": "touch MARK", "user_expressions": "x"},
    [1, 2, 3],
    "touch MARK",
    None,
], ids=["code-int", "code-list", "code-object", "silent-str", "stdin-str", "user-expr-str",
        "content-list", "content-str", "content-null"])
def test_wrong_types_are_rejected_never_run(kernel, tmp_path, content):
    marker = tmp_path / f"mark-{uuid.uuid4().hex}"
    raw = json.dumps(content).replace("MARK", str(marker)).encode()
    sock = kernel.raw_socket("shell")
    try:
        before = rss_kib(kernel.pid)
        sock.send_multipart(kernel.raw_frames("execute_request", {}, content_bytes=raw))
        replies = []
        if sock.poll(2000, zmq.POLLIN):
            replies.append(sock.recv_multipart())
        alive_and_answering(kernel, before, f"execute_request content {raw[:80]!r}")
        time.sleep(0.2)
        assert not marker.exists(), f"a wrongly typed request ran; replies {replies}"
        for r in replies:
            i = r.index(b"<IDS|MSG>")
            reply = json.loads(r[i + 5])
            assert reply["status"] == "error", f"answered other than with an error: {reply}"
    finally:
        sock.close(linger=0)


@pytest.mark.parametrize("header_change", [
    {"msg_type": 5}, {"msg_id": None}, {"session": ["x"]}, {"version": 5.3},
], ids=["msg_type-int", "msg_id-null", "session-list", "version-float"])
def test_headers_of_wrong_types_are_dropped(kernel, tmp_path, header_change):
    import hashlib
    import hmac

    marker = tmp_path / f"mark-{uuid.uuid4().hex}"
    frames = kernel.raw_frames("execute_request",
                               {"code": f"touch {marker}", "silent": False, "store_history": True,
                                "user_expressions": {}, "allow_stdin": False,
                                "stop_on_error": True})
    header = json.loads(frames[2])
    header.update(header_change)
    frames[2] = json.dumps(header).encode()
    h = hmac.new(kernel.connection_info()["key"].encode(), digestmod=hashlib.sha256)
    for p in frames[2:]:
        h.update(p)
    frames[1] = h.hexdigest().encode()  # properly signed: only the types are wrong
    sock = kernel.raw_socket("shell")
    try:
        before = rss_kib(kernel.pid)
        sock.send_multipart(frames)
        alive_and_answering(kernel, before, f"a header with {header_change}")
        time.sleep(0.2)
        assert not marker.exists(), f"a request with {header_change} in its header ran"
    finally:
        sock.close(linger=0)


def test_unknown_types_on_control_and_stdin(kernel):
    before = rss_kib(kernel.pid)
    for channel in ("control", "stdin"):
        sock = kernel.raw_socket(channel)
        try:
            sock.send_multipart(kernel.raw_frames("no_such_request", {"x": 1}))
            sock.send_multipart(kernel.raw_frames("input_reply", {"value": "unasked"}))
            sock.poll(500, zmq.POLLIN)
        finally:
            sock.close(linger=0)
    alive_and_answering(kernel, before, "unknown message types on control and stdin")
    assert kernel.control_request("kernel_info_request")["msg_type"] == "kernel_info_reply"


def test_connection_file_readable_by_others_is_warned_about(tmp_path):
    from jupyter_client.connect import write_connection_file

    cf, _ = write_connection_file(str(tmp_path / "conn.json"), key=b"k" * 16)
    os.chmod(cf, 0o644)
    err = tmp_path / "stderr"
    with open(err, "w") as f:
        p = subprocess.Popen([str(BIN), "kernel", "--connection-file", cf],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f,
                             env={k: v for k, v in os.environ.items() if k != "SSHPTY_LOG"})
    try:
        end = time.monotonic() + 10
        while "readable by other users" not in err.read_text() and time.monotonic() < end:
            time.sleep(0.05)
        text = err.read_text()
        assert "readable by other users" in text and "chmod 600" in text and cf in text, text
        assert "k" * 16 not in text, "the key itself was logged"
        assert _alive(p.pid), "a readable connection file is warned about, not refused"
    finally:
        _kill(p.pid)
        p.wait(5)
    # And a private one is not warned about.
    os.chmod(cf, 0o600)
    with open(err, "w") as f:
        p = subprocess.Popen([str(BIN), "kernel", "--connection-file", cf],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f)
    try:
        time.sleep(1)
        assert "readable by other users" not in err.read_text()
    finally:
        _kill(p.pid)
        p.wait(5)


# ---------------------------------------------------------------------------------------------
# What programs print


def test_escape_sequences_in_output_change_no_context_and_type_nothing(nb):
    """Terminal reports a hostile program can trigger: a window-title report (CSI 21 t) would
    type the title it just set into the shell, DECRQSS and OSC colour queries answer with
    attacker-chosen text in some terminals; OSC 7 / OSC 1337 CurrentDir announce another
    directory; OSC 52 writes a clipboard; OSC 133 marks prompts. None may run a command or
    change what the next cell starts from."""
    pwned = f"/tmp/rel-pwned-{uuid.uuid4().hex[:8]}"
    nb.ok("cd /tmp; victim=original")
    payload = (
        f"\\033]2;touch {pwned}\\n\\007\\033[21t"  # set the title, ask for it back
        f"\\033]l;touch {pwned}\\n\\033\\\\\\033[20t"  # icon label, ask for it back
        f"\\033P$qm;touch {pwned}\\n\\033\\\\"  # DECRQSS with a payload
        "\\033]10;?\\007\\033]11;?\\007"  # colour queries
        "\\033]7;file://localhost/etc\\007"  # OSC 7: the cwd is /etc
        "\\033]1337;CurrentDir=/etc\\007"
        "\\033]52;c;dmljdGltPXBvaXNvbmVk\\007"  # OSC 52: the clipboard
        "\\033]133;A\\007\\033]133;D;0\\007"  # prompt marks
        "\\033[6n\\033[c\\033[>c"  # cursor position and device attribute reports
    )
    res = nb.run(f"printf '{payload}'; sleep 0.5; echo printed", timeout=30)
    # The terminal answers the fixed-content queries (colours, cursor position, device
    # attributes) into the PTY as xterm does, and the PTY echoes them, as in a terminal; no
    # answer carries text the program chose (the title and DECRQSS payloads).
    assert res.status == "ok" and res.lines[-1].endswith("printed"), res.describe()
    assert "touch" not in res.stream, res.describe()
    after = nb.ok('pwd; echo "$victim"; echo "[$(cat /dev/null)]"')
    assert after.lines == ["/tmp", "original", "[]"], after.describe()
    time.sleep(0.5)
    assert not Path(pwned).exists(), "a terminal report typed a command into the shell"
    assert "touch " + pwned not in after.stream


def test_the_cells_sudo_marker_is_hidden_from_its_programs(ssh):
    """A program that could print the cell's own sudo prompt (with its per-cell marker) would
    be answered with the remembered sudo password. The marker reaches sudo alone: it is in no
    environment a program inherits, no command line on the host, and no output. (A forged
    prompt with a guessed marker is test_prompts.py's test_forged_sudo_prompt_...)"""
    nb = ssh.login("h1-ops")
    answering(nb, "sudo true", [(r"password for sshpty-ops", ssh.lab.password)]).result.ok()
    res = nb.ok(
        "sudo true; "  # the marker is set up for this cell's sudo: it exists now
        "python3 -c 'import os; print(\"env:\", sorted(k for k, v in os.environ.items() "
        "if \"sshpty:\" in v or k == \"SUDO_PROMPT\"))'; "
        "for f in /proc/$$/environ /proc/$$/cmdline /proc/$PPID/environ /proc/$PPID/cmdline; do "
        "{ tr '\\0' '\\n' < $f; } 2>/dev/null; done | grep -c 'sshpty:[0-9a-f]' | sed 's/^/proc:/'; "
        "ps -ww -eo args | grep -c '[s]shpty:[0-9a-f]' | sed 's/^/ps:/'")
    assert res.lines[-3:] == ["env: []", "proc:0", "ps:0"], res.describe()
    assert not re.search(r"sshpty:[0-9a-f]", all_iopub_text(nb)), "the marker was shown"


def test_malformed_config_lines_and_match_blocks_still_log_in(ssh, tmp_path):
    """Garbage lines, Match blocks that would send the alias elsewhere (one for another name,
    one behind a command that is never run), and an unknown directive: the login goes where
    the Host block says, with each problem warned about once."""
    pwned = tmp_path / "pwned"
    cfg = ssh.cfg.path
    good = cfg.read_text()
    cfg.write_text(
        "Port abc\nUser\nFrobnicate yes\nHost \"unterminated\n  Port 1\n"
        "Match originalhost h1-other\n  Port 1\n  HostName no-such-host.invalid\n  User root\n"
        f"Match exec \"touch {pwned}\"\n  Port 1\n  User root\n"
        + good
        + "\nMatch all\n  Port 2\n"
    )
    nb = ssh.kernel()
    res = no_questions(nb, "%login h1-ops")
    assert res.status == "ok", res.describe()
    assert nb.ok("whoami; echo $SSH_CONNECTION").lines[0] == "sshpty-ops"
    assert not pwned.exists(), "a Match exec command ran"
    text = res.text
    assert text.count("does not run Match exec") == 1, text
    for n in (1, 2, 3, 4):
        assert text.count(f"config:{n}:") == 1, (n, text)
