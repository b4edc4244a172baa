//! The kernel process: binds the five Jupyter sockets and serves them concurrently.
//! Shell requests other than `execute` are answered at once, even while a cell runs;
//! `execute` requests queue for the executor, one cell at a time, in order.

mod adapter;
mod presence;
mod status;
mod terminal;

use std::path::Path;
use std::time::Duration;

use jupyter_protocol::{
    CodeMirrorMode, CommInfoReply, CompleteReply, HelpLink, HistoryEntry, HistoryReply,
    HistoryRequest, InspectReply, InterruptReply, IsCompleteReply, IsCompleteReplyStatus,
    JupyterMessageContent, KernelInfoReply, LanguageInfo, Media, MediaType, ReplyError,
    ReplyStatus, ShutdownReply,
};
use tokio::sync::mpsc;

use engine::{Cell, Engine, Options};
use jupyter::channels::{Iopub, Replier, Stdin};
use jupyter::connection::{self, ConnectionError};
use jupyter::wire::{self, Request, Session, Signer};
use jupyter::zmtp::{self, Limits, PubSocket, RouterSocket};
use presence::Comms;
use status::Status;
use terminal::Terminals;

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    #[error("cannot listen for the {what} channel at {at}: {source}")]
    Bind {
        what: &'static str,
        at: zmtp::Endpoint,
        source: std::io::Error,
    },
}

fn kernel_info() -> KernelInfoReply {
    KernelInfoReply {
        status: ReplyStatus::Ok,
        protocol_version: wire::PROTOCOL_VERSION.into(),
        implementation: "sshpty".into(),
        implementation_version: env!("CARGO_PKG_VERSION").into(),
        language_info: LanguageInfo {
            name: "bash".into(),
            version: String::new(),
            mimetype: Some("text/x-sh".into()),
            file_extension: Some(".sh".into()),
            pygments_lexer: Some("bash".into()),
            codemirror_mode: Some(CodeMirrorMode::Simple("shell".into())),
            nbconvert_exporter: Some("script".into()),
        },
        banner: format!(
            "sshpty {}: notebook cells run in a terminal on a server over SSH, or on this machine. %help lists the magics.",
            env!("CARGO_PKG_VERSION")
        ),
        help_links: vec![HelpLink {
            text: "sshpty magics: run %help".into(),
            url: "https://github.com/".into(),
        }],
        debugger: false,
        error: None,
    }
}

