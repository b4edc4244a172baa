//! Host lists folded as ClusterShell's `nodeset -f` and `clubak` write them:
//! `web[01-03,07],db1`. Each name's last run of digits is its number; names that differ
//! only there share one bracket, consecutive numbers make a range, and a zero-padded number
//! keeps its width (`web09` and `web10` fold to `web[09-10]`, `web9` and `web10` to
//! `web[9-10]`, `web9` and `web09` stay apart: `web[9,09]`). Pure, and `expand` gives back
//! exactly the folded set (for names without `[`, `]` or `,`, which hostnames never have;
//! such names are written as they are).

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use crate::limits::MAX_EXPANDED_HOSTS;

/// A name split around its last run of digits.
struct Numbered<'a> {
    prefix: &'a str,
    digits: &'a str,
    value: u128,
    suffix: &'a str,
}

fn numbered(name: &str) -> Option<Numbered<'_>> {
    if name.contains(['[', ']', ',']) {
        return None;
    }
    let end = name.rfind(|c: char| c.is_ascii_digit())? + 1;
    // Counted in bytes: digits are ASCII, the character before them may not be.
    let start = end
        - name.as_bytes()[..end]
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_digit())
            .count();
    let digits = &name[start..end];
    Some(Numbered {
        prefix: &name[..start],
        digits,
        value: digits.parse().ok()?,
        suffix: &name[end..],
    })
}

/// The width a range starting with `digits` pads to (0: not padded), as in Ansible and
/// ClusterShell: a leading zero fixes the width.
fn pad(digits: &str) -> usize {
    if digits.len() > 1 && digits.starts_with('0') {
        digits.len()
    } else {
        0
    }
}

/// A sort key that puts `web2` before `web10`.
pub fn natural_key(name: &str) -> (String, u128, usize, String) {
    match numbered(name) {
        Some(n) => (
            n.prefix.to_owned(),
            n.value,
            n.digits.len(),
            n.suffix.to_owned(),
        ),
        None => (name.to_owned(), 0, 0, String::new()),
    }
}

/// `web01 web02 web03 web07 db1` → `db1,web[01-03,07]`; duplicates once, sorted.
pub fn fold<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    let names: BTreeSet<String> = names.into_iter().map(|n| n.as_ref().to_owned()).collect();
    // (prefix, suffix) → numbers (value, digits); and names without a number.
    let mut numbered_groups: BTreeMap<(&str, &str), Vec<(u128, &str)>> = BTreeMap::new();
    let mut pieces: Vec<((String, u128, usize, String), String)> = Vec::new();
    for name in &names {
        match numbered(name) {
            Some(n) => numbered_groups
                .entry((n.prefix, n.suffix))
                .or_default()
                .push((n.value, n.digits)),
            None => pieces.push((natural_key(name), name.clone())),
        }
    }
    for ((prefix, suffix), mut numbers) in numbered_groups {
        numbers.sort_by_key(|&(value, digits)| (value, digits.len()));
        let mut items: Vec<String> = Vec::new();
        let mut i = 0;
        while i < numbers.len() {
            let start_digits = numbers[i].1;
            let width = pad(start_digits);
            let mut j = i;
            while let Some(&(next, digits)) = numbers.get(j + 1) {
                if numbers[j].0.checked_add(1) == Some(next) && format!("{next:0width$}") == digits
                {
                    j += 1;
                } else {
                    break;
                }
            }
            items.push(if j == i {
                start_digits.to_owned()
            } else {
                format!("{start_digits}-{}", numbers[j].1)
            });
            i = j + 1;
        }
        let text = if items.len() == 1 && !items[0].contains('-') {
            format!("{prefix}{}{suffix}", items[0])
        } else {
            format!("{prefix}[{}]{suffix}", items.join(","))
        };
        let key = (
            prefix.to_owned(),
            numbers[0].0,
            numbers[0].1.len(),
            suffix.to_owned(),
        );
        pieces.push((key, text));
    }
    pieces.sort();
    pieces
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(",")
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("{text:?} is not a host list such as web[01-03,07],db1: {problem}")]
pub struct HostListError {
    pub text: String,
    pub problem: &'static str,
}

