//! Runs one payload in a PTY on a target: writes the runner script in, splits the
//! output into the cell's text and the runner's markers, renders the text like a
//! terminal, answers terminal queries, and stops the program on interrupt or timeout.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};
use zeroize::Zeroizing;

use crate::frontend::{Asker, BoxFuture, CellEvent, LiveTerminal};
use crate::live::LiveTerm;
use crate::pictures::Pictures;
use crate::sink::Sink;
use context::capture::{self, CaptureError, Captured};
use context::demux::{Demux, Event};
use targets::{Exit, PtyCommand, PtyInput, PtyProcess, Target, TargetError};
use terminal::inline::Piece;

/// Escalation after a stop (interrupt, timeout, a prompt nobody can answer), as a terminal
/// user would do it: Ctrl-C; then, once a look at the processes left (`stopping`) shows
/// they ignore it, hang up (close the terminal), then kill the cell's process group, then
/// stop waiting. A program that handles Ctrl-C and is still cleaning up is left to finish,
/// looked at again every [`INSPECT_EVERY`], until the user stops the cell again, which kills
/// at once.
const INSPECT_AFTER: Duration = Duration::from_millis(500);
const INSPECT_EVERY: Duration = Duration::from_secs(1);
/// The look at the processes takes one command on the target; past this, it is blind.
const INSPECT_WITHIN: Duration = Duration::from_secs(2);
const KILL_AFTER_HANG_UP: Duration = Duration::from_secs(1);
/// After SIGKILL the group is gone at once; over SSH, a channel already hung up reports no
/// exit, so this is how long the cell waits for one.
const ABANDON_AFTER_KILL: Duration = Duration::from_millis(500);
/// Without `/proc` on the target (not Linux), by the clock alone, from the stop.
const BLIND_HANG_UP_AFTER: Duration = Duration::from_secs(2);
const BLIND_KILL_AFTER_HANG_UP: Duration = Duration::from_secs(3);
/// A run nobody can stop by hand (a headless client, a fleet host) looks at the cell's
/// processes once its output has been quiet this long, and again at doubling intervals up to
/// [`QUIET_LOOK_MAX`]: a program the terminal stopped (`timeout 3600 vim`, which set the
/// terminal from a group of its own) would otherwise wait for a stop nobody can give. One
/// `grep` on the target per look; a chatty cell is never looked at.
const QUIET_LOOK_AFTER: Duration = Duration::from_secs(5);
const QUIET_LOOK_MAX: Duration = Duration::from_secs(300);
/// A stop nobody can repeat (a timeout, a prompt a headless run cannot answer) leaves a
/// cleanup this long at most.
const UNATTENDED_CLEANUP: Duration = Duration::from_secs(10);

/// A look at the target's processes under way (`stopping::INSPECT`); Err: no answer.
type Look<'t> =
    std::pin::Pin<Box<dyn Future<Output = Result<targets::ExecOutput, ()>> + Send + 't>>;

/// The next step of a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Inspect,
    HangUp,
    Kill,
    Abandon,
}
/// Look at the target's processes (`stopping::INSPECT`), within [`INSPECT_WITHIN`].
fn look_at_processes(target: &dyn Target) -> Look<'_> {
    let look = target.exec(crate::stopping::INSPECT, Vec::new());
    Box::pin(async move {
        match tokio::time::timeout(INSPECT_WITHIN, look).await {
            Ok(Ok(out)) => Ok(out),
            _ => Err(()),
        }
    })
}

/// Kill the cell's process group (that of its shell, `pid`) and the groups of their own its
/// processes were seen in.
fn kill_cell(input: &mpsc::UnboundedSender<PtyInput>, pid: i32, others: &[i32]) {
    let _ = input.send(PtyInput::SignalGroup {
        signal: "KILL",
        pid,
    });
    if !others.is_empty() {
        let _ = input.send(PtyInput::SignalGroups {
            signal: "KILL",
            groups: others.to_vec(),
        });
    }
}

/// How often finished output is sent while a cell runs.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// How often once its output has been quiet for [`QUIET_AFTER`]: a cell that waits (an
/// interactive session at its prompt, a `sleep`) must not wake the kernel 20 times a second
/// (0.3 % of a core measured for an idle `%shell`). Output brings the short period back.
const QUIET_FLUSH_EVERY: Duration = Duration::from_secs(1);
const QUIET_AFTER: Duration = Duration::from_secs(1);
/// After the shell exited without a capture, how long the output must be quiet to be
/// complete (what is still in flight arrives well within it).
const AFTER_EXIT_QUIET: Duration = Duration::from_millis(60);

/// How long a cell must have run before its pending output is shown live (a quick cell
/// opens no live view at all).
const LIVE_AFTER: Duration = Duration::from_millis(100);

/// Why the kernel stopped a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Interrupt,
    Timeout,
    /// A program waits for input this client cannot give (`allow_stdin` false).
    Unanswerable,
    /// A program the terminal stopped, in a run nobody can stop by hand.
    StoppedProgram,
}

