//! Magic lines: `%login`, `%status`, `%strict`, ... parsed into [`Magic`] values. Running them
//! is the kernel's job; this module only reads the text and explains mistakes.
//!
//! Which lines are magics:
//! - A magic line starts with `%` in its first column; one magic per line.
//! - Magics come first in a cell. Blank lines and shell comment lines (`# note`) may come before
//!   and between them. The first other line ends the magics: it and everything after it is the
//!   cell's shell text, run after the magics. A `%` line after shell text is shell text (bash
//!   reads `%1` as a job), and so is an indented `  %login`.
//! - Shell lines that merely contain `%` (`printf '%s\n' x`) are never magics.
//! - `%%` cell magics are not supported: `%%bash` is an unknown magic.
//!
//! Arguments are split into words as the shell does (single and double quotes, backslash), with
//! no expansion: `$HOME` stays as written, and `#` does not start a comment. Before that,
//! `{NAME}` is replaced by the value `%param NAME VALUE` gave (the original SSH Kernel's
//! notebooks rely on it); an unknown `{NAME}` stays as written, `{{` and `}}` are literal
//! braces. A `%param` applies to the magic lines after it in the same cell too.

use std::collections::BTreeMap;

/// One magic line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Magic {
    /// `%login [-p PORT] [-i KEY]... [-J JUMP] [-F CONFIG] [-o Key=Value]... [user@]HOST | local`
    Login { target: LoginArgs },
    /// `%logout [HOST]`
    Logout { host: Option<String> },
    /// `%status`
    Status,
    /// `%hosts`
    Hosts,
    /// `%strict on|off`
    Strict(bool),
    /// `%timeout SECONDS|off`; `None` is off.
    Timeout(Option<u64>),
    /// `%header on|off`
    Header(bool),
    /// `%help`, `%lsmagic`
    Help,
    /// `%param NAME VALUE`
    Param { name: String, value: String },
    /// `%term COLSxROWS`
    Term { cols: u16, rows: u16 },
    /// `%output-limit SIZE|off`, in bytes; `None` is off.
    OutputLimit(Option<u64>),
    /// `%sudo ...`
    Sudo(SudoCommand),
    /// `%become [USER]`; `None` is root, as with sudo.
    Become(Option<String>),
    /// `%unbecome`
    Unbecome,
    /// `%upload LOCAL REMOTE`
    Upload { local: String, remote: String },
    /// `%download REMOTE LOCAL`
    Download { remote: String, local: String },
}

/// What `%login` was given. `host` is `local` for this machine (then every other field is
/// empty); otherwise the SSH host as written, resolved later through the SSH configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginArgs {
    pub host: String,
    /// The `user@` part.
    pub user: Option<String>,
    /// `-p`
    pub port: Option<u16>,
    /// `-i`, in the order given.
    pub identities: Vec<String>,
    /// `-J`, as written (`a,b` for several hops).
    pub jump: Option<String>,
    /// `-F`
    pub config: Option<String>,
    /// `-o Key=Value`, in the order given.
    pub options: Vec<(String, String)>,
}

impl LoginArgs {
    pub fn is_local(&self) -> bool {
        self.host == LOCAL
    }
}

/// The `%login` target meaning this machine.
pub const LOCAL: &str = "local";

/// `%sudo ...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SudoCommand {
    /// `%sudo forget`: drop the remembered password.
    Forget,
    /// `%sudo cache on|off`
    Cache(bool),
    /// `%sudo password-from-command 'CMD'`: CMD, run on the kernel's machine, prints it.
    PasswordFromCommand(String),
    /// `%sudo password-from-env NAME`
    PasswordFromEnv(String),
}

/// A cell split into its magics and the shell text after them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedCell {
    pub magics: Vec<Magic>,
    /// The shell text after the magic lines (the whole cell when it has none), without the
    /// blank lines that followed the magics; empty when there is nothing to run.
    pub shell: String,
}

/// A magic line that cannot be run, with what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MagicError {
    /// `name` is what followed `%` (`%bash` for a `%%bash` line).
    #[error("unknown magic %{name}; known magics: {}", known_names())]
    Unknown { name: String },
    /// `magic` is the name without `%`; `usage` its line from [`KNOWN`].
    #[error("%{magic} {detail}: {usage}")]
    Usage {
        magic: &'static str,
        usage: &'static str,
        detail: String,
    },
}

