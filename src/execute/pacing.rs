//! Pacing of IOPub output so that jupyter_server does not drop it.
//!
//! JupyterLab and Notebook reach the kernel through jupyter_server, which by default drops
//! output ("IOPub data rate exceeded") when the stream bytes it relayed within the last
//! `rate_limit_window` (3 s) exceed `iopub_data_rate_limit` (1 MB/s) times the window, or
//! its messages exceed `iopub_msg_rate_limit` (1000/s) times the window. The limit is a
//! sliding window, so a burst of up to ~3 MB passes at once; only sustained output is
//! slowed. The pacer keeps the kernel under a safety margin of those figures. Pure: the
//! caller passes the clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// jupyter_server's `rate_limit_window`.
pub const WINDOW: Duration = Duration::from_secs(3);
/// Bytes allowed within any window: 80 % of jupyter_server's 1 MB/s × 3 s.
pub const WINDOW_BYTES: usize = 2_400_000;
/// Messages allowed within any window: 50 % of 1000/s × 3 s.
pub const WINDOW_MESSAGES: usize = 1_500;

#[derive(Debug, Default)]
pub struct Pacer {
    sent: VecDeque<(Instant, usize)>,
    bytes: usize,
}

impl Pacer {
    fn expire(&mut self, now: Instant) {
        while let Some(&(t, n)) = self.sent.front() {
            if now.saturating_duration_since(t) < WINDOW {
                break;
            }
            self.sent.pop_front();
            self.bytes -= n;
        }
    }

    /// When a message of `bytes` may be sent: None means now.
    pub fn wait(&mut self, now: Instant, bytes: usize) -> Option<Instant> {
        self.expire(now);
        let bytes = bytes.min(WINDOW_BYTES);
        if self.bytes + bytes <= WINDOW_BYTES && self.sent.len() < WINDOW_MESSAGES {
            return None;
        }
        // The earliest time enough old messages have left the window.
        let mut freed = 0;
        let mut count = self.sent.len();
        for &(t, n) in &self.sent {
            freed += n;
            count -= 1;
            if self.bytes - freed + bytes <= WINDOW_BYTES && count < WINDOW_MESSAGES {
                return Some(t + WINDOW);
            }
        }
        Some(now)
    }

    pub fn record(&mut self, now: Instant, bytes: usize) {
        self.expire(now);
        self.sent.push_back((now, bytes));
        self.bytes += bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_burst_under_the_window_goes_at_once() {
        let mut p = Pacer::default();
        let t0 = Instant::now();
        for _ in 0..9 {
            assert_eq!(p.wait(t0, 256 * 1024), None);
            p.record(t0, 256 * 1024);
        }
        // 9 × 256 KiB = 2.36 MB: the next one must wait for the window to move.
        let until = p.wait(t0, 256 * 1024).expect("must wait");
        assert_eq!(until, t0 + WINDOW);
    }

    #[test]
    fn the_message_rate_is_bounded_too() {
        let mut p = Pacer::default();
        let t0 = Instant::now();
        for _ in 0..WINDOW_MESSAGES {
            assert_eq!(p.wait(t0, 10), None);
            p.record(t0, 10);
        }
        assert!(p.wait(t0, 10).is_some());
        assert_eq!(p.wait(t0 + WINDOW, 10), None);
    }

    proptest! {
        /// Whatever the sizes and timings, a sender that obeys `wait` never exceeds
        /// jupyter_server's limits in any window.
        #[test]
        fn obeying_the_pacer_stays_under_the_limits(
            sizes in proptest::collection::vec(1usize..300_000, 1..200),
            gaps in proptest::collection::vec(0u64..400, 1..200),
        ) {
            let mut p = Pacer::default();
            let t0 = Instant::now();
            let mut now = t0;
            let mut log: Vec<(Instant, usize)> = Vec::new();
            for (i, &n) in sizes.iter().enumerate() {
                now += Duration::from_millis(gaps[i % gaps.len()]);
                if let Some(t) = p.wait(now, n) {
                    prop_assert!(t >= now);
                    now = t;
                    prop_assert_eq!(p.wait(now, n), None);
                }
                p.record(now, n);
                log.push((now, n));
            }
            for &(start, _) in &log {
                let (bytes, msgs) = log
                    .iter()
                    .filter(|(t, _)| *t >= start && *t < start + WINDOW)
                    .fold((0, 0), |(b, m), (_, n)| (b + n.min(&WINDOW_BYTES), m + 1));
                prop_assert!(bytes <= WINDOW_BYTES, "{bytes} bytes in a window");
                prop_assert!(msgs <= WINDOW_MESSAGES);
            }
        }
    }
}
