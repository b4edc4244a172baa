//! What a cell shows, as IOPub messages:
//!
//! * finished text as `stream` messages, coalesced (one message per flush interval or per
//!   256 KiB, never one per line, so clients with a high-water mark lose nothing) and paced
//!   (see `pacing`) so that jupyter_server's rate limits never drop any of it;
//! * beyond the cell's output limit, the rest goes to a file on the kernel's machine; the
//!   cell says where, shows a live tail meanwhile, and keeps the last lines at the end;
//! * the part still changing (a progress bar, docker's layer lines, the last lines printed)
//!   in the live view (below), and a full-screen program's screen as its own display,
//!   updated in place, at most [`LIVE_EVERY`](crate::display::LIVE_EVERY) apart.
//!
//! # Where lines live while a cell runs
//!
//! A line is *final* once the program can no longer change it: it has scrolled out of the
//! cursor's reach (above the terminal's rows), or the cell has ended. Final text goes out as
//! `stream`, once. The rest is *pending* (`terminal::Renderer::pending`): a program may
//! still move the cursor up and redraw it, as docker, apt, pip and cargo do, so sending it
//! as `stream` early would keep a line tmux no longer shows.
//!
//! For a client that shows a page to a person (one that can answer prompts, `allow_stdin`:
//! JupyterLab, Notebook 7, VS Code), the pending part is shown in a **live view**, a
//! display refreshed in place. A display keeps the place it was created at, and `stream`
//! sent after it lands below it, out of the terminal's order. So while the view is open no
//! `stream` goes out: the view shows, above the pending lines, the last final lines not yet
//! sent, and they all go out when the view closes, which it does at the end of the cell,
//! before an input box (which appears below every output), when a full-screen program's
//! screen or an output over its limit takes the page, and once [`HOLD_MAX`] is held (fast
//! output: the view then stays closed for the cell). A closed view withdraws itself: it
//! keeps its place, showing nothing, since an output cannot be removed. The header is the
//! view when nothing was sent after it, so most cells get no extra output; at most
//! [`MAX_VIEWS`] views open per cell.
//!
//! A client that cannot answer (nbclient, papermill, jupyter_kernel_test with
//! `allow_stdin` false) gets no view: final lines go out as they become final (scrolled out
//! of reach) and the rest when the cell ends. Either way every final line is sent once, as
//! `stream`, in the terminal's order.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::display::{LiveDisplay, html_escape, strip_sgr};
use crate::frontend::{Output, Outputs, Shown, Stream};
use crate::header;
use crate::nonce::new_nonce;
use crate::sink::Sink;

const MAX_MESSAGE: usize = 256 * 1024;
/// Text waiting for the pacer beyond this stops the reading of the program's output
/// (the program then waits, as it would for a slow terminal).
const BACKLOG: usize = 4 * MAX_MESSAGE;
/// Output kept in memory before it is spilled to a file (only while an output limit is on).
const SPILL_AFTER: usize = 1 << 20;
/// Lines of the live tail, and of the tail kept at the end, of an output over its limit.
const TAIL_LINES: usize = 20;
/// Characters of one tail line kept (a 100 MB line must not be held).
const TAIL_LINE_MAX: usize = 4096;
/// The default `%output-limit`.
pub const DEFAULT_LIMIT: u64 = 2_000_000;
/// Text held while the live view is open, at most: past it the view closes for the rest of
/// the cell (output this fast is read in the stream, not in a view).
const HOLD_MAX: usize = MAX_MESSAGE;
/// Live views opened in one cell at most (each box a prompt opens, each full-screen program
/// closes one; a closed view stays as an empty output).
const MAX_VIEWS: usize = 8;
/// Lines the live view shows: the last final lines not yet sent, then the pending ones.
const VIEW_LINES: usize = 60;
/// Bytes of one line the live view shows (a 1 MiB line is cut).
const VIEW_LINE_MAX: usize = 2048;
/// Text held while a live terminal runs, at most: the terminal shows it, and the page
/// would only spend its time on a copy hidden under it (`%shell`'s transcript); past this
/// (an output limit turned off) it goes out as it comes.
const TERMINAL_HOLD_MAX: usize = 8 << 20;

