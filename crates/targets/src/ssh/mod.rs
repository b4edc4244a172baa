//! The SSH target: one connection per host (over TCP, a ProxyCommand, or ProxyJump hops),
//! one channel with a PTY per cell, channels without a PTY for completion and cleanup.

pub mod algorithms;
pub mod config;
mod connect;
mod error;
pub mod known_hosts;
pub mod send_env;

pub use error::{Ask, SshError};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use russh::ChannelMsg;
use russh::Pty;
use russh::client::Handle;
use tokio::sync::{mpsc, oneshot};

use crate::target::{
    BoxFuture, ExecOutput, Exit, PipeProcess, Progress, PtyCommand, PtyInput, PtyProcess, Target,
    TargetError, TargetInfo, copy_with_progress, local_file,
};
use config::{HostConfig, LoginRequest};
use connect::Client;

/// The PTY starts quiet so the runner script can be written into it unseen (see
/// `context::script`): no echo, no canonical mode, no signal keys, no input mapping.
const QUIET_MODES: &[(Pty, u32)] = &[
    (Pty::ECHO, 0),
    (Pty::ICANON, 0),
    (Pty::ISIG, 0),
    (Pty::IEXTEN, 0),
    (Pty::IXON, 0),
    (Pty::ICRNL, 0),
    (Pty::IUTF8, 1),
];

pub struct SshTarget {
    info: Mutex<TargetInfo>,
    handle: Arc<Handle<Client>>,
    /// The ProxyJump hop the connection runs through (and the hops before it); kept open
    /// while any connection through it lives.
    _via: Option<Arc<Hop>>,
    /// The ProxyCommand process, if any (killed on drop).
    _proxy: Option<tokio::process::Child>,
    forward_agent: bool,
    /// What SendEnv and SetEnv ask each session channel to set come from it.
    config: Arc<HostConfig>,
    lost: Arc<AtomicBool>,
}

fn env_for_config() -> config::ConfigEnv {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    let local_user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default();
    let local_host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    config::ConfigEnv {
        home,
        local_user,
        local_host,
    }
}

/// After the kernel hangs a PTY channel up, how long its last output and exit status are
/// read for (sshd sends them, and closes the channel, once the process has exited).
const HUNG_UP_DRAIN: std::time::Duration = std::time::Duration::from_millis(300);

fn glob_paths(pattern: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = glob::glob(pattern)
        .map(|g| g.flatten().collect())
        .unwrap_or_default();
    v.sort();
    v
}

pub fn resolve(req: &LoginRequest) -> Result<HostConfig, SshError> {
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    Ok(config::resolve(req, &env_for_config(), &read, &glob_paths)?)
}

fn label(c: &HostConfig) -> String {
    if c.port == 22 {
        c.hostname.clone()
    } else {
        format!("[{}]:{}", c.hostname, c.port)
    }
}

async fn tcp(c: &HostConfig) -> Result<tokio::net::TcpStream, SshError> {
    let addr = format!("{}:{}", c.hostname, c.port);
    match tokio::time::timeout(
        connect::bound(c.connect_timeout),
        tokio::net::TcpStream::connect(&addr),
    )
    .await
    {
        Err(_) => Err(SshError::TcpTimeout {
            addr,
            secs: c.connect_timeout.as_secs(),
        }),
        Ok(Err(source)) => Err(SshError::Tcp { addr, source }),
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
    }
}

/// One connected, authenticated host, with what carries its connection.
struct Connected {
    config: Arc<HostConfig>,
    handle: Handle<Client>,
    via: Option<Arc<Hop>>,
    proxy: Option<tokio::process::Child>,
}

/// A connection that carries others: a ProxyJump hop. Every login through the same hop
/// shares it, as OpenSSH's ControlMaster would, so a fleet behind one bastion costs the
/// bastion one TCP connection and one login, and a channel per host after that. It lives
/// while any connection through it does.
struct Hop {
    handle: Handle<Client>,
    _via: Option<Arc<Hop>>,
    _proxy: Option<tokio::process::Child>,
}

