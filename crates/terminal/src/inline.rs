//! Pictures and HTML in a program's output, pulled out of the PTY's byte stream before the
//! terminal renders it. Two kinds of sequence are taken out:
//!
//! * **display frames** of the cell's own helpers (`display`, `displayHTML`, `displayJS`,
//!   see `context::script`): `ESC _ sshpty;NONCE;show;KIND;ID;BASE64 ESC \`, where NONCE is
//!   the cell's (a program cannot know it: it is in no environment and no argument), KIND is
//!   `image`, `html` or `js`, ID is the base64 of an optional display id, and BASE64 the
//!   content. A frame with another nonce is not one: it goes to the terminal as it is, which
//!   ignores an APC string, so a `cat` of a saved frame shows nothing and displays nothing.
//! * **iTerm2 inline images** (<https://iterm2.com/documentation-images.html>), as `imgcat`
//!   writes them: `ESC ] 1337 ; File=ARGS : BASE64 (BEL | ESC \)`.
//!
//! Pure and streaming: bytes come in chunks cut anywhere, pieces come out in order, the same
//! however the stream was cut (property-tested, and fuzzed by `fuzz/fuzz_targets/inline.rs`).
//! Memory is bounded: a content over [`MAX_BYTES`] is skipped to its terminator without being
//! kept, and a byte that cannot be in a sequence (anything but base64 and line breaks in the
//! content) ends it as malformed and is read again as output, so a cut sequence never
//! swallows what follows. Nothing is ever written anywhere: `inline=0` (a download) is
//! refused.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::picture::{self, MAX_BYTES, Picture, Refusal};

/// What starts an iTerm2 inline file.
const ITERM: &[u8] = b"\x1b]1337;File=";
/// Bytes of a sequence's head (a frame's kind and id, iTerm2's arguments) at most.
const MAX_HEAD: usize = 4096;
/// Base64 characters of one content kept at most: [`MAX_BYTES`] decoded.
const MAX_ENCODED: usize = MAX_BYTES.div_ceil(3) * 4;
/// Characters of a display id or a file name kept.
const MAX_NAME: usize = 256;

/// Base64 as `base64(1)` writes it; padding optional (some encoders leave it out).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What starts a display frame of the cell whose nonce is `nonce`.
pub fn frame_intro(nonce: &str) -> Vec<u8> {
    format!("\x1b_sshpty;{nonce};show;").into_bytes()
}

/// What a display frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Image,
    Html,
    JavaScript,
}

/// A display frame from the cell's helpers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    /// The display id it was given (`display ID`): a later frame with the same id replaces it.
    pub id: Option<String>,
    /// The decoded content, at most [`MAX_BYTES`].
    pub data: Vec<u8>,
}

/// An iTerm2 inline image, examined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inline {
    pub picture: Picture,
    /// The `name` argument, decoded (control characters dropped).
    pub name: Option<String>,
    /// `width` and `height` when given in pixels (`Npx`): how large to show it.
    pub width: Option<u32>,
    pub height: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Ordinary output, for the terminal.
    Text(Vec<u8>),
    Frame(Frame),
    Inline(Inline),
    /// A sequence that is not shown, and why (said in the cell in its place).
    Refused(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Frame,
    Iterm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    /// `held` is a proper prefix of an introducer.
    Intro,
    Head(Which),
    Body(Which),
    /// An ESC in the content: `\` ends the sequence.
    BodyEsc(Which),
}

/// What the head said, for the content that follows.
enum Head {
    Frame {
        kind: Kind,
        id: Option<String>,
    },
    Iterm(IArgs),
    /// Not shown whatever the content: skipped to its terminator without being kept.
    Refused(Refusal),
}

struct IArgs {
    name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
}

pub struct Scanner {
    frame: Vec<u8>,
    state: State,
    held: Vec<u8>,
    head: Vec<u8>,
    parsed: Option<Head>,
    body: Vec<u8>,
    /// Base64 characters of the content, kept or not.
    encoded: usize,
}

impl Scanner {
    /// A scanner for the cell whose nonce is `nonce`.
    pub fn new(nonce: &str) -> Scanner {
        Scanner {
            frame: frame_intro(nonce),
            state: State::Ground,
            held: Vec::new(),
            head: Vec::new(),
            parsed: None,
            body: Vec::new(),
            encoded: 0,
        }
    }