/// Run the kernel until a shutdown request, or until the parent process dies.
pub async fn run(connection_file: &Path, opts: Options) -> Result<(), KernelError> {
    let info = connection::read(connection_file)?;
    let limits = Limits::default();
    let at = |port| connection::endpoint(&info, port);
    let bind_err = |what, port| {
        let at = at(port);
        move |source| KernelError::Bind { what, at, source }
    };
    let mut shell = RouterSocket::bind_at(&at(info.shell_port), limits.clone())
        .await
        .map_err(bind_err("shell", info.shell_port))?;
    let mut control = RouterSocket::bind_at(&at(info.control_port), limits.clone())
        .await
        .map_err(bind_err("control", info.control_port))?;
    let mut stdin_sock = RouterSocket::bind_at(&at(info.stdin_port), limits.clone())
        .await
        .map_err(bind_err("stdin", info.stdin_port))?;
    let iopub_sock = PubSocket::bind_at(&at(info.iopub_port), limits.clone())
        .await
        .map_err(bind_err("iopub", info.iopub_port))?;
    let (_hb_port, _hb) = zmtp::serve_heartbeat_on_thread(&at(info.hb_port), limits.clone())
        .await
        .map_err(bind_err("heartbeat", info.hb_port))?;

    let session = Session::new(Signer::new(info.key.as_bytes()));
    let iopub = Iopub::new(iopub_sock.publisher(), session.clone());
    let shell_reply = Replier::new(shell.sender(), session.clone());
    let control_reply = Replier::new(control.sender(), session.clone());
    let stdin = Stdin::new(stdin_sock.sender(), session.clone());
    let engine = Engine::new(opts);
    let status = Status::new(iopub.clone());
    let comms = Comms::new(iopub.clone(), engine.clone());
    tokio::spawn(comms.clone().watch());
    let terminals = Terminals::new(iopub.clone(), engine.clone());
    tokio::spawn(terminals.clone().pump());
    iopub.send(
        JupyterMessageContent::Status(jupyter_protocol::Status::starting()),
        None,
    );

    let (exec_tx, exec_rx) = mpsc::unbounded_channel::<Request>();
    let (shutdown_tx, mut shutdown_rx) = mpsc::channel::<()>(1);
    tokio::spawn(executor(
        engine.clone(),
        exec_rx,
        shell_reply.clone(),
        iopub.clone(),
        status.clone(),
        stdin.clone(),
        terminals.clone(),
    ));

    // stdin: answers to input_request.
    {
        let signer = session.signer().clone();
        let stdin = stdin.clone();
        tokio::spawn(async move {
            while let Some((id, frames)) = stdin_sock.recv().await {
                match wire::decode(&signer, with_identity(id, frames)) {
                    Ok(req) => {
                        if let JupyterMessageContent::InputReply(r) = req.message.content {
                            let parent = req
                                .message
                                .parent_header
                                .map(|h| h.msg_id)
                                .unwrap_or_default();
                            stdin.answer(&parent, r.value);
                        }
                    }
                    Err(e) => log::warn!("stdin: dropped a message: {}", e.error),
                }
            }
        });
    }

    // control: kernel_info, interrupt, shutdown — answered while a cell runs.
    {
        let signer = session.signer().clone();
        let engine = engine.clone();
        let status = status.clone();
        let comms = comms.clone();
        let terminals = terminals.clone();
        let shutdown_tx = shutdown_tx.clone();
        tokio::spawn(async move {
            while let Some((id, frames)) = control.recv().await {
                let req = match wire::decode(&signer, with_identity(id, frames)) {
                    Ok(r) => r,
                    Err(e) => {
                        reject(&control_reply, e);
                        continue;
                    }
                };
                match &req.message.content {
                    JupyterMessageContent::ShutdownRequest(s) => {
                        let restart = s.restart;
                        engine.kill_running().await;
                        engine.close_all().await;
                        control_reply.reply(
                            &req,
                            JupyterMessageContent::ShutdownReply(ShutdownReply {
                                restart,
                                status: ReplyStatus::Ok,
                                error: None,
                            }),
                        );
                        let _ = shutdown_tx.send(()).await;
                    }
                    _ => {
                        let to = Handlers {
                            reply: &control_reply,
                            status: &status,
                            engine: &engine,
                            comms: &comms,
                            terminals: &terminals,
                            shutdown: &shutdown_tx,
                        };
                        handle_common(&req, &to).await
                    }
                }
            }
        });
    }

    // shell: execute queues; everything else is answered at once.
    {
        let signer = session.signer().clone();
        let engine = engine.clone();
        let status = status.clone();
        let shutdown_tx = shutdown_tx.clone();
        tokio::spawn(async move {
            while let Some((id, frames)) = shell.recv().await {
                let req = match wire::decode(&signer, with_identity(id, frames)) {
                    Ok(r) => r,
                    Err(e) => {
                        reject(&shell_reply, e);
                        continue;
                    }
                };
                match &req.message.content {
                    JupyterMessageContent::ExecuteRequest(_) => {
                        let _ = exec_tx.send(req);
                    }
                    JupyterMessageContent::CompleteRequest(_)
                    | JupyterMessageContent::InspectRequest(_) => {
                        // These ask the target's shell: do not hold up other requests.
                        let (engine, reply, status, comms, terminals) = (
                            engine.clone(),
                            shell_reply.clone(),
                            status.clone(),
                            comms.clone(),
                            terminals.clone(),
                        );
                        let tx = shutdown_tx.clone();
                        tokio::spawn(async move {
                            let to = Handlers {
                                reply: &reply,
                                status: &status,
                                engine: &engine,
                                comms: &comms,
                                terminals: &terminals,
                                shutdown: &tx,
                            };
                            handle_common(&req, &to).await
                        });
                    }
                    _ => {
                        let to = Handlers {
                            reply: &shell_reply,
                            status: &status,
                            engine: &engine,
                            comms: &comms,
                            terminals: &terminals,
                            shutdown: &shutdown_tx,
                        };
                        handle_common(&req, &to).await
                    }
                }
            }
        });
    }

    tokio::spawn(watch_parent());
    let _ = shutdown_rx.recv().await;
    // Let the shutdown reply reach the client before the process ends.
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}

/// The router gives the sender's identity apart; the wire format has it in front.
fn with_identity(id: bytes::Bytes, mut frames: Vec<bytes::Bytes>) -> Vec<bytes::Bytes> {
    frames.insert(0, id);
    frames
}

/// What a request is answered with.
struct Handlers<'a> {
    reply: &'a Replier,
    status: &'a Status,
    engine: &'a Engine,
    comms: &'a Comms,
    terminals: &'a Terminals,
    shutdown: &'a mpsc::Sender<()>,
}

