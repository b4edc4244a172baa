//! The live terminal in the cell: the `sshpty.terminal` comm. A frontend (our JupyterLab
//! extension) opens one per notebook connection, saying which browser tab it is in. A cell
//! whose execute_request came from a session with such a comm gets a live terminal
//! (`engine::frontend::LiveTerminal`): when its program takes the screen, the screen's
//! display carries the terminal's id, the frontend shows an xterm.js terminal for it and
//! attaches, and from then on the program's output streams to it.
//!
//! Whose keys: the session that sent the execute_request types, and so does a later page of
//! the same browser tab (a reload: its `tab` token, kept in the tab's sessionStorage, is the
//! same); everyone else who attaches (another tab, a collaborator) watches. Keys are taken
//! only for the running cell's terminal, by id, so a key sent after the cell ended is
//! dropped. Keys and screen contents are never logged.
//!
//! Frontend → kernel (`comm_msg` data): `{"request": "attach", "terminal", "cols", "rows"}`
//! (the typing page's cols resize the PTY; rows are the PTY's until a `resize` asks),
//! `{"request": "keys", "terminal", "data", "binary"?}`, `{"request": "resize", "terminal",
//! "cols", "rows"}`, `{"request": "detach", "terminal"}`.
//! Kernel → frontend: `{"event": "screen", "terminal", "cols", "rows", "typing", "data"}`
//! (the answer to attach: the screen and modes, then the stream follows), `{"event":
//! "output", "terminal", "data"}`, `{"event": "size", …}`, `{"event": "ended", "terminal",
//! "screen"?}` (the program's last screen as text, when one held the screen: a page that did
//! not run the cell never gets the display's last update, JupyterLab gives it to the page
//! that sent the request only).
//!
//! Output is batched: the first bytes after a quiet [`BATCH`] go at once (a key's echo), the
//! rest of a burst once per [`BATCH`], as one message to each viewer (comm messages count
//! against jupyter_server's 1000 messages/s like output).
//! What is held is bounded ([`MAX_HELD`]): a viewer further behind is sent the screen anew.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jupyter_protocol::{CommId, CommMsg, CommOpen, Header, JupyterMessageContent};
use serde_json::{Value, json};
use tokio::sync::Notify;

use engine::Engine;
use engine::frontend::{CellEvent, ForCell, LiveTerminal, RequestId};
use jupyter::channels::Iopub;

pub const TARGET: &str = "sshpty.terminal";
/// Open comms kept (one per notebook connection normally); past this the oldest goes.
const MAX_COMMS: usize = 64;
/// Viewers of one terminal at most.
const MAX_VIEWERS: usize = 32;
/// How long output is held to be sent as one message.
pub const BATCH: Duration = Duration::from_millis(25);
/// Output held for the viewers at most; past it they are sent the screen anew.
const MAX_HELD: usize = 1 << 20;
/// Output held that is sent without waiting for the batch: a fast program (a 10 MiB `cat`)
/// fills [`MAX_HELD`] within one batch, and its viewers would get screens, not its stream.
const SEND_AT: usize = 256 << 10;
/// One keys message at most (a paste).
const MAX_KEYS: usize = 1 << 20;
/// A tab token at most (it is only compared).
const MAX_TAB: usize = 128;

#[derive(Clone)]
pub struct Terminals {
    iopub: Iopub,
    engine: Engine,
    inner: Arc<Mutex<Inner>>,
    /// Output arrived: the pump sends it after [`BATCH`].
    held: Arc<Notify>,
    /// [`SEND_AT`] is held: the pump sends it now.
    full: Arc<Notify>,
}

#[derive(Default)]
struct Inner {
    comms: Vec<Comm>,
    next_viewer: u64,
    running: Option<Running>,
}

struct Comm {
    id: String,
    /// The client session that opened it (the `session` of its messages' headers).
    session: String,
    /// Its browser tab's token (empty: none given).
    tab: String,
    viewer: u64,
}

/// The running cell's terminal.
struct Running {
    id: String,
    request: RequestId,
    /// Who types: the session that sent the execute_request, and its tab.
    session: String,
    tab: String,
    /// Attached viewers: (viewer, comm id, typing).
    viewers: Vec<(u64, String, bool)>,
    /// Output not yet sent, with an incomplete UTF-8 sequence at its end kept for the next.
    held: Vec<u8>,
    /// The PTY's size as last told (cols, rows).
    size: (u16, u16),
}

