//! Reading a magic's arguments: words split as the shell splits them (no expansion), `{NAME}`
//! replaced by its `%param` value, and the checks every magic shares, each failing with the
//! magic's usage line.

use std::collections::BTreeMap;

pub use context::quote::is_name;

use crate::failure::MagicError;

/// The arguments of one magic, and how to report their mistakes.
pub struct Args<'a> {
    pub name: &'static str,
    pub usage: &'static str,
    pub args: &'a str,
}

impl Args<'_> {
    pub fn usage(&self, detail: impl Into<String>) -> MagicError {
        MagicError::Usage {
            magic: self.name,
            usage: self.usage,
            detail: detail.into(),
        }
    }

    pub fn words(&self) -> Result<Vec<String>, MagicError> {
        split_words(self.args).map_err(|()| self.usage("has a quote that is not closed"))
    }

    pub fn none(&self) -> Result<(), MagicError> {
        if self.args.is_empty() {
            Ok(())
        } else {
            Err(self.usage(format!("takes no arguments (got {:?})", self.args)))
        }
    }

    pub fn optional_word(&self) -> Result<Option<String>, MagicError> {
        let mut words = self.words()?;
        match words.len() {
            0 => Ok(None),
            1 => Ok(words.pop()),
            n => Err(self.usage(format!("takes at most one argument, got {n}"))),
        }
    }

    /// The single argument, or the error `detail` when there is none or more.
    pub fn one_word(&self, detail: &str) -> Result<String, MagicError> {
        let mut words = self.words()?;
        match words.len() {
            1 => Ok(words.pop().unwrap_or_default()),
            0 => Err(self.usage(detail)),
            _ => Err(self.usage(format!("{detail} (got {:?})", self.args))),
        }
    }

    /// The rest of the line as one value: unquoted when it is a single shell word
    /// (`'a b'`, `a\ b`), as written otherwise (`a b`, `don't`).
    pub fn rest_value(text: &str) -> String {
        match split_words(text) {
            Ok(mut words) if words.len() == 1 => words.pop().unwrap_or_default(),
            _ => text.to_string(),
        }
    }

    pub fn on_off(&self) -> Result<bool, MagicError> {
        let word = self.one_word("takes on or off")?;
        on_off(&word).ok_or_else(|| self.usage(format!("takes on or off (got {word:?})")))
    }

    pub fn two_paths(&self, what: &str) -> Result<[String; 2], MagicError> {
        let words = self.words()?;
        match <[String; 2]>::try_from(words) {
            Ok(paths) if paths.iter().all(|p| !p.is_empty()) => Ok(paths),
            Ok(_) => Err(self.usage(format!("needs {what}, not empty paths"))),
            Err(words) => Err(self.usage(format!("needs {what}, got {} arguments", words.len()))),
        }
    }

    /// The first word and the rest of the line after it, trimmed.
    pub fn split_first(&self) -> (&str, &str) {
        match self.args.find(char::is_whitespace) {
            Some(n) => (&self.args[..n], self.args[n..].trim()),
            None => (self.args, ""),
        }
    }
}

pub fn on_off(word: &str) -> Option<bool> {
    match word.to_ascii_lowercase().as_str() {
        "on" => Some(true),
        "off" => Some(false),
        _ => None,
    }
}

/// Replaces `{NAME}` by its `%param` value; `{{` and `}}` are literal braces, and an unknown
/// `{NAME}` stays as written.
pub fn substitute(text: &str, params: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(n) = rest.find(['{', '}']) {
        out.push_str(&rest[..n]);
        let tail = &rest[n..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if let (Some(inner), Some(close)) = (tail.strip_prefix('{'), tail.find('}')) {
            let name = &inner[..close - 1];
            if is_name(name)
                && let Some(value) = params.get(name)
            {
                out.push_str(value);
                rest = &tail[close + 1..];
                continue;
            }
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

/// A user name as `useradd` accepts it (and nothing a shell or sudo would read otherwise).
pub fn is_user_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 32
        && !text.starts_with('-')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'))
}

/// Splits `text` into words as the shell does, without expansions. `Err` on an open quote.
pub fn split_words(text: &str) -> Result<Vec<String>, ()> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        // Inside double quotes a backslash quotes only these (bash manual,
                        // "Double Quotes").
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(()),
                        },
                        Some(c) => word.push(c),
                        None => return Err(()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}
