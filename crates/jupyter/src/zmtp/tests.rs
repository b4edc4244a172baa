//! In-process tests: a tokio `TcpStream` plays a raw ZMTP peer (its greeting and
//! READY written out by hand, so they do not share our encoder's mistakes)
//! against the real sockets over loopback.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::frame::{Decoder, Event, FrameLimits};
use super::publish::STATUS_RESERVE;
use super::*;

const WAIT: Duration = Duration::from_secs(5);

/// A greeting as libzmq 4.3 sends it: version 3.1, NULL, as-server 0.
const PEER_GREETING: [u8; 64] = {
    let mut g = [0u8; 64];
    g[0] = 0xff;
    g[8] = 1;
    g[9] = 0x7f;
    g[10] = 3;
    g[11] = 1;
    g[12] = b'N';
    g[13] = b'U';
    g[14] = b'L';
    g[15] = b'L';
    g
};

fn property(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value);
}

/// A READY command frame (RFC 23), built by hand.
fn ready_frame(socket_type: &str, identity: Option<&[u8]>) -> Vec<u8> {
    let mut body = b"\x05READY".to_vec();
    property(&mut body, "Socket-Type", socket_type.as_bytes());
    if let Some(id) = identity {
        property(&mut body, "Identity", id);
    }
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend_from_slice(&body);
    frame
}

/// A message's frames on the wire, built by hand (short frames only).
fn message_bytes(frames: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let more = u8::from(i + 1 < frames.len());
        if f.len() < 256 {
            out.extend_from_slice(&[more, f.len() as u8]);
        } else {
            out.push(more | 0x02);
            out.extend_from_slice(&(f.len() as u64).to_be_bytes());
        }
        out.extend_from_slice(f);
    }
    out
}

fn msg(frames: &[&[u8]]) -> Vec<Bytes> {
    frames.iter().map(|f| Bytes::copy_from_slice(f)).collect()
}

/// A TCP or Unix stream.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

struct RawPeer {
    stream: Box<dyn Io>,
    buf: BytesMut,
    decoder: Decoder,
}

impl RawPeer {
    async fn connect(port: u16) -> RawPeer {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        RawPeer::over(Box::new(stream))
    }

    fn over(stream: Box<dyn Io>) -> RawPeer {
        RawPeer {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::new(FrameLimits {
                max_frame: 1 << 30,
                max_message: 1 << 30,
                max_frames: 1 << 20,
            }),
        }
    }

    /// Connect and complete the handshake as `socket_type`; checks the server's
    /// greeting and READY.
    async fn handshake(
        port: u16,
        socket_type: &str,
        identity: Option<&[u8]>,
        expect: &str,
    ) -> RawPeer {
        let p = RawPeer::connect(port).await;
        p.handshake_as(socket_type, identity, expect).await
    }

    /// The handshake on a connected peer (see [`RawPeer::handshake`]).
    async fn handshake_as(
        mut self,
        socket_type: &str,
        identity: Option<&[u8]>,
        expect: &str,
    ) -> RawPeer {
        let p = &mut self;
        p.send_raw(&PEER_GREETING).await;
        let mut g = [0u8; 64];
        tokio::time::timeout(WAIT, p.stream.read_exact(&mut g))
            .await
            .expect("greeting in time")
            .expect("greeting");
        assert_eq!(&g[..12], b"\xff\0\0\0\0\0\0\0\0\x7f\x03\x00");
        assert_eq!(&g[12..17], b"NULL\0");
        p.send_raw(&ready_frame(socket_type, identity)).await;
        let mut want = b"\x05READY\x0bSocket-Type".to_vec();
        want.extend_from_slice(&(expect.len() as u32).to_be_bytes());
        want.extend_from_slice(expect.as_bytes());
        assert_eq!(p.next().await, Some(Event::Command(Bytes::from(want))));
        self
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    async fn send(&mut self, frames: &[&[u8]]) {
        self.send_raw(&message_bytes(frames)).await;
    }

    /// The next event, `None` at end of stream or reset. Panics after [`WAIT`].
    async fn next(&mut self) -> Option<Event> {
        tokio::time::timeout(WAIT, self.next_inner())
            .await
            .expect("an event or end of stream in time")
    }

    async fn next_inner(&mut self) -> Option<Event> {
        loop {
            if let Some(ev) = self.decoder.decode(&mut self.buf).expect("valid ZMTP") {
                return Some(ev);
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    async fn recv_message(&mut self) -> Vec<Bytes> {
        loop {
            match self.next().await {
                Some(Event::Message(m)) => return m,
                Some(Event::Command(_)) => continue,
                None => panic!("connection closed while waiting for a message"),
            }
        }
    }

    /// Nothing arrives for a short while.
    async fn expect_silence(&mut self) {
        let r = tokio::time::timeout(Duration::from_millis(200), self.next_inner()).await;
        assert!(r.is_err(), "expected nothing, got {r:?}");
    }

    /// The server closes the connection (after an ERROR command at most).
    async fn expect_closed(&mut self) {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => self.buf.clear(),
                }
            }
        })
        .await
        .expect("server closes the connection");
    }
}

