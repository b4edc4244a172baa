//! The per-cell header: one short record of where a cell ran (user, host, directory,
//! start time in UTC), sent as `display_data` so a saved notebook keeps the same facts
//! in its metadata, and updated in place with the outcome when the cell ends.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::display::{LIVE_EVERY, html_escape, strip_sgr};
use crate::failure::Outcome;
use crate::frontend::{Display, Output, Outputs};
use crate::marks::Mark;
use targets::TargetInfo;

pub struct Header {
    display_id: String,
    facts: Map<String, Value>,
    started: chrono::DateTime<chrono::Utc>,
    user_host: String,
    /// The host's mark (production, staging, …), shown first in text and in colour.
    mark: Option<Mark>,
    /// The still-changing part of the output shown under the header line: what is shown,
    /// what is to be shown next, and when it was last sent.
    live_shown: Option<String>,
    live_due: Option<Option<String>>,
    live_sent_at: Option<Instant>,
}

impl Header {
    pub fn start(
        outputs: &dyn Outputs,
        info: &TargetInfo,
        cwd: &str,
        mark: Option<Mark>,
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
        if let Some(m) = &mark {
            facts.insert(
                "mark".into(),
                json!({"name": m.name, "colour": m.colour.name()}),
            );
        }
        let h = Header {
            display_id: format!("sshpty-header-{}", uuid::Uuid::new_v4()),
            facts,
            started,
            user_host: format!("{}@{}", info.user, info.host),
            mark,
            live_shown: None,
            live_due: None,
            live_sent_at: None,
        };
        outputs.emit(Output::Display(h.render(cwd, "running", None)));
        h
    }

    fn render(&self, cwd: &str, outcome: &str, live: Option<&str>) -> Display {
        let when = self.started.format("%Y-%m-%d %H:%M:%S UTC");
        let line = format!("{}:{} · {when} · {outcome}", self.user_host, cwd);
        let (mut text, mut html) = match &self.mark {
            // The mark first, so that a log or a plain viewer shows it too; in HTML on its
            // colour, with the colour down the header's edge.
            Some(m) => (
                format!("[{}] {line}", m.name),
                format!(
                    "<div style=\"font-family:monospace;font-size:85%;border-left:4px solid {bg};padding-left:6px\"><span class=\"sshpty-mark\" style=\"background:{bg};color:{fg};font-weight:bold;padding:0 0.4em;border-radius:3px\">{}</span> <span style=\"opacity:0.7\">{}</span></div>",
                    html_escape(&m.name),
                    html_escape(&line),
                    bg = m.colour.css(),
                    fg = m.colour.text_css(),
                ),
            ),
            None => (
                line.clone(),
                format!(
                    "<div style=\"font-family:monospace;font-size:85%;opacity:0.7\">{}</div>",
                    html_escape(&line)
                ),
            ),
        };
        if let Some(live) = live {
            text.push('\n');
            text.push_str(live);
            html.push_str(&format!(
                "<pre style=\"margin:0\">{}</pre>",
                html_escape(&strip_sgr(live))
            ));
        }
        let mut metadata = Map::new();
        metadata.insert("sshpty".into(), Value::Object(self.facts.clone()));
        Display {
            id: self.display_id.clone(),
            plain: text,
            html: Some(html),
            metadata,
            terminal: None,
        }
    }

    /// Show `live` (the cell's live view, see `live`; None: nothing) under the header line,
    /// at most every [`LIVE_EVERY`] unless `force`. Returns whether a message went.
    pub fn live(
        &mut self,
        outputs: &dyn Outputs,
        live: Option<&str>,
        now: Instant,
        force: bool,
    ) -> bool {
        let live = live.map(str::to_owned).filter(|l| !l.trim().is_empty());
        if live == self.live_shown {
            self.live_due = None;
            return false;
        }
        self.live_due = Some(live);
        if force {
            self.live_sent_at = None;
        }
        self.live_due(outputs, now)
    }

    /// Send the live part if one is due and the rate allows.
    pub fn live_due(&mut self, outputs: &dyn Outputs, now: Instant) -> bool {
        if self.live_due.is_none()
            || self
                .live_sent_at
                .is_some_and(|t| now.duration_since(t) < LIVE_EVERY)
        {
            return false;
        }
        let Some(live) = self.live_due.take() else {
            return false;
        };
        let cwd = self
            .facts
            .get("cwd")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        outputs.emit(Output::Update(self.render(
            &cwd,
            "running",
            live.as_deref(),
        )));
        self.live_shown = live;
        self.live_sent_at = Some(now);
        true
    }

    pub fn finish(mut self, outputs: &dyn Outputs, cwd: &str, outcome: &Outcome, took: Duration) {
        let secs = (took.as_secs_f64() * 1000.0).round() / 1000.0;
        let (status, summary) = match outcome {
            Ok(()) => ("ok", format!("ok · {secs:.3} s")),
            Err(f) => (
                "error",
                format!(
                    "{} · {secs:.3} s",
                    f.to_string().split(';').next().unwrap_or("")
                ),
            ),
        };
        self.facts.insert("status".into(), json!(status));
        self.facts.insert("cwd_after".into(), json!(cwd));
        self.facts.insert("duration_s".into(), json!(secs));
        if let Err(f) = outcome {
            self.facts.insert("error".into(), json!(f.to_string()));
        }
        let start_cwd = self
            .facts
            .get("cwd")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        outputs.emit(Output::Update(self.render(&start_cwd, &summary, None)));
    }
}
