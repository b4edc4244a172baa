//! `%upload` and `%download`: a file copied between the kernel's machine and the target
//! (SFTP over SSH, a copy on `local`), with its progress shown in place.

use std::sync::Arc;
use std::time::Duration;

use super::magic::{Magic, Spec};
use crate::failure::{Failure, Outcome};
use crate::frontend::{Display, Output, Outputs, Request};
use crate::output::StreamOut;
use crate::session::Engine;
use crate::sink::Sink;

pub(super) const UPLOAD: Spec = Spec {
    name: "upload",
    usage: "%upload LOCAL REMOTE",
    description: "copy a file from the kernel's machine to the target",
    parse: |a| {
        let [local, remote] = a.two_paths("a local path and a remote path")?;
        Ok(Magic::Upload { local, remote })
    },
};

pub(super) const DOWNLOAD: Spec = Spec {
    name: "download",
    usage: "%download REMOTE LOCAL",
    description: "copy a file from the target to the kernel's machine",
    parse: |a| {
        let [remote, local] = a.two_paths("a remote path and a local path")?;
        Ok(Magic::Download { remote, local })
    },
};

impl Engine {
    /// `%upload` / `%download`: remote paths are relative to the cell's working directory,
    /// local ones to the kernel's (the notebook's directory).
    pub(super) async fn transfer(
        &self,
        up: bool,
        local: &str,
        remote: &str,
        req: &Request,
        out: &mut StreamOut<'_>,
    ) -> Outcome {
        let (target, cwd, name) = {
            let st = self.state();
            let (Some(name), Some(h)) = (st.hosts.current_name(), st.hosts.current()) else {
                return Err(Failure::NoTarget);
            };
            (h.target.clone(), h.context.cwd_lossy(), name.to_owned())
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
        let n = r.map_err(|e| Failure::Transfer(Box::new(e)))?;
        out.text(&format!(
            "{} {what}: {} in {:.2} s\n",
            if up { "uploaded" } else { "downloaded" },
            crate::size::format(n),
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    }
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
            terminal: None,
        };
        outputs.emit(if st.1 {
            Output::Update(display)
        } else {
            st.1 = true;
            Output::Display(display)
        });
    })
}
