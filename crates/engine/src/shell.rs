//! Shell text on the current host: the payload (a fresh shell's, or the second stage of
//! the one started ahead), the sudo password it may use, the PTY run, and `conclude`, which
//! keeps the captured context and turns how the shell ended into the outcome.

use std::sync::Arc;
use std::time::Duration;

use context::{Context, Dialect, script};
use targets::{Exit, Target};

use crate::cell::{self, CellResult, RunSpec, StopReason};
use crate::failure::{Failure, Outcome, Stage};
use crate::frontend::Request;
use crate::header;
use crate::nonce::new_nonce;
use crate::output::StreamOut;
use crate::session::Engine;
use crate::sink::Sink;
use crate::{sudo, warm};

/// Cells longer than this are sent whole to a fresh shell rather than as the second
/// stage of a prepared one: a second stage is read a byte at a time (see
/// `script::prepare_payload`), which costs more than a fresh start beyond a few KiB.
const STAGED_CODE_MAX: usize = 4096;

impl Engine {
    /// Run shell text on the current target.
    pub(crate) async fn shell(
        &self,
        req: &Request,
        silent: bool,
        code: &str,
        out: &mut StreamOut<'_>,
    ) -> Outcome {
        self.run_shell(None, req, silent, code, false, out).await
    }

