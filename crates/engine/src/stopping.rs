//! Stopping a cell after Ctrl-C: wait, or hang up and kill?
//!
//! A program that handles Ctrl-C and is still cleaning up (dpkg finishing a package,
//! terraform releasing its state lock) must get the time it needs; one that ignores Ctrl-C
//! (and the hang-up) must be gone within seconds. The difference is visible on Linux in each
//! process's signal dispositions (`/proc/PID/status`: `SigIgn`, `SigCgt`, `SigBlk`), read
//! on the target by [`INSPECT`] and judged here. Pure: the command's output in, a verdict out.
//!
//! The cell's shell has no job control, so the terminal's Ctrl-C reaches the cell's process
//! group only. A program that made a group of its own (`timeout` does, without
//! `--foreground`) is out of its reach, and is stopped (SIGTTOU) if it then sets the
//! terminal, as `timeout 100 vim` is. The verdict covers those groups too: Ctrl-C is passed
//! on to them, as a terminal with job control would have delivered it, a stopped program is
//! ended, and the kill that ends a stop reaches them ([`other_groups`]).

use std::collections::HashMap;

/// Lists every process's name, ids and signal masks on the target, one `grep` (no process
/// per process). Processes that end meanwhile are skipped; without `/proc` (not Linux) it
/// prints nothing, and the verdict is [`Verdict::Unknown`].
pub const INSPECT: &str = "grep -E '^(Name|State|Pid|PPid|NSpgid|NSsid|SigBlk|SigIgn|SigCgt):' /proc/[0-9]*/status 2>/dev/null; true";

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
    /// The session (0 where the kernel does not say: before Linux 4.1).
    pub sid: i32,
    /// Stopped by a signal (`T`): it cannot end by itself. Not a tracer's stop (`t`): a
    /// process under strace passes through one at every system call.
    pub stopped: bool,
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
    /// This process of the cell is stopped (the terminal stops a program that sets it from
    /// a group of its own): nothing will end by itself; hang up, then kill.
    Stopped { pid: i32, name: String },
    /// The cell's processes in these groups of their own have not had the Ctrl-C: pass it
    /// on, then look again.
    PassOn(Vec<i32>),
}

/// At most this many groups of its own are passed Ctrl-C or killed for one cell: a cell
/// making more is not what a stop must chase (and a command line stays short).
pub const MAX_OTHER_GROUPS: usize = 64;

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
            "NSsid" => p.sid = first.parse().unwrap_or(0),
            "State" => p.stopped = first == "T",
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

/// How the cell's shell runs what it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// A cell: no job control, so Ctrl-C reaches only the shell's group.
    Cell,
    /// An interactive session (`%shell`): job control gives each command line a group and
    /// the terminal to it; Ctrl-C reached it, a stopped job (Ctrl-Z) is the user's, and the
    /// session's end (Ctrl-D) is how it stops.
    JobControl,
}

/// The cell's processes: those of its group `pgid`, and, for a [`Shell::Cell`], their
/// descendants in the same session (a program that left the session with `setsid` left the
/// terminal too, on purpose, and is not the cell's to stop).
fn cell_processes(procs: &[Proc], pgid: i32, shell: Shell) -> Vec<&Proc> {
    // Group 0 is the kernel's threads', not a cell's (its pid not known yet).
    if pgid <= 0 {
        return Vec::new();
    }
    let mut cell: Vec<&Proc> = procs.iter().filter(|p| p.pgid == pgid).collect();
    let Some(sid) = cell.first().map(|p| p.sid) else {
        return cell;
    };
    if shell == Shell::JobControl {
        return cell;
    }
    let mut children: HashMap<i32, Vec<&Proc>> = HashMap::new();
    for p in procs {
        if p.pgid != pgid && p.sid == sid {
            children.entry(p.ppid).or_default().push(p);
        }
    }
    // Each process is some parent's child once: the walk ends, and takes each once.
    let mut next = 0;
    while next < cell.len() {
        if let Some(kids) = children.remove(&cell[next].pid) {
            cell.extend(kids);
        }
        next += 1;
    }
    cell
}

fn first_stopped(cell: &[&Proc]) -> Option<(i32, String)> {
    cell.iter()
        .find(|p| p.stopped)
        .map(|p| (p.pid, p.name.clone()))
}

/// A process of the cell (group `pgid`) that is stopped, as `(pid, name)`: while the cell
/// runs, a run nobody can stop by hand looks for one once its output has been quiet.
pub fn stopped(procs: &[Proc], pgid: i32, shell: Shell) -> Option<(i32, String)> {
    first_stopped(&cell_processes(procs, pgid, shell))
}

