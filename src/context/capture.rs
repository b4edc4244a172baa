//! Parses the context capture block the runner script prints after a cell.
//!
//! Block layout (after the `ctx;` marker): a probe `\n\t;` that tells how the terminal's
//! output processing changed newlines (`\r\n` with the usual `onlcr`, `\n` if the cell
//! turned output processing off), then records `KIND \x1f fields… \0`, the last being
//! `E \x1f nonce \0`. bash strings cannot contain NUL, so NUL always ends a record.

use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CaptureError {
    #[error(
        "the terminal's output settings were changed by the cell (stty), so the shell state could not be read back"
    )]
    UnknownOutputMode,
    #[error("the shell state record {0:?} is malformed")]
    BadRecord(String),
    #[error("the shell state has no exit status")]
    NoStatus,
}

/// One captured state, as the shell reported it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Captured {
    pub status: i32,
    /// `$-` before the capture touched anything.
    pub flags: String,
    pub cwd: Vec<u8>,
    pub umask: String,
    pub set_options: BTreeMap<String, bool>,
    pub shopts: BTreeMap<String, bool>,
    /// name → `declare -p` text (one declaration, no trailing newline).
    pub vars: BTreeMap<String, Vec<u8>>,
    /// name → `declare -f` text.
    pub functions: BTreeMap<String, Vec<u8>>,
    /// name → source file of the function (login capture only).
    pub function_files: BTreeMap<String, Vec<u8>>,
    /// name → alias value (unquoted).
    pub aliases: BTreeMap<String, Vec<u8>>,
}

/// Parse a capture block (as delivered by the demultiplexer, end record included).
pub fn parse(block: &[u8]) -> Result<Captured, CaptureError> {
    let (body, onlcr) = if let Some(rest) = block.strip_prefix(b"\r\n\t;") {
        (rest, true)
    } else if let Some(rest) = block.strip_prefix(b"\n\t;") {
        (rest, false)
    } else {
        return Err(CaptureError::UnknownOutputMode);
    };
    let body: Vec<u8> = if onlcr {
        undo_onlcr(body)
    } else {
        body.to_vec()
    };

    let mut c = Captured::default();
    let mut status = None;
    for record in body.split(|&b| b == 0) {
        if record.is_empty() || record == b"\x1b\\" {
            continue;
        }
        let bad = || {
            CaptureError::BadRecord(
                String::from_utf8_lossy(&record[..record.len().min(40)]).into_owned(),
            )
        };
        let (kind, rest) = match record {
            [k, 0x1f, rest @ ..] => (*k, rest),
            _ => return Err(bad()),
        };
        match kind {
            b'S' => {
                status = Some(
                    std::str::from_utf8(rest)
                        .ok()
                        .and_then(|s| s.trim().parse().ok())
                        .ok_or_else(bad)?,
                )
            }
            b'F' => c.flags = String::from_utf8_lossy(rest).into_owned(),
            b'D' => c.cwd = rest.to_vec(),
            b'M' => c.umask = String::from_utf8_lossy(rest).trim().to_owned(),
            b'O' => parse_switches(rest, b"set -o ", b"set +o ", &mut c.set_options),
            b'H' => parse_switches(rest, b"shopt -s ", b"shopt -u ", &mut c.shopts),
            b'V' => {
                let text = trim_newline(rest);
                if let Some(name) = declared_name(text) {
                    c.vars.insert(name, text.to_vec());
                } else if !text.is_empty() {
                    return Err(bad());
                }
            }
            // `export -p` of a POSIX sh (hosts without bash): each variable kept in the
            // `declare -x` form bash mode keeps.
            b'X' => {
                for (name, value) in super::posix::parse_export_p(rest) {
                    let text = super::posix::declare_exported(&name, value.as_deref());
                    c.vars.insert(name, text);
                }
            }
            b'f' | b'L' | b'A' => {
                let mut parts = rest.splitn(2, |&b| b == 0x1f);
                let name = parts.next().unwrap_or_default();
                let value = parts.next().ok_or_else(bad)?;
                let name = String::from_utf8_lossy(name).into_owned();
                match kind {
                    b'f' => c.functions.insert(name, trim_newline(value).to_vec()),
                    b'L' => c.function_files.insert(name, trim_newline(value).to_vec()),
                    _ => c.aliases.insert(name, value.to_vec()),
                };
            }
            b'E' => break,
            _ => return Err(bad()),
        }
    }
    c.status = status.ok_or(CaptureError::NoStatus)?;
    Ok(c)
}

