//! Cells and rows of the screen.

use crate::style::Attrs;

/// Combining characters kept per cell, in bytes. A stream of endless combining marks would
/// otherwise grow one cell without bound; the extra marks are dropped.
const MAX_COMBINING_BYTES: usize = 32;

/// One column of a row: plain data, 16 bytes. The combining marks of the rare cell that
/// has some are kept by its row ([`Line::marks`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Cell {
    pub ch: char,
    /// 1 for an ordinary character, 2 for the first column of a wide one, 0 for the
    /// column a wide character covers to its right (a spacer, never printed).
    pub width: u8,
    /// Combining marks (and joiners) follow `ch` in the same column; the row has them.
    pub marked: bool,
    pub attrs: Attrs,
}

impl Cell {
    pub fn blank(attrs: Attrs) -> Cell {
        Cell {
            ch: ' ',
            width: 1,
            marked: false,
            attrs,
        }
    }

    /// An ordinary unmarked cell holding `ch`.
    pub fn new(ch: char, width: u8, attrs: Attrs) -> Cell {
        Cell {
            ch,
            width,
            marked: false,
            attrs,
        }
    }

    pub fn is_spacer(&self) -> bool {
        self.width == 0
    }

    /// A blank that looks like an unwritten cell, so it can be trimmed at the end of a row.
    pub fn is_invisible_blank(&self) -> bool {
        self.ch == ' ' && !self.marked && !self.attrs.visible_when_blank()
    }
}

/// A row of the screen. Cells past `cells.len()` are unwritten (blank, default style).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Line {
    pub cells: Vec<Cell>,
    /// The row's text continues on the next row (the terminal wrapped it at the margin),
    /// so line output joins the two into one logical line.
    pub wrapped: bool,
    /// The combining marks of the marked cells, by column, at most one entry per column.
    /// An entry whose cell is not marked (it was overwritten since) means nothing; it is
    /// replaced when that column gets marks again. Edits that move cells along the row
    /// move the entries with them.
    marks: Vec<(usize, Box<str>)>,
}

impl Line {
    /// Blank, with no cells, keeping the storage.
    pub fn clear(&mut self) {
        self.cells.clear();
        self.marks.clear();
        self.wrapped = false;
    }

    /// Room for a full row of `cols` cells, so that a row filled by appending grows once.
    #[inline(always)]
    pub fn reserve_row(&mut self, cols: usize) {
        if self.cells.capacity() < cols {
            self.cells
                .reserve_exact(cols.saturating_sub(self.cells.len()));
        }
    }

    /// Make sure columns `0..n` exist, filling with unwritten blanks.
    pub fn extend_to(&mut self, n: usize) {
        if self.cells.len() < n {
            self.cells.resize(n, Cell::blank(Attrs::default()));
        }
    }

    /// Clear columns `from..to` (clamped to the row) with the erase style. Cells past the
    /// written part with the default style need no storage.
    pub fn erase(&mut self, from: usize, to: usize, attrs: Attrs) {
        let blank = Cell::blank(attrs);
        if blank.is_invisible_blank() && to >= self.cells.len() {
            self.cells.truncate(from);
            return;
        }
        self.extend_to(to);
        self.cells[from..to].fill(blank);
    }

    /// The number of cells up to the last one that looks different from an unwritten one.
    pub fn visible_len(&self) -> usize {
        self.cells
            .iter()
            .rposition(|c| !c.is_invisible_blank())
            .map_or(0, |i| i + 1)
    }

    pub fn is_blank(&self) -> bool {
        self.visible_len() == 0
    }

    /// Before overwriting column `col`, break any wide character it is part of: a
    /// half-overwritten wide character leaves a blank in its other half, as in xterm.
    #[inline]
    pub fn split_wide_at(&mut self, col: usize) {
        if self.cells.get(col).is_some_and(|c| c.width != 1) {
            self.split_wide(col);
        }
    }

    fn split_wide(&mut self, col: usize) {
        let cell = self.cells[col];
        if cell.is_spacer() && col > 0 {
            let attrs = self.cells[col - 1].attrs;
            self.cells[col - 1] = Cell::blank(attrs);
            self.cells[col] = Cell::blank(attrs);
        } else if cell.width == 2 {
            let attrs = cell.attrs;
            self.cells[col] = Cell::blank(attrs);
            if let Some(next) = self.cells.get_mut(col + 1) {
                *next = Cell::blank(attrs);
            }
        }
    }

    /// The combining marks of the cell in column `col`.
    pub fn marks(&self, col: usize) -> &str {
        match self.cells.get(col) {
            Some(c) if c.marked => self.marks.iter().find(|m| m.0 == col).map_or("", |m| &m.1),
            _ => "",
        }
    }

    /// Add the combining mark `c` to the cell in column `col` (which exists).
    pub fn push_combining(&mut self, col: usize, c: char) {
        let at = self.marks.iter().position(|m| m.0 == col);
        let old = match at {
            Some(i) if self.cells[col].marked => std::mem::take(&mut self.marks[i].1),
            _ => Box::default(),
        };
        let mut s = String::from(old);
        if s.len() + c.len_utf8() <= MAX_COMBINING_BYTES {
            s.push(c);
        }
        let s = s.into_boxed_str();
        match at {
            Some(i) => self.marks[i].1 = s,
            None => self.marks.push((col, s)),
        }
        self.cells[col].marked = true;
    }

    /// Cells at `at` and right of it moved right by `n` (dropped past `cols`): their marks
    /// go along.
    pub fn marks_shifted_right(&mut self, at: usize, n: usize, cols: usize) {
        self.marks.retain_mut(|m| {
            if m.0 >= at {
                m.0 += n;
            }
            m.0 < cols
        });
    }

