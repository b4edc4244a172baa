//! The terminal emulator proper: a grid driven by vte's parser.
//!
//! Where terminals disagree, tmux (the reference the recorded tests are checked against) is
//! followed: lines scrolled off the top of any scroll region of the main screen go to the
//! history, a line feed keeps a pending wrap, backspace at column 0 goes back over a soft
//! wrap, a full-screen erase scrolls the screen into the history first (`scroll-on-clear`).

use unicode_width::UnicodeWidthChar;

use crate::grid::{Cell, Line};
use crate::style::Style;
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
    fn push(&mut self, line: &Line) {
        self.carry.push_row(line);
        if !line.wrapped || self.carry.len() >= MAX_LOGICAL_LINE {
            self.carry.finish_into(&mut self.finished, true);
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Charset {
    #[default]
    Ascii,
    /// DEC special graphics: the line-drawing set whiptail and dialog boxes are drawn with.
    DecSpecial,
}

#[derive(Clone, Copy, Debug, Default)]
struct SavedCursor {
    row: usize,
    col: usize,
    wrap_pending: bool,
    pen: Style,
    origin: bool,
    charsets: [Charset; 2],
    gl: usize,
}

pub(crate) struct Term {
    pub cols: usize,
    pub rows: usize,
    primary: Vec<Line>,
    alt: Vec<Line>,
    pub in_alt: bool,
    pub row: usize,
    pub col: usize,
    /// The lowest row the cursor has been on since the screen was last cleared: a line
    /// output text ends with a newline when the cursor went below its last row.
    pub max_row: usize,
    /// The cursor is on the last column after writing there; the next character wraps.
    pub wrap_pending: bool,
    pen: Style,
    saved: [SavedCursor; 2],
    top: usize,
    bottom: usize,
    autowrap: bool,
    origin: bool,
    insert: bool,
    pub cursor_visible: bool,
    pub app_cursor: bool,
    pub bracketed_paste: bool,
    charsets: [Charset; 2],
    gl: usize,
    tabs: Vec<bool>,
    last_char: Option<char>,
    pub replies: Vec<u8>,
    pub history: History,
    /// The main screen was erased whole since the last time line output took over again:
    /// with cursor addressing after it, a program is drawing a screen (busybox vi, whiptail).
    cleared: bool,
    pub takeover: bool,
    /// Lines scrolled into the history since the last absolute cursor addressing; a
    /// screenful of them means ordinary line output has resumed.
    scrolled_since_addressing: usize,
}

fn default_tabs(cols: usize) -> Vec<bool> {
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
            primary: blank_screen(rows),
            alt: blank_screen(rows),
            in_alt: false,
            row: 0,
            col: 0,
            max_row: 0,
            wrap_pending: false,
            pen: Style::default(),
            saved: [SavedCursor::default(); 2],
            top: 0,
            bottom: rows - 1,
            autowrap: true,
            origin: false,
            insert: false,
            cursor_visible: true,
            app_cursor: false,
            bracketed_paste: false,
            charsets: [Charset::Ascii; 2],
            gl: 0,
            tabs: default_tabs(cols),
            last_char: None,
            replies: Vec::new(),
            history: History::default(),
            cleared: false,
            takeover: false,
            scrolled_since_addressing: 0,
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

    fn screen_mut(&mut self) -> &mut Vec<Line> {
        if self.in_alt {
            &mut self.alt
        } else {
            &mut self.primary
        }
    }

    pub fn primary(&self) -> &[Line] {
        &self.primary
    }

    fn cur_line(&mut self) -> &mut Line {
        let row = self.row;
        &mut self.screen_mut()[row]
    }

    // ---- scrolling -------------------------------------------------------------------

    /// Scroll rows `top..=bottom` up by `n`. Rows leaving the top of the main screen go to
    /// the history, whatever the region, as in tmux.
    fn scroll_up(&mut self, n: usize) {
        let (top, bottom) = (self.top, self.bottom);
        let n = n.min(bottom + 1 - top);
        for _ in 0..n {
            let gone = if self.in_alt {
                self.alt.remove(top)
            } else {
                let line = self.primary.remove(top);
                self.history.push(&line);
                self.scrolled_since_addressing += 1;
                if self.scrolled_since_addressing >= self.rows {
                    self.takeover = false;
                    self.cleared = false;
                }
                line
            };
            drop(gone);
            self.screen_mut().insert(bottom, Line::default());
        }
    }

    fn scroll_down(&mut self, n: usize) {
        let (top, bottom) = (self.top, self.bottom);
        let n = n.min(bottom + 1 - top);
        let screen = self.screen_mut();
        for _ in 0..n {
            screen.remove(bottom);
            screen.insert(top, Line::default());
        }
    }

    fn linefeed(&mut self) {
        if self.row == self.bottom {
            self.scroll_up(1);
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

    fn print_char(&mut self, c: char) {
        let c = self.map_charset(c);
        let Some(w) = c.width() else { return };
        if w == 0 || self.after_joiner() {
            self.combine(c);
            return;
        }
        let w = w.min(2);
        if w > self.cols {
            return; // a wide character cannot be shown in a one-column terminal
        }
        if self.wrap_pending && self.autowrap {
            self.wrap();
        }
        if self.col + w > self.cols {
            if self.autowrap {
                self.wrap();
            } else {
                self.col = self.cols - w;
            }
        }
        let (col, cols, pen, insert) = (self.col, self.cols, self.pen, self.insert);
        let line = self.cur_line();
        if insert && col < line.cells.len() {
            line.split_wide_at(col);
            line.cells
                .splice(col..col, std::iter::repeat_n(Cell::blank(pen), w));
            line.cells.truncate(cols);
            if line.cells.last().is_some_and(|c| c.width == 2) {
                line.cells.pop();
            }
        }
        line.split_wide_at(col);
        if w == 2 {
            line.split_wide_at(col + 1);
        }
        line.extend_to(col + w);
        line.cells[col] = Cell {
            ch: c,
            combining: None,
            width: w as u8,
            style: pen,
        };
        if w == 2 {
            line.cells[col + 1] = Cell {
                width: 0,
                ..Cell::blank(pen)
            };
        }
        self.last_char = Some(c);
        if col + w >= cols {
            self.col = cols - 1;
            self.wrap_pending = true;
        } else {
            self.col = col + w;
        }
    }

    /// The cell written just before the cursor, which zero-width characters join.
    fn prev_cell(&mut self) -> Option<&mut Cell> {
        let col = if self.wrap_pending {
            self.col
        } else if self.col > 0 {
            self.col - 1
        } else {
            return None;
        };
        let line = self.cur_line();
        let col = match line.cells.get(col) {
            Some(cell) if cell.is_spacer() && col > 0 => col - 1,
            Some(_) => col,
            None => return None,
        };
        line.cells.get_mut(col)
    }

    /// A zero-width character joins the cell written just before the cursor.
    fn combine(&mut self, c: char) {
        if let Some(cell) = self.prev_cell() {
            cell.push_combining(c);
        }
    }

    /// After a zero-width joiner, the next character is part of the same emoji sequence
    /// (👨‍👩‍👧) and shares its cell, as tmux 3.3 draws it.
    fn after_joiner(&mut self) -> bool {
        self.prev_cell()
            .and_then(|cell| cell.combining.as_deref())
            .is_some_and(|s| s.ends_with('\u{200d}'))
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
        if self.cleared && !self.in_alt && row > 0 {
            self.takeover = true;
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
        self.saved[usize::from(self.in_alt)] = SavedCursor {
            row: self.row,
            col: self.col,
            wrap_pending: self.wrap_pending,
            pen: self.pen,
            origin: self.origin,
            charsets: self.charsets,
            gl: self.gl,
        };
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

    fn erase_in_line(&mut self, mode: u16) {
        let (col, cols, style) = (self.col, self.cols, self.pen.erase_style());
        let line = self.cur_line();
        match mode {
            0 => {
                line.split_wide_at(col);
                line.erase(col, cols, style);
            }
            1 => {
                line.split_wide_at(col);
                line.erase(0, col + 1, style);
            }
            2 => line.erase(0, cols, style),
            _ => return,
        }
        if line.cells.is_empty() {
            line.wrapped = false;
        }
    }

    fn erase_rows(&mut self, from: usize, to: usize) {
        let (cols, style) = (self.cols, self.pen.erase_style());
        for line in &mut self.screen_mut()[from..to] {
            line.erase(0, cols, style);
            line.wrapped = false;
        }
    }

    fn erase_in_display(&mut self, mode: u16) {
        match mode {
            0 => {
                if self.row == 0 && self.col == 0 && !self.wrap_pending {
                    self.full_clear();
                    return;
                }
                self.erase_in_line(0);
                let (from, to) = (self.row + 1, self.rows);
                self.erase_rows(from, to);
            }
            1 => {
                self.erase_in_line(1);
                self.erase_rows(0, self.row);
            }
            2 => self.full_clear(),
            // 3 erases the scrollback: line output already taken cannot be withdrawn, and
            // nothing is ever silently lost, so it is ignored.
            _ => {}
        }
    }

    /// Erase the whole screen. On the main screen its content first goes to the history
    /// (tmux's `scroll-on-clear`), so a `clear` in a cell keeps what was printed before it.
    fn full_clear(&mut self) {
        if !self.in_alt {
            let used = self
                .primary
                .iter()
                .rposition(|l| !l.is_blank())
                .map_or(0, |i| i + 1);
            for line in self.primary.drain(..used) {
                self.history.push(&line);
            }
            self.primary.resize(self.rows, Line::default());
            self.cleared = true;
            self.max_row = self.row;
        }
        self.erase_rows(0, self.rows);
    }

    fn insert_lines(&mut self, n: usize) {
        if self.row < self.top || self.row > self.bottom {
            return;
        }
        let (row, bottom) = (self.row, self.bottom);
        let n = n.min(bottom + 1 - row);
        let screen = self.screen_mut();
        for _ in 0..n {
            screen.remove(bottom);
            screen.insert(row, Line::default());
        }
        self.set_col(0);
    }

    fn delete_lines(&mut self, n: usize) {
        if self.row < self.top || self.row > self.bottom {
            return;
        }
        let (row, bottom) = (self.row, self.bottom);
        let n = n.min(bottom + 1 - row);
        let screen = self.screen_mut();
        for _ in 0..n {
            screen.remove(row);
            screen.insert(bottom, Line::default());
        }
        self.set_col(0);
    }

    fn insert_chars(&mut self, n: usize) {
        let (col, cols, style) = (self.col, self.cols, self.pen.erase_style());
        let line = self.cur_line();
        if col >= line.cells.len() {
            return;
        }
        line.split_wide_at(col);
        let n = n.min(cols - col);
        line.cells
            .splice(col..col, std::iter::repeat_n(Cell::blank(style), n));
        line.cells.truncate(cols);
        if line.cells.last().is_some_and(|c| c.width == 2) {
            line.cells.pop();
        }
        self.wrap_pending = false;
    }

    fn delete_chars(&mut self, n: usize) {
        let (col, style) = (self.col, self.pen.erase_style());
        let line = self.cur_line();
        if col >= line.cells.len() {
            return;
        }
        line.split_wide_at(col);
        let end = (col + n).min(line.cells.len());
        line.split_wide_at(end);
        line.cells.drain(col..end);
        if style.visible_when_blank() {
            let cols = self.cols;
            let line = self.cur_line();
            line.extend_to(cols);
            for cell in &mut line.cells[cols - n.min(cols - col)..] {
                *cell = Cell::blank(style);
            }
        }
        self.wrap_pending = false;
    }

    fn erase_chars(&mut self, n: usize) {
        let (col, cols, style) = (self.col, self.cols, self.pen.erase_style());
        let line = self.cur_line();
        let end = (col + n).min(cols);
        line.split_wide_at(col);
        line.split_wide_at(end);
        if end >= line.cells.len() && !style.visible_when_blank() {
            line.cells.truncate(col);
        } else {
            line.erase(col, end, style);
        }
        self.wrap_pending = false;
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
        if clear {
            self.alt = blank_screen(self.rows);
        }
        self.in_alt = false;
    }

    fn set_private_mode(&mut self, mode: u16, on: bool) {
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
            2004 => self.bracketed_paste,
            _ => return None,
        })
    }

    /// RIS (`ESC c`, what `reset` and `tput reset` send): a fresh terminal, but the main
    /// screen's text goes to the history first like any other full clear.
    fn full_reset(&mut self) {
        self.in_alt = false;
        self.full_clear();
        let history = std::mem::take(&mut self.history);
        let replies = std::mem::take(&mut self.replies);
        *self = Term::new(self.cols as u16, self.rows as u16);
        self.history = history;
        self.replies = replies;
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
        if rows < self.rows {
            // Blank rows below the cursor go first, then rows from the top (to the history
            // for the main screen), as xterm and tmux shrink.
            let mut excess = self.rows - rows;
            while excess > 0 && self.primary.len() > self.row + 1 {
                if !self.primary.last().is_some_and(Line::is_blank) {
                    break;
                }
                self.primary.pop();
                self.alt.pop();
                excess -= 1;
            }
            for _ in 0..excess {
                let line = self.primary.remove(0);
                self.history.push(&line);
                self.alt.remove(0);
                self.row = self.row.saturating_sub(1);
            }
        }
        self.primary.resize(rows, Line::default());
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
            self.row - self.top + 1
        } else {
            self.row + 1
        }
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
        match byte {
            // BEL is swallowed: a cell has nothing to ring.
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

    fn csi_dispatch(&mut self, params: &vte::Params, inter: &[u8], ignore: bool, action: char) {
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
            ([], 'd') => self.set_row_abs(a1 - 1),
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
                let top = arg(params, 0, 1) - 1;
                let bottom = arg(params, 1, self.rows as u16) - 1;
                if top < bottom && bottom < self.rows {
                    self.top = top;
                    self.bottom = bottom;
                    self.set_row_abs(0);
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
                self.pen = Style::default();
                self.insert = false;
                self.origin = false;
                self.autowrap = true;
                self.cursor_visible = true;
                self.app_cursor = false;
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

    fn esc_dispatch(&mut self, inter: &[u8], _ignore: bool, byte: u8) {
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
                if self.row == self.top {
                    self.scroll_down(1);
                } else {
                    self.row = self.row.saturating_sub(1);
                }
                self.wrap_pending = false;
            }
            ([], b'c') => self.full_reset(),
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
                    line.cells = vec![
                        Cell {
                            ch: 'E',
                            ..Cell::blank(Style::default())
                        };
                        cols
                    ];
                    line.wrapped = false;
                }
            }
            _ => {}
        }
    }

    fn osc_dispatch(&mut self, params: &[&[u8]], bell_terminated: bool) {
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