async fn router() -> RouterSocket {
    RouterSocket::bind("127.0.0.1", 0, Limits::default())
        .await
        .expect("bind")
}

async fn recv(socket: &mut RouterSocket) -> (Identity, Vec<Bytes>) {
    tokio::time::timeout(WAIT, socket.recv())
        .await
        .expect("a message in time")
        .expect("socket open")
}

/// Poll `cond` until it holds, for up to [`WAIT`].
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn router_routes_by_identity() {
    let mut socket = router().await;
    let sender = socket.sender();
    let mut alice = RawPeer::handshake(socket.port(), "DEALER", Some(b"alice"), "ROUTER").await;
    let mut bob = RawPeer::handshake(socket.port(), "DEALER", Some(b"bob"), "ROUTER").await;

    alice.send(&[b"", b"hello"]).await;
    assert_eq!(
        recv(&mut socket).await,
        (Bytes::from_static(b"alice"), msg(&[b"", b"hello"]))
    );
    bob.send(&[b"from bob"]).await;
    assert_eq!(
        recv(&mut socket).await,
        (Bytes::from_static(b"bob"), msg(&[b"from bob"]))
    );

    let big = vec![b'x'; 100_000];
    sender
        .send(&Bytes::from_static(b"bob"), msg(&[b"", b"reply", &big]))
        .expect("send");
    assert_eq!(bob.recv_message().await, msg(&[b"", b"reply", &big]));
    alice.expect_silence().await;
}

#[tokio::test]
async fn router_generates_identities_and_resolves_duplicates() {
    let mut socket = router().await;
    let sender = socket.sender();
    let mut first = RawPeer::handshake(socket.port(), "DEALER", Some(b"dup"), "ROUTER").await;
    let mut second = RawPeer::handshake(socket.port(), "DEALER", Some(b"dup"), "ROUTER").await;
    let mut anonymous = RawPeer::handshake(socket.port(), "REQ", None, "ROUTER").await;
    let mut reserved = RawPeer::handshake(socket.port(), "ROUTER", Some(b"\0x"), "ROUTER").await;

    first.send(&[b"1"]).await;
    assert_eq!(recv(&mut socket).await.0, Bytes::from_static(b"dup"));
    let mut generated = Vec::new();
    for p in [&mut second, &mut anonymous, &mut reserved] {
        p.send(&[b"hi"]).await;
        let (id, _) = recv(&mut socket).await;
        assert_eq!(id.len(), 5, "{id:?}");
        assert_eq!(id[0], 0, "{id:?}");
        generated.push(id);
    }
    generated.dedup();
    assert_eq!(generated.len(), 3, "distinct generated identities");

    sender
        .send(&generated[0], msg(&[b"to second"]))
        .expect("send");
    assert_eq!(second.recv_message().await, msg(&[b"to second"]));
    first.expect_silence().await;
}

