//! Magics: `%login`, `%status`, `%strict`, … Each magic lives in one file, its parsing
//! and its running together: `login.rs` (`%login`, `%logout`), `transfer.rs` (`%upload`,
//! `%download`), `status.rs` (`%status`, `%hosts`), `settings.rs` (`%strict`, `%timeout`,
//! `%header`, `%term`, `%output-limit`, `%param`, `%help`), `sudo.rs` (`%sudo`),
//! `become.rs` (`%become`, `%unbecome`), `mark.rs` (`%mark`, and the user's marks file),
//! `interactive.rs` (`%shell`), `fleet.rs` (`%inventory`, `%on`). A magic's arguments are checked where it is
//! parsed, so a mistake is reported before any magic of the cell runs. `args.rs` reads the
//! arguments; this file says which lines are magics and runs them.
//!
//! Which lines are magics:
//! - A magic line starts with `%` in its first column; one magic per line.
//! - MetaKernel's `!` lines are magic lines too: `!COMMAND` runs COMMAND on the kernel's own
//!   machine (the `local` target), and `!!` runs the rest of the cell there. The original SSH
//!   Kernel is a MetaKernel, and its notebooks start with `! head ~/.ssh/config`. bash's own
//!   `! cmd` (negation) after the cell's first shell line is untouched.
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

mod args;
mod r#become;
pub mod fleet;
mod interactive;
pub mod lines;
mod local;
pub mod login;
mod magic;
mod mark;
mod settings;
mod status;
mod sudo;
mod transfer;

use std::collections::BTreeMap;

pub use args::is_user_name;
pub(crate) use interactive::REPL;
pub use lines::split_magic_lines;
pub use login::parse_target;
pub use magic::{Magic, MarkCommand, OnArgs, ParsedCell, Spec, SudoCommand};

use crate::failure::{MagicError, Outcome};
use crate::frontend::Request;
use crate::output::StreamOut;
use crate::session::Engine;
use crate::sink::Sink;
use args::Args;

/// Every magic, in the order `%help` shows them.
pub const KNOWN: &[Spec] = &[
    login::LOGIN,
    login::LOGOUT,
    status::STATUS,
    status::HOSTS,
    settings::STRICT,
    settings::TIMEOUT,
    settings::HEADER,
    settings::HELP,
    settings::LSMAGIC,
    settings::PARAM,
    settings::TERM,
    settings::OUTPUT_LIMIT,
    sudo::SUDO,
    r#become::BECOME,
    r#become::UNBECOME,
    transfer::UPLOAD,
    transfer::DOWNLOAD,
    mark::MARK,
    interactive::SHELL,
    fleet::INVENTORY,
    fleet::ON,
];

