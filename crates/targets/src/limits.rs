//! The open-file limit. A `%on` cell keeps a connection (one fd) per host, so the kernel
//! raises its soft limit (often 1024) to the hard one; what it starts on this machine (the
//! local target's shells, a ProxyCommand, a password command) gets the limit the kernel was
//! started with, as it would have from a terminal.

use std::sync::OnceLock;

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// The limits the kernel was started with, once it raised its own.
static STARTED_WITH: OnceLock<(u64, u64)> = OnceLock::new();

/// Why the limit stayed as it was (the kernel carries on with it).
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("cannot read the open-file limit: {0}")]
    Read(nix::Error),
    #[error("cannot raise the open-file limit from {soft} to {hard}: {source}")]
    Raise {
        soft: u64,
        hard: u64,
        source: nix::Error,
    },
}

/// Raise the soft open-file limit to the hard one, remembering the old one for children.
pub fn raise_open_files() -> Result<(), LimitError> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(LimitError::Read)?;
    if soft >= hard {
        return Ok(());
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(|source| LimitError::Raise {
        soft,
        hard,
        source,
    })?;
    let _ = STARTED_WITH.set((soft, hard));
    Ok(())
}

/// Give `cmd`'s process the open-file limit the kernel was started with.
pub fn as_started(cmd: &mut tokio::process::Command) {
    let Some(&(soft, hard)) = STARTED_WITH.get() else {
        return;
    };
    // SAFETY: setrlimit is a system call, async-signal-safe; nothing is allocated.
    unsafe {
        cmd.pre_exec(move || {
            setrlimit(Resource::RLIMIT_NOFILE, soft, hard).map_err(std::io::Error::from)
        });
    }
}