    /// Run shell text on host `on` (the current target when `None`; a `!` line runs on
    /// `local` while the notebook's target stays current); `live`: in the request's live
    /// terminal from its start (`%shell`), not only once a program takes the screen.
    pub(crate) async fn run_shell(
        &self,
        on: Option<&str>,
        req: &Request,
        silent: bool,
        code: &str,
        live: bool,
        out: &mut StreamOut<'_>,
    ) -> Outcome {
        let (
            name,
            target,
            ctx,
            strict,
            timeout,
            show_header,
            cols,
            rows,
            limit,
            count,
            become_user,
        ) = {
            let st = self.state();
            let name = on.or(st.hosts.current_name());
            let (Some(name), Some(host)) = (name, name.and_then(|n| st.hosts.get(n))) else {
                return Err(Failure::NoTarget);
            };
            let set = &st.settings;
            (
                name.to_owned(),
                host.target.clone(),
                host.context.clone(),
                set.strict,
                set.timeout,
                set.header && !silent,
                set.cols,
                set.rows,
                set.output_limit,
                st.execution_count,
                host.become_user.clone(),
            )
        };
        // Interrupts from here on stop the cell, also one while its sudo password is looked
        // up or its process started.
        let interrupt = self.inner.interrupt.subscribe();
        let mut info = target.info();
        let login_user = info.user.clone();
        if let Some(u) = &become_user {
            // The header says who runs the cell.
            info.user = format!("{u} (via sudo as {})", info.user);
        }
        out.set_limit(limit, &info.host, count);
        if show_header {
            let mark = self.mark_of(&name, &info.host);
            out.start_header(header::Header::start(
                req.outputs.as_ref(),
                &info,
                &ctx.cwd_lossy(),
                mark,
            ));
        }
        let began = std::time::Instant::now();
        let sudo_marker = new_nonce()[..16].to_owned();
        // A password command (a vault lookup) runs only for cells that may call sudo.
        let may_sudo = become_user.is_some() || may_sudo(&ctx, code);
        let (sudo_password, cache_on) = self
            .sudo_password(&name, &login_user, code, may_sudo, &interrupt, out)
            .await;
        let bootstrap = script::bootstrap(&ctx);
        let prepared_state =
            staged(&ctx, code, become_user.as_deref()).then(|| script::restore_state(&ctx));
        let taken = self
            .inner
            .spare
            .take(
                &target,
                warm::Want {
                    bootstrap,
                    size: (cols, rows),
                    state: prepared_state.as_deref(),
                    definitions: warm::definitions(&ctx),
                },
            )
            .await;
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
                asker: req.asker.as_deref(),
                sudo_marker: Some(sudo_marker.clone()),
                sudo_password,
                login_user: login_user.clone(),
                cache_on,
                before_start: become_user.is_some(),
                only_sudo: false,
            },
            events: Some(self.open_cell_events(&req.id)),
            terminal: req.terminal.as_deref(),
            live_from_start: live,
        };
        self.inner.running.send_replace(true);
        let result = cell::run(
            target.as_ref(),
            spec,
            out,
            interrupt,
            self.inner.kill.subscribe(),
        )
        .await;
        self.close_cell_events();
        self.inner.running.send_replace(false);
        let prepare_next = result.is_ok() && !*self.inner.kill.borrow();
        let whole = out.finish().await;
        let mut stayed = None;
        let outcome = match result {
            Err(e) => Err(Failure::Target(Box::new(e))),
            Ok(mut r) => {
                stayed = kept(&mut r, &ctx, code);
                let sudo = std::mem::take(&mut r.sudo);
                {
                    let mut st = self.state();
                    if sudo.rejected {
                        st.sudo.forget_host(&name);
                    }
                    if let Some((user, pw)) = sudo.accepted {
                        st.sudo
                            .remember(&name, &user, pw, std::time::Instant::now());
                    }
                }
                self.conclude(&name, &target, &ctx, r, strict, timeout, out)
            }
        };
        match stayed {
            // After `conclude`: the shell holds the context this cell left, which the
            // host's context now is.
            Some(stayed) if prepare_next => self.keep_stayed(&name, &target, stayed, uses),
            // The next cell's shell restores the context this cell left.
            _ if prepare_next => self.prepare_spare(&name, &target),
            // Dropped: hung up.
            _ => {}
        }
        if let Some(file) = whole {
            out.note(&format!(
                "sshpty: the complete output of this cell is in {}\n",
                file.display()
            ));
        }
        if let Some(h) = out.header.take() {
            let cwd = self
                .state()
                .hosts
                .get(&name)
                .map(|h| h.context.cwd_lossy())
                .unwrap_or_default();
            h.finish(req.outputs.as_ref(), &cwd, &outcome, began.elapsed());
        }
        outcome
    }

    /// Start the next cell's shell on host `name` ahead of time (see `warm`): with the
    /// host's context restored in it, where a cell can use that (bash, not `%become`).
    pub(crate) fn prepare_spare(&self, name: &str, target: &Arc<dyn Target>) {
        self.prepare_spare_from(name, target, None);
    }

    /// [`Engine::prepare_spare`] in `started` when given: a shell on `target` running the
    /// bootstrap and waiting for its payload (the login's session, which stayed).
    pub(crate) fn prepare_spare_from(
        &self,
        name: &str,
        target: &Arc<dyn Target>,
        started: Option<targets::PtyProcess>,
    ) {
        self.prepare_in(&self.inner.spare, name, target, started);
    }

    /// Prepare host `name`'s next cell in `slot` (the notebook's spare, or a fleet host's
    /// own), in `started` when given: the context restored when the cell can use a
    /// prepared shell (bash, not `%become`).
    pub(crate) fn prepare_in(
        &self,
        slot: &warm::Spare,
        name: &str,
        target: &Arc<dyn Target>,
        started: Option<targets::PtyProcess>,
    ) {
        let st = self.state();
        let Some(h) = st.hosts.still(name, target) else {
            return warm::hang_up(started);
        };
        let staged = h.become_user.is_none() && h.context.dialect == Dialect::Bash;
        slot.prepare_from(
            target.clone(),
            started,
            script::bootstrap(&h.context),
            (st.settings.cols, st.settings.rows),
            staged.then_some(&h.context),
        );
    }

    /// Keep the shell that stayed after a cell on host `name` for the next cell there, in
    /// place of starting one (see `warm::Spare::keep`).
    fn keep_stayed(&self, name: &str, target: &Arc<dyn Target>, stayed: cell::Stayed, uses: u32) {
        let st = self.state();
        let Some(h) = st.hosts.still(name, target) else {
            let _ = stayed.proc.input.send(targets::PtyInput::HangUp);
            return;
        };
        self.inner.spare.keep(
            target.clone(),
            script::bootstrap(&h.context),
            (st.settings.cols, st.settings.rows),
            stayed,
            &h.context,
            uses,
        );
    }

    /// The sudo password the cell may give to its own sudo prompt: remembered, or from
    /// the host's source; and whether one sudo takes may be reused. `sudo -k` in the cell
    /// forgets it first. An interrupt stops a source command (the cell then sees it too).
    pub(crate) async fn sudo_password(
        &self,
        host: &str,
        user: &str,
        code: &str,
        may_sudo: bool,
        interrupt: &tokio::sync::watch::Receiver<u64>,
        out: &mut dyn Sink,
    ) -> (Option<zeroize::Zeroizing<String>>, bool) {
        let (remembered, command, cache_on) = {
            let mut st = self.state();
            if sudo::invalidates(code) {
                st.sudo.forget_host(host);
            }
            let remembered = st.sudo.get(host, user, std::time::Instant::now());
            let command = match st.sudo.source(host) {
                Some(sudo::Source::Env(v)) if remembered.is_none() => {
                    return (Some(v.clone()), st.sudo.on());
                }
                Some(sudo::Source::Command(c)) if remembered.is_none() && may_sudo => {
                    Some(c.clone())
                }
                _ => None,
            };
            (remembered, command, st.sudo.on())
        };
        if remembered.is_some() {
            return (remembered, cache_on);
        }
        let Some(command) = command else {
            return (None, cache_on);
        };
        let mut interrupted = interrupt.clone();
        tokio::select! {
            r = sudo::from_command(&command, host) => match r {
                Ok(pw) => (Some(pw), cache_on),
                Err(e) => {
                    out.note(&format!("sshpty: %sudo password-from-command: {e}\n"));
                    (None, cache_on)
                }
            },
            _ = interrupted.changed() => (None, cache_on),
        }
    }

    /// Interpret how a cell ended, keep the captured context, say what happened.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn conclude(
        &self,
        name: &str,
        target: &Arc<dyn Target>,
        before: &Context,
        r: CellResult,
        strict: bool,
        timeout: Option<Duration>,
        out: &mut dyn Sink,
    ) -> Outcome {
        if r.stopped == Some(StopReason::Unanswerable) {
            return Err(Failure::WaitsForInput {
                prompt: r.unanswered.clone(),
            });
        }
        if !r.started {
            return Err(match r.stopped {
                Some(StopReason::Interrupt) => Failure::Interrupted {
                    stage: Stage::BeforeStart,
                },
                _ => Failure::NotStarted {
                    exit: r.exit,
                    noise: String::from_utf8_lossy(&r.noise).trim().to_owned(),
                },
            });
        }
        let mut status: Option<i32> = None;
        match r.captured {
            Some(Ok(c)) => {
                status = Some(c.status);
                if c.functions_unreadable {
                    out.note("sshpty: the shell's function definitions could not be told apart (a here-document or string in one has a line that looks like a function's first line); the functions are kept as they were before this cell\n");
                }
                let mut st = self.state();
                // Only if the user did not log out or switch the host's target meanwhile.
                if let Some(h) = st.hosts.still_mut(name, target) {
                    h.context.apply(c, strict);
                }
            }
            Some(Err(e)) => out.note(&format!("sshpty: {e}; the context from before the cell is kept\n")),
            None if r.stopped.is_some() && r.exit != Exit::Code(0) => {
                out.note("sshpty: the shell was stopped before it could report its state; the context from before the cell is kept\n")
            }
            None if r.capture_too_large => {
                out.note("sshpty: the shell state is larger than 64 MiB and was not kept; the context from before the cell is kept\n")
            }
            None => {}
        }
        if r.cd_failed {
            let now = self
                .state()
                .hosts
                .get(name)
                .map(|h| h.context.cwd_lossy())
                .unwrap_or_default();
            out.note(&format!(
                "sshpty: the directory {} cannot be entered (gone, or no permission); the cell ran in {now}\n",
                before.cwd_lossy()
            ));
        }
        match r.stopped {
            Some(StopReason::Interrupt) => {
                return Err(Failure::Interrupted { stage: Stage::Cell });
            }
            Some(StopReason::Unanswerable) => {
                return Err(Failure::WaitsForInput {
                    prompt: r.unanswered.clone(),
                });
            }
            Some(StopReason::Timeout) => {
                let secs = timeout.map(|t| t.as_secs()).unwrap_or(0);
                return Err(Failure::Timeout { secs });
            }
            Some(StopReason::StoppedProgram) => {
                return Err(Failure::StoppedByTerminal {
                    what: r
                        .stopped_program
                        .clone()
                        .unwrap_or_else(|| "a program".into()),
                });
            }
            None => {}
        }
        match (status, &r.exit) {
            (Some(0), _) => Ok(()),
            (Some(status), _) => Err(Failure::ExitStatus { status }),
            (None, Exit::Code(0)) => {
                out.note("sshpty: the shell ended before the end of the cell (exit or exec); the context from before the cell is kept\n");
                Ok(())
            }
            (None, Exit::Code(status)) => Err(Failure::ShellExited { status: *status }),
            (None, Exit::Signal(s)) => Err(Failure::Signal { signal: s.clone() }),
            (None, Exit::Unknown(why)) => Err(Failure::EndUnknown { why: why.clone() }),
        }
    }
}

