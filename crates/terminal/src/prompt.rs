//! Is the program waiting for an answer? Decided from the renderer's state and how long the
//! output has been quiet; pure (the caller measures time and passes it in).
//!
//! The kernel feeds output to the [`Renderer`], calls [`Detector::output`], and calls
//! [`Detector::check`] after each chunk (idle zero) and on its timer ticks (idle = time since
//! the last output). A prompt is reported at most once per burst of output.
//!
//! What counts, in order:
//!
//! 1. **The kernel's own sudo prompt**: the cursor's line carries the per-cell marker the
//!    kernel put into sudo's prompt ([`sudo_prompt_argument`]). Certain, so recognised at
//!    once (idle zero is enough), even while a full-screen program holds the terminal: a
//!    password must never be typed through the key box. Both renderings count:
//!    classic sudo prints the argument with `%p` expanded
//!    (`[sshpty:M] password for ops: `); sudo-rs wraps it around PAM's own message,
//!    `[sudo: [sshpty:M] password for ops: ] Password: `, and versions before its prompt
//!    escapes (early 0.2) leave `%p` as it is. With `%p` unexpanded the user is unknown:
//!    [`SudoPrompt::user`] is empty and the text is `[sudo] password:`. When sudo-rs
//!    wraps a PAM message that is not a password question (an OTP code), the prompt is a
//!    password box without [`Prompt::sudo`], reported once output is quiet like any other
//!    password prompt: the kernel must not answer it with a cached password.
//! 2. **Password prompts** of other programs (su, passwd, ssh, key passphrases, mysql, PAM,
//!    OTP, Ansible's localized su words), after the output has been idle for
//!    [`IDLE_FOR_PROMPT`].
//! 3. **Questions** (`[y/N]`, `(yes/no)`, `Press ENTER`, `--More--`, `(END)`, and an
//!    unterminated line ending in `? ` or `: ` that does not look like progress or a log
//!    line), after the same idle time.
//!
//! Always: only the line where the cursor sits counts (text that scrolled past never does),
//! the cursor must be at the end of that line's text with nothing on the rows below, and
//! outside the kernel's sudo prompt nothing counts in screen mode (full-screen programs get
//! a key box instead). A false box blocks JupyterLab until it is answered, so every rule
//! errs towards silence: progress lines, spinners, `Downloading...`, log lines and text
//! streamed a token at a time never count. An unusual prompt that is missed leaves the cell
//! waiting, which an interrupt ends.

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use crate::Renderer;

/// Quiet time after which an ordinary or a generic password prompt counts. Colab waits
/// ~500 ms; a human notices a box after ~400 ms either way, and the shape rules, not the
/// delay, are what keeps progress output from counting (the corpora replay pauses of
/// 1–5 s).
pub const IDLE_FOR_PROMPT: Duration = Duration::from_millis(400);

