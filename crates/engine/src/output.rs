//! What a cell shows, as IOPub messages:
//!
//! * finished text as `stream` messages, coalesced (one message per flush interval or per
//!   256 KiB, never one per line, so clients with a high-water mark lose nothing) and paced
//!   (see `pacing`) so that jupyter_server's rate limits never drop any of it;
//! * beyond the cell's output limit, the rest goes to a file on the kernel's machine; the
//!   cell says where, shows a live tail meanwhile, and keeps the last lines at the end;
//! * the part still changing (a progress bar being redrawn) in the cell's header, updated
//!   in place, and a full-screen program's screen as its own display, updated in place, at
//!   most [`LIVE_EVERY`] apart.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::cell::Sink;
use crate::display::{LiveDisplay, html_escape, strip_sgr};
use crate::frontend::{Output, Outputs, Stream};
use crate::header;
use crate::nonce::new_nonce;

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
pub const DEFAULT_LIMIT: u64 = 10_000_000;

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
    /// Text waiting to be sent, in order, with the stream it goes to.
    queue: VecDeque<(Stream, String)>,
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
    /// The cell's header, which also shows the still-changing part of the output.
    pub header: Option<header::Header>,
    screen: LiveDisplay,
}

const KEEP: usize = 64 * 1024;

impl<'a> StreamOut<'a> {
    pub fn new(outputs: &'a dyn Outputs, silent: bool) -> StreamOut<'a> {
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
        }
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
            Some((n, t)) if *n == name => t.push_str(text),
            _ => self.queue.push_back((name, text.to_owned())),
        }
    }

    /// Send as much of the queue as the pacer allows now.
    fn send(&mut self, now: Instant) {
        while let Some((name, buf)) = self.queue.front_mut() {
            let name = *name;
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
                self.queue.pop_front().map(|(_, t)| t).unwrap_or_default()
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
        let tail = Self::tail_text(o);
        let plain = format!("{title}\n{tail}");
        let html = format!(
            "<div style=\"font-size:85%;opacity:0.7\">{}</div><pre>{}</pre>",
            html_escape(&title),
            html_escape(&strip_sgr(&tail))
        );
        o.display.set(plain, html);
        if !self.silent {
            o.display.send(self.outputs, now, force);
        }
    }

    /// The part of the output still changing (None: nothing), shown in the cell's header.
    pub fn live(&mut self, text: Option<&str>) {
        if self.silent {
            return;
        }
        let now = Instant::now();
        if let Some(h) = &mut self.header {
            h.live(self.outputs, text, now);
        }
    }

    /// A full-screen program's screen (text and HTML), shown as one display refreshed in
    /// place; it stays with the last screen when the program leaves.
    pub fn screen(&mut self, plain: String, html: String, force: bool) {
        if self.silent {
            return;
        }
        let now = Instant::now();
        self.screen.set(plain, html);
        self.screen.send(self.outputs, now, force);
    }

    /// End of the cell: everything held is sent, live views get their final state, and an
    /// output over its limit says where the whole of it is. Returns that file, if any.
    pub async fn finish(&mut self) -> Option<PathBuf> {
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
        if let Some(h) = &mut self.header {
            h.live(self.outputs, None, now);
        }
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
        // Over the limit: show up to the last whole line that fits.
        let fit = memchr::memrchr(b'\n', &text.as_bytes()[..room as usize]).map_or(0, |i| i + 1);
        self.enqueue(Stream::Out, &text[..fit]);
        self.shown += fit as u64;
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
fn output_dir() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    data.join("sshpty").join("outputs")
}

fn output_file_name(host: &str, count: usize) -> String {
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

fn open_private(path: &std::path::Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
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
        if let Some(h) = &mut self.header {
            h.live_due(self.outputs, now);
        }
    }

    fn blocked_until(&self) -> Option<tokio::time::Instant> {
        if self.queued >= BACKLOG {
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
}
