//! A request's course: a cell (the kernelspec's pending login, its magics, then its shell
//! text), completion and inspection, and closing every target at shutdown.

use std::sync::Arc;
use std::time::Duration;

use context::Context;
use targets::Target;

use crate::complete;
use crate::failure::Outcome;
use crate::frontend::{Output, Request};
use crate::magics::login::LoginBy;
use crate::magics::{self, Magic, SudoCommand};
use crate::output::StreamOut;
use crate::session::Engine;

/// How long a completion or inspection waits for a login's environment to be read.
const SETTLE_FOR_HELPERS: Duration = Duration::from_secs(3);

/// A cell to run: its code, and how the request treats it.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub code: String,
    /// Shows nothing and leaves no history (Jupyter's `silent`).
    pub silent: bool,
    pub store_history: bool,
}

impl Engine {
    /// Run a cell's code for `req`. Returns the execution count it used.
    pub async fn execute(&self, cell: &Cell, req: &Request) -> (usize, Outcome) {
        let store = cell.store_history && !cell.silent;
        let count = {
            let mut st = self.state();
            if store {
                st.execution_count += 1;
                st.history.push(cell.code.clone());
            }
            st.execution_count
        };
        if !cell.silent {
            req.outputs.emit(Output::Input {
                code: cell.code.clone(),
                count,
            });
        }
        let mut out = StreamOut::new(req.outputs.as_ref(), cell.silent, req.asker.is_some());
        let outcome = self.run_code(cell, req, &mut out).await;
        let later = std::mem::take(&mut self.state().later_notes);
        for n in later {
            out.note(&format!("sshpty: {n}\n"));
        }
        out.drain().await;
        if store && !out.kept.is_empty() {
            let kept = std::mem::take(&mut out.kept);
            self.state().history.set_output(count, kept);
        }
        if let Err(f) = &outcome
            && !cell.silent
        {
            req.outputs.emit(Output::Error {
                ename: f.ename().to_owned(),
                evalue: f.to_string(),
            });
        }
        (count, outcome)
    }

    async fn run_code(&self, cell: &Cell, req: &Request, out: &mut StreamOut<'_>) -> Outcome {
        // The user may have edited their marks file since the last cell.
        self.refresh_marks(out);
        let pending = self.state().pending_login.take();
        if let Some(target) = pending {
            self.login(&target, req, LoginBy::Kernelspec, out).await?;
        }
        let params = {
            let st = self.state();
            let mut params = st.early.clone();
            params.extend(st.params.clone());
            params
        };
        let parsed = magics::parse_cell(&cell.code, &params)?;
        // `%on PATTERN` first with shell text after it: the text runs on its hosts, after
        // any `%sudo password-from-…` lines, which name the source for each of them.
        if let Some(Magic::On(on)) = parsed.magics.first()
            && (parsed.magics.len() > 1 || !parsed.shell.trim().is_empty())
        {
            let mut sources = Vec::new();
            for m in &parsed.magics[1..] {
                match m {
                    Magic::Sudo(
                        c @ (SudoCommand::PasswordFromCommand(_) | SudoCommand::PasswordFromEnv(_)),
                    ) => sources.push(c.clone()),
                    _ => return Err(crate::failure::Failure::OnNotFirst),
                }
            }
            if !sources.is_empty() {
                let hosts: Vec<String> = self
                    .select(&on.pattern)?
                    .into_iter()
                    .map(|(h, _)| h)
                    .collect();
                for c in sources {
                    self.sudo_source(&hosts, c, out).await?;
                }
            }
            if parsed.shell.trim().is_empty() {
                return Ok(());
            }
            return self.run_on(on, &parsed.shell, req, cell.silent).await;
        }
        if parsed
            .magics
            .iter()
            .skip(1)
            .any(|m| matches!(m, Magic::On(_)))
        {
            return Err(crate::failure::Failure::OnNotFirst);
        }
        let interactive = parsed.magics.contains(&Magic::Shell);
        if interactive && !parsed.shell.trim().is_empty() {
            return Err(crate::failure::Failure::ShellNotAlone);
        }
        for m in parsed.magics {
            // Magics that show or use the context wait for a login's to be read.
            if matches!(
                m,
                Magic::Status | Magic::Hosts | Magic::Upload { .. } | Magic::Download { .. }
            ) {
                self.settle_login(out).await?;
            }
            let done = self.magic(m, req, out).await;
            // %login, %logout, %become, %mark: a status bar shows the outcome at once.
            self.presence_may_have_changed();
            done?;
        }
        if interactive {
            if req.terminal.is_none() {
                return Err(crate::failure::Failure::NeedsTerminal);
            }
            self.settle_login(out).await?;
            return self
                .run_shell(None, req, cell.silent, magics::REPL, true, out)
                .await;
        }
        if parsed.shell.trim().is_empty() {
            return Ok(());
        }
        if self.state().hosts.current().is_none()
            && let Some(found) = crate::early::assignments(&parsed.shell)
        {
            // papermill's parameters before `%login`: kept for the targets to come.
            self.state().early.extend(found);
            return Ok(());
        }
        self.settle_login(out).await?;
        self.shell(req, cell.silent, &parsed.shell, out).await
    }

