//! Stopping a cell after Ctrl-C: wait, or hang up and kill?
//!
//! A program that handles Ctrl-C and is still cleaning up (dpkg finishing a package,
//! terraform releasing its state lock) must get the time it needs; one that ignores Ctrl-C
//! (and the hang-up) must be gone within seconds. The difference is visible on Linux in each
//! process's signal dispositions (`/proc/PID/status`: `SigIgn`, `SigCgt`, `SigBlk`), read
//! on the target by [`INSPECT`] and judged here. Pure: the command's output in, a verdict out.

/// Lists every process's name, ids and signal masks on the target, one `grep` (no process
/// per process). Processes that end meanwhile are skipped; without `/proc` (not Linux) it
/// prints nothing, and the verdict is [`Verdict::Unknown`].
pub const INSPECT: &str =
    "grep -E '^(Name|Pid|PPid|NSpgid|SigBlk|SigIgn|SigCgt):' /proc/[0-9]*/status 2>/dev/null; true";

/// SIGINT's bit in a `/proc` signal mask (signal 2).
const SIGINT_BIT: u64 = 1 << 1;

/// Shells: one that has a child in the group is waiting for it (bash catches SIGINT while it
/// waits, and the cell's own shell traps it to report its state), not cleaning up.
const SHELLS: [&str; 8] = ["bash", "sh", "dash", "zsh", "ksh", "mksh", "ash", "busybox"];

/// One process as `/proc/PID/status` describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// The process group, in the namespace of the `/proc` read.
    pub pgid: i32,
    pub name: String,
    pub blocked: u64,
    pub ignored: u64,
    pub caught: u64,
}

/// What the processes left in the cell's group do with Ctrl-C.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No `/proc` to read (or nothing could be read): stop by the clock.
    Unknown,
    /// Nothing is left in the group: the cell is ending by itself.
    Gone,
    /// Everything left ignores Ctrl-C (or is a full-screen program, which gets the hang-up
    /// as when its terminal closes): hang up, then kill.
    Ignoring,
    /// This process handles Ctrl-C (or started after it, or blocks it) and is still running:
    /// it is cleaning up; wait.
    Handling { pid: i32, name: String },
}

/// Parse [`INSPECT`]'s output (`/proc/PID/status:Key:\tvalue` lines). Lines that do not
/// fit are skipped; a process without its pid is dropped.
pub fn parse(out: &[u8]) -> Vec<Proc> {
    let text = String::from_utf8_lossy(out);
    let mut procs: Vec<Proc> = Vec::new();
    let mut current: Option<(String, Proc)> = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("/proc/") else {
            continue;
        };
        let Some((dir, field)) = rest.split_once("/status:") else {
            continue;
        };
        if current.as_ref().is_none_or(|(d, _)| d != dir) {
            if let Some((_, p)) = current.take()
                && p.pid > 0
            {
                procs.push(p);
            }
            current = Some((dir.to_owned(), Proc::default()));
        }
        let Some((_, p)) = current.as_mut() else {
            continue;
        };
        let Some((key, value)) = field.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let first = value.split_whitespace().next().unwrap_or("");
        let mask = || u64::from_str_radix(first, 16).unwrap_or(0);
        match key {
            "Name" => p.name = value.to_owned(),
            "Pid" => p.pid = first.parse().unwrap_or(0),
            "PPid" => p.ppid = first.parse().unwrap_or(0),
            "NSpgid" => p.pgid = first.parse().unwrap_or(0),
            "SigBlk" => p.blocked = mask(),
            "SigIgn" => p.ignored = mask(),
            "SigCgt" => p.caught = mask(),
            _ => {}
        }
    }
    if let Some((_, p)) = current
        && p.pid > 0
    {
        procs.push(p);
    }
    procs
}

