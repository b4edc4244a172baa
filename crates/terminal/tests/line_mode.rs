//! Line mode: the saved cell output for small byte streams, one behaviour per test.

use terminal::Renderer;

/// Everything the cell would save: all finished lines, then the rest at the end.
fn render_sized(cols: u16, rows: u16, bytes: &[u8]) -> String {
    let mut r = Renderer::new(cols, rows);
    r.feed(bytes);
    let mut out = r.take_finished();
    out.push_str(&r.finish());
    out
}

fn render(bytes: &[u8]) -> String {
    render_sized(80, 24, bytes)
}

#[test]
fn plain_lines() {
    assert_eq!(render(b"hello\r\nworld\r\n"), "hello\nworld\n");
}

#[test]
fn unterminated_last_line_gets_no_newline() {
    assert_eq!(render(b"a\r\nname? "), "a\nname? ");
}

#[test]
fn carriage_return_redraws() {
    assert_eq!(render(b"10%\r20%\r100%\r\n"), "100%\n");
    // A shorter redraw leaves the tail of the longer text, as on a terminal.
    assert_eq!(render(b"abcdef\rxy\r\n"), "xycdef\n");
}

#[test]
fn progress_bar_redrawn_ten_thousand_times_leaves_one_line() {
    let mut bytes = Vec::new();
    for i in 0..10_000 {
        bytes.extend_from_slice(format!("\r[{:<50}] {i}", "#".repeat(i % 50)).as_bytes());
    }
    bytes.extend_from_slice(b"\r\ndone\r\n");
    let out = render(&bytes);
    assert_eq!(out.lines().count(), 2, "{out:?}");
    assert!(out.ends_with("] 9999\ndone\n"));
}

#[test]
fn backspace_and_erase_in_line() {
    assert_eq!(render(b"abc\x08\x08X\r\n"), "aXc\n");
    assert_eq!(render(b"abcdef\x1b[3D\x1b[K!\r\n"), "abc!\n");
    assert_eq!(render(b"abcdef\x1b[3D\x1b[1K\r\n"), "    ef\n");
    assert_eq!(render(b"abcdef\x1b[2K\rX\r\n"), "X\n");
}

#[test]
fn erase_characters_and_delete_characters() {
    assert_eq!(render(b"abcdef\r\x1b[2X\r\n"), "  cdef\n");
    assert_eq!(render(b"abcdef\r\x1b[2P\r\n"), "cdef\n");
    assert_eq!(render(b"abcdef\r\x1b[2@XY\r\n"), "XYabcdef\n");
}

#[test]
fn tabs_become_spaces_to_eight_column_stops() {
    assert_eq!(render(b"a\tb\tc\r\n"), "a       b       c\n");
    assert_eq!(render(b"1234567\tx\r\n"), "1234567 x\n");
    // A tab at the end of a line is only cursor movement.
    assert_eq!(render(b"a\t\r\n"), "a\n");
}

#[test]
fn cursor_up_redraws_recent_lines() {
    // docker/pip style: three progress lines redrawn in place.
    let mut bytes = b"layer1: 0%\r\nlayer2: 0%\r\nlayer3: 0%\r\n".to_vec();
    for p in [50, 100] {
        bytes.extend_from_slice(b"\x1b[3A");
        for l in 1..=3 {
            bytes.extend_from_slice(format!("\x1b[2Klayer{l}: {p}%\r\n").as_bytes());
        }
    }
    assert_eq!(render(&bytes), "layer1: 100%\nlayer2: 100%\nlayer3: 100%\n");
}

#[test]
fn lines_further_up_than_the_screen_are_final() {
    let mut r = Renderer::new(20, 3);
    r.feed(b"one\r\ntwo\r\nthree\r\nfour\r\n");
    // Two lines scrolled off a 3-row screen (the cursor sits on the third row).
    assert_eq!(r.take_finished(), "one\ntwo\n");
    assert_eq!(r.pending(), "three\nfour\n");
    // Cursor-up cannot reach "two" any more: it stops at the top row.
    r.feed(b"\x1b[9AX");
    assert_eq!(r.take_finished(), "");
    assert_eq!(r.finish(), "Xhree\nfour\n");
}

#[test]
fn soft_wrapped_lines_are_joined() {
    let long = "x".repeat(25);
    let out = render_sized(10, 5, format!("{long}\r\nnext\r\n").as_bytes());
    assert_eq!(out, format!("{long}\nnext\n"));
}

#[test]
fn soft_wrapped_line_longer_than_the_screen_is_joined() {
    let long: String = (0..200)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let mut r = Renderer::new(10, 3);
    r.feed(long.as_bytes());
    // Rows scrolled off while still wrapping: not final until the line ends.
    assert_eq!(r.take_finished(), "");
    assert!(r.pending().starts_with(&long[..150]));
    r.feed(b"\r\nend\r\n");
    let mut out = r.take_finished();
    out.push_str(&r.finish());
    assert_eq!(out, format!("{long}\nend\n"));
}

