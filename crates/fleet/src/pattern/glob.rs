//! One term's name matcher, as Ansible's `_match_list` compiles it: a `~regex` is matched
//! with Python's `re.match` (anchored at the start only), anything else is a shell glob
//! (Python's `fnmatch.translate`: `*`, `?`, `[abc]`, `[!abc]`, `[a-z]`; a `[` without its
//! `]` is literal; case-sensitive; the whole name must match).

use regex::{Regex, RegexBuilder};

/// Compiled regexes are small; a pattern needing more is a mistake.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The regex for a term's name part (`~…` or a glob).
pub fn compile(expr: &str) -> Result<Regex, regex::Error> {
    let source = match expr.strip_prefix('~') {
        Some(re) => format!("^(?:{re})"),
        None => format!("^(?s:{})$", translate(expr)),
    };
    RegexBuilder::new(&source)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// A glob as a regex body.
fn translate(glob: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                // As fnmatch: `!` negates, a `]` right after `[` or `[!` is a member.
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                match chars[j..].iter().position(|&c| c == ']') {
                    None => out.push_str(r"\["),
                    Some(end) => {
                        out.push_str(&class(&chars[i..j + end]));
                        i = j + end + 1;
                    }
                }
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out
}

/// `[...]`'s inside as a regex class, every member escaped (Rust's classes have set
/// operators Python's lack); an empty class matches nothing, `[!]` any character.
fn class(inside: &[char]) -> String {
    let (negated, members) = match inside.split_first() {
        Some(('!', rest)) => (true, rest),
        _ => (false, inside),
    };
    let mut items = String::new();
    let mut k = 0;
    while k < members.len() {
        let a = members[k];
        if k + 2 < members.len() && members[k + 1] == '-' {
            let b = members[k + 2];
            // Python drops a reversed range such as `z-a`.
            if a <= b {
                items.push_str(&format!("{}-{}", esc(a), esc(b)));
            }
            k += 3;
        } else {
            items.push_str(&esc(a));
            k += 1;
        }
    }
    match (negated, items.is_empty()) {
        (false, true) => "[^\\s\\S]".to_owned(),
        (true, true) => "(?s:.)".to_owned(),
        (false, false) => format!("[{items}]"),
        (true, false) => format!("[^{items}]"),
    }
}

fn esc(c: char) -> String {
    if c.is_alphanumeric() {
        c.to_string()
    } else {
        format!("\\x{{{:x}}}", u32::from(c))
    }
}

#[cfg(test)]
mod tests {
    use super::compile;

    fn m(pattern: &str, name: &str) -> bool {
        compile(pattern).unwrap().is_match(name)
    }

    #[test]
    fn globs_match_whole_names_as_fnmatch() {
        assert!(m("web*", "web01"));
        assert!(!m("web*", "xweb01"));
        assert!(m("web?", "web1"));
        assert!(!m("web?", "web12"));
        assert!(m("web[12]", "web2"));
        assert!(!m("web[!12]", "web2"));
        assert!(m("web[0-9]", "web7"));
        assert!(m("a.b", "a.b"));
        assert!(!m("a.b", "axb"));
        assert!(m("web[", "web["));
        assert!(m("[]]x", "]x"));
        assert!(m("x[&&]", "x&"));
        assert!(!m("[z-a]", "b"));
        assert!(!m("Web*", "web1"));
    }

    #[test]
    fn regexes_are_anchored_at_the_start_only() {
        assert!(m("~web\\d", "web1-old"));
        assert!(!m("~web", "oldweb"));
        assert!(m("~a|b", "bx"));
        assert!(compile("~(?=web)").is_err());
        assert!(compile("~(a)\\1").is_err());
    }
}
