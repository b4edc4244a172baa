//! MetaKernel's `!` lines (a command on the kernel's own machine), and the administrator's
//! switch that turns off everything a cell could run or read on that machine
//! (`sshpty install --no-local`).
//!
//! A `!` line runs on the `local` target, as `%login local` cells do (a PTY, prompts,
//! interrupts, the output limit, the context carried from one `!` line to the next), without
//! making `local` the notebook's target, even while it runs: the status bar keeps showing
//! the notebook's host, and the cells after it run there. The
//! original SSH Kernel ran them in MetaKernel's persistent local bash, which carries its
//! state the same way.

use targets::{LOCAL, LoginTarget};

use super::login::LoginBy;
use crate::failure::{Failure, Outcome};
use crate::frontend::Request;
use crate::output::StreamOut;
use crate::secret_command::SecretCommand;
use crate::session::Engine;

/// `-o` keys of `%login` that make ssh run a command (or read a file chosen by the cell) on
/// the kernel's machine, refused under `--no-local`.
const LOCAL_OPTIONS: &[&str] = &[
    "proxycommand",
    "localcommand",
    "permitlocalcommand",
    "knownhostscommand",
    "identityagent",
    "userknownhostsfile",
    "globalknownhostsfile",
];

impl Engine {
    /// The administrator's `--no-local`: `what` would run or read something on the kernel's
    /// machine, so it is refused. No magic can turn it back on: it comes from the kernelspec.
    pub(crate) fn local_allowed(&self, what: &'static str) -> Outcome {
        if self.inner.no_local {
            return Err(Failure::LocalTurnedOff { what });
        }
        Ok(())
    }

    /// How `%sudo password-from-command TEXT` runs: through `sh` on a kernel without
    /// `--no-local`; under it, only as the argv of a store command the kernelspec allows.
    pub(crate) fn secret_command(&self, text: String) -> Result<SecretCommand, Failure> {
        if !self.inner.no_local {
            return Ok(SecretCommand::Shell(text));
        }
        self.inner
            .secret_commands
            .admit(&text)
            .map_err(|why| Failure::SecretCommandRefused { why })
    }

    /// Whether a login may go ahead under `--no-local`.
    pub(crate) fn login_allowed(&self, target: &LoginTarget) -> Outcome {
        match target {
            LoginTarget::Local => self.local_allowed("`%login local`"),
            LoginTarget::Ssh(r) => {
                if r.config_file.is_some() {
                    self.local_allowed(
                        "`%login -F` (a configuration file of the kernel's machine)",
                    )?;
                }
                if r.options
                    .iter()
                    .any(|(k, _)| LOCAL_OPTIONS.contains(&k.to_ascii_lowercase().as_str()))
                {
                    self.local_allowed("a `%login -o` option that runs a command or reads a file on the kernel's machine")?;
                }
                Ok(())
            }
        }
    }

    /// `!COMMAND` / `!!`: run `code` on the `local` target; the current target (or none,
    /// before any `%login`) stays current.
    pub(crate) async fn local_command(
        &self,
        code: &str,
        req: &Request,
        out: &mut StreamOut<'_>,
    ) -> Outcome {
        self.local_allowed("a `!` command")?;
        let silent = out.is_silent();
        if code.trim().is_empty() {
            return Ok(());
        }
        let outcome = self.run_on_local(code, req, silent, out).await;
        let current = {
            let st = self.state();
            let name = st.hosts.current_name();
            name.zip(st.hosts.current())
                .filter(|(_, h)| h.condition() == crate::hosts::Condition::Ready)
                .map(|(name, h)| (name.to_owned(), h.target.clone()))
        };
        // The `!` command used the shell started ahead for the current target: start another.
        if let Some((name, target)) = current {
            self.prepare_spare(&name, &target);
        }
        outcome
    }

    /// Run `code` on `local`, logging in to it first if needed; the current target stays
    /// (what the status bar shows and the next cell runs on).
    async fn run_on_local(
        &self,
        code: &str,
        req: &Request,
        silent: bool,
        out: &mut StreamOut<'_>,
    ) -> Outcome {
        let logged_in = self.state().hosts.get(LOCAL).is_some();
        if !logged_in {
            self.login(&LoginTarget::Local, req, LoginBy::Bang, out)
                .await?;
        }
        self.settle_login_on(Some(LOCAL), out).await?;
        self.run_shell(Some(LOCAL), req, silent, code, false, out)
            .await
    }
}
