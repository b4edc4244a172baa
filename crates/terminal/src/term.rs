//! The terminal emulator proper: a grid driven by vte's parser.
//!
//! Why not the vt100 crate's grid (0.18.1, measured by `evidence/run`, README "Why these
//! dependencies"): it drops U+FFFD (so invalid UTF-8 would vanish instead of showing), has
//! no DEC line-drawing set (whiptail boxes would show as `lqqk`), and while 0.18's
//! `Callbacks::on_scroll` sees rows that scroll off the top, nothing sees the rows a full
//! clear removes, which line output must move into the history as tmux does; its screen
//! matches tmux on 44 of our 150 differential streams.
//!
//! Where terminals disagree, tmux (the reference the recorded tests are checked against) is
//! followed: lines scrolled off the top of any scroll region of the main screen go to the
//! history, a line feed keeps a pending wrap, backspace at column 0 goes back over a soft
//! wrap, a full-screen erase scrolls the screen into the history first (`scroll-on-clear`).

use unicode_width::UnicodeWidthChar;

use crate::grid::{Cell, Line, Rows};
use crate::input::{Utf8, decode_utf8, printable_prefix};
use crate::modes::{MouseEncoding, MouseTracking};
use crate::style::Attrs;
use crate::text::LineWriter;

/// Longest logical line (soft-wrapped rows joined) kept before it is cut with a newline, in
/// bytes of output text. Bounds memory for a program that never prints a newline.
pub const MAX_LOGICAL_LINE: usize = 1 << 20;

/// Pixel size we claim for a cell when asked (CSI 14 t / 16 t); only the ratio matters to
/// the programs that ask (image viewers, some prompts).
const CELL_PX: (usize, usize) = (8, 16);

/// Lines that left the main screen, as line output.
#[derive(Debug, Default)]
pub(crate) struct History {
    /// Finished logical lines, each ending in '\n', not yet taken.
    pub finished: String,
    /// The start of a logical line whose rows scrolled off while it was still wrapping.
    pub carry: LineWriter,
}

impl History {
    #[inline(always)]
    fn push(&mut self, line: &Line) {
        if self
            .carry
            .push_whole_row_into(line, &mut self.finished, true)
        {
            return;
        }
        self.carry.push_row(line);
        if !line.wrapped || self.carry.len() >= MAX_LOGICAL_LINE {
            self.carry.finish_into(&mut self.finished, true);
        }
    }
}

/// The last screen of a program that left the alternate screen.
#[derive(Debug)]
pub(crate) struct LeftScreen {
    pub lines: Vec<Line>,
    pub cursor: Option<(usize, usize)>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Charset {
    #[default]
    Ascii,
    /// DEC special graphics: the line-drawing set whiptail and dialog boxes are drawn with.
    DecSpecial,
}

/// The cursor and what DECSC saves with it; also the shape [`Term::cursor`] gives the
/// current cursor in, for the replay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SavedCursor {
    pub row: usize,
    pub col: usize,
    pub wrap_pending: bool,
    pub pen: Attrs,
    pub origin: bool,
    pub charsets: [Charset; 2],
    pub gl: usize,
}

pub(crate) struct Term {
    pub cols: usize,
    pub rows: usize,
    primary: Rows,
    alt: Vec<Line>,
    pub in_alt: bool,
    pub row: usize,
    pub col: usize,
    /// The lowest row the cursor has been on since the screen was last cleared: a line
    /// output text ends with a newline when the cursor went below its last row.
    pub max_row: usize,
    /// The cursor is on the last column after writing there; the next character wraps.
    pub wrap_pending: bool,
    pen: Attrs,
    /// What DECSC saved, for the main screen and for the alternate one.
    pub saved: [SavedCursor; 2],
    pub top: usize,
    pub bottom: usize,
    pub autowrap: bool,
    origin: bool,
    pub insert: bool,
    pub cursor_visible: bool,
    pub app_cursor: bool,
    /// DECKPAM (`ESC =`) / DECNKM (mode 66): the keypad sends application sequences.
    pub app_keypad: bool,
    pub bracketed_paste: bool,
    pub mouse_tracking: MouseTracking,
    pub mouse_encoding: MouseEncoding,
    /// Mode 1004: the program wants `CSI I` / `CSI O` when the terminal gains or loses focus.
    pub focus_events: bool,
    charsets: [Charset; 2],
    gl: usize,
    pub tabs: Vec<bool>,
    last_char: Option<char>,
    pub replies: Vec<u8>,
    pub history: History,
    /// The main screen was erased whole since the last time line output took over again:
    /// with cursor addressing after it, a program is drawing a screen (busybox vi, whiptail).
    cleared: bool,
    /// Lines were fed since the screen was erased: addressing the top row after that is a
    /// redraw (top draws each refresh from the home position with line feeds, and never
    /// addresses another row), where `clear; ls` never goes back up.
    fed_since_clear: bool,
    pub takeover: bool,
    /// A program took the terminal at some point: the alternate screen or a screen drawn
    /// on the main one, application cursor keys or keypad, mouse or focus reports,
    /// bracketed paste. Such programs put the terminal's line discipline into raw mode too,
    /// and one that died there leaves it so (see `Renderer::took_terminal`). Never cleared,
    /// not even by a full reset (`ESC c`), which is what such a program might send last.
    pub took_terminal: bool,
    /// The alternate screen as it was when the program left it, until taken.
    pub left_screen: Option<LeftScreen>,
    /// Lines scrolled into the history since the last absolute cursor addressing; a
    /// screenful of them means ordinary line output has resumed.
    scrolled_since_addressing: usize,
    /// Set when a prompt line was dropped ([`Term::drop_cursor_line`]): the next line feed
    /// is swallowed if the cursor's row is still blank then, so the newline that ended the
    /// answer leaves no empty line behind.
    swallow_lf: bool,
    /// An answer the program is expected to echo (see [`Term::expect_echo`]), reversed so
    /// the next expected character is last.
    echo: Vec<char>,
    /// `*` already seen for the next expected character: sudo's pwfeedback masks each byte
    /// typed with one `*`, so a non-ASCII character echoes as several.
    echo_stars: usize,
    /// What was swallowed as the echo so far, shown after all if the echo turns out to be
    /// something else.
    echo_held: Vec<char>,
    /// Set by the callbacks after which vte's parser is back in its ground state (a CSI or
    /// escape sequence dispatched, an OSC ended by BEL): [`crate::parse::Parser`] then takes
    /// over the bytes that follow. Reset by the parser before each call into vte.
    pub back_to_ground: bool,
    /// A zero-width joiner was ever combined into a cell: until then no character can
    /// follow one, and the check for it is skipped.
    joiner_seen: bool,
    /// Characters [`Term::width`] looked up, each with its width in the low two bits, at
    /// the slot their code point selects.
    widths: [u32; WIDTH_CACHE],
}

/// Slots in [`Term::widths`]; an empty slot matches no character.
const WIDTH_CACHE: usize = 256;
const NO_WIDTH: u32 = u32::MAX;

pub(crate) fn default_tabs(cols: usize) -> Vec<bool> {
    (0..cols).map(|c| c % 8 == 0 && c != 0).collect()
}

fn blank_screen(rows: usize) -> Vec<Line> {
    vec![Line::default(); rows]
}

