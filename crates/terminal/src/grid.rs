//! Cells and rows of the screen.

use crate::style::Style;

/// Combining characters kept per cell, in bytes. A stream of endless combining marks would
/// otherwise grow one cell without bound; the extra marks are dropped.
const MAX_COMBINING_BYTES: usize = 32;

/// One column of a row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Cell {
    pub ch: char,
    /// Combining marks (and joiners) that follow `ch` in the same column.
    pub combining: Option<Box<str>>,
    /// 1 for an ordinary character, 2 for the first column of a wide one, 0 for the
    /// column a wide character covers to its right (a spacer, never printed).
    pub width: u8,
    pub style: Style,
}

impl Cell {
    pub fn blank(style: Style) -> Cell {
        Cell {
            ch: ' ',
            combining: None,
            width: 1,
            style,
        }
    }

    pub fn is_spacer(&self) -> bool {
        self.width == 0
    }

    /// A blank that looks like an unwritten cell, so it can be trimmed at the end of a row.
    pub fn is_invisible_blank(&self) -> bool {
        self.ch == ' ' && self.combining.is_none() && !self.style.visible_when_blank()
    }

    pub fn push_combining(&mut self, c: char) {
        let mut s = self.combining.take().map(String::from).unwrap_or_default();
        if s.len() + c.len_utf8() <= MAX_COMBINING_BYTES {
            s.push(c);
        }
        self.combining = Some(s.into_boxed_str());
    }

    pub fn push_text(&self, out: &mut String) {
        out.push(self.ch);
        if let Some(c) = &self.combining {
            out.push_str(c);
        }
    }
}

/// A row of the screen. Cells past `cells.len()` are unwritten (blank, default style).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Line {
    pub cells: Vec<Cell>,
    /// The row's text continues on the next row (the terminal wrapped it at the margin),
    /// so line output joins the two into one logical line.
    pub wrapped: bool,
}

impl Line {
    /// Make sure columns `0..n` exist, filling with unwritten blanks.
    pub fn extend_to(&mut self, n: usize) {
        if self.cells.len() < n {
            self.cells.resize(n, Cell::blank(Style::default()));
        }
    }

    /// Clear columns `from..to` (clamped to the row) with the erase style. Cells past the
    /// written part with the default style need no storage.
    pub fn erase(&mut self, from: usize, to: usize, style: Style) {
        let blank = Cell::blank(style);
        if blank.is_invisible_blank() && to >= self.cells.len() {
            self.cells.truncate(from);
            return;
        }
        self.extend_to(to);
        for cell in &mut self.cells[from..to] {
            *cell = blank.clone();
        }
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
    pub fn split_wide_at(&mut self, col: usize) {
        let Some(cell) = self.cells.get(col) else {
            return;
        };
        if cell.is_spacer() && col > 0 {
            let style = self.cells[col - 1].style;
            self.cells[col - 1] = Cell::blank(style);
            self.cells[col] = Cell::blank(style);
        } else if cell.width == 2 {
            let style = cell.style;
            self.cells[col] = Cell::blank(style);
            if let Some(next) = self.cells.get_mut(col + 1) {
                *next = Cell::blank(style);
            }
        }
    }

    /// Plain text of columns `0..end`, wide-character spacers skipped.
    pub fn plain(&self, end: usize, out: &mut String) {
        for cell in self.cells.iter().take(end) {
            if !cell.is_spacer() {
                cell.push_text(out);
            }
        }
        // Columns past the written part that the cursor has moved over read as spaces.
        for _ in self.cells.len()..end {
            out.push(' ');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combining_marks_are_bounded() {
        let mut c = Cell::blank(Style::default());
        for _ in 0..1000 {
            c.push_combining('\u{301}');
        }
        assert!(
            c.combining
                .as_ref()
                .is_some_and(|s| s.len() <= MAX_COMBINING_BYTES)
        );
    }

    #[test]
    fn erase_to_end_with_default_style_drops_storage() {
        let mut l = Line::default();
        l.extend_to(10);
        l.erase(3, 20, Style::default());
        assert_eq!(l.cells.len(), 3);
    }
}
