//! A scripted fake target for the engine's tests: bytes in, bytes out, no shell.
//!
//! Each PTY process it starts is handed to the test as a [`FakePty`]. A small task per
//! process plays the part of the bootstrap (`script::BOOTSTRAP`): it reads the framed
//! payload the engine writes, answers a first stage (`script::prepare_payload`) with its
//! ready marker as bash would, and gives the test the cell it read ([`Script`]: nonce, sudo
//! marker, code). Everything the engine sends afterwards (typed answers, Ctrl-C, hang-up,
//! signals) reaches the test as [`Seen`]; the test answers with output and an exit, built
//! with the same markers the demultiplexer reads ([`started`], [`capture_block`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use context::capture::Captured;
use context::demux::{ctx_marker, end_marker, ready_marker, start_marker};
use context::script::{STAGE_END, STAGE_START};
use targets::{
    BoxFuture, ExecOutput, Exit, PipeProcess, Progress, PtyCommand, PtyInput, PtyProcess, Target,
    TargetError, TargetInfo,
};

/// The user the fake logs in as (sudo's `%p`).
pub const USER: &str = "ops";
/// The pid the fake's cells report in their start marker.
pub const PID: i32 = 4242;
/// How long a test waits for the engine to do the next thing before it fails.
const PATIENCE: Duration = Duration::from_secs(15);

pub struct FakeTarget {
    name: String,
    ptys: mpsc::UnboundedSender<FakePty>,
    /// What the target's `/proc` shows when the engine looks at its processes
    /// (`stopping::INSPECT`); None: it cannot be looked at.
    pub processes: std::sync::Mutex<Option<String>>,
    /// The commands the engine ran without a PTY.
    pub execs: std::sync::Mutex<Vec<String>>,
}

impl FakeTarget {
    /// A target named `name`, and where the PTY processes it starts arrive, in order.
    pub fn new(name: &str) -> (Arc<FakeTarget>, Ptys) {
        let (ptys, rx) = mpsc::unbounded_channel();
        (
            Arc::new(FakeTarget {
                name: name.into(),
                ptys,
                processes: Default::default(),
                execs: Default::default(),
            }),
            Ptys(rx, Vec::new()),
        )
    }
}

/// The PTY processes a [`FakeTarget`] started.
pub struct Ptys(mpsc::UnboundedReceiver<FakePty>, Vec<FakePty>);

