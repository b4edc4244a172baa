//! One host's part of a `%on` cell: reached (its connection kept, or opened without
//! questions), then the cell's text run in a PTY there with the host's own context, as a
//! cell on the notebook's host runs, but answering only the host's own sudo prompt, its
//! output going to a bounded [`HostOutput`], and no header, live view or shell started
//! ahead (those belong to the notebook's current host).

use std::time::Instant;

use context::script;
use fleet::fold::Status;
use fleet::inventory::Connection;
use tokio::sync::watch;

use super::host_output::{Finished, HostOutput};
use super::password::Shared;
use crate::cell::{self, RunSpec};
use crate::failure::{Failure, Outcome, Stage};
use crate::frontend::{Asker, Discard, Request};
use crate::hosts::Condition;
use crate::magics::fleet::login_target;
use crate::magics::login::LoginBy;
use crate::nonce::new_nonce;
use crate::output::StreamOut;
use crate::session::Engine;
use crate::shell::{CellInput, cell_input, kept, may_sudo, staged};
use crate::sink::Sink;
use crate::warm;

/// How long a fleet host's cell waits for the shell it starts to restore its context
/// (hundreds of hosts start theirs at once).
const START_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

/// What one host's part came to.
pub struct HostEnd {
    pub status: Status,
    pub output: Finished,
    pub millis: u64,
    /// It was stopped by an interrupt (or never started because of one).
    pub interrupted: bool,
}

/// What every host of the cell shares.
pub struct Cell {
    pub code: String,
    pub count: usize,
    /// Bytes of a host's output held in memory.
    pub held_max: usize,
    pub output_dir: std::path::PathBuf,
    /// The fleet's one sudo password box; None: the client cannot answer.
    pub password: Option<Shared>,
}

impl Engine {
    /// Host `name`'s part of the cell. `interrupt` was subscribed when the cell began, so
    /// an interrupt that comes while the host is still being reached stops it too.
    pub(crate) async fn on_host(
        &self,
        name: &str,
        connection: Option<&Connection>,
        cell: &Cell,
        mut interrupt: watch::Receiver<u64>,
    ) -> HostEnd {
        let began = Instant::now();
        let mut out = HostOutput::new(cell.output_dir.clone(), name, cell.count, cell.held_max);
        let reached = tokio::select! {
            r = self.reach(name, connection) => r,
            _ = interrupt.changed() => Err(Failure::Interrupted { stage: Stage::Login }),
        };
        let outcome = match reached {
            Err(Failure::Interrupted { .. }) => Err(Failure::Interrupted {
                stage: Stage::Login,
            }),
            Err(f) => {
                return HostEnd {
                    status: Status::Unreachable {
                        message: f.to_string(),
                    },
                    output: out.finish(),
                    millis: millis(began),
                    interrupted: false,
                };
            }
            // An interrupt that came while it was reached: the cell is not started.
            Ok(()) if interrupt.has_changed().unwrap_or(true) => Err(Failure::Interrupted {
                stage: Stage::BeforeStart,
            }),
            Ok(()) => self.run_on_host(name, cell, interrupt, &mut out).await,
        };
        let interrupted = matches!(outcome, Err(Failure::Interrupted { .. }));
        let status = match outcome {
            Ok(()) => Status::Ok,
            Err(Failure::ExitStatus { status }) => Status::Failed { exit_code: status },
            Err(Failure::WaitsForInput { prompt })
                if prompt.as_deref() == Some(cell::SUDO_REFUSED) =>
            {
                out.note(&format!(
                    "sshpty: sudo refused the password on {name}; it was not given again\n"
                ));
                Status::Failed { exit_code: -1 }
            }
            Err(Failure::WaitsForInput { prompt }) => {
                let prompt = prompt.as_deref().unwrap_or("a prompt");
                out.note(&if cell.password.is_some() {
                    format!(
                        "\nsshpty: stopped: it waits for input ({prompt}); a fleet cell answers \
                         only each host's own sudo prompt, never a box per host (run it on this \
                         host alone, `%login` it, to answer)\n"
                    )
                } else {
                    format!(
                        "\nsshpty: stopped: it waits for input ({prompt}) and this client cannot \
                         answer (allow_stdin is false); for sudo, name a source after the %on \
                         line: %sudo password-from-command 'CMD' (told $SSHPTY_HOST) or \
                         password-from-env NAME\n"
                    )
                });
                Status::Failed { exit_code: -1 }
            }
            // No exit status to show: -1 in the table, and the error under the output. The
            // note does not name the host (its block does), so hosts that failed alike fold.
            Err(f) => {
                out.note(&format!("\nsshpty: {}: {f}\n", f.ename()));
                Status::Failed { exit_code: -1 }
            }
        };
        HostEnd {
            status,
            output: out.finish(),
            millis: millis(began),
            interrupted,
        }
    }

    /// Host `name`'s slot for the shell that stays after its fleet cells.
    pub(crate) fn fleet_shell(&self, name: &str) -> std::sync::Arc<warm::Spare> {
        let mut shells = self
            .inner
            .fleet_shells
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        shells.entry(name.to_owned()).or_default().clone()
    }