/// `web[01-03,07],db1` → `web01 web02 web03 web07 db1` (in the written order).
pub fn expand(text: &str) -> Result<Vec<String>, HostListError> {
    let fail = |problem| HostListError {
        text: text.to_owned(),
        problem,
    };
    let mut out = Vec::new();
    for piece in split_top(text).map_err(fail)? {
        let Some(open) = piece.find('[') else {
            if piece.contains(']') {
                return Err(fail("a ']' without its '['"));
            }
            out.push(piece.to_owned());
            continue;
        };
        let close = piece
            .find(']')
            .ok_or_else(|| fail("a '[' without its ']'"))?;
        let (prefix, inside, suffix) =
            (&piece[..open], &piece[open + 1..close], &piece[close + 1..]);
        if suffix.contains(['[', ']']) || prefix.contains(']') {
            return Err(fail("one bracket per name"));
        }
        for item in inside.split(',') {
            let (start, end) = item.split_once('-').unwrap_or((item, item));
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if !digits(start) || !digits(end) {
                return Err(fail("a bracket holds numbers and ranges such as 01-03,07"));
            }
            let (a, b): (u128, u128) = match (start.parse(), end.parse()) {
                (Ok(a), Ok(b)) if a <= b => (a, b),
                _ => return Err(fail("a range goes up, as in 01-03")),
            };
            if b - a >= (MAX_EXPANDED_HOSTS - out.len().min(MAX_EXPANDED_HOSTS)) as u128 {
                return Err(fail("more hosts than the limit of 100000"));
            }
            let width = pad(start);
            for v in a..=b {
                out.push(format!("{prefix}{v:0width$}{suffix}"));
            }
        }
    }
    Ok(out)
}

/// The pieces between commas outside brackets.
fn split_top(text: &str) -> Result<Vec<&str>, &'static str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.checked_sub(1).ok_or("a ']' without its '['")?,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    Ok(out.into_iter().filter(|p| !p.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{expand, fold};

    #[test]
    fn folds_as_clubak_does() {
        assert_eq!(
            fold(["web01", "web02", "web03", "web07", "db1"]),
            "db1,web[01-03,07]"
        );
        assert_eq!(fold(["web09", "web10"]), "web[09-10]");
        assert_eq!(fold(["web9", "web10"]), "web[9-10]");
        assert_eq!(fold(["web9", "web09"]), "web[9,09]");
        assert_eq!(fold(["web2", "web10", "web1"]), "web[1-2,10]");
        assert_eq!(
            fold(["rack1-n05.dc", "rack1-n06.dc", "rack2-n05.dc"]),
            "rack1-n[05-06].dc,rack2-n05.dc"
        );
        assert_eq!(fold(["mail", "mail"]), "mail");
        // Found by the fuzzer: a multi-byte character just before the number.
        assert_eq!(fold(["é1", "é2"]), "é[1-2]");
        assert_eq!(fold(Vec::<String>::new()), "");
    }

    #[test]
    fn expands_back() {
        assert_eq!(
            expand("web[01-03,07],db1").unwrap(),
            ["web01", "web02", "web03", "web07", "db1"]
        );
        assert!(expand("web[3-1]").is_err());
        assert!(expand("web[1-x]").is_err());
        assert!(expand("web[1-2").is_err());
        assert!(expand("web[0-100000]").is_err());
    }

    proptest! {
        #[test]
        fn fold_then_expand_gives_the_same_set(
            names in proptest::collection::vec("[a-c]{0,2}[0-9]{0,3}[.-]?[a-b0-9]{0,2}", 0..40)
        ) {
            let names: std::collections::BTreeSet<String> =
                names.into_iter().filter(|n| !n.is_empty()).collect();
            let folded = fold(&names);
            let back: Vec<String> = expand(&folded).unwrap();
            let set: std::collections::BTreeSet<String> = back.iter().cloned().collect();
            prop_assert_eq!(set.len(), back.len(), "{} expands with duplicates", folded);
            prop_assert_eq!(set, names, "{}", folded);
        }
    }
}
