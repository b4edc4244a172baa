//! Our own ZeroMQ transport: the subset of ZMTP 3.0 (RFC 23,
//! <https://rfc.zeromq.org/spec/23/>) plus the ZMTP 3.1 commands PING/PONG and
//! SUBSCRIBE/CANCEL (RFC 37) that a Jupyter kernel needs, over tokio TCP or Unix
//! sockets (Jupyter's `ipc` transport, see `transport`) with the NULL security
//! mechanism only.
//!
//! Why not the `zeromq` crate: it reserves whatever a frame header announces, so
//! one peer announcing a 2^40-byte frame aborts the process. Here every size a
//! peer announces is checked against [`Limits`] before anything is allocated,
//! frame bodies are collected only as their bytes arrive, and a misbehaving peer
//! is logged and disconnected while the socket keeps serving the others.
//!
//! Sockets: [`RouterSocket`] (shell, control, stdin), [`PubSocket`] (IOPub) and
//! [`serve_heartbeat`] (a REP that echoes). All of them bind and accept; none
//! connects.
//!
//! Where things live: `greeting` (the 64-octet greeting), `frame` (framing:
//! pure decoder and encoder), `command` (READY, PING, … and socket types),
//! `peer` (one connection: handshake, reader, bounded output queue, writer),
//! `transport` (where a socket listens: TCP or a Unix socket, and the streams),
//! then one file per socket type.

mod command;
mod frame;
mod greeting;
mod heartbeat;
mod peer;
mod publish;
mod router;
mod socket;
#[cfg(test)]
mod tests;
mod transport;

/// The pure decoders, reachable for the fuzz targets in `fuzz/` only: not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use super::command::{Command, CommandError, parse as parse_command};
    pub use super::frame::{DecodeError, Decoder, Event, FrameLimits};
}

pub use bytes::Bytes;
pub use heartbeat::{
    HeartbeatThread, serve_heartbeat, serve_heartbeat_at, serve_heartbeat_on_thread,
};
pub use publish::{PubSocket, Publisher};
pub use router::{RouterSender, RouterSocket};
pub use socket::{Identity, Limits, SendError};
pub use transport::Endpoint;
