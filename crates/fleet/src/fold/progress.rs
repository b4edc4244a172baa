//! The live line while a fleet cell runs.

use std::fmt;

/// Counts the caller keeps as hosts start and finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Finished without failing.
    pub done: usize,
    /// Failed or unreachable.
    pub failed: usize,
    pub running: usize,
    /// Hosts in the cell, waiting ones included.
    pub total: usize,
}

impl fmt::Display for Progress {
    /// `12 done, 1 failed, 5 running of 20`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} done, {} failed, {} running of {}",
            self.done, self.failed, self.running, self.total
        )
    }
}
