"""Messages that must never run: unsigned, wrongly signed, malformed (issue 2, item 3).

Each bad message carries an execute_request whose code would create a marker file. After
sending it we run a proper cell through the normal client and wait for its reply: the kernel
runs cells one after another, so had the bad one been executed, the marker would exist by then.
"""

from __future__ import annotations

import json
import time
import uuid

import zmq

from harness import plain_text


def _bad_execute(local, tmp_path, **frame_opts):
    marker = tmp_path / f"marker-{uuid.uuid4().hex}"
    local.ok("true")  # logged in: a forged cell would run at once
    sock = local.raw_socket("shell")
    try:
        frames = local.raw_frames(
            "execute_request",
            {"code": f"touch {marker}", "silent": False, "store_history": True,
             "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
            **frame_opts,
        )
        sock.send_multipart(frames)
        # A kernel may answer with an error reply when it can read the header; it must not run it.
        replies = []
        if sock.poll(1500, zmq.POLLIN):
            replies.append(sock.recv_multipart())
        after = local.ok("echo still-answering")
        assert "still-answering" in after.text
        time.sleep(0.3)
        assert not marker.exists(), f"the bad message was executed (marker created); replies {replies}"
        for r in replies:
            i = r.index(b"<IDS|MSG>")
            content = json.loads(r[i + 5])
            assert content["status"] == "error", f"bad message answered, not as an error: {content}"
    finally:
        sock.close(linger=0)


def test_unsigned_message_is_not_executed(local, tmp_path):
    _bad_execute(local, tmp_path, signature=b"")


def test_wrongly_signed_message_is_not_executed(local, tmp_path):
    _bad_execute(local, tmp_path, key=b"not-the-key")


def test_signature_of_other_bytes_is_not_executed(local, tmp_path):
    _bad_execute(local, tmp_path, signature=b"0" * 64)


def test_malformed_json_is_dropped_and_kernel_carries_on(local):
    local.ok("true")
    sock = local.raw_socket("shell")
    try:
        sock.send_multipart(local.raw_frames("execute_request", {}, content_bytes=b"{not json"))
        sock.send_multipart([b"<IDS|MSG>", b"x"])  # too few frames
        sock.send_multipart([b"garbage without delimiter"])
        time.sleep(0.5)
        assert local.km.is_alive()
        assert "alive" in local.ok("echo alive").text
    finally:
        sock.close(linger=0)


def test_properly_signed_raw_message_is_executed(local, tmp_path):
    """Control for the tests above: the same raw path with the right key does run."""
    marker = tmp_path / "good-marker"
    local.ok("true")
    sock = local.raw_socket("shell")
    try:
        sock.send_multipart(local.raw_frames(
            "execute_request",
            {"code": f"touch {marker}", "silent": False, "store_history": True,
             "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        ))
        assert sock.poll(30000, zmq.POLLIN), "no reply to a properly signed raw execute_request"
        r = sock.recv_multipart()
        i = r.index(b"<IDS|MSG>")
        assert json.loads(r[i + 2])["msg_type"] == "execute_reply"
        assert json.loads(r[i + 5])["status"] == "ok", plain_text(r[i + 5].decode())
        assert marker.exists()
    finally:
        sock.close(linger=0)
