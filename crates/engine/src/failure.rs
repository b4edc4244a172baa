//! Why a request failed. Each variant carries the facts; its message says what happened and
//! what to do, and [`Failure::ename`] is the name Jupyter's error output and reply carry
//! (users, notebooks and tests match on it, so each stays as it was).

use targets::ssh::SshError;
use targets::{Exit, TargetError};

/// What every "no target" message says: how to log in.
pub const HOW_TO_LOGIN: &str = "no target to run on: log in first with %login local (this machine) or %login HOST (a server over SSH)";

/// A magic line that cannot be run, with what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MagicError {
    /// `name` is what followed `%` (`%bash` for a `%%bash` line); `known` lists the
    /// magics there are.
    #[error("unknown magic %{name}{hint}; known magics: {known}")]
    Unknown {
        name: String,
        /// For a MetaKernel magic (the original SSH Kernel's), what to use here instead.
        hint: String,
        known: String,
    },
    /// `magic` is the name without `%`; `usage` its line in `%help`.
    #[error("%{magic} {detail}: {usage}")]
    Usage {
        magic: &'static str,
        usage: &'static str,
        detail: String,
    },
}

/// A request's result.
pub type Outcome = Result<(), Failure>;

/// Where an interrupt stopped a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Login,
    LoginEnvironment,
    BeforeStart,
    Cell,
}

/// The errors of SSH and of targets are boxed: they carry much, and every `Outcome` would
/// pay for their size.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{HOW_TO_LOGIN}")]
    NoTarget,
    #[error("not logged in to {host}")]
    NotLoggedIn { host: String },
    #[error("not logged in to any target")]
    NoHosts,
    #[error(transparent)]
    Magic(#[from] MagicError),
    #[error(transparent)]
    Ssh(Box<SshError>),
    /// The target failed while logging in (reading its login environment).
    #[error(transparent)]
    LoginTarget(Box<TargetError>),
    /// The login shell's environment could not be read.
    #[error("{why}")]
    LoginEnvironment { why: String },
    #[error("{}", match .stage {
        Stage::Login => "the login was interrupted",
        Stage::LoginEnvironment => "interrupted while the login shell's environment was being read",
        Stage::BeforeStart => "interrupted before the cell started",
        Stage::Cell => "the cell was interrupted",
    })]
    Interrupted { stage: Stage },
    #[error("the cell ran longer than the %timeout of {secs} s and was stopped")]
    Timeout { secs: u64 },
    #[error(
        "the command waits for input: {:?}; this client cannot answer prompts \
         (allow_stdin is false), so the command was stopped. Give the input in the cell \
         (a here-document, `yes |`, a -y flag), or for sudo name a password source with \
         %sudo password-from-command or password-from-env",
        prompt.as_deref().unwrap_or("a prompt")
    )]
    WaitsForInput { prompt: Option<String> },
    #[error(
        "{what} was stopped by the terminal and nothing would continue it: it set the terminal \
         from a process group of its own (`timeout` makes one; `timeout --foreground` does \
         not), and this run has no stop button to end it, so the cell was stopped"
    )]
    StoppedByTerminal { what: String },
    /// The cell ran and its last command failed.
    #[error("exit status {status}")]
    ExitStatus { status: i32 },
    /// The shell itself exited (`exit 3`, `exec`) before the cell's end.
    #[error(
        "exit status {status}: the shell exited before the end of the cell; the context from before the cell is kept"
    )]
    ShellExited { status: i32 },
    #[error("killed by signal {signal}; the context from before the cell is kept")]
    Signal { signal: String },
    #[error("the shell on the target did not start the cell ({exit}){}", if noise.is_empty() { String::new() } else { format!(": {noise}") })]
    NotStarted { exit: Exit, noise: String },
    /// The target could not say how the cell's shell ended (the connection went).
    #[error("{why}")]
    EndUnknown { why: String },
    #[error(transparent)]
    Target(Box<TargetError>),
    #[error(transparent)]
    Transfer(Box<TargetError>),
    #[error("this kernel was installed with --no-sudo-cache: sudo passwords are never remembered")]
    SudoCacheNotAllowed,
    #[error(
        "this kernel was installed with --no-local: {what} would run or read something on the \
         kernel's own machine, which its administrator has turned off"
    )]
    LocalTurnedOff { what: &'static str },
    #[error(
        "this kernel was installed with --no-local: %sudo password-from-command runs only the \
         store commands its administrator allowed, and this one is refused: {why}"
    )]
    SecretCommandRefused { why: crate::secret_command::Refusal },
    #[error("{0}")]
    SudoPasswordCommand(String),
    #[error("{0}")]
    Inventory(String),
    #[error("{0}")]
    Pattern(String),
    #[error(
        "the cell failed on {failed} of {of} hosts: {hosts}{not_started} (see each host's output and the table)"
    )]
    FleetFailed {
        failed: usize,
        of: usize,
        hosts: String,
        /// Why some hosts were not started, if they were not (`; 8 not started, ...`).
        not_started: String,
    },
    #[error(
        "%on runs the shell text after it on its hosts: it must be the cell's first line, and the only magics that may come with it are `%sudo password-from-command` and `%sudo password-from-env` (for each of its hosts)"
    )]
    OnNotFirst,
    #[error("the kernel's environment has no variable {name}")]
    SudoPasswordEnv { name: String },
    #[error(
        "%shell needs a live terminal to type into: JupyterLab or Notebook 7 with the sshpty \
         extension (installed with the sshpty package); this client has none (nbclient, \
         papermill, a console, a JupyterLab without the extension). Run the commands as \
         cells instead"
    )]
    NeedsTerminal,
    #[error(
        "%shell runs alone in its cell: type the commands in the session, or run them in a cell of their own"
    )]
    ShellNotAlone,
}