/// The PTY's `onlcr` turned every `\n` into `\r\n` and changed nothing else, so removing
/// one `\r` before each `\n` restores the bytes exactly (an original `\r\n` came out as
/// `\r\r\n`).
fn undo_onlcr(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn trim_newline(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\n").unwrap_or(b)
}

fn parse_switches(text: &[u8], on: &[u8], off: &[u8], into: &mut BTreeMap<String, bool>) {
    for line in text.split(|&b| b == b'\n') {
        let (value, name) = if let Some(n) = line.strip_prefix(on) {
            (true, n)
        } else if let Some(n) = line.strip_prefix(off) {
            (false, n)
        } else {
            continue;
        };
        if let Ok(name) = std::str::from_utf8(name) {
            into.insert(name.trim().to_owned(), value);
        }
    }
}

/// The name in `declare -FLAGS NAME[=…]`, checked to be a valid shell name.
pub fn declared_name(text: &[u8]) -> Option<String> {
    let rest = text.strip_prefix(b"declare -")?;
    let sp = rest.iter().position(|&b| b == b' ')?;
    let rest = &rest[sp + 1..];
    let end = rest
        .iter()
        .position(|&b| b == b'=' || b == b'\n')
        .unwrap_or(rest.len());
    let name = std::str::from_utf8(&rest[..end]).ok()?;
    is_name(name).then(|| name.to_owned())
}

/// The flags in `declare -FLAGS NAME…` (`-` alone for none).
pub fn declared_flags(text: &[u8]) -> &[u8] {
    let rest = text.strip_prefix(b"declare -").unwrap_or_default();
    let sp = rest.iter().position(|&b| b == b' ').unwrap_or(0);
    &rest[..sp]
}

pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block(onlcr: bool, records: &[&[u8]]) -> Vec<u8> {
        let mut b = if onlcr {
            b"\r\n\t;".to_vec()
        } else {
            b"\n\t;".to_vec()
        };
        for r in records {
            let r = if onlcr {
                let mut o = Vec::new();
                for &x in *r {
                    if x == b'\n' {
                        o.push(b'\r');
                    }
                    o.push(x);
                }
                o
            } else {
                r.to_vec()
            };
            b.extend(r);
            b.push(0);
        }
        b.extend(b"E\x1fnonce\0\x1b\\");
        b
    }

    #[test]
    fn parses_every_record_kind() {
        let b = block(
            true,
            &[
                b"S\x1f3",
                b"F\x1fhB",
                b"D\x1f/tmp/a\nb",
                b"M\x1f0027\n",
                b"O\x1fset -o braceexpand\nset +o noclobber\n",
                b"H\x1fshopt -s extglob\nshopt -u nullglob\n",
                b"V\x1fdeclare -x PATH=\"/bin\"\n",
                b"V\x1fdeclare -- x=\"a\r\nb: \\\"c\\\" \xff\"\n",
                b"V\x1fdeclare -a arr=([0]=\"1\" [1]=\"2\")\n",
                b"f\x1fgreet\x1fgreet () \n{ \n    echo hi\n}\n",
                b"A\x1fll\x1fls -l",
                b"X\x1fexport E='it'\"'\"'s'\nexport U\n",
            ],
        );
        let c = parse(&b).unwrap();
        assert_eq!(c.status, 3);
        assert_eq!(c.cwd, b"/tmp/a\nb");
        assert_eq!(c.umask, "0027");
        assert_eq!(c.set_options.get("noclobber"), Some(&false));
        assert_eq!(c.shopts.get("extglob"), Some(&true));
        assert_eq!(
            c.vars["x"],
            b"declare -- x=\"a\r\nb: \\\"c\\\" \xff\"".to_vec()
        );
        assert_eq!(
            c.vars["arr"],
            b"declare -a arr=([0]=\"1\" [1]=\"2\")".to_vec()
        );
        assert_eq!(
            c.functions["greet"],
            b"greet () \n{ \n    echo hi\n}".to_vec()
        );
        assert_eq!(c.aliases["ll"], b"ls -l".to_vec());
        assert_eq!(c.vars["E"], b"declare -x E=$'it\\'s'".to_vec());
        assert_eq!(c.vars["U"], b"declare -x U".to_vec());
    }

    #[test]
    fn raw_output_mode_is_understood() {
        let c = parse(&block(false, &[b"S\x1f0", b"D\x1f/x\r\ny"])).unwrap();
        assert_eq!(c.cwd, b"/x\r\ny");
    }

    #[test]
    fn unknown_output_mode_is_refused() {
        assert_eq!(
            parse(b"\r\r\n\t;S\x1f0\0"),
            Err(CaptureError::UnknownOutputMode)
        );
    }

    #[test]
    fn missing_status_is_an_error() {
        assert_eq!(
            parse(&block(false, &[b"D\x1f/"])),
            Err(CaptureError::NoStatus)
        );
    }

    #[test]
    fn declared_names_and_flags() {
        assert_eq!(
            declared_name(b"declare -rx A_1=\"x\"").as_deref(),
            Some("A_1")
        );
        assert_eq!(declared_flags(b"declare -rx A_1=\"x\""), b"rx");
        assert_eq!(declared_name(b"declare -- 1x=3"), None);
        assert_eq!(declared_name(b"declare -a arr"), Some("arr".into()));
    }

    proptest! {
        #[test]
        fn onlcr_is_undone_exactly(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut o = Vec::new();
            for &x in &data { if x == b'\n' { o.push(b'\r'); } o.push(x); }
            prop_assert_eq!(undo_onlcr(&o), data);
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..500)) {
            let _ = parse(&data);
            let mut b = b"\r\n\t;".to_vec();
            b.extend(&data);
            let _ = parse(&b);
        }
    }
}
