//! The engine against a scripted fake target (`fake`): each test plays the target's part
//! byte by byte and checks what the engine did with it. No shell, root or sshd.
//!
//! The clock is the real one: tokio's paused clock needs its `test-util` feature, which the
//! workspace does not enable. The escalation and prompt timings are measured with
//! `tokio::time::Instant` and checked with margins, so those tests hold on a paused clock
//! too; the whole module runs in about 5 s (the escalation's own length).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::cell::{self, Answers, RunSpec};
use crate::fake::{self, FakePty, FakeTarget, Ptys, Script, Seen};
use crate::frontend::{
    Asker, BoxFuture, CellEvent, ForCell, LiveTerminal, Output, Outputs, Request, RequestId, Stream,
};
use crate::output::StreamOut;
use crate::{Cell, Engine, Failure, Host, Options};
use context::Context;
use context::capture::Captured;
use context::script;
use targets::{Exit, Target};

// --- the frontend's side ---------------------------------------------------------------

/// Outputs kept with the time they were emitted; text may be held until `hold_until`.
#[derive(Default)]
struct Recorder {
    hold_until: Option<std::time::Instant>,
    outputs: Mutex<Vec<(std::time::Instant, Output)>>,
}

impl Outputs for Recorder {
    fn ready(&self, now: std::time::Instant, _: usize) -> Option<std::time::Instant> {
        self.hold_until.filter(|t| now < *t)
    }
    fn emit(&self, output: Output) {
        let now = std::time::Instant::now();
        self.outputs.lock().unwrap().push((now, output));
    }
}

impl Recorder {
    fn holding_for(d: Duration) -> Recorder {
        Recorder {
            hold_until: Some(std::time::Instant::now() + d),
            ..Default::default()
        }
    }

    /// The text on `stream`, in the order emitted.
    fn text(&self, stream: Stream) -> String {
        self.texts(stream).into_iter().map(|(_, t)| t).collect()
    }

    fn texts(&self, stream: Stream) -> Vec<(std::time::Instant, String)> {
        self.outputs
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(at, o)| match o {
                Output::Text { stream: s, text } if *s == stream => Some((*at, text.clone())),
                _ => None,
            })
            .collect()
    }
}

/// Answers questions from a list, and keeps what was asked.
#[derive(Default)]
struct ScriptedAsker {
    answers: Mutex<VecDeque<&'static str>>,
    asked: Mutex<Vec<(String, bool)>>,
}

impl ScriptedAsker {
    fn answering(answers: &[&'static str]) -> Arc<ScriptedAsker> {
        Arc::new(ScriptedAsker {
            answers: Mutex::new(answers.iter().copied().collect()),
            ..Default::default()
        })
    }
    fn asked(&self) -> Vec<(String, bool)> {
        self.asked.lock().unwrap().clone()
    }
}

impl Asker for ScriptedAsker {
    fn ask(&self, prompt: &str, password: bool) -> BoxFuture<Option<String>> {
        self.asked
            .lock()
            .unwrap()
            .push((prompt.to_owned(), password));
        let answer = self.answers.lock().unwrap().pop_front().map(str::to_owned);
        Box::pin(async move { answer })
    }
}

// --- setting up ------------------------------------------------------------------------

const SUDO_BOX: &str = "[sudo] password for ops:";

/// An engine logged in to `target` as `name` with `context` (what `%login` leaves).
fn engine_on(name: &str, target: Arc<FakeTarget>, context: Context) -> Engine {
    let engine = Engine::new(Options {
        login: None,
        header: false,
        sudo_cache: true,
        ..Options::default()
    });
    engine.state().hosts.log_in(
        name,
        Host::ready(target, context, "bash 5.2.15(1)-release".into()),
        true,
    );
    engine
}

fn request(outputs: &Arc<Recorder>, asker: Option<&Arc<ScriptedAsker>>) -> Request {
    Request {
        id: RequestId("r".into()),
        outputs: outputs.clone(),
        asker: asker.map(|a| a.clone() as Arc<dyn Asker>),
        terminal: None,
    }
}

fn cell(code: &str) -> Cell {
    Cell {
        code: code.into(),
        silent: false,
        store_history: true,
    }
}

/// A shell's state as a capture reports it.
fn state(status: i32, cwd: &str, vars: &[(&str, &str)]) -> Captured {
    Captured {
        status,
        cwd: cwd.as_bytes().to_vec(),
        umask: "0022".into(),
        vars: vars
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    format!("declare -- {n}=\"{v}\"").into_bytes(),
                )
            })
            .collect(),
        ..Default::default()
    }
}

fn context(cwd: &str, vars: &[(&str, &str)]) -> Context {
    let mut ctx = Context::default();
    ctx.apply(state(0, cwd, vars), false);
    ctx
}

/// Run `code` as a cell while `program` plays the target's part.
async fn run<T>(
    engine: &Engine,
    req: &Request,
    code: &str,
    program: impl Future<Output = T>,
) -> (Result<(), Failure>, T) {
    let cell = cell(code);
    let ((_, outcome), t) =
        bounded(async { tokio::join!(engine.execute(&cell, req), program) }).await;
    (outcome, t)
}

/// A test's cell ends, or the test fails: a broken engine must not hang `cargo test`.
async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("the cell did not end within 60 s")
}

/// A `sudo id` cell whose sudo prompt the engine answers with `typed` (from the cache or
/// from a question), and which sudo takes.
async fn sudo_taking(engine: &Engine, req: &Request, ptys: &mut Ptys, typed: &str) {
    let program = async {
        let (mut pty, script) = sudo_prompt_shown(ptys).await;
        assert_eq!(
            pty.next().await,
            Seen::Typed(format!("{typed}\r").into_bytes())
        );
        sudo_runs(pty, &script).await;
    };
    let (outcome, ()) = run(engine, req, "sudo id", program).await;
    assert!(outcome.is_ok(), "{outcome:?}");
}

fn host_context(engine: &Engine, name: &str) -> Context {
    engine
        .state()
        .hosts
        .get(name)
        .expect("logged in")
        .context
        .clone()
}

/// The cell failed: its error as the frontend was shown it (name, value).
fn error_shown(outcome: &Result<(), Failure>, out: &Recorder) -> (String, String) {
    assert!(outcome.is_err(), "the cell succeeded");
    let outputs = out.outputs.lock().unwrap();
    match outputs.last() {
        Some((_, Output::Error { ename, evalue })) => (ename.clone(), evalue.clone()),
        other => panic!("the last output is not the error: {other:?}"),
    }
}

/// A program that asks for sudo's password: the next PTY runs `code`'s cell, which shows
/// the cell's sudo prompt; returns the PTY and the cell once the prompt is shown.
async fn sudo_prompt_shown(ptys: &mut Ptys) -> (FakePty, Script) {
    let mut pty = ptys.next().await;
    let script = pty.cell().await;
    pty.start(&script).await;
    pty.print(script.sudo_prompt()).await;
    (pty, script)
}

/// sudo took the password: it runs the command, the cell ends well.
async fn sudo_runs(mut pty: FakePty, script: &Script) {
    pty.print("\r\nroot\r\n").await;
    pty.capture_and_exit(script, &state(0, "/home/ops", &[]), 0)
        .await;
}

