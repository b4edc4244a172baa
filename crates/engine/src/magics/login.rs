//! `%login` and `%logout`: parsing, logging in (SSH or this machine; the login shell's
//! environment read in the background), waiting for that environment, logging out.

use std::sync::Arc;
use std::time::Duration;

use context::{Context, Dialect, capture, script};
use targets::Target;
use targets::local::LocalTarget;
use targets::ssh::config::LoginRequest;
use targets::ssh::{Ask, SshTarget};
use targets::{LOCAL, LoginTarget};

use super::args::Args;
use super::magic::{Magic, Spec};
use crate::cell::NullSink;
use crate::cell::{self, RunSpec};
use crate::failure::{Failure, MagicError, Outcome, Stage};
use crate::frontend::Request;
use crate::hosts::{Condition, Host, Login};
use crate::output::StreamOut;
use crate::session::Engine;
use crate::sink::Sink;

/// A login shell that waits for input or loops in its profile must not hold the cell.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(15);

pub(super) const LOGIN: Spec = Spec {
    name: "login",
    usage: "%login [-p PORT] [-i KEY]... [-J JUMP] [-F CONFIG] [-o Key=Value]... [user@]HOST | local",
    description: "log in to HOST over SSH, or to this machine with `local`; later cells run there",
    parse: parse_login,
};

pub(super) const LOGOUT: Spec = Spec {
    name: "logout",
    usage: "%logout [HOST]",
    description: "close the connection to the current target, or to HOST",
    parse: |a| {
        Ok(Magic::Logout {
            host: a.optional_word()?,
        })
    },
};

/// What `--login TARGET` and `%login TARGET` take: `local`, `user@host`, `-p 2222 host`.
pub fn parse_target(text: &str) -> Result<LoginTarget, MagicError> {
    target(&Args {
        name: LOGIN.name,
        usage: LOGIN.usage,
        args: text.trim(),
    })
}

fn parse_login(a: &Args) -> Result<Magic, MagicError> {
    target(a).map(Magic::Login)
}

/// `[-p PORT] [-i KEY]... [-J JUMP] [-F CONFIG] [-o Key=Value]... [user@]HOST | local`.
fn target(a: &Args) -> Result<LoginTarget, MagicError> {
    let words = a.words()?;
    let mut target = LoginRequest::default();
    let mut host: Option<String> = None;
    let mut any_option = false;
    let mut words = words.into_iter();
    let mut options_done = false;
    while let Some(word) = words.next() {
        if options_done || !word.starts_with('-') || word == "-" {
            if let Some(first) = &host {
                return Err(a.usage(format!("takes one host, got {first:?} and {word:?}")));
            }
            host = Some(word);
            continue;
        }
        if word == "--" {
            options_done = true;
            continue;
        }
        // `-p 22` or `-p22`, as ssh accepts.
        let flag_len = word.char_indices().nth(2).map_or(word.len(), |(i, _)| i);
        let (flag, attached) = word.split_at(flag_len);
        let mut value = || -> Result<String, MagicError> {
            if !attached.is_empty() {
                return Ok(attached.to_string());
            }
            match words.next() {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(a.usage(format!("{flag} needs a value"))),
            }
        };
        any_option = true;
        match flag {
            "-p" => {
                let text = value()?;
                let port = text.parse::<u16>().ok().filter(|p| *p != 0);
                target.port = Some(port.ok_or_else(|| {
                    a.usage(format!("-p needs a port from 1 to 65535 (got {text:?})"))
                })?);
            }
            "-i" => target.identities.push(value()?),
            "-J" => target.jump = Some(value()?),
            "-F" => target.config_file = Some(value()?.into()),
            "-o" => {
                let text = value()?;
                // ssh takes `Key=Value` and `Key Value`.
                let pair = text
                    .split_once(|c: char| c == '=' || c.is_whitespace())
                    .map(|(k, v)| (k.trim(), v.trim()))
                    .filter(|(k, v)| {
                        !k.is_empty()
                            && !v.is_empty()
                            && k.chars().all(|c| c.is_ascii_alphanumeric())
                    });
                let Some((key, val)) = pair else {
                    return Err(a.usage(format!("-o needs Key=Value (got {text:?})")));
                };
                target.options.push((key.to_string(), val.to_string()));
            }
            _ => return Err(a.usage(format!("has no option {word}"))),
        }
    }
    let Some(host) = host else {
        return Err(a.usage("needs a host, or local for this machine"));
    };
    if host == LOCAL {
        if any_option {
            return Err(a.usage("local takes no options"));
        }
        return Ok(LoginTarget::Local);
    }
    let (user, name) = match host.rsplit_once('@') {
        Some((user, name)) => (Some(user), name),
        None => (None, host.as_str()),
    };
    if name.is_empty() || user.is_some_and(str::is_empty) || name.contains(char::is_whitespace) {
        return Err(a.usage(format!("needs a host as [user@]HOST (got {host:?})")));
    }
    target.user = user.map(str::to_string);
    target.host = name.to_string();
    Ok(LoginTarget::Ssh(target))
}

