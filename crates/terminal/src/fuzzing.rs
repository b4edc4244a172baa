//! Checks for fuzzers and property tests: one call runs the renderer over arbitrary input and
//! panics if an invariant breaks. A cargo-fuzz target is then one line:
//!
//! ```ignore
//! fuzz_target!(|data: &[u8]| terminal::fuzzing::check(data));
//! ```

use crate::Renderer;

/// Run `data` through the renderer and check its invariants, panicking on a violation:
///
/// * the first two bytes choose the size (1–160 columns, 1–50 rows), the rest is the stream;
/// * feeding the stream whole, or cut at points derived from the data with finished output
///   taken in between, gives the same saved text and the same replies;
/// * the saved text holds no escape sequence but SGR and no control character but '\n';
/// * every view (pending, screen text and HTML, cursor line) can be taken at any point.
pub fn check(data: &[u8]) {
    let [c, r, stream @ ..] = data else { return };
    let cols = u16::from(*c % 160) + 1;
    let rows = u16::from(*r % 50) + 1;

    let whole = run(cols, rows, stream, &[]);
    // Cut points: a cheap hash of the data walks through it, so every input has its own.
    let mut cuts = Vec::new();
    let mut h: u32 = 0x811c_9dc5;
    let mut at = 0usize;
    for &b in stream {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        at += 1 + (h % 17) as usize;
        if at >= stream.len() {
            break;
        }
        cuts.push(at);
    }
    let split = run(cols, rows, stream, &cuts);
    assert_eq!(whole, split, "output depends on how the input was split");

    let (text, _) = &whole;
    let mut rest = text.as_str();
    while let Some(i) = rest.find('\x1b') {
        let seq = &rest[i..];
        let end = seq
            .find('m')
            .expect("unterminated escape sequence in output");
        assert!(
            seq[2..end].bytes().all(|b| b.is_ascii_digit() || b == b';')
                && seq.starts_with("\x1b["),
            "non-SGR escape in output: {:?}",
            &seq[..end + 1]
        );
        rest = &seq[end + 1..];
    }
    assert!(
        !text
            .chars()
            .any(|ch| ch.is_control() && ch != '\n' && ch != '\x1b'),
        "control character in output"
    );
}

/// Saved text and replies for `stream` cut at `cuts`, viewing everything at each cut.
fn run(cols: u16, rows: u16, stream: &[u8], cuts: &[usize]) -> (String, Vec<u8>) {
    let mut r = Renderer::new(cols, rows);
    let mut out = String::new();
    let mut replies = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
        r.feed(&stream[start..cut]);
        start = cut;
        if !cuts.is_empty() {
            out.push_str(&r.take_finished());
            replies.extend(r.take_replies());
            let _ = (
                r.pending(),
                r.screen_text(),
                r.screen_html(),
                r.cursor_line(),
            );
            let _ = (r.screen_mode(), r.take_left_screen());
        }
    }
    out.push_str(&r.take_finished());
    replies.extend(r.take_replies());
    out.push_str(&r.finish());
    (out, replies)
}

/// The prompt detector's invariants over arbitrary input, for a cargo-fuzz target
/// (`fuzz_target!(|data: &[u8]| terminal::fuzzing::check_prompts(data));`):
///
/// * the first byte chooses the size (1–64 columns, 1–16 rows: small, so that prompts reach
///   the cursor's line often), the rest is the stream, cut at points derived from the data;
/// * at every cut the decision, with idle zero, just under and over
///   [`IDLE_FOR_PROMPT`](crate::prompt::IDLE_FOR_PROMPT), equals the decision for the same
///   bytes fed whole (chunking never matters);
/// * under the idle time nothing but the kernel's sudo prompt counts;
/// * a prompt's text is non-empty, trimmed, has no control character and never the marker;
/// * answering (`drop_prompt_line`, `forget_echo`) at any prompt is safe.
pub fn check_prompts(data: &[u8]) {
    use crate::prompt::{Detector, IDLE_FOR_PROMPT};
    use std::time::Duration;

    const MARKER: &str = "fuzzm4rk";
    let [size, stream @ ..] = data else { return };
    let cols = u16::from(size % 64) + 1;
    let rows = u16::from(size / 64 * 5) + 1;
    let idles = [
        Duration::ZERO,
        IDLE_FOR_PROMPT - Duration::from_millis(1),
        IDLE_FOR_PROMPT,
    ];
    let decide = |r: &Renderer, idle| Detector::new(Some(MARKER)).check(r, idle);

    let mut r = Renderer::new(cols, rows);
    let mut answered = Renderer::new(cols, rows);
    let mut h: u32 = 0x811c_9dc5;
    let mut start = 0usize;
    while start < stream.len() {
        h = (h ^ u32::from(stream[start])).wrapping_mul(0x0100_0193);
        let end = (start + 1 + (h % 23) as usize).min(stream.len());
        r.feed(&stream[start..end]);
        answered.feed(&stream[start..end]);
        let _ = r.take_finished();
        let mut whole = Renderer::new(cols, rows);
        whole.feed(&stream[..end]);
        for idle in idles {
            let got = decide(&r, idle);
            assert_eq!(got, decide(&whole, idle), "decision depends on chunking");
            let Some(p) = got else { continue };
            if idle < IDLE_FOR_PROMPT {
                assert!(p.sudo.is_some(), "{p:?} counted while output flows");
            }
            assert!(!p.text.is_empty() && p.text.trim() == p.text, "{p:?}");
            assert!(!p.text.chars().any(char::is_control), "{p:?}");
            assert!(!p.text.contains(MARKER), "{p:?}");
        }
        if decide(&answered, IDLE_FOR_PROMPT).is_some() {
            answered.drop_prompt_line();
            answered.forget_echo("fuzz answer");
        }
        start = end;
    }
    let _ = answered.finish();
}

