//! Rows to text: the normalised SGR form used for line output.

use crate::grid::Line;
use crate::style::Style;

/// Builds one logical line out of one or more rows, carrying the SGR state across the rows
/// that soft-wrap into each other so the join is seamless.
#[derive(Clone, Debug, Default)]
pub(crate) struct LineWriter {
    pub buf: String,
    style: Style,
}

impl LineWriter {
    /// Append the first `end` columns of `line`.
    pub fn push_cells(&mut self, line: &Line, end: usize) {
        for cell in line.cells.iter().take(end) {
            if cell.is_spacer() {
                continue;
            }
            if cell.style != self.style {
                cell.style.write_sgr(&mut self.buf);
                self.style = cell.style;
            }
            cell.push_text(&mut self.buf);
        }
        // Columns the cursor passed over without writing (a cursor-forward, a tab before
        // the cursor on the prompt line) read as spaces.
        if end > line.cells.len() {
            if self.style != Style::default() {
                Style::default().write_sgr(&mut self.buf);
                self.style = Style::default();
            }
            self.buf
                .extend(std::iter::repeat_n(' ', end - line.cells.len()));
        }
    }

    /// Append a row as line output takes it: all of it when it wraps into the next row (its
    /// trailing blanks are real spaces in the middle of the logical line), otherwise up to
    /// its last visible cell.
    pub fn push_row(&mut self, line: &Line) {
        let end = if line.wrapped {
            line.cells.len()
        } else {
            line.visible_len()
        };
        self.push_cells(line, end);
    }

    /// Close the logical line into `out`: attributes reset at its end, then the newline if
    /// asked for.
    pub fn finish_into(&mut self, out: &mut String, newline: bool) {
        if self.style != Style::default() {
            Style::default().write_sgr(&mut self.buf);
            self.style = Style::default();
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