/// Every magic: (name, usage, one-line description), in the order `%help` shows them.
pub const KNOWN: &[(&str, &str, &str)] = &[
    (
        "login",
        "%login [-p PORT] [-i KEY]... [-J JUMP] [-F CONFIG] [-o Key=Value]... [user@]HOST | local",
        "log in to HOST over SSH, or to this machine with `local`; later cells run there",
    ),
    (
        "logout",
        "%logout [HOST]",
        "close the connection to the current target, or to HOST",
    ),
    (
        "status",
        "%status",
        "show the target, user, working directory, connection state and shell",
    ),
    (
        "hosts",
        "%hosts",
        "list the targets logged in to, with their state",
    ),
    (
        "strict",
        "%strict on|off",
        "run cells under `set -eo pipefail`, so any failure fails the cell (default off)",
    ),
    (
        "timeout",
        "%timeout SECONDS|off",
        "interrupt a cell that runs longer than SECONDS (also 90s, 5m, 1h; default off)",
    ),
    (
        "header",
        "%header on|off",
        "start each cell's output with where and when it ran (default on)",
    ),
    ("help", "%help", "show this list"),
    ("lsmagic", "%lsmagic", "show this list"),
    (
        "param",
        "%param NAME VALUE",
        "set NAME to VALUE in every target's shell; {NAME} in a magic's arguments becomes VALUE",
    ),
    (
        "term",
        "%term COLSxROWS",
        "set the terminal size cells run in, such as %term 120x40",
    ),
    (
        "output-limit",
        "%output-limit SIZE|off",
        "beyond SIZE (10MB, 512k, 1G: powers of 1000; 64MiB: of 1024; or bytes) a cell's output is saved to a file, not sent",
    ),
    (
        "sudo",
        "%sudo forget | cache on|off | password-from-command 'CMD' | password-from-env NAME",
        "forget the sudo password, turn its cache on or off, or take it from a command or variable",
    ),
    (
        "become",
        "%become [USER]",
        "run the following cells as USER (default root) through sudo",
    ),
    ("unbecome", "%unbecome", "run cells as the login user again"),
    (
        "upload",
        "%upload LOCAL REMOTE",
        "copy a file from the kernel's machine to the target",
    ),
    (
        "download",
        "%download REMOTE LOCAL",
        "copy a file from the target to the kernel's machine",
    ),
];