impl Ptys {
    /// The next PTY process a cell is written to. The engine starts shells ahead (`warm`),
    /// some of which it drops unused: those are passed over.
    pub async fn next(&mut self) -> FakePty {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            while let Ok(p) = self.0.try_recv() {
                self.1.push(p);
            }
            let mut i = 0;
            while i < self.1.len() {
                match self.1[i].script.try_recv() {
                    Ok(script) => {
                        let mut p = self.1.remove(i);
                        p.first = Some(script);
                        return p;
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => drop(self.1.remove(i)),
                    Err(mpsc::error::TryRecvError::Empty) => i += 1,
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no cell was written to a PTY process"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// What the engine did to a PTY process after writing its cell.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    Typed(Vec<u8>),
    Resize {
        cols: u16,
        rows: u16,
    },
    HangUp,
    Signal {
        signal: &'static str,
        pid: i32,
    },
    SignalGroups {
        signal: &'static str,
        groups: Vec<i32>,
    },
}

/// The cell the runner read: what the real one would run.
#[derive(Debug, Clone)]
pub struct Script {
    pub nonce: String,
    /// The marker in the prompt the cell's `sudo` shows.
    pub sudo_marker: Option<String>,
    /// The cell's code, as the runner's `eval` gets it.
    pub code: String,
    /// Everything the runner read for this cell (both stages), unarmored.
    pub text: String,
    /// It came as a second stage, to a shell started ahead.
    pub staged: bool,
}

impl Script {
    /// sudo's prompt for this cell, as classic sudo shows it (`%p` expanded).
    pub fn sudo_prompt(&self) -> String {
        let marker = self.sudo_marker.as_deref().expect("the cell has no sudo");
        terminal::prompt::sudo_prompt_argument(marker).replace("%p", USER)
    }
}

/// One PTY process, as the test drives it.
pub struct FakePty {
    /// The cell [`Ptys::next`] saw written, not yet taken by [`FakePty::cell`].
    first: Option<Script>,
    script: mpsc::UnboundedReceiver<Script>,
    seen: mpsc::UnboundedReceiver<Seen>,
    output: Option<mpsc::Sender<Bytes>>,
    exit: Option<oneshot::Sender<Exit>>,
}

impl FakePty {
    /// The cell the engine wrote.
    pub async fn cell(&mut self) -> Script {
        if let Some(s) = self.first.take() {
            return s;
        }
        tokio::time::timeout(PATIENCE, self.script.recv())
            .await
            .expect("no cell was written")
            .expect("the PTY was dropped before a cell came")
    }

    /// The next thing the engine did after writing the cell.
    pub async fn next(&mut self) -> Seen {
        tokio::time::timeout(PATIENCE, self.seen.recv())
            .await
            .expect("the engine did nothing more")
            .expect("the engine dropped the PTY")
    }

    /// The program prints `bytes` (waits while the engine does not read, as long as
    /// [`PATIENCE`]).
    pub async fn print(&self, bytes: impl AsRef<[u8]>) {
        tokio::time::timeout(
            PATIENCE,
            self.sender().send(Bytes::copy_from_slice(bytes.as_ref())),
        )
        .await
        .expect("the engine stopped reading the output")
        .expect("the engine dropped the output");
    }

    /// The runner starts the cell.
    pub async fn start(&self, script: &Script) {
        self.print(started(&script.nonce)).await;
    }

    /// The runner captures `state` and the shell exits (`exit`: 0 after a capture, or
    /// 130 after the INT trap's).
    pub async fn capture_and_exit(&mut self, script: &Script, state: &Captured, exit: i32) {
        self.print(capture_block(&script.nonce, state)).await;
        self.exit(Exit::Code(exit));
    }

    /// The shell ends: its exit is reported and its output closes.
    pub fn exit(&mut self, exit: Exit) {
        self.output = None;
        if let Some(tx) = self.exit.take() {
            let _ = tx.send(exit);
        }
    }

    fn sender(&self) -> &mpsc::Sender<Bytes> {
        self.output.as_ref().expect("the shell has exited")
    }
}

/// The start marker as the runner prints it, for pid [`PID`].
pub fn started(nonce: &str) -> Vec<u8> {
    let mut b = start_marker(nonce);
    b.extend(format!("{PID};0\x1b\\").as_bytes());
    b
}

/// `state` as `__sshpty_capture` prints it through a PTY with `onlcr` (each `\n` comes
/// out as `\r\n`): the records `capture::parse` reads, framed by the nonce's markers.
pub fn capture_block(nonce: &str, state: &Captured) -> Vec<u8> {
    let switches = |map: &std::collections::BTreeMap<String, bool>, on: &str, off: &str| {
        let mut s = Vec::new();
        for (name, v) in map {
            s.extend(format!("{} {name}\n", if *v { on } else { off }).as_bytes());
        }
        s
    };
    let mut records: Vec<Vec<u8>> = vec![
        format!("S\x1f{}", state.status).into_bytes(),
        [
            &b"O\x1f"[..],
            &switches(&state.set_options, "set -o", "set +o"),
        ]
        .concat(),
        [&b"D\x1f"[..], &state.cwd].concat(),
        format!("M\x1f{}\n", state.umask).into_bytes(),
        [
            &b"H\x1f"[..],
            &switches(&state.shopts, "shopt -s", "shopt -u"),
        ]
        .concat(),
    ];
    // `declare -p`: one declaration a line.
    let mut p = b"P\x1f".to_vec();
    for text in state.vars.values() {
        p.extend(text);
        p.push(b'\n');
    }
    records.push(p);
    // `declare -F`, then `declare -f`: names, then definitions in the same order.
    let mut names = b"N\x1f".to_vec();
    let mut definitions = b"G\x1f".to_vec();
    for (name, text) in &state.functions {
        names.extend(format!("declare -f {name}\n").as_bytes());
        definitions.extend(text);
        definitions.push(b'\n');
    }
    records.push(names);
    records.push(definitions);
    for (name, value) in &state.aliases {
        records.push([b"A\x1f", name.as_bytes(), b"\x1f", value].concat());
    }
    let mut b = ctx_marker(nonce);
    b.extend(b"\n\t;");
    for r in records {
        b.extend(r);
        b.push(0);
    }
    let mut b = onlcr(&b);
    b.extend(end_marker(nonce));
    b
}

/// What a terminal with `onlcr` makes of `bytes`.
fn onlcr(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 16);
    for &b in bytes {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

impl Target for FakeTarget {
    fn info(&self) -> TargetInfo {
        TargetInfo {
            name: self.name.clone(),
            host: self.name.clone(),
            user: USER.into(),
            address: None,
            since: chrono::Utc::now(),
            connected: true,
        }
    }

    fn spawn_pty(&self, _: PtyCommand) -> BoxFuture<'_, Result<PtyProcess, TargetError>> {
        Box::pin(async move {
            let (out_tx, out_rx) = mpsc::channel(8);
            let (in_tx, in_rx) = mpsc::unbounded_channel();
            let (exit_tx, exit_rx) = oneshot::channel();
            let (script_tx, script_rx) = mpsc::unbounded_channel();
            let (seen_tx, seen_rx) = mpsc::unbounded_channel();
            tokio::spawn(runner(in_rx, out_tx.clone(), script_tx, seen_tx));
            let pty = FakePty {
                first: None,
                script: script_rx,
                seen: seen_rx,
                output: Some(out_tx),
                exit: Some(exit_tx),
            };
            self.ptys
                .send(pty)
                .map_err(|_| unsupported("a PTY after the test"))?;
            Ok(PtyProcess {
                output: out_rx,
                input: in_tx,
                exit: exit_rx,
            })
        })
    }

    fn spawn_pipe(&self, _: &str) -> BoxFuture<'_, Result<PipeProcess, TargetError>> {
        Box::pin(async { Err(unsupported("a pipe")) })
    }

    fn exec(&self, command: &str, _: Vec<u8>) -> BoxFuture<'_, Result<ExecOutput, TargetError>> {
        self.execs.lock().unwrap().push(command.to_owned());
        let listing = (command == crate::stopping::INSPECT)
            .then(|| self.processes.lock().unwrap().clone())
            .flatten();
        Box::pin(async move {
            match listing {
                Some(out) => Ok(ExecOutput {
                    stdout: out.into_bytes(),
                    stderr: Vec::new(),
                    exit: Exit::Code(0),
                }),
                None => Err(unsupported("a command")),
            }
        })
    }

    fn upload(
        &self,
        _: std::path::PathBuf,
        _: String,
        _: Progress,
    ) -> BoxFuture<'_, Result<u64, TargetError>> {
        Box::pin(async { Err(unsupported("a file transfer")) })
    }

    fn download(
        &self,
        _: String,
        _: std::path::PathBuf,
        _: Progress,
    ) -> BoxFuture<'_, Result<u64, TargetError>> {
        Box::pin(async { Err(unsupported("a file transfer")) })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// What the fake target does not do.
fn unsupported(what: &str) -> TargetError {
    TargetError::Spawn {
        what: format!("{what} on the fake target"),
        source: std::io::ErrorKind::Unsupported.into(),
    }
}

/// The bootstrap's part: read `<len>\n<payload>` (or a quoted line,
/// `script::LINE_BOOTSTRAP`'s); a first stage is answered with its ready
/// marker and followed by a second stage up to [`STAGE_END`]. The cell goes to the test;
/// what comes after it, as [`Seen`].
async fn runner(
    mut input: mpsc::UnboundedReceiver<PtyInput>,
    output: mpsc::Sender<Bytes>,
    script: mpsc::UnboundedSender<Script>,
    seen: mpsc::UnboundedSender<Seen>,
) {
    let mut output = Some(output);
    let mut buf: Vec<u8> = Vec::new();
    // The first stage read, waiting for its second.
    let mut first: Option<Vec<u8>> = None;
    let mut cell_read = false;
    while let Some(i) = input.recv().await {
        let data = match i {
            PtyInput::Data(d) => d,
            PtyInput::Resize { cols, rows } => {
                let _ = seen.send(Seen::Resize { cols, rows });
                continue;
            }
            PtyInput::HangUp => {
                let _ = seen.send(Seen::HangUp);
                continue;
            }
            PtyInput::SignalGroup { signal, pid } => {
                let _ = seen.send(Seen::Signal { signal, pid });
                continue;
            }
            PtyInput::SignalGroups { signal, groups } => {
                let _ = seen.send(Seen::SignalGroups { signal, groups });
                continue;
            }
        };
        if cell_read {
            let _ = seen.send(Seen::Typed(data.to_vec()));
            continue;
        }
        buf.extend_from_slice(&data);
        if let Some(stage) = &first {
            let Some(end) = buf.iter().position(|&b| b == STAGE_END) else {
                continue;
            };
            // As the shell does: only what follows the last STAGE_START.
            let from = buf[..end]
                .iter()
                .rposition(|&b| b == STAGE_START)
                .map_or(0, |i| i + 1);
            let body = unarmor(&buf[from..end]);
            let text = [stage.as_slice(), &body].concat();
            let _ = script.send(read_script(text, true));
            cell_read = true;
            buf.drain(..=end);
        } else {
            let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
                continue;
            };
            let payload: Vec<u8> = if buf.starts_with(b"$'") {
                // One quoted line (`script::line_framed`).
                let (payload, used) = ansi_c_unquote(&buf[..nl]);
                assert_eq!(used, nl, "a quoted payload is the whole line");
                buf.drain(..=nl);
                payload
            } else {
                let len: usize = std::str::from_utf8(&buf[..nl])
                    .ok()
                    .and_then(|n| n.parse().ok())
                    .expect("a framed payload starts with its length");
                if buf.len() < nl + 1 + len {
                    continue;
                }
                buf.drain(..nl + 1 + len).skip(nl + 1).collect()
            };
            let text = String::from_utf8_lossy(&payload);
            if let Some(nonce) = between(&text, "\\033_sshpty;", ";ready") {
                let ready = ready_marker(nonce);
                if let Some(out) = &output {
                    let _ = out.send(Bytes::from(ready)).await;
                }
                first = Some(payload);
                continue;
            }
            let _ = script.send(read_script(payload, false));
            cell_read = true;
        }
        // The runner prints nothing more of its own: the test's sender is the output's
        // only one now, so the output closes when the test's shell exits.
        output = None;
        if !buf.is_empty() {
            let _ = seen.send(Seen::Typed(std::mem::take(&mut buf)));
        }
    }
}

fn read_script(text: Vec<u8>, staged: bool) -> Script {
    let text = String::from_utf8_lossy(&text).into_owned();
    let nonce = between(&text, "\\033_sshpty;", ";start;")
        .expect("the cell prints a start marker")
        .to_owned();
    let sudo_marker = between(&text, "[sshpty:", "]").map(str::to_owned);
    let at = text
        .find("__sshpty_cell=$'")
        .expect("the cell's code is in the script")
        + "__sshpty_cell=".len();
    let (code, _) = ansi_c_unquote(&text.as_bytes()[at..]);
    Script {
        nonce,
        sudo_marker,
        code: String::from_utf8_lossy(&code).into_owned(),
        text,
        staged,
    }
}

/// The text between the last `open` before the first `close` after an `open`.
fn between<'t>(text: &'t str, open: &str, close: &str) -> Option<&'t str> {
    let start = text.find(open)? + open.len();
    let end = start + text[start..].find(close)?;
    let from = text[..end].rfind(open)? + open.len();
    Some(&text[from..end])
}

