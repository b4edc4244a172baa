//! The user's marks file (`marks`): where it is, what was read from it, and reading it
//! again when it changes, so an edit applies from the next cell without a restart.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::marks::{self, Marks};

/// The marks and where the user's file is, with what was last read from it.
pub struct MarksState {
    pub rules: Marks,
    pub path: Option<PathBuf>,
    /// The file's modification time and size when last read: read again when they change.
    stamp: Option<(SystemTime, u64)>,
    /// What the file's reading found wrong, not yet said.
    pub untold: Vec<String>,
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
