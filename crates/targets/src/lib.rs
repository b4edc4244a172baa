//! Where cells run. A target starts processes in a PTY (one per cell) and without one
//! (a completion helper, context transfer, cleanup). Everything above this seam — the context
//! model, rendering, prompts — is the same for every target.

pub mod limits;
pub mod local;
mod login;
pub mod ssh;
mod target;

pub use login::{LOCAL, LoginTarget};
pub use target::{
    BoxFuture, ExecOutput, Exit, PipeProcess, Progress, PtyCommand, PtyInput, PtyProcess, Target,
    TargetError, TargetInfo, copy_with_progress,
};
