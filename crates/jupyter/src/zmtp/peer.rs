//! One TCP connection, whatever the socket type: listening and accepting within
//! `max_peers`, the handshake (RFC 23 "The Greeting" and "NULL Security
//! Mechanism"), the frame reader, the per-peer output queue and its writer task,
//! and the commands every socket type answers the same way.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::command::{self, Command, CommandError, SocketType};
use super::frame::{self, DecodeError, Decoder, Event, FrameLimits};
use super::greeting::{self, GREETING_LEN, GREETING_PREFIX_LEN, GreetingError};
use super::socket::{Limits, SendError};
use super::transport::{Listener, PeerAddr, ReadHalf, Stream, WriteHalf};

/// The brief's bound on greeting + READY exchange; a peer that stalls there is
/// holding one of `max_peers` slots for nothing.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How much the reader asks the kernel for at a time; also the most a peer that
/// announces a big frame and then stalls can make us hold beyond what it sent.
const READ_CHUNK: usize = 64 * 1024;
/// Below this much free space the read buffer gets another `READ_CHUNK`, so
/// reads stay large without the buffer growing past one chunk of slack.
const READ_LOW_WATER: usize = 4 * 1024;
/// Writer buffer: small frames are gathered here; a body at least this large is
/// written straight from its `Bytes` (tokio's `BufWriter` bypasses its buffer),
/// so no message is copied more than once.
const WRITE_BUFFER: usize = 64 * 1024;
/// After an accept error (e.g. out of file descriptors) wait before retrying,
/// instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Why a connection was dropped. The Display text completes a sentence that
/// starts with the peer's address ("ROUTER peer 127.0.0.1:5000 {error}").
#[derive(Debug, thiserror::Error)]
pub(crate) enum PeerError {
    #[error("{0}")]
    Greeting(#[from] GreetingError),
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("{0}")]
    Command(#[from] CommandError),
    #[error("failed on I/O: {0}")]
    Io(#[from] io::Error),
    #[error("did not finish the ZMTP handshake within {0:?}")]
    HandshakeTimeout(Duration),
    #[error("closed the connection during the handshake")]
    EofInHandshake,
    #[error("sent a message before its READY command")]
    MessageBeforeReady,
    #[error("sent a {0} command before READY")]
    CommandBeforeReady(&'static str),
    #[error("sent a READY command without a Socket-Type")]
    NoSocketType,
    #[error("is a {theirs} socket, which a {ours} socket cannot talk to (RFC 23)")]
    Incompatible { ours: &'static str, theirs: String },
    #[error("sent READY a second time")]
    ReadyAgain,
    #[error("sent ERROR {reason:?}")]
    PeerSentError { reason: String },
    #[error("does not read its replies ({limit} bytes queued for it)")]
    NotReading { limit: usize },
    #[error("holds more subscriptions than allowed ({what})")]
    TooManySubscriptions { what: &'static str },
}

impl PeerError {
    /// Plain network trouble is not misbehaviour worth a warning.
    fn is_io(&self) -> bool {
        matches!(self, PeerError::Io(_))
    }
}

/// "ROUTER peer 127.0.0.1:5000", for log lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerLabel {
    pub kind: &'static str,
    pub addr: PeerAddr,
}

impl fmt::Display for PeerLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zmtp {} peer {}", self.kind, self.addr)
    }
}

/// Log how a connection ended: protocol trouble as a warning naming the peer.
pub(crate) fn log_end(label: PeerLabel, result: &Result<(), PeerError>) {
    match result {
        Ok(()) => log::debug!("{label} disconnected"),
        Err(e) if e.is_io() => log::debug!("{label} {e}; disconnected"),
        Err(e) => log::warn!("{label} {e}; disconnected"),
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of our locks leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Held by a connection's task for as long as it counts against `max_peers`.
pub(crate) struct PeerSlot(Arc<AtomicUsize>);

impl Drop for PeerSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Accept connections until `shutdown` closes, handing each to `on_peer` with a
/// slot; beyond `max_peers` live connections a new one is closed at once.
pub(crate) fn spawn_accept_loop<F>(
    listener: Listener,
    kind: &'static str,
    max_peers: usize,
    shutdown: watch::Receiver<()>,
    on_peer: F,
) -> JoinHandle<()>
where
    F: FnMut(Stream, PeerAddr, PeerSlot) + Send + 'static,
{
    tokio::spawn(accept_loop(listener, kind, max_peers, shutdown, on_peer))
}

/// The body of [`spawn_accept_loop`], for callers that own the task themselves.
pub(crate) async fn accept_loop<F>(
    listener: Listener,
    kind: &'static str,
    max_peers: usize,
    mut shutdown: watch::Receiver<()>,
    mut on_peer: F,
) where
    F: FnMut(Stream, PeerAddr, PeerSlot),
{
    let live = Arc::new(AtomicUsize::new(0));
    let mut refusing = false;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        let (stream, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                log::warn!("zmtp {kind}: accept failed: {e}; retrying");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        if live.load(Ordering::Acquire) >= max_peers {
            // One warning per run of refusals, so a connect flood does not
            // flood the log as well.
            if !refusing {
                log::warn!(
                    "zmtp {kind}: refusing {addr}: already {max_peers} connections (max_peers)"
                );
                refusing = true;
            }
            drop(stream);
            continue;
        }
        refusing = false;
        live.fetch_add(1, Ordering::AcqRel);
        on_peer(stream, addr, PeerSlot(live.clone()));
    }
}

/// Reads events from a connection, a chunk at a time.
pub(crate) struct FrameReader {
    io: ReadHalf,
    buf: BytesMut,
    decoder: Decoder,
}

impl FrameReader {
    fn new(io: ReadHalf, limits: &Limits) -> FrameReader {
        FrameReader {
            io,
            buf: BytesMut::new(),
            decoder: Decoder::new(FrameLimits {
                max_frame: limits.max_frame,
                max_message: limits.max_message,
                max_frames: limits.max_frames,
            }),
        }
    }

    /// The next event, or `None` at a clean end of stream.
    pub(crate) async fn next(&mut self) -> Result<Option<Event>, PeerError> {
        loop {
            if let Some(ev) = self.decoder.decode(&mut self.buf)? {
                return Ok(Some(ev));
            }
            // The decoder took everything but a partial header, so `buf` is
            // tiny here and this reservation bounds what one read can cost.
            if self.buf.capacity() - self.buf.len() < READ_LOW_WATER {
                self.buf.reserve(READ_CHUNK);
            }
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }
}

/// What the peer told us in its READY.
#[derive(Debug, Clone)]
pub(crate) struct PeerInfo {
    pub socket_type: SocketType,
    /// The `Identity` property if present (possibly empty).
    pub identity: Option<Bytes>,
}

/// A connection whose handshake succeeded, with its writer task running.
pub(crate) struct Connected {
    pub label: PeerLabel,
    pub info: PeerInfo,
    pub reader: FrameReader,
    pub queue: Arc<OutQueue>,
}

/// Set up an accepted connection: TCP_NODELAY (`transport`), the handshake within
/// `handshake_timeout` (the sockets pass [`HANDSHAKE_TIMEOUT`]), then the writer
/// task. `None` (after logging) if the peer is not one we will talk to.
pub(crate) async fn establish(
    stream: Stream,
    label: PeerLabel,
    ours: SocketType,
    limits: &Limits,
    handshake_timeout: Duration,
) -> Option<Connected> {
    let (r, mut w) = stream.into_split();
    let mut reader = FrameReader::new(r, limits);
    let handshake = tokio::time::timeout(handshake_timeout, handshake(&mut reader, &mut w, ours))
        .await
        .unwrap_or(Err(PeerError::HandshakeTimeout(handshake_timeout)));
    let info = match handshake {
        Ok(info) => info,
        Err(e) => {
            log_end(label, &Err(e));
            return None;
        }
    };
    let queue = Arc::new(OutQueue::new(limits.peer_queue_bytes));
    tokio::spawn(write_task(queue.clone(), w, label));
    Some(Connected {
        label,
        info,
        reader,
        queue,
    })
}

/// RFC 23: exchange greetings, then READY commands (NULL mechanism).
async fn handshake(
    reader: &mut FrameReader,
    w: &mut WriteHalf,
    ours: SocketType,
) -> Result<PeerInfo, PeerError> {
    w.write_all(&greeting::ours()).await?;
    let mut g = [0u8; GREETING_LEN];
    read_handshake_bytes(&mut reader.io, &mut g[..GREETING_PREFIX_LEN]).await?;
    let mut prefix = [0u8; GREETING_PREFIX_LEN];
    prefix.copy_from_slice(&g[..GREETING_PREFIX_LEN]);
    // Checking signature and major version first lets us drop a non-ZMTP or
    // ZMTP 1/2 peer without waiting for bytes it will never send.
    greeting::check_prefix(&prefix)?;
    read_handshake_bytes(&mut reader.io, &mut g[GREETING_PREFIX_LEN..]).await?;
    greeting::check(&g)?;

    let mut out = BytesMut::new();
    frame::encode_command(&command::ready(ours), &mut out);
    w.write_all(&out).await?;

    let ready = match reader.next().await? {
        None => return Err(PeerError::EofInHandshake),
        Some(Event::Message(_)) => return Err(PeerError::MessageBeforeReady),
        Some(Event::Command(body)) => match command::parse(body)? {
            Command::Ready(ready) => ready,
            Command::Error { reason } => return Err(PeerError::PeerSentError { reason }),
            other => return Err(PeerError::CommandBeforeReady(command_name(&other))),
        },
    };
    let theirs = ready.socket_type.ok_or(PeerError::NoSocketType)?;
    let socket_type = match SocketType::parse(&theirs) {
        Some(t) if ours.accepts(t) => t,
        _ => {
            // RFC 23 lets us say why before closing; best effort.
            let mut out = BytesMut::new();
            frame::encode_command(b"\x05ERROR\x13Invalid socket type", &mut out);
            let _ = w.write_all(&out).await;
            return Err(PeerError::Incompatible {
                ours: ours.as_str(),
                theirs: String::from_utf8_lossy(&theirs).into_owned(),
            });
        }
    };
    Ok(PeerInfo {
        socket_type,
        identity: ready.identity,
    })
}

async fn read_handshake_bytes(r: &mut ReadHalf, buf: &mut [u8]) -> Result<(), PeerError> {
    match r.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(PeerError::EofInHandshake),
        Err(e) => Err(e.into()),
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Ready(_) => "READY",
        Command::Ping { .. } => "PING",
        Command::Pong { .. } => "PONG",
        Command::Subscribe(_) => "SUBSCRIBE",
        Command::Cancel(_) => "CANCEL",
        Command::Error { .. } => "ERROR",
        Command::Unknown { .. } => "unknown",
    }
}

/// Handle a command after the handshake the way every socket type does: PING →
/// PONG (RFC 37), ERROR → close (RFC 23), a second READY → close, unknown →
/// ignored (RFC 37). SUBSCRIBE and CANCEL are returned for the PUB socket.
pub(crate) fn common_command(
    label: PeerLabel,
    body: Bytes,
    queue: &OutQueue,
) -> Result<Option<Command>, PeerError> {
    match command::parse(body)? {
        Command::Ping { context, .. } => {
            // If the queue is full the peer is not reading; its missing PONG
            // then tells it the truth.
            let _ = queue.push(Outgoing::Command(command::pong(&context)));
            Ok(None)
        }
        Command::Pong { .. } => Ok(None),
        Command::Error { reason } => Err(PeerError::PeerSentError { reason }),
        Command::Ready(_) => Err(PeerError::ReadyAgain),
        Command::Unknown { name } => {
            log::debug!("{label} sent unknown command {name:?}; ignored");
            Ok(None)
        }
        c @ (Command::Subscribe(_) | Command::Cancel(_)) => Ok(Some(c)),
    }
}

/// Run a connection's read loop until it ends, the writer gives up (queue
/// closed), or the socket shuts down.
pub(crate) async fn until_closed<F>(
    read_loop: F,
    queue: &OutQueue,
    shutdown: &mut watch::Receiver<()>,
) -> Result<(), PeerError>
where
    F: Future<Output = Result<(), PeerError>>,
{
    tokio::select! {
        r = read_loop => r,
        _ = queue.closed() => Ok(()),
        _ = shutdown.changed() => Ok(()),
    }
}

/// Something queued for a peer.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Message(Vec<Bytes>),
    Command(Bytes),
}

impl Outgoing {
    /// What it counts against `peer_queue_bytes`: bodies plus worst-case headers.
    fn cost(&self) -> usize {
        match self {
            Outgoing::Message(frames) => frames
                .iter()
                .map(|f| f.len().saturating_add(frame::MAX_HEADER))
                .fold(0usize, usize::saturating_add),
            Outgoing::Command(body) => body.len().saturating_add(frame::MAX_HEADER),
        }
    }
}

#[derive(Default)]
struct QueueState {
    items: VecDeque<Outgoing>,
    /// Queued bytes plus those the writer has taken but not yet written.
    bytes: usize,
    closed: bool,
}

/// A peer's outgoing queue, bounded in bytes. `push` never blocks: a full queue
/// is the caller's to handle (router: error, pub: drop, heartbeat: disconnect).
pub(crate) struct OutQueue {
    state: Mutex<QueueState>,
    /// Wakes the writer; `notify_one` keeps a permit, so no wake-up is lost.
    wake: Notify,
    closed: watch::Sender<bool>,
    limit: usize,
}

impl OutQueue {
    pub(crate) fn new(limit: usize) -> OutQueue {
        OutQueue {
            state: Mutex::new(QueueState::default()),
            wake: Notify::new(),
            closed: watch::Sender::new(false),
            limit,
        }
    }

    pub(crate) fn push(&self, item: Outgoing) -> Result<(), SendError> {
        self.push_with_reserve(item, 0)
    }

    /// Queue `item` even when the queue holds up to `reserve` bytes beyond its
    /// limit: for small messages that must not be dropped where bulk ones are
    /// (IOPub's busy/idle after a burst of output).
    pub(crate) fn push_with_reserve(
        &self,
        item: Outgoing,
        reserve: usize,
    ) -> Result<(), SendError> {
        let cost = item.cost();
        let mut st = lock(&self.state);
        if st.closed {
            return Err(SendError::NoSuchPeer);
        }
        if st.bytes.saturating_add(cost) > self.limit.saturating_add(reserve) {
            return Err(SendError::QueueFull);
        }
        st.bytes += cost;
        st.items.push_back(item);
        drop(st);
        self.wake.notify_one();
        Ok(())
    }

    /// Drop everything queued and stop the writer and the reader.
    pub(crate) fn close(&self) {
        let mut st = lock(&self.state);
        st.closed = true;
        st.items.clear();
        drop(st);
        self.closed.send_replace(true);
        self.wake.notify_one();
    }

    pub(crate) async fn closed(&self) {
        let mut rx = self.closed.subscribe();
        // Err means the sender is gone, which cannot happen while `self` lives.
        let _ = rx.wait_for(|c| *c).await;
    }

    #[cfg(test)]
    pub(crate) fn queued_bytes(&self) -> usize {
        lock(&self.state).bytes
    }

    /// Everything queued so far, or `None` once closed.
    async fn next_batch(&self) -> Option<Vec<Outgoing>> {
        loop {
            {
                let mut st = lock(&self.state);
                if st.closed {
                    return None;
                }
                if !st.items.is_empty() {
                    return Some(Vec::from(std::mem::take(&mut st.items)));
                }
            }
            self.wake.notified().await;
        }
    }

    fn written(&self, cost: usize) {
        let mut st = lock(&self.state);
        st.bytes = st.bytes.saturating_sub(cost);
    }
}

/// The writer task: drain the queue into the socket until the queue closes or a
/// write fails; either way the connection is over, so close the queue.
async fn write_task(queue: Arc<OutQueue>, w: WriteHalf, label: PeerLabel) {
    let result = tokio::select! {
        r = write_loop(&queue, w) => r,
        // A peer that stopped reading leaves write_all pending forever; closing
        // the queue (peer gone, or socket dropped) must still end this task.
        _ = queue.closed() => Ok(()),
    };
    if let Err(e) = result {
        log::debug!("{label} write failed: {e}");
    }
    queue.close();
}

async fn write_loop(queue: &OutQueue, w: WriteHalf) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(WRITE_BUFFER, w);
    while let Some(batch) = queue.next_batch().await {
        let mut cost = 0usize;
        for item in &batch {
            cost = cost.saturating_add(item.cost());
            match item {
                Outgoing::Message(frames) => {
                    for (i, body) in frames.iter().enumerate() {
                        let more = if i + 1 < frames.len() {
                            frame::FLAG_MORE
                        } else {
                            0
                        };
                        write_frame(&mut w, more, body).await?;
                    }
                }
                Outgoing::Command(body) => write_frame(&mut w, frame::FLAG_COMMAND, body).await?,
            }
        }
        w.flush().await?;
        // Only now is the batch's memory released, so a stalled peer holds at
        // most peer_queue_bytes in total.
        drop(batch);
        queue.written(cost);
    }
    Ok(())
}

async fn write_frame(w: &mut BufWriter<WriteHalf>, flags: u8, body: &Bytes) -> io::Result<()> {
    let (h, n) = frame::header(flags, body.len());
    w.write_all(&h[..n]).await?;
    w.write_all(body).await
}
