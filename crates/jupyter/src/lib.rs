//! The Jupyter side of sshpty: what a kernel needs to talk to Jupyter's clients, and nothing
//! of shells or targets.
//!
//! - `zmtp`: ZeroMQ's wire protocol (ZMTP 3.0, NULL security): ROUTER, PUB, heartbeat, bounded.
//! - `wire`: Jupyter messages on top of it: framing, HMAC-SHA256, parsing.
//! - `connection`: the connection file Jupyter hands a kernel.
//! - `channels`: sending on the kernel's channels: IOPub, replies, stdin questions.
//! - `pacing`: IOPub output paced under jupyter_server's rate limits.

pub mod channels;
pub mod connection;
pub mod pacing;
pub mod wire;
pub mod zmtp;
