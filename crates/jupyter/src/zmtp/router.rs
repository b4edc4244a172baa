//! ROUTER (RFC 23 "The ROUTER Socket Type"; used for Jupyter's shell, control
//! and stdin): every peer gets an identity, incoming messages are tagged with it,
//! and replies are routed by it.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::command::SocketType;
use super::frame::Event;
use super::peer::{
    self, Connected, OutQueue, Outgoing, PeerError, PeerLabel, PeerSlot, common_command, lock,
};
use super::socket::{Identity, Limits, SendError};
use super::transport::{Endpoint, Listener, PeerAddr, Stream};

/// Messages read but not yet taken by `recv`. When it is full, peer readers stop
/// reading, so a flood turns into TCP backpressure on the flooding peer instead
/// of memory.
const INBOX_CAPACITY: usize = 64;

/// A bound ROUTER socket. Dropping it disconnects every peer.
pub struct RouterSocket {
    port: u16,
    inbox: mpsc::Receiver<(Identity, Vec<Bytes>)>,
    shared: Arc<RouterShared>,
    /// Dropping this ends the accept loop and every connection task.
    _shutdown: watch::Sender<()>,
}

/// Queues replies to this socket's peers. Cheap to clone, usable from any task.
#[derive(Clone)]
pub struct RouterSender {
    shared: Arc<RouterShared>,
}

struct RouterShared {
    peers: Mutex<HashMap<Identity, RouterPeer>>,
    /// libzmq-style generated identities: `[0x00, counter as u32 BE]`.
    next_generated: AtomicU32,
    /// Tells connections apart when an identity is reused after a disconnect.
    next_conn: AtomicU64,
    closed: AtomicBool,
}

struct RouterPeer {
    conn: u64,
    queue: Arc<OutQueue>,
}

impl RouterSocket {
    /// Listen on `ip:port` over TCP (`port` 0 picks a free port; see [`RouterSocket::port`]).
    pub async fn bind(ip: &str, port: u16, limits: Limits) -> io::Result<RouterSocket> {
        let ip = ip.to_owned();
        Self::bind_at(&Endpoint::Tcp { ip, port }, limits).await
    }

