//! The engine's frontend interface (`execute::frontend`) on Jupyter's channels: a request's
//! outputs become IOPub messages parented to it, paced for jupyter_server; its questions
//! become `input_request`s to the client that sent it.

use std::sync::Arc;
use std::time::Instant;

use jupyter_protocol::{
    DisplayData, ErrorOutput, ExecuteInput, ExecutionCount, Header, JupyterMessageContent, Media,
    MediaType, Stdio, StreamContent, Transient, UpdateDisplayData,
};

use engine::frontend::{self, Asker, BoxFuture, Output, Outputs, RequestId, Stream};
use jupyter::channels::{Iopub, Stdin};
use jupyter::wire;

/// The engine's view of a Jupyter request: outputs to IOPub, questions on stdin when the
/// client allows them.
pub fn request(
    iopub: &Iopub,
    stdin: &Stdin,
    req: &wire::Request,
    allow_stdin: bool,
) -> frontend::Request {
    let parent = req.message.header.clone();
    frontend::Request {
        id: RequestId(parent.msg_id.clone()),
        outputs: Arc::new(IopubOutputs {
            iopub: iopub.clone(),
            parent,
        }),
        asker: allow_stdin.then(|| {
            Arc::new(StdinAsker {
                stdin: stdin.clone(),
                req: req.clone(),
            }) as Arc<dyn Asker>
        }),
        terminal: None,
    }
}

struct IopubOutputs {
    iopub: Iopub,
    parent: Header,
}

/// The MIME type of a display standing for a live terminal (see `terminal`): a frontend
/// with our extension shows the terminal; others show the text beside it.
pub const TERMINAL_MIME: &str = "application/vnd.sshpty.terminal+json";

fn media(plain: String, html: Option<String>, terminal: Option<String>) -> Media {
    let mut m = vec![MediaType::Plain(plain)];
    if let Some(h) = html {
        m.push(MediaType::Html(h));
    }
    if let Some(id) = terminal {
        m.push(MediaType::Other((
            TERMINAL_MIME.into(),
            serde_json::json!({"version": 1, "terminal": id}),
        )));
    }
    Media::new(m)
}

/// A program's bundle (`frontend::Shown`): the engine made every value a string.
fn shown_media(data: serde_json::Map<String, serde_json::Value>) -> Media {
    let m = data
        .into_iter()
        .map(|(mime, value)| {
            let text = || value.as_str().unwrap_or_default().to_owned();
            match mime.as_str() {
                "text/plain" => MediaType::Plain(text()),
                "text/html" => MediaType::Html(text()),
                "image/png" => MediaType::Png(text()),
                "image/jpeg" => MediaType::Jpeg(text()),
                "image/gif" => MediaType::Gif(text()),
                _ => MediaType::Other((mime, value)),
            }
        })
        .collect();
    Media::new(m)
}

impl Outputs for IopubOutputs {
    fn ready(&self, now: Instant, text_len: usize) -> Option<Instant> {
        self.iopub.pacer().wait(now, text_len)
    }

    fn emit(&self, output: Output) {
        // Every message counts for jupyter_server's message rate; text also for its bytes.
        let text_len = match &output {
            Output::Text { text, .. } => text.len(),
            _ => 0,
        };
        let content = match output {
            Output::Input { code, count } => JupyterMessageContent::ExecuteInput(ExecuteInput {
                code,
                execution_count: ExecutionCount::new(count),
            }),
            Output::Text { stream, text } => JupyterMessageContent::StreamContent(StreamContent {
                name: match stream {
                    Stream::Out => Stdio::Stdout,
                    Stream::Err => Stdio::Stderr,
                },
                text,
            }),
            Output::Display(d) => JupyterMessageContent::DisplayData(DisplayData {
                data: media(d.plain, d.html, d.terminal),
                metadata: d.metadata,
                transient: Some(Transient {
                    display_id: Some(d.id),
                }),
            }),
            Output::Update(d) => JupyterMessageContent::UpdateDisplayData(UpdateDisplayData {
                data: media(d.plain, d.html, d.terminal),
                metadata: d.metadata,
                transient: Transient {
                    display_id: Some(d.id),
                },
            }),
            Output::Shown(s) => {
                let data = shown_media(s.data);
                match (s.update, s.id) {
                    (true, Some(id)) => {
                        JupyterMessageContent::UpdateDisplayData(UpdateDisplayData {
                            data,
                            metadata: s.metadata,
                            transient: Transient {
                                display_id: Some(id),
                            },
                        })
                    }
                    (_, id) => JupyterMessageContent::DisplayData(DisplayData {
                        data,
                        metadata: s.metadata,
                        transient: id.map(|id| Transient {
                            display_id: Some(id),
                        }),
                    }),
                }
            }
            Output::Placeholder { id } => JupyterMessageContent::DisplayData(DisplayData {
                data: Media::new(Vec::new()),
                metadata: Default::default(),
                transient: Some(Transient {
                    display_id: Some(id),
                }),
            }),
            Output::Withdraw { id } => {
                JupyterMessageContent::UpdateDisplayData(UpdateDisplayData {
                    data: Media::new(Vec::new()),
                    metadata: Default::default(),
                    transient: Transient {
                        display_id: Some(id),
                    },
                })
            }
            Output::Error { ename, evalue } => JupyterMessageContent::ErrorOutput(ErrorOutput {
                traceback: vec![format!("\x1b[0;31m{ename}\x1b[0m: {evalue}")],
                ename,
                evalue,
            }),
        };
        self.iopub.pacer().record(Instant::now(), text_len);
        self.iopub.send(content, Some(&self.parent));
    }
}

/// Questions of a cell to the client that sent it.
struct StdinAsker {
    stdin: Stdin,
    req: wire::Request,
}

impl Asker for StdinAsker {
    fn ask(&self, prompt: &str, password: bool) -> BoxFuture<Option<String>> {
        let stdin = self.stdin.clone();
        let req = self.req.clone();
        let prompt = prompt.to_owned();
        Box::pin(async move { stdin.ask(&req, &prompt, password).await })
    }
}