#[tokio::test]
async fn router_send_to_unknown_or_departed_peer() {
    let socket = router().await;
    let sender = socket.sender();
    assert_eq!(
        sender.send(&Bytes::from_static(b"nobody"), msg(&[b"x"])),
        Err(SendError::NoSuchPeer)
    );
    assert_eq!(
        sender.send(&Bytes::from_static(b"nobody"), Vec::new()),
        Err(SendError::EmptyMessage)
    );
    let peer = RawPeer::handshake(socket.port(), "DEALER", Some(b"gone"), "ROUTER").await;
    let gone = Bytes::from_static(b"gone");
    eventually("peer registered", || {
        sender.send(&gone, msg(&[b"x"])).is_ok()
    })
    .await;
    drop(peer);
    eventually("peer forgotten", || {
        sender.send(&gone, msg(&[b"x"])) == Err(SendError::NoSuchPeer)
    })
    .await;
    drop(socket);
    assert_eq!(sender.send(&gone, msg(&[b"x"])), Err(SendError::Closed));
}

#[tokio::test]
async fn router_queue_is_bounded_per_peer() {
    let limits = Limits {
        peer_queue_bytes: 256 * 1024,
        ..Limits::default()
    };
    let socket = RouterSocket::bind("127.0.0.1", 0, limits)
        .await
        .expect("bind");
    let sender = socket.sender();
    let _idle = RawPeer::handshake(socket.port(), "DEALER", Some(b"idle"), "ROUTER").await;
    let idle = Bytes::from_static(b"idle");
    eventually("peer registered", || {
        sender.send(&idle, msg(&[b"x"])).is_ok()
    })
    .await;
    let chunk = Bytes::from(vec![0u8; 64 * 1024]);
    // The peer never reads: once the socket buffers are full, the queue fills.
    let mut full = false;
    for _ in 0..2000 {
        match sender.send(&idle, vec![chunk.clone()]) {
            Ok(()) => tokio::task::yield_now().await,
            Err(SendError::QueueFull) => {
                full = true;
                break;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(full, "queue never reported full");
}

/// Send `bytes` after a handshake and check the router drops that peer and
/// keeps serving a well-behaved one.
async fn assert_router_drops_peer_after(bytes: &[u8]) {
    let mut socket = router().await;
    let mut bad = RawPeer::handshake(socket.port(), "DEALER", Some(b"bad"), "ROUTER").await;
    bad.send_raw(bytes).await;
    bad.expect_closed().await;
    let mut good = RawPeer::handshake(socket.port(), "DEALER", Some(b"good"), "ROUTER").await;
    good.send(&[b"still here"]).await;
    assert_eq!(
        recv(&mut socket).await,
        (Bytes::from_static(b"good"), msg(&[b"still here"]))
    );
}

#[tokio::test]
async fn router_survives_a_2_pow_40_frame_header() {
    assert_router_drops_peer_after(b"\x02\x00\x00\x01\x00\x00\x00\x00\x00").await;
}

#[tokio::test]
async fn router_survives_a_message_over_max_message() {
    let limits = Limits {
        max_message: 1000,
        ..Limits::default()
    };
    let mut socket = RouterSocket::bind("127.0.0.1", 0, limits)
        .await
        .expect("bind");
    let mut bad = RawPeer::handshake(socket.port(), "DEALER", None, "ROUTER").await;
    bad.send(&[&[0u8; 600], &[0u8; 600]]).await;
    bad.expect_closed().await;
    let mut good = RawPeer::handshake(socket.port(), "DEALER", None, "ROUTER").await;
    good.send(&[&[0u8; 600]]).await;
    assert_eq!(recv(&mut socket).await.1[0].len(), 600);
}

#[tokio::test]
async fn router_survives_a_million_empty_frames() {
    let mut flood = b"\x01\x00".repeat(1_000_000);
    flood.extend_from_slice(b"\x00\x00");
    assert_router_drops_peer_after(&flood).await;
}

#[tokio::test]
async fn router_drops_bad_flags_and_bad_commands() {
    assert_router_drops_peer_after(b"\x08\x00").await;
    assert_router_drops_peer_after(b"\x05\x00").await;
    // A second READY after the handshake.
    assert_router_drops_peer_after(&ready_frame("DEALER", None)).await;
    // ERROR from the peer.
    assert_router_drops_peer_after(b"\x04\x09\x05ERROR\x02no").await;
}

#[tokio::test]
async fn router_refuses_bad_handshakes() {
    let mut socket = router().await;
    // Not ZMTP at all.
    let mut http = RawPeer::connect(socket.port()).await;
    http.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    http.expect_closed().await;
    // ZMTP 3 with CURVE.
    let mut curve = RawPeer::connect(socket.port()).await;
    let mut g = PEER_GREETING;
    g[12..17].copy_from_slice(b"CURVE");
    curve.send_raw(&g).await;
    curve.expect_closed().await;
    // A SUB cannot talk to a ROUTER (RFC 23).
    let mut sub = RawPeer::connect(socket.port()).await;
    sub.send_raw(&PEER_GREETING).await;
    sub.send_raw(&ready_frame("SUB", None)).await;
    sub.expect_closed().await;
    // A message instead of READY.
    let mut rude = RawPeer::connect(socket.port()).await;
    rude.send_raw(&PEER_GREETING).await;
    rude.send(&[b"hi"]).await;
    rude.expect_closed().await;

    let mut good = RawPeer::handshake(socket.port(), "REQ", None, "ROUTER").await;
    good.send(&[b"", b"ok"]).await;
    assert_eq!(recv(&mut socket).await.1, msg(&[b"", b"ok"]));
}

#[tokio::test]
async fn ping_gets_pong_with_context() {
    let socket = router().await;
    let mut p = RawPeer::handshake(socket.port(), "DEALER", None, "ROUTER").await;
    p.send_raw(b"\x04\x0a\x04PING\x00\x0aabc").await;
    // Unknown commands are ignored (RFC 37), the PONG still comes.
    p.send_raw(b"\x04\x04\x03FOO").await;
    assert_eq!(
        p.next().await,
        Some(Event::Command(Bytes::from_static(b"\x04PONGabc")))
    );
}

#[tokio::test]
async fn max_peers_refuses_extra_connections() {
    let limits = Limits {
        max_peers: 2,
        ..Limits::default()
    };
    let socket = RouterSocket::bind("127.0.0.1", 0, limits)
        .await
        .expect("bind");
    let a = RawPeer::handshake(socket.port(), "DEALER", None, "ROUTER").await;
    let _b = RawPeer::handshake(socket.port(), "DEALER", None, "ROUTER").await;
    let mut c = RawPeer::connect(socket.port()).await;
    c.send_raw(&PEER_GREETING).await;
    c.expect_closed().await;
    drop(a);
    let start = Instant::now();
    loop {
        // Once `a` is gone a new peer fits again.
        let mut d = RawPeer::connect(socket.port()).await;
        d.send_raw(&PEER_GREETING).await;
        let mut g = [0u8; 64];
        if tokio::time::timeout(WAIT, d.stream.read_exact(&mut g))
            .await
            .is_ok_and(|r| r.is_ok())
        {
            break;
        }
        assert!(start.elapsed() < WAIT, "slot never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn binds_ipv4_any_loopback_and_ipv6_loopback() {
    for ip in ["0.0.0.0", "127.0.0.1"] {
        let s = RouterSocket::bind(ip, 0, Limits::default())
            .await
            .expect(ip);
        RawPeer::handshake(s.port(), "DEALER", None, "ROUTER").await;
    }
    let s = PubSocket::bind("::1", 0, Limits::default())
        .await
        .expect("::1");
    let stream = TcpStream::connect(("::1", s.port()))
        .await
        .expect("connect ::1");
    drop(stream);
    assert!(
        RouterSocket::bind("not-an-ip", 0, Limits::default())
            .await
            .is_err()
    );
}

async fn pub_socket(limits: Limits) -> PubSocket {
    PubSocket::bind("127.0.0.1", 0, limits).await.expect("bind")
}

#[tokio::test]
async fn pub_filters_by_prefix_both_subscription_styles() {
    let socket = pub_socket(Limits::default()).await;
    let publisher = socket.publisher();
    let mut a = RawPeer::handshake(socket.port(), "SUB", None, "PUB").await;
    let mut b = RawPeer::handshake(socket.port(), "XSUB", None, "PUB").await;
    // ZMTP 3.0 style: a message starting with 1.
    a.send(&[b"\x01ap"]).await;
    // ZMTP 3.1 style: a SUBSCRIBE command.
    b.send_raw(b"\x04\x0b\x09SUBSCRIBEb").await;
    eventually("two subscribers", || publisher.subscriber_count() == 2).await;

    publisher.publish(msg(&[b"apple", b"1"]));
    publisher.publish(msg(&[b"banana", b"2"]));
    publisher.publish(msg(&[b"cherry", b"3"]));
    publisher.publish(msg(&[b"apricot", b"4"]));
    assert_eq!(a.recv_message().await, msg(&[b"apple", b"1"]));
    assert_eq!(a.recv_message().await, msg(&[b"apricot", b"4"]));
    assert_eq!(b.recv_message().await, msg(&[b"banana", b"2"]));
    a.expect_silence().await;
    b.expect_silence().await;

    // Cancel (3.0 style) and resubscribe to everything.
    a.send(&[b"\x00ap"]).await;
    a.send(&[b"\x01"]).await;
    b.send_raw(b"\x04\x08\x06CANCELb").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    publisher.publish(msg(&[b"banana", b"5"]));
    assert_eq!(a.recv_message().await, msg(&[b"banana", b"5"]));
    b.expect_silence().await;
}

#[tokio::test]
async fn pub_refuses_non_subscribers() {
    let socket = pub_socket(Limits::default()).await;
    let mut dealer = RawPeer::connect(socket.port()).await;
    dealer.send_raw(&PEER_GREETING).await;
    dealer.send_raw(&ready_frame("DEALER", None)).await;
    dealer.expect_closed().await;
}

#[tokio::test]
async fn subscribed_resolves_on_a_new_subscription() {
    let socket = pub_socket(Limits::default()).await;
    let publisher = socket.publisher();
    let waiter = tokio::spawn({
        let publisher = publisher.clone();
        async move { tokio::time::timeout(WAIT, publisher.subscribed()).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut sub = RawPeer::handshake(socket.port(), "SUB", None, "PUB").await;
    sub.send(&[b"\x01"]).await;
    assert!(
        waiter.await.expect("join").is_ok(),
        "subscribed() never resolved"
    );
    assert_eq!(publisher.subscriber_count(), 1);
}

#[tokio::test]
async fn a_stalled_subscriber_blocks_no_one_and_its_queue_is_bounded() {
    const QUEUE: usize = 1024 * 1024;
    let socket = pub_socket(Limits {
        peer_queue_bytes: QUEUE,
        ..Limits::default()
    })
    .await;
    let publisher = socket.publisher();
    let mut fast = RawPeer::handshake(socket.port(), "SUB", None, "PUB").await;
    let mut stalled = RawPeer::handshake(socket.port(), "SUB", None, "PUB").await;
    fast.send(&[b"\x01"]).await;
    stalled.send(&[b"\x01"]).await;
    eventually("two subscribers", || publisher.subscriber_count() == 2).await;

    // 400 × 64 KiB = 25 MiB: far more than loopback socket buffers plus the
    // 1 MiB queue, so the stalled subscriber must start losing messages.
    let body = Bytes::from(vec![7u8; 64 * 1024]);
    let mut slowest_publish = Duration::ZERO;
    for i in 0..400u32 {
        let topic = Bytes::from(i.to_be_bytes().to_vec());
        let start = Instant::now();
        publisher.publish(vec![topic.clone(), body.clone()]);
        slowest_publish = slowest_publish.max(start.elapsed());
        let got = fast.recv_message().await;
        assert_eq!(got[0], topic, "fast subscriber missed message {i}");
        for queued in publisher.queued_bytes() {
            assert!(queued <= QUEUE, "a queue holds {queued} bytes");
        }
    }
    assert!(
        slowest_publish < Duration::from_millis(100),
        "publish() took {slowest_publish:?}"
    );
    assert!(
        publisher.dropped() > 0,
        "the stalled subscriber lost nothing?"
    );
    drop(stalled);
}

/// Issue 7: a client that stopped reading for a while may lose output past the
/// queue's bound, but never the status message that says the cell ended.
#[tokio::test]
async fn a_full_queue_drops_output_but_never_a_status_message() {
    const QUEUE: usize = 1024 * 1024;
    let socket = pub_socket(Limits {
        peer_queue_bytes: QUEUE,
        ..Limits::default()
    })
    .await;
    let publisher = socket.publisher();
    let mut stalled = RawPeer::handshake(socket.port(), "SUB", None, "PUB").await;
    stalled.send(&[b"\x01"]).await;
    eventually("a subscriber", || publisher.subscriber_count() == 1).await;

    // Fill its queue (and the socket buffers) with output while it reads nothing.
    let body = Bytes::from(vec![7u8; 64 * 1024]);
    for i in 0..400u32 {
        publisher.publish(vec![Bytes::from(i.to_be_bytes().to_vec()), body.clone()]);
    }
    assert!(
        publisher.dropped() > 0,
        "the stalled subscriber lost nothing?"
    );
    // Tiny ordinary messages until one is dropped: the queue is full to a few bytes...
    let mut full = false;
    for _ in 0..100_000 {
        let before = publisher.dropped();
        publisher.publish(msg(&[b"stream", b"s"]));
        if publisher.dropped() > before {
            full = true;
            break;
        }
    }
    assert!(full, "100 000 tiny messages found room in a full queue?");
    // ...and a status message (the size of a Jupyter idle) still goes, from the reserve.
    let idle = [b"status".as_slice(), &[b'i'; 600]];
    publisher.publish_status(msg(&idle));
    for queued in publisher.queued_bytes() {
        assert!(
            queued <= QUEUE + STATUS_RESERVE,
            "a queue holds {queued} bytes"
        );
    }

    // When the subscriber reads again, the last message it gets is that status.
    let mut last = Vec::new();
    let got_status = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let m = stalled.recv_message().await;
            if m[0].as_ref() == b"status" {
                return m;
            }
            last = m;
        }
    })
    .await
    .expect("the status message arrives once the subscriber reads");
    assert_eq!(got_status, msg(&idle));
    assert!(
        !last.is_empty(),
        "the output before it arrived too (what fitted)"
    );
}

#[tokio::test]
async fn heartbeat_echoes_everything() {
    let (port, task) = serve_heartbeat("127.0.0.1", 0, Limits::default())
        .await
        .expect("bind");
    let mut req = RawPeer::handshake(port, "REQ", None, "REP").await;
    req.send(&[b"", b"ping 1"]).await;
    assert_eq!(req.recv_message().await, msg(&[b"", b"ping 1"]));
    let mut dealer = RawPeer::handshake(port, "DEALER", None, "REP").await;
    dealer.send(&[b"a", b"b", b"c"]).await;
    assert_eq!(dealer.recv_message().await, msg(&[b"a", b"b", b"c"]));

    let mut pub_peer = RawPeer::connect(port).await;
    pub_peer.send_raw(&PEER_GREETING).await;
    pub_peer.send_raw(&ready_frame("PUB", None)).await;
    pub_peer.expect_closed().await;

    // Stopping the heartbeat disconnects its peers.
    task.abort();
    req.expect_closed().await;
}

/// On its own thread the heartbeat echoes while the runtime that started it is blocked
/// (as a kernel's workers are, busy with a fleet's key exchanges): the echo comes while the
/// runtime's only thread is still held, which a heartbeat served on it could not do.
#[test]
fn the_heartbeat_on_its_thread_answers_while_the_kernels_runtime_is_blocked() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let at = Endpoint::Tcp {
        ip: "127.0.0.1".into(),
        port: 0,
    };
    let (port, guard) = rt
        .block_on(super::serve_heartbeat_on_thread(&at, Limits::default()))
        .expect("bind");
    let echoed = Arc::new(AtomicBool::new(false));
    let client = std::thread::spawn({
        let echoed = echoed.clone();
        move || {
            let crt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            crt.block_on(async {
                let mut req = RawPeer::handshake(port, "REQ", None, "REP").await;
                req.send(&[b"", b"ping"]).await;
                assert_eq!(req.recv_message().await, msg(&[b"", b"ping"]));
                echoed.store(true, Ordering::SeqCst);
                req
            })
        }
    });
    rt.block_on(async {
        // Blocks the runtime's thread until the echo came (or 20 s passed).
        let until = std::time::Instant::now() + Duration::from_secs(20);
        while !echoed.load(Ordering::SeqCst) && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    assert!(
        echoed.load(Ordering::SeqCst),
        "no echo while the runtime was blocked"
    );
    let mut req = client.join().unwrap();
    // Dropping the guard stops it and disconnects its peers.
    drop(guard);
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), req.expect_closed()).await })
        .expect("the peer was not disconnected");
}

#[tokio::test]
async fn a_stalled_handshake_is_dropped_after_the_timeout() {
    use super::command::SocketType;
    use super::peer::{PeerLabel, establish};
    use super::transport::Listener;

    let at = Endpoint::Tcp {
        ip: "127.0.0.1".into(),
        port: 0,
    };
    let listener = Listener::bind(&at).await.expect("bind");
    let port = listener.port().expect("port");
    let mut client = RawPeer::connect(port).await;
    let (stream, addr) = listener.accept().await.expect("accept");
    // Half a greeting, then nothing.
    client.send_raw(&PEER_GREETING[..20]).await;
    let label = PeerLabel { kind: "test", addr };
    let start = Instant::now();
    let timeout = Duration::from_millis(300);
    let established = establish(
        stream,
        label,
        SocketType::Router,
        &Limits::default(),
        timeout,
    )
    .await;
    assert!(established.is_none());
    assert!(start.elapsed() >= timeout);
    client.expect_closed().await;
}

#[test]
fn handles_are_send_sync_static() {
    fn check<T: Send + Sync + 'static>() {}
    check::<RouterSender>();
    check::<Publisher>();
    check::<SendError>();
}

#[tokio::test]
async fn ipc_sockets_are_private_unix_sockets_removed_at_the_end() {
    use std::os::unix::fs::PermissionsExt;

    let dir = std::env::temp_dir().join(format!("sshpty-zmtp-ipc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("kernel-ipc-1");
    // A socket left by a kernel that died is replaced, as ZeroMQ does.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("stale socket"));
    assert!(path.exists());
    let endpoint =
        Endpoint::from_connection("ipc", &dir.join("kernel-ipc").display().to_string(), 1)
            .expect("ipc endpoint");
    assert_eq!(endpoint, Endpoint::Ipc(path.clone()));
    let mut socket = RouterSocket::bind_at(&endpoint, Limits::default())
        .await
        .expect("bind");
    let mode = std::fs::metadata(&path)
        .expect("socket file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");

    let stream = tokio::net::UnixStream::connect(&path)
        .await
        .expect("connect");
    let mut peer = RawPeer::over(Box::new(stream))
        .handshake_as("DEALER", Some(b"me"), "ROUTER")
        .await;
    peer.send(&[b"", b"over ipc"]).await;
    assert_eq!(
        recv(&mut socket).await,
        (Bytes::from_static(b"me"), msg(&[b"", b"over ipc"]))
    );
    socket
        .sender()
        .send(&Bytes::from_static(b"me"), msg(&[b"back"]))
        .expect("send");
    assert_eq!(peer.recv_message().await, msg(&[b"back"]));

    // A regular file where the socket should be is not removed: the bind fails.
    let file = dir.join("kernel-ipc-2");
    std::fs::write(&file, b"keep").expect("file");
    let taken = Endpoint::Ipc(file.clone());
    assert!(PubSocket::bind_at(&taken, Limits::default()).await.is_err());
    assert_eq!(std::fs::read(&file).expect("kept"), b"keep");
    // Too long for a Unix socket address: a clear error.
    let long = Endpoint::Ipc(dir.join("x".repeat(120)));
    let e = RouterSocket::bind_at(&long, Limits::default())
        .await
        .err()
        .expect("refused");
    assert!(e.to_string().contains("at most 107 bytes"), "{e}");

    // The accept task owns the listener and ends when the socket goes.
    drop(socket);
    eventually("the socket file to go with its socket", || !path.exists()).await;
    std::fs::remove_dir_all(&dir).expect("clean up");
}
