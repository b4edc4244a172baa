//! Resolves the host given to `%login` the way OpenSSH's `ssh` does (ssh_config(5), OpenSSH 9.2
//! as measured with `ssh -G`): command-line flags and `-o` options, then the user's file (`-F`
//! or `~/.ssh/config`), then `/etc/ssh/ssh_config` (not with `-F`); for each keyword the first
//! value obtained wins, except `IdentityFile` and `CertificateFile`, which accumulate.
//!
//! Pure: file contents come through the `read` and `glob` callbacks, so everything here is
//! unit- and property-tested without a file system.
//!
//! # Why not the `ssh2-config` crate
//! Measured with ssh2-config 0.9.0, parsing with `ALLOW_UNKNOWN_FIELDS | ALLOW_UNSUPPORTED_FIELDS`
//! and calling `query("web")`:
//! - `Host web` / `User alice` / `Match user bob` / `Port 2222` gives port 2222: `Match` is an
//!   unknown field to it, so the lines under it stay in the previous `Host` block and are applied
//!   to the wrong host. `Match host other` / `User root` / `Host web` gives user root for `web`.
//!   With `ParseRule::STRICT` it refuses the whole file instead ("unknown field: Match"), which
//!   breaks on Fedora's stock `Match final all`.
//! - Two `CertificateFile` lines keep only the last one (ssh uses both, in order).
//! - Two `ProxyCommand` lines in one block: the last wins, split into words.
//! - `HostName %h.example.com` stays unexpanded; `Include` reads the real file system.
//!
//! So this is a focused parser of the directives we use, following readconf.c.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha1::{Digest, Sha1};

/// What `%login [-p PORT] [-i KEY]... [-J JUMP] [-F CONFIG] [-o K=V]... [user@]HOST` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LoginRequest {
    /// The host as typed: the name `Host` patterns are matched against (`%n`).
    pub host: String,
    /// The `user@` part. Like ssh, it counts only when no `-o User=` is given.
    pub user: Option<String>,
    /// `-p`
    pub port: Option<u16>,
    /// `-i`, in order.
    pub identities: Vec<String>,
    /// `-J`, as written (`user@host:port,host2`).
    pub jump: Option<String>,
    /// `-F`; `none` reads no configuration file at all, as in ssh(1).
    pub config_file: Option<PathBuf>,
    /// `-o Key=Value`, in order; each is one configuration line.
    pub options: Vec<(String, String)>,
}

/// StrictHostKeyChecking (ssh_config(5)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StrictHostKeyChecking {
    /// Ask before adding an unknown key (the default).
    #[default]
    Ask,
    /// Add unknown keys without asking; refuse changed ones.
    AcceptNew,
    /// Never add keys: unknown hosts are refused.
    Yes,
    /// `no` / `off`: add unknown keys without asking.
    No,
}

/// One ProxyJump hop, `[user@]host[:port]` (or `ssh://[user@]host[:port]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jump {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl fmt::Display for Jump {
    /// As `-J` takes it back: an IPv6 address in brackets, so its colons are not a port.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

/// The local facts tokens and `~` expand to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEnv {
    /// `~` and `%d`.
    pub home: PathBuf,
    /// `%u`, and the remote user when nothing names one.
    pub local_user: String,
    /// `%l` (with domain); `%L` is its first label.
    pub local_host: String,
}

/// Everything the connection needs to know about one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// The host as typed (`%n`).
    pub alias: String,
    /// HostName with `%h` expanded, lowercased as ssh does; the alias when none is given.
    pub hostname: String,
    pub user: String,
    pub port: u16,
    /// All identity files, in order (`-i` first), `~` and tokens expanded; OpenSSH's default
    /// list when none is given.
    pub identity_files: Vec<PathBuf>,
    /// Whether `identity_files` came from `-i` or the configuration; the defaults are only to
    /// be tried when they exist.
    pub identity_files_given: bool,
    pub identities_only: bool,
    pub certificate_files: Vec<PathBuf>,
    /// Hops in connection order (the first one is dialled first); empty for none.
    pub proxy_jump: Vec<Jump>,
    /// `%h %p %r %n %%` expanded; run with the user's shell, its stdio being the transport.
    pub proxy_command: Option<String>,
    pub forward_agent: bool,
    /// Empty for `UserKnownHostsFile none`.
    pub user_known_hosts_files: Vec<PathBuf>,
    pub global_known_hosts_files: Vec<PathBuf>,
    pub strict_host_key_checking: StrictHostKeyChecking,
    pub hash_known_hosts: bool,
    /// Zero disables keepalives (ServerAliveInterval 0). Ours is 15 s when nothing is said.
    pub server_alive_interval: Duration,
    pub server_alive_count_max: u32,
    /// Zero means no timeout of our own (ConnectTimeout 0). Ours is 10 s when nothing is said.
    pub connect_timeout: Duration,
    /// SendEnv patterns (`*`, `?`), after `-PATTERN` removals: the kernel's variables whose
    /// names match are asked for on every session channel (see `send_env::to_send`).
    pub send_env: Vec<String>,
    /// SetEnv `NAME=VALUE` pairs, sent on every session channel after the SendEnv ones.
    pub set_env: Vec<(String, String)>,
    /// BatchMode: no question is ever asked (host key, passphrase, password, prompts).
    pub batch_mode: bool,
    /// Ciphers, MACs, KexAlgorithms, HostKeyAlgorithms as written (OpenSSH's `+`/`-`/`^`
    /// list syntax); `algorithms::assemble` applies them to what russh offers.
    pub algorithms: AlgorithmSpecs,
    /// RequiredRSASize: smaller RSA host keys are refused, smaller RSA user keys not offered.
    pub required_rsa_size: u32,
    /// Directives that would change behaviour and are not honoured, `Match` blocks not
    /// applied for criteria sshpty does not evaluate (`exec`...), malformed lines: each once,
    /// with `file:line`.
    pub warnings: Vec<String>,
}

impl HostConfig {
    /// The request for the proxy that carries our connection when ProxyJump is set: the last
    /// hop, reached through the hops before it. This is what ssh(1) runs for `-J` (ssh.c:
    /// `ssh -l USER -p PORT -J EARLIER -F CONFIG -W %h:%p LAST`): the hop is resolved through
    /// the configuration as a host of its own (its User, IdentityFile... apply; ours do not),
    /// and the earlier hops, given as its `-J`, override its own ProxyJump. Resolving that
    /// request and recursing gives every hop with its own configuration.
    pub fn proxy_request(&self, req: &LoginRequest) -> Option<LoginRequest> {
        let (last, earlier) = self.proxy_jump.split_last()?;
        let earlier = (!earlier.is_empty()).then(|| {
            earlier
                .iter()
                .map(Jump::to_string)
                .collect::<Vec<_>>()
                .join(",")
        });
        Some(LoginRequest {
            host: last.host.clone(),
            user: last.user.clone(),
            port: last.port,
            identities: Vec::new(),
            jump: earlier,
            config_file: req.config_file.clone(),
            options: Vec::new(),
        })
    }
}

/// The crypto directives sshpty honours, each the first value obtained, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlgorithmSpecs {
    pub ciphers: Option<String>,
    pub macs: Option<String>,
    pub kex: Option<String>,
    pub host_keys: Option<String>,
    /// PubkeyAcceptedAlgorithms: the signature algorithms our keys may be offered with.
    pub pubkey: Option<String>,
    /// CASignatureAlgorithms: what a host certificate's authority may have signed with.
    pub ca_signature: Option<String>,
}

/// What makes a `%login` unusable. Problems in configuration files are warnings instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("no host given: use %login [user@]HOST")]
    NoHost,
    /// ssh.c refuses these since OpenSSH 9.6 (CVE-2023-51385): they would reach a shell through
    /// `%h` in ProxyCommand.
    #[error("host {host:?} contains characters no host name has (quotes, $, ;, spaces...)")]
    InvalidHost { host: String },
    #[error("user {user:?} contains characters no user name has (quotes, ;, |, ...)")]
    InvalidUser { user: String },
    #[error("port 0 is not a port: use 1 to 65535")]
    BadPort,
    #[error("cannot read the configuration file {path} given with -F")]
    ConfigFileUnreadable { path: PathBuf },
    #[error("-o {option}: {reason}")]
    BadOption { option: String, reason: String },
    #[error("-J {jump}: {reason} (expected [user@]host[:port], several separated by commas)")]
    BadJump { jump: String, reason: String },
    #[error("-J and -o ProxyCommand exclude each other (ssh refuses both): keep one")]
    JumpAndProxyCommand,
}

/// Resolves `req` as `ssh` would. `read` returns a file's text (None if absent); `glob`
/// expands an `Include` pattern to existing paths, sorted.
pub fn resolve(
    req: &LoginRequest,
    env: &ConfigEnv,
    read: &dyn Fn(&Path) -> Option<String>,
    glob: &dyn Fn(&str) -> Vec<PathBuf>,
) -> Result<HostConfig, ConfigError> {
    if req.host.is_empty() {
        return Err(ConfigError::NoHost);
    }
    if !valid_hostname(&req.host) {
        return Err(ConfigError::InvalidHost {
            host: req.host.clone(),
        });
    }
    if let Some(user) = &req.user
        && !valid_ruser(user)
    {
        return Err(ConfigError::InvalidUser { user: user.clone() });
    }
    if req.port == Some(0) {
        return Err(ConfigError::BadPort);
    }
    let mut r = Resolver {
        alias: &req.host,
        env,
        read,
        glob,
        values: Values::default(),
        warnings: Vec::new(),
        seen_warnings: HashSet::new(),
        include_stack: Vec::new(),
        files_read: 0,
        final_pass: None,
        want_final_pass: false,
    };

    // 1. Command line (ssh.c): flags are set while getopt runs, `-o` lines are parsed as
    //    configuration lines of the file "command-line"; both before any file.
    r.values.port = req.port;
    r.values
        .identity_files
        .extend(req.identities.iter().cloned());
    if let Some(jump) = &req.jump {
        let hops = parse_jump_list(jump).map_err(|reason| ConfigError::BadJump {
            jump: jump.clone(),
            reason,
        })?;
        r.values.proxy = Some(Proxy::Jump(hops));
    }
    for (key, value) in &req.options {
        let line = if value.is_empty() {
            key.clone()
        } else {
            format!("{key}={value}")
        };
        if req.jump.is_some() && key.eq_ignore_ascii_case("proxycommand") {
            return Err(ConfigError::JumpAndProxyCommand);
        }
        let mut active = true;
        let outcome = match split_line(&line) {
            Some(split) => r.line(Source::CommandLine, &split, &mut active, 0),
            None => Outcome::Ok,
        };
        match outcome {
            Outcome::Ok => {}
            Outcome::Ignored(why) => r.warn(format!("-o {line}: {why}")),
            Outcome::Bad(reason) => {
                return Err(ConfigError::BadOption {
                    option: line,
                    reason,
                });
            }
        }
    }
    // `user@host` counts only when no `-o User` came first (ssh.c: `if (options.user == NULL)`).
    if r.values.user.is_none() {
        r.values.user.clone_from(&req.user);
    }

    // 2. Files.
    r.files(req)?;
    // 3. ssh.c: when a `Match final` was seen, the files are read once more, with `final`
    //    and `canonical` now true and `Host`/`Match host` matching the HostName found so
    //    far (ssh has no canonical name of its own without CanonicalizeHostname, nor have
    //    we). Values already set keep winning; the pass fills what is still unset.
    if r.want_final_pass {
        r.final_pass = Some(r.resolved_hostname());
        r.files_read = 0;
        r.files(req)?;
    }
    Ok(r.finish())
}

const SYSTEM_CONFIG: &str = "/etc/ssh/ssh_config";
/// readconf.c READCONF_MAX_DEPTH.
const MAX_INCLUDE_DEPTH: usize = 16;
/// Beyond ssh: a bound on files read, so that includes fanning out by glob stay cheap.
const MAX_FILES_READ: usize = 1024;
/// ssh_config(5), IdentityFile: the defaults when none is given.
const DEFAULT_IDENTITIES: [&str; 5] = [
    "id_rsa",
    "id_ecdsa",
    "id_ecdsa_sk",
    "id_ed25519",
    "id_ed25519_sk",
];
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_ALIVE_INTERVAL: Duration = Duration::from_secs(15);
const DEFAULT_ALIVE_COUNT: u32 = 3;
/// ssh_config(5), RequiredRSASize (OpenSSH 9.1).
const DEFAULT_REQUIRED_RSA_SIZE: u32 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    CommandLine,
    /// `-F` or `~/.ssh/config`: relative `Include`s are under `~/.ssh`.
    User,
    /// `/etc/ssh/ssh_config`: relative `Include`s are under `/etc/ssh`, `~` is refused.
    System,
}

/// ProxyJump and ProxyCommand share one slot: whichever comes first prevents the other
/// (ssh_config(5), ProxyJump). `None` is an explicit `none`.
#[derive(Debug, Clone)]
enum Proxy {
    None,
    Jump(Vec<Jump>),
    Command(String),
}

/// First value obtained for each keyword; lists accumulate.
#[derive(Debug, Default)]
struct Values {
    hostname: Option<String>,
    user: Option<String>,
    port: Option<u16>,
    identity_files: Vec<String>,
    certificate_files: Vec<String>,
    identities_only: Option<bool>,
    proxy: Option<Proxy>,
    forward_agent: Option<bool>,
    user_known_hosts: Option<Vec<String>>,
    global_known_hosts: Option<Vec<String>>,
    strict: Option<StrictHostKeyChecking>,
    hash_known_hosts: Option<bool>,
    alive_interval: Option<Duration>,
    alive_count: Option<u32>,
    connect_timeout: Option<Duration>,
    ignore_unknown: Option<String>,
    /// SendEnv patterns, accumulated; `-PATTERN` removes earlier ones (readconf.c `rm_env`).
    send_env: Vec<String>,
    /// SetEnv: the first active line wins as a whole (readconf.c `oSetEnv`).
    set_env: Option<Vec<(String, String)>>,
    batch_mode: Option<bool>,
    ciphers: Option<String>,
    macs: Option<String>,
    kex_algorithms: Option<String>,
    host_key_algorithms: Option<String>,
    pubkey_accepted: Option<String>,
    ca_signature: Option<String>,
    required_rsa_size: Option<u32>,
}

