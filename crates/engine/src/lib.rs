//! The engine: runs notebook cells on targets and carries the shell context between them.
//! It speaks to the world through `execute::frontend` (outputs, questions, events for a
//! running cell) and knows nothing of Jupyter; the kernel binary adapts it.
//!
//! - `execute`: the engine itself: cells (`cell`), their output (`output`, `header`),
//!   sudo's password, the shell started ahead (`warm`), completion.
//! - `magics`: `%login`, `%status`, …: each magic's parsing and running, in a file of its own.
//! - `shell_syntax`: is_complete for shell text.
//! - `history`: the input history.
//! - `size`: byte sizes as users write and read them.

pub mod execute;
pub mod history;
pub mod magics;
pub mod shell_syntax;
pub mod size;
