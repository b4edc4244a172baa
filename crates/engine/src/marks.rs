//! Marks for hosts: the user says which hosts are production, staging, … by pattern, each
//! mark a name and a colour from a fixed palette, so that every cell header and the status
//! bar say it and nobody works on the wrong server unawares.
//!
//! The user's own file (`marks_path`) is the authority: a notebook's `%mark` adds marks for
//! the session, but only for hosts the file leaves unmarked. A shared notebook therefore
//! cannot relabel production as staging. Pure: reading the file is the caller's.
//!
//! The file, one rule per line (`#` starts a comment):
//!
//! ```text
//! # PATTERNS    MARK        [COLOUR]
//! prod-*,db?    production  red
//! *.staging.example.com  staging  orange
//! ```
//!
//! PATTERNS is a comma-separated list as in ssh_config's `Match host` (`*`, `?`, `!negated`,
//! case-insensitive), matched against the name given to `%login` (with and without its
//! `user@`) and the host name it resolved to. The first rule that matches wins.

use targets::ssh::config::match_pattern_list;

/// The file's size limit: a marks file is a few lines; anything near this is a mistake.
pub const MAX_FILE_BYTES: usize = 64 * 1024;
/// A mark's name shows in every header: one short word or two.
pub const MAX_MARK_CHARS: usize = 40;
/// Rules a session may add with `%mark`.
pub const MAX_SESSION_RULES: usize = 100;

/// The palette. Fixed, so a mark reads the same in every notebook and theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Red,
    Orange,
    Yellow,
    Green,
    Blue,
    Purple,
    Grey,
}

impl Colour {
    pub const ALL: [Colour; 7] = [
        Colour::Red,
        Colour::Orange,
        Colour::Yellow,
        Colour::Green,
        Colour::Blue,
        Colour::Purple,
        Colour::Grey,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Orange => "orange",
            Colour::Yellow => "yellow",
            Colour::Green => "green",
            Colour::Blue => "blue",
            Colour::Purple => "purple",
            Colour::Grey => "grey",
        }
    }

    /// The background a mark is shown on; each takes white text (yellow takes black).
    pub fn css(self) -> &'static str {
        match self {
            Colour::Red => "#c62828",
            Colour::Orange => "#ef6c00",
            Colour::Yellow => "#f9a825",
            Colour::Green => "#2e7d32",
            Colour::Blue => "#1565c0",
            Colour::Purple => "#6a1b9a",
            Colour::Grey => "#616161",
        }
    }

    pub fn text_css(self) -> &'static str {
        match self {
            Colour::Yellow => "#000000",
            _ => "#ffffff",
        }
    }

    pub fn parse(word: &str) -> Option<Colour> {
        let word = word.to_ascii_lowercase();
        let word = if word == "gray" { "grey" } else { &word };
        Colour::ALL.into_iter().find(|c| c.name() == word)
    }

    fn names() -> String {
        Colour::ALL.map(Colour::name).join(", ")
    }
}

/// What a marked host shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub name: String,
    pub colour: Colour,
}

/// Which hosts get a mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub patterns: String,
    pub mark: Mark,
}

/// Where a host's mark comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    File,
    Session,
}

/// A line of the file, or a `%mark`, that could not be read: said to the user, and the rest
/// of the file still applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("line {line}: {why}")]
    Line { line: usize, why: String },
    #[error("the file is larger than {MAX_FILE_BYTES} bytes; only its start was read")]
    TooLarge,
}

