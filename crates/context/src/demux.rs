//! Splits a cell's PTY output into what the cell printed and the runner's own marked
//! blocks (start, context capture). Pure: bytes in, events out, however the bytes
//! are chunked.
//!
//! Markers carry the cell's fresh nonce, so output from programs (a `cat` of a file
//! with an old marker, a forged one) is passed through as ordinary output: without
//! the nonce it cannot match.

use memchr::memmem;

/// Longest start-marker tail (`PID;FLAG` then `ESC \`) accepted before giving up.
const MAX_START_TAIL: usize = 64;
/// Upper bound on a capture block; a larger one is dropped, keeping the old context.
pub const MAX_CAPTURE: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Output before the cell started (login shell noise); shown only if the cell
    /// never starts.
    Noise(Vec<u8>),
    Started {
        pid: i32,
        cd_failed: bool,
    },
    Output(Vec<u8>),
    /// The raw capture block, from after `ctx;` through the end record.
    Capture(Vec<u8>),
    /// The capture block grew beyond [`MAX_CAPTURE`]; it is dropped.
    CaptureTooLarge,
    /// After the capture, the shell said it stays for the next cell ([`stay_marker`]);
    /// what it prints from then on comes as [`Event::Noise`], for that cell. `right_after`:
    /// nothing came between the capture and the marker. Anything that did (a second
    /// capture block after one the cell forged with its own nonce, a stray process's
    /// output) puts in doubt which state the shell holds.
    Stayed {
        right_after: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    BeforeStart,
    StartTail,
    Running,
    Capture,
    After,
    Stayed,
}

pub struct Demux {
    start: Vec<u8>,
    ctx: Vec<u8>,
    end: Vec<u8>,
    stay: Vec<u8>,
    state: State,
    pending: Vec<u8>,
    capture_len: usize,
    capture_dropped: bool,
    /// Bytes came after the capture.
    after_capture: bool,
}

pub fn start_marker(nonce: &str) -> Vec<u8> {
    format!("\x1b_sshpty;{nonce};start;").into_bytes()
}
pub fn ctx_marker(nonce: &str) -> Vec<u8> {
    format!("\x1b_sshpty;{nonce};ctx;").into_bytes()
}
/// Printed by a shell that restored a context ahead of its cell and now waits for the
/// cell (see `script::prepare_payload`); read by the kernel before the cell starts.
pub fn ready_marker(nonce: &str) -> Vec<u8> {
    format!("\x1b_sshpty;{nonce};ready\x1b\\").into_bytes()
}
/// Printed after the capture by a shell that stays for the next cell rather than exiting
/// (see `script::second_stage`): it then waits for that cell's second stage.
pub fn stay_marker(nonce: &str) -> Vec<u8> {
    format!("\x1b_sshpty;{nonce};stay\x1b\\").into_bytes()
}
/// Ends the capture: a record can never contain NUL, so `\0E…\0` cannot occur inside one.
pub fn end_marker(nonce: &str) -> Vec<u8> {
    format!("\0E\x1f{nonce}\0\x1b\\").into_bytes()
}

impl Demux {
    pub fn new(nonce: &str) -> Demux {
        Demux {
            start: start_marker(nonce),
            ctx: ctx_marker(nonce),
            end: end_marker(nonce),
            stay: stay_marker(nonce),
            state: State::BeforeStart,
            pending: Vec::new(),
            capture_len: 0,
            capture_dropped: false,
            after_capture: false,
        }
    }

    pub fn started(&self) -> bool {
        !matches!(self.state, State::BeforeStart | State::StartTail)
    }

    pub fn feed(&mut self, bytes: &[u8], events: &mut Vec<Event>) {
        self.pending.extend_from_slice(bytes);
        loop {
            let progressed = match self.state {
                State::BeforeStart => {
                    self.scan_for(|d| &d.start, State::StartTail, Event::Noise, events)
                }
                State::StartTail => self.start_tail(events),
                State::Running => self.scan_for(|d| &d.ctx, State::Capture, Event::Output, events),
                State::Capture => self.capture(events),
                State::After => {
                    let before = events.len();
                    let stayed = self.scan_for(|d| &d.stay, State::Stayed, Event::Output, events);
                    self.after_capture |= events.len() > before;
                    if stayed {
                        events.push(Event::Stayed {
                            right_after: !self.after_capture,
                        });
                    }
                    stayed
                }
                State::Stayed => {
                    if !self.pending.is_empty() {
                        events.push(Event::Noise(std::mem::take(&mut self.pending)));
                    }
                    false
                }
            };
            if !progressed {
                break;
            }
        }
    }

    /// End of output: whatever is held back is released as what it is.
    pub fn finish(&mut self, events: &mut Vec<Event>) {
        let rest = std::mem::take(&mut self.pending);
        if rest.is_empty() {
            return;
        }
        match self.state {
            State::BeforeStart | State::StartTail | State::Stayed => {
                events.push(Event::Noise(rest))
            }
            State::Running | State::After => events.push(Event::Output(rest)),
            // An unterminated capture (the shell died while writing it) is not trusted.
            State::Capture => {}
        }
    }

