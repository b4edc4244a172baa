//! Running magics: `%login`, `%status`, options. Parsing lives in `crate::magics`.

use std::sync::Arc;
use std::time::Duration;

use super::cell::{self, RunSpec, Sink};
use super::frontend::{Display, Output, Outputs, Request};
use super::output::StreamOut;
use super::{Engine, Failure, Host, NullSink, Outcome, sudo};
use crate::magics::{LoginArgs, Magic, SudoCommand};
use context::{Context, Dialect, capture, script};
use targets::Target;
use targets::local::LocalTarget;
use targets::ssh::config::LoginRequest;
use targets::ssh::{Ask, SshTarget};

/// A login shell that waits for input or loops in its profile must not hold the cell.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(15);

impl Engine {
    pub(super) async fn magic(&self, m: Magic, req: &Request, out: &mut StreamOut<'_>) -> Outcome {
        match m {
            Magic::Login { target } => self.login(&target, req, false, out).await,
            Magic::Logout { host } => self.logout(host, out).await,
            Magic::Status => {
                let text = self.status_text();
                out.text(&text);
                Ok(())
            }
            Magic::Hosts => {
                let text = self.hosts_text();
                out.text(&text);
                Ok(())
            }
            Magic::Strict(on) => {
                self.state().strict = on;
                out.text(if on {
                    "strict mode on: cells run under set -eo pipefail; a failing command fails the cell\n"
                } else {
                    "strict mode off\n"
                });
                Ok(())
            }
            Magic::Timeout(secs) => {
                self.state().timeout = secs.map(Duration::from_secs);
                out.text(&match secs {
                    Some(s) => format!("cells running longer than {s} s are interrupted\n"),
                    None => "no cell timeout\n".into(),
                });
                Ok(())
            }
            Magic::Header(on) => {
                self.state().header = on;
                Ok(())
            }
            Magic::Help => {
                out.text(&crate::magics::help_text());
                Ok(())
            }
            Magic::Param { name, value } => {
                let mut st = self.state();
                for h in st.hosts.values_mut() {
                    h.context.set_param(&name, &value);
                }
                st.params.insert(name, value);
                Ok(())
            }
            Magic::Term { cols, rows } => {
                let mut st = self.state();
                st.cols = cols;
                st.rows = rows;
                out.text(&format!("terminal size {cols}x{rows}\n"));
                Ok(())
            }
            Magic::Sudo(cmd) => self.sudo_magic(cmd, out).await,
            Magic::Become(user) => {
                let user = user.unwrap_or_else(|| "root".into());
                let mut st = self.state();
                let Some(h) = st.current.clone().and_then(|n| st.hosts.get_mut(&n)) else {
                    return Err(Failure::new("NoTarget", super::HOW_TO_LOGIN));
                };
                if !crate::magics::is_user_name(&user) {
                    return Err(Failure::new(
                        "MagicUsage",
                        format!("%become: {user:?} is not a user name"),
                    ));
                }
                h.become_user = Some(user.clone());
                out.text(&format!(
                    "the next cells run as {user} through sudo (asked for, or remembered, as sudo's password is), with the context carried; %unbecome ends it\n"
                ));
                Ok(())
            }
            Magic::Unbecome => {
                let mut st = self.state();
                let Some(h) = st.current.clone().and_then(|n| st.hosts.get_mut(&n)) else {
                    return Err(Failure::new("NoTarget", super::HOW_TO_LOGIN));
                };
                let was = h.become_user.take();
                let me = h.target.info().user;
                out.text(&match was {
                    Some(u) => format!("cells run as {me} again (no longer as {u})\n"),
                    None => format!("cells already run as {me}\n"),
                });
                Ok(())
            }
            Magic::OutputLimit(limit) => {
                self.state().output_limit = limit;
                out.text(&match limit {
                    Some(n) => format!(
                        "output limit {}: beyond it, a cell shows a live tail and keeps its complete output in a file\n",
                        crate::size::format(n)
                    ),
                    None => "output limit off: every line goes to the notebook\n".to_owned(),
                });
                Ok(())
            }
            Magic::Upload { local, remote } => self.transfer(true, &local, &remote, req, out).await,
            Magic::Download { remote, local } => {
                self.transfer(false, &local, &remote, req, out).await
            }
        }
    }