    /// Cells `from..to` removed, those right of them moved left: their marks go along.
    pub fn marks_removed(&mut self, from: usize, to: usize) {
        self.marks.retain_mut(|m| {
            if (from..to).contains(&m.0) {
                return false;
            }
            if m.0 >= to {
                m.0 -= to - from;
            }
            true
        });
    }

    /// The text of column `col`: its character and marks.
    pub fn push_text(&self, col: usize, out: &mut String) {
        let cell = &self.cells[col];
        out.push(cell.ch);
        if cell.marked {
            out.push_str(self.marks(col));
        }
    }

    /// Plain text of columns `0..end`, wide-character spacers skipped.
    pub fn plain(&self, end: usize, out: &mut String) {
        for (col, cell) in self.cells.iter().enumerate().take(end) {
            if !cell.is_spacer() {
                self.push_text(col, out);
            }
        }
        // Columns past the written part that the cursor has moved over read as spaces.
        for _ in self.cells.len()..end {
            out.push(' ');
        }
    }
}

/// The rows of the main screen, kept in a buffer with blank rows below them (three
/// screenfuls): scrolling the whole screen up (what every line of ordinary output does)
/// slides the window down one row instead of moving every row, and the rows go back to the
/// top of the buffer once the blank rows below are used up. Rows outside the window are
/// always blank.
#[derive(Debug)]
pub(crate) struct Rows {
    buf: Vec<Line>,
    start: usize,
    len: usize,
}

impl Rows {
    /// The buffer's size, in screenfuls.
    const SIZE: usize = 4;

    /// `len` blank rows.
    pub fn new(len: usize) -> Rows {
        Rows {
            buf: vec![Line::default(); Rows::SIZE * len],
            start: 0,
            len,
        }
    }

    /// Remove the top row (whatever it held is gone) and add a blank row at the bottom. The
    /// top row's storage is kept for a later row.
    #[inline(always)]
    pub fn scroll_up(&mut self) {
        if self.start + self.len == self.buf.len() {
            // The window is at the end, all above it blank: swap it with the top rows.
            let (top, window) = self.buf.split_at_mut(self.start);
            top[..self.len].swap_with_slice(window);
            self.start = 0;
        }
        self.buf[self.start].clear();
        self.start += 1;
    }

    /// Work on the rows as a vector, for the rare edits that change how many there are.
    pub fn edit<R>(&mut self, f: impl FnOnce(&mut Vec<Line>) -> R) -> R {
        self.buf.rotate_left(self.start);
        self.start = 0;
        self.buf.truncate(self.len);
        let r = f(&mut self.buf);
        self.len = self.buf.len();
        self.buf.resize(Rows::SIZE * self.len, Line::default());
        r
    }
}

impl std::ops::Deref for Rows {
    type Target = [Line];

    fn deref(&self) -> &[Line] {
        &self.buf[self.start..self.start + self.len]
    }
}

impl std::ops::DerefMut for Rows {
    fn deref_mut(&mut self) -> &mut [Line] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combining_marks_are_bounded() {
        let mut l = Line::default();
        l.extend_to(1);
        for _ in 0..1000 {
            l.push_combining(0, '\u{301}');
        }
        assert!(l.marks(0).len() <= MAX_COMBINING_BYTES);
        assert_eq!(l.marks.len(), 1);
    }

    #[test]
    fn marks_follow_their_cells() {
        let mut l = Line::default();
        l.extend_to(10);
        l.push_combining(2, '\u{301}');
        l.push_combining(5, '\u{302}');
        // Overwritten: the old marks mean nothing, and new ones start afresh.
        l.cells[5] = Cell::blank(Attrs::default());
        assert_eq!(l.marks(5), "");
        l.push_combining(5, '\u{303}');
        assert_eq!(l.marks(5), "\u{303}");
        l.marks_shifted_right(3, 2, 10);
        l.cells.splice(3..3, [Cell::blank(Attrs::default()); 2]);
        l.cells.truncate(10);
        assert_eq!((l.marks(2), l.marks(7)), ("\u{301}", "\u{303}"));
        l.marks_removed(1, 3);
        l.cells.drain(1..3);
        assert_eq!((l.marks(1), l.marks(5)), ("", "\u{303}"));
        assert_eq!(l.marks.len(), 1);
        // A cell right of a long deletion lands inside the deleted range's columns.
        l.marks_removed(1, 5);
        l.cells.drain(1..5);
        assert_eq!(l.marks(1), "\u{303}");
    }

    #[test]
    fn rows_scroll_as_a_vector_would() {
        let line = |s: &str| Line {
            cells: s
                .chars()
                .map(|ch| Cell::new(ch, 1, Attrs::default()))
                .collect(),
            wrapped: s.len() == 1,
            marks: Vec::new(),
        };
        let mut rows = Rows::new(3);
        let mut model = vec![Line::default(); 3];
        for i in 0..20 {
            let l = line(&"x".repeat(i % 4 + 1));
            rows[2] = l.clone();
            model[2] = l;
            assert_eq!(&rows[..], &model[..]);
            rows.scroll_up();
            model.remove(0);
            model.push(Line::default());
            assert_eq!(&rows[..], &model[..]);
            if i % 7 == 6 {
                rows.edit(|v| v.push(line("new")));
                model.push(line("new"));
                assert_eq!(&rows[..], &model[..]);
            }
        }
    }

    #[test]
    fn erase_to_end_with_default_style_drops_storage() {
        let mut l = Line::default();
        l.extend_to(10);
        l.erase(3, 20, Attrs::default());
        assert_eq!(l.cells.len(), 3);
    }

    #[test]
    fn cells_are_small() {
        assert_eq!(std::mem::size_of::<Cell>(), 16);
    }
}
