//! `Renderer::replay`: a fresh terminal of the same size fed the replay shows what the
//! original shows, with the same modes, and the live stream then goes on the same on both.

use proptest::prelude::*;
use terminal::{MouseEncoding, MouseTracking, Renderer};

#[path = "common/streams.rs"]
mod streams;
use streams::terminal_bytes;

/// What a fresh terminal must show and report after the replay.
#[derive(Debug, PartialEq)]
struct Seen {
    text: String,
    html: String,
    cursor: (u16, u16),
    alternate_screen: bool,
    application_cursor_keys: bool,
    application_keypad: bool,
    bracketed_paste: bool,
    mouse: (MouseTracking, MouseEncoding),
    focus_events: bool,
}

fn seen(r: &Renderer) -> Seen {
    Seen {
        text: r.screen_text(),
        html: r.screen_html(),
        cursor: r.cursor_position(),
        alternate_screen: r.alternate_screen(),
        application_cursor_keys: r.application_cursor_keys(),
        application_keypad: r.application_keypad(),
        bracketed_paste: r.bracketed_paste(),
        mouse: (r.mouse_tracking(), r.mouse_encoding()),
        focus_events: r.focus_events(),
    }
}

/// A fresh renderer of `orig`'s size, fed its replay.
fn replayed(orig: &Renderer) -> Renderer {
    let (cols, rows) = orig.size();
    let mut copy = Renderer::new(cols, rows);
    copy.feed(&orig.replay());
    copy
}

/// The replay of `bytes` shows the same, and so does feeding `more` to both after it (the
/// pen, scroll region, origin mode, pending wrap and the rest carry over).
#[track_caller]
fn assert_replays(cols: u16, rows: u16, bytes: &[u8], more: &[u8]) -> Renderer {
    let mut orig = Renderer::new(cols, rows);
    orig.feed(bytes);
    let mut copy = replayed(&orig);
    assert_eq!(
        seen(&copy),
        seen(&orig),
        "replay {:?}",
        String::from_utf8_lossy(&orig.replay())
    );
    assert!(copy.take_replies().is_empty(), "the replay asks nothing");
    orig.feed(more);
    copy.feed(more);
    assert_eq!(
        seen(&copy),
        seen(&orig),
        "after {:?}",
        String::from_utf8_lossy(more)
    );
    orig
}

#[test]
fn vi_like_screen_on_the_alternate_screen() {
    let vi = b"$ echo hi\r\nhi\r\n$ vi f\x1b[?1049h\x1b[?1h\x1b=\x1b[H\x1b[2J\
        \x1b[38;5;208mfn\x1b[m main() {\r\n    \x1b[1;31mlet\x1b[m x = \x1b[48;2;10;20;30m1\x1b[m;\r\n}\r\n\
        \x1b[34m~\r\n~\x1b[m\x1b[6;1H\x1b[7m\"f\" 3L, 30B\x1b[27m\x1b[6;60H1,1\x1b[2;9H";
    // Typing after the attach: the cursor moves on from the same place, text goes in with
    // the pen the program had; leaving restores the shell's screen and cursor.
    let orig = assert_replays(80, 6, vi, b"\x1b[3mabc\x1b[?1049l\x1b[?1l\x1b>$ ");
    assert!(!orig.alternate_screen() && !orig.application_keypad());
    let mut o = Renderer::new(80, 6);
    o.feed(vi);
    let copy = replayed(&o);
    assert!(copy.alternate_screen() && copy.application_cursor_keys());
    assert!(copy.application_keypad());
    assert_eq!(copy.cursor_position(), (1, 8));
    assert!(
        copy.screen_text()
            .starts_with("fn main() {\n    let x = 1;")
    );
}

#[test]
fn wide_characters_and_combining_marks() {
    assert_replays(
        12,
        3,
        "日本語 e\u{301}x\r\n😀a\u{302}\u{303}🎉\r\nab".as_bytes(),
        "\x1b[1;3H中\x1b[2;2Hz".as_bytes(),
    );
    // A wide character cut in half by the margin wraps; its row stays soft-wrapped.
    assert_replays(5, 3, "abcd日x".as_bytes(), b"\x08\x08\x08\x08\x08y");
}

