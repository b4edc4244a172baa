//! The host in sight: the `sshpty.host` comm. A frontend (our JupyterLab extension) opens
//! it; the kernel answers at once with where it is (`engine::presence`: the current host,
//! its connection state, its mark), then again whenever that changes, and at no other time:
//! comm messages count against jupyter_server's message-rate budget like any output.
//!
//! Changes are found by comparing snapshots when the engine says something may have changed
//! (a login starts or ends, a magic ran) and every `EVERY` besides, so a connection that dies
//! while no cell runs (keepalives unanswered) is shown as lost without anyone asking. A snapshot
//! is one lock and no I/O, and none is taken while no comm is open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jupyter_protocol::{
    CommClose, CommId, CommInfo, CommMsg, CommOpen, Header, JupyterMessageContent,
};
use serde_json::{Map, Value};

use engine::Engine;
use jupyter::channels::Iopub;

/// The comm target the frontend opens.
pub const TARGET: &str = "sshpty.host";
/// Open comms kept: one per browser tab on the notebook, normally; past this, the oldest
/// goes (a frontend that opens comms in a loop must not grow the kernel).
const MAX_COMMS: usize = 64;
/// How often the snapshot is compared. A lost connection shows this much after russh
/// notices it (after ServerAliveInterval × ServerAliveCountMax).
const EVERY: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct Comms {
    iopub: Iopub,
    engine: Engine,
    inner: Arc<Mutex<Open>>,
}

/// The open comms, oldest first, each with the snapshot it was last sent.
#[derive(Default)]
struct Open {
    comms: Vec<(String, Value)>,
}

impl Open {
    fn has(&self, id: &str) -> bool {
        self.comms.iter().any(|(c, _)| c == id)
    }
}

impl Comms {
    pub fn new(iopub: Iopub, engine: Engine) -> Comms {
        Comms {
            iopub,
            engine,
            inner: Arc::default(),
        }
    }

    fn open_comms(&self) -> MutexGuard<'_, Open> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, id: &str, data: &Value, parent: Option<&Header>) {
        let data = data.as_object().cloned().unwrap_or_default();
        self.iopub.send(
            JupyterMessageContent::CommMsg(CommMsg {
                comm_id: CommId(id.to_owned()),
                data,
            }),
            parent,
        );
    }

    /// A frontend's `comm_open`. One for a target we do not serve is closed at once, as the
    /// protocol asks, so the frontend does not wait on it.
    pub fn open(&self, parent: &Header, open: &CommOpen) {
        let id = open.comm_id.0.clone();
        if open.target_name != TARGET {
            log::info!(
                "comm_open for unknown target {:?}: closed",
                open.target_name
            );
            self.iopub.send(
                JupyterMessageContent::CommClose(CommClose {
                    comm_id: open.comm_id.clone(),
                    data: Map::new(),
                }),
                Some(parent),
            );
            return;
        }
        let now = self.engine.presence().to_json();
        {
            let mut open = self.open_comms();
            open.comms.retain(|(c, _)| *c != id);
            if open.comms.len() >= MAX_COMMS {
                open.comms.remove(0);
            }
            open.comms.push((id.clone(), now.clone()));
        }
        self.send(&id, &now, Some(parent));
    }

    /// A frontend's `comm_msg`: `{"request": "presence"}` asks again; anything else is
    /// ignored (logged), as is a message for a comm that is not open.
    pub fn message(&self, parent: &Header, msg: &CommMsg) {
        let id = &msg.comm_id.0;
        if !self.open_comms().has(id) {
            log::info!("comm_msg for a comm that is not open: ignored");
            return;
        }
        match msg.data.get("request").and_then(Value::as_str) {
            Some("presence") => {
                let now = self.engine.presence().to_json();
                if let Some(c) = self.open_comms().comms.iter_mut().find(|(c, _)| c == id) {
                    c.1 = now.clone();
                }
                self.send(id, &now, Some(parent));
            }
            _ => log::info!("comm_msg the kernel does not know: ignored"),
        }
    }

    pub fn close(&self, msg: &CommClose) {
        self.open_comms()
            .comms
            .retain(|(id, _)| *id != msg.comm_id.0);
    }

    /// `comm_info_request`: the open comms, of `target` when one is named.
    pub fn info(&self, target: Option<&str>) -> HashMap<CommId, CommInfo> {
        if target.is_some_and(|t| t != TARGET) {
            return HashMap::new();
        }
        self.open_comms()
            .comms
            .iter()
            .map(|(id, _)| {
                (
                    CommId(id.clone()),
                    CommInfo {
                        target_name: TARGET.into(),
                    },
                )
            })
            .collect()
    }

    /// Tell every open comm each change, for as long as the kernel runs.
    pub async fn watch(self) {
        let mut changes = self.engine.presence_changes();
        loop {
            // At once when the engine says something changed; else every EVERY, for what
            // it cannot say (a connection that died on its own).
            let _ = tokio::time::timeout(EVERY, changes.changed()).await;
            if self.open_comms().comms.is_empty() {
                continue;
            }
            let now = self.engine.presence().to_json();
            let behind: Vec<String> = self
                .open_comms()
                .comms
                .iter_mut()
                .filter(|(_, last)| *last != now)
                .map(|(id, last)| {
                    *last = now.clone();
                    id.clone()
                })
                .collect();
            for id in behind {
                self.send(&id, &now, None);
            }
        }
    }
}
