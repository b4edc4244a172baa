//! Byte streams for property tests, shared by the test files that need them (not part of
//! `common`, whose users have no proptest strategies to share).

use proptest::prelude::*;

/// Bytes biased towards what terminals see: text, UTF-8 (wide, combining, cut), controls
/// and escape sequences, with raw garbage mixed in.
pub fn terminal_bytes() -> impl Strategy<Value = Vec<u8>> {
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
