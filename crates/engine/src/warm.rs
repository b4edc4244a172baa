//! A cell's shell started ahead of time. Starting a process in a PTY on a target (an SSH
//! channel, a PTY request and an exec, or a local fork) and restoring the context in it is
//! most of what a short cell costs; neither depends on the cell's code, so the kernel does
//! both as soon as a cell ends, and the next cell only sends its code (see
//! `context::script::prepare_payload`).
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
    nonce: String,
    /// `script::restore_state` of the context it restored.
    state: Vec<u8>,
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
    /// Set when it restored the cell's context and waits for the second stage with this
    /// nonce; None: it waits for a whole payload.
    pub nonce: Option<String>,
    pub leftover: Vec<u8>,
}

/// What the next cell wants.
pub struct Want<'a> {
    pub bootstrap: &'static str,
    pub size: (u16, u16),
    /// `restore_state` of the cell's context when the cell can use a prepared shell (bash,
    /// not `%become`, small enough a second stage); None: a bare one.
    pub state: Option<&'a [u8]>,
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
        let mut slot = tokio::time::timeout(WAIT_FOR_START, self.slot.lock())
            .await
            .ok()?;
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
            (Some(p), Some(state)) if p.state != state => {
                // Restored a context that has changed since: of no use any more.
                *slot = None;
                None
            }
            (Some(_), None) | (None, Some(_)) => None,
            _ => {
                let mut w = slot.take()?;
                Some(Taken {
                    proc: w.proc.take()?,
                    nonce: w.prepared.take().map(|p| p.nonce),
                    leftover: std::mem::take(&mut w.leftover),
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
        // Held until the shell is ready, so a cell that comes meanwhile waits for it.
        let Ok(mut slot) = self.slot.clone().try_lock_owned() else {
            return;
        };
        *slot = None;
        let first = context.map(|ctx| {
            let nonce = new_nonce();
            let state = script::restore_state(ctx);
            (
                script::prepare_payload(&state, &nonce),
                Prepared { nonce, state },
            )
        });
        let generation = self.generation.clone();
        let started_at = generation.load(Ordering::SeqCst);
        tokio::spawn(async move {
            let started = tokio::time::timeout(
                START_WITHIN,
                target.spawn_pty(PtyCommand {
                    command: bootstrap.to_owned(),
                    cols: size.0,
                    rows: size.1,
                }),
            )
            .await;
            let mut proc = match started {
                Ok(Ok(proc)) => proc,
                Ok(Err(e)) => return log::debug!("no shell started ahead: {e}"),
                Err(_) => {
                    return log::debug!("no shell started ahead: it took over {START_WITHIN:?}");
                }
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
                    .send(PtyInput::Data(Bytes::from(script::framed(&payload))));
                let ready = ready_marker(&prepared.nonce);
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
