//! This kernel's input history, answering Jupyter's `history_request` (tail, range, search).
//!
//! The semantics follow IPython's `HistoryManager`, which clients expect: one session, lines
//! numbered from 1 (a line's number is its cell's execution count), `range` with negative
//! indices counted from the end and `stop` exclusive, `search` with a glob over the whole input
//! (SQLite's `GLOB`, which IPython uses: `*`, `?`, `[...]`, case-sensitive).
//!
//! Memory is bounded: at most [`MAX_ENTRIES`] lines (the oldest go first; line numbers keep
//! counting), an input keeps its first [`MAX_INPUT_BYTES`], an output its last
//! [`MAX_OUTPUT_BYTES`], and all inputs together [`MAX_TOTAL_INPUT_BYTES`], all outputs together
//! [`MAX_TOTAL_OUTPUT_BYTES`] (beyond those the oldest entries, or outputs, are dropped). Nothing
//! is written to disk: the history lives as long as the kernel.
//!
//! What is recorded is the caller's choice: cells with `store_history` only, and never the
//! answers to prompts (passwords go through `input_request`, not through here).

use std::collections::{HashSet, VecDeque};

/// At most this many lines are kept.
pub const MAX_ENTRIES: usize = 10_000;
/// An input longer than this keeps its first `MAX_INPUT_BYTES` (cut at a character boundary).
pub const MAX_INPUT_BYTES: usize = 1 << 20;
/// An output longer than this keeps its last `MAX_OUTPUT_BYTES`.
pub const MAX_OUTPUT_BYTES: usize = 64 << 10;
/// All inputs together; the oldest entries go first.
pub const MAX_TOTAL_INPUT_BYTES: usize = 64 << 20;
/// All outputs together; the oldest outputs go first.
pub const MAX_TOTAL_OUTPUT_BYTES: usize = 16 << 20;

/// The session number of this kernel's history (IPython numbers sessions from 1).
pub const SESSION: u32 = 1;

/// One line of history. `output` is set only when asked for and recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub session: u32,
    pub line: usize,
    pub input: String,
    pub output: Option<String>,
}

#[derive(Debug, Clone)]
struct Stored {
    line: usize,
    input: String,
    output: Option<String>,
}