impl Term {
    pub fn new(cols: u16, rows: u16) -> Term {
        // A zero-sized terminal makes no sense and would need special cases everywhere.
        let cols = usize::from(cols.max(1));
        let rows = usize::from(rows.max(1));
        Term {
            cols,
            rows,
            primary: Rows::new(rows),
            alt: blank_screen(rows),
            in_alt: false,
            row: 0,
            col: 0,
            max_row: 0,
            wrap_pending: false,
            pen: Attrs::default(),
            saved: [SavedCursor::default(); 2],
            top: 0,
            bottom: rows - 1,
            autowrap: true,
            origin: false,
            insert: false,
            cursor_visible: true,
            app_cursor: false,
            app_keypad: false,
            bracketed_paste: false,
            mouse_tracking: MouseTracking::Off,
            mouse_encoding: MouseEncoding::Default,
            focus_events: false,
            charsets: [Charset::Ascii; 2],
            gl: 0,
            tabs: default_tabs(cols),
            last_char: None,
            replies: Vec::new(),
            history: History::default(),
            cleared: false,
            fed_since_clear: false,
            takeover: false,
            took_terminal: false,
            scrolled_since_addressing: 0,
            left_screen: None,
            swallow_lf: false,
            echo: Vec::new(),
            echo_stars: 0,
            echo_held: Vec::new(),
            back_to_ground: false,
            joiner_seen: false,
            widths: [NO_WIDTH; WIDTH_CACHE],
        }
    }

    /// The screen being drawn on (the alternate one while a program holds it).
    pub fn screen(&self) -> &[Line] {
        if self.in_alt {
            &self.alt
        } else {
            &self.primary
        }
    }

    fn screen_mut(&mut self) -> &mut [Line] {
        if self.in_alt {
            &mut self.alt
        } else {
            &mut self.primary
        }
    }

    pub fn primary(&self) -> &[Line] {
        &self.primary
    }

    /// The alternate screen (stale while the main screen is shown).
    pub fn alt(&self) -> &[Line] {
        &self.alt
    }

    /// The cursor with the state DECSC would save now.
    pub fn cursor(&self) -> SavedCursor {
        SavedCursor {
            row: self.row,
            col: self.col,
            wrap_pending: self.wrap_pending,
            pen: self.pen,
            origin: self.origin,
            charsets: self.charsets,
            gl: self.gl,
        }
    }

    fn cur_line(&mut self) -> &mut Line {
        let row = self.row;
        &mut self.screen_mut()[row]
    }

    // ---- scrolling -------------------------------------------------------------------

    /// [`move_lines`] on the active screen.
    fn move_rows(&mut self, dy: usize, py: usize, ny: usize) {
        let above = move_lines(self.screen_mut(), dy, py, ny);
        self.unwrap_history(above);
    }

    /// [`clear_lines`] on the active screen, in the erase colour.
    fn clear_rows(&mut self, py: usize, ny: usize) {
        let (cols, style) = (self.cols, self.pen.erase_style());
        let above = clear_lines(self.screen_mut(), py, ny, cols, style);
        self.unwrap_history(above);
    }

    /// The last history line stops continuing into the screen (tmux clears its wrap flag
    /// when the top row is erased or moved): a logical line still open in the history ends.
    fn unwrap_history(&mut self, above: bool) {
        if above && !self.in_alt && !self.history.carry.is_empty() {
            self.history
                .carry
                .finish_into(&mut self.history.finished, true);
        }
    }

    /// Scroll rows `top..=bottom` up by `n`. Rows leaving the top of the main screen go to
    /// the history, whatever the region, as in tmux.
    fn scroll_up(&mut self, n: usize) {
        let (top, bottom) = (self.top, self.bottom);
        let n = n.min(bottom + 1 - top);
        for _ in 0..n {
            if self.in_alt {
                self.move_rows(top, top + 1, bottom - top);
                self.clear_rows(bottom, 1);
                continue;
            }
            self.history.push(&self.primary[top]);
            if top == 0 && bottom + 1 == self.rows {
                self.primary.scroll_up();
            } else {
                // Reuse the row's allocation for the blank row coming in at the bottom.
                self.primary[top].clear();
                self.primary[top..=bottom].rotate_left(1);
            }
            self.scrolled_since_addressing += 1;
            if self.scrolled_since_addressing >= self.rows {
                self.takeover = false;
                self.cleared = false;
            }
        }
    }

    fn scroll_down(&mut self, n: usize) {
        let (top, bottom) = (self.top, self.bottom);
        let n = n.min(bottom + 1 - top);
        for _ in 0..n {
            self.move_rows(top + 1, top, bottom - top);
            self.clear_rows(top, 1);
        }
    }

    fn linefeed(&mut self) {
        self.fed_since_clear = true;
        if self.row == self.bottom {
            if !self.in_alt && self.top == 0 && self.bottom + 1 == self.rows {
                // The whole main screen scrolls one row (most lines of output): what
                // `scroll_up(1)` does then.
                self.history.push(&self.primary[0]);
                self.primary.scroll_up();
                self.scrolled_since_addressing += 1;
                if self.scrolled_since_addressing >= self.rows {
                    self.takeover = false;
                    self.cleared = false;
                }
            } else {
                self.scroll_up(1);
            }
        } else if self.row + 1 < self.rows {
            self.row += 1;
            self.max_row = self.max_row.max(self.row);
        }
    }

    fn wrap(&mut self) {
        self.cur_line().wrapped = true;
        self.linefeed();
        self.col = 0;
        self.wrap_pending = false;
    }

    // ---- printing --------------------------------------------------------------------

    fn map_charset(&self, c: char) -> char {
        if self.charsets[self.gl] != Charset::DecSpecial {
            return c;
        }
        // VT100 special graphics, as xterm and tmux map them to Unicode.
        const MAP: [char; 32] = [
            ' ', '◆', '▒', '␉', '␌', '␍', '␊', '°', '±', '␤', '␋', '┘', '┐', '┌', '└', '┼', '⎺',
            '⎻', '─', '⎼', '⎽', '├', '┤', '┴', '┬', '│', '≤', '≥', 'π', '≠', '£', '·',
        ];
        match c {
            '\x5f'..='\x7e' => MAP[c as usize - 0x5f],
            _ => c,
        }
    }

    /// Whether printing needs none of the special cases: no echo expected, the ASCII
    /// character set, replace mode, autowrap on.
    fn ordinary(&self) -> bool {
        self.echo.is_empty()
            && self.charsets[self.gl] == Charset::Ascii
            && !self.insert
            && self.autowrap
    }

    /// The column width of a character that is not printable ASCII, as `unicode-width`
    /// gives it, remembered in a small cache (text repeats its characters: CJK, U+FFFD for
    /// binary output).
    #[inline(always)]
    fn width(&mut self, c: char) -> Option<usize> {
        cached_width(&mut self.widths, c)
    }

    fn print_char(&mut self, c: char) {
        if !self.ordinary() {
            self.print_char_special(c);
            return;
        }
        let w = if (' '..='~').contains(&c) {
            1
        } else {
            let Some(w) = self.width(c) else { return };
            if w == 0 || (self.joiner_seen && self.after_joiner()) {
                self.combine(c);
                return;
            }
            w.min(2)
        };
        if w > self.cols {
            return; // a wide character cannot be shown in a one-column terminal
        }
        if self.wrap_pending || self.col + w > self.cols {
            self.wrap();
        }
        self.put(c, w);
    }

