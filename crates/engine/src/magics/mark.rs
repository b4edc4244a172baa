//! `%mark`: the hosts' marks (production, staging, …) for this session, which never
//! override the user's own marks file (see `marks`, and `marks_file` for its reading).

use super::magic::{Magic, MarkCommand, Spec};
use crate::failure::MagicError;
use crate::marks::{self, Rule, Source};
use crate::output::StreamOut;
use crate::session::Engine;
use crate::sink::Sink;

pub(super) const MARK: Spec = Spec {
    name: "mark",
    usage: "%mark [PATTERNS MARK [COLOUR] | clear]",
    description: "mark hosts (production, staging, ...) in every header and the status bar for this session; your marks file wins; alone, list the marks",
    parse: parse_mark,
};

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
                        (src == Source::File && rule.matches(&names) && m != &rule.mark)
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