/// The history of this kernel's session.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Oldest first, line numbers increasing.
    entries: VecDeque<Stored>,
    /// Lines pushed so far: the last line's number.
    last_line: usize,
    input_bytes: usize,
    output_bytes: usize,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a cell's input and returns its line number (1-based: the execution count).
    pub fn push(&mut self, input: String) -> usize {
        self.last_line += 1;
        let input = keep_head(input, MAX_INPUT_BYTES);
        self.input_bytes += input.len();
        self.entries.push_back(Stored {
            line: self.last_line,
            input,
            output: None,
        });
        while self.entries.len() > MAX_ENTRIES
            || (self.input_bytes > MAX_TOTAL_INPUT_BYTES && self.entries.len() > 1)
        {
            if let Some(old) = self.entries.pop_front() {
                self.input_bytes -= old.input.len();
                self.output_bytes -= old.output.as_ref().map_or(0, String::len);
            }
        }
        self.last_line
    }

    /// Records the output text of `line` (replacing any earlier one). Ignored for a line that
    /// is not (or no longer) kept.
    pub fn set_output(&mut self, line: usize, output: String) {
        let output = keep_tail(output, MAX_OUTPUT_BYTES);
        let Some(index) = self.index_of(line) else {
            return;
        };
        let entry = &mut self.entries[index];
        self.output_bytes -= entry.output.as_ref().map_or(0, String::len);
        self.output_bytes += output.len();
        entry.output = Some(output);
        // Drop the oldest outputs, never the one just set.
        let mut i = 0;
        while self.output_bytes > MAX_TOTAL_OUTPUT_BYTES && i < self.entries.len() {
            if i != index
                && let Some(old) = self.entries[i].output.take()
            {
                self.output_bytes -= old.len();
            }
            i += 1;
        }
    }

    /// The last `n` lines, oldest first.
    pub fn tail(&self, n: usize, output: bool) -> Vec<Entry> {
        let skip = self.entries.len().saturating_sub(n);
        self.entries
            .iter()
            .skip(skip)
            .map(|e| entry(e, output))
            .collect()
    }

    /// Lines `start..stop` of `session`, as IPython's `get_range`: `session` 1 is this one, and
    /// 0 or less counts back from it (0 is this one, -1 the one before, which does not exist
    /// here). A negative `start` or `stop` counts from the end (-1 is the last line, so
    /// `stop = -1` leaves it out); `stop` `None` or 0 means to the end.
    pub fn range(&self, session: i64, start: i64, stop: Option<i64>, output: bool) -> Vec<Entry> {
        let session = if session <= 0 {
            session + i64::from(SESSION)
        } else {
            session
        };
        if session != i64::from(SESSION) {
            return Vec::new();
        }
        // IPython's input list has a dummy line 0, so its length `n` is the last line + 1.
        let n = i64::try_from(self.last_line)
            .unwrap_or(i64::MAX)
            .saturating_add(1);
        let start = if start < 0 { start + n } else { start }.max(1);
        let stop = match stop {
            None | Some(0) => n,
            Some(s) if s > n => n,
            Some(s) if s < 0 => s + n,
            Some(s) => s,
        };
        if start >= stop {
            return Vec::new();
        }
        let (Ok(start), Ok(stop)) = (usize::try_from(start), usize::try_from(stop)) else {
            return Vec::new();
        };
        let first = self.entries.partition_point(|e| e.line < start);
        self.entries
            .range(first..)
            .take_while(|e| e.line < stop)
            .map(|e| entry(e, output))
            .collect()
    }

    /// Lines whose whole input matches the glob `pattern` (`*`, `?`, `[abc]`, `[a-z]`,
    /// `[^x]`; case-sensitive), oldest first. `n`: only the last `n` matches. `unique`: each
    /// input once, at its most recent line.
    pub fn search(
        &self,
        pattern: &str,
        n: Option<usize>,
        unique: bool,
        output: bool,
    ) -> Vec<Entry> {
        let glob = Glob::new(pattern);
        let limit = n.unwrap_or(usize::MAX);
        let mut seen = HashSet::new();
        let mut found: Vec<Entry> = self
            .entries
            .iter()
            .rev()
            .filter(|e| glob.matches(&e.input))
            .filter(|e| !unique || seen.insert(e.input.as_str()))
            .take(limit)
            .map(|e| entry(e, output))
            .collect();
        found.reverse();
        found
    }

    /// The number of the last line pushed (0 before any).
    pub fn last_line(&self) -> usize {
        self.last_line
    }

    fn index_of(&self, line: usize) -> Option<usize> {
        self.entries.binary_search_by_key(&line, |e| e.line).ok()
    }
}

fn entry(stored: &Stored, output: bool) -> Entry {
    Entry {
        session: SESSION,
        line: stored.line,
        input: stored.input.clone(),
        output: if output { stored.output.clone() } else { None },
    }
}

