//! Executing requests: cells (magics, then shell text on the current target), and the
//! state they share (targets and their contexts, options, history).

pub mod cell;
pub mod complete;
mod failure;
#[cfg(test)]
mod fake;
pub mod frontend;
pub mod header;
pub mod hosts;
mod motion;
pub mod output;
pub mod sudo;
#[cfg(test)]
mod tests;
pub(crate) mod warm;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::history::History;
use cell::{CellResult, RunSpec, Sink, StopReason};
use context::script;
use context::{Context, Dialect};
pub use failure::{Failure, HOW_TO_LOGIN, Stage};
use frontend::{CellEvent, ForCell, Output, Request, RequestId};
pub use hosts::{Condition, Host, Hosts, Login, Settings};
use output::StreamOut;
use targets::{Exit, Target};

/// Cells longer than this are sent whole to a fresh shell rather than as the second
/// stage of a prepared one: a second stage is read a byte at a time (see
/// `script::prepare_payload`), which costs more than a fresh start beyond a few KiB.
const STAGED_CODE_MAX: usize = 4096;

/// How long a completion or inspection waits for a login's environment to be read.
const SETTLE_FOR_HELPERS: Duration = Duration::from_secs(3);

/// Events a running cell may have waiting (keys typed faster than the program reads them
/// are held here; beyond, they are refused).
const CELL_EVENTS: usize = 256;
/// The largest terminal side: the terminal keeps a cols × rows grid in memory.
pub const MAX_TERM_SIDE: u16 = 4096;

pub const DEFAULT_COLS: u16 = 160;
pub const DEFAULT_ROWS: u16 = 50;

