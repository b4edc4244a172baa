//! What every socket shares: its resource bounds, a peer's identity, why a send failed.

use bytes::Bytes;

/// A ROUTER peer's identity: the `Identity` it announced in READY, or a
/// generated 5-byte `[0x00, counter as u32 BE]` (as libzmq does).
pub type Identity = Bytes;

const MIB: usize = 1024 * 1024;

/// Resource bounds of one socket. Each applies per socket; a peer exceeding a
/// frame or message bound is disconnected before the data is allocated.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest frame a peer may announce (default 64 MiB).
    pub max_frame: usize,
    /// Largest sum of a message's frame sizes (default 64 MiB).
    pub max_message: usize,
    /// Most frames in one message (default 1024).
    pub max_frames: usize,
    /// Most simultaneous connections; further ones are closed at once (default 128).
    pub max_peers: usize,
    /// Most outgoing bytes queued for one peer (default 32 MiB).
    pub peer_queue_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_frame: 64 * MIB,
            max_message: 64 * MIB,
            max_frames: 1024,
            max_peers: 128,
            peer_queue_bytes: 32 * MIB,
        }
    }
}

/// Why a message could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("no peer with that identity is connected (it may have disconnected)")]
    NoSuchPeer,
    #[error("the peer's outgoing queue is full (peer_queue_bytes): it is not reading")]
    QueueFull,
    #[error("the socket is closed")]
    Closed,
    #[error("a ZeroMQ message needs at least one frame")]
    EmptyMessage,
}