/// `%login, %logout, ...` for the unknown-magic error.
fn known_names() -> String {
    KNOWN
        .iter()
        .map(|spec| format!("%{}", spec.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `%help` output: a line per magic, its usage and what it does.
pub fn help_text() -> String {
    // Align the descriptions, except after the two very long usages.
    const COLUMN: usize = 26;
    let mut out = String::from("sshpty magics (a cell's first lines; the rest runs as shell):\n");
    for spec in KNOWN {
        let (usage, description) = (spec.usage, spec.description);
        out.push_str(&format!("  {usage:<COLUMN$}  {description}\n"));
    }
    let (usage, description) = (
        "!COMMAND, !!",
        "run COMMAND (!!: the rest of the cell) on the kernel's own machine, as MetaKernel does",
    );
    out.push_str(&format!("  {usage:<COLUMN$}  {description}\n"));
    out
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

/// One magic line, `%` included.
fn parse_line(line: &str, params: &BTreeMap<String, String>) -> Result<Magic, MagicError> {
    if let Some(code) = line.strip_prefix('!') {
        // As written: shell text, so no `{NAME}` substitution (bash expands `$NAME`).
        let code = code.strip_prefix('!').unwrap_or(code);
        return Ok(Magic::Local {
            code: code.to_string(),
        });
    }
    let body = line.strip_prefix('%').unwrap_or(line);
    let (name, args) = match body.find(char::is_whitespace) {
        Some(n) => (&body[..n], body[n..].trim()),
        None => (body, ""),
    };
    let Some(spec) = KNOWN.iter().find(|s| s.name == name) else {
        return Err(MagicError::Unknown {
            name: name.to_string(),
            hint: metakernel_hint(name)
                .map(|h| format!(" (a MetaKernel magic; here: {h})"))
                .unwrap_or_default(),
            known: known_names(),
        });
    };
    let args = args::substitute(args, params);
    (spec.parse)(&Args {
        name: spec.name,
        usage: spec.usage,
        args: &args,
    })
}

/// `%help NAME`: the magic's line of `%help`, or what to use for a MetaKernel magic.
fn help_on(name: &str) -> String {
    let bare = name.trim_start_matches('%');
    if let Some(spec) = KNOWN.iter().find(|s| s.name == bare) {
        return format!("{}\n  {}\n", spec.usage, spec.description);
    }
    if bare.starts_with('!') {
        return "!COMMAND, !!\n  run COMMAND (!!: the rest of the cell) on the kernel's own machine\n"
            .to_string();
    }
    match metakernel_hint(bare) {
        Some(hint) => format!("{name} is a MetaKernel magic, not sshpty's; here: {hint}\n"),
        None => format!("no magic {name}; %help lists them\n"),
    }
}

/// What to use instead of a MetaKernel magic the original SSH Kernel offered (MetaKernel's
/// standard magics; `%%NAME` is seen here as `%NAME` with a leading `%`).
fn metakernel_hint(name: &str) -> Option<&'static str> {
    Some(match name.trim_start_matches('%') {
        "shell" | "bash" | "sh" => "`!COMMAND` for one line, `!!` for the rest of the cell",
        "cd" => "`cd DIR` in a cell; the directory carries to the next cells",
        "time" => "`time COMMAND` in a cell",
        "run" | "load" | "include" => {
            "`source FILE` in a cell, or `!` for a file of the kernel's machine"
        }
        "get" | "set" => "`%param NAME VALUE`, and `{NAME}` in a magic's arguments",
        "connect_info" | "kernel" | "parallel" | "px" | "pipe" | "edit" | "macro" | "magic"
        | "install" | "install_magic" | "reload_magics" | "restart" | "show" | "html"
        | "javascript" | "latex" | "markdown" | "plot" | "python" | "activity" | "conversation"
        | "dot" | "file" | "spell" | "brain" | "debug" | "jigsaw" | "scheme" | "processing"
        | "tutor" | "blockly" | "ls" => "no equivalent; see %help",
        _ => return None,
    })
}

impl Engine {
    /// Run one magic of `req`'s cell.
    pub(crate) async fn magic(&self, m: Magic, req: &Request, out: &mut StreamOut<'_>) -> Outcome {
        match m {
            Magic::Login(target) => self.login(&target, req, login::LoginBy::Magic, out).await,
            Magic::Logout { host } => self.logout(host, out).await,
            Magic::Status => {
                let text = self.status_text();
                out.text(&text);
                Ok(())
            }
            Magic::Hosts => {
                let text = self.hosts_text();
                out.text(&text);
                Ok(())
            }
            Magic::Strict(on) => {
                self.set_strict(on, out);
                Ok(())
            }
            Magic::Timeout(secs) => {
                self.set_timeout(secs, out);
                Ok(())
            }
            Magic::Header(on) => {
                self.state().settings.header = on;
                Ok(())
            }
            Magic::Help => {
                out.text(&help_text());
                Ok(())
            }
            Magic::HelpOn(name) => {
                out.text(&help_on(&name));
                Ok(())
            }
            Magic::Param { name, value } => {
                self.set_param(name, value);
                Ok(())
            }
            Magic::Term { cols, rows } => {
                self.set_term(cols, rows, out);
                Ok(())
            }
            Magic::OutputLimit(limit) => {
                self.set_output_limit(limit, out);
                Ok(())
            }
            Magic::Sudo(cmd) => self.sudo_magic(cmd, out).await,
            Magic::Become(user) => self.become_user(user, out),
            Magic::Unbecome => self.unbecome(out),
            Magic::Upload { local, remote } => {
                self.local_allowed("`%upload` (it reads a file of the kernel's machine)")?;
                self.transfer(true, &local, &remote, req, out).await
            }
            Magic::Download { remote, local } => {
                self.local_allowed("`%download` (it writes a file on the kernel's machine)")?;
                self.transfer(false, &local, &remote, req, out).await
            }
            Magic::Mark(cmd) => self.mark(cmd, out).map_err(Into::into),
            // Run by `run_code` after the cell's other magics, as the cell's shell text.
            Magic::Shell => Ok(()),
            Magic::Local { code } => self.local_command(&code, req, out).await,
            Magic::Inventory(arg) => self.inventory(arg, out),
            // With shell text after it, `run_code` runs the cell on the hosts instead.
            Magic::On(on) => self.on_alone(&on.pattern, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::args::{split_words, substitute};
    use super::*;
    use proptest::prop_assert_eq;
    use targets::LoginTarget;
    use targets::ssh::config::LoginRequest;

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

    fn request(host: &str) -> LoginRequest {
        LoginRequest {
            host: host.to_string(),
            ..LoginRequest::default()
        }
    }

    fn login(host: &str) -> Magic {
        Magic::Login(LoginTarget::Ssh(request(host)))
    }

    #[test]
    fn login_local_and_hosts() {
        assert_eq!(one("%login local"), Magic::Login(LoginTarget::Local));
        assert_eq!(one("%login web1"), login("web1"));
        assert_eq!(
            one("%login ops@web1.example.com"),
            Magic::Login(LoginTarget::Ssh(LoginRequest {
                user: Some("ops".into()),
                ..request("web1.example.com")
            }))
        );
    }

    #[test]
    fn login_options() {
        let got = one(
            "%login -p 2222 -i ~/.ssh/a -i'/keys/b c' -J bastion,jump2 -F cfg -o StrictHostKeyChecking=accept-new -o 'ServerAliveInterval 5' admin@db1",
        );
        let want = LoginRequest {
            host: "db1".into(),
            user: Some("admin".into()),
            port: Some(2222),
            identities: vec!["~/.ssh/a".into(), "/keys/b c".into()],
            jump: Some("bastion,jump2".into()),
            config_file: Some("cfg".into()),
            options: vec![
                ("StrictHostKeyChecking".into(), "accept-new".into()),
                ("ServerAliveInterval".into(), "5".into()),
            ],
        };
        assert_eq!(got, Magic::Login(LoginTarget::Ssh(want)));
        assert_eq!(
            one("%login -p22 web1"),
            Magic::Login(LoginTarget::Ssh(LoginRequest {
                port: Some(22),
                ..request("web1")
            }))
        );
        assert_eq!(
            one("%login web1 -p 22"),
            Magic::Login(LoginTarget::Ssh(LoginRequest {
                port: Some(22),
                ..request("web1")
            }))
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
        assert_eq!(one("%help %login"), Magic::HelpOn("%login".into()));
        assert!(help_on("%login").starts_with("%login [-p PORT]"));
        assert!(help_on("login").contains("log in to HOST"));
        assert!(
            help_on("%%python").contains("MetaKernel magic, not sshpty's; here: no equivalent")
        );
        assert!(help_on("!").contains("kernel's own machine"));
        assert_eq!(help_on("%zzz"), "no magic %zzz; %help lists them\n");
        assert_eq!(one("%lsmagic"), Magic::Help);
        usage_error("%status now", "status", "takes no arguments (got \"now\")");
        usage_error("%hosts all", "hosts", "takes no arguments");
        usage_error("%help login logout", "help", "takes at most one argument");
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
        assert_eq!(one("%become"), Magic::Become("root".into()));
        assert_eq!(one("%become postgres"), Magic::Become("postgres".into()));
        usage_error("%become 'a;b'", "become", "needs a user name, not \"a;b\"");
        usage_error("%become -u", "become", "needs a user name");
        usage_error("%become a b", "become", "takes at most one argument");
        assert_eq!(one("%unbecome"), Magic::Unbecome);
        assert_eq!(one("%shell"), Magic::Shell);
        usage_error("%shell bash", "shell", "takes no arguments");
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
        assert!(
            matches!(&e, MagicError::Unknown { name, .. } if name == "foo"),
            "{e:?}"
        );
        assert!(
            text.starts_with("unknown magic %foo; known magics: %login, %logout, %status"),
            "{text}"
        );
        for Spec { name, .. } in KNOWN {
            assert!(text.contains(&format!("%{name}")), "{text} lacks {name}");
        }
        let (e, text) = error("%%bash\necho hi");
        assert!(
            matches!(&e, MagicError::Unknown { name, .. } if name == "%bash"),
            "{e:?}"
        );
        assert!(
            text.starts_with("unknown magic %%bash (a MetaKernel magic; here: `!COMMAND`"),
            "{text}"
        );
        let (e, _) = error("%");
        assert!(
            matches!(&e, MagicError::Unknown { name, .. } if name.is_empty()),
            "{e:?}"
        );
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
            vec![Magic::Login(LoginTarget::Ssh(LoginRequest {
                user: Some("ops".into()),
                ..request("web1")
            }))]
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
        assert_eq!(cell.magics[1], login("db1"));
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
            vec![Magic::Login(LoginTarget::Local), Magic::Header(false)]
        );
        assert_eq!(cell.shell, "echo hi\n");

        let cell = parse("%status\n# keep me\necho hi").unwrap_or_default();
        assert_eq!(cell.shell, "# keep me\necho hi");

        let cell = parse("%status\r\n%hosts\r\n").unwrap_or_default();
        assert_eq!(cell.magics, vec![Magic::Status, Magic::Hosts]);
        assert_eq!(cell.shell, "");
    }

    #[test]
    fn metakernel_magics_say_what_to_use() {
        for (code, says) in [
            ("%%shell\nls", "`!!`"),
            ("%cd /tmp", "`cd DIR`"),
            ("%get X", "%param"),
            ("%connect_info", "no equivalent"),
        ] {
            let (_, text) = error(code);
            assert!(
                text.contains("a MetaKernel magic; here:") && text.contains(says),
                "{text}"
            );
        }
        assert!(!error("%nonsense").1.contains("MetaKernel"));
        usage_error("%shell ls -l", "shell", "`!COMMAND` here");
    }

    #[test]
    fn metakernel_bang_lines() {
        let local = |code: &str| Magic::Local { code: code.into() };
        // SSH Kernel's getting-started notebook: `! head` before `%login`.
        let cell = parse("! head -n6 ~/.ssh/config").unwrap_or_default();
        assert_eq!(cell.magics, vec![local(" head -n6 ~/.ssh/config")]);
        assert_eq!(cell.shell, "");
        // Leading `!` and `%` lines, in order; then the shell text, where `!` is bash's.
        let cell =
            parse("!ls {X}\n%status\n! pwd\n! grep -q x f || echo none\n!true").unwrap_or_default();
        assert_eq!(
            cell.magics,
            vec![
                local("ls {X}"),
                Magic::Status,
                local(" pwd"),
                local(" grep -q x f || echo none"),
                local("true")
            ]
        );
        let cell = parse("echo a\n! false\n").unwrap_or_default();
        assert!(cell.magics.is_empty());
        assert_eq!(cell.shell, "echo a\n! false\n");
        // `!!`: the rest of the cell, from its line on.
        let cell = parse("%status\n!!cd /tmp\npwd\n%status\n").unwrap_or_default();
        assert_eq!(
            cell.magics,
            vec![Magic::Status, local("cd /tmp\npwd\n%status\n")]
        );
        assert_eq!(cell.shell, "");
        // An indented `!` is shell text.
        assert_eq!(parse("  ! true").unwrap_or_default().shell, "  ! true");
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
        fn non_magic_cells_are_returned_as_written(code in "[^%!]*") {
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
        for Spec {
            name,
            usage,
            description,
            ..
        } in KNOWN
        {
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
        // A title line, the magics, and the `!` line.
        assert_eq!(help.lines().count(), KNOWN.len() + 2);
        for Spec {
            usage, description, ..
        } in KNOWN
        {
            assert!(
                help.lines()
                    .any(|l| l.contains(usage) && l.contains(description)),
                "{usage}"
            );
        }
    }
}
