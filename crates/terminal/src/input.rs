//! A byte filter in front of the escape-sequence parser. It does two things vte does not:
//!
//! * Invalid UTF-8 becomes U+FFFD, one per maximal invalid subsequence (the
//!   `String::from_utf8_lossy` rule). vte itself turns a lone byte 0x80–0x9F into a C1
//!   control, which would make bytes of a binary vanish instead of showing as U+FFFD.
//! * OSC strings are cut at [`MAX_OSC_BYTES`]: with its `std` feature vte buffers an OSC in
//!   an unbounded `Vec` until its terminator, so an endless `ESC ]` would eat memory. The
//!   excess bytes are dropped; the sequence still ends where the program ends it.
//!
//! The filter is a byte-at-a-time state machine, so its output does not depend on how the
//! input is split into chunks.

/// Longest OSC payload passed on. Titles and OSC 52 are swallowed anyway; colour queries
/// (OSC 10/11) are a few bytes.
pub(crate) const MAX_OSC_BYTES: usize = 4096;

const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Seq {
    /// Anything but the two states below: vte's own state is not tracked further.
    #[default]
    Other,
    /// Just after ESC (possibly with C0 controls in between, which vte executes there).
    Escape,
    /// Inside `ESC ]`, with the payload length so far.
    Osc(usize),
}

#[derive(Clone, Debug, Default)]
pub(crate) struct InputFilter {
    /// Bytes of an incomplete UTF-8 character.
    partial: [u8; 4],
    partial_len: usize,
    /// Continuation bytes still needed, and the range the next one must fall in.
    need: usize,
    lo: u8,
    hi: u8,
    seq: Seq,
}

impl InputFilter {
    /// Append the filtered form of `bytes` to `out`.
    pub fn filter(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        out.reserve(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            // Fast path: a run of printable ASCII outside any sequence of interest.
            if self.need == 0 && self.seq == Seq::Other {
                let run = bytes[i..]
                    .iter()
                    .position(|&b| !(0x20..0x7f).contains(&b))
                    .unwrap_or(bytes.len() - i);
                out.extend_from_slice(&bytes[i..i + run]);
                i += run;
                if i == bytes.len() {
                    break;
                }
            }
            self.byte(bytes[i], out);
            i += 1;
        }
    }

    fn byte(&mut self, b: u8, out: &mut Vec<u8>) {
        if self.need > 0 {
            if (self.lo..=self.hi).contains(&b) {
                self.partial[self.partial_len] = b;
                self.partial_len += 1;
                self.need -= 1;
                self.lo = 0x80;
                self.hi = 0xbf;
                if self.need == 0 {
                    let n = self.partial_len;
                    self.partial_len = 0;
                    self.emit_text(n, out);
                }
                return;
            }
            // The character was cut short: its bytes so far are one invalid subsequence,
            // and `b` starts afresh.
            self.need = 0;
            self.partial_len = 0;
            self.emit_replacement(out);
        }
        let (need, lo, hi) = match b {
            0x00..=0x7f => {
                self.ascii(b, out);
                return;
            }
            0xc2..=0xdf => (1, 0x80, 0xbf),
            0xe0 => (2, 0xa0, 0xbf),
            0xe1..=0xec | 0xee..=0xef => (2, 0x80, 0xbf),
            0xed => (2, 0x80, 0x9f),
            0xf0 => (3, 0x90, 0xbf),
            0xf1..=0xf3 => (3, 0x80, 0xbf),
            0xf4 => (3, 0x80, 0x8f),
            _ => {
                self.emit_replacement(out);
                return;
            }
        };
        self.partial[0] = b;
        self.partial_len = 1;
        self.need = need;
        self.lo = lo;
        self.hi = hi;
    }

    /// Track just enough of vte's state machine to know when an OSC payload is being read.
    fn ascii(&mut self, b: u8, out: &mut Vec<u8>) {
        self.seq = match (self.seq, b) {
            // ESC always starts a new sequence, from any state (and ends an OSC).
            (_, 0x1b) => Seq::Escape,
            (Seq::Osc(_), 0x07 | 0x18 | 0x1a) => Seq::Other,
            (Seq::Osc(n), _) => {
                if n >= MAX_OSC_BYTES {
                    return; // dropped: the payload is already as long as we keep
                }
                Seq::Osc(n + 1)
            }
            (Seq::Escape, b']') => Seq::Osc(0),
            // C0 controls other than CAN/SUB are executed without leaving the escape state.
            (Seq::Escape, 0x00..=0x17 | 0x19 | 0x1c..=0x1f | 0x7f) => Seq::Escape,
            _ => Seq::Other,
        };
        out.push(b);
    }

    fn emit_text(&mut self, n: usize, out: &mut Vec<u8>) {
        if let Seq::Osc(len) = self.seq {
            if len + n > MAX_OSC_BYTES {
                return;
            }
            self.seq = Seq::Osc(len + n);
        } else if self.seq != Seq::Escape {
            // vte ignores non-ASCII bytes right after ESC and stays in its escape state,
            // so `ESC é ]` still opens an OSC.
            self.seq = Seq::Other;
        }
        out.extend_from_slice(&self.partial[..n]);
    }

    fn emit_replacement(&mut self, out: &mut Vec<u8>) {
        self.partial[..3].copy_from_slice(REPLACEMENT);
        self.emit_text(3, out);
    }

    /// End of input: an incomplete character left over is invalid.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        if self.need > 0 {
            self.need = 0;
            self.partial_len = 0;
            self.emit_replacement(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> Vec<u8> {
        let mut f = InputFilter::default();
        let mut out = Vec::new();
        for c in chunks {
            f.filter(c, &mut out);
        }
        f.flush(&mut out);
        out
    }

    #[test]
    fn matches_from_utf8_lossy() {
        let samples: &[&[u8]] = &[
            b"plain",
            b"\xff\xfe",
            b"caf\xc3\xa9",
            b"\xe2\x82",
            b"\xe2\x82A",
            b"\xf0\x9f\x98\x80x\xf0\x9f",
            b"\xed\xa0\x80",
            b"\xc0\xaf",
            b"\x80\x9f\x9d",
        ];
        for s in samples {
            assert_eq!(run(&[s]), String::from_utf8_lossy(s).as_bytes(), "{s:?}");
            // Byte by byte gives the same.
            let split: Vec<&[u8]> = s.chunks(1).collect();
            assert_eq!(run(&split), String::from_utf8_lossy(s).as_bytes(), "{s:?}");
        }
    }

    #[test]
    fn endless_osc_is_cut() {
        let mut f = InputFilter::default();
        let mut out = Vec::new();
        f.filter(b"\x1b]0;", &mut out);
        for _ in 0..1000 {
            f.filter(&[b'x'; 1000], &mut out);
        }
        f.filter(b"\x07after", &mut out);
        assert!(out.len() < MAX_OSC_BYTES + 20, "{}", out.len());
        assert!(out.ends_with(b"\x07after"));
    }

    #[test]
    fn osc_after_intermediate_is_not_an_osc() {
        // `ESC ( ]` is a charset designation, not the start of an OSC.
        let mut f = InputFilter::default();
        let mut out = Vec::new();
        f.filter(b"\x1b(]", &mut out);
        f.filter(&[b'x'; 10_000], &mut out);
        assert_eq!(out.len(), 3 + 10_000);
    }
}
