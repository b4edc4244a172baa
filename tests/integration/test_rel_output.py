"""Reliability (issue 7, item 3): output integrity, on the local target and over SSH.

Already covered elsewhere: large outputs line for line (test_output.py: seq 1 200000 and
300000 locally; test_cells.py: 2 MB then an exit status, and text after the last newline, on
both targets), stdout and stderr merged into one stream (test_cells.py), 50 MB through
jupyter_server (test_server.py).

Here: a slow trickle whose every line reaches the client while the cell runs; binary output
(the cell ends, invalid UTF-8 shows as U+FFFD, the next cell is clean); text after the last
newline on both targets; stdout/stderr interleaved line by line as a terminal shows them; and a
client that stops reading IOPub for 2 s during `seq 1 300000`, which must still get every line
and the final idle.

The kernel's IOPub is its own ZMTP PUB (crates/jupyter/src/zmtp/publish.rs): each subscriber has a queue
bounded at 32 MiB (Limits::peer_queue_bytes); past that, that subscriber's messages are dropped
(status messages excepted, which have a reserve of their own: see publish.rs). Stream output
is paced to about 0.8 MB/s (crates/jupyter/src/pacing.rs), so a 2 s stall queues at most a few MB:
well within the bound, and nothing may be lost.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import zmq

from harness import plain_text
from targets import (  # noqa: F401  (fixtures are used by name: a kernel on each target)
    nb,
    ssh,
    ssh_kernelspec,
    ssh_servers,
    target,
)


def arrivals(cell, needle_of, count: int, timeout: float) -> list[str]:
    """Pump IOPub until the cell ends; return the stream text seen so far each time a new
    NEEDLE_OF(i) first appears."""
    seen = []
    d = time.monotonic() + timeout
    while not cell._done():
        assert time.monotonic() < d, f"cell did not end: {cell._text()[-500:]!r}"
        cell.nb._pump_iopub(0.05)
        while len(seen) < count and needle_of(len(seen) + 1) in cell._text():
            seen.append(needle_of(len(seen) + 1))
    return seen


def test_slow_trickle_each_line_is_shown_while_the_cell_runs(nb, tmp_path):
    """A line every 0.3 s for 3 s, to a client with a page (allow_stdin). After each line the
    cell waits for the test to acknowledge it (a file the test creates once the page shows
    the line, in the live view: the lines stay within the program's reach): a line held back
    until the end would leave its wait unanswered, and the cell says so."""
    acks = Path(f"/tmp/rel-acks-{uuid.uuid4().hex[:8]}")
    acks.mkdir(mode=0o755)
    try:
        code = (f"for i in $(seq 1 10); do echo \"tick $i\"; sleep 0.3; n=0; "
                f"until [ -e {acks}/$i ]; do n=$((n+1)); [ $n -gt 100 ] && echo \"no ack $i\" "
                f"&& break; sleep 0.1; done; done; echo trickle-done")
        cell = nb.submit(code, allow_stdin=True)
        acked = 0
        d = time.monotonic() + 60
        while not cell._done():
            assert time.monotonic() < d, f"cell did not end: {cell._views()[-500:]!r}"
            nb._pump_iopub(0.05)
            while acked < 10 and f"tick {acked + 1}\n" in cell._text() + cell._views() + "\n":
                acked += 1
                (acks / str(acked)).touch()
        res = cell.result(timeout=10).ok()
        assert res.lines == [f"tick {i}" for i in range(1, 11)] + ["trickle-done"], res.describe()
    finally:
        for f in acks.iterdir():
            f.unlink()
        acks.rmdir()


def test_binary_output_ends_and_the_next_cell_is_clean(nb):
    res = nb.run("head -c 1000000 /dev/urandom", timeout=90)
    assert res.status == "ok", res.describe()
    assert "\ufffd" in res.stream, "invalid UTF-8 should show as U+FFFD"
    # Bounded: what was shown is of the order of the input, not blown up.
    assert len(res.stream) < 4_000_000, len(res.stream)
    after = nb.ok("echo after-binary; printf 'caf\\303\\251\\n'")
    assert after.lines == ["after-binary", "café"], after.describe()


def test_invalid_utf8_is_replacement_characters_in_place(nb):
    res = nb.ok("printf 'a\\377\\376b\\n\\303(c\\n\\342\\202d\\n'")
    # Each maximal invalid subsequence is one U+FFFD (as Python's and the WHATWG decoders do).
    assert res.lines == ["a\ufffd\ufffdb", "\ufffd(c", "\ufffdd"], res.describe()


def test_text_after_the_last_newline_is_kept(nb):
    assert nb.ok("printf 'no newline at the end'").text == "no newline at the end"
    res = nb.ok("seq 1 50000; printf 'tail without newline'")
    assert res.lines[-2:] == ["50000", "tail without newline"], res.lines[-3:]
    assert res.lines[:-1] == [str(i) for i in range(1, 50001)]


def test_stdout_and_stderr_interleave_as_a_terminal_shows_them(nb):
    res = nb.ok("for i in $(seq 1 200); do echo out$i; echo err$i >&2; done; printf 'o'; "
                "printf 'e' >&2; printf 'o\\n'")
    want = [x for i in range(1, 201) for x in (f"out{i}", f"err{i}")] + ["oeo"]
    assert res.lines == want, [a for a in zip(res.lines, want) if a[0] != a[1]][:5]


def test_a_client_that_stops_reading_iopub_for_2_s_gets_every_line_and_idle(nb):
    cell = nb.submit("seq 1 300000")
    time.sleep(2)  # jupyter_client reads IOPub only when asked: nothing is read meanwhile
    res = cell.result(timeout=120).ok()  # check_iopub_order: busy ... idle, idle last
    assert res.lines == [str(i) for i in range(1, 300001)], (len(res.lines), res.lines[-2:])
    assert nb.ok("echo next").lines == ["next"]


def raw_subscriber(nb, hwm: int):
    """A SUB socket of our own on the kernel's IOPub with a receive high-water mark of HWM
    messages and a small kernel buffer: once it stops reading, the kernel's queue for it fills
    after a few messages instead of after libzmq's 1000."""
    info = nb.connection_info()
    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.RCVBUF, 4096)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(f"{info['transport']}://{info['ip']}:{info['iopub_port']}")
    return sock