    /// Write `c`, `w` columns wide, at the cursor, which it fits right of, and move the
    /// cursor past it (to a pending wrap at the margin).
    #[inline(always)]
    fn put(&mut self, c: char, w: usize) {
        let (col, cols, pen) = (self.col, self.cols, self.pen);
        let line = self.cur_line();
        if col == line.cells.len() {
            // Appending (the common case).
            line.reserve_row(cols);
            line.cells.push(Cell::new(c, w as u8, pen));
            if w == 2 {
                line.cells.push(Cell::new(' ', 0, pen));
            }
            self.last_char = Some(c);
            if col + w >= cols {
                self.col = cols - 1;
                self.wrap_pending = self.autowrap;
            } else {
                self.col = col + w;
            }
            return;
        }
        self.put_any(c, w);
    }

    /// [`put`](Self::put) in general.
    fn put_any(&mut self, c: char, w: usize) {
        let (col, cols, pen) = (self.col, self.cols, self.pen);
        let cell = Cell::new(c, w as u8, pen);
        let line = self.cur_line();
        if col >= line.cells.len() {
            // Appending: no cell to break.
            line.reserve_row(cols);
            line.extend_to(col);
            line.cells.push(cell);
            if w == 2 {
                line.cells.push(Cell {
                    width: 0,
                    ..Cell::blank(pen)
                });
            }
        } else {
            line.split_wide_at(col);
            if w == 2 {
                line.split_wide_at(col + 1);
                line.extend_to(col + 2);
                line.cells[col + 1] = Cell {
                    width: 0,
                    ..Cell::blank(pen)
                };
            }
            line.cells[col] = cell;
        }
        self.last_char = Some(c);
        if col + w >= cols {
            // With autowrap off the cursor just stays on the last column.
            self.col = cols - 1;
            self.wrap_pending = self.autowrap;
        } else {
            self.col = col + w;
        }
    }

    /// [`print_char`](Self::print_char) outside the ordinary state.
    #[cold]
    fn print_char_special(&mut self, c: char) {
        if self.swallow_echo(c) {
            return;
        }
        let c = self.map_charset(c);
        // Printable ASCII is one column and never part of an emoji sequence: skip the
        // width table and the joiner check for the bulk of all output.
        let w = if c.is_ascii_graphic() || c == ' ' {
            1
        } else {
            let Some(w) = self.width(c) else { return };
            if w == 0 || (self.joiner_seen && self.after_joiner()) {
                self.combine(c);
                return;
            }
            w
        };
        let w = w.min(2);
        if w > self.cols {
            return; // a wide character cannot be shown in a one-column terminal
        }
        // Insert mode makes room where the cursor is before any wrap, as tmux does: from a
        // pending wrap there is nothing to shift, and the character that wraps overwrites
        // the start of the next row.
        if self.insert && !self.wrap_pending {
            self.shift_right(w, self.pen);
        }
        if self.wrap_pending && self.autowrap {
            self.wrap();
        }
        if self.col + w > self.cols {
            if self.autowrap {
                self.wrap();
            } else {
                // Without autowrap a wide character that does not fit is dropped (tmux).
                return;
            }
        }
        self.put(c, w);
    }