/// The hops in use, by the request that reaches each. A hop being connected is held
/// locked, so logins that need it meanwhile wait for it rather than each making one.
type HopSlot = Arc<tokio::sync::Mutex<std::sync::Weak<Hop>>>;
static HOPS: std::sync::LazyLock<Mutex<HashMap<LoginRequest, HopSlot>>> =
    std::sync::LazyLock::new(Mutex::default);

/// The hop `req` reaches: the one in use, or a new one.
async fn hop(
    req: LoginRequest,
    ask: Ask,
    notes: Arc<Mutex<Vec<String>>>,
) -> Result<Arc<Hop>, SshError> {
    let slot = {
        let mut hops = HOPS.lock().unwrap_or_else(|e| e.into_inner());
        // Slots of hops gone and not being made: dropped, so the map stays small.
        hops.retain(|_, s| {
            Arc::strong_count(s) > 1 || s.try_lock().map_or(true, |w| w.strong_count() > 0)
        });
        hops.entry(req.clone()).or_default().clone()
    };
    let mut held = slot.lock().await;
    if let Some(h) = held.upgrade()
        && !h.handle.is_closed()
    {
        return Ok(h);
    }
    let c = connect_host(req, ask, notes).await?;
    let hop = Arc::new(Hop {
        handle: c.handle,
        _via: c.via,
        _proxy: c.proxy,
    });
    *held = Arc::downgrade(&hop);
    Ok(hop)
}

/// Connect as ssh(1) does: through the ProxyJump hops (each resolved as a host of its own,
/// its key checked by the same policy; see `HostConfig::proxy_request`), else a
/// ProxyCommand, else TCP.
fn connect_host(
    req: LoginRequest,
    ask: Ask,
    notes: Arc<Mutex<Vec<String>>>,
) -> BoxFuture<'static, Result<Connected, SshError>> {
    Box::pin(async move {
        let c = Arc::new(resolve(&req)?);
        if let Ok(mut n) = notes.lock() {
            for w in &c.warnings {
                if !n.contains(w) {
                    n.push(w.clone());
                }
            }
        }
        if let Some(via_req) = c.proxy_request(&req) {
            let via = hop(via_req, ask.clone(), notes.clone()).await?;
            let ch = via
                .handle
                .channel_open_direct_tcpip(c.hostname.clone(), c.port as u32, "127.0.0.1", 0)
                .await
                .map_err(|source| SshError::Jump {
                    label: label(&c),
                    source,
                })?;
            let handle =
                connect::handshake(ch.into_stream(), c.clone(), ask, notes, label(&c)).await?;
            return Ok(Connected {
                config: c,
                handle,
                via: Some(via),
                proxy: None,
            });
        }
        if let Some(cmd) = &c.proxy_command {
            let mut proxy = tokio::process::Command::new("/bin/sh");
            crate::limits::as_started(&mut proxy);
            let mut child = proxy
                .arg("-c")
                .arg(cmd)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .map_err(|source| SshError::ProxyCommand {
                    command: cmd.clone(),
                    source,
                })?;
            let (Some(out), Some(inp)) = (child.stdout.take(), child.stdin.take()) else {
                return Err(SshError::ProxyPipes {
                    command: cmd.clone(),
                });
            };
            let handle =
                connect::handshake(tokio::io::join(out, inp), c.clone(), ask, notes, label(&c))
                    .await?;
            return Ok(Connected {
                config: c,
                handle,
                via: None,
                proxy: Some(child),
            });
        }
        let handle = connect::handshake(tcp(&c).await?, c.clone(), ask, notes, label(&c)).await?;
        Ok(Connected {
            config: c,
            handle,
            via: None,
            proxy: None,
        })
    })
}

impl SshTarget {
    /// Resolve, connect (through every hop) and authenticate. `notes` collects what the
    /// user should see (config warnings, keys added).
    pub async fn login(
        name: &str,
        req: &LoginRequest,
        ask: Ask,
    ) -> Result<(SshTarget, Vec<String>), SshError> {
        let notes = Arc::new(Mutex::new(Vec::new()));
        let conn = connect_host(req.clone(), ask, notes.clone()).await?;
        let c = conn.config;
        let (handle, via, proxy) = (conn.handle, conn.via, conn.proxy);
        let target = SshTarget {
            info: Mutex::new(TargetInfo {
                name: name.to_owned(),
                host: c.hostname.clone(),
                user: c.user.clone(),
                address: Some(format!("{}:{}", c.hostname, c.port)),
                since: chrono::Utc::now(),
                connected: true,
            }),
            handle: Arc::new(handle),
            _via: via,
            _proxy: proxy,
            forward_agent: c.forward_agent,
            config: c.clone(),
            lost: Arc::new(AtomicBool::new(false)),
        };
        let notes = notes.lock().map(|n| n.clone()).unwrap_or_default();
        Ok((target, notes))
    }

