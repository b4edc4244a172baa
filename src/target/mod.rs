//! Where cells run. A target starts processes in a PTY (one per cell) and without one
//! (completion, context transfer, cleanup). Everything above this seam — the context
//! model, rendering, prompts — is the same for every target.

pub mod local;
pub mod ssh;

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("could not start {what}: {source}")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("the connection to {host} is lost: {reason}")]
    ConnectionLost { host: String, reason: String },
    #[error("{0}")]
    Other(String),
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    /// Killed by a signal (name without SIG, e.g. "KILL").
    Signal(String),
    /// The target could not say (connection lost, channel closed without status).
    Unknown(String),
}

impl Exit {
    pub fn success(&self) -> bool {
        matches!(self, Exit::Code(0))
    }
}

/// What the kernel sends into a running PTY process.
#[derive(Debug)]
pub enum PtyInput {
    Data(Bytes),
    Resize {
        cols: u16,
        rows: u16,
    },
    /// Hang up: close the PTY (SIGHUP to its session), as closing a terminal window does.
    HangUp,
    /// Send a signal to the cell's process group: that of the session leader (the cell's
    /// shell), whose pid the runner reported (`pid`; 0 when not known yet).
    SignalGroup {
        signal: &'static str,
        pid: i32,
    },
}

/// A process running in a PTY on a target. Output arrives in chunks as read; `exit`
/// resolves when the process has ended, and `output` closes once the PTY is drained.
pub struct PtyProcess {
    pub output: mpsc::Receiver<Bytes>,
    pub input: mpsc::UnboundedSender<PtyInput>,
    pub exit: oneshot::Receiver<Exit>,
}

/// The output of a command run without a PTY.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit: Exit,
}

/// Facts about a target, for `%status`, the header and `%hosts`.
#[derive(Debug, Clone)]
pub struct TargetInfo {
    /// The name the user logged in with (`local`, `web1`).
    pub name: String,
    pub host: String,
    pub user: String,
    pub address: Option<String>,
    pub since: chrono::DateTime<chrono::Utc>,
    pub connected: bool,
}

/// The program a PTY process runs. For SSH this is an exec request run by the user's
/// login shell; the local target runs it with `/bin/sh -c`.
pub struct PtyCommand {
    pub command: String,
    pub cols: u16,
    pub rows: u16,
}

pub trait Target: Send + Sync {
    fn info(&self) -> TargetInfo;
    /// Start `command` in a new PTY. The PTY starts with echo, canonical mode and signal
    /// characters off (so the runner script can be written into it unseen); the script
    /// turns them back on.
    fn spawn_pty(&self, command: PtyCommand) -> BoxFuture<'_, Result<PtyProcess, TargetError>>;
    /// Run `command` without a PTY, feeding `stdin`.
    fn exec(&self, command: &str, stdin: Vec<u8>)
    -> BoxFuture<'_, Result<ExecOutput, TargetError>>;
    /// Close connections; the target is not used afterwards.
    fn close(&self) -> BoxFuture<'_, ()>;
}
