//! What many hosts said: host lists folded (`web[01-03,07]`), identical outputs folded
//! into one block as `clubak`/`dshbak -c` do, the summary table, and the live progress
//! line. Pure: outputs, outcomes and durations are passed in.

pub mod hostlist;
mod outputs;
mod progress;
mod render;

pub use outputs::{Added, Block, Body, Fold, Output, Row, Status};
pub use progress::Progress;
pub use render::{html, summary_html, summary_text, text};

#[cfg(test)]
mod tests;
