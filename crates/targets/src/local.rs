//! The local target: cells run on the kernel's own machine, in a pseudo-terminal the
//! kernel opens itself.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nix::pty::{Winsize, openpty};
use nix::sys::signal::{Signal, kill};
use nix::sys::termios::{self, InputFlags, LocalFlags, SetArg, SpecialCharacterIndices};
use nix::unistd::Pid;
use tokio::io::AsyncWriteExt;
use tokio::io::unix::AsyncFd;
use tokio::sync::{Notify, mpsc, oneshot};

use std::path::PathBuf;

use crate::target::{
    BoxFuture, ExecOutput, Exit, PipeProcess, Progress, PtyCommand, PtyInput, PtyProcess, Target,
    TargetError, TargetInfo, copy_with_progress, local_file,
};

/// Variables a login on this machine would have, passed on from the kernel's own
/// environment; everything else (JPY_*, the kernel's variables) stays out, as it would
/// for a terminal login.
const PASSED_ENV: &[&str] = &[
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "PATH",
    "LANG",
    "LANGUAGE",
    "TZ",
    "SSH_AUTH_SOCK",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XDG_RUNTIME_DIR",
    "DBUS_SESSION_BUS_ADDRESS",
    "MAIL",
];

/// How long the PTY is drained after the shell exited: output still in flight arrives,
/// while a process that keeps the terminal open (`setsid … &`) cannot hold the cell.
const DRAIN_QUIET: Duration = Duration::from_millis(150);
const DRAIN_MAX: Duration = Duration::from_secs(2);

pub struct LocalTarget {
    info: TargetInfo,
    /// Variables removed from what cells see (`%sudo password-from-env`).
    hidden_env: std::sync::Mutex<Vec<String>>,
}

impl LocalTarget {
    pub fn new() -> LocalTarget {
        let user = nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "?".into());
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into());
        LocalTarget {
            info: TargetInfo {
                name: "local".into(),
                host,
                user,
                address: None,
                since: chrono::Utc::now(),
                connected: true,
            },
            hidden_env: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub fn hide_env(&self, name: &str) {
        if let Ok(mut h) = self.hidden_env.lock() {
            h.push(name.to_owned());
        }
    }

    fn command(&self, program: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.arg("-c").arg(program).env_clear();
        let hidden = self
            .hidden_env
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default();
        for (k, v) in std::env::vars_os() {
            let Some(k) = k.to_str() else { continue };
            if (PASSED_ENV.contains(&k) || k.starts_with("LC_")) && !hidden.iter().any(|h| h == k) {
                cmd.env(k, v);
            }
        }
        cmd.env("TERM", "xterm-256color");
        crate::limits::as_started(&mut cmd);
        cmd
    }

    /// `command` without a terminal, its stdin and stdout piped, in a session of its own:
    /// away from the kernel's process group and any terminal, and a group the kernel can
    /// kill with everything it started. Killed when dropped.
    fn piped_command(&self, command: &str, stderr: Stdio) -> tokio::process::Command {
        let mut cmd = self.command(command);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true);
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        cmd
    }
}

impl Default for LocalTarget {
    fn default() -> Self {
        Self::new()
    }
}

fn io_err(what: &str, e: impl Into<std::io::Error>) -> TargetError {
    TargetError::Spawn {
        what: what.into(),
        source: e.into(),
    }
}

/// Open a PTY whose line discipline starts quiet: no echo, no canonical editing, no
/// signal characters, no input translation. The runner script is written into it
/// before the shell reads it, and must arrive byte for byte and unseen.
fn open_quiet_pty(cols: u16, rows: u16) -> Result<(OwnedFd, OwnedFd), TargetError> {
    let ws = Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(Some(&ws), None).map_err(|e| io_err("a pseudo-terminal", e))?;
    let mut t = termios::tcgetattr(&pty.slave).map_err(|e| io_err("a pseudo-terminal", e))?;
    t.local_flags
        .remove(LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::ISIG | LocalFlags::IEXTEN);
    t.input_flags.remove(
        InputFlags::IXON
            | InputFlags::ICRNL
            | InputFlags::INLCR
            | InputFlags::IGNCR
            | InputFlags::ISTRIP,
    );
    t.input_flags.insert(InputFlags::IUTF8);
    t.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
    t.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
    termios::tcsetattr(&pty.slave, SetArg::TCSANOW, &t)
        .map_err(|e| io_err("a pseudo-terminal", e))?;
    nix::fcntl::fcntl(
        &pty.master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .map_err(|e| io_err("a pseudo-terminal", e))?;
    // openpty does not set close-on-exec: without it every process the kernel starts
    // would hold every open master, and a terminal would never hang up when the kernel
    // dies (a killed kernel must take its cells' processes with it).
    for fd in [&pty.master, &pty.slave] {
        nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .map_err(|e| io_err("a pseudo-terminal", e))?;
    }
    Ok((pty.master, pty.slave))
}

fn exit_of(status: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        Exit::Code(code)
    } else if let Some(sig) = status.signal() {
        Exit::Signal(signal_name(sig))
    } else {
        Exit::Unknown("no exit status".into())
    }
}

