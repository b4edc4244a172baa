//! A cell's side of a live terminal (`frontend::LiveTerminal`): when it starts (the program
//! takes the screen), what it is fed (the program's output as the PTY gave it, the kernel's
//! sudo marker shown as sudo's own `[sudo]`), and what a viewer attaching is sent first
//! (the screen and modes, from the cell's own terminal emulator).

use crate::frontend::LiveTerminal;
use crate::sink::Sink;

pub(crate) struct LiveTerm<'a> {
    terminal: Option<&'a dyn LiveTerminal>,
    /// Its id, from the moment the program took the screen until the cell ends.
    id: Option<String>,
    /// The sudo marker's tag as the program writes it (`[sshpty:M]`), never shown.
    tag: Option<Vec<u8>>,
    /// Viewers that attached while the output read so far ended inside an escape sequence
    /// or a character: a screen taken then would lose its first half, so it is taken after
    /// a read that ends between two (`Renderer::at_boundary`).
    waiting: Vec<(u64, bool)>,
    /// The viewers fell behind (the terminal took no more output): they are sent the
    /// screen anew at the next boundary, and nothing until then.
    redraw_due: bool,
    /// The terminal starts with the cell (`%shell`).
    from_start: bool,
    /// A program held the screen while the terminal ran: its last screen is the display's
    /// final text. Otherwise (a `%shell` of line commands) the display is withdrawn at the
    /// end: the session's lines are the cell's text output.
    took_screen: bool,
    /// The screen the last program to leave it showed (vi's last screen), as text.
    left: Option<String>,
}

impl<'a> LiveTerm<'a> {
    /// `terminal`: None when the request's client cannot show one. `tag`: the sudo
    /// marker's tag, as the terminal would show it.
    pub fn new(
        terminal: Option<&'a dyn LiveTerminal>,
        tag: Option<&str>,
        from_start: bool,
    ) -> LiveTerm<'a> {
        LiveTerm {
            terminal,
            id: None,
            tag: tag.map(|t| t.as_bytes().to_vec()),
            waiting: Vec::new(),
            redraw_due: false,
            from_start,
            took_screen: false,
            left: None,
        }
    }

    /// A program left the screen showing `text`.
    pub fn left_screen(&mut self, text: &str) {
        if self.id.is_some() {
            self.left = Some(text.to_owned());
        }
    }

    /// The cell's program started: a terminal that starts with the cell starts now.
    pub fn started(&mut self, renderer: &terminal::Renderer, sink: &mut dyn Sink) {
        if self.from_start && self.id.is_none() {
            self.open(renderer, sink);
        }
    }

    fn open(&mut self, renderer: &terminal::Renderer, sink: &mut dyn Sink) {
        let Some(t) = self.terminal else { return };
        let (cols, rows) = renderer.size();
        let id = t.open(cols, rows);
        sink.terminal(Some(id.clone()));
        // The display the frontend finds the terminal by, shown now (a screen program's
        // display is shown anyway; a `%shell` at its prompt would have none).
        sink.screen(renderer.screen_text(), renderer.screen_html(), true);
        self.id = Some(id);
    }

    pub fn is_open(&self) -> bool {
        self.id.is_some()
    }

    /// After `bytes` of the program's output were fed to `renderer`: the terminal starts
    /// once the program holds the screen, and from then on gets every byte. It stays until
    /// the cell ends, also when the program leaves the screen for a moment (vi's `:!cmd`
    /// and the prompt of what it runs): it is where the user types.
    pub fn output(&mut self, renderer: &terminal::Renderer, bytes: &[u8], sink: &mut dyn Sink) {
        let Some(t) = self.terminal else { return };
        self.took_screen |= renderer.screen_mode();
        if self.id.is_some() {
            if !self.redraw_due {
                let bytes = self.clean(bytes);
                self.redraw_due = !t.output(&bytes);
            }
            if renderer.at_boundary() {
                let (cols, rows) = renderer.size();
                if std::mem::take(&mut self.redraw_due) {
                    t.redraw(renderer.replay(), cols, rows);
                }
                for (viewer, typing) in std::mem::take(&mut self.waiting) {
                    t.screen(viewer, typing, renderer.replay(), cols, rows);
                }
            }
        } else if renderer.screen_mode() {
            self.open(renderer, sink);
        }
    }

    /// A viewer attached: it is sent the screen. Returns false when no terminal runs (the
    /// attach came for one that ended, or before the program took the screen).
    pub fn attach(&mut self, viewer: u64, typing: bool, renderer: &terminal::Renderer) -> bool {
        match (self.terminal, &self.id) {
            (Some(t), Some(_)) if renderer.at_boundary() && !self.redraw_due => {
                let (cols, rows) = renderer.size();
                t.screen(viewer, typing, renderer.replay(), cols, rows);
                true
            }
            (Some(_), Some(_)) => {
                // Bounded: one entry per viewer, and the kernel keeps few viewers.
                self.waiting.retain(|(v, _)| *v != viewer);
                if self.waiting.len() < 64 {
                    self.waiting.push((viewer, typing));
                }
                true
            }
            _ => false,
        }
    }

    pub fn resized(&self, cols: u16, rows: u16) {
        if let (Some(t), Some(_)) = (self.terminal, &self.id) {
            t.resized(cols, rows);
        }
    }

    /// The cell ended: the terminal ends, and the screen's display shows text again.
    pub fn close(&mut self, renderer: &terminal::Renderer, sink: &mut dyn Sink) {
        if let (Some(t), Some(_)) = (self.terminal, self.id.take()) {
            let screen = if renderer.screen_mode() {
                Some(renderer.screen_text())
            } else {
                self.left.take()
            };
            t.close(screen.filter(|_| self.took_screen));
            if self.took_screen {
                sink.terminal(None);
            } else {
                sink.withdraw_screen();
            }
        }
    }

    /// The output with the sudo marker's tag read as sudo's own `[sudo]` (a tag split
    /// between two reads is not caught; the prompt is one write in sudo, so rarely split).
    fn clean<'b>(&self, bytes: &'b [u8]) -> std::borrow::Cow<'b, [u8]> {
        let Some(tag) = self.tag.as_deref().filter(|t| !t.is_empty()) else {
            return bytes.into();
        };
        if !bytes.windows(tag.len()).any(|w| w == tag) {
            return bytes.into();
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i..].starts_with(tag) {
                out.extend_from_slice(b"[sudo]");
                i += tag.len();
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out.into()
    }
}

#[cfg(test)]
mod tests {
    use super::LiveTerm;

    #[test]
    fn the_sudo_marker_reads_as_sudo_in_the_terminal() {
        let live = LiveTerm::new(None, Some("[sshpty:abc123]"), false);
        let shown = live.clean(b"x[sshpty:abc123] password for ops: [sshpty:abc123]");
        assert_eq!(&*shown, b"x[sudo] password for ops: [sudo]");
        // Output without it is passed on as it is, not copied.
        assert!(matches!(
            live.clean(b"plain [sshpty:other]"),
            std::borrow::Cow::Borrowed(_)
        ));
        let none = LiveTerm::new(None, None, false);
        assert_eq!(&*none.clean(b"[sshpty:abc123]"), b"[sshpty:abc123]");
    }
}
