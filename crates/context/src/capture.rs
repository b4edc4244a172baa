//! Parses the context capture block the runner script prints after a cell.
//!
//! Block layout (after the `ctx;` marker): a probe `\n\t;` that tells how the terminal's
//! output processing changed newlines (`\r\n` with the usual `onlcr`, `\n` if the cell
//! turned output processing off), then records `KIND \x1f fields… \0`, the last being
//! `E \x1f nonce \0`. bash strings cannot contain NUL, so NUL always ends a record.

use std::collections::BTreeMap;

use crate::quote::is_name;

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
    /// The function definitions could not be told apart (see [`split_functions`]):
    /// `functions` is empty and means nothing.
    pub functions_unreadable: bool,
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
    let mut function_names: Option<Vec<String>> = None;
    let mut definitions: &[u8] = b"";
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
            // Every variable, from one `declare -p` (`V`: one variable's): one
            // declaration per statement.
            b'V' | b'P' => {
                for statement in split_statements(rest) {
                    let text = trim_newline(statement);
                    if let Some(name) = declared_name(text) {
                        c.vars.insert(name, text.to_vec());
                    } else if !text.is_empty() {
                        return Err(bad());
                    }
                }
            }
            // `declare -F`: the function names, in the order `declare -f` prints them.
            b'N' => {
                function_names = Some(
                    rest.split(|&b| b == b'\n')
                        .filter_map(|l| l.strip_prefix(b"declare -f"))
                        .filter_map(|l| l.iter().position(|&b| b == b' ').map(|i| &l[i + 1..]))
                        .map(|n| String::from_utf8_lossy(n).into_owned())
                        .collect(),
                )
            }
            b'G' => definitions = rest,
            // `export -p` of a POSIX sh (hosts without bash): each variable kept in the
            // `declare -x` form bash mode keeps.
            b'X' => {
                for (name, value) in crate::posix::parse_export_p(rest) {
                    let text = crate::posix::declare_exported(&name, value.as_deref());
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
    if let Some(names) = function_names {
        match split_functions(&names, definitions) {
            Some(functions) => c.functions.extend(functions),
            None => c.functions_unreadable = true,
        }
    }
    Ok(c)
}

/// The statements of `declare -p` output: each ends at a newline outside quotes. bash
/// since 4.4 quotes any value with a newline as `$'…'`; older versions print it inside
/// `"…"`, which this also reads.
pub fn split_statements(text: &[u8]) -> Vec<&[u8]> {
    #[derive(PartialEq)]
    enum Q {
        None,
        Double,
        Single,
        AnsiC,
    }
    let mut out = Vec::new();
    let (mut start, mut i, mut q) = (0, 0, Q::None);
    while i < text.len() {
        let b = text[i];
        match q {
            Q::None => match b {
                b'\\' => i += 1,
                b'"' => q = Q::Double,
                b'\'' if i > 0 && text[i - 1] == b'$' => q = Q::AnsiC,
                b'\'' => q = Q::Single,
                b'\n' => {
                    out.push(&text[start..i]);
                    start = i + 1;
                }
                _ => {}
            },
            Q::Double | Q::AnsiC if b == b'\\' => i += 1,
            Q::Double if b == b'"' => q = Q::None,
            Q::AnsiC | Q::Single if b == b'\'' => q = Q::None,
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Split `declare -f` output (all functions, in the order of `names`) into each
/// function's text: `NAME () ` on a line of its own starts one. A function's text may
/// contain such a line too (in a here-document or a multi-line string); so the split is
/// taken only if each header occurs exactly once, and None otherwise.
pub fn split_functions(names: &[String], text: &[u8]) -> Option<BTreeMap<String, Vec<u8>>> {
    let mut starts = Vec::with_capacity(names.len());
    for name in names {
        let header = format!("{name} () \n");
        let at_line_start = |at: &usize| *at == 0 || text[at - 1] == b'\n';
        let mut found = memchr::memmem::find_iter(text, header.as_bytes()).filter(at_line_start);
        let first = found.next()?;
        if found.next().is_some() {
            return None;
        }
        starts.push(first);
    }
    if starts.first().is_some_and(|&s| s != 0) || starts.windows(2).any(|w| w[0] >= w[1]) {
        return None;
    }
    let mut out = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(text.len());
        out.insert(name.clone(), trim_newline(&text[starts[i]..end]).to_vec());
    }
    Some(out)
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
    fn declare_p_statements_split_outside_quotes() {
        // bash ≥ 4.4 quotes newlines as $'…'; older versions keep them inside "…".
        let text = b"declare -- x=$'a\\nb \\' \"'\ndeclare -a arr=([0]=\"1\" [1]=\"two\nlines \\\" '\")\ndeclare -- q='it'\\''s'\ndeclare -- u\ndeclare -A m=([\"k\"]=\"v\" )\n";
        let got: Vec<String> = split_statements(text)
            .into_iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        assert_eq!(
            got,
            [
                "declare -- x=$'a\\nb \\' \"'",
                "declare -a arr=([0]=\"1\" [1]=\"two\nlines \\\" '\")",
                "declare -- q='it'\\''s'",
                "declare -- u",
                "declare -A m=([\"k\"]=\"v\" )",
            ]
        );
        let block = block(true, &[b"S\x1f0", &[b"P\x1f", &text[..]].concat()]);
        let c = parse(&block).unwrap();
        assert_eq!(
            c.vars.keys().collect::<Vec<_>>(),
            ["arr", "m", "q", "u", "x"]
        );
        assert_eq!(
            c.vars["arr"],
            b"declare -a arr=([0]=\"1\" [1]=\"two\nlines \\\" '\")"
        );
    }

    /// `declare -F` and `declare -f` as bash 5.2 prints them for `f` (exported, with a
    /// here-document), `g` and `z-1`.
    const NAMES: &[u8] = b"declare -fx f\ndeclare -f g\ndeclare -f z-1\n";
    const DEFINITIONS: &[u8] = b"f () \n{ \n    cat <<EOF\n}\nEOF\n\n}\ndeclare -fx f\ng () \n{ \n    echo g\n}\nz-1 () \n{ \n    :\n}\n";

    #[test]
    fn functions_split_by_their_names() {
        let b = block(
            false,
            &[
                b"S\x1f0",
                &[b"N\x1f", NAMES].concat(),
                &[b"G\x1f", DEFINITIONS].concat(),
            ],
        );
        let c = parse(&b).unwrap();
        assert!(!c.functions_unreadable);
        assert_eq!(
            c.functions["f"],
            b"f () \n{ \n    cat <<EOF\n}\nEOF\n\n}\ndeclare -fx f".to_vec()
        );
        assert_eq!(c.functions["g"], b"g () \n{ \n    echo g\n}".to_vec());
        assert_eq!(c.functions["z-1"], b"z-1 () \n{ \n    :\n}".to_vec());
    }

    #[test]
    fn a_header_inside_a_definition_makes_them_unreadable() {
        let tricky =
            String::from_utf8_lossy(DEFINITIONS).replace("cat <<EOF\n}", "cat <<EOF\n}\ng () ");
        let b = block(
            false,
            &[
                b"S\x1f0",
                &[b"N\x1f", NAMES].concat(),
                &[b"G\x1f", tricky.as_bytes()].concat(),
                b"D\x1f/x",
            ],
        );
        let c = parse(&b).unwrap();
        assert!(c.functions_unreadable && c.functions.is_empty());
        assert_eq!(c.cwd, b"/x");
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