    /// Look for `marker`; emit what precedes it, keep back a possible partial marker.
    fn scan_for(
        &mut self,
        marker: fn(&Demux) -> &Vec<u8>,
        next: State,
        wrap: fn(Vec<u8>) -> Event,
        events: &mut Vec<Event>,
    ) -> bool {
        let m = marker(self);
        if let Some(pos) = memmem::find(&self.pending, m) {
            let after = pos + m.len();
            let before: Vec<u8> = self.pending[..pos].to_vec();
            self.pending.drain(..after);
            if !before.is_empty() {
                events.push(wrap(before));
            }
            self.state = next;
            return true;
        }
        let keep = partial_suffix(&self.pending, m);
        let emit = self.pending.len() - keep;
        if emit > 0 {
            let out: Vec<u8> = self.pending.drain(..emit).collect();
            events.push(wrap(out));
        }
        false
    }

    fn start_tail(&mut self, events: &mut Vec<Event>) -> bool {
        // Only a terminator within MAX_START_TAIL bytes ends our tail. Searching further, or
        // giving up before that many bytes are in, would make the outcome depend on how much
        // output had arrived at once, i.e. on how the transport chunked it (found by fuzzing).
        let window = &self.pending[..self.pending.len().min(MAX_START_TAIL + 2)];
        if let Some(pos) = memmem::find(window, b"\x1b\\") {
            let tail = String::from_utf8_lossy(&self.pending[..pos]).into_owned();
            self.pending.drain(..pos + 2);
            let mut parts = tail.split(';');
            let pid = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            let cd_failed = parts.next() == Some("1");
            events.push(Event::Started { pid, cd_failed });
            self.state = State::Running;
            return true;
        }
        if self.pending.len() >= MAX_START_TAIL + 2 {
            // Not our marker after all (forged or cut): it is noise, and what follows is
            // searched for the start marker again, as it would be had it arrived later.
            events.push(Event::Noise(self.start.clone()));
            self.state = State::BeforeStart;
            return true;
        }
        false
    }

    fn capture(&mut self, events: &mut Vec<Event>) -> bool {
        if let Some(pos) = memmem::find(&self.pending, &self.end) {
            let end = pos + self.end.len();
            let block: Vec<u8> = self.pending.drain(..end).collect();
            if self.capture_dropped || self.capture_len + block.len() > MAX_CAPTURE {
                events.push(Event::CaptureTooLarge);
            } else {
                events.push(Event::Capture(block));
            }
            self.state = State::After;
            return true;
        }
        if self.pending.len() + self.capture_len > MAX_CAPTURE {
            // Keep only enough to find the end marker; the block itself is lost.
            let keep = self.end.len();
            let drop = self.pending.len().saturating_sub(keep);
            self.pending.drain(..drop);
            self.capture_len += drop;
            self.capture_dropped = true;
        }
        false
    }
}

