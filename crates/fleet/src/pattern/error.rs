//! Why a host pattern selects nothing usable.

use thiserror::Error;

/// How many groups and hosts a "selects nothing" error lists: enough to spot a typo,
/// bounded for an inventory of thousands.
pub const LISTED: usize = 10;

#[derive(Debug, Error)]
pub enum PatternError {
    #[error("empty host pattern: give a group, a host, a glob such as web*, or all")]
    Empty,
    #[error(
        "{term}: Rust's regex cannot read this regex ({reason}); look-around and \
         backreferences are not supported: rewrite it without them, or use a glob"
    )]
    Regex {
        term: String,
        /// The regex crate's own one-line reason.
        reason: String,
        #[source]
        source: regex::Error,
    },
    #[error("no host at {term}: it selects {count} host(s), counted from 0")]
    Subscript { term: String, count: usize },
    #[error("{pattern:?} selects no host. {}", Existing(.groups, .hosts))]
    NothingSelected {
        pattern: String,
        groups: Listed,
        hosts: Listed,
    },
}

/// The first [`LISTED`] names of something, and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub first: Vec<String>,
    pub total: usize,
}

impl Listed {
    pub fn of<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> Listed {
        let total = names.len();
        Listed {
            first: names.take(LISTED).map(str::to_owned).collect(),
            total,
        }
    }
}

impl std::fmt::Display for Listed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.first.join(", "))?;
        if self.total > self.first.len() {
            write!(f, ", … ({} in all)", self.total)?;
        }
        Ok(())
    }
}

struct Existing<'a>(&'a Listed, &'a Listed);

impl std::fmt::Display for Existing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Existing(groups, hosts) = self;
        if hosts.total == 0 {
            return write!(
                f,
                "The inventory has no hosts: load one with %inventory, or log in to hosts first"
            );
        }
        write!(f, "Groups: {groups}. Hosts: {hosts}.")
    }
}
