//! Completion and inspection, answered by the target's own shell in the cell's context
//! (functions, aliases and unexported variables of earlier cells included).
//!
//! The shell is a helper kept per host (`Helper`): started at the first request, it
//! answers every later one over its stdin and stdout, so a completion costs one round
//! trip and a `compgen`, not a new process (over SSH a new channel) fed the whole
//! context (issue 6: completion within 10 ms, also under load).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::{Instant, timeout_at};

use context::quote::ansi_c_quote;
use context::script::restore;
use context::{Context, Dialect};
use targets::{PipeProcess, Target};

use crate::nonce::new_nonce;

/// The longest any request waits, the helper's start and the queue behind other
/// requests included; a helper that does not answer in time is killed.
const HELPER_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_MATCHES: usize = 500;
/// More output than any answer needs means a runaway helper.
const MAX_ANSWER: usize = 16 << 20;

/// bash without startup files (quick, and nothing in them can print or prompt), reading
/// requests from its stdin. The argument names it in `ps`, apart from the cells' shells.
pub const HELPER_COMMAND: &str = "exec bash --noprofile --norc -s sshpty-complete";

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

fn quoted(word: &str) -> String {
    String::from_utf8_lossy(&ansi_c_quote(word.as_bytes())).into_owned()
}

/// What a word completes to, and the bash that lists it (builtins only: a request
/// starts no process, no pipe, no subshell).
#[derive(Debug, PartialEq, Eq)]
enum Query {
    /// Variable names, after `$` or `${` (the prefix put back before each match).
    Variables {
        prefix: &'static str,
        body: String,
    },
    Commands {
        body: String,
    },
    /// Paths: `compgen -f`, a separator line, then `compgen -d` (which of them are
    /// directories, for the `/`); quoting is added here, as `printf %q` would.
    Paths {
        body: String,
        separator: String,
    },
}

fn query(word: &Word<'_>) -> Query {
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
        let body = format!("builtin compgen -v -- {}", quoted(var));
        return Query::Variables { prefix, body };
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
    let q = quoted(&unescaped);
    if word.command_position && !unescaped.contains('/') {
        let body = format!("builtin compgen -A function -A alias -A builtin -A keyword -c -- {q}");
        return Query::Commands { body };
    }
    // No file name holds a fresh random word.
    let separator = new_nonce();
    let body = format!(
        "builtin compgen -f -- {q}; builtin printf '%s\\n' {separator}; builtin compgen -d -- {q}"
    );
    Query::Paths { body, separator }
}

