//! Pacing of IOPub output so that jupyter_server does not drop it.
//!
//! JupyterLab and Notebook reach the kernel through jupyter_server, which by default drops
//! output ("IOPub data rate exceeded") when the stream messages it relayed within the last
//! `rate_limit_window` (3 s) exceed `iopub_data_rate_limit` (1 MB/s) times the window, in
//! bytes of whole serialized messages, or its messages exceed `iopub_msg_rate_limit`
//! (1000/s) times the window. It times messages when it relays them, so a loaded machine
//! shifts them by up to about a second.
//!
//! So the pacer, one for the whole kernel (consecutive cells count together, as they do
//! for the server), keeps (a) any [`SPAN`] of sending (the server's 3 s window plus a
//! second of relay delay) at most [`SPAN_BYTES`], under the server's 3 MB, so a 1.3 MB
//! `seq 1 200000` goes at once; and (b) once output has been held back by (a), any second
//! at most [`STEADY_BYTES`], so sustained output flows evenly rather than in bursts at
//! window edges. Sizes are estimated as serialized (JSON escapes, header, signature).
//! Pure: the caller passes the clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// jupyter_server's `rate_limit_window` plus a second of delay in relaying.
pub const SPAN: Duration = Duration::from_secs(4);
/// Bytes allowed within any [`SPAN`]: under the server's 1 MB/s × 3 s.
pub const SPAN_BYTES: usize = 2_600_000;
/// Bytes allowed within any second once output is sustained.
pub const STEADY_BYTES: usize = 650_000;
/// Messages allowed within any span: half of the server's 1000/s × 3 s.
pub const SPAN_MESSAGES: usize = 1_500;

/// A stream message's size as jupyter_server counts it, from its text's length: JSON
/// escapes (a newline is two bytes), header, parent header, signature.
pub fn wire_size(text_len: usize) -> usize {
    if text_len == 0 {
        return 0;
    }
    text_len + text_len / 16 + 1024
}

/// Sends within a sliding window.
#[derive(Debug)]
struct Window {
    span: Duration,
    max_bytes: usize,
    max_messages: usize,
    sent: VecDeque<(Instant, usize)>,
    bytes: usize,
}

impl Window {
    fn new(span: Duration, max_bytes: usize, max_messages: usize) -> Window {
        Window {
            span,
            max_bytes,
            max_messages,
            sent: VecDeque::new(),
            bytes: 0,
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(t, n)) = self.sent.front() {
            if now.saturating_duration_since(t) < self.span {
                break;
            }
            self.sent.pop_front();
            self.bytes -= n;
        }
    }

    fn wait(&mut self, now: Instant, bytes: usize) -> Option<Instant> {
        self.expire(now);
        let bytes = bytes.min(self.max_bytes);
        if self.bytes + bytes <= self.max_bytes && self.sent.len() < self.max_messages {
            return None;
        }
        // The earliest time enough old messages have left the window.
        let mut freed = 0;
        let mut count = self.sent.len();
        for &(t, n) in &self.sent {
            freed += n;
            count -= 1;
            if self.bytes - freed + bytes <= self.max_bytes && count < self.max_messages {
                return Some(t + self.span);
            }
        }
        Some(now)
    }

    fn record(&mut self, now: Instant, bytes: usize) {
        self.expire(now);
        self.sent.push_back((now, bytes));
        self.bytes += bytes;
    }
}

#[derive(Debug)]
pub struct Pacer {
    burst: Window,
    steady: Window,
    /// Output has been held back: the steady rate applies until sending pauses a span.
    sustained: bool,
}

impl Default for Pacer {
    fn default() -> Pacer {
        Pacer {
            burst: Window::new(SPAN, SPAN_BYTES, SPAN_MESSAGES),
            steady: Window::new(Duration::from_secs(1), STEADY_BYTES, usize::MAX),
            sustained: false,
        }
    }
}

impl Pacer {
    /// When a stream message with `text_len` bytes of text may be sent: None means now.
    pub fn wait(&mut self, now: Instant, text_len: usize) -> Option<Instant> {
        let bytes = wire_size(text_len);
        if self
            .burst
            .sent
            .back()
            .is_none_or(|&(t, _)| now.saturating_duration_since(t) >= SPAN)
        {
            self.sustained = false;
        }
        let burst = self.burst.wait(now, bytes);
        if burst.is_some() {
            self.sustained = true;
        }
        let steady = if self.sustained {
            self.steady.wait(now, bytes)
        } else {
            None
        };
        match (burst, steady) {
            (None, None) => None,
            (a, b) => a.max(b),
        }
    }

    /// A message went out (`text_len` 0: a message that is not a stream, counted only).
    pub fn record(&mut self, now: Instant, text_len: usize) {
        let bytes = wire_size(text_len);
        self.burst.record(now, bytes);
        self.steady.record(now, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_burst_under_the_span_goes_at_once() {
        let mut p = Pacer::default();
        let t0 = Instant::now();
        // seq 1 200000: 1.3 MB in 256 KiB messages, all at once.
        for _ in 0..5 {
            assert_eq!(p.wait(t0, 256 * 1024), None);
            p.record(t0, 256 * 1024);
        }
        // Beyond the span's bytes the next one waits for the span to move.
        for _ in 0..5 {
            if p.wait(t0, 256 * 1024).is_none() {
                p.record(t0, 256 * 1024);
            }
        }
        let until = p.wait(t0, 256 * 1024).expect("must wait");
        assert_eq!(until, t0 + SPAN);
    }

    #[test]
    fn the_message_rate_is_bounded_too() {
        let mut p = Pacer::default();
        let t0 = Instant::now();
        for _ in 0..SPAN_MESSAGES {
            assert_eq!(p.wait(t0, 0), None);
            p.record(t0, 0);
        }
        assert!(p.wait(t0, 0).is_some());
        assert_eq!(p.wait(t0 + SPAN, 0), None);
    }

    proptest! {
        /// Whatever the sizes and timings (cells one after another included), a sender
        /// that obeys `wait` sends at most SPAN_BYTES of serialized messages within any
        /// SPAN: whatever the server's relay delay (up to a second), its 3 s window never
        /// sees more than that, below its 3 MB.
        #[test]
        fn obeying_the_pacer_stays_under_the_limits(
            sizes in proptest::collection::vec(0usize..262_144, 1..300),
            gaps in proptest::collection::vec(0u64..1500, 1..200),
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
                log.push((now, wire_size(n)));
            }
            for &(start, _) in &log {
                let (bytes, msgs) = log
                    .iter()
                    .filter(|(t, _)| *t >= start && *t < start + SPAN)
                    .fold((0, 0), |(b, m), (_, n)| (b + n, m + 1));
                prop_assert!(bytes <= SPAN_BYTES, "{bytes} bytes in a span");
                prop_assert!(msgs <= SPAN_MESSAGES);
                prop_assert!(SPAN_BYTES < 3_000_000);
            }
        }
    }
}
