//! Completion and inspection, answered by the target's own shell in the cell's context
//! (functions, aliases and unexported variables of earlier cells included).

use std::time::Duration;

use crate::context::Context;
use crate::context::script::{HELPER_COMMAND, ansi_c_quote, helper_script};
use crate::target::Target;

const HELPER_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_MATCHES: usize = 500;

/// Characters that end a word for completion (besides unescaped white space).
const WORD_BREAKS: &[char] = &[';', '|', '&', '(', ')', '<', '>', '`', '"', '\'', '='];

/// The word being completed: its start (byte offset) and whether it stands where a
/// command name goes.
#[derive(Debug, PartialEq, Eq)]
pub struct Word<'a> {
    pub start: usize,
    pub text: &'a str,
    pub command_position: bool,
}

/// Byte offset of a cursor given in Unicode code points (as Jupyter counts).
pub fn byte_offset(code: &str, cursor_pos: usize) -> usize {
    code.char_indices()
        .nth(cursor_pos)
        .map(|(i, _)| i)
        .unwrap_or(code.len())
}

pub fn word_before(code: &str, cursor: usize) -> Word<'_> {
    let before = &code[..cursor];
    let mut start = cursor;
    let mut chars = before.char_indices().rev().peekable();
    while let Some((i, c)) = chars.next() {
        let escaped = chars.peek().is_some_and(|&(_, p)| p == '\\');
        if (c.is_whitespace() || WORD_BREAKS.contains(&c)) && !escaped {
            break;
        }
        start = i;
    }
    let head = before[..start].trim_end_matches([' ', '\t']);
    let command_position = head.is_empty()
        || head.ends_with(['\n', ';', '|', '&', '(', '{', '`'])
        || head.ends_with("$(")
        || [
            "then", "do", "else", "sudo", "time", "exec", "!", "if", "while", "until", "xargs",
            "env",
        ]
        .iter()
        .any(|k| {
            head == *k || head.ends_with(&format!(" {k}")) || head.ends_with(&format!("\n{k}"))
        });
    Word {
        start,
        text: &before[start..],
        command_position,
    }
}

/// The bash code listing completions for `word`, one per line.
fn completion_body(word: &Word<'_>) -> (String, &'static str) {
    if let Some(var) = word
        .text
        .strip_prefix("${")
        .or_else(|| word.text.strip_prefix('$'))
    {
        let prefix = if word.text.starts_with("${") {
            "${"
        } else {
            "$"
        };
        let q = String::from_utf8_lossy(&ansi_c_quote(var.as_bytes())).into_owned();
        return (format!("compgen -v -- {q}"), prefix);
    }
    let unescaped: String = {
        let mut s = String::new();
        let mut esc = false;
        for c in word.text.chars() {
            if c == '\\' && !esc {
                esc = true;
                continue;
            }
            esc = false;
            s.push(c);
        }
        s
    };
    let q = String::from_utf8_lossy(&ansi_c_quote(unescaped.as_bytes())).into_owned();
    if word.command_position && !unescaped.contains('/') {
        (
            format!("compgen -A function -A alias -A builtin -A keyword -c -- {q} | sort -u"),
            "",
        )
    } else {
        (
            format!(
                "compgen -f -- {q} | while IFS= read -r m; do if [ -d \"$m\" ]; then printf '%q/\\n' \"$m\"; else printf '%q\\n' \"$m\"; fi; done"
            ),
            "",
        )
    }
}

pub struct Completion {
    pub matches: Vec<String>,
    /// Code point offsets, as the protocol wants them.
    pub cursor_start: usize,
    pub cursor_end: usize,
}

pub async fn complete(
    target: &dyn Target,
    ctx: &Context,
    code: &str,
    cursor_pos: usize,
) -> Completion {
    let cursor = byte_offset(code, cursor_pos);
    let word = word_before(code, cursor);
    let cursor_start = code[..word.start].chars().count();
    let mut completion = Completion {
        matches: Vec::new(),
        cursor_start,
        cursor_end: cursor_pos,
    };
    let (body, prefix) = completion_body(&word);
    let script = helper_script(ctx, &body);
    let Ok(Ok(out)) =
        tokio::time::timeout(HELPER_TIMEOUT, target.exec(HELPER_COMMAND, script)).await
    else {
        return completion;
    };
    let mut matches: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            // printf %q writes '' for an empty string and quotes ~; keep it readable.
            let l = l.replace("\\~", "~");
            format!("{prefix}{l}")
        })
        .collect();
    matches.sort();
    matches.dedup();
    matches.truncate(MAX_MATCHES);
    completion.matches = matches;
    completion
}

/// The word under the cursor (extending both ways), for inspection.
pub fn word_at(code: &str, cursor_pos: usize) -> &str {
    let cursor = byte_offset(code, cursor_pos);
    let is_word = |c: char| {
        !(c.is_whitespace() || WORD_BREAKS.contains(&c) || c == '$' || c == '{' || c == '}')
    };
    let start = code[..cursor]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_word(c))
        .last()
        .map(|(i, _)| i)
        .unwrap_or(cursor);
    let end = code[cursor..]
        .char_indices()
        .find(|&(_, c)| !is_word(c))
        .map(|(i, _)| cursor + i)
        .unwrap_or(code.len());
    &code[start..end]
}

/// What `type` says about a word, and `help` (builtins, keywords) or `whatis` (files).
pub async fn inspect(target: &dyn Target, ctx: &Context, word: &str) -> Option<String> {
    if word.is_empty() {
        return None;
    }
    let q = String::from_utf8_lossy(&ansi_c_quote(word.as_bytes())).into_owned();
    let body = format!(
        "w={q}; type -- \"$w\" 2>/dev/null | head -n 60 || exit 1; case $(type -t -- \"$w\") in builtin|keyword) echo; help -- \"$w\" 2>/dev/null | head -n 40;; file) echo; whatis -- \"$w\" 2>/dev/null | head -n 5;; esac; exit 0"
    );
    let out = tokio::time::timeout(
        HELPER_TIMEOUT,
        target.exec(HELPER_COMMAND, helper_script(ctx, &body)),
    )
    .await
    .ok()?
    .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
    (out.exit.success() && !text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_positions() {
        let w = word_before("ech", 3);
        assert_eq!((w.start, w.text, w.command_position), (0, "ech", true));
        let w = word_before("ls /tmp/sp\\ te", 14);
        assert_eq!((w.text, w.command_position), ("/tmp/sp\\ te", false));
        let w = word_before("echo hi; gre", 12);
        assert!(w.command_position);
        let w = word_before("echo $HO", 8);
        assert_eq!(w.text, "$HO");
        let w = word_before("sudo ap", 7);
        assert!(w.command_position);
    }

    #[test]
    fn cursor_counts_code_points() {
        let code = "echo é; ech";
        assert_eq!(byte_offset(code, 11), code.len());
        let w = word_before(code, byte_offset(code, 11));
        assert_eq!(code[..w.start].chars().count(), 8);
    }

    #[test]
    fn word_under_cursor() {
        assert_eq!(word_at("echo hi", 2), "echo");
        assert_eq!(word_at("x=1; ls -l", 6), "ls");
    }
}