    fn lost_error(&self) -> TargetError {
        self.lost.store(true, Ordering::Relaxed);
        let host = self.info.lock().map(|i| i.host.clone()).unwrap_or_default();
        TargetError::ConnectionLost {
            host,
            reason: "the SSH connection is closed (the server went away or stopped answering keepalives); %login again to reconnect".into(),
        }
    }

    async fn sftp(&self) -> Result<russh_sftp::client::SftpSession, TargetError> {
        let ch = self.open_session().await?;
        ch.request_subsystem(true, "sftp")
            .await
            .map_err(TargetError::SftpRefused)?;
        russh_sftp::client::SftpSession::new(ch.into_stream())
            .await
            .map_err(TargetError::SftpStart)
    }

    fn sftp_error(
        &self,
        action: &'static str,
        path: &str,
        source: russh_sftp::client::error::Error,
    ) -> TargetError {
        let host = self.info.lock().map(|i| i.host.clone()).unwrap_or_default();
        TargetError::RemoteFile {
            action,
            path: path.to_owned(),
            host,
            source,
        }
    }

    /// A new session channel on the connection; a closed connection is reported as lost.
    async fn open_session(&self) -> Result<russh::Channel<russh::client::Msg>, TargetError> {
        if self.is_closed() {
            return Err(self.lost_error());
        }
        match self.handle.channel_open_session().await {
            Ok(ch) => Ok(ch),
            // A refusal is an answer: the connection is alive (MaxSessions reached, say).
            Err(russh::Error::ChannelOpenFailure(why)) => Err(TargetError::SessionRefused {
                host: self.info.lock().map(|i| i.host.clone()).unwrap_or_default(),
                why: match why {
                    russh::ChannelOpenFailure::AdministrativelyProhibited => {
                        "administratively prohibited".into()
                    }
                    russh::ChannelOpenFailure::ResourceShortage => "resource shortage".into(),
                    russh::ChannelOpenFailure::ConnectFailed => "connect failed".into(),
                    russh::ChannelOpenFailure::UnknownChannelType => "unknown channel type".into(),
                    russh::ChannelOpenFailure::Other { code, reason } => {
                        format!("code {code}: {reason}")
                    }
                },
            }),
            Err(_) => Err(self.lost_error()),
        }
    }

    /// SendEnv and SetEnv on a session channel, before its PTY and command, as ssh does;
    /// without a reply asked for: the server's AcceptEnv decides, silently.
    async fn send_env(&self, ch: &russh::Channel<russh::client::Msg>) -> Result<(), russh::Error> {
        for (name, value) in send_env::from_process(&self.config) {
            ch.set_env(false, name, value).await?;
        }
        Ok(())
    }

    fn is_closed(&self) -> bool {
        self.handle.is_closed() || self.lost.load(Ordering::Relaxed)
    }
}

impl Target for SshTarget {
    fn info(&self) -> TargetInfo {
        let mut i = self
            .info
            .lock()
            .map(|i| i.clone())
            .unwrap_or_else(|e| e.into_inner().clone());
        i.connected = !self.is_closed();
        i
    }