    /// Print the text at the start of `bytes`, as vte's ground state prints it one
    /// character at a time (with each maximal invalid UTF-8 subsequence as U+FFFD, as the
    /// input filter makes it), and return how many bytes that was: it stops at a C0 control,
    /// DEL, ESC, a C1 control or a character cut off by the end of `bytes`.
    pub(crate) fn print_text(&mut self, bytes: &[u8]) -> usize {
        if !self.ordinary() {
            let mut i = 0;
            while let Some((c, n)) = next_printable(&bytes[i..]) {
                self.print_char(c);
                i += n;
            }
            return i;
        }
        if !self.joiner_seen {
            return self.print_text_plain(bytes);
        }
        // The ordinary state lasts: printing changes none of it. What follows is
        // `print_char` in that state.
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            let (c, w) = if (0x20..0x7f).contains(&b) {
                let run = printable_prefix(&bytes[i..]);
                if run > 1 {
                    self.print_ascii(&bytes[i..i + run]);
                    i += run;
                    continue;
                }
                i += 1;
                (char::from(b), 1)
            } else {
                let Some((c, n)) = next_printable(&bytes[i..]) else {
                    break;
                };
                i += n;
                let Some(w) = self.width(c) else { continue };
                if w == 0 || (self.joiner_seen && self.after_joiner()) {
                    self.combine(c);
                    continue;
                }
                let w = w.min(2);
                if w > self.cols {
                    continue; // a wide character cannot be shown in a one-column terminal
                }
                (c, w)
            };
            if self.wrap_pending || self.col + w > self.cols {
                self.wrap();
            }
            self.put(c, w);
        }
        i
    }

    /// [`print_text`](Self::print_text) in the ordinary state with no joiner ever seen (so
    /// no character joins the one before it unless it is zero-width): the characters that
    /// only write their cells on the cursor's row and move the cursor along it are placed
    /// here with the cursor kept in locals, and any other (one that wraps, combines,
    /// overwrites part of a wide character, or has no width) goes through `print_char`.
    fn print_text_plain(&mut self, bytes: &[u8]) -> usize {
        let mut i = 0;
        loop {
            let (cols, pen, row) = (self.cols, self.pen, self.row);
            if !self.wrap_pending {
                let mut col = self.col;
                let mut last = None;
                let line = if self.in_alt {
                    &mut self.alt[row]
                } else {
                    &mut self.primary[row]
                };
                let widths = &mut self.widths;
                while let Some(&b) = bytes.get(i) {
                    let (c, n, w) = if (0x20..0x7f).contains(&b) {
                        // A run of them appended at once; `col < cols` here.
                        if col == line.cells.len()
                            && bytes.get(i + 1).is_some_and(|b| (0x20..0x7f).contains(b))
                        {
                            let run = printable_prefix(&bytes[i..]).min(cols - col);
                            let run = &bytes[i..i + run];
                            line.reserve_row(cols);
                            line.cells
                                .extend(run.iter().map(|&b| Cell::new(char::from(b), 1, pen)));
                            last = run.last().map(|&b| char::from(b));
                            i += run.len();
                            col += run.len();
                            if col >= cols {
                                col = cols - 1;
                                self.wrap_pending = true;
                                break;
                            }
                            continue;
                        }
                        (char::from(b), 1, 1)
                    } else {
                        let Some((c, n)) = next_printable(&bytes[i..]) else {
                            break;
                        };
                        match cached_width(widths, c) {
                            Some(w @ 1..=2) => (c, n, w),
                            _ => break,
                        }
                    };
                    if col + w > cols {
                        break;
                    }
                    if col == line.cells.len() {
                        line.reserve_row(cols);
                        line.cells.push(Cell::new(c, w as u8, pen));
                        if w == 2 {
                            line.cells.push(Cell::new(' ', 0, pen));
                        }
                    } else if w == 1 && line.cells.get(col).is_some_and(|c| c.width == 1) {
                        line.cells[col] = Cell::new(c, 1, pen);
                    } else {
                        break;
                    }
                    last = Some(c);
                    i += n;
                    col += w;
                    if col >= cols {
                        col = cols - 1;
                        self.wrap_pending = true;
                        break;
                    }
                }
                self.col = col;
                if last.is_some() {
                    self.last_char = last;
                }
            }
            // Anything else, one character.
            let Some((c, n)) = next_printable(&bytes[i..]) else {
                return i;
            };
            self.print_char(c);
            i += n;
            if self.joiner_seen {
                return i + self.print_text(&bytes[i..]);
            }
        }
    }

    /// Print a run of printable ASCII (bytes 0x20–0x7e): what `print_char` does for each.
    #[inline(always)]
    pub(crate) fn print_ascii_run(&mut self, run: &[u8]) {
        if self.ordinary() {
            self.print_ascii(run);
        } else {
            for &b in run {
                self.print_char(char::from(b));
            }
        }
    }

    /// Print a run of printable ASCII (bytes 0x20–0x7e), in the ordinary state: exactly
    /// what [`print_char`](Term::print_char) does for each of them in turn, a row's worth
    /// of cells at a time. Printable ASCII is one column wide and never combines, so a
    /// character only writes its cell and moves the cursor.
    #[inline(always)]
    fn print_ascii(&mut self, run: &[u8]) {
        debug_assert!(run.iter().all(|b| (0x20..0x7f).contains(b)) && self.ordinary());
        // Appending a run that stops short of the margin: the common case, straight.
        let (col, cols, pen, row) = (self.col, self.cols, self.pen, self.row);
        if !self.wrap_pending
            && col + run.len() < cols
            && let Some(&last) = run.last()
        {
            let line = if self.in_alt {
                &mut self.alt[row]
            } else {
                &mut self.primary[row]
            };
            if col == line.cells.len() {
                line.reserve_row(cols);
                line.cells
                    .extend(run.iter().map(|&b| Cell::new(char::from(b), 1, pen)));
                self.col = col + run.len();
                self.last_char = Some(char::from(last));
                return;
            }
        }
        self.print_ascii_any(run);
    }

    /// [`print_ascii`](Self::print_ascii) in general.
    fn print_ascii_any(&mut self, run: &[u8]) {
        if let [b] = run {
            if self.wrap_pending {
                self.wrap();
            }
            self.put(char::from(*b), 1);
            return;
        }
        let Some(&last) = run.last() else { return };
        let mut rest = run;
        while !rest.is_empty() {
            if self.wrap_pending {
                self.wrap();
            }
            // `col < cols` always holds, so at least one character fits.
            let (col, cols, pen) = (self.col, self.cols, self.pen);
            let n = rest.len().min(cols - col);
            let (now, later) = rest.split_at(n);
            rest = later;
            let cell = |b: u8| Cell::new(char::from(b), 1, pen);
            let line = self.cur_line();
            // Cells already there are overwritten one by one, breaking any wide character
            // they are part of; the rest of the run is appended.
            let over = line.cells.len().saturating_sub(col).min(n);
            let target = line.cells.get_mut(col..col + over).unwrap_or_default();
            if target.iter().all(|c| c.width == 1) {
                // No wide character to break.
                for (dst, &b) in target.iter_mut().zip(&now[..over]) {
                    *dst = cell(b);
                }
            } else {
                for (i, &b) in now[..over].iter().enumerate() {
                    line.split_wide_at(col + i);
                    line.cells[col + i] = cell(b);
                }
            }
            if over < n {
                line.reserve_row(cols);
                line.extend_to(col + over);
                line.cells.extend(now[over..].iter().map(|&b| cell(b)));
            }
            if col + n >= cols {
                self.col = cols - 1;
                self.wrap_pending = true;
            } else {
                self.col = col + n;
            }
        }
        self.last_char = Some(char::from(last));
    }

    /// The column of the cell written just before the cursor, which zero-width characters
    /// join.
    fn prev_col(&mut self) -> Option<usize> {
        let col = if self.wrap_pending {
            self.col
        } else if self.col > 0 {
            self.col - 1
        } else {
            return None;
        };
        match self.cur_line().cells.get(col) {
            Some(cell) if cell.is_spacer() && col > 0 => Some(col - 1),
            Some(_) => Some(col),
            None => None,
        }
    }

    /// A zero-width character joins the cell written just before the cursor.
    fn combine(&mut self, c: char) {
        self.joiner_seen |= c == '\u{200d}';
        if let Some(col) = self.prev_col() {
            self.cur_line().push_combining(col, c);
        }
    }

    /// After a zero-width joiner, the next character is part of the same emoji sequence
    /// (👨‍👩‍👧) and shares its cell, as tmux 3.3 draws it.
    fn after_joiner(&mut self) -> bool {
        self.prev_col()
            .is_some_and(|col| self.cur_line().marks(col).ends_with('\u{200d}'))
    }

    // ---- answered prompts ------------------------------------------------------------

    /// Remove the cursor's logical line (its row and the rows soft-wrapping into it) from
    /// the screen and put the cursor at the start of its first row; arm the swallowing of
    /// the next line feed. The start of a logical line that already scrolled into the
    /// history is not part of what the screen shows as the cursor's line: it is closed as a
    /// line of its own.
    pub fn drop_cursor_line(&mut self) {
        let mut first = self.row;
        while first > 0 && self.screen()[first - 1].wrapped {
            first -= 1;
        }
        let row = self.row;
        for line in &mut self.screen_mut()[first..=row] {
            *line = Line::default();
        }
        if first == 0 && !self.in_alt && !self.history.carry.is_empty() {
            self.history
                .carry
                .finish_into(&mut self.history.finished, true);
        }
        self.row = first;
        self.col = 0;
        self.wrap_pending = false;
        self.swallow_lf = true;
        self.echo.clear();
        self.echo_held.clear();
        self.echo_stars = 0;
    }

    /// The program is about to echo `answer`: the next characters printed, as long as they
    /// are `answer`'s (or a `*` per byte of it, sudo's pwfeedback), are not shown. The
    /// expectation ends at the first character that differs or at a line feed.
    pub fn expect_echo(&mut self, answer: &str) {
        self.echo = answer.chars().rev().collect();
        self.echo_held.clear();
        self.echo_stars = 0;
    }

    /// Whether `c` is the next character of an expected echo (and is consumed as such).
    /// A character that differs ends the expectation, and what was held back as echo is
    /// shown after all: it was output that happened to start like the answer.
    fn swallow_echo(&mut self, c: char) -> bool {
        let Some(&want) = self.echo.last() else {
            return false;
        };
        if c == want && self.echo_stars == 0 {
            self.echo.pop();
        } else if c == '*' {
            self.echo_stars += 1;
            if self.echo_stars >= want.len_utf8() {
                self.echo.pop();
                self.echo_stars = 0;
            }
        } else {
            self.abandon_echo();
            return false;
        }
        self.echo_held.push(c);
        if self.echo.is_empty() {
            self.echo_held.clear();
        }
        true
    }

    /// Stop expecting an echo; characters held back as its start are printed.
    fn abandon_echo(&mut self) {
        self.echo.clear();
        self.echo_stars = 0;
        for c in std::mem::take(&mut self.echo_held) {
            if c == '\t' {
                self.tab(1);
            } else {
                self.print_char(c);
            }
        }
    }

    // ---- cursor ----------------------------------------------------------------------

    fn set_col(&mut self, col: usize) {
        self.col = col.min(self.cols - 1);
        self.wrap_pending = false;
    }

    /// Absolute row addressing (CUP, VPA), relative to the scroll region in origin mode.
    fn set_row_abs(&mut self, row: usize) {
        let (base, max) = if self.origin {
            (self.top, self.bottom)
        } else {
            (0, self.rows - 1)
        };
        self.row = (base + row).min(max);
        self.max_row = self.max_row.max(self.row);
        self.wrap_pending = false;
        self.addressed(self.row);
    }

    /// Note absolute cursor addressing for the screen-takeover heuristic.
    fn addressed(&mut self, row: usize) {
        self.scrolled_since_addressing = 0;
        if self.cleared && !self.in_alt && (row > 0 || self.fed_since_clear) {
            self.takeover = true;
            self.took_terminal = true;
        }
    }

    fn cursor_up(&mut self, n: usize) {
        let top = if self.row >= self.top { self.top } else { 0 };
        self.row = self.row.saturating_sub(n).max(top);
        self.wrap_pending = false;
    }

    fn cursor_down(&mut self, n: usize) {
        let bottom = if self.row <= self.bottom {
            self.bottom
        } else {
            self.rows - 1
        };
        self.row = (self.row + n).min(bottom);
        self.max_row = self.max_row.max(self.row);
        self.wrap_pending = false;
    }

    /// The column relative moves to the left start from: tmux keeps a pending wrap as the
    /// cursor being one past the last column.
    fn virtual_col(&self) -> usize {
        if self.wrap_pending {
            self.cols
        } else {
            self.col
        }
    }

    fn backspace(&mut self) {
        if self.col == 0 && !self.wrap_pending {
            // Back over a soft wrap, as tmux does (bash's line editor relies on it).
            if self.row > 0 && self.screen()[self.row - 1].wrapped {
                self.row -= 1;
                self.col = self.cols - 1;
            }
        } else {
            self.col = self.virtual_col() - 1;
        }
        self.wrap_pending = false;
    }

    fn tab(&mut self, n: usize) {
        for _ in 0..n {
            if self.wrap_pending {
                return;
            }
            let next = (self.col + 1..self.cols).find(|&c| self.tabs[c]);
            self.col = next.unwrap_or(self.cols - 1);
        }
    }

    fn back_tab(&mut self, n: usize) {
        for _ in 0..n {
            self.col = (0..self.col).rev().find(|&c| self.tabs[c]).unwrap_or(0);
        }
        self.wrap_pending = false;
    }

    fn save_cursor(&mut self) {
        self.saved[usize::from(self.in_alt)] = self.cursor();
    }

    fn restore_cursor(&mut self) {
        let s = self.saved[usize::from(self.in_alt)];
        self.row = s.row.min(self.rows - 1);
        self.max_row = self.max_row.max(self.row);
        self.col = s.col.min(self.cols - 1);
        self.wrap_pending = s.wrap_pending;
        self.pen = s.pen;
        self.origin = s.origin;
        self.charsets = s.charsets;
        self.gl = s.gl;
    }

    // ---- erasing and editing ---------------------------------------------------------

    /// Erase columns `from..to` of the cursor's row. Erasing the full width is erasing the
    /// row, which (as in tmux) also ends the soft wrap of the row above.
    fn erase_cols(&mut self, from: usize, to: usize) {
        let (row, cols, style) = (self.row, self.cols, self.pen.erase_style());
        let to = to.min(cols);
        if from == 0 && to == cols {
            self.clear_rows(row, 1);
            return;
        }
        let line = self.cur_line();
        line.split_wide_at(from);
        line.split_wide_at(to);
        line.erase(from, to, style);
    }

    fn erase_in_line(&mut self, mode: u16) {
        match mode {
            // From a pending wrap there is nothing right of the cursor to erase.
            0 if self.wrap_pending => {}
            0 => self.erase_cols(self.col, self.cols),
            1 if self.wrap_pending => self.erase_cols(0, self.cols),
            1 => self.erase_cols(0, self.col + 1),
            2 => self.erase_cols(0, self.cols),
            _ => {}
        }
    }

    fn erase_in_display(&mut self, mode: u16) {
        let (row, rows) = (self.row, self.rows);
        match mode {
            0 => {
                if row == 0 && self.col == 0 && !self.wrap_pending {
                    self.full_clear();
                    return;
                }
                self.erase_in_line(0);
                self.clear_rows(row + 1, rows - row - 1);
            }
            1 => {
                self.clear_rows(0, row);
                self.erase_in_line(1);
            }
            2 => self.full_clear(),
            // 3 erases the scrollback: line output already taken cannot be withdrawn, and
            // nothing is ever silently lost, so it is ignored.
            _ => {}
        }
    }

    /// Erase the whole screen. On the main screen its rows up to the last one used first go
    /// to the history (tmux's `scroll-on-clear`), so a `clear` in a cell keeps what was
    /// printed before it.
    fn full_clear(&mut self) {
        let rows = self.rows;
        if !self.in_alt {
            let used = self
                .primary
                .iter()
                .rposition(|l| !l.cells.is_empty())
                .map_or(0, |i| i + 1);
            // The rows used go to the history; those below move up, blank rows come in.
            for line in &mut self.primary[..used] {
                self.history.push(line);
                line.clear();
            }
            self.primary.rotate_left(used);
            self.cleared = true;
            self.fed_since_clear = false;
            self.max_row = self.row;
        }
        // Every row is erased, also those that came in fresh: they take the pen's
        // background like any erased cell (tmux's grid_view_clear_history clears the whole
        // screen with it after scrolling the used rows away).
        self.clear_rows(0, rows);
    }

    /// The rows IL and DL work on: the scroll region, or from a cursor outside it down to
    /// the bottom of the screen (tmux; xterm ignores IL/DL outside the region).
    fn line_edit_bottom(&self) -> usize {
        if self.row < self.top || self.row > self.bottom {
            self.rows - 1
        } else {
            self.bottom
        }
    }

    /// IL. The column, and a pending wrap, are kept, as in tmux (xterm moves to the left
    /// margin; programs address the cursor after it either way).
    fn insert_lines(&mut self, n: usize) {
        let (row, bottom) = (self.row, self.line_edit_bottom());
        let n = n.min(bottom + 1 - row);
        self.move_rows(row + n, row, bottom + 1 - row - n);
        self.clear_rows(row, n);
        // tmux 3.3a also ends the soft wrap of the row `n` above the bottom after the move
        // (measured: it is the row before the one whose continuation was pushed off).
        // Followed so that joined lines match the reference terminal.
        if bottom >= row + n && bottom - n > row {
            self.screen_mut()[bottom - n].wrapped = false;
        }
    }

    /// DL; the column (and a pending wrap) is kept, as for IL.
    fn delete_lines(&mut self, n: usize) {
        let (row, bottom) = (self.row, self.line_edit_bottom());
        let n = n.min(bottom + 1 - row);
        self.move_rows(row, row + n, bottom + 1 - row - n);
        self.clear_rows(bottom + 1 - n, n);
    }

    /// Shift the cells from the cursor right by `n` blanks, dropping what passes the right
    /// margin (ICH, and each character in insert mode). The row is filled out to the full
    /// width first, as tmux does: it matters when the row soft-wraps, since its blanks are
    /// then part of the joined line. A wide character starting at the cursor moves whole.
    fn shift_right(&mut self, n: usize, style: Attrs) {
        let (col, cols) = (self.col, self.cols);
        let line = self.cur_line();
        line.extend_to(cols);
        if line.cells[col].is_spacer() {
            line.split_wide_at(col);
        }
        let n = n.min(cols - col);
        line.cells
            .splice(col..col, std::iter::repeat_n(Cell::blank(style), n));
        line.marks_shifted_right(col, n, cols);
        line.cells.truncate(cols);
        if line.cells.last().is_some_and(|c| c.width == 2) {
            let last = line.cells.len() - 1;
            line.cells[last] = Cell::blank(style);
        }
    }

    /// ICH; nothing happens from a pending wrap (the cursor is past the last column).
    fn insert_chars(&mut self, n: usize) {
        if !self.wrap_pending {
            self.shift_right(n, self.pen.erase_style());
        }
    }

    /// DCH; as ICH, nothing happens from a pending wrap. The row keeps its length: the
    /// cells shifted in at the right are blanks (which matters when it soft-wraps).
    fn delete_chars(&mut self, n: usize) {
        if self.wrap_pending {
            return;
        }
        let (col, style) = (self.col, self.pen.erase_style());
        let line = self.cur_line();
        let len = line.cells.len();
        if col >= len {
            return;
        }
        line.split_wide_at(col);
        let end = (col + n).min(len);
        line.split_wide_at(end);
        line.cells.drain(col..end);
        line.marks_removed(col, end);
        line.cells.resize(len, Cell::blank(style));
    }

    /// ECH. Like tmux, nothing is erased from a pending wrap (the cursor is past the last
    /// column) and the pending wrap stays.
    fn erase_chars(&mut self, n: usize) {
        if !self.wrap_pending {
            self.erase_cols(self.col, self.col + n);
        }
    }

    // ---- modes -----------------------------------------------------------------------

    fn enter_alt(&mut self, clear: bool) {
        if !self.in_alt {
            self.in_alt = true;
            self.takeover = false;
            self.cleared = false;
        }
        if clear {
            self.alt = blank_screen(self.rows);
        }
    }

    fn leave_alt(&mut self, clear: bool) {
        if !self.in_alt {
            return;
        }
        // Keep what the program showed last, for the kernel to leave in the cell.
        let lines = if clear {
            std::mem::replace(&mut self.alt, blank_screen(self.rows))
        } else {
            self.alt.clone()
        };
        self.left_screen = Some(LeftScreen {
            lines,
            cursor: self.cursor_visible.then_some((self.row, self.col)),
        });
        self.in_alt = false;
    }

    fn set_private_mode(&mut self, mode: u16, on: bool) {
        // Not origin mode, autowrap, the cursor's visibility or DECSC: progress bars and
        // line output use those.
        if on && !matches!(mode, 6 | 7 | 25 | 1048) {
            self.took_terminal = true;
        }
        match mode {
            1 => self.app_cursor = on,
            6 => {
                self.origin = on;
                self.set_row_abs(0);
                self.set_col(0);
            }
            7 => self.autowrap = on,
            25 => self.cursor_visible = on,
            47 => {
                if on {
                    self.enter_alt(false)
                } else {
                    self.leave_alt(false)
                }
            }
            1047 => {
                if on {
                    self.enter_alt(false)
                } else {
                    self.leave_alt(true)
                }
            }
            1048 => {
                if on {
                    self.save_cursor()
                } else {
                    self.restore_cursor()
                }
            }
            1049 => {
                if on {
                    if !self.in_alt {
                        self.save_cursor();
                    }
                    self.enter_alt(true);
                } else if self.in_alt {
                    self.leave_alt(true);
                    self.restore_cursor();
                }
            }
            66 => self.app_keypad = on,
            9 | 1000 | 1002 | 1003 => {
                self.mouse_tracking = match MouseTracking::from_mode(mode) {
                    Some(m) if on => m,
                    _ => MouseTracking::Off,
                }
            }
            1004 => self.focus_events = on,
            1005 | 1006 | 1015 => {
                if on {
                    self.mouse_encoding = MouseEncoding::from_mode(mode).unwrap_or_default();
                } else if self.mouse_encoding.mode() == Some(mode) {
                    self.mouse_encoding = MouseEncoding::Default;
                }
            }
            2004 => self.bracketed_paste = on,
            _ => {}
        }
    }

    fn private_mode(&self, mode: u16) -> Option<bool> {
        Some(match mode {
            1 => self.app_cursor,
            6 => self.origin,
            7 => self.autowrap,
            25 => self.cursor_visible,
            47 | 1047 | 1049 => self.in_alt,
            66 => self.app_keypad,
            9 | 1000 | 1002 | 1003 => self.mouse_tracking.mode() == Some(mode),
            1004 => self.focus_events,
            1005 | 1006 | 1015 => self.mouse_encoding.mode() == Some(mode),
            2004 => self.bracketed_paste,
            _ => return None,
        })
    }

    /// RIS (`ESC c`, what `reset` and `tput reset` send): a fresh terminal, but the main
    /// screen's text goes to the history first like any other full clear.
    fn full_reset(&mut self) {
        self.leave_alt(true);
        self.full_clear();
        let history = std::mem::take(&mut self.history);
        let replies = std::mem::take(&mut self.replies);
        let left_screen = self.left_screen.take();
        let took_terminal = self.took_terminal;
        *self = Term::new(self.cols as u16, self.rows as u16);
        self.history = history;
        self.replies = replies;
        self.left_screen = left_screen;
        self.took_terminal = took_terminal;
    }

    pub fn resize(&mut self, cols: u16, rows: u16) {
        let cols = usize::from(cols.max(1));
        let rows = usize::from(rows.max(1));
        if cols != self.cols {
            for line in self.primary.iter_mut().chain(self.alt.iter_mut()) {
                if line.cells.len() > cols {
                    line.split_wide_at(cols);
                    line.cells.truncate(cols);
                }
            }
            self.cols = cols;
            self.tabs = default_tabs(cols);
        }
        let (history, alt, row) = (&mut self.history, &mut self.alt, &mut self.row);
        let old_rows = self.rows;
        self.primary.edit(|primary| {
            if rows < old_rows {
                // Blank rows below the cursor go first, then rows from the top (to the
                // history for the main screen), as xterm and tmux shrink.
                let mut excess = old_rows - rows;
                while excess > 0 && primary.len() > *row + 1 {
                    if !primary.last().is_some_and(Line::is_blank) {
                        break;
                    }
                    primary.pop();
                    alt.pop();
                    excess -= 1;
                }
                for _ in 0..excess {
                    let line = primary.remove(0);
                    history.push(&line);
                    alt.remove(0);
                    *row = row.saturating_sub(1);
                }
            }
            primary.resize(rows, Line::default());
        });
        self.alt.resize(rows, Line::default());
        self.rows = rows;
        self.top = 0;
        self.bottom = rows - 1;
        self.row = self.row.min(rows - 1);
        self.max_row = self.max_row.min(rows - 1).max(self.row);
        self.col = self.col.min(cols - 1);
        self.wrap_pending = false;
    }

    fn reply(&mut self, s: &str) {
        self.replies.extend_from_slice(s.as_bytes());
    }

    fn cursor_report_row(&self) -> usize {
        if self.origin {
            // The cursor can be above the region in origin mode (a cursor restored from
            // outside it): report row 1 then rather than underflow.
            self.row.saturating_sub(self.top) + 1
        } else {
            self.row + 1
        }
    }
}