/// Longest line taken as a password or choice prompt, in characters.
const MAX_PROMPT_CHARS: usize = 300;
/// Longest line the generic `? `/`: ` rules take: prompts are short, prose is not.
const MAX_GENERIC_CHARS: usize = 160;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKind {
    /// The answer is secret: a password box (`input_request` with `password: true`).
    Password,
    Text,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    /// What the input box shows: the prompt line as plain text, whitespace trimmed at both
    /// ends (JupyterLab puts a space between the prompt and the answer itself), e.g.
    /// `[sudo] password for ops:` for a sudo prompt. Never contains the sudo marker.
    pub text: String,
    /// Set when the line is the kernel's own sudo password prompt (the per-cell marker was
    /// found): only such a prompt may be answered with a remembered password.
    pub sudo: Option<SudoPrompt>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SudoPrompt {
    /// The user whose password sudo asks for (`%p`: the invoking user, or the target or
    /// root user with sudoers' `targetpw`/`rootpw`). Empty when sudo did not expand `%p`
    /// (sudo-rs before its prompt escapes): then the kernel's login user is the likely one,
    /// as sudo-rs asks for the invoking user's password.
    pub user: String,
}

/// The marker the kernel puts into sudo's prompt, as it appears on the screen.
#[derive(Debug)]
struct Marker {
    /// `[sshpty:MARKER] password for `: what both sudo renderings contain.
    tag: String,
    marker: String,
}

/// Watches the renderer for prompts; one per cell.
#[derive(Debug)]
pub struct Detector {
    marker: Option<Marker>,
    /// Output arrived since the last decision: the screen may show a new prompt.
    armed: bool,
}

/// The characters a marker keeps: sudo expands `%` escapes and the detector reads the
/// marker back from rendered text, so anything but these would not survive the trip.
fn clean_marker(marker: &str) -> String {
    marker
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

/// The prompt argument the kernel hands to sudo (`-p`, or better the `SUDO_PROMPT`
/// variable set for the sudo command alone: a process's arguments are readable by every
/// user in `/proc`, the environment of a setuid process is not) for a given marker:
/// `[sshpty:MARKER] password for %p: `. Classic sudo shows it with `%p` expanded; sudo-rs
/// shows `[sudo: <it>] Password: `, expanding `%p` since its prompt escapes were added.
/// The marker keeps only ASCII letters, digits, `_` and `-` (a hex or base64url nonce is
/// unchanged); [`Detector::new`] applies the same rule.
pub fn sudo_prompt_argument(marker: &str) -> String {
    format!("[sshpty:{}] password for %p: ", clean_marker(marker))
}

impl Detector {
    /// `sudo_marker`: the per-cell nonce the kernel put into sudo's prompt, if any (an
    /// empty one, after cleaning as [`sudo_prompt_argument`] does, counts as none).
    pub fn new(sudo_marker: Option<&str>) -> Detector {
        let marker = sudo_marker
            .map(clean_marker)
            .filter(|m| !m.is_empty())
            .map(|m| Marker {
                tag: format!("[sshpty:{m}] password for "),
                marker: m,
            });
        Detector {
            marker,
            armed: true,
        }
    }

    /// Output arrived (call after feeding the renderer): re-arms detection.
    pub fn output(&mut self) {
        self.armed = true;
    }

    /// Decide from the renderer's current state and how long output has been quiet.
    /// Returns a prompt at most once per burst of output (until [`output`](Self::output)
    /// is called again).
    pub fn check(&mut self, screen: &Renderer, idle: Duration) -> Option<Prompt> {
        if !self.armed {
            return None;
        }
        let settled = idle >= IDLE_FOR_PROMPT;
        if !settled && self.marker.is_none() {
            return None;
        }
        let found = if screen.cursor_at_line_end() {
            let line = screen.cursor_line();
            match self.sudo(&line, settled) {
                Some(p) => Some(p),
                // A line with the marker that is not one of sudo's renderings is garbled or
                // forged: no box may show the marker, and nothing answers it.
                None if self
                    .marker
                    .as_ref()
                    .is_some_and(|m| line.contains(&m.marker)) =>
                {
                    None
                }
                None if settled && !screen.screen_mode() => classify(&line),
                None => None,
            }
        } else {
            None
        };
        // Once settled the screen cannot change before more output: the decision is final
        // for this burst either way.
        if found.is_some() || settled {
            self.armed = false;
        }
        found
    }

    /// The kernel's sudo prompt on `line`, in either rendering.
    fn sudo(&self, line: &str, settled: bool) -> Option<Prompt> {
        let marker = self.marker.as_ref()?;
        let tag = &marker.tag;
        let at = line.rfind(tag.as_str())?;
        let before = &line[..at];
        let after = &line[at + tag.len()..];
        let colon = after.find(':')?;
        let user = &after[..colon];
        // A "user" holding the marker again is not what sudo prints, and the prompt text,
        // which shows the user, must never show the marker (found by fuzzing).
        if user.is_empty() || user.contains(char::is_whitespace) || user.contains(&marker.marker) {
            return None;
        }
        let rest = &after[colon + 1..];
        // sudo-rs: `[sudo: <our prompt>] <PAM message>`.
        let wrapped = before
            .rfind('[')
            .is_some_and(|i| before.ends_with(": ") && !before[i..].contains(']'));
        let user = if user == "%p" { "" } else { user };
        let sudo_text = |user: &str| {
            if user.is_empty() {
                "[sudo] password:".to_string()
            } else {
                format!("[sudo] password for {user}:")
            }
        };
        let password = |user: &str| Prompt {
            kind: PromptKind::Password,
            text: sudo_text(user),
            sudo: Some(SudoPrompt {
                user: user.to_string(),
            }),
        };
        if !wrapped {
            return rest.trim().is_empty().then(|| password(user));
        }
        let Some(msg) = rest.trim_start().strip_prefix(']') else {
            // The wrapper's end has not arrived yet; a line that never gets one is taken
            // as the classic form once quiet.
            return (settled && rest.trim().is_empty()).then(|| password(user));
        };
        let msg = msg.trim();
        // sudo-rs prints PAM's message, which never holds the marker: a message that does is
        // forged or garbled, and the box would show it (found by fuzzing).
        if msg.contains(&marker.marker) {
            return None;
        }
        if PASSWORD_WORD.is_match(msg) {
            return Some(password(user));
        }
        // Another PAM question through sudo-rs (an OTP code): sudo asks, so it is secret,
        // but it is not the password, and it is not ours to answer at once: it waits for
        // quiet as any other password prompt does, only without the marker in its text.
        (settled && !msg.is_empty()).then(|| Prompt {
            kind: PromptKind::Password,
            text: format!("[sudo] {msg}"),
            sudo: None,
        })
    }
}

/// A prompt by its shape, for a line the output stopped on.
fn classify(line: &str) -> Option<Prompt> {
    let text = line.trim();
    let n = text.chars().count();
    // U+FFFD: invalid UTF-8, binary output, never a prompt.
    if n == 0 || n > MAX_PROMPT_CHARS || text.contains('\u{fffd}') || text.contains('\u{7f}') {
        return None;
    }
    let prompt = |kind| {
        Some(Prompt {
            kind,
            text: text.to_string(),
            sudo: None,
        })
    };
    if PASSWORD_EN.is_match(text) || PASSWORD_WORD.is_match(text) {
        return prompt(PromptKind::Password);
    }
    if is_choice(text) || PRESS_KEY.is_match(text) || PAGER.is_match(text) {
        return prompt(PromptKind::Text);
    }
    if generic_question(line, text) {
        return prompt(PromptKind::Text);
    }
    None
}

/// English password questions: `Password:`, `[sudo] password for ops:`, `ops@host's
/// password:`, `Enter passphrase for key '/k':`, `Enter passphrase (empty for no
/// passphrase):`, `Retype new password:`, `Verification code:`, `One-time password (OATH)
/// for 'ops':`, `Password for 'https://u@github.com':`, `Enter PIN for 'token':`.
static PASSWORD_EN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:^|[^\p{L}\p{N}_])(?:password|passphrase|pass phrase|passcode|pin|verification code|otp|one-time code|security code|authentication code|token code)(?:\s*\([^()]{0,60}\))?(?:\s+(?:for|of)\s+.{1,100}?)?(?:\s*\([^()]{0,60}\))?(?:\s+again)?\s?[:：]$",
    )
    .expect("static regex")
});

