//! The hosts a kernel is logged in to, each with its own context and login state, the one
//! cells run on now, and the settings cells run with.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use context::Context;
use targets::Target;
use tokio::sync::watch;

use crate::failure::Failure;
use crate::{complete, output};

/// The terminal size cells see unless `%term` says otherwise.
pub const DEFAULT_COLS: u16 = 160;
pub const DEFAULT_ROWS: u16 = 50;
/// The largest terminal side: the terminal keeps a cols × rows grid in memory.
pub const MAX_TERM_SIDE: u16 = 4096;

/// Where a host's login stands.
pub enum Login {
    /// The login shell's environment is being read in the background, and the host's
    /// context is empty until then; `done` turns true when the reading ends.
    Reading { done: watch::Receiver<bool> },
    /// Ready for cells. `untold`: what the reading found that the user has not been told
    /// yet (no bash, a profile that did not finish), said by the next request using it.
    Ready { untold: Vec<String> },
    /// The reading failed: the next request that needs the host says so, and the host is
    /// logged out.
    Failed(Failure),
}

/// A host's state as `%status` and `%hosts` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Reading,
    Ready,
    Failed,
    /// The connection is gone; `%login` again reconnects, keeping the context.
    Lost,
}

/// A target the user logged in to, with its context.
pub struct Host {
    pub target: Arc<dyn Target>,
    pub context: Context,
    /// `bash 5.2.15(1)-release`, for `%status`.
    pub shell: String,
    /// `%become USER`: cells run as USER through sudo.
    pub become_user: Option<String>,
    pub login: Login,
    /// The shell answering completion and inspection; dropped with the host.
    pub helper: Arc<complete::Helper>,
}

impl Host {
    /// A host just logged in to, ready with `context`.
    pub fn ready(target: Arc<dyn Target>, context: Context, shell: String) -> Host {
        Host {
            target,
            context,
            shell,
            become_user: None,
            login: Login::Ready { untold: Vec::new() },
            helper: Default::default(),
        }
    }

    pub fn condition(&self) -> Condition {
        match &self.login {
            Login::Reading { .. } => Condition::Reading,
            Login::Failed(_) => Condition::Failed,
            Login::Ready { .. } if !self.target.info().connected => Condition::Lost,
            Login::Ready { .. } => Condition::Ready,
        }
    }

    /// The reading of the login environment, while it goes on.
    pub fn reading(&self) -> Option<watch::Receiver<bool>> {
        match &self.login {
            Login::Reading { done } => Some(done.clone()),
            _ => None,
        }
    }
}

/// The hosts logged in to, by the name the user gave (`web1`, `ops@db1`, `local`), and
/// the current one.
#[derive(Default)]
pub struct Hosts {
    by_name: BTreeMap<String, Host>,
    current: Option<String>,
}

impl Hosts {
    pub fn current_name(&self) -> Option<&str> {
        self.current.as_deref()
    }

    pub fn current(&self) -> Option<&Host> {
        self.by_name.get(self.current.as_ref()?)
    }

    pub fn current_mut(&mut self) -> Option<&mut Host> {
        self.by_name.get_mut(self.current.as_ref()?)
    }

    pub fn get(&self, name: &str) -> Option<&Host> {
        self.by_name.get(name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Host> {
        self.by_name.get_mut(name)
    }

    /// Host `name` if it is still the one on `target`: work that started on a host (a cell,
    /// a login's reading) leaves nothing behind on one logged out or replaced meanwhile.
    pub fn still(&self, name: &str, target: &Arc<dyn Target>) -> Option<&Host> {
        self.get(name).filter(|h| Arc::ptr_eq(&h.target, target))
    }

    pub fn still_mut(&mut self, name: &str, target: &Arc<dyn Target>) -> Option<&mut Host> {
        self.get_mut(name)
            .filter(|h| Arc::ptr_eq(&h.target, target))
    }

    /// Keep `host` as `name` (replacing what was there), and make it current if `current`.
    pub fn log_in(&mut self, name: &str, host: Host, current: bool) {
        self.by_name.insert(name.to_owned(), host);
        if current {
            self.current = Some(name.to_owned());
        }
    }

    /// Make `name` current; false if it is not logged in.
    pub fn switch_to(&mut self, name: &str) -> bool {
        let known = self.by_name.contains_key(name);
        if known {
            self.current = Some(name.to_owned());
        }
        known
    }

    /// Forget `name`; if it was current, no host is.
    pub fn log_out(&mut self, name: &str) -> Option<Host> {
        if self.current.as_deref() == Some(name) {
            self.current = None;
        }
        self.by_name.remove(name)
    }

    /// Every host, the current one forgotten.
    pub fn take_all(&mut self) -> Vec<Host> {
        self.current = None;
        std::mem::take(&mut self.by_name).into_values().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Host)> {
        self.by_name.iter()
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Host> {
        self.by_name.values_mut()
    }
}

/// What cells run with, changed by magics (`%strict`, `%timeout`, `%header`, `%term`,
/// `%output-limit`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Cells run under `set -eo pipefail`.
    pub strict: bool,
    /// A cell running longer is interrupted.
    pub timeout: Option<Duration>,
    /// Each cell's output starts with where and when it ran.
    pub header: bool,
    pub cols: u16,
    pub rows: u16,
    /// Bytes of a cell's text shown in the notebook (None: no limit).
    pub output_limit: Option<u64>,
}

impl Settings {
    pub fn new(header: bool) -> Settings {
        Settings {
            strict: false,
            timeout: None,
            header,
            cols: DEFAULT_COLS,
            rows: DEFAULT_ROWS,
            output_limit: Some(output::DEFAULT_LIMIT),
        }
    }
}
