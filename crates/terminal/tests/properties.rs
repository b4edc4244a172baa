//! Properties: the output does not depend on how the stream is split, and no input makes
//! the renderer panic or hold unbounded memory.

use proptest::prelude::*;
use terminal::Renderer;

#[path = "common/streams.rs"]
mod streams;
use streams::terminal_bytes;

/// Render with the stream cut at `cuts` (sorted offsets), calling take_finished after each
/// feed whose index is in `takes`; returns the concatenated output and the replies.
fn render_split(
    cols: u16,
    rows: u16,
    bytes: &[u8],
    cuts: &[usize],
    takes: &[bool],
) -> (String, Vec<u8>) {
    let mut r = Renderer::new(cols, rows);
    let mut out = String::new();
    let mut replies = Vec::new();
    let mut start = 0;
    for (i, &cut) in cuts.iter().chain(std::iter::once(&bytes.len())).enumerate() {
        let cut = cut.clamp(start, bytes.len());
        r.feed(&bytes[start..cut]);
        start = cut;
        if takes.get(i).copied().unwrap_or(false) {
            out.push_str(&r.take_finished());
            replies.extend(r.take_replies());
            // pending() is a read-only view: calling it must not change anything.
            let _ = r.pending();
            let _ = r.screen_html();
        }
    }
    out.push_str(&r.take_finished());
    replies.extend(r.take_replies());
    out.push_str(&r.finish());
    (out, replies)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn split_does_not_change_output(
        bytes in terminal_bytes(),
        mut cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        takes in prop::collection::vec(any::<bool>(), 0..13),
        cols in 1u16..30,
        rows in 1u16..8,
    ) {
        let whole = render_split(cols, rows, &bytes, &[], &[]);
        let mut offsets: Vec<usize> = cuts.drain(..).map(|i| i.index(bytes.len() + 1)).collect();
        offsets.sort_unstable();
        let split = render_split(cols, rows, &bytes, &offsets, &takes);
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn byte_at_a_time_equals_whole(bytes in terminal_bytes(), cols in 1u16..20, rows in 1u16..6) {
        let whole = render_split(cols, rows, &bytes, &[], &[]);
        let cuts: Vec<usize> = (1..bytes.len()).collect();
        let takes: Vec<bool> = (0..bytes.len()).map(|i| i % 3 == 0).collect();
        prop_assert_eq!(whole, render_split(cols, rows, &bytes, &cuts, &takes));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096), cols in 0u16..200, rows in 0u16..60) {
        let mut r = Renderer::new(cols, rows);
        r.feed(&bytes);
        let _ = (r.pending(), r.screen_text(), r.screen_html(), r.cursor_line(), r.screen_mode());
        let _ = (r.take_finished(), r.take_replies());
        r.resize(cols / 2, rows / 2);
        r.feed(&bytes);
        let _ = r.finish();
    }

    /// The check a fuzz target runs, on both kinds of input.
    #[test]
    fn fuzzing_check_holds(size in any::<[u8; 2]>(), bytes in terminal_bytes(), raw in prop::collection::vec(any::<u8>(), 0..512)) {
        terminal::fuzzing::check(&[&size[..], &bytes].concat());
        terminal::fuzzing::check(&[&size[..], &raw].concat());
    }

    #[test]
    fn output_is_valid_text_with_only_sgr_escapes(bytes in terminal_bytes()) {
        let mut r = Renderer::new(30, 5);
        r.feed(&bytes);
        let mut out = r.take_finished();
        out.push_str(&r.finish());
        // Every ESC in line output starts an SGR sequence: nothing else is passed through.
        let re = regex::Regex::new(r"\x1b\[[0-9;]*m").unwrap();
        let stripped = re.replace_all(&out, "");
        prop_assert!(!stripped.contains('\x1b'), "{:?}", out);
        prop_assert!(!stripped.chars().any(|c| c.is_control() && c != '\n'), "{:?}", out);
    }
}

/// Memory stays bounded on hostile streams: what the renderer holds (pending text) never
/// grows with the input when finished output is taken regularly.
#[test]
fn hostile_streams_keep_pending_bounded() {
    let streams: Vec<Vec<u8>> = vec![
        vec![b'x'; 1 << 16], // one endless line
        b"\x1b]0;"
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'y', 1 << 16))
            .collect(), // endless OSC
        b"\x1b["
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'1', 1 << 16))
            .collect(), // endless CSI
        "e".bytes()
            .chain("\u{301}".repeat(1 << 14).into_bytes())
            .collect(), // endless combining
        (0..=255u8).cycle().take(1 << 16).collect(), // binary
    ];
    for stream in streams {
        let mut r = Renderer::new(160, 24);
        for _ in 0..64 {
            r.feed(&stream);
            let _ = r.take_finished();
            let _ = r.take_replies();
            assert!(
                r.pending().len() < terminal::MAX_LOGICAL_LINE + 64 * 1024,
                "pending grew to {}",
                r.pending().len()
            );
        }
    }
}