pub fn signal_name(sig: i32) -> String {
    Signal::try_from(sig)
        .map(|s| s.as_str().trim_start_matches("SIG").to_owned())
        .unwrap_or_else(|_| sig.to_string())
}

fn read_master(fd: &OwnedFd, buf: &mut [u8]) -> std::io::Result<usize> {
    nix::unistd::read(fd, buf).map_err(std::io::Error::from)
}

fn write_master(fd: &OwnedFd, buf: &[u8]) -> std::io::Result<usize> {
    nix::unistd::write(fd, buf).map_err(std::io::Error::from)
}

impl Target for LocalTarget {
    fn info(&self) -> TargetInfo {
        self.info.clone()
    }

    fn spawn_pty(&self, command: PtyCommand) -> BoxFuture<'_, Result<PtyProcess, TargetError>> {
        Box::pin(async move {
            let (master, slave) = open_quiet_pty(command.cols, command.rows)?;
            let mut cmd = self.command(&command.command);
            let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| io_err("a pseudo-terminal", e));
            cmd.stdin(Stdio::from(dup(&slave)?))
                .stdout(Stdio::from(dup(&slave)?))
                .stderr(Stdio::from(dup(&slave)?));
            // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    nix::unistd::setsid().map_err(std::io::Error::from)?;
                    // Make the PTY the controlling terminal, so Ctrl-C, job control and
                    // hangup work as in a terminal.
                    if libc_ioctl_tiocsctty(0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let mut child = cmd.spawn().map_err(|e| io_err("the shell", e))?;
            // The kernel keeps the terminal's slave side open while it reads: on Linux a
            // master read can report EIO as soon as the last slave closes, before the
            // shell's final bytes (the context capture) were delivered. The cell's runner
            // decides when the output is complete; see `execute::cell`.
            let slave_keepalive = slave;
            let pgid = child.id().map(|p| p as i32).unwrap_or(0);

            // SAFETY: the AsyncFd owns the master fd; nothing else closes it.
            let master =
                Arc::new(unsafe { AsyncFd::register(master) }.map_err(|e| {
                    io_err("a pseudo-terminal", std::io::Error::other(e.to_string()))
                })?);
            let (out_tx, out_rx) = mpsc::channel::<Bytes>(64);
            let (in_tx, mut in_rx) = mpsc::unbounded_channel::<PtyInput>();
            let (exit_tx, exit_rx) = oneshot::channel();
            let exited = Arc::new(Notify::new());

            // Process exit.
            {
                let exited = exited.clone();
                tokio::spawn(async move {
                    let exit = match child.wait().await {
                        Ok(status) => exit_of(status),
                        Err(e) => Exit::Unknown(e.to_string()),
                    };
                    let _ = exit_tx.send(exit);
                    exited.notify_one();
                });
            }

            // Reader: forwards output until EIO (every holder of the terminal is gone), or
            // until the drain after the shell's exit goes quiet.
            {
                let master = master.clone();
                let exited = exited.clone();
                tokio::spawn(async move {
                    let _slave = slave_keepalive;
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut drain_until: Option<tokio::time::Instant> = None;
                    loop {
                        let quiet =
                            drain_until.map(|d| d.min(tokio::time::Instant::now() + DRAIN_QUIET));
                        let guard = tokio::select! {
                            g = master.readable() => g,
                            _ = exited.notified(), if drain_until.is_none() => {
                                drain_until = Some(tokio::time::Instant::now() + DRAIN_MAX);
                                continue;
                            }
                            // The kernel stopped listening (the cell was abandoned).
                            _ = out_tx.closed() => break,
                            _ = tokio::time::sleep_until(quiet.unwrap_or_else(tokio::time::Instant::now)), if quiet.is_some() => break,
                        };
                        let Ok(mut guard) = guard else { break };
                        match guard.try_io(|fd| read_master(fd.get_ref(), &mut buf)) {
                            Ok(Ok(0)) => break,
                            Ok(Ok(n)) => {
                                if out_tx
                                    .send(Bytes::copy_from_slice(&buf[..n]))
                                    .await
                                    .is_err()
                                {
                                    break;
                                }
                            }
                            // EIO: the slave side is closed everywhere.
                            Ok(Err(_)) => break,
                            Err(_would_block) => continue,
                        }
                    }
                });
            }

            // Writer and control.
            tokio::spawn(async move {
                while let Some(input) = in_rx.recv().await {
                    match input {
                        PtyInput::Data(data) => {
                            let mut rest = &data[..];
                            while !rest.is_empty() {
                                let Ok(mut guard) = master.writable().await else {
                                    return;
                                };
                                match guard.try_io(|fd| write_master(fd.get_ref(), rest)) {
                                    Ok(Ok(n)) => rest = &rest[n..],
                                    Ok(Err(_)) => return,
                                    Err(_would_block) => continue,
                                }
                            }
                        }
                        PtyInput::Resize { cols, rows } => {
                            let ws = Winsize {
                                ws_row: rows,
                                ws_col: cols,
                                ws_xpixel: 0,
                                ws_ypixel: 0,
                            };
                            let _ = set_winsize(master.get_ref(), &ws);
                        }
                        PtyInput::HangUp => {
                            // What closing the terminal does to the session; programs that
                            // ignore it (nohup) go on, as they would.
                            if pgid > 0 {
                                let _ = kill(Pid::from_raw(-pgid), Signal::SIGHUP);
                            }
                        }
                        PtyInput::SignalGroup { signal, .. } => {
                            let name = format!("SIG{signal}");
                            if let (true, Ok(sig)) = (pgid > 0, name.parse::<Signal>()) {
                                let _ = kill(Pid::from_raw(-pgid), sig);
                            }
                        }
                        PtyInput::SignalGroups { signal, groups } => {
                            if let Ok(sig) = format!("SIG{signal}").parse::<Signal>() {
                                for g in groups.into_iter().filter(|&g| g > 1) {
                                    let _ = kill(Pid::from_raw(-g), sig);
                                }
                            }
                        }
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
        let mut cmd = self.piped_command(command, Stdio::null());
        Box::pin(async move {
            let mut child = cmd.spawn().map_err(|e| io_err("a helper shell", e))?;
            let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take())
            else {
                return Err(io_err("a helper shell", std::io::Error::other("no pipes")));
            };
            let pgid = child.id().map(|p| p as i32).unwrap_or(0);
            let (in_tx, mut in_rx) = mpsc::unbounded_channel::<Bytes>();
            let (out_tx, out_rx) = mpsc::channel::<Bytes>(16);
            let (gone_tx, gone_rx) = oneshot::channel::<()>();
            tokio::spawn(async move {
                while let Some(data) = in_rx.recv().await {
                    if stdin.write_all(&data).await.is_err() {
                        break;
                    }
                }
                drop(stdin);
                let _ = gone_tx.send(());
            });
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = stdout.read(&mut buf).await {
                    if n == 0
                        || out_tx
                            .send(Bytes::copy_from_slice(&buf[..n]))
                            .await
                            .is_err()
                    {
                        break;
                    }
                }
            });
            // The owner dropped the process (or its stdin broke): a helper stuck in a
            // command would not notice the closed stdin, so its whole group is killed.
            tokio::spawn(async move {
                tokio::select! {
                    _ = child.wait() => {}
                    _ = gone_rx => {
                        if pgid > 0 {
                            let _ = kill(Pid::from_raw(-pgid), Signal::SIGKILL);
                        }
                        let _ = child.wait().await;
                    }
                }
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
        let mut cmd = self.piped_command(command, Stdio::piped());
        Box::pin(async move {
            let mut child = cmd.spawn().map_err(|e| io_err("a helper shell", e))?;
            if let Some(mut pipe) = child.stdin.take() {
                tokio::spawn(async move {
                    let _ = pipe.write_all(&stdin).await;
                });
            }
            let out = child
                .wait_with_output()
                .await
                .map_err(|e| io_err("a helper shell", e))?;
            Ok(ExecOutput {
                stdout: out.stdout,
                stderr: out.stderr,
                exit: exit_of(out.status),
            })
        })
    }

    fn upload(
        &self,
        local: PathBuf,
        remote: String,
        progress: Progress,
    ) -> BoxFuture<'_, Result<u64, TargetError>> {
        Box::pin(copy_file(local, PathBuf::from(remote), progress))
    }

    fn download(
        &self,
        remote: String,
        local: PathBuf,
        progress: Progress,
    ) -> BoxFuture<'_, Result<u64, TargetError>> {
        Box::pin(copy_file(PathBuf::from(remote), local, progress))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

async fn copy_file(from: PathBuf, to: PathBuf, progress: Progress) -> Result<u64, TargetError> {
    let src = local_file(&from, false).await?;
    let total = src.metadata().await.ok().map(|m| m.len());
    let dst = local_file(&to, true).await?;
    copy_with_progress(src, dst, total, &progress)
        .await
        .map_err(|source| TargetError::Copy {
            from: from.display().to_string(),
            to: to.display().to_string(),
            source,
        })
}

nix::ioctl_write_ptr_bad!(tiocswinsz, nix::libc::TIOCSWINSZ, Winsize);

fn set_winsize(fd: &OwnedFd, ws: &Winsize) -> nix::Result<()> {
    // SAFETY: TIOCSWINSZ reads a Winsize from the pointer, which is valid here.
    unsafe { tiocswinsz(fd.as_raw_fd(), ws) }.map(|_| ())
}

fn libc_ioctl_tiocsctty(fd: i32) -> i32 {
    // SAFETY: TIOCSCTTY takes an int argument; fd 0 is the PTY slave in the child.
    unsafe { nix::libc::ioctl(fd, nix::libc::TIOCSCTTY as _, 0) }
}
