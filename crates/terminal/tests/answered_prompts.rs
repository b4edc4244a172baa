//! What the cell keeps around a prompt the kernel answered through an input box: JupyterLab
//! prints the prompt and the answer itself, so neither the prompt line nor the program's
//! echo of the answer may show (`Renderer::drop_prompt_line`, `Renderer::forget_echo`).

use terminal::Renderer;

/// The saved cell output for: `before` (ending on the prompt), the kernel answering
/// `answer`, then `after` (what the program writes next), fed in `chunk`-byte pieces.
fn answered_chunked(before: &[u8], answer: &str, after: &[u8], chunk: usize) -> String {
    let mut r = Renderer::new(20, 6);
    let mut out = String::new();
    for c in before.chunks(chunk) {
        r.feed(c);
        out.push_str(&r.take_finished());
    }
    r.drop_prompt_line();
    r.forget_echo(answer);
    for c in after.chunks(chunk) {
        r.feed(c);
        out.push_str(&r.take_finished());
    }
    out.push_str(&r.finish());
    out
}

fn answered(before: &[u8], answer: &str, after: &[u8]) -> String {
    let whole = answered_chunked(before, answer, after, usize::MAX);
    for chunk in [1, 2, 3, 7] {
        assert_eq!(
            answered_chunked(before, answer, after, chunk),
            whole,
            "chunks of {chunk}"
        );
    }
    whole
}

#[test]
fn echoed_answer_and_its_newline_vanish() {
    // `read -p 'name? ' n; echo "Hi $n"`: the tty echoes "bars" and the Enter as "\r\n".
    assert_eq!(
        answered(b"hello\r\nname? ", "bars", b"bars\r\nHi bars\r\n"),
        "hello\nHi bars\n"
    );
}

#[test]
fn unechoed_password_then_newline() {
    // sudo: no echo, then sudo's own "\n" (the tty's ONLCR makes it "\r\n").
    assert_eq!(
        answered(b"[sudo] password for ops: ", "secret", b"\r\nroot\r\n"),
        "root\n"
    );
}

#[test]
fn sorry_try_again_keeps_the_message_and_the_new_prompt() {
    assert_eq!(
        answered(
            b"[sudo] password for ops: ",
            "wrong",
            b"\r\nSorry, try again.\r\n[sudo] password for ops: "
        ),
        "Sorry, try again.\n[sudo] password for ops: "
    );
}

#[test]
fn read_s_without_newline_then_text_on_the_same_row() {
    // `read -s -p 'Password: ' p; echo "got it"`: nothing echoed, not even the newline;
    // in a terminal this shows `Password: got it`, here just the text.
    assert_eq!(
        answered(b"Password: ", "hunter2", b"got it\r\n"),
        "got it\n"
    );
}

#[test]
fn read_s_then_bare_echo_newline() {
    // `read -s -p 'Password: ' p; echo; echo done`.
    assert_eq!(
        answered(b"Password: ", "hunter2", b"\r\ndone\r\n"),
        "done\n"
    );
}

#[test]
fn only_the_next_line_feed_is_swallowed() {
    assert_eq!(
        answered(b"x\r\nq? ", "a", b"a\r\n\r\nend\r\n"),
        "x\n\nend\n"
    );
}

#[test]
fn pwfeedback_stars_vanish() {
    // Classic sudo with pwfeedback: a star per byte typed, then the newline.
    assert_eq!(
        answered(b"[sudo] password for ops: ", "pässwd", b"*******\r\nok\r\n"),
        "ok\n"
    );
    // sudo-rs with feedback erases its stars before the newline.
    let mut after = b"******".to_vec();
    for _ in 0..6 {
        after.extend_from_slice(b"\x08 \x08");
    }
    after.extend_from_slice(b"\r\nok\r\n");
    assert_eq!(
        answered(b"[sudo: authenticate] Password: ", "secret", &after),
        "ok\n"
    );
}

#[test]
fn output_that_only_starts_like_the_answer_is_kept() {
    // The answer was not echoed (`read -s`) and the next output happens to start with its
    // first letters: held back, then shown once it differs.
    assert_eq!(
        answered(b"Password: ", "hunter2", b"hundreds\r\n"),
        "hundreds\n"
    );
    assert_eq!(
        answered(b"Password: ", "ab\tc", b"ab\tX\r\n"),
        "ab      X\n"
    );
}

#[test]
fn the_echo_is_expected_once() {
    assert_eq!(answered(b"name? ", "bars", b"bars\r\nbars\r\n"), "bars\n");
}

#[test]
fn a_prompt_wrapped_over_rows_is_dropped_whole() {
    // 20 columns: the prompt takes two rows.
    assert_eq!(
        answered(
            b"top\r\nPlease type your full name? ",
            "Al",
            b"Al\r\nok\r\n"
        ),
        "top\nok\n"
    );
}

#[test]
fn prompt_alone_leaves_nothing() {
    assert_eq!(answered(b"name? ", "bars", b"bars\r\n"), "");
    assert_eq!(answered(b"name? ", "", b"\r\n"), "");
}

#[test]
fn text_of_the_logical_line_already_in_the_history_stays() {
    // 20x6: a 130-character line without newline, ending in the prompt; its first rows
    // scrolled off while it was wrapping. Only what the screen still shows is the prompt
    // line (what cursor_line returned); the rest stays as a line of its own.
    let mut r = Renderer::new(20, 6);
    let line = format!("{}q? ", "x".repeat(130));
    r.feed(line.as_bytes());
    let shown = r.cursor_line();
    assert!(shown.ends_with("q? ") && shown.len() < line.len());
    let mut out = r.take_finished();
    r.drop_prompt_line();
    r.forget_echo("y");
    r.feed(b"y\r\nok\r\n");
    out.push_str(&r.take_finished());
    out.push_str(&r.finish());
    let kept = line.len() - shown.len();
    assert_eq!(out, format!("{}\nok\n", "x".repeat(kept)));
}

#[test]
fn pending_after_a_drop_has_no_prompt() {
    let mut r = Renderer::new(80, 24);
    r.feed(b"hello\r\nPassword: ");
    r.drop_prompt_line();
    assert_eq!(r.pending(), "hello\n");
    assert_eq!(r.cursor_line(), "");
}
