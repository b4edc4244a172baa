//! sshpty: a Jupyter kernel that runs each notebook cell in a PTY on a target
//! (this machine, or a server over SSH), carrying the shell state between cells
//! on the kernel's side.
//!
//! Where each concern lives:
//! - `zmtp`: ZeroMQ's wire protocol (ZMTP 3.0, NULL security), ROUTER/PUB/REP, bounded.
//! - `wire`: Jupyter messages on top of it: framing, HMAC-SHA256, parsing.
//! - `kernel`: the sockets served concurrently, request dispatch.
//! - `execute`: running one cell on a target: markers, output, interrupt, header.
//! - `context`: the client-side shell state: the runner script and the capture parser.
//! - `target`: where cells run (`local` PTY; SSH later), behind one trait.
//! - `magics`: `%login`, `%status`, … parsing and help.
//! - `shell_syntax`: is_complete for shell text.
//! - `history`: this kernel's input history.
//! - `install`: the kernelspec.

pub mod context;
pub mod execute;
pub mod history;
pub mod install;
pub mod kernel;
pub mod magics;
pub mod shell_syntax;
pub mod size;
pub mod target;
pub mod wire;
pub mod zmtp;
