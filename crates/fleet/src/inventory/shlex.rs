//! How Ansible's INI parser reads the words of a host line and the values of variables:
//! Python's `shlex.split(line, comments=True)` (POSIX mode), then `ast.literal_eval` on
//! each value. Only string literals matter here (every value is kept as text): a value
//! that is one quoted Python string loses its quotes and has its escapes decoded; any other
//! value (`22`, `True`, `[1, 2]`) is kept as written.

/// Why a line cannot be split, in shlex's words.
pub const NO_CLOSING_QUOTE: &str = "no closing quotation";
pub const NO_ESCAPED_CHARACTER: &str = "a backslash at the end of the line escapes nothing";

/// The words of `line`: whitespace separates them, quotes and backslashes as in POSIX sh,
/// `#` starts a comment (even inside a word, as in shlex), except inside quotes.
pub fn split(line: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word = String::new();
    // Whether the current word exists (`''` is an empty word).
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' => break,
            '\\' => {
                word.push(chars.next().ok_or(NO_ESCAPED_CHARACTER)?);
                in_word = true;
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next().ok_or(NO_CLOSING_QUOTE)? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next().ok_or(NO_CLOSING_QUOTE)? {
                        '"' => break,
                        '\\' => match chars.next().ok_or(NO_CLOSING_QUOTE)? {
                            // Inside double quotes a backslash escapes only `"` and `\`.
                            c @ ('"' | '\\') => word.push(c),
                            c => {
                                word.push('\\');
                                word.push(c);
                            }
                        },
                        c => word.push(c),
                    }
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The value as Ansible keeps it (see the module doc): a Python string literal decoded,
/// anything else as written.
pub fn value(text: &str) -> String {
    python_string(text).unwrap_or_else(|| text.to_owned())
}

/// `'a b'` or `"a\tb"` → the string; `None` when `text` is not exactly one such literal
/// (prefixes like `r''` and triple quotes are left as written).
fn python_string(text: &str) -> Option<String> {
    let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let body = text.strip_prefix(quote)?.strip_suffix(quote)?;
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == quote {
            // An unescaped quote inside: two literals or garbage, not one string.
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            '\n' => {}
            // Python keeps the backslash of an escape it does not know.
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{split, value};

    #[test]
    fn words_split_as_shlex_does() {
        assert_eq!(
            split(r#"web1 a=1 b="x y" c='p q' # comment"#).unwrap(),
            ["web1", "a=1", "b=x y", "c=p q"]
        );
        assert_eq!(
            split(r#"h x=a\ b y="q\"z\n""#).unwrap(),
            ["h", "x=a b", r#"y=q"z\n"#]
        );
        assert_eq!(split("h a#b").unwrap(), ["h", "a"]);
        assert_eq!(split("h x=''").unwrap(), ["h", "x="]);
        assert!(split("h x='open").is_err());
        assert!(split("h x=\\").is_err());
    }

    #[test]
    fn values_lose_python_quotes_only() {
        // Ansible's own example: mysecret="'03#pa33w0rd'" keeps the inner string.
        let words = split(r#"tomcat3 mysecret="'03#pa33w0rd'""#).unwrap();
        assert_eq!(value(words[1].split_once('=').unwrap().1), "03#pa33w0rd");
        assert_eq!(value("\"a\\tb\""), "a\tb");
        assert_eq!(value("22"), "22");
        assert_eq!(value("'a' 'b'"), "'a' 'b'");
        assert_eq!(value("'"), "'");
        assert_eq!(value("FALSE"), "FALSE");
    }
}
