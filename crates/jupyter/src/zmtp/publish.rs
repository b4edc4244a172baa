//! PUB (RFC 23 "The PUB Socket Type"; used for Jupyter's IOPub): messages go to
//! each subscriber whose subscription is a prefix of the first frame. Each
//! subscriber has its own bounded queue, so a slow one only loses its own
//! messages and never slows the publisher or the others.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::watch;

use super::command::{Command, SocketType};
use super::frame::Event;
use super::peer::{
    self, Connected, OutQueue, Outgoing, PeerError, PeerLabel, PeerSlot, common_command, lock,
};
use super::socket::{Limits, SendError};
use super::transport::{Endpoint, Listener, PeerAddr, Stream};

/// Bytes a subscriber's queue may hold beyond `peer_queue_bytes` for
/// [`Publisher::publish_status`]: some 2 000 status messages.
pub const STATUS_RESERVE: usize = 1024 * 1024;

/// A bound PUB socket. Dropping it disconnects every subscriber; publishers
/// cloned from it then publish to no one.
pub struct PubSocket {
    port: u16,
    publisher: Publisher,
    /// Dropping this ends the accept loop and every connection task.
    _shutdown: watch::Sender<()>,
}

/// Publishes on a [`PubSocket`]. Cheap to clone, usable from any task, never
/// blocks.
#[derive(Clone)]
pub struct Publisher {
    shared: Arc<PubShared>,
}

struct PubShared {
    subscribers: Mutex<HashMap<u64, Arc<Subscriber>>>,
    next_conn: AtomicU64,
    /// Bumped at every subscription, for [`Publisher::subscribed`].
    subscriptions: watch::Sender<u64>,
    closed: AtomicBool,
}

struct Subscriber {
    label: PeerLabel,
    queue: Arc<OutQueue>,
    topics: Mutex<Topics>,
    /// Messages dropped for this subscriber in the current burst.
    dropped: AtomicU64,
    /// Whether we are in a burst of drops (warned once at its start).
    dropping: AtomicBool,
}

/// A subscriber's subscriptions, counted like libzmq's trie: subscribing twice
/// needs two cancels. Bounded (by `max_frames` topics and `max_message` bytes in
/// all) so a peer cannot grow it without limit.
#[derive(Default)]
struct Topics {
    list: Vec<(Bytes, u64)>,
    bytes: usize,
}

impl Topics {
    fn subscribe(&mut self, topic: Bytes, limits: &Limits) -> Result<(), PeerError> {
        if let Some((_, n)) = self.list.iter_mut().find(|(t, _)| *t == topic) {
            *n = n.saturating_add(1);
            return Ok(());
        }
        if self.list.len() >= limits.max_frames {
            return Err(PeerError::TooManySubscriptions {
                what: "more topics than max_frames",
            });
        }
        if self.bytes.saturating_add(topic.len()) > limits.max_message {
            return Err(PeerError::TooManySubscriptions {
                what: "topics longer than max_message in all",
            });
        }
        self.bytes += topic.len();
        self.list.push((topic, 1));
        Ok(())
    }

    fn cancel(&mut self, topic: &[u8]) {
        if let Some(i) = self.list.iter().position(|(t, _)| t == topic) {
            self.list[i].1 -= 1;
            if self.list[i].1 == 0 {
                let (t, _) = self.list.swap_remove(i);
                self.bytes -= t.len();
            }
        }
    }

    fn matches(&self, first_frame: &[u8]) -> bool {
        self.list.iter().any(|(t, _)| first_frame.starts_with(t))
    }
}

impl PubSocket {
    /// Listen on `ip:port` over TCP (`port` 0 picks a free port; see [`PubSocket::port`]).
    pub async fn bind(ip: &str, port: u16, limits: Limits) -> io::Result<PubSocket> {
        let ip = ip.to_owned();
        Self::bind_at(&Endpoint::Tcp { ip, port }, limits).await
    }

