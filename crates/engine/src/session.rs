//! The engine's shared state and handles: the hosts, settings, sudo cache and history (one
//! lock), the interrupt and shutdown signals, the shell started ahead, and the events for
//! the running cell. What a request does with them lives in `run.rs` (its course),
//! `shell.rs` (shell text on a host) and `magics/` (each magic).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use targets::LoginTarget;
use tokio::sync::{mpsc, watch};

use crate::frontend::{CellEvent, ForCell, RequestId};
use crate::history::History;
use crate::hosts::{Hosts, MAX_TERM_SIDE, Settings};
use crate::{sudo, warm};

/// Events a running cell may have waiting (keys typed faster than the program reads them
/// are held here; beyond, they are refused).
const CELL_EVENTS: usize = 256;

/// How the kernel was started (its kernelspec's flags).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--login TARGET`: log in at the first execute_request.
    pub login: Option<LoginTarget>,
    pub header: bool,
    pub sudo_cache: bool,
    /// `--no-local`: nothing a cell does runs or reads on the kernel's machine (`!`,
    /// `%login local`, transfers, a sudo password command); see `magics::local`.
    pub no_local: bool,
    /// `--secret-command PREFIX`: the store commands `%sudo password-from-command` may still
    /// run under `--no-local` (as plain words, without a shell).
    pub secret_commands: crate::secret_command::AllowedCommands,
    /// The user's marks file (`marks`), read again whenever it changes; None: no file.
    pub marks_path: Option<std::path::PathBuf>,
}

impl Options {
    /// Flags that contradict each other, said the way the command line spells them.
    pub fn contradiction(&self) -> Option<&'static str> {
        if self.no_local && matches!(self.login, Some(LoginTarget::Local)) {
            return Some("--login local runs cells on this machine, which --no-local turns off");
        }
        (!self.no_local && !self.secret_commands.is_empty()).then_some(
            "--secret-command only narrows what --no-local allows; without --no-local any \
             password command runs",
        )
    }
}

/// What the engine keeps between requests, behind one lock (`Engine::state`).
pub struct State {
    pub hosts: Hosts,
    pub settings: Settings,
    /// `%param` values, set in every host's context and replacing `{NAME}` in magics.
    pub params: BTreeMap<String, String>,
    /// Assignments made before any login (`early`): set, unexported, in the context of every
    /// target logged in after them, and `{NAME}`'s value when no `%param` gives one.
    pub early: BTreeMap<String, String>,
    pub sudo: sudo::SudoCache,
    pub execution_count: usize,
    pub history: History,
    /// Configuration warnings already shown.
    pub warned: std::collections::HashSet<String>,
    /// Configuration warnings of a kernelspec's own `--login`, told after the output of the
    /// cell it logged in for, never ahead of that cell's text.
    pub(crate) later_notes: Vec<String>,
    pub(crate) pending_login: Option<LoginTarget>,
    /// The hosts' marks: the user's file and the session's `%mark`s.
    pub marks: crate::marks_file::MarksState,
    /// `%inventory FILE`: the hosts `%on` selects among (None: those logged in to).
    pub inventory: Option<crate::magics::fleet::Loaded>,
}

