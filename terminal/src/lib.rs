//! Pure terminal logic for sshpty: what a notebook cell shows for the bytes a program
//! writes to its PTY.
//!
//! [`Renderer`] is a terminal emulator (a grid driven by vte's parser) with two views:
//! *line mode*, the text that scrolled off the top plus the screen still being drawn, which
//! is what ordinary commands produce; and *screen mode*, the visible screen as text and
//! HTML, for full-screen programs. There is no I/O and no clock here: bytes are fed in,
//! text and replies for the PTY come out.

pub mod fuzzing;
mod grid;
mod input;
mod renderer;
mod screen;
mod style;
mod term;
mod text;

pub use renderer::{Renderer, ScreenSnapshot};
pub use style::{Color, Style};
pub use term::MAX_LOGICAL_LINE;