impl Terminals {
    pub fn new(iopub: Iopub, engine: Engine) -> Terminals {
        Terminals {
            iopub,
            engine,
            inner: Arc::default(),
            held: Arc::new(Notify::new()),
            full: Arc::new(Notify::new()),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn has(&self, comm: &str) -> bool {
        self.inner().comms.iter().any(|c| c.id == comm)
    }

    pub fn comm_ids(&self) -> Vec<String> {
        self.inner().comms.iter().map(|c| c.id.clone()).collect()
    }

    /// A frontend's `comm_open` for [`TARGET`].
    pub fn open(&self, parent: &Header, open: &CommOpen) {
        let tab = open
            .data
            .get("tab")
            .and_then(Value::as_str)
            .filter(|t| t.len() <= MAX_TAB)
            .unwrap_or_default()
            .to_owned();
        let mut inner = self.inner();
        inner.comms.retain(|c| c.id != open.comm_id.0);
        if inner.comms.len() >= MAX_COMMS {
            let gone = inner.comms.remove(0);
            forget_viewer(&mut inner, gone.viewer);
        }
        inner.next_viewer += 1;
        let viewer = inner.next_viewer;
        inner.comms.push(Comm {
            id: open.comm_id.0.clone(),
            session: parent.session.clone(),
            tab,
            viewer,
        });
    }

    pub fn close(&self, comm: &str) {
        let mut inner = self.inner();
        if let Some(i) = inner.comms.iter().position(|c| c.id == comm) {
            let gone = inner.comms.remove(i);
            forget_viewer(&mut inner, gone.viewer);
        }
    }

    /// The live terminal for an execute_request, if the session that sent it can show one.
    pub fn for_request(&self, parent: &Header) -> Option<Arc<dyn LiveTerminal>> {
        let inner = self.inner();
        let comm = inner
            .comms
            .iter()
            .rev()
            .find(|c| c.session == parent.session)?;
        Some(Arc::new(CellTerminal {
            terminals: self.clone(),
            request: RequestId(parent.msg_id.clone()),
            session: parent.session.clone(),
            tab: comm.tab.clone(),
        }))
    }

    /// A frontend's `comm_msg` on one of our comms.
    pub fn message(&self, parent: &Header, msg: &CommMsg) {
        let data = &msg.data;
        let terminal = data.get("terminal").and_then(Value::as_str).unwrap_or("");
        let size = || {
            let side = |k| {
                data.get(k)
                    .and_then(Value::as_u64)
                    .and_then(|n| u16::try_from(n).ok())
            };
            side("cols").zip(side("rows"))
        };
        let (viewer, request, typing, pty_size) = {
            let inner = self.inner();
            let Some(comm) = inner.comms.iter().find(|c| c.id == msg.comm_id.0) else {
                return;
            };
            match &inner.running {
                Some(r) if r.id == terminal => {
                    let typing = comm.session == r.session
                        || (!r.tab.is_empty() && comm.tab == r.tab)
                        || parent.session == r.session;
                    (comm.viewer, r.request.clone(), typing, r.size)
                }
                _ => {
                    drop(inner);
                    if data.get("request").and_then(Value::as_str) == Some("attach") {
                        // A terminal that ended (or never ran here): say so, so the page
                        // stops waiting; its display is replaced by the cell's end.
                        self.send(
                            &msg.comm_id.0,
                            json!({"event": "ended", "terminal": terminal}),
                        );
                    }
                    return;
                }
            }
        };
        let to_cell = |event| {
            self.engine.cell_event(ForCell {
                request: request.clone(),
                event,
            })
        };
        match data.get("request").and_then(Value::as_str) {
            Some("attach") => {
                {
                    let mut inner = self.inner();
                    let Some(r) = inner.running.as_mut() else {
                        return;
                    };
                    r.viewers.retain(|(v, _, _)| *v != viewer);
                    if r.viewers.len() >= MAX_VIEWERS {
                        r.viewers.remove(0);
                    }
                }
                // The typing page's width gives the cols; its rows are not taken (it cannot
                // know the PTY's before the screen arrives): they stay the PTY's.
                if typing
                    && let Some((cols, _)) = size()
                    && cols != pty_size.0
                {
                    to_cell(CellEvent::Resize {
                        cols,
                        rows: pty_size.1,
                    });
                }
                // The cell answers with `screen`, which adds the viewer.
                to_cell(CellEvent::Attach { viewer, typing });
            }
            Some("keys") if typing => {
                let Some(text) = data.get("data").and_then(Value::as_str) else {
                    return;
                };
                if text.len() > MAX_KEYS {
                    log::warn!("a keys message over {MAX_KEYS} bytes was dropped");
                    return;
                }
                let bytes: Vec<u8> = if data.get("binary").and_then(Value::as_bool) == Some(true) {
                    // xterm's onBinary: one byte per character (0..=255).
                    text.chars()
                        .map(|c| u8::try_from(c).unwrap_or(b'?'))
                        .collect()
                } else {
                    text.as_bytes().to_vec()
                };
                if !to_cell(CellEvent::Keys(bytes.into())) {
                    log::info!("keys for a terminal whose cell does not take them: dropped");
                }
            }
            Some("resize") if typing => {
                if let Some((cols, rows)) = size() {
                    to_cell(CellEvent::Resize { cols, rows });
                }
            }
            Some("keys" | "resize") => {
                log::info!("keys or a resize from a watching viewer: dropped")
            }
            Some("detach") => forget_viewer(&mut self.inner(), viewer),
            _ => log::info!("a terminal comm message the kernel does not know: ignored"),
        }
    }

    fn send(&self, comm: &str, data: Value) {
        let data = match data {
            Value::Object(m) => m,
            _ => return,
        };
        self.iopub.pacer().record(Instant::now(), 0);
        self.iopub.send(
            JupyterMessageContent::CommMsg(CommMsg {
                comm_id: CommId(comm.to_owned()),
                data,
            }),
            None,
        );
    }

    /// Send what is held to every viewer of the running terminal.
    fn flush(&self) {
        let (id, text, comms) = {
            let mut inner = self.inner();
            let Some(r) = inner.running.as_mut() else {
                return;
            };
            if r.held.is_empty() {
                return;
            }
            let text = take_utf8(&mut r.held);
            let comms: Vec<String> = r.viewers.iter().map(|(_, c, _)| c.clone()).collect();
            (r.id.clone(), text, comms)
        };
        if text.is_empty() {
            return;
        }
        for comm in comms {
            self.send(
                &comm,
                json!({"event": "output", "terminal": id, "data": text}),
            );
        }
    }

    /// Sends held output, for as long as the kernel runs: at once when nothing was sent in
    /// the last [`BATCH`] (a key's echo is not delayed), else when that much has passed since
    /// (a burst goes as one message per batch), or as soon as [`SEND_AT`] is held. It sleeps
    /// while nothing is held.
    pub async fn pump(self) {
        let mut last = tokio::time::Instant::now() - BATCH;
        loop {
            self.held.notified().await;
            tokio::select! {
                _ = tokio::time::sleep_until(last + BATCH) => {}
                _ = self.full.notified() => {}
            }
            self.flush();
            last = tokio::time::Instant::now();
        }
    }
}

fn forget_viewer(inner: &mut Inner, viewer: u64) {
    if let Some(r) = inner.running.as_mut() {
        r.viewers.retain(|(v, _, _)| *v != viewer);
    }
}

/// The text of `held` as far as it is whole UTF-8, invalid bytes as U+FFFD; an incomplete
/// sequence at its end stays in `held` for the next read to complete.
fn take_utf8(held: &mut Vec<u8>) -> String {
    let mut keep = 0;
    // An incomplete sequence is at most 3 bytes: a lead byte and continuation bytes short
    // of the length the lead byte says.
    for back in 1..=held.len().min(3) {
        let b = held[held.len() - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for its lead
        }
        let need = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 0,
        };
        if need > back {
            keep = back;
        }
        break;
    }
    let rest = held.split_off(held.len() - keep);
    let text = String::from_utf8_lossy(held).into_owned();
    *held = rest;
    text
}

/// One cell's live terminal, as the engine drives it.
struct CellTerminal {
    terminals: Terminals,
    request: RequestId,
    session: String,
    tab: String,
}

impl CellTerminal {
    fn running<R>(&self, f: impl FnOnce(&mut Running) -> R) -> Option<R> {
        let mut inner = self.terminals.inner();
        match inner.running.as_mut() {
            Some(r) if r.request == self.request => Some(f(r)),
            _ => None,
        }
    }