pub(crate) struct Inner {
    state: Mutex<State>,
    pub(crate) interrupt: watch::Sender<u64>,
    /// Set at shutdown: the running cell's processes are killed at once.
    pub(crate) kill: watch::Sender<bool>,
    /// Whether a cell runs now, so shutdown can wait for it to be gone.
    pub(crate) running: watch::Sender<bool>,
    /// The next cell's shell, started ahead.
    pub(crate) spare: Arc<warm::Spare>,
    /// Each `%on` host's shell that stayed after its last fleet cell, by host name.
    pub(crate) fleet_shells: Mutex<std::collections::HashMap<String, Arc<warm::Spare>>>,
    /// `Options::no_local`, fixed for the kernel's life.
    pub(crate) no_local: bool,
    /// `Options::secret_commands`, fixed for the kernel's life.
    pub(crate) secret_commands: crate::secret_command::AllowedCommands,
    /// Where events for the running cell go, and the request it runs for.
    cell_events: Mutex<Option<(RequestId, mpsc::Sender<CellEvent>)>>,
    /// The `%login` under way (the name given, and whether it reconnects a lost host),
    /// for `presence`: the state lock is not held while a login waits on the network.
    logging_in: Mutex<Option<(String, bool)>>,
    /// Bumped when where the kernel is may have changed (a login starts or ends, a magic
    /// ran), so a frontend is told at once, not at the next look (`presence_changes`).
    changed: watch::Sender<u64>,
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
                    early: BTreeMap::new(),
                    sudo: sudo::SudoCache::new(opts.sudo_cache),
                    execution_count: 0,
                    history: History::new(),
                    warned: Default::default(),
                    later_notes: Vec::new(),
                    pending_login: opts.login,
                    marks: crate::marks_file::MarksState::new(opts.marks_path),
                    inventory: None,
                }),
                interrupt,
                kill,
                running,
                spare: Arc::default(),
                fleet_shells: Mutex::default(),
                no_local: opts.no_local,
                secret_commands: opts.secret_commands.clone(),
                cell_events: Mutex::new(None),
                logging_in: Mutex::new(None),
                changed: watch::channel(0).0,
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
        match self.cell_events().as_ref() {
            Some((id, tx)) if *id == ev.request => tx.try_send(ev.event).is_ok(),
            _ => {
                log::info!("dropped an event for a cell that is not running");
                false
            }
        }
    }

    /// The login under way, if any (see `Inner::logging_in`).
    pub(crate) fn logging_in(&self) -> Option<(String, bool)> {
        self.inner
            .logging_in
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Bumped whenever the presence may have changed; a connection lost while idle is not
    /// announced here (russh notices it on its own task): look every so often too.
    pub fn presence_changes(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    pub(crate) fn presence_may_have_changed(&self) {
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Say that a login to `name` is under way until the guard returned is dropped.
    pub(crate) fn start_logging_in(&self, name: &str, reconnect: bool) -> LoggingIn {
        *self
            .inner
            .logging_in
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((name.to_owned(), reconnect));
        self.presence_may_have_changed();
        LoggingIn(self.clone())
    }

    fn cell_events(&self) -> MutexGuard<'_, Option<(RequestId, mpsc::Sender<CellEvent>)>> {
        self.inner
            .cell_events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The running cell's events, from now until `close_cell_events`: only those naming
    /// request `id` are taken.
    pub(crate) fn open_cell_events(&self, id: &RequestId) -> mpsc::Receiver<CellEvent> {
        let (tx, rx) = mpsc::channel(CELL_EVENTS);
        *self.cell_events() = Some((id.clone(), tx));
        rx
    }

    pub(crate) fn close_cell_events(&self) {
        *self.cell_events() = None;
    }

    /// The shells fleet hosts kept after their `%on` cells: hung up, for host `name` (its
    /// logout) or all (shutdown).
    pub(crate) fn drop_fleet_shells(&self, name: Option<&str>) {
        let mut shells = self
            .inner
            .fleet_shells
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match name {
            Some(n) => {
                if let Some(s) = shells.remove(n) {
                    s.clear(None);
                }
            }
            None => {
                for (_, s) in shells.drain() {
                    s.clear(None);
                }
            }
        }
    }

    /// Shutdown: kill what the running cell started (hang up, then SIGKILL to its
    /// process group) and wait, boundedly, until it is gone.
    pub async fn kill_running(&self) {
        self.inner.kill.send_replace(true);
        self.inner.spare.clear(None);
        self.drop_fleet_shells(None);
        let mut running = self.inner.running.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(3), running.wait_for(|r| !*r)).await;
    }
}

/// A login under way; dropping it (the login done, failed or cancelled) says so.
pub(crate) struct LoggingIn(Engine);

impl Drop for LoggingIn {
    fn drop(&mut self) {
        *self
            .0
            .inner
            .logging_in
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
        self.0.presence_may_have_changed();
    }
}
