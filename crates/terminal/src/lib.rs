//! Pure terminal logic for sshpty: what a notebook cell shows for the bytes a program
//! writes to its PTY.
//!
//! [`Renderer`] is a terminal emulator (a grid of our own driven by vte's parser; see
//! `term.rs` for why not the vt100 crate) with two views:
//!
//! * **line mode**: the text that scrolled off the top of the screen ([`Renderer::take_finished`])
//!   plus the part the cursor can still reach ([`Renderer::pending`]), which is what ordinary
//!   commands produce. Read in order, it equals what tmux (the reference terminal) keeps in
//!   its history and screen for the same bytes, soft-wrapped lines joined, SGR kept.
//! * **screen mode**: the visible screen as text and HTML, for full-screen programs
//!   ([`Renderer::screen_mode`], [`Renderer::screen_text`], [`Renderer::screen_html`]).
//!
//! Queries that programs wait for are answered ([`Renderer::take_replies`]). There is no I/O
//! and no clock: bytes are fed in, in any chunks, and text comes out. Memory is bounded
//! whatever the input (see [`MAX_LOGICAL_LINE`]); [`fuzzing::check`] is the invariant check
//! for fuzzers.
//!
//! [`prompt`] decides whether the program waits for an answer (a sudo prompt, a password, a
//! question), from the renderer's state and the time the output has been quiet; [`keys`]
//! turns vim key notation into what a terminal sends, to answer full-screen programs.
//!
//! [`inline`] takes pictures and HTML out of the byte stream before it is rendered (iTerm2's
//! inline images, the cell's own display frames); [`picture`] tells what an image is (PNG,
//! JPEG, GIF by their first bytes) and how large.
//!
//! Module map: `input` (UTF-8 repair, OSC length bound, in front of the parser), `parse`
//! (the filter and vte's parser, with vte's ground state run there, without a callback per
//! character), `term` (the emulator), `grid` (cells and rows), `style` (SGR), `text` (rows to line output),
//! `screen` (screen snapshots), `replay` (the screen and modes as bytes for a fresh terminal),
//! `modes` (mouse reporting modes), `renderer` (the public API).

pub mod fuzzing;
mod grid;
pub mod inline;
mod input;
pub mod keys;
mod modes;
mod parse;
pub mod picture;
pub mod prompt;
mod renderer;
mod replay;
mod screen;
mod style;
mod term;
mod text;

pub use modes::{MouseEncoding, MouseTracking};
pub use renderer::{Renderer, ScreenSnapshot};
pub use screen::html_escape;
pub use style::{Color, Style};
pub use term::MAX_LOGICAL_LINE;