    /// Listen at `endpoint` (TCP or ipc).
    pub async fn bind_at(endpoint: &Endpoint, limits: Limits) -> io::Result<PubSocket> {
        let listener = Listener::bind(endpoint).await?;
        let port = listener.port()?;
        let (shutdown_tx, shutdown_rx) = watch::channel(());
        let shared = Arc::new(PubShared {
            subscribers: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            subscriptions: watch::Sender::new(0),
            closed: AtomicBool::new(false),
        });
        let accept_shared = shared.clone();
        let accept_shutdown = shutdown_rx.clone();
        peer::spawn_accept_loop(
            listener,
            "PUB",
            limits.max_peers,
            shutdown_rx,
            move |stream, addr, slot| {
                tokio::spawn(serve_subscriber(
                    stream,
                    addr,
                    slot,
                    accept_shared.clone(),
                    limits.clone(),
                    accept_shutdown.clone(),
                ));
            },
        );
        Ok(PubSocket {
            port,
            publisher: Publisher { shared },
            _shutdown: shutdown_tx,
        })
    }

    /// The TCP port actually bound (0 for ipc).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn publisher(&self) -> Publisher {
        self.publisher.clone()
    }
}

impl Drop for PubSocket {
    fn drop(&mut self) {
        self.publisher.shared.closed.store(true, Ordering::Release);
        lock(&self.publisher.shared.subscribers).clear();
    }
}

impl Publisher {
    /// Queue `frames` for every subscriber with a subscription that is a prefix
    /// of `frames[0]`. Never blocks: where a subscriber's queue is full
    /// (`peer_queue_bytes`) the message is dropped for that subscriber only,
    /// counted, and warned about once per burst. An empty message is ignored.
    pub fn publish(&self, frames: Vec<Bytes>) {
        self.publish_within(frames, 0);
    }

    /// Like [`Publisher::publish`], for small messages a client cannot do
    /// without (Jupyter's busy/idle: a client that misses an idle waits for it
    /// forever): where a subscriber's queue is full of bulk output they still go,
    /// into a reserve of [`STATUS_RESERVE`] bytes beyond `peer_queue_bytes`.
    /// Only a subscriber that has stopped reading for good fills that too.
    pub fn publish_status(&self, frames: Vec<Bytes>) {
        self.publish_within(frames, STATUS_RESERVE);
    }

    fn publish_within(&self, frames: Vec<Bytes>, reserve: usize) {
        let Some(topic) = frames.first() else {
            return;
        };
        let subscribers = lock(&self.shared.subscribers);
        for s in subscribers.values() {
            if !lock(&s.topics).matches(topic) {
                continue;
            }
            match s
                .queue
                .push_with_reserve(Outgoing::Message(frames.clone()), reserve)
            {
                Ok(()) => {
                    if s.dropping.swap(false, Ordering::AcqRel) {
                        let n = s.dropped.swap(0, Ordering::AcqRel);
                        log::info!("{} caught up; {n} messages were dropped for it", s.label);
                    }
                }
                Err(SendError::QueueFull) => {
                    s.dropped.fetch_add(1, Ordering::AcqRel);
                    if !s.dropping.swap(true, Ordering::AcqRel) {
                        log::warn!(
                            "{} is not keeping up (peer_queue_bytes full); dropping messages for it",
                            s.label
                        );
                    }
                }
                // Disconnecting right now: nothing to deliver to.
                Err(_) => {}
            }
        }
    }

    /// Connected subscribers holding at least one subscription.
    pub fn subscriber_count(&self) -> usize {
        lock(&self.shared.subscribers)
            .values()
            .filter(|s| !lock(&s.topics).list.is_empty())
            .count()
    }

    /// Resolves at the next subscription to arrive after this future is first
    /// polled (a subscription that arrived earlier does not count: check
    /// [`Publisher::subscriber_count`] first). Wrap it in a timeout: it never
    /// resolves if nobody subscribes.
    pub async fn subscribed(&self) {
        let mut rx = self.shared.subscriptions.subscribe();
        // The sender lives in `shared`, which `self` keeps alive.
        let _ = rx.changed().await;
    }

    /// Messages dropped for slow subscribers in their current bursts (tests).
    #[cfg(test)]
    pub(crate) fn dropped(&self) -> u64 {
        lock(&self.shared.subscribers)
            .values()
            .map(|s| s.dropped.load(Ordering::Acquire))
            .sum()
    }

