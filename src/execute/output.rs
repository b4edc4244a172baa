//! A cell's text output, coalesced into `stream` messages: one message per flush
//! interval (or per 256 KiB), never one per line, so clients with a high-water mark
//! lose nothing and a 200 000-line output is a few dozen messages.

use jupyter_protocol::{Header, JupyterMessageContent, Stdio, StreamContent};

use super::cell::Sink;
use crate::kernel::channels::Iopub;

const MAX_MESSAGE: usize = 256 * 1024;

pub struct StreamOut<'a> {
    iopub: &'a Iopub,
    parent: &'a Header,
    buf: String,
    silent: bool,
    /// Everything sent, kept (bounded) for the history's output field.
    pub kept: String,
    pub sent_any: bool,
}

const KEEP: usize = 64 * 1024;

impl<'a> StreamOut<'a> {
    pub fn new(iopub: &'a Iopub, parent: &'a Header, silent: bool) -> StreamOut<'a> {
        StreamOut {
            iopub,
            parent,
            buf: String::new(),
            silent,
            kept: String::new(),
            sent_any: false,
        }
    }

    fn send(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let text = std::mem::take(&mut self.buf);
        if self.kept.len() < KEEP {
            let room = KEEP - self.kept.len();
            let cut = (0..=room.min(text.len()))
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            self.kept.push_str(&text[..cut]);
        }
        self.sent_any = true;
        if !self.silent {
            self.iopub.send(
                JupyterMessageContent::StreamContent(StreamContent {
                    name: Stdio::Stdout,
                    text,
                }),
                Some(self.parent),
            );
        }
    }

    /// A message of the kernel's own (a warning), on stderr so it stands apart.
    pub fn note(&mut self, text: &str) {
        self.send();
        if !self.silent {
            self.iopub.send(
                JupyterMessageContent::StreamContent(StreamContent {
                    name: Stdio::Stderr,
                    text: text.to_owned(),
                }),
                Some(self.parent),
            );
        }
    }
}

impl Sink for StreamOut<'_> {
    fn text(&mut self, text: &str) {
        self.buf.push_str(text);
        if self.buf.len() >= MAX_MESSAGE {
            self.send();
        }
    }

    fn flush(&mut self) {
        self.send();
    }
}