/// Whether a cell can run in a shell that holds its context already (a second stage): bash,
/// not `%become`, and code small enough.
pub(crate) fn staged(ctx: &Context, code: &str, become_user: Option<&str>) -> bool {
    become_user.is_none() && ctx.dialect == Dialect::Bash && code.len() <= STAGED_CODE_MAX
}

/// What a cell writes into its shell, and the shell.
pub(crate) struct CellInput {
    pub nonce: String,
    pub input: Vec<u8>,
    /// A shell started before the cell, and what it printed after it got ready.
    pub started: Option<(targets::PtyProcess, Vec<u8>)>,
    /// Cells the shell will have run with this one (for one that stays).
    pub uses: u32,
}

/// The second stage for a shell that holds the cell's context already (one started ahead,
/// or one that stayed), else a whole payload for `taken`'s bare shell or a fresh one.
pub(crate) fn cell_input(
    ctx: &Context,
    code: &str,
    strict: bool,
    sudo_marker: &str,
    become_user: Option<&str>,
    taken: Option<warm::Taken>,
) -> CellInput {
    match taken {
        Some(warm::Taken {
            proc,
            nonce: Some(nonce),
            uses: before,
            reset_terminal,
            definitions_kept,
            leftover,
        }) => {
            let staging = script::Staging {
                reused: before > 0,
                stay: may_stay(ctx, code, before),
                reset_terminal,
                definitions_kept,
            };
            let input = script::second_stage(ctx, code, &nonce, strict, Some(sudo_marker), staging);
            CellInput {
                nonce,
                input,
                started: Some((proc, leftover)),
                uses: before + 1,
            }
        }
        taken => {
            let nonce = new_nonce();
            let p = script::cell_payload(ctx, code, &nonce, strict, Some(sudo_marker));
            let p = match become_user {
                Some(u) => script::become_payload(&p, u, sudo_marker),
                None => p,
            };
            CellInput {
                nonce,
                input: script::framed(&p),
                started: taken.map(|t| (t.proc, t.leftover)),
                uses: 0,
            }
        }
    }
}