enum Outcome {
    Ok,
    /// Understood but not applied (unsupported directive, skipped `Match`).
    Ignored(String),
    /// Malformed: ssh would refuse the file.
    Bad(String),
}

struct Resolver<'a> {
    alias: &'a str,
    env: &'a ConfigEnv,
    read: &'a dyn Fn(&Path) -> Option<String>,
    glob: &'a dyn Fn(&str) -> Vec<PathBuf>,
    values: Values,
    warnings: Vec<String>,
    seen_warnings: HashSet<String>,
    include_stack: Vec<PathBuf>,
    files_read: usize,
    /// In the final pass: the HostName the first pass resolved.
    final_pass: Option<String>,
    /// A `Match final` was seen (readconf.c `want_final_pass`).
    want_final_pass: bool,
}

impl Resolver<'_> {
    /// The user's file (`-F` or `~/.ssh/config`), then the system one (not with `-F`).
    fn files(&mut self, req: &LoginRequest) -> Result<(), ConfigError> {
        match &req.config_file {
            // ssh.c: `-F none` reads no file at all.
            Some(path) if path.as_os_str() == "none" => {}
            Some(path) => {
                let text = (self.read)(path)
                    .ok_or_else(|| ConfigError::ConfigFileUnreadable { path: path.clone() })?;
                self.file(Source::User, path, &text, 0);
            }
            None => {
                let user_config = self.env.home.join(".ssh/config");
                if let Some(text) = (self.read)(&user_config) {
                    self.file(Source::User, &user_config, &text, 0);
                }
                let system_config = Path::new(SYSTEM_CONFIG);
                if let Some(text) = (self.read)(system_config) {
                    self.file(Source::System, system_config, &text, 0);
                }
            }
        }
        Ok(())
    }

    /// HostName with `%h` expanded, lowercased (ssh.c), or the typed name: what `Host`
    /// lines match in the final pass. Token problems are reported by `finish`.
    fn resolved_hostname(&self) -> String {
        match &self.values.hostname {
            Some(name) => expand(name, &[('h', self.alias)]).0,
            None => self.alias.to_string(),
        }
        .to_ascii_lowercase()
    }

    /// The name `Host` lines match: the typed one, or in the final pass the resolved one.
    fn host_line_name(&self) -> &str {
        self.final_pass.as_deref().unwrap_or(self.alias)
    }

    /// readconf.c `match_cfg_line` (OpenSSH 9.x): every criterion must hold. `Ok(None)` when
    /// the block applies or not by the criteria sshpty evaluates; `Err` for a malformed line.
    /// A criterion sshpty does not evaluate (`exec`, `localnetwork`, `tagged`, ...) makes the
    /// block not apply, with a warning when the other criteria would have applied it.
    fn match_line(&mut self, args: &[String]) -> Result<(bool, Option<String>), String> {
        let mut result = true;
        let mut not_evaluated: Vec<String> = Vec::new();
        let mut criteria = 0;
        let mut words = args.iter().peekable();
        while let Some(word) = words.next() {
            if word.starts_with('#') {
                break;
            }
            let (negate, attrib) = match word.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, word.as_str()),
            };
            let attrib = attrib.to_ascii_lowercase();
            let holds = |r: bool| r != negate;
            if attrib == "all" {
                if criteria > 1 || words.peek().is_some_and(|a| !a.starts_with('#')) {
                    return Err("'all' cannot be combined with other Match criteria".into());
                }
                result &= holds(true);
                break;
            }
            criteria += 1;
            if attrib == "canonical" || attrib == "final" {
                if attrib == "final" {
                    self.want_final_pass = true;
                }
                result &= holds(self.final_pass.is_some());
                continue;
            }
            let Some(arg) = words
                .next()
                .filter(|a| !a.is_empty() && !a.starts_with('#'))
            else {
                return Err(format!("missing Match criteria for {attrib}"));
            };
            let matched = match attrib.as_str() {
                // Against HostName as resolved so far (`%h` expanded), else the name.
                "host" => {
                    let host = match (&self.final_pass, &self.values.hostname) {
                        (Some(host), _) => host.clone(),
                        (None, Some(name)) => expand(name, &[('h', self.alias)]).0,
                        (None, None) => self.alias.to_string(),
                    };
                    pattern_list_matches(&host, arg, true) == Some(true)
                }
                "originalhost" => pattern_list_matches(self.alias, arg, true) == Some(true),
                // The remote user as resolved so far (`user@`, `-o User`, earlier User lines),
                // else the local one; case-sensitive (match_pattern_list with dolower 0).
                "user" => {
                    let user = self.values.user.as_deref().unwrap_or(&self.env.local_user);
                    pattern_list_matches(user, arg, false) == Some(true)
                }
                "localuser" => pattern_list_matches(&self.env.local_user, arg, false) == Some(true),
                _ => {
                    not_evaluated.push(format!("{word} {arg}"));
                    continue;
                }
            };
            result &= holds(matched);
        }
        if !result || not_evaluated.is_empty() {
            return Ok((result, None));
        }
        let exec = not_evaluated.iter().any(|c| {
            let c = c.trim_start_matches('!');
            c.len() >= 5 && c[..5].eq_ignore_ascii_case("exec ")
        });
        let why = if exec {
            "sshpty does not run Match exec commands"
        } else {
            "sshpty does not evaluate these criteria"
        };
        Ok((
            false,
            Some(format!(
                "{why} ({}): the settings under \"Match {}\" are not applied",
                not_evaluated.join(", "),
                args.join(" ")
            )),
        ))
    }

    fn warn(&mut self, message: String) {
        if self.seen_warnings.insert(message.clone()) {
            self.warnings.push(message);
        }
    }

    /// One configuration file. Lines before its first `Host`/`Match` take the activity it was
    /// included with (readconf.c `read_config_file_depth`, the shared `activep`).
    fn file(&mut self, source: Source, path: &Path, text: &str, depth: usize) {
        self.file_with(source, path, text, depth, true);
    }

    fn file_with(&mut self, source: Source, path: &Path, text: &str, depth: usize, active: bool) {
        self.files_read += 1;
        self.include_stack.push(path.to_path_buf());
        let mut active = active;
        let split = split_file(path, text);
        let mut index = 0;
        while index < split.lines.len() {
            if !active {
                // Lines that would do nothing here are passed over (`SplitText::next_heard`).
                index = split.next_heard[index];
            }
            let Some(Some(line)) = split.lines.get(index) else {
                index += 1;
                continue;
            };
            let number = index + 1;
            index += 1;
            let outcome = self.line(source, line, &mut active, depth);
            // The place is written only for a warning: most lines have none.
            let at = || format!("{}:{}", path.display(), number);
            match outcome {
                Outcome::Ok => {}
                Outcome::Ignored(why) => self.warn(format!("{}: {why}", at())),
                Outcome::Bad(why) => self.warn(format!("{}: {why}; line ignored", at())),
            }
        }
        self.include_stack.pop();
    }

    /// readconf.c `process_config_line_depth`.
    fn line(&mut self, source: Source, line: &Split, active: &mut bool, depth: usize) -> Outcome {
        let Split {
            written,
            keyword,
            known,
            rest,
            args,
        } = line;
        let (written, keyword, rest) = (written.as_str(), keyword.as_str(), rest.as_str());
        if rest.is_empty() {
            if keyword == "host" || keyword == "match" {
                // Never let the lines that follow apply to whatever block came before.
                *active = false;
            }
            return Outcome::Bad(format!("no argument after keyword \"{keyword}\""));
        }
        let args = match args {
            Ok(args) => args,
            Err(why) => {
                if keyword == "host" || keyword == "match" {
                    *active = false;
                }
                return Outcome::Bad(why.to_string());
            }
        };
        match keyword {
            "host" | "match" | "include" if source == Source::CommandLine => {
                Outcome::Bad(format!("{keyword} is not allowed as a command-line option"))
            }
            "host" => {
                *active = false;
                if args.is_empty() || args.iter().any(String::is_empty) {
                    return Outcome::Bad("Host with an empty pattern".into());
                }
                *active = host_matches(args, self.host_line_name());
                Outcome::Ok
            }
            // ssh_config(5), Match: "up to the next Host or Match keyword".
            "match" => {
                *active = false;
                match self.match_line(args) {
                    Ok((applies, None)) => {
                        *active = applies;
                        Outcome::Ok
                    }
                    Ok((_, Some(why))) => Outcome::Ignored(why),
                    Err(why) => Outcome::Bad(why),
                }
            }
            "include" => {
                if !*active {
                    // readconf.c parses it with SSHCONF_NEVERMATCH: nothing in it can apply.
                    return Outcome::Ok;
                }
                self.include(source, args, depth)
            }
            _ => {
                // Apple's keyword for its keychain: macOS's ssh knows it, so a config shared
                // with a Mac has it; it changes nothing here (`changes_nothing`).
                if keyword == "usekeychain" {
                    return Outcome::Ok;
                }
                if !known {
                    let ignored = self
                        .values
                        .ignore_unknown
                        .as_deref()
                        .is_some_and(|list| match_pattern_list(keyword, list) == Some(true));
                    if ignored {
                        return Outcome::Ok;
                    }
                    return Outcome::Bad(format!("unknown directive \"{written}\""));
                }
                if !*active {
                    return Outcome::Ok;
                }
                self.apply(keyword, written, args, rest)
            }
        }
    }

    /// ssh_config(5), Include: globs, `~` in user files only, relative paths under `~/.ssh` or
    /// `/etc/ssh`; each file read as if its lines stood here, the activity restored after it.
    fn include(&mut self, source: Source, args: &[String], depth: usize) -> Outcome {
        let mut problems = Vec::new();
        for arg in args {
            if arg.is_empty() {
                problems.push("Include with an empty path".to_string());
                continue;
            }
            let pattern = if arg.starts_with('~') {
                if source == Source::System {
                    problems.push(format!("bad include path {arg} (no ~ in the system file)"));
                    continue;
                }
                match self.tilde(arg) {
                    Some(path) => path,
                    None => {
                        problems.push(format!("cannot expand {arg}: only ~ and ~/ are known"));
                        continue;
                    }
                }
            } else if arg.starts_with('/') {
                arg.clone()
            } else if source == Source::User {
                format!("{}/.ssh/{arg}", self.env.home.display())
            } else {
                format!("/etc/ssh/{arg}")
            };
            if depth + 1 > MAX_INCLUDE_DEPTH {
                problems.push(format!(
                    "Include {arg} nested more than {MAX_INCLUDE_DEPTH} deep (ssh refuses this)"
                ));
                continue;
            }
            for path in (self.glob)(&pattern) {
                if self.include_stack.contains(&path) {
                    problems.push(format!("Include {} includes itself", path.display()));
                    continue;
                }
                if self.files_read >= MAX_FILES_READ {
                    problems.push(format!("more than {MAX_FILES_READ} files included"));
                    break;
                }
                if let Some(text) = (self.read)(&path) {
                    self.file_with(source, &path, &text, depth + 1, true);
                }
            }
        }
        if problems.is_empty() {
            Outcome::Ok
        } else {
            Outcome::Bad(problems.join("; "))
        }
    }

    /// An active line of a directive: readconf.c, one case per keyword.
    fn apply(&mut self, keyword: &str, written: &str, args: &[String], rest: &str) -> Outcome {
        let v = &mut self.values;
        let result = match keyword {
            "hostname" => one(args).map(|a| set_first(&mut v.hostname, a.to_string())),
            "user" => one(args).map(|a| set_first(&mut v.user, a.to_string())),
            "port" => one(args)
                .and_then(parse_port)
                .map(|p| set_first(&mut v.port, p)),
            "identityfile" => one(args).map(|a| v.identity_files.push(a.to_string())),
            "certificatefile" => one(args).map(|a| v.certificate_files.push(a.to_string())),
            "identitiesonly" => flag(args).map(|b| set_first(&mut v.identities_only, b)),
            "hashknownhosts" => flag(args).map(|b| set_first(&mut v.hash_known_hosts, b)),
            "forwardagent" => match one(args) {
                Err(why) => Err(why),
                Ok(a) => match parse_bool(a) {
                    Some(b) => {
                        set_first(&mut v.forward_agent, b);
                        Ok(())
                    }
                    // ssh_config(5): a socket path or $VAR is allowed too. We forward only the
                    // agent of SSH_AUTH_SOCK, and forwarding another agent than the one asked
                    // for would expose other keys: so none.
                    None if v.forward_agent.is_none() => {
                        v.forward_agent = Some(false);
                        return Outcome::Ignored(format!(
                            "ForwardAgent {a}: forwarding a chosen agent socket is not \
                             supported; the agent is not forwarded"
                        ));
                    }
                    None => Ok(()),
                },
            },
            "stricthostkeychecking" => one(args).and_then(|a| {
                let mode = match a.to_ascii_lowercase().as_str() {
                    "yes" | "true" => StrictHostKeyChecking::Yes,
                    "no" | "false" | "off" => StrictHostKeyChecking::No,
                    "ask" => StrictHostKeyChecking::Ask,
                    "accept-new" => StrictHostKeyChecking::AcceptNew,
                    _ => return Err(format!("bad StrictHostKeyChecking value {a:?}")),
                };
                set_first(&mut v.strict, mode);
                Ok(())
            }),
            "userknownhostsfile" => {
                // ssh_config(5): "A value of none causes ssh(1) to ignore any user-specific
                // known hosts files."
                let files = if args.len() == 1 && args[0] == "none" {
                    Vec::new()
                } else {
                    args.to_vec()
                };
                set_first(&mut v.user_known_hosts, files);
                Ok(())
            }
            "globalknownhostsfile" => {
                set_first(&mut v.global_known_hosts, args.to_vec());
                Ok(())
            }
            // `protocolkeepalives` and `setuptimeout` are Debian's aliases (ssh_config(5)).
            "serveraliveinterval" | "protocolkeepalives" | "setuptimeout" => one(args)
                .and_then(|a| parse_time(a).ok_or_else(|| format!("bad time value {a:?}")))
                .map(|d| set_first(&mut v.alive_interval, d)),
            "serveralivecountmax" => one(args)
                .and_then(|a| parse_count(a).ok_or_else(|| format!("bad number {a:?}")))
                .map(|n| set_first(&mut v.alive_count, n)),
            // Measured with ssh -G: `none` leaves the option unset, so a later value still wins.
            "connecttimeout" => one(args).and_then(|a| {
                if a.eq_ignore_ascii_case("none") {
                    return Ok(());
                }
                let d = parse_time(a).ok_or_else(|| format!("bad time value {a:?}"))?;
                set_first(&mut v.connect_timeout, d);
                Ok(())
            }),
            "ignoreunknown" => one(args).map(|a| set_first(&mut v.ignore_unknown, a.to_string())),
            "proxycommand" => {
                // The command is the raw rest of the line, comments included (readconf.c
                // `parse_command`; `ssh -G` shows `# x` kept).
                let command = rest.trim_start_matches([' ', '\t', '=']);
                let proxy = if command == "none" {
                    Proxy::None
                } else {
                    Proxy::Command(command.to_string())
                };
                set_first(&mut v.proxy, proxy);
                Ok(())
            }
            "proxyjump" => {
                // readconf.c `parse_jump`: the rest of the line, cut at `#`.
                let text = rest.trim_start_matches([' ', '\t', '=']);
                let text = text.split('#').next().unwrap_or("").trim_end();
                if text.eq_ignore_ascii_case("none") {
                    set_first(&mut v.proxy, Proxy::None);
                    Ok(())
                } else {
                    parse_jump_list(text).map(|hops| set_first(&mut v.proxy, Proxy::Jump(hops)))
                }
            }
            "sendenv" => {
                for arg in args {
                    if arg.is_empty() || arg.contains('=') {
                        return Outcome::Bad(format!("invalid environment name {arg:?}"));
                    }
                }
                for arg in args {
                    match arg.strip_prefix('-') {
                        // readconf.c `rm_env`: earlier names matching the pattern are removed.
                        Some(pattern) => v.send_env.retain(|name| !match_pattern(name, pattern)),
                        // Once each: the final pass reads the same lines again.
                        None if v.send_env.contains(arg) => {}
                        None => v.send_env.push(arg.clone()),
                    }
                }
                Ok(())
            }
            "setenv" => {
                let mut pairs: Vec<(String, String)> = Vec::new();
                for arg in args {
                    let Some((name, value)) = arg.split_once('=').filter(|(n, _)| !n.is_empty())
                    else {
                        return Outcome::Bad(format!("invalid SetEnv {arg:?} (NAME=VALUE)"));
                    };
                    // readconf.c: a name repeated on the line keeps its first value.
                    if !pairs.iter().any(|(n, _)| n == name) {
                        pairs.push((name.to_string(), value.to_string()));
                    }
                }
                set_first(&mut v.set_env, pairs);
                Ok(())
            }
            "batchmode" => flag(args).map(|b| set_first(&mut v.batch_mode, b)),
            "ciphers" => one(args).map(|a| set_first(&mut v.ciphers, a.to_string())),
            "macs" => one(args).map(|a| set_first(&mut v.macs, a.to_string())),
            "kexalgorithms" => one(args).map(|a| set_first(&mut v.kex_algorithms, a.to_string())),
            "hostkeyalgorithms" => {
                one(args).map(|a| set_first(&mut v.host_key_algorithms, a.to_string()))
            }
            "pubkeyacceptedalgorithms" | "pubkeyacceptedkeytypes" => {
                one(args).map(|a| set_first(&mut v.pubkey_accepted, a.to_string()))
            }
            "casignaturealgorithms" => {
                one(args).map(|a| set_first(&mut v.ca_signature, a.to_string()))
            }
            "requiredrsasize" => one(args)
                .and_then(|a| parse_count(a).ok_or_else(|| format!("bad number {a:?}")))
                .map(|n| set_first(&mut v.required_rsa_size, n)),
            _ => {
                if let Some(why) = changes_nothing(keyword, args) {
                    log::debug!("ssh_config: {written} {}: {why}", args.join(" "));
                    return Outcome::Ok;
                }
                return Outcome::Ignored(format!(
                    "{written} {} is not supported by sshpty; ignored",
                    args.join(" ")
                ));
            }
        };
        match result {
            Ok(()) => Outcome::Ok,
            Err(why) => Outcome::Bad(why),
        }
    }

    /// `~` and `~/...` (misc.c `tilde_expand_filename`); `~user` only for the local user.
    fn tilde(&self, path: &str) -> Option<String> {
        let rest = path.strip_prefix('~')?;
        let (user, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if user.is_empty() || user == self.env.local_user {
            Some(format!("{}{tail}", self.env.home.display()))
        } else {
            None
        }
    }

    fn finish(mut self) -> HostConfig {
        let v = std::mem::take(&mut self.values);
        let alias = self.alias.to_string();

        // ssh_config(5) TOKENS: "Hostname accepts the tokens %% and %h"; ssh.c then lowercases.
        let hostname = match &v.hostname {
            Some(name) => {
                let (expanded, unknown) = expand(name, &[('h', &alias)]);
                self.warn_tokens("HostName", &unknown);
                expanded
            }
            None => alias.clone(),
        }
        .to_ascii_lowercase();
        let user = v.user.unwrap_or_else(|| self.env.local_user.clone());
        let port = v.port.unwrap_or(22);
        let port_text = port.to_string();

        // The tokens of IdentityFile, CertificateFile and UserKnownHostsFile (ssh_config(5)
        // TOKENS); %i (the local uid) is not known here.
        let local_host = self.env.local_host.clone();
        let short_host = local_host.split('.').next().unwrap_or("").to_string();
        let home = self.env.home.display().to_string();
        let hash = connection_hash(&local_host, &hostname, port, &user);
        let file_tokens: [(char, &str); 11] = [
            ('C', &hash),
            ('d', &home),
            ('h', &hostname),
            ('k', &alias),
            ('L', &short_host),
            ('l', &local_host),
            ('n', &alias),
            ('p', &port_text),
            ('r', &user),
            ('u', &self.env.local_user),
            ('%', "%"),
        ];
        let expand_path = |this: &mut Self, what: &str, raw: &str| -> PathBuf {
            let tilded = match this.tilde(raw) {
                Some(path) => path,
                None => {
                    if raw.starts_with('~') {
                        this.warn(format!("{what} {raw}: only ~ and ~/ are expanded"));
                    }
                    raw.to_string()
                }
            };
            let (expanded, unknown) = expand(&tilded, &file_tokens);
            this.warn_tokens(what, &unknown);
            PathBuf::from(expanded)
        };

        let identity_files_given = !v.identity_files.is_empty();
        let mut identity_files = Vec::new();
        for raw in &v.identity_files {
            let path = expand_path(&mut self, "IdentityFile", raw);
            // readconf.c `add_identity_file` drops duplicates.
            if !identity_files.contains(&path) {
                identity_files.push(path);
            }
        }
        if !identity_files_given {
            identity_files = DEFAULT_IDENTITIES
                .iter()
                .map(|name| self.env.home.join(".ssh").join(name))
                .collect();
        }
        let mut certificate_files = Vec::new();
        for raw in &v.certificate_files {
            let path = expand_path(&mut self, "CertificateFile", raw);
            if !certificate_files.contains(&path) {
                certificate_files.push(path);
            }
        }
        let user_known_hosts_files = match &v.user_known_hosts {
            Some(files) => files
                .iter()
                .map(|raw| expand_path(&mut self, "UserKnownHostsFile", raw))
                .collect(),
            None => vec![
                self.env.home.join(".ssh/known_hosts"),
                self.env.home.join(".ssh/known_hosts2"),
            ],
        };
        // Used as written: ssh expands neither `~` nor tokens here (`ssh -G` shows them kept).
        let global_known_hosts_files = match &v.global_known_hosts {
            Some(files) => files.iter().map(PathBuf::from).collect(),
            None => vec![
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts2"),
            ],
        };

        // "ProxyCommand and ProxyJump accept the tokens %%, %h, %n, %p, and %r."
        let proxy_tokens: [(char, &str); 5] = [
            ('h', &hostname),
            ('n', &alias),
            ('p', &port_text),
            ('r', &user),
            ('%', "%"),
        ];
        let (proxy_jump, proxy_command) = match v.proxy {
            None | Some(Proxy::None) => (Vec::new(), None),
            Some(Proxy::Command(command)) => {
                let (expanded, unknown) = expand(&command, &proxy_tokens);
                self.warn_tokens("ProxyCommand", &unknown);
                (Vec::new(), Some(expanded))
            }
            Some(Proxy::Jump(hops)) => {
                let mut out = Vec::new();
                for hop in hops {
                    let (host, unknown) = expand(&hop.host, &proxy_tokens);
                    self.warn_tokens("ProxyJump", &unknown);
                    let user = hop.user.map(|u| {
                        let (user, unknown) = expand(&u, &proxy_tokens);
                        self.warn_tokens("ProxyJump", &unknown);
                        user
                    });
                    out.push(Jump {
                        user,
                        host,
                        port: hop.port,
                    });
                }
                (out, None)
            }
        };

        HostConfig {
            alias,
            hostname,
            user,
            port,
            identity_files,
            identities_only: v.identities_only.unwrap_or(false),
            identity_files_given,
            certificate_files,
            proxy_jump,
            proxy_command,
            forward_agent: v.forward_agent.unwrap_or(false),
            user_known_hosts_files,
            global_known_hosts_files,
            strict_host_key_checking: v.strict.unwrap_or_default(),
            hash_known_hosts: v.hash_known_hosts.unwrap_or(false),
            server_alive_interval: v.alive_interval.unwrap_or(DEFAULT_ALIVE_INTERVAL),
            server_alive_count_max: v.alive_count.unwrap_or(DEFAULT_ALIVE_COUNT),
            connect_timeout: v.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            send_env: v.send_env,
            set_env: v.set_env.unwrap_or_default(),
            batch_mode: v.batch_mode.unwrap_or(false),
            algorithms: AlgorithmSpecs {
                ciphers: v.ciphers,
                macs: v.macs,
                kex: v.kex_algorithms,
                host_keys: v.host_key_algorithms,
                pubkey: v.pubkey_accepted,
                ca_signature: v.ca_signature,
            },
            required_rsa_size: v.required_rsa_size.unwrap_or(DEFAULT_REQUIRED_RSA_SIZE),
            warnings: self.warnings,
        }
    }

    fn warn_tokens(&mut self, what: &str, unknown: &[char]) {
        for token in unknown {
            self.warn(format!(
                "{what}: token %{token} is not supported here; left as written"
            ));
        }
    }
}

