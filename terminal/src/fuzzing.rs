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
