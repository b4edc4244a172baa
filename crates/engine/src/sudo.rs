//! The sudo password, remembered per host and user as sudo remembers a user (issue 5):
//! five minutes after its last use, zeroised in memory, never written anywhere, and given
//! only to the kernel's own sudo prompt (its per-cell marker), never to any other prompt.
//! Unattended runbooks name a source instead (`%sudo password-from-command|-from-env`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::secret_command::SecretCommand;

/// How long a password is remembered after its last use.
pub const REMEMBER_FOR: Duration = Duration::from_secs(5 * 60);
/// How long `%sudo password-from-command` may take.
pub const SOURCE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where an unattended run's sudo password comes from, per host.
pub enum Source {
    /// Run on the kernel's machine; its first line is the password.
    Command(SecretCommand),
    /// The value of an environment variable of the kernel, read once.
    Env(Zeroizing<String>),
}

struct Entry {
    password: Zeroizing<String>,
    last_used: Instant,
}

pub struct SudoCache {
    on: bool,
    /// `sshpty install --no-sudo-cache`: an administrator's choice a cell cannot undo.
    allowed: bool,
    entries: HashMap<(String, String), Entry>,
    sources: HashMap<String, Source>,
}

impl SudoCache {
    pub fn new(allowed: bool) -> SudoCache {
        SudoCache {
            on: allowed,
            allowed,
            entries: HashMap::new(),
            sources: HashMap::new(),
        }
    }

    pub fn on(&self) -> bool {
        self.on
    }

    /// `%sudo cache on|off`. Returns false (and changes nothing) if the kernel was
    /// installed with the cache disabled and `on` asks for it.
    #[must_use]
    pub fn set_on(&mut self, on: bool) -> bool {
        if on && !self.allowed {
            return false;
        }
        self.on = on;
        if !on {
            self.entries.clear();
        }
        true
    }

    /// The remembered password for `user` on `host`, if used within [`REMEMBER_FOR`].
    pub fn get(&mut self, host: &str, user: &str, now: Instant) -> Option<Zeroizing<String>> {
        let key = (host.to_owned(), user.to_owned());
        let fresh = self
            .entries
            .get(&key)
            .is_some_and(|e| now.saturating_duration_since(e.last_used) < REMEMBER_FOR);
        if !fresh {
            self.entries.remove(&key);
            return None;
        }
        self.entries.get(&key).map(|e| e.password.clone())
    }

    /// sudo took `password` (typed, from a source or remembered): remember it from now.
    pub fn remember(&mut self, host: &str, user: &str, password: Zeroizing<String>, now: Instant) {
        if !self.on {
            return;
        }
        self.entries.insert(
            (host.to_owned(), user.to_owned()),
            Entry {
                password,
                last_used: now,
            },
        );
    }

    /// sudo refused the password, `sudo -k` ran, or the user logged out: forget the host.
    pub fn forget_host(&mut self, host: &str) {
        self.entries.retain(|(h, _), _| h != host);
    }

    /// `%sudo forget`: every remembered password (sources stay: they were named on purpose).
    pub fn forget_all(&mut self) {
        self.entries.clear();
    }

    pub fn set_source(&mut self, host: &str, source: Source) {
        self.sources.insert(host.to_owned(), source);
    }

    pub fn source(&self, host: &str) -> Option<&Source> {
        self.sources.get(host)
    }

    pub fn drop_source(&mut self, host: &str) {
        self.sources.remove(host);
    }
}

/// Run a source command on the kernel's machine and take its first line. It runs in a
/// process group of its own, killed whole when it overruns [`SOURCE_TIMEOUT`] (a store
/// waiting for a passphrase nobody can type), so nothing it started is left waiting. The
/// command is told the host it answers for in `SSHPTY_HOST` (a store keeps one password per
/// host: `pass show sudo/$SSHPTY_HOST`).
pub async fn from_command(
    command: &SecretCommand,
    host: &str,
) -> Result<Zeroizing<String>, String> {
    from_command_within(command, host, SOURCE_TIMEOUT).await
}