/// Ansible's su prompt words (`SU_PROMPT_LOCALIZATIONS` in
/// `lib/ansible/plugins/become/su.py`), matched as Ansible does, `(\w+'s )?WORD ?(:|：) ?`,
/// at the end of the line. Words in a Latin or Cyrillic script must start a word; the
/// others (CJK, Korean, Hebrew, Indic scripts) are not separated by spaces.
const SU_WORDS_SPACED: &[&str] = &[
    "Password",
    "Adgangskode",
    "Contraseña",
    "Contrasenya",
    "Hasło",
    "Heslo",
    "Jelszó",
    "Lösenord",
    "Mật khẩu",
    "Mot de passe",
    "Parola",
    "Parool",
    "Pasahitza",
    "Passord",
    "Passwort",
    "Salasana",
    "Sandi",
    "Senha",
    "Wachtwoord",
    "Лозинка",
    "Парола",
    "Пароль",
];
const SU_WORDS_UNSPACED: &[&str] = &[
    "암호",
    "パスワード",
    "ססמה",
    "गुप्तशब्द",
    "शब्दकूट",
    "సంకేతపదము",
    "හස්පදය",
    "密码",
    "密碼",
    "口令",
];

static PASSWORD_WORD: LazyLock<Regex> = LazyLock::new(|| {
    let spaced: Vec<String> = SU_WORDS_SPACED.iter().map(|w| regex::escape(w)).collect();
    let unspaced: Vec<String> = SU_WORDS_UNSPACED.iter().map(|w| regex::escape(w)).collect();
    Regex::new(&format!(
        r"(?i)(?:(?:^|[^\p{{L}}\p{{N}}_])(?:{})|(?:{})) ?[:：]$",
        spaced.join("|"),
        unspaced.join("|")
    ))
    .expect("static regex")
});

