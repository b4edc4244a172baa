//! The screen and modes as bytes: written to a fresh terminal of the same size (xterm.js in
//! the browser, or a new [`Renderer`](crate::Renderer)), they rebuild what a program drew
//! and the modes it set, so a browser that attaches while vi or top runs can follow the
//! live stream from there.
//!
//! What is rebuilt: the visible rows of the main screen and, while a program holds it, the
//! alternate screen (history is not: it belongs to the cell's line output); every cell's
//! character, combining marks and attributes; soft wraps between rows; the scroll region;
//! the cursor with its pen, origin mode, character sets and pending wrap; the cursor DECSC
//! saved for the screen shown, and, under the alternate screen, the main screen's cursor
//! that leaving it restores; tab stops; the modes (DECCKM, keypad, autowrap, insert, cursor
//! visibility, bracketed paste, mouse tracking and encoding, focus events).
//!
//! Not rebuilt, having no escape sequence that sets them (or none worth sending): what the
//! alternate screen held while it is not shown (only `ESC [ ? 47 h` could show it again); the
//! alternate screen's saved cursor while the main screen is shown; the last character
//! printed, which `CSI b` (REP) repeats; a pending wrap saved or restored at another
//! width after a resize; the kernel's own state (screen takeover, expected echo).
//!
//! The output is bounded by the screen: at most a few dozen bytes per cell.

use std::fmt::Write as _;

use crate::grid::{Cell, Line};
use crate::style::Attrs;
use crate::term::{Charset, SavedCursor, Term, default_tabs};

/// Bytes that rebuild `term` on a fresh terminal of the same size.
pub(crate) fn replay(term: &Term) -> Vec<u8> {
    let mut w = Writer::new(term.cols, term.rows);
    w.draw(term.primary());
    if term.in_alt {
        // `?1049h` rather than `?1047h`: it saves the cursor first, so the cursor set here
        // (the main screen's saved one) is where the program's own `?1049l` puts it back
        // when it exits, in xterm.js as here. And it is the sequence vi, less and top use.
        w.cursor(&term.saved[0], term.primary());
        w.out.push_str("\x1b[?1049h");
        w.at = None;
        w.draw(term.alt());
    }
    let screen = term.screen();
    if term.tabs != default_tabs(term.cols) {
        w.out.push_str("\x1b[3g");
        for col in (0..term.cols).filter(|&c| term.tabs[c]) {
            w.goto(0, col);
            w.out.push_str("\x1bH");
        }
    }
    let cursor = term.cursor();
    let saved = &term.saved[usize::from(term.in_alt)];
    if cursor.origin && !(term.top..=term.bottom).contains(&cursor.row) {
        // Origin mode with the cursor outside the region (restored from outside it, or left
        // there by DECSTBM): no cursor addressing reaches it, but DECRC restores the cursor
        // with its origin mode. Set it up while the region is the whole screen, save it, set
        // the region, restore it. The saved cursor is then this one, not the program's.
        w.cursor(&cursor, screen);
        w.out.push_str("\x1b7");
        w.region(term.top, term.bottom);
        w.out.push_str("\x1b8");
    } else {
        if *saved != SavedCursor::default() {
            // While the region is the whole screen, so that any row can be addressed.
            w.cursor(saved, screen);
            w.out.push_str("\x1b7");
        }
        // DECSTBM homes the cursor: the cursor comes after it.
        w.region(term.top, term.bottom);
        w.cursor(&cursor, screen);
    }
    // Modes last: autowrap was needed on to set up pending wraps, insert mode off to draw.
    w.set_autowrap(term.autowrap);
    let mut set = |on: bool, seq: &str| {
        if on {
            w.out.push_str(seq)
        }
    };
    set(term.insert, "\x1b[4h");
    set(!term.cursor_visible, "\x1b[?25l");
    set(term.app_cursor, "\x1b[?1h");
    set(term.app_keypad, "\x1b=");
    set(term.bracketed_paste, "\x1b[?2004h");
    set(term.focus_events, "\x1b[?1004h");
    for mode in [term.mouse_tracking.mode(), term.mouse_encoding.mode()]
        .into_iter()
        .flatten()
    {
        let _ = write!(w.out, "\x1b[?{mode}h");
    }
    w.out.into_bytes()
}

