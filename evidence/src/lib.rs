//! What the evidence binaries share: the report format, a scratch directory, and OpenSSH as
//! the reference where it is installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One claim and what was measured about it, printed as a short plain-text block.
pub struct Report {
    /// The crate and version measured, and the claim in one line.
    pub title: String,
    /// What was done to test it.
    pub done: String,
    /// The observed facts, one per line.
    pub observed: Vec<String>,
    pub confirmed: bool,
}

impl Report {
    pub fn print(&self) {
        println!("== {}", self.title);
        println!("done:     {}", self.done);
        for (i, line) in self.observed.iter().enumerate() {
            let label = if i == 0 { "observed:" } else { "         " };
            println!("{label} {line}");
        }
        let verdict = if self.confirmed {
            "confirmed"
        } else {
            "NOT confirmed"
        };
        println!("verdict:  {verdict}");
        println!();
    }
}

/// A fresh directory under the system's temporary directory, removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(name: &str) -> std::io::Result<Scratch> {
        let dir =
            std::env::temp_dir().join(format!("sshpty-evidence-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }

    /// Write `text` to `name` inside the directory and return its path.
    pub fn file(&self, name: &str, text: &str) -> std::io::Result<PathBuf> {
        let path = self.0.join(name);
        std::fs::write(&path, text)?;
        Ok(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run an OpenSSH tool (`ssh -G`, `ssh-keygen -F`) and return its stdout, or `None` when it
/// is not installed or fails: OpenSSH is the reference shown beside a crate's answer, not
/// what the verdict rests on.
pub fn openssh(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()
}
