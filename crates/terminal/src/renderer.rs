//! The public face of the crate: bytes from the PTY in, cell output out.

use crate::modes::{MouseEncoding, MouseTracking};
use crate::parse::Parser;
use crate::replay;
use crate::screen;
use crate::term::Term;
use crate::text::LineWriter;

/// A screen as text and HTML (see [`Renderer::screen_text`], [`Renderer::screen_html`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScreenSnapshot {
    pub text: String,
    pub html: String,
}

/// A terminal that turns a PTY byte stream into what a notebook cell shows.
///
/// **Line mode.** The output read in order — every [`take_finished`](Self::take_finished)
/// result, then [`finish`](Self::finish) — is what an infinitely tall terminal of the same
/// width shows for the same bytes, as tmux's history plus screen
/// (`capture-pane -J -S - -E -`): one logical line per line, soft wraps joined, SGR kept
/// and reset at each line's end, every other control sequence resolved.
///
/// Choices where "what a terminal shows" is not enough:
/// * **clear**: a full-screen erase (`ESC [ 2 J`, or `ESC [ J` from the home position)
///   first moves the screen's text to the finished output, as tmux's default
///   `scroll-on-clear` does; `ESC [ 3 J` (erase scrollback) is ignored, so a `clear` in a
///   cell keeps what was printed before it. `ESC c` (`reset`) does the same.
/// * **Huge lines**: a logical line is cut with a newline once its text reaches
///   [`MAX_LOGICAL_LINE`](crate::MAX_LOGICAL_LINE) bytes (1 MiB), so memory stays bounded.
/// * **Alternate screen**: what a program draws there (vi, less, top) is not part of the
///   line output, exactly as it is not part of a terminal's scrollback; the kernel shows it
///   through [`screen_mode`](Self::screen_mode) and the screen snapshots instead.
/// * **Resize** truncates rows to the new width; there is no reflow.
pub struct Renderer {
    term: Term,
    parser: Parser,
}

impl Renderer {
    /// A terminal `cols` wide and `rows` tall (programs are told this size; cursor-up can
    /// only reach lines within `rows` of the bottom, so lines further up are final).
    /// Zero sizes are taken as 1.
    pub fn new(cols: u16, rows: u16) -> Renderer {
        Renderer {
            term: Term::new(cols, rows),
            parser: Parser::new(),
        }
    }

    /// The current size as `(cols, rows)`.
    pub fn size(&self) -> (u16, u16) {
        (self.term.cols as u16, self.term.rows as u16)
    }