    /// Bytes queued for each subscriber (tests).
    #[cfg(test)]
    pub(crate) fn queued_bytes(&self) -> Vec<usize> {
        lock(&self.shared.subscribers)
            .values()
            .map(|s| s.queue.queued_bytes())
            .collect()
    }
}

async fn serve_subscriber(
    stream: Stream,
    addr: PeerAddr,
    _slot: PeerSlot,
    shared: Arc<PubShared>,
    limits: Limits,
    mut shutdown: watch::Receiver<()>,
) {
    let label = PeerLabel { kind: "PUB", addr };
    let established = tokio::select! {
        c = peer::establish(stream, label, SocketType::Pub, &limits, peer::HANDSHAKE_TIMEOUT) => c,
        _ = shutdown.changed() => None,
    };
    let Some(Connected {
        label,
        mut reader,
        queue,
        ..
    }) = established
    else {
        return;
    };
    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let subscriber = Arc::new(Subscriber {
        label,
        queue: queue.clone(),
        topics: Mutex::new(Topics::default()),
        dropped: AtomicU64::new(0),
        dropping: AtomicBool::new(false),
    });
    if !shared.closed.load(Ordering::Acquire) {
        lock(&shared.subscribers).insert(conn, subscriber.clone());
    }
    let subscribe = |topic: Bytes| -> Result<(), PeerError> {
        lock(&subscriber.topics).subscribe(topic, &limits)?;
        shared.subscriptions.send_modify(|n| *n = n.wrapping_add(1));
        Ok(())
    };
    let read_loop = async {
        loop {
            match reader.next().await? {
                None => return Ok(()),
                // RFC 23 (ZMTP 3.0) "The SUB Socket Type": a subscription is a
                // message whose first byte is 1 (subscribe) or 0 (cancel),
                // followed by the topic. Anything else a SUB sends is ignored.
                Some(Event::Message(frames)) => match frames.first() {
                    Some(f) if f.first() == Some(&1) => subscribe(f.slice(1..))?,
                    Some(f) if f.first() == Some(&0) => lock(&subscriber.topics).cancel(&f[1..]),
                    _ => {}
                },
                // RFC 37 (ZMTP 3.1): the same as SUBSCRIBE / CANCEL commands.
                Some(Event::Command(body)) => match common_command(label, body, &queue)? {
                    Some(Command::Subscribe(topic)) => subscribe(topic)?,
                    Some(Command::Cancel(topic)) => lock(&subscriber.topics).cancel(&topic),
                    _ => {}
                },
            }
        }
    };
    let result: Result<(), PeerError> = peer::until_closed(read_loop, &queue, &mut shutdown).await;
    lock(&shared.subscribers).remove(&conn);
    queue.close();
    peer::log_end(label, &result);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_counted_prefixes() {
        let limits = Limits::default();
        let mut t = Topics::default();
        assert!(!t.matches(b"anything"));
        t.subscribe(Bytes::from_static(b"io"), &limits).expect("ok");
        t.subscribe(Bytes::from_static(b"io"), &limits).expect("ok");
        assert!(t.matches(b"iopub.stream") && !t.matches(b"i") && !t.matches(b"shell"));
        t.cancel(b"io");
        assert!(t.matches(b"io"), "subscribed twice, cancelled once");
        t.cancel(b"io");
        assert!(!t.matches(b"io"));
        assert_eq!(t.bytes, 0);
        t.subscribe(Bytes::new(), &limits).expect("ok");
        assert!(t.matches(b"") && t.matches(b"x"));
    }

    #[test]
    fn topics_are_bounded() {
        let limits = Limits {
            max_frames: 2,
            max_message: 5,
            ..Limits::default()
        };
        let mut t = Topics::default();
        t.subscribe(Bytes::from_static(b"a"), &limits).expect("ok");
        assert!(
            t.subscribe(Bytes::from_static(b"toolong"), &limits)
                .is_err()
        );
        t.subscribe(Bytes::from_static(b"b"), &limits).expect("ok");
        assert!(t.subscribe(Bytes::from_static(b"c"), &limits).is_err());
    }
}