/// Who asks for a login, which decides what it says and whether its target becomes current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginBy {
    /// `%login` in a cell: says what it did; the target becomes current.
    Magic,
    /// The kernelspec's `--login` at the first cell (or before a completion): says nothing
    /// when it works, so that cell's output is the cell's alone; the target becomes current.
    Kernelspec,
    /// `local` for a `!` line: says nothing, is not shown as a login under way, and the
    /// notebook's target stays current.
    Bang,
    /// A host of a `%on` cell: the same as `Bang`, for an inventory's host.
    Fleet,
}

impl LoginBy {
    /// Whether the target becomes the notebook's current one (and frontends show the
    /// login under way).
    fn makes_current(self) -> bool {
        matches!(self, LoginBy::Magic | LoginBy::Kernelspec)
    }
}

impl Engine {
    /// Log in to `args` (see [`LoginBy`] for who asks and what it changes).
    pub(crate) async fn login(
        &self,
        args: &LoginTarget,
        req: &Request,
        by: LoginBy,
        out: &mut StreamOut<'_>,
    ) -> Outcome {
        let quiet = by != LoginBy::Magic;
        self.login_allowed(args)?;
        let name = args.name();
        // Already logged in: switch to it; a lost connection is opened again and keeps
        // the context it had.
        let existing = {
            let mut st = self.state();
            match st.hosts.get(&name).map(|h| (h.condition(), h)) {
                None => None,
                Some((Condition::Lost, h)) => Some(h.context.clone()),
                // A lost connection whose login environment was never read: log in anew.
                Some((_, h)) if !h.target.info().connected => None,
                Some(_) => {
                    st.hosts.switch_to(&name);
                    out.text(&format!("switched to {name}\n"));
                    return Ok(());
                }
            }
        };
        // Frontends show the login under way until it ends, however it ends (not a `!`
        // line's: the notebook's host is not changing).
        let _connecting = by
            .makes_current()
            .then(|| self.start_logging_in(&name, existing.is_some()));
        let target: Arc<dyn Target> = match args {
            LoginTarget::Local => Arc::new(LocalTarget::new()),
            LoginTarget::Ssh(request) => {
                let ask = self.asker(req);
                let (t, notes) = SshTarget::login(&name, request, ask).await?;
                for n in notes {
                    // Each configuration warning once per kernel, not at every login; the
                    // kernelspec's own login tells them after the cell's output (`execute`).
                    let mut st = self.state();
                    if st.warned.insert(n.clone()) {
                        if quiet {
                            st.later_notes.push(n);
                        } else {
                            out.note(&format!("sshpty: {n}\n"));
                        }
                    }
                }
                Arc::new(t)
            }
        };
        let info = target.info();
        let Some(context) = existing else {
            // The login environment (the profile run by a login shell) is read in the
            // background: most of a login's time is sshd opening the first session (PAM)
            // and the profile, and the next cell waits for it only if it comes first.
            if !quiet {
                out.text(&format!(
                    "logged in to {} as {}@{}\n",
                    info.name, info.user, info.host
                ));
            }
            let (done, reading) = tokio::sync::watch::channel(false);
            let mut st = self.state();
            let become_user = st.hosts.get(&name).and_then(|h| h.become_user.clone());
            let host = Host {
                become_user,
                login: Login::Reading { done: reading },
                ..Host::ready(target.clone(), Context::default(), String::new())
            };
            st.hosts.log_in(&name, host, by.makes_current());
            drop(st);
            let engine = self.clone();
            tokio::spawn(async move {
                engine.read_login_environment(&name, target, by).await;
                let _ = done.send(true);
                engine.presence_may_have_changed();
            });
            return Ok(());
        };
        let mut st = self.state();
        let shell = st
            .hosts
            .get(&name)
            .map(|h| h.shell.clone())
            .unwrap_or_default();
        let mut context = context;
        for (k, v) in &st.params {
            context.set_param(k, v);
        }
        if !quiet {
            out.text(&format!(
                "reconnected to {} as {}@{} ({}), in {}\n",
                info.name,
                info.user,
                info.host,
                shell,
                context.cwd_lossy()
            ));
        }
        // A reconnection keeps who the cells run as.
        let become_user = st.hosts.get(&name).and_then(|h| h.become_user.clone());
        let host = Host {
            become_user,
            ..Host::ready(target.clone(), context, shell)
        };
        st.hosts.log_in(&name, host, by.makes_current());
        drop(st);
        self.prepare_spare_if_current(&name, &target);
        Ok(())
    }

