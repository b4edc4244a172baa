//! The command `%sudo password-from-command` runs on the kernel's machine, and which ones an
//! administrator's `--no-local` kernel still runs: those starting with a store command the
//! kernelspec names (`--secret-command 'pass show'`), written as plain words, and run without
//! a shell, so no `;`, `|`, `$(…)` or redirection can make them anything else. Pure: no I/O.

/// How a password command is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretCommand {
    /// `/bin/sh -c TEXT`: any kernel without `--no-local` (the user's own machine).
    Shell(String),
    /// The words as argv, no shell: what `--no-local` with `--secret-command` allows.
    Argv(Vec<String>),
}

impl SecretCommand {
    /// The program and its first word, for messages (never the whole command: a path in it
    /// may be all a reader needs to know where the secret lives).
    pub fn describe(&self) -> String {
        match self {
            SecretCommand::Shell(text) => text
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" "),
            SecretCommand::Argv(words) => {
                words.iter().take(2).cloned().collect::<Vec<_>>().join(" ")
            }
        }
    }
}

/// Why a command is refused under `--no-local`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "its administrator allowed no store command (`sshpty install --no-local --secret-command \
         'pass show'` would allow `pass show …`)"
    )]
    NoneAllowed,
    #[error(
        "it is run without a shell, so it must be plain words: {what} is shell syntax (quote it \
         with '…' if it is part of a name)"
    )]
    ShellSyntax { what: String },
    #[error("it does not start with a store command its administrator allowed: {allowed}")]
    NotAllowed { allowed: String },
}

/// The store commands a kernelspec allows under `--no-local`, each as words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedCommands {
    prefixes: Vec<Vec<String>>,
}

impl AllowedCommands {
    /// From the kernelspec's `--secret-command` values; each must itself be plain words.
    pub fn new<'a>(prefixes: impl IntoIterator<Item = &'a str>) -> Result<AllowedCommands, String> {
        let mut out = Vec::new();
        for p in prefixes {
            let words = plain_words(p).map_err(|e| {
                format!("--secret-command {p:?}: {e} is shell syntax; give the store command as plain words")
            })?;
            if words.is_empty() {
                return Err("--secret-command needs a command, such as 'pass show'".into());
            }
            out.push(words);
        }
        Ok(AllowedCommands { prefixes: out })
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    /// The prefixes as an administrator wrote them, for messages.
    pub fn listed(&self) -> String {
        self.prefixes
            .iter()
            .map(|p| format!("`{}`", p.join(" ")))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The argv `text` runs as, if it is plain words starting with an allowed prefix.
    pub fn admit(&self, text: &str) -> Result<SecretCommand, Refusal> {
        if self.prefixes.is_empty() {
            return Err(Refusal::NoneAllowed);
        }
        let words = plain_words(text).map_err(|what| Refusal::ShellSyntax { what })?;
        if self.prefixes.iter().any(|p| words.starts_with(p)) {
            Ok(SecretCommand::Argv(words))
        } else {
            Err(Refusal::NotAllowed {
                allowed: self.listed(),
            })
        }
    }
}

/// Characters a bare word may hold: nothing a POSIX shell would treat specially, so the
/// words mean the same with or without one.
fn bare(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '=' | ':' | '@' | '%' | '+' | ',')
}

/// Split `text` into words as `sh` would, accepting only bare characters and '…' quotes
/// (plus "…" without `$`, `` ` `` or `\` in them); anything else is named as shell syntax.
pub fn plain_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' | '"' => {
                let w = word.get_or_insert_with(String::new);
                let mut closed = false;
                for q in chars.by_ref() {
                    if q == c {
                        closed = true;
                        break;
                    }
                    if c == '"' && matches!(q, '$' | '`' | '\\') {
                        return Err(format!("{q:?} inside \"…\""));
                    }
                    w.push(q);
                }
                if !closed {
                    return Err(format!("an unclosed {c}"));
                }
            }
            c if bare(c) => word.get_or_insert_with(String::new).push(c),
            '\n' | '\r' => return Err("a line break".into()),
            other => return Err(format!("{other:?}")),
        }
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn allowed() -> AllowedCommands {
        AllowedCommands::new(["pass show", "vault kv get"]).unwrap()
    }

    #[test]
    fn store_commands_as_written_in_runbooks_are_admitted_as_argv() {
        assert_eq!(
            allowed().admit("pass show sshpty/ops-sudo"),
            Ok(SecretCommand::Argv(vec![
                "pass".into(),
                "show".into(),
                "sshpty/ops-sudo".into()
            ]))
        );
        assert_eq!(
            allowed().admit("vault kv get -field=password 'secret/ops/web 1'"),
            Ok(SecretCommand::Argv(
                ["vault", "kv", "get", "-field=password", "secret/ops/web 1"]
                    .map(String::from)
                    .to_vec()
            ))
        );
        assert_eq!(
            allowed().admit("pass  show\t\"a b\""),
            Ok(SecretCommand::Argv(
                ["pass", "show", "a b"].map(String::from).to_vec()
            ))
        );
    }

    #[test]
    fn anything_a_shell_would_make_more_of_is_refused() {
        for bad in [
            "pass show x; id",
            "pass show x | tee /tmp/leak",
            "pass show $(id)",
            "pass show `id`",
            "pass show x > /tmp/leak",
            "pass show x &",
            "pass show \"$HOME\"",
            "pass show x\nid",
            "pass show 'unclosed",
            "pass show *",
            "pass show ~/x",
        ] {
            assert!(
                matches!(allowed().admit(bad), Err(Refusal::ShellSyntax { .. })),
                "{bad:?}: {:?}",
                allowed().admit(bad)
            );
        }
    }

    #[test]
    fn only_the_allowed_prefixes_word_by_word() {
        for bad in [
            "cat /etc/shadow",
            "pass",
            "pass insert x",
            "passx show y",
            "vault kv put x",
        ] {
            assert!(
                matches!(allowed().admit(bad), Err(Refusal::NotAllowed { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(
            AllowedCommands::default().admit("pass show x"),
            Err(Refusal::NoneAllowed)
        );
        assert!(AllowedCommands::new(["pass; id"]).is_err());
        assert!(AllowedCommands::new([""]).is_err());
        let msg = allowed().admit("cat x").unwrap_err().to_string();
        assert!(msg.contains("`pass show`, `vault kv get`"), "{msg}");
    }

    proptest! {
        /// What plain_words accepts, sh splits the same way: rebuilding the words with '…'
        /// quoting gives the same words back, and no accepted text holds a character sh
        /// treats specially outside quotes.
        #[test]
        fn words_round_trip_through_single_quotes(words in proptest::collection::vec("[a-z0-9 ./$;|-]{0,8}", 0..5)) {
            let text = words
                .iter()
                .map(|w| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(" ");
            prop_assert_eq!(plain_words(&text).unwrap(), words);
        }

        #[test]
        fn never_panics_and_unquoted_specials_are_refused(text in "\\PC{0,40}") {
            if let Ok(words) = plain_words(&text) {
                let outside_quotes: String = {
                    let mut out = String::new();
                    let mut quote = None;
                    for c in text.chars() {
                        match quote {
                            Some(q) if c == q => quote = None,
                            Some(_) => {}
                            None if c == '\'' || c == '"' => quote = Some(c),
                            None => out.push(c),
                        }
                    }
                    out
                };
                prop_assert!(!outside_quotes.contains([';', '|', '&', '$', '`', '>', '<', '(', ')', '*', '?', '~', '\\']));
                prop_assert!(words.iter().all(|w| !w.is_empty() || text.contains("''") || text.contains("\"\"")));
            }
        }
    }
}