    /// `quiet`: the kernelspec's own `--login` at the first cell says nothing when it
    /// works, so that cell's output is the cell's alone.
    pub(super) async fn login(
        &self,
        args: &LoginArgs,
        req: &Request,
        quiet: bool,
        out: &mut StreamOut<'_>,
    ) -> Outcome {
        let name = match &args.user {
            Some(u) if !args.is_local() => format!("{u}@{}", args.host),
            _ => args.host.clone(),
        };
        // Already logged in: switch to it; a lost connection is opened again and keeps
        // the context it had.
        let existing = {
            let mut st = self.state();
            match st.hosts.get(&name) {
                Some(h) if h.target.info().connected => {
                    st.current = Some(name.clone());
                    out.text(&format!("switched to {name}\n"));
                    return Ok(());
                }
                // A lost connection whose login environment was never read: log in anew.
                Some(h) if h.pending.is_some() || h.failed.is_some() => None,
                Some(h) => Some(h.context.clone()),
                None => None,
            }
        };
        let target: Arc<dyn Target> = if args.is_local() {
            Arc::new(LocalTarget::new())
        } else {
            let request = LoginRequest {
                host: args.host.clone(),
                user: args.user.clone(),
                port: args.port,
                identities: args.identities.clone(),
                jump: args.jump.clone(),
                config_file: args.config.as_ref().map(std::path::PathBuf::from),
                options: args.options.clone(),
            };
            let ask = self.asker(req);
            let (t, notes) = SshTarget::login(&name, &request, ask)
                .await
                .map_err(|e| Failure::new("LoginFailed", e.to_string()))?;
            for n in notes {
                // Each configuration warning once per kernel, not at every login.
                if self.state().warned.insert(n.clone()) {
                    out.note(&format!("sshpty: {n}\n"));
                }
            }
            Arc::new(t)
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
            let (done, pending) = tokio::sync::watch::channel(false);
            let mut st = self.state();
            let become_user = st.hosts.get(&name).and_then(|h| h.become_user.clone());
            st.hosts.insert(
                name.clone(),
                Host {
                    target: target.clone(),
                    context: Context::default(),
                    shell: String::new(),
                    become_user,
                    pending: Some(pending),
                    notes: Vec::new(),
                    failed: None,
                    helper: Default::default(),
                },
            );
            st.current = Some(name.clone());
            drop(st);
            let engine = self.clone();
            tokio::spawn(async move {
                engine.read_login_environment(&name, target).await;
                let _ = done.send(true);
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
        st.hosts.insert(
            name.clone(),
            Host {
                target: target.clone(),
                context,
                shell,
                become_user,
                pending: None,
                notes: Vec::new(),
                failed: None,
                helper: Default::default(),
            },
        );
        st.current = Some(name.clone());
        drop(st);
        self.prepare_spare(&name, &target);
        Ok(())
    }

    /// The background part of a login: capture the login shell's environment and keep it
    /// as host `name`'s context (unless the host was logged out or replaced meanwhile),
    /// with what the user should be told; then start the first cell's shell.
    async fn read_login_environment(&self, name: &str, target: Arc<dyn Target>) {
        let mut notes = Vec::new();
        let captured = self.capture_login(target.as_ref(), &mut notes).await;
        {
            let mut st = self.state();
            let params = st.params.clone();
            let Some(h) = st
                .hosts
                .get_mut(name)
                .filter(|h| Arc::ptr_eq(&h.target, &target) && h.pending.is_some())
            else {
                return;
            };
            h.pending = None;
            h.notes = notes;
            match captured {
                Ok((mut context, shell)) => {
                    for (k, v) in &params {
                        context.set_param(k, v);
                    }
                    h.context = context;
                    h.shell = shell;
                }
                Err(f) => {
                    h.failed = Some(f);
                    return;
                }
            }
        }
        self.prepare_spare(name, &target);
    }

    /// Wait until the current host's login environment has been read (see `login`): what
    /// a cell or a magic that uses the context does first. Tells the capture's notes; a
    /// failed capture ends the login and is this request's error.
    pub(super) async fn settle_login(&self, out: &mut StreamOut<'_>) -> Outcome {
        let Some((name, mut pending)) = ({
            let st = self.state();
            st.current.clone().and_then(|n| {
                let h = st.hosts.get(&n)?;
                Some((n, h.pending.clone()))
            })
        }) else {
            return Ok(());
        };
        if let Some(pending) = pending.as_mut() {
            let mut interrupt = self.inner.interrupt.subscribe();
            interrupt.borrow_and_update();
            tokio::select! {
                // An error: the capture task is gone (shutdown); the state says the rest.
                _ = pending.wait_for(|done| *done) => {}
                _ = interrupt.changed() => {
                    return Err(Failure::new(
                        "Interrupted",
                        "interrupted while the login shell's environment was being read",
                    ));
                }
            }
        }
        let (notes, failed) = {
            let mut st = self.state();
            let Some(h) = st.hosts.get_mut(&name) else {
                return Ok(());
            };
            let notes = std::mem::take(&mut h.notes);
            let failed = h.failed.take();
            if failed.is_some() || h.pending.is_some() {
                st.hosts.remove(&name);
                if st.current.as_deref() == Some(name.as_str()) {
                    st.current = None;
                }
            }
            (notes, failed)
        };
        for n in notes {
            out.note(&format!("sshpty: {n}\n"));
        }
        match failed {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }

    /// `%upload` / `%download`: remote paths are relative to the cell's working directory,
    /// local ones to the kernel's (the notebook's directory).
    async fn transfer(
        &self,
        up: bool,
        local: &str,
        remote: &str,
        req: &Request,
        out: &mut StreamOut<'_>,
    ) -> Outcome {
        let (target, cwd, name) = {
            let st = self.state();
            let Some(name) = st.current.clone() else {
                return Err(Failure::new("NoTarget", super::HOW_TO_LOGIN));
            };
            let Some(h) = st.hosts.get(&name) else {
                return Err(Failure::new("NoTarget", super::HOW_TO_LOGIN));
            };
            (h.target.clone(), h.context.cwd_lossy(), name)
        };
        let remote_abs = if remote.starts_with('/') {
            remote.to_owned()
        } else {
            format!("{}/{remote}", cwd.trim_end_matches('/'))
        };
        let local_abs = std::env::current_dir()
            .map(|d| d.join(local))
            .unwrap_or_else(|_| local.into());
        let display_id = format!("sshpty-transfer-{}", uuid::Uuid::new_v4());
        let what = if up {
            format!("{} → {name}:{remote_abs}", local_abs.display())
        } else {
            format!("{name}:{remote_abs} → {}", local_abs.display())
        };
        let progress = progress_display(req.outputs.clone(), display_id, what.clone());
        let started = std::time::Instant::now();
        let r = if up {
            target.upload(local_abs, remote_abs, progress.clone()).await
        } else {
            target
                .download(remote_abs, local_abs, progress.clone())
                .await
        };
        let n = r.map_err(|e| Failure::new("TransferFailed", e.to_string()))?;
        out.text(&format!(
            "{} {what}: {} in {:.2} s\n",
            if up { "uploaded" } else { "downloaded" },
            crate::size::format(n),
            started.elapsed().as_secs_f64()
        ));
        Ok(())
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
    ) -> Result<(Context, String), Failure> {
        match self
            .capture_env(target, script::LOGIN_BOOTSTRAP, Dialect::Bash)
            .await?
        {
            Ok(found) => Ok(found),
            // `exec bash` found no bash: a host with only sh.
            Err((why, true)) => {
                let (mut ctx, shell) = self
                    .capture_env(target, script::SH_LOGIN_BOOTSTRAP, Dialect::Sh)
                    .await?
                    .map_err(|(sh_why, _)| {
                        Failure::new("LoginFailed", format!("{why}; in sh: {sh_why}"))
                    })?;
                ctx.dialect = Dialect::Sh;
                notes.push(format!(
                    "{} has no bash; cells run in sh there, carrying the working directory and exported variables only (not unexported variables, functions, aliases or options)",
                    target.info().host
                ));
                Ok((ctx, shell))
            }
            Err((why, false)) => {
                notes.push(format!(
                    "the login shell's profile did not finish ({why}); continuing with the environment of a plain shell, without ~/.profile and ~/.bashrc"
                ));
                self.capture_env(target, script::BOOTSTRAP, Dialect::Bash)
                    .await?
                    .map_err(|(why, _)| Failure::new("LoginFailed", why))
            }
        }
    }

    /// One environment capture with `bootstrap`; the inner error says why it gave nothing,
    /// and whether the shell was not found (exit status 127 before the payload started).
    async fn capture_env(
        &self,
        target: &dyn Target,
        bootstrap: &str,
        dialect: Dialect,
    ) -> Result<Result<(Context, String), (String, bool)>, Failure> {
        let nonce = super::new_nonce();
        let (cols, rows) = {
            let st = self.state();
            (st.cols, st.rows)
        };
        let spec = RunSpec {
            bootstrap,
            started: None,
            input: script::framed(&match dialect {
                Dialect::Bash => script::login_payload(&nonce),
                Dialect::Sh => script::sh_login_payload(&nonce),
            }),
            nonce: &nonce,
            cols,
            rows,
            timeout: Some(LOGIN_TIMEOUT),
            answers: Default::default(),
        };
        let r = cell::run(
            target,
            spec,
            &mut NullSink,
            self.inner.interrupt.subscribe(),
            self.inner.kill.subscribe(),
        )
        .await
        .map_err(|e| Failure::new("LoginFailed", e.to_string()))?;
        if r.stopped == Some(cell::StopReason::Interrupt) {
            return Err(Failure::new("Interrupted", "the login was interrupted"));
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
                Ok((ctx, shell))
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
                    super::describe_exit(&r.exit),
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

    async fn logout(&self, host: Option<String>, out: &mut StreamOut<'_>) -> Outcome {
        let removed = {
            let mut st = self.state();
            let Some(name) = host.or_else(|| st.current.clone()) else {
                return Err(Failure::new("NoTarget", "not logged in to any target"));
            };
            let Some(h) = st.hosts.remove(&name) else {
                return Err(Failure::new("NoTarget", format!("not logged in to {name}")));
            };
            if st.current.as_deref() == Some(name.as_str()) {
                st.current = None;
            }
            st.sudo.forget_host(&name);
            st.sudo.drop_source(&name);
            (name, h)
        };
        self.inner.spare.clear(Some(&removed.1.target));
        removed.1.target.close().await;
        out.text(&format!("logged out of {}\n", removed.0));
        Ok(())
    }

    async fn sudo_magic(&self, cmd: SudoCommand, out: &mut StreamOut<'_>) -> Outcome {
        let host = || {
            self.state()
                .current
                .clone()
                .ok_or_else(|| Failure::new("NoTarget", super::HOW_TO_LOGIN))
        };
        match cmd {
            SudoCommand::Forget => {
                self.state().sudo.forget_all();
                out.text("sudo: remembered passwords forgotten\n");
            }
            SudoCommand::Cache(on) => {
                if !self.state().sudo.set_on(on) {
                    return Err(Failure::new(
                        "NotAllowed",
                        "this kernel was installed with --no-sudo-cache: sudo passwords are never remembered",
                    ));
                }
                out.text(if on {
                    "sudo: a password sudo takes is remembered per host and user for 5 minutes after its last use, and given only to the cell's own sudo prompts\n"
                } else {
                    "sudo: passwords are not remembered (and those remembered are forgotten)\n"
                });
            }
            SudoCommand::PasswordFromCommand(command) => {
                let host = host()?;
                // Run it once now, so a wrong command shows here, not at the first sudo.
                sudo::from_command(&command)
                    .await
                    .map_err(|e| Failure::new("SudoPassword", e))?;
                self.state()
                    .sudo
                    .set_source(&host, sudo::Source::Command(command));
                out.text(&format!(
                    "sudo on {host}: the password comes from the command when sudo asks (never shown)\n"
                ));
            }
            SudoCommand::PasswordFromEnv(name) => {
                let host = host()?;
                let value = std::env::var(&name).map_err(|_| {
                    Failure::new(
                        "SudoPassword",
                        format!("the kernel's environment has no variable {name}"),
                    )
                })?;
                // Cells on the local target never see it (only a fixed list of variables
                // reaches them; see target::local); it stays in this process only.
                self.state()
                    .sudo
                    .set_source(&host, sudo::Source::Env(zeroize::Zeroizing::new(value)));
                out.text(&format!(
                    "sudo on {host}: the password comes from ${name} when sudo asks (never shown)\n"
                ));
            }
        }
        Ok(())
    }

    fn status_text(&self) -> String {
        let st = self.state();
        let opts = format!(
            "strict: {} · timeout: {} · header: {} · terminal: {}x{}\n",
            if st.strict { "on" } else { "off" },
            st.timeout
                .map(|t| format!("{} s", t.as_secs()))
                .unwrap_or_else(|| "off".into()),
            if st.header { "on" } else { "off" },
            st.cols,
            st.rows
        );
        let Some(h) = st.current.as_ref().and_then(|c| st.hosts.get(c)) else {
            return format!("target: none ({})\n{opts}", super::HOW_TO_LOGIN);
        };
        let i = h.target.info();
        let c = &h.context;
        format!(
            "target: {}\nhost: {}{}\nuser: {}\ncwd: {}\nstate: {} since {}\nshell: {}\ncontext: {:.1} KiB ({} variables, {} functions, {} aliases)\n{opts}",
            i.name,
            i.host,
            i.address.map(|a| format!(" ({a})")).unwrap_or_default(),
            i.user,
            c.cwd_lossy(),
            if i.connected {
                "connected"
            } else {
                "disconnected"
            },
            i.since.format("%Y-%m-%d %H:%M:%S UTC"),
            h.shell,
            c.size() as f64 / 1024.0,
            c.vars.len(),
            c.functions.len(),
            c.aliases.len(),
        )
    }

    fn hosts_text(&self) -> String {
        let st = self.state();
        if st.hosts.is_empty() {
            return format!("no hosts: {}\n", super::HOW_TO_LOGIN);
        }
        st.hosts
            .iter()
            .map(|(name, h)| {
                let i = h.target.info();
                format!(
                    "{} {name}: {}@{} · {} · {}\n",
                    if st.current.as_deref() == Some(name.as_str()) {
                        "*"
                    } else {
                        " "
                    },
                    i.user,
                    i.host,
                    if i.connected {
                        "connected"
                    } else {
                        "disconnected"
                    },
                    h.context.cwd_lossy()
                )
            })
            .collect()
    }
}

fn capture_scalar(text: &[u8]) -> Option<String> {
    let name = capture::declared_name(text)?;
    let mut c = Context::default();
    c.vars.insert(name.clone(), text.to_vec());
    c.scalar(&name)
}

/// A progress line for a transfer, shown once it takes long enough to matter (1 MiB) and
/// updated in place at most five times a second.
fn progress_display(
    outputs: Arc<dyn Outputs>,
    display_id: String,
    what: String,
) -> targets::Progress {
    let state = std::sync::Mutex::new((None::<std::time::Instant>, false));
    Arc::new(move |done: u64, total: Option<u64>| {
        let Ok(mut st) = state.lock() else { return };
        let finished = total == Some(done);
        if done < (1 << 20) && !st.1 {
            return;
        }
        if !finished
            && st
                .0
                .is_some_and(|t| t.elapsed() < Duration::from_millis(200))
        {
            return;
        }
        st.0 = Some(std::time::Instant::now());
        let text = match total {
            Some(t) if t > 0 => {
                let pct = (done as f64 / t as f64 * 100.0).min(100.0);
                let filled = (pct / 5.0) as usize;
                format!(
                    "{what} [{}{}] {pct:.0}% {} / {}",
                    "#".repeat(filled),
                    " ".repeat(20 - filled.min(20)),
                    crate::size::format(done),
                    crate::size::format(t)
                )
            }
            _ => format!("{what} {}", crate::size::format(done)),
        };
        let display = Display {
            id: display_id.clone(),
            plain: text,
            html: None,
            metadata: Default::default(),
        };
        outputs.emit(if st.1 {
            Output::Update(display)
        } else {
            st.1 = true;
            Output::Display(display)
        });
    })
}