/// Why a directive sshpty does not act on changes nothing for it, or None when it would
/// change what happens (then the user is told it is ignored). Decided per directive and,
/// where only some values matter, per value: the ones equal to what sshpty does anyway.
fn changes_nothing(keyword: &str, args: &[String]) -> Option<&'static str> {
    let value = args
        .first()
        .map(|a| a.to_ascii_lowercase())
        .unwrap_or_default();
    let is = |values: &[&str]| values.contains(&value.as_str());
    match keyword {
        // GSSAPI (Kerberos) is never offered; a login that fails where the server offers it
        // says so (`SshError::PermissionDenied`).
        "gssapiauthentication"
        | "gssapidelegatecredentials"
        | "gssapikeyexchange"
        | "gssapitrustdns"
        | "gssapirenewalforcesrekey"
        | "gssapiclientidentity"
        | "gssapiserveridentity"
        | "gssapikexalgorithms" => Some("GSSAPI is not offered by sshpty"),
        // Only matter once X11 is forwarded, which sshpty never does.
        "forwardx11trusted" | "forwardx11timeout" | "xauthlocation" => Some("X11 is not forwarded"),
        "forwardx11" if is(&["no"]) => Some("X11 is not forwarded"),
        // Only matter with port forwardings, which sshpty never sets up.
        "exitonforwardfailure" | "clearallforwardings" | "gatewayports" => {
            Some("no forwarding is set up")
        }
        // Host-based authentication is never offered.
        "hostbasedacceptedalgorithms" | "hostbasedkeytypes" => {
            Some("host-based authentication is not offered")
        }
        "hostbasedauthentication" | "enablesshkeysign" if is(&["no"]) => {
            Some("host-based authentication is not offered")
        }
        // How ssh keeps passphrases between logins (the agent, macOS's keychain): sshpty asks
        // again at the next login; the login itself is the same.
        "addkeystoagent" | "usekeychain" => Some("keys are not added to an agent or keychain"),
        // sshpty keeps one connection of its own per host.
        "controlmaster" | "controlpath" | "controlpersist" => {
            Some("sshpty keeps its own connection per host")
        }
        // What ssh prints or logs, and the interactive terminal's escape keys.
        "loglevel"
        | "logverbose"
        | "syslogfacility"
        | "visualhostkey"
        | "fingerprinthash"
        | "escapechar"
        | "enableescapecommandline"
        | "obscurekeystroketiming" => Some("only changes what ssh prints or how it types"),
        // Extra host-key bookkeeping ssh does besides the check sshpty does in full.
        "checkhostip" | "updatehostkeys" => Some("known_hosts is checked by host name"),
        "protocol" if is(&["2"]) => Some("SSH 2 is the only protocol"),
        // Transport details russh settles: packet marking, TCP keepalives, compression (it
        // negotiates zlib), rekeying (russh rekeys by its own limits).
        "ipqos" | "tcpkeepalive" | "compression" | "rekeylimit" => {
            Some("a transport detail russh settles")
        }
        "addressfamily" if is(&["any"]) => Some("the default"),
        "canonicalizehostname" if is(&["no"]) => Some("the default"),
        "canonicaldomains"
        | "canonicalizefallbacklocal"
        | "canonicalizemaxdots"
        | "canonicalizepermittedcnames" => Some("host names are not canonicalised"),
        "verifyhostkeydns" | "nohostauthenticationforlocalhost" | "permitlocalcommand"
            if is(&["no"]) =>
        {
            Some("the default")
        }
        "passwordauthentication"
        | "kbdinteractiveauthentication"
        | "challengeresponseauthentication"
        | "pubkeyauthentication"
            if is(&["yes"]) =>
        {
            Some("the default")
        }
        "requesttty" if is(&["yes", "auto", "force"]) => Some("cells always run in a PTY"),
        "numberofpasswordprompts" if is(&["3"]) => Some("the default"),
        "identityagent" if is(&["ssh_auth_sock", "$ssh_auth_sock"]) => Some("the default"),
        _ => None,
    }
}