/// How the cell answers programs that wait for input.
#[derive(Default)]
pub struct Answers<'a> {
    /// None: the client cannot answer (`allow_stdin` false); a prompt ends the cell.
    pub asker: Option<&'a dyn Asker>,
    /// The marker in the prompt the cell's `sudo` shows (see `context::script`).
    pub sudo_marker: Option<String>,
    /// A remembered sudo password for the login user: answers the marker prompt, once.
    pub sudo_password: Option<Zeroizing<String>>,
    /// The login user, who a marker prompt without a user name asks for.
    pub login_user: String,
    /// A password sudo took may answer its later prompts in the same cell.
    pub cache_on: bool,
    /// Questions come before the cell starts (`%become`: sudo asks first): what the
    /// target prints before the start is rendered and watched for prompts.
    pub before_start: bool,
    /// A fleet host's run: only the kernel's own sudo prompt is answered (by `asker`, which
    /// gives every host the fleet's one password), and only once; any other prompt, a
    /// full-screen program or a refused password ends the run (never a box per host).
    pub only_sudo: bool,
}

/// What became of sudo's password questions.
#[derive(Default)]
pub struct SudoOutcome {
    /// A password sudo took: (user, password), to remember.
    pub accepted: Option<(String, Zeroizing<String>)>,
    /// A password sudo refused (typed, or remembered): to forget.
    pub rejected: bool,
}

impl std::fmt::Debug for SudoOutcome {
    // Never the password itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SudoOutcome")
            .field("accepted_for", &self.accepted.as_ref().map(|(u, _)| u))
            .field("rejected", &self.rejected)
            .finish()
    }
}

pub struct RunSpec<'a> {
    pub bootstrap: &'a str,
    /// A process already started with `bootstrap` at this size, waiting for `input` (see
    /// `execute::warm`), and what it printed after it got ready; None: start one.
    pub started: Option<(PtyProcess, Vec<u8>)>,
    /// Written into the PTY as it is: a framed payload, or a second stage.
    pub input: Vec<u8>,
    pub nonce: &'a str,
    pub cols: u16,
    pub rows: u16,
    pub timeout: Option<Duration>,
    pub answers: Answers<'a>,
    /// Keys, resizes and a frontend attaching, from outside the cell's request (see
    /// `Engine::cell_event`); None: nothing comes.
    pub events: Option<mpsc::Receiver<CellEvent>>,
    /// The live terminal the request's client shows, if it can.
    pub terminal: Option<&'a dyn LiveTerminal>,
    /// The terminal starts with the cell, not when a program takes the screen (`%shell`).
    pub live_from_start: bool,
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
    /// The prompt the cell could not answer, with [`StopReason::Unanswerable`].
    pub unanswered: Option<String>,
    /// The program the terminal stopped (`NAME (pid N)`), with [`StopReason::StoppedProgram`].
    pub stopped_program: Option<String>,
    pub sudo: SudoOutcome,
    /// The shell said it stays for the next cell (`script::Staging::stay`): what it printed
    /// since, for that cell.
    pub stay_leftover: Option<Vec<u8>>,
    /// Something came between the capture and the stay marker (`demux::Event::Stayed`).
    pub stay_in_doubt: bool,
    /// The shell that stayed, for the next cell: only after a cell that ended on its own,
    /// with a whole capture right before it said it stays, at the size it started with.
    pub stayed: Option<Stayed>,
}

/// A shell that stayed after its cell, waiting for the next cell's second stage.
pub struct Stayed {
    pub proc: PtyProcess,
    /// What it printed after it said it stays (normally nothing).
    pub leftover: Vec<u8>,
    /// Its cell's program may have changed the terminal's modes: it took the terminal
    /// (`terminal::Renderer::took_terminal`) or was given input beyond the payload. The
    /// next cell then sets them back first (`script::Staging::reset_terminal`).
    pub modes_in_doubt: bool,
    /// Its capture showed the display helpers defined (`script::display_helpers`): the next
    /// cell need not send them again (`script::Staging::definitions_kept`).
    pub helpers_defined: bool,
}

impl std::fmt::Debug for Stayed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stayed")
            .field("leftover", &self.leftover.len())
            .finish()
    }
}

/// Keeps the sudo marker out of everything shown: a prompt the kernel did not answer (a
/// headless run, an interrupt) stays in the output as sudo's usual `[sudo] password for`.
struct Scrub<'a> {
    inner: &'a mut dyn Sink,
    /// `[sshpty:MARKER]`, as the terminal shows it.
    tag: Option<String>,
}

impl Scrub<'_> {
    fn clean<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        match &self.tag {
            Some(tag) if text.contains(tag.as_str()) => text.replace(tag.as_str(), "[sudo]").into(),
            _ => text.into(),
        }
    }
}

impl Sink for Scrub<'_> {
    fn text(&mut self, text: &str) {
        let t = self.clean(text).into_owned();
        self.inner.text(&t);
    }
    fn flush(&mut self) {
        self.inner.flush();
    }
    fn blocked_until(&self) -> Option<Instant> {
        self.inner.blocked_until()
    }
    fn live(&mut self, text: Option<&str>) {
        let t = text.map(|t| self.clean(t).into_owned());
        self.inner.live(t.as_deref());
    }
    fn screen(&mut self, plain: String, html: String, last: bool) {
        let (p, h) = (
            self.clean(&plain).into_owned(),
            self.clean(&html).into_owned(),
        );
        self.inner.screen(p, h, last);
    }
    fn note(&mut self, text: &str) {
        self.inner.note(text);
    }
    fn show(&mut self, shown: crate::frontend::Shown) {
        self.inner.show(shown);
    }
    fn interlude(&mut self) {
        self.inner.interlude();
    }
    fn terminal(&mut self, id: Option<String>) {
        self.inner.terminal(id);
    }
    fn withdraw_screen(&mut self) {
        self.inner.withdraw_screen();
    }
}