/// The first `max` bytes of `text`, cut back to a character boundary.
fn keep_head(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// The last `max` bytes of `text`, cut forward to a character boundary.
fn keep_tail(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut cut = text.len() - max;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    text[cut..].to_string()
}

/// A glob as SQLite's `GLOB` reads it.
enum Token {
    Star,
    Any,
    Char(char),
    /// `[...]`: ranges (a single character is a range of one), and whether `^` negates it.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    fn new(pattern: &str) -> Self {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    if !matches!(tokens.last(), Some(Token::Star)) {
                        tokens.push(Token::Star);
                    }
                    i += 1;
                }
                '?' => {
                    tokens.push(Token::Any);
                    i += 1;
                }
                '[' => match Self::class(&chars, i + 1) {
                    Some((token, next)) => {
                        tokens.push(token);
                        i = next;
                    }
                    // An unclosed `[` is a literal.
                    None => {
                        tokens.push(Token::Char('['));
                        i += 1;
                    }
                },
                c => {
                    tokens.push(Token::Char(c));
                    i += 1;
                }
            }
        }
        Glob { tokens }
    }

    /// The class starting after `[` at `i`; a `]` right after `[` or `[^` is a member.
    fn class(chars: &[char], mut i: usize) -> Option<(Token, usize)> {
        let negated = chars.get(i) == Some(&'^');
        if negated {
            i += 1;
        }
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let c = *chars.get(i)?;
            if c == ']' && !first {
                return Some((Token::Class { negated, ranges }, i + 1));
            }
            first = false;
            match (chars.get(i + 1), chars.get(i + 2)) {
                (Some('-'), Some(&end)) if end != ']' => {
                    ranges.push((c, end));
                    i += 3;
                }
                _ => {
                    ranges.push((c, c));
                    i += 1;
                }
            }
        }
    }

    fn matches_one(token: &Token, c: char) -> bool {
        match token {
            Token::Star | Token::Any => true,
            Token::Char(p) => *p == c,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
        }
    }

    /// Whole-text match, with the usual backtrack to the last `*` (linear in practice).
    fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let (mut t, mut p) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::Star) => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(token) if Self::matches_one(token, text[t]) => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|t| matches!(t, Token::Star))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn history(inputs: &[&str]) -> History {
        let mut h = History::new();
        for input in inputs {
            h.push(input.to_string());
        }
        h
    }

    fn lines(entries: &[Entry]) -> Vec<usize> {
        entries.iter().map(|e| e.line).collect()
    }

    #[test]
    fn push_numbers_lines_from_one() {
        let mut h = History::new();
        assert_eq!(h.last_line(), 0);
        assert_eq!(h.push("ls".into()), 1);
        assert_eq!(h.push("pwd".into()), 2);
        assert_eq!(h.last_line(), 2);
        assert_eq!(
            h.tail(1, false),
            vec![Entry {
                session: 1,
                line: 2,
                input: "pwd".into(),
                output: None
            }]
        );
    }

    #[test]
    fn tail() {
        let h = history(&["a", "b", "c"]);
        assert_eq!(lines(&h.tail(2, false)), [2, 3]);
        assert_eq!(lines(&h.tail(10, false)), [1, 2, 3]);
        assert!(h.tail(0, false).is_empty());
        assert!(History::new().tail(5, true).is_empty());
    }

    #[test]
    fn outputs() {
        let mut h = history(&["a", "b"]);
        h.set_output(1, "out a".into());
        h.set_output(99, "nowhere".into());
        let t = h.tail(2, true);
        assert_eq!(t[0].output.as_deref(), Some("out a"));
        assert_eq!(t[1].output, None);
        // Without output=true no output is returned.
        assert_eq!(h.tail(2, false)[0].output, None);
        // Replaced, and only the tail of a long output is kept.
        let long = format!("{}é{}", "x".repeat(MAX_OUTPUT_BYTES), "end");
        h.set_output(1, long);
        let out = h.tail(2, true)[0].output.clone().unwrap_or_default();
        assert!(
            out.len() <= MAX_OUTPUT_BYTES && out.ends_with("éend"),
            "{}",
            out.len()
        );
        assert_eq!(h.output_bytes, out.len());
    }

    #[test]
    fn total_output_is_bounded() {
        let mut h = History::new();
        let per = MAX_OUTPUT_BYTES;
        let count = MAX_TOTAL_OUTPUT_BYTES / per + 10;
        for i in 0..count {
            let line = h.push(format!("cell {i}"));
            h.set_output(line, "o".repeat(per));
        }
        assert!(h.output_bytes <= MAX_TOTAL_OUTPUT_BYTES);
        let all = h.tail(count, true);
        assert!(all[0].output.is_none(), "oldest output dropped");
        assert!(all[count - 1].output.is_some(), "newest output kept");
    }

    #[test]
    fn inputs_are_bounded() {
        let mut h = History::new();
        let big = format!("{}ü", "a".repeat(MAX_INPUT_BYTES - 1));
        h.push(big);
        let kept = &h.tail(1, false)[0].input;
        assert_eq!(
            kept.len(),
            MAX_INPUT_BYTES - 1,
            "cut before the split character"
        );

        let mut h = History::new();
        for i in 0..MAX_ENTRIES + 5 {
            h.push(i.to_string());
        }
        assert_eq!(h.entries.len(), MAX_ENTRIES);
        assert_eq!(h.tail(1, false)[0].line, MAX_ENTRIES + 5);
        assert_eq!(
            h.range(0, 1, None, false)[0].line,
            6,
            "oldest lines are gone"
        );

        let mut h = History::new();
        let chunk = "b".repeat(MAX_INPUT_BYTES);
        for _ in 0..(MAX_TOTAL_INPUT_BYTES / MAX_INPUT_BYTES + 3) {
            h.push(chunk.clone());
        }
        assert!(h.input_bytes <= MAX_TOTAL_INPUT_BYTES);
    }

    #[test]
    fn range_follows_ipython() {
        let h = history(&["l1", "l2", "l3", "l4", "l5"]);
        let r = |session, start, stop| lines(&h.range(session, start, stop, false));
        assert_eq!(r(0, 1, None), [1, 2, 3, 4, 5]);
        assert_eq!(r(1, 1, None), [1, 2, 3, 4, 5], "session 1 is this one");
        assert_eq!(r(0, 0, None), [1, 2, 3, 4, 5], "line 0 does not exist");
        assert_eq!(r(0, 2, Some(4)), [2, 3], "stop is exclusive");
        assert_eq!(r(0, 2, Some(0)), [2, 3, 4, 5], "stop 0 means to the end");
        assert_eq!(r(0, 4, Some(100)), [4, 5]);
        assert_eq!(r(0, -1, None), [5], "-1 is the last line");
        assert_eq!(r(0, -2, None), [4, 5]);
        assert_eq!(
            r(0, 1, Some(-1)),
            [1, 2, 3, 4],
            "stop -1 leaves the last out"
        );
        assert_eq!(r(0, -3, Some(-1)), [3, 4]);
        assert_eq!(r(0, -100, None), [1, 2, 3, 4, 5]);
        assert!(r(0, 4, Some(2)).is_empty());
        assert!(r(0, 6, None).is_empty());
        assert!(r(-1, 1, None).is_empty(), "no previous session");
        assert!(r(2, 1, None).is_empty(), "no such session");
        assert!(r(i64::MIN, i64::MIN, Some(i64::MIN)).is_empty());
        assert!(r(0, i64::MAX, Some(i64::MAX)).is_empty());
        let e = &h.range(0, 3, Some(4), false)[0];
        assert_eq!((e.session, e.line, e.input.as_str()), (1, 3, "l3"));
        assert!(History::new().range(0, 1, None, false).is_empty());
    }

    #[test]
    fn search() {
        let h = history(&["ls -l", "echo a", "ls /tmp", "echo a", "cat x", "ls -l"]);
        let s = |p: &str, n, unique| lines(&h.search(p, n, unique, false));
        assert_eq!(s("ls*", None, false), [1, 3, 6]);
        assert_eq!(s("ls*", Some(2), false), [3, 6], "the last n, oldest first");
        assert_eq!(
            s("ls*", None, true),
            [3, 6],
            "each input once, at its latest line"
        );
        assert_eq!(s("*", None, true), [3, 4, 5, 6]);
        assert_eq!(s("*", Some(2), true), [5, 6]);
        assert_eq!(s("echo ?", None, false), [2, 4]);
        assert_eq!(
            s("ls", None, false),
            Vec::<usize>::new(),
            "the whole input must match"
        );
        assert_eq!(s("*a*", None, false), [2, 4, 5]);
        assert_eq!(s("LS*", None, false), Vec::<usize>::new(), "case-sensitive");
        assert_eq!(s("[ce]*", None, false), [2, 4, 5]);
        assert_eq!(s("[^l]*", None, false), [2, 4, 5]);
        assert_eq!(s("ls [-/]*", None, false), [1, 3, 6]);
        assert_eq!(s("*", Some(0), false), Vec::<usize>::new());
    }

    #[test]
    fn search_with_output() {
        let mut h = history(&["date", "date"]);
        h.set_output(2, "Mon".into());
        let found = h.search("date", None, true, true);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].output.as_deref(), Some("Mon"));
    }

    #[test]
    fn globs() {
        let m = |p: &str, t: &str| Glob::new(p).matches(t);
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("*.txt", "notes.txt"));
        assert!(m("??", "éü"));
        assert!(m("[]]", "]"));
        assert!(m("[^]]", "a"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[a-c]x", "dx"));
        assert!(m("[a-]", "-"));
        assert!(m("[", "["), "an unclosed [ is literal");
        assert!(m("a[", "a["));
        assert!(m("**a", "ba"));
        assert!(m("line\n*", "line\nnext"));
    }

    proptest! {
        #[test]
        fn glob_never_panics(pattern in any::<String>(), text in any::<String>()) {
            let _ = Glob::new(&pattern).matches(&text);
        }

        #[test]
        fn star_around_matches_substrings(a in "[a-z]{0,5}", b in "[a-z]{0,5}", c in "[a-z]{0,5}") {
            let text = format!("{a}{b}{c}");
            let pattern = format!("*{b}*");
            prop_assert!(Glob::new(&pattern).matches(&text));
        }

        #[test]
        fn range_never_panics(start in any::<i64>(), stop in any::<Option<i64>>(), session in -3i64..3) {
            let h = history(&["a", "b", "c"]);
            let got = h.range(session, start, stop, true);
            prop_assert!(got.len() <= 3);
        }
    }
}