/// The bytes of the `$'…'` string `quoted` starts with (the escapes `quote::ansi_c_quote`
/// and `script::armored` write), and how many bytes it took.
fn ansi_c_unquote(quoted: &[u8]) -> (Vec<u8>, usize) {
    assert!(quoted.starts_with(b"$'"), "not a $'…' string");
    let mut out = Vec::new();
    let mut i = 2;
    while i < quoted.len() {
        match quoted[i] {
            b'\'' => return (out, i + 1),
            b'\\' => {
                match quoted.get(i + 1) {
                    Some(b'n') => out.push(b'\n'),
                    Some(b'x') => {
                        let hex = std::str::from_utf8(&quoted[i + 2..i + 4]).unwrap_or("");
                        out.push(u8::from_str_radix(hex, 16).expect("\\x is followed by hex"));
                        i += 2;
                    }
                    Some(&c) => out.push(c),
                    None => break,
                }
                i += 2;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    panic!("unterminated $'…' string");
}

/// The value `script::armored("__sshpty_s", …)` lines set.
fn unarmor(stage: &[u8]) -> Vec<u8> {
    let mut value = Vec::new();
    for line in stage.split(|&b| b == b'\n') {
        let rest = line
            .strip_prefix(b"__sshpty_s=")
            .or_else(|| line.strip_prefix(b"__sshpty_s+="));
        if let Some(rest) = rest.filter(|r| r.starts_with(b"$'")) {
            value.extend(ansi_c_unquote(rest).0);
        }
    }
    value
}