// --- the tests -------------------------------------------------------------------------

/// The fake itself, and the engine's ordinary path: a cell's output is shown, its state is
/// kept, and the next cell runs in the shell started ahead with that state.
#[tokio::test]
async fn a_cell_shows_its_output_keeps_its_state_and_the_next_uses_the_shell_started_ahead() {
    let (target, mut ptys) = FakeTarget::new("web1");
    let engine = engine_on("web1", target, context("/srv/app", &[("RELEASE", "41")]));
    let out = Arc::new(Recorder::default());
    let req = request(&out, None);

    let program = async {
        let mut pty = ptys.next().await;
        let script = pty.cell().await;
        assert_eq!(script.code, "cd /tmp; RELEASE=42; echo hello");
        assert!(!script.staged);
        // The runner restores the context from before the cell.
        assert!(
            script.text.contains("__sshpty_d=$'/srv/app'"),
            "{}",
            script.text
        );
        assert!(script.text.contains("declare -- RELEASE=\"41\""));
        pty.start(&script).await;
        pty.print("hello\r\n").await;
        pty.capture_and_exit(&script, &state(0, "/tmp", &[("RELEASE", "42")]), 0)
            .await;
    };
    let (outcome, ()) = run(&engine, &req, "cd /tmp; RELEASE=42; echo hello", program).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(out.text(Stream::Out), "hello\n");
    assert_eq!(out.text(Stream::Err), "");
    let ctx = host_context(&engine, "web1");
    assert_eq!(ctx.cwd, b"/tmp");
    assert_eq!(ctx.scalar("RELEASE").as_deref(), Some("42"));

    // The next cell goes to the shell started ahead, as a second stage.
    let program = async {
        let mut pty = ptys.next().await;
        let script = pty.cell().await;
        assert!(script.staged);
        assert_eq!(script.code, "echo again");
        pty.start(&script).await;
        pty.print("again\r\n").await;
        pty.capture_and_exit(&script, &state(0, "/tmp", &[("RELEASE", "42")]), 0)
            .await;
    };
    let (outcome, ()) = run(&engine, &req, "echo again", program).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(out.text(Stream::Out), "hello\nagain\n");
}

/// A program that ignores Ctrl-C: Ctrl-C at once, the hang-up 2 s later, SIGKILL to the
/// cell's process group at 5 s; the cell ends as interrupted.
#[tokio::test(start_paused = true)]
async fn an_interrupt_escalates_from_ctrl_c_to_hang_up_to_killing_the_group() {
    let (target, mut ptys) = FakeTarget::new("web1");
    let engine = engine_on("web1", target, Context::default());
    let out = Arc::new(Recorder::default());
    let req = request(&out, None);

    let program = async {
        let mut pty = ptys.next().await;
        let script = pty.cell().await;
        pty.start(&script).await;
        pty.print("ignoring SIGINT\r\n").await;
        engine.interrupt();
        let t0 = Instant::now();
        assert_eq!(pty.next().await, Seen::Typed(b"\x03".to_vec()));
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "{:?}",
            t0.elapsed()
        );
        assert_eq!(pty.next().await, Seen::HangUp);
        let hung_up = t0.elapsed();
        assert_eq!(
            pty.next().await,
            Seen::Signal {
                signal: "KILL",
                pid: fake::PID
            }
        );
        let killed = t0.elapsed();
        pty.exit(Exit::Signal("KILL".into()));
        (hung_up, killed)
    };
    let (outcome, (hung_up, killed)) = run(&engine, &req, "trap '' INT; sleep 1000", program).await;
    let ms = |d: Duration| d.as_millis();
    assert!(
        (1_950..3_000).contains(&ms(hung_up)),
        "hung up after {hung_up:?}"
    );
    assert!(
        (4_950..6_000).contains(&ms(killed)),
        "killed after {killed:?}"
    );
    let (ename, evalue) = error_shown(&outcome, &out);
    assert_eq!(
        (ename.as_str(), evalue.as_str()),
        ("Interrupted", "the cell was interrupted")
    );
    assert_eq!(out.text(Stream::Out), "ignoring SIGINT\n");
    assert!(
        out.text(Stream::Err)
            .contains("the shell was stopped before it could report its state"),
        "{}",
        out.text(Stream::Err)
    );
}

/// sudo refuses the first password: the user is asked again, told so; the password sudo
/// took answers the next cell's sudo without a question.
#[tokio::test]
async fn sudo_asks_again_after_a_refusal_and_the_next_cell_is_answered_from_the_cache() {
    let (target, mut ptys) = FakeTarget::new("web1");
    let engine = engine_on("web1", target, Context::default());
    let out = Arc::new(Recorder::default());
    let asker = ScriptedAsker::answering(&["wrong", "right"]);
    let req = request(&out, Some(&asker));

    let program = async {
        let (mut pty, script) = sudo_prompt_shown(&mut ptys).await;
        assert_eq!(pty.next().await, Seen::Typed(b"wrong\r".to_vec()));
        pty.print(format!("\r\nSorry, try again.\r\n{}", script.sudo_prompt()))
            .await;
        assert_eq!(pty.next().await, Seen::Typed(b"right\r".to_vec()));
        sudo_runs(pty, &script).await;
    };
    let (outcome, ()) = run(&engine, &req, "sudo whoami", program).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(
        asker.asked(),
        [
            (SUDO_BOX.to_owned(), true),
            (format!("Sorry, try again. {SUDO_BOX}"), true),
        ]
    );
    // The marker never shows; what sudo printed does.
    let text = out.text(Stream::Out);
    assert!(!text.contains("sshpty:"), "{text}");
    assert!(
        text.contains("Sorry, try again.") && text.contains("root"),
        "{text}"
    );

    // The next cell's sudo prompt (a new marker) is answered with what sudo took.
    sudo_taking(&engine, &req, &mut ptys, "right").await;
    assert_eq!(asker.asked().len(), 2, "asked again: {:?}", asker.asked());
}

/// `%sudo forget`: the next sudo asks.
#[tokio::test]
async fn after_sudo_forget_sudo_asks_again() {
    let (target, mut ptys) = FakeTarget::new("web1");
    let engine = engine_on("web1", target, Context::default());
    let out = Arc::new(Recorder::default());
    let asker = ScriptedAsker::answering(&["right", "right"]);
    let req = request(&out, Some(&asker));

    sudo_taking(&engine, &req, &mut ptys, "right").await;
    assert_eq!(asker.asked().len(), 1);

    let (_, outcome) = engine.execute(&cell("%sudo forget"), &req).await;
    assert!(outcome.is_ok(), "{outcome:?}");

    sudo_taking(&engine, &req, &mut ptys, "right").await;
    assert_eq!(
        asker.asked(),
        [(SUDO_BOX.to_owned(), true), (SUDO_BOX.to_owned(), true)]
    );
}