/// `Press ENTER to continue`, `Press any key`, `Press [ENTER] to continue`, `Hit RETURN`.
static PRESS_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:^|[^\p{L}])(?:press|hit)\s+(?:the\s+)?[\[<]?(?:enter|return|any\s+key|a\s+key|space(?:\s*bar)?)\b",
    )
    .expect("static regex")
});

/// `more`'s `--More--` / `--More--(42%)` and less's `(END)`.
static PAGER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:--\s?More\s?--(?:\(\d{1,3}%\))?|\(END\))$").expect("static regex")
});

/// A bracketed choice at the end: `[y/N]`, `[Y/n]`, `(y/n)`, `(yes/no)`,
/// `(yes/no/[fingerprint])?`, `Is this ok [y/N]:`, `Proceed ([y]/n)?`, dpkg's
/// `(Y/I/N/O/D/Z) [default=N] ?`.
static CHOICE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:\((?P<p>[^()]{1,40})\)|\[(?P<b>(?:[^\[\]]|\[[^\[\]]{0,20}\]){1,40})\])(?:\s*\[default=[^\[\]]{1,10}\])?\s?[?:]?$",
    )
    .expect("static regex")
});

fn is_choice(text: &str) -> bool {
    let Some(c) = CHOICE.captures(text) else {
        return false;
    };
    let Some(inner) = c.name("p").or_else(|| c.name("b")) else {
        return false;
    };
    let alts: Vec<String> = inner
        .as_str()
        .split('/')
        .map(|a| {
            a.replace(['[', ']'], " ")
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase()
        })
        .collect();
    if alts.len() < 2
        || alts
            .iter()
            .any(|a| a.is_empty() || a.len() > 12 || !a.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return false;
    }
    // `[text/html]` is a bracketed pair of words too: an answer list has a yes and a no,
    // or is made of single letters.
    let has = |words: &[&str]| alts.iter().any(|a| words.contains(&a.as_str()));
    alts.iter().all(|a| a.len() == 1) || (has(&["y", "yes"]) && has(&["n", "no"]))
}