/// What waits to be sent, in the order it came: text, and what programs show between it
/// (`pictures`), which must not overtake the text before it. A display counts in
/// `StreamOut::queued` by its size (the second field), like text: a program that sends
/// pictures faster than they go is held back the same way, and memory stays bounded.
enum Held {
    Text(Stream, String),
    Shown(Shown, usize),
}

/// Where the live view is shown.
enum View {
    /// Under the header line, which is the cell's last output.
    Header,
    /// A display of its own.
    Own(LiveDisplay),
}

/// The complete output of a cell with an output limit, held in memory while small and in a
/// file (mode 0600: outputs may hold secrets) once large.
enum Spill {
    Memory(Vec<u8>),
    File(PathBuf, std::io::BufWriter<File>),
    /// The cell ended over its limit: the file is complete.
    Done(PathBuf),
    Failed(String),
}

/// Output beyond the limit: where it went and what the live tail shows.
struct Overflow {
    hidden_bytes: u64,
    hidden_lines: u64,
    tail: VecDeque<String>,
    /// The tail's last line, still open.
    partial: String,
    display: LiveDisplay,
}

pub struct StreamOut<'a> {
    outputs: &'a dyn Outputs,
    /// Text waiting to be sent, in order, with the stream it goes to, and displays between.
    queue: VecDeque<Held>,
    queued: usize,
    silent: bool,
    /// Everything sent, kept (bounded) for the history's output field.
    pub kept: String,
    pub sent_any: bool,
    /// When the queued text may go (the pacer said wait).
    paced_until: Option<Instant>,
    limit: Option<u64>,
    /// Bytes of cell text accepted for the notebook so far.
    shown: u64,
    spill: Option<Spill>,
    /// The host and execution count the output file is named after.
    spill_for: (String, usize),
    /// The output file's path, named when first needed (most cells never need it).
    spill_path: Option<PathBuf>,
    overflow: Option<Overflow>,
    /// The cell's header; it is also the live view while nothing was sent after it.
    pub header: Option<header::Header>,
    screen: LiveDisplay,
    /// A person watches the page (see the module's documentation): pending lines are shown
    /// in a live view.
    watched: bool,
    /// The open live view; while it is, no stream is sent.
    view: Option<View>,
    views_opened: usize,
    /// Output too fast for a view: none opens again in this cell.
    views_off: bool,
    /// Something was sent after the header (or there is none): the header cannot be the view.
    after_header: bool,
    /// The output's pending part, as last given (watched cells only).
    pending: String,
    /// A live terminal shows the output: text is held, and no live view opens, until it
    /// ends (see [`TERMINAL_HOLD_MAX`]).
    terminal_live: bool,
}

const KEEP: usize = 64 * 1024;

