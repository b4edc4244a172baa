//! A cell's shell started ahead of time. Starting a process in a PTY on a target (an SSH
//! channel, a PTY request and an exec, or a local fork) and restoring the context in it is
//! most of what a short cell costs; neither depends on the cell's code, so the kernel does
//! both as soon as a cell ends, and the next cell only sends its code (see
//! `context::script::prepare_payload`).
//!
//! A cell's shell may also stay after its cell (`script::Staging::stay`, `cell::Stayed`):
//! it is kept here in place of a started one ([`Spare::keep`]), holding the context its cell
//! left, and the next cell on that host runs in it with no process, channel or restore to
//! wait for (Run All).
//!
//! After a login, the shell started ahead is the login's own session, which stayed once it
//! had reported the login environment ([`Spare::prepare_from`], `script::login_payload`):
//! the host opens one session for its login and first cell, not two.
//!
//! A started shell is used only for the target, bootstrap and terminal size it was
//! started with, only if the context it restored is still the cell's, and only while it
//! still runs; otherwise it is dropped (hanging it up) and the cell starts its own. A cell
//! that comes while the shell is still being started waits for it rather than starting a
//! second one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Mutex;

use context::demux::ready_marker;
use context::script;
use targets::{PtyCommand, PtyInput, PtyProcess, Target};

use crate::nonce::new_nonce;

/// How long starting a shell ahead may take before it is given up (a connection that
/// stalls is detected by its keepalives; this task must not outlive it by much).
const START_WITHIN: Duration = Duration::from_secs(30);
/// How long a cell waits for a shell still being started before it starts its own.
const WAIT_FOR_START: Duration = Duration::from_secs(2);
/// Output a first stage may print before its ready marker (the restore prints nothing;
/// this only bounds what a misbehaving shell could make the kernel hold).
const BEFORE_READY_MAX: usize = 64 * 1024;

/// What the shell ahead restored, and the nonce its capture and markers use.
struct Prepared {
    /// None for a shell that stayed after a cell: the next cell brings a nonce of its own.
    nonce: Option<String>,
    /// `script::restore_state` of the context it restored (or, for a shell that stayed,
    /// of the context its cell left).
    state: Vec<u8>,
    /// Cells it ran before (a shell that stayed).
    uses: u32,
    /// A shell that stayed: the next cell sets the terminal's modes back first.
    reset_terminal: bool,
    /// The shell holds these definitions ([`definitions`]) and the display helpers: a
    /// shell started ahead got them with its first stage, one that stayed showed them in
    /// its capture. None: not known to (they come with the cell).
    definitions: Option<u64>,
}

struct Warm {
    target: Arc<dyn Target>,
    bootstrap: &'static str,
    size: (u16, u16),
    /// Taken by the cell that uses it; hung up if never used.
    proc: Option<PtyProcess>,
    prepared: Option<Prepared>,
    /// Output after the ready marker (normally none), for the cell.
    leftover: Vec<u8>,
}

impl Drop for Warm {
    fn drop(&mut self) {
        if let Some(p) = &self.proc {
            let _ = p.input.send(PtyInput::HangUp);
        }
    }
}

/// A shell taken by a cell.
pub struct Taken {
    pub proc: PtyProcess,
    /// Set when it holds the cell's context and waits for the second stage with this
    /// nonce; None: it waits for a whole payload.
    pub nonce: Option<String>,
    /// Cells it ran before: it stayed after the last one (see [`Spare::keep`]).
    pub uses: u32,
    /// It stayed after a cell that may have changed the terminal's modes
    /// (`cell::Stayed::modes_in_doubt`): the next cell sets them back first.
    pub reset_terminal: bool,
    /// It holds the cell's definitions and the display helpers
    /// (`script::Staging::definitions_kept`).
    pub definitions_kept: bool,
    pub leftover: Vec<u8>,
}

/// What the next cell wants.
pub struct Want<'a> {
    pub bootstrap: &'static str,
    pub size: (u16, u16),
    /// `restore_state` of the cell's context when the cell can use a prepared shell (bash,
    /// not `%become`, small enough a second stage); None: a bare one.
    pub state: Option<&'a [u8]>,
    /// [`definitions`] of the cell's context.
    pub definitions: u64,
}

/// A fingerprint of a context's functions and aliases (`script::restore_definitions`): a
/// shell that holds others is not used (a cell in another shell may have changed them
/// since, leaving the state as it was).
pub fn definitions(ctx: &context::Context) -> u64 {
    fingerprint(&script::restore_definitions(ctx))
}

