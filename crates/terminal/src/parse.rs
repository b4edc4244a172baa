//! The input side of the terminal: the [`InputFilter`] and vte's parser, with the ground
//! state run here, so that the bytes between escape sequences (most of any output) reach the
//! terminal without a callback per character.
//!
//! vte (0.15) leaves its ground state only at ESC, and in the ground state does nothing but
//! execute C0 and C1 controls and print everything else, one character at a time. The
//! filter hands vte valid UTF-8 in whole characters, so vte never holds a partial
//! character between calls. While vte is known to be in its ground state, this does
//! exactly what vte would, but prints a run of printable ASCII with one call
//! ([`Term::print_ascii`]). From an ESC on, vte takes the bytes until a callback after
//! which it is back in its ground state ([`Term::back_to_ground`], read through
//! `Perform::terminated`). A sequence that ends without such a callback (an ignored CSI, a
//! cancelled string) leaves vte in charge until the next one: slower, never different.
//!
//! While moreover the filter has nothing under way (no partial character, no sequence it
//! tracks), its output for the bytes up to the next ESC is the bytes themselves with each
//! maximal invalid UTF-8 subsequence made U+FFFD; [`Parser::feed`] then reads the input
//! directly, filtering and dispatching in one pass, and the filter only sees the bytes from
//! an ESC until vte is back in its ground state.

use crate::input::{InputFilter, Utf8, decode_utf8, printable_prefix};
use crate::term::Term;

pub(crate) struct Parser {
    vte: vte::Parser,
    /// vte is in its ground state: it has no sequence under way.
    ground: bool,
    filter: InputFilter,
    /// The filter's output for the piece of input being handled.
    scratch: Vec<u8>,
}

impl Parser {
    pub fn new() -> Parser {
        Parser {
            vte: vte::Parser::new(),
            ground: true,
            filter: InputFilter::default(),
            scratch: Vec::new(),
        }
    }

    /// Feed bytes from the PTY, split anywhere.
    pub fn feed(&mut self, term: &mut Term, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            if self.ground && self.filter.idle() {
                i = self.ground_raw(term, bytes, i);
                if i == bytes.len() {
                    break;
                }
            }
            // An escape sequence made of printable ASCII (not an OSC) is what the filter
            // would pass on as it is, leaving it idle: straight to vte.
            if self.filter.idle()
                && let Some(n) = plain_escape(&bytes[i..])
            {
                self.advance(term, &bytes[i..i + n]);
                i += n;
                continue;
            }
            // Anything else from an ESC, or a character cut off by the end of the input:
            // through the filter, a piece at a time, a piece ending where a sequence may
            // (its final byte, BEL, CAN, SUB), so that the direct path resumes right after.
            // The rest of a character cut off by the end of the last input goes a byte at
            // a time, for the same reason.
            let end = if self.ground && self.filter.in_char() {
                i + 1
            } else {
                bytes[i..]
                    .iter()
                    .position(|&b| matches!(b, 0x40..=0x7e | 0x07 | 0x18 | 0x1a))
                    .map_or(bytes.len(), |n| i + n + 1)
            };
            let mut buf = std::mem::take(&mut self.scratch);
            buf.clear();
            self.filter.filter(&bytes[i..end], &mut buf);
            self.advance(term, &buf);
            // Keep a modest buffer around, not one the size of the largest piece ever fed.
            if buf.capacity() <= 1 << 16 {
                self.scratch = buf;
            }
            i = end;
        }
    }

    /// Nothing under way: the input so far ends between characters and sequences. False
    /// also after a sequence vte ignored, until the next one it dispatches (it cannot be
    /// asked), so false means "maybe in the middle of something".
    pub fn idle(&self) -> bool {
        self.ground && self.filter.idle()
    }

    /// End of input: a character left incomplete becomes U+FFFD.
    pub fn finish(&mut self, term: &mut Term) {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        self.filter.flush(&mut buf);
        self.advance(term, &buf);
        self.scratch = buf;
    }

    /// The ground state on unfiltered input, from `i` with vte in its ground state and the
    /// filter idle: what the filter and then [`advance`](Self::advance) would do with these
    /// bytes, in one pass. Returns where it stopped: at the end, at an ESC, or at a
    /// character cut off by the end of the input.
    fn ground_raw(&mut self, term: &mut Term, bytes: &[u8], mut i: usize) -> usize {
        while let Some(&b) = bytes.get(i) {
            match b {
                0x20..=0x7e => {
                    // A long run of printable ASCII in one go; a short one, with any text
                    // around it, one character at a time.
                    let run = printable_prefix(&bytes[i..]);
                    if run >= 8 || bytes.get(i + run).is_none_or(|&b| b < 0x80) {
                        term.print_ascii_run(&bytes[i..i + run]);
                        i += run;
                    } else {
                        i += term.print_text(&bytes[i..]);
                    }
                    continue;
                }
                0x1b => return i,
                _ => match ground_step(term, bytes, i) {
                    Some(next) => i = next,
                    None => return i,
                },
            }
        }
        i
    }

    /// Feed `bytes` from the filter (valid UTF-8 made of whole characters) to `term`.
    fn advance(&mut self, term: &mut Term, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            if !self.ground {
                term.back_to_ground = false;
                i += self.vte.advance_until_terminated(term, &bytes[i..]);
                self.ground = std::mem::take(&mut term.back_to_ground);
                continue;
            }
            if bytes[i] == 0x1b {
                self.ground = false;
                continue;
            }
            match ground_step(term, bytes, i) {
                Some(next) => i = next,
                // Not what the filter hands over: let vte (in its ground state, which this
                // leaves it in) deal with it as it would anyway.
                None => self.ground = false,
            }
        }
    }
}

