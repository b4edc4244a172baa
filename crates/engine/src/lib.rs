//! The engine: runs notebook cells on targets and carries the shell context between them.
//! It speaks to the world through `frontend` (a request's outputs, its questions, events for
//! a running cell) and knows nothing of Jupyter; the kernel binary adapts it.
//!
//! From the top: `run.rs` a request's course (magics, then shell text; completion;
//! shutdown), `magics/` each magic's parsing and running, `shell.rs` shell text on a host
//! and `conclude`, `session.rs` the shared state and handles (`Engine`). Below them:
//! `cell.rs` one payload in a PTY (markers, rendering, prompts, interrupt), `live.rs` its
//! live terminal, `sink.rs` where its output goes, `output.rs`,
//! `header.rs` and `display.rs` what a cell shows, `hosts.rs` the hosts and settings,
//! `failure.rs` why a request fails, `early.rs` (assignments before any login, pure), `sudo.rs` sudo passwords, `warm.rs` the next cell's
//! shell started ahead, `complete.rs` completion and inspection, `nonce.rs`,
//! `history.rs`, `shell_syntax.rs` (is_complete), `size.rs` (byte sizes), `marks.rs` (which
//! hosts are production, staging, …: patterns, pure) and `marks_file.rs` (the user's file), `presence.rs` (where the kernel is, for
//! a frontend's status bar).

mod cell;
mod complete;
mod display;
pub mod early;
mod failure;
#[cfg(test)]
mod fake;
pub mod frontend;
mod header;
pub mod history;
mod hosts;
mod live;
pub mod magics;
pub mod marks;
mod marks_file;
mod nonce;
mod on_hosts;
mod output;
mod pictures;
pub mod presence;
mod run;
mod sanitize;
pub mod secret_command;
mod session;
mod shell;
pub mod shell_syntax;
mod sink;
mod size;
mod stopping;
mod sudo;
#[cfg(test)]
mod tests;
mod warm;

pub use failure::{Failure, HOW_TO_LOGIN, MagicError, Outcome, Stage};
pub use hosts::{Condition, Host, Hosts, Login, Settings};
pub use run::Cell;
pub use session::{Engine, Options, State};
/// The kernel raises its open-file limit before it starts (one fd per fleet host).
pub use targets::limits;
