"""Interop check of jupyter::zmtp against real libzmq (pyzmq).

    python3 -m venv /tmp/zmtp-venv && /tmp/zmtp-venv/bin/pip install pyzmq
    cargo build -p sshpty-jupyter --example zmtp_echo
    /tmp/zmtp-venv/bin/python crates/jupyter/examples/zmtp_interop.py target/debug/examples/zmtp_echo

Not a cargo test (it needs Python and pyzmq); run it after changing crates/jupyter/src/zmtp.
"""
import json
import subprocess
import sys
import time

import zmq
import zmq.utils.monitor

TIMEOUT_MS = 5000


def recv(sock):
    if not sock.poll(TIMEOUT_MS):
        raise AssertionError(f"timed out waiting on {sock}")
    return sock.recv_multipart()


def main(binary):
    proc = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    ports = json.loads(proc.stdout.readline())
    ctx = zmq.Context()
    url = lambda name: f"tcp://127.0.0.1:{ports[name]}"
    checks = []
    try:
        # Heartbeat: REQ sends [delimiter, payload], gets it back.
        hb = ctx.socket(zmq.REQ)
        hb.connect(url("hb"))
        for i in range(3):
            hb.send(b"ping %d" % i)
            assert recv(hb) == [b"ping %d" % i]
        checks.append("heartbeat REQ round trips")

        # DEALER with an identity, with libzmq's own PING heartbeats on.
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.IDENTITY, b"dealer-1")
        dealer.setsockopt(zmq.HEARTBEAT_IVL, 100)
        dealer.setsockopt(zmq.HEARTBEAT_TIMEOUT, 300)
        monitor = dealer.get_monitor_socket()
        dealer.connect(url("shell"))
        dealer.send_multipart([b"", b"hello"])
        assert recv(dealer) == [b"", b"hello"]
        checks.append("DEALER echo routed by identity")

        # SUB to everything: wait out the slow-joiner window.
        sub_all = ctx.socket(zmq.SUB)
        sub_all.setsockopt(zmq.SUBSCRIBE, b"")
        sub_all.connect(url("iopub"))
        sub_a = ctx.socket(zmq.SUB)
        sub_a.setsockopt(zmq.SUBSCRIBE, b"topicA")
        sub_a.connect(url("iopub"))
        deadline = time.time() + 5
        while True:
            dealer.send_multipart([b"", b"probe"])
            assert recv(dealer) == [b"", b"probe"]
            if sub_all.poll(100):
                msg = sub_all.recv_multipart()
                assert msg == [b"echo", b"dealer-1", b"", b"probe"], msg
                break
            assert time.time() < deadline, "SUB never got a message"
        checks.append("SUB(b'') receives published echo with the DEALER's identity")

        time.sleep(0.2)  # let sub_a's subscription arrive too
        while sub_all.poll(100):
            sub_all.recv_multipart()
        dealer.send_multipart([b"publish", b"topicA.x", b"3"])
        recv(dealer)
        dealer.send_multipart([b"publish", b"other", b"2"])
        recv(dealer)
        got_a = [recv(sub_a) for _ in range(3)]
        assert got_a == [[b"topicA.x", b"%d" % i] for i in range(3)], got_a
        assert not sub_a.poll(300), "topicA subscriber got another topic"
        got_all = [recv(sub_all) for _ in range(5)]
        assert [m[0] for m in got_all] == [b"topicA.x"] * 3 + [b"other"] * 2, got_all
        checks.append("PUB prefix filtering (SUB b'topicA' vs SUB b'')")

        # Big and many-frame messages.
        big = bytes(range(256)) * (20 * 1024 * 1024 // 256)
        dealer.send_multipart([b"", big])
        assert recv(dealer) == [b"", big]
        many = [b"%d" % i for i in range(500)]
        dealer.send_multipart(many)
        assert recv(dealer) == many
        checks.append("20 MiB frame and 500-frame message echoed intact")

        # Heartbeats: libzmq PINGs every 100 ms and drops the link if no PONG
        # within 300 ms; after 1.5 s there must be no disconnect event.
        time.sleep(1.5)
        events = []
        while monitor.poll(0):
            events.append(zmq.utils.monitor.recv_monitor_message(monitor)["event"])
        assert zmq.EVENT_DISCONNECTED not in events, events
        dealer.send_multipart([b"", b"after heartbeats"])
        assert recv(dealer) == [b"", b"after heartbeats"]
        checks.append("ZMTP 3.1 PING answered with PONG (no disconnect in 1.5 s)")

        # Same identity again: the newcomer gets a generated one, both work.
        dup = ctx.socket(zmq.DEALER)
        dup.setsockopt(zmq.IDENTITY, b"dealer-1")
        dup.connect(url("shell"))
        dup.send_multipart([b"", b"dup"])
        assert recv(dup) == [b"", b"dup"]
        dealer.send_multipart([b"", b"orig"])
        assert recv(dealer) == [b"", b"orig"]
        checks.append("duplicate identity: both peers served")

        # REQ straight to the ROUTER.
        req = ctx.socket(zmq.REQ)
        req.connect(url("shell"))
        req.send(b"req")
        assert recv(req) == [b"req"]
        checks.append("REQ to ROUTER")

        # Over max_message (64 MiB): that connection is dropped (libzmq
        # reconnects), the others keep working.
        huge = ctx.socket(zmq.DEALER)
        huge.connect(url("shell"))
        huge.send_multipart([b"", b"\0" * (65 * 1024 * 1024)])
        time.sleep(1)
        dealer.send_multipart([b"", b"still alive"])
        assert recv(dealer) == [b"", b"still alive"]
        huge.send_multipart([b"", b"small after reconnect"])
        assert recv(huge) == [b"", b"small after reconnect"]
        checks.append("65 MiB message: peer dropped, others and its reconnect served")

        assert proc.poll() is None, "server died"
        for c in checks:
            print("ok:", c)
        print(f"{len(checks)} passed, 0 failed")
    finally:
        ctx.destroy(linger=0)
        proc.stdin.close()
        proc.wait(timeout=5)


if __name__ == "__main__":
    main(sys.argv[1])
