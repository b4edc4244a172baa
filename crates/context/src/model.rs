//! The context model: what a host's shell state is between cells (working directory,
//! variables, functions, aliases, options, umask), how a capture updates it, and which
//! names are never carried.

use std::collections::{BTreeMap, BTreeSet};

use crate::capture::{Captured, declared_flags};
use crate::quote::ansi_c_quote;

/// Names never restored: read-only or dynamic in bash, tied to one connection or one
/// terminal, or the kernel's own.
const NEVER_RESTORED: &[&str] = &[
    "_",
    // Set for every cell by the runner (`script::display_helpers`), as bash_kernel does.
    "NOTEBOOK_BASH_KERNEL_CAPABILITIES",
    "BASH",
    "BASHOPTS",
    "BASHPID",
    "BASH_ALIASES",
    "BASH_ARGC",
    "BASH_ARGV",
    "BASH_ARGV0",
    "BASH_CMDS",
    "BASH_COMMAND",
    "BASH_EXECUTION_STRING",
    "BASH_LINENO",
    "BASH_REMATCH",
    "BASH_SOURCE",
    "BASH_SUBSHELL",
    "BASH_VERSINFO",
    "BASH_VERSION",
    "COLUMNS",
    "COMP_WORDBREAKS",
    "DIRSTACK",
    "EPOCHREALTIME",
    "EPOCHSECONDS",
    "EUID",
    "FUNCNAME",
    "GROUPS",
    "HISTCMD",
    "HOSTTYPE",
    "LINENO",
    "LINES",
    "MACHTYPE",
    "OSTYPE",
    "PIPESTATUS",
    "PPID",
    "PWD",
    "RANDOM",
    "SECONDS",
    "SHELLOPTS",
    "SHLVL",
    "SRANDOM",
    "SSH_AUTH_SOCK",
    "SSH_CLIENT",
    "SSH_CONNECTION",
    "SSH_TTY",
    "TERM",
    "UID",
];

/// `set -o` options that belong to an interactive shell or to the runner itself.
const SET_OPTIONS_NOT_CARRIED: &[&str] = &[
    "monitor",
    "history",
    "histexpand",
    "emacs",
    "vi",
    // Echoes the runner's own lines as they are read; a terminal would echo only the
    // user's. Not carried (README).
    "verbose",
    "interactive-comments",
];
/// Options applied just before the cell's code (not during the restore, where they would
/// trace or abort the runner's own commands).
pub const CELL_OPTIONS: &[&str] = &["errexit", "nounset", "pipefail", "xtrace"];
const SHOPTS_NOT_CARRIED: &[&str] = &["login_shell", "restricted_shell"];

/// Function definitions that come from bash-completion: needed only by interactive
/// completion, and large (hundreds of KiB), so they are left out of the context.
const COMPLETION_FILES: &[&[u8]] = &[b"/usr/share/bash-completion/", b"/etc/bash_completion"];

/// Whether a captured function is the kernel's own sudo wrapper (`script::sudo_wrapper`,
/// whose prompt carries the `[sshpty:` tag): the runner's, never the user's.
fn is_sudo_wrapper(name: &str, body: &[u8]) -> bool {
    name == "sudo" && body.windows(8).any(|w| w == b"[sshpty:")
}

/// bash_kernel's helpers, by their names there: `display [ID]` shows an image read on stdin,
/// `displayHTML [ID]` HTML, `displayJS` JavaScript (refused by the kernel: a host's script
/// never runs in the operator's page); with an ID a later call replaces that output.
pub const DISPLAY_HELPERS: [&str; 3] = ["display", "displayHTML", "displayJS"];

/// Whether a captured function is one of the kernel's display helpers
/// (`script::display_helpers`), defined for every cell and never carried: a user's own
/// function of the same name does not call `__sshpty_show`, and is kept.
fn is_display_helper(name: &str, body: &[u8]) -> bool {
    DISPLAY_HELPERS.contains(&name) && body.windows(13).any(|w| w == b"__sshpty_show")
}

