//! Vim key notation to the bytes a terminal sends for those keys, for answering full-screen
//! programs (vi, less, top, whiptail) from a text box.
//!
//! `parse("ihello<Esc>:wq<CR>", false)` gives `ihello\x1b:wq\r`. Names are vim's (`:help
//! key-notation`) and case-insensitive. The byte sequences are xterm's (what the `TERM` we
//! announce, xterm-256color, tells programs to expect): arrows as `ESC [ A`, or `ESC O A`
//! when the program asked for application cursor keys; Home/End as `ESC [ H`/`ESC [ F` (SS3
//! form in application mode); PageUp/PageDown/Insert/Delete as `ESC [ n ~`; F1–F4 as SS3
//! `P`–`S`, F5–F12 as `ESC [ 15 ~`…`ESC [ 24 ~`; modifiers on those keys as xterm's
//! `ESC [ 1 ; m X` and `ESC [ n ; m ~` (m = 1 + shift + 2·alt + 4·ctrl).
//!
//! Text outside `<...>` is sent as typed, with no implied Enter; an empty notation sends
//! Enter alone (what an empty answer in the box means). A `<...>` that is not a key name
//! (`a<b`, `<html>`) is sent literally; one with a modifier on a key that has no such
//! combination (`<C-1>`) is an error, since sending it as text would type something the
//! user did not mean.

use thiserror::Error;

/// A key notation that names a key combination a terminal cannot send.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("{notation}: a terminal has no key code for this combination")]
    NoSuchKey { notation: String },
    #[error("{notation}: not a character code")]
    BadCharCode { notation: String },
}

/// Modifier bits as xterm numbers them (the parameter sent is 1 + these).
const SHIFT: u8 = 1;
const ALT: u8 = 2;
const CTRL: u8 = 4;

/// Translate vim key notation into terminal input bytes. `application_cursor` is whether
/// the program asked for application cursor keys (DECCKM,
/// [`Renderer::application_cursor_keys`](crate::Renderer::application_cursor_keys)).
pub fn parse(notation: &str, application_cursor: bool) -> Result<Vec<u8>, KeyError> {
    if notation.is_empty() {
        return Ok(b"\r".to_vec());
    }
    let mut out = Vec::with_capacity(notation.len());
    let mut rest = notation;
    while let Some(open) = rest.find('<') {
        out.extend_from_slice(&rest.as_bytes()[..open]);
        let after = &rest[open + 1..];
        // The name runs to the next '>'; a '<' before it means this '<' was literal. One
        // exception: `<C->>`-style names whose key is '>' itself.
        let close = after.find('>').map(|c| {
            if after[c + 1..].starts_with('>') && after[..c].ends_with('-') {
                c + 1
            } else {
                c
            }
        });
        match close {
            Some(close) if !after[..close].contains('<') => {
                let name = &after[..close];
                if let Some(bytes) = key(name, application_cursor)? {
                    out.extend_from_slice(&bytes);
                    rest = &after[close + 1..];
                    continue;
                }
                out.push(b'<');
                rest = after;
            }
            _ => {
                out.push(b'<');
                rest = after;
            }
        }
    }
    out.extend_from_slice(rest.as_bytes());
    Ok(out)
}