/// A remembered password sudo no longer takes (changed meanwhile) is given once, then
/// dropped: the user is asked, told why; when sudo gives up, nothing is remembered, so the
/// next sudo asks too, and the password it takes is the one remembered.
#[tokio::test]
async fn a_remembered_password_sudo_refuses_is_forgotten() {
    let (target, mut ptys) = FakeTarget::new("web1");
    let engine = engine_on("web1", target, Context::default());
    let out = Arc::new(Recorder::default());
    let asker = ScriptedAsker::answering(&["old", "bad", "new"]);
    let req = request(&out, Some(&asker));

    sudo_taking(&engine, &req, &mut ptys, "old").await;

    // The remembered one is refused, and so is the one typed: sudo gives up.
    let program = async {
        let (mut pty, script) = sudo_prompt_shown(&mut ptys).await;
        assert_eq!(pty.next().await, Seen::Typed(b"old\r".to_vec()));
        pty.print(format!("\r\nSorry, try again.\r\n{}", script.sudo_prompt()))
            .await;
        assert_eq!(pty.next().await, Seen::Typed(b"bad\r".to_vec()));
        pty.print("\r\nsudo: 2 incorrect password attempts\r\n")
            .await;
        pty.capture_and_exit(&script, &state(1, "/home/ops", &[]), 0)
            .await;
    };
    let (outcome, ()) = run(&engine, &req, "sudo id", program).await;
    assert_eq!(error_shown(&outcome, &out).1, "exit status 1");
    assert_eq!(
        asker.asked(),
        [
            (SUDO_BOX.to_owned(), true),
            (format!("Sorry, try again. {SUDO_BOX}"), true),
        ]
    );

    // Nothing remembered: asked.
    sudo_taking(&engine, &req, &mut ptys, "new").await;
    assert_eq!(asker.asked().len(), 3);

    // The one sudo took last is remembered.
    sudo_taking(&engine, &req, &mut ptys, "new").await;
    assert_eq!(asker.asked().len(), 3);
}

/// `exit 3` ends the shell before the capture: the cell fails with the status, and the
/// context the previous cell left is kept.
#[tokio::test]
async fn exit_in_a_cell_fails_it_with_the_status_and_keeps_the_context_from_before() {
    let (target, mut ptys) = FakeTarget::new("web1");
    let engine = engine_on("web1", target, Context::default());
    let out = Arc::new(Recorder::default());
    let req = request(&out, None);

    let program = async {
        let mut pty = ptys.next().await;
        let script = pty.cell().await;
        pty.start(&script).await;
        pty.capture_and_exit(&script, &state(0, "/srv/app", &[("RELEASE", "42")]), 0)
            .await;
    };
    let (outcome, ()) = run(&engine, &req, "cd /srv/app; RELEASE=42", program).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    let before = host_context(&engine, "web1");
    assert_eq!(before.cwd, b"/srv/app");

    let program = async {
        let mut pty = ptys.next().await;
        let script = pty.cell().await;
        assert_eq!(script.code, "cd /; RELEASE=43; exit 3");
        pty.start(&script).await;
        pty.exit(Exit::Code(3));
    };
    let (outcome, ()) = run(&engine, &req, "cd /; RELEASE=43; exit 3", program).await;
    let (ename, evalue) = error_shown(&outcome, &out);
    assert_eq!(ename, "ExitStatus");
    assert_eq!(
        evalue,
        "exit status 3: the shell exited before the end of the cell; the context from before the cell is kept"
    );
    let after = host_context(&engine, "web1");
    assert_eq!(after.cwd, before.cwd);
    assert_eq!(after.vars, before.vars);
    assert_eq!(after.scalar("RELEASE").as_deref(), Some("42"));
}

/// A client that cannot answer (nbclient): a program waiting at `Password: ` is stopped
/// as soon as the prompt is recognised, and the cell fails naming it.
#[tokio::test(start_paused = true)]
async fn a_prompt_without_a_client_to_answer_stops_the_program_and_names_it() {
    let (target, mut ptys) = FakeTarget::new("web1");
    let engine = engine_on("web1", target, Context::default());
    let out = Arc::new(Recorder::default());
    let req = request(&out, None);
    let t0 = Instant::now();

    let program = async {
        let mut pty = ptys.next().await;
        let script = pty.cell().await;
        pty.start(&script).await;
        pty.print("changing password for ops.\r\nPassword: ").await;
        let shown = Instant::now();
        assert_eq!(pty.next().await, Seen::Typed(b"\x03".to_vec()));
        let stopped = shown.elapsed();
        // bash's INT trap captures and exits.
        pty.capture_and_exit(&script, &state(130, "/home/ops", &[]), 130)
            .await;
        stopped
    };
    let (outcome, stopped) = run(&engine, &req, "passwd", program).await;
    // Quiet for the prompt rule's 400 ms, then stopped at once.
    assert!(
        (terminal::prompt::IDLE_FOR_PROMPT..Duration::from_millis(1_500)).contains(&stopped),
        "stopped after {stopped:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    let (ename, evalue) = error_shown(&outcome, &out);
    assert_eq!(ename, "WaitsForInput");
    assert!(
        evalue.starts_with("the command waits for input: \"Password:\""),
        "{evalue}"
    );
    assert_eq!(
        out.text(Stream::Out),
        "changing password for ops.\nPassword: "
    );
}

/// Output the frontend may not take yet is held, not dropped: nothing goes before the time
/// the frontend gives, then everything, in order. Once more than the backlog is held, the
/// engine stops reading, so the program waits (as for a slow terminal).
#[tokio::test]
async fn held_output_waits_for_the_frontend_and_then_arrives_whole_and_in_order() {
    const HOLD: Duration = Duration::from_secs(2);
    /// What StreamOut holds before it stops reading (`output::BACKLOG`).
    const BACKLOG: usize = 1 << 20;
    let (target, mut ptys) = FakeTarget::new("web1");
    let engine = engine_on("web1", target, Context::default());
    // No output limit: all of it is for the notebook (nothing spilled to a file).
    engine.state().settings.output_limit = None;
    let out = Arc::new(Recorder::holding_for(HOLD));
    let release = out.hold_until.unwrap();
    let req = request(&out, None);
    let lines: Vec<String> = (0..60_000)
        .map(|i| format!("line {i:06} {}\n", "x".repeat(40)))
        .collect();
    let expected: String = lines.concat();
    assert!(expected.len() > 2 * BACKLOG);

    let program = async {
        let mut pty = ptys.next().await;
        let script = pty.cell().await;
        pty.start(&script).await;
        let mut sent = 0;
        let mut stall: Option<(usize, std::time::Instant)> = None;
        for chunk in lines.chunks(512) {
            let bytes = chunk.concat().replace('\n', "\r\n");
            if stall.is_none() && std::time::Instant::now() < release {
                // A chunk the engine does not take for a long while: it stopped reading.
                let waited = tokio::time::timeout(Duration::from_millis(500), pty.print(&bytes));
                if waited.await.is_err() {
                    pty.print(&bytes).await;
                    stall = Some((sent, std::time::Instant::now()));
                }
            } else {
                pty.print(&bytes).await;
            }
            sent += chunk.concat().len();
        }
        pty.capture_and_exit(&script, &state(0, "/home/ops", &[]), 0)
            .await;
        stall
    };
    let (outcome, stall) = run(&engine, &req, "seq", program).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    let texts = out.texts(Stream::Out);
    let first = texts.first().map(|(at, _)| *at).expect("no text");
    assert!(first >= release, "text went {:?} early", release - first);
    assert_eq!(out.text(Stream::Out), expected);
    let (held, resumed) = stall.expect("the engine never stopped reading");
    assert!(
        held >= BACKLOG,
        "it stopped reading after only {held} bytes"
    );
    assert!(
        resumed >= release,
        "it read on {:?} early",
        release - resumed
    );
}

/// Two targets run a cell each at the same time, each with its own context, output and
/// capture (the shape of several hosts at once).
#[tokio::test]
async fn two_targets_run_cells_at_once_each_with_its_own_output_and_state() {
    let barrier = tokio::sync::Barrier::new(2);
    let run_on = |name: &'static str| {
        let barrier = &barrier;
        async move {
            let (target, mut ptys) = FakeTarget::new(name);
            let ctx = context(&format!("/srv/{name}"), &[("HOST", name)]);
            let nonce = crate::nonce::new_nonce();
            let code = format!("hostname; cd /var/{name}");
            let spec = RunSpec {
                events: None,
                terminal: None,
                live_from_start: false,
                bootstrap: script::BOOTSTRAP,
                started: None,
                input: script::framed(&script::cell_payload(&ctx, &code, &nonce, false, None)),
                nonce: &nonce,
                cols: 80,
                rows: 24,
                timeout: None,
                answers: Answers::default(),
            };
            let recorder = Arc::new(Recorder::default());
            let mut out = StreamOut::new(recorder.as_ref(), false, false);
            let (_interrupt, interrupt_rx) = watch::channel(0);
            let (_kill, kill_rx) = watch::channel(false);
            let program = async {
                let mut pty = ptys.next().await;
                let script = pty.cell().await;
                assert_eq!(script.nonce, nonce);
                assert_eq!(script.code, code);
                assert!(script.text.contains(&format!("__sshpty_d=$'/srv/{name}'")));
                // Both cells are running before either prints.
                barrier.wait().await;
                pty.start(&script).await;
                pty.print(format!("{name}\r\n")).await;
                let after = state(0, &format!("/var/{name}"), &[("HOST", name)]);
                pty.capture_and_exit(&script, &after, 0).await;
            };
            let target: &dyn Target = target.as_ref();
            let (result, ()) = tokio::join!(
                cell::run(target, spec, &mut out, interrupt_rx, kill_rx),
                program
            );
            out.drain().await;
            drop(out);
            (result.expect("the cell ran"), recorder)
        }
    };
    let ((web, web_out), (db, db_out)) =
        bounded(async { tokio::join!(run_on("web1"), run_on("db1")) }).await;
    for (name, r, out) in [("web1", web, web_out), ("db1", db, db_out)] {
        assert_eq!(out.text(Stream::Out), format!("{name}\n"));
        assert_eq!(r.exit, Exit::Code(0));
        assert_eq!(r.pid, fake::PID);
        let captured = r.captured.expect("no capture").expect("a bad capture");
        assert_eq!(captured.cwd, format!("/var/{name}").into_bytes());
        assert_eq!(
            captured.vars["HOST"],
            format!("declare -- HOST=\"{name}\"").into_bytes()
        );
    }
}

