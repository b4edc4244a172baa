//! How the engine speaks to the world: what one request shows, the questions it asks its
//! user, and the events a running cell takes from outside its request. The kernel adapts
//! these to Jupyter (IOPub, stdin, comm messages); tests implement them in memory. Nothing
//! here knows Jupyter's messages.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde_json::{Map, Value};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Which stream text goes to: the cell's own (stdout and stderr arrive merged from a PTY),
/// or the kernel's notes, kept apart on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

/// A display shown in the cell and replaced in place by later outputs with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Display {
    pub id: String,
    pub plain: String,
    pub html: Option<String>,
    /// Kept with the output in the saved notebook (the header's facts).
    pub metadata: Map<String, Value>,
    /// The live terminal this display stands for while it runs (see [`LiveTerminal`]): a
    /// frontend that can show one shows it instead of the text; the display's last update
    /// has none, so the saved notebook keeps the screen as text.
    pub terminal: Option<String>,
}

/// What a program asked to show (an image, HTML: see `pictures`), as a MIME bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// MIME type to content, as Jupyter's `data`: images in base64, HTML (sanitized) and the
    /// text/plain fallback as text.
    pub data: Map<String, Value>,
    /// Per MIME type (`{"image/png": {"width": 120}}`), as Jupyter's `metadata`.
    pub metadata: Map<String, Value>,
    /// The display id the program gave (`display ID`), namespaced.
    pub id: Option<String>,
    /// A display with this id was already shown in the cell: this one replaces it.
    pub update: bool,
}

/// One output of a request, in the order it is emitted.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// The code being run, with its execution count.
    Input {
        code: String,
        count: usize,
    },
    Text {
        stream: Stream,
        text: String,
    },
    /// A new display.
    Display(Display),
    /// A display already shown, replaced.
    Update(Display),
    /// What a program asked to show: a new display, or (`update`) one replaced.
    Shown(Shown),
    /// A new display that shows nothing yet, for later updates to fill: a client that prints
    /// displays as they come (`jupyter console`, papermill's log) prints nothing for it.
    Placeholder {
        id: String,
    },
    /// A display already shown, emptied: it keeps its place and shows nothing (a frontend
    /// cannot remove an output; the live view withdraws itself this way).
    Withdraw {
        id: String,
    },
    /// The request failed: what the reply and the error output say.
    Error {
        ename: String,
        evalue: String,
    },
}

/// Where one request's outputs go. Bounded: the engine asks [`Outputs::ready`] before it
/// emits text, holds what may not go yet, and past a small backlog stops reading the
/// program's output, so the program waits as it would for a slow terminal.
pub trait Outputs: Send + Sync {
    /// When `text_len` bytes of text may be emitted: None now, else not before the time
    /// given (the frontend's rate limits: jupyter_server drops output beyond its own).
    fn ready(&self, _now: Instant, _text_len: usize) -> Option<Instant> {
        None
    }
    fn emit(&self, output: Output);
}

/// Outputs nobody sees (a login read in the background, a completion's own login).
pub struct Discard;

impl Outputs for Discard {
    fn emit(&self, _: Output) {}
}

/// Asks the request's user a question (Jupyter's `input_request`).
pub trait Asker: Send + Sync {
    /// Resolves with the answer, or None if the question could not be asked.
    fn ask(&self, prompt: &str, password: bool) -> BoxFuture<Option<String>>;
}

/// Identifies a request (Jupyter's `msg_id` of the execute_request): events for a cell
/// name the request they were meant for, and are dropped when another cell runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RequestId(pub String);

/// One request as the engine sees it.
#[derive(Clone)]
pub struct Request {
    pub id: RequestId,
    pub outputs: Arc<dyn Outputs>,
    /// None: this client cannot answer questions (nbclient, papermill: `allow_stdin`
    /// false), so a program that waits for input ends the cell.
    pub asker: Option<Arc<dyn Asker>>,
    /// Some when the client that sent the request can show a live terminal in the cell.
    pub terminal: Option<Arc<dyn LiveTerminal>>,
}

impl Request {
    /// A request whose outputs go nowhere and that cannot ask.
    pub fn quiet() -> Request {
        Request {
            id: RequestId::default(),
            outputs: Arc::new(Discard),
            asker: None,
            terminal: None,
        }
    }
}

/// A terminal that the request's client shows live in the cell (xterm.js in JupyterLab),
/// fed by the cell from the moment its program takes the screen until the cell ends. The
/// calls come from the cell in order; an implementation delivers them in that order.
pub trait LiveTerminal: Send + Sync {
    /// The program took the screen: the terminal starts, `cols` × `rows`. Returns its id,
    /// which the screen's display carries while the terminal runs.
    fn open(&self, cols: u16, rows: u16) -> String;
    /// The program's output, as it arrives. False: the terminal is too far behind to take
    /// more (its viewers are then sent a [`redraw`](Self::redraw) instead).
    fn output(&self, bytes: &[u8]) -> bool;
    /// What viewer `viewer` is sent first when it attaches: bytes that redraw the screen
    /// and set the modes the program set (`terminal::Renderer::replay`), at this size.
    /// `typing`: it is the viewer whose keys the program takes.
    fn screen(&self, viewer: u64, typing: bool, replay: Vec<u8>, cols: u16, rows: u16);
    /// Every viewer is sent this instead of the output it is behind on.
    fn redraw(&self, replay: Vec<u8>, cols: u16, rows: u16);
    /// The PTY's size changed.
    fn resized(&self, cols: u16, rows: u16);
    /// The cell ended: no more output. `screen`: the program's last screen as text, when one
    /// held the screen (a viewer whose display is not replaced shows it).
    fn close(&self, screen: Option<String>);
}

/// What a frontend sends a running cell from outside its execute_request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellEvent {
    /// Bytes typed, sent to the program as they are.
    Keys(Bytes),
    /// The frontend's terminal changed size.
    Resize { cols: u16, rows: u16 },
    /// A viewer of the cell's live terminal attached: it is sent the screen first.
    /// `typing`: it is the one whose keys the program takes (the client that ran the
    /// cell); the kernel decides that, and delivers [`CellEvent::Keys`] from it alone.
    Attach { viewer: u64, typing: bool },
}

/// A [`CellEvent`] and the request it was meant for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForCell {
    pub request: RequestId,
    pub event: CellEvent,
}