    fn to_viewers(&self, event: impl Fn(&str) -> Value) {
        let Some((id, comms)) = self.running(|r| {
            let comms: Vec<String> = r.viewers.iter().map(|(_, c, _)| c.clone()).collect();
            (r.id.clone(), comms)
        }) else {
            return;
        };
        for comm in comms {
            self.terminals.send(&comm, event(&id));
        }
    }
}

impl LiveTerminal for CellTerminal {
    fn open(&self, cols: u16, rows: u16) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.terminals.inner().running = Some(Running {
            id: id.clone(),
            request: self.request.clone(),
            session: self.session.clone(),
            tab: self.tab.clone(),
            viewers: Vec::new(),
            held: Vec::new(),
            size: (cols, rows),
        });
        id
    }

    fn output(&self, bytes: &[u8]) -> bool {
        let taken = self.running(|r| {
            if r.held.len() + bytes.len() > MAX_HELD {
                r.held.clear();
                return false;
            }
            r.held.extend_from_slice(bytes);
            if r.held.len() >= SEND_AT {
                self.terminals.full.notify_one();
            }
            true
        });
        if taken == Some(true) {
            self.terminals.held.notify_one();
        }
        taken.unwrap_or(true)
    }

    fn screen(&self, viewer: u64, typing: bool, replay: Vec<u8>, cols: u16, rows: u16) {
        // What the others are owed goes first: the new viewer's stream starts after it.
        self.terminals.flush();
        let comm = {
            let inner = self.terminals.inner();
            inner
                .comms
                .iter()
                .find(|c| c.viewer == viewer)
                .map(|c| c.id.clone())
        };
        let Some(comm) = comm else { return };
        let Some(id) = self.running(|r| {
            r.viewers.retain(|(v, _, _)| *v != viewer);
            r.viewers.push((viewer, comm.clone(), typing));
            r.id.clone()
        }) else {
            return;
        };
        let data = String::from_utf8_lossy(&replay).into_owned();
        self.terminals.send(
            &comm,
            json!({"event": "screen", "terminal": id, "cols": cols, "rows": rows,
                   "typing": typing, "data": data}),
        );
    }

