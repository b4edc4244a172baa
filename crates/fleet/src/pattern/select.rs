//! A pattern evaluated over an inventory, as Ansible's `InventoryManager` does
//! (`_evaluate_patterns`, `_match_one_pattern`, `_enumerate_matches`, `_apply_subscript`):
//! a term that is exactly a host's name is that host; otherwise the groups whose names
//! match contribute their hosts, and hosts whose names match are added when no group
//! matched or the term is a regex or a glob (or has a `.`). A subscript takes hosts by
//! position: `[i]` one (negative from the end; out of range is an error), `[i:j]` from i
//! to j inclusive, `[i:]` to the end. The result keeps inventory order, each host once.

use std::collections::HashSet;

use regex::Regex;

use super::error::{Listed, PatternError};
use super::glob;
use super::split;
use crate::inventory::Inventory;

/// A parsed host pattern, its terms in the order they apply.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    terms: Vec<Term>,
}

/// What a pattern selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection<'a> {
    /// The hosts, in inventory order, each once.
    pub hosts: Vec<&'a str>,
    /// Terms that matched nothing (Ansible warns "Could not match supplied host pattern,
    /// ignoring"); the rest of the pattern still applies.
    pub unmatched: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Intersect,
    Exclude,
}

#[derive(Debug, Clone)]
struct Term {
    /// As written, with its `&` or `!`.
    text: String,
    op: Op,
    /// Without the `&`/`!` and subscript.
    expr: String,
    matcher: Regex,
    subscript: Option<Subscript>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subscript {
    Index(i64),
    /// Inclusive; `None` is "to the end".
    Range(i64, Option<i64>),
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let terms = split::terms(text)
            .into_iter()
            .map(|t| Term::parse(&t))
            .collect::<Result<Vec<_>, _>>()?;
        if terms.is_empty() {
            return Err(PatternError::Empty);
        }
        Ok(Pattern {
            text: text.to_owned(),
            terms,
        })
    }

    /// The hosts of `inv` the pattern selects; selecting none is an error that lists what
    /// the inventory has.
    pub fn select<'a>(&self, inv: &'a Inventory) -> Result<Selection<'a>, PatternError> {
        let mut hosts: Vec<usize> = Vec::new();
        let mut unmatched = Vec::new();
        for term in &self.terms {
            if term.op == Op::Union
                && let Some(&id) = inv.host_ids.get(&term.text)
            {
                hosts.push(id);
                continue;
            }
            let that = term.matches(inv)?;
            if that.is_empty() {
                unmatched.push(term.text.clone());
            }
            match term.op {
                Op::Union => {
                    let existing: HashSet<usize> = hosts.iter().copied().collect();
                    hosts.extend(that.into_iter().filter(|h| !existing.contains(h)));
                }
                Op::Intersect => {
                    let that: HashSet<usize> = that.into_iter().collect();
                    hosts.retain(|h| that.contains(h));
                }
                Op::Exclude => {
                    let that: HashSet<usize> = that.into_iter().collect();
                    hosts.retain(|h| !that.contains(h));
                }
            }
        }
        let mut seen = HashSet::new();
        hosts.retain(|h| seen.insert(*h));
        if hosts.is_empty() {
            return Err(PatternError::NothingSelected {
                pattern: self.text.clone(),
                groups: Listed::of(inv.groups()),
                hosts: Listed::of(inv.hosts()),
            });
        }
        Ok(Selection {
            hosts: hosts
                .into_iter()
                .map(|h| inv.hosts[h].name.as_str())
                .collect(),
            unmatched,
        })
    }
}

/// Parses `pattern` and selects from `inv` in one step.
pub fn select<'a>(inv: &'a Inventory, pattern: &str) -> Result<Selection<'a>, PatternError> {
    Pattern::parse(pattern)?.select(inv)
}

