//! Rows to text: the normalised SGR form used for line output.

use crate::grid::Line;
use crate::style::Attrs;

/// Builds one logical line out of one or more rows, carrying the SGR state across the rows
/// that soft-wrap into each other so the join is seamless.
#[derive(Clone, Debug, Default)]
pub(crate) struct LineWriter {
    pub buf: String,
    attrs: Attrs,
}

impl LineWriter {
    /// Append the first `end` columns of `line`.
    pub fn push_cells(&mut self, line: &Line, end: usize) {
        push_cells(&mut self.buf, &mut self.attrs, line, end);
    }

    /// Append a row as line output takes it: all of it when it wraps into the next row (its
    /// trailing blanks are real spaces in the middle of the logical line), otherwise up to
    /// its last visible cell.
    pub fn push_row(&mut self, line: &Line) {
        self.push_cells(line, row_end(line));
    }

    /// Append a row that is a whole logical line (it does not wrap into the next one) to
    /// `out`, closed as [`finish_into`](Self::finish_into) closes it, when nothing is held:
    /// the same text as `push_row` then `finish_into`, without going through the buffer.
    /// Returns false, doing nothing, when something is held or the row wraps.
    #[inline(always)]
    pub fn push_whole_row_into(&self, line: &Line, out: &mut String, newline: bool) -> bool {
        if !self.buf.is_empty() || line.wrapped {
            return false;
        }
        // An empty buffer is always in the default style: a style is only ever taken
        // by writing its SGR into the buffer, and finishing resets it.
        let mut attrs = Attrs::default();
        push_cells(out, &mut attrs, line, row_end(line));
        if !attrs.is_default() {
            Attrs::default().write_sgr(out);
        }
        if newline {
            out.push('\n');
        }
        true
    }

    /// Close the logical line into `out`: attributes reset at its end, then the newline if
    /// asked for.
    pub fn finish_into(&mut self, out: &mut String, newline: bool) {
        if !self.attrs.is_default() {
            Attrs::default().write_sgr(&mut self.buf);
            self.attrs = Attrs::default();
        }
        out.push_str(&self.buf);
        self.buf.clear();
        if newline {
            out.push('\n');
        }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }
}

/// How much of a row line output takes: all of it when it wraps into the next row (its
/// trailing blanks are real spaces in the middle of the logical line), otherwise up to its
/// last visible cell.
fn row_end(line: &Line) -> usize {
    if line.wrapped {
        line.cells.len()
    } else {
        line.visible_len()
    }
}

/// Append the first `end` columns of `line` to `out`, switching from `attrs` (and leaving
/// it the style of the last text written) with an SGR sequence wherever the style changes.
fn push_cells(out: &mut String, attrs: &mut Attrs, line: &Line, end: usize) {
    let cells = &line.cells[..end.min(line.cells.len())];
    out.reserve(cells.len());
    for (col, cell) in cells.iter().enumerate() {
        if cell.is_spacer() {
            continue;
        }
        if cell.attrs != *attrs {
            cell.attrs.write_sgr(out);
            *attrs = cell.attrs;
        }
        push_char(out, cell.ch);
        if cell.marked {
            out.push_str(line.marks(col));
        }
    }
    // Columns the cursor passed over without writing (a cursor-forward, a tab before the
    // cursor on the prompt line) read as spaces.
    if end > line.cells.len() {
        if !attrs.is_default() {
            Attrs::default().write_sgr(out);
            *attrs = Attrs::default();
        }
        out.extend(std::iter::repeat_n(' ', end - line.cells.len()));
    }
}

/// `out.push(c)`, shorter for ASCII (most of any output): a byte pushed as it is.
#[inline(always)]
fn push_char(out: &mut String, c: char) {
    if c.is_ascii() {
        // SAFETY: an ASCII character is one byte, its own UTF-8 encoding: the string stays
        // valid UTF-8.
        unsafe { out.as_mut_vec() }.push(c as u8);
    } else {
        out.push(c);
    }
}