/// The bytes for one `<name>`; `None` if `name` is not key notation (sent literally).
fn key(name: &str, app: bool) -> Result<Option<Vec<u8>>, KeyError> {
    let notation = || format!("<{name}>");
    // Modifiers: `C-`, `S-`, `M-`/`A-` (vim also has `D-`/`T-` for GUI-only keys: none of
    // them exists on a terminal). The key itself may be '-' (`<C-->`).
    let mut mods = 0u8;
    let mut base = name;
    while base.len() > 2 && base.as_bytes()[1] == b'-' {
        match base.as_bytes()[0].to_ascii_lowercase() {
            b'c' => mods |= CTRL,
            b's' => mods |= SHIFT,
            b'm' | b'a' => mods |= ALT,
            _ => break,
        }
        base = &base[2..];
    }
    if base.is_empty() {
        return Ok(None);
    }
    let lower = base.to_ascii_lowercase();
    if let Some(bytes) = special(&lower, mods, app) {
        return Ok(Some(bytes));
    }
    if let Some(code) = lower.strip_prefix("char-") {
        let c = char_code(code).ok_or_else(|| KeyError::BadCharCode {
            notation: notation(),
        })?;
        return Ok(Some(with_alt(encode_char(c), mods & ALT != 0)));
    }
    let plain = match lower.as_str() {
        "nul" => Some('\0'),
        "bs" => Some('\x7f'),
        "tab" => Some('\t'),
        "nl" | "newline" | "linefeed" | "lf" => Some('\n'),
        "cr" | "return" | "enter" => Some('\r'),
        "esc" => Some('\x1b'),
        "space" => Some(' '),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "bslash" => Some('\\'),
        "bar" => Some('|'),
        _ => None,
    };
    let mut chars = base.chars();
    let single = match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    };
    let Some(c) = plain.or(single) else {
        if mods != 0 {
            // `<C-foo>`: a modifier on something that is not a key.
            return Err(KeyError::NoSuchKey {
                notation: notation(),
            });
        }
        return Ok(None);
    };
    if mods == 0 && plain.is_none() {
        // `<x>` is not vim notation for x: keep it literal.
        return Ok(None);
    }
    let mut c = c;
    if mods & SHIFT != 0 {
        if c == '\t' {
            return Ok(Some(with_alt(b"\x1b[Z".to_vec(), mods & ALT != 0)));
        }
        if !c.is_alphabetic() {
            return Err(KeyError::NoSuchKey {
                notation: notation(),
            });
        }
        c = c.to_uppercase().next().unwrap_or(c);
    }
    let bytes = if mods & CTRL != 0 {
        vec![control(c).ok_or_else(|| KeyError::NoSuchKey {
            notation: notation(),
        })?]
    } else {
        encode_char(c)
    };
    Ok(Some(with_alt(bytes, mods & ALT != 0)))
}

/// Ctrl with a character: the C0 code a terminal sends, as xterm maps them.
fn control(c: char) -> Option<u8> {
    Some(match c {
        'a'..='z' => c as u8 - b'a' + 1,
        'A'..='Z' => c as u8 - b'A' + 1,
        '@' | ' ' | '2' | '\0' => 0,
        '[' | '3' | '\x1b' => 0x1b,
        '\\' | '4' => 0x1c,
        ']' | '5' => 0x1d,
        '^' | '6' | '~' => 0x1e,
        '_' | '7' | '/' | '-' => 0x1f,
        '?' | '8' | '\x7f' => 0x7f,
        '\t' => b'\t',
        '\r' => b'\r',
        _ => return None,
    })
}

/// Alt (Meta) is sent as an ESC prefix, xterm's `metaSendsEscape` and what readline,
/// emacs and vim in a terminal expect.
fn with_alt(bytes: Vec<u8>, alt: bool) -> Vec<u8> {
    if alt {
        let mut v = Vec::with_capacity(bytes.len() + 1);
        v.push(0x1b);
        v.extend(bytes);
        v
    } else {
        bytes
    }
}

fn encode_char(c: char) -> Vec<u8> {
    let mut buf = [0u8; 4];
    c.encode_utf8(&mut buf).as_bytes().to_vec()
}

/// `<Char-123>`, `<Char-0x7f>`, `<Char-033>`: a character by its code (vim's forms).
fn char_code(code: &str) -> Option<char> {
    let n = if let Some(hex) = code.strip_prefix("0x") {
        u32::from_str_radix(hex, 16).ok()?
    } else if code.len() > 1 && code.starts_with('0') {
        u32::from_str_radix(&code[1..], 8).ok()?
    } else {
        code.parse().ok()?
    };
    char::from_u32(n)
}