/// [`Term::width`], given the cache.
#[inline(always)]
fn cached_width(widths: &mut [u32; WIDTH_CACHE], c: char) -> Option<usize> {
    let slot = &mut widths[c as usize % WIDTH_CACHE];
    if *slot >> 2 != c as u32 {
        let w = c.width();
        match w {
            // Widths are 0, 1 or 2; were one ever more, it would not be cached.
            Some(w) if w > 2 => return Some(w),
            _ => *slot = (c as u32) << 2 | w.map_or(3, |w| w as u32),
        }
    }
    match *slot & 3 {
        3 => None,
        w => Some(w as usize),
    }
}

/// The printable character at the start of `bytes` and its length in bytes: printable
/// ASCII, or a multi-byte character other than a C1 control, or U+FFFD for a maximal
/// invalid subsequence. `None` at a C0 control, DEL, ESC, a C1 control, a character cut
/// off by the end of `bytes`, or the end.
#[inline(always)]
fn next_printable(bytes: &[u8]) -> Option<(char, usize)> {
    let &b = bytes.first()?;
    if b < 0x80 {
        return (0x20..0x7f).contains(&b).then_some((char::from(b), 1));
    }
    match decode_utf8(bytes) {
        Utf8::Char(c, _) if c <= '\u{9f}' => None,
        Utf8::Char(c, n) => Some((c, n)),
        Utf8::Invalid(n) => Some(('\u{fffd}', n)),
        Utf8::Incomplete => None,
    }
}

