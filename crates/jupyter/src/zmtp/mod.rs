//! Our own ZeroMQ transport: the subset of ZMTP 3.0 (RFC 23,
//! <https://rfc.zeromq.org/spec/23/>) plus the ZMTP 3.1 commands PING/PONG and
//! SUBSCRIBE/CANCEL (RFC 37) that a Jupyter kernel needs, over tokio TCP with
//! the NULL security mechanism only.
//!
//! Why not the `zeromq` crate: it reserves whatever a frame header announces, so
//! one peer announcing a 2^40-byte frame aborts the process. Here every size a
//! peer announces is checked against [`Limits`] before anything is allocated,
//! frame bodies are collected only as their bytes arrive, and a misbehaving peer
//! is logged and disconnected while the socket keeps serving the others.
//!
//! Sockets: [`RouterSocket`] (shell, control, stdin), [`PubSocket`] (IOPub) and
//! [`serve_heartbeat`] (a REP that echoes). All of them bind and accept; none
//! connects. Jupyter's `ipc` transport (Unix sockets) is out of scope: only
//! `"transport": "tcp"` connection files are served.
//!
//! Where things live: `greeting` (the 64-octet greeting), `frame` (framing:
//! pure decoder and encoder), `command` (READY, PING, … and socket types),
//! `peer` (one connection: handshake, reader, bounded output queue, writer),
//! then one file per socket type.

mod command;
mod frame;
mod greeting;
mod heartbeat;
mod peer;
mod publish;
mod router;
#[cfg(test)]
mod tests;

/// The pure decoders, reachable for the fuzz targets in `fuzz/` only: not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use super::command::{Command, CommandError, parse as parse_command};
    pub use super::frame::{DecodeError, Decoder, Event, FrameLimits};
}

pub use bytes::Bytes;
pub use heartbeat::serve_heartbeat;
pub use publish::{PubSocket, Publisher};
pub use router::{RouterSender, RouterSocket};

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