/// Requests answered the same on shell and control.
async fn handle_common(req: &Request, to: &Handlers<'_>) {
    let Handlers {
        reply,
        status,
        engine,
        comms,
        terminals,
        shutdown,
    } = *to;
    let parent = &req.message.header;
    // A key typed in a live terminal is no request a client waits on: its busy and idle
    // (and the running cell's busy again) would be three IOPub messages per key, through
    // jupyter_server to every page, and a kernel indicator flickering while one types.
    let typing = match &req.message.content {
        JupyterMessageContent::CommMsg(m) => {
            terminals.has(&m.comm_id.0)
                && matches!(
                    m.data.get("request").and_then(|r| r.as_str()),
                    Some("keys" | "resize")
                )
        }
        _ => false,
    };
    if !typing {
        status.busy(parent);
    }
    let content = match &req.message.content {
        JupyterMessageContent::KernelInfoRequest(_) => Some(
            JupyterMessageContent::KernelInfoReply(Box::new(kernel_info())),
        ),
        JupyterMessageContent::InterruptRequest(_) => {
            engine.interrupt();
            Some(JupyterMessageContent::InterruptReply(InterruptReply {
                status: ReplyStatus::Ok,
                error: None,
            }))
        }
        JupyterMessageContent::ShutdownRequest(s) => {
            // Deprecated on shell, still honoured.
            let restart = s.restart;
            engine.kill_running().await;
            engine.close_all().await;
            reply.reply(
                req,
                JupyterMessageContent::ShutdownReply(ShutdownReply {
                    restart,
                    status: ReplyStatus::Ok,
                    error: None,
                }),
            );
            let _ = shutdown.send(()).await;
            None
        }
        JupyterMessageContent::IsCompleteRequest(r) => {
            use engine::shell_syntax::{Completeness, is_complete};
            let (status, indent) = match is_complete(&r.code) {
                Completeness::Complete => (IsCompleteReplyStatus::Complete, String::new()),
                Completeness::Incomplete { indent } => (IsCompleteReplyStatus::Incomplete, indent),
                Completeness::Invalid => (IsCompleteReplyStatus::Invalid, String::new()),
            };
            Some(JupyterMessageContent::IsCompleteReply(IsCompleteReply {
                status,
                indent,
            }))
        }
        JupyterMessageContent::CompleteRequest(r) => {
            let c = engine.complete(&r.code, r.cursor_pos).await;
            Some(JupyterMessageContent::CompleteReply(CompleteReply {
                matches: c.matches,
                cursor_start: c.cursor_start,
                cursor_end: c.cursor_end,
                metadata: Default::default(),
                status: ReplyStatus::Ok,
                error: None,
            }))
        }
        JupyterMessageContent::InspectRequest(r) => {
            let text = engine.inspect(&r.code, r.cursor_pos).await;
            Some(JupyterMessageContent::InspectReply(InspectReply {
                found: text.is_some(),
                data: text
                    .map(|t| Media::new(vec![MediaType::Plain(t)]))
                    .unwrap_or_default(),
                metadata: Default::default(),
                status: ReplyStatus::Ok,
                error: None,
            }))
        }
        JupyterMessageContent::HistoryRequest(h) => {
            let st = engine.state();
            let entries = match h {
                HistoryRequest::Tail { n, output, .. } => {
                    st.history.tail((*n).max(0) as usize, *output)
                }
                HistoryRequest::Range {
                    session,
                    start,
                    stop,
                    output,
                    ..
                } => st.history.range(
                    session.unwrap_or(0) as i64,
                    *start as i64,
                    Some(*stop as i64),
                    *output,
                ),
                HistoryRequest::Search {
                    pattern,
                    unique,
                    output,
                    n,
                    ..
                } => st
                    .history
                    .search(pattern, (*n > 0).then_some(*n as usize), *unique, *output),
            };
            let history = entries
                .into_iter()
                .map(|e| match e.output {
                    Some(o) => HistoryEntry::InputOutput(e.session as usize, e.line, (e.input, o)),
                    None => HistoryEntry::Input(e.session as usize, e.line, e.input),
                })
                .collect();
            Some(JupyterMessageContent::HistoryReply(HistoryReply {
                history,
                status: ReplyStatus::Ok,
                error: None,
            }))
        }
        JupyterMessageContent::CommInfoRequest(r) => {
            let target = r.target_name.as_deref();
            let mut open = comms.info(target);
            if target.is_none_or(|t| t == terminal::TARGET) {
                for id in terminals.comm_ids() {
                    open.insert(
                        jupyter_protocol::CommId(id),
                        jupyter_protocol::CommInfo {
                            target_name: terminal::TARGET.into(),
                        },
                    );
                }
            }
            Some(JupyterMessageContent::CommInfoReply(CommInfoReply {
                comms: open,
                ..CommInfoReply::default()
            }))
        }
        // Comm messages have no reply; what they start goes out on IOPub.
        JupyterMessageContent::CommOpen(open) => {
            if open.target_name == terminal::TARGET {
                terminals.open(parent, open);
            } else {
                comms.open(parent, open);
            }
            None
        }
        JupyterMessageContent::CommMsg(msg) => {
            if terminals.has(&msg.comm_id.0) {
                terminals.message(parent, msg);
            } else {
                comms.message(parent, msg);
            }
            None
        }
        JupyterMessageContent::CommClose(close) => {
            terminals.close(&close.comm_id.0);
            comms.close(close);
            None
        }
        other => {
            let t = other.message_type().to_owned();
            log::warn!("unsupported request {t}");
            error_reply(
                &t,
                "UnsupportedRequest",
                &format!("sshpty does not handle {t}"),
            )
        }
    };
    if let Some(c) = content {
        reply.reply(req, c);
    }
    if !typing {
        status.idle(parent);
    }
}

