//! Properties: the output does not depend on how the stream is split, and no input makes
//! the renderer panic or hold unbounded memory.

use proptest::prelude::*;
use terminal::Renderer;

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

/// Bytes biased towards what terminals see: text, UTF-8 (wide, combining, cut), controls
/// and escape sequences, with raw garbage mixed in.
fn terminal_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        "[a-z ]{1,12}".prop_map(|s| s.into_bytes()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\x08".to_vec()),
        Just(b"\t".to_vec()),
        Just("日本語".as_bytes().to_vec()),
        Just("e\u{301}".as_bytes().to_vec()),
        Just("😀".as_bytes().to_vec()),
        Just(b"\xe6\x97".to_vec()),
        Just(b"\xff".to_vec()),
        (
            0u16..40,
            prop::sample::select(vec![
                'A', 'B', 'C', 'D', 'G', 'J', 'K', 'L', 'M', 'P', 'S', 'T', 'X', '@', 'd', 'm',
                'n', 'r', 'b', 'c', 'g', 'I', 'Z'
            ])
        )
            .prop_map(|(n, c)| format!("\x1b[{n}{c}").into_bytes()),
        (0u16..30, 0u16..90).prop_map(|(r, c)| format!("\x1b[{r};{c}H").into_bytes()),
        (1u16..30, 1u16..30).prop_map(|(t, b)| format!("\x1b[{t};{b}r").into_bytes()),
        prop::sample::select(vec![
            "\x1b[?1049h",
            "\x1b[?1049l",
            "\x1b[?47h",
            "\x1b[?47l",
            "\x1b[?7l",
            "\x1b[?7h",
            "\x1b[?6h",
            "\x1b[?6l",
            "\x1b[4h",
            "\x1b[4l",
            "\x1b7",
            "\x1b8",
            "\x1bM",
            "\x1bD",
            "\x1bE",
            "\x1bc",
            "\x1b(0",
            "\x1b(B",
            "\x0e",
            "\x0f",
            "\x1b]0;title\x07",
            "\x1b]11;?\x1b\\",
            "\x1b[38;5;200m",
            "\x1b[48:2::1:2:3m",
            "\x1b[1;4;7m",
            "\x1b[m",
            "\x1b[3J",
            "\x1b[2J",
            "\x1bP$q\"p\x1b\\",
            "\x1b#8",
            "\x1b[6n",
            "\x1b[>c",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 1..8),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
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