/// One rule from its words: `PATTERNS MARK [COLOUR]` (grey when no colour is given).
pub fn parse_rule(words: &[&str]) -> Result<Rule, String> {
    let (patterns, name, colour) = match words {
        [p, n] => (*p, *n, Colour::Grey),
        [p, n, c] => (
            *p,
            *n,
            Colour::parse(c).ok_or_else(|| {
                format!("unknown colour {c:?}; the palette is {}", Colour::names())
            })?,
        ),
        _ => {
            return Err(format!(
                "expected PATTERNS MARK [COLOUR], got {} word(s)",
                words.len()
            ));
        }
    };
    if patterns.split(',').any(str::is_empty) {
        return Err(format!("empty pattern in {patterns:?}"));
    }
    if name.chars().count() > MAX_MARK_CHARS {
        return Err(format!(
            "the mark is longer than {MAX_MARK_CHARS} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("the mark has a control character".into());
    }
    Ok(Rule {
        patterns: patterns.to_owned(),
        mark: Mark {
            name: name.to_owned(),
            colour,
        },
    })
}

/// The rules of a marks file, and what in it could not be read.
pub fn parse_file(text: &str) -> (Vec<Rule>, Vec<RuleError>) {
    let mut errors = Vec::new();
    let text = if text.len() > MAX_FILE_BYTES {
        errors.push(RuleError::TooLarge);
        let mut end = MAX_FILE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        &text[..end]
    } else {
        text
    };
    let mut rules = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        match parse_rule(&words) {
            Ok(r) => rules.push(r),
            Err(why) => errors.push(RuleError::Line { line: i + 1, why }),
        }
    }
    (rules, errors)
}

/// The names a host is known by, for matching: the name given to `%login` (`ops@db1`),
/// the same without its user (`db1`), and the host name it resolved to.
pub fn host_names<'a>(target: &'a str, host: &'a str) -> Vec<&'a str> {
    let mut names = vec![target];
    if let Some((_, bare)) = target.rsplit_once('@') {
        names.push(bare);
    }
    if !names.contains(&host) {
        names.push(host);
    }
    names
}

fn first_match<'r>(rules: &'r [Rule], names: &[&str]) -> Option<&'r Rule> {
    rules.iter().find(|r| r.matches(names))
}

impl Rule {
    /// Whether the rule marks a host known by `names` (from [`host_names`]): one pattern
    /// matches one of them, and no negated pattern matches any.
    pub fn matches(&self, names: &[&str]) -> bool {
        let answer = |n: &&str| match_pattern_list(n, &self.patterns);
        !names.iter().any(|n| answer(n) == Some(false))
            && names.iter().any(|n| answer(n) == Some(true))
    }
}

/// The file's rules and the session's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    file: Vec<Rule>,
    /// Newest first: a later `%mark` for the same host wins over an earlier one.
    session: Vec<Rule>,
}

impl Marks {
    pub fn set_file(&mut self, rules: Vec<Rule>) {
        self.file = rules;
    }

    pub fn file_rules(&self) -> &[Rule] {
        &self.file
    }

    pub fn session_rules(&self) -> &[Rule] {
        &self.session
    }

    /// A host's mark (`names` from [`host_names`]): the file's first, then the session's.
    pub fn find(&self, names: &[&str]) -> Option<(&Mark, Source)> {
        first_match(&self.file, names)
            .map(|r| (&r.mark, Source::File))
            .or_else(|| first_match(&self.session, names).map(|r| (&r.mark, Source::Session)))
    }

    /// Add a session rule (`%mark`). Returns false when the session already has as many as
    /// it may keep.
    pub fn add_session(&mut self, rule: Rule) -> bool {
        self.session.retain(|r| r.patterns != rule.patterns);
        if self.session.len() >= MAX_SESSION_RULES {
            return false;
        }
        self.session.insert(0, rule);
        true
    }