/// One step of the ground state at `bytes[i]` (anything but ESC): a C0 control, DEL, a run
/// of text, or a C1 control. Returns the index after it; None where the bytes are not a
/// whole character (an incomplete or invalid sequence), which each caller treats its way.
#[inline]
fn ground_step(term: &mut Term, bytes: &[u8], i: usize) -> Option<usize> {
    match bytes[i] {
        b @ 0x00..=0x1f => term.control(b),
        0x7f => vte::Perform::print(term, '\x7f'),
        _ => {
            let n = term.print_text(&bytes[i..]);
            if n > 0 {
                return Some(i + n);
            }
            match decode_utf8(&bytes[i..]) {
                // A C1 control (what else `print_text` stops at is cut off).
                Utf8::Char(c, n) => {
                    term.control(c as u8);
                    return Some(i + n);
                }
                Utf8::Incomplete | Utf8::Invalid(_) => return None,
            }
        }
    }
    Some(i + 1)
}

/// The length of the escape sequence at the start of `bytes` if it is ESC and printable
/// ASCII up to its final byte, and not an OSC (whose payload the filter bounds): the
/// filter's output for it is the bytes themselves, and it leaves the filter as idle as it
/// found it. A control sequence runs to its final byte, another escape sequence to its
/// byte after any intermediates; `None` if it is not whole in `bytes`.
fn plain_escape(bytes: &[u8]) -> Option<usize> {
    let (&esc, rest) = bytes.split_first()?;
    let (&first, _) = rest.split_first()?;
    if esc != 0x1b || first == b']' {
        return None;
    }
    // Parameters and intermediates, then the final byte.
    let (body, finals) = if first == b'[' {
        (0x20..=0x3f, 0x40..=0x7e)
    } else {
        (0x20..=0x2f, 0x30..=0x7e)
    };
    let start = usize::from(first == b'[');
    for (k, &b) in rest[start..].iter().enumerate() {
        if finals.contains(&b) {
            return Some(1 + start + k + 1);
        }
        if !body.contains(&b) {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::Line;

    /// Everything the terminal shows: line output so far, both screens' rows, the cursor.
    fn state(term: &Term) -> String {
        let rows = |lines: &[Line]| -> Vec<String> {
            lines
                .iter()
                .map(|l| {
                    let mut s = String::new();
                    l.plain(l.cells.len(), &mut s);
                    let attrs: Vec<_> = l.cells.iter().map(|c| (c.width, c.attrs)).collect();
                    format!("{s:?} {attrs:?} {}", l.wrapped)
                })
                .collect()
        };
        format!(
            "{:?}|{:?}|{:?}|{:?}|{}|{}|{}|{:?}",
            term.history.finished,
            term.history.carry,
            rows(term.primary()),
            rows(term.screen()),
            term.row,
            term.col,
            term.wrap_pending,
            term.replies
        )
    }

    /// The direct paths (the ground state run here, escape sequences straight to vte) do
    /// what the filter and vte's own ground state, one callback per character, do.
    #[test]
    fn same_as_the_filter_then_vte() {
        let pieces: &[&[u8]] = &[
            b"abc",
            b"hello world ",
            b"x",
            b"\r\n",
            b"\n",
            b"\r",
            b"\x08",
            b"\t",
            b"\x1b[31m",
            b"\x1b[0m",
            b"\x1b[4h",
            b"\x1b[4l",
            b"\x1b[?7l",
            b"\x1b[?7h",
            b"\x1b[2J",
            b"\x1b[K",
            b"\x1b[5;3H",
            b"\x1b[3C",
            b"\x1b[2@",
            b"\x1b[3P",
            b"\x1b[2b",
            b"\x1b(0",
            b"\x1b(B",
            b"\x0e",
            b"\x0f",
            b"\x1b]0;t\x07",
            b"\x1b]0;t",
            b"\x1bP1;2q",
            b"\x1b\\",
            b"\x1b7",
            b"\x1b8",
            b"\x1bM",
            b"\x1b[?1049h",
            b"\x1b[?1049l",
            b"\x1b[1;2r",
            b"\x1b[r",
            b"\x1b[6n",
            b"\x18",
            b"\x1b[?",
            "日本".as_bytes(),
            "e\u{301}".as_bytes(),
            "\u{200d}".as_bytes(),
            "😀".as_bytes(),
            "\u{85}".as_bytes(),
            b"\x7f",
            b"\xff",
            b"\xe2\x82",
            b"\x80",
            b"\x1b",
            b"\x1b[",
            b"0123456789abcdefghijklmnopqrstuvwxyz",
        ];
        let mut s: u64 = 0x853c_49e6_748f_ea9b;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for case in 0..400 {
            let cols = [1, 2, 5, 12, 40][case % 5];
            let rows = [1, 3, 6][case % 3];
            let mut bytes = Vec::new();
            for _ in 0..next() % 120 {
                bytes.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
            }
            let mut fast = Term::new(cols, rows);
            let mut parser = Parser::new();
            let mut slow = Term::new(cols, rows);
            let (mut filter, mut vte) = (InputFilter::default(), vte::Parser::new());
            let mut at = 0;
            while at < bytes.len() {
                let end = (at + 1 + (next() % 40) as usize).min(bytes.len());
                parser.feed(&mut fast, &bytes[at..end]);
                let mut filtered = Vec::new();
                filter.filter(&bytes[at..end], &mut filtered);
                vte.advance(&mut slow, &filtered);
                assert_eq!(state(&fast), state(&slow), "case {case} {bytes:?} to {end}");
                at = end;
            }
        }
    }
}
