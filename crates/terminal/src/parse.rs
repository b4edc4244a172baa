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

use crate::input::{InputFilter, Utf8, decode_utf8};
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
            // From an ESC, or a character cut off by the end of the input: through the
            // filter, a piece at a time, a piece ending where a sequence may (its final
            // byte, BEL, CAN, SUB), so that the direct path resumes right after it.
            let end = bytes[i..]
                .iter()
                .position(|&b| matches!(b, 0x40..=0x7e | 0x07 | 0x18 | 0x1a))
                .map_or(bytes.len(), |n| i + n + 1);
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
                0x1b => return i,
                0x00..=0x1f => term.control(b),
                0x7f => vte::Perform::print(term, '\x7f'),
                _ => {
                    let n = term.print_text(&bytes[i..]);
                    if n > 0 {
                        i += n;
                        continue;
                    }
                    match decode_utf8(&bytes[i..]) {
                        // A C1 control (what else `print_text` stops at is cut off).
                        Utf8::Char(c, n) => {
                            term.control(c as u8);
                            i += n - 1;
                        }
                        Utf8::Incomplete | Utf8::Invalid(_) => return i,
                    }
                }
            }
            i += 1;
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
            match bytes[i] {
                0x1b => {
                    self.ground = false;
                    continue;
                }
                b @ 0x00..=0x1f => term.control(b),
                0x7f => vte::Perform::print(term, '\x7f'),
                _ => {
                    let n = term.print_text(&bytes[i..]);
                    if n > 0 {
                        i += n;
                        continue;
                    }
                    match decode_utf8(&bytes[i..]) {
                        Utf8::Char(c, n) => {
                            term.control(c as u8);
                            i += n - 1;
                        }
                        // Not what the filter hands over: let vte (in its ground state,
                        // which this leaves it in) deal with it as it would anyway.
                        Utf8::Incomplete | Utf8::Invalid(_) => {
                            self.ground = false;
                            continue;
                        }
                    }
                }
            }
            i += 1;
        }
    }
}

