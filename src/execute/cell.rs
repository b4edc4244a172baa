//! Runs one payload in a PTY on a target: writes the runner script in, splits the
//! output into the cell's text and the runner's markers, renders the text like a
//! terminal, answers terminal queries, and stops the program on interrupt or timeout.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use crate::context::capture::{self, CaptureError, Captured};
use crate::context::demux::{Demux, Event};
use crate::context::script;
use crate::target::{Exit, PtyCommand, PtyInput, Target, TargetError};

/// Escalation after an interrupt, as a terminal user would do it: Ctrl-C, then hang up
/// (closing the terminal), then kill the cell's process group; then stop waiting.
const HANG_UP_AFTER: Duration = Duration::from_secs(2);
const KILL_AFTER: Duration = Duration::from_secs(5);
const ABANDON_AFTER: Duration = Duration::from_secs(7);
/// How often finished output is sent while a cell runs.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// After the shell exited without a capture, how long the output must be quiet to be
/// complete (what is still in flight arrives well within it).
const AFTER_EXIT_QUIET: Duration = Duration::from_millis(60);
/// How long output must pause before plain lines above the cursor are sent.
const SETTLE_AFTER: Duration = Duration::from_millis(100);

/// How long a cell must have run before its still-changing output is shown live (a
/// quick cell sends no live updates at all).
const LIVE_AFTER: Duration = Duration::from_millis(200);
/// Lines of the still-changing part shown live.
const LIVE_LINES: usize = 8;

/// Where rendered text goes.
pub trait Sink: Send {
    /// Finished text.
    fn text(&mut self, text: &str);
    /// Called every [`FLUSH_EVERY`] while the cell runs.
    fn flush(&mut self);
    /// While Some, the sink holds more than it may send yet: stop reading the program's
    /// output (it waits, as for a slow terminal) until then, and flush.
    fn blocked_until(&self) -> Option<Instant> {
        None
    }
    /// The still-changing part of the output (None: nothing), for a live view.
    fn live(&mut self, _text: Option<&str>) {}
    /// A full-screen program's screen; `last`: the final one (the program left).
    fn screen(&mut self, _plain: String, _html: String, _last: bool) {}
}

/// Why the kernel stopped a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Interrupt,
    Timeout,
}

pub struct RunSpec<'a> {
    pub bootstrap: &'a str,
    pub payload: Vec<u8>,
    pub nonce: &'a str,
    pub cols: u16,
    pub rows: u16,
    pub timeout: Option<Duration>,
}

#[derive(Debug)]
pub struct CellResult {
    pub exit: Exit,
    /// The state after the cell: None when the shell ended before the capture.
    pub captured: Option<Result<Captured, CaptureError>>,
    pub capture_too_large: bool,
    pub started: bool,
    pub cd_failed: bool,
    /// Output printed before the runner started (the target's login shell).
    pub noise: Vec<u8>,
    pub stopped: Option<StopReason>,
    /// The cell's shell (its process group) on the target, from the start marker.
    pub pid: i32,
}

