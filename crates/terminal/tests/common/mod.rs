//! Helpers shared by the tests that compare with tmux.

use terminal::Renderer;

/// Remove SGR sequences: tmux's text capture is plain.
pub fn strip_sgr(s: &str) -> String {
    let re = regex::Regex::new(r"\x1b\[[0-9;]*m").unwrap();
    re.replace_all(s, "").into_owned()
}

/// Trailing blanks are not content (tmux keeps some written spaces, we trim), and neither
/// are blank lines at the end (tmux's capture includes the empty rows below the cursor).
pub fn normalise(s: &str) -> String {
    let mut lines: Vec<&str> = s.lines().map(str::trim_end).collect();
    while lines.last() == Some(&"") {
        lines.pop();
    }
    lines.join("\n")
}

/// Line output for a stream, fed in uneven chunks with output taken as it finishes, as the
/// kernel does.
pub fn line_output(cols: u16, rows: u16, bytes: &[u8]) -> String {
    let mut r = Renderer::new(cols, rows);
    let mut out = String::new();
    let mut rest = bytes;
    let mut n = 1;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(n.min(rest.len()));
        r.feed(chunk);
        out.push_str(&r.take_finished());
        rest = tail;
        n = n * 7 % 101 + 1;
    }
    out.push_str(&r.finish());
    out
}