    /// Listen at `endpoint` (TCP or ipc).
    pub async fn bind_at(endpoint: &Endpoint, limits: Limits) -> io::Result<RouterSocket> {
        let listener = Listener::bind(endpoint).await?;
        let port = listener.port()?;
        let (inbox_tx, inbox) = mpsc::channel(INBOX_CAPACITY);
        let (shutdown_tx, shutdown_rx) = watch::channel(());
        let shared = Arc::new(RouterShared {
            peers: Mutex::new(HashMap::new()),
            // libzmq starts its counter at a random value too.
            next_generated: AtomicU32::new(rand::random()),
            next_conn: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        let accept_shared = shared.clone();
        let accept_shutdown = shutdown_rx.clone();
        peer::spawn_accept_loop(
            listener,
            "ROUTER",
            limits.max_peers,
            shutdown_rx,
            move |stream, addr, slot| {
                tokio::spawn(serve_peer(
                    stream,
                    addr,
                    slot,
                    accept_shared.clone(),
                    inbox_tx.clone(),
                    limits.clone(),
                    accept_shutdown.clone(),
                ));
            },
        );
        Ok(RouterSocket {
            port,
            inbox,
            shared,
            _shutdown: shutdown_tx,
        })
    }

    /// The TCP port actually bound (0 for ipc).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next complete message from any peer, with that peer's identity.
    ///
    /// A misbehaving peer never surfaces here: it is logged (`log::warn!`, naming
    /// its address and what it did) and disconnected, and `recv` goes on. Returns
    /// `None` only once the socket has shut down. Cancel-safe.
    pub async fn recv(&mut self) -> Option<(Identity, Vec<Bytes>)> {
        self.inbox.recv().await
    }

    pub fn sender(&self) -> RouterSender {
        RouterSender {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for RouterSocket {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        lock(&self.shared.peers).clear();
    }
}

impl RouterSender {
    /// Queue a message (its frames, without the identity) for the peer `to`.
    /// Never blocks. `NoSuchPeer` if it is not (or no longer) connected, which
    /// callers treat as non-fatal; `QueueFull` past `peer_queue_bytes`;
    /// `Closed` once the socket is dropped.
    pub fn send(&self, to: &Identity, frames: Vec<Bytes>) -> Result<(), SendError> {
        if frames.is_empty() {
            return Err(SendError::EmptyMessage);
        }
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(SendError::Closed);
        }
        let queue = lock(&self.shared.peers)
            .get(to)
            .map(|p| p.queue.clone())
            .ok_or(SendError::NoSuchPeer)?;
        queue.push(Outgoing::Message(frames))
    }
}

impl RouterShared {
    /// Give a newly connected peer its identity (RFC 23 "The Identity property";
    /// identities starting with 0x00 are reserved for generated ones, as in
    /// libzmq) and make it reachable.
    fn register(
        &self,
        label: PeerLabel,
        asked: Option<Bytes>,
        queue: &Arc<OutQueue>,
    ) -> (Identity, u64) {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let mut peers = lock(&self.peers);
        let identity = match asked {
            Some(id) if !id.is_empty() && id[0] != 0 => {
                if peers.contains_key(&id) {
                    log::info!(
                        "{label} asked for identity {id:?}, already connected; giving it a generated one"
                    );
                    self.generate(&peers)
                } else {
                    id
                }
            }
            _ => self.generate(&peers),
        };
        peers.insert(
            identity.clone(),
            RouterPeer {
                conn,
                queue: queue.clone(),
            },
        );
        (identity, conn)
    }

    fn generate(&self, peers: &HashMap<Identity, RouterPeer>) -> Identity {
        loop {
            let n = self.next_generated.fetch_add(1, Ordering::Relaxed);
            let mut id = [0u8; 5];
            id[1..].copy_from_slice(&n.to_be_bytes());
            let id = Bytes::copy_from_slice(&id);
            if !peers.contains_key(&id) {
                return id;
            }
        }
    }

    /// Forget a peer, unless its identity now belongs to a newer connection.
    fn unregister(&self, identity: &Identity, conn: u64) {
        let mut peers = lock(&self.peers);
        if peers.get(identity).is_some_and(|p| p.conn == conn) {
            peers.remove(identity);
        }
    }
}

async fn serve_peer(
    stream: Stream,
    addr: PeerAddr,
    _slot: PeerSlot,
    shared: Arc<RouterShared>,
    inbox: mpsc::Sender<(Identity, Vec<Bytes>)>,
    limits: Limits,
    mut shutdown: watch::Receiver<()>,
) {
    let label = PeerLabel {
        kind: "ROUTER",
        addr,
    };
    let established = tokio::select! {
        c = peer::establish(stream, label, SocketType::Router, &limits, peer::HANDSHAKE_TIMEOUT) => c,
        _ = shutdown.changed() => None,
    };
    let Some(Connected {
        label,
        info,
        mut reader,
        queue,
    }) = established
    else {
        return;
    };
    let (identity, conn) = shared.register(label, info.identity, &queue);
    log::debug!(
        "{label} connected as {} with identity {identity:?}",
        info.socket_type.as_str()
    );
    let read_loop = async {
        loop {
            match reader.next().await? {
                None => return Ok(()),
                Some(Event::Message(frames)) => {
                    // Waiting here is the backpressure: this peer's TCP stream is
                    // not read while the inbox is full.
                    if inbox.send((identity.clone(), frames)).await.is_err() {
                        return Ok(());
                    }
                }
                // SUBSCRIBE/CANCEL mean nothing to a ROUTER; ignore like unknown.
                Some(Event::Command(body)) => {
                    common_command(label, body, &queue)?;
                }
            }
        }
    };
    let result: Result<(), PeerError> = peer::until_closed(read_loop, &queue, &mut shutdown).await;
    // A disconnected peer's queued output is dropped with it.
    shared.unregister(&identity, conn);
    queue.close();
    peer::log_end(label, &result);
}