/// Move rows `py..py+ny` to `dy..dy+ny`, emptying the rows left behind. The soft-wrap flag
/// of the row before the destination, and of the row before the vacated rows, is cleared:
/// what those rows continued into is gone. These are tmux's rules (grid_move_lines), kept
/// so that joined lines come out as tmux joins them. Returns whether the row above the
/// screen (the last line of the history) would have its flag cleared.
#[must_use]
fn move_lines(screen: &mut [Line], dy: usize, py: usize, ny: usize) -> bool {
    if ny == 0 || py == dy {
        return false;
    }
    let mut above = dy == 0;
    if dy > 0 {
        screen[dy - 1].wrapped = false;
    }
    if dy < py {
        screen[dy..py + ny].rotate_left(py - dy);
    } else {
        screen[py..dy + ny].rotate_right(dy - py);
    }
    for (yy, line) in screen.iter_mut().enumerate().skip(py).take(ny) {
        if yy < dy || yy >= dy + ny {
            line.clear();
        }
    }
    if py < dy || py >= dy + ny {
        match py.checked_sub(1) {
            Some(i) => screen[i].wrapped = false,
            None => above = true,
        }
    }
    above
}

/// Erase rows `py..py+ny` whole (with the erase colour), and clear the soft-wrap flag of the
/// row before them (tmux's grid_clear_lines). Returns whether that row is above the screen.
#[must_use]
fn clear_lines(screen: &mut [Line], py: usize, ny: usize, cols: usize, style: Attrs) -> bool {
    if ny == 0 {
        return false;
    }
    for line in &mut screen[py..py + ny] {
        line.erase(0, cols, style);
        line.cells
            .truncate(if style.visible_when_blank() { cols } else { 0 });
        line.wrapped = false;
    }
    match py.checked_sub(1) {
        Some(i) => {
            screen[i].wrapped = false;
            false
        }
        None => true,
    }
}