/// [`definitions`] of restore text made already.
fn fingerprint(restore_definitions: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    restore_definitions.hash(&mut h);
    h.finish()
}

#[derive(Default)]
pub struct Spare {
    slot: Arc<Mutex<Option<Warm>>>,
    /// Bumped by [`Spare::clear`]: a start that was under way when it ran is dropped.
    generation: Arc<AtomicU64>,
}

impl Spare {
    /// The started shell, if it fits and still runs. One that fits the target but not the
    /// cell's kind (prepared vs bare) stays for a later cell.
    pub async fn take(&self, target: &Arc<dyn Target>, want: Want<'_>) -> Option<Taken> {
        self.take_within(target, want, WAIT_FOR_START).await
    }

    /// [`take`](Self::take), waiting up to `wait` for a shell being started.
    pub async fn take_within(
        &self,
        target: &Arc<dyn Target>,
        want: Want<'_>,
        wait: Duration,
    ) -> Option<Taken> {
        let mut slot = tokio::time::timeout(wait, self.slot.lock()).await.ok()?;
        let w = slot.as_mut()?;
        let alive = w.proc.as_mut().is_some_and(|p| {
            matches!(
                p.exit.try_recv(),
                Err(tokio::sync::oneshot::error::TryRecvError::Empty)
            ) && !p.input.is_closed()
        });
        let fits = alive
            && Arc::ptr_eq(&w.target, target)
            && w.bootstrap == want.bootstrap
            && w.size == want.size;
        match (&w.prepared, want.state) {
            _ if !fits => {
                *slot = None;
                None
            }
            (Some(p), Some(state))
                if p.state != state || p.definitions.is_some_and(|d| d != want.definitions) =>
            {
                // Restored a context that has changed since: of no use any more. (Sending
                // the definitions again would not do: one the context lost since would
                // stay defined.)
                *slot = None;
                None
            }
            (Some(_), None) | (None, Some(_)) => None,
            _ => {
                let mut w = slot.take()?;
                let prepared = w.prepared.take();
                let mut proc = w.proc.take()?;
                let mut leftover = std::mem::take(&mut w.leftover);
                // What a shell that stayed printed while it waited (normally nothing).
                while let Ok(chunk) = proc.output.try_recv() {
                    if leftover.len() < BEFORE_READY_MAX {
                        leftover.extend_from_slice(&chunk);
                    }
                }
                Some(Taken {
                    proc,
                    uses: prepared.as_ref().map_or(0, |p| p.uses),
                    reset_terminal: prepared.as_ref().is_some_and(|p| p.reset_terminal),
                    definitions_kept: prepared.as_ref().is_some_and(|p| p.definitions.is_some()),
                    nonce: prepared.map(|p| p.nonce.unwrap_or_else(new_nonce)),
                    leftover,
                })
            }
        }
    }

    /// Start the next cell's shell on `target` in the background; with `context`, also
    /// restore that context in it (the first stage), so the cell only sends its code.
    pub fn prepare(
        &self,
        target: Arc<dyn Target>,
        bootstrap: &'static str,
        size: (u16, u16),
        context: Option<&context::Context>,
    ) {
        self.prepare_from(target, None, bootstrap, size, context);
    }