def parse(frames: list[bytes]) -> tuple[dict, dict, dict]:
    i = frames.index(b"<IDS|MSG>")
    return json.loads(frames[i + 2]), json.loads(frames[i + 3]), json.loads(frames[i + 5])


def test_a_stalled_subscriber_with_a_tiny_buffer_gets_every_line_and_idle(nb):
    """The same with backpressure reaching the kernel: a subscriber holding at most 2 messages
    and 4 KiB of socket buffer, stalled for 2 s (and again for 2 s midway)."""
    sock = raw_subscriber(nb, hwm=2)
    try:
        # The subscription is in place once a message of ours arrives through it.
        d = time.monotonic() + 10
        while True:
            nb.ok("echo probe")
            if sock.poll(500, zmq.POLLIN):
                break
            assert time.monotonic() < d, "the raw subscriber receives nothing"
        while sock.poll(200, zmq.POLLIN):
            sock.recv_multipart()
        cell = nb.submit("seq 1 300000")
        texts, idle, read_since_stall, stalled_twice = [], False, 0, False
        time.sleep(2)
        d = time.monotonic() + 120
        while not idle:
            # Keep jupyter_client's own IOPub drained too: this test is about the raw one.
            nb._pump_iopub(0.001)
            if not sock.poll(100, zmq.POLLIN):
                assert time.monotonic() < d, f"no idle; {len(''.join(texts))} chars so far"
                continue
            header, parent, content = parse(sock.recv_multipart())
            if parent.get("msg_id") != cell.msg_id:
                continue
            if header["msg_type"] == "stream":
                texts.append(content["text"])
                read_since_stall += 1
                if read_since_stall == 3 and not stalled_twice:
                    stalled_twice = True
                    time.sleep(2)
            elif header["msg_type"] == "status" and content["execution_state"] == "idle":
                idle = True
        lines = plain_text("".join(texts)).splitlines()
        assert lines == [str(i) for i in range(1, 300001)], (len(lines), lines[-2:])
        assert cell.result(timeout=60).ok()
    finally:
        sock.close(linger=0)