    /// The background part of a login: capture the login shell's environment and keep it
    /// as host `name`'s context (unless the host was logged out or replaced meanwhile),
    /// with what the user should be told; then prepare the first cell's shell, in the
    /// login's own session when it stayed (see `script::login_payload`).
    async fn read_login_environment(&self, name: &str, target: Arc<dyn Target>, by: LoginBy) {
        let mut notes = Vec::new();
        let (captured, started) = match self.capture_login(target.as_ref(), &mut notes).await {
            Ok((context, shell, stayed)) => (Ok((context, shell)), stayed.map(|s| s.proc)),
            Err(f) => (Err(f), None),
        };
        {
            let mut st = self.state();
            let params = st.params.clone();
            let early = st.early.clone();
            let Some(h) = st
                .hosts
                .still_mut(name, &target)
                .filter(|h| h.condition() == Condition::Reading)
            else {
                crate::warm::hang_up(started);
                return;
            };
            match captured {
                Ok((mut context, shell)) => {
                    for (k, v) in &early {
                        context.set_variable(k, v, false);
                    }
                    for (k, v) in &params {
                        context.set_param(k, v);
                    }
                    h.context = context;
                    h.shell = shell;
                    h.login = Login::Ready { untold: notes };
                }
                Err(f) => {
                    h.login = Login::Failed(f);
                    return;
                }
            }
        }
        log::debug!(
            "{name}: the login's session {}",
            if started.is_some() { "stayed" } else { "ended" }
        );
        // The next cell's shell is prepared for the notebook's current host, and for a
        // fleet's host (`%on`, never current) in the session the login left, if it stayed.
        // Else a fleet host's cell starts its own: one started here for a host whose cell
        // cannot use it (sh) would be a channel and a shell for nothing.
        if self.state().hosts.current_name() == Some(name) {
            self.prepare_spare_from(name, &target, started);
        } else if by == LoginBy::Fleet && started.is_some() {
            self.prepare_in(&self.fleet_shell(name), name, &target, started);
        } else {
            crate::warm::hang_up(started);
        }
    }

    /// The next cell's shell is started ahead for the notebook's current host only: a
    /// fleet's hosts (`%on`) are logged in to without becoming current, and a shell started
    /// for each would cost every host a channel and a shell for nothing, and take the
    /// current host's.
    fn prepare_spare_if_current(&self, name: &str, target: &Arc<dyn Target>) {
        if self.state().hosts.current_name() == Some(name) {
            self.prepare_spare(name, target);
        }
    }

