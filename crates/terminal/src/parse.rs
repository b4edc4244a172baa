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

use crate::input::{InputFilter, utf8_lead};
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
        while i < bytes.len() {
            match bytes[i] {
                0x20..=0x7e => {
                    let run = i + printable_prefix(&bytes[i..]);
                    term.print_ascii(&bytes[i..run]);
                    i = run;
                }
                0x1b => return i,
                b @ 0x00..=0x1f => {
                    term.control(b);
                    i += 1;
                }
                0x7f => {
                    vte::Perform::print(term, '\x7f');
                    i += 1;
                }
                b => {
                    let Some((need, lo, hi)) = utf8_lead(b) else {
                        vte::Perform::print(term, '\u{fffd}');
                        i += 1;
                        continue;
                    };
                    // The continuation bytes there are, up to `need`.
                    let mut k = 0;
                    while k < need && i + 1 + k < bytes.len() {
                        let range = if k == 0 { lo..=hi } else { 0x80..=0xbf };
                        if !range.contains(&bytes[i + 1 + k]) {
                            break;
                        }
                        k += 1;
                    }
                    if k == need {
                        let tail = &bytes[i + 1..i + 1 + need];
                        let lead = u32::from(b) & (0x7f >> (need + 1));
                        let c = tail
                            .iter()
                            .fold(lead, |c, &b| c << 6 | (u32::from(b) & 0x3f));
                        match char::from_u32(c) {
                            Some(c @ '\u{80}'..='\u{9f}') => term.control(c as u8),
                            Some(c) => vte::Perform::print(term, c),
                            // Not reached (the ranges above only admit scalar values);
                            // the filter decides.
                            None => return i,
                        }
                        i += 1 + need;
                    } else if i + 1 + k < bytes.len() {
                        // Cut short by a byte that is no continuation (which starts afresh):
                        // one invalid subsequence.
                        vte::Perform::print(term, '\u{fffd}');
                        i += 1 + k;
                    } else {
                        // Cut off by the end of the input: the filter keeps it.
                        return i;
                    }
                }
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
            match bytes[i] {
                0x20..=0x7e => {
                    let run = i + printable_prefix(&bytes[i..]);
                    term.print_ascii(&bytes[i..run]);
                    i = run;
                }
                0x1b => self.ground = false,
                b @ 0x00..=0x1f => {
                    term.control(b);
                    i += 1;
                }
                0x7f => {
                    vte::Perform::print(term, '\x7f');
                    i += 1;
                }
                _ => {
                    let Some((c, len)) = decode(&bytes[i..]) else {
                        // Not what the filter hands over: let vte (in its ground state,
                        // which this leaves it in) deal with it as it would anyway.
                        self.ground = false;
                        continue;
                    };
                    match c {
                        '\u{80}'..='\u{9f}' => term.control(c as u8),
                        _ => vte::Perform::print(term, c),
                    }
                    i += len;
                }
            }
        }
    }
}

/// The number of leading printable ASCII bytes (0x20–0x7e), eight at a time.
fn printable_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    let mut n = 0;
    for w in &mut words {
        let w = u64::from_le_bytes(w.try_into().unwrap_or_default());
        // A byte's high bit is set in `below` if it is under 0x20 and in `above` if it is
        // 0x7f or more. A borrow or carry can only set bits above a byte that is flagged
        // itself, so the lowest flagged byte is the first one out of range.
        let below = w.wrapping_sub(0x20 * ONES) & !w;
        let above = w.wrapping_add(ONES) | w;
        let out = (below | above) & HIGH;
        if out != 0 {
            return n + out.trailing_zeros() as usize / 8;
        }
        n += 8;
    }
    n + words
        .remainder()
        .iter()
        .position(|b| !(0x20..0x7f).contains(b))
        .unwrap_or(words.remainder().len())
}

/// The character a multi-byte UTF-8 sequence at the start of `bytes` encodes, and its
/// length; `None` if it is not a valid and complete one.
fn decode(bytes: &[u8]) -> Option<(char, usize)> {
    let (need, lo, hi) = utf8_lead(bytes[0])?;
    let tail = bytes.get(1..=need)?;
    if !(lo..=hi).contains(&tail[0]) || !tail[1..].iter().all(|b| (0x80..0xc0).contains(b)) {
        return None;
    }
    let lead = u32::from(bytes[0]) & (0x7f >> (need + 1));
    let c = tail
        .iter()
        .fold(lead, |c, &b| c << 6 | (u32::from(b) & 0x3f));
    Some((char::from_u32(c)?, need + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_prefix_finds_the_first_byte_out_of_range() {
        for len in 0..20 {
            for at in 0..=len {
                for bad in [0x00, 0x1f, 0x7f, 0x80, 0xff, 0x1b] {
                    let mut v = vec![b'a'; len];
                    for (i, b) in v.iter_mut().enumerate() {
                        *b = [0x20, 0x7e, b'x', b'~'][i % 4];
                    }
                    if at < len {
                        v[at] = bad;
                        // Bytes after the first bad one do not matter.
                        for b in v[at + 1..].iter_mut() {
                            *b = 0xff;
                        }
                    }
                    assert_eq!(printable_prefix(&v), at, "{v:x?}");
                }
            }
        }
    }

    #[test]
    fn decode_agrees_with_the_standard_library() {
        for c in [
            '\u{80}',
            'é',
            '\u{7ff}',
            '\u{800}',
            '日',
            '\u{fffd}',
            '\u{ffff}',
            '😀',
            '\u{10ffff}',
        ] {
            let mut buf = [0; 4];
            let s = c.encode_utf8(&mut buf);
            assert_eq!(decode(s.as_bytes()), Some((c, s.len())));
            assert_eq!(decode(&s.as_bytes()[..s.len() - 1]), None);
        }
        for bad in [
            &b"\xc0\x80"[..],
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
            b"\xe2\x28\xa1",
            b"\x80",
        ] {
            assert_eq!(decode(bad), None, "{bad:x?}");
        }
    }
}
