//! Where a cell's rendered output goes (`output::StreamOut` for a request; nothing for a
//! login's runner): the interface between the cell's PTY loop (`cell.rs`, `live.rs`) and
//! what the cell shows.

use tokio::time::Instant;

use crate::frontend::Shown;

/// Where rendered text goes.
pub trait Sink: Send {
    /// Finished text.
    fn text(&mut self, text: &str);
    /// Called every [`FLUSH_EVERY`](crate::cell::FLUSH_EVERY) while the cell runs.
    fn flush(&mut self);
    /// While Some, the sink holds more than it may send yet: stop reading the program's
    /// output (it waits, as for a slow terminal) until then, and flush.
    fn blocked_until(&self) -> Option<Instant> {
        None
    }
    /// The pending part of the output, what the program can still redraw (None: nothing),
    /// for a live view.
    fn live(&mut self, _text: Option<&str>) {}
    /// Something is about to appear below every output (an input box): what is held for
    /// a live view goes out first.
    fn interlude(&mut self) {}
    /// A full-screen program's screen; `last`: the final one (the program left).
    fn screen(&mut self, _plain: String, _html: String, _last: bool) {}
    /// The screen's display stands for live terminal `id` from now (None: no longer).
    fn terminal(&mut self, _id: Option<String>) {}
    /// The screen's display is emptied (it stood for a terminal that showed no screen).
    fn withdraw_screen(&mut self) {}
    /// What a program asked to show (an image, HTML), after everything given before it.
    fn show(&mut self, _shown: Shown) {}
    /// A message of the kernel's own.
    fn note(&mut self, text: &str) {
        self.text(text);
    }
}
