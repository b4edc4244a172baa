//! One fleet host's output while its part of a `%on` cell runs: the rendered text (and the
//! kernel's notes) held in memory up to a bound, and beyond it the whole output in a file
//! of the user's own (0600, where cells over their output limit put theirs), so a thousand
//! hosts printing without end cost a thousand bounded buffers, not the kernel's memory.

use std::io::Write;
use std::path::PathBuf;

use crate::frontend::Shown;
use crate::output::{open_private, output_file_name};
use crate::sink::Sink;

/// Bytes of one host's output held in memory at most.
pub const HELD_MAX: usize = 256 * 1024;

/// What a host's output came to.
pub enum Finished {
    Text(Vec<u8>),
    InFile { path: PathBuf, bytes: u64 },
}

pub struct HostOutput {
    /// Where the file goes (`output::output_dir`).
    dir: PathBuf,
    host: String,
    count: usize,
    held_max: usize,
    held: Vec<u8>,
    file: Option<(PathBuf, std::io::BufWriter<std::fs::File>)>,
    bytes: u64,
    /// Output that could not be written to a file (the file could not be made or written):
    /// dropped, and said at the end.
    dropped: u64,
    trouble: Option<String>,
    told_pictures: bool,
}

impl HostOutput {
    /// For `host`'s part of cell `count`, holding at most `held_max` bytes, the rest in a
    /// file in `dir`.
    pub fn new(dir: PathBuf, host: &str, count: usize, held_max: usize) -> HostOutput {
        HostOutput {
            dir,
            host: host.to_owned(),
            count,
            held_max: held_max.min(HELD_MAX),
            held: Vec::new(),
            file: None,
            bytes: 0,
            dropped: 0,
            trouble: None,
            told_pictures: false,
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len() as u64;
        if self.file.is_none() && self.held.len() + bytes.len() <= self.held_max {
            self.held.extend_from_slice(bytes);
            return;
        }
        if self.file.is_none() && self.trouble.is_none() {
            let path = self.dir.join(output_file_name(&self.host, self.count));
            match open_private(&path) {
                Ok(f) => {
                    let mut w = std::io::BufWriter::new(f);
                    match w.write_all(&self.held) {
                        Ok(()) => self.file = Some((path, w)),
                        Err(e) => {
                            self.trouble = Some(format!("cannot write {}: {e}", path.display()))
                        }
                    }
                }
                Err(e) => self.trouble = Some(format!("cannot create {}: {e}", path.display())),
            }
        }
        let failed = match &mut self.file {
            Some((path, w)) => w
                .write_all(bytes)
                .err()
                .map(|e| format!("cannot write {}: {e}", path.display())),
            None => {
                self.dropped += bytes.len() as u64;
                None
            }
        };
        if let Some(why) = failed {
            self.file = None;
            self.dropped += bytes.len() as u64;
            self.trouble = Some(why);
        }
    }

    /// The output: in memory, or the file that has all of it.
    pub fn finish(mut self) -> Finished {
        if let Some(why) = self.trouble.take() {
            let note = format!(
                "\nsshpty: {} bytes of this host's output beyond the first {} were dropped: {why}\n",
                self.dropped, self.held_max
            );
            self.held.extend_from_slice(note.as_bytes());
        }
        match self.file.take() {
            Some((path, mut w)) => match w.flush() {
                Ok(()) => Finished::InFile {
                    path,
                    bytes: self.bytes,
                },
                Err(e) => {
                    let note = format!(
                        "\nsshpty: the end of this host's output was lost: cannot write {}: {e}\n",
                        path.display()
                    );
                    self.held.extend_from_slice(note.as_bytes());
                    Finished::Text(self.held)
                }
            },
            None => Finished::Text(self.held),
        }
    }
}

impl Sink for HostOutput {
    fn text(&mut self, text: &str) {
        self.write(text.as_bytes());
    }

    fn flush(&mut self) {}

    fn show(&mut self, _shown: Shown) {
        if !std::mem::replace(&mut self.told_pictures, true) {
            self.write(b"sshpty: a picture or HTML the program showed is not kept in a fleet cell's output\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_beyond_the_bound_goes_whole_to_a_private_file() {
        let dir = std::env::temp_dir().join(format!("sshpty-host-output-{}", std::process::id()));
        let mut small = HostOutput::new(dir.clone(), "web1", 3, 16);
        small.text("short\n");
        assert!(matches!(small.finish(), Finished::Text(t) if t == b"short\n"));

        let mut big = HostOutput::new(dir.join("outputs"), "web/2", 3, 16);
        for i in 0..100 {
            big.text(&format!("line {i}\n"));
        }
        let Finished::InFile { path, bytes } = big.finish() else {
            panic!("not in a file")
        };
        let whole = std::fs::read_to_string(&path).unwrap();
        assert_eq!(whole.len() as u64, bytes);
        assert!(whole.starts_with("line 0\nline 1\n") && whole.ends_with("line 99\n"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .contains("web_2-cell3")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