/// Signs of progress output or logs: percentages, rates, sizes, times, ellipses, bars and
/// spinners.
static PROGRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\d\s*%|\.\.\.|…|\d\s*(?:[kmgt]i?)?b/s|\d\s*[kmgt]i?b\b|\beta\b|\d:\d\d|[\u{2800}-\u{28ff}]|[█▏▎▍▌▋▊▉░▒▓■□]|#{3}|={3}|-{3}|^\s*\[?\s*\d+(?:\.\d+)?\s*\]|^\[?(?:info|debug|warn|warning|error|err|trace|notice|fatal|crit|critical)\b",
    )
    .expect("static regex")
});

/// An unterminated line ending in `? ` or `: ` (the space typed after by the program, as
/// `read -p 'name? '` and `input('q? ')` do): a question, unless it looks like progress
/// or a log line. The trailing space is required: text streamed a token at a time stops on
/// `?` or `:` with the space still to come, a prompt waits after it.
fn generic_question(line: &str, text: &str) -> bool {
    if !line.ends_with(char::is_whitespace) || text.chars().count() > MAX_GENERIC_CHARS {
        return false;
    }
    if !text.chars().any(char::is_alphabetic) || PROGRESS.is_match(text) {
        return false;
    }
    let mut chars = text.chars().rev();
    let last = chars.next();
    let before = chars.next();
    if last == Some('?') {
        // `?` after a URL's path is a query string, not a question.
        let last_word = text.split_whitespace().last().unwrap_or("");
        return !last_word.contains("://");
    }
    if !matches!(last, Some(':' | '：')) {
        return false;
    }
    // `: ` after a word, a parenthesis or a quote: `login: `, `Username for 'https://h': `,
    // `Enter file in which to save the key (/root/.ssh/id_ed25519): `. Not after a digit
    // (times, counters) and not on lines of progress verbs (`Receiving objects: `,
    // `Downloading: `, `Saving to: `).
    let Some(before) = before else { return false };
    if !(before.is_alphabetic() || matches!(before, ')' | '\'' | '"' | '’' | '`')) {
        return false;
    }
    if text.split_whitespace().count() > 12 {
        return false;
    }
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches(|c: char| !c.is_alphabetic())
        .to_lowercase();
    !(first.len() > 4 && first.ends_with("ing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTLED: Duration = Duration::from_secs(2);

    fn screen(bytes: &str) -> Renderer {
        let mut r = Renderer::new(80, 24);
        r.feed(bytes.as_bytes());
        r
    }

    fn detect(marker: Option<&str>, bytes: &str, idle: Duration) -> Option<Prompt> {
        let r = screen(bytes);
        let mut d = Detector::new(marker);
        d.output();
        d.check(&r, idle)
    }

    fn kind(bytes: &str) -> Option<PromptKind> {
        detect(None, bytes, SETTLED).map(|p| p.kind)
    }

    #[test]
    fn classic_sudo_prompt_at_once() {
        let arg = sudo_prompt_argument("a1b2c3");
        assert_eq!(arg, "[sshpty:a1b2c3] password for %p: ");
        let shown = arg.replace("%p", "ops");
        let p = detect(Some("a1b2c3"), &shown, Duration::ZERO).unwrap();
        assert_eq!(p.kind, PromptKind::Password);
        assert_eq!(p.text, "[sudo] password for ops:");
        assert_eq!(p.sudo, Some(SudoPrompt { user: "ops".into() }));
        assert!(!p.text.contains("a1b2c3"));
    }

    /// Regression (fuzz target `prompt`): text after the marker that repeats it before the
    /// colon was taken as the user name of the kernel's sudo prompt, whose text then showed
    /// the marker. It is no sudo rendering, so no prompt at all.
    #[test]
    fn a_user_name_holding_the_marker_is_no_sudo_prompt() {
        let shown = "[sshpty:a1b2c3] password for ops%[s*a1b2c3hpty: ";
        assert_eq!(detect(Some("a1b2c3"), shown, Duration::ZERO), None);
        assert_eq!(detect(Some("a1b2c3"), shown, SETTLED), None);
    }

    /// Regression (fuzz target `prompt`): a sudo-rs PAM message holding the marker was
    /// shown in the box.
    #[test]
    fn a_pam_message_holding_the_marker_is_no_prompt() {
        let shown = "[sudo: [sshpty:a1b2c3] password for ops: ] Verifhpty:a1b2c3[ code: ";
        assert_eq!(detect(Some("a1b2c3"), shown, Duration::ZERO), None);
        assert_eq!(detect(Some("a1b2c3"), shown, SETTLED), None);
    }

    #[test]
    fn sudo_rs_prompt_at_once() {
        let arg = sudo_prompt_argument("a1b2c3");
        for (shown, user) in [
            (
                format!("[sudo: {}] Password: ", arg.replace("%p", "ops")),
                "ops",
            ),
            (format!("[sudo: {arg}] Password: "), ""),
        ] {
            let p = detect(Some("a1b2c3"), &shown, Duration::ZERO).unwrap();
            assert_eq!(p.kind, PromptKind::Password);
            assert_eq!(p.sudo, Some(SudoPrompt { user: user.into() }));
            let want = if user.is_empty() {
                "[sudo] password:".to_string()
            } else {
                format!("[sudo] password for {user}:")
            };
            assert_eq!(p.text, want);
        }
    }

    #[test]
    fn sudo_rs_other_pam_question_is_not_the_password() {
        let shown = "[sudo: [sshpty:m1] password for ops: ] Verification code: ";
        assert_eq!(detect(Some("m1"), shown, Duration::ZERO), None);
        let p = detect(Some("m1"), shown, SETTLED).unwrap();
        assert_eq!(p.kind, PromptKind::Password);
        assert_eq!(p.sudo, None);
        assert_eq!(p.text, "[sudo] Verification code:");
    }

    #[test]
    fn partial_sudo_rs_prompt_waits() {
        let partial = "[sudo: [sshpty:m1] password for ops: ";
        assert_eq!(detect(Some("m1"), partial, Duration::ZERO), None);
        assert_eq!(
            detect(Some("m1"), "[sshpty:m1] password for op", Duration::ZERO),
            None
        );
    }

    #[test]
    fn wrong_marker_is_a_generic_prompt_only_when_idle() {
        let shown = "[sshpty:other] password for ops: ";
        assert_eq!(detect(Some("m1"), shown, Duration::ZERO), None);
        let p = detect(Some("m1"), shown, SETTLED).unwrap();
        assert_eq!(p.kind, PromptKind::Password);
        assert_eq!(p.sudo, None);
    }

    #[test]
    fn marker_on_a_line_that_scrolled_past_is_nothing() {
        let bytes = "[sshpty:m1] password for ops: \r\nSorry, try again.\r\n";
        assert_eq!(detect(Some("m1"), bytes, SETTLED), None);
    }

    #[test]
    fn generic_password_prompts() {
        for p in [
            "Password: ",
            "[sudo] password for ops: ",
            "ops@127.0.0.1's password: ",
            "Enter passphrase for key '/root/.ssh/id_ed25519': ",
            "Enter passphrase (empty for no passphrase): ",
            "Enter same passphrase again: ",
            "Enter password: ",
            "New password: ",
            "Retype new password: ",
            "Current password: ",
            "Verification code: ",
            "One-time password (OATH) for `ops': ",
            "Password for 'https://bob@github.com': ",
            "Enter PIN for 'PIV Card': ",
            "Passwort: ",
            "Mot de passe : ",
            "Contraseña: ",
            "密码：",
            "パスワード:",
            "Пароль: ",
            "암호:",
            "Bob's Passwort: ",
        ] {
            assert_eq!(kind(p), Some(PromptKind::Password), "{p:?}");
        }
    }

    #[test]
    fn text_prompts() {
        for p in [
            "name? ",
            "q? ",
            "Do you want to continue? [Y/n] ",
            "Is this ok [y/N]: ",
            "Proceed ([y]/n)? ",
            "Continue (y/n)",
            "Are you sure you want to continue connecting (yes/no/[fingerprint])? ",
            "Overwrite? (yes/no) ",
            "Press ENTER to continue",
            "Press any key to continue . . .",
            "Press [ENTER] to continue: ",
            "--More--",
            "--More--(42%)",
            "(END)",
            "login: ",
            "Username for 'https://github.com': ",
            "Enter file in which to save the key (/root/.ssh/id_ed25519): ",
            "*** sshd_config (Y/I/N/O/D/Z) [default=N] ? ",
            "cp: overwrite 'b'? ",
        ] {
            assert_eq!(kind(p), Some(PromptKind::Text), "{p:?}");
        }
    }

    #[test]
    fn not_prompts() {
        for p in [
            "",
            "   ",
            "45%",
            " 45% [=====>      ] 12.3MiB/s  eta 3s",
            "Downloading...",
            "Connecting to host... ",
            "Reading package lists... ",
            "Receiving objects:  45% (123/456) ",
            "Downloading: ",
            "Saving to: ",
            "INFO: ",
            "12:00: ",
            "Length: 1234 (1.2K) [text/html]",
            "0% [Working]",
            "How are you?",
            "key: value",
            "http://example.com/? ",
            "⠋ ",
            "[3/7] ",
            "done",
            "Changing password for ops.",
            "passwd: password updated successfully",
            "\u{fffd}\u{fffd}? ",
        ] {
            assert_eq!(kind(p), None, "{p:?}");
        }
    }

    #[test]
    fn ordinary_prompts_wait_for_quiet() {
        assert_eq!(detect(None, "Password: ", Duration::from_millis(100)), None);
        assert_eq!(detect(None, "name? ", Duration::from_millis(399)), None);
        assert!(detect(None, "name? ", IDLE_FOR_PROMPT).is_some());
    }

    #[test]
    fn only_the_cursor_line_counts() {
        assert_eq!(kind("Password:\r\nmore output\r\n"), None);
        assert_eq!(kind("Password:\r\n"), None);
        // The cursor not at the end of the text: the program is drawing.
        assert_eq!(kind("Password: \x1b[5D"), None);
        // Text below the cursor: a status line.
        assert_eq!(kind("\r\nProgress: 40%\x1b[A\rname? "), None);
    }

    #[test]
    fn nothing_in_screen_mode_but_the_sudo_marker() {
        assert_eq!(kind("\x1b[?1049hname? "), None);
        let p = detect(
            Some("m1"),
            "\x1b[?1049h[sshpty:m1] password for ops: ",
            Duration::ZERO,
        );
        assert!(p.is_some_and(|p| p.sudo.is_some()));
    }

    #[test]
    fn once_per_burst() {
        let mut r = screen("name? ");
        let mut d = Detector::new(None);
        assert!(d.check(&r, SETTLED).is_some());
        assert_eq!(d.check(&r, SETTLED), None);
        r.feed(b"x");
        d.output();
        assert_eq!(d.check(&r, SETTLED), None);
        r.feed(b"\r\nagain? ");
        d.output();
        assert!(d.check(&r, Duration::ZERO).is_none());
        assert!(d.check(&r, SETTLED).is_some());
    }

    #[test]
    fn text_is_trimmed_plain_text() {
        let p = detect(None, "\x1b[1mname?\x1b[0m   ", SETTLED).unwrap();
        assert_eq!(p.text, "name?");
    }

    #[test]
    fn markers_are_cleaned_the_same_way_on_both_sides() {
        let arg = sudo_prompt_argument("a%b c]d");
        assert_eq!(arg, "[sshpty:abcd] password for %p: ");
        let shown = arg.replace("%p", "ops");
        assert!(detect(Some("a%b c]d"), &shown, Duration::ZERO).is_some());
        assert!(Detector::new(Some("%%")).marker.is_none());
    }
}
