//! Recorded-terminal tests: byte streams recorded from real programs (tests/recordings,
//! made by record.py) rendered by us and compared with what tmux shows for the same bytes
//! (made by tmux-reference.sh). See tests/recordings/README.md.

use std::path::PathBuf;

use terminal::Renderer;

mod common;
use common::{normalise, strip_sgr};

fn line_output(bytes: &[u8]) -> String {
    common::line_output(COLS, ROWS, bytes)
}

const COLS: u16 = 160;
const ROWS: u16 = 24;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/recordings")
}

fn read(name: &str, ext: &str) -> Vec<u8> {
    let path = dir().join(format!("{name}.{ext}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn screen_text(bytes: &[u8]) -> String {
    let mut r = Renderer::new(COLS, ROWS);
    r.feed(bytes);
    r.screen_text()
}

fn check(name: &str) {
    let bytes = read(name, "bin");
    let expected_screen = String::from_utf8(read(name, "screen")).unwrap();
    let mut r = Renderer::new(COLS, ROWS);
    r.feed(&bytes);
    // While a program holds the alternate screen, tmux's capture is of that screen, not of
    // the main screen and history our line output is made of: compare the screen only.
    if !r.alternate_screen() {
        let expected_lines = String::from_utf8(read(name, "lines")).unwrap();
        assert_eq!(
            normalise(&strip_sgr(&line_output(&bytes))),
            normalise(&expected_lines),
            "{name}: line output differs from tmux"
        );
    }
    assert_eq!(
        normalise(&screen_text(&bytes)),
        normalise(&expected_screen),
        "{name}: screen differs from tmux"
    );
}

macro_rules! recording {
    ($($name:ident $(: $file:literal)?),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check(recording!(@file $name $($file)?));
            }
        )*
    };
    (@file $name:ident) => { stringify!($name) };
    (@file $name:ident $file:literal) => { $file };
}

recording! {
    ls_color,
    progress_cr,
    apt_progress,
    docker_pull,
    pip_rich,
    tput_cuu,
    apt_real,
    pip_real,
    cjk_emoji,
    emoji_widths,
    top_batch,
    clear,
    long_line,
    tabs_backspace,
    vi,
    vi_open: "vi.open",
    less,
    less_open: "less.open",
    whiptail,
    whiptail_open: "whiptail.open",
    whiptail_vt100,
    whiptail_vt100_open: "whiptail_vt100.open",
    busybox_vi,
    busybox_vi_open: "busybox_vi.open",
}

/// The saved output keeps colours: ls's are SGR sequences around the names, and no line
/// leaves attributes on past its end.
#[test]
fn ls_color_keeps_sgr() {
    let out = line_output(&read("ls_color", "bin"));
    assert!(out.contains("\x1b[0;1;34mapt.conf.d\x1b[0m"), "{out:?}");
    let sgr = regex::Regex::new(r"\x1b\[[0-9;]*m").unwrap();
    for line in out.lines() {
        if let Some(last) = sgr.find_iter(line).last() {
            assert_eq!(last.as_str(), "\x1b[0m", "{line:?}");
        }
    }
}

/// A program on the alternate screen is screen mode while it runs and leaves line mode
/// behind it; one that takes over the main screen (whiptail on a vt100) is screen mode too.
#[test]
fn full_screen_programs_are_screen_mode_while_open() {
    for name in ["vi", "less", "whiptail", "busybox_vi", "whiptail_vt100"] {
        let mut r = Renderer::new(COLS, ROWS);
        r.feed(&read(&format!("{name}.open"), "bin"));
        assert!(r.screen_mode(), "{name} open");
        let mut r = Renderer::new(COLS, ROWS);
        r.feed(&read(name, "bin"));
        if name == "whiptail_vt100" {
            // Its box stays drawn on the main screen after it exits, with no output after
            // it to end the takeover: still shown as a screen, which is what is there.
            continue;
        }
        assert!(!r.screen_mode(), "{name} closed");
    }
}

/// Every chunking gives the same result on real recordings too.
#[test]
fn recordings_do_not_depend_on_chunking() {
    for name in ["apt_progress", "pip_rich", "vi", "cjk_emoji"] {
        let bytes = read(name, "bin");
        let mut whole = Renderer::new(COLS, ROWS);
        whole.feed(&bytes);
        let expected = whole.take_finished() + &whole.finish();
        let mut byte_wise = Renderer::new(COLS, ROWS);
        let mut got = String::new();
        for b in &bytes {
            byte_wise.feed(std::slice::from_ref(b));
            got.push_str(&byte_wise.take_finished());
        }
        got.push_str(&byte_wise.finish());
        assert_eq!(got, expected, "{name}");
    }
}
