//! Cells' shells started ahead of time. Starting a process in a PTY on a target (an SSH
//! channel, a PTY request and an exec, and the shell's own start) and restoring the context
//! in it is most of what a short cell costs; neither depends on the cell's code. So the
//! kernel keeps, per connection, up to two shells waiting (see [`DEPTH`]):
//!
//! * a **prepared** one, with a context restored (the first stage,
//!   `context::script::prepare_payload`): the next cell only sends its code;
//! * a **bare** one in reserve, fully started, for a context not known in advance.
//!
//! When a cell ends ([`Spare::prepare`]), the context it left is restored in the reserve
//! (a few milliseconds: the shell is up), and a new reserve is started. Cells sent back to
//! back, as Run All sends them, so find their shell ready or nearly so, without waiting
//! for a shell to start; and nothing is started while a cell runs, which would slow it
//! down on a busy host. The cost to the host: two shells (bash processes and, over SSH,
//! sessions of the connection) waiting between cells.
//!
//! A started shell is used only for the target, bootstrap and terminal size it was
//! started with, only if the context it restored is still the cell's, and only while it
//! still runs; otherwise it is dropped (hanging it up). A cell that comes while a fitting
//! shell is still being started waits for it rather than starting another.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;

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

impl Warm {
    /// Its shell still runs.
    fn running(&mut self) -> bool {
        self.proc.as_mut().is_some_and(|p| {
            matches!(
                p.exit.try_recv(),
                Err(tokio::sync::oneshot::error::TryRecvError::Empty)
            ) && !p.input.is_closed()
        })
    }
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

/// Shells waiting at most (prepared and bare, started or being started): with the cell's
/// own, the completion helper, SFTP, the kill channel and the login reader, seven of sshd's
/// default ten sessions per connection.
pub const DEPTH: usize = 2;

/// A shell being started: what it will be, so a cell knows whether to wait for it.
#[derive(Clone)]
struct Filling {
    id: u64,
    target: Arc<dyn Target>,
    bootstrap: &'static str,
    size: (u16, u16),
    /// `restore_state` of the context it restores; None: bare.
    state: Option<Vec<u8>>,
}

#[derive(Default)]
struct Pool {
    ready: Vec<Warm>,
    filling: Vec<Filling>,
    next_id: u64,
}

#[derive(Default)]
pub struct Spare {
    pool: Arc<std::sync::Mutex<Pool>>,
    /// Told whenever a start ends.
    done: Arc<tokio::sync::Notify>,
    /// Bumped by [`Spare::clear`]: a start that was under way when it ran is dropped.
    generation: Arc<AtomicU64>,
}

impl Warm {
    fn fits(&mut self, target: &Arc<dyn Target>, bootstrap: &str, size: (u16, u16)) -> bool {
        self.running()
            && Arc::ptr_eq(&self.target, target)
            && self.bootstrap == bootstrap
            && self.size == size
    }