/// Length of the longest suffix of `hay` that is a proper prefix of `marker`.
fn partial_suffix(hay: &[u8], marker: &[u8]) -> usize {
    let max = (marker.len() - 1).min(hay.len());
    (1..=max)
        .rev()
        .find(|&k| hay[hay.len() - k..] == marker[..k])
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const N: &str = "0123456789abcdef";

    fn stream() -> Vec<u8> {
        let mut s = b"motd noise\r\n".to_vec();
        s.extend(start_marker(N));
        s.extend(b"4242;0\x1b\\");
        s.extend(b"hello\r\nforged \x1b_sshpty;ffff;ctx;x\r\nno newline");
        s.extend(ctx_marker(N));
        s.extend(b"\r\n\t;S\x1f0\0");
        s.extend(end_marker(N));
        s.extend(b"late\r\n");
        s
    }

    fn run(chunks: &[&[u8]]) -> Vec<Event> {
        let mut d = Demux::new(N);
        let mut ev = Vec::new();
        for c in chunks {
            d.feed(c, &mut ev);
        }
        d.finish(&mut ev);
        normalise(ev)
    }

    /// Merge adjacent output/noise events: chunking may split them differently.
    fn normalise(ev: Vec<Event>) -> Vec<Event> {
        let mut out: Vec<Event> = Vec::new();
        for e in ev {
            match (out.last_mut(), e) {
                (Some(Event::Output(a)), Event::Output(b)) => a.extend(b),
                (Some(Event::Noise(a)), Event::Noise(b)) => a.extend(b),
                (_, e) => out.push(e),
            }
        }
        out
    }

    #[test]
    fn splits_markers_from_output() {
        let ev = run(&[&stream()]);
        assert_eq!(
            ev,
            vec![
                Event::Noise(b"motd noise\r\n".to_vec()),
                Event::Started {
                    pid: 4242,
                    cd_failed: false
                },
                Event::Output(b"hello\r\nforged \x1b_sshpty;ffff;ctx;x\r\nno newline".to_vec()),
                Event::Capture({
                    let mut c = b"\r\n\t;S\x1f0\0".to_vec();
                    c.extend(end_marker(N));
                    c
                }),
                Event::Output(b"late\r\n".to_vec()),
            ]
        );
    }

    /// A shell that stays: what it prints before the stay marker is the cell's output,
    /// what after it is the next cell's noise, however the bytes are cut.
    #[test]
    fn the_stay_marker_ends_the_cell_however_it_arrives() {
        let mut s = stream();
        s.extend(stay_marker(N));
        s.extend(b"next");
        for cut in 0..s.len() {
            let ev = run(&[&s[..cut], &s[cut..]]);
            let n = ev.len();
            assert_eq!(
                ev[n - 3],
                Event::Output(b"late\r\n".to_vec()),
                "cut at {cut}"
            );
            assert_eq!(
                ev[n - 2],
                Event::Stayed { right_after: false },
                "cut at {cut}"
            );
            assert_eq!(ev[n - 1], Event::Noise(b"next".to_vec()), "cut at {cut}");
        }
        // Another nonce's stay marker is output.
        let mut s = stream();
        s.extend(stay_marker("ffffffffffffffff"));
        assert!(!run(&[&s]).iter().any(|e| matches!(e, Event::Stayed { .. })));
        // Right after the capture, however cut.
        let mut s = stream();
        s.truncate(s.len() - b"late\r\n".len());
        s.extend(stay_marker(N));
        for cut in 0..s.len() {
            let ev = run(&[&s[..cut], &s[cut..]]);
            assert_eq!(
                ev.last(),
                Some(&Event::Stayed { right_after: true }),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_marker_with_another_nonce_is_output() {
        let mut s = start_marker(N);
        s.extend(b"1;0\x1b\\");
        s.extend(ctx_marker("ffffffffffffffff"));
        s.extend(b"S\x1f0\0");
        s.extend(end_marker("ffffffffffffffff"));
        let ev = run(&[&s]);
        assert!(ev.iter().all(|e| !matches!(e, Event::Capture(_))));
    }

    #[test]
    fn unterminated_capture_is_dropped() {
        let mut s = start_marker(N);
        s.extend(b"1;1\x1b\\out");
        s.extend(ctx_marker(N));
        s.extend(b"S\x1f0\0V\x1fdeclare -- x=1");
        let ev = run(&[&s]);
        assert_eq!(
            ev,
            vec![
                Event::Started {
                    pid: 1,
                    cd_failed: true
                },
                Event::Output(b"out".to_vec())
            ]
        );
    }

    /// A start marker whose tail never ends within bounds (forged, or cut by a dying
    /// shell) is noise, and a real start after it is still found, whether everything
    /// arrives at once or byte by byte (fuzz target `capture` found both differing).
    #[test]
    fn an_overlong_start_tail_is_noise_however_it_arrives() {
        let mut s = start_marker(N);
        s.extend([b'x'; 80]);
        s.extend(b"\x1b\\");
        s.extend(start_marker(N));
        s.extend(b"7;0\x1b\\ok\r\n");
        let mut noise = start_marker(N);
        noise.extend([b'x'; 80]);
        noise.extend(b"\x1b\\");
        let expected = vec![
            Event::Noise(noise),
            Event::Started {
                pid: 7,
                cd_failed: false,
            },
            Event::Output(b"ok\r\n".to_vec()),
        ];
        assert_eq!(run(&[&s]), expected);
        let bytes: Vec<&[u8]> = s.chunks(1).collect();
        assert_eq!(run(&bytes), expected);
    }

    /// The longest tail accepted ends exactly at the bound, whole or split before its end.
    #[test]
    fn a_start_tail_at_the_bound_is_accepted_however_it_arrives() {
        let mut s = start_marker(N);
        s.extend(format!("{:0>width$};1", 5, width = MAX_START_TAIL - 2).as_bytes());
        s.extend(b"\x1b\\out");
        let expected = vec![
            Event::Started {
                pid: 5,
                cd_failed: true,
            },
            Event::Output(b"out".to_vec()),
        ];
        assert_eq!(run(&[&s]), expected);
        let cut = s.len() - 4;
        assert_eq!(run(&[&s[..cut], &s[cut..]]), expected);
    }

    proptest! {
        #[test]
        fn chunking_does_not_matter(cuts in proptest::collection::vec(0usize..200, 0..12)) {
            let s = stream();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (s.len() + 1)).collect();
            cuts.sort();
            let mut chunks = Vec::new();
            let mut last = 0;
            for c in cuts { chunks.push(&s[last..c]); last = c; }
            chunks.push(&s[last..]);
            prop_assert_eq!(run(&chunks), run(&[&s]));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let mut d = Demux::new(N);
            let mut ev = Vec::new();
            d.feed(&bytes, &mut ev);
            d.finish(&mut ev);
        }
    }
}