/// A file name as `printf %q` writes it (bash's `sh_backslash_quote`), but for a leading
/// `~`, left as typed so the shell expands it.
fn shell_quote(name: &str) -> String {
    if name.is_empty() {
        return "''".into();
    }
    if name.chars().any(|c| c.is_control()) {
        return quoted(name);
    }
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.char_indices() {
        if " \t\n'\"\\|&;()<>!{}*[]?^$`,".contains(c) || (c == '#' && i == 0) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The matches in an answer, sorted, without duplicates (a name can be a function and a
/// command), at most MAX_MATCHES.
fn matches_of(query: &Query, output: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(output);
    let lines = text.lines().filter(|l| !l.is_empty());
    let mut matches: Vec<String> = match query {
        Query::Variables { prefix, .. } => lines.map(|l| format!("{prefix}{l}")).collect(),
        Query::Commands { .. } => lines.map(str::to_owned).collect(),
        Query::Paths { separator, .. } => {
            let mut lines = lines;
            let files: Vec<&str> = lines.by_ref().take_while(|l| l != separator).collect();
            let dirs: std::collections::HashSet<&str> = lines.collect();
            files
                .into_iter()
                .map(|f| {
                    let slash = if dirs.contains(f) { "/" } else { "" };
                    format!("{}{slash}", shell_quote(f))
                })
                .collect()
        }
    };
    matches.sort();
    matches.dedup();
    matches.truncate(MAX_MATCHES);
    matches
}

pub struct Completion {
    pub matches: Vec<String>,
    /// Code point offsets, as the protocol wants them.
    pub cursor_start: usize,
    pub cursor_end: usize,
}

pub async fn complete(
    helper: &Helper,
    target: &Arc<dyn Target>,
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
    let query = query(&word);
    let body = match &query {
        Query::Variables { body, .. } | Query::Commands { body } | Query::Paths { body, .. } => {
            body
        }
    };
    if let Some(answer) = helper.ask(target, ctx, body).await {
        completion.matches = matches_of(&query, &answer.output);
    }
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
/// Inspection is rare: its pipes to `head` may start processes.
pub async fn inspect(
    helper: &Helper,
    target: &Arc<dyn Target>,
    ctx: &Context,
    word: &str,
) -> Option<String> {
    if word.is_empty() {
        return None;
    }
    let body = format!(
        "__sshpty_w={}; if builtin type -- \"$__sshpty_w\" >/dev/null 2>&1; then builtin type -- \"$__sshpty_w\" 2>/dev/null | head -n 60; case $(builtin type -t -- \"$__sshpty_w\") in builtin|keyword) echo; builtin help -- \"$__sshpty_w\" 2>/dev/null | head -n 40;; file) echo; whatis -- \"$__sshpty_w\" 2>/dev/null | head -n 5;; esac; true; else false; fi",
        quoted(word)
    );
    let answer = helper.ask(target, ctx, &body).await?;
    let text = String::from_utf8_lossy(&answer.output)
        .trim_end()
        .to_owned();
    (answer.status == 0 && !text.is_empty()).then_some(text)
}

/// The completion helper of one logged-in host. Kept in the host's entry, so it goes
/// with it: at `%logout`, at a reconnection (a new entry) and at shutdown, dropping it
/// ends the process.
#[derive(Default)]
pub struct Helper {
    /// Requests take turns: completions arrive concurrently, also while a cell runs.
    running: tokio::sync::Mutex<Option<Running>>,
}

/// The output of one request and the status of its last command.
struct Answer {
    output: Vec<u8>,
    status: i32,
}

/// Why a request got no answer.
enum Broken {
    /// The helper ended (killed on the host, say): worth one new start.
    Dead,
    /// It printed more than any answer holds: not worth another try.
    Runaway,
}

struct Running {
    process: PipeProcess,
    /// bash's pid (`$$`): over SSH, closing the channel does not end a helper stuck in a
    /// command, so a helper that does not answer is killed by pid (with its group).
    pid: u32,
    /// Output read but not yet part of an answer.
    buf: Vec<u8>,
    /// The context the helper holds now: the `restore` script, and the names it defined,
    /// removed before the next context is restored.
    restored: Option<(Vec<u8>, Names)>,
}

#[derive(Default)]
struct Names {
    functions: Vec<String>,
    aliases: bool,
    vars: Vec<String>,
}

impl Names {
    fn of(ctx: &Context) -> Names {
        let keys = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect();
        Names {
            functions: keys(&ctx.functions),
            aliases: !ctx.aliases.is_empty(),
            vars: keys(&ctx.vars),
        }
    }
}

impl Helper {
    /// Run `body` in the helper, in `ctx`; None if the helper could not answer in time
    /// (then it is killed; the next request starts a new one).
    async fn ask(&self, target: &Arc<dyn Target>, ctx: &Context, body: &str) -> Option<Answer> {
        // Hosts without bash (sh dialect) have no helper: no completion there.
        if ctx.dialect == Dialect::Sh {
            return None;
        }
        let deadline = Instant::now() + HELPER_TIMEOUT;
        let mut slot = timeout_at(deadline, self.running.lock()).await.ok()?;
        loop {
            let fresh = slot.is_none();
            if fresh {
                let started = timeout_at(deadline, Running::start(target.as_ref())).await;
                *slot = Some(started.ok()??);
            }
            let running = slot.as_mut()?;
            match timeout_at(deadline, running.ask(ctx, body)).await {
                Ok(Ok(answer)) => return Some(answer),
                // It died since the last request: one new start.
                Ok(Err(Broken::Dead)) if !fresh => *slot = None,
                _ => {
                    if let Some(stuck) = slot.take() {
                        stuck.kill(target);
                    }
                    return None;
                }
            }
        }
    }
}

impl Running {
    async fn start(target: &dyn Target) -> Option<Running> {
        let process = target.spawn_pipe(HELPER_COMMAND).await.ok()?;
        let mut running = Running {
            process,
            pid: 0,
            buf: Vec::new(),
            restored: None,
        };
        // The first answer says bash runs (a host without it answers nothing) and its pid.
        running.exchange(b"", ":").await.ok()?;
        Some(running)
    }

    /// A request in `ctx`: the context is sent only when it changed since the last one.
    async fn ask(&mut self, ctx: &Context, body: &str) -> Result<Answer, Broken> {
        let script = restore(ctx);
        let mut prelude = Vec::new();
        if self.restored.as_ref().is_none_or(|(s, _)| *s != script) {
            let names = Names::of(ctx);
            let mut code = Vec::with_capacity(script.len() + 256);
            if let Some((_, old)) = &self.restored {
                code.extend(forget(old, &names));
            }
            code.extend_from_slice(&script);
            // Inside `eval`, a part that does not parse fails alone and cannot leave bash
            // waiting for the rest of a quote, which would swallow the request.
            prelude.extend_from_slice(b"eval ");
            prelude.extend(ansi_c_quote(&code));
            prelude.push(b'\n');
            self.restored = Some((script, names));
        }
        self.exchange(&prelude, body).await
    }

    /// Send `prelude` and `body`, and read the answer. The answer is framed by markers
    /// holding a fresh nonce, so nothing the context or a file name prints can end it
    /// early; `body` reads /dev/null so nothing in it can eat the next request.
    async fn exchange(&mut self, prelude: &[u8], body: &str) -> Result<Answer, Broken> {
        let nonce = new_nonce();
        let mut script = Vec::with_capacity(prelude.len() + body.len() + 160);
        script.extend_from_slice(prelude);
        script.extend(
            format!(
                "builtin printf '\\037%s\\n' {nonce}\n{{ {body}\n}} </dev/null\nbuiltin printf '\\n\\037%s %d %d\\n' {nonce} \"$?\" \"$$\"\n"
            )
            .as_bytes(),
        );
        self.process
            .input
            .send(Bytes::from(script))
            .map_err(|_| Broken::Dead)?;
        let begin = format!("\x1f{nonce}\n");
        let end = format!("\n\x1f{nonce} ");
        loop {
            if let Some((answer, used)) = parse_answer(&self.buf, &begin, &end) {
                self.pid = answer.1;
                self.buf.drain(..used);
                return Ok(answer.0);
            }
            if self.buf.len() > MAX_ANSWER {
                return Err(Broken::Runaway);
            }
            let chunk = self.process.output.recv().await.ok_or(Broken::Dead)?;
            self.buf.extend_from_slice(&chunk);
        }
    }

    /// Kill a helper that did not answer. Locally dropping it is enough (its group is
    /// killed); over SSH the channel's end leaves a stuck process behind.
    fn kill(self, target: &Arc<dyn Target>) {
        let pid = self.pid;
        drop(self);
        if pid == 0 {
            return;
        }
        let target = target.clone();
        tokio::spawn(async move {
            let cmd = format!("kill -KILL -- -{pid} {pid} 2>/dev/null; true");
            let _ = tokio::time::timeout(HELPER_TIMEOUT, target.exec(&cmd, Vec::new())).await;
        });
    }
}

/// bash that puts the helper back to where `restore` expects to start, as in a new
/// shell: without the functions and aliases it defined (a `cd` function, rvm's or nvm's,
/// must not run in the restore's own `cd`) and without the variables unset since.
fn forget(old: &Names, new: &Names) -> Vec<u8> {
    let mut s = Vec::new();
    let gone_vars: Vec<&String> = old.vars.iter().filter(|n| !new.vars.contains(n)).collect();
    for (command, names) in [
        (
            "builtin unset -f --",
            old.functions.iter().collect::<Vec<_>>(),
        ),
        ("builtin unset -v --", gone_vars),
    ] {
        if !names.is_empty() {
            s.extend_from_slice(command.as_bytes());
            for name in names {
                s.push(b' ');
                s.extend(ansi_c_quote(name.as_bytes()));
            }
            s.extend_from_slice(b" 2>/dev/null\n");
        }
    }
    if old.aliases {
        s.extend_from_slice(b"builtin unalias -a\n");
    }
    s
}

/// An answer in `buf`: the output between the markers, the status and pid the end
/// marker carries, and how many bytes it took; None while incomplete.
fn parse_answer(buf: &[u8], begin: &str, end: &str) -> Option<((Answer, u32), usize)> {
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let e = find(buf, end.as_bytes())?;
    let tail = &buf[e + end.len()..];
    let nl = tail.iter().position(|&b| b == b'\n')?;
    let mut fields = std::str::from_utf8(&tail[..nl]).ok()?.split(' ');
    let status = fields.next()?.parse().ok()?;
    let pid = fields.next()?.parse().ok()?;
    let b = find(&buf[..e], begin.as_bytes()).map_or(0, |i| i + begin.len());
    let output = buf[b..e].to_vec();
    Some(((Answer { output, status }, pid), e + end.len() + nl + 1))
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

    #[test]
    fn file_names_quoted_as_printf_q_does() {
        assert_eq!(shell_quote("plain-name.txt"), "plain-name.txt");
        assert_eq!(shell_quote("sp ace"), "sp\\ ace");
        assert_eq!(shell_quote("a,b(c)"), "a\\,b\\(c\\)");
        assert_eq!(shell_quote("#x#"), "\\#x#");
        assert_eq!(shell_quote("~/é x"), "~/é\\ x");
        assert_eq!(shell_quote("tab\tx"), "$'tab\\x09x'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn paths_get_a_slash_when_directories() {
        let Query::Paths { separator, .. } = query(&word_before("ls sp", 5)) else {
            panic!("not a path query");
        };
        let out = format!("sp dir\nspfile\nsp dir\n{separator}\nsp dir\n");
        let q = Query::Paths {
            body: String::new(),
            separator,
        };
        assert_eq!(matches_of(&q, out.as_bytes()), ["sp\\ dir/", "spfile"]);
        let vars = Query::Variables {
            prefix: "${",
            body: String::new(),
        };
        assert_eq!(
            matches_of(&vars, b"HOME\nHOSTNAME\n"),
            ["${HOME", "${HOSTNAME"]
        );
    }

    #[test]
    fn answers_are_framed_by_the_nonce() {
        let (begin, end) = ("\x1fN1\n", "\n\x1fN1 ");
        let buf = b"noise\x1fN1\nout\n\x1fN2 0 9\n\n\x1fN1 1 42\nnext";
        let ((answer, pid), used) = parse_answer(buf, begin, end).unwrap();
        assert_eq!(answer.output, b"out\n\x1fN2 0 9\n");
        assert_eq!((answer.status, pid), (1, 42));
        assert_eq!(&buf[used..], b"next");
        assert!(parse_answer(b"\x1fN1\nout\n\x1fN1 0", begin, end).is_none());
    }

    #[test]
    fn a_changed_context_starts_from_a_clean_helper() {
        let old = Names {
            functions: vec!["cd".into(), "f".into()],
            aliases: true,
            vars: vec!["a".into(), "b".into()],
        };
        let new = Names {
            functions: vec!["f".into()],
            aliases: false,
            vars: vec!["b".into()],
        };
        let s = String::from_utf8(forget(&old, &new)).unwrap();
        assert!(s.contains("unset -f -- $'cd' $'f' "), "{s}");
        assert!(s.contains("unset -v -- $'a' 2>"), "{s}");
        assert!(s.contains("unalias -a"), "{s}");
    }
}