impl From<SshError> for Failure {
    fn from(e: SshError) -> Failure {
        Failure::Ssh(Box::new(e))
    }
}

impl Failure {
    /// The error's name on the wire.
    pub fn ename(&self) -> &'static str {
        match self {
            Failure::NoTarget | Failure::NotLoggedIn { .. } | Failure::NoHosts => "NoTarget",
            Failure::Magic(MagicError::Unknown { .. }) => "UnknownMagic",
            Failure::Magic(MagicError::Usage { .. }) => "MagicUsage",
            Failure::Ssh(_) | Failure::LoginTarget(_) | Failure::LoginEnvironment { .. } => {
                "LoginFailed"
            }
            Failure::Interrupted { .. } => "Interrupted",
            Failure::Timeout { .. } => "Timeout",
            Failure::WaitsForInput { .. } => "WaitsForInput",
            Failure::StoppedByTerminal { .. } => "StoppedByTerminal",
            Failure::ExitStatus { .. } | Failure::ShellExited { .. } => "ExitStatus",
            Failure::Signal { .. } => "Signal",
            Failure::NotStarted { .. } | Failure::EndUnknown { .. } | Failure::Target(_) => {
                "TargetError"
            }
            Failure::Transfer(_) => "TransferFailed",
            Failure::SudoCacheNotAllowed
            | Failure::LocalTurnedOff { .. }
            | Failure::SecretCommandRefused { .. } => "NotAllowed",
            Failure::SudoPasswordCommand(_) | Failure::SudoPasswordEnv { .. } => "SudoPassword",
            Failure::NeedsTerminal => "NeedsTerminal",
            Failure::Inventory(_) => "Inventory",
            Failure::Pattern(_) => "HostPattern",
            Failure::FleetFailed { .. } => "FleetFailed",
            Failure::OnNotFirst => "MagicUsage",
            Failure::ShellNotAlone => "MagicUsage",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_messages_on_the_wire() {
        let cases: Vec<(Failure, &str, &str)> = vec![
            (Failure::NoTarget, "NoTarget", HOW_TO_LOGIN),
            (
                Failure::NotLoggedIn {
                    host: "web1".into(),
                },
                "NoTarget",
                "not logged in to web1",
            ),
            (
                Failure::Interrupted { stage: Stage::Cell },
                "Interrupted",
                "the cell was interrupted",
            ),
            (
                Failure::ExitStatus { status: 3 },
                "ExitStatus",
                "exit status 3",
            ),
            (
                Failure::ShellExited { status: 3 },
                "ExitStatus",
                "exit status 3: the shell exited before the end of the cell; the context from before the cell is kept",
            ),
            (
                Failure::NotStarted {
                    exit: Exit::Code(127),
                    noise: "bash: not found".into(),
                },
                "TargetError",
                "the shell on the target did not start the cell (exit status 127): bash: not found",
            ),
            (
                Failure::NotStarted {
                    exit: Exit::Signal("KILL".into()),
                    noise: String::new(),
                },
                "TargetError",
                "the shell on the target did not start the cell (killed by signal KILL)",
            ),
            (
                Failure::Timeout { secs: 5 },
                "Timeout",
                "the cell ran longer than the %timeout of 5 s and was stopped",
            ),
            (
                Failure::Magic(MagicError::Unknown {
                    name: "bash".into(),
                    hint: String::new(),
                    known: "%login, %logout".into(),
                }),
                "UnknownMagic",
                "unknown magic %bash; known magics: %login,",
            ),
        ];
        for (f, ename, evalue) in cases {
            assert_eq!(f.ename(), ename, "{f:?}");
            assert!(f.to_string().starts_with(evalue), "{f:?}: {f}");
        }
        let w = Failure::WaitsForInput {
            prompt: Some("Password: ".into()),
        };
        assert_eq!(w.ename(), "WaitsForInput");
        assert!(
            w.to_string()
                .starts_with("the command waits for input: \"Password: \"; this client cannot answer prompts (allow_stdin is false)"),
            "{w}"
        );
    }
}
