//! When each host of a fleet cell starts: at most `forks` at once, in rolling batches of
//! `batch` hosts (the next batch starts when the whole last one has ended, as Ansible's
//! `serial`), and no new host once more than `max_fail` have failed. Pure: the caller
//! starts what [`Schedule::next`] gives and reports each end with [`Schedule::ended`].

use std::fmt;

/// How many failed hosts a cell tolerates before it starts no new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxFail {
    /// At most this many hosts may fail.
    Count(usize),
    /// At most this percentage of the cell's hosts (rounded down) may fail.
    Percent(u8),
}

impl MaxFail {
    /// `3` or `10%`.
    pub fn parse(text: &str) -> Result<MaxFail, String> {
        let bad = || format!("--max-fail takes a count or a percentage (3, 10%), not {text:?}");
        match text.strip_suffix('%') {
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= 100 => Ok(MaxFail::Percent(p)),
                _ => Err(bad()),
            },
            None => text.parse().map(MaxFail::Count).map_err(|_| bad()),
        }
    }

    /// Failures tolerated among `total` hosts.
    pub fn tolerated(self, total: usize) -> usize {
        match self {
            MaxFail::Count(n) => n,
            MaxFail::Percent(p) => total.saturating_mul(usize::from(p)) / 100,
        }
    }
}

impl fmt::Display for MaxFail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxFail::Count(n) => write!(f, "{n}"),
            MaxFail::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Why hosts were left unstarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Halt {
    /// More hosts failed than `--max-fail` tolerates.
    MaxFail { failed: usize, tolerated: usize },
    /// The caller stopped it (an interrupt).
    Stopped,
}

/// The order and pace of one cell's hosts, by index in the cell's host list.
#[derive(Debug, Clone)]
pub struct Schedule {
    total: usize,
    forks: usize,
    batch: usize,
    tolerated: Option<usize>,
    /// The next host to start.
    next: usize,
    /// Where the batch under way ends (exclusive).
    batch_end: usize,
    running: usize,
    failed: usize,
    halt: Option<Halt>,
}

impl Schedule {
    /// `forks` and `batch` of 0 count as 1; `batch` None: one batch of every host.
    pub fn new(
        total: usize,
        forks: usize,
        batch: Option<usize>,
        max_fail: Option<MaxFail>,
    ) -> Schedule {
        let batch = batch.unwrap_or(total).max(1);
        Schedule {
            total,
            forks: forks.max(1),
            batch,
            tolerated: max_fail.map(|m| m.tolerated(total)),
            next: 0,
            batch_end: batch.min(total),
            running: 0,
            failed: 0,
            halt: None,
        }
    }

    /// A host to start now, if any may start.
    pub fn start(&mut self) -> Option<usize> {
        if self.halt.is_some() || self.running >= self.forks || self.next >= self.total {
            return None;
        }
        if self.next >= self.batch_end {
            // The next batch waits for the whole of this one.
            if self.running > 0 {
                return None;
            }
            self.batch_end = (self.batch_end + self.batch).min(self.total);
        }
        let i = self.next;
        self.next += 1;
        self.running += 1;
        Some(i)
    }

    /// A host that [`start`](Self::start) gave has ended.
    pub fn ended(&mut self, ok: bool) {
        self.running = self.running.saturating_sub(1);
        if !ok {
            self.failed += 1;
            if let Some(tolerated) = self.tolerated
                && self.failed > tolerated
                && self.halt.is_none()
            {
                self.halt = Some(Halt::MaxFail {
                    failed: self.failed,
                    tolerated,
                });
            }
        }
    }

    /// No host starts from now on.
    pub fn stop(&mut self) {
        self.halt.get_or_insert(Halt::Stopped);
    }

    /// Whether nothing runs and nothing more will start.
    pub fn finished(&self) -> bool {
        self.running == 0 && (self.halt.is_some() || self.next >= self.total)
    }