    /// [`prepare`](Self::prepare) in `started` when given: a shell already running
    /// `bootstrap` on `target` at `size` and waiting for its payload (the login's, see
    /// `script::login_payload`), rather than one started now.
    pub fn prepare_from(
        &self,
        target: Arc<dyn Target>,
        started: Option<PtyProcess>,
        bootstrap: &'static str,
        size: (u16, u16),
        context: Option<&context::Context>,
    ) {
        // Held until the shell is ready, so a cell that comes meanwhile waits for it.
        let Ok(mut slot) = self.slot.clone().try_lock_owned() else {
            return hang_up(started);
        };
        *slot = None;
        // A login's session reads a first stage as a line (`script::login_payload`): with
        // none to give it (`%become`, sh), a shell started now takes the cell instead.
        let started = match started {
            Some(proc) if context.is_none() => {
                hang_up(Some(proc));
                None
            }
            started => started,
        };
        let first = context.map(|ctx| {
            let nonce = new_nonce();
            let state = script::restore_state(ctx);
            let defs = script::restore_definitions(ctx);
            (
                script::prepare_payload(ctx, &state, &defs, &nonce),
                Prepared {
                    nonce: Some(nonce),
                    state,
                    uses: 0,
                    reset_terminal: false,
                    definitions: Some(fingerprint(&defs)),
                },
            )
        });
        let generation = self.generation.clone();
        let started_at = generation.load(Ordering::SeqCst);
        // The kernel sends nothing after a first stage until the shell is ready: the shell
        // may read it as one line, with no `head` process (`script::LINE_BOOTSTRAP`). A
        // login's session that stayed reads it so too.
        let command = match first {
            Some(_) => script::for_first_stage(bootstrap),
            None => bootstrap,
        };
        let reads = match started {
            Some(_) => script::LINE_BOOTSTRAP,
            None => command,
        };
        tokio::spawn(async move {
            let mut proc = match started {
                Some(proc) => proc,
                None => match tokio::time::timeout(
                    START_WITHIN,
                    target.spawn_pty(PtyCommand {
                        command: command.to_owned(),
                        cols: size.0,
                        rows: size.1,
                    }),
                )
                .await
                {
                    Ok(Ok(proc)) => proc,
                    Ok(Err(e)) => return log::debug!("no shell started ahead: {e}"),
                    Err(_) => {
                        return log::debug!(
                            "no shell started ahead: it took over {START_WITHIN:?}"
                        );
                    }
                },
            };
            let mut warm = Warm {
                target,
                bootstrap,
                size,
                proc: None,
                prepared: None,
                leftover: Vec::new(),
            };
            if let Some((payload, prepared)) = first {
                let _ = proc
                    .input
                    .send(PtyInput::Data(Bytes::from(script::frame(reads, &payload))));
                let ready = ready_marker(prepared.nonce.as_deref().unwrap_or_default());
                match tokio::time::timeout(START_WITHIN, after_marker(&mut proc, &ready)).await {
                    Ok(Some(rest)) => {
                        warm.leftover = rest;
                        warm.prepared = Some(prepared);
                    }
                    _ => {
                        let _ = proc.input.send(PtyInput::HangUp);
                        return log::debug!("the shell started ahead did not get ready");
                    }
                }
            }
            warm.proc = Some(proc);
            if generation.load(Ordering::SeqCst) == started_at {
                *slot = Some(warm);
            }
        });
    }

    /// Keep a shell that stayed after its cell (`cell::Stayed`) for the next cell: it holds
    /// `ctx`, the context its cell left, and has run `uses` cells. Instead of
    /// [`prepare`](Self::prepare); if a start is under way, the shell is hung up.
    pub fn keep(
        &self,
        target: Arc<dyn Target>,
        bootstrap: &'static str,
        size: (u16, u16),
        stayed: crate::cell::Stayed,
        ctx: &context::Context,
        uses: u32,
    ) {
        let warm = Warm {
            target,
            bootstrap,
            size,
            proc: Some(stayed.proc),
            prepared: Some(Prepared {
                nonce: None,
                state: script::restore_state(ctx),
                uses,
                reset_terminal: stayed.modes_in_doubt,
                definitions: stayed.helpers_defined.then(|| definitions(ctx)),
            }),
            leftover: stayed.leftover,
        };
        if let Ok(mut slot) = self.slot.try_lock() {
            *slot = Some(warm);
        }
    }

    /// Drop the started shell (logout, shutdown), or only if it is on `target`; a start
    /// under way is dropped when it ends.
    pub fn clear(&self, target: Option<&Arc<dyn Target>>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut slot) = self.slot.try_lock()
            && target.is_none_or(|t| slot.as_ref().is_some_and(|w| Arc::ptr_eq(&w.target, t)))
        {
            *slot = None;
        }
    }
}

/// Hang up a shell that has no use (a started one whose slot was taken, a host gone).
pub fn hang_up(proc: Option<PtyProcess>) {
    if let Some(p) = proc {
        let _ = p.input.send(PtyInput::HangUp);
    }
}

/// Read `proc`'s output up to `marker`; what came after it. None if the output ended or
/// grew too long first.
async fn after_marker(proc: &mut PtyProcess, marker: &[u8]) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    while let Some(chunk) = proc.output.recv().await {
        seen.extend_from_slice(&chunk);
        if let Some(at) = memchr::memmem::find(&seen, marker) {
            return Some(seen.split_off(at + marker.len()));
        }
        if seen.len() > BEFORE_READY_MAX {
            return None;
        }
    }
    None
}
