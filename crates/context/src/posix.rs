//! The POSIX-sh side of the context, for hosts without bash: reading `export -p` (as
//! busybox sh, dash and ksh print it), quoting for sh, and reading back the `declare` texts
//! the context holds, so that the state kept in sh mode has the same shape as in bash mode.
//! Pure: bytes in, bytes out.

use crate::quote::{ansi_c_quote, is_name};

/// One line of `export -p`: a name and its value (None: exported but unset, `export NAME`).
pub type Exported = (String, Option<Vec<u8>>);

/// Parse what `export -p` prints: `export NAME='value'` per variable (busybox, dash; ksh
/// and bash in POSIX mode may write `export -x`-less forms such as `export NAME=value` or
/// double quotes), values quoted as shell words that may span lines. Lines that are not
/// such a declaration are skipped.
pub fn parse_export_p(text: &[u8]) -> Vec<Exported> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let line_start = rest;
        rest = skip_blanks(rest);
        let Some(after) = rest.strip_prefix(b"export ") else {
            rest = next_line(line_start);
            continue;
        };
        let after = skip_blanks(after);
        let name_len = after
            .iter()
            .position(|&b| !(b == b'_' || b.is_ascii_alphanumeric()))
            .unwrap_or(after.len());
        let name = String::from_utf8_lossy(&after[..name_len]).into_owned();
        let tail = &after[name_len..];
        if !is_name(&name) {
            rest = next_line(line_start);
            continue;
        }
        match tail.first() {
            Some(b'=') => match shell_word(&tail[1..]) {
                Some((value, remaining)) => {
                    out.push((name, Some(value)));
                    rest = next_line(remaining);
                }
                // An unterminated quote: nothing after it can be trusted.
                None => break,
            },
            None | Some(b'\n' | b' ' | b'\t' | b'\r') => {
                out.push((name, None));
                rest = next_line(tail);
            }
            Some(_) => rest = next_line(line_start),
        }
    }
    out
}

fn skip_blanks(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(b.len());
    &b[n..]
}

/// The bytes after the next newline (or nothing).
fn next_line(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == b'\n') {
        Some(i) => &b[i + 1..],
        None => &[],
    }
}