#[test]
fn exact_width_line_then_newline_is_not_joined() {
    let row = "0123456789";
    assert_eq!(
        render_sized(10, 5, format!("{row}\r\nnext\r\n").as_bytes()),
        "0123456789\nnext\n"
    );
}

#[test]
fn hard_newline_from_a_full_row_keeps_the_pending_wrap() {
    // tmux keeps the pending wrap across a bare line feed: "X" wraps to the row after.
    assert_eq!(render_sized(10, 5, b"0123456789\nX\r\n"), "0123456789\nX\n");
}

#[test]
fn sgr_is_kept_and_reset_at_end_of_line() {
    assert_eq!(
        render(b"\x1b[1;31merror\x1b[0m: bad\r\n"),
        "\x1b[0;1;31merror\x1b[0m: bad\n"
    );
    // A colour left on at the end of a line is closed there and reopened on the next.
    assert_eq!(
        render(b"\x1b[32mgreen\r\nstill\x1b[m\r\n"),
        "\x1b[0;32mgreen\x1b[0m\n\x1b[0;32mstill\x1b[0m\n"
    );
}

#[test]
fn sgr_continues_across_a_soft_wrap_without_a_reset() {
    let out = render_sized(5, 5, b"\x1b[4mabcdefgh\x1b[m\r\n");
    assert_eq!(out, "\x1b[0;4mabcdefgh\x1b[0m\n");
}

#[test]
fn other_control_sequences_are_resolved_not_passed_through() {
    let out =
        render(b"\x1b]0;title\x07\x1b]52;c;aGVsbG8=\x07a\x07b\x1b[?25l\x1b[?2004hc\x1b[5Gd\r\n");
    assert_eq!(out, "abc d\n");
}

#[test]
fn invalid_utf8_becomes_replacement_character() {
    assert_eq!(render(b"a\xffb\xc3(\r\n"), "a\u{fffd}b\u{fffd}(\n");
    // Lone C1 bytes of a binary show as U+FFFD too instead of vanishing.
    assert_eq!(render(b"\x9b\x90\r\n"), "\u{fffd}\u{fffd}\n");
}

#[test]
fn wide_characters_take_two_columns() {
    // 4 CJK characters in 7 columns: the 4th does not fit in the last column and wraps.
    assert_eq!(render_sized(7, 5, "日本語字\r\n".as_bytes()), "日本語字\n");
    // Overwriting half of a wide character blanks the other half.
    assert_eq!(render("日本\rX\r\n".as_bytes()), "X 本\n");
    assert_eq!(render("ab日\x1b[4GZ\r\n".as_bytes()), "ab Z\n");
}

#[test]
fn combining_characters_stay_with_their_base() {
    assert_eq!(
        render("e\u{301}te\u{301}\r\n".as_bytes()),
        "e\u{301}te\u{301}\n"
    );
    assert_eq!(render("e\u{301}\x08x\r\n".as_bytes()), "x\n");
}

#[test]
fn clear_keeps_what_was_above_as_final() {
    let mut r = Renderer::new(40, 5);
    r.feed(b"before 1\r\nbefore 2\r\n\x1b[H\x1b[2J\x1b[3Jafter\r\n");
    assert_eq!(r.take_finished(), "before 1\nbefore 2\n");
    assert_eq!(r.finish(), "after\n");
}

#[test]
fn erase_below_from_home_is_a_clear() {
    assert_eq!(
        render(b"one\r\ntwo\r\n\x1b[H\x1b[Jthree\r\n"),
        "one\ntwo\nthree\n"
    );
}

#[test]
fn erase_below_elsewhere_erases() {
    // The cursor had been on the third row, so the text still ends with a newline.
    assert_eq!(render(b"one\r\ntwo\r\nthree\x1b[2;2H\x1b[J"), "one\nt\n");
}

#[test]
fn dec_line_drawing_characters() {
    assert_eq!(render(b"\x1b(0lqqk\x1b(B ok\r\n"), "┌──┐ ok\n");
    assert_eq!(render(b"\x1b)0\x0elqk\x0fq\r\n"), "┌─┐q\n");
}

#[test]
fn scroll_region_keeps_a_status_line_out_of_the_output_order() {
    // apt's fancy progress: region is all rows but the last, which holds "Progress".
    let mut bytes = b"\r\n\x1b7\x1b[0;4r\x1b8\x1b[1A".to_vec();
    for i in 1..=6 {
        bytes.extend_from_slice(format!("Unpacking {i}\r\n").as_bytes());
        bytes.extend_from_slice(format!("\x1b7\x1b[5;0f\x1b[KProgress: [{i}0%]\x1b8").as_bytes());
    }
    bytes.extend_from_slice(b"\x1b7\x1b[0;5r\x1b8\x1b[5;1H\x1b[K");
    let out = render_sized(40, 5, &bytes);
    let expected: String = (1..=6).map(|i| format!("Unpacking {i}\n")).collect();
    assert_eq!(out, expected);
}

