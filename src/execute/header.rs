//! The per-cell header: one short record of where a cell ran (user, host, directory,
//! start time in UTC), sent as `display_data` so a saved notebook keeps the same facts
//! in its metadata, and updated in place with the outcome when the cell ends.

use std::time::Duration;

use jupyter_protocol::{
    DisplayData, JupyterMessageContent, Media, MediaType, Transient, UpdateDisplayData,
};
use serde_json::{Map, Value, json};

use super::Outcome;
use crate::kernel::channels::Iopub;
use crate::target::TargetInfo;

pub struct Header {
    display_id: String,
    parent: jupyter_protocol::Header,
    facts: Map<String, Value>,
    started: chrono::DateTime<chrono::Utc>,
    user_host: String,
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Header {
    pub fn start(
        iopub: &Iopub,
        parent: &jupyter_protocol::Header,
        info: &TargetInfo,
        cwd: &str,
    ) -> Header {
        let started = chrono::Utc::now();
        let mut facts = Map::new();
        facts.insert("target".into(), json!(info.name));
        facts.insert("host".into(), json!(info.host));
        facts.insert("user".into(), json!(info.user));
        facts.insert("cwd".into(), json!(cwd));
        facts.insert(
            "started".into(),
            json!(started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        facts.insert("status".into(), json!("running"));
        let h = Header {
            display_id: format!("sshpty-header-{}", uuid::Uuid::new_v4()),
            parent: parent.clone(),
            facts,
            started,
            user_host: format!("{}@{}", info.user, info.host),
        };
        let (data, metadata) = h.render(cwd, "running");
        iopub.send(
            JupyterMessageContent::DisplayData(DisplayData {
                data,
                metadata,
                transient: Some(Transient {
                    display_id: Some(h.display_id.clone()),
                }),
            }),
            Some(parent),
        );
        h
    }

    fn render(&self, cwd: &str, outcome: &str) -> (Media, Map<String, Value>) {
        let when = self.started.format("%Y-%m-%d %H:%M:%S UTC");
        let text = format!("{}:{} · {when} · {outcome}", self.user_host, cwd);
        let html = format!(
            "<div style=\"font-family:monospace;font-size:85%;opacity:0.7\">{}</div>",
            html_escape(&text)
        );
        let media = Media::new(vec![MediaType::Plain(text), MediaType::Html(html)]);
        let mut metadata = Map::new();
        metadata.insert("sshpty".into(), Value::Object(self.facts.clone()));
        (media, metadata)
    }

    pub fn finish(mut self, iopub: &Iopub, cwd: &str, outcome: &Outcome, took: Duration) {
        let secs = (took.as_secs_f64() * 1000.0).round() / 1000.0;
        let (status, summary) = match outcome {
            Ok(()) => ("ok", format!("ok · {secs:.3} s")),
            Err(f) => (
                "error",
                format!("{} · {secs:.3} s", f.evalue.split(';').next().unwrap_or("")),
            ),
        };
        self.facts.insert("status".into(), json!(status));
        self.facts.insert("cwd_after".into(), json!(cwd));
        self.facts.insert("duration_s".into(), json!(secs));
        if let Err(f) = outcome {
            self.facts.insert("error".into(), json!(f.evalue));
        }
        let start_cwd = self
            .facts
            .get("cwd")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let (data, metadata) = self.render(&start_cwd, &summary);
        iopub.send(
            JupyterMessageContent::UpdateDisplayData(UpdateDisplayData {
                data,
                metadata,
                transient: Transient {
                    display_id: Some(self.display_id.clone()),
                },
            }),
            Some(&self.parent),
        );
    }
}