    /// Bytes held back at the moment (bounded whatever the input: the longest introducer,
    /// [`MAX_HEAD`], [`MAX_ENCODED`]).
    pub fn held(&self) -> usize {
        self.held.len() + self.head.len() + self.body.len()
    }

    /// Whether a sequence is under way (its pieces come when it ends).
    pub fn inside(&self) -> bool {
        self.state != State::Ground
    }

    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Piece>) {
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                State::Ground => match memchr::memchr(0x1b, &bytes[i..]) {
                    None => {
                        text(out, &bytes[i..]);
                        i = bytes.len();
                    }
                    Some(k) => {
                        text(out, &bytes[i..i + k]);
                        self.held.clear();
                        self.held.push(0x1b);
                        self.state = State::Intro;
                        i += k + 1;
                    }
                },
                State::Intro => {
                    let b = bytes[i];
                    i += 1;
                    self.held.push(b);
                    if self.held == self.frame {
                        self.begin(State::Head(Which::Frame));
                    } else if self.held == ITERM {
                        self.begin(State::Head(Which::Iterm));
                    } else if self.frame.starts_with(&self.held) || ITERM.starts_with(&self.held) {
                        continue;
                    } else if b == 0x1b {
                        // Not ours; the ESC that broke the match may start one.
                        let n = self.held.len() - 1;
                        text(out, &self.held[..n]);
                        self.held.clear();
                        self.held.push(0x1b);
                    } else {
                        text(out, &self.held);
                        self.held.clear();
                        self.state = State::Ground;
                    }
                }
                State::Head(w) => {
                    let b = bytes[i];
                    let ends = match w {
                        Which::Iterm => b == b':',
                        Which::Frame => b == b';' && self.head.contains(&b';'),
                    };
                    if ends {
                        i += 1;
                        let head = std::mem::take(&mut self.head);
                        self.parsed = Some(match w {
                            Which::Iterm => parse_iterm(&head),
                            Which::Frame => parse_frame(&head),
                        });
                        self.state = State::Body(w);
                    } else if matches!(b, 0x20..=0x7e | b'\r' | b'\n') {
                        i += 1;
                        if self.head.len() < MAX_HEAD {
                            self.head.push(b);
                        } else {
                            self.head.clear();
                            self.parsed = Some(Head::Refused(Refusal::BadSequence));
                            self.state = State::Body(w);
                        }
                    } else {
                        i += self.abort(b, out);
                    }
                }
                State::Body(w) => {
                    let run = bytes[i..]
                        .iter()
                        .position(|&b| !is_content(b))
                        .unwrap_or(bytes.len() - i);
                    self.content(&bytes[i..i + run]);
                    i += run;
                    let Some(&b) = bytes.get(i) else { break };
                    match b {
                        0x07 => {
                            i += 1;
                            self.complete(out);
                        }
                        0x1b => {
                            i += 1;
                            self.state = State::BodyEsc(w);
                        }
                        _ => i += self.abort(b, out),
                    }
                }
                State::BodyEsc(_) => {
                    if bytes[i] == b'\\' {
                        i += 1;
                        self.complete(out);
                    } else {
                        // ESC and something else: the sequence was cut, and the ESC starts
                        // whatever comes next.
                        self.reset();
                        out.push(Piece::Refused(Refusal::BadSequence));
                        self.held.push(0x1b);
                        self.state = State::Intro;
                    }
                }
            }
        }
    }

    /// End of output: a sequence still open is refused as cut; a held ESC goes out.
    pub fn finish(&mut self, out: &mut Vec<Piece>) {
        match self.state {
            State::Ground => {}
            State::Intro => {
                let held = std::mem::take(&mut self.held);
                text(out, &held);
            }
            State::Head(_) | State::Body(_) | State::BodyEsc(_) => {
                out.push(Piece::Refused(Refusal::Cut));
            }
        }
        self.reset();
    }

    fn begin(&mut self, state: State) {
        self.held.clear();
        self.head.clear();
        self.body.clear();
        self.parsed = None;
        self.encoded = 0;
        self.state = state;
    }

    fn reset(&mut self) {
        self.begin(State::Ground);
        // Give back what a large content took.
        if self.body.capacity() > 1 << 16 {
            self.body = Vec::new();
        }
    }

    /// A byte that cannot be in the sequence ends it as malformed. BEL, CAN and SUB end a
    /// control string in a terminal too, and are taken; any other byte is read again as
    /// output. Returns the bytes taken.
    fn abort(&mut self, b: u8, out: &mut Vec<Piece>) -> usize {
        self.reset();
        out.push(Piece::Refused(Refusal::BadSequence));
        usize::from(matches!(b, 0x07 | 0x18 | 0x1a))
    }

    fn content(&mut self, run: &[u8]) {
        let skip = matches!(self.parsed, Some(Head::Refused(_)));
        for &b in run {
            if b.is_ascii_whitespace() {
                continue;
            }
            self.encoded += 1;
            if !skip && self.body.len() < MAX_ENCODED {
                self.body.push(b);
            }
        }
    }

    fn complete(&mut self, out: &mut Vec<Piece>) {
        let parsed = self.parsed.take();
        let over = self.encoded > MAX_ENCODED;
        let encoded = self.encoded;
        let body = std::mem::take(&mut self.body);
        self.reset();
        let data = || -> Result<Vec<u8>, Refusal> {
            if over {
                return Err(Refusal::TooLarge {
                    bytes: encoded / 4 * 3,
                });
            }
            BASE64.decode(&body).map_err(|_| Refusal::BadBase64)
        };
        let piece = match parsed {
            None => Piece::Refused(Refusal::BadSequence),
            Some(Head::Refused(r)) => Piece::Refused(r),
            Some(Head::Frame { kind, id }) => match data() {
                Ok(data) => Piece::Frame(Frame { kind, id, data }),
                Err(r) => Piece::Refused(r),
            },
            Some(Head::Iterm(args)) => match data().and_then(picture::examine) {
                Ok(picture) => Piece::Inline(Inline {
                    picture,
                    name: args.name,
                    width: args.width,
                    height: args.height,
                }),
                Err(r) => Piece::Refused(r),
            },
        };
        out.push(piece);
    }
}