#[test]
fn bottom_right_cell_filled_does_not_scroll() {
    let full: Vec<u8> = (0..4)
        .flat_map(|r| format!("\x1b[{};1H{}", r + 1, "abcdefghij").into_bytes())
        .collect();
    let orig = assert_replays(10, 4, &full, b"\x1b[1;1Hz");
    assert_eq!(orig.screen_text().lines().next(), Some("zbcdefghij"));
    // With the cursor left at the pending wrap there, the next character scrolls in both.
    assert_replays(10, 4, &full, b"!");
    // A wide character in the bottom-right corner, and one in a one-row terminal.
    assert_replays(6, 2, "\x1b[2;5H日".as_bytes(), b"x");
    assert_replays(4, 1, "ab日".as_bytes(), b"c");
}

#[test]
fn origin_mode_with_a_scroll_region() {
    // The cursor is addressed relative to the region after the replay as before it.
    let s = b"top\x1b[3;6r\x1b[?6h\x1b[2;4Hin\x1b[44m";
    assert_replays(20, 8, s, b"\x1b[1;1HX\x1b[10BY\r\n\n\n\nZ\x1b[6n");
    // The cursor outside the region in origin mode (DECSTBM homes it to the screen's top).
    assert_replays(20, 8, b"\x1b[?6h\x1b[4;6rQ", b"R\x1b[BS\x1b[9BT");
}

#[test]
fn mouse_bracketed_paste_and_cursor_keys() {
    let orig = assert_replays(
        40,
        5,
        b"\x1b[?1000h\x1b[?1006h\x1b[?2004h\x1b[?1h\x1b[?1004h\x1b[?25l",
        b"",
    );
    assert_eq!(orig.mouse_tracking(), MouseTracking::Normal);
    assert_eq!(orig.mouse_encoding(), MouseEncoding::Sgr);
    assert!(orig.bracketed_paste() && orig.focus_events() && orig.application_cursor_keys());
    assert_replays(40, 5, b"\x1b[?1003h\x1b[?1015h\x1b[?9h", b"");
}

#[test]
fn pen_charsets_insert_and_autowrap_carry_over() {
    assert_replays(
        10,
        3,
        b"\x1b[1;4;38;2;1;2;3mbold\x1b(0\x1b[4h\x1b[?7l\x1b[1;1H",
        b"qqx\x1b(Bab\x1b[4lcdefghijklmn",
    );
    // G1 as the line-drawing set, shifted in.
    assert_replays(10, 3, b"\x1b)0\x0elqk", b"mqj\x0fok");
}

#[test]
fn saved_cursor_and_tab_stops_carry_over() {
    assert_replays(
        20,
        4,
        b"\x1b[2;5H\x1b[32m\x1b7\x1b[m\x1b[4;1Hx",
        b"\x1b8saved",
    );
    assert_replays(
        20,
        4,
        b"\x1b[3g\x1b[1;4H\x1bH\x1b[1;13H\x1bH\x1b[H",
        b"\ta\tb\tc",
    );
}

#[test]
fn mouse_modes_follow_xterm() {
    let mut r = Renderer::new(20, 4);
    r.feed(b"\x1b[?1002h\x1b[?1000l");
    assert_eq!(
        r.mouse_tracking(),
        MouseTracking::Off,
        "any of them resets tracking"
    );
    r.feed(b"\x1b[?1006h\x1b[?1015l");
    assert_eq!(
        r.mouse_encoding(),
        MouseEncoding::Sgr,
        "only the one in use resets"
    );
    r.feed(b"\x1b[?1003h\x1b[?1003$p\x1b[?1002$p\x1b[?1006$p\x1b[?66$p\x1b=\x1b[?66$p");
    assert_eq!(
        r.take_replies(),
        b"\x1b[?1003;1$y\x1b[?1002;2$y\x1b[?1006;1$y\x1b[?66;2$y\x1b[?66;1$y"
    );
    r.feed(b"\x1b[!p");
    assert!(!r.application_keypad(), "DECSTR resets the keypad");
    assert_eq!(
        r.mouse_tracking(),
        MouseTracking::AnyEvent,
        "and keeps the mouse"
    );
    r.feed(b"\x1bc");
    assert_eq!(
        seen(&r),
        seen(&Renderer::new(20, 4)),
        "RIS resets everything"
    );
}

