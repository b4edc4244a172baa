//! Ansible's host patterns over an inventory: `all` and `*`, names and globs matching
//! groups and hosts, `a:b` and `a,b` unions, `a:&b` intersections, `a:!b` exclusions
//! (applied unions first, then `&`, then `!`, whatever the written order), subscripts
//! `web[0]`, `web[-1]`, `web[0:4]`, and `~regex`.
//!
//! Not implemented: the implicit `localhost`, `@file` limits, and Ansible's warning
//! settings (a term that matches nothing is reported in [`Selection::unmatched`]; a
//! pattern that selects nothing at all is an error).

mod error;
mod glob;
mod select;
mod split;

pub use error::{LISTED, Listed, PatternError};
pub use select::{Pattern, Selection, select};

#[cfg(test)]
mod tests;