/// What a box on the screen asks for.
enum Question {
    /// A prompt line: the answer is typed followed by Enter. `sudo`: the user whose
    /// password the kernel's sudo prompt asks for.
    Line { sudo: Option<String> },
    /// Keys for a full-screen program, in vim notation, sent as they are.
    Keys,
}

struct OpenBox {
    question: Question,
    answer: BoxFuture<Option<String>>,
}

const KEYS_PROMPT: &str = "keys for the program above (vim notation: <Esc> <CR> <C-c> <Up> <PageDown> <F1> …; text as typed; empty: Enter):";
/// What a fleet host's run (`Answers::only_sudo`) says it could not answer when sudo
/// refused the fleet's password.
pub const SUDO_REFUSED: &str = "sudo refused the password";

/// A full-screen program in a run that cannot answer is stopped after this long.
const SCREEN_HEADLESS_GRACE: Duration = Duration::from_secs(2);

/// sudo's words for a refused password (classic sudo and sudo-rs), seen after an answer.
fn sudo_refused(output: &[u8]) -> bool {
    const WORDS: [&[u8]; 4] = [
        b"Sorry, try again",
        b"incorrect password attempt",
        b"Authentication failed",
        b"incorrect authentication attempt",
    ];
    WORDS
        .iter()
        .any(|w| output.windows(w.len()).any(|x| x == *w))
}

