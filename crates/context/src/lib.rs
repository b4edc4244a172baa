//! The client-side shell context: the state a terminal session would keep (working
//! directory, variables, functions, aliases, options, umask), held by the kernel,
//! restored before each cell and captured after it.
//!
//! How state travels (see `script`): the runner script, with the state and the cell in
//! it, is written into the cell's PTY before the shell reads it, with echo off, so no
//! value ever appears in a process's arguments (`ps -ww`) and its size is not limited by
//! an exec argument. The capture comes back on the same PTY, framed by markers carrying
//! a fresh nonce per cell (see `demux`), and is parsed by `capture`.

pub mod capture;
pub mod demux;
mod model;
pub mod posix;
pub mod quote;
pub mod script;

pub use model::{Applied, CELL_OPTIONS, Context, DISPLAY_HELPERS, Dialect, is_restored_name};
