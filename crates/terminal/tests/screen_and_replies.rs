//! Screen mode, the answers the terminal gives, and prompt-detection support.

use terminal::Renderer;

#[test]
fn cursor_position_report_is_answered_where_the_query_is() {
    let mut r = Renderer::new(80, 24);
    r.feed(b"ab\r\ncd\x1b[6nlater text");
    assert_eq!(r.take_replies(), b"\x1b[2;3R");
    assert_eq!(r.take_replies(), b"");
}

#[test]
fn device_attributes_status_and_window_size() {
    let mut r = Renderer::new(160, 40);
    r.feed(b"\x1b[c\x1b[>c\x1b[5n\x1b[18t\x1b[14t");
    let replies = String::from_utf8(r.take_replies()).unwrap();
    assert_eq!(
        replies,
        "\x1b[?62;22c\x1b[>0;10;1c\x1b[0n\x1b[8;40;160t\x1b[4;640;1280t"
    );
}

#[test]
fn query_split_across_feeds_is_answered_once() {
    let mut r = Renderer::new(80, 24);
    r.feed(b"\x1b[");
    r.feed(b"6");
    assert_eq!(r.take_replies(), b"");
    r.feed(b"n");
    assert_eq!(r.take_replies(), b"\x1b[1;1R");
}

#[test]
fn mode_and_colour_queries() {
    let mut r = Renderer::new(80, 24);
    r.feed(b"\x1b[?2004h\x1b[?2004$p\x1b[?9999$p\x1b]11;?\x1b\\");
    let replies = String::from_utf8(r.take_replies()).unwrap();
    assert_eq!(
        replies,
        "\x1b[?2004;1$y\x1b[?9999;0$y\x1b]11;rgb:ffff/ffff/ffff\x1b\\"
    );
}

#[test]
fn alternate_screen_is_screen_mode() {
    let mut r = Renderer::new(20, 4);
    r.feed(b"shell\r\n\x1b[?1049h\x1b[H\x1b[2J~\r\n~\x1b[4;1H\"f\" 2L");
    assert!(r.screen_mode());
    assert_eq!(r.screen_text(), "~\n~\n\n\"f\" 2L");
    // Nothing of it reaches line output, and the main screen is intact.
    assert_eq!(r.pending(), "shell\n");
    r.feed(b"\x1b[?1049l");
    assert!(!r.screen_mode());
    assert_eq!(r.pending(), "shell\n");
}

#[test]
fn clear_and_cursor_addressing_takes_over_the_screen() {
    let mut r = Renderer::new(20, 5);
    r.feed(b"$ busybox vi\r\n\x1b[H\x1b[J~\r\n~\r\n\x1b[5;1H- f 1/1");
    assert!(r.screen_mode());
    assert_eq!(r.screen_text(), "~\n~\n\n\n- f 1/1");
    // Ordinary output for a screenful of lines hands back to line mode.
    for i in 0..5 {
        r.feed(format!("\r\nline {i}").as_bytes());
    }
    assert!(!r.screen_mode());
}

#[test]
fn clear_then_redrawing_from_home_takes_over_the_screen() {
    // procps top: each refresh from the home position with line feeds, no other row
    // addressed; the second refresh is what shows it is a screen.
    let mut r = Renderer::new(30, 4);
    let refresh = b"\x1b[Htop - 10:00:01\x1b[K\r\nTasks: 64\x1b[K\r\n\r\n  PID USER";
    r.feed(b"\x1b[?1h\x1b=\x1b[?25l\x1b[H\x1b[2J");
    r.feed(refresh);
    assert!(!r.screen_mode());
    r.feed(refresh);
    assert!(r.screen_mode());
    assert_eq!(r.screen_text(), "top - 10:00:01\nTasks: 64\n\n  PID USER");
}

#[test]
fn clear_then_plain_output_stays_line_mode() {
    let mut r = Renderer::new(20, 5);
    r.feed(b"\x1b[H\x1b[2J\x1b[3Jfile1\r\nfile2\r\n");
    assert!(!r.screen_mode());
    // Erased, then the cursor sent home before anything was printed: still a `clear`.
    let mut r = Renderer::new(20, 5);
    r.feed(b"prompt\r\n\x1b[2J\x1b[Hfile1\r\nfile2\r\n");
    assert!(!r.screen_mode());
}

#[test]
fn progress_with_scroll_region_is_not_screen_mode() {
    let mut r = Renderer::new(40, 5);
    r.feed(b"\r\n\x1b7\x1b[0;4r\x1b8\x1b[1AUnpacking\r\n\x1b7\x1b[5;0fProgress: [ 10%]\x1b8");
    assert!(!r.screen_mode());
}

#[test]
fn screen_html_marks_colours_and_cursor() {
    let mut r = Renderer::new(20, 3);
    r.feed(b"\x1b[?1049h\x1b[31mred\x1b[m <tag>&\x1b[2;3H");
    let html = r.screen_html();
    assert!(html.starts_with("<pre"), "{html}");
    assert!(
        html.contains("<span style=\"color:#cd0000;\">red</span>"),
        "{html}"
    );
    assert!(html.contains(" &lt;tag&gt;&amp;"), "{html}");
    assert!(html.contains("<span class=\"sshpty-cursor\""), "{html}");
    // A hidden cursor is not marked.
    r.feed(b"\x1b[?25l");
    assert!(!r.screen_html().contains("sshpty-cursor"));
}