pub fn is_restored_name(name: &str) -> bool {
    !NEVER_RESTORED.contains(&name) && !name.starts_with("__sshpty") && !name.starts_with("COMP_")
}

/// The shell cells run in on a target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dialect {
    /// bash, whatever the login shell: the whole state is carried.
    #[default]
    Bash,
    /// A host without bash: POSIX sh, carrying the working directory and exported
    /// variables (see `posix`).
    Sh,
}

#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Which shell this context is for; a host keeps it across reconnects.
    pub dialect: Dialect,
    pub cwd: Vec<u8>,
    /// name → `declare -p` text.
    pub vars: BTreeMap<String, Vec<u8>>,
    pub functions: BTreeMap<String, Vec<u8>>,
    pub aliases: BTreeMap<String, Vec<u8>>,
    pub set_options: BTreeMap<String, bool>,
    pub shopts: BTreeMap<String, bool>,
    pub umask: String,
    /// Exported names the login environment had: if a cell unsets one, later cells must
    /// unset it again (the target's own process environment would bring it back).
    pub login_exported: BTreeSet<String>,
}

/// What changed in the way a capture was applied, for messages.
#[derive(Debug, Default)]
pub struct Applied {
    pub dropped_functions: usize,
}

impl Context {
    /// Build the context from the login shell's capture.
    pub fn from_login(c: Captured) -> (Context, Applied) {
        let mut ctx = Context::default();
        let mut applied = Applied::default();
        let functions: BTreeMap<_, _> = c
            .functions
            .iter()
            .filter(|(name, _)| {
                let from_completion = c.function_files.get(*name).is_some_and(|f| {
                    COMPLETION_FILES
                        .iter()
                        .any(|p| memchr::memmem::find(f, p).is_some())
                });
                if from_completion {
                    applied.dropped_functions += 1;
                }
                !from_completion
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        ctx.login_exported = c
            .vars
            .iter()
            .filter(|(_, text)| declared_flags(text).contains(&b'x'))
            .map(|(name, _)| name.clone())
            .collect();
        let mut c = c;
        c.functions = functions;
        ctx.apply(c, false);
        (ctx, applied)
    }

    /// Take over the state captured after a cell. With `strict`, the kernel itself set
    /// errexit and pipefail for the cell, so their captured values are not the user's.
    pub fn apply(&mut self, c: Captured, strict: bool) {
        self.cwd = c.cwd;
        self.vars = c
            .vars
            .into_iter()
            .filter(|(name, text)| is_restored_name(name) && !declared_flags(text).contains(&b'r'))
            .collect();
        // Unreadable definitions (see `capture::split_functions`): the ones from before stay.
        if !c.functions_unreadable {
            self.functions = c
                .functions
                .into_iter()
                .filter(|(name, body)| {
                    !name.starts_with("__sshpty")
                        && !is_sudo_wrapper(name, body)
                        && !is_display_helper(name, body)
                })
                .collect();
        }
        self.aliases = c.aliases;
        let old = std::mem::take(&mut self.set_options);
        self.set_options = c
            .set_options
            .into_iter()
            .filter(|(name, _)| !SET_OPTIONS_NOT_CARRIED.contains(&name.as_str()))
            .collect();
        if strict {
            for name in ["errexit", "pipefail"] {
                match old.get(name) {
                    Some(v) => self.set_options.insert(name.into(), *v),
                    None => self.set_options.remove(name),
                };
            }
        }
        self.shopts = c
            .shopts
            .into_iter()
            .filter(|(name, _)| !SHOPTS_NOT_CARRIED.contains(&name.as_str()))
            .collect();
        if !c.umask.is_empty() {
            self.umask = c.umask;
        }
    }

    /// Set a variable as `%param` does: exported, so programs see it too (the original SSH
    /// Kernel made its parameters environment variables of the remote shell).
    pub fn set_param(&mut self, name: &str, value: &str) {
        self.set_variable(name, value, true);
    }

    /// Set a scalar shell variable in this context, `exported` or not.
    pub fn set_variable(&mut self, name: &str, value: &str, exported: bool) {
        let flags = if exported { "-x" } else { "--" };
        let mut text = format!("declare {flags} {name}=").into_bytes();
        text.extend(ansi_c_quote(value.as_bytes()));
        self.vars.insert(name.to_owned(), text);
    }

    /// Approximate size of the state in bytes, for `%status`.
    pub fn size(&self) -> usize {
        self.cwd.len()
            + self.vars.values().map(Vec::len).sum::<usize>()
            + self.functions.values().map(Vec::len).sum::<usize>()
            + self
                .aliases
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }

    pub fn cwd_lossy(&self) -> String {
        String::from_utf8_lossy(&self.cwd).into_owned()
    }

    /// A variable's value, when it is a plain scalar (for `%status`, the header).
    pub fn scalar(&self, name: &str) -> Option<String> {
        let text = self.vars.get(name)?;
        let eq = text.iter().position(|&b| b == b'=')?;
        let v = &text[eq + 1..];
        let v = v.strip_prefix(b"\"").and_then(|v| v.strip_suffix(b"\""))?;
        Some(
            String::from_utf8_lossy(v)
                .replace("\\\"", "\"")
                .replace("\\\\", "\\"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured() -> Captured {
        let mut c = Captured {
            cwd: b"/home/u".to_vec(),
            umask: "0022".into(),
            ..Default::default()
        };
        for (n, t) in [
            ("PATH", "declare -x PATH=\"/bin\""),
            ("BASHPID", "declare -i BASHPID=\"7\""),
            ("RO", "declare -r RO=\"1\""),
            ("__sshpty_s", "declare -- __sshpty_s=\"0\""),
            ("x", "declare -- x=\"1\""),
        ] {
            c.vars.insert(n.into(), t.as_bytes().to_vec());
        }
        c.functions
            .insert("mine".into(), b"mine () \n{ \n    :\n}".to_vec());
        c.functions
            .insert("_comp".into(), b"_comp () \n{ \n    :\n}".to_vec());
        c.function_files.insert(
            "_comp".into(),
            b"_comp 12 /usr/share/bash-completion/bash_completion".to_vec(),
        );
        c.set_options.insert("monitor".into(), true);
        c.set_options.insert("errexit".into(), true);
        c.shopts.insert("login_shell".into(), true);
        c.shopts.insert("extglob".into(), true);
        c
    }

    #[test]
    fn login_filters_dynamic_readonly_and_completion() {
        let (ctx, applied) = Context::from_login(captured());
        assert_eq!(ctx.vars.keys().collect::<Vec<_>>(), vec!["PATH", "x"]);
        assert_eq!(ctx.functions.keys().collect::<Vec<_>>(), vec!["mine"]);
        assert_eq!(applied.dropped_functions, 1);
        assert!(ctx.login_exported.contains("PATH"));
        assert!(!ctx.set_options.contains_key("monitor"));
        assert!(!ctx.shopts.contains_key("login_shell"));
    }

    #[test]
    fn strict_cells_do_not_change_errexit() {
        let (mut ctx, _) = Context::from_login(Captured::default());
        let mut c = captured();
        c.set_options.insert("pipefail".into(), true);
        ctx.apply(c.clone(), true);
        assert!(!ctx.set_options.contains_key("errexit"));
        assert!(!ctx.set_options.contains_key("pipefail"));
        ctx.apply(c, false);
        assert_eq!(ctx.set_options.get("errexit"), Some(&true));
    }

    #[test]
    fn params_and_scalars() {
        let mut ctx = Context::default();
        ctx.set_param("NAME", "a \"b\" 'c'");
        assert_eq!(
            ctx.vars["NAME"],
            b"declare -x NAME=$'a \"b\" \\'c\\''".to_vec()
        );
        ctx.set_variable("NAME", "v", false);
        assert_eq!(ctx.vars["NAME"], b"declare -- NAME=$'v'".to_vec());
        ctx.vars
            .insert("P".into(), b"declare -x P=\"x \\\"y\\\"\"".to_vec());
        assert_eq!(ctx.scalar("P").as_deref(), Some("x \"y\""));
    }
}