    /// Change the size. Rows that no longer fit above the cursor become finished output;
    /// rows are truncated to a narrower width (no reflow).
    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.term.resize(cols, rows);
    }

    /// Feed bytes from the PTY, split anywhere: the result never depends on the split.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.parser.feed(&mut self.term, bytes);
    }

    /// Lines that became final since the last call, each ending in '\n'.
    pub fn take_finished(&mut self) -> String {
        // The next lines are likely as many: room for them now rather than by doubling.
        let room = self.term.history.finished.len().min(1 << 16);
        std::mem::replace(&mut self.term.history.finished, String::with_capacity(room))
    }

    /// The part that can still change: the start of a logical line whose first rows already
    /// scrolled off, then the main screen's rows up to the last non-blank one, soft wraps
    /// joined, trailing blanks trimmed. The cursor's row counts up to the cursor, so a
    /// prompt keeps its trailing space. A newline ends the text when the cursor is or has
    /// been below the last row shown (the last line was terminated). Empty if nothing is
    /// pending.
    pub fn pending(&self) -> String {
        let mut out = String::new();
        let mut writer = self.term.history.carry.clone();
        self.render_screen(&mut writer, &mut out);
        out
    }

    fn render_screen(&self, writer: &mut LineWriter, out: &mut String) {
        let lines = self.term.primary();
        // While the alternate screen is up, the main screen's cursor is the one saved when
        // the program switched.
        let (crow, ccol) = if self.term.in_alt {
            (None, 0)
        } else {
            let col = if self.term.wrap_pending {
                self.term.cols
            } else {
                self.term.col
            };
            (Some(self.term.row), col)
        };
        let end_of = |i: usize| {
            let line = &lines[i];
            let mut end = if line.wrapped {
                line.cells.len()
            } else {
                line.visible_len()
            };
            // The cursor's row counts up to the cursor ("name? " keeps its space), unless
            // it is blank: a cursor moved along an empty row is not text.
            if crow == Some(i) && end > 0 {
                end = end.max(ccol);
            }
            end
        };
        let used = (0..lines.len())
            .rev()
            .find(|&i| end_of(i) > 0)
            .map_or(0, |i| i + 1);
        for (i, line) in lines[..used].iter().enumerate() {
            writer.push_cells(line, end_of(i));
            if !line.wrapped || i + 1 == used {
                let newline = i + 1 < used || self.term.max_row.max(crow.unwrap_or(0)) >= used;
                writer.finish_into(out, newline);
            }
        }
        if used == 0 && !writer.is_empty() {
            writer.finish_into(out, false);
        }
    }

    /// End of the cell: everything not yet taken, as final text, then a fresh terminal (as
    /// [`reset`](Self::reset); replies not yet taken are dropped).
    ///
    /// The text ends with a newline only if the output's last line was terminated (the
    /// cursor is below it): `printf 'name? '` gives `"name? "`, `echo done` gives
    /// `"done\n"`. Bytes of an unfinished UTF-8 character at the very end become U+FFFD.
    pub fn finish(&mut self) -> String {
        self.parser.finish(&mut self.term);
        let mut out = std::mem::take(&mut self.term.history.finished);
        let mut writer = std::mem::take(&mut self.term.history.carry);
        self.render_screen(&mut writer, &mut out);
        self.reset();
        out
    }

    /// Bytes the terminal must answer into the PTY (cursor position and device status
    /// reports, device attributes, window size, mode and colour queries), in order.
    pub fn take_replies(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.term.replies)
    }

    /// True while a program holds the alternate screen, or has taken over the main screen
    /// by erasing it whole and then addressing the cursor to other rows (busybox vi,
    /// whiptail). Taking over ends when a screenful of lines scrolls by without cursor
    /// addressing (ordinary output has resumed), or at [`reset`](Self::reset).
    pub fn screen_mode(&self) -> bool {
        self.term.in_alt || self.term.takeover
    }

    /// The screen a full-screen program showed just before it left the alternate screen
    /// (vi's last screen, top's last refresh), once per exit; `None` if no program left it
    /// since the last call. Line output does not contain it (a terminal's scrollback does
    /// not either): the kernel can keep it as the cell's final screen display.
    pub fn take_left_screen(&mut self) -> Option<ScreenSnapshot> {
        let left = self.term.left_screen.take()?;
        let row = left.cursor.map_or(0, |c| c.0);
        Some(ScreenSnapshot {
            text: screen::text(&left.lines, row),
            html: screen::html(&left.lines, left.cursor),
        })
    }

    /// A program took the terminal during this renderer's life (a full-screen program,
    /// application keys, mouse or focus reports, bracketed paste): it may have left the
    /// terminal's modes changed, as such programs put it in raw mode.
    pub fn took_terminal(&self) -> bool {
        self.term.took_terminal
    }

    /// True while the alternate screen is active.
    pub fn alternate_screen(&self) -> bool {
        self.term.in_alt
    }

    /// The visible screen as plain text: rows up to the last non-blank one or the cursor's,
    /// trailing blanks trimmed, no newline at the end.
    pub fn screen_text(&self) -> String {
        screen::text(self.term.screen(), self.term.row)
    }

    /// The visible screen as an HTML `<pre>`, colours inline, the cursor (when visible) in a
    /// span of class `sshpty-cursor`.
    pub fn screen_html(&self) -> String {
        let cursor = self
            .term
            .cursor_visible
            .then_some((self.term.row, self.term.col));
        screen::html(self.term.screen(), cursor)
    }

    /// Text of the cursor's logical line up to the cursor, without SGR: for prompt
    /// detection. Rows soft-wrapped into the cursor's row are included.
    pub fn cursor_line(&self) -> String {
        let lines = self.term.screen();
        let mut first = self.term.row;
        while first > 0 && lines[first - 1].wrapped {
            first -= 1;
        }
        let mut out = String::new();
        for line in &lines[first..self.term.row] {
            line.plain(line.cells.len(), &mut out);
        }
        let col = if self.term.wrap_pending {
            self.term.cols
        } else {
            self.term.col
        };
        lines[self.term.row].plain(col, &mut out);
        out
    }

    /// Whether the cursor sits at the end of its line's text: nothing visible right of it on
    /// its row, the row does not continue on the next one, and every row below is blank.
    /// A prompt is the last thing a program printed; text after the cursor (a progress bar
    /// drawn below, a status line) means the program is drawing, not asking.
    pub fn cursor_at_line_end(&self) -> bool {
        let lines = self.term.screen();
        let row = self.term.row;
        let col = if self.term.wrap_pending {
            self.term.cols
        } else {
            self.term.col
        };
        let line = &lines[row];
        !line.wrapped && line.visible_len() <= col && lines[row + 1..].iter().all(|l| l.is_blank())
    }

    /// Remove the prompt the kernel just answered through an input box: JupyterLab shows
    /// the prompt and the answer itself, so the cell must not show them again.
    ///
    /// Exactly: the cursor's logical line (what [`cursor_line`](Self::cursor_line) returned:
    /// the cursor's row and the rows soft-wrapping into it) is erased and the cursor goes to
    /// the start of its first row. Then the next line feed is swallowed if the cursor's row
    /// is still blank when it arrives (the newline echoed after the answer, or printed by
    /// sudo after a password), so neither an empty line nor a duplicate remains; a line feed
    /// after text written on that row is an ordinary one. Text that was on the same logical
    /// line but already scrolled into the history (a line longer than the screen) stays, as
    /// a line of its own. Any expected echo ([`forget_echo`](Self::forget_echo)) is reset:
    /// call that after this.
    pub fn drop_prompt_line(&mut self) {
        self.term.drop_cursor_line();
    }

    /// The program will echo `answer` (the kernel typed it; `read -p 'Password: '` without
    /// `-s` echoes it): the next characters printed, as long as they match `answer`, are not
    /// shown. A `*` per byte also matches (sudo's `pwfeedback` masks what is typed). The
    /// expectation ends at the first character that differs, at any control character
    /// other than a tab in the answer, or at a line feed; so an answer that is not echoed
    /// (`read -s`, sudo) hides nothing that follows. Call it after
    /// [`drop_prompt_line`](Self::drop_prompt_line) and before feeding the output that follows
    /// the answer.
    pub fn forget_echo(&mut self, answer: &str) {
        self.term.expect_echo(answer);
    }

    /// The cursor as `(row, col)`, 0-based, on the visible screen.
    pub fn cursor_position(&self) -> (u16, u16) {
        (self.term.row as u16, self.term.col as u16)
    }

    /// Whether the program asked for application cursor keys (DECCKM): arrows must then be
    /// sent as `ESC O A` rather than `ESC [ A`.
    pub fn application_cursor_keys(&self) -> bool {
        self.term.app_cursor
    }

    /// Whether the program asked for bracketed paste (mode 2004).
    pub fn bracketed_paste(&self) -> bool {
        self.term.bracketed_paste
    }

    /// Whether the program asked for application keypad mode (DECKPAM `ESC =`, or mode 66):
    /// the numeric keypad must then send `ESC O p` … rather than digits.
    pub fn application_keypad(&self) -> bool {
        self.term.app_keypad
    }

    /// Which mouse events the program wants reported (modes 9, 1000, 1002, 1003).
    pub fn mouse_tracking(&self) -> MouseTracking {
        self.term.mouse_tracking
    }

    /// How the program wants mouse reports encoded (modes 1005, 1006, 1015).
    pub fn mouse_encoding(&self) -> MouseEncoding {
        self.term.mouse_encoding
    }

    /// Whether the program wants focus in/out reports (mode 1004).
    pub fn focus_events(&self) -> bool {
        self.term.focus_events
    }

    /// Bytes that, written to a fresh terminal of the same size (xterm.js, or
    /// `Renderer::new(cols, rows)`), show the same screen with the same modes: what a
    /// browser attaching to a running program is sent before the live stream. The main
    /// screen's visible rows, then, while a program holds it, the alternate screen; the
    /// scroll region, the cursor, its pen and saved cursor, tab stops, and the modes
    /// (cursor keys, keypad, autowrap, insert, cursor visibility, bracketed paste, mouse,
    /// focus). Not the history. Bounded by the screen size. See `replay.rs` for the few
    /// states no escape sequence can set.
    ///
    /// The replay shows the input up to its last complete character or sequence: one cut
    /// off by the end of what was fed (`ESC [ 3` waiting for `1 m`) is not in it, and its
    /// rest, arriving in the live stream, would then be shown as text. Take the replay when
    /// [`at_boundary`](Self::at_boundary) holds.
    pub fn replay(&self) -> Vec<u8> {
        replay::replay(&self.term)
    }

    /// Whether the input so far ends between characters and escape sequences, so that
    /// [`replay`](Self::replay) followed by the bytes fed next is what was fed. (False also
    /// for a while after a malformed sequence, until the next escape sequence: when in
    /// doubt, false.)
    pub fn at_boundary(&self) -> bool {
        self.parser.idle()
    }

    /// Back to a fresh terminal of the same size (between cells). Output not taken is
    /// dropped.
    pub fn reset(&mut self) {
        let (cols, rows) = self.size();
        *self = Renderer::new(cols, rows);
    }
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("size", &self.size())
            .field("cursor", &self.cursor_position())
            .field("screen_mode", &self.screen_mode())
            .finish_non_exhaustive()
    }
}