impl<'a> StreamOut<'a> {
    /// `watched`: the client shows a page to a person (it can answer prompts).
    pub fn new(outputs: &'a dyn Outputs, silent: bool, watched: bool) -> StreamOut<'a> {
        StreamOut {
            outputs,
            queue: VecDeque::new(),
            queued: 0,
            silent,
            kept: String::new(),
            sent_any: false,
            paced_until: None,
            limit: None,
            shown: 0,
            spill: None,
            spill_for: (String::new(), 0),
            spill_path: None,
            overflow: None,
            header: None,
            screen: LiveDisplay::default(),
            watched: watched && !silent,
            view: None,
            views_opened: 0,
            views_off: false,
            after_header: false,
            pending: String::new(),
            terminal_live: false,
        }
    }

    /// The request is `silent` (shows nothing).
    pub fn is_silent(&self) -> bool {
        self.silent
    }

    /// Start the cell's header (its first output).
    pub fn start_header(&mut self, header: header::Header) {
        self.header = Some(header);
        self.after_header = false;
    }

    /// Keep at most `limit` bytes of cell text in the notebook; the complete text goes to a
    /// file (named after `host` and the execution count) once it outgrows memory.
    pub fn set_limit(&mut self, limit: Option<u64>, host: &str, count: usize) {
        self.limit = limit;
        self.spill = limit.map(|_| Spill::Memory(Vec::new()));
        self.spill_for = (host.to_owned(), count);
        self.spill_path = None;
    }

    fn spill_path(&mut self) -> PathBuf {
        let (host, count) = &self.spill_for;
        self.spill_path
            .get_or_insert_with(|| output_dir().join(output_file_name(host, *count)))
            .clone()
    }

    fn enqueue(&mut self, name: Stream, text: &str) {
        if text.is_empty() {
            return;
        }
        self.queued += text.len();
        match self.queue.back_mut() {
            Some(Held::Text(n, t)) if *n == name => t.push_str(text),
            _ => self.queue.push_back(Held::Text(name, text.to_owned())),
        }
    }

    /// Send as much of the queue as the pacer allows now; nothing while the live view is
    /// open (it shows the queue's last lines).
    fn send(&mut self, now: Instant) {
        if self.terminal_live && self.queued < TERMINAL_HOLD_MAX {
            return;
        }
        if self.view.is_some() {
            if self.queued < HOLD_MAX {
                return;
            }
            self.views_off = true;
            self.close_view(now);
        }
        while let Some(front) = self.queue.front_mut() {
            let (name, buf) = match front {
                Held::Text(name, buf) => (*name, buf),
                Held::Shown(..) => {
                    if !self.silent
                        && let Some(t) = self.outputs.ready(now, 0)
                    {
                        self.paced_until = Some(t);
                        return;
                    }
                    if let Some(Held::Shown(shown, size)) = self.queue.pop_front() {
                        self.queued -= size;
                        self.sent_any = true;
                        self.after_header = true;
                        self.outputs.emit(Output::Shown(shown));
                    }
                    continue;
                }
            };
            let cut = if buf.len() <= MAX_MESSAGE {
                buf.len()
            } else {
                // A whole number of lines if there is one, else a character boundary.
                match memchr::memrchr(b'\n', &buf.as_bytes()[..MAX_MESSAGE]) {
                    Some(i) => i + 1,
                    None => buf.floor_char_boundary(MAX_MESSAGE),
                }
            };
            if !self.silent
                && let Some(t) = self.outputs.ready(now, cut)
            {
                self.paced_until = Some(t);
                return;
            }
            self.paced_until = None;
            let text = if cut == buf.len() {
                match self.queue.pop_front() {
                    Some(Held::Text(_, t)) => t,
                    _ => String::new(),
                }
            } else {
                let rest = buf.split_off(cut);
                std::mem::replace(buf, rest)
            };
            self.queued -= text.len();
            if name == Stream::Out && self.kept.len() < KEEP {
                let end = text.floor_char_boundary(KEEP - self.kept.len());
                self.kept.push_str(&text[..end]);
            }
            self.sent_any = true;
            if !self.silent {
                self.after_header = true;
                self.outputs.emit(Output::Text { stream: name, text });
            }
        }
    }

    /// A message of the kernel's own (a warning), on stderr so it stands apart.
    pub fn note(&mut self, text: &str) {
        self.enqueue(Stream::Err, text);
        self.send(Instant::now());
    }

    /// Send everything queued, waiting where the pacer says so.
    pub async fn drain(&mut self) {
        self.send(Instant::now());
        while !self.queue.is_empty() {
            let until = self.paced_until.unwrap_or_else(Instant::now);
            tokio::time::sleep_until(until.into()).await;
            self.send(Instant::now());
        }
    }

    fn spill_write(&mut self, text: &str) {
        let failed = match &mut self.spill {
            Some(Spill::Memory(m)) => {
                m.extend_from_slice(text.as_bytes());
                if m.len() <= SPILL_AFTER {
                    return;
                }
                let path = self.spill_path();
                let Some(Spill::Memory(m)) = self.spill.take() else {
                    return;
                };
                let written = open_private(&path).and_then(|f| {
                    let mut w = std::io::BufWriter::with_capacity(1 << 16, f);
                    w.write_all(&m).map(|()| w)
                });
                match written {
                    Ok(w) => {
                        self.spill = Some(Spill::File(path, w));
                        return;
                    }
                    Err(e) => format!("cannot write {}: {e}", path.display()),
                }
            }
            Some(Spill::File(path, w)) => match w.write_all(text.as_bytes()) {
                Ok(()) => return,
                Err(e) => format!("cannot write {}: {e}", path.display()),
            },
            _ => return,
        };
        self.spill = Some(Spill::Failed(failed));
    }

    fn spill_where(&mut self) -> String {
        match &self.spill {
            Some(Spill::File(path, _) | Spill::Done(path)) => path.display().to_string(),
            Some(Spill::Failed(why)) => format!("nowhere: {why}"),
            _ => self.spill_path().display().to_string(),
        }
    }

    /// Text beyond the limit: counted, spilled, and its last lines kept for the tail.
    fn hide(&mut self, text: &str) {
        let Some(o) = &mut self.overflow else { return };
        o.hidden_bytes += text.len() as u64;
        for piece in text.split_inclusive('\n') {
            let line = piece.strip_suffix('\n');
            let body = line.unwrap_or(piece);
            if o.partial.len() < TAIL_LINE_MAX {
                let end = body.floor_char_boundary(TAIL_LINE_MAX - o.partial.len());
                o.partial.push_str(&body[..end]);
            }
            if line.is_some() {
                o.hidden_lines += 1;
                o.tail.push_back(std::mem::take(&mut o.partial));
                if o.tail.len() > TAIL_LINES {
                    o.tail.pop_front();
                }
            }
        }
    }

    fn tail_text(o: &Overflow) -> String {
        let mut s = String::new();
        for l in &o.tail {
            s.push_str(l);
            s.push('\n');
        }
        s.push_str(&o.partial);
        s
    }

    fn update_tail_display(&mut self, now: Instant, force: bool) {
        let whole = self.spill_where();
        let Some(o) = &mut self.overflow else { return };
        let title = format!(
            "… {} ({} lines) beyond the output limit, in {whole}; the last lines:",
            crate::size::format(o.hidden_bytes),
            o.hidden_lines
        );
        let mut tail = Self::tail_text(o);
        if !self.pending.is_empty() {
            if !tail.is_empty() && !tail.ends_with('\n') {
                tail.push('\n');
            }
            tail.push_str(&self.pending);
        }
        let plain = format!("{title}\n{tail}");
        let html = format!(
            "<div style=\"font-size:85%;opacity:0.7\">{}</div><pre>{}</pre>",
            html_escape(&title),
            html_escape(&strip_sgr(&tail))
        );
        o.display.set(plain, Some(html));
        if !self.silent {
            self.after_header = true;
            o.display.send(self.outputs, now, force);
        }
    }

    /// The pending part of the output (None: nothing), shown in the live view of a watched
    /// cell, or with the tail of an output over its limit.
    pub fn live(&mut self, text: Option<&str>) {
        if !self.watched || self.terminal_live {
            return;
        }
        self.pending.clear();
        if let Some(t) = text {
            self.pending.push_str(&view_lines(t, VIEW_LINES));
        }
        let now = Instant::now();
        if self.overflow.is_some() {
            self.update_tail_display(now, false);
            return;
        }
        if self.view.is_none() {
            if self.pending.trim().is_empty() || self.views_off || self.views_opened >= MAX_VIEWS {
                return;
            }
            self.views_opened += 1;
            self.view = Some(if self.header.is_some() && !self.after_header {
                View::Header
            } else {
                self.after_header = true;
                View::Own(LiveDisplay::placeholder())
            });
        }
        self.refresh_view(now, false);
    }

    /// What the live view shows: the last lines of what is not on the page yet (the held
    /// queue, then the pending part), with a count of the held lines above them.
    fn view_text(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        let mut lines = self.pending.matches('\n').count() + 1;
        let mut held_lines = 0;
        for t in self.queue.iter().rev().filter_map(|h| match h {
            Held::Text(_, t) => Some(t),
            Held::Shown(..) => None,
        }) {
            let n = memchr::memchr_iter(b'\n', t.as_bytes()).count();
            held_lines += n;
            if lines < VIEW_LINES {
                parts.push(t);
                lines += n;
            }
        }
        let mut held = String::new();
        for p in parts.iter().rev() {
            held.push_str(p);
        }
        let held = view_lines(
            &held,
            VIEW_LINES.saturating_sub(self.pending.lines().count()),
        );
        let shown = held.matches('\n').count();
        let mut text = String::new();
        if held_lines > shown {
            text.push_str(&format!(
                "\x1b[2m… {} more lines above, in the output when the cell ends\x1b[0m\n",
                held_lines - shown
            ));
        }
        text.push_str(&held);
        text.push_str(&self.pending);
        text
    }

    fn refresh_view(&mut self, now: Instant, force: bool) {
        if self.view.is_none() {
            return;
        }
        let text = self.view_text();
        match &mut self.view {
            Some(View::Header) => {
                if let Some(h) = &mut self.header {
                    h.live(self.outputs, Some(&text), now, force);
                }
            }
            Some(View::Own(d)) => {
                d.set(text, None);
                d.send(self.outputs, now, force);
            }
            None => {}
        }
    }

    /// Close the live view: it withdraws itself, and what it held goes out as stream.
    fn close_view(&mut self, now: Instant) {
        match self.view.take() {
            Some(View::Header) => {
                if let Some(h) = &mut self.header {
                    h.live(self.outputs, None, now, true);
                }
            }
            Some(View::Own(d)) => {
                if let Some(id) = d.shown_as() {
                    self.outputs.emit(Output::Withdraw { id: id.to_owned() });
                }
            }
            None => return,
        }
        self.send(now);
    }

    /// Something is about to appear below every output (an input box): what the live view
    /// holds goes out first, so the page keeps the terminal's order.
    pub fn interlude(&mut self) {
        self.close_view(Instant::now());
    }

    /// What a program asked to show, after the text before it. It counts against the output
    /// limit by its size in the notebook (the base64 of an image): one that does not fit in
    /// what is left is not shown, and the cell says so.
    pub fn show(&mut self, shown: Shown) {
        if self.silent {
            return;
        }
        let size: u64 = shown
            .data
            .values()
            .map(|v| v.as_str().map_or(0, str::len) as u64)
            .sum();
        if let Some(limit) = self.limit {
            if self.overflow.is_some() || size > limit.saturating_sub(self.shown) {
                self.note(&format!(
                    "sshpty: an output of {} a program sent was not shown: it would pass this \
                     cell's output limit of {} (%output-limit SIZE|off changes the limit)\n",
                    crate::size::format(size),
                    crate::size::format(limit)
                ));
                return;
            }
            self.shown += size;
        }
        let now = Instant::now();
        // The live view holds text that came before: it goes out first.
        self.close_view(now);
        self.queued += size as usize;
        self.queue.push_back(Held::Shown(shown, size as usize));
        self.send(now);
    }

    /// A full-screen program's screen (text and HTML), shown as one display refreshed in
    /// place; it stays with the last screen when the program leaves.
    pub fn screen(&mut self, plain: String, html: String, force: bool) {
        if self.silent {
            return;
        }
        let now = Instant::now();
        if self.screen.shown_as().is_none() {
            // The screen's display goes below everything before it.
            self.close_view(now);
        }
        self.after_header = true;
        self.screen.set(plain, Some(html));
        self.screen.send(self.outputs, now, force);
    }

    /// End of the cell: everything held is sent, live views get their final state, and an
    /// output over its limit says where the whole of it is. Returns that file, if any.
    pub async fn finish(&mut self) -> Option<PathBuf> {
        self.close_view(Instant::now());
        self.pending.clear();
        let over = self.overflow.is_some();
        match self.spill.take() {
            Some(Spill::File(path, mut w)) => {
                if let Err(e) = w.flush() {
                    self.spill = Some(Spill::Failed(format!(
                        "cannot write {}: {e}",
                        path.display()
                    )));
                } else if !over {
                    drop(w);
                    let _ = std::fs::remove_file(&path);
                } else {
                    self.spill = Some(Spill::Done(path));
                }
            }
            Some(Spill::Memory(m)) if over => {
                // Over a limit smaller than what is kept in memory: write it out now.
                let path = self.spill_path();
                self.spill = Some(
                    match open_private(&path).and_then(|mut f| f.write_all(&m)) {
                        Ok(()) => Spill::Done(path),
                        Err(e) => Spill::Failed(format!("cannot write {}: {e}", path.display())),
                    },
                );
            }
            other => self.spill = other,
        }
        let now = Instant::now();
        if over {
            self.update_tail_display(now, true);
        }
        self.drain().await;
        self.screen.send(self.outputs, now, true);
        match &self.spill {
            Some(Spill::Done(p)) => Some(p.clone()),
            _ => None,
        }
    }

    fn accept(&mut self, text: &str) {
        if self.overflow.is_some() {
            self.spill_write(text);
            self.hide(text);
            self.update_tail_display(Instant::now(), false);
            return;
        }
        let Some(limit) = self.limit else {
            self.enqueue(Stream::Out, text);
            return;
        };
        self.spill_write(text);
        let room = limit.saturating_sub(self.shown);
        if (text.len() as u64) <= room {
            self.shown += text.len() as u64;
            self.enqueue(Stream::Out, text);
            return;
        }
        // Over the limit: show up to the last whole line that fits. The tail's display goes
        // below it: what the live view holds goes out first.
        let fit = memchr::memrchr(b'\n', &text.as_bytes()[..room as usize]).map_or(0, |i| i + 1);
        self.enqueue(Stream::Out, &text[..fit]);
        self.shown += fit as u64;
        self.close_view(Instant::now());
        self.overflow = Some(Overflow {
            hidden_bytes: 0,
            hidden_lines: 0,
            tail: VecDeque::new(),
            partial: String::new(),
            display: LiveDisplay::default(),
        });
        let limit_text = crate::size::format(limit);
        let whole = self.spill_where();
        self.note(&format!(
            "sshpty: the output passed this cell's limit of {limit_text}; the rest is not shown \
             here, the complete output goes to {whole} (%output-limit SIZE|off changes the limit)\n"
        ));
        self.hide(&text[fit..]);
        self.update_tail_display(Instant::now(), true);
    }
}

/// Where the complete output of cells over their output limit is kept.
pub(crate) fn output_dir() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    data.join("sshpty").join("outputs")
}