/// Bytes of a sequence's content: base64, and the line breaks `base64(1)` puts in it.
fn is_content(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\r' | b'\n' | b' ' | b'\t')
}

fn text(out: &mut Vec<Piece>, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    match out.last_mut() {
        Some(Piece::Text(t)) => t.extend_from_slice(bytes),
        _ => out.push(Piece::Text(bytes.to_vec())),
    }
}

/// Decoded base64 as text for a name: control characters dropped, bounded.
fn name_from(b64: &[u8]) -> Result<Option<String>, Refusal> {
    let clean: Vec<u8> = b64
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if clean.is_empty() {
        return Ok(None);
    }
    let raw = BASE64.decode(&clean).map_err(|_| Refusal::BadBase64)?;
    let name: String = String::from_utf8_lossy(&raw)
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME)
        .collect();
    Ok(Some(name))
}

/// `KIND;ID` of a display frame.
fn parse_frame(head: &[u8]) -> Head {
    let (kind, id) = match head.iter().position(|&b| b == b';') {
        Some(p) => (&head[..p], &head[p + 1..]),
        None => (head, &b""[..]),
    };
    let kind = match kind {
        b"image" => Kind::Image,
        b"html" => Kind::Html,
        b"js" => Kind::JavaScript,
        _ => return Head::Refused(Refusal::BadSequence),
    };
    match name_from(id) {
        Ok(id) => Head::Frame { kind, id },
        Err(r) => Head::Refused(r),
    }
}

/// iTerm2's `key=value;…` arguments: `name` (base64), `size` (bytes), `width`, `height`,
/// `inline`, `preserveAspectRatio`; unknown keys are ignored, as iTerm2 does.
fn parse_iterm(head: &[u8]) -> Head {
    let head = String::from_utf8_lossy(head);
    let mut args = IArgs {
        name: None,
        width: None,
        height: None,
    };
    let mut inline = false;
    for pair in head.split(';') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = value.trim();
        match key.trim() {
            "name" => match name_from(value.as_bytes()) {
                Ok(n) => args.name = n,
                Err(r) => return Head::Refused(r),
            },
            // A declared size over the limit is refused before any of it is read.
            "size" => {
                if let Ok(n) = value.parse::<u64>()
                    && n > MAX_BYTES as u64
                {
                    return Head::Refused(Refusal::TooLarge {
                        bytes: usize::try_from(n).unwrap_or(usize::MAX),
                    });
                }
            }
            "width" => args.width = pixels(value),
            "height" => args.height = pixels(value),
            "inline" => inline = value == "1",
            _ => {}
        }
    }
    if !inline {
        // iTerm2's default is a download into the user's Downloads: never here.
        return Head::Refused(Refusal::Download {
            name: args.name.unwrap_or_else(|| "unnamed".into()),
        });
    }
    Head::Iterm(args)
}

