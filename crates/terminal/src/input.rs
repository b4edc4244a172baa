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
    /// Nothing under way: no partial character, no sequence tracked. Until the next ESC
    /// the output is then the input with each maximal invalid UTF-8 subsequence replaced.
    pub fn idle(&self) -> bool {
        self.need == 0 && self.seq == Seq::Other
    }

    /// In the middle of a character, outside any sequence: the bytes that complete it (or
    /// show it cut short) make the filter idle again.
    pub fn in_char(&self) -> bool {
        self.need > 0 && self.seq == Seq::Other
    }

    /// Append the filtered form of `bytes` to `out`.
    pub fn filter(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        out.reserve(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if self.need == 0 && self.seq == Seq::Other {
                i = self.text(bytes, i, out);
                if i == bytes.len() {
                    break;
                }
            }
            self.byte(bytes[i], out);
            i += 1;
        }
    }

    /// Fast path for the state outside any sequence of interest with no character under
    /// way, where every byte up to the next ESC leaves the state as it is: the text up to
    /// there is copied with each maximal invalid subsequence replaced, by the rules `byte`
    /// follows one byte at a time. Returns where `byte` must take over: at the ESC, at the
    /// end of the input, or at a character cut off by the end of the input (whose bytes
    /// `byte` keeps until the rest arrives).
    fn text(&mut self, bytes: &[u8], mut i: usize, out: &mut Vec<u8>) -> usize {
        let end = memchr::memchr(0x1b, &bytes[i..]).map_or(bytes.len(), |n| i + n);
        while i < end {
            let ascii = i + ascii_prefix(&bytes[i..end]);
            out.extend_from_slice(&bytes[i..ascii]);
            i = ascii;
            if i == end {
                break;
            }
            let Some((need, lo, hi)) = utf8_lead(bytes[i]) else {
                out.extend_from_slice(REPLACEMENT);
                i += 1;
                continue;
            };
            // How many bytes of the character are there, up to `need` continuations.
            let mut k = 1;
            while k <= need && i + k < end {
                let range = if k == 1 { lo..=hi } else { 0x80..=0xbf };
                if !range.contains(&bytes[i + k]) {
                    break;
                }
                k += 1;
            }
            if k > need {
                out.extend_from_slice(&bytes[i..i + k]);
                i += k;
            } else if i + k < end {
                // Cut short by a byte that is no continuation: one invalid subsequence,
                // and that byte starts afresh.
                out.extend_from_slice(REPLACEMENT);
                i += k;
            } else if end < bytes.len() {
                // Cut short by the ESC.
                out.extend_from_slice(REPLACEMENT);
                return end;
            } else {
                // Cut short by the end of the input: `byte` keeps it.
                return i;
            }
        }
        end
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
        if b < 0x80 {
            self.ascii(b, out);
            return;
        }
        let Some((need, lo, hi)) = utf8_lead(b) else {
            self.emit_replacement(out);
            return;
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

/// For a byte that starts a multi-byte UTF-8 character: how many continuation bytes
/// follow, and the range the first of them must fall in (the others are all 0x80–0xbf).
/// `None` for ASCII and for bytes that start no character.
#[inline(always)]
pub(crate) fn utf8_lead(b: u8) -> Option<(usize, u8, u8)> {
    let info = UTF8_LEADS[usize::from(b)];
    (info != 0).then_some(((info & 3) as usize, (info >> 8) as u8, (info >> 16) as u8))
}

/// [`utf8_lead`] for every byte, packed as `need | lo << 8 | hi << 16` (0: no lead byte).
static UTF8_LEADS: [u32; 256] = {
    let mut t = [0; 256];
    let mut b = 0;
    while b < 256 {
        let (need, lo, hi): (u32, u32, u32) = match b {
            0xc2..=0xdf => (1, 0x80, 0xbf),
            0xe0 => (2, 0xa0, 0xbf),
            0xe1..=0xec | 0xee..=0xef => (2, 0x80, 0xbf),
            0xed => (2, 0x80, 0x9f),
            0xf0 => (3, 0x90, 0xbf),
            0xf1..=0xf3 => (3, 0x80, 0xbf),
            0xf4 => (3, 0x80, 0x8f),
            _ => (0, 0, 0),
        };
        t[b] = need | lo << 8 | hi << 16;
        b += 1;
    }
    t
};

/// What a multi-byte UTF-8 sequence at the start of some bytes is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Utf8 {
    /// A valid character, and its length.
    Char(char, usize),
    /// A maximal invalid subsequence of this length (one U+FFFD).
    Invalid(usize),
    /// A valid start cut off by the end of the bytes.
    Incomplete,
}

/// Decode the sequence at the start of `bytes`, whose first byte is not ASCII, by the
/// rules [`InputFilter`] follows.
#[inline(always)]
pub(crate) fn decode_utf8(bytes: &[u8]) -> Utf8 {
    let Some((need, lo, hi)) = utf8_lead(bytes[0]) else {
        return Utf8::Invalid(1);
    };
    let Some(&b1) = bytes.get(1) else {
        return Utf8::Incomplete;
    };
    if !(lo..=hi).contains(&b1) {
        return Utf8::Invalid(1);
    }
    let lead = u32::from(bytes[0]) & (0x7f >> (need + 1));
    let mut c = lead << 6 | (u32::from(b1) & 0x3f);
    // The other continuation bytes, all 0x80–0xbf.
    for k in 2..=need {
        let Some(&b) = bytes.get(k) else {
            return Utf8::Incomplete;
        };
        if b & 0xc0 != 0x80 {
            return Utf8::Invalid(k);
        }
        c = c << 6 | (u32::from(b) & 0x3f);
    }
    // The ranges above admit scalar values only.
    Utf8::Char(char::from_u32(c).unwrap_or('\u{fffd}'), need + 1)
}

/// The number of leading printable ASCII bytes (0x20–0x7e), eight at a time.
pub(crate) fn printable_prefix(bytes: &[u8]) -> usize {
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

/// The number of leading ASCII bytes, eight at a time.
fn ascii_prefix(bytes: &[u8]) -> usize {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    let mut n = 0;
    for w in &mut words {
        let w = u64::from_le_bytes(w.try_into().unwrap_or_default()) & HIGH;
        if w != 0 {
            return n + w.trailing_zeros() as usize / 8;
        }
        n += 8;
    }
    n + words
        .remainder()
        .iter()
        .position(|&b| b >= 0x80)
        .unwrap_or(words.remainder().len())
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
    fn random_text_matches_from_utf8_lossy_however_split() {
        // Bytes biased towards UTF-8 lead and continuation bytes, no ESC: the fast path
        // and the byte-at-a-time path must agree with the standard library wherever the
        // input is cut.
        let mut s: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for _ in 0..2000 {
            let len = (next() % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| match next() % 4 {
                    0 => b'a' + (next() % 3) as u8,
                    1 => 0x80 + (next() % 0x40) as u8,
                    _ => 0xc0 + (next() % 0x40) as u8,
                })
                .collect();
            let want = String::from_utf8_lossy(&bytes).into_owned().into_bytes();
            assert_eq!(run(&[&bytes]), want, "{bytes:x?}");
            let cut = (next() as usize) % (len + 1);
            let (a, b) = bytes.split_at(cut);
            assert_eq!(run(&[a, b]), want, "{bytes:x?} cut at {cut}");
        }
    }

    #[test]
    fn printable_prefix_finds_the_first_byte_out_of_range() {
        for len in 0..20 {
            for at in 0..=len {
                for bad in [0x00, 0x1f, 0x7f, 0x80, 0xff, 0x1b] {
                    let mut v: Vec<u8> =
                        (0..len).map(|i| [0x20, 0x7e, b'x', b'~'][i % 4]).collect();
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
    fn lead_bytes_as_the_standard_says() {
        for b in 0..=255u8 {
            let want = match b {
                0xc2..=0xdf => Some((1, 0x80, 0xbf)),
                0xe0 => Some((2, 0xa0, 0xbf)),
                0xe1..=0xec | 0xee..=0xef => Some((2, 0x80, 0xbf)),
                0xed => Some((2, 0x80, 0x9f)),
                0xf0 => Some((3, 0x90, 0xbf)),
                0xf1..=0xf3 => Some((3, 0x80, 0xbf)),
                0xf4 => Some((3, 0x80, 0x8f)),
                _ => None,
            };
            assert_eq!(utf8_lead(b), want, "{b:#x}");
        }
    }

    #[test]
    fn decode_utf8_agrees_with_the_standard_library() {
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
            assert_eq!(decode_utf8(s.as_bytes()), Utf8::Char(c, s.len()));
            assert_eq!(decode_utf8(&s.as_bytes()[..s.len() - 1]), Utf8::Incomplete);
        }
        // Each maximal invalid subsequence, as `from_utf8_lossy` finds them.
        let cases: [(&[u8], usize); 6] = [
            (b"\xc0\x80", 1),
            (b"\xed\xa0\x80", 1),
            (b"\xf4\x90\x80\x80", 1),
            (b"\xe2\x28\xa1", 1),
            (b"\xe2\x82\x28", 2),
            (b"\x80", 1),
        ];
        for (bad, n) in cases {
            assert_eq!(decode_utf8(bad), Utf8::Invalid(n), "{bad:x?}");
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