impl Term {
    fn parse(text: &str) -> Result<Term, PatternError> {
        let (op, body) = match text.chars().next() {
            Some('&') => (Op::Intersect, &text[1..]),
            Some('!') => (Op::Exclude, &text[1..]),
            _ => (Op::Union, text),
        };
        let (expr, subscript) = split_subscript(body);
        if expr.is_empty() {
            return Err(PatternError::Empty);
        }
        let matcher = glob::compile(expr).map_err(|source| PatternError::Regex {
            term: text.to_owned(),
            reason: reason(&source),
            source,
        })?;
        Ok(Term {
            text: text.to_owned(),
            op,
            expr: expr.to_owned(),
            matcher,
            subscript,
        })
    }

    /// Ansible's `_enumerate_matches` then `_apply_subscript`: host ids, possibly
    /// repeated (a host of two matching groups), as Ansible subscripts them.
    fn matches(&self, inv: &Inventory) -> Result<Vec<usize>, PatternError> {
        let mut out = Vec::new();
        let mut any_group = false;
        for (id, group) in inv.groups.iter().enumerate() {
            if self.matcher.is_match(&group.name) {
                any_group = true;
                out.extend(inv.group_host_ids(id));
            }
        }
        let wild = self.expr.starts_with('~') || self.expr.contains(['.', '?', '*', '[']);
        if !any_group || wild {
            out.extend(
                inv.hosts
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| self.matcher.is_match(&h.name))
                    .map(|(id, _)| id),
            );
        }
        self.apply_subscript(out)
    }

    fn apply_subscript(&self, hosts: Vec<usize>) -> Result<Vec<usize>, PatternError> {
        let Some(subscript) = self.subscript else {
            return Ok(hosts);
        };
        if hosts.is_empty() {
            return Ok(hosts);
        }
        let len = i64::try_from(hosts.len()).unwrap_or(i64::MAX);
        let out_of_range = || PatternError::Subscript {
            term: self.text.clone(),
            count: hosts.len(),
        };
        match subscript {
            // Ansible tests `if end:`, so `[i:0]` is `[i]`.
            Subscript::Index(i) | Subscript::Range(i, Some(0)) => {
                let at = if i < 0 { len + i } else { i };
                if !(0..len).contains(&at) {
                    return Err(out_of_range());
                }
                Ok(vec![hosts[at as usize]])
            }
            Subscript::Range(start, end) => {
                let end = end.unwrap_or(len - 1).saturating_add(1).min(len);
                let start = start.min(len);
                if start >= end {
                    return Ok(Vec::new());
                }
                Ok(hosts[start as usize..end as usize].to_vec())
            }
        }
    }
}

/// Ansible's `PATTERN_WITH_SUBSCRIPT`: `expr[i]`, `expr[-i]`, `expr[i:j]`, `expr[i:]`
/// (and the old `expr[i-j]`); not for a regex, whose brackets are its own.
fn split_subscript(term: &str) -> (&str, Option<Subscript>) {
    if term.starts_with('~') {
        return (term, None);
    }
    let parsed = (|| {
        let inner = term.strip_suffix(']')?;
        let open = inner.rfind('[')?;
        let (expr, sub) = (&inner[..open], &inner[open + 1..]);
        if expr.is_empty() {
            return None;
        }
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let number = |s: &str| s.parse::<i64>().unwrap_or(i64::MAX);
        let single = sub.strip_prefix('-').unwrap_or(sub);
        if digits(single) {
            let n = number(single);
            let n = if sub.starts_with('-') { -n } else { n };
            return Some((expr, Subscript::Index(n)));
        }
        let split = sub.find([':', '-'])?;
        let (start, end) = (&sub[..split], &sub[split + 1..]);
        if !digits(start) || !(end.is_empty() || digits(end)) {
            return None;
        }
        let end = (!end.is_empty()).then(|| number(end));
        Some((expr, Subscript::Range(number(start), end)))
    })();
    match parsed {
        Some((expr, sub)) => (expr, Some(sub)),
        None => (term, None),
    }
}

/// The regex crate's reason in one line (its message draws the pattern with a caret).
fn reason(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or(text.lines().last().unwrap_or_default())
        .to_owned()
}