async fn from_command_within(
    command: &SecretCommand,
    host: &str,
    limit: Duration,
) -> Result<Zeroizing<String>, String> {
    let mut cmd = match command {
        SecretCommand::Shell(text) => {
            let mut c = tokio::process::Command::new("/bin/sh");
            c.arg("-c").arg(text);
            c
        }
        SecretCommand::Argv(words) => {
            let mut c = tokio::process::Command::new(&words[0]);
            c.args(&words[1..]);
            c
        }
    };
    targets::limits::as_started(&mut cmd);
    let child = cmd
        .env("SSHPTY_HOST", host)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot run the password command ({}): {e}",
                command.describe()
            )
        })?;
    // Killed whole if the wait is given up: the timeout below, or the caller dropping it (an
    // interrupt).
    let mut group = Group(child.id().and_then(|p| i32::try_from(p).ok()));
    let out = match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(out) => {
            group.0 = None;
            out.map_err(|e| format!("the password command failed: {e}"))?
        }
        Err(_) => {
            drop(group);
            return Err(format!(
                "the password command ({}) did not finish within {} s and was stopped; {}",
                command.describe(),
                limit.as_secs(),
                NO_TERMINAL
            ));
        }
    };
    let stdout = Zeroizing::new(out.stdout);
    if !out.status.success() {
        // Its stderr says why (a locked vault); its stdout is never shown.
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.trim();
        let hint = if wants_a_passphrase(why) {
            format!("; {NO_TERMINAL}")
        } else {
            String::new()
        };
        return Err(format!(
            "the password command ({}) failed ({}): {why}{hint}",
            command.describe(),
            out.status,
        ));
    }
    let line = stdout.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err("the password command printed no password".into());
    }
    String::from_utf8(line.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| "the password command printed something that is not UTF-8".into())
}