/// The output, and the state of the terminal it is written to, so that each setting is
/// sent only when it changes.
struct Writer {
    out: String,
    cols: usize,
    rows: usize,
    /// Where the cursor is, when known and not at a pending wrap.
    at: Option<(usize, usize)>,
    pen: Attrs,
    autowrap: bool,
    origin: bool,
    top: usize,
    bottom: usize,
    charsets: [Charset; 2],
    gl: usize,
}

impl Writer {
    fn new(cols: usize, rows: usize) -> Writer {
        Writer {
            out: String::new(),
            cols,
            rows,
            at: Some((0, 0)),
            pen: Attrs::default(),
            autowrap: true,
            origin: false,
            top: 0,
            bottom: rows - 1,
            charsets: [Charset::Ascii; 2],
            gl: 0,
        }
    }

    /// Draw the rows of a screen onto a blank one. Each row starts with cursor addressing,
    /// except a row that a soft wrap continues into: its first character is printed at the
    /// pending wrap the row above ends with, so the terminal marks the wrap itself (line
    /// output, `cursor_line` and xterm.js's selection join such rows).
    fn draw(&mut self, lines: &[Line]) {
        let mut continued = false;
        for (r, line) in lines.iter().enumerate() {
            let wraps = line.wrapped && r + 1 < self.rows;
            self.draw_row(r, line, continued, wraps, lines.get(r + 1));
            continued = wraps;
        }
    }

    fn draw_row(
        &mut self,
        r: usize,
        line: &Line,
        continued: bool,
        wraps: bool,
        next: Option<&Line>,
    ) {
        let cols = self.cols;
        // At the pending wrap of the row above: the first cell goes there, not addressed.
        let mut first = continued;
        // The cell reaching the last column of a row that wraps: printed last, to leave the
        // pending wrap the next row starts at.
        let mut last = None;
        // Cells whose marks end in a zero-width joiner: whatever is printed right after
        // them joins their cell (an emoji sequence), so their marks come after the row.
        let mut joiners = Vec::new();
        // The last cell printed reached the last column (a continued row one cell wide).
        let mut armed = false;
        for (c, cell) in line.cells.iter().enumerate() {
            if cell.is_spacer() {
                continue;
            }
            let end = c + width(cell) >= cols;
            if wraps && end && !first {
                last = Some(c);
                continue;
            }
            if !std::mem::take(&mut first) {
                self.goto(r, c);
            }
            armed = end;
            let marks = line.marks(c);
            if marks.ends_with('\u{200d}') && !end {
                self.print(r, c, cell, "");
                joiners.push(c);
            } else {
                self.print(r, c, cell, marks);
            }
        }
        if first {
            // Continued into but empty: a blank takes the wrap.
            self.print(r, 0, &Cell::blank(Attrs::default()), "");
        }
        for c in joiners {
            self.goto(r, c + width(&line.cells[c]));
            self.out.push_str(line.marks(c));
        }
        if !wraps || armed {
            return;
        }
        match last {
            Some(c) => {
                self.goto(r, c);
                self.print(r, c, &line.cells[c], line.marks(c));
            }
            // The row wrapped before its last column was written: a wide character that did
            // not fit wraps from the last column by itself; anything else needs a blank there.
            None if next
                .and_then(|l| l.cells.first())
                .is_some_and(|c| c.width == 2) =>
            {
                self.goto(r, cols - 1);
            }
            None => {
                self.goto(r, cols - 1);
                self.print(r, cols - 1, &Cell::blank(Attrs::default()), "");
            }
        }
    }