/// The reply to `x_request` saying it failed, for request types we do not know.
fn error_reply(msg_type: &str, ename: &str, evalue: &str) -> Option<JupyterMessageContent> {
    let reply_type = msg_type.strip_suffix("_request")?;
    let content = serde_json::json!({
        "status": "error", "ename": ename, "evalue": evalue, "traceback": [],
    });
    Some(JupyterMessageContent::UnknownMessage(
        jupyter_protocol::UnknownMessage {
            msg_type: format!("{reply_type}_reply"),
            content,
        },
    ))
}

/// A message that failed to decode: logged and dropped, or answered with an error reply
/// when its header could be read.
fn reject(reply: &Replier, e: wire::DecodeFailure) {
    log::warn!("dropped a message: {}", e.error);
    if let Some(h) = e.error.header()
        && let Some(c) = error_reply(&h.msg_type, "BadMessage", &e.error.to_string())
    {
        reply.reply_to(&e.identities, h, c);
    }
}

async fn executor(
    engine: Engine,
    mut rx: mpsc::UnboundedReceiver<Request>,
    reply: Replier,
    iopub: Iopub,
    status: Status,
    stdin: Stdin,
    terminals: Terminals,
) {
    while let Some(req) = rx.recv().await {
        let JupyterMessageContent::ExecuteRequest(ex) = &req.message.content else {
            continue;
        };
        let parent = req.message.header.clone();
        status.cell_started(&parent);
        let cell = Cell {
            code: ex.code.clone(),
            silent: ex.silent,
            store_history: ex.store_history,
        };
        let mut io = adapter::request(&iopub, &stdin, &req, ex.allow_stdin);
        // A live terminal only for a client that can answer (one showing a page).
        if ex.allow_stdin {
            io.terminal = terminals.for_request(&parent);
        }
        let (count, outcome) = engine.execute(&cell, &io).await;
        // "Run All" stops: the cells queued behind a failure are aborted. Only those queued
        // before this reply goes out: a client that waits for the reply and then sends its next
        // cell (nbclient, a test) must have that cell run, however late this task gets the CPU.
        let mut behind = Vec::new();
        if outcome.is_err() && ex.stop_on_error {
            while let Ok(next) = rx.try_recv() {
                behind.push(next);
            }
        }
        reply.reply(&req, execute_reply(count, outcome));
        status.cell_ended(&parent);
        for next in behind {
            let p = next.message.header.clone();
            status.busy(&p);
            reply.reply(&next, aborted_reply(engine.state().execution_count));
            status.idle(&p);
        }
    }
}

fn execute_reply(count: usize, outcome: engine::Outcome) -> JupyterMessageContent {
    let (status, error) = match outcome {
        Ok(()) => (ReplyStatus::Ok, None),
        Err(f) => (
            ReplyStatus::Error,
            Some(Box::new(ReplyError {
                ename: f.ename().to_owned(),
                evalue: f.to_string(),
                traceback: vec![format!("{}: {f}", f.ename())],
            })),
        ),
    };
    JupyterMessageContent::ExecuteReply(jupyter_protocol::ExecuteReply {
        status,
        execution_count: jupyter_protocol::ExecutionCount::new(count),
        payload: Vec::new(),
        user_expressions: Some(Default::default()),
        error,
    })
}

fn aborted_reply(count: usize) -> JupyterMessageContent {
    JupyterMessageContent::ExecuteReply(jupyter_protocol::ExecuteReply {
        status: ReplyStatus::Aborted,
        execution_count: jupyter_protocol::ExecutionCount::new(count),
        payload: Vec::new(),
        user_expressions: Some(Default::default()),
        error: None,
    })
}

/// Exit when the process that started us is gone (we were re-parented), so an orphaned
/// kernel does not linger.
async fn watch_parent() {
    let parent = nix::unistd::getppid();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if nix::unistd::getppid() != parent {
            log::warn!("the kernel's parent process is gone; exiting");
            std::process::exit(0);
        }
    }
}