/// Modes the general stream generator does not produce.
fn mode_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        "\x1b[?9h",
        "\x1b[?1000h",
        "\x1b[?1002h",
        "\x1b[?1003h",
        "\x1b[?1000l",
        "\x1b[?1005h",
        "\x1b[?1006h",
        "\x1b[?1006l",
        "\x1b[?1015h",
        "\x1b[?1004h",
        "\x1b[?1004l",
        "\x1b=",
        "\x1b>",
        "\x1b[?66h",
        "\x1b[?1h",
        "\x1b[?1l",
        "\x1b[?2004h",
        "\x1b[?25l",
        "\x1b[?25h",
        "\x1b[!p",
        "\x1b)0",
        "\x1b[1;2;3;5;8;9m",
        "\x1b[3g",
        "\x1bH",
    ])
    .prop_map(|s| s.as_bytes().to_vec())
}

/// What a program writes after the attach. Without what shows state the replay cannot
/// rebuild (see `replay.rs`): switching to an alternate screen that kept old content
/// (`?47h`, `?1047h`), REP (`CSI b`, the last character printed), and restoring a saved
/// cursor (`ESC 8`, `CSI u`: not rebuilt in one case, origin mode with the cursor outside
/// the region; the unit tests cover the others).
///
/// Nor DCH (`CSI P`): it shows where a row's written cells end, which no sequence sets.
/// A row that wrapped before its last column was written (a wide character that did not
/// fit) gets a blank there in the replay, and DCH right of a row's written cells does
/// nothing here (a shortcut in `Term::delete_chars`), where on the replayed row, as in
/// xterm, it fills the row's end with the background colour of the pen.
fn continuation_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        "[a-z ]{1,12}".prop_map(|s| s.into_bytes()),
        prop::sample::select(vec![
            "\r\n",
            "\r",
            "\n",
            "\x08",
            "\t",
            "日本",
            "e\u{301}",
            "😀",
            "\x1bM",
            "\x1bD",
            "\x1b(0",
            "\x1b(B",
            "\x0e",
            "\x0f",
            "\x1b[m",
            "\x1b[44m",
            "\x1b[2J",
            "\x1b[?1049l",
            "\x1b[?1049h",
            "\x1b[?6h",
            "\x1b[?7h",
            "\x1b[4l",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        (
            0u16..12,
            prop::sample::select(vec![
                'A', 'B', 'C', 'D', 'G', 'J', 'K', 'L', 'M', 'S', 'T', 'X', '@', 'd', 'I', 'Z'
            ])
        )
            .prop_map(|(n, c)| format!("\x1b[{n}{c}").into_bytes()),
        (0u16..10, 0u16..32).prop_map(|(r, c)| format!("\x1b[{r};{c}H").into_bytes()),
    ];
    prop::collection::vec(piece, 0..20).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, .. ProptestConfig::default() })]

    #[test]
    fn replay_rebuilds_screen_and_modes(
        pieces in prop::collection::vec(prop_oneof![3 => terminal_bytes(), 1 => mode_bytes()], 0..6),
        more in continuation_bytes(),
        cols in 1u16..30,
        rows in 1u16..8,
    ) {
        let mut orig = Renderer::new(cols, rows);
        orig.feed(&pieces.concat());
        let replay = orig.replay();
        // Bounded by the screen, whatever came before.
        prop_assert!(replay.len() <= 200 + usize::from(cols) * usize::from(rows) * 80);
        let mut copy = Renderer::new(cols, rows);
        copy.feed(&replay);
        prop_assert_eq!(seen(&copy), seen(&orig), "replay {:?}", String::from_utf8_lossy(&replay));
        prop_assert!(copy.take_replies().is_empty());
        // A replay of the replay shows the same. (Not always the same bytes: a row that
        // wrapped before its last column was written gets a blank there, which the copy then
        // has and replays.)
        prop_assert_eq!(seen(&replayed(&copy)), seen(&orig));
        // The live stream goes on the same on both, from a point where the original's
        // parser has nothing under way: the rest of a sequence or character cut off by the
        // end of the input would be text to the copy (see `Renderer::at_boundary`).
        if orig.at_boundary() {
            orig.feed(&more);
            copy.feed(&more);
            prop_assert_eq!(seen(&copy), seen(&orig));
        }
    }
}
