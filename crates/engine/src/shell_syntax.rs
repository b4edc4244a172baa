//! Whether a cell's bash text is complete, for Jupyter's `is_complete_request`.
//!
//! `jupyter console` asks after every Enter: `Complete` runs the cell, `Incomplete` opens a
//! continuation line prefilled with `indent`, `Invalid` runs it too so that bash reports the
//! syntax error itself. This is a small hand-written lexer with a stack of open constructs, not a
//! bash parser: it tracks exactly what decides completeness (quotes, `$(`, `${`, `$((`, `((`,
//! `[[`, heredocs, `\` continuations, `|`/`&&`/`||`, compound commands, function definitions)
//! and reports a closer that has nothing to close (`fi`, `done`, `esac`, `}`, `)`, `then`, ...)
//! as `Invalid`. Keywords count only where bash recognises them, at the start of a command
//! (bash manual, "Reserved Words"): `echo fi` is complete.
//!
//! Leading magic lines (see [`crate::magics`]) are skipped, so `%login x` is complete and
//! `%login x\nif true; then` is not.
//!
//! The scanner works on bytes with an explicit stack (no recursion), so any input, however
//! deeply nested or invalid, is scanned in linear time without panicking.

/// The answer to `is_complete_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completeness {
    Complete,
    /// More lines are needed. `indent` is four spaces per open block (`if`, `do`, `{`, `(`,
    /// `$(`, a `case` item counts two), and empty inside a quote or a heredoc body, where
    /// spaces would change the text.
    Incomplete {
        indent: String,
    },
    /// A closer with nothing open (`fi`, `done`, `esac`, `}`, `)`, `then`, `;;`, ...) or an
    /// operator in a place bash rejects (`| cat`, `a && ;`).
    Invalid,
}

/// Whether `code` (a cell: magic lines, then bash) is complete.
pub fn is_complete(code: &str) -> Completeness {
    let (_, shell) = crate::magics::split_magic_lines(code);
    Scanner::new(shell.as_bytes()).run()
}

