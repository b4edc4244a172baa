//! Where a socket listens: TCP (`"transport": "tcp"`, an address and a port) or Jupyter's
//! `ipc` (a Unix socket at `{ip}-{port}`, as jupyter_client names it), and the streams
//! either gives, so the sockets above are the same for both.
//!
//! Why `ipc` matters: on a machine shared by several users (a JupyterHub with the local
//! process spawner) any local user can connect to a TCP port on 127.0.0.1, and IOPub's PUB
//! socket shows every output to whoever subscribes (the HMAC signs messages, it does not
//! hide them). A Unix socket in the user's own runtime directory is created mode 0600, and
//! a peer whose uid is not ours is dropped before the handshake (SO_PEERCRED), which also
//! covers the moment between creating the file and restricting its mode.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream, tcp, unix};

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Tcp {
        ip: String,
        port: u16,
    },
    /// A Unix socket at this path.
    Ipc(PathBuf),
}

impl Endpoint {
    /// The endpoint of a connection file's `transport`, `ip` and one of its ports: for
    /// `ipc`, jupyter_client's `{ip}-{port}` path. `None` for another transport.
    pub fn from_connection(transport: &str, ip: &str, port: u16) -> Option<Endpoint> {
        match transport {
            "tcp" => Some(Endpoint::Tcp {
                ip: ip.to_owned(),
                port,
            }),
            "ipc" => Some(Endpoint::Ipc(PathBuf::from(format!("{ip}-{port}")))),
            _ => None,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { ip, port } => write!(f, "tcp://{ip}:{port}"),
            Endpoint::Ipc(path) => write!(f, "ipc://{}", path.display()),
        }
    }
}

/// Who is on the other end, for log lines.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PeerAddr {
    Tcp(SocketAddr),
    /// A process of this user, by pid when the kernel says it.
    Unix(Option<i32>),
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Tcp(a) => write!(f, "{a}"),
            PeerAddr::Unix(Some(pid)) => write!(f, "unix:pid {pid}"),
            PeerAddr::Unix(None) => write!(f, "unix"),
        }
    }
}

pub(crate) enum Listener {
    Tcp(TcpListener),
    /// The path is removed when the listener goes.
    Unix(UnixListener, PathBuf),
}

impl Listener {
    pub(crate) async fn bind(endpoint: &Endpoint) -> io::Result<Listener> {
        match endpoint {
            Endpoint::Tcp { ip, port } => bind_tcp(ip, *port).await.map(Listener::Tcp),
            Endpoint::Ipc(path) => bind_unix(path).map(|l| Listener::Unix(l, path.clone())),
        }
    }

    /// The TCP port bound (the one asked for, or the free one picked for 0); 0 for ipc.
    pub(crate) fn port(&self) -> io::Result<u16> {
        match self {
            Listener::Tcp(l) => Ok(l.local_addr()?.port()),
            Listener::Unix(..) => Ok(0),
        }
    }

    /// The next connection; for ipc, only from a process of this user (others are
    /// dropped here and the next one is awaited).
    pub(crate) async fn accept(&self) -> io::Result<(Stream, PeerAddr)> {
        match self {
            Listener::Tcp(l) => {
                let (s, a) = l.accept().await?;
                Ok((Stream::Tcp(s), PeerAddr::Tcp(a)))
            }
            Listener::Unix(l, path) => loop {
                let (s, _) = l.accept().await?;
                let cred = s.peer_cred()?;
                let ours = nix::unistd::getuid().as_raw();
                if cred.uid() != ours {
                    // Said once: another user could otherwise fill the log by connecting.
                    static WARNED: AtomicBool = AtomicBool::new(false);
                    let level = if WARNED.swap(true, Ordering::Relaxed) {
                        log::Level::Debug
                    } else {
                        log::Level::Warn
                    };
                    log::log!(
                        level,
                        "zmtp: refused a connection to {} from uid {} (pid {:?}): only uid {ours} may connect",
                        path.display(),
                        cred.uid(),
                        cred.pid()
                    );
                    continue;
                }
                return Ok((Stream::Unix(s), PeerAddr::Unix(cred.pid())));
            },
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Parse the address Jupyter gives us. "*" is ZeroMQ's spelling of "all interfaces";
/// "localhost" is accepted for convenience. Names are not resolved.
async fn bind_tcp(ip: &str, port: u16) -> io::Result<TcpListener> {
    let addr: IpAddr = match ip {
        "*" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        _ => ip.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot listen on {ip:?}: not an IPv4 or IPv6 address"),
            )
        })?,
    };
    TcpListener::bind(SocketAddr::new(addr, port)).await
}

/// The longest path a Unix socket address holds (`sun_path`, with its NUL).
const SUN_PATH_MAX: usize = 107;

fn bind_unix(path: &Path) -> io::Result<UnixListener> {
    if path.as_os_str().len() > SUN_PATH_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cannot listen on {}: a Unix socket path holds at most {SUN_PATH_MAX} bytes (set a shorter JUPYTER_RUNTIME_DIR)",
                path.display()
            ),
        ));
    }
    // A socket left by a kernel that died goes, as ZeroMQ does; anything else stays and
    // the bind fails on it.
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    pub(crate) fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Tcp(s) => {
                // Jupyter messages are small and latency-bound; Nagle would delay replies.
                if let Err(e) = s.set_nodelay(true) {
                    log::debug!("zmtp: cannot set TCP_NODELAY: {e}");
                }
                let (r, w) = s.into_split();
                (ReadHalf::Tcp(r), WriteHalf::Tcp(w))
            }
            Stream::Unix(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Unix(r), WriteHalf::Unix(w))
            }
        }
    }
}

pub(crate) enum ReadHalf {
    Tcp(tcp::OwnedReadHalf),
    Unix(unix::OwnedReadHalf),
}

pub(crate) enum WriteHalf {
    Tcp(tcp::OwnedWriteHalf),
    Unix(unix::OwnedWriteHalf),
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadHalf::Tcp(r) => Pin::new(r).poll_read(cx, buf),
            ReadHalf::Unix(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_write(cx, buf),
            WriteHalf::Unix(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_flush(cx),
            WriteHalf::Unix(w) => Pin::new(w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_shutdown(cx),
            WriteHalf::Unix(w) => Pin::new(w).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_write_vectored(cx, bufs),
            WriteHalf::Unix(w) => Pin::new(w).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            WriteHalf::Tcp(w) => w.is_write_vectored(),
            WriteHalf::Unix(w) => w.is_write_vectored(),
        }
    }
}