/// A size in pixels (`120px`); cells, percentages and `auto` leave the size to the image.
/// Bounded to what a screen shows.
fn pixels(value: &str) -> Option<u32> {
    let n: u32 = value.strip_suffix("px")?.parse().ok()?;
    (1..=16_384).contains(&n).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::picture::tests::png;
    use proptest::prelude::*;

    const N: &str = "0123456789abcdef0123456789abcdef";

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    fn frame(kind: &str, id: &str, data: &[u8]) -> Vec<u8> {
        let mut f = frame_intro(N);
        // As the helper writes it: base64(1) breaks lines, the PTY makes them CRLF.
        let wrap = |s: String| -> String {
            s.as_bytes()
                .chunks(76)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("\r\n")
        };
        f.extend(
            format!(
                "{kind};{};{}\r\n\x1b\\",
                wrap(b64(id.as_bytes())),
                wrap(b64(data))
            )
            .as_bytes(),
        );
        f
    }

    fn iterm(args: &str, data: &[u8], bel: bool) -> Vec<u8> {
        let mut s = format!("\x1b]1337;File={args}:{}", b64(data)).into_bytes();
        s.extend(if bel { &b"\x07"[..] } else { &b"\x1b\\"[..] });
        s
    }

    fn run(chunks: &[&[u8]]) -> Vec<Piece> {
        let mut s = Scanner::new(N);
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, &mut out);
        }
        s.finish(&mut out);
        normalise(out)
    }

    fn normalise(v: Vec<Piece>) -> Vec<Piece> {
        let mut out: Vec<Piece> = Vec::new();
        for p in v {
            match (out.last_mut(), p) {
                (Some(Piece::Text(a)), Piece::Text(b)) => a.extend(b),
                (_, p) => out.push(p),
            }
        }
        out
    }

    fn stream() -> Vec<u8> {
        let mut s = b"before\r\n\x1b[31mred\x1b[0m \x1b]0;title\x07".to_vec();
        s.extend(iterm(
            &format!("name={};size=33;inline=1", b64(b"a.png")),
            &png(2, 3),
            true,
        ));
        s.extend(b"mid\r\n");
        s.extend(frame("html", "", b"<b>x</b>"));
        s.extend(frame("image", "plot", &png(4, 4)));
        // A frame with another nonce: ordinary output.
        s.extend(b"\x1b_sshpty;ffffffffffffffffffffffffffffffff;show;image;;AAAA\x1b\\");
        s.extend(iterm("inline=0;name=eA==", b"payload", false));
        s.extend(b"after\r\n\x1b");
        s
    }

    #[test]
    fn pieces_come_out_in_order() {
        let got = run(&[&stream()]);
        let text = |s: &[u8]| Piece::Text(s.to_vec());
        let expected = vec![
            text(b"before\r\n\x1b[31mred\x1b[0m \x1b]0;title\x07"),
            Piece::Inline(Inline {
                picture: picture::examine(png(2, 3)).expect("a png"),
                name: Some("a.png".into()),
                width: None,
                height: None,
            }),
            text(b"mid\r\n"),
            Piece::Frame(Frame {
                kind: Kind::Html,
                id: None,
                data: b"<b>x</b>".to_vec(),
            }),
            Piece::Frame(Frame {
                kind: Kind::Image,
                id: Some("plot".into()),
                data: png(4, 4),
            }),
            text(b"\x1b_sshpty;ffffffffffffffffffffffffffffffff;show;image;;AAAA\x1b\\"),
            Piece::Refused(Refusal::Download { name: "x".into() }),
            text(b"after\r\n\x1b"),
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn split_at_every_byte_gives_the_same_pieces() {
        let s = stream();
        let whole = run(&[&s]);
        for cut in 0..=s.len() {
            assert_eq!(run(&[&s[..cut], &s[cut..]]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = s.chunks(1).collect();
        assert_eq!(run(&bytes), whole);
    }

    #[test]
    fn a_cut_sequence_is_refused_and_does_not_swallow_what_follows() {
        // The program died mid-image; the shell's next output is text again.
        let mut s = b"\x1b]1337;File=inline=1:iVBORw0K".to_vec();
        s.extend(b"\r\n$ echo ok\r\nok\r\n");
        let got = run(&[&s]);
        assert_eq!(got[0], Piece::Refused(Refusal::BadSequence));
        assert_eq!(got[1], Piece::Text(b"$ echo ok\r\nok\r\n".to_vec()));
        // Unterminated at the end of the output.
        assert_eq!(
            run(&[b"x\x1b]1337;File=inline=1:AAAA"]),
            vec![Piece::Text(b"x".to_vec()), Piece::Refused(Refusal::Cut)]
        );
        // ESC and something else inside the content: cut, and the ESC starts a sequence.
        assert_eq!(
            run(&[b"\x1b]1337;File=inline=1:AAAA\x1b[1mB"]),
            vec![
                Piece::Refused(Refusal::BadSequence),
                Piece::Text(b"\x1b[1mB".to_vec())
            ]
        );
    }

    #[test]
    fn malformed_base64_and_non_images_are_refused() {
        assert_eq!(
            run(&[b"\x1b]1337;File=inline=1:A===\x07"]),
            vec![Piece::Refused(Refusal::BadBase64)]
        );
        assert_eq!(
            run(&[&iterm("inline=1", b"<svg onload=alert(1)>", true)]),
            vec![Piece::Refused(Refusal::Unsupported { kind: "SVG" })]
        );
        assert_eq!(
            run(&[&frame("pdf", "", b"x")]),
            vec![Piece::Refused(Refusal::BadSequence)]
        );
    }

    #[test]
    fn oversized_content_is_skipped_without_being_kept() {
        let mut s = Scanner::new(N);
        let mut out = Vec::new();
        s.feed(b"\x1b]1337;File=inline=1:", &mut out);
        let chunk = vec![b'A'; 1 << 20];
        for _ in 0..13 {
            s.feed(&chunk, &mut out);
            assert!(s.held() <= MAX_ENCODED);
        }
        s.feed(b"\x07after", &mut out);
        assert!(matches!(out[0], Piece::Refused(Refusal::TooLarge { .. })));
        assert_eq!(out[1], Piece::Text(b"after".to_vec()));
        // A declared size over the limit: refused before any content is kept.
        let mut s = Scanner::new(N);
        let mut out = Vec::new();
        s.feed(b"\x1b]1337;File=size=99999999999;inline=1:", &mut out);
        s.feed(&chunk, &mut out);
        assert_eq!(s.held(), 0);
        s.feed(b"\x07", &mut out);
        assert_eq!(
            out,
            vec![Piece::Refused(Refusal::TooLarge {
                bytes: 99_999_999_999
            })]
        );
    }

    #[test]
    fn pixel_sizes_are_kept_only_in_pixels() {
        let got = run(&[&iterm("inline=1;width=120px;height=50%", &png(2, 2), false)]);
        let Piece::Inline(i) = &got[0] else {
            panic!("an image: {got:?}")
        };
        assert_eq!((i.width, i.height), (Some(120), None));
    }

    proptest! {
        #[test]
        fn chunking_does_not_matter(cuts in proptest::collection::vec(0usize..2000, 0..16)) {
            let s = stream();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (s.len() + 1)).collect();
            cuts.sort();
            let mut chunks = Vec::new();
            let mut last = 0;
            for c in cuts { chunks.push(&s[last..c]); last = c; }
            chunks.push(&s[last..]);
            prop_assert_eq!(run(&chunks), run(&[&s]));
        }

        /// Random bytes, with our introducers mixed in: no panic, the same pieces however
        /// cut, bounded memory, and every byte of text comes out.
        #[test]
        fn arbitrary_bytes(parts in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..64),
                Just(ITERM.to_vec()),
                Just(frame_intro(N)),
                Just(b"inline=1:".to_vec()),
                Just(b"iVBORw0KGgo=".to_vec()),
                Just(b"\x1b\\".to_vec()),
            ], 0..40),
            cut in any::<usize>())
        {
            let s: Vec<u8> = parts.concat();
            let cut = cut % (s.len() + 1);
            let mut sc = Scanner::new(N);
            let mut out = Vec::new();
            for c in s.chunks(7) {
                sc.feed(c, &mut out);
                prop_assert!(sc.held() <= MAX_ENCODED + MAX_HEAD + ITERM.len() + 80);
            }
            sc.finish(&mut out);
            prop_assert_eq!(normalise(out), run(&[&s[..cut], &s[cut..]]));
        }
    }
}
