//! `%mark`: the hosts' marks (production, staging, …) for this session, and the user's own
//! marks file, which the session's marks never override (see `marks`).

use std::path::PathBuf;
use std::time::SystemTime;

use super::magic::{Magic, Spec};
use crate::cell::Sink;
use crate::failure::MagicError;
use crate::marks::{self, Marks, Rule, Source};
use crate::output::StreamOut;
use crate::session::Engine;

pub(super) const MARK: Spec = Spec {
    name: "mark",
    usage: "%mark [PATTERNS MARK [COLOUR] | clear]",
    description: "mark hosts (production, staging, ...) in every header and the status bar for this session; your marks file wins; alone, list the marks",
    parse: parse_mark,
};

/// What `%mark` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkCommand {
    List,
    Add(Rule),
    Clear,
}

fn parse_mark(a: &super::args::Args) -> Result<Magic, MagicError> {
    let words = a.words()?;
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        [] => Ok(Magic::Mark(MarkCommand::List)),
        ["clear"] => Ok(Magic::Mark(MarkCommand::Clear)),
        _ => marks::parse_rule(&words)
            .map(|r| Magic::Mark(MarkCommand::Add(r)))
            .map_err(|why| a.usage(why)),
    }
}

/// The marks and where the user's file is, with what was last read from it.
pub struct MarksState {
    pub rules: Marks,
    path: Option<PathBuf>,
    /// The file's modification time and size when last read: read again when they change.
    stamp: Option<(SystemTime, u64)>,
    /// What the file's reading found wrong, not yet said.
    untold: Vec<String>,
}

impl MarksState {
    pub fn new(path: Option<PathBuf>) -> MarksState {
        let mut m = MarksState {
            rules: Marks::default(),
            path,
            stamp: None,
            untold: Vec::new(),
        };
        m.refresh();
        m
    }

    /// Read the file again if it changed (or appeared, or went away). A stat per call.
    pub fn refresh(&mut self) {
        let Some(path) = &self.path else {
            return;
        };
        let meta = std::fs::metadata(path).ok();
        let stamp = meta
            .as_ref()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        if stamp == self.stamp {
            return;
        }
        self.stamp = stamp;
        if meta.is_none() {
            self.rules.set_file(Vec::new());
            return;
        }
        let shown = path.display();
        match read_bounded(path) {
            Ok(text) => {
                let (rules, errors) = marks::parse_file(&text);
                self.rules.set_file(rules);
                self.untold
                    .extend(errors.iter().map(|e| format!("marks file {shown}: {e}")));
            }
            Err(e) => {
                // Unreadable: keep no marks rather than stale ones, and say so.
                self.rules.set_file(Vec::new());
                self.untold
                    .push(format!("marks file {shown}: cannot read it: {e}"));
            }
        }
    }
}

/// At most `MAX_FILE_BYTES` and a byte more, so `parse_file` can tell it was cut.
fn read_bounded(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(marks::MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn describe(r: &Rule) -> String {
    format!("{} {} {}", r.patterns, r.mark.name, r.mark.colour.name())
}

impl Engine {
    /// Read the marks file again if it changed; tell what it has wrong in `out`.
    pub(crate) fn refresh_marks(&self, out: &mut StreamOut<'_>) {
        let untold = {
            let mut st = self.state();
            st.marks.refresh();
            std::mem::take(&mut st.marks.untold)
        };
        for note in untold {
            out.note(&format!("sshpty: {note}\n"));
        }
    }

    pub(super) fn mark(&self, cmd: MarkCommand, out: &mut StreamOut<'_>) -> Result<(), MagicError> {
        self.refresh_marks(out);
        let mut st = self.state();
        match cmd {
            MarkCommand::List => {
                let m = &st.marks;
                let mut text = match &m.path {
                    Some(p) => format!("marks file: {}\n", p.display()),
                    None => "marks file: none (no HOME)\n".into(),
                };
                for (what, rules) in [
                    ("file", m.rules.file_rules()),
                    ("session", m.rules.session_rules()),
                ] {
                    for r in rules {
                        text.push_str(&format!("  {what}: {}\n", describe(r)));
                    }
                }
                if m.rules.file_rules().is_empty() && m.rules.session_rules().is_empty() {
                    text.push_str("  no marks\n");
                }
                drop(st);
                out.text(&text);
            }
            MarkCommand::Clear => {
                st.marks.rules.clear_session();
                drop(st);
                out.text("the session's marks are cleared; the marks file's still apply\n");
            }
            MarkCommand::Add(rule) => {
                let shown = describe(&rule);
                if !st.marks.rules.add_session(rule.clone()) {
                    return Err(MagicError::Usage {
                        magic: MARK.name,
                        usage: MARK.usage,
                        detail: format!(
                            "the session has {} marks already; %mark clear first",
                            marks::MAX_SESSION_RULES
                        ),
                    });
                }
                // The hosts logged in to that the file marks otherwise: the file wins.
                let overridden: Vec<String> = st
                    .hosts
                    .iter()
                    .filter_map(|(name, h)| {
                        let host = h.target.info().host;
                        let names = marks::host_names(name, &host);
                        let (m, src) = st.marks.rules.find(&names)?;
                        let wanted = names.iter().any(|n| {
                            targets::ssh::config::match_pattern_list(n, &rule.patterns)
                                == Some(true)
                        });
                        (src == Source::File && wanted && m != &rule.mark)
                            .then(|| format!("{name} ({})", m.name))
                    })
                    .collect();
                drop(st);
                out.text(&format!("marked for this session: {shown}\n"));
                if !overridden.is_empty() {
                    out.note(&format!(
                        "sshpty: your marks file marks {} otherwise; a notebook's %mark does not change that\n",
                        overridden.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }
}