    fn redraw(&self, replay: Vec<u8>, cols: u16, rows: u16) {
        let Some((id, viewers)) = self.running(|r| {
            r.held.clear();
            (r.id.clone(), r.viewers.clone())
        }) else {
            return;
        };
        let data = String::from_utf8_lossy(&replay).into_owned();
        for (_, comm, typing) in viewers {
            self.terminals.send(
                &comm,
                json!({"event": "screen", "terminal": id, "cols": cols, "rows": rows,
                       "typing": typing, "data": data}),
            );
        }
    }

    fn resized(&self, cols: u16, rows: u16) {
        self.running(|r| r.size = (cols, rows));
        self.terminals.flush();
        self.to_viewers(|id| json!({"event": "size", "terminal": id, "cols": cols, "rows": rows}));
    }

    fn close(&self, screen: Option<String>) {
        self.terminals.flush();
        self.to_viewers(|id| match &screen {
            Some(s) => json!({"event": "ended", "terminal": id, "screen": s}),
            None => json!({"event": "ended", "terminal": id}),
        });
        let mut inner = self.terminals.inner();
        if inner
            .running
            .as_ref()
            .is_some_and(|r| r.request == self.request)
        {
            inner.running = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::take_utf8;

    #[test]
    fn utf8_split_between_reads_is_kept_for_the_next() {
        let mut held = "aé".as_bytes().to_vec();
        let last = held.pop().unwrap();
        assert_eq!(take_utf8(&mut held), "a");
        assert_eq!(held, vec![0xC3]);
        held.push(last);
        held.extend_from_slice("€".as_bytes());
        assert_eq!(take_utf8(&mut held), "é€");
        assert!(held.is_empty());
        // A four-byte character cut after three bytes.
        let mut held = "x🙂".as_bytes()[..4].to_vec();
        assert_eq!(take_utf8(&mut held), "x");
        assert_eq!(held.len(), 3);
    }

    #[test]
    fn invalid_bytes_become_replacement_characters_and_nothing_is_held_forever() {
        let mut held = vec![b'a', 0xFF, b'b', 0x80];
        assert_eq!(take_utf8(&mut held), "a\u{FFFD}b\u{FFFD}");
        assert!(held.is_empty());
        // A lead byte at the end waits once; with more after it, it is decided.
        let mut held = vec![b'a', 0xE2];
        assert_eq!(take_utf8(&mut held), "a");
        held.push(b'z');
        assert_eq!(take_utf8(&mut held), "\u{FFFD}z");
        assert!(held.is_empty());
    }
}
