//! `%sudo`: the remembered sudo passwords (forget, cache on or off) and where an unattended
//! run takes sudo's password from (a command, an environment variable). The cache itself
//! is `execute::sudo`.

use super::args::{Args, is_name};
use super::magic::{Magic, Spec, SudoCommand};
use crate::failure::{Failure, MagicError, Outcome};
use crate::output::StreamOut;
use crate::session::Engine;
use crate::sink::Sink;
use crate::sudo;

pub(super) const SUDO: Spec = Spec {
    name: "sudo",
    usage: "%sudo forget | cache on|off | password-from-command 'CMD' | password-from-env NAME",
    description: "forget the sudo password, turn its cache on or off, or take it from a command or variable",
    parse,
};

fn parse(a: &Args) -> Result<Magic, MagicError> {
    let (sub, rest) = a.split_first();
    let rest_args = Args { args: rest, ..*a };
    let command = match sub {
        "forget" => {
            rest_args.none()?;
            SudoCommand::Forget
        }
        "cache" => SudoCommand::Cache(
            rest_args
                .on_off()
                .map_err(|_| a.usage(format!("cache takes on or off (got {rest:?})")))?,
        ),
        "password-from-command" => {
            if rest.is_empty() {
                return Err(a.usage("password-from-command needs the command to run"));
            }
            SudoCommand::PasswordFromCommand(Args::rest_value(rest))
        }
        "password-from-env" => {
            let name = rest_args.one_word("password-from-env needs a variable name")?;
            if !is_name(&name) {
                return Err(a.usage(format!(
                    "password-from-env needs an environment variable name, not {name:?}"
                )));
            }
            SudoCommand::PasswordFromEnv(name)
        }
        "" => return Err(a.usage("needs what to do")),
        other => return Err(a.usage(format!("has no subcommand {other:?}"))),
    };
    Ok(Magic::Sudo(command))
}

impl Engine {
    pub(super) async fn sudo_magic(&self, cmd: SudoCommand, out: &mut StreamOut<'_>) -> Outcome {
        let host = || {
            let st = self.state();
            st.hosts
                .current_name()
                .map(str::to_owned)
                .ok_or(Failure::NoTarget)
        };
        match cmd {
            SudoCommand::Forget => {
                self.state().sudo.forget_all();
                out.text("sudo: remembered passwords forgotten\n");
            }
            SudoCommand::Cache(on) => {
                if !self.state().sudo.set_on(on) {
                    return Err(Failure::SudoCacheNotAllowed);
                }
                out.text(if on {
                    "sudo: a password sudo takes is remembered per host and user for 5 minutes after its last use, and given only to the cell's own sudo prompts\n"
                } else {
                    "sudo: passwords are not remembered (and those remembered are forgotten)\n"
                });
            }
            c @ (SudoCommand::PasswordFromCommand(_) | SudoCommand::PasswordFromEnv(_)) => {
                // A command the administrator did not allow is refused first, with or
                // without a host.
                if let SudoCommand::PasswordFromCommand(text) = &c {
                    self.secret_command(text.clone())?;
                }
                self.sudo_source(&[host()?], c, out).await?;
            }
        }
        Ok(())
    }

    /// `%sudo password-from-command|-from-env` for `hosts` (the current host, or a `%on`
    /// cell's hosts). A command is run once now, for the first host, so a wrong command
    /// shows here, not at the first sudo.
    pub(crate) async fn sudo_source(
        &self,
        hosts: &[String],
        cmd: SudoCommand,
        out: &mut StreamOut<'_>,
    ) -> Outcome {
        let (Some(first), many) = (hosts.first(), hosts.len() > 1) else {
            return Err(Failure::NoTarget);
        };
        let on = if many {
            format!(
                "{} hosts ({})",
                hosts.len(),
                fleet::fold::hostlist::fold(hosts)
            )
        } else {
            first.clone()
        };
        let tell = if many {
            " ($SSHPTY_HOST tells it which host)"
        } else {
            ""
        };
        match cmd {
            SudoCommand::PasswordFromCommand(command) => {
                let command = self.secret_command(command)?;
                let mut interrupt = self.inner.interrupt.subscribe();
                tokio::select! {
                    r = sudo::from_command(&command, first) => {
                        r.map_err(Failure::SudoPasswordCommand)?;
                    }
                    // Dropping the command's wait kills its process group.
                    _ = interrupt.changed() => {
                        return Err(Failure::Interrupted { stage: crate::failure::Stage::Cell });
                    }
                }
                let mut st = self.state();
                for h in hosts {
                    st.sudo
                        .set_source(h, sudo::Source::Command(command.clone()));
                }
                out.text(&format!(
                    "sudo on {on}: the password comes from the command when sudo asks{tell} (never shown)\n"
                ));
            }
            SudoCommand::PasswordFromEnv(name) => {
                let value = std::env::var(&name)
                    .map_err(|_| Failure::SudoPasswordEnv { name: name.clone() })?;
                // Nor does SendEnv ever send it to a server.
                targets::ssh::send_env::never_send(&name);
                // Cells on the local target never see it (only a fixed list of variables
                // reaches them; see target::local); it stays in this process only.
                let mut st = self.state();
                for h in hosts {
                    st.sudo
                        .set_source(h, sudo::Source::Env(zeroize::Zeroizing::new(value.clone())));
                }
                out.text(&format!(
                    "sudo on {on}: the password comes from ${name} when sudo asks (never shown)\n"
                ));
            }
            _ => {}
        }
        Ok(())
    }
}