pub async fn run(
    target: &dyn Target,
    spec: RunSpec<'_>,
    sink: &mut dyn Sink,
    mut interrupt: watch::Receiver<u64>,
    mut kill: watch::Receiver<bool>,
) -> Result<CellResult, TargetError> {
    if *kill.borrow() {
        return Err(TargetError::Other("the kernel is shutting down".into()));
    }
    let mut proc = target
        .spawn_pty(PtyCommand {
            command: spec.bootstrap.to_owned(),
            cols: spec.cols,
            rows: spec.rows,
        })
        .await?;
    let _ = proc
        .input
        .send(PtyInput::Data(Bytes::from(script::framed(&spec.payload))));
    interrupt.borrow_and_update();

    let mut demux = Demux::new(spec.nonce);
    let mut renderer = terminal::Renderer::new(spec.cols, spec.rows);
    let mut result = CellResult {
        exit: Exit::Unknown("not finished".into()),
        captured: None,
        capture_too_large: false,
        started: false,
        cd_failed: false,
        noise: Vec::new(),
        stopped: None,
        pid: 0,
    };
    let mut events = Vec::new();
    let mut stop_at: Option<Instant> = None;
    let mut step = 0u8;
    let deadline = spec.timeout.map(|t| Instant::now() + t);
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut exit: Option<Exit> = None;
    let mut motion = super::motion::MotionScan::default();
    let mut last_output = Instant::now();
    let mut exited_at: Option<Instant> = None;
    let began = Instant::now();
    // Output arrived since the live views were last refreshed.
    let mut dirty = false;

    loop {
        let next_step = stop_at.map(|t0| {
            t0 + match step {
                1 => HANG_UP_AFTER,
                2 => KILL_AFTER,
                _ => ABANDON_AFTER,
            }
        });
        let blocked = sink.blocked_until();
        tokio::select! {
            _ = sleep_until(blocked.unwrap_or_else(Instant::now)), if blocked.is_some() => {
                sink.flush();
            }
            chunk = proc.output.recv(), if blocked.is_none() => {
                let Some(chunk) = chunk else { break };
                last_output = Instant::now();
                dirty = true;
                demux.feed(&chunk, &mut events);
                handle(&mut events, &mut motion, &mut renderer, &mut result, sink);
                if exited_at.is_some() && (result.captured.is_some() || result.capture_too_large) {
                    break;
                }
                let replies = renderer.take_replies();
                if !replies.is_empty() {
                    let _ = proc.input.send(PtyInput::Data(Bytes::from(replies)));
                }
            }
            e = &mut proc.exit, if exit.is_none() => {
                exit = Some(e.unwrap_or_else(|_| Exit::Unknown("the process vanished".into())));
                exited_at = Some(Instant::now());
                if result.captured.is_some() || result.capture_too_large {
                    break;
                }
            }
            // After the shell's exit, the output is complete once the capture has arrived;
            // without one (exit, exec, a killed shell) once it has been quiet a moment.
            _ = sleep_until(last_output.max(exited_at.unwrap_or_else(Instant::now)) + AFTER_EXIT_QUIET),
                if exited_at.is_some() => {
                break;
            }
            r = kill.changed(), if step < 3 => {
                if r.is_err() { continue; }
                // Shutdown: no time for Ctrl-C; hang up and kill the group now.
                result.stopped = Some(StopReason::Interrupt);
                let _ = proc.input.send(PtyInput::HangUp);
                let _ = proc.input.send(PtyInput::SignalGroup { signal: "KILL", pid: result.pid });
                stop_at = Some(Instant::now() - KILL_AFTER);
                step = 3;
            }
            _ = flush.tick() => {
                // Plain output (no cursor motion so far) is final once the cursor has
                // left a line: send it when the program pauses, so `echo started; sleep`
                // shows at once. Shrinking the screen to the cursor's row is what makes
                // the rows above it final, as a terminal scrolls them off.
                if result.started && !motion.seen() && last_output.elapsed() >= SETTLE_AFTER {
                    let (cols, rows) = renderer.size();
                    renderer.resize(cols, 1);
                    renderer.resize(cols, rows);
                    let text = renderer.take_finished();
                    if !text.is_empty() {
                        sink.text(&text);
                    }
                }
                if dirty && began.elapsed() >= LIVE_AFTER {
                    dirty = false;
                    show_live(&mut renderer, sink);
                }
                sink.flush()
            }
            r = interrupt.changed(), if stop_at.is_none() => {
                if r.is_err() { continue; }
                result.stopped = Some(StopReason::Interrupt);
                stop_at = Some(Instant::now());
                step = 1;
                let _ = proc.input.send(PtyInput::Data(Bytes::from_static(b"\x03")));
            }
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() && stop_at.is_none() => {
                result.stopped = Some(StopReason::Timeout);
                stop_at = Some(Instant::now());
                step = 1;
                let _ = proc.input.send(PtyInput::Data(Bytes::from_static(b"\x03")));
            }
            _ = sleep_until(next_step.unwrap_or_else(Instant::now)), if next_step.is_some() => {
                match step {
                    1 => { let _ = proc.input.send(PtyInput::HangUp); }
                    2 => { let _ = proc.input.send(PtyInput::SignalGroup { signal: "KILL", pid: result.pid }); }
                    _ => break,
                }
                step += 1;
            }
        }
    }
    demux.finish(&mut events);
    handle(&mut events, &mut motion, &mut renderer, &mut result, sink);
    if renderer.screen_mode() {
        // Still on the screen at the end (killed, or a program that never left it).
        sink.screen(renderer.screen_text(), renderer.screen_html(), true);
    }
    let rest = renderer.finish();
    if !rest.is_empty() {
        sink.text(&rest);
    }
    sink.flush();
    result.exit = match exit {
        Some(e) => e,
        // After an abandoned stop the process is past asking; do not wait long.
        None => match tokio::time::timeout(
            if step >= 3 {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(2)
            },
            proc.exit,
        )
        .await
        {
            Ok(Ok(e)) => e,
            _ => Exit::Unknown("the shell did not report how it ended".into()),
        },
    };
    Ok(result)
}

fn handle(
    events: &mut Vec<Event>,
    motion: &mut super::motion::MotionScan,
    renderer: &mut terminal::Renderer,
    result: &mut CellResult,
    sink: &mut dyn Sink,
) {
    for e in events.drain(..) {
        match e {
            Event::Noise(n) => {
                if result.noise.len() < 64 * 1024 {
                    result.noise.extend(n);
                }
            }
            Event::Started { cd_failed, pid } => {
                result.started = true;
                result.pid = pid;
                result.cd_failed = cd_failed;
            }
            Event::Output(o) => {
                motion.feed(&o);
                renderer.feed(&o);
                if let Some(last) = renderer.take_left_screen() {
                    sink.screen(last.text, last.html, true);
                }
                let text = renderer.take_finished();
                if !text.is_empty() {
                    sink.text(&text);
                }
            }
            Event::Capture(block) => result.captured = Some(capture::parse(&block)),
            Event::CaptureTooLarge => result.capture_too_large = true,
        }
    }
}

/// Refresh the live views: the screen of a full-screen program, or else the last lines
/// of the part of the output that can still change.
fn show_live(renderer: &mut terminal::Renderer, sink: &mut dyn Sink) {
    if renderer.screen_mode() {
        sink.screen(renderer.screen_text(), renderer.screen_html(), false);
        sink.live(None);
        return;
    }
    let pending = renderer.pending();
    let lines: Vec<&str> = pending.lines().collect();
    let tail = lines[lines.len().saturating_sub(LIVE_LINES)..].join("\n");
    sink.live(Some(&tail));
}
