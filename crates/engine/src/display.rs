//! Displays shown in a cell and updated in place (the live tail of a large output, a
//! full-screen program's screen, the header's live line): how often they are refreshed, and
//! the text they show.

use std::time::{Duration, Instant};

use crate::frontend::{Display, Output, Outputs};

pub use terminal::html_escape;

/// Live views are refreshed at most this often (10 per second).
pub const LIVE_EVERY: Duration = Duration::from_millis(100);

/// A display updated in place: created at its first update, refreshed at most every
/// [`LIVE_EVERY`], and always brought up to date at the end.
#[derive(Default)]
pub struct LiveDisplay {
    id: Option<String>,
    sent_at: Option<Instant>,
    /// What to show next (text/plain, text/html), if it changed since it was last sent.
    pub due: Option<(String, Option<String>)>,
    last: Option<(String, Option<String>)>,
    /// Created empty, its content sent as an update (see [`Output::Placeholder`]).
    placeholder: bool,
    /// The live terminal the display stands for, while it runs: the frontend draws the
    /// screen from the terminal's own stream then, so the text is refreshed only every
    /// [`LIVE_EVERY_BEHIND_TERMINAL`] (for clients that show the text).
    terminal: Option<String>,
}

/// How often a display behind a live terminal is refreshed: its text is for clients
/// without the terminal, and every update counts against jupyter_server's message budget,
/// which the terminal's stream shares.
pub const LIVE_EVERY_BEHIND_TERMINAL: Duration = Duration::from_secs(1);

impl LiveDisplay {
    /// A display created empty and filled by updates: clients that print displays as they
    /// come and ignore updates (`jupyter console`) show nothing of it, where they would
    /// otherwise print its first state and then, from the stream, the same lines again.
    pub fn placeholder() -> LiveDisplay {
        LiveDisplay {
            placeholder: true,
            ..Default::default()
        }
    }

    /// The display's id once it has been shown.
    pub fn shown_as(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Empty the display, if shown (it keeps its place); a later `set` shows a new one.
    pub fn withdraw(&mut self, outputs: &dyn Outputs) {
        if let Some(id) = self.id.take() {
            outputs.emit(Output::Withdraw { id });
        }
        *self = LiveDisplay {
            placeholder: self.placeholder,
            ..Default::default()
        };
    }

    /// Stand for a live terminal (Some), or no longer (None, sent as soon as possible).
    pub fn set_terminal(&mut self, terminal: Option<String>) {
        if self.terminal != terminal {
            self.terminal = terminal;
            // Due again, even with the same text: the frontend must see the change.
            self.due = self.due.take().or_else(|| self.last.clone());
            self.last = None;
        }
    }

    pub fn set(&mut self, plain: String, html: Option<String>) {
        let new = Some((plain, html));
        if new != self.last {
            self.due = new;
        } else {
            self.due = None;
        }
    }

    /// Send what is due, if the rate allows (or `force`). Returns whether a message went.
    pub fn send(&mut self, outputs: &dyn Outputs, now: Instant, force: bool) -> bool {
        let every = if self.terminal.is_some() {
            LIVE_EVERY_BEHIND_TERMINAL
        } else {
            LIVE_EVERY
        };
        if self.due.is_none()
            || (!force && self.sent_at.is_some_and(|t| now.duration_since(t) < every))
        {
            return false;
        }
        let Some((plain, html)) = self.due.take() else {
            return false;
        };
        let created = self.id.is_some();
        let id = self
            .id
            .get_or_insert_with(|| format!("sshpty-live-{}", uuid::Uuid::new_v4()))
            .clone();
        let display = Display {
            id,
            plain: plain.clone(),
            html: html.clone(),
            metadata: Default::default(),
            terminal: self.terminal.clone(),
        };
        if !created && self.placeholder {
            outputs.emit(Output::Placeholder {
                id: display.id.clone(),
            });
        }
        outputs.emit(if created || self.placeholder {
            Output::Update(display)
        } else {
            Output::Display(display)
        });
        self.last = Some((plain, html));
        self.sent_at = Some(now);
        true
    }
}

/// Text without its SGR sequences (the renderer leaves no other escapes in line text).
pub fn strip_sgr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgr_is_stripped_and_text_kept() {
        assert_eq!(strip_sgr("\x1b[1;31mred\x1b[0m plain"), "red plain");
        assert_eq!(strip_sgr("ünï"), "ünï");
    }
}