/// Keys and a resize from outside the cell's request reach the running program (what a live
/// terminal in the cell sends); events naming another request, or out of range, do not.
#[tokio::test]
async fn keys_and_a_resize_from_outside_the_request_reach_the_running_cell() {
    let (target, mut ptys) = FakeTarget::new("web1");
    let engine = engine_on("web1", target, Context::default());
    let out = Arc::new(Recorder::default());
    let req = request(&out, None);
    let to = |id: &str, event: CellEvent| ForCell {
        request: RequestId(id.into()),
        event,
    };
    // No cell runs yet: an event is dropped, never kept for a later program.
    assert!(!engine.cell_event(to("r", CellEvent::Keys("early".into()))));

    let program = async {
        let mut pty = ptys.next().await;
        let script = pty.cell().await;
        pty.start(&script).await;
        pty.print("name? ").await;
        assert!(!engine.cell_event(to("another", CellEvent::Keys("wrong\r".into()))));
        assert!(!engine.cell_event(to("r", CellEvent::Resize { cols: 0, rows: 40 })));
        assert!(!engine.cell_event(to(
            "r",
            CellEvent::Resize {
                cols: 80,
                rows: 5000
            }
        )));
        assert!(engine.cell_event(to(
            "r",
            CellEvent::Resize {
                cols: 100,
                rows: 30
            }
        )));
        assert!(engine.cell_event(to("r", CellEvent::Keys("bob\r".into()))));
        assert_eq!(
            pty.next().await,
            Seen::Resize {
                cols: 100,
                rows: 30
            }
        );
        assert_eq!(pty.next().await, Seen::Typed(b"bob\r".to_vec()));
        pty.print("bob\r\nhello bob\r\n").await;
        pty.capture_and_exit(&script, &state(0, "/", &[]), 0).await;
    };
    let (outcome, ()) = run(&engine, &req, "read -p 'name? ' n; echo hello $n", program).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(out.text(Stream::Out), "name? bob\nhello bob\n");
    // The cell is over: its request's keys go nowhere.
    assert!(!engine.cell_event(to("r", CellEvent::Keys("late".into()))));
}

/// What a live terminal was told, in order (the sudo marker and a typed password never
/// appear: the terminal shows what the PTY shows).
#[derive(Default)]
struct RecordingTerminal {
    calls: Mutex<Vec<String>>,
}