/// Parameter `i` of a CSI sequence, 0 or missing meaning `default`.
fn arg(params: &vte::Params, i: usize, default: u16) -> usize {
    let v = params
        .iter()
        .nth(i)
        .and_then(|p| p.first().copied())
        .unwrap_or(0);
    usize::from(if v == 0 { default } else { v })
}

/// Parameter `i` as given, 0 when missing.
fn raw(params: &vte::Params, i: usize) -> u16 {
    params
        .iter()
        .nth(i)
        .and_then(|p| p.first().copied())
        .unwrap_or(0)
}

impl vte::Perform for Term {
    fn print(&mut self, c: char) {
        self.print_char(c);
    }

    fn execute(&mut self, byte: u8) {
        self.control(byte);
    }

    fn csi_dispatch(&mut self, params: &vte::Params, inter: &[u8], ignore: bool, action: char) {
        self.csi(params, inter, ignore, action);
        self.back_to_ground = true;
    }

    fn esc_dispatch(&mut self, inter: &[u8], ignore: bool, byte: u8) {
        self.esc(inter, ignore, byte);
        self.back_to_ground = true;
    }

    fn osc_dispatch(&mut self, params: &[&[u8]], bell_terminated: bool) {
        self.osc(params, bell_terminated);
        // An OSC ended by ESC leaves vte in its escape state, waiting for the `\`.
        self.back_to_ground = bell_terminated;
    }

    fn terminated(&self) -> bool {
        self.back_to_ground
    }
}

impl Term {
    /// A C0 or C1 control character.
    #[inline(always)]
    pub(crate) fn control(&mut self, byte: u8) {
        // Carriage return and line feed with no echo expected and no line feed to swallow:
        // what `control_any` does for them then, without the detour.
        if self.echo.is_empty() && !self.swallow_lf {
            match byte {
                0x0d => {
                    self.col = 0;
                    self.wrap_pending = false;
                    return;
                }
                0x0a..=0x0c => {
                    self.linefeed();
                    return;
                }
                _ => {}
            }
        }
        self.control_any(byte);
    }

    fn control_any(&mut self, byte: u8) {
        match byte {
            // BEL is swallowed: a cell has nothing to ring.
            // A tab in an answer is echoed as a tab.
            0x09 if self.swallow_echo('\t') => {}
            0x08..=0x0d if !self.echo.is_empty() => {
                // An echo never contains other controls: it is over.
                self.abandon_echo();
                self.control(byte);
            }
            // The newline that ended an answered prompt, the prompt's line being gone and
            // nothing written on it since: no empty line. (The guard clears the flag either
            // way: only the next line feed is considered.)
            0x0a..=0x0c
                if std::mem::take(&mut self.swallow_lf) && self.screen()[self.row].is_blank() => {}
            0x08 => self.backspace(),
            0x09 => self.tab(1),
            0x0a..=0x0c => self.linefeed(),
            0x0d => {
                self.col = 0;
                self.wrap_pending = false;
            }
            0x0e => self.gl = 1,
            0x0f => self.gl = 0,
            _ => {}
        }
    }