    pub fn running(&self) -> usize {
        self.running
    }

    /// Hosts that have not started (indexes from here to the end of the list).
    pub fn unstarted(&self) -> std::ops::Range<usize> {
        self.next..self.total
    }

    pub fn halt(&self) -> Option<Halt> {
        self.halt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn max_fail_reads_a_count_or_a_percentage() {
        assert_eq!(MaxFail::parse("3"), Ok(MaxFail::Count(3)));
        assert_eq!(MaxFail::parse("10%"), Ok(MaxFail::Percent(10)));
        assert!(MaxFail::parse("101%").is_err());
        assert!(MaxFail::parse("-1").is_err());
        assert!(MaxFail::parse("x").is_err());
        assert_eq!(MaxFail::Percent(10).tolerated(25), 2);
        assert_eq!(MaxFail::Percent(100).tolerated(7), 7);
    }

    #[test]
    fn batches_roll_one_after_another() {
        let mut s = Schedule::new(5, 10, Some(2), None);
        assert_eq!((s.start(), s.start(), s.start()), (Some(0), Some(1), None));
        s.ended(true);
        assert_eq!(
            s.start(),
            None,
            "the second batch waits for the whole first one"
        );
        s.ended(true);
        assert_eq!((s.start(), s.start(), s.start()), (Some(2), Some(3), None));
        s.ended(false);
        s.ended(true);
        assert_eq!((s.start(), s.start()), (Some(4), None));
        s.ended(true);
        assert!(s.finished());
    }

    #[test]
    fn more_failures_than_tolerated_start_no_new_host() {
        let mut s = Schedule::new(10, 2, None, Some(MaxFail::Count(1)));
        assert_eq!((s.start(), s.start()), (Some(0), Some(1)));
        s.ended(false);
        assert_eq!(s.start(), Some(2), "one failure is tolerated");
        s.ended(false);
        assert_eq!(s.start(), None);
        assert_eq!(
            s.halt(),
            Some(Halt::MaxFail {
                failed: 2,
                tolerated: 1
            })
        );
        assert!(!s.finished(), "host 1 still runs");
        s.ended(true);
        assert!(s.finished());
        assert_eq!(s.unstarted(), 3..10);
    }

    proptest! {
        /// Whatever the settings and outcomes: never more than `forks` at once, never a host
        /// of a later batch while one of an earlier batch runs, hosts start in order and
        /// each once, and every host starts unless the failures passed the tolerance.
        #[test]
        fn the_schedule_keeps_its_bounds(
            total in 0usize..60,
            forks in 0usize..12,
            batch in proptest::option::of(0usize..15),
            max_fail in proptest::option::of(0usize..8),
            outcomes in proptest::collection::vec(any::<bool>(), 60),
            order in proptest::collection::vec(any::<u8>(), 60),
        ) {
            let mut s = Schedule::new(total, forks, batch, max_fail.map(MaxFail::Count));
            let size = batch.unwrap_or(total).max(1);
            let mut running: Vec<usize> = Vec::new();
            let mut started = Vec::new();
            let mut failed = 0;
            let mut step = 0;
            loop {
                while let Some(i) = s.start() {
                    prop_assert!(running.iter().all(|r| r / size == i / size));
                    running.push(i);
                    started.push(i);
                    prop_assert!(running.len() <= forks.max(1));
                }
                if running.is_empty() {
                    break;
                }
                let pick = usize::from(order[step % order.len()]) % running.len();
                let i = running.swap_remove(pick);
                let ok = outcomes[i % outcomes.len()];
                failed += usize::from(!ok);
                s.ended(ok);
                step += 1;
            }
            prop_assert!(s.finished());
            prop_assert_eq!(&started, &(0..started.len()).collect::<Vec<_>>());
            match max_fail {
                Some(m) if failed > m => prop_assert!(s.halt().is_some()),
                _ => prop_assert_eq!(started.len(), total),
            }
        }
    }
}