/// The replay a live terminal attaching mid-program is sent (`Renderer::replay`), on
/// arbitrary input: the first two bytes choose the size as in [`check`], the rest is the
/// stream. A fresh renderer of that size fed the replay must show the same screen (text and
/// HTML), cursor and modes, ask nothing (no replies), and the replay must stay bounded by the
/// screen's size whatever came before.
pub fn check_replay(data: &[u8]) {
    let [c, r, stream @ ..] = data else { return };
    let cols = u16::from(*c % 160) + 1;
    let rows = u16::from(*r % 50) + 1;
    let mut orig = Renderer::new(cols, rows);
    orig.feed(stream);
    let replay = orig.replay();
    assert!(
        replay.len() <= 200 + usize::from(cols) * usize::from(rows) * 80,
        "a replay of {} bytes for {cols}x{rows}",
        replay.len()
    );
    let mut copy = Renderer::new(cols, rows);
    copy.feed(&replay);
    let seen = |r: &Renderer| {
        (
            r.screen_text(),
            r.screen_html(),
            r.cursor_position(),
            (r.alternate_screen(), r.application_cursor_keys()),
            (
                r.application_keypad(),
                r.bracketed_paste(),
                r.focus_events(),
            ),
            (r.mouse_tracking(), r.mouse_encoding()),
        )
    };
    assert_eq!(
        seen(&copy),
        seen(&orig),
        "replay {:?}",
        String::from_utf8_lossy(&replay)
    );
    assert!(copy.take_replies().is_empty(), "the replay asks something");
}

/// The inline-image scanner (`inline::Scanner`) on arbitrary input, panicking on a violation:
/// the pieces are the same whether the input comes whole or cut at points derived from the
/// data, and what it holds stays within its bound at every step. The nonce is a fixed one,
/// so inputs can carry a valid frame.
pub fn check_inline(data: &[u8]) {
    use crate::inline::{Piece, Scanner};
    const NONCE: &str = "00000000000000000000000000000000";
    fn run(data: &[u8], cuts: &[usize]) -> Vec<Piece> {
        let mut s = Scanner::new(NONCE);
        let mut out = Vec::new();
        let mut last = 0;
        for &c in cuts.iter().chain(std::iter::once(&data.len())) {
            s.feed(&data[last..c], &mut out);
            assert!(
                s.held() <= (12 << 20),
                "the scanner holds {} bytes",
                s.held()
            );
            last = c;
        }
        s.finish(&mut out);
        let mut merged: Vec<Piece> = Vec::new();
        for p in out {
            match (merged.last_mut(), p) {
                (Some(Piece::Text(a)), Piece::Text(b)) => a.extend(b),
                (_, p) => merged.push(p),
            }
        }
        merged
    }
    let mut cuts = Vec::new();
    let mut h: u32 = 0x811c_9dc5;
    let mut at = 0usize;
    for &b in data {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        at += 1 + (h % 13) as usize;
        if at >= data.len() {
            break;
        }
        cuts.push(at);
    }
    assert_eq!(
        run(data, &[]),
        run(data, &cuts),
        "pieces depend on how the input was split"
    );
}