pub(crate) fn output_file_name(host: &str, count: usize) -> String {
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{}-{host}-cell{count}-{}.txt",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        &new_nonce()[..8]
    )
}

pub(crate) fn open_private(path: &std::path::Path) -> std::io::Result<File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent() {
        // Directories it creates are the user's alone too (the file names say which hosts
        // and when; without HOME they would be under the shared temporary directory).
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

impl Sink for StreamOut<'_> {
    fn text(&mut self, text: &str) {
        self.accept(text);
        if self.queued >= MAX_MESSAGE {
            self.send(Instant::now());
        }
    }

    fn flush(&mut self) {
        let now = Instant::now();
        self.send(now);
        if let Some(o) = &self.overflow
            && o.display.due.is_some()
        {
            self.update_tail_display(now, false);
        }
        self.screen.send(self.outputs, now, false);
        self.refresh_view(now, false);
    }

    fn blocked_until(&self) -> Option<tokio::time::Instant> {
        // While a terminal shows the output, the program is never held for the page's sake.
        if self.queued >= BACKLOG && !(self.terminal_live && self.queued < TERMINAL_HOLD_MAX) {
            Some(self.paced_until.unwrap_or_else(Instant::now).into())
        } else {
            None
        }
    }

    fn live(&mut self, text: Option<&str>) {
        StreamOut::live(self, text);
    }

    fn screen(&mut self, plain: String, html: String, force: bool) {
        StreamOut::screen(self, plain, html, force);
    }

    fn note(&mut self, text: &str) {
        StreamOut::note(self, text);
    }

    fn show(&mut self, shown: Shown) {
        StreamOut::show(self, shown);
    }

    fn interlude(&mut self) {
        StreamOut::interlude(self);
    }

    fn terminal(&mut self, id: Option<String>) {
        if id.is_some() {
            // What the live view held goes out before the terminal's display.
            self.close_view(Instant::now());
        }
        self.terminal_live = id.is_some();
        if !self.silent {
            self.screen.set_terminal(id);
        }
    }

    fn withdraw_screen(&mut self) {
        self.terminal_live = false;
        self.screen.withdraw(self.outputs);
    }
}