    fn state(&self) -> Option<&[u8]> {
        self.prepared.as_ref().map(|p| p.state.as_slice())
    }
}

impl Spare {
    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A started shell for the cell, if one fits and still runs: one prepared for its
    /// context, else a bare one, to which the cell sends its whole payload, else (waiting a
    /// moment) one being started. Shells on another target or size, or prepared for a context
    /// that is not the cell's, are dropped.
    pub async fn take(&self, target: &Arc<dyn Target>, want: Want<'_>) -> Option<Taken> {
        let deadline = tokio::time::Instant::now() + WAIT_FOR_START;
        loop {
            let notified = self.done.notified();
            {
                let mut pool = self.pool();
                pool.ready.retain_mut(|w| {
                    w.fits(target, want.bootstrap, want.size)
                        && (w.state().is_none() || want.state.is_none() || w.state() == want.state)
                });
                let coming = pool.filling.iter().any(|f| {
                    Arc::ptr_eq(&f.target, target)
                        && f.bootstrap == want.bootstrap
                        && f.size == want.size
                        && f.state.as_deref() == want.state
                });
                let exact = pool.ready.iter().position(|w| w.state() == want.state);
                let bare = pool.ready.iter().position(|w| w.state().is_none());
                // A bare one now beats a prepared one still being started: restoring the
                // context with the cell costs less than waiting for a shell to start.
                if let Some(i) = exact.or(bare) {
                    let mut w = pool.ready.remove(i);
                    return Some(Taken {
                        proc: w.proc.take()?,
                        nonce: w.prepared.take().map(|p| p.nonce),
                        leftover: std::mem::take(&mut w.leftover),
                    });
                }
                if !coming {
                    return None;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// A cell ended on `target` leaving `context` (None: the next cell's kind cannot use a
    /// prepared shell): have a shell ready for it, kept if one restored that very context,
    /// else restored in the bare reserve, else started anew; then a new reserve. Shells
    /// prepared for another context are dropped.
    pub fn prepare(
        &self,
        target: Arc<dyn Target>,
        bootstrap: &'static str,
        size: (u16, u16),
        context: Option<&context::Context>,
    ) {
        let state = context.map(script::restore_state);
        {
            let mut pool = self.pool();
            pool.ready.retain_mut(|w| {
                w.fits(&target, bootstrap, size)
                    && (w.state().is_none() || w.state() == state.as_deref())
            });
        }
        self.ensure(&target, bootstrap, size, state, true);
        self.ensure(&target, bootstrap, size, None, false);
    }

    /// Have a shell for `state` (None: bare) ready or being started; `use_reserve`: restore
    /// it in the bare one if there is one rather than starting another.
    fn ensure(
        &self,
        target: &Arc<dyn Target>,
        bootstrap: &'static str,
        size: (u16, u16),
        state: Option<Vec<u8>>,
        use_reserve: bool,
    ) {
        let mut pool = self.pool();
        let same = |t: &Arc<dyn Target>, b: &str, z: (u16, u16)| {
            Arc::ptr_eq(t, target) && b == bootstrap && z == size
        };
        let have = pool
            .ready
            .iter()
            .any(|w| same(&w.target, w.bootstrap, w.size) && w.state() == state.as_deref())
            || pool
                .filling
                .iter()
                .any(|f| same(&f.target, f.bootstrap, f.size) && f.state == state);
        if have {
            return;
        }
        let mut reuse = None;
        if use_reserve
            && state.is_some()
            && let Some(i) = pool
                .ready
                .iter_mut()
                .position(|w| w.prepared.is_none() && w.fits(target, bootstrap, size))
        {
            let mut w = pool.ready.remove(i);
            reuse = w.proc.take();
        }
        if reuse.is_none() && pool.ready.len() + pool.filling.len() >= DEPTH {
            // Make room: a shell prepared for another context goes first.
            match pool.ready.iter().position(|w| w.prepared.is_some()) {
                Some(i) if state.is_some() => drop(pool.ready.remove(i)),
                _ => return,
            }
        }
        let id = pool.next_id;
        pool.next_id += 1;
        let filling = Filling {
            id,
            target: target.clone(),
            bootstrap,
            size,
            state: state.clone(),
        };
        pool.filling.push(filling);
        drop(pool);

        let first = state.map(|state| {
            let nonce = new_nonce();
            (
                script::prepare_payload(&state, &nonce),
                Prepared { nonce, state },
            )
        });
        let target = target.clone();
        let pool = self.pool.clone();
        let done = self.done.clone();
        let generation = self.generation.clone();
        let started_at = generation.load(Ordering::SeqCst);
        tokio::spawn(async move {
            let warm = start(target, bootstrap, size, reuse, first).await;
            let mut pool = pool.lock().unwrap_or_else(|e| e.into_inner());
            pool.filling.retain(|f| f.id != id);
            if let Some(w) = warm
                && generation.load(Ordering::SeqCst) == started_at
            {
                pool.ready.push(w);
            }
            drop(pool);
            done.notify_waiters();
        });
    }

    /// Drop the started shells (logout, shutdown), or only those on `target`; starts under
    /// way are dropped when they end.
    pub fn clear(&self, target: Option<&Arc<dyn Target>>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let mut pool = self.pool();
        pool.ready
            .retain(|w| target.is_some_and(|t| !Arc::ptr_eq(&w.target, t)));
        drop(pool);
        self.done.notify_waiters();
    }
}

/// A shell ready for a cell: `reuse` (a bare one) or a new one, with `first` restored.
async fn start(
    target: Arc<dyn Target>,
    bootstrap: &'static str,
    size: (u16, u16),
    reuse: Option<PtyProcess>,
    first: Option<(Vec<u8>, Prepared)>,
) -> Option<Warm> {
    let mut proc = match reuse {
        Some(proc) => proc,
        None => spawn(&target, bootstrap, size).await?,
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
                log::debug!("the shell started ahead did not get ready");
                return None;
            }
        }
    }
    warm.proc = Some(proc);
    Some(warm)
}

/// Start `bootstrap` in a PTY of `size` on `target`, bounded by [`START_WITHIN`].
async fn spawn(target: &Arc<dyn Target>, bootstrap: &str, size: (u16, u16)) -> Option<PtyProcess> {
    let started = tokio::time::timeout(
        START_WITHIN,
        target.spawn_pty(PtyCommand {
            command: bootstrap.to_owned(),
            cols: size.0,
            rows: size.1,
        }),
    )
    .await;
    match started {
        Ok(Ok(proc)) => Some(proc),
        Ok(Err(e)) => {
            log::debug!("no shell started ahead: {e}");
            None
        }
        Err(_) => {
            log::debug!("no shell started ahead: it took over {START_WITHIN:?}");
            None
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