#[test]
fn alternate_screen_leaves_no_trace_in_line_output() {
    let out = render(b"before\r\n\x1b[?1049h\x1b[Hvi screen\x1b[?1049lafter\r\n");
    assert_eq!(out, "before\nafter\n");
}

#[test]
fn huge_line_without_newline_is_cut_and_memory_bounded() {
    let mut r = Renderer::new(160, 24);
    let chunk = vec![b'y'; 1 << 16];
    let mut total = 0;
    for _ in 0..64 {
        r.feed(&chunk);
        total += r.take_finished().len();
    }
    // 4 MiB of one line: cut into 1 MiB logical lines, not held whole.
    assert!(total >= 3 * terminal::MAX_LOGICAL_LINE, "{total}");
    assert!(r.pending().len() <= terminal::MAX_LOGICAL_LINE + 160 * 24 + 24);
}

#[test]
fn finish_resets_and_is_idempotent() {
    let mut r = Renderer::new(80, 24);
    r.feed(b"x\x1b[?1049h");
    assert!(r.screen_mode());
    assert_eq!(r.finish(), "x");
    assert!(!r.screen_mode());
    assert_eq!(r.finish(), "");
}

#[test]
fn pending_shows_the_screen_part() {
    let mut r = Renderer::new(80, 24);
    assert_eq!(r.pending(), "");
    r.feed(b"line\r\nname? ");
    assert_eq!(r.pending(), "line\nname? ");
    r.feed(b"\r\n");
    // Once the line is over, its trailing blank is trimmed like any other.
    assert_eq!(r.pending(), "line\nname?\n");
}

#[test]
fn reset_escape_keeps_earlier_output() {
    assert_eq!(render(b"kept\r\n\x1bcafter"), "kept\nafter");
}

#[test]
fn insert_and_delete_lines() {
    assert_eq!(render(b"a\r\nb\r\nc\x1b[2;1H\x1b[Lnew"), "a\nnew\nb\nc");
    assert_eq!(render(b"a\r\nb\r\nc\x1b[2;1H\x1b[M"), "a\nc\n");
}

#[test]
fn reverse_index_at_top_scrolls_down() {
    assert_eq!(render(b"a\r\nb\x1b[H\x1bMtop"), "top\na\nb");
}

#[test]
fn backspace_at_column_zero_goes_back_over_a_soft_wrap() {
    assert_eq!(
        render_sized(5, 5, b"abcdefg\r\x08\x08X\r\n\r\n"),
        "abcXefg\n"
    );
}

#[test]
fn delete_character_is_not_printed() {
    assert_eq!(render(b"a\x7fb\r\n"), "ab\n");
}

#[test]
fn save_and_restore_cursor() {
    assert_eq!(render(b"ab\x1b7cd\r\nline\x1b8X\r\n\r\n"), "abXd\nline\n");
}

#[test]
fn repeat_last_character() {
    assert_eq!(render(b"-\x1b[9b|\r\n"), "----------|\n");
}

#[test]
fn tab_stops_can_be_set_and_cleared() {
    // Clear all stops, set one at column 4: a tab goes there, the next one to the margin.
    assert_eq!(
        render_sized(20, 3, b"\x1b[3g\x1b[5G\x1bH\rA\tB\tC\r\n"),
        "A   B              C\n"
    );
    // Back tab returns to the previous stop.
    assert_eq!(render(b"abcdefghijk\x1b[ZX\r\n"), "abcdefghXjk\n");
}

#[test]
fn scroll_up_sends_top_rows_to_finished_output() {
    let mut r = Renderer::new(20, 3);
    r.feed(b"one\r\ntwo\r\nthree\x1b[2S");
    assert_eq!(r.take_finished(), "one\ntwo\n");
    // The cursor stayed on the (now blank) third row, below "three".
    assert_eq!(r.finish(), "three\n");
}

#[test]
fn erase_with_a_background_colour_keeps_the_coloured_blanks() {
    // Back-colour erase: the erased cells carry the background, so they are visible.
    let out = render_sized(10, 3, b"\x1b[44m\x1b[K\x1b[m\r\n");
    assert_eq!(out, "\x1b[0;44m          \x1b[0m\n");
}

#[test]
fn autowrap_off_overwrites_the_last_column() {
    assert_eq!(render_sized(5, 3, b"\x1b[?7labcdefg\r\n"), "abcdg\n");
}

#[test]
fn origin_mode_addresses_relative_to_the_region() {
    assert_eq!(
        render_sized(10, 5, b"\x1b[2;4r\x1b[?6h\x1b[1;1HX\x1b[?6l\r\n\r\n\r\n"),
        "\nX\n"
    );
}

#[test]
fn zero_size_is_taken_as_one() {
    let mut r = Renderer::new(0, 0);
    assert_eq!(r.size(), (1, 1));
    r.feed("ab日\r\n".as_bytes());
    let _ = r.finish();
}