/// A cell to run: its code, and how the request treats it.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub code: String,
    /// Shows nothing and leaves no history (Jupyter's `silent`).
    pub silent: bool,
    pub store_history: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--login TARGET`: log in at the first execute_request.
    pub login: Option<crate::magics::LoginTarget>,
    pub header: bool,
    pub sudo_cache: bool,
}

pub type Outcome = Result<(), Failure>;

pub struct State {
    pub hosts: Hosts,
    pub settings: Settings,
    /// `%param` values, set in every host's context and replacing `{NAME}` in magics.
    pub params: BTreeMap<String, String>,
    pub sudo: sudo::SudoCache,
    pub execution_count: usize,
    pub history: History,
    /// Configuration warnings already shown.
    pub warned: std::collections::HashSet<String>,
    pending_login: Option<crate::magics::LoginTarget>,
}

pub(crate) struct Inner {
    state: Mutex<State>,
    pub(crate) interrupt: watch::Sender<u64>,
    /// Set at shutdown: the running cell's processes are killed at once.
    pub(crate) kill: watch::Sender<bool>,
    /// Whether a cell runs now, so shutdown can wait for it to be gone.
    running: watch::Sender<bool>,
    /// The next cell's shell, started ahead.
    pub(crate) spare: Arc<warm::Spare>,
    /// Where events for the running cell go, and the request it runs for.
    cell_events: Mutex<Option<(RequestId, mpsc::Sender<CellEvent>)>>,
}

#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl Engine {
    pub fn new(opts: Options) -> Engine {
        let (interrupt, _) = watch::channel(0);
        let (kill, _) = watch::channel(false);
        let (running, _) = watch::channel(false);
        Engine {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    hosts: Hosts::default(),
                    settings: Settings::new(opts.header),
                    params: BTreeMap::new(),
                    sudo: sudo::SudoCache::new(opts.sudo_cache),
                    execution_count: 0,
                    history: History::new(),
                    warned: Default::default(),
                    pending_login: opts.login,
                }),
                interrupt,
                kill,
                running,
                spare: Arc::default(),
                cell_events: Mutex::new(None),
            }),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock must not take the kernel down with it.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stop what runs now (Ctrl-C first; see `cell` for the escalation).
    pub fn interrupt(&self) {
        self.inner.interrupt.send_modify(|n| *n += 1);
    }

    /// An event for the running cell from outside its request (a live terminal's keys, its
    /// size, a frontend attaching). Delivered only to the cell of the request it names, and
    /// while that cell runs: one meant for a cell that ended (or has not started) is
    /// dropped, so keys never reach a later program. A size outside 1..=4096 is refused
    /// (the terminal keeps a grid of that size), and so is a burst beyond the bounded
    /// queue. Returns whether the event was taken.
    pub fn cell_event(&self, ev: ForCell) -> bool {
        let side = |n: u16| (1..=MAX_TERM_SIDE).contains(&n);
        if let CellEvent::Resize { cols, rows } = ev.event
            && !(side(cols) && side(rows))
        {
            log::warn!("a terminal size out of range was refused: {:?}", ev.event);
            return false;
        }
        let events = self
            .inner
            .cell_events
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match events.as_ref() {
            Some((id, tx)) if *id == ev.request => tx.try_send(ev.event).is_ok(),
            _ => {
                log::info!("dropped an event for a cell that is not running");
                false
            }
        }
    }

    fn open_cell_events(&self, id: &RequestId) -> mpsc::Receiver<CellEvent> {
        let (tx, rx) = mpsc::channel(CELL_EVENTS);
        *self
            .inner
            .cell_events
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((id.clone(), tx));
        rx
    }

    fn close_cell_events(&self) {
        *self
            .inner
            .cell_events
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Shutdown: kill what the running cell started (hang up, then SIGKILL to its
    /// process group) and wait, boundedly, until it is gone.
    pub async fn kill_running(&self) {
        self.inner.kill.send_replace(true);
        self.inner.spare.clear(None);
        let mut running = self.inner.running.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(3), running.wait_for(|r| !*r)).await;
    }

    /// Run a cell's code for `req`. Returns the execution count it used.
    pub async fn execute(&self, cell: &Cell, req: &Request) -> (usize, Outcome) {
        let store = cell.store_history && !cell.silent;
        let count = {
            let mut st = self.state();
            if store {
                st.execution_count += 1;
                st.history.push(cell.code.clone());
            }
            st.execution_count
        };
        if !cell.silent {
            req.outputs.emit(Output::Input {
                code: cell.code.clone(),
                count,
            });
        }
        let mut out = StreamOut::new(req.outputs.as_ref(), cell.silent);
        let outcome = self.run_code(cell, req, &mut out).await;
        out.drain().await;
        if store && !out.kept.is_empty() {
            let kept = std::mem::take(&mut out.kept);
            self.state().history.set_output(count, kept);
        }
        if let Err(f) = &outcome
            && !cell.silent
        {
            req.outputs.emit(Output::Error {
                ename: f.ename().to_owned(),
                evalue: f.to_string(),
            });
        }
        (count, outcome)
    }

    async fn run_code(&self, cell: &Cell, req: &Request, out: &mut StreamOut<'_>) -> Outcome {
        let pending = self.state().pending_login.take();
        if let Some(target) = pending {
            self.login(&target, req, true, out).await?;
        }
        let params = self.state().params.clone();
        let parsed = crate::magics::parse_cell(&cell.code, &params)?;
        for m in parsed.magics {
            // Magics that show or use the context wait for a login's to be read.
            if matches!(
                m,
                crate::magics::Magic::Status
                    | crate::magics::Magic::Hosts
                    | crate::magics::Magic::Upload { .. }
                    | crate::magics::Magic::Download { .. }
            ) {
                self.settle_login(out).await?;
            }
            self.magic(m, req, out).await?;
        }
        if parsed.shell.trim().is_empty() {
            return Ok(());
        }
        self.settle_login(out).await?;
        self.shell(req, cell.silent, &parsed.shell, out).await
    }

    /// Run shell text on the current target.
    async fn shell(
        &self,
        req: &Request,
        silent: bool,
        code: &str,
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
            let (Some(name), Some(host)) = (st.hosts.current_name(), st.hosts.current()) else {
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
        let mut info = target.info();
        let login_user = info.user.clone();
        if let Some(u) = &become_user {
            // The header says who runs the cell.
            info.user = format!("{u} (via sudo as {})", info.user);
        }
        out.set_limit(limit, &info.host, count);
        out.header = show_header
            .then(|| header::Header::start(req.outputs.as_ref(), &info, &ctx.cwd_lossy()));
        let began = std::time::Instant::now();
        let sudo_marker = new_nonce()[..16].to_owned();
        // A password command (a vault lookup) runs only for cells that may call sudo.
        let may_sudo = become_user.is_some()
            || code.contains("sudo")
            || ctx
                .functions
                .values()
                .chain(ctx.aliases.values())
                .any(|b| b.windows(4).any(|w| w == b"sudo"));
        let (sudo_password, cache_on) = self
            .sudo_password(&name, &login_user, code, may_sudo, out)
            .await;
        let bootstrap = script::bootstrap(&ctx);
        let prepared_state = (become_user.is_none()
            && ctx.dialect == Dialect::Bash
            && code.len() <= STAGED_CODE_MAX)
            .then(|| script::restore_state(&ctx));
        let taken = self
            .inner
            .spare
            .take(
                &target,
                warm::Want {
                    bootstrap,
                    size: (cols, rows),
                    state: prepared_state.as_deref(),
                },
            )
            .await;
        let (nonce, input, started) = match taken {
            // The shell restored the context already: it waits for the rest.
            Some(warm::Taken {
                proc,
                nonce: Some(nonce),
                leftover,
            }) => {
                let input = script::second_stage(&ctx, code, &nonce, strict, Some(&sudo_marker));
                (nonce, input, Some((proc, leftover)))
            }
            taken => {
                let nonce = new_nonce();
                let p = script::cell_payload(&ctx, code, &nonce, strict, Some(&sudo_marker));
                let p = match &become_user {
                    Some(u) => script::become_payload(&p, u, &sudo_marker),
                    None => p,
                };
                (
                    nonce,
                    script::framed(&p),
                    taken.map(|t| (t.proc, t.leftover)),
                )
            }
        };
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
            },
            events: Some(self.open_cell_events(&req.id)),
        };
        self.inner.running.send_replace(true);
        let result = cell::run(
            target.as_ref(),
            spec,
            out,
            self.inner.interrupt.subscribe(),
            self.inner.kill.subscribe(),
        )
        .await;
        self.close_cell_events();
        self.inner.running.send_replace(false);
        let prepare_next = result.is_ok() && !*self.inner.kill.borrow();
        let whole = out.finish().await;
        let outcome = match result {
            Err(e) => Err(Failure::Target(Arc::new(e))),
            Ok(mut r) => {
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
        if prepare_next {
            // After `conclude`: the next cell's shell restores the context this cell left.
            self.prepare_spare(&name, &target);
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
    pub(super) fn prepare_spare(&self, name: &str, target: &Arc<dyn Target>) {
        let st = self.state();
        let Some(h) = st
            .hosts
            .get(name)
            .filter(|h| Arc::ptr_eq(&h.target, target))
        else {
            return;
        };
        let staged = h.become_user.is_none() && h.context.dialect == Dialect::Bash;
        self.inner.spare.prepare(
            target.clone(),
            script::bootstrap(&h.context),
            (st.settings.cols, st.settings.rows),
            staged.then_some(&h.context),
        );
    }

    /// The sudo password the cell may give to its own sudo prompt: remembered, or from
    /// the host's source; and whether one sudo takes may be reused. `sudo -k` in the cell
    /// forgets it first.
    async fn sudo_password(
        &self,
        host: &str,
        user: &str,
        code: &str,
        may_sudo: bool,
        out: &mut StreamOut<'_>,
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
        match sudo::from_command(&command).await {
            Ok(pw) => (Some(pw), cache_on),
            Err(e) => {
                out.note(&format!("sshpty: %sudo password-from-command: {e}\n"));
                (None, cache_on)
            }
        }
    }

    /// Interpret how a cell ended, keep the captured context, say what happened.
    #[allow(clippy::too_many_arguments)]
    fn conclude(
        &self,
        name: &str,
        target: &Arc<dyn Target>,
        before: &Context,
        r: CellResult,
        strict: bool,
        timeout: Option<Duration>,
        out: &mut StreamOut<'_>,
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
                if let Some(h) = st.hosts.get_mut(name)
                    && Arc::ptr_eq(&h.target, target)
                {
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

    /// A kernelspec's `--login` normally happens at the first cell; a completion or
    /// inspection asked before it logs in without questions (local, keys, agent). If that
    /// needs a question, the login is left for the first cell, where it can be asked.
    async fn login_for_helpers(&self) {
        let Some(target) = self.state().pending_login.take() else {
            return;
        };
        let req = Request::quiet();
        let mut quiet = StreamOut::new(req.outputs.as_ref(), true);
        if self.login(&target, &req, true, &mut quiet).await.is_err() {
            self.state().pending_login = Some(target);
        }
    }

    pub async fn complete(&self, code: &str, cursor_pos: usize) -> complete::Completion {
        self.login_for_helpers().await;
        let Some((target, ctx, helper)) = self.current_settled().await else {
            return complete::Completion {
                matches: Vec::new(),
                cursor_start: cursor_pos,
                cursor_end: cursor_pos,
            };
        };
        complete::complete(&helper, &target, &ctx, code, cursor_pos).await
    }

    pub async fn inspect(&self, code: &str, cursor_pos: usize) -> Option<String> {
        self.login_for_helpers().await;
        let (target, ctx, helper) = self.current_settled().await?;
        let word = complete::word_at(code, cursor_pos);
        complete::inspect(&helper, &target, &ctx, word).await
    }

    /// The current host's context, once its login environment has been read (completion
    /// and inspection wait for it; its notes and errors are left for the next cell).
    async fn current_settled(&self) -> Option<(Arc<dyn Target>, Context, Arc<complete::Helper>)> {
        let pending = {
            let st = self.state();
            st.hosts.current()?.reading()
        };
        if let Some(mut pending) = pending {
            // The reading itself is bounded (LOGIN_TIMEOUT, per attempt), but a completion
            // must not wait through a profile that hangs: past this it answers from the
            // context as it is (empty until the reading ends).
            let _ = tokio::time::timeout(SETTLE_FOR_HELPERS, pending.wait_for(|done| *done)).await;
        }
        self.current()
    }

    fn current(&self) -> Option<(Arc<dyn Target>, Context, Arc<complete::Helper>)> {
        let st = self.state();
        let h = st.hosts.current()?;
        Some((h.target.clone(), h.context.clone(), h.helper.clone()))
    }

    /// Close every target (kernel shutdown).
    pub async fn close_all(&self) {
        self.inner.spare.clear(None);
        let targets: Vec<Arc<dyn Target>> = {
            let mut st = self.state();
            st.hosts.take_all().into_iter().map(|h| h.target).collect()
        };
        for t in targets {
            t.close().await;
        }
    }
}

/// A fresh per-cell nonce: 128 random bits, hex.
pub fn new_nonce() -> String {
    use rand::Rng;
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Discards output: the login capture's runner prints nothing the user needs.
pub(crate) struct NullSink;
impl Sink for NullSink {
    fn text(&mut self, _: &str) {}
    fn flush(&mut self) {}
}