fn set_first<T>(slot: &mut Option<T>, value: T) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

/// Single-argument keywords: readconf.c refuses "extra arguments at end of line".
fn one(args: &[String]) -> Result<&str, String> {
    match args {
        [] => Err("missing argument".into()),
        [a] if a.is_empty() => Err("missing argument".into()),
        [a] => Ok(a),
        _ => Err("extra arguments at end of line".into()),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        _ => None,
    }
}

/// readconf.c `multistate_flag`.
fn flag(args: &[String]) -> Result<bool, String> {
    let a = one(args)?;
    parse_bool(a).ok_or_else(|| format!("expected yes or no, got {a:?}"))
}

/// misc.c `a2port`: 1 to 65535, or a service name (only `ssh` is known without /etc/services).
fn parse_port(text: &str) -> Result<u16, String> {
    if text == "ssh" {
        return Ok(22);
    }
    match text.parse::<u16>() {
        Ok(port) if port != 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err(format!("bad port {text:?}")),
    }
}

fn parse_count(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u32>().ok().filter(|n| *n <= i32::MAX as u32)
}

/// misc.c `convtime`: `90`, `90s`, `1m30s`, `1h`, `2d`, `1w`, bounded by INT_MAX seconds.
fn parse_time(text: &str) -> Option<Duration> {
    if text.is_empty() {
        return None;
    }
    let bytes = text.as_bytes();
    let mut total: u64 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let number: u64 = text[start..i].parse().ok()?;
        let multiplier = match bytes.get(i) {
            None => 1,
            Some(unit) => {
                i += 1;
                match unit.to_ascii_lowercase() {
                    b's' => 1,
                    b'm' => 60,
                    b'h' => 3600,
                    b'd' => 86400,
                    b'w' => 604800,
                    _ => return None,
                }
            }
        };
        total = total.checked_add(number.checked_mul(multiplier)?)?;
        if total > i32::MAX as u64 {
            return None;
        }
    }
    Some(Duration::from_secs(total))
}

/// ProxyJump / `-J`: hops separated by commas, in connection order (readconf.c `parse_jump`).
fn parse_jump_list(text: &str) -> Result<Vec<Jump>, String> {
    if text.is_empty() {
        return Err("no jump host".into());
    }
    text.split(',').map(parse_hop).collect()
}

/// `[user@]host[:port]`, `[user@][v6addr]:port` or `ssh://[user@]host[:port]` (misc.c
/// `parse_user_host_port`, `parse_ssh_uri`).
fn parse_hop(text: &str) -> Result<Jump, String> {
    let (uri, text) = match text.strip_prefix("ssh://") {
        Some(rest) => (true, rest.strip_suffix('/').unwrap_or(rest)),
        None => (false, text),
    };
    let bad = || format!("bad jump host {text:?}");
    if text.is_empty() || text.contains(char::is_whitespace) || (uri && text.contains('/')) {
        return Err(bad());
    }
    let (user, host_port) = match text.rsplit_once('@') {
        Some(("", _)) => return Err(bad()),
        Some((user, rest)) => (Some(user.to_string()), rest),
        None => (None, text),
    };
    // misc.c `hpdelim`: `[v6]` in brackets, else the host ends at the first `:` or `/`.
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':').or_else(|| after.strip_prefix('/')) {
                Some(port) => (host, Some(port)),
                None => return Err(bad()),
            },
        }
    } else {
        match host_port.find([':', '/']) {
            Some(i) => (&host_port[..i], Some(&host_port[i + 1..])),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(parse_port(p).map_err(|_| format!("bad port in jump host {text:?}"))?),
    };
    Ok(Jump {
        user,
        host: host.to_string(),
        port,
    })
}

/// Expands `%x` tokens from `tokens`. Unknown ones (and a trailing `%`) are left as written
/// and returned, so the caller warns: ssh would refuse them.
fn expand(text: &str, tokens: &[(char, &str)]) -> (String, Vec<char>) {
    let mut out = String::with_capacity(text.len());
    let mut unknown = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(key) => match tokens.iter().find(|(k, _)| *k == key) {
                Some((_, value)) => out.push_str(value),
                None => {
                    out.push('%');
                    out.push(key);
                    if !unknown.contains(&key) {
                        unknown.push(key);
                    }
                }
            },
            None => {
                out.push('%');
                if !unknown.contains(&'%') {
                    unknown.push('%');
                }
            }
        }
    }
    (out, unknown)
}