/// One shell word at the start of `b`, unquoted: `'…'`, `"…"` (backslash escapes `$`, `` ` ``,
/// `"`, `\` and newline), `$'…'` (as busybox and ksh may print it), `\c`, plain bytes; it
/// ends at an unquoted blank or newline. None if a quote is not closed.
fn shell_word(b: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\n' => break,
            b'\'' => {
                let end = b[i + 1..].iter().position(|&c| c == b'\'')? + i + 1;
                out.extend_from_slice(&b[i + 1..end]);
                i = end + 1;
            }
            b'$' if b.get(i + 1) == Some(&b'\'') => {
                let (value, used) = ansi_c_unquote(&b[i + 2..])?;
                out.extend(value);
                i += 2 + used;
            }
            b'"' => {
                i += 1;
                loop {
                    match *b.get(i)? {
                        b'"' => break,
                        b'\\' if matches!(b.get(i + 1), Some(b'$' | b'`' | b'"' | b'\\')) => {
                            out.push(b[i + 1]);
                            i += 2;
                        }
                        b'\\' if b.get(i + 1) == Some(&b'\n') => i += 2,
                        c => {
                            out.push(c);
                            i += 1;
                        }
                    }
                }
                i += 1;
            }
            b'\\' => {
                match b.get(i + 1) {
                    Some(b'\n') => {}
                    Some(&c) => out.push(c),
                    None => {}
                }
                i += 2;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some((out, &b[i.min(b.len())..]))
}

/// The inside of `$'…'` (after the opening quote): its value and the bytes used, closing
/// quote included. Knows the escapes [`ansi_c_quote`] writes and the common others.
fn ansi_c_unquote(b: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        match *b.get(i)? {
            b'\'' => return Some((out, i + 1)),
            b'\\' => {
                let c = *b.get(i + 1)?;
                i += 2;
                match c {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'e' | b'E' => out.push(0x1b),
                    b'a' => out.push(0x07),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0c),
                    b'v' => out.push(0x0b),
                    b'x' => {
                        let digits = b[i..]
                            .iter()
                            .take(2)
                            .take_while(|d| d.is_ascii_hexdigit())
                            .count();
                        if digits == 0 {
                            out.extend_from_slice(b"\\x");
                        } else {
                            let hex = std::str::from_utf8(&b[i..i + digits]).ok()?;
                            out.push(u8::from_str_radix(hex, 16).ok()?);
                            i += digits;
                        }
                    }
                    b'0'..=b'7' => {
                        let mut v = u32::from(c - b'0');
                        let mut n = 0;
                        while n < 2 && matches!(b.get(i), Some(b'0'..=b'7')) {
                            v = v * 8 + u32::from(b[i] - b'0');
                            i += 1;
                            n += 1;
                        }
                        out.push(v as u8);
                    }
                    other => out.push(other),
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// Quote bytes as one sh word: `'…'`, each `'` written `'\''`. Exact for every byte but
/// NUL (which shell strings cannot hold; it is dropped).
pub fn sh_quote(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 2);
    out.push(b'\'');
    for &b in bytes {
        match b {
            b'\'' => out.extend_from_slice(b"'\\''"),
            0 => {}
            _ => out.push(b),
        }
    }
    out.push(b'\'');
    out
}

/// The context's text for an exported variable: as bash's `declare -p` would hold it, so
/// that sh-mode contexts look like bash-mode ones to the rest of the kernel.
pub fn declare_exported(name: &str, value: Option<&[u8]>) -> Vec<u8> {
    let mut text = format!("declare -x {name}").into_bytes();
    if let Some(v) = value {
        text.push(b'=');
        text.extend(ansi_c_quote(v));
    }
    text
}

/// A scalar variable of the context, read back from its `declare` text: (name, exported,
/// value; None when declared without one). None for arrays, integers-with-expressions or
/// anything else sh cannot hold.
pub fn declared_scalar(text: &[u8]) -> Option<(String, bool, Option<Vec<u8>>)> {
    let rest = text.strip_prefix(b"declare -")?;
    let sp = rest.iter().position(|&b| b == b' ')?;
    let flags = &rest[..sp];
    if flags.iter().any(|f| matches!(f, b'a' | b'A' | b'n')) {
        return None;
    }
    let exported = flags.contains(&b'x');
    let rest = &rest[sp + 1..];
    let end = rest.iter().position(|&b| b == b'=').unwrap_or(rest.len());
    let name = std::str::from_utf8(&rest[..end]).ok()?;
    if !is_name(name) {
        return None;
    }
    let Some(value) = rest.get(end + 1..) else {
        return Some((name.to_owned(), exported, None));
    };
    let (value, remaining) = shell_word(value)?;
    remaining
        .is_empty()
        .then(|| (name.to_owned(), exported, Some(value)))
}

/// Restore lines for sh: `NAME='value'`, then `export NAME` for exported ones; `unset` of
/// login variables a cell removed comes first.
pub fn restore_vars<'a>(vars: impl Iterator<Item = &'a Vec<u8>>, gone: &[&str], out: &mut Vec<u8>) {
    if !gone.is_empty() {
        out.extend(format!("unset {} 2>/dev/null\n", gone.join(" ")).as_bytes());
    }
    for text in vars {
        let Some((name, exported, value)) = declared_scalar(text) else {
            continue;
        };
        if let Some(v) = value {
            out.extend(name.as_bytes());
            out.push(b'=');
            out.extend(sh_quote(&v));
            out.push(b'\n');
        }
        if exported {
            out.extend(format!("export {name}\n").as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(text: &[u8]) -> Vec<Exported> {
        parse_export_p(text)
    }

    #[test]
    fn busybox_and_dash_forms() {
        // What busybox sh 1.35 prints for X=$'multi\nline it\'s $x "q" \\', Y (unset), Z.
        let text = b"export X='multi\nline it'\"'\"'s $x \"q\" \\\\'\nexport Y\nexport Z='plain'\n";
        assert_eq!(
            one(text),
            vec![
                ("X".into(), Some(b"multi\nline it's $x \"q\" \\\\".to_vec())),
                ("Y".into(), None),
                ("Z".into(), Some(b"plain".to_vec())),
            ]
        );
    }

    #[test]
    fn other_quotings_and_noise() {
        let text = b"junk line\nexport A=bare\nexport B=\"d\\\"q\\$\"\nexport C=$'a\\nb\\x41\\101\\''\n  export D=''\nexport 1bad=x\nexport E='x'y\"z\"\n";
        assert_eq!(
            one(text),
            vec![
                ("A".into(), Some(b"bare".to_vec())),
                ("B".into(), Some(b"d\"q$".to_vec())),
                ("C".into(), Some(b"a\nbAA'".to_vec())),
                ("D".into(), Some(Vec::new())),
                ("E".into(), Some(b"xyz".to_vec())),
            ]
        );
        assert_eq!(one(b"export U='never closed\n"), vec![]);
        assert_eq!(one(b""), vec![]);
    }

    #[test]
    fn declared_scalars() {
        assert_eq!(
            declared_scalar(b"declare -x P=$'a\\nb\\''"),
            Some(("P".into(), true, Some(b"a\nb'".to_vec())))
        );
        assert_eq!(
            declared_scalar(b"declare -- v=\"x \\\"y\\\"\""),
            Some(("v".into(), false, Some(b"x \"y\"".to_vec())))
        );
        assert_eq!(
            declared_scalar(b"declare -x U"),
            Some(("U".into(), true, None))
        );
        assert_eq!(declared_scalar(b"declare -a arr=([0]=\"1\")"), None);
        assert_eq!(declared_scalar(b"declare -x 9=1"), None);
    }

    #[test]
    fn restore_lines() {
        let vars = [
            declare_exported("E", Some(b"it's")),
            declare_exported("U", None),
            b"declare -- p=$'v'".to_vec(),
            b"declare -a arr=([0]=\"1\")".to_vec(),
        ];
        let mut out = Vec::new();
        restore_vars(vars.iter(), &["GONE"], &mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "unset GONE 2>/dev/null\nE='it'\\''s'\nexport E\nexport U\np='v'\n"
        );
    }

    proptest! {
        #[test]
        fn quoted_values_parse_back(
            values in prop::collection::vec(prop::collection::vec(1u8.., 0..40), 0..6),
        ) {
            let mut text = Vec::new();
            for (i, v) in values.iter().enumerate() {
                text.extend(format!("export V{i}=").as_bytes());
                text.extend(sh_quote(v));
                text.push(b'\n');
            }
            let parsed = parse_export_p(&text);
            prop_assert_eq!(parsed.len(), values.len());
            for ((name, value), (i, v)) in parsed.iter().zip(values.iter().enumerate()) {
                prop_assert_eq!(name, &format!("V{i}"));
                prop_assert_eq!(value.as_ref(), Some(v));
            }
        }

        #[test]
        fn declare_texts_round_trip(name in "[A-Za-z_][A-Za-z0-9_]{0,8}", v in prop::collection::vec(1u8.., 0..60)) {
            let text = declare_exported(&name, Some(&v));
            prop_assert_eq!(declared_scalar(&text), Some((name, true, Some(v))));
        }

        #[test]
        fn never_panics(data in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_export_p(&data);
            let _ = declared_scalar(&data);
            let mut e = b"export A=".to_vec();
            e.extend(&data);
            let _ = parse_export_p(&e);
        }
    }
}

/// Values through a real busybox sh: set from our restore lines, printed by its
/// `export -p`, parsed back unchanged. Skipped (with a note) without busybox.
#[cfg(test)]
mod busybox_tests {
    use super::*;
    use proptest::prelude::*;

    fn busybox_export_p(script: &[u8]) -> Option<Vec<u8>> {
        use std::io::Write;
        let mut child = std::process::Command::new("busybox")
            .args(["sh", "-s"])
            .env_clear()
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        child.stdin.take()?.write_all(script).ok()?;
        Some(child.wait_with_output().ok()?.stdout)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn busybox_round_trip(values in prop::collection::vec(prop::collection::vec(1u8.., 0..30), 1..4)) {
            let vars: Vec<Vec<u8>> = values
                .iter()
                .enumerate()
                .map(|(i, v)| declare_exported(&format!("V{i}"), Some(v)))
                .collect();
            let mut script = Vec::new();
            restore_vars(vars.iter(), &[], &mut script);
            script.extend(b"export -p\n");
            let Some(out) = busybox_export_p(&script) else {
                eprintln!("busybox not installed: busybox_round_trip skipped");
                return Ok(());
            };
            let parsed: Vec<Exported> = parse_export_p(&out)
                .into_iter()
                .filter(|(n, _)| n.starts_with('V'))
                .collect();
            let want: Vec<Exported> = values
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("V{i}"), Some(v.clone())))
                .collect();
            prop_assert_eq!(parsed, want);
        }
    }
}