/// Spaces per open block in [`Completeness::Incomplete`].
const INDENT_UNIT: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IfPhase {
    /// Between `if`/`elif` and `then`.
    Cond,
    Then,
    Else,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoopPhase {
    /// `while`/`until` condition, a command list ended by `do`.
    Cond,
    /// After `for`/`select`: the variable name or `((`.
    ForName,
    /// After the name: `in`, `do`, `;` or a newline.
    ForAfterName,
    /// The words after `in`, up to `;` or a newline.
    ForList,
    /// Only `do` may come (newlines and comments aside).
    ForWaitDo,
    Body,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CasePhase {
    /// After `case`: the subject word.
    Subject,
    /// After the subject: `in`.
    In,
    /// Where a pattern list `a|b)` or `esac` may come. `started`: an `(` or a pattern word
    /// has been read, so `esac` is a pattern here and `)` ends the list.
    Pattern { started: bool },
    /// The commands of an item, ended by `;;`, `;&`, `;;&` or `esac`.
    Body,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Root,
    /// `( ... )`
    Subshell,
    /// `$( ... )`
    CmdSubst,
    /// `<( ... )`, `>( ... )`
    ProcSubst,
    /// `` ` ... ` ``
    Backquote,
    /// `{ ...; }`
    Brace,
    If(IfPhase),
    Loop(LoopPhase),
    Case(CasePhase),
    /// `$(( ... ))` (`dollar`) or the `(( ... ))` command; `depth` counts inner parentheses.
    Arith {
        dollar: bool,
        depth: u32,
    },
    /// `${ ... }`; `dq` when inside double quotes, where `$'` and `$"` are not quotes.
    Param {
        depth: u32,
        dq: bool,
    },
    /// `[[ ... ]]`
    DoubleBracket {
        word_start: bool,
    },
    /// An extglob group in a word: `@( ... )`, `!(...)`, `*(...)`, `+(...)`, `?(...)`.
    Extglob {
        depth: u32,
    },
    /// `name=( ... )`
    ArrayLit {
        word_start: bool,
    },
    Single,
    Double,
    /// `$' ... '`
    AnsiC,
}

impl Kind {
    /// Frames holding a command list (or the head of a compound command) and so a [`Lex`].
    fn is_listish(self) -> bool {
        matches!(
            self,
            Kind::Root
                | Kind::Subshell
                | Kind::CmdSubst
                | Kind::ProcSubst
                | Kind::Backquote
                | Kind::Brace
                | Kind::If(_)
                | Kind::Loop(_)
                | Kind::Case(_)
        )
    }

    /// Compound commands: closing one ends a command in the enclosing list. The other frames
    /// are parts of a word, which goes on after them (`a$(b)c`).
    fn is_compound(self) -> bool {
        matches!(
            self,
            Kind::Subshell
                | Kind::Brace
                | Kind::If(_)
                | Kind::Loop(_)
                | Kind::Case(_)
                | Kind::DoubleBracket { .. }
                | Kind::Arith { dollar: false, .. }
        )
    }

    fn indent_levels(self) -> usize {
        match self {
            Kind::Subshell
            | Kind::CmdSubst
            | Kind::ProcSubst
            | Kind::Backquote
            | Kind::Brace
            | Kind::If(_)
            | Kind::Loop(_)
            | Kind::ArrayLit { .. } => 1,
            Kind::Case(CasePhase::Body) => 2,
            Kind::Case(_) => 1,
            _ => 0,
        }
    }
}

/// Where a word `name=(...)` is an array assignment (bash manual, "Arrays").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrays {
    /// Only assignments so far: one more may come before the command name.
    Prefix,
    /// Arguments of `declare`, `local`, `export`, `readonly`, `typeset`.
    Declaration,
    /// Anywhere else `(` in a word is a syntax error.
    No,
}

/// `NAME=...`, `NAME+=...`, `NAME[...]=...`
fn is_assignment(word: &[u8]) -> bool {
    let Some(eq) = word.iter().position(|&b| b == b'=') else {
        return false;
    };
    let mut name = &word[..eq];
    if let [rest @ .., b'+'] = name {
        name = rest;
    }
    if let [head @ .., b']'] = name
        && let Some(open) = head.iter().position(|&b| b == b'[')
    {
        name = &head[..open];
    }
    match name.split_first() {
        Some((first, rest)) => {
            (first.is_ascii_alphabetic() || *first == b'_')
                && rest.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        }
        None => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FnState {
    None,
    /// After `function`: the name comes.
    Name,
    /// After `function NAME`: `()` or the body.
    AfterName,
    /// After `NAME()`: the body (a compound command), newlines allowed before it.
    NeedBody,
}

/// Where a command list stands.
#[derive(Debug, Clone, Copy)]
struct Lex {
    /// The next word is at command position: reserved words count.
    cmd_pos: bool,
    /// Words of the current simple command (for `NAME ()`).
    cmd_words: u32,
    /// Where `name=(...)` is an array assignment in this command.
    arrays: Arrays,
    /// A compound command just closed: only a redirection, an operator or a closing reserved
    /// word may follow (`(a) b` is a syntax error).
    after_compound: bool,
    /// The list of this frame (or of its current `if`/`case` branch) has a command.
    has_cmd: bool,
    /// Nothing since the last `;`, `&`, newline, `|`, `&&`, `||` or list start.
    empty: bool,
    /// After `|`, `&&`, `||`: a command must follow.
    continuation: bool,
    /// After a redirection operator: its target word must follow.
    redirect: bool,
    func: FnState,
    /// Start offset of the word being read.
    word: Option<usize>,
}

impl Lex {
    fn fresh() -> Self {
        Lex {
            cmd_pos: true,
            cmd_words: 0,
            arrays: Arrays::Prefix,
            after_compound: false,
            has_cmd: false,
            empty: true,
            continuation: false,
            redirect: false,
            func: FnState::None,
            word: None,
        }
    }

    /// A closer may end this list: nothing is left dangling.
    fn can_close(&self, need_cmd: bool) -> bool {
        !self.continuation
            && !self.redirect
            && self.func == FnState::None
            && (self.has_cmd || !need_cmd)
    }

    /// A new command starts: reserved words count again.
    fn new_command(&mut self) {
        self.cmd_pos = true;
        self.cmd_words = 0;
        self.arrays = Arrays::Prefix;
        self.after_compound = false;
    }

    /// A command (a word, a compound command, a redirection) starts or goes on.
    fn command_seen(&mut self) {
        self.has_cmd = true;
        self.empty = false;
        self.continuation = false;
    }
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    kind: Kind,
    lex: Lex,
}

struct Heredoc {
    delimiter: Vec<u8>,
    /// `<<-`: leading tabs are stripped from body lines and the delimiter line.
    strip_tabs: bool,
}

enum Stop {
    Invalid,
    /// `literal`: inside a quote or heredoc body, where no indent must be inserted.
    Incomplete {
        literal: bool,
    },
}

type Step = Result<(), Stop>;

const INCOMPLETE: Stop = Stop::Incomplete { literal: false };
const INCOMPLETE_LITERAL: Stop = Stop::Incomplete { literal: true };

/// Bash metacharacters: they end a word (bash manual, "Definitions").
fn is_meta(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\n' | b'|' | b'&' | b';' | b'(' | b')' | b'<' | b'>'
    )
}

/// Reserved words that open a compound command: what a function body may start with.
fn opens_compound(word: &[u8]) -> bool {
    matches!(
        word,
        b"{" | b"if" | b"while" | b"until" | b"for" | b"select" | b"case" | b"[["
    )
}

struct Scanner<'a> {
    s: &'a [u8],
    i: usize,
    stack: Vec<Frame>,
    heredocs: Vec<Heredoc>,
    /// Backquote frames on the stack.
    backquotes: usize,
}

impl<'a> Scanner<'a> {
    fn new(s: &'a [u8]) -> Self {
        Scanner {
            s,
            i: 0,
            stack: vec![Frame {
                kind: Kind::Root,
                lex: Lex::fresh(),
            }],
            heredocs: Vec::new(),
            backquotes: 0,
        }
    }

    fn run(mut self) -> Completeness {
        match self.scan() {
            Ok(()) => Completeness::Complete,
            Err(Stop::Invalid) => Completeness::Invalid,
            Err(Stop::Incomplete { literal }) => {
                let levels: usize = if literal {
                    0
                } else {
                    self.stack.iter().map(|f| f.kind.indent_levels()).sum()
                };
                Completeness::Incomplete {
                    indent: " ".repeat(levels * INDENT_UNIT),
                }
            }
        }
    }

    fn top(&self) -> &Frame {
        // The root frame is never popped (see `pop`).
        &self.stack[self.stack.len() - 1]
    }

    fn top_mut(&mut self) -> &mut Frame {
        let n = self.stack.len() - 1;
        &mut self.stack[n]
    }

    fn lex(&mut self) -> &mut Lex {
        &mut self.top_mut().lex
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.s.get(self.i + ahead).copied()
    }

    fn scan(&mut self) -> Step {
        // Every step consumes input or changes state towards consuming it; `stalled` guards
        // that promise rather than trusting it with a hang.
        let mut last = (usize::MAX, 0);
        let mut stalled = 0u32;
        while self.i < self.s.len() {
            let now = (self.i, self.stack.len());
            if now == last {
                stalled += 1;
                debug_assert!(stalled < 64, "scanner stalled at byte {}", self.i);
                if stalled >= 64 {
                    return Err(Stop::Invalid);
                }
            } else {
                stalled = 0;
                last = now;
            }
            // The first unescaped backquote ends a backquoted command, whatever is open inside
            // it (POSIX, "Command Substitution").
            if self.backquotes > 0 && self.s[self.i] == b'`' && self.top().kind != Kind::Backquote {
                self.inner_backquote()?;
                continue;
            }
            match self.top().kind {
                Kind::Single => self.single(),
                Kind::Double => self.double()?,
                Kind::AnsiC => self.ansi_c()?,
                Kind::Param { .. } => self.param()?,
                Kind::Arith { .. } => self.arith()?,
                Kind::DoubleBracket { .. } => self.double_bracket()?,
                Kind::Extglob { .. } => self.extglob()?,
                Kind::ArrayLit { .. } => self.array()?,
                Kind::Case(CasePhase::Pattern { .. }) => self.pattern()?,
                _ => self.list()?,
            }
        }
        self.finish()
    }

    fn finish(&mut self) -> Step {
        let top = *self.top();
        if top.kind.is_listish() && top.lex.word.is_some() {
            self.end_word(self.s.len())?;
        }
        let top = *self.top();
        if top.kind.is_listish() && top.lex.redirect {
            return Err(Stop::Invalid);
        }
        if !self.heredocs.is_empty() {
            return Err(INCOMPLETE_LITERAL);
        }
        let top = *self.top();
        // The end of the text acts as a newline, which these do not accept (bash reports
        // `for`, `case`, `function` and `cat >` alone as syntax errors).
        if matches!(
            top.kind,
            Kind::Loop(LoopPhase::ForName) | Kind::Case(CasePhase::Subject)
        ) || (top.kind.is_listish() && top.lex.func == FnState::Name)
        {
            return Err(Stop::Invalid);
        }
        if matches!(top.kind, Kind::Single | Kind::Double | Kind::AnsiC) {
            return Err(INCOMPLETE_LITERAL);
        }
        if self.stack.len() > 1 {
            return Err(INCOMPLETE);
        }
        if top.lex.continuation || top.lex.func != FnState::None {
            return Err(INCOMPLETE);
        }
        Ok(())
    }

    fn push(&mut self, kind: Kind) {
        if kind == Kind::Backquote {
            self.backquotes += 1;
        }
        self.stack.push(Frame {
            kind,
            lex: Lex::fresh(),
        });
    }

    /// Opens a compound command from the current list.
    fn open(&mut self, kind: Kind) {
        let lex = self.lex();
        lex.command_seen();
        lex.func = FnState::None;
        lex.cmd_pos = false;
        self.push(kind);
    }

    fn pop(&mut self) {
        if self.stack.len() <= 1 {
            return;
        }
        let Some(closed) = self.stack.pop() else {
            return;
        };
        if closed.kind == Kind::Backquote {
            self.backquotes -= 1;
        }
        if !closed.kind.is_compound() {
            // A word part: the enclosing word goes on.
            return;
        }
        let parent = self.top_mut();
        if parent.kind == Kind::Loop(LoopPhase::ForName) {
            // `for (( ... ))`
            parent.kind = Kind::Loop(LoopPhase::ForAfterName);
            return;
        }
        let lex = &mut parent.lex;
        lex.command_seen();
        // Reserved words are recognised right after a compound command: `if a; then (b) fi`.
        lex.new_command();
        lex.after_compound = true;
    }

    /// The current frame must be `expected`; it moves on to `next` (with a fresh list) or,
    /// with `None`, closes.
    fn advance(&mut self, expected: bool, need_cmd: bool, next: Option<Kind>) -> Step {
        if !expected || !self.top().lex.can_close(need_cmd) {
            return Err(Stop::Invalid);
        }
        match next {
            Some(kind) => {
                let top = self.top_mut();
                top.kind = kind;
                top.lex = Lex::fresh();
            }
            None => self.pop(),
        }
        Ok(())
    }

    // ---- quotes and expansions ----

    fn single(&mut self) {
        let in_backquote = self.backquotes > 0;
        let end = self.s[self.i..]
            .iter()
            .position(|&b| b == b'\'' || (in_backquote && b == b'`'));
        match end {
            Some(n) if self.s[self.i + n] == b'\'' => {
                self.i += n + 1;
                self.pop();
            }
            // A backquote: the scan loop ends the backquoted command there.
            Some(n) => self.i += n,
            None => self.i = self.s.len(),
        }
    }

    /// A backquote while a frame inside a backquoted command is open: a word there ends, and
    /// whatever is still open is unterminated.
    fn inner_backquote(&mut self) -> Step {
        let top = *self.top();
        if top.kind.is_listish() && top.lex.word.is_some() {
            // `fi` in `x=`if a; then b; fi`` closes the `if`; look again after it.
            return self.end_word(self.i);
        }
        Err(Stop::Invalid)
    }

    fn double(&mut self) -> Step {
        match self.s[self.i] {
            b'"' => {
                self.i += 1;
                self.pop();
            }
            b'\\' => self.escape(true)?,
            b'$' => self.dollar(true),
            b'`' => {
                self.i += 1;
                self.push(Kind::Backquote);
            }
            _ => self.i += 1,
        }
        Ok(())
    }

    fn ansi_c(&mut self) -> Step {
        match self.s[self.i] {
            b'\'' => {
                self.i += 1;
                self.pop();
            }
            b'\\' => self.escape(true)?,
            _ => self.i += 1,
        }
        Ok(())
    }

    /// A backslash and the byte it quotes. At the end of the text the line goes on.
    fn escape(&mut self, literal: bool) -> Step {
        let stop = if literal {
            INCOMPLETE_LITERAL
        } else {
            INCOMPLETE
        };
        match self.peek(1) {
            None => Err(stop),
            // A line continuation with nothing after it.
            Some(b'\n') if self.i + 2 >= self.s.len() => Err(stop),
            Some(_) => {
                self.i += 2;
                Ok(())
            }
        }
    }

    /// `$` at `self.i`: `$((`, `$(`, `${`, and outside double quotes `$'` and `$"`.
    fn dollar(&mut self, in_dq: bool) {
        match (self.peek(1), self.peek(2)) {
            (Some(b'('), Some(b'(')) => {
                self.i += 3;
                self.push(Kind::Arith {
                    dollar: true,
                    depth: 0,
                });
            }
            (Some(b'('), _) => {
                self.i += 2;
                self.push(Kind::CmdSubst);
            }
            (Some(b'{'), _) => {
                self.i += 2;
                self.push(Kind::Param {
                    depth: 0,
                    dq: in_dq,
                });
            }
            (Some(b'\''), _) if !in_dq => {
                self.i += 2;
                self.push(Kind::AnsiC);
            }
            (Some(b'"'), _) if !in_dq => {
                self.i += 2;
                self.push(Kind::Double);
            }
            _ => self.i += 1,
        }
    }

    /// A quote or expansion, or else one plain byte of a word.
    fn word_part_or_skip(&mut self) -> Step {
        if !self.word_part(true)? {
            self.i += 1;
        }
        Ok(())
    }

    /// Quotes and expansions shared by the word-like frames. Returns false for other bytes.
    fn word_part(&mut self, single_quotes: bool) -> Result<bool, Stop> {
        match self.s[self.i] {
            b'\\' => self.escape(false)?,
            b'\'' if single_quotes => {
                self.i += 1;
                self.push(Kind::Single);
            }
            b'"' => {
                self.i += 1;
                self.push(Kind::Double);
            }
            b'`' => {
                self.i += 1;
                self.push(Kind::Backquote);
            }
            b'$' => self.dollar(false),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn param(&mut self) -> Step {
        let Kind::Param { depth, dq } = self.top().kind else {
            return Ok(());
        };
        match self.s[self.i] {
            b'}' => {
                self.i += 1;
                if depth == 0 {
                    self.pop();
                } else {
                    self.top_mut().kind = Kind::Param {
                        depth: depth - 1,
                        dq,
                    };
                }
            }
            // bash matches nested braces: `${x:-{a}}b` is `{a}` then `b`.
            b'{' => {
                self.i += 1;
                self.top_mut().kind = Kind::Param {
                    depth: depth + 1,
                    dq,
                };
            }
            b'$' => self.dollar(dq),
            // Quotes pair up inside `${...}` even within double quotes (bash 5 reads
            // `"${x:-'}"` as an open quote), though they stay literal there when expanded.
            _ => {
                self.word_part_or_skip()?;
            }
        }
        Ok(())
    }

    fn arith(&mut self) -> Step {
        let Kind::Arith { dollar, depth } = self.top().kind else {
            return Ok(());
        };
        match self.s[self.i] {
            b'(' => {
                self.i += 1;
                self.top_mut().kind = Kind::Arith {
                    dollar,
                    depth: depth + 1,
                };
            }
            b')' if depth > 0 => {
                self.i += 1;
                self.top_mut().kind = Kind::Arith {
                    dollar,
                    depth: depth - 1,
                };
            }
            b')' if self.peek(1) == Some(b')') => {
                self.i += 2;
                self.pop();
            }
            b')' => {
                // `$((cd x; ls) | wc)`: bash finds this is not arithmetic and reads it again
                // as `$(` holding a subshell; the subshell just closed.
                self.i += 1;
                let parent = self.stack.len().checked_sub(2).map(|n| self.stack[n].kind);
                if parent == Some(Kind::Loop(LoopPhase::ForName)) {
                    return Err(Stop::Invalid);
                }
                let top = self.top_mut();
                top.kind = if dollar {
                    Kind::CmdSubst
                } else {
                    Kind::Subshell
                };
                top.lex = Lex::fresh();
                top.lex.command_seen();
            }
            _ => {
                self.word_part_or_skip()?;
            }
        }
        Ok(())
    }

    fn double_bracket(&mut self) -> Step {
        let Kind::DoubleBracket { word_start } = self.top().kind else {
            return Ok(());
        };
        let b = self.s[self.i];
        if matches!(b, b' ' | b'\t' | b'\n') {
            self.i += 1;
            self.top_mut().kind = Kind::DoubleBracket { word_start: true };
            return Ok(());
        }
        if b == b']' && word_start && self.peek(1) == Some(b']') && self.peek(2).is_none_or(is_meta)
        {
            self.i += 2;
            self.pop();
            return Ok(());
        }
        self.top_mut().kind = Kind::DoubleBracket { word_start: false };
        self.word_part_or_skip()?;
        Ok(())
    }

    fn extglob(&mut self) -> Step {
        let Kind::Extglob { depth } = self.top().kind else {
            return Ok(());
        };
        match self.s[self.i] {
            b'(' => {
                self.i += 1;
                self.top_mut().kind = Kind::Extglob { depth: depth + 1 };
            }
            b')' => {
                self.i += 1;
                if depth == 0 {
                    self.pop();
                } else {
                    self.top_mut().kind = Kind::Extglob { depth: depth - 1 };
                }
            }
            _ => {
                self.word_part_or_skip()?;
            }
        }
        Ok(())
    }

    fn array(&mut self) -> Step {
        let Kind::ArrayLit { word_start } = self.top().kind else {
            return Ok(());
        };
        let b = self.s[self.i];
        let set_start = |this: &mut Self, v: bool| {
            this.top_mut().kind = Kind::ArrayLit { word_start: v };
        };
        match b {
            b' ' | b'\t' => {
                self.i += 1;
                set_start(self, true);
            }
            b'\n' => {
                self.i += 1;
                set_start(self, true);
                self.read_heredocs()?;
            }
            b'#' if word_start => self.skip_comment(),
            b')' => {
                self.i += 1;
                self.pop();
            }
            b';' | b'&' | b'|' | b'(' | b'<' | b'>' => return Err(Stop::Invalid),
            _ => {
                set_start(self, false);
                self.word_part_or_skip()?;
            }
        }
        Ok(())
    }

    fn skip_comment(&mut self) {
        self.i = match self.s[self.i..].iter().position(|&b| b == b'\n') {
            Some(n) => self.i + n,
            None => self.s.len(),
        };
    }

    // ---- words ----

    /// A byte of a word in a list or pattern frame that is not a metacharacter.
    fn word_byte(&mut self) -> Step {
        self.word_part_or_skip()?;
        Ok(())
    }

    /// In a word, `(` after `=` opens an array (in an assignment: before the command name or
    /// as an argument of `declare` and its kin), after an extglob operator a pattern group.
    /// Returns false when the `(` ends the word instead.
    fn paren_in_word(&mut self) -> bool {
        let prev = self.i.checked_sub(1).map(|p| self.s[p]);
        let top = self.top();
        let assignment = top.kind.is_listish()
            && !self.in_head()
            && !top.lex.redirect
            && top.lex.arrays != Arrays::No;
        let kind = match prev {
            Some(b'=') if assignment => Kind::ArrayLit { word_start: true },
            Some(b'?' | b'*' | b'+' | b'@' | b'!') => Kind::Extglob { depth: 0 },
            _ => return false,
        };
        self.i += 1;
        self.push(kind);
        true
    }

    /// The word of the top frame ends at `end`: reserved words and compound heads act here.
    fn end_word(&mut self, end: usize) -> Step {
        let Some(start) = self.lex().word.take() else {
            return Ok(());
        };
        let word = &self.s[start..end];
        let kind = self.top().kind;
        match kind {
            // bash checks the name when the loop runs, not when it parses.
            Kind::Loop(LoopPhase::ForName) => {
                self.top_mut().kind = Kind::Loop(LoopPhase::ForAfterName);
            }
            Kind::Loop(LoopPhase::ForAfterName) => match word {
                b"in" => self.top_mut().kind = Kind::Loop(LoopPhase::ForList),
                b"do" => self.advance(true, false, Some(Kind::Loop(LoopPhase::Body)))?,
                _ => return Err(Stop::Invalid),
            },
            Kind::Loop(LoopPhase::ForList) => {}
            Kind::Loop(LoopPhase::ForWaitDo) => {
                if word != b"do" {
                    return Err(Stop::Invalid);
                }
                self.advance(true, false, Some(Kind::Loop(LoopPhase::Body)))?;
            }
            Kind::Case(CasePhase::Subject) => self.top_mut().kind = Kind::Case(CasePhase::In),
            Kind::Case(CasePhase::In) => {
                if word != b"in" {
                    return Err(Stop::Invalid);
                }
                self.top_mut().kind = Kind::Case(CasePhase::Pattern { started: false });
            }
            Kind::Case(CasePhase::Pattern { started }) => {
                if word == b"esac" && !started {
                    self.pop();
                } else {
                    self.top_mut().kind = Kind::Case(CasePhase::Pattern { started: true });
                }
            }
            _ => self.command_word(start, end)?,
        }
        Ok(())
    }

    /// A word in a command list.
    fn command_word(&mut self, start: usize, end: usize) -> Step {
        let word = &self.s[start..end];
        let lex = self.lex();
        match lex.func {
            FnState::Name => {
                lex.func = FnState::AfterName;
                lex.cmd_pos = true;
                return Ok(());
            }
            FnState::AfterName | FnState::NeedBody => {
                // `f() echo` is a syntax error: a body is a compound command.
                if !opens_compound(word) {
                    return Err(Stop::Invalid);
                }
                lex.func = FnState::None;
            }
            FnState::None => {}
        }
        if lex.redirect {
            lex.redirect = false;
            return Ok(());
        }
        if lex.arrays == Arrays::Prefix && !is_assignment(word) {
            lex.arrays = if matches!(
                word,
                b"declare" | b"typeset" | b"local" | b"export" | b"readonly"
            ) {
                Arrays::Declaration
            } else {
                Arrays::No
            };
        }
        if !lex.cmd_pos {
            lex.cmd_words += 1;
            return Ok(());
        }
        if lex.after_compound
            && !matches!(
                word,
                b"then" | b"elif" | b"else" | b"fi" | b"do" | b"done" | b"esac" | b"}"
            )
        {
            return Err(Stop::Invalid);
        }
        let kind = self.top().kind;
        match word {
            b"if" => self.open(Kind::If(IfPhase::Cond)),
            b"while" | b"until" => self.open(Kind::Loop(LoopPhase::Cond)),
            b"for" | b"select" => self.open(Kind::Loop(LoopPhase::ForName)),
            b"case" => self.open(Kind::Case(CasePhase::Subject)),
            b"{" => self.open(Kind::Brace),
            b"[[" => self.open(Kind::DoubleBracket { word_start: true }),
            b"then" => self.advance(
                kind == Kind::If(IfPhase::Cond),
                true,
                Some(Kind::If(IfPhase::Then)),
            )?,
            b"elif" => self.advance(
                kind == Kind::If(IfPhase::Then),
                true,
                Some(Kind::If(IfPhase::Cond)),
            )?,
            b"else" => self.advance(
                kind == Kind::If(IfPhase::Then),
                true,
                Some(Kind::If(IfPhase::Else)),
            )?,
            b"fi" => self.advance(
                matches!(kind, Kind::If(IfPhase::Then | IfPhase::Else)),
                true,
                None,
            )?,
            b"do" => self.advance(
                kind == Kind::Loop(LoopPhase::Cond),
                true,
                Some(Kind::Loop(LoopPhase::Body)),
            )?,
            b"done" => self.advance(kind == Kind::Loop(LoopPhase::Body), true, None)?,
            b"esac" => self.advance(kind == Kind::Case(CasePhase::Body), false, None)?,
            b"}" => self.advance(kind == Kind::Brace, true, None)?,
            // Reserved words that only follow other words: at the start of a command they
            // are a syntax error.
            b"in" | b"]]" => return Err(Stop::Invalid),
            b"function" => {
                let lex = self.lex();
                lex.command_seen();
                lex.func = FnState::Name;
                lex.cmd_pos = false;
            }
            // Pipeline prefixes: a command still follows.
            b"!" | b"time" => self.lex().command_seen(),
            _ => {
                let lex = self.lex();
                lex.command_seen();
                lex.cmd_pos = false;
                lex.cmd_words = 1;
            }
        }
        Ok(())
    }

    /// At `<` or `>` ending a word: a word of digits (`2>`) or `{name}` is the redirection's
    /// file descriptor, not a word of the command. Drops it and returns true if so.
    fn io_number(&mut self) -> bool {
        let Some(start) = self.top().lex.word else {
            return false;
        };
        let word = &self.s[start..self.i];
        let fd = word.iter().all(u8::is_ascii_digit)
            || matches!(word, [b'{', name @ .., b'}'] if !name.is_empty()
                && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_'));
        if fd && !self.in_head() {
            self.lex().word = None;
        }
        fd && !self.in_head()
    }

    /// Is the top frame in the head of a `for`/`select`/`case`, where words are not commands?
    fn in_head(&self) -> bool {
        matches!(
            self.top().kind,
            Kind::Loop(
                LoopPhase::ForName
                    | LoopPhase::ForAfterName
                    | LoopPhase::ForList
                    | LoopPhase::ForWaitDo
            ) | Kind::Case(CasePhase::Subject | CasePhase::In)
        )
    }

    // ---- command lists ----

    fn list(&mut self) -> Step {
        let b = self.s[self.i];
        if b == b'`' && self.top().kind == Kind::Backquote {
            if self.top().lex.word.is_some() {
                return self.end_word(self.i);
            }
            if !self.top().lex.can_close(false) {
                return Err(Stop::Invalid);
            }
            self.i += 1;
            self.pop();
            return Ok(());
        }
        if self.top().lex.word.is_some() {
            if !is_meta(b) {
                return self.word_byte();
            }
            if b == b'(' && self.paren_in_word() {
                return Ok(());
            }
            if matches!(b, b'<' | b'>') && self.io_number() {
                return Ok(());
            }
            return self.end_word(self.i);
        }
        match b {
            b' ' | b'\t' => self.i += 1,
            b'\n' => self.newline()?,
            b'#' => self.skip_comment(),
            b'\\' if self.peek(1) == Some(b'\n') => {
                // A line continuation between words.
                if self.i + 2 >= self.s.len() {
                    return Err(INCOMPLETE);
                }
                self.i += 2;
            }
            b';' => self.semicolon()?,
            b'&' => match self.peek(1) {
                Some(b'&') => self.and_or(2)?,
                Some(b'>') => {
                    let len = if self.peek(2) == Some(b'>') { 3 } else { 2 };
                    self.redirection(len)?;
                }
                _ => {
                    self.terminator()?;
                    self.i += 1;
                }
            },
            b'|' => match self.peek(1) {
                Some(b'|' | b'&') => self.and_or(2)?,
                _ => self.and_or(1)?,
            },
            b'(' => self.open_paren()?,
            b')' => self.close_paren()?,
            b'<' | b'>' => self.angle()?,
            _ => self.lex().word = Some(self.i),
        }
        Ok(())
    }

    fn newline(&mut self) -> Step {
        let lex = self.top().lex;
        if lex.redirect || lex.func == FnState::Name {
            return Err(Stop::Invalid);
        }
        self.i += 1;
        self.read_heredocs()?;
        match self.top().kind {
            Kind::Loop(LoopPhase::ForAfterName | LoopPhase::ForList) => {
                self.top_mut().kind = Kind::Loop(LoopPhase::ForWaitDo);
            }
            Kind::Loop(LoopPhase::ForName) | Kind::Case(CasePhase::Subject) => {
                return Err(Stop::Invalid);
            }
            Kind::Loop(LoopPhase::ForWaitDo) | Kind::Case(CasePhase::In) => {}
            _ => {
                let lex = self.lex();
                // After `|`, `&&`, `||` and `f()` the command goes on on the next line.
                if !lex.continuation && lex.func == FnState::None {
                    lex.new_command();
                    lex.empty = true;
                }
            }
        }
        Ok(())
    }

    /// `;` or `&` ending a command.
    fn terminator(&mut self) -> Step {
        match self.top().kind {
            Kind::Loop(LoopPhase::ForAfterName | LoopPhase::ForList) => {
                self.top_mut().kind = Kind::Loop(LoopPhase::ForWaitDo);
                Ok(())
            }
            _ if self.in_head() => Err(Stop::Invalid),
            _ => {
                let lex = self.lex();
                if lex.empty || lex.continuation || lex.redirect || lex.func != FnState::None {
                    return Err(Stop::Invalid);
                }
                lex.new_command();
                lex.empty = true;
                Ok(())
            }
        }
    }

    fn semicolon(&mut self) -> Step {
        let len = match (self.peek(1), self.peek(2)) {
            (Some(b';'), Some(b'&')) => 3,
            (Some(b';'), _) | (Some(b'&'), _) => 2,
            _ => {
                self.terminator()?;
                self.i += 1;
                return Ok(());
            }
        };
        // `;;`, `;&`, `;;&` end a case item and nothing else.
        if self.top().kind != Kind::Case(CasePhase::Body) {
            return Err(Stop::Invalid);
        }
        let lex = self.top().lex;
        if lex.continuation || lex.redirect || lex.func != FnState::None {
            return Err(Stop::Invalid);
        }
        self.i += len;
        let top = self.top_mut();
        top.kind = Kind::Case(CasePhase::Pattern { started: false });
        top.lex = Lex::fresh();
        Ok(())
    }

    /// `|`, `|&`, `&&`, `||` of `len` bytes.
    fn and_or(&mut self, len: usize) -> Step {
        if self.in_head() {
            return Err(Stop::Invalid);
        }
        let lex = self.lex();
        if lex.empty || lex.continuation || lex.redirect || lex.func != FnState::None {
            return Err(Stop::Invalid);
        }
        lex.continuation = true;
        lex.new_command();
        lex.empty = true;
        self.i += len;
        Ok(())
    }

    fn open_paren(&mut self) -> Step {
        let two = self.peek(1) == Some(b'(');
        if self.top().kind == Kind::Loop(LoopPhase::ForName) && two {
            self.i += 2;
            self.push(Kind::Arith {
                dollar: false,
                depth: 0,
            });
            return Ok(());
        }
        if self.in_head() {
            return Err(Stop::Invalid);
        }
        let lex = self.top().lex;
        match lex.func {
            FnState::Name => return Err(Stop::Invalid),
            FnState::AfterName => {
                if let Some(after) = self.empty_parens() {
                    self.i = after;
                    self.lex().func = FnState::NeedBody;
                    return Ok(());
                }
            }
            FnState::NeedBody | FnState::None => {}
        }
        if lex.redirect || lex.after_compound {
            return Err(Stop::Invalid);
        }
        if lex.cmd_pos {
            if two {
                self.i += 2;
                self.open(Kind::Arith {
                    dollar: false,
                    depth: 0,
                });
            } else {
                self.i += 1;
                self.open(Kind::Subshell);
            }
            return Ok(());
        }
        // `name ()`: a function definition.
        if lex.cmd_words == 1
            && let Some(after) = self.empty_parens()
        {
            self.i = after;
            let lex = self.lex();
            lex.func = FnState::NeedBody;
            lex.new_command();
            return Ok(());
        }
        Err(Stop::Invalid)
    }

    /// At `(`: the offset after `( )` (blanks allowed inside), if that is what follows.
    fn empty_parens(&self) -> Option<usize> {
        let mut j = self.i + 1;
        while matches!(self.s.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        (self.s.get(j) == Some(&b')')).then_some(j + 1)
    }

    fn close_paren(&mut self) -> Step {
        let top = *self.top();
        let ok = match top.kind {
            Kind::Subshell => top.lex.can_close(true),
            Kind::CmdSubst | Kind::ProcSubst => top.lex.can_close(false),
            _ => false,
        };
        if !ok {
            return Err(Stop::Invalid);
        }
        self.i += 1;
        self.pop();
        Ok(())
    }

    /// `<` or `>`: a process substitution or a redirection.
    fn angle(&mut self) -> Step {
        if self.peek(1) == Some(b'(') {
            self.lex().word = Some(self.i);
            self.i += 2;
            self.push(Kind::ProcSubst);
            return Ok(());
        }
        let b = self.s[self.i];
        let (len, heredoc) = match (b, self.peek(1), self.peek(2)) {
            (b'<', Some(b'<'), Some(b'<')) => (3, None),
            (b'<', Some(b'<'), Some(b'-')) => (3, Some(true)),
            (b'<', Some(b'<'), _) => (2, Some(false)),
            (b'<', Some(b'&' | b'>'), _) => (2, None),
            (b'>', Some(b'>' | b'&' | b'|'), _) => (2, None),
            _ => (1, None),
        };
        self.redirection(len)?;
        if let Some(strip_tabs) = heredoc {
            self.lex().redirect = false;
            self.heredoc_delimiter(strip_tabs)?;
        }
        Ok(())
    }

    /// A redirection operator of `len` bytes; its target word follows.
    fn redirection(&mut self, len: usize) -> Step {
        if self.in_head() {
            return Err(Stop::Invalid);
        }
        let lex = self.lex();
        if lex.redirect || lex.func != FnState::None {
            return Err(Stop::Invalid);
        }
        lex.command_seen();
        lex.redirect = true;
        // bash does not recognise reserved words after a redirection: `>f if` is a command.
        lex.cmd_pos = false;
        self.i += len;
        Ok(())
    }

    /// The word after `<<`/`<<-`, with quotes removed (bash manual, "Here Documents").
    fn heredoc_delimiter(&mut self, strip_tabs: bool) -> Step {
        let s = self.s;
        let mut i = self.i;
        while matches!(s.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        let mut delimiter = Vec::new();
        let mut quoted = false;
        while let Some(&b) = s.get(i) {
            match b {
                b'\'' => {
                    quoted = true;
                    let Some(n) = s[i + 1..].iter().position(|&c| c == b'\'') else {
                        return Err(INCOMPLETE_LITERAL);
                    };
                    delimiter.extend_from_slice(&s[i + 1..i + 1 + n]);
                    i += n + 2;
                }
                b'"' => {
                    quoted = true;
                    i += 1;
                    loop {
                        match (s.get(i), s.get(i + 1)) {
                            (None, _) => return Err(INCOMPLETE_LITERAL),
                            (Some(b'"'), _) => {
                                i += 1;
                                break;
                            }
                            (Some(b'\\'), Some(&c @ (b'"' | b'\\' | b'$' | b'`' | b'\n'))) => {
                                delimiter.push(c);
                                i += 2;
                            }
                            (Some(&c), _) => {
                                delimiter.push(c);
                                i += 1;
                            }
                        }
                    }
                }
                b'\\' => {
                    quoted = true;
                    let Some(&c) = s.get(i + 1) else {
                        return Err(INCOMPLETE);
                    };
                    delimiter.push(c);
                    i += 2;
                }
                _ if is_meta(b) => break,
                _ => {
                    delimiter.push(b);
                    i += 1;
                }
            }
        }
        if delimiter.is_empty() && !quoted {
            // `cat <<` followed by a newline or an operator.
            return Err(Stop::Invalid);
        }
        self.i = i;
        self.heredocs.push(Heredoc {
            delimiter,
            strip_tabs,
        });
        Ok(())
    }

    /// After a newline: the bodies of the heredocs started on the line just ended, in order.
    fn read_heredocs(&mut self) -> Step {
        if self.heredocs.is_empty() {
            return Ok(());
        }
        let s = self.s;
        let mut i = self.i;
        for heredoc in std::mem::take(&mut self.heredocs) {
            loop {
                if i >= s.len() {
                    return Err(INCOMPLETE_LITERAL);
                }
                let end = s[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(s.len(), |n| i + n);
                let mut line = &s[i..end];
                if heredoc.strip_tabs {
                    while let [b'\t', rest @ ..] = line {
                        line = rest;
                    }
                }
                i = (end + 1).min(s.len());
                if line == heredoc.delimiter.as_slice() {
                    break;
                }
                if end == s.len() {
                    return Err(INCOMPLETE_LITERAL);
                }
            }
        }
        self.i = i;
        Ok(())
    }

    // ---- case patterns ----

    fn pattern(&mut self) -> Step {
        let Kind::Case(CasePhase::Pattern { started }) = self.top().kind else {
            return Ok(());
        };
        let b = self.s[self.i];
        if self.top().lex.word.is_some() {
            if !is_meta(b) {
                return self.word_byte();
            }
            if b == b'(' && self.paren_in_word() {
                return Ok(());
            }
            return self.end_word(self.i);
        }
        match b {
            b' ' | b'\t' => self.i += 1,
            b'\n' => {
                self.i += 1;
                self.read_heredocs()?;
            }
            b'#' => self.skip_comment(),
            b'\\' if self.peek(1) == Some(b'\n') => {
                if self.i + 2 >= self.s.len() {
                    return Err(INCOMPLETE);
                }
                self.i += 2;
            }
            // The optional `(` before a pattern list: `(a|b) ...`.
            b'(' if !started => {
                self.i += 1;
                self.top_mut().kind = Kind::Case(CasePhase::Pattern { started: true });
            }
            b'|' if started => self.i += 1,
            b')' if started => {
                self.i += 1;
                let top = self.top_mut();
                top.kind = Kind::Case(CasePhase::Body);
                top.lex = Lex::fresh();
            }
            _ if is_meta(b) => return Err(Stop::Invalid),
            _ => self.lex().word = Some(self.i),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn inc(levels: usize) -> Completeness {
        Completeness::Incomplete {
            indent: " ".repeat(levels * INDENT_UNIT),
        }
    }

    const C: Completeness = Completeness::Complete;
    const X: Completeness = Completeness::Invalid;

    /// One row per case: the text and what `is_complete` must say.
    fn table() -> Vec<(&'static str, Completeness)> {
        vec![
            // Plain text.
            ("", C),
            ("   \n\n", C),
            ("echo hello", C),
            ("echo hello\n", C),
            ("ls -l | grep x && echo ok || echo no; true &", C),
            // Quotes.
            ("echo 'abc", inc(0)),
            ("echo 'abc\ndef'", C),
            ("echo \"abc", inc(0)),
            ("echo \"a \\\" b\"", C),
            ("echo \"a \\\"", inc(0)),
            ("echo 'it'\\''s'", C),
            ("echo 'it'\\''s", inc(0)),
            ("echo $'a\\'b'", C),
            ("echo $'a\\'b", inc(0)),
            ("echo \"it's\"", C),
            ("echo 'say \"hi'", C),
            ("echo \\'", C),
            ("echo \\\"", C),
            ("echo `date", inc(1)),
            ("echo `date`", C),
            ("echo \"`date`\"", C),
            // Continuations.
            ("echo a \\", inc(0)),
            ("echo a \\\n", inc(0)),
            ("echo a \\\n  b", C),
            ("echo a\\", inc(0)),
            ("echo a\\\\", C),
            ("ls |", inc(0)),
            ("ls |\n", inc(0)),
            ("ls |\n  wc -l", C),
            ("true &&", inc(0)),
            ("false ||", inc(0)),
            ("true && # why\n  echo ok", C),
            ("ls |& cat", C),
            // Expansions.
            ("echo $(date", inc(1)),
            ("echo $(date)", C),
            ("echo $(echo ')')", C),
            ("echo $(echo \"(\")", C),
            ("echo \"$(echo \"a b\")\"", C),
            ("echo ${x", inc(0)),
            ("echo ${x:-}", C),
            ("echo ${x:-{a}}b", C),
            ("echo \"${x:-'}\"", inc(0)),
            ("echo \"${x:-'a'}\"", C),
            ("echo ${x:-'}'}", C),
            ("echo $((1 + (2 * 3)))", C),
            ("echo $((1 +", inc(0)),
            ("echo $((cd /; ls) | wc -l)", C),
            ("((i++))", C),
            ("((i++", inc(0)),
            ("diff <(ls a) <(ls b)", C),
            ("diff <(ls a", inc(1)),
            ("[[ -f x && $y == a ]]", C),
            ("[[ -f x", inc(0)),
            ("[[ $x =~ ^(a|b)$ ]] && echo y", C),
            ("echo [[", C),
            ("a=(1 2 3)", C),
            ("a=(1\n2 # two)\n3)", C),
            ("a=(1", inc(1)),
            ("a+=(x) ; echo ${a[@]}", C),
            ("x=1 a=(1 2) env", C),
            ("local -a a=(1 2)", C),
            ("echo a=(1)", X),
            ("x=1 echo a=(1)", X),
            ("(echo a) b", X),
            ("(echo a) (echo b)", X),
            ("{ echo; } if", X),
            ("(echo a) > f; echo b", C),
            ("{ echo; } 2>&1 | cat", C),
            ("echo 2>&1 >/dev/null {fd}>&- fi", C),
            (">> 2>&1", X),
            ("{ cat >", X),
            ("cat >\n", X),
            ("cat <<EOF >\nbody\nEOF", X),
            ("shopt -s extglob; ls !(*.txt|*.md)", C),
            // Heredocs.
            ("cat <<EOF", inc(0)),
            ("cat <<EOF\nhello", inc(0)),
            ("cat <<EOF\nhello\nEOF", C),
            ("cat <<EOF\nhello\nEOF\n", C),
            ("cat <<-EOF\n\thello\n\tEOF", C),
            ("cat <<EOF\n\tEOF", inc(0)),
            ("cat <<'EOF'\n$(not run\nEOF", C),
            ("cat <<\"EOF\"\nx\nEOF", C),
            ("cat <<E\"O\"F\nx\nEOF", C),
            ("cat << EOF\nfi\ndone\n' \"\n)\nEOF", C),
            ("cat <<A; cat <<B\na\nA\nb", inc(0)),
            ("cat <<A; cat <<B\na\nA\nb\nB\necho done", C),
            ("cat <<EOF | grep x\nx\nEOF", C),
            ("cat <<EOF |\nx\nEOF", inc(0)),
            ("cat <<EOF |\nx\nEOF\ngrep x", C),
            ("x=$(cat <<EOF\nhi )\nEOF\n)", C),
            ("cat <<<hello", C),
            ("cat <<< \"a b\"", C),
            ("cat <<'EOF", inc(0)),
            ("cat <<", X),
            // if.
            ("if true; then", inc(1)),
            ("if true; then echo; fi", C),
            ("if true\nthen\n  echo\nfi", C),
            ("if true; then echo; else", inc(1)),
            ("if a; then b; elif c; then d; else e; fi", C),
            ("if true; then\n  if false; then", inc(2)),
            ("if true; then (echo a) fi", C),
            ("if true; then { echo a; } fi", C),
            ("if [ \"$x\" = fi ]; then echo fi; fi", C),
            // Loops.
            ("for i in 1 2 3; do", inc(1)),
            ("for i in 1 2 3; do echo $i; done", C),
            ("for i in 1 2 3\ndo\n  echo $i\ndone", C),
            ("for i do echo $i; done", C),
            ("for ((i = 0; i < 3; i++)); do echo $i; done", C),
            ("for ((i = 0; i < 3; i++)) do echo $i; done", C),
            ("for i in a b", inc(1)),
            ("while read -r l; do echo \"$l\"; done < f", C),
            ("while true", inc(1)),
            ("until false; do break; done", C),
            ("select x in a b; do break; done", C),
            ("ls | while read l; do\n  echo $l", inc(1)),
            // case.
            ("case $x in", inc(1)),
            ("case $x in\n  a) echo a ;;", inc(1)),
            ("case $x in\n  a) echo a", inc(2)),
            ("case $x in\n  a|b) echo ab ;;\n  *) echo other ;;\nesac", C),
            ("case $x in (a) echo ;; (b) ;; esac", C),
            ("case $x in a) echo ;& b) echo ;;& esac", C),
            ("case $x in esac", C),
            ("case $x in a) echo a; esac", C),
            ("case $x in a) if true; then echo; fi;; esac", C),
            ("x=$(case $y in a) echo A;; esac)", C),
            ("case $x in @(a|b)) echo ;; esac", C),
            ("case $x in\n  # a comment )\n  a) ;;\nesac", C),
            // Groups and functions.
            ("{ echo a; }", C),
            ("{ echo a", inc(1)),
            ("{\n  echo a\n}", C),
            ("(cd /tmp; ls)", C),
            ("(cd /tmp", inc(1)),
            ("( (echo a) )", C),
            ("f() {", inc(1)),
            ("f() { echo hi; }", C),
            ("f ()\n{\n  echo hi\n}", C),
            ("f()", inc(0)),
            ("function f {", inc(1)),
            ("function f { echo; }", C),
            ("function f() {\n  echo\n}", C),
            ("function f", inc(0)),
            ("function", X),
            ("for", X),
            ("case", X),
            ("echo $(for", X),
            ("for x", inc(1)),
            ("case x", inc(1)),
            ("f() (cd /; ls)", C),
            ("f() echo hi", X),
            // Keywords only at command position; comments.
            ("echo fi", C),
            ("echo done; ", C),
            ("echo if then else", C),
            ("echo } )", X),
            ("echo }", C),
            ("echo a # if (", C),
            ("echo a#b", C),
            ("echo a#(", X),
            ("# if then\necho", C),
            ("echo '# not a comment", inc(0)),
            (">out if true; then :; fi", X),
            // Stray closers and bad operators.
            ("fi", X),
            ("done", X),
            ("esac", X),
            ("}", X),
            (")", X),
            ("echo )", X),
            ("then", X),
            ("echo a; fi", X),
            ("if true; fi", X),
            ("if true; then fi", X),
            ("{ }", X),
            ("for i in a; done", X),
            ("while true; done", X),
            ("(if true)", X),
            ("echo a ;; echo b", X),
            ("| cat", X),
            ("; echo", X),
            ("echo a && ; echo b", X),
            ("echo a > ;", X),
            ("`fi`", X),
            ("x=`if true; then echo a; fi`; echo $x", C),
            ("x=`case a in a) echo;; esac`", C),
            ("x=`(echo a`", X),
            ("x=`echo \"a`\"", X),
            ("x=`echo 'a`'", X),
            ("x=\"`echo \\`date\\``\"", C),
            ("echo \"`date`\" '`'", C),
            ("in", X),
            ("]] && echo", X),
            ("echo in ]]", C),
            // Magic lines.
            ("%login local", C),
            ("%login 'oops", C),
            ("\n%strict on\n%timeout 5\n", C),
            ("%login local\nif true; then", inc(1)),
            ("# note\n%login local\necho hi", C),
            // Non-ASCII text and odd bytes.
            ("echo 'héllo wörld' ✓", C),
            ("echo \"ü", inc(0)),
            ("echo a\r\n", C),
        ]
    }

    #[test]
    fn table_of_cases() {
        let rows = table();
        assert!(rows.len() >= 60);
        let mut failures = Vec::new();
        for (code, want) in rows {
            let got = is_complete(code);
            if got != want {
                failures.push(format!("{code:?}: want {want:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let code = "$(".repeat(100_000);
        assert_eq!(is_complete(&code), inc(100_000), "every $( is a level");
        let code = format!("{}{}", "(".repeat(50_000), ")".repeat(50_000));
        // `((` opens arithmetic, and the arithmetic closes with its `))`.
        assert_eq!(is_complete(&code), C);
    }

    #[test]
    fn large_cell_is_linear() {
        let mut code = String::new();
        for i in 0..20_000 {
            code.push_str(&format!("echo \"line {i}\" | grep -q x || true # {i}\n"));
        }
        assert_eq!(is_complete(&code), C);
    }

    const COMPLETE_COMMANDS: &[&str] = &[
        "echo hi",
        "true",
        "if true; then echo; fi",
        "for i in 1 2; do echo $i; done",
        "case a in a) echo;; esac",
        "{ echo; }",
        "(echo)",
        "cat <<EOF\nx\nEOF",
        "x=$(echo 'a b')",
        "# comment",
    ];

    proptest! {
        #[test]
        fn never_panics(code in any::<String>()) {
            let _ = is_complete(&code);
        }

        #[test]
        fn never_panics_on_shell_like_text(
            code in proptest::string::string_regex(
                "([a-z]{1,4}|[ \\t\\n;&|()<>{}\\[\\]$`'\"\\\\#=!*@-]|if|then|fi|do|done|case|esac|in|for|<<EOF|EOF\\n){0,40}"
            ).unwrap()
        ) {
            let _ = is_complete(&code);
        }

        #[test]
        fn complete_stays_complete_when_followed_by_a_command(
            code in proptest::string::string_regex(
                "([a-z]{1,4}|[ \\t\\n;&|()<>{}\\[\\]$`'\"\\\\#=!*@-]|if|then|fi|do|done|case|esac|in|for|<<EOF|EOF\\n){0,30}"
            ).unwrap(),
            next in proptest::sample::select(COMPLETE_COMMANDS),
        ) {
            if is_complete(&code) == Completeness::Complete {
                let joined = format!("{code}\n{next}");
                prop_assert_eq!(is_complete(&joined), Completeness::Complete, "{:?}", joined);
            }
        }

        #[test]
        fn complete_any_string_stays_complete(
            code in any::<String>(),
            next in proptest::sample::select(COMPLETE_COMMANDS),
        ) {
            if is_complete(&code) == Completeness::Complete {
                let joined = format!("{code}\n{next}");
                prop_assert_eq!(is_complete(&joined), Completeness::Complete, "{:?}", joined);
            }
        }
    }
}