    /// Host `name` logged in to and its login environment read: an existing connection is
    /// kept, a lost one opened again, a new one made without questions (BatchMode: a host
    /// that needs a password or an unknown host key fails, never a box per host).
    async fn reach(&self, name: &str, connection: Option<&Connection>) -> Outcome {
        // What a login says goes nowhere: a fleet host that cannot be reached says why in
        // the table, and one that can is the cell's.
        let mut quiet = StreamOut::new(&Discard, true, false);
        let condition = self.state().hosts.get(name).map(|h| h.condition());
        if !matches!(condition, Some(Condition::Ready | Condition::Reading)) {
            self.login(
                &login_target(name, connection),
                &Request::quiet(),
                LoginBy::Fleet,
                &mut quiet,
            )
            .await?;
        }
        self.settle_login_on(Some(name), &mut quiet).await
    }

    /// The cell's text on host `name`, which is reached.
    async fn run_on_host(
        &self,
        name: &str,
        cell: &Cell,
        interrupt: watch::Receiver<u64>,
        out: &mut HostOutput,
    ) -> Outcome {
        let (target, ctx, strict, timeout, cols, rows, become_user) = {
            let st = self.state();
            let Some(host) = st.hosts.get(name) else {
                return Err(Failure::NoTarget);
            };
            let set = &st.settings;
            (
                host.target.clone(),
                host.context.clone(),
                set.strict,
                set.timeout,
                set.cols,
                set.rows,
                host.become_user.clone(),
            )
        };
        let login_user = target.info().user;
        let code = cell.code.as_str();
        let (sudo_password, cache_on) = self
            .sudo_password(
                name,
                &login_user,
                code,
                become_user.is_some() || may_sudo(&ctx, code),
                &interrupt,
                out,
            )
            .await;
        if interrupt.has_changed().unwrap_or(true) {
            return Err(Failure::Interrupted {
                stage: Stage::BeforeStart,
            });
        }
        let sudo_marker = new_nonce()[..16].to_owned();
        let bootstrap = script::bootstrap(&ctx);
        // The host's shell that stayed after its last fleet cell, holding its context, runs
        // this one: no channel, process or restore to wait for, and little for the host's
        // sshd to do. Else one started now with the context restored, which stays after.
        let shells = self.fleet_shell(name);
        let taken = if staged(&ctx, code, become_user.as_deref()) {
            let state = script::restore_state(&ctx);
            let definitions = warm::definitions(&ctx);
            let want = || warm::Want {
                bootstrap,
                size: (cols, rows),
                state: Some(&state),
                definitions,
            };
            match shells.take(&target, want()).await {
                Some(t) => Some(t),
                None => {
                    log::debug!("{name}: no shell ready for the fleet cell; starting one");
                    shells.prepare(target.clone(), bootstrap, (cols, rows), Some(&ctx));
                    shells.take_within(&target, want(), START_WITHIN).await
                }
            }
        } else {
            shells.clear(None);
            None
        };
        let CellInput {
            nonce,
            input,
            started,
            uses,
        } = cell_input(
            &ctx,
            code,
            strict,
            &sudo_marker,
            become_user.as_deref(),
            taken,
        );
        let spec = RunSpec {
            bootstrap,
            started,
            input,
            nonce: &nonce,
            cols,
            rows,
            timeout,
            answers: cell::Answers {
                asker: cell.password.as_ref().map(|p| p as &dyn Asker),
                sudo_marker: Some(sudo_marker.clone()),
                sudo_password,
                login_user,
                cache_on,
                before_start: become_user.is_some(),
                only_sudo: true,
            },
            events: None,
            terminal: None,
            live_from_start: false,
        };
        let result = cell::run(
            target.as_ref(),
            spec,
            out,
            interrupt,
            self.inner.kill.subscribe(),
        )
        .await;
        let keep = result.is_ok() && !*self.inner.kill.borrow();
        match result {
            Err(e) => Err(Failure::Target(Box::new(e))),
            Ok(mut r) => {
                let stayed = kept(&mut r, &ctx, code);
                let sudo = std::mem::take(&mut r.sudo);
                {
                    let mut st = self.state();
                    if sudo.rejected {
                        st.sudo.forget_host(name);
                    }
                    if let Some((user, pw)) = sudo.accepted {
                        st.sudo.remember(name, &user, pw, std::time::Instant::now());
                    }
                }
                let outcome = self.conclude(name, &target, &ctx, r, strict, timeout, out);
                // After `conclude`: the shell holds the context this cell left, which the
                // host's context now is.
                if let Some(stayed) = stayed.filter(|_| keep) {
                    let st = self.state();
                    match st.hosts.still(name, &target) {
                        Some(h) => shells.keep(
                            target.clone(),
                            bootstrap,
                            (cols, rows),
                            stayed,
                            &h.context,
                            uses,
                        ),
                        None => {
                            let _ = stayed.proc.input.send(targets::PtyInput::HangUp);
                        }
                    }
                }
                outcome
            }
        }
    }
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