impl RecordingTerminal {
    fn push(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl LiveTerminal for RecordingTerminal {
    fn open(&self, cols: u16, rows: u16) -> String {
        self.push(format!("open {cols}x{rows}"));
        "t1".into()
    }
    fn output(&self, bytes: &[u8]) -> bool {
        self.push(format!("output {}", String::from_utf8_lossy(bytes)));
        true
    }
    fn screen(&self, viewer: u64, typing: bool, replay: Vec<u8>, cols: u16, rows: u16) {
        // The replay redraws what the program drew before the viewer came.
        let mut fresh = terminal::Renderer::new(cols, rows);
        fresh.feed(&replay);
        let first = fresh
            .screen_text()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        self.push(format!("screen {viewer} {typing} {cols}x{rows} {first}"));
    }
    fn redraw(&self, _replay: Vec<u8>, cols: u16, rows: u16) {
        self.push(format!("redraw {cols}x{rows}"));
    }
    fn resized(&self, cols: u16, rows: u16) {
        self.push(format!("resized {cols}x{rows}"));
    }
    fn close(&self, screen: Option<String>) {
        self.push(format!("close {}", screen.unwrap_or_default()));
    }
}

/// A full-screen program in a cell whose client shows a live terminal: the terminal starts
/// when the program takes the screen, a viewer attaching is sent the screen so far, the
/// program gets keys from outside the request with no keys box asked for (and is not
/// stopped as waiting), every byte after reaches the terminal, a resize is passed on, and
/// the terminal ends with the cell, the screen's display then standing for no terminal.
#[tokio::test(start_paused = true)]
async fn a_live_terminal_starts_with_the_screen_and_takes_the_keys_without_a_box() {
    let (target, mut ptys) = FakeTarget::new("web1");
    let engine = engine_on("web1", target, Context::default());
    let out = Arc::new(Recorder::default());
    let asker = ScriptedAsker::answering(&[]);
    let live = Arc::new(RecordingTerminal::default());
    let req = Request {
        terminal: Some(live.clone() as Arc<dyn LiveTerminal>),
        ..request(&out, Some(&asker))
    };
    let event = |event| ForCell {
        request: RequestId("r".into()),
        event,
    };

    let program = async {
        let mut pty = ptys.next().await;
        let script = pty.cell().await;
        pty.start(&script).await;
        pty.print("before\r\n").await;
        // The alternate screen, and a pause far beyond the keys box's.
        pty.print("\x1b[?1049h\x1b[H\x1b[2Jtop - 10:00:00").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(engine.cell_event(event(CellEvent::Attach {
            viewer: 7,
            typing: true
        })));
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(engine.cell_event(event(CellEvent::Keys("q".into()))));
        assert_eq!(pty.next().await, Seen::Typed(b"q".to_vec()));
        assert!(engine.cell_event(event(CellEvent::Resize {
            cols: 100,
            rows: 30
        })));
        assert_eq!(
            pty.next().await,
            Seen::Resize {
                cols: 100,
                rows: 30
            }
        );
        pty.print("\x1b[?1049l").await;
        pty.capture_and_exit(&script, &state(0, "/", &[]), 0).await;
    };
    let (outcome, ()) = run(&engine, &req, "top", program).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(asker.asked(), Vec::new(), "a box was asked for");
    let calls = live.calls();
    assert_eq!(
        calls,
        vec![
            "open 160x50".to_owned(),
            "screen 7 true 160x50 top - 10:00:00".to_owned(),
            "resized 100x30".to_owned(),
            "output \x1b[?1049l".to_owned(),
            "close top - 10:00:00".to_owned(),
        ],
        "{calls:#?}"
    );
    let displays: Vec<Option<String>> = out
        .outputs
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, o)| match o {
            Output::Display(d) | Output::Update(d) if d.id.starts_with("sshpty-live-") => {
                Some(d.terminal.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        displays.first(),
        Some(&Some("t1".to_owned())),
        "{displays:?}"
    );
    assert_eq!(displays.last(), Some(&None), "{displays:?}");
}

/// Without a live terminal (nbclient, a JupyterLab without the extension), an attach is
/// not taken: nothing runs for it.
#[tokio::test]
async fn an_attach_without_a_live_terminal_changes_nothing() {
    let (target, mut ptys) = FakeTarget::new("web1");
    let engine = engine_on("web1", target, Context::default());
    let out = Arc::new(Recorder::default());
    let req = request(&out, None);
    let program = async {
        let mut pty = ptys.next().await;
        let script = pty.cell().await;
        pty.start(&script).await;
        assert!(engine.cell_event(ForCell {
            request: RequestId("r".into()),
            event: CellEvent::Attach {
                viewer: 1,
                typing: true
            },
        }));
        pty.print("plain\r\n").await;
        pty.capture_and_exit(&script, &state(0, "/", &[]), 0).await;
    };
    let (outcome, ()) = run(&engine, &req, "echo plain", program).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(out.text(Stream::Out), "plain\n");
}

// --- where lines live while a cell runs (output.rs) ------------------------------------

/// What JupyterLab's output area shows for a cell's outputs so far: consecutive streams of
/// one name merged, displays replaced in place by id, a withdrawn display empty.
#[derive(Default, Debug)]
struct Page {
    items: Vec<(Option<String>, String)>,
}

impl Page {
    fn apply(&mut self, output: &Output) {
        match output {
            Output::Text { text, .. } => match self.items.last_mut() {
                Some((None, t)) => t.push_str(text),
                _ => self.items.push((None, text.clone())),
            },
            Output::Display(d) => self.items.push((Some(d.id.clone()), d.plain.clone())),
            Output::Placeholder { id } => self.items.push((Some(id.clone()), String::new())),
            Output::Update(d) => {
                for (id, t) in &mut self.items {
                    if id.as_deref() == Some(d.id.as_str()) {
                        *t = d.plain.clone();
                    }
                }
            }
            Output::Withdraw { id: gone } => {
                for (id, t) in &mut self.items {
                    if id.as_deref() == Some(gone.as_str()) {
                        t.clear();
                    }
                }
            }
            Output::Shown(s) => {
                let plain = s.data["text/plain"].as_str().unwrap_or_default().to_owned();
                self.items.push((s.id.clone(), plain));
            }
            Output::Input { .. } | Output::Error { .. } => {}
        }
    }

    /// A live view shows something: the header with lines under its own, or a live display.
    fn view_open(&self) -> bool {
        self.items.iter().any(|(id, t)| match id.as_deref() {
            Some(id) if id.starts_with("sshpty-header-") => t.contains('\n'),
            Some(id) if id.starts_with("sshpty-live-") => !t.is_empty(),
            _ => false,
        })
    }

    /// The page's text, outputs in order, the header's own line left out.
    fn text(&self) -> String {
        self.items
            .iter()
            .map(|(id, t)| match id.as_deref() {
                Some(id) if id.starts_with("sshpty-header-") => {
                    t.split_once('\n').map_or("", |(_, live)| live).to_owned() + "\n"
                }
                _ => t.clone(),
            })
            .collect::<String>()
    }
}

/// Replays `out` into a page, checking at every stream that no live view sits above it
/// (the page keeps the terminal's order); returns each state of the page's text.
fn pages(out: &Recorder) -> (Page, Vec<String>) {
    let mut page = Page::default();
    let mut states = Vec::new();
    for (_, o) in out.outputs.lock().unwrap().iter() {
        if matches!(o, Output::Text { .. }) {
            assert!(
                !page.view_open(),
                "stream sent below an open live view: {o:?}\n{page:?}"
            );
        }
        page.apply(o);
        states.push(page.text());
    }
    (page, states)
}

/// The program redraws lines it printed before a pause (docker, apt, pip): tmux ends with
/// the redrawn lines, and so does the cell; `job-*` lines are never sent before the redraw.
const REDRAW_BEFORE: &str = "job-a waiting\r\njob-b waiting\r\njob-c waiting\r\n";
const REDRAW_AFTER: &str = "\x1b[3A\r\x1b[2Kjob-a done\x1b[2B\r\x1b[2Kjob-c done\r\nall-done\r\n";
const REDRAW_TMUX: &str = "job-a done\njob-b waiting\njob-c done\nall-done\n";

async fn redraw_after_a_pause(ptys: &mut Ptys) {
    let mut pty = ptys.next().await;
    let script = pty.cell().await;
    pty.start(&script).await;
    pty.print(REDRAW_BEFORE).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    pty.print(REDRAW_AFTER).await;
    pty.capture_and_exit(&script, &state(0, "/", &[]), 0).await;
}

#[tokio::test]
async fn a_watched_cell_shows_pending_lines_live_and_keeps_what_tmux_shows() {
    for header in [true, false] {
        let (target, mut ptys) = FakeTarget::new("web1");
        let engine = Engine::new(Options {
            login: None,
            header,
            sudo_cache: true,
            ..Options::default()
        });
        engine.state().hosts.log_in(
            "web1",
            Host::ready(target, Context::default(), "bash 5.2.15(1)-release".into()),
            true,
        );
        let out = Arc::new(Recorder::default());
        let asker = ScriptedAsker::answering(&[]);
        let req = request(&out, Some(&asker));
        let (outcome, ()) = run(&engine, &req, "./redraw", redraw_after_a_pause(&mut ptys)).await;
        assert!(outcome.is_ok(), "{outcome:?}");
        assert_eq!(out.text(Stream::Out), REDRAW_TMUX, "header {header}");
        let (page, states) = pages(&out);
        // Live during the pause: the three lines, in a view, in the terminal's order.
        assert!(
            states
                .iter()
                .any(|s| s.contains(REDRAW_BEFORE.replace('\r', "").as_str())),
            "header {header}: never shown live: {states:#?}"
        );
        // At the end the page holds what tmux shows, once, and no view is left open.
        assert!(!page.view_open(), "{page:?}");
        assert_eq!(
            page.text().trim_start_matches('\n'),
            REDRAW_TMUX,
            "{page:?}"
        );
        // With the header, the header was the view: no other display.
        let displays = out
            .outputs
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, o)| matches!(o, Output::Display(_) | Output::Placeholder { .. }))
            .count();
        assert_eq!(
            displays,
            usize::from(header) + usize::from(!header),
            "header {header}"
        );
    }
}

#[tokio::test]
async fn a_headless_cell_sends_lines_only_once_final_and_no_view() {
    let (target, mut ptys) = FakeTarget::new("web1");
    let engine = engine_on("web1", target, Context::default());
    let out = Arc::new(Recorder::default());
    let req = request(&out, None);
    let (outcome, ()) = run(&engine, &req, "./redraw", redraw_after_a_pause(&mut ptys)).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(out.text(Stream::Out), REDRAW_TMUX);
    assert!(
        out.outputs
            .lock()
            .unwrap()
            .iter()
            .all(|(_, o)| matches!(o, Output::Text { .. } | Output::Input { .. })),
        "a display in a headless cell"
    );
}

/// Lines that scroll out of the program's reach are final: a watched cell holds them in its
/// open view (it sits above later stream), a headless one sends them while the cell runs.
#[tokio::test]
async fn lines_out_of_reach_are_sent_while_a_headless_cell_runs_and_held_in_a_watched_one() {
    for watched in [false, true] {
        let (target, mut ptys) = FakeTarget::new("web1");
        let engine = engine_on("web1", target, Context::default());
        let out = Arc::new(Recorder::default());
        let asker = ScriptedAsker::answering(&[]);
        let req = request(&out, watched.then_some(&asker));
        let lines: Vec<String> = (1..=120).map(|i| format!("line {i}")).collect();
        let program = async {
            let mut pty = ptys.next().await;
            let script = pty.cell().await;
            pty.start(&script).await;
            // A pause: a watched cell's view opens on line 1.
            pty.print(format!("{}\r\n", lines[0])).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            for l in &lines[1..] {
                pty.print(format!("{l}\r\n")).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let sent_meanwhile = out.text(Stream::Out);
            pty.capture_and_exit(&script, &state(0, "/", &[]), 0).await;
            sent_meanwhile
        };
        let (outcome, meanwhile) = run(&engine, &req, "seq", program).await;
        assert!(outcome.is_ok(), "{outcome:?}");
        let text = |ls: &[String]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
        assert_eq!(out.text(Stream::Out), text(&lines));
        if watched {
            assert_eq!(meanwhile, "", "stream sent while the view was open");
            let (_, states) = pages(&out);
            assert!(
                states
                    .iter()
                    .any(|s| s.contains("more lines above") && s.contains("line 120\n")),
                "{states:#?}"
            );
        } else {
            // The default 50 rows: the screen holds lines 72..=120 and the cursor's empty
            // row; lines 1..=71 are out of reach.
            assert_eq!(meanwhile, text(&lines[..71]));
        }
    }
}

// --- stopping a cell (cell.rs, stopping.rs) --------------------------------------------

/// A `/proc` listing as `stopping::INSPECT` prints it: the cell's shell (its group's leader,
/// trapping SIGINT) and one child of it.
fn processes(child: &str, ignored: u64, caught: u64) -> String {
    let pid = fake::PID;
    let line = |p: i32, ppid: i32, name: &str, ign: u64, cgt: u64| {
        format!(
            "/proc/{p}/status:Name:\t{name}\n/proc/{p}/status:Pid:\t{p}\n\
             /proc/{p}/status:PPid:\t{ppid}\n/proc/{p}/status:NSpgid:\t{pid}\n\
             /proc/{p}/status:SigBlk:\t0000000000000000\n\
             /proc/{p}/status:SigIgn:\t{ign:016x}\n/proc/{p}/status:SigCgt:\t{cgt:016x}\n"
        )
    };
    line(pid, 1, "bash", 0, 2) + &line(pid + 1, pid, child, ignored, caught)
}

/// A program that ignores Ctrl-C and the hang-up (`trap '' INT HUP`): seen so at the first
/// look, half a second after Ctrl-C; hung up then, killed a second later.
#[tokio::test(start_paused = true)]
async fn a_program_ignoring_ctrl_c_and_the_hang_up_is_killed_within_two_seconds() {
    let (target, mut ptys) = FakeTarget::new("web1");
    *target.processes.lock().unwrap() = Some(processes("spin", 0b11, 0));
    let engine = engine_on("web1", target.clone(), Context::default());
    let out = Arc::new(Recorder::default());
    let req = request(&out, None);
    let program = async {
        let mut pty = ptys.next().await;
        let script = pty.cell().await;
        pty.start(&script).await;
        engine.interrupt();
        let t0 = Instant::now();
        assert_eq!(pty.next().await, Seen::Typed(b"\x03".to_vec()));
        assert_eq!(pty.next().await, Seen::HangUp);
        let hung_up = t0.elapsed();
        assert_eq!(
            pty.next().await,
            Seen::Signal {
                signal: "KILL",
                pid: fake::PID
            }
        );
        let killed = t0.elapsed();
        pty.exit(Exit::Signal("KILL".into()));
        (hung_up, killed)
    };
    let (outcome, (hung_up, killed)) = run(&engine, &req, "./spin", program).await;
    assert!(
        (450..1_000).contains(&hung_up.as_millis()),
        "hung up after {hung_up:?}"
    );
    assert!(
        (1_450..2_000).contains(&killed.as_millis()),
        "killed after {killed:?}"
    );
    assert_eq!(error_shown(&outcome, &out).0, "Interrupted");
    assert!(
        target
            .execs
            .lock()
            .unwrap()
            .iter()
            .any(|c| c == crate::stopping::INSPECT)
    );
}

/// A program that handles Ctrl-C and is still cleaning up (dpkg) is left to finish, the user
/// told so; stopping the cell again kills at once.
#[tokio::test(start_paused = true)]
async fn a_program_cleaning_up_gets_its_time_until_the_cell_is_stopped_again() {
    let (target, mut ptys) = FakeTarget::new("web1");
    *target.processes.lock().unwrap() = Some(processes("dpkg", 0, 0b10));
    let engine = engine_on("web1", target, Context::default());
    let out = Arc::new(Recorder::default());
    let req = request(&out, None);
    let program = async {
        let mut pty = ptys.next().await;
        let script = pty.cell().await;
        pty.start(&script).await;
        engine.interrupt();
        assert_eq!(pty.next().await, Seen::Typed(b"\x03".to_vec()));
        // Ten seconds of cleaning up (looked at ten times): nothing else is done to it.
        let waited = tokio::time::timeout(Duration::from_secs(10), pty.next()).await;
        assert!(waited.is_err(), "did not wait for the cleanup: {waited:?}");
        let t0 = Instant::now();
        engine.interrupt();
        assert_eq!(pty.next().await, Seen::HangUp);
        assert_eq!(
            pty.next().await,
            Seen::Signal {
                signal: "KILL",
                pid: fake::PID
            }
        );
        let killed = t0.elapsed();
        pty.exit(Exit::Signal("KILL".into()));
        killed
    };
    let (outcome, killed) = run(&engine, &req, "apt-get install foo", program).await;
    assert!(
        killed < Duration::from_millis(100),
        "killed after {killed:?}"
    );
    assert_eq!(error_shown(&outcome, &out).0, "Interrupted");
    let notes = out.text(Stream::Err);
    assert_eq!(
        notes
            .matches("dpkg (pid 4243) handles Ctrl-C and is still running")
            .count(),
        1,
        "{notes}"
    );
    assert!(notes.contains("stop the cell again to kill it"), "{notes}");
}

/// A `/proc` listing of the cell's shell and its child NAME (pid PID + 1), in a process group
/// of its own and stopped by a signal.
fn stopped_in_a_group_of_its_own(name: &str) -> String {
    let own = fake::PID + 1;
    let shell = processes("unused", 0, 0);
    let shell = &shell[..shell.find(&format!("/proc/{own}/")).unwrap()];
    format!(
        "{shell}/proc/{own}/status:Name:\t{name}\n/proc/{own}/status:State:\tT (stopped)\n\
         /proc/{own}/status:Pid:\t{own}\n/proc/{own}/status:PPid:\t{}\n\
         /proc/{own}/status:NSpgid:\t{own}\n/proc/{own}/status:SigCgt:\t0000000000000002\n",
        fake::PID
    )
}

/// `timeout 100 vim` without `--foreground`: timeout made a group of its own, and the
/// terminal stopped it when vim set the terminal. One stop ends it: the user is told why,
/// the terminal is hung up, and the kill reaches that group as well as the cell's.
#[tokio::test(start_paused = true)]
async fn a_program_stopped_in_a_group_of_its_own_is_ended_by_one_stop() {
    let (target, mut ptys) = FakeTarget::new("web1");
    let own = fake::PID + 1;
    *target.processes.lock().unwrap() = Some(stopped_in_a_group_of_its_own("timeout"));
    let engine = engine_on("web1", target, Context::default());
    let out = Arc::new(Recorder::default());
    let req = request(&out, None);
    let program = async {
        let mut pty = ptys.next().await;
        let script = pty.cell().await;
        pty.start(&script).await;
        engine.interrupt();
        assert_eq!(pty.next().await, Seen::Typed(b"\x03".to_vec()));
        assert_eq!(pty.next().await, Seen::HangUp);
        assert_eq!(
            pty.next().await,
            Seen::Signal {
                signal: "KILL",
                pid: fake::PID
            }
        );
        assert_eq!(
            pty.next().await,
            Seen::SignalGroups {
                signal: "KILL",
                groups: vec![own]
            }
        );
        pty.exit(Exit::Signal("KILL".into()));
    };
    let (outcome, ()) = run(&engine, &req, "timeout 100 vim", program).await;
    assert_eq!(error_shown(&outcome, &out).0, "Interrupted");
    let notes = out.text(Stream::Err);
    assert!(
        notes.contains(&format!(
            "timeout (pid {own}) is stopped and cannot end by itself"
        )),
        "{notes}"
    );
    assert!(!notes.contains("handles Ctrl-C"), "{notes}");
}

/// A headless run has no stop button: a cell whose output has been quiet for five seconds
/// is looked at, and a stopped program in it ends the cell with an error that says why.
#[tokio::test(start_paused = true)]
async fn a_headless_run_looks_at_a_quiet_cell_and_ends_a_stopped_program() {
    let (target, mut ptys) = FakeTarget::new("web1");
    let own = fake::PID + 1;
    *target.processes.lock().unwrap() = Some(stopped_in_a_group_of_its_own("vim"));
    let engine = engine_on("web1", target.clone(), Context::default());
    let out = Arc::new(Recorder::default());
    let req = request(&out, None);
    let program = async {
        let mut pty = ptys.next().await;
        let script = pty.cell().await;
        pty.start(&script).await;
        let t0 = Instant::now();
        assert_eq!(pty.next().await, Seen::Typed(b"\x03".to_vec()));
        let looked = t0.elapsed();
        assert_eq!(pty.next().await, Seen::HangUp);
        assert!(matches!(
            pty.next().await,
            Seen::Signal { signal: "KILL", .. }
        ));
        pty.exit(Exit::Signal("KILL".into()));
        looked
    };
    let (outcome, looked) = run(&engine, &req, "timeout 3600 vim", program).await;
    assert!(
        (5_000..5_500).contains(&looked.as_millis()),
        "stopped after {looked:?}"
    );
    let (ename, evalue) = error_shown(&outcome, &out);
    assert_eq!(ename, "StoppedByTerminal");
    assert!(
        evalue.starts_with(&format!("vim (pid {own}) was stopped by the terminal")),
        "{evalue}"
    );
}

/// A quiet cell in a run with a stop button is not looked at: the user stops it.
#[tokio::test(start_paused = true)]
async fn a_quiet_cell_with_a_stop_button_is_not_looked_at() {
    let (target, mut ptys) = FakeTarget::new("web1");
    *target.processes.lock().unwrap() = Some(processes("sleep", 0, 0));
    let engine = engine_on("web1", target.clone(), Context::default());
    let out = Arc::new(Recorder::default());
    let asker = ScriptedAsker::answering(&[]);
    let req = request(&out, Some(&asker));
    let program = async {
        let mut pty = ptys.next().await;
        let script = pty.cell().await;
        pty.start(&script).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        pty.capture_and_exit(&script, &state(0, "/tmp", &[]), 0)
            .await;
    };
    let (outcome, ()) = run(&engine, &req, "sleep 30", program).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(
        target.execs.lock().unwrap().is_empty(),
        "{:?}",
        target.execs.lock().unwrap()
    );
}

/// The user's marks file marks the host: every header says so first in its text and on the
/// mark's colour in its HTML (names escaped), the saved facts keep it, the presence a status
/// bar shows carries it, and a notebook's `%mark` cannot relabel it.
#[tokio::test]
async fn a_marked_host_shows_its_mark_and_a_notebook_cannot_relabel_it() {
    let dir = std::env::temp_dir().join(format!("sshpty-marks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("marks");
    std::fs::write(&file, "web* <b>prod</b> red\nbad line pink\n").unwrap();
    let (target, mut ptys) = FakeTarget::new("web1");
    let engine = Engine::new(Options {
        header: true,
        marks_path: Some(file.clone()),
        ..Options::default()
    });
    engine.state().hosts.log_in(
        "web1",
        Host::ready(target, Context::default(), "bash 5.2.15(1)-release".into()),
        true,
    );
    let p = engine.presence();
    assert_eq!(p.state, crate::presence::State::Connected);
    assert_eq!(
        p.mark.as_ref().map(|m| m.name.as_str()),
        Some("<b>prod</b>")
    );

    let out = Arc::new(Recorder::default());
    let req = request(&out, None);
    let program = async {
        let mut pty = ptys.next().await;
        let script = pty.cell().await;
        pty.start(&script).await;
        pty.capture_and_exit(&script, &state(0, "/", &[]), 0).await;
    };
    let (outcome, ()) = run(&engine, &req, "%mark web1 staging green\ntrue", program).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    let notes = out.text(Stream::Err);
    assert!(notes.contains("line 2: unknown colour \"pink\""), "{notes}");
    assert!(
        notes.contains("your marks file marks web1 (<b>prod</b>) otherwise"),
        "{notes}"
    );
    let headers: Vec<crate::frontend::Display> = out
        .outputs
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, o)| match o {
            Output::Display(d) | Output::Update(d) => Some(d.clone()),
            _ => None,
        })
        .collect();
    assert!(!headers.is_empty());
    for d in &headers {
        assert!(d.plain.starts_with("[<b>prod</b>] "), "{}", d.plain);
        let html = d.html.as_deref().unwrap_or("");
        assert!(html.contains("&lt;b&gt;prod&lt;/b&gt;</span>"), "{html}");
        assert!(!html.contains("<b>prod"), "{html}");
        assert!(html.contains(crate::marks::Colour::Red.css()), "{html}");
        assert_eq!(d.metadata["sshpty"]["mark"]["name"], "<b>prod</b>");
        assert_eq!(d.metadata["sshpty"]["mark"]["colour"], "red");
    }
    // The file changed: the next look reads it again; without a file rule the session's
    // %mark applies.
    std::fs::write(&file, "db* production red\n").unwrap();
    engine.state().marks.refresh();
    let p = engine.presence();
    assert_eq!(p.mark.map(|m| m.name), Some("staging".into()));
    std::fs::remove_dir_all(&dir).ok();
}

/// A `%on` cell on two hosts at once: both show their own sudo prompt, one box asks for the
/// fleet and both are given its answer; `db1`'s sudo refuses it, and it is stopped rather
/// than asked again (no box per host); `web1` goes on. Each host's output goes into the
/// folded display, the cell is a `FleetFailed` error, and the notebook's host stays current.
#[tokio::test]
async fn a_fleet_cell_asks_one_sudo_box_and_a_host_that_refuses_it_fails_alone() {
    let (web, mut web_ptys) = FakeTarget::new("web1");
    let (db, mut db_ptys) = FakeTarget::new("db1");
    let engine = engine_on("web1", web, Context::default());
    engine.state().hosts.log_in(
        "db1",
        Host::ready(db, Context::default(), "bash 5.2.15(1)-release".into()),
        false,
    );
    let out = Arc::new(Recorder::default());
    let asker = ScriptedAsker::answering(&["fleet-pw", "never-asked"]);
    let req = request(&out, Some(&asker));
    let both_prompted = tokio::sync::Barrier::new(2);

    let web_program = async {
        let (mut pty, script) = sudo_prompt_shown(&mut web_ptys).await;
        both_prompted.wait().await;
        assert_eq!(pty.next().await, Seen::Typed(b"fleet-pw\r".to_vec()));
        sudo_runs(pty, &script).await;
    };
    let db_program = async {
        let (mut pty, script) = sudo_prompt_shown(&mut db_ptys).await;
        both_prompted.wait().await;
        assert_eq!(pty.next().await, Seen::Typed(b"fleet-pw\r".to_vec()));
        pty.print(format!("\r\nSorry, try again.\r\n{}", script.sudo_prompt()))
            .await;
        // Stopped, not given the password again.
        assert_eq!(pty.next().await, Seen::Typed(b"\x03".to_vec()));
        pty.capture_and_exit(&script, &state(130, "/home/ops", &[]), 130)
            .await;
    };
    let (outcome, _) = run(&engine, &req, "%on web1,db1\nsudo id", async {
        tokio::join!(web_program, db_program)
    })
    .await;
    let (ename, evalue) = error_shown(&outcome, &out);
    assert_eq!(ename, "FleetFailed");
    assert!(evalue.contains("1 of 2 hosts: db1"), "{evalue}");
    let asked = asker.asked();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(asked[0].0.contains("db1,web1") && asked[0].1, "{asked:?}");
    let displays: Vec<String> = out
        .outputs
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, o)| match o {
            Output::Display(d) => Some(d.plain.clone()),
            _ => None,
        })
        .collect();
    let folded = displays
        .iter()
        .find(|d| d.starts_with("----------------\n"))
        .expect("no folded outputs");
    assert!(
        folded.contains("sshpty: sudo refused the password on db1; it was not given again"),
        "{folded}"
    );
    assert!(
        folded.contains("web1\n----------------\n") && folded.contains("root"),
        "{folded}"
    );
    assert!(!format!("{displays:?}").contains("fleet-pw"));
    assert_eq!(engine.state().hosts.current_name(), Some("web1"));
}

/// On a fleet host any question but its own sudo prompt ends that host's run at once, with
/// no box, though the client could answer one.
#[tokio::test]
async fn a_fleet_host_that_asks_another_question_is_stopped_without_a_box() {
    let (web, mut ptys) = FakeTarget::new("web1");
    let engine = engine_on("web1", web, Context::default());
    let out = Arc::new(Recorder::default());
    let asker = ScriptedAsker::answering(&["y"]);
    let req = request(&out, Some(&asker));
    let program = async {
        let mut pty = ptys.next().await;
        let script = pty.cell().await;
        pty.start(&script).await;
        pty.print("Continue? [y/N] ").await;
        assert_eq!(pty.next().await, Seen::Typed(b"\x03".to_vec()));
        pty.capture_and_exit(&script, &state(130, "/home/ops", &[]), 130)
            .await;
    };
    let (outcome, ()) = run(&engine, &req, "%on web1\n./upgrade", program).await;
    assert_eq!(error_shown(&outcome, &out).0, "FleetFailed");
    assert!(asker.asked().is_empty(), "{:?}", asker.asked());
}