    /// Print `cell` (with `marks`) at the cursor, which is at `(r, c)` or at the pending
    /// wrap before it. A cell reaching the last column leaves a pending wrap (the VT100's
    /// last-column flag, which xterm.js has too): nothing scrolls, even in the bottom-right
    /// corner, as long as what comes next is cursor addressing and not a character or a
    /// line feed, and the replay never follows such a cell with either unless it means to
    /// wrap. (Turning autowrap off for the corner instead would be for terminals without
    /// the flag, and would misplace the cell's combining marks: with autowrap off, a mark
    /// written at the last column goes to the cell before it, here as in tmux.)
    fn print(&mut self, r: usize, c: usize, cell: &Cell, marks: &str) {
        let w = width(cell);
        self.sgr(cell.attrs);
        self.set_charsets([Charset::Ascii; 2], 0);
        self.out.push(cell.ch);
        self.out.push_str(marks);
        // After a wide character the cursor is addressed again even where it is known:
        // xterm.js's width table may give the character one column, not two.
        self.at = (w == 1 && c + 1 < self.cols).then_some((r, c + 1));
    }

    /// Put the cursor at `(r, c)` of the screen (in origin mode `r` must be in the region).
    fn goto(&mut self, r: usize, c: usize) {
        if self.at == Some((r, c)) {
            return;
        }
        let base = if self.origin { self.top } else { 0 };
        let _ = write!(self.out, "\x1b[{};{}H", r - base + 1, c + 1);
        self.at = Some((r, c));
    }

    fn sgr(&mut self, pen: Attrs) {
        if pen != self.pen {
            pen.write_sgr(&mut self.out);
            self.pen = pen;
        }
    }

    fn set_autowrap(&mut self, on: bool) {
        if on != self.autowrap {
            self.out.push_str(if on { "\x1b[?7h" } else { "\x1b[?7l" });
            self.autowrap = on;
        }
    }

    fn set_charsets(&mut self, charsets: [Charset; 2], gl: usize) {
        for (i, intro) in ["\x1b(", "\x1b)"].into_iter().enumerate() {
            if charsets[i] != self.charsets[i] {
                self.out.push_str(intro);
                self.out.push(if charsets[i] == Charset::DecSpecial {
                    '0'
                } else {
                    'B'
                });
            }
        }
        if gl != self.gl {
            self.out.push(if gl == 1 { '\x0e' } else { '\x0f' });
        }
        (self.charsets, self.gl) = (charsets, gl);
    }

    /// DECSTBM, which also homes the cursor.
    fn region(&mut self, top: usize, bottom: usize) {
        if (top, bottom) != (self.top, self.bottom) {
            let _ = write!(self.out, "\x1b[{};{}r", top + 1, bottom + 1);
            (self.top, self.bottom) = (top, bottom);
            self.at = None;
        }
    }

    /// Set the cursor and what DECSC saves with it to `s`, on a screen showing `lines`.
    fn cursor(&mut self, s: &SavedCursor, lines: &[Line]) {
        // A saved cursor may be from before the screen shrank: DECRC clamps it so.
        let row = s.row.min(self.rows - 1);
        let col = s.col.min(self.cols - 1);
        if s.origin != self.origin {
            // DECOM homes the cursor (to the region's top in origin mode): it comes first,
            // and the cursor is then addressed relative to the region.
            self.out
                .push_str(if s.origin { "\x1b[?6h" } else { "\x1b[?6l" });
            self.origin = s.origin;
            self.at = None;
        }
        if s.wrap_pending && col == self.cols - 1 {
            // A pending wrap exists only after printing into the last column: print what is
            // there again, with autowrap on.
            let line = &lines[row];
            let (c, cell) = match line.cells.get(col) {
                Some(cell) if cell.is_spacer() && col > 0 => (col - 1, line.cells[col - 1]),
                Some(cell) => (col, *cell),
                None => (col, Cell::blank(Attrs::default())),
            };
            self.goto(row, c);
            self.print(row, c, &cell, line.marks(c));
        } else {
            self.goto(row, col);
        }
        self.sgr(s.pen);
        self.set_charsets(s.charsets, s.gl);
    }
}

/// Columns a cell covers.
fn width(cell: &Cell) -> usize {
    usize::from(cell.width.max(1))
}