    pub fn clear_session(&mut self) {
        self.session.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn marks(file: &str) -> Marks {
        let (rules, errors) = parse_file(file);
        assert!(errors.is_empty(), "{errors:?}");
        let mut m = Marks::default();
        m.set_file(rules);
        m
    }

    fn mark_of(m: &Marks, target: &str, host: &str) -> Option<(String, Source)> {
        m.find(&host_names(target, host))
            .map(|(mark, src)| (mark.name.clone(), src))
    }

    #[test]
    fn the_first_matching_rule_wins_by_name_bare_name_or_host() {
        let m = marks(
            "# mine\nprod-*,db? production red\n*.staging.example.com staging orange # ok\n* other\n",
        );
        let f = |t: &str, h: &str| mark_of(&m, t, h).map(|x| x.0);
        assert_eq!(f("prod-web", "10.0.0.5").as_deref(), Some("production"));
        assert_eq!(f("ops@PROD-web", "10.0.0.5").as_deref(), Some("production"));
        assert_eq!(f("db1", "db1").as_deref(), Some("production"));
        assert_eq!(f("db12", "db12").as_deref(), Some("other"));
        assert_eq!(
            f("web", "web.staging.example.com").as_deref(),
            Some("staging")
        );
        let (rules, _) = parse_file("a x\n");
        assert_eq!(rules[0].mark.colour, Colour::Grey, "grey unless said");
    }

    #[test]
    fn a_negated_pattern_rules_a_host_out() {
        let m = marks("prod-*,!prod-test production red\n");
        assert!(mark_of(&m, "prod-test", "prod-test").is_none());
        assert!(mark_of(&m, "prod-db", "prod-db").is_some());
        // Ruled out through its resolved name too.
        assert!(mark_of(&m, "prod-alias", "prod-test").is_none());
    }

    #[test]
    fn bad_lines_are_said_and_the_rest_applies() {
        let (rules, errors) = parse_file("a\nweb1 prod pink\nweb2 prod red\n,x y\n");
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].patterns, "web2");
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(
            text[0].starts_with("line 1: expected PATTERNS MARK"),
            "{text:?}"
        );
        assert!(
            text[1].starts_with("line 2: unknown colour \"pink\"; the palette is red,"),
            "{text:?}"
        );
        assert!(text[2].starts_with("line 4: empty pattern"), "{text:?}");
    }

    #[test]
    fn a_huge_file_is_cut_and_said() {
        let big = "x y\n".repeat(MAX_FILE_BYTES / 4 + 10);
        let (rules, errors) = parse_file(&big);
        assert_eq!(errors, vec![RuleError::TooLarge]);
        assert!(rules.len() <= MAX_FILE_BYTES / 4);
    }

    #[test]
    fn the_session_cannot_relabel_what_the_file_marks() {
        let mut m = marks("prod-* production red\n");
        let rule = |w: &[&str]| parse_rule(w).unwrap_or_else(|e| panic!("{e}"));
        assert!(m.add_session(rule(&["prod-*", "staging", "green"])));
        assert!(m.add_session(rule(&["*", "lab", "blue"])));
        assert_eq!(
            mark_of(&m, "prod-db", "prod-db"),
            Some(("production".into(), Source::File))
        );
        assert_eq!(
            mark_of(&m, "test1", "test1"),
            Some(("lab".into(), Source::Session))
        );
        // A later %mark for the same patterns replaces the earlier one.
        assert!(m.add_session(rule(&["*", "scratch"])));
        assert_eq!(m.session_rules().len(), 2);
        assert_eq!(
            mark_of(&m, "test1", "test1").map(|x| x.0).as_deref(),
            Some("scratch")
        );
        m.clear_session();
        assert!(mark_of(&m, "test1", "test1").is_none());
    }

    #[test]
    fn session_rules_are_bounded() {
        let mut m = Marks::default();
        for i in 0..MAX_SESSION_RULES {
            assert!(m.add_session(parse_rule(&[&format!("h{i}"), "x"]).unwrap()));
        }
        assert!(!m.add_session(parse_rule(&["more", "x"]).unwrap()));
    }

    #[test]
    fn marks_are_checked() {
        assert!(parse_rule(&["a", &"x".repeat(MAX_MARK_CHARS + 1)]).is_err());
        assert!(parse_rule(&["a", "x\u{1b}[31m"]).is_err());
        assert_eq!(Colour::parse("GRAY"), Some(Colour::Grey));
        for c in Colour::ALL {
            assert_eq!(Colour::parse(c.name()), Some(c));
            assert!(c.css().len() == 7 && c.css().starts_with('#'));
        }
    }

    proptest! {
        /// Any text is read without a panic, every rule kept is one a `%mark` would accept.
        #[test]
        fn any_file_is_read(text in ".{0,400}") {
            let (rules, _) = parse_file(&text);
            for r in rules {
                let words = [r.patterns.as_str(), r.mark.name.as_str(), r.mark.colour.name()];
                prop_assert_eq!(parse_rule(&words), Ok(r.clone()));
            }
        }
    }
}
