//! Assignments before any login: a cell of plain `NAME=VALUE` lines that runs while no
//! target is logged in (papermill's injected parameters, or a notebook's `parameters` cell,
//! put first because the host is one of them). Pure: it reads the cell, nothing else.
//!
//! Such a cell is kept, not run: its variables are set (not exported, as the assignments
//! would set them) in the context of every target logged in after it, and `{NAME}` in a
//! magic falls back to them, so `%login {HOST}` takes papermill's value.
//!
//! What papermill writes for a bash kernel (its `BashTranslator`): `# Parameters`, then
//! `NAME=VALUE` with VALUE quoted by `shlex.quote` (`'it'"'"'s'`), `true`/`false` for
//! booleans, nothing after `=` for None. Lists become arrays (`NAME=(a b)`), which are not
//! taken here: anything but a plain word makes the cell an ordinary one (and, with no
//! target, the usual "log in first" error).

use context::quote::is_name;

/// The assignments of `code`, in order, if the cell is only assignments, comments and blank
/// lines (at least one assignment); `None` otherwise.
pub fn assignments(code: &str) -> Option<Vec<(String, String)>> {
    let mut found = Vec::new();
    for line in code.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, word) = line.split_once('=')?;
        if !is_name(name) {
            return None;
        }
        found.push((name.to_owned(), unquote(word)?));
    }
    (!found.is_empty()).then_some(found)
}

/// One shell word with no expansion in it: bare characters, `'single'`, `"double"` (with
/// `\"`, `\\`, `\$`, `` \` `` escapes) and `\x`, concatenated. `None` for anything the shell
/// would expand, split or treat as syntax.
fn unquote(word: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => loop {
                match chars.next()? {
                    '\'' => break,
                    c => out.push(c),
                }
            },
            '"' => loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => match chars.next()? {
                        c @ ('"' | '\\' | '$' | '`') => out.push(c),
                        // A backslash-newline cannot occur: lines are read one by one.
                        c => {
                            out.push('\\');
                            out.push(c);
                        }
                    },
                    '$' | '`' => return None,
                    c => out.push(c),
                }
            },
            '\\' => out.push(chars.next()?),
            c if c.is_whitespace() || "$`;&|<>(){}*?[]~#!".contains(c) => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `shlex.quote` writes (papermill quotes string parameters with it).
    fn shlex_quote(s: &str) -> String {
        if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c))
        {
            return s.to_owned();
        }
        format!("'{}'", s.replace('\'', "'\"'\"'"))
    }

    #[test]
    fn papermill_cells() {
        let cell = "# Parameters\nHOST=web1\nGREETING='hello world'\nQUOTE='it'\"'\"'s'\nDRY=true\nNONE=\n";
        assert_eq!(
            assignments(cell),
            Some(vec![
                ("HOST".into(), "web1".into()),
                ("GREETING".into(), "hello world".into()),
                ("QUOTE".into(), "it's".into()),
                ("DRY".into(), "true".into()),
                ("NONE".into(), String::new()),
            ])
        );
        assert_eq!(
            assignments("A=\"x \\\"y\\\" \\$z\"\n\n  B=a\\ b"),
            Some(vec![
                ("A".into(), "x \"y\" $z".into()),
                ("B".into(), "a b".into())
            ])
        );
    }

    #[test]
    fn anything_else_is_an_ordinary_cell() {
        for cell in [
            "",
            "# only a comment",
            "echo hi",
            "A=1\necho $A",
            "A=$(id)",
            "A=\"$HOME\"",
            "A=`id`",
            "A=1 B=2",
            "A=1; rm x",
            "LIST=(a b)",
            "1A=x",
            "A='unclosed",
            "A=x*",
            "A+=x",
            "export A=1",
        ] {
            assert_eq!(assignments(cell), None, "{cell:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_quoted_as_papermill_does_comes_back(value in "[^\\x00\\n\\r]*") {
            let cell = format!("# Parameters\nV={}\n", shlex_quote(&value));
            prop_assert_eq!(assignments(&cell), Some(vec![("V".to_string(), value)]));
        }

        #[test]
        fn never_panics(code in proptest::prelude::any::<String>()) {
            let _ = assignments(&code);
        }
    }
}