/// `%login, %logout, ...` for the unknown-magic error.
fn known_names() -> String {
    KNOWN
        .iter()
        .map(|(name, _, _)| format!("%{name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `%help` output: a line per magic, its usage and what it does.
pub fn help_text() -> String {
    // Align the descriptions, except after the two very long usages.
    const COLUMN: usize = 26;
    let mut out = String::from("sshpty magics (a cell's first lines; the rest runs as shell):\n");
    for (_, usage, description) in KNOWN {
        out.push_str(&format!("  {usage:<COLUMN$}  {description}\n"));
    }
    out
}

/// Splits a cell into its leading magic lines (without line ends) and the shell text after
/// them, following the rules in the module documentation. With no magic line, the shell text
/// is the whole cell, untouched.
pub fn split_magic_lines(code: &str) -> (Vec<&str>, &str) {
    let mut magics = Vec::new();
    let mut rest = code.len();
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let content = line.strip_suffix('\n').unwrap_or(line);
        let content = content.strip_suffix('\r').unwrap_or(content);
        let trimmed = content.trim_start();
        if content.starts_with('%') {
            magics.push(content);
            rest = offset + line.len();
        } else if !(trimmed.is_empty() || trimmed.starts_with('#')) {
            break;
        }
        offset += line.len();
    }
    if magics.is_empty() {
        return (magics, code);
    }
    let mut shell = &code[rest..];
    // Drop the blank lines between the magics and the shell text.
    while let Some(end) = shell.find('\n') {
        if !shell[..end].trim().is_empty() {
            break;
        }
        shell = &shell[end + 1..];
    }
    if shell.trim().is_empty() {
        shell = "";
    }
    (magics, shell)
}

/// Parses a cell: its magic lines, then the shell text. `params` are the `%param` values so
/// far, for `{NAME}`; a `%param` in this cell applies to the magic lines after it.
pub fn parse_cell(code: &str, params: &BTreeMap<String, String>) -> Result<ParsedCell, MagicError> {
    let (lines, shell) = split_magic_lines(code);
    let mut params = params.clone();
    let mut magics = Vec::with_capacity(lines.len());
    for line in lines {
        let magic = parse_line(line, &params)?;
        if let Magic::Param { name, value } = &magic {
            params.insert(name.clone(), value.clone());
        }
        magics.push(magic);
    }
    Ok(ParsedCell {
        magics,
        shell: shell.to_string(),
    })
}

/// The entry of [`KNOWN`] for `name`.
fn known(name: &str) -> Option<(&'static str, &'static str)> {
    KNOWN
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(n, usage, _)| (*n, *usage))
}

/// One magic line, `%` included.
fn parse_line(line: &str, params: &BTreeMap<String, String>) -> Result<Magic, MagicError> {
    let body = line.strip_prefix('%').unwrap_or(line);
    let (name, args) = match body.find(char::is_whitespace) {
        Some(n) => (&body[..n], body[n..].trim()),
        None => (body, ""),
    };
    let Some((name, usage)) = known(name) else {
        return Err(MagicError::Unknown {
            name: name.to_string(),
        });
    };
    let args = substitute(args, params);
    let p = Args {
        name,
        usage,
        args: &args,
    };
    match name {
        "login" => p.login(),
        "logout" => Ok(Magic::Logout {
            host: p.optional_word()?,
        }),
        "status" => p.none().map(|()| Magic::Status),
        "hosts" => p.none().map(|()| Magic::Hosts),
        "strict" => p.on_off().map(Magic::Strict),
        "header" => p.on_off().map(Magic::Header),
        "help" | "lsmagic" => p.none().map(|()| Magic::Help),
        "timeout" => p.timeout(),
        "param" => p.param(),
        "term" => p.term(),
        "output-limit" => p.output_limit(),
        "sudo" => p.sudo(),
        "become" => Ok(Magic::Become(p.optional_word()?)),
        "unbecome" => p.none().map(|()| Magic::Unbecome),
        "upload" => {
            let [local, remote] = p.two_paths("a local path and a remote path")?;
            Ok(Magic::Upload { local, remote })
        }
        "download" => {
            let [remote, local] = p.two_paths("a remote path and a local path")?;
            Ok(Magic::Download { remote, local })
        }
        _ => Err(MagicError::Unknown {
            name: name.to_string(),
        }),
    }
}

/// Replaces `{NAME}` by its `%param` value; `{{` and `}}` are literal braces, and an unknown
/// `{NAME}` stays as written.
fn substitute(text: &str, params: &BTreeMap<String, String>) -> String {
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

/// A shell variable name: what `%param` sets and `%sudo password-from-env` reads.
/// A user name as `useradd` accepts it (and nothing a shell or sudo would read otherwise).
pub fn is_user_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 32
        && !text.starts_with('-')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'))
}

fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits `text` into words as the shell does, without expansions. `Err` on an open quote.
fn split_words(text: &str) -> Result<Vec<String>, ()> {
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

/// Parses `90`, `90s`, `5m`, `2h` into seconds.
fn parse_seconds(text: &str) -> Option<u64> {
    let (digits, multiplier) = match text.as_bytes().last()? {
        b's' | b'S' => (&text[..text.len() - 1], 1),
        b'm' | b'M' => (&text[..text.len() - 1], 60),
        b'h' | b'H' => (&text[..text.len() - 1], 3600),
        _ => (text, 1),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}

fn on_off(word: &str) -> Option<bool> {
    match word.to_ascii_lowercase().as_str() {
        "on" => Some(true),
        "off" => Some(false),
        _ => None,
    }
}

/// The largest `%term` side: the terminal keeps a cols × rows grid in memory.
const MAX_TERM_SIDE: u16 = 4096;

/// The arguments of one magic, and how to report their mistakes.
struct Args<'a> {
    name: &'static str,
    usage: &'static str,
    args: &'a str,
}

impl Args<'_> {
    fn usage(&self, detail: impl Into<String>) -> MagicError {
        MagicError::Usage {
            magic: self.name,
            usage: self.usage,
            detail: detail.into(),
        }
    }

    fn words(&self) -> Result<Vec<String>, MagicError> {
        split_words(self.args).map_err(|()| self.usage("has a quote that is not closed"))
    }

    fn none(&self) -> Result<(), MagicError> {
        if self.args.is_empty() {
            Ok(())
        } else {
            Err(self.usage(format!("takes no arguments (got {:?})", self.args)))
        }
    }

    fn optional_word(&self) -> Result<Option<String>, MagicError> {
        let mut words = self.words()?;
        match words.len() {
            0 => Ok(None),
            1 => Ok(words.pop()),
            n => Err(self.usage(format!("takes at most one argument, got {n}"))),
        }
    }

    /// The single argument, or the error `detail` when there is none or more.
    fn one_word(&self, detail: &str) -> Result<String, MagicError> {
        let mut words = self.words()?;
        match words.len() {
            1 => Ok(words.pop().unwrap_or_default()),
            0 => Err(self.usage(detail)),
            _ => Err(self.usage(format!("{detail} (got {:?})", self.args))),
        }
    }

    /// The rest of the line as one value: unquoted when it is a single shell word
    /// (`'a b'`, `a\ b`), as written otherwise (`a b`, `don't`).
    fn rest_value(text: &str) -> String {
        match split_words(text) {
            Ok(mut words) if words.len() == 1 => words.pop().unwrap_or_default(),
            _ => text.to_string(),
        }
    }

    fn on_off(&self) -> Result<bool, MagicError> {
        let word = self.one_word("takes on or off")?;
        on_off(&word).ok_or_else(|| self.usage(format!("takes on or off (got {word:?})")))
    }

    fn timeout(&self) -> Result<Magic, MagicError> {
        let detail = "takes a number of seconds or off";
        let word = self.one_word(detail)?;
        if word.eq_ignore_ascii_case("off") {
            return Ok(Magic::Timeout(None));
        }
        match parse_seconds(&word) {
            Some(0) => Err(self.usage(format!("{detail}; use off rather than 0"))),
            Some(seconds) => Ok(Magic::Timeout(Some(seconds))),
            None => Err(self.usage(format!("{detail} (got {word:?})"))),
        }
    }

    fn output_limit(&self) -> Result<Magic, MagicError> {
        let detail = "takes a size such as 10MB, 512k, 1G (powers of 1000), 64MiB (of 1024) or a number of bytes, or off";
        let word = self.one_word(detail)?;
        if word.eq_ignore_ascii_case("off") {
            return Ok(Magic::OutputLimit(None));
        }
        match crate::size::parse(&word) {
            Some(0) => Err(self.usage(format!("{detail}; use off rather than 0"))),
            Some(bytes) => Ok(Magic::OutputLimit(Some(bytes))),
            None => Err(self.usage(format!("{detail} (got {word:?})"))),
        }
    }

    fn term(&self) -> Result<Magic, MagicError> {
        let detail = format!("takes the size as COLSxROWS, each from 1 to {MAX_TERM_SIDE}");
        let word = self.one_word(&detail)?;
        let side = |s: &str| {
            s.parse::<u16>()
                .ok()
                .filter(|n| (1..=MAX_TERM_SIDE).contains(n))
        };
        let size = word
            .split_once(['x', 'X'])
            .and_then(|(c, r)| Some((side(c)?, side(r)?)));
        match size {
            Some((cols, rows)) => Ok(Magic::Term { cols, rows }),
            None => Err(self.usage(format!("{detail}, such as 120x40 (got {word:?})"))),
        }
    }

    fn param(&self) -> Result<Magic, MagicError> {
        let (name, value) = match self.args.find(char::is_whitespace) {
            Some(n) => (&self.args[..n], self.args[n..].trim()),
            None => (self.args, ""),
        };
        if name.is_empty() || value.is_empty() {
            return Err(self.usage("needs a name and a value"));
        }
        if !is_name(name) {
            return Err(self.usage(format!(
                "needs a shell variable name (letters, digits and _, not first a digit), not {name:?}"
            )));
        }
        Ok(Magic::Param {
            name: name.to_string(),
            value: Self::rest_value(value),
        })
    }

    fn sudo(&self) -> Result<Magic, MagicError> {
        let (sub, rest) = match self.args.find(char::is_whitespace) {
            Some(n) => (&self.args[..n], self.args[n..].trim()),
            None => (self.args, ""),
        };
        let rest_args = Args {
            name: self.name,
            usage: self.usage,
            args: rest,
        };
        let command = match sub {
            "forget" => {
                rest_args.none()?;
                SudoCommand::Forget
            }
            "cache" => SudoCommand::Cache(
                rest_args
                    .on_off()
                    .map_err(|_| self.usage(format!("cache takes on or off (got {rest:?})")))?,
            ),
            "password-from-command" => {
                if rest.is_empty() {
                    return Err(self.usage("password-from-command needs the command to run"));
                }
                SudoCommand::PasswordFromCommand(Self::rest_value(rest))
            }
            "password-from-env" => {
                let name = rest_args.one_word("password-from-env needs a variable name")?;
                if !is_name(&name) {
                    return Err(self.usage(format!(
                        "password-from-env needs an environment variable name, not {name:?}"
                    )));
                }
                SudoCommand::PasswordFromEnv(name)
            }
            "" => return Err(self.usage("needs what to do")),
            other => return Err(self.usage(format!("has no subcommand {other:?}"))),
        };
        Ok(Magic::Sudo(command))
    }

    fn two_paths(&self, what: &str) -> Result<[String; 2], MagicError> {
        let words = self.words()?;
        match <[String; 2]>::try_from(words) {
            Ok(paths) if paths.iter().all(|p| !p.is_empty()) => Ok(paths),
            Ok(_) => Err(self.usage(format!("needs {what}, not empty paths"))),
            Err(words) => Err(self.usage(format!("needs {what}, got {} arguments", words.len()))),
        }
    }

    fn login(&self) -> Result<Magic, MagicError> {
        let words = self.words()?;
        let mut target = LoginArgs::default();
        let mut host: Option<String> = None;
        let mut any_option = false;
        let mut words = words.into_iter();
        let mut options_done = false;
        while let Some(word) = words.next() {
            if options_done || !word.starts_with('-') || word == "-" {
                if let Some(first) = &host {
                    return Err(self.usage(format!("takes one host, got {first:?} and {word:?}")));
                }
                host = Some(word);
                continue;
            }
            if word == "--" {
                options_done = true;
                continue;
            }
            // `-p 22` or `-p22`, as ssh accepts.
            let flag_len = word.char_indices().nth(2).map_or(word.len(), |(i, _)| i);
            let (flag, attached) = word.split_at(flag_len);
            let mut value = || -> Result<String, MagicError> {
                if !attached.is_empty() {
                    return Ok(attached.to_string());
                }
                match words.next() {
                    Some(v) if !v.is_empty() => Ok(v),
                    _ => Err(self.usage(format!("{flag} needs a value"))),
                }
            };
            any_option = true;
            match flag {
                "-p" => {
                    let text = value()?;
                    let port = text.parse::<u16>().ok().filter(|p| *p != 0);
                    target.port = Some(port.ok_or_else(|| {
                        self.usage(format!("-p needs a port from 1 to 65535 (got {text:?})"))
                    })?);
                }
                "-i" => target.identities.push(value()?),
                "-J" => target.jump = Some(value()?),
                "-F" => target.config = Some(value()?),
                "-o" => {
                    let text = value()?;
                    // ssh takes `Key=Value` and `Key Value`.
                    let pair = text
                        .split_once(|c: char| c == '=' || c.is_whitespace())
                        .map(|(k, v)| (k.trim(), v.trim()))
                        .filter(|(k, v)| {
                            !k.is_empty()
                                && !v.is_empty()
                                && k.chars().all(|c| c.is_ascii_alphanumeric())
                        });
                    let Some((key, val)) = pair else {
                        return Err(self.usage(format!("-o needs Key=Value (got {text:?})")));
                    };
                    target.options.push((key.to_string(), val.to_string()));
                }
                _ => return Err(self.usage(format!("has no option {word}"))),
            }
        }
        let Some(host) = host else {
            return Err(self.usage("needs a host, or local for this machine"));
        };
        if host == LOCAL {
            if any_option {
                return Err(self.usage("local takes no options"));
            }
            target.host = host;
            return Ok(Magic::Login { target });
        }
        let (user, name) = match host.rsplit_once('@') {
            Some((user, name)) => (Some(user), name),
            None => (None, host.as_str()),
        };
        if name.is_empty() || user.is_some_and(str::is_empty) || name.contains(char::is_whitespace)
        {
            return Err(self.usage(format!("needs a host as [user@]HOST (got {host:?})")));
        }
        target.user = user.map(str::to_string);
        target.host = name.to_string();
        Ok(Magic::Login { target })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prop_assert_eq;

    fn parse(code: &str) -> Result<ParsedCell, MagicError> {
        parse_cell(code, &BTreeMap::new())
    }

    fn one(code: &str) -> Magic {
        let cell = parse(code).unwrap_or_else(|e| panic!("{code:?}: {e}"));
        assert_eq!(cell.magics.len(), 1, "{code:?}");
        assert_eq!(cell.shell, "", "{code:?}");
        cell.magics.into_iter().next().unwrap_or(Magic::Help)
    }

    /// The error for `code`, and its message.
    fn error(code: &str) -> (MagicError, String) {
        match parse(code) {
            Ok(cell) => panic!("{code:?} parsed: {cell:?}"),
            Err(e) => {
                let text = e.to_string();
                (e, text)
            }
        }
    }

    fn usage_error(code: &str, magic: &str, contains: &str) {
        let (e, text) = error(code);
        match &e {
            MagicError::Usage {
                magic: m, usage, ..
            } => {
                assert_eq!(*m, magic, "{code:?}");
                assert!(text.ends_with(usage), "{code:?}: {text}");
            }
            other => panic!("{code:?}: {other:?}"),
        }
        assert!(
            text.contains(contains),
            "{code:?}: {text:?} lacks {contains:?}"
        );
    }

    fn login(host: &str) -> LoginArgs {
        LoginArgs {
            host: host.to_string(),
            ..LoginArgs::default()
        }
    }

    #[test]
    fn login_local_and_hosts() {
        assert_eq!(
            one("%login local"),
            Magic::Login {
                target: login("local")
            }
        );
        assert_eq!(
            one("%login web1"),
            Magic::Login {
                target: login("web1")
            }
        );
        assert_eq!(
            one("%login ops@web1.example.com"),
            Magic::Login {
                target: LoginArgs {
                    user: Some("ops".into()),
                    ..login("web1.example.com")
                }
            }
        );
    }

    #[test]
    fn login_options() {
        let got = one(
            "%login -p 2222 -i ~/.ssh/a -i'/keys/b c' -J bastion,jump2 -F cfg -o StrictHostKeyChecking=accept-new -o 'ServerAliveInterval 5' admin@db1",
        );
        let want = LoginArgs {
            host: "db1".into(),
            user: Some("admin".into()),
            port: Some(2222),
            identities: vec!["~/.ssh/a".into(), "/keys/b c".into()],
            jump: Some("bastion,jump2".into()),
            config: Some("cfg".into()),
            options: vec![
                ("StrictHostKeyChecking".into(), "accept-new".into()),
                ("ServerAliveInterval".into(), "5".into()),
            ],
        };
        assert_eq!(got, Magic::Login { target: want });
        assert_eq!(
            one("%login -p22 web1"),
            Magic::Login {
                target: LoginArgs {
                    port: Some(22),
                    ..login("web1")
                }
            }
        );
        assert_eq!(
            one("%login web1 -p 22"),
            Magic::Login {
                target: LoginArgs {
                    port: Some(22),
                    ..login("web1")
                }
            }
        );
    }

    #[test]
    fn login_errors() {
        usage_error("%login", "login", "needs a host");
        usage_error("%login a b", "login", "takes one host, got \"a\" and \"b\"");
        usage_error(
            "%login -p x web1",
            "login",
            "-p needs a port from 1 to 65535 (got \"x\")",
        );
        usage_error("%login -p 70000 web1", "login", "-p needs a port");
        usage_error("%login -p 0 web1", "login", "-p needs a port");
        usage_error("%login web1 -p", "login", "-p needs a value");
        usage_error("%login -x web1", "login", "has no option -x");
        usage_error("%login -o NoValue web1", "login", "-o needs Key=Value");
        usage_error("%login -p 22 local", "login", "local takes no options");
        usage_error("%login @web1", "login", "needs a host as [user@]HOST");
        usage_error("%login ops@", "login", "needs a host as [user@]HOST");
        usage_error("%login 'web1", "login", "has a quote that is not closed");
    }

    #[test]
    fn logout_status_hosts_help() {
        assert_eq!(one("%logout"), Magic::Logout { host: None });
        assert_eq!(
            one("%logout web1"),
            Magic::Logout {
                host: Some("web1".into())
            }
        );
        usage_error("%logout a b", "logout", "takes at most one argument, got 2");
        assert_eq!(one("%status"), Magic::Status);
        assert_eq!(one("%hosts"), Magic::Hosts);
        assert_eq!(one("%help"), Magic::Help);
        assert_eq!(one("%lsmagic"), Magic::Help);
        usage_error("%status now", "status", "takes no arguments (got \"now\")");
        usage_error("%hosts all", "hosts", "takes no arguments");
        usage_error("%help login", "help", "takes no arguments");
    }

    #[test]
    fn on_off_magics() {
        assert_eq!(one("%strict on"), Magic::Strict(true));
        assert_eq!(one("%strict OFF"), Magic::Strict(false));
        assert_eq!(one("%header off"), Magic::Header(false));
        assert_eq!(one("%header on"), Magic::Header(true));
        let (_, text) = error("%strict");
        assert_eq!(text, "%strict takes on or off: %strict on|off");
        let (_, text) = error("%strict maybe");
        assert_eq!(
            text,
            "%strict takes on or off (got \"maybe\"): %strict on|off"
        );
        usage_error("%header on off", "header", "takes on or off");
    }

    #[test]
    fn timeout() {
        assert_eq!(one("%timeout 30"), Magic::Timeout(Some(30)));
        assert_eq!(one("%timeout 90s"), Magic::Timeout(Some(90)));
        assert_eq!(one("%timeout 5m"), Magic::Timeout(Some(300)));
        assert_eq!(one("%timeout 2h"), Magic::Timeout(Some(7200)));
        assert_eq!(one("%timeout off"), Magic::Timeout(None));
        usage_error("%timeout", "timeout", "takes a number of seconds or off");
        usage_error("%timeout 0", "timeout", "use off rather than 0");
        usage_error("%timeout soon", "timeout", "(got \"soon\")");
        usage_error("%timeout -5", "timeout", "(got \"-5\")");
        usage_error("%timeout 99999999999999999999", "timeout", "got");
    }

    #[test]
    fn param() {
        let p = |name: &str, value: &str| Magic::Param {
            name: name.into(),
            value: value.into(),
        };
        assert_eq!(one("%param HOST web1"), p("HOST", "web1"));
        assert_eq!(one("%param MSG hello world"), p("MSG", "hello world"));
        assert_eq!(one("%param MSG 'hello world'"), p("MSG", "hello world"));
        assert_eq!(one("%param MSG \"a \\\"b\\\"\""), p("MSG", "a \"b\""));
        assert_eq!(one("%param MSG 'it'\\''s'"), p("MSG", "it's"));
        assert_eq!(one("%param MSG don't"), p("MSG", "don't"));
        assert_eq!(one("%param EMPTY ''"), p("EMPTY", ""));
        assert_eq!(
            one("%param URL http://x/?a=1&b=$HOME"),
            p("URL", "http://x/?a=1&b=$HOME")
        );
        usage_error("%param", "param", "needs a name and a value");
        usage_error("%param HOST", "param", "needs a name and a value");
        usage_error("%param 1X v", "param", "not \"1X\"");
        usage_error("%param A-B v", "param", "needs a shell variable name");
    }

    #[test]
    fn term() {
        assert_eq!(
            one("%term 120x40"),
            Magic::Term {
                cols: 120,
                rows: 40
            }
        );
        assert_eq!(one("%term 80X24"), Magic::Term { cols: 80, rows: 24 });
        usage_error("%term", "term", "takes the size as COLSxROWS");
        usage_error("%term 120", "term", "such as 120x40 (got \"120\")");
        usage_error("%term 0x40", "term", "COLSxROWS");
        usage_error("%term 120x99999", "term", "from 1 to 4096");
        usage_error("%term ax b", "term", "COLSxROWS");
    }

    #[test]
    fn output_limit() {
        assert_eq!(
            one("%output-limit 10MB"),
            Magic::OutputLimit(Some(10_000_000))
        );
        assert_eq!(one("%output-limit 512k"), Magic::OutputLimit(Some(512_000)));
        assert_eq!(
            one("%output-limit 1G"),
            Magic::OutputLimit(Some(1_000_000_000))
        );
        assert_eq!(
            one("%output-limit 10MiB"),
            Magic::OutputLimit(Some(10 << 20))
        );
        assert_eq!(one("%output-limit 2GiB"), Magic::OutputLimit(Some(2 << 30)));
        assert_eq!(one("%output-limit 1000"), Magic::OutputLimit(Some(1000)));
        assert_eq!(one("%output-limit off"), Magic::OutputLimit(None));
        usage_error("%output-limit", "output-limit", "takes a size");
        usage_error("%output-limit 10TB", "output-limit", "(got \"10TB\")");
        usage_error("%output-limit MB", "output-limit", "(got \"MB\")");
        usage_error("%output-limit 0", "output-limit", "use off rather than 0");
        usage_error(
            "%output-limit 99999999999999999G",
            "output-limit",
            "(got \"99999999999999999G\")",
        );
    }

    #[test]
    fn sudo() {
        let s = |c| Magic::Sudo(c);
        assert_eq!(one("%sudo forget"), s(SudoCommand::Forget));
        assert_eq!(one("%sudo cache on"), s(SudoCommand::Cache(true)));
        assert_eq!(one("%sudo cache off"), s(SudoCommand::Cache(false)));
        assert_eq!(
            one("%sudo password-from-command 'pass show ops/sudo'"),
            s(SudoCommand::PasswordFromCommand(
                "pass show ops/sudo".into()
            ))
        );
        assert_eq!(
            one("%sudo password-from-command vault kv get -field=pw secret/x"),
            s(SudoCommand::PasswordFromCommand(
                "vault kv get -field=pw secret/x".into()
            ))
        );
        assert_eq!(
            one("%sudo password-from-env SUDO_PW"),
            s(SudoCommand::PasswordFromEnv("SUDO_PW".into()))
        );
        usage_error("%sudo", "sudo", "needs what to do");
        usage_error("%sudo remember", "sudo", "has no subcommand \"remember\"");
        usage_error("%sudo forget all", "sudo", "takes no arguments");
        usage_error("%sudo cache", "sudo", "cache takes on or off");
        usage_error(
            "%sudo cache maybe",
            "sudo",
            "cache takes on or off (got \"maybe\")",
        );
        usage_error("%sudo password-from-command", "sudo", "needs the command");
        usage_error("%sudo password-from-env", "sudo", "needs a variable name");
        usage_error("%sudo password-from-env 'A B'", "sudo", "not \"A B\"");
    }

    #[test]
    fn become_and_files() {
        assert_eq!(one("%become"), Magic::Become(None));
        assert_eq!(
            one("%become postgres"),
            Magic::Become(Some("postgres".into()))
        );
        usage_error("%become a b", "become", "takes at most one argument");
        assert_eq!(one("%unbecome"), Magic::Unbecome);
        usage_error("%unbecome now", "unbecome", "takes no arguments");
        assert_eq!(
            one("%upload 'my file.txt' /tmp/x"),
            Magic::Upload {
                local: "my file.txt".into(),
                remote: "/tmp/x".into()
            }
        );
        assert_eq!(
            one("%download /var/log/syslog ./syslog"),
            Magic::Download {
                remote: "/var/log/syslog".into(),
                local: "./syslog".into()
            }
        );
        usage_error(
            "%upload a",
            "upload",
            "needs a local path and a remote path, got 1",
        );
        usage_error("%download a b c", "download", "got 3 arguments");
        usage_error("%download '' b", "download", "not empty paths");
    }

    #[test]
    fn unknown_magics() {
        let (e, text) = error("%foo bar");
        assert_eq!(e, MagicError::Unknown { name: "foo".into() });
        assert!(
            text.starts_with("unknown magic %foo; known magics: %login, %logout, %status"),
            "{text}"
        );
        for (name, _, _) in KNOWN {
            assert!(text.contains(&format!("%{name}")), "{text} lacks {name}");
        }
        let (e, text) = error("%%bash\necho hi");
        assert_eq!(
            e,
            MagicError::Unknown {
                name: "%bash".into()
            }
        );
        assert!(text.starts_with("unknown magic %%bash;"), "{text}");
        let (e, _) = error("%");
        assert_eq!(e, MagicError::Unknown { name: "".into() });
    }

    #[test]
    fn param_substitution() {
        let params = BTreeMap::from([
            ("HOST".to_string(), "web1".to_string()),
            ("USER".to_string(), "ops".to_string()),
            ("SPACED".to_string(), "a b".to_string()),
        ]);
        let cell = parse_cell("%login {USER}@{HOST}", &params).unwrap_or_default();
        assert_eq!(
            cell.magics,
            vec![Magic::Login {
                target: LoginArgs {
                    user: Some("ops".into()),
                    ..login("web1")
                }
            }]
        );
        assert_eq!(substitute("{UNKNOWN} {HOST}", &params), "{UNKNOWN} web1");
        assert_eq!(substitute("{{HOST}} {HOST}}}", &params), "{HOST} web1}");
        assert_eq!(substitute("{ HOST } {HOST", &params), "{ HOST } {HOST");
        assert_eq!(substitute("{}{{}}{", &params), "{}{}{");
        assert_eq!(substitute("é{HOST}ü", &params), "éweb1ü");
        // Substitution comes before word splitting, as in the original SSH Kernel.
        let (_, text) = match parse_cell("%login {SPACED}", &params) {
            Err(e) => (e.clone(), e.to_string()),
            Ok(c) => panic!("{c:?}"),
        };
        assert!(text.contains("takes one host"), "{text}");
        // A %param applies to the following magic lines of the same cell.
        let cell =
            parse_cell("%param HOST db1\n%login {HOST}\necho {HOST}", &params).unwrap_or_default();
        assert_eq!(
            cell.magics[1],
            Magic::Login {
                target: login("db1")
            }
        );
        // Shell text is never substituted.
        assert_eq!(cell.shell, "echo {HOST}");
        // The caller's map is not changed.
        assert_eq!(params["HOST"], "web1");
    }

    #[test]
    fn cells_mixing_magics_and_shell() {
        let cell = parse("%strict on\n%timeout 10\nls -l\n%login x\n").unwrap_or_default();
        assert_eq!(
            cell.magics,
            vec![Magic::Strict(true), Magic::Timeout(Some(10))]
        );
        assert_eq!(cell.shell, "ls -l\n%login x\n");

        let cell = parse("\n\n# set up\n%login local\n\n# then\n%header off\n\n\necho hi\n")
            .unwrap_or_default();
        assert_eq!(
            cell.magics,
            vec![
                Magic::Login {
                    target: login("local")
                },
                Magic::Header(false)
            ]
        );
        assert_eq!(cell.shell, "echo hi\n");

        let cell = parse("%status\n# keep me\necho hi").unwrap_or_default();
        assert_eq!(cell.shell, "# keep me\necho hi");

        let cell = parse("%status\r\n%hosts\r\n").unwrap_or_default();
        assert_eq!(cell.magics, vec![Magic::Status, Magic::Hosts]);
        assert_eq!(cell.shell, "");
    }

    #[test]
    fn shell_cells_are_untouched() {
        for code in [
            "",
            "echo hi",
            "printf '%s\\n' a b",
            "  %login local",
            "# %login local\necho",
            "echo a\n%login local",
            "\n\n  echo 'x'  \n\n",
        ] {
            let cell = parse(code).unwrap_or_default();
            assert!(cell.magics.is_empty(), "{code:?}");
            assert_eq!(cell.shell, code, "{code:?}");
        }
    }

    #[test]
    fn first_error_stops_the_cell() {
        let (e, _) = error("%strict on\n%timeout never\necho hi");
        assert!(matches!(
            e,
            MagicError::Usage {
                magic: "timeout",
                ..
            }
        ));
    }

    proptest::proptest! {
        #[test]
        fn substitution_and_parsing_never_panic(code in proptest::prelude::any::<String>()) {
            let params = BTreeMap::from([("A".to_string(), "{B}".to_string())]);
            let _ = substitute(&code, &params);
            let _ = parse_cell(&code, &params);
            let _ = parse_cell(&format!("%login {code}"), &params);
            let _ = parse_cell(&format!("%param X {code}\n%sudo {code}"), &params);
        }

        #[test]
        fn non_magic_cells_are_returned_as_written(code in "[^%]*") {
            let cell = parse_cell(&code, &BTreeMap::new());
            prop_assert_eq!(cell.map(|c| c.shell), Ok(code.clone()));
        }
    }

    #[test]
    fn word_splitting() {
        let w = |s: &str| split_words(s).unwrap_or_default();
        assert_eq!(w("a  b\tc"), ["a", "b", "c"]);
        assert_eq!(w("'a b' \"c d\" e\\ f"), ["a b", "c d", "e f"]);
        assert_eq!(w("\"\\$x \\n\""), ["$x \\n"]);
        assert_eq!(w("a'b'\"c\""), ["abc"]);
        assert_eq!(w("'' \"\""), ["", ""]);
        assert_eq!(w("$HOME #x"), ["$HOME", "#x"]);
        assert!(split_words("'a").is_err());
        assert!(split_words("\"a").is_err());
    }

    #[test]
    fn known_and_help() {
        for (name, usage, description) in KNOWN {
            assert!(usage.starts_with(&format!("%{name}")), "{usage}");
            assert!(!description.is_empty());
            // Every known magic parses to something or gives its own usage error.
            match parse(&format!("%{name}")) {
                Ok(_) => {}
                Err(MagicError::Usage { magic, .. }) => assert_eq!(magic, *name),
                Err(e) => panic!("%{name}: {e}"),
            }
        }
        let help = help_text();
        assert_eq!(help.lines().count(), KNOWN.len() + 1);
        for (_, usage, description) in KNOWN {
            assert!(
                help.lines()
                    .any(|l| l.contains(usage) && l.contains(description)),
                "{usage}"
            );
        }
    }
}