/// A password command's process group, killed when this is dropped before the command
/// ended, so nothing it started is left waiting.
struct Group(Option<i32>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// What to do when a store waits for a passphrase: the kernel has no terminal to ask on.
const NO_TERMINAL: &str = "a store that asks for a passphrase (gpg's pinentry) cannot ask here: \
the kernel has no terminal. Unlock it first where it can ask (gpg-agent then keeps the \
passphrase for a while: `gpg --decrypt` of any of its files in a terminal of your server), \
use a store key without a passphrase, or %sudo password-from-env";

/// Whether a failed store command's stderr says it needed a passphrase it could not ask for
/// (gpg through pinentry without a terminal; pass prints gpg's words).
fn wants_a_passphrase(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    [
        "pinentry",
        "inappropriate ioctl",
        "no such device or address",
        "passphrase",
        "no secret key",
    ]
    .iter()
    .any(|w| s.contains(w))
}

/// Whether shell text runs `sudo -k` or `-K` (sudo forgets its timestamp: the kernel
/// forgets the password too). A plain text scan: a false positive only forgets.
pub fn invalidates(code: &str) -> bool {
    let words: Vec<&str> = code
        .split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')'))
        .filter(|w| !w.is_empty())
        .collect();
    words.windows(2).any(|w| {
        w[0] == "sudo"
            && w[1].starts_with('-')
            && !w[1].starts_with("--")
            && w[1][1..].contains(['k', 'K'])
    }) || code.contains("sudo --reset-timestamp")
        || code.contains("sudo --remove-timestamp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_for_five_minutes_after_last_use() {
        let mut c = SudoCache::new(true);
        let t0 = Instant::now();
        c.remember("h", "ops", Zeroizing::new("pw".into()), t0);
        assert_eq!(
            c.get("h", "ops", t0 + Duration::from_secs(299))
                .as_deref()
                .map(String::as_str),
            Some("pw")
        );
        assert!(c.get("h", "root", t0).is_none());
        assert!(c.get("other", "ops", t0).is_none());
        assert!(c.get("h", "ops", t0 + REMEMBER_FOR).is_none());
        // Gone for good once expired.
        assert!(c.get("h", "ops", t0).is_none());
    }

    #[test]
    fn off_remembers_nothing_and_the_administrator_wins() {
        let mut c = SudoCache::new(false);
        assert!(!c.on());
        assert!(!c.set_on(true));
        c.remember("h", "ops", Zeroizing::new("pw".into()), Instant::now());
        assert!(c.get("h", "ops", Instant::now()).is_none());
        let mut c = SudoCache::new(true);
        c.remember("h", "ops", Zeroizing::new("pw".into()), Instant::now());
        assert!(c.set_on(false));
        assert!(c.get("h", "ops", Instant::now()).is_none());
    }

    #[test]
    fn forgetting() {
        let mut c = SudoCache::new(true);
        let t = Instant::now();
        c.remember("a", "ops", Zeroizing::new("1".into()), t);
        c.remember("b", "ops", Zeroizing::new("2".into()), t);
        c.forget_host("a");
        assert!(c.get("a", "ops", t).is_none());
        assert!(c.get("b", "ops", t).is_some());
        c.forget_all();
        assert!(c.get("b", "ops", t).is_none());
    }

    #[test]
    fn sudo_k_is_seen() {
        assert!(invalidates("sudo -k"));
        assert!(invalidates("ls; sudo -K"));
        assert!(invalidates("sudo -kv && ls"));
        assert!(invalidates("sudo --reset-timestamp"));
        assert!(!invalidates("sudo ls -k"));
        assert!(!invalidates("sudo whoami"));
        assert!(!invalidates("echo sudo"));
    }

    /// Whether a process matching `marker` still runs after up to 5 s.
    fn still_running(marker: &str) -> bool {
        for _ in 0..50 {
            let out = std::process::Command::new("pgrep")
                .args(["-f", marker])
                .output()
                .unwrap();
            if !out.status.success() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    }

    fn sh(text: &str) -> SecretCommand {
        SecretCommand::Shell(text.into())
    }

    #[tokio::test]
    async fn source_command_gives_its_first_line() {
        assert_eq!(
            from_command(&sh("printf 'secret\\nrest\\n'"), "h1")
                .await
                .unwrap()
                .as_str(),
            "secret"
        );
        assert!(
            from_command(&sh("exit 3"), "h1")
                .await
                .unwrap_err()
                .contains("failed")
        );
        assert!(
            from_command(&sh("true"), "h1")
                .await
                .unwrap_err()
                .contains("no password")
        );
        // argv: no shell between, so `;` is just an argument of printf.
        let argv = SecretCommand::Argv(["printf", "%s\\n", "a;b"].map(String::from).to_vec());
        assert_eq!(from_command(&argv, "h1").await.unwrap().as_str(), "a;b");
        // Told which host it answers for.
        assert_eq!(
            from_command(&sh("echo \"pw-$SSHPTY_HOST\""), "web07")
                .await
                .unwrap()
                .as_str(),
            "pw-web07"
        );
        let missing = SecretCommand::Argv(vec!["/nonexistent/store".into()]);
        assert!(
            from_command(&missing, "h1")
                .await
                .unwrap_err()
                .contains("cannot run")
        );
    }

    #[tokio::test]
    async fn a_store_asking_for_a_passphrase_says_what_to_do() {
        let e = from_command(&sh(
            "echo 'gpg: public key decryption failed: Inappropriate ioctl for device' >&2; exit 2",
        ), "h1")
        .await
        .unwrap_err();
        assert!(
            e.contains("Inappropriate ioctl") && e.contains("no terminal"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn an_overrunning_command_is_stopped_with_what_it_started() {
        // Durations no other process uses: 28.PID and 29.PID seconds.
        let pid = std::process::id();
        let marker = format!("sleep 2[89].{pid}");
        // A child in the background, as a store's helper would be: the whole group goes.
        let text = format!("sleep 28.{pid} & sleep 29.{pid}");
        let e = from_command_within(&sh(&text), "h1", Duration::from_millis(500))
            .await
            .unwrap_err();
        assert!(
            e.contains("did not finish within") && e.contains("no terminal"),
            "{e}"
        );
        let left = still_running(&marker);
        assert!(!left, "the timed-out command is still running");
    }

    /// An interrupt drops the wait for the command: its whole group goes at once.
    #[tokio::test]
    async fn a_command_whose_wait_is_dropped_is_stopped_with_what_it_started() {
        let pid = std::process::id();
        let marker = format!("sleep 3[89].{pid}");
        let text = format!("sleep 38.{pid} & sleep 39.{pid}");
        let waited =
            tokio::time::timeout(Duration::from_millis(500), from_command(&sh(&text), "h1")).await;
        assert!(waited.is_err(), "the command ended by itself");
        let left = still_running(&marker);
        assert!(
            !left,
            "the command is still running after its wait was dropped"
        );
    }
}