/// Judge the processes left in group `pgid` after Ctrl-C. `screen`: a full-screen program
/// holds the terminal (vi and less handle Ctrl-C and stay: they are stopped by the hang-up,
/// as when a terminal is closed).
pub fn judge(procs: &[Proc], pgid: i32, screen: bool) -> Verdict {
    if procs.is_empty() || pgid <= 0 {
        return Verdict::Unknown;
    }
    let group: Vec<&Proc> = procs.iter().filter(|p| p.pgid == pgid).collect();
    if group.is_empty() {
        return Verdict::Gone;
    }
    if screen {
        return Verdict::Ignoring;
    }
    let waiting_shell =
        |p: &Proc| SHELLS.contains(&p.name.as_str()) && group.iter().any(|c| c.ppid == p.pid);
    // A process that does not ignore SIGINT and is still here handles it, blocks it, or
    // started after it (a trap's cleanup): it gets its time.
    match group
        .iter()
        .find(|p| !waiting_shell(p) && p.ignored & SIGINT_BIT == 0)
    {
        Some(p) => Verdict::Handling {
            pid: p.pid,
            name: p.name.clone(),
        },
        None => Verdict::Ignoring,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn status(pid: i32, ppid: i32, pgid: i32, name: &str, ign: u64, cgt: u64) -> String {
        format!(
            "/proc/{pid}/status:Name:\t{name}\n/proc/{pid}/status:Pid:\t{pid}\n\
             /proc/{pid}/status:PPid:\t{ppid}\n/proc/{pid}/status:NSpgid:\t{pgid}\n\
             /proc/{pid}/status:SigBlk:\t0000000000000000\n\
             /proc/{pid}/status:SigIgn:\t{ign:016x}\n/proc/{pid}/status:SigCgt:\t{cgt:016x}\n"
        )
    }

    const INT: u64 = SIGINT_BIT;
    const HUP: u64 = 1;

    #[test]
    fn parses_what_grep_prints() {
        let out = status(10, 1, 10, "bash", 0, INT | (1 << 16))
            + &status(11, 10, 10, "my: prog", INT | HUP, 0);
        let procs = parse(out.as_bytes());
        assert_eq!(procs.len(), 2);
        assert_eq!(procs[1].name, "my: prog");
        assert_eq!((procs[1].pid, procs[1].ppid, procs[1].pgid), (11, 10, 10));
        assert_eq!(procs[1].ignored, INT | HUP);
        assert_eq!(procs[0].caught, INT | (1 << 16));
    }

    #[test]
    fn a_shell_waiting_for_a_child_that_ignores_ctrl_c_is_stopped() {
        // `bash -c "trap '' INT HUP; while :; do :; done"` under the cell's shell.
        let out = status(10, 1, 10, "bash", 0, INT)
            + &status(11, 10, 10, "bash", INT | HUP, 0)
            + &status(99, 1, 99, "sshd", 0, INT);
        assert_eq!(judge(&parse(out.as_bytes()), 10, false), Verdict::Ignoring);
    }

    #[test]
    fn a_program_that_handles_ctrl_c_gets_its_time() {
        // dpkg cleaning up under the cell's shell.
        let out = status(10, 1, 10, "bash", 0, INT) + &status(12, 10, 10, "dpkg", 0, INT);
        assert_eq!(
            judge(&parse(out.as_bytes()), 10, false),
            Verdict::Handling {
                pid: 12,
                name: "dpkg".into()
            }
        );
        // A trap's cleanup: `sleep` started after Ctrl-C, with the default disposition.
        let out = status(10, 1, 10, "bash", 0, INT) + &status(13, 10, 10, "sleep", 0, 0);
        assert!(matches!(
            judge(&parse(out.as_bytes()), 10, false),
            Verdict::Handling { pid: 13, .. }
        ));
        // But a full-screen program (vi handles Ctrl-C and stays) gets the hang-up.
        let out = status(10, 1, 10, "bash", 0, INT) + &status(14, 10, 10, "vim", 0, INT);
        assert_eq!(judge(&parse(out.as_bytes()), 10, true), Verdict::Ignoring);
    }

    #[test]
    fn nothing_left_or_nothing_known() {
        let out = status(99, 1, 99, "sshd", 0, INT);
        assert_eq!(judge(&parse(out.as_bytes()), 10, false), Verdict::Gone);
        assert_eq!(judge(&parse(b""), 10, false), Verdict::Unknown);
        assert_eq!(judge(&parse(out.as_bytes()), 0, false), Verdict::Unknown);
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), pgid in -2i32..20) {
            let procs = parse(&bytes);
            let _ = judge(&procs, pgid, false);
        }

        #[test]
        fn lines_cut_anywhere_parse_to_a_prefix(cut in 0usize..400) {
            let out = status(10, 1, 10, "bash", 0, INT) + &status(11, 10, 10, "top", INT, 0);
            let cut = cut.min(out.len());
            let procs = parse(&out.as_bytes()[..cut]);
            prop_assert!(procs.len() <= 2);
            // A number cut short reads as its first digits.
            for p in procs {
                prop_assert!([1, 10, 11].contains(&p.pid), "{p:?}");
            }
        }
    }
}