/// `%C`: the SHA-1 of `%l%h%p%r`, in hex (ssh_config(5) TOKENS, OpenSSH 9.2).
fn connection_hash(local_host: &str, host: &str, port: u16, user: &str) -> String {
    let digest = Sha1::digest(format!("{local_host}{host}{port}{user}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// ssh.c `valid_hostname` (OpenSSH 9.6, CVE-2023-51385).
fn valid_hostname(host: &str) -> bool {
    !host.starts_with('-')
        && !host
            .chars()
            .any(|c| "'`\"$\\;&<>|(){}".contains(c) || c.is_whitespace() || c.is_control())
}

/// ssh.c `valid_ruser` (OpenSSH 9.6, CVE-2023-51385).
fn valid_ruser(user: &str) -> bool {
    if user.is_empty() || user.starts_with('-') || user.ends_with('\\') {
        return false;
    }
    let chars: Vec<char> = user.chars().collect();
    // No control characters, no shell quoting or separators, no `-` after a space (an option).
    let bad = |i: usize, c: char| {
        c.is_control()
            || "'`\";&<>|(){}".contains(c)
            || (c.is_whitespace() && chars.get(i + 1) == Some(&'-'))
    };
    !chars.iter().enumerate().any(|(i, &c)| bad(i, c))
}

/// A `Host` line: applies when one pattern matches the typed name and no `!pattern` does
/// (ssh_config(5), Host). Case-sensitive, as `ssh -G` shows: `Host web1` does not match `WEB1`.
fn host_matches(patterns: &[String], alias: &str) -> bool {
    let mut matched = false;
    for pattern in patterns {
        match pattern.strip_prefix('!') {
            Some(negated) if match_pattern(alias, negated) => return false,
            Some(_) => {}
            None => matched |= match_pattern(alias, pattern),
        }
    }
    matched
}

/// match.c `match_pattern`: `*` matches any run of characters, `?` exactly one.
pub(crate) fn match_pattern(text: &str, pattern: &str) -> bool {
    // ASCII (nearly always) is matched byte by byte, with nothing allocated: a config with a
    // block per host of a large fleet has every login try thousands of `Host` patterns.
    if text.is_ascii() && pattern.is_ascii() {
        return match_units(text.as_bytes(), pattern.as_bytes(), b'?', b'*');
    }
    let (t, p): (Vec<char>, Vec<char>) = (text.chars().collect(), pattern.chars().collect());
    match_units(&t, &p, '?', '*')
}

fn match_units<T: Copy + PartialEq>(t: &[T], p: &[T], one: T, any: T) -> bool {
    // The classic linear backtracking to the last `*`: no exponential blow-up on `*a*a*a*b`.
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == one || (p[pi] != any && p[pi] == t[ti])) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == any {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((star_pi, star_ti)) = star {
            pi = star_pi + 1;
            ti = star_ti + 1;
            star = Some((star_pi, star_ti + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == any)
}

/// match.c `match_pattern_list` with `dolower`: comma-separated, case-insensitive patterns.
/// `Some(true)` when one matches, `Some(false)` when a `!negated` one does (that wins), `None`
/// when none does.
pub fn match_pattern_list(text: &str, list: &str) -> Option<bool> {
    pattern_list_matches(text, list, true)
}

/// match.c `match_pattern_list`; `fold_case` is its `dolower` (host names: yes; user names:
/// no, as `Match user` compares them).
fn pattern_list_matches(text: &str, list: &str, fold_case: bool) -> Option<bool> {
    let fold = |t: &str| {
        if fold_case {
            t.to_ascii_lowercase()
        } else {
            t.to_string()
        }
    };
    let text = fold(text);
    let mut matched = None;
    for pattern in list.split(',') {
        let pattern = fold(pattern);
        match pattern.strip_prefix('!') {
            Some(negated) if match_pattern(&text, negated) => return Some(false),
            Some(_) => {}
            None if match_pattern(&text, &pattern) => matched = Some(true),
            None => {}
        }
    }
    matched
}

/// The keyword of a line and the rest after its separator (readconf.c `strdelim`: whitespace
/// or one `=`). None for blank lines and comments.
/// A configuration line as far as it depends on the line alone: its keyword as written and
/// lowercased, the text after it and that text split into words (or why it cannot be).
#[derive(Debug)]
struct Split {
    written: String,
    keyword: String,
    /// The keyword is one ssh knows (`is_known_keyword`).
    known: bool,
    rest: String,
    args: Result<Vec<String>, &'static str>,
}

/// None for a blank line or a comment.
fn split_line(line: &str) -> Option<Split> {
    let (written, rest) = split_keyword(line)?;
    let keyword = written.to_ascii_lowercase();
    Some(Split {
        written: written.to_owned(),
        known: is_known_keyword(&keyword),
        keyword,
        rest: rest.to_owned(),
        args: argv_split(rest),
    })
}

/// Files split once and reused while their text is unchanged, by path: every login reads
/// `~/.ssh/config` again (it may have changed), and a fleet's inventory often comes with a
/// config of a block per host, so splitting its lines anew at each of a thousand logins made
/// the logins quadratic (9 s of the kernel's CPU for 1000 hosts, most of it here).
/// Pure memoisation: the result is the split of exactly the text given.
type SplitFile = Arc<SplitText>;

/// A file's lines, split, and where to go on from each while no block applies.
struct SplitText {
    lines: Vec<Option<Split>>,
    /// For each line, the first at or after it that matters in a block that does not apply:
    /// a `Host`, `Match` or `Include` line, or one that `line` warns about in any block (an
    /// unknown keyword, no argument, bad quoting). The others change nothing there, and a
    /// config of a block per host of a fleet had each login pass over the lines of every
    /// other host's block: 1000 resolutions against 1000 blocks of 8 lines took 70 ms of
    /// CPU, 26 ms with the jumps (most of that now the `Host` lines' patterns).
    next_heard: Vec<usize>,
}

impl SplitText {
    fn new(text: &str) -> SplitText {
        let lines: Vec<Option<Split>> = text.split('\n').map(split_line).collect();
        let mut next_heard = vec![lines.len(); lines.len()];
        let mut next = lines.len();
        for (i, line) in lines.iter().enumerate().rev() {
            if line.as_ref().is_some_and(|l| !l.silent_when_inactive()) {
                next = i;
            }
            next_heard[i] = next;
        }
        SplitText { lines, next_heard }
    }
}

impl Split {
    /// `Resolver::line` returns `Outcome::Ok` for it, doing nothing, when no block applies.
    fn silent_when_inactive(&self) -> bool {
        self.known
            && !self.rest.is_empty()
            && self.args.is_ok()
            && !matches!(self.keyword.as_str(), "host" | "match" | "include")
    }
}
static SPLIT_FILES: Mutex<Vec<(PathBuf, Arc<str>, SplitFile)>> = Mutex::new(Vec::new());
/// Files remembered at most (the least recently split dropped first).
const SPLIT_FILES_MAX: usize = 16;
/// Files larger than this are split each time rather than kept.
const SPLIT_FILE_KEEP_MAX: usize = 4 << 20;

fn split_file(path: &Path, text: &str) -> SplitFile {
    let mut files = SPLIT_FILES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(at) = files.iter().position(|(p, t, _)| p == path && **t == *text) {
        let entry = files.remove(at);
        let split = entry.2.clone();
        files.push(entry);
        return split;
    }
    let split: SplitFile = Arc::new(SplitText::new(text));
    if text.len() <= SPLIT_FILE_KEEP_MAX {
        files.retain(|(p, _, _)| p != path);
        if files.len() >= SPLIT_FILES_MAX {
            files.remove(0);
        }
        files.push((path.to_path_buf(), Arc::from(text), split.clone()));
    }
    split
}

fn split_keyword(line: &str) -> Option<(&str, &str)> {
    const SPACE: [char; 4] = [' ', '\t', '\r', '\n'];
    // readconf.c strips trailing whitespace and form feeds.
    let line = line
        .trim_end_matches([' ', '\t', '\r', '\n', '\x0c'])
        .trim_start_matches(SPACE);
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find([' ', '\t', '\r', '\n', '"', '='])
        .unwrap_or(line.len());
    let keyword = &line[..end];
    let mut rest = &line[end..];
    if let Some(after) = rest.strip_prefix('=') {
        rest = after.trim_start_matches(SPACE);
    } else {
        rest = rest.trim_start_matches(SPACE);
        if let Some(after) = rest.strip_prefix('=') {
            rest = after.trim_start_matches(SPACE);
        }
    }
    Some((keyword, rest))
}

/// misc.c `argv_split` with `terminate_on_comment`: whitespace-separated words, `"` and `'`
/// quotes, backslash escapes of quotes, backslash and (outside quotes) space; a word starting
/// with `#` ends the line.
fn argv_split(text: &str) -> Result<Vec<String>, &'static str> {
    let chars: Vec<char> = text.chars().collect();
    let mut args = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == ' ' || chars[i] == '\t' {
            i += 1;
            continue;
        }
        if chars[i] == '#' {
            break;
        }
        let mut arg = String::new();
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' {
                match chars.get(i + 1) {
                    Some(&n)
                        if n == '\'' || n == '"' || n == '\\' || (quote.is_none() && n == ' ') =>
                    {
                        arg.push(n);
                        i += 1;
                    }
                    _ => arg.push(c),
                }
            } else if quote.is_none() && (c == ' ' || c == '\t') {
                break;
            } else if quote.is_none() && (c == '"' || c == '\'') {
                quote = Some(c);
            } else if quote == Some(c) {
                quote = None;
            } else {
                arg.push(c);
            }
            i += 1;
        }
        if quote.is_some() {
            return Err("invalid quotes");
        }
        args.push(arg);
    }
    Ok(args)
}

/// Keywords OpenSSH knows (readconf.c `keywords[]`, with Debian's GSSAPI additions and
/// deprecated ones): anything else is an unknown directive, which ssh refuses unless
/// IgnoreUnknown lists it. Sorted for binary search.
const KNOWN_KEYWORDS: &[&str] = &[
    "addkeystoagent",
    "addressfamily",
    "batchmode",
    "bindaddress",
    "bindinterface",
    "canonicaldomains",
    "canonicalizefallbacklocal",
    "canonicalizehostname",
    "canonicalizemaxdots",
    "canonicalizepermittedcnames",
    "casignaturealgorithms",
    "certificatefile",
    "challengeresponseauthentication",
    "channeltimeout",
    "checkhostip",
    "cipher",
    "ciphers",
    "clearallforwardings",
    "compression",
    "compressionlevel",
    "connectionattempts",
    "connecttimeout",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "dsaauthentication",
    "dynamicforward",
    "enableescapecommandline",
    "enablesshkeysign",
    "escapechar",
    "exitonforwardfailure",
    "fallbacktorsh",
    "fingerprinthash",
    "forkafterauthentication",
    "forwardagent",
    "forwardx11",
    "forwardx11timeout",
    "forwardx11trusted",
    "gatewayports",
    "globalknownhostsfile",
    "globalknownhostsfile2",
    "gssapiauthentication",
    "gssapiclientidentity",
    "gssapidelegatecredentials",
    "gssapikexalgorithms",
    "gssapikeyexchange",
    "gssapirenewalforcesrekey",
    "gssapiserveridentity",
    "gssapitrustdns",
    "hashknownhosts",
    "host",
    "hostbasedacceptedalgorithms",
    "hostbasedauthentication",
    "hostbasedkeytypes",
    "hostkeyalgorithms",
    "hostkeyalias",
    "hostname",
    "identitiesonly",
    "identityagent",
    "identityfile",
    "ignoreunknown",
    "include",
    "ipqos",
    "kbdinteractiveauthentication",
    "kbdinteractivedevices",
    "keepalive",
    "kexalgorithms",
    "knownhostscommand",
    "localcommand",
    "localforward",
    "loglevel",
    "logverbose",
    "macs",
    "match",
    "nohostauthenticationforlocalhost",
    "numberofpasswordprompts",
    "obscurekeystroketiming",
    "passwordauthentication",
    "permitlocalcommand",
    "permitremoteopen",
    "pkcs11provider",
    "port",
    "preferredauthentications",
    "protocol",
    "protocolkeepalives",
    "proxycommand",
    "proxyjump",
    "proxyusefdpass",
    "pubkeyacceptedalgorithms",
    "pubkeyacceptedkeytypes",
    "pubkeyauthentication",
    "refuseconnection",
    "rekeylimit",
    "remotecommand",
    "remoteforward",
    "requesttty",
    "requiredrsasize",
    "revokedhostkeys",
    "rhostsauthentication",
    "rhostsrsaauthentication",
    "rsaauthentication",
    "securitykeyprovider",
    "sendenv",
    "serveralivecountmax",
    "serveraliveinterval",
    "sessiontype",
    "setenv",
    "setuptimeout",
    "skeyauthentication",
    "smartcarddevice",
    "stdinnull",
    "streamlocalbindmask",
    "streamlocalbindunlink",
    "stricthostkeychecking",
    "syslogfacility",
    "tag",
    "tcpkeepalive",
    "tisauthentication",
    "tunnel",
    "tunneldevice",
    "updatehostkeys",
    "useblacklistedkeys",
    "user",
    "userknownhostsfile",
    "userknownhostsfile2",
    "useprivilegedport",
    "useroaming",
    "usersh",
    "verifyhostkeydns",
    "versionaddendum",
    "visualhostkey",
    "warnweakcrypto",
    "xauthlocation",
];

fn is_known_keyword(keyword: &str) -> bool {
    KNOWN_KEYWORDS.binary_search(&keyword).is_ok()
}

/// Host `web` resolved with `text` as the only configuration file (`-F`), for the tests of
/// the modules that use a resolved configuration.
#[cfg(test)]
pub(crate) fn resolve_text(text: &str) -> HostConfig {
    let env = ConfigEnv {
        home: "/home/me".into(),
        local_user: "me".into(),
        local_host: "laptop".into(),
    };
    let text = text.to_string();
    let read = move |p: &Path| (p == Path::new("/cfg")).then(|| text.clone());
    let req = LoginRequest {
        host: "web".into(),
        config_file: Some("/cfg".into()),
        ..LoginRequest::default()
    };
    resolve(&req, &env, &read, &|_| Vec::new()).expect("resolves")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::process::Command;

    use proptest::prelude::*;

    use super::*;

    const HOME: &str = "/home/me";

    fn env() -> ConfigEnv {
        ConfigEnv {
            home: HOME.into(),
            local_user: "me".into(),
            local_host: "laptop.example.org".into(),
        }
    }

    /// An in-memory file system; `glob` matches whole paths with `*` and `?`, sorted.
    struct Fs(Vec<(String, String)>);

    impl Fs {
        fn new(files: &[(&str, &str)]) -> Fs {
            Fs(files
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect())
        }

        fn resolve(&self, req: &LoginRequest) -> Result<HostConfig, ConfigError> {
            let read = |path: &Path| {
                self.0
                    .iter()
                    .find(|(p, _)| Path::new(p) == path)
                    .map(|(_, t)| t.clone())
            };
            let glob = |pattern: &str| {
                let mut paths: Vec<PathBuf> = self
                    .0
                    .iter()
                    .filter(|(p, _)| match_pattern(p, pattern))
                    .map(|(p, _)| PathBuf::from(p))
                    .collect();
                paths.sort();
                paths
            };
            resolve(req, &env(), &read, &glob)
        }

        fn host(&self, host: &str) -> HostConfig {
            self.resolve(&req(host)).expect("resolves")
        }
    }

    fn req(host: &str) -> LoginRequest {
        LoginRequest {
            host: host.into(),
            ..LoginRequest::default()
        }
    }

    /// `config` as ~/.ssh/config.
    fn user_config(config: &str) -> Fs {
        Fs::new(&[("/home/me/.ssh/config", config)])
    }

    /// The resolved values in `ssh -G`'s words, so the table below can be checked against the
    /// real ssh too.
    fn dump(c: &HostConfig) -> BTreeMap<&'static str, String> {
        let paths = |v: &[PathBuf]| {
            v.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        let mut m = BTreeMap::new();
        m.insert("hostname", c.hostname.clone());
        m.insert("user", c.user.clone());
        m.insert("port", c.port.to_string());
        m.insert("identityfile", paths(&c.identity_files));
        m.insert("certificatefile", paths(&c.certificate_files));
        m.insert("identitiesonly", yes_no(c.identities_only));
        m.insert(
            "proxyjump",
            c.proxy_jump
                .iter()
                .map(Jump::to_string)
                .collect::<Vec<_>>()
                .join(","),
        );
        m.insert("proxycommand", c.proxy_command.clone().unwrap_or_default());
        m.insert("forwardagent", yes_no(c.forward_agent));
        m.insert(
            "userknownhostsfile",
            match c.user_known_hosts_files.as_slice() {
                [] => "none".into(),
                files => paths(files),
            },
        );
        m.insert("globalknownhostsfile", paths(&c.global_known_hosts_files));
        m.insert(
            "stricthostkeychecking",
            match c.strict_host_key_checking {
                StrictHostKeyChecking::Ask => "ask",
                StrictHostKeyChecking::AcceptNew => "accept-new",
                StrictHostKeyChecking::Yes => "true",
                StrictHostKeyChecking::No => "false",
            }
            .into(),
        );
        m.insert("hashknownhosts", yes_no(c.hash_known_hosts));
        m.insert(
            "serveraliveinterval",
            c.server_alive_interval.as_secs().to_string(),
        );
        m.insert("serveralivecountmax", c.server_alive_count_max.to_string());
        m.insert("connecttimeout", c.connect_timeout.as_secs().to_string());
        m
    }

    struct Case {
        name: &'static str,
        config: &'static str,
        host: &'static str,
        expect: &'static [(&'static str, &'static str)],
    }

    /// Each directive, precedence and syntax. Every row is also run through the real
    /// `ssh -G -F` by `table_agrees_with_ssh_g`, so the expectations are OpenSSH's.
    const TABLE: &[Case] = &[
        Case {
            name: "keywords are case-insensitive; `Key=Value`, `Key = Value`, `Key Value`",
            config: "HOSTNAME=web1.example.com\nuser = alice\nPort  2222\n",
            host: "web1",
            expect: &[
                ("hostname", "web1.example.com"),
                ("user", "alice"),
                ("port", "2222"),
            ],
        },
        Case {
            name: "only one `=` is a separator",
            config: "User==alice\n",
            host: "web",
            expect: &[("user", "=alice")],
        },
        Case {
            name: "first value wins, across blocks",
            config: "Host web\n  User first\nHost *\n  User second\n  Port 2200\nHost web\n  Port 2201\n",
            host: "web",
            expect: &[("user", "first"), ("port", "2200")],
        },
        Case {
            name: "`?` matches one character",
            config: "Host db?\n  Port 5\nHost *\n  Port 6\n",
            host: "db1",
            expect: &[("port", "5")],
        },
        Case {
            name: "`?` does not match two",
            config: "Host db?\n  Port 5\nHost *\n  Port 6\n",
            host: "db12",
            expect: &[("port", "6")],
        },
        Case {
            name: "several patterns on one line",
            config: "Host a.example b.example *.corp\n  Port 7\n",
            host: "x.corp",
            expect: &[("port", "7")],
        },
        Case {
            name: "a matching negated pattern excludes the block",
            config: "Host *.corp !bastion.corp\n  ProxyJump bastion.corp\n",
            host: "bastion.corp",
            expect: &[("proxyjump", "")],
        },
        Case {
            name: "other hosts still match the block with a negation",
            config: "Host *.corp !bastion.corp\n  ProxyJump bastion.corp\n",
            host: "web.corp",
            expect: &[("proxyjump", "bastion.corp")],
        },
        Case {
            name: "negation wins wherever it stands",
            config: "Host !h *\n  Port 7\n",
            host: "h",
            expect: &[("port", "22")],
        },
        Case {
            name: "Host patterns are case-sensitive; the resolved name is lowercased",
            config: "Host Web1\n  Port 7\n",
            host: "Web1",
            expect: &[("port", "7"), ("hostname", "web1")],
        },
        Case {
            name: "Host patterns are case-sensitive (no match)",
            config: "Host Web1\n  Port 7\n",
            host: "web1",
            expect: &[("port", "22")],
        },
        Case {
            name: "commas are not separators in Host lines",
            config: "Host a,h\n  Port 7\n",
            host: "h",
            expect: &[("port", "22")],
        },
        Case {
            name: "HostName with %h",
            config: "Host *\n  HostName %h.example.com\n",
            host: "web",
            expect: &[("hostname", "web.example.com")],
        },
        Case {
            name: "IdentityFile accumulates in order, duplicates dropped",
            config: "IdentityFile /k/a\nHost web\n  IdentityFile /k/b\n  IdentityFile /k/a\nHost *\n  IdentityFile /k/c\n",
            host: "web",
            expect: &[("identityfile", "/k/a /k/b /k/c")],
        },
        Case {
            name: "quoted values keep their spaces",
            config: "IdentityFile \"/k/with space\"\nUser 'a b'\n",
            host: "web",
            expect: &[("identityfile", "/k/with space"), ("user", "a b")],
        },
        Case {
            name: "CertificateFile accumulates",
            config: "CertificateFile /c/a-cert.pub\nHost *\n  CertificateFile /c/b-cert.pub\n",
            host: "web",
            expect: &[("certificatefile", "/c/a-cert.pub /c/b-cert.pub")],
        },
        Case {
            name: "flags",
            config: "IdentitiesOnly yes\nForwardAgent yes\nHashKnownHosts yes\nForwardAgent no\n",
            host: "web",
            expect: &[
                ("identitiesonly", "yes"),
                ("forwardagent", "yes"),
                ("hashknownhosts", "yes"),
            ],
        },
        Case {
            name: "StrictHostKeyChecking accept-new",
            config: "StrictHostKeyChecking accept-new\n",
            host: "web",
            expect: &[("stricthostkeychecking", "accept-new")],
        },
        Case {
            name: "StrictHostKeyChecking yes",
            config: "StrictHostKeyChecking yes\n",
            host: "web",
            expect: &[("stricthostkeychecking", "true")],
        },
        Case {
            name: "StrictHostKeyChecking off",
            config: "StrictHostKeyChecking off\n",
            host: "web",
            expect: &[("stricthostkeychecking", "false")],
        },
        Case {
            name: "StrictHostKeyChecking no",
            config: "StrictHostKeyChecking no\n",
            host: "web",
            expect: &[("stricthostkeychecking", "false")],
        },
        Case {
            name: "ProxyJump with several hops, users, ports, IPv6",
            config: "ProxyJump alice@j1:2200,j2,[::1]:5\n",
            host: "web",
            expect: &[("proxyjump", "alice@j1:2200,j2,[::1]:5")],
        },
        Case {
            name: "ProxyJump as ssh:// URI",
            config: "ProxyJump ssh://u@x:23\n",
            host: "web",
            expect: &[("proxyjump", "u@x:23")],
        },
        Case {
            name: "ProxyJump none prevents a later one",
            config: "Host web\n  ProxyJump none\nHost *\n  ProxyJump j1\n",
            host: "web",
            expect: &[("proxyjump", "")],
        },
        Case {
            name: "ProxyJump first prevents ProxyCommand",
            config: "ProxyJump j1\nProxyCommand nc j2 22\n",
            host: "web",
            expect: &[("proxyjump", "j1"), ("proxycommand", "")],
        },
        Case {
            name: "ProxyCommand first prevents ProxyJump",
            config: "ProxyCommand /usr/bin/nc -q0 proxy 22\nProxyJump j1\n",
            host: "web",
            expect: &[
                ("proxyjump", ""),
                ("proxycommand", "/usr/bin/nc -q0 proxy 22"),
            ],
        },
        Case {
            name: "ProxyCommand none prevents ProxyJump",
            config: "ProxyCommand none\nProxyJump j1\n",
            host: "web",
            expect: &[("proxyjump", ""), ("proxycommand", "")],
        },
        Case {
            name: "ProxyCommand is the raw rest of the line, comment included",
            config: "ProxyCommand=/usr/bin/nc -X connect -x \"proxy:8080\" gw 22 # via proxy\n",
            host: "web",
            expect: &[(
                "proxycommand",
                "/usr/bin/nc -X connect -x \"proxy:8080\" gw 22 # via proxy",
            )],
        },
        Case {
            name: "known hosts files",
            config: "UserKnownHostsFile /a/kh /b/kh\nGlobalKnownHostsFile /etc/kh1 /etc/kh2\n",
            host: "web",
            expect: &[
                ("userknownhostsfile", "/a/kh /b/kh"),
                ("globalknownhostsfile", "/etc/kh1 /etc/kh2"),
            ],
        },
        Case {
            name: "UserKnownHostsFile none",
            config: "UserKnownHostsFile none\n",
            host: "web",
            expect: &[("userknownhostsfile", "none")],
        },
        Case {
            name: "time values",
            config: "ServerAliveInterval 1m30s\nServerAliveCountMax 5\nConnectTimeout 2m\n",
            host: "web",
            expect: &[
                ("serveraliveinterval", "90"),
                ("serveralivecountmax", "5"),
                ("connecttimeout", "120"),
            ],
        },
        Case {
            name: "ConnectTimeout none leaves it unset",
            config: "ConnectTimeout none\nConnectTimeout 5\n",
            host: "web",
            expect: &[("connecttimeout", "5")],
        },
        Case {
            name: "zero disables keepalives",
            config: "ServerAliveInterval 0\nServerAliveCountMax 0\n",
            host: "web",
            expect: &[("serveraliveinterval", "0"), ("serveralivecountmax", "0")],
        },
        Case {
            name: "Debian's ProtocolKeepAlives alias",
            config: "ProtocolKeepAlives 30\n",
            host: "web",
            expect: &[("serveraliveinterval", "30")],
        },
        Case {
            name: "comments, blank lines, indentation, CRLF, trailing comment",
            config: "# a comment\r\n\r\n\t  \r\n\tUser alice # trailing\r\n  Port 2\r\n",
            host: "web",
            expect: &[("user", "alice"), ("port", "2")],
        },
        Case {
            name: "a `#` inside a word is not a comment",
            config: "User a#b\n",
            host: "web",
            expect: &[("user", "a#b")],
        },
        Case {
            name: "Port as the service name ssh",
            config: "Port ssh\n",
            host: "web",
            expect: &[("port", "22")],
        },
    ];

    #[test]
    fn table() {
        for case in TABLE {
            let got = dump(&user_config(case.config).host(case.host));
            for (key, want) in case.expect {
                assert_eq!(got[key], *want, "{}: {key}", case.name);
            }
        }
    }

    /// Runs every row of TABLE through the installed `ssh -G -F FILE HOST` and compares the
    /// keys the row names. Skipped (with a note) where ssh is not installed.
    #[test]
    fn table_agrees_with_ssh_g() {
        if Command::new("ssh").arg("-V").output().is_err() {
            eprintln!("ssh not installed: table_agrees_with_ssh_g skipped");
            return;
        }
        let dir = std::env::temp_dir().join(format!("sshpty-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for (i, case) in TABLE.iter().enumerate() {
            let file = dir.join(format!("case{i}"));
            std::fs::write(&file, case.config).expect("write config");
            let out = Command::new("ssh")
                .arg("-G")
                .arg("-F")
                .arg(&file)
                .arg(case.host)
                .output()
                .expect("ssh -G");
            assert!(
                out.status.success(),
                "{}: ssh -G failed: {}",
                case.name,
                String::from_utf8_lossy(&out.stderr)
            );
            let mut ssh: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if let Some((k, v)) = line.split_once(' ') {
                    ssh.entry(k.to_string()).or_default().push(v.to_string());
                }
            }
            for (key, want) in case.expect {
                let got = ssh.get(*key).map(|v| v.join(" ")).unwrap_or_default();
                assert_eq!(got, *want, "{}: ssh -G says {key} {got:?}", case.name);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn defaults_when_the_config_says_nothing() {
        let c = Fs::new(&[]).host("web");
        assert_eq!(c.alias, "web");
        assert_eq!(c.hostname, "web");
        assert_eq!(c.user, "me");
        assert_eq!(c.port, 22);
        assert!(!c.identity_files_given);
        assert_eq!(
            c.identity_files,
            [
                "id_rsa",
                "id_ecdsa",
                "id_ecdsa_sk",
                "id_ed25519",
                "id_ed25519_sk"
            ]
            .map(|n| PathBuf::from(format!("/home/me/.ssh/{n}")))
        );
        assert!(c.certificate_files.is_empty());
        assert!(!c.identities_only && !c.forward_agent && !c.hash_known_hosts);
        assert!(c.proxy_jump.is_empty() && c.proxy_command.is_none());
        assert_eq!(
            c.user_known_hosts_files,
            [
                PathBuf::from("/home/me/.ssh/known_hosts"),
                PathBuf::from("/home/me/.ssh/known_hosts2")
            ]
        );
        assert_eq!(
            c.global_known_hosts_files,
            [
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts2")
            ]
        );
        assert_eq!(c.strict_host_key_checking, StrictHostKeyChecking::Ask);
        assert_eq!(c.server_alive_interval, Duration::from_secs(15));
        assert_eq!(c.server_alive_count_max, 3);
        assert_eq!(c.connect_timeout, Duration::from_secs(10));
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn tokens_and_tilde_in_paths() {
        let c = user_config(
            "Host web\n  HostName web.example.com\n  User bob\n  Port 2222\n  \
             IdentityFile ~/.ssh/%h_%r_%u_%n_%p_%k_%%\n  IdentityFile %d/%l/%L/%C\n  \
             CertificateFile ~me/c-%r\n  UserKnownHostsFile ~/.ssh/kh_%h %d/kh2\n  \
             GlobalKnownHostsFile ~/not_expanded_%h\n",
        )
        .host("web");
        assert_eq!(
            c.identity_files,
            [
                PathBuf::from("/home/me/.ssh/web.example.com_bob_me_web_2222_web_%"),
                // %C: SHA-1 of "laptop.example.orgweb.example.com2222bob" (sha1sum).
                PathBuf::from(
                    "/home/me/laptop.example.org/laptop/6665216925f9278fd064618d20e37c556c238876"
                ),
            ]
        );
        assert!(c.identity_files_given);
        assert_eq!(c.certificate_files, [PathBuf::from("/home/me/c-bob")]);
        assert_eq!(
            c.user_known_hosts_files,
            [
                PathBuf::from("/home/me/.ssh/kh_web.example.com"),
                PathBuf::from("/home/me/kh2")
            ]
        );
        assert_eq!(
            c.global_known_hosts_files,
            [PathBuf::from("~/not_expanded_%h")]
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn unknown_tokens_are_kept_and_reported() {
        let c = user_config("IdentityFile /run/%i/key\nHostName %h.%x\n").host("web");
        assert_eq!(c.identity_files, [PathBuf::from("/run/%i/key")]);
        assert_eq!(c.hostname, "web.%x");
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("%x") || c.warnings[1].contains("%x"));
    }

    #[test]
    fn proxy_command_and_jump_tokens() {
        let c = user_config(
            "Host web\n  HostName web.example.com\n  User bob\n  Port 2222\n  \
             ProxyCommand ssh -W %h:%p -l %r gw-%n 100%%\n",
        )
        .host("web");
        assert_eq!(
            c.proxy_command.as_deref(),
            Some("ssh -W web.example.com:2222 -l bob gw-web 100%")
        );
        let c = user_config("Host web\n  HostName web.example.com\n  ProxyJump %r@bastion-%n\n")
            .host("web");
        assert_eq!(
            c.proxy_jump,
            [Jump {
                user: Some("me".into()),
                host: "bastion-web".into(),
                port: None
            }]
        );
    }

    #[test]
    fn user_config_comes_before_the_system_one() {
        let fs = Fs::new(&[
            ("/home/me/.ssh/config", "Host web\n  User mine\n"),
            (
                "/etc/ssh/ssh_config",
                "Host *\n  User system\n  Port 2200\n",
            ),
        ]);
        let c = fs.host("web");
        assert_eq!((c.user.as_str(), c.port), ("mine", 2200));
    }

    #[test]
    fn dash_f_replaces_both_files() {
        let fs = Fs::new(&[
            ("/home/me/.ssh/config", "User mine\n"),
            ("/etc/ssh/ssh_config", "Port 2200\n"),
            ("/tmp/alt", "Port 7\n"),
        ]);
        let mut r = req("web");
        r.config_file = Some("/tmp/alt".into());
        let c = fs.resolve(&r).unwrap();
        assert_eq!((c.user.as_str(), c.port), ("me", 7));
        r.config_file = Some("none".into());
        let c = fs.resolve(&r).unwrap();
        assert_eq!((c.user.as_str(), c.port), ("me", 22));
        r.config_file = Some("/tmp/missing".into());
        assert_eq!(
            fs.resolve(&r),
            Err(ConfigError::ConfigFileUnreadable {
                path: "/tmp/missing".into()
            })
        );
    }

    #[test]
    fn command_line_wins() {
        let fs = user_config(
            "Host web\n  User cfg\n  Port 2200\n  IdentityFile /k/cfg\n  ProxyCommand nc gw 22\n  \
             ConnectTimeout 30\n",
        );
        let mut r = req("web");
        r.port = Some(2222);
        r.identities = vec!["/k/cli".into()];
        r.jump = Some("j1,bob@j2:2022".into());
        r.options = vec![("ConnectTimeout".into(), "3".into())];
        r.user = Some("typed".into());
        let c = fs.resolve(&r).unwrap();
        assert_eq!(c.port, 2222);
        assert_eq!(c.user, "typed");
        assert_eq!(
            c.identity_files,
            [PathBuf::from("/k/cli"), PathBuf::from("/k/cfg")]
        );
        assert_eq!(c.proxy_jump.len(), 2);
        assert_eq!(c.proxy_command, None);
        assert_eq!(c.connect_timeout, Duration::from_secs(3));
    }

    #[test]
    fn dash_o_user_beats_user_at_host() {
        // ssh.c takes `user@` only when options.user is still unset (measured with ssh -G).
        let mut r = req("web");
        r.user = Some("typed".into());
        r.options = vec![("User".into(), "opt".into())];
        assert_eq!(Fs::new(&[]).resolve(&r).unwrap().user, "opt");
    }

    #[test]
    fn dash_o_errors() {
        let fs = Fs::new(&[]);
        let with = |k: &str, v: &str| {
            let mut r = req("web");
            r.options = vec![(k.into(), v.into())];
            fs.resolve(&r)
        };
        for (k, v) in [
            ("Port", "abc"),
            ("User", "a b"),
            ("Host", "x"),
            ("Match", "all"),
            ("Include", "/x"),
            ("NoSuchOption", "1"),
            ("StrictHostKeyChecking", "maybe"),
            ("ProxyJump", "@x"),
        ] {
            assert!(
                matches!(with(k, v), Err(ConfigError::BadOption { .. })),
                "-o {k}={v}"
            );
        }
        // Supported by ssh, not by us: a warning, not an error.
        let c = with("LocalCommand", "ls").unwrap();
        assert_eq!(
            c.warnings,
            ["-o LocalCommand=ls: LocalCommand ls is not supported by sshpty; ignored"]
        );
        // `-o "Key Value"` split by the caller at the first space keeps working.
        assert_eq!(
            with("ProxyCommand", "nc %h %p")
                .unwrap()
                .proxy_command
                .as_deref(),
            Some("nc web 22")
        );
    }

    #[test]
    fn jump_with_proxy_command_on_the_command_line_is_refused() {
        let mut r = req("web");
        r.jump = Some("j1".into());
        r.options = vec![("proxycommand".into(), "nc x 22".into())];
        assert_eq!(
            Fs::new(&[]).resolve(&r),
            Err(ConfigError::JumpAndProxyCommand)
        );
    }

    #[test]
    fn bad_requests() {
        let fs = Fs::new(&[]);
        assert_eq!(fs.resolve(&req("")), Err(ConfigError::NoHost));
        for host in ["a;b", "$(x)", "-oProxyCommand=x", "a b", "a`b`", "a\nb"] {
            assert!(
                matches!(fs.resolve(&req(host)), Err(ConfigError::InvalidHost { .. })),
                "{host}"
            );
        }
        for user in ["a;b", "-x", "a'b", "x -y", "a\\"] {
            let mut r = req("web");
            r.user = Some(user.into());
            assert!(
                matches!(fs.resolve(&r), Err(ConfigError::InvalidUser { .. })),
                "{user}"
            );
        }
        let mut r = req("web");
        r.port = Some(0);
        assert_eq!(fs.resolve(&r), Err(ConfigError::BadPort));
        for jump in ["", "@x", "x:0", "x:abc", "a,,b", "[::1", "ssh://x/path"] {
            let mut r = req("web");
            r.jump = Some(jump.into());
            assert!(
                matches!(fs.resolve(&r), Err(ConfigError::BadJump { .. })),
                "{jump:?}"
            );
        }
    }

    #[test]
    fn proxy_request_reaches_the_last_hop_through_the_others() {
        let mut r = req("web");
        r.jump = Some("a,bob@b:2200,[::1]:5".into());
        r.config_file = Some("/tmp/alt".into());
        let fs = Fs::new(&[("/tmp/alt", "")]);
        let c = fs.resolve(&r).unwrap();
        let hop = c.proxy_request(&r).unwrap();
        assert_eq!(hop.host, "::1");
        assert_eq!(hop.port, Some(5));
        assert_eq!(hop.jump.as_deref(), Some("a,bob@b:2200"));
        assert_eq!(hop.config_file, r.config_file);
        let c = fs.resolve(&hop).unwrap();
        let hop = c.proxy_request(&hop).unwrap();
        assert_eq!(
            (hop.user.as_deref(), hop.host.as_str(), hop.port),
            (Some("bob"), "b", Some(2200))
        );
        assert_eq!(hop.jump.as_deref(), Some("a"));
        let last = fs
            .resolve(&fs.resolve(&hop).unwrap().proxy_request(&hop).unwrap())
            .unwrap();
        assert!(last.proxy_request(&hop).is_none());
    }

    #[test]
    fn jumps_print_as_they_parse() {
        for text in ["a", "u@a:2", "[::1]", "u@[fe80::1]:2222", "a@b@c"] {
            let hops = parse_jump_list(text).unwrap();
            assert_eq!(
                parse_jump_list(&hops[0].to_string()).unwrap(),
                hops,
                "{text}"
            );
        }
        assert_eq!(
            parse_jump_list("a@b@c").unwrap()[0].user.as_deref(),
            Some("a@b")
        );
    }

    #[test]
    fn a_hop_uses_its_own_config() {
        let fs = user_config(
            "Host web\n  ProxyJump gw\nHost gw\n  User jumper\n  Port 2022\n  ProxyJump outer\n",
        );
        let r = req("web");
        let hop = fs.resolve(&r).unwrap().proxy_request(&r).unwrap();
        let gw = fs.resolve(&hop).unwrap();
        assert_eq!((gw.user.as_str(), gw.port), ("jumper", 2022));
        assert_eq!(gw.proxy_jump[0].host, "outer");
    }

    #[test]
    fn include_relative_to_dot_ssh_with_globs_in_lexical_order() {
        let fs = Fs::new(&[
            ("/home/me/.ssh/config", "Include conf.d/*.conf\n"),
            (
                "/home/me/.ssh/conf.d/20-b.conf",
                "Host web\n  User b\n  Port 2\n",
            ),
            ("/home/me/.ssh/conf.d/10-a.conf", "Host web\n  User a\n"),
            ("/home/me/.ssh/conf.d/readme", "User never\n"),
        ]);
        let c = fs.host("web");
        assert_eq!((c.user.as_str(), c.port), ("a", 2));
    }

    /// Measured with ssh -G: lines of the included file before its first Host take the
    /// enclosing block's condition; its Host lines apply only if that block matched.
    #[test]
    fn include_inside_host_stays_conditional() {
        let fs = Fs::new(&[
            (
                "/home/me/.ssh/config",
                "Host h\n  Include ~/inc/*.conf\nHost *\n  User last\n",
            ),
            ("/home/me/inc/1.conf", "User fromInc\nHost h\n  Port 7\n"),
            ("/home/me/inc/2.conf", "Host *\n  HostName inc2\n"),
        ]);
        let c = fs.host("h");
        assert_eq!(
            (c.user.as_str(), c.hostname.as_str(), c.port),
            ("fromInc", "inc2", 7)
        );
        let c = fs.host("other");
        assert_eq!(
            (c.user.as_str(), c.hostname.as_str(), c.port),
            ("last", "other", 22)
        );
    }

    #[test]
    fn include_restores_the_block_after_the_file() {
        // The included file ends inside `Host nomatch`; the lines after the Include are again
        // under `Host web`.
        let fs = Fs::new(&[
            (
                "/home/me/.ssh/config",
                "Host web\n  Include /x.conf\n  User after\n",
            ),
            ("/x.conf", "Host nomatch\n  Port 9\n"),
        ]);
        let c = fs.host("web");
        assert_eq!((c.user.as_str(), c.port), ("after", 22));
    }

    #[test]
    fn system_includes_are_relative_to_etc_ssh_and_refuse_tilde() {
        let fs = Fs::new(&[
            (
                "/etc/ssh/ssh_config",
                "Include ssh_config.d/*.conf\nInclude ~/evil.conf\n",
            ),
            ("/etc/ssh/ssh_config.d/a.conf", "Port 2200\n"),
            ("/home/me/evil.conf", "User evil\n"),
        ]);
        let c = fs.host("web");
        assert_eq!((c.user.as_str(), c.port), ("me", 2200));
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].starts_with("/etc/ssh/ssh_config:2: bad include path"));
    }

    #[test]
    fn include_cycles_and_missing_files_do_not_hang() {
        let fs = Fs::new(&[
            (
                "/home/me/.ssh/config",
                "Include /loop/*\nInclude /nothing/here\nUser ok\n",
            ),
            ("/loop/a", "Include /loop/*\n"),
            ("/loop/b", "Include /loop/a\n"),
        ]);
        let c = fs.host("web");
        assert_eq!(c.user, "ok");
        assert!(
            c.warnings.iter().all(|w| w.contains("includes itself")),
            "{:?}",
            c.warnings
        );
        assert!(!c.warnings.is_empty());
    }

    #[test]
    fn match_blocks_end_at_the_next_host_or_match() {
        let fs = user_config(
            "Host web\n  User alice\nMatch user bob\n  Port 2222\n  User root\nHost web\n  Port 2200\n",
        );
        let c = fs.host("web");
        assert_eq!((c.user.as_str(), c.port), ("alice", 2200));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        // Before any Host line too.
        let c = user_config("Match host other\n  User root\nHost web\n  User alice\n").host("web");
        assert_eq!(c.user, "alice");
        // And a Match block is not cut short by an Include in it.
        let c = Fs::new(&[
            (
                "/home/me/.ssh/config",
                "Match host other\n  Include /m.conf\n  Port 5\nMatch all\n  Include /m.conf\n",
            ),
            ("/m.conf", "User m\n"),
        ])
        .host("web");
        assert_eq!((c.user.as_str(), c.port), ("m", 22));
    }

    /// One `Match` line's criteria against `web` (HostName web.example.org, user alice,
    /// local user me), as ssh_config(5) of OpenSSH 9.x defines them: whether the block
    /// applies. `ssh -G` gives the same answers (`match_criteria_agree_with_ssh_g`).
    const MATCH_CASES: &[(&str, bool)] = &[
        ("all", true),
        ("!all", false),
        ("host web.example.org", true),
        ("host *.example.org", true),
        ("host web", false),
        ("host WEB.example.org", true),
        ("!host web", true),
        ("host other,web.*", true),
        ("host *.org,!web.*", false),
        ("originalhost web", true),
        ("originalhost web.example.org", false),
        ("user alice", true),
        ("user ALICE", false),
        ("user al*,bob", true),
        ("!user alice", false),
        ("localuser me", true),
        ("localuser nobody-here", false),
        ("host *.org user alice", true),
        ("host *.org user bob", false),
        ("originalhost web !localuser nobody-here", true),
        // With a `Match final` in the files there is a final pass, where it holds; `!final`
        // holds in the first. Without one there is no final pass: `canonical` never holds.
        ("canonical", false),
        ("final", true),
        ("!final", true),
    ];

    fn match_case_config(criteria: &str) -> String {
        format!(
            "Host web\n  HostName web.example.org\n  User alice\nMatch {criteria}\n  Port 2200\n"
        )
    }

    #[test]
    fn match_criteria() {
        for (criteria, applies) in MATCH_CASES {
            let c = user_config(&match_case_config(criteria)).host("web");
            assert!(c.warnings.is_empty(), "{criteria}: {:?}", c.warnings);
            assert_eq!(c.port == 2200, *applies, "Match {criteria}");
        }
    }

    /// The same cases through the installed `ssh -G` (skipped where ssh is not installed).
    #[test]
    fn match_criteria_agree_with_ssh_g() {
        if Command::new("ssh").arg("-V").output().is_err() {
            eprintln!("ssh not installed: match_criteria_agree_with_ssh_g skipped");
            return;
        }
        let me = env_for_ssh_g();
        let dir = std::env::temp_dir().join(format!("sshpty-match-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for (i, (criteria, applies)) in MATCH_CASES.iter().enumerate() {
            let criteria = criteria.replace("localuser me", &format!("localuser {me}"));
            let file = dir.join(format!("case{i}"));
            std::fs::write(&file, match_case_config(&criteria)).expect("write config");
            let out = Command::new("ssh")
                .args(["-G", "-F"])
                .arg(&file)
                .arg("web")
                .output()
                .expect("ssh -G");
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                text.lines().any(|l| l == "port 2200"),
                *applies,
                "ssh -G with Match {criteria}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn env_for_ssh_g() -> String {
        nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_default()
    }

    #[test]
    fn match_sees_what_earlier_lines_resolved() {
        // `Match host` after a HostName; `Match user` after `user@` and earlier User lines.
        let fs = user_config(
            "Host db\n  HostName %h.internal\nMatch host *.internal\n  User ops\n\
             Match user ops\n  Port 2022\n",
        );
        let c = fs.host("db");
        assert_eq!((c.user.as_str(), c.port), ("ops", 2022));
        let mut r = req("db");
        r.user = Some("root".into());
        let c = fs.resolve(&r).expect("resolves");
        assert_eq!((c.user.as_str(), c.port), ("root", 22));
    }

    #[test]
    fn match_final_reads_the_files_again_matching_the_hostname() {
        // First pass: web -> HostName web.example.org; `Host *.example.org` does not match
        // the typed name. The final pass matches Host lines against the HostName, applies
        // `Match final` blocks, and fills only what is still unset.
        let fs = user_config(
            "Host web\n  HostName web.example.org\n  User alice\nHost *.example.org\n  Port 2200\n               User bob\nMatch final\n  ConnectTimeout 3\n  User carol\nMatch canonical\n               ServerAliveInterval 7\n",
        );
        let c = fs.host("web");
        assert_eq!((c.user.as_str(), c.port), ("alice", 2200));
        assert_eq!(c.connect_timeout, Duration::from_secs(3));
        assert_eq!(c.server_alive_interval, Duration::from_secs(7));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        // The installed ssh agrees (skipped where it is not installed).
        if Command::new("ssh").arg("-V").output().is_ok() {
            let file = std::env::temp_dir().join(format!("sshpty-final-{}", std::process::id()));
            std::fs::write(&file, &fs.0[0].1).expect("write config");
            let out = Command::new("ssh")
                .args(["-G", "-F"])
                .arg(&file)
                .arg("web")
                .output()
                .expect("ssh -G");
            let _ = std::fs::remove_file(&file);
            let text = String::from_utf8_lossy(&out.stdout);
            for want in [
                "user alice",
                "port 2200",
                "connecttimeout 3",
                "serveraliveinterval 7",
            ] {
                assert!(text.lines().any(|l| l == want), "ssh -G: no {want:?}");
            }
        }
        // Without a `Match final`, no second pass: `canonical` never holds.
        let c = user_config("Match canonical\n  Port 7\n").host("web");
        assert_eq!(c.port, 22);
    }

    #[test]
    fn match_exec_and_unknown_criteria_do_not_apply_and_warn_once() {
        let c = user_config(
            "Match exec \"true\"\n  Port 7\nMatch host web localnetwork 10.0.0.0/8\n  User x\n\
             Match host other exec \"true\"\n  Port 8\nHost *\n  Port 9\n",
        )
        .host("web");
        assert_eq!((c.user.as_str(), c.port), ("me", 9));
        assert_eq!(
            c.warnings,
            [
                "/home/me/.ssh/config:1: sshpty does not run Match exec commands (exec true): \
                 the settings under \"Match exec true\" are not applied",
                "/home/me/.ssh/config:3: sshpty does not evaluate these criteria (localnetwork \
                 10.0.0.0/8): the settings under \"Match host web localnetwork 10.0.0.0/8\" are \
                 not applied",
            ]
        );
        // Malformed: ssh refuses these; here the block does not apply.
        for bad in [
            "Match host",
            "Match all host web",
            "Match host a user b all",
        ] {
            let c = user_config(&format!("{bad}\n  Port 7\n")).host("web");
            assert_eq!(c.port, 22, "{bad}");
            assert_eq!(c.warnings.len(), 1, "{bad}: {:?}", c.warnings);
        }
    }

    /// Fedora's /etc/ssh/ssh_config.d/50-redhat.conf, as shipped.
    const FEDORA_REDHAT_CONF: &str = "\
# The options here are in the \"Match final block\" to be applied as the last
# options and could be potentially overwritten by the user configuration
Match final all
\t# Follow system-wide Crypto Policy, if defined:
\tInclude /etc/crypto-policies/back-ends/openssh.config

\tGSSAPIAuthentication yes

# If this option is set to yes then remote X11 clients will have full access
# to the original X11 display. As virtually no X11 client supports the untrusted
# mode correctly we set this to yes.
\tForwardX11Trusted yes

# Uncomment this if you want to use .local domain
# Host *.local

# Send locale environment variables. #367017
\tSendEnv LANG LC_CTYPE LC_NUMERIC LC_TIME LC_COLLATE LC_MONETARY LC_MESSAGES
";

    #[test]
    fn fedora_match_final_all() {
        let fs = Fs::new(&[
            (
                "/etc/ssh/ssh_config",
                "Include /etc/ssh/ssh_config.d/*.conf\nHost *\n  Port 2200\n",
            ),
            ("/etc/ssh/ssh_config.d/50-redhat.conf", FEDORA_REDHAT_CONF),
            (
                "/etc/crypto-policies/back-ends/openssh.config",
                "User crypto\nCiphers aes256-gcm@openssh.com\n",
            ),
            ("/home/me/.ssh/config", "Host web\n  User alice\n"),
        ]);
        let c = fs.host("web");
        assert_eq!((c.user.as_str(), c.port), ("alice", 2200));
        assert_eq!(
            c.algorithms.ciphers.as_deref(),
            Some("aes256-gcm@openssh.com")
        );
        assert_eq!(c.send_env.len(), 7);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let c = fs.host("other");
        assert_eq!(c.user, "crypto");
    }

    /// The stock files of a system (tests/data/ssh_config/SYSTEM, see its README.txt) as an
    /// in-memory file system: `etc/...` at `/etc/...`, `home/...` at `/home/me/...`.
    fn stock(system: &str) -> Fs {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/ssh_config")
            .join(system);
        let mut files = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("test data") {
                let path = entry.expect("test data").path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let rel = path
                    .strip_prefix(&root)
                    .expect("under root")
                    .display()
                    .to_string();
                let at = match rel.strip_prefix("home/") {
                    Some(rest) => format!("{HOME}/{rest}"),
                    None => format!("/{rel}"),
                };
                files.push((at, std::fs::read_to_string(&path).expect("test data")));
            }
        }
        assert!(!files.is_empty(), "no files for {system}");
        Fs(files)
    }

    #[test]
    fn stock_debian_12_and_ubuntu_24_04() {
        for system in ["debian-12", "ubuntu-24.04"] {
            let c = stock(system).host("web");
            assert!(c.warnings.is_empty(), "{system}: {:?}", c.warnings);
            assert_eq!(c.send_env, ["LANG", "LC_*"], "{system}");
            assert!(c.hash_known_hosts, "{system}");
            assert!(!c.batch_mode);
            assert_eq!(c.algorithms, AlgorithmSpecs::default(), "{system}");
        }
    }

    #[test]
    fn stock_fedora_40() {
        let c = stock("fedora-40").host("web");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(
            c.send_env.join(" "),
            "LANG LC_CTYPE LC_NUMERIC LC_TIME LC_COLLATE LC_MONETARY LC_MESSAGES LC_PAPER LC_NAME \
             LC_ADDRESS LC_TELEPHONE LC_MEASUREMENT LC_IDENTIFICATION LC_ALL LANGUAGE XMODIFIERS"
        );
        // The DEFAULT crypto policy, applied through `Match final all`.
        let a = &c.algorithms;
        assert_eq!(
            a.ciphers.as_deref(),
            Some(
                "aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-ctr,\
                 aes128-gcm@openssh.com,aes128-ctr"
            )
        );
        assert!(
            a.macs
                .as_deref()
                .is_some_and(|m| m.starts_with("hmac-sha2-256-etm@"))
        );
        assert!(
            a.kex
                .as_deref()
                .is_some_and(|k| k.starts_with("curve25519-sha256,"))
        );
        assert!(
            a.host_keys
                .as_deref()
                .is_some_and(|k| k.contains("ssh-ed25519,"))
        );
        assert!(
            a.pubkey
                .as_deref()
                .is_some_and(|k| k.contains("rsa-sha2-512"))
        );
        assert!(
            a.ca_signature
                .as_deref()
                .is_some_and(|k| !k.contains("ssh-rsa,"))
        );
        assert_eq!(c.required_rsa_size, 2048);
        // The user's own settings still come first.
        let mut fs = stock("fedora-40");
        fs.0.push((
            "/home/me/.ssh/config".into(),
            "Host web\n  Ciphers aes128-ctr\n  SendEnv -LC_*\n".into(),
        ));
        let c = fs.host("web");
        assert_eq!(c.algorithms.ciphers.as_deref(), Some("aes128-ctr"));
        assert!(c.send_env.contains(&"LANG".to_string()));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn stock_macos_with_a_keychain_user_config() {
        let c = stock("macos-14").host("web");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(c.send_env, ["LANG", "LC_*"]);
        assert_eq!(
            c.identity_files,
            [PathBuf::from("/home/me/.ssh/id_ed25519")]
        );
    }

    #[test]
    fn directives_that_change_something_still_warn() {
        let c = user_config(
            "ForwardX11 yes\nForwardX11 no\nPasswordAuthentication no\nAddressFamily inet\n\
             CanonicalizeHostname yes\nGSSAPIAuthentication yes\nForwardX11Trusted yes\n",
        )
        .host("web");
        let lines: Vec<&str> = c
            .warnings
            .iter()
            .map(|w| w.split(": ").next().unwrap_or(""))
            .collect();
        assert_eq!(
            lines,
            [1, 3, 4, 5].map(|n| format!("/home/me/.ssh/config:{n}")),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn batch_mode_and_crypto_directives_are_read() {
        let c = user_config(
            "BatchMode yes\nCiphers ^aes128-ctr\nMACs -hmac-sha1*\nKexAlgorithms +diffie-hellman-group14-sha1\n\
             HostKeyAlgorithms ssh-ed25519\nRequiredRSASize 3072\n",
        )
        .host("web");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert!(c.batch_mode);
        assert_eq!(
            c.algorithms,
            AlgorithmSpecs {
                ciphers: Some("^aes128-ctr".into()),
                macs: Some("-hmac-sha1*".into()),
                kex: Some("+diffie-hellman-group14-sha1".into()),
                host_keys: Some("ssh-ed25519".into()),
                pubkey: None,
                ca_signature: None,
            }
        );
        assert_eq!(c.required_rsa_size, 3072);
    }

    #[test]
    fn unsupported_directives_warn_once_and_only_where_they_apply() {
        let fs = Fs::new(&[
            (
                "/home/me/.ssh/config",
                "Host other\n  LocalForward 8080 localhost:80\nHost web\n  Include /i.conf\n  Include /i.conf\n",
            ),
            ("/i.conf", "ControlMaster auto\nLocalCommand ls\n"),
        ]);
        let c = fs.host("web");
        assert_eq!(
            c.warnings,
            ["/i.conf:2: LocalCommand ls is not supported by sshpty; ignored"]
        );
    }

    /// A block per host of a fleet: the lines of blocks that do not apply are passed over
    /// (`SplitText::next_heard`), and still warn where ssh would (an unknown keyword, a
    /// keyword without its argument), IgnoreUnknown from an earlier block included.
    #[test]
    fn a_config_of_many_blocks_resolves_each_host_and_warns_as_before() {
        let mut text = String::from("Host h0002\n  IgnoreUnknown Fancy*\n");
        for i in 1..=500 {
            text.push_str(&format!(
                "Host h{i:04}\n  HostName 10.0.{}.{}\n  Port {}\n  # a comment\n\n  User u{i}\n",
                i / 256,
                i % 256,
                2000 + i
            ));
            if i == 250 {
                text.push_str("  Bogus yes\n  FancyThing 1\n  Port\n");
            }
        }
        text.push_str("Host *\n  User everyone\n  Port 22\n");
        let fs = user_config(&text);
        let c = fs.host("h0300");
        assert_eq!(
            (c.hostname.as_str(), c.port, c.user.as_str()),
            ("10.0.1.44", 2300, "u300")
        );
        let at = |n: usize| format!("/home/me/.ssh/config:{n}");
        // Block 250's extra lines follow its six (two lines before the first block).
        let (bogus, fancy, port) = (2 + 250 * 6 + 1, 2 + 250 * 6 + 2, 2 + 250 * 6 + 3);
        assert_eq!(
            c.warnings,
            [
                format!("{}: unknown directive \"Bogus\"; line ignored", at(bogus)),
                format!(
                    "{}: unknown directive \"FancyThing\"; line ignored",
                    at(fancy)
                ),
                format!(
                    "{}: no argument after keyword \"port\"; line ignored",
                    at(port)
                ),
            ]
        );
        // h0002's block set IgnoreUnknown: its login hears of Bogus only.
        let c = fs.host("h0002");
        assert_eq!(c.port, 2002);
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(
            !c.warnings.iter().any(|w| w.contains("Fancy")),
            "{:?}",
            c.warnings
        );
        // A name of no block takes `Host *`.
        let c = fs.host("other");
        assert_eq!((c.port, c.user.as_str()), (22, "everyone"));
    }

    #[test]
    fn unknown_directives_warn_unless_ignore_unknown_lists_them() {
        let c = user_config("Host other\n  UseKeychaim yes\n").host("web");
        assert_eq!(
            c.warnings,
            ["/home/me/.ssh/config:2: unknown directive \"UseKeychaim\"; line ignored"]
        );
        // Apple's UseKeychain is quiet even without IgnoreUnknown.
        let c = user_config("UseKeychain yes\n").host("web");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let c = user_config(
            "IgnoreUnknown UseKeychain,AddKeys*\nUseKeychain yes\nAddKeysToAgentX yes\n",
        )
        .host("web");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn malformed_lines_are_warnings_and_never_misapply() {
        let c = user_config(
            "Port abc\nUser a b\nUser \"unterminated\nPort\nConnectTimeout 5x\nHostName\n\
             Host web\n  User alice\nHost\n  Port 3\nHost \"web\n  Port 4\nHost web\n  Port 5\n",
        )
        .host("web");
        assert_eq!(
            (c.user.as_str(), c.port, c.connect_timeout),
            ("alice", 5, Duration::from_secs(10))
        );
        let lines: Vec<&str> = c
            .warnings
            .iter()
            .map(|w| w.split(": ").next().unwrap_or(""))
            .collect();
        assert_eq!(
            lines,
            [1, 2, 3, 4, 5, 6, 9, 11].map(|n| format!("/home/me/.ssh/config:{n}"))
        );
    }

    #[test]
    fn forward_agent_to_a_chosen_socket_is_not_done() {
        let c = user_config("ForwardAgent $SOME_SOCK\nForwardAgent yes\n").host("web");
        assert!(!c.forward_agent);
        assert_eq!(c.warnings.len(), 1);
    }

    #[test]
    fn match_pattern_cases() {
        for (text, pattern, want) in [
            ("web1", "web1", true),
            ("web1", "web?", true),
            ("web12", "web?", false),
            ("a.example.com", "*.example.com", true),
            ("example.com", "*.example.com", false),
            ("", "*", true),
            ("", "", true),
            ("x", "", false),
            (
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
                "*a*a*a*a*a*a*a*a*a*a*c",
                false,
            ),
            ("abcbcd", "a*bcd", true),
        ] {
            assert_eq!(match_pattern(text, pattern), want, "{text:?} ~ {pattern:?}");
        }
        assert_eq!(match_pattern_list("web", "!web,*"), Some(false));
        assert_eq!(match_pattern_list("WEB", "x,w*"), Some(true));
        assert_eq!(match_pattern_list("web", "!x"), None);
    }

    /// A plain recursive reference for `*` and `?`.
    fn reference_match(t: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| reference_match(&t[i..], rest)),
            Some((c, rest)) => {
                !t.is_empty() && (*c == '?' || *c == t[0]) && reference_match(&t[1..], rest)
            }
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in any::<String>(), host in "[a-z0-9.*?!-]{1,12}") {
            let fs = Fs::new(&[("/home/me/.ssh/config", &text), ("/etc/ssh/ssh_config", &text)]);
            let _ = fs.resolve(&req(&host));
        }

        #[test]
        fn never_panics_on_config_like_lines(
            lines in prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "Host", "Match", "Include", "HostName", "User", "Port", "IdentityFile",
                        "CertificateFile", "ProxyJump", "ProxyCommand", "ForwardAgent",
                        "UserKnownHostsFile", "StrictHostKeyChecking", "ConnectTimeout",
                        "ServerAliveInterval", "ServerAliveCountMax", "IgnoreUnknown", "SendEnv", "Bogus",
                    ]),
                    prop::sample::select(vec![" ", "=", " = ", "\t", ""]),
                    "[ a-z0-9%~*?!@:,\\[\\]\"'#=/\\\\.-]{0,24}",
                ),
                0..24,
            ),
            host in "[a-z0-9.]{1,8}",
        ) {
            let text: String = lines.iter().map(|(k, s, v)| format!("{k}{s}{v}\n")).collect();
            let fs = Fs::new(&[("/home/me/.ssh/config", &text), ("/home/me/.ssh/inc", &text)]);
            let _ = fs.resolve(&req(&host));
            let mut r = req(&host);
            r.options = lines.iter().map(|(k, _, v)| (k.to_string(), v.clone())).collect();
            let _ = fs.resolve(&r);
        }

        /// `Match !C` applies exactly when `Match C` does not, and `Match C D` exactly when
        /// both do, for the criteria sshpty evaluates and any pattern lists.
        #[test]
        fn match_negation_and_conjunction(
            a in (
                prop::sample::select(vec!["host", "originalhost", "user", "localuser"]),
                "[a-z.*?!,]{1,10}",
            ),
            b in (
                prop::sample::select(vec!["host", "originalhost", "user", "localuser"]),
                "[a-z.*?!,]{1,10}",
            ),
            alias in "[a-z]{1,4}",
        ) {
            let applies = |criteria: &str| {
                let text = format!(
                    "Host {alias}\n  HostName {alias}.example\n  User al\nMatch {criteria}\n  Port 2200\n"
                );
                let c = user_config(&text).host(&alias);
                (c.port == 2200, c.warnings)
            };
            let one = format!("{} {}", a.0, a.1);
            let two = format!("{} {}", b.0, b.1);
            let (yes, w1) = applies(&one);
            let (no, w2) = applies(&format!("!{one}"));
            let (yes2, _) = applies(&two);
            let (both, w3) = applies(&format!("{one} {two}"));
            prop_assert!(w1.is_empty() && w2.is_empty() && w3.is_empty());
            prop_assert_eq!(yes, !no);
            prop_assert_eq!(both, yes && yes2);
        }

        #[test]
        fn match_pattern_agrees_with_the_reference(t in "[ab]{0,8}", p in "[ab*?]{0,6}") {
            let (tc, pc): (Vec<char>, Vec<char>) = (t.chars().collect(), p.chars().collect());
            prop_assert_eq!(match_pattern(&t, &p), reference_match(&tc, &pc));
        }

        /// Beyond ASCII, `?` is one character, not one byte.
        #[test]
        fn match_pattern_agrees_with_the_reference_beyond_ascii(
            t in "[aé]{0,8}",
            p in "[aé*?]{0,6}",
        ) {
            let (tc, pc): (Vec<char>, Vec<char>) = (t.chars().collect(), p.chars().collect());
            prop_assert_eq!(match_pattern(&t, &p), reference_match(&tc, &pc));
        }

        /// A file's lines are split once per text: the same path with another text reads the
        /// new one, and going back to the first reads it again.
        #[test]
        fn a_file_changed_between_logins_is_read_as_it_is_now(
            ports in prop::collection::vec(1u16..9, 1..6),
        ) {
            for port in ports {
                let text = format!("Host web\n  Port {port}\n");
                let fs = Fs::new(&[("/home/me/.ssh/config", &text)]);
                prop_assert_eq!(fs.resolve(&req("web")).expect("resolves").port, port);
            }
        }
    }
}
