//! The kernel's execution state as clients see it. jupyter_server takes it from any
//! `status` message, whatever request it answers: the `idle` that ends a completion
//! answered while a cell runs would tell it the kernel is idle, and then its culler may kill
//! the long cell as idle, and JupyterLab shows an idle kernel. So while a cell runs, every
//! other request's `idle` is followed at once by a `busy` parented to the running cell.

use std::sync::{Arc, Mutex, MutexGuard};

use jupyter::channels::Iopub;
use jupyter_protocol::Header;

#[derive(Clone)]
pub struct Status {
    iopub: Iopub,
    /// The execute_request running now. Held while a status is published, so a request's
    /// re-asserted `busy` can never follow the cell's own final `idle`.
    running: Arc<Mutex<Option<Header>>>,
}

impl Status {
    pub fn new(iopub: Iopub) -> Status {
        Status {
            iopub,
            running: Arc::default(),
        }
    }

    fn running(&self) -> MutexGuard<'_, Option<Header>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request starts being handled.
    pub fn busy(&self, parent: &Header) {
        self.iopub.busy(parent);
    }

    /// A request other than the running cell is done.
    pub fn idle(&self, parent: &Header) {
        let running = self.running();
        self.iopub.idle(parent);
        if let Some(cell) = running.as_ref() {
            self.iopub.busy(cell);
        }
    }

    pub fn cell_started(&self, parent: &Header) {
        let mut running = self.running();
        *running = Some(parent.clone());
        self.iopub.busy(parent);
    }

    pub fn cell_ended(&self, parent: &Header) {
        let mut running = self.running();
        *running = None;
        self.iopub.idle(parent);
    }
}