/// The last `n` lines of `text` (a last line without newline counts), each cut to
/// [`VIEW_LINE_MAX`] bytes.
fn view_lines(text: &str, n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    let start = memchr::memrchr_iter(b'\n', body.as_bytes())
        .nth(n - 1)
        .map_or(0, |i| i + 1);
    let mut out = String::with_capacity(text.len() - start);
    for piece in text[start..].split_inclusive('\n') {
        let (line, nl) = match piece.strip_suffix('\n') {
            Some(l) => (l, "\n"),
            None => (piece, ""),
        };
        out.push_str(&line[..line.floor_char_boundary(VIEW_LINE_MAX)]);
        out.push_str(nl);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value};
    use std::sync::Mutex;

    /// Outputs kept in order; the pacer says wait while `hold` is set.
    #[derive(Default)]
    struct Kept {
        hold: Mutex<bool>,
        outputs: Mutex<Vec<Output>>,
    }

    impl Outputs for Kept {
        fn ready(&self, now: Instant, _: usize) -> Option<Instant> {
            (*self.hold.lock().unwrap()).then(|| now + std::time::Duration::from_secs(1))
        }
        fn emit(&self, output: Output) {
            self.outputs.lock().unwrap().push(output);
        }
    }

    fn shown(bytes: usize) -> Shown {
        let mut data = Map::new();
        data.insert("image/png".into(), Value::String("A".repeat(bytes)));
        Shown {
            data,
            metadata: Map::new(),
            id: None,
            update: false,
        }
    }

    /// Text the pacer holds is not overtaken by a picture after it.
    #[test]
    fn a_picture_waits_behind_the_text_before_it() {
        let kept = Kept::default();
        *kept.hold.lock().unwrap() = true;
        let mut out = StreamOut::new(&kept, false, false);
        Sink::text(&mut out, "before\n");
        Sink::show(&mut out, shown(10));
        Sink::text(&mut out, "after\n");
        assert!(kept.outputs.lock().unwrap().is_empty());
        // Pictures held count like text: past the backlog the program is held back.
        assert!(Sink::blocked_until(&out).is_none());
        Sink::show(&mut out, shown(BACKLOG));
        assert!(Sink::blocked_until(&out).is_some());
        *kept.hold.lock().unwrap() = false;
        Sink::flush(&mut out);
        assert!(Sink::blocked_until(&out).is_none());
        let got = kept.outputs.lock().unwrap().clone();
        assert!(
            matches!(&got[..], [
                Output::Text { text: a, .. },
                Output::Shown(_),
                Output::Text { text: b, .. },
                Output::Shown(_),
            ] if a == "before\n" && b == "after\n"),
            "{got:?}"
        );
    }

    /// A picture counts against the output limit by its size in the notebook; one that does
    /// not fit is a line, and text still fits after it.
    #[test]
    fn pictures_count_against_the_output_limit() {
        let kept = Kept::default();
        let mut out = StreamOut::new(&kept, false, false);
        out.set_limit(Some(1000), "h", 1);
        Sink::show(&mut out, shown(600));
        Sink::show(&mut out, shown(600));
        Sink::text(&mut out, "fits\n");
        Sink::flush(&mut out);
        let got = kept.outputs.lock().unwrap().clone();
        assert!(matches!(got[0], Output::Shown(_)), "{got:?}");
        assert!(
            matches!(&got[1], Output::Text { stream: Stream::Err, text } if text.contains("was not shown: it would pass this cell's output limit")),
            "{got:?}"
        );
        assert!(
            matches!(&got[2], Output::Text { stream: Stream::Out, text } if text == "fits\n"),
            "{got:?}"
        );
        assert_eq!(got.len(), 3);
    }
}