/// The groups other than `pgid` that the cell's processes are in (never 0 or 1: `kill --
/// -1` would reach every process the user may signal), at most [`MAX_OTHER_GROUPS`].
pub fn other_groups(procs: &[Proc], pgid: i32, shell: Shell) -> Vec<i32> {
    groups_of(&cell_processes(procs, pgid, shell), pgid)
}

fn groups_of(cell: &[&Proc], pgid: i32) -> Vec<i32> {
    let mut groups: Vec<i32> = cell
        .iter()
        .map(|p| p.pgid)
        .filter(|&g| g > 1 && g != pgid)
        .collect();
    groups.sort_unstable();
    groups.dedup();
    groups.truncate(MAX_OTHER_GROUPS);
    groups
}

/// Judge the processes left in group `pgid` after Ctrl-C, with those of the cell in other
/// groups; `passed_on`: the groups already sent it. `screen`: a full-screen program holds
/// the terminal (vi and less handle Ctrl-C and stay: they are stopped by the hang-up, as
/// when a terminal is closed).
pub fn judge(procs: &[Proc], pgid: i32, shell: Shell, screen: bool, passed_on: &[i32]) -> Verdict {
    if procs.is_empty() || pgid <= 0 {
        return Verdict::Unknown;
    }
    let cell = cell_processes(procs, pgid, shell);
    if cell.is_empty() {
        return Verdict::Gone;
    }
    if let Some((pid, name)) = first_stopped(&cell) {
        return Verdict::Stopped { pid, name };
    }
    if screen {
        return Verdict::Ignoring;
    }
    let not_reached: Vec<i32> = groups_of(&cell, pgid)
        .into_iter()
        .filter(|g| !passed_on.contains(g))
        .collect();
    if !not_reached.is_empty() {
        return Verdict::PassOn(not_reached);
    }
    let waiting_shell =
        |p: &Proc| SHELLS.contains(&p.name.as_str()) && cell.iter().any(|c| c.ppid == p.pid);
    // A process that does not ignore SIGINT and is still here handles it, blocks it, or
    // started after it (a trap's cleanup): it gets its time.
    match cell
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
        assert_eq!(
            judge(&parse(out.as_bytes()), 10, Shell::Cell, false, &[]),
            Verdict::Ignoring
        );
    }

    #[test]
    fn a_program_that_handles_ctrl_c_gets_its_time() {
        // dpkg cleaning up under the cell's shell.
        let out = status(10, 1, 10, "bash", 0, INT) + &status(12, 10, 10, "dpkg", 0, INT);
        assert_eq!(
            judge(&parse(out.as_bytes()), 10, Shell::Cell, false, &[]),
            Verdict::Handling {
                pid: 12,
                name: "dpkg".into()
            }
        );
        // A trap's cleanup: `sleep` started after Ctrl-C, with the default disposition.
        let out = status(10, 1, 10, "bash", 0, INT) + &status(13, 10, 10, "sleep", 0, 0);
        assert!(matches!(
            judge(&parse(out.as_bytes()), 10, Shell::Cell, false, &[]),
            Verdict::Handling { pid: 13, .. }
        ));
        // But a full-screen program (vi handles Ctrl-C and stays) gets the hang-up.
        let out = status(10, 1, 10, "bash", 0, INT) + &status(14, 10, 10, "vim", 0, INT);
        assert_eq!(
            judge(&parse(out.as_bytes()), 10, Shell::Cell, true, &[]),
            Verdict::Ignoring
        );
    }

    #[test]
    fn nothing_left_or_nothing_known() {
        let out = status(99, 1, 99, "sshd", 0, INT);
        assert_eq!(
            judge(&parse(out.as_bytes()), 10, Shell::Cell, false, &[]),
            Verdict::Gone
        );
        assert_eq!(
            judge(&parse(b""), 10, Shell::Cell, false, &[]),
            Verdict::Unknown
        );
        assert_eq!(
            judge(&parse(out.as_bytes()), 0, Shell::Cell, false, &[]),
            Verdict::Unknown
        );
    }

    /// A process with its session and state (`S` sleeping, `T` stopped).
    fn status_in(
        pid: i32,
        ppid: i32,
        pgid: i32,
        sid: i32,
        state: &str,
        name: &str,
        cgt: u64,
    ) -> String {
        status(pid, ppid, pgid, name, 0, cgt)
            + &format!("/proc/{pid}/status:State:\t{state} (x)\n/proc/{pid}/status:NSsid:\t{sid}\n")
    }

    #[test]
    fn parses_the_session_and_a_stopped_state() {
        let out = status_in(11, 10, 11, 10, "T", "stty", 0)
            + &status_in(12, 10, 10, 10, "S", "bash", 0)
            + &status_in(13, 10, 10, 10, "t", "traced", 0);
        let procs = parse(out.as_bytes());
        assert_eq!((procs[0].sid, procs[0].stopped), (10, true));
        assert_eq!((procs[1].sid, procs[1].stopped), (10, false));
        assert!(!procs[2].stopped);
    }

    #[test]
    fn ctrl_c_is_passed_on_to_the_cells_groups_of_their_own_then_judged_there() {
        // `timeout 100 sleep 1000`: the cell's shell waits for timeout, which made group 11;
        // sleep is in it. Another session's process (12, setsid) and a stranger (99) are not
        // the cell's.
        let out = status_in(10, 1, 10, 10, "S", "bash", INT)
            + &status_in(11, 10, 11, 10, "S", "timeout", INT)
            + &status_in(13, 11, 11, 10, "S", "sleep", 0)
            + &status_in(12, 10, 12, 12, "S", "daemon", 0)
            + &status_in(99, 1, 99, 99, "S", "sshd", INT);
        let procs = parse(out.as_bytes());
        assert_eq!(other_groups(&procs, 10, Shell::Cell), vec![11]);
        assert_eq!(
            judge(&procs, 10, Shell::Cell, false, &[]),
            Verdict::PassOn(vec![11])
        );
        // Passed on: timeout handles it (it sends it on to sleep) and gets its time.
        assert_eq!(
            judge(&procs, 10, Shell::Cell, false, &[11]),
            Verdict::Handling {
                pid: 11,
                name: "timeout".into()
            }
        );
        // Once only the shell and what ignores Ctrl-C are left: hang up.
        let out = status_in(10, 1, 10, 10, "S", "bash", INT)
            + &status(13, 10, 11, "sleep", INT, 0)
            + "/proc/13/status:NSsid:\t10\n";
        assert_eq!(
            judge(&parse(out.as_bytes()), 10, Shell::Cell, false, &[11]),
            Verdict::Ignoring
        );
    }

    #[test]
    fn a_stopped_process_of_the_cell_is_ended() {
        // `timeout 100 vim`: vim set the terminal from timeout's group, which is stopped.
        let out = status_in(10, 1, 10, 10, "S", "bash", INT)
            + &status_in(11, 10, 11, 10, "T", "timeout", INT)
            + &status_in(13, 11, 11, 10, "T", "vim", INT);
        let procs = parse(out.as_bytes());
        assert_eq!(
            judge(&procs, 10, Shell::Cell, false, &[]),
            Verdict::Stopped {
                pid: 11,
                name: "timeout".into()
            }
        );
        assert_eq!(other_groups(&procs, 10, Shell::Cell), vec![11]);
        // In a `%shell` session a stopped job is the user's (Ctrl-Z): the session's shell is
        // judged alone, and ended with Ctrl-D as before.
        assert_eq!(
            judge(&procs, 10, Shell::JobControl, false, &[]),
            Verdict::Handling {
                pid: 10,
                name: "bash".into()
            }
        );
        assert!(other_groups(&procs, 10, Shell::JobControl).is_empty());
        assert_eq!(
            stopped(&procs, 10, Shell::Cell),
            Some((11, "timeout".into()))
        );
        // Before the cell's pid is known (0), group 0 (the kernel's threads) is not the cell.
        let kthread = parse(status_in(2, 0, 0, 0, "T", "kthreadd", 0).as_bytes());
        assert_eq!(stopped(&kthread, 0, Shell::Cell), None);
        // Stopped in the cell's own group (Ctrl-Z reached it), too.
        let out = status_in(10, 1, 10, 10, "T", "bash", INT);
        assert!(matches!(
            judge(&parse(out.as_bytes()), 10, Shell::Cell, false, &[]),
            Verdict::Stopped { pid: 10, .. }
        ));
    }

    #[test]
    fn other_groups_never_name_every_process() {
        // A process claiming group 1 or 0 (garbage, or init's) is never a group to kill.
        let out = status_in(10, 1, 10, 10, "S", "bash", INT)
            + &status_in(11, 10, 1, 10, "S", "odd", 0)
            + &status_in(12, 10, 0, 10, "S", "odder", 0);
        assert_eq!(
            other_groups(&parse(out.as_bytes()), 10, Shell::Cell),
            Vec::<i32>::new()
        );
    }

    #[test]
    fn a_thousand_groups_are_cut_to_the_limit() {
        let mut out = status_in(10, 1, 10, 10, "S", "bash", INT);
        for pid in 100..1100 {
            out += &status_in(pid, 10, pid, 10, "S", "timeout", INT);
        }
        let groups = other_groups(&parse(out.as_bytes()), 10, Shell::Cell);
        assert_eq!(groups.len(), MAX_OTHER_GROUPS);
        assert_eq!(groups[0], 100);
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), pgid in -2i32..20) {
            let procs = parse(&bytes);
            let _ = judge(&procs, pgid, Shell::Cell, false, &[]);
            for g in other_groups(&procs, pgid, Shell::Cell) {
                prop_assert!(g > 1 && g != pgid);
            }
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
