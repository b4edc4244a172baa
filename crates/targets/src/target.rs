//! The seam every target implements: starting processes in a PTY and without one, copying
//! files, and what a process and a target report; plus the small pieces both targets share.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Told how far a file transfer is: bytes done, and the total when known.
pub type Progress = std::sync::Arc<dyn Fn(u64, Option<u64>) + Send + Sync>;

/// Copy between two streams in chunks, reporting progress.
pub async fn copy_with_progress<R, W>(
    mut from: R,
    mut to: W,
    total: Option<u64>,
    progress: &Progress,
) -> std::io::Result<u64>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 256 * 1024];
    let mut done = 0u64;
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n]).await?;
        done += n as u64;
        progress(done, total);
    }
    to.flush().await?;
    to.shutdown().await?;
    Ok(done)
}

/// A file on the kernel's machine, opened to be read (`write` false) or created to be
/// written; a failure names it.
pub(crate) async fn local_file(
    path: &std::path::Path,
    write: bool,
) -> Result<tokio::fs::File, TargetError> {
    let opened = if write {
        tokio::fs::File::create(path).await
    } else {
        tokio::fs::File::open(path).await
    };
    opened.map_err(|source| TargetError::LocalFile {
        action: if write { "write" } else { "read" },
        path: path.to_owned(),
        source,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("could not start {what}: {source}")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("the connection to {host} is lost: {reason}")]
    ConnectionLost { host: String, reason: String },
    /// sshd refused to open another channel; the connection itself is fine.
    #[error(
        "{host} refused a new session on the connection ({why}); sshd allows MaxSessions of them per connection (10 unless its sshd_config says otherwise), and the connection is kept: run the cell again once fewer are open"
    )]
    SessionRefused { host: String, why: String },
    #[error("the host refused the SFTP subsystem: {0}")]
    SftpRefused(#[source] russh::Error),
    #[error("SFTP failed to start: {0}")]
    SftpStart(#[source] russh_sftp::client::error::Error),
    /// A file on the target (`action`: read, write).
    #[error("cannot {action} {path} on {host}: {source}")]
    RemoteFile {
        action: &'static str,
        path: String,
        host: String,
        source: russh_sftp::client::error::Error,
    },
    /// A file on the kernel's machine (`action`: read, write).
    #[error("cannot {action} {} here: {source}", path.display())]
    LocalFile {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A copy that failed after both ends were open.
    #[error("copying {from} to {to}: {source}")]
    Copy {
        from: String,
        to: String,
        source: std::io::Error,
    },
    /// The kernel is shutting down: nothing new is started.
    #[error("the kernel is shutting down")]
    ShuttingDown,
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

/// `exit status 3`, `killed by signal KILL`, or why it is not known.
impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit status {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}"),
            Exit::Unknown(w) => f.write_str(w),
        }
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
    /// Send a signal to other process groups on the target, by id: groups of their own that
    /// the cell's processes made (`timeout` does), which the terminal's Ctrl-C and the
    /// cell's group do not reach. Ids of 0 and 1 are never signalled.
    SignalGroups {
        signal: &'static str,
        groups: Vec<i32>,
    },
}

/// A process running in a PTY on a target. Output arrives in chunks as read; `exit`
/// resolves when the process has ended, and `output` closes once the PTY is drained.
pub struct PtyProcess {
    pub output: mpsc::Receiver<Bytes>,
    pub input: mpsc::UnboundedSender<PtyInput>,
    pub exit: oneshot::Receiver<Exit>,
}

/// A long-lived process without a PTY, talked to through its stdin and stdout (the
/// completion helper). `output` closes when the process's stdout does (it ended);
/// stderr is discarded. Dropping the sender ends the process: its stdin is closed and,
/// as a helper may be stuck in a read, the local one is killed and the SSH channel closed.
pub struct PipeProcess {
    pub input: mpsc::UnboundedSender<Bytes>,
    pub output: mpsc::Receiver<Bytes>,
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
    /// Start `command` without a PTY, its stdin and stdout kept open for requests.
    fn spawn_pipe(&self, command: &str) -> BoxFuture<'_, Result<PipeProcess, TargetError>>;
    /// Run `command` without a PTY, feeding `stdin`.
    fn exec(&self, command: &str, stdin: Vec<u8>)
    -> BoxFuture<'_, Result<ExecOutput, TargetError>>;
    /// Copy a file from the kernel's machine to the target (`remote` is absolute).
    fn upload(
        &self,
        local: PathBuf,
        remote: String,
        progress: Progress,
    ) -> BoxFuture<'_, Result<u64, TargetError>>;
    /// Copy a file from the target (`remote` is absolute) to the kernel's machine.
    fn download(
        &self,
        remote: String,
        local: PathBuf,
        progress: Progress,
    ) -> BoxFuture<'_, Result<u64, TargetError>>;
    /// Close connections; the target is not used afterwards.
    fn close(&self) -> BoxFuture<'_, ()>;
}