    fn csi(&mut self, params: &vte::Params, inter: &[u8], ignore: bool, action: char) {
        if ignore {
            return; // too many parameters or intermediates: not a sequence we know
        }
        let a1 = arg(params, 0, 1);
        match (inter, action) {
            ([], '@') => self.insert_chars(a1),
            ([], 'A') => self.cursor_up(a1),
            ([], 'B') | ([], 'e') => self.cursor_down(a1),
            ([], 'C') | ([], 'a') => {
                let col = self.col + a1;
                self.set_col(col)
            }
            ([], 'D') => {
                let col = self.virtual_col().saturating_sub(a1);
                self.set_col(col)
            }
            ([], 'E') => {
                self.cursor_down(a1);
                self.set_col(0)
            }
            ([], 'F') => {
                self.cursor_up(a1);
                self.set_col(0)
            }
            ([], 'G') | ([], '`') => self.set_col(a1 - 1),
            ([], 'H') | ([], 'f') => {
                self.set_row_abs(a1 - 1);
                self.set_col(arg(params, 1, 1) - 1);
            }
            ([], 'I') => self.tab(a1),
            ([], 'J') => self.erase_in_display(raw(params, 0)),
            ([], 'K') => self.erase_in_line(raw(params, 0)),
            ([], 'L') => self.insert_lines(a1),
            ([], 'M') => self.delete_lines(a1),
            ([], 'P') => self.delete_chars(a1),
            ([], 'S') => self.scroll_up(a1),
            ([], 'T') if params.len() <= 1 => self.scroll_down(a1),
            ([], 'X') => self.erase_chars(a1),
            ([], 'Z') => self.back_tab(a1),
            ([], 'b') => {
                // REP: repeat the last printed character, bounded by the screen size so a
                // huge count cannot stall us.
                if let Some(c) = self.last_char {
                    for _ in 0..a1.min(self.cols * self.rows) {
                        self.print_char(c);
                    }
                }
            }
            ([], 'c') if raw(params, 0) == 0 => {
                // Primary DA: a VT220 with ANSI colour, what tmux-like terminals answer.
                self.reply("\x1b[?62;22c")
            }
            ([b'>'], 'c') if raw(params, 0) == 0 => self.reply("\x1b[>0;10;1c"),
            ([], 'd') => {
                // VPA moves the row only: a pending wrap stays pending (tmux).
                let pending = self.wrap_pending;
                self.set_row_abs(a1 - 1);
                self.wrap_pending = pending;
            }
            ([], 'g') => match raw(params, 0) {
                0 => {
                    if let Some(t) = self.tabs.get_mut(self.col) {
                        *t = false
                    }
                }
                3 => self.tabs.iter_mut().for_each(|t| *t = false),
                _ => {}
            },
            ([], 'h') | ([], 'l') => {
                for p in params.iter() {
                    if p.first() == Some(&4) {
                        self.insert = action == 'h';
                    }
                }
            }
            ([b'?'], 'h') | ([b'?'], 'l') => {
                for p in params.iter() {
                    if let Some(&mode) = p.first() {
                        self.set_private_mode(mode, action == 'h');
                    }
                }
            }
            ([], 'm') => self.pen.apply_sgr(params),
            ([], 'n') => match raw(params, 0) {
                5 => self.reply("\x1b[0n"),
                6 => {
                    let s = format!("\x1b[{};{}R", self.cursor_report_row(), self.col + 1);
                    self.reply(&s)
                }
                _ => {}
            },
            ([b'?'], 'n') if raw(params, 0) == 6 => {
                let s = format!("\x1b[?{};{}R", self.cursor_report_row(), self.col + 1);
                self.reply(&s)
            }
            ([], 'r') => {
                // Out-of-range margins are clamped to the screen, as tmux and xterm do.
                let top = (arg(params, 0, 1) - 1).min(self.rows - 1);
                let bottom = (arg(params, 1, self.rows as u16) - 1).min(self.rows - 1);
                if top < bottom {
                    self.top = top;
                    self.bottom = bottom;
                    // The cursor goes to the top left of the screen, even in origin mode
                    // (tmux; xterm goes to the top of the region).
                    self.row = 0;
                    self.addressed(0);
                    self.set_col(0);
                }
            }
            ([], 's') if params.is_empty() || raw(params, 0) == 0 => self.save_cursor(),
            ([], 'u') => self.restore_cursor(),
            ([], 't') => {
                let s = match raw(params, 0) {
                    14 => format!(
                        "\x1b[4;{};{}t",
                        self.rows * CELL_PX.1,
                        self.cols * CELL_PX.0
                    ),
                    16 => format!("\x1b[6;{};{}t", CELL_PX.1, CELL_PX.0),
                    18 => format!("\x1b[8;{};{}t", self.rows, self.cols),
                    19 => format!("\x1b[9;{};{}t", self.rows, self.cols),
                    _ => return,
                };
                self.reply(&s)
            }
            ([b'!'], 'p') => {
                // DECSTR soft reset: modes and pen, not the screen.
                self.pen = Attrs::default();
                self.insert = false;
                self.origin = false;
                self.autowrap = true;
                self.cursor_visible = true;
                self.app_cursor = false;
                // VT510 DECSTR: the keypad goes back to numeric. Mouse modes are kept, as
                // in xterm.js.
                self.app_keypad = false;
                self.top = 0;
                self.bottom = self.rows - 1;
                self.charsets = [Charset::Ascii; 2];
                self.gl = 0;
            }
            ([b'?', b'$'], 'p') => {
                // DECRQM: 1 set, 2 reset, 0 not recognised.
                let mode = raw(params, 0);
                let v = match self.private_mode(mode) {
                    Some(true) => 1,
                    Some(false) => 2,
                    None => 0,
                };
                let s = format!("\x1b[?{mode};{v}$y");
                self.reply(&s)
            }
            ([b'$'], 'p') => {
                let mode = raw(params, 0);
                let v = match mode {
                    4 => {
                        if self.insert {
                            1
                        } else {
                            2
                        }
                    }
                    _ => 0,
                };
                let s = format!("\x1b[{mode};{v}$y");
                self.reply(&s)
            }
            _ => {}
        }
    }

    fn esc(&mut self, inter: &[u8], _ignore: bool, byte: u8) {
        match (inter, byte) {
            ([], b'7') => self.save_cursor(),
            ([], b'8') => self.restore_cursor(),
            ([], b'D') => self.linefeed(),
            ([], b'E') => {
                self.linefeed();
                self.set_col(0);
            }
            ([], b'H') => {
                if let Some(t) = self.tabs.get_mut(self.col) {
                    *t = true
                }
            }
            ([], b'M') => {
                // RI moves the row only: a pending wrap stays pending (tmux).
                if self.row == self.top {
                    self.scroll_down(1);
                } else {
                    self.row = self.row.saturating_sub(1);
                }
            }
            ([], b'c') => self.full_reset(),
            ([], b'=') => {
                self.app_keypad = true;
                self.took_terminal = true;
            }
            ([], b'>') => self.app_keypad = false,
            ([b'('], b) | ([b')'], b) => {
                let set = if b == b'0' {
                    Charset::DecSpecial
                } else {
                    Charset::Ascii
                };
                self.charsets[usize::from(inter[0] == b')')] = set;
            }
            ([b'#'], b'8') => {
                // DECALN: fill the screen with 'E' (used by terminal tests).
                let cols = self.cols;
                for line in self.screen_mut().iter_mut() {
                    line.cells = vec![Cell::new('E', 1, Attrs::default()); cols];
                    line.wrapped = false;
                }
            }
            _ => {}
        }
    }

    fn osc(&mut self, params: &[&[u8]], bell_terminated: bool) {
        // Titles (0/1/2), clipboard writes (52), hyperlinks (8) and the rest are swallowed.
        // Colour queries get an answer, since programs wait for it: a light background, as
        // Jupyter's default theme.
        let end = if bell_terminated { "\x07" } else { "\x1b\\" };
        match params {
            [b"10", b"?"] => self.reply(&format!("\x1b]10;rgb:0000/0000/0000{end}")),
            [b"11", b"?"] => self.reply(&format!("\x1b]11;rgb:ffff/ffff/ffff{end}")),
            _ => {}
        }
    }
}