pub async fn run(
    target: &dyn Target,
    spec: RunSpec<'_>,
    sink: &mut dyn Sink,
    mut interrupt: watch::Receiver<u64>,
    mut kill: watch::Receiver<bool>,
) -> Result<CellResult, TargetError> {
    if *kill.borrow() {
        return Err(TargetError::ShuttingDown);
    }
    // `interrupt` was subscribed when the cell began (before a sudo password was looked up,
    // a fleet host was reached, its process started): an interrupt since then stops it.
    let (mut proc, leftover) = match spec.started {
        Some(started) => started,
        None => {
            let proc = target
                .spawn_pty(PtyCommand {
                    command: spec.bootstrap.to_owned(),
                    cols: spec.cols,
                    rows: spec.rows,
                })
                .await?;
            (proc, Vec::new())
        }
    };
    let input = proc.input.clone();
    let _ = input.send(PtyInput::Data(Bytes::from(spec.input)));
    // Anything written after the payload (an answer, keys, a reply to a terminal query)
    // means a program read the terminal, and may have left its modes changed.
    let typed = std::sync::atomic::AtomicBool::new(false);
    let write = |bytes: Vec<u8>| {
        typed.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = input.send(PtyInput::Data(Bytes::from(bytes)));
    };

    let mut demux = Demux::new(spec.nonce);
    let mut shows = Shows::new(spec.nonce);
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
        unanswered: None,
        stopped_program: None,
        sudo: SudoOutcome::default(),
        stay_leftover: None,
        stay_in_doubt: false,
        stayed: None,
    };
    let answers = spec.answers;
    let mut scrub = Scrub {
        inner: sink,
        tag: answers.sudo_marker.as_ref().map(|m| {
            let p = terminal::prompt::sudo_prompt_argument(m);
            p[..p.find(']').map_or(p.len(), |i| i + 1)].to_owned()
        }),
    };
    let mut live = LiveTerm::new(spec.terminal, scrub.tag.as_deref(), spec.live_from_start);
    let sink: &mut dyn Sink = &mut scrub;
    let mut detector = terminal::prompt::Detector::new(answers.sudo_marker.as_deref());
    let mut remembered = answers.sudo_password;
    // A password given to sudo and not yet judged: (user, password).
    let mut sudo_pending: Option<(String, Zeroizing<String>)> = None;
    // sudo refused the last password: the next box says so, as sudo would.
    let mut just_refused = false;
    let mut open: Option<OpenBox> = None;
    let mut screen_since: Option<Instant> = None;
    let mut events = Vec::new();
    demux.feed(&leftover, &mut events);
    let mut stop_at: Option<Instant> = None;
    // The stop's next step and when; the look at the processes under way; whether the
    // group was killed; whether the target could not be looked at.
    let mut next: Option<(Instant, Next)> = None;
    let mut inspecting: Option<Look<'_>> = None;
    let mut killed = false;
    let mut blind = false;
    let mut told_cleanup = false;
    let mut hung_up = false;
    let shell = if spec.live_from_start {
        crate::stopping::Shell::JobControl
    } else {
        crate::stopping::Shell::Cell
    };
    // The groups of their own the cell's processes are in (`timeout` makes one), seen by
    // the looks: passed the Ctrl-C, and killed with the cell's group. Kept across looks:
    // once their parent is gone they no longer descend from the cell. Both bounded.
    let mut passed_on: Vec<i32> = Vec::new();
    let mut others: Vec<i32> = Vec::new();
    // Looks for a stopped program while the cell runs (see QUIET_LOOK_AFTER), in a run
    // nobody attends (a headless client, a fleet host); off once a look finds no `/proc`.
    let mut quiet_looks = answers.asker.is_none() || answers.only_sudo;
    let mut quiet_wait = QUIET_LOOK_AFTER;
    let mut next_quiet_look = Instant::now() + QUIET_LOOK_AFTER;
    let mut quiet_look: Option<Look<'_>> = None;
    let deadline = spec.timeout.map(|t| Instant::now() + t);
    let mut next_flush = Instant::now() + FLUSH_EVERY;
    let mut exit: Option<Exit> = None;
    let mut last_output = Instant::now();
    let mut exited_at: Option<Instant> = None;
    let began = Instant::now();
    // Output arrived since the live views were last refreshed.
    let mut dirty = false;
    let mut output_open = true;
    // The cell is over; it ends once no box is open (a box cannot be withdrawn, and a cell
    // that ends under one blocks JupyterLab: it waits for the answer, which goes nowhere).
    let mut done = false;
    let mut cell_events = spec.events;
    // The PTY was resized during the cell: a shell that stays has another size than the
    // one the next cell asks for.
    let mut resized = false;

    // Stop the cell as an interrupt does (Ctrl-C, then hang-up, then kill).
    macro_rules! stop {
        ($reason:expr) => {{
            result.stopped = Some($reason);
            stop_at = Some(Instant::now());
            next = Some((Instant::now() + INSPECT_AFTER, Next::Inspect));
            write(b"\x03".to_vec());
        }};
    }
    // A `%shell` session that is still there after the stop's Ctrl-C (which stopped what
    // ran in it, or dropped the line typed) is sent Ctrl-D once: the end of input ends the
    // session, which keeps its context as `exit` does. Not with the Ctrl-C: the terminal
    // flushes its input when it turns Ctrl-C into a signal.
    let mut session_ended = !spec.live_from_start;

    // Kill the cell's process group now (hung up first unless it was); stop waiting a
    // moment later.
    macro_rules! kill_now {
        () => {{
            hung_up = true;
            let _ = proc.input.send(PtyInput::HangUp);
            kill_group!();
        }};
    }
    macro_rules! kill_group {
        () => {{
            kill_cell(&proc.input, result.pid, &others);
            killed = true;
            inspecting = None;
            next = Some((Instant::now() + ABANDON_AFTER_KILL, Next::Abandon));
        }};
    }

    loop {
        if done && open.is_none() {
            break;
        }
        // Questions: only while the cell runs and is not being stopped, and never while a
        // live terminal runs: the user types the answer there (a box cannot be withdrawn).
        if open.is_none()
            && !done
            && stop_at.is_none()
            && !live.is_open()
            && (result.started || answers.before_start)
        {
            let idle = last_output.elapsed();
            let screen = renderer.screen_mode();
            if !screen {
                screen_since = None;
            }
            // On a full-screen program only the kernel's own sudo prompt is a prompt (it
            // counts at once): a password never goes through the keys box.
            let found = detector.check(&renderer, if screen { Duration::ZERO } else { idle });
            if found.is_none() && screen {
                let since = *screen_since.get_or_insert_with(Instant::now);
                match answers.asker {
                    Some(_) if answers.only_sudo => {
                        result.unanswered =
                            Some("a full-screen program that waits for keys".into());
                        stop!(StopReason::Unanswerable);
                    }
                    Some(asker) if idle >= terminal::prompt::IDLE_FOR_PROMPT => {
                        sink.screen(renderer.screen_text(), renderer.screen_html(), false);
                        sink.flush();
                        open = Some(OpenBox {
                            question: Question::Keys,
                            answer: asker.ask(KEYS_PROMPT, false),
                        });
                    }
                    None if since.elapsed() >= SCREEN_HEADLESS_GRACE => {
                        result.unanswered =
                            Some("a full-screen program that waits for keys".into());
                        stop!(StopReason::Unanswerable);
                    }
                    _ => {}
                }
            } else {
                if let Some(p) = found {
                    let mut text = p.text.clone();
                    let sudo_user = p.sudo.as_ref().map(|s| {
                        if s.user.is_empty() {
                            answers.login_user.clone()
                        } else {
                            s.user.clone()
                        }
                    });
                    if sudo_user.is_some() {
                        if let Some((user, pw)) = sudo_pending.take() {
                            // sudo asks again without refusing: the last one was taken
                            // (a second sudo in the cell, with no timestamp kept).
                            if answers.cache_on && user == answers.login_user {
                                remembered = Some(pw.clone());
                            }
                            result.sudo.accepted = Some((user, pw));
                        }
                        if std::mem::take(&mut just_refused) {
                            text = format!("Sorry, try again. {text}");
                        }
                    }
                    let cached = match &sudo_user {
                        Some(u) if *u == answers.login_user => remembered.clone(),
                        _ => None,
                    };
                    if answers.only_sudo && (sudo_user.is_none() || result.sudo.rejected) {
                        result.unanswered = Some(if result.sudo.rejected {
                            SUDO_REFUSED.into()
                        } else {
                            text
                        });
                        stop!(StopReason::Unanswerable);
                    } else if let (Some(user), Some(pw)) = (sudo_user.clone(), cached) {
                        // A remembered password answers the kernel's own sudo prompt only;
                        // if sudo refuses it, it is dropped and the user is asked.
                        let mut bytes = pw.as_bytes().to_vec();
                        bytes.push(b'\r');
                        write(bytes);
                        renderer.drop_prompt_line();
                        sudo_pending = Some((user, pw));
                    } else if let Some(asker) = answers.asker {
                        // The box appears below every output: the lines above the prompt
                        // are taken as final and sent before it.
                        settle(&mut renderer, sink);
                        sink.interlude();
                        sink.flush();
                        open = Some(OpenBox {
                            question: Question::Line { sudo: sudo_user },
                            answer: asker
                                .ask(&text, p.kind == terminal::prompt::PromptKind::Password),
                        });
                    } else {
                        result.unanswered = Some(text);
                        stop!(StopReason::Unanswerable);
                    }
                }
            }
        }

        let blocked = sink.blocked_until();
        tokio::select! {
            answer = async { open.as_mut().map(|b| b.answer.as_mut()).expect("a box is open").await }, if open.is_some() => {
                let Some(b) = open.take() else { continue };
                let Some(answer) = answer.map(Zeroizing::new) else {
                    // The question could not be asked (the client is gone).
                    if !done && stop_at.is_none() {
                        result.unanswered = Some("a prompt (the client could not be asked)".into());
                        stop!(StopReason::Unanswerable);
                    }
                    continue;
                };
                if done || stop_at.is_some() {
                    continue; // the program is gone: the answer goes nowhere
                }
                match b.question {
                    Question::Keys => {
                        match terminal::keys::parse(&answer, renderer.application_cursor_keys()) {
                            Ok(bytes) => write(bytes),
                            Err(e) => sink.note(&format!("sshpty: {e}; nothing was sent\n")),
                        }
                    }
                    Question::Line { sudo } => {
                        let mut bytes = answer.as_bytes().to_vec();
                        bytes.push(b'\r');
                        write(bytes);
                        renderer.drop_prompt_line();
                        renderer.forget_echo(&answer);
                        if let Some(user) = sudo {
                            sudo_pending = Some((user, answer));
                        }
                    }
                }
                // The prompt was answered: the next one is a new question.
                last_output = Instant::now();
            }
            _ = sleep_until(blocked.unwrap_or_else(Instant::now)), if blocked.is_some() => {
                sink.flush();
            }
            event = async { cell_events.as_mut().expect("events are open").recv().await }, if cell_events.is_some() => {
                match event {
                    None => cell_events = None,
                    // Typed keys go to the program only while it runs, as in a terminal.
                    Some(CellEvent::Keys(keys)) => if !done && stop_at.is_none() {
                        typed.store(true, std::sync::atomic::Ordering::Relaxed);
                        let _ = input.send(PtyInput::Data(keys));
                    },
                    Some(CellEvent::Resize { cols, rows }) => {
                        resized = true;
                        renderer.resize(cols, rows);
                        let _ = input.send(PtyInput::Resize { cols, rows });
                        live.resized(cols, rows);
                    }
                    Some(CellEvent::Attach { viewer, typing }) => {
                        if !live.attach(viewer, typing, &renderer) {
                            log::info!("a viewer attached to a live terminal that is not running");
                        }
                    }
                }
            }
            chunk = proc.output.recv(), if output_open && blocked.is_none() => {
                let Some(first) = chunk else {
                    output_open = false;
                    done = true;
                    continue;
                };
                // Take what else has arrived, so a fast program's many small reads are
                // handled (parsed, rendered, sent on) as one.
                let chunk = coalesce(first, &mut proc.output);
                last_output = Instant::now();
                next_flush = next_flush.min(last_output + FLUSH_EVERY);
                dirty = true;
                demux.feed(&chunk, &mut events);
                if sudo_pending.is_some()
                    && events.iter().any(|e| matches!(e, Event::Output(o) if sudo_refused(o)))
                {
                    // Never given again: neither the remembered password nor a typed one.
                    sudo_pending = None;
                    remembered = None;
                    just_refused = true;
                    result.sudo.rejected = true;
                }
                if answers.before_start && !result.started {
                    for e in &events {
                        if let Event::Noise(n) = e {
                            renderer.feed(n);
                        }
                    }
                }
                handle(&mut events, &mut renderer, &mut result, &mut live, &mut shows, sink);
                detector.output();
                if (exited_at.is_some() || result.stay_leftover.is_some())
                    && (result.captured.is_some() || result.capture_too_large)
                {
                    done = true;
                }
                let replies = renderer.take_replies();
                if !replies.is_empty() {
                    write(replies);
                }
            }
            _ = sleep_until(next_quiet_look.max(last_output + QUIET_LOOK_AFTER)),
                if quiet_looks && quiet_look.is_none() && result.started && !done && stop_at.is_none() => {
                quiet_look = Some(look_at_processes(target));
            }
            looked = async { quiet_look.as_mut().expect("a look is under way").await }, if quiet_look.is_some() => {
                quiet_look = None;
                quiet_wait = (quiet_wait * 2).min(QUIET_LOOK_MAX);
                next_quiet_look = Instant::now() + quiet_wait;
                let procs = looked.map(|out| crate::stopping::parse(&out.stdout)).unwrap_or_default();
                if procs.is_empty() {
                    quiet_looks = false;
                } else if let Some((pid, name)) = crate::stopping::stopped(&procs, result.pid, shell)
                    && stop_at.is_none()
                    && !done
                {
                    result.stopped_program = Some(format!("{name} (pid {pid})"));
                    stop!(StopReason::StoppedProgram);
                }
            }
            e = &mut proc.exit, if exit.is_none() => {
                exit = Some(e.unwrap_or_else(|_| Exit::Unknown("the process vanished".into())));
                exited_at = Some(Instant::now());
                if result.captured.is_some() || result.capture_too_large {
                    done = true;
                }
            }
            // After the shell's exit, the output is complete once the capture has arrived;
            // without one (exit, exec, a killed shell) once it has been quiet a moment.
            _ = sleep_until(last_output.max(exited_at.unwrap_or_else(Instant::now)) + AFTER_EXIT_QUIET),
                if exited_at.is_some() && !done => {
                done = true;
            }
            r = kill.changed(), if !killed => {
                if r.is_err() { continue; }
                // Shutdown: no time for Ctrl-C; hang up and kill the group now.
                result.stopped = Some(StopReason::Interrupt);
                open = None;
                stop_at.get_or_insert_with(Instant::now);
                kill_now!();
            }
            _ = sleep_until(next_flush) => {
                if dirty && began.elapsed() >= LIVE_AFTER {
                    dirty = false;
                    show_live(&mut renderer, sink);
                }
                sink.flush();
                let quiet = last_output.elapsed() >= QUIET_AFTER && !dirty;
                next_flush = Instant::now() + if quiet { QUIET_FLUSH_EVERY } else { FLUSH_EVERY };
            }
            r = interrupt.changed(), if !killed || open.is_some() => {
                if r.is_err() { continue; }
                // The box stays on the user's screen; the kernel no longer waits for it
                // (a late answer is dropped by the stdin channel).
                open = None;
                if stop_at.is_none() && !done {
                    stop!(StopReason::Interrupt);
                } else if stop_at.is_some() && !done && !killed {
                    // Stop pressed again: no more waiting for a cleanup.
                    result.stopped = Some(StopReason::Interrupt);
                    kill_now!();
                } else if result.stopped.is_none() {
                    result.stopped = Some(StopReason::Interrupt);
                }
            }
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() && stop_at.is_none() && !done => {
                open = None;
                stop!(StopReason::Timeout);
            }
            _ = sleep_until(next.map_or_else(Instant::now, |n| n.0)), if next.is_some() && inspecting.is_none() && !done => {
                let Some((_, step)) = next.take() else { continue };
                match step {
                    Next::Inspect => inspecting = Some(look_at_processes(target)),
                    Next::HangUp => {
                        hung_up = true;
                        let _ = proc.input.send(PtyInput::HangUp);
                        let after = if blind { BLIND_KILL_AFTER_HANG_UP } else { KILL_AFTER_HANG_UP };
                        next = Some((Instant::now() + after, Next::Kill));
                    }
                    Next::Kill => kill_group!(),
                    Next::Abandon => break,
                }
            }
            looked = async { inspecting.as_mut().expect("a look is under way").await }, if inspecting.is_some() => {
                inspecting = None;
                let verdict = match looked {
                    Ok(out) => {
                        let procs = crate::stopping::parse(&out.stdout);
                        for g in crate::stopping::other_groups(&procs, result.pid, shell) {
                            if !others.contains(&g) && others.len() < crate::stopping::MAX_OTHER_GROUPS {
                                others.push(g);
                            }
                        }
                        crate::stopping::judge(&procs, result.pid, shell, renderer.screen_mode(), &passed_on)
                    }
                    Err(()) => crate::stopping::Verdict::Unknown,
                };
                let now = Instant::now();
                let since_stop = stop_at.map_or(Duration::ZERO, |t| now.duration_since(t));
                next = Some(match verdict {
                    crate::stopping::Verdict::Unknown => {
                        blind = true;
                        (now.max(now + BLIND_HANG_UP_AFTER.saturating_sub(since_stop)), Next::HangUp)
                    }
                    crate::stopping::Verdict::Gone => (now + INSPECT_EVERY, Next::Inspect),
                    crate::stopping::Verdict::Ignoring => (now, Next::HangUp),
                    crate::stopping::Verdict::PassOn(groups) => {
                        // As a terminal with job control would have delivered it.
                        passed_on.extend_from_slice(&groups);
                        let over = passed_on.len().saturating_sub(4 * crate::stopping::MAX_OTHER_GROUPS);
                        passed_on.drain(..over);
                        let _ = proc.input.send(PtyInput::SignalGroups { signal: "INT", groups });
                        (now + INSPECT_AFTER, Next::Inspect)
                    }
                    crate::stopping::Verdict::Stopped { pid, name } => {
                        sink.note(&format!(
                            "sshpty: {name} (pid {pid}) is stopped and cannot end by itself: the \
                             terminal stops a program that sets it from a process group of its \
                             own (`timeout` makes one; `timeout --foreground` does not); ending it\n"
                        ));
                        (now, Next::HangUp)
                    }
                    crate::stopping::Verdict::Handling { .. } if !session_ended => {
                        session_ended = true;
                        write(b"\x04".to_vec());
                        (now + INSPECT_EVERY, Next::Inspect)
                    }
                    crate::stopping::Verdict::Handling { .. }
                        if result.stopped != Some(StopReason::Interrupt)
                            && since_stop >= UNATTENDED_CLEANUP =>
                    {
                        (now, Next::HangUp)
                    }
                    crate::stopping::Verdict::Handling { .. }
                        if result.stopped == Some(StopReason::Unanswerable) =>
                    {
                        // A prompt nobody answers, not a cleanup: its program may have taken
                        // the Ctrl-C between writing the prompt and reading (sudo's handler
                        // only notes the signal, and the read() after it then waits for a
                        // line), so it gets another at each look, until the rule above.
                        write(b"\x03".to_vec());
                        (now + INSPECT_EVERY, Next::Inspect)
                    }
                    crate::stopping::Verdict::Handling { pid, name } => {
                        if !told_cleanup {
                            told_cleanup = true;
                            let again = if result.stopped == Some(StopReason::Interrupt) {
                                "stop the cell again to kill it"
                            } else {
                                "it is killed if still running 10 s after the stop"
                            };
                            sink.note(&format!(
                                "sshpty: {name} (pid {pid}) handles Ctrl-C and is still running, \
                                 cleaning up; {again}\n"
                            ));
                        }
                        (now + INSPECT_EVERY, Next::Inspect)
                    }
                });
            }
        }
    }
    if stop_at.is_some() && hung_up && !killed {
        // The terminal was hung up and its output is over: what ignored the hang-up would
        // stay on the host, out of sight. A stopped cell leaves nothing.
        kill_cell(&proc.input, result.pid, &others);
    }
    demux.finish(&mut events);
    handle(
        &mut events,
        &mut renderer,
        &mut result,
        &mut live,
        &mut shows,
        sink,
    );
    shows.finish(&mut renderer, &mut live, sink);
    if renderer.screen_mode() {
        // Still on the screen at the end (killed, or a program that never left it).
        sink.screen(renderer.screen_text(), renderer.screen_html(), true);
    }
    live.close(&renderer, sink);
    let modes_in_doubt =
        typed.load(std::sync::atomic::Ordering::Relaxed) || renderer.took_terminal();
    let rest = renderer.finish();
    if !rest.is_empty() {
        sink.text(&rest);
        if let Some(note) = shows.pictures.finished_text(&rest) {
            sink.note(note);
        }
    }
    sink.flush();
    if let Some(tag) = &scrub.tag
        && result.noise.windows(tag.len()).any(|w| w == tag.as_bytes())
    {
        let noise = String::from_utf8_lossy(&result.noise).replace(tag.as_str(), "[sudo]");
        result.noise = noise.into_bytes();
    }
    if let Some(pending) = sudo_pending
        && result.stopped.is_none()
    {
        result.sudo.accepted = Some(pending);
    }
    if let (Some(leftover), None) = (result.stay_leftover.take(), &exit) {
        // The shell is waiting for the next cell's second stage. It goes to the next cell
        // only if nothing about it is in doubt; otherwise it is hung up, as it would be
        // had it exited.
        let status = match &result.captured {
            Some(Ok(c)) => Some(c.status),
            _ => None,
        };
        // Functions the capture could not tell apart are not kept in the context: the
        // shell would hold definitions the context does not.
        let whole = matches!(&result.captured, Some(Ok(c)) if !c.functions_unreadable);
        result.exit = match status {
            Some(s) => Exit::Code(s),
            None => Exit::Unknown("the shell's state could not be read".into()),
        };
        if whole && !result.stay_in_doubt && stop_at.is_none() && !hung_up && !killed && !resized {
            let helpers_defined = matches!(&result.captured, Some(Ok(c))
                if std::iter::once("__sshpty_show")
                    .chain(context::DISPLAY_HELPERS)
                    .all(|f| c.functions.contains_key(f)));
            result.stayed = Some(Stayed {
                proc,
                leftover,
                modes_in_doubt,
                helpers_defined,
            });
        } else {
            let _ = proc.input.send(PtyInput::HangUp);
        }
        return Ok(result);
    }
    result.exit = match exit {
        Some(e) => e,
        // After an abandoned stop the process is past asking; do not wait long.
        None => match tokio::time::timeout(
            if killed {
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

/// Bytes handled in one step at most: enough to make per-chunk work negligible, small
/// enough that a live view or an interrupt is never held back noticeably.
const COALESCE_MAX: usize = 64 * 1024;

/// `first` plus the chunks already waiting behind it, up to [`COALESCE_MAX`].
fn coalesce(first: Bytes, more: &mut tokio::sync::mpsc::Receiver<Bytes>) -> Bytes {
    if first.len() >= COALESCE_MAX || more.is_empty() {
        return first;
    }
    let mut buf = bytes::BytesMut::with_capacity(COALESCE_MAX.max(first.len()));
    buf.extend_from_slice(&first);
    while buf.len() < COALESCE_MAX {
        match more.try_recv() {
            Ok(c) => buf.extend_from_slice(&c),
            Err(_) => break,
        }
    }
    buf.freeze()
}

/// Make the rows above the cursor final and send them, as a terminal scrolling them off
/// would: shrinking the screen to the cursor's row does exactly that. Only before an input
/// box: the box goes below every output, so the lines above the prompt must be there first
/// (a program that redraws them after the answer is rare enough to accept).
fn settle(renderer: &mut terminal::Renderer, sink: &mut dyn Sink) {
    if renderer.screen_mode() {
        return;
    }
    let (cols, rows) = renderer.size();
    renderer.resize(cols, 1);
    renderer.resize(cols, rows);
    let text = renderer.take_finished();
    if !text.is_empty() {
        sink.text(&text);
    }
}

/// The pictures and HTML in a cell's output (`terminal::inline`), taken out before the
/// terminal renders it, and placed where they occurred.
struct Shows {
    scanner: terminal::inline::Scanner,
    pictures: Pictures,
    pieces: Vec<Piece>,
}

impl Shows {
    fn new(nonce: &str) -> Shows {
        Shows {
            scanner: terminal::inline::Scanner::new(nonce),
            pictures: Pictures::default(),
            pieces: Vec::new(),
        }
    }

    /// The cell's bytes `o`: text to the terminal, pictures in their place.
    fn output(
        &mut self,
        o: &[u8],
        renderer: &mut terminal::Renderer,
        live: &mut LiveTerm<'_>,
        sink: &mut dyn Sink,
    ) {
        self.scanner.feed(o, &mut self.pieces);
        self.place(renderer, live, sink);
    }

    /// The output ended: a sequence still open is said to be cut.
    fn finish(
        &mut self,
        renderer: &mut terminal::Renderer,
        live: &mut LiveTerm<'_>,
        sink: &mut dyn Sink,
    ) {
        self.scanner.finish(&mut self.pieces);
        self.place(renderer, live, sink);
    }

    fn place(
        &mut self,
        renderer: &mut terminal::Renderer,
        live: &mut LiveTerm<'_>,
        sink: &mut dyn Sink,
    ) {
        // The buffer is kept for the next chunk (one allocation per cell, not per read).
        let mut pieces = std::mem::take(&mut self.pieces);
        for piece in pieces.drain(..) {
            let Piece::Text(t) = piece else {
                self.picture(piece, renderer, sink);
                continue;
            };
            renderer.feed(&t);
            live.output(renderer, &t, sink);
            if let Some(last) = renderer.take_left_screen() {
                live.left_screen(&last.text);
                sink.screen(last.text, last.html, true);
            }
            let text = renderer.take_finished();
            if !text.is_empty() {
                sink.text(&text);
                if let Some(note) = self.pictures.finished_text(&text) {
                    sink.note(note);
                }
            }
        }
        self.pieces = pieces;
    }

    /// A picture (or the line said in its place) goes where the cursor is, as iTerm2 puts it:
    /// the text before it is made final and sent first, and a line begun on the cursor's row
    /// ends there (the picture goes below it). On a full screen it is not shown.
    fn picture(&mut self, piece: Piece, renderer: &mut terminal::Renderer, sink: &mut dyn Sink) {
        let shown = self.pictures.convert(piece);
        if renderer.screen_mode() {
            if let Some(note) = self.pictures.on_screen() {
                sink.note(note);
            }
            return;
        }
        if !renderer.cursor_line().is_empty() {
            renderer.feed(b"\r\n");
        }
        settle(renderer, sink);
        match shown {
            Ok(shown) => sink.show(shown),
            Err(line) => sink.note(&line),
        }
    }
}

fn handle(
    events: &mut Vec<Event>,
    renderer: &mut terminal::Renderer,
    result: &mut CellResult,
    live: &mut LiveTerm<'_>,
    shows: &mut Shows,
    sink: &mut dyn Sink,
) {
    for e in events.drain(..) {
        match e {
            Event::Noise(n) => match &mut result.stay_leftover {
                Some(after) if after.len() < 64 * 1024 => after.extend(n),
                Some(_) => {}
                None if result.noise.len() < 64 * 1024 => result.noise.extend(n),
                None => {}
            },
            Event::Stayed { right_after } => {
                result.stay_leftover = Some(Vec::new());
                result.stay_in_doubt = !right_after;
            }
            Event::Started { cd_failed, pid } => {
                live.started(renderer, sink);
                result.started = true;
                result.pid = pid;
                result.cd_failed = cd_failed;
            }
            Event::Output(o) => shows.output(&o, renderer, live, sink),
            Event::Capture(block) => result.captured = Some(capture::parse(&block)),
            Event::CaptureTooLarge => result.capture_too_large = true,
        }
    }
}

/// Refresh the live views: the screen of a full-screen program, or else the part of the
/// output the program can still redraw.
fn show_live(renderer: &mut terminal::Renderer, sink: &mut dyn Sink) {
    if renderer.screen_mode() {
        sink.screen(renderer.screen_text(), renderer.screen_html(), false);
        sink.live(None);
        return;
    }
    sink.live(Some(&renderer.pending()));
}

/// Discards output: the login capture's runner prints nothing the user needs.
pub(crate) struct NullSink;
impl Sink for NullSink {
    fn text(&mut self, _: &str) {}
    fn flush(&mut self) {}
}