/// Whether a cell may call sudo: its text or a definition it may call says `sudo`. A
/// password command (a vault lookup) runs only for such cells.
pub(crate) fn may_sudo(ctx: &Context, code: &str) -> bool {
    mentions(ctx, code, "sudo")
}

/// Whether `word` is in the cell's text or a definition it may call.
fn mentions(ctx: &Context, code: &str, word: &str) -> bool {
    code.contains(word)
        || ctx
            .functions
            .values()
            .chain(ctx.aliases.values())
            .any(|b| memchr::memmem::find(b, word.as_bytes()).is_some())
}

/// The shell that stayed after the cell `code` ran in `ctx`, taken from its result. Beyond
/// what the run saw (`cell::Stayed::modes_in_doubt`), a cell that may run `stty` may have
/// changed the terminal's modes.
pub(crate) fn kept(r: &mut cell::CellResult, ctx: &Context, code: &str) -> Option<cell::Stayed> {
    let mut stayed = r.stayed.take()?;
    stayed.modes_in_doubt |= mentions(ctx, code, "stty");
    Some(stayed)
}

/// Cells one shell runs at most, one after another, staying after each: each nests the
/// next one's `eval` in its own, so the chain is cut before bash's stack could matter.
const STAY_MAX_USES: u32 = 100;

/// Whether the shell stays for the next cell after this one (`script::Staging::stay`),
/// having run `before` cells. Not when the cell or a definition it may call sets a trap: an
/// `EXIT` trap runs when the cell's shell ends, as it always has.
fn may_stay(ctx: &context::Context, code: &str, before: u32) -> bool {
    let mentions_trap = |b: &[u8]| b.windows(4).any(|w| w == b"trap");
    before + 1 < STAY_MAX_USES
        && !mentions_trap(code.as_bytes())
        && !ctx
            .functions
            .values()
            .chain(ctx.aliases.values())
            .any(|b| mentions_trap(b))
}