/// Keys that send an escape sequence, with xterm's modifier encoding.
fn special(name: &str, mods: u8, app: bool) -> Option<Vec<u8>> {
    // (final byte, has an SS3 form): cursor keys, Home/End, F1–F4.
    let letter = match name {
        "up" => Some((b'A', true)),
        "down" => Some((b'B', true)),
        "right" => Some((b'C', true)),
        "left" => Some((b'D', true)),
        "home" => Some((b'H', true)),
        "end" => Some((b'F', true)),
        "f1" => Some((b'P', false)),
        "f2" => Some((b'Q', false)),
        "f3" => Some((b'R', false)),
        "f4" => Some((b'S', false)),
        _ => None,
    };
    if let Some((fin, cursor)) = letter {
        return Some(if mods != 0 {
            format!("\x1b[1;{}{}", 1 + mods, fin as char).into_bytes()
        } else if !cursor || app {
            // F1–F4 are always SS3; cursor keys and Home/End only in application mode.
            vec![0x1b, b'O', fin]
        } else {
            vec![0x1b, b'[', fin]
        });
    }
    let number = match name {
        "insert" | "ins" => 2,
        "del" | "delete" => 3,
        "pageup" => 5,
        "pagedown" => 6,
        "f5" => 15,
        "f6" => 17,
        "f7" => 18,
        "f8" => 19,
        "f9" => 20,
        "f10" => 21,
        "f11" => 23,
        "f12" => 24,
        _ => return None,
    };
    Some(if mods != 0 {
        format!("\x1b[{number};{}~", 1 + mods).into_bytes()
    } else {
        format!("\x1b[{number}~").into_bytes()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<u8> {
        parse(s, false).unwrap()
    }

    #[test]
    fn plain_text_is_sent_as_typed_without_enter() {
        assert_eq!(p("hello world"), b"hello world");
        assert_eq!(p("q"), b"q");
        assert_eq!(p("ünï"), "ünï".as_bytes());
    }

    #[test]
    fn empty_is_enter() {
        assert_eq!(p(""), b"\r");
    }

    #[test]
    fn named_keys() {
        assert_eq!(p("<Esc>"), b"\x1b");
        assert_eq!(p("<CR>"), b"\r");
        assert_eq!(p("<Enter>"), b"\r");
        assert_eq!(p("<Return>"), b"\r");
        assert_eq!(p("<Tab>"), b"\t");
        assert_eq!(p("<BS>"), b"\x7f");
        assert_eq!(p("<Del>"), b"\x1b[3~");
        assert_eq!(p("<Space>"), b" ");
        assert_eq!(p("<lt>"), b"<");
        assert_eq!(p("<Bar>"), b"|");
        assert_eq!(p("<Bslash>"), b"\\");
        assert_eq!(p("<NL>"), b"\n");
        assert_eq!(p("<Nul>"), b"\0");
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(p("<esc>"), b"\x1b");
        assert_eq!(p("<ESC>"), b"\x1b");
        assert_eq!(p("<cr>"), b"\r");
        assert_eq!(p("<pagedown>"), b"\x1b[6~");
        assert_eq!(p("<c-x>"), b"\x18");
    }

    #[test]
    fn control_keys() {
        assert_eq!(p("<C-x>"), b"\x18");
        assert_eq!(p("<C-X>"), b"\x18");
        assert_eq!(p("<C-a>"), b"\x01");
        assert_eq!(p("<C-c>"), b"\x03");
        assert_eq!(p("<C-z>"), b"\x1a");
        assert_eq!(p("<C-[>"), b"\x1b");
        assert_eq!(p("<C-]>"), b"\x1d");
        assert_eq!(p("<C-@>"), b"\x00");
        assert_eq!(p("<C-\\>"), b"\x1c");
        assert_eq!(p("<C-^>"), b"\x1e");
        assert_eq!(p("<C-_>"), b"\x1f");
        assert_eq!(p("<C-Space>"), b"\x00");
        assert_eq!(p("<C-?>"), b"\x7f");
    }

    #[test]
    fn meta_is_an_escape_prefix() {
        assert_eq!(p("<M-x>"), b"\x1bx");
        assert_eq!(p("<A-x>"), b"\x1bx");
        assert_eq!(p("<M-C-x>"), b"\x1b\x18");
        assert_eq!(p("<M-CR>"), b"\x1b\r");
        assert_eq!(p("<M-S-a>"), b"\x1bA");
    }

    #[test]
    fn cursor_keys_follow_the_mode() {
        assert_eq!(parse("<Up>", false).unwrap(), b"\x1b[A");
        assert_eq!(parse("<Down>", false).unwrap(), b"\x1b[B");
        assert_eq!(parse("<Right>", false).unwrap(), b"\x1b[C");
        assert_eq!(parse("<Left>", false).unwrap(), b"\x1b[D");
        assert_eq!(parse("<Up>", true).unwrap(), b"\x1bOA");
        assert_eq!(parse("<Left>", true).unwrap(), b"\x1bOD");
        assert_eq!(parse("<Home>", false).unwrap(), b"\x1b[H");
        assert_eq!(parse("<End>", true).unwrap(), b"\x1bOF");
        // Modified cursor keys are the same in both modes.
        assert_eq!(parse("<C-Left>", true).unwrap(), b"\x1b[1;5D");
        assert_eq!(parse("<S-Up>", false).unwrap(), b"\x1b[1;2A");
        assert_eq!(parse("<M-Right>", false).unwrap(), b"\x1b[1;3C");
    }

    #[test]
    fn editing_and_function_keys() {
        assert_eq!(p("<Home>"), b"\x1b[H");
        assert_eq!(p("<End>"), b"\x1b[F");
        assert_eq!(p("<PageUp>"), b"\x1b[5~");
        assert_eq!(p("<PageDown>"), b"\x1b[6~");
        assert_eq!(p("<Insert>"), b"\x1b[2~");
        assert_eq!(p("<F1>"), b"\x1bOP");
        assert_eq!(p("<F4>"), b"\x1bOS");
        assert_eq!(p("<F5>"), b"\x1b[15~");
        assert_eq!(p("<F10>"), b"\x1b[21~");
        assert_eq!(p("<F12>"), b"\x1b[24~");
        assert_eq!(p("<S-F5>"), b"\x1b[15;2~");
        assert_eq!(p("<C-F1>"), b"\x1b[1;5P");
        assert_eq!(p("<C-Del>"), b"\x1b[3;5~");
        assert_eq!(p("<S-Tab>"), b"\x1b[Z");
    }

    #[test]
    fn whole_commands() {
        assert_eq!(p("ihello<Esc>:wq<CR>"), b"ihello\x1b:wq\r");
        assert_eq!(p(":q!<CR>"), b":q!\r");
        assert_eq!(p("<Down><Down><CR>"), b"\x1b[B\x1b[B\r");
        assert_eq!(p("a<lt>b>"), b"a<b>");
    }

    #[test]
    fn unknown_angle_brackets_are_literal() {
        assert_eq!(p("a<b"), b"a<b");
        assert_eq!(p("<"), b"<");
        assert_eq!(p(">"), b">");
        assert_eq!(p("<>"), b"<>");
        assert_eq!(p("<html>"), b"<html>");
        assert_eq!(p("<x>"), b"<x>");
        assert_eq!(p("x < y > z"), b"x < y > z");
        assert_eq!(p("<<Esc>"), b"<\x1b");
        assert_eq!(p("<a<Esc>"), b"<a\x1b");
        assert_eq!(p("if a<b and c>d"), b"if a<b and c>d");
    }

    #[test]
    fn char_codes() {
        assert_eq!(p("<Char-65>"), b"A");
        assert_eq!(p("<Char-0x7f>"), b"\x7f");
        assert_eq!(p("<Char-033>"), b"\x1b");
        assert_eq!(p("<Char-0x263a>"), "☺".as_bytes());
        assert!(matches!(
            parse("<Char-0xd800>", false),
            Err(KeyError::BadCharCode { .. })
        ));
    }

    #[test]
    fn impossible_combinations_are_errors() {
        for bad in ["<C-é>", "<S-1>", "<C-foo>", "<M-bogus>"] {
            let e = parse(bad, false).unwrap_err();
            assert!(e.to_string().starts_with(bad), "{e}");
        }
    }

    #[test]
    fn key_minus_and_gt() {
        assert_eq!(p("<C-->"), b"\x1f");
        assert_eq!(p("<M->>"), b"\x1b>");
    }

    proptest::proptest! {
        #[test]
        fn text_without_lt_round_trips(s in "[^<]{1,64}") {
            proptest::prop_assert_eq!(parse(&s, false).unwrap(), s.as_bytes());
            proptest::prop_assert_eq!(parse(&s, true).unwrap(), s.as_bytes());
        }

        #[test]
        fn never_panics(s in ".{0,64}", app in proptest::bool::ANY) {
            let _ = parse(&s, app);
        }
    }
}