#[test]
fn cursor_line_is_the_text_before_the_cursor() {
    let mut r = Renderer::new(80, 24);
    r.feed(b"output\r\n\x1b[1m[sudo] password for me:\x1b[m ");
    assert_eq!(r.cursor_line(), "[sudo] password for me: ");
    r.feed(b"\r\n");
    assert_eq!(r.cursor_line(), "");
}

#[test]
fn cursor_line_includes_soft_wrapped_rows() {
    let mut r = Renderer::new(10, 5);
    r.feed(b"a very long prompt? ");
    assert_eq!(r.cursor_line(), "a very long prompt? ");
}

#[test]
fn titles_bells_and_clipboard_are_swallowed() {
    let mut r = Renderer::new(80, 24);
    r.feed(b"\x1b]2;title\x1b\\\x07\x1b]52;c;Zm9v\x07x");
    assert_eq!(r.finish(), "x");
    assert!(r.take_replies().is_empty());
}

#[test]
fn reset_gives_a_fresh_terminal() {
    let mut r = Renderer::new(30, 10);
    r.feed(b"\x1b[?1049h\x1b[31mx\x1b[6n");
    r.reset();
    assert!(!r.screen_mode());
    assert_eq!(r.pending(), "");
    assert!(r.take_replies().is_empty());
    assert_eq!(r.size(), (30, 10));
    r.feed(b"y\r\n");
    assert_eq!(r.finish(), "y\n");
}

#[test]
fn resize_changes_the_reported_size() {
    let mut r = Renderer::new(80, 24);
    r.resize(100, 30);
    r.feed(b"\x1b[18t");
    assert_eq!(r.take_replies(), b"\x1b[8;30;100t");
}

#[test]
fn shrinking_pushes_rows_above_the_cursor_to_finished() {
    let mut r = Renderer::new(20, 5);
    r.feed(b"1\r\n2\r\n3\r\n4\r\n5");
    r.resize(20, 2);
    assert_eq!(r.take_finished(), "1\n2\n3\n");
    assert_eq!(r.finish(), "4\n5");
}

#[test]
fn the_screen_a_program_left_is_kept_once() {
    let mut r = Renderer::new(20, 4);
    r.feed(b"$ top\r\n\x1b[?1049h\x1b[H\x1b[2Jload 0.5\r\n\x1b[1mPID\x1b[m");
    assert_eq!(r.take_left_screen(), None);
    r.feed(b"\x1b[?1049l$ ");
    let left = r.take_left_screen().expect("a screen was left");
    assert_eq!(left.text, "load 0.5\nPID");
    assert!(left.html.contains("font-weight:bold"), "{}", left.html);
    assert_eq!(r.take_left_screen(), None);
    assert_eq!(r.finish(), "$ top\n$ ");
}

#[test]
fn a_binary_holding_the_alternate_screen_leaves_nothing_open() {
    let mut r = Renderer::new(20, 4);
    r.feed(b"out\r\n\x1b[?1049h\x1b[?25l\x1b[?1h\x1b[?2004hgarbage");
    assert!(r.screen_mode());
    assert_eq!(r.finish(), "out\n");
    assert!(!r.screen_mode());
    assert!(!r.application_cursor_keys());
    assert!(!r.bracketed_paste());
    r.feed(b"next");
    assert!(r.screen_html().contains("sshpty-cursor"));
}

#[test]
fn cursor_report_in_origin_mode_above_the_region() {
    // Setting margins moves the cursor to the screen's top left even in origin mode, so
    // it sits above the region: the report is row 1, not an underflow (found by
    // fuzzing_check_holds).
    let mut r = Renderer::new(20, 12);
    r.feed(b"\x1b[?6h\x1b[5;10r\x1b[6n");
    assert_eq!(r.take_replies(), b"\x1b[1;1R");
}

/// What tells the kernel that a cell's program may have left the terminal's modes changed
/// (the shell that stays then resets them before the next cell): a program that took the
/// terminal in any way, even if it gave it back; never line output, colours, a hidden cursor
/// or a progress bar's carriage returns.
#[test]
fn a_program_that_took_the_terminal_is_remembered() {
    let cases: &[(&[u8], bool)] = &[
        (b"plain lines\r\nand more\r\n", false),
        (
            b"\x1b[1;31mred\x1b[0m \x1b[?25lhidden cursor\x1b[?25h\r50%\r100%\r\n",
            false,
        ),
        (b"\x1b7saved\x1b8 \x1b[?7l no wrap \x1b[?7h\r\n", false),
        (b"\x1b[?1049hvim\x1b[?1049l", true),
        (b"\x1b[?1h\x1b=less\x1b[?1l\x1b>", true),
        (b"\x1b[?2004hpython>>> \x1b[?2004l\r\n", true),
        (b"\x1b[?1000h\x1b[?1000l", true),
        (b"\x1b=", true),
        // whiptail: the main screen erased, then drawn by cursor addressing.
        (b"\x1b[H\x1b[2J\x1b[5;10Hbox\x1b[6;10Hbox", true),
        // and a full reset afterwards does not make it forgotten
        (b"\x1b[?1049h\x1bc", true),
    ];
    for (bytes, took) in cases {
        let mut r = Renderer::new(80, 24);
        r.feed(bytes);
        assert_eq!(
            r.took_terminal(),
            *took,
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}