    fn spawn_pty(&self, command: PtyCommand) -> BoxFuture<'_, Result<PtyProcess, TargetError>> {
        Box::pin(async move {
            let ch = self.open_session().await?;
            let req = async {
                self.send_env(&ch).await?;
                ch.request_pty(
                    false,
                    "xterm-256color",
                    command.cols as u32,
                    command.rows as u32,
                    0,
                    0,
                    QUIET_MODES,
                )
                .await?;
                if self.forward_agent {
                    ch.agent_forward(false).await?;
                }
                ch.exec(false, command.command.as_bytes()).await
            };
            req.await.map_err(|_| self.lost_error())?;
            let (mut read, write) = ch.split();
            let (out_tx, out_rx) = mpsc::channel::<Bytes>(64);
            let (in_tx, mut in_rx) = mpsc::unbounded_channel::<PtyInput>();
            let (exit_tx, exit_rx) = oneshot::channel();
            // Set when the kernel hangs the channel up (closes it). sshd answers that close
            // only once the session's process has exited, and a process that ignores the
            // hang-up lives on: the reader then stops on its own after HUNG_UP_DRAIN, so no
            // task or channel is left behind per hung-up shell.
            let (hung_tx, mut hung_rx) = tokio::sync::watch::channel(false);
            // Every channel has its own reader: in russh one unread channel stalls the
            // whole connection.
            tokio::spawn(async move {
                let mut exit: Option<Exit> = None;
                let mut out_open = true;
                let mut watching = true;
                let mut drain_until: Option<tokio::time::Instant> = None;
                loop {
                    let msg = tokio::select! {
                        m = read.wait() => m,
                        r = hung_rx.changed(), if watching && drain_until.is_none() => {
                            match r {
                                Ok(()) if *hung_rx.borrow() => {
                                    drain_until = Some(tokio::time::Instant::now() + HUNG_UP_DRAIN);
                                }
                                Ok(()) => {}
                                // The writer ended without hanging up: read to the close.
                                Err(_) => watching = false,
                            }
                            continue;
                        }
                        _ = tokio::time::sleep_until(drain_until.unwrap_or_else(tokio::time::Instant::now)),
                            if drain_until.is_some() => {
                            exit.get_or_insert_with(|| Exit::Unknown("the terminal was hung up".into()));
                            break;
                        }
                    };
                    let Some(msg) = msg else { break };
                    match msg {
                        // Once the kernel stops listening, keep draining: an unread
                        // channel would stall the connection.
                        ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. }
                            if out_open =>
                        {
                            out_open = out_tx.send(data).await.is_ok();
                        }
                        // The exit status arrives before the last output: keep reading
                        // until the channel closes.
                        ChannelMsg::ExitStatus { exit_status } => {
                            exit = Some(Exit::Code(exit_status as i32))
                        }
                        ChannelMsg::ExitSignal { signal_name, .. } => {
                            exit = Some(Exit::Signal(connect::sig_name(&signal_name)))
                        }
                        ChannelMsg::Close => break,
                        _ => {}
                    }
                }
                drop(out_tx);
                let _ = exit_tx.send(exit.unwrap_or_else(|| {
                    Exit::Unknown("the SSH connection was lost while the cell ran".into())
                }));
            });
            let handle = self.handle.clone();
            tokio::spawn(async move {
                while let Some(input) = in_rx.recv().await {
                    let r = match input {
                        PtyInput::Data(d) => write.data_bytes(d).await,
                        PtyInput::Resize { cols, rows } => {
                            write.window_change(cols as u32, rows as u32, 0, 0).await
                        }
                        // Closing the channel makes sshd hang up the PTY (SIGHUP).
                        PtyInput::HangUp => {
                            let _ = hung_tx.send(true);
                            write.close().await
                        }
                        PtyInput::SignalGroup { signal, pid } => {
                            // The SSH `signal` request is refused by many sshd versions;
                            // a second channel running kill reaches the process group.
                            if pid > 0 {
                                let cmd = format!(
                                    "kill -{signal} -- -{pid} 2>/dev/null; kill -{signal} {pid} 2>/dev/null; true"
                                );
                                let _ = connect::exec(&handle, &cmd, b"", 4096).await;
                            }
                            Ok(())
                        }
                        PtyInput::SignalGroups { signal, groups } => {
                            let cmd: String = groups
                                .iter()
                                .filter(|&&g| g > 1)
                                .map(|g| format!("kill -{signal} -- -{g} 2>/dev/null; "))
                                .collect();
                            if !cmd.is_empty() {
                                let cmd = cmd + "true";
                                let _ = connect::exec(&handle, &cmd, b"", 4096).await;
                            }
                            Ok(())
                        }
                    };
                    if r.is_err() {
                        break;
                    }
                }
            });
            Ok(PtyProcess {
                output: out_rx,
                input: in_tx,
                exit: exit_rx,
            })
        })
    }

    fn spawn_pipe(&self, command: &str) -> BoxFuture<'_, Result<PipeProcess, TargetError>> {
        let command = command.to_owned();
        Box::pin(async move {
            let ch = self.open_session().await?;
            let req = async {
                self.send_env(&ch).await?;
                ch.exec(false, command.as_bytes()).await
            };
            req.await.map_err(|_| self.lost_error())?;
            let (mut read, write) = ch.split();
            let (in_tx, mut in_rx) = mpsc::unbounded_channel::<Bytes>();
            let (out_tx, out_rx) = mpsc::channel::<Bytes>(16);
            // Its own reader, as for every channel: one unread channel stalls the whole
            // connection. It drains until the channel closes, listened to or not.
            tokio::spawn(async move {
                let mut out_tx = Some(out_tx);
                while let Some(msg) = read.wait().await {
                    match msg {
                        ChannelMsg::Data { data } => {
                            if let Some(tx) = &out_tx
                                && tx.send(data).await.is_err()
                            {
                                out_tx = None;
                            }
                        }
                        // The process's stdout is closed (it ended): its owner learns it
                        // at once, while the channel is drained until it closes.
                        ChannelMsg::Eof => out_tx = None,
                        ChannelMsg::Close => break,
                        _ => {}
                    }
                }
            });
            // Dropping the sender closes the channel: sshd closes the process's stdin.
            tokio::spawn(async move {
                while let Some(data) = in_rx.recv().await {
                    if write.data_bytes(data).await.is_err() {
                        break;
                    }
                }
                let _ = write.eof().await;
                let _ = write.close().await;
            });
            Ok(PipeProcess {
                input: in_tx,
                output: out_rx,
            })
        })
    }

    fn exec(
        &self,
        command: &str,
        stdin: Vec<u8>,
    ) -> BoxFuture<'_, Result<ExecOutput, TargetError>> {
        let command = command.to_owned();
        Box::pin(async move {
            if self.is_closed() {
                return Err(self.lost_error());
            }
            let (stdout, stderr, status, signal) =
                connect::exec(&self.handle, &command, &stdin, 16 << 20)
                    .await
                    .map_err(|_| self.lost_error())?;
            let exit = match (status, signal) {
                (Some(s), _) => Exit::Code(s as i32),
                (None, Some(sig)) => Exit::Signal(sig),
                _ => Exit::Unknown("no exit status".into()),
            };
            Ok(ExecOutput {
                stdout,
                stderr,
                exit,
            })
        })
    }

    fn upload(
        &self,
        local: PathBuf,
        remote: String,
        progress: Progress,
    ) -> BoxFuture<'_, Result<u64, TargetError>> {
        Box::pin(async move {
            let src = local_file(&local, false).await?;
            let total = src.metadata().await.ok().map(|m| m.len());
            let sftp = self.sftp().await?;
            let dst = sftp
                .create(remote.clone())
                .await
                .map_err(|e| self.sftp_error("write", &remote, e))?;
            let n = copy_with_progress(src, dst, total, &progress)
                .await
                .map_err(|source| TargetError::Copy {
                    from: local.display().to_string(),
                    to: remote.clone(),
                    source,
                })?;
            let _ = sftp.close().await;
            Ok(n)
        })
    }

    fn download(
        &self,
        remote: String,
        local: PathBuf,
        progress: Progress,
    ) -> BoxFuture<'_, Result<u64, TargetError>> {
        Box::pin(async move {
            let sftp = self.sftp().await?;
            let src = sftp
                .open(remote.clone())
                .await
                .map_err(|e| self.sftp_error("read", &remote, e))?;
            let total = src.metadata().await.ok().and_then(|m| m.size);
            let dst = local_file(&local, true).await?;
            let n = copy_with_progress(src, dst, total, &progress)
                .await
                .map_err(|source| TargetError::Copy {
                    from: remote.clone(),
                    to: local.display().to_string(),
                    source,
                })?;
            let _ = sftp.close().await;
            Ok(n)
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self
                .handle
                .disconnect(russh::Disconnect::ByApplication, "logout", "en")
                .await;
        })
    }
}
