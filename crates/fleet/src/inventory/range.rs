//! Host ranges as Ansible expands them (`ansible.plugins.inventory.expand_hostname_range`):
//! `web[01:50]` (the width of a zero-padded start kept), `db-[a:f]` (ASCII letters, `a`–`z`
//! then `A`–`Z`), `web[1:10:2]` (a stride), several ranges in one name (`r[1:2]n[01:03]`).
//! An empty start counts from 0; a start above the end gives no hosts (as Ansible's
//! `range()` does). Ansible also accepts multi-letter bounds that happen to be substrings of
//! its letter table (`[ab:cd]`) and signs in numbers; those are refused here.

use std::fmt;

use crate::limits::MAX_HOSTS;

/// Why a range in a host name cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeProblem {
    /// `[` without its `]`, or a `]` first.
    Unclosed,
    /// Not `begin:end` or `begin:end:step`.
    Shape,
    /// `[1:]`: Ansible requires the end.
    NoEnd,
    /// A bound that is neither a number nor a single letter, or a step that is not a
    /// positive number.
    Bound(String),
    /// `[01:100]`: a zero-padded start needs an end of the same width.
    Width,
    /// `[f:a]`: letters must go up.
    Descending,
    /// More hosts than [`MAX_HOSTS`].
    TooMany { max: usize },
}

impl fmt::Display for RangeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeProblem::Unclosed => write!(f, "a '[' without its ']'"),
            RangeProblem::Shape => write!(f, "a range must be [begin:end] or [begin:end:step]"),
            RangeProblem::NoEnd => write!(f, "a range must give its end, as in [1:9]"),
            RangeProblem::Bound(b) => write!(
                f,
                "{b:?} is not a range bound (a number, or one letter; a step is a positive number)"
            ),
            RangeProblem::Width => write!(
                f,
                "a zero-padded start needs an end of the same width, as in [01:50]"
            ),
            RangeProblem::Descending => write!(f, "a letter range must go up, as in [a:f]"),
            RangeProblem::TooMany { max } => {
                write!(f, "the range expands to more than {max} hosts (the limit)")
            }
        }
    }
}

/// True when `name` has a range to expand (Ansible's `detect_range`: any `[`).
pub fn has_range(name: &str) -> bool {
    name.contains('[')
}

/// The host names `pattern` stands for, in Ansible's order. A name without `[` is itself.
pub fn expand(pattern: &str) -> Result<Vec<String>, RangeProblem> {
    let parts = split(pattern)?;
    let mut total: usize = 1;
    for part in &parts {
        if let Part::Range(r) = part {
            total = total.saturating_mul(r.len());
        }
    }
    if total > MAX_HOSTS {
        return Err(RangeProblem::TooMany { max: MAX_HOSTS });
    }
    let mut names = vec![String::new()];
    for part in &parts {
        match part {
            Part::Text(t) => names.iter_mut().for_each(|n| n.push_str(t)),
            Part::Range(r) => {
                let items = r.items();
                let mut next = Vec::with_capacity(names.len() * items.len());
                for n in &names {
                    for item in &items {
                        next.push(format!("{n}{item}"));
                    }
                }
                names = next;
            }
        }
    }
    Ok(names)
}

enum Part<'a> {
    Text(&'a str),
    Range(Range),
}

/// One `[begin:end:step]`.
enum Range {
    Numbers {
        begin: u64,
        end: u64,
        step: u64,
        /// Zero-padded to this width (Ansible's `zfill`), or 0.
        width: usize,
    },
    Letters {
        begin: usize,
        end: usize,
        step: u64,
    },
}

/// Ansible's letter table (`string.ascii_letters`).
const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

impl Range {
    /// How many names the range gives, without making them.
    fn len(&self) -> usize {
        let count = match *self {
            Range::Numbers {
                begin, end, step, ..
            } => end.checked_sub(begin).map_or(0, |d| d / step + 1),
            Range::Letters { begin, end, step } => (end - begin) as u64 / step + 1,
        };
        usize::try_from(count).unwrap_or(usize::MAX)
    }

    fn items(&self) -> Vec<String> {
        match *self {
            Range::Numbers {
                begin,
                end,
                step,
                width,
            } => {
                let mut out = Vec::new();
                let mut i = begin;
                while i <= end {
                    out.push(format!("{i:0width$}"));
                    match i.checked_add(step) {
                        Some(n) => i = n,
                        None => break,
                    }
                }
                out
            }
            Range::Letters { begin, end, step } => (begin..=end)
                .step_by(usize::try_from(step).unwrap_or(usize::MAX))
                .map(|i| char::from(LETTERS[i]).to_string())
                .collect(),
        }
    }
}

fn split(pattern: &str) -> Result<Vec<Part<'_>>, RangeProblem> {
    let mut parts = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('[') {
        let close = rest[open..]
            .find(']')
            .map(|c| open + c)
            .ok_or(RangeProblem::Unclosed)?;
        if open > 0 {
            parts.push(Part::Text(&rest[..open]));
        }
        parts.push(Part::Range(parse_range(&rest[open + 1..close])?));
        rest = &rest[close + 1..];
    }
    if rest.contains(']') {
        return Err(RangeProblem::Unclosed);
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest));
    }
    Ok(parts)
}

fn parse_range(inside: &str) -> Result<Range, RangeProblem> {
    let bounds: Vec<&str> = inside.split(':').collect();
    let (begin, end, step) = match bounds.as_slice() {
        [b, e] => (*b, *e, "1"),
        [b, e, s] => (*b, *e, *s),
        _ => return Err(RangeProblem::Shape),
    };
    let begin = if begin.is_empty() { "0" } else { begin };
    if end.is_empty() {
        return Err(RangeProblem::NoEnd);
    }
    let step = number(step)
        .filter(|&s| s > 0)
        .ok_or_else(|| RangeProblem::Bound(step.to_owned()))?;
    if let (Some(b), Some(e)) = (letter(begin), letter(end)) {
        if b > e {
            return Err(RangeProblem::Descending);
        }
        return Ok(Range::Letters {
            begin: b,
            end: e,
            step,
        });
    }
    let b = number(begin).ok_or_else(|| RangeProblem::Bound(begin.to_owned()))?;
    let e = number(end).ok_or_else(|| RangeProblem::Bound(end.to_owned()))?;
    let width = if begin.len() > 1 && begin.starts_with('0') {
        if begin.len() != end.len() {
            return Err(RangeProblem::Width);
        }
        begin.len()
    } else {
        0
    };
    Ok(Range::Numbers {
        begin: b,
        end: e,
        step,
        width,
    })
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn letter(s: &str) -> Option<usize> {
    match s.as_bytes() {
        [c] => LETTERS.iter().position(|l| l == c),
        _ => None,
    }
}