    /// Wait until the current host's login environment has been read (see `login`): what
    /// a cell or a magic that uses the context does first. Tells the capture's notes; a
    /// failed capture ends the login and is this request's error.
    pub(crate) async fn settle_login(&self, out: &mut StreamOut<'_>) -> Outcome {
        self.settle_login_on(None, out).await
    }

    /// [`Engine::settle_login`] for host `on` (the current one when `None`).
    pub(crate) async fn settle_login_on(
        &self,
        on: Option<&str>,
        out: &mut StreamOut<'_>,
    ) -> Outcome {
        let Some((name, mut reading)) = ({
            let st = self.state();
            let name = on.or(st.hosts.current_name()).map(str::to_owned);
            let host = name.as_deref().and_then(|n| st.hosts.get(n));
            name.zip(host.map(Host::reading))
        }) else {
            return Ok(());
        };
        if let Some(pending) = reading.as_mut() {
            let mut interrupt = self.inner.interrupt.subscribe();
            interrupt.borrow_and_update();
            tokio::select! {
                // An error: the capture task is gone (shutdown); the state says the rest.
                _ = pending.wait_for(|done| *done) => {}
                _ = interrupt.changed() => {
                    return Err(Failure::Interrupted {
                        stage: Stage::LoginEnvironment,
                    });
                }
            }
        }
        let (notes, failed) = {
            let mut st = self.state();
            let Some(h) = st.hosts.get_mut(&name) else {
                return Ok(());
            };
            match std::mem::replace(&mut h.login, Login::Ready { untold: Vec::new() }) {
                Login::Ready { untold } => (untold, None),
                // The reading failed, or its task is gone (shutdown): the login is over.
                Login::Failed(f) => {
                    st.hosts.log_out(&name);
                    (Vec::new(), Some(f))
                }
                Login::Reading { .. } => {
                    st.hosts.log_out(&name);
                    (Vec::new(), None)
                }
            }
        };
        for n in notes {
            out.note(&format!("sshpty: {n}\n"));
        }
        match failed {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }

    /// Questions during login go to the cell's input_request, unless the client said it
    /// cannot answer (allow_stdin false); an interrupt abandons them.
    fn asker(&self, req: &Request) -> Ask {
        let asker = req.asker.clone();
        let interrupt = self.inner.interrupt.clone();
        Arc::new(move |prompt: String, password: bool| {
            let asker = asker.clone();
            let mut interrupted = interrupt.subscribe();
            Box::pin(async move {
                let asker = asker?;
                tokio::select! {
                    a = asker.ask(&prompt, password) => a,
                    _ = interrupted.changed() => None,
                }
            })
        })
    }

    /// Run a login shell once and keep what it set up. A profile that hangs or fails
    /// (waiting for input, a stale lock) does not block the login: the environment is
    /// then taken from a plain shell, and the cell says so.
    async fn capture_login(
        &self,
        target: &dyn Target,
        notes: &mut Vec<String>,
    ) -> Result<(Context, String, Option<cell::Stayed>), Failure> {
        match self
            .capture_env(target, script::LOGIN_BOOTSTRAP, Dialect::Bash)
            .await?
        {
            Ok(found) => Ok(found),
            // `exec bash` found no bash: a host with only sh.
            Err((why, true)) => {
                let (mut ctx, shell, stayed) = self
                    .capture_env(target, script::SH_LOGIN_BOOTSTRAP, Dialect::Sh)
                    .await?
                    .map_err(|(sh_why, _)| Failure::LoginEnvironment {
                        why: format!("{why}; in sh: {sh_why}"),
                    })?;
                ctx.dialect = Dialect::Sh;
                notes.push(format!(
                    "{} has no bash; cells run in sh there, carrying the working directory and exported variables only (not unexported variables, functions, aliases or options)",
                    target.info().host
                ));
                Ok((ctx, shell, stayed))
            }
            Err((why, false)) => {
                notes.push(format!(
                    "the login shell's profile did not finish ({why}); continuing with the environment of a plain shell, without ~/.profile and ~/.bashrc"
                ));
                self.capture_env(target, script::BOOTSTRAP, Dialect::Bash)
                    .await?
                    .map_err(|(why, _)| Failure::LoginEnvironment { why })
            }
        }
    }

    /// One environment capture with `bootstrap`; the inner error says why it gave nothing,
    /// and whether the shell was not found (exit status 127 before the payload started).
    /// With the capture, the session when it stayed as a bare cell's shell (bash only).
    async fn capture_env(
        &self,
        target: &dyn Target,
        bootstrap: &str,
        dialect: Dialect,
    ) -> Result<Result<(Context, String, Option<cell::Stayed>), (String, bool)>, Failure> {
        let nonce = crate::nonce::new_nonce();
        let (cols, rows) = {
            let st = self.state();
            (st.settings.cols, st.settings.rows)
        };
        let spec = RunSpec {
            bootstrap,
            started: None,
            input: script::frame(
                bootstrap,
                &match dialect {
                    Dialect::Bash => script::login_payload(&nonce),
                    Dialect::Sh => script::sh_login_payload(&nonce),
                },
            ),
            nonce: &nonce,
            cols,
            rows,
            timeout: Some(LOGIN_TIMEOUT),
            answers: Default::default(),
            events: None,
            terminal: None,
            live_from_start: false,
        };
        let mut r = cell::run(
            target,
            spec,
            &mut NullSink,
            self.inner.interrupt.subscribe(),
            self.inner.kill.subscribe(),
        )
        .await
        .map_err(|e| Failure::LoginTarget(Box::new(e)))?;
        if r.stopped == Some(cell::StopReason::Interrupt) {
            return Err(Failure::Interrupted {
                stage: Stage::Login,
            });
        }
        Ok(match r.captured {
            Some(Ok(c)) => {
                let shell = match dialect {
                    Dialect::Sh => "sh (no bash on the host)".into(),
                    Dialect::Bash => c
                        .vars
                        .get("BASH_VERSION")
                        .and_then(|t| capture_scalar(t))
                        .map(|v| format!("bash {v}"))
                        .unwrap_or_else(|| "bash".into()),
                };
                let (ctx, _) = Context::from_login(c);
                Ok((ctx, shell, r.stayed.take()))
            }
            Some(Err(e)) => Err((e.to_string(), false)),
            None if r.stopped == Some(cell::StopReason::Timeout) => Err((
                format!("no answer within {} s", LOGIN_TIMEOUT.as_secs()),
                false,
            )),
            None => {
                let noise = String::from_utf8_lossy(&r.noise).trim().to_owned();
                let not_found = !r.started && r.exit == targets::Exit::Code(127);
                let why = format!(
                    "the shell ended without reporting its environment ({}){}",
                    r.exit,
                    if noise.is_empty() {
                        String::new()
                    } else {
                        format!(": {noise}")
                    }
                );
                Err((why, not_found))
            }
        })
    }

    pub(super) async fn logout(&self, host: Option<String>, out: &mut StreamOut<'_>) -> Outcome {
        let removed = {
            let mut st = self.state();
            let Some(name) = host.or_else(|| st.hosts.current_name().map(str::to_owned)) else {
                return Err(Failure::NoHosts);
            };
            let Some(h) = st.hosts.log_out(&name) else {
                return Err(Failure::NotLoggedIn { host: name });
            };
            st.sudo.forget_host(&name);
            st.sudo.drop_source(&name);
            (name, h)
        };
        self.inner.spare.clear(Some(&removed.1.target));
        self.drop_fleet_shells(Some(&removed.0));
        removed.1.target.close().await;
        out.text(&format!("logged out of {}\n", removed.0));
        Ok(())
    }
}

fn capture_scalar(text: &[u8]) -> Option<String> {
    let name = capture::declared_name(text)?;
    let mut c = Context::default();
    c.vars.insert(name.clone(), text.to_vec());
    c.scalar(&name)
}