    /// A kernelspec's `--login` normally happens at the first cell; a completion or
    /// inspection asked before it logs in without questions (local, keys, agent). If that
    /// needs a question, the login is left for the first cell, where it can be asked.
    async fn login_for_helpers(&self) {
        let Some(target) = self.state().pending_login.take() else {
            return;
        };
        let req = Request::quiet();
        let mut quiet = StreamOut::new(req.outputs.as_ref(), true, false);
        if self
            .login(&target, &req, LoginBy::Kernelspec, &mut quiet)
            .await
            .is_err()
        {
            self.state().pending_login = Some(target);
        }
    }

    pub async fn complete(&self, code: &str, cursor_pos: usize) -> complete::Completion {
        self.login_for_helpers().await;
        let Some((target, ctx, helper)) = self.current_settled().await else {
            return complete::Completion {
                matches: Vec::new(),
                cursor_start: cursor_pos,
                cursor_end: cursor_pos,
            };
        };
        complete::complete(&helper, &target, &ctx, code, cursor_pos).await
    }

    pub async fn inspect(&self, code: &str, cursor_pos: usize) -> Option<String> {
        self.login_for_helpers().await;
        let (target, ctx, helper) = self.current_settled().await?;
        let word = complete::word_at(code, cursor_pos);
        complete::inspect(&helper, &target, &ctx, word).await
    }

    /// The current host's context, once its login environment has been read (completion
    /// and inspection wait for it; its notes and errors are left for the next cell).
    async fn current_settled(&self) -> Option<(Arc<dyn Target>, Context, Arc<complete::Helper>)> {
        let pending = {
            let st = self.state();
            st.hosts.current()?.reading()
        };
        if let Some(mut pending) = pending {
            // The reading itself is bounded (LOGIN_TIMEOUT, per attempt), but a completion
            // must not wait through a profile that hangs: past this it answers from the
            // context as it is (empty until the reading ends).
            let _ = tokio::time::timeout(SETTLE_FOR_HELPERS, pending.wait_for(|done| *done)).await;
        }
        self.current()
    }

    fn current(&self) -> Option<(Arc<dyn Target>, Context, Arc<complete::Helper>)> {
        let st = self.state();
        let h = st.hosts.current()?;
        Some((h.target.clone(), h.context.clone(), h.helper.clone()))
    }

    /// Close every target (kernel shutdown).
    pub async fn close_all(&self) {
        self.inner.spare.clear(None);
        self.drop_fleet_shells(None);
        let targets: Vec<Arc<dyn Target>> = {
            let mut st = self.state();
            st.hosts.take_all().into_iter().map(|h| h.target).collect()
        };
        for t in targets {
            t.close().await;
        }
    }
}
