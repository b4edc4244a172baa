//! What a magic line is once read: the magics and their arguments, the cell split into its
//! magics and its shell text, and what each magic's entry in the list says.

use fleet::schedule::MaxFail;
use targets::LoginTarget;

use super::args::Args;
use crate::failure::MagicError;

/// One magic line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Magic {
    /// `%login [-p PORT] [-i KEY]... [-J JUMP] [-F CONFIG] [-o Key=Value]... [user@]HOST | local`
    Login(LoginTarget),
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
    /// `%help MAGIC` (`%help %login` too, as MetaKernel takes it)
    HelpOn(String),
    /// `%param NAME VALUE`
    Param { name: String, value: String },
    /// `%term COLSxROWS`
    Term { cols: u16, rows: u16 },
    /// `%output-limit SIZE|off`, in bytes; `None` is off.
    OutputLimit(Option<u64>),
    /// `%sudo ...`
    Sudo(SudoCommand),
    /// `%become [USER]` (root when not given, as with sudo), a valid user name.
    Become(String),
    /// `%unbecome`
    Unbecome,
    /// `%upload LOCAL REMOTE`
    Upload { local: String, remote: String },
    /// `%download REMOTE LOCAL`
    Download { remote: String, local: String },
    /// `%mark [PATTERNS MARK [COLOUR] | clear]`
    Mark(MarkCommand),
    /// `%shell`: an interactive shell in the cell (see `interactive`).
    Shell,
    /// `%inventory [FILE | off]`
    Inventory(Option<String>),
    /// `%on [OPTIONS] PATTERN`: the rest of the cell runs on every host PATTERN selects.
    On(OnArgs),
    /// `!COMMAND` (one line) or `!!` (the rest of the cell): shell text for the kernel's own
    /// machine, as MetaKernel's `%shell` (SSH Kernel's notebooks start with one).
    Local { code: String },
}

/// `%on`'s pattern and how its hosts are paced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnArgs {
    pub pattern: String,
    /// Hosts at once (None: the default).
    pub forks: Option<usize>,
    /// Rolling batches of this many hosts.
    pub batch: Option<usize>,
    /// Failures tolerated before no new host starts.
    pub max_fail: Option<MaxFail>,
}

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

/// `%mark ...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkCommand {
    /// `%mark`: list the file's marks and the session's.
    List,
    /// `%mark PATTERNS MARK [COLOUR]`
    Add(crate::marks::Rule),
    /// `%mark clear`: drop the session's.
    Clear,
}

/// A cell split into its magics and the shell text after them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedCell {
    pub magics: Vec<Magic>,
    /// The shell text after the magic lines (the whole cell when it has none), without the
    /// blank lines that followed the magics; empty when there is nothing to run.
    pub shell: String,
}

/// A magic: its name (after `%`), usage line and one-line description for `%help` and
/// errors, and how its arguments are read.
pub struct Spec {
    pub name: &'static str,
    pub usage: &'static str,
    pub description: &'static str,
    pub(super) parse: fn(&Args) -> Result<Magic, MagicError>,
}
