//! A cell's shell started ahead of time. Starting a process in a PTY on a target (an SSH
//! channel, a PTY request and an exec, or a local fork) is most of what a short cell
//! costs; the bootstrap waits for its payload anyway, so the kernel starts the next
//! cell's shell as soon as a cell ends, and the next cell only writes its payload.
//!
//! A started shell is used only for the target, bootstrap and terminal size it was
//! started with, and only while it still runs; otherwise it is dropped (hanging it up)
//! and the cell starts its own.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::target::{PtyCommand, PtyInput, PtyProcess, Target};

/// How long starting a shell ahead may take before it is given up (a connection that
/// stalls is detected by its keepalives; this task must not outlive it by much).
const START_WITHIN: Duration = Duration::from_secs(30);

pub struct Warm {
    target: Arc<dyn Target>,
    bootstrap: &'static str,
    size: (u16, u16),
    /// Taken by the cell that uses it; hung up if never used.
    proc: Option<PtyProcess>,
}

impl Drop for Warm {
    fn drop(&mut self) {
        if let Some(p) = &self.proc {
            let _ = p.input.send(PtyInput::HangUp);
        }
    }
}

#[derive(Default)]
pub struct Spare {
    slot: Mutex<Option<Warm>>,
}

impl Spare {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Warm>> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The started shell, if it fits and still runs.
    pub fn take(
        &self,
        target: &Arc<dyn Target>,
        bootstrap: &'static str,
        size: (u16, u16),
    ) -> Option<PtyProcess> {
        let mut w = self.slot().take()?;
        if !Arc::ptr_eq(&w.target, target) || w.bootstrap != bootstrap || w.size != size {
            return None;
        }
        let proc = w.proc.as_mut()?;
        // Ended (a dropped connection, a killed shell): not usable.
        if !matches!(
            proc.exit.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Empty)
        ) || proc.input.is_closed()
        {
            return None;
        }
        w.proc.take()
    }

    /// Start the next cell's shell on `target` in the background.
    pub fn prepare(
        self: &Arc<Self>,
        target: Arc<dyn Target>,
        bootstrap: &'static str,
        size: (u16, u16),
    ) {
        let spare = self.clone();
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
            match started {
                Ok(Ok(proc)) => {
                    *spare.slot() = Some(Warm {
                        target,
                        bootstrap,
                        size,
                        proc: Some(proc),
                    });
                }
                Ok(Err(e)) => log::debug!("no shell started ahead: {e}"),
                Err(_) => log::debug!("no shell started ahead: it took over {START_WITHIN:?}"),
            }
        });
    }

    /// Drop the started shell (logout, shutdown), or only if it is on `target`.
    pub fn clear(&self, target: Option<&Arc<dyn Target>>) {
        let mut slot = self.slot();
        if target.is_none_or(|t| slot.as_ref().is_some_and(|w| Arc::ptr_eq(&w.target, t))) {
            *slot = None;
        }
    }
}
