//! The visible screen as a snapshot, for screen mode: plain text and HTML.

use std::fmt::Write as _;

use crate::grid::Line;
use crate::style::{Color, Style};

/// How the cursor is drawn in HTML: an outline keeps the character under it readable in
/// both light and dark themes.
const CURSOR_STYLE: &str = "outline:1px solid currentColor";

/// Rows to show: up to the last non-blank one or the cursor's, whichever is lower.
fn used_rows(lines: &[Line], cursor_row: Option<usize>) -> usize {
    let last = lines
        .iter()
        .rposition(|l| !l.is_blank())
        .map_or(0, |i| i + 1);
    last.max(cursor_row.map_or(0, |r| r + 1)).min(lines.len())
}

pub(crate) fn text(lines: &[Line], cursor_row: usize) -> String {
    let mut out = String::new();
    for (i, line) in lines[..used_rows(lines, Some(cursor_row))]
        .iter()
        .enumerate()
    {
        if i > 0 {
            out.push('\n');
        }
        line.plain(line.visible_len(), &mut out);
    }
    out
}

/// The xterm default palette for the 16 basic colours.
const BASIC: [&str; 16] = [
    "#000000", "#cd0000", "#00cd00", "#cdcd00", "#0000ee", "#cd00cd", "#00cdcd", "#e5e5e5",
    "#7f7f7f", "#ff0000", "#00ff00", "#ffff00", "#5c5cff", "#ff00ff", "#00ffff", "#ffffff",
];

fn css_color(c: Color) -> Option<String> {
    match c {
        Color::Default => None,
        Color::Idx(n) if n < 16 => Some(BASIC[usize::from(n)].to_string()),
        Color::Idx(n) if n < 232 => {
            // The 6×6×6 cube, with xterm's levels.
            let n = n - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            Some(format!(
                "#{:02x}{:02x}{:02x}",
                level(n / 36),
                level((n / 6) % 6),
                level(n % 6)
            ))
        }
        Color::Idx(n) => {
            let v = 8 + 10 * (n - 232);
            Some(format!("#{v:02x}{v:02x}{v:02x}"))
        }
        Color::Rgb(r, g, b) => Some(format!("#{r:02x}{g:02x}{b:02x}")),
    }
}

fn css(style: &Style, cursor: bool) -> String {
    let mut fg = css_color(style.fg);
    let mut bg = css_color(style.bg);
    if style.bold()
        && let Color::Idx(n @ 0..8) = style.fg
    {
        // Bold with a basic colour is drawn bright, as in xterm.
        fg = css_color(Color::Idx(n + 8));
    }
    if style.inverse() {
        (fg, bg) = (
            bg.or_else(|| Some("var(--jp-layout-color0, #fff)".into())),
            fg.or_else(|| Some("var(--jp-content-font-color0, #000)".into())),
        );
    }
    let mut s = String::new();
    if let Some(fg) = fg {
        let _ = write!(s, "color:{fg};");
    }
    if let Some(bg) = bg {
        let _ = write!(s, "background-color:{bg};");
    }
    if style.bold() {
        s.push_str("font-weight:bold;");
    }
    if style.dim() {
        s.push_str("opacity:0.7;");
    }
    if style.italic() {
        s.push_str("font-style:italic;");
    }
    match (style.underline(), style.strike()) {
        (true, true) => s.push_str("text-decoration:underline line-through;"),
        (true, false) => s.push_str("text-decoration:underline;"),
        (false, true) => s.push_str("text-decoration:line-through;"),
        (false, false) => {}
    }
    if style.hidden() {
        s.push_str("visibility:hidden;");
    }
    if cursor {
        s.push_str(CURSOR_STYLE);
    }
    s
}

/// Text made safe inside HTML: `&`, `<` and `>` escaped (the screen's, and any other
/// text a display shows).
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
}

/// The screen as a `<pre>` block: one `<span>` per run of equal style, the cursor cell in
/// its own span with class `sshpty-cursor`.
pub(crate) fn html(lines: &[Line], cursor: Option<(usize, usize)>) -> String {
    let mut out = String::from("<pre class=\"sshpty-screen\" style=\"line-height:1.2\">");
    let rows = used_rows(lines, cursor.map(|c| c.0));
    for (r, line) in lines[..rows].iter().enumerate() {
        if r > 0 {
            out.push('\n');
        }
        let cursor_col = cursor.filter(|c| c.0 == r).map(|c| c.1);
        let end = line.visible_len().max(cursor_col.map_or(0, |c| c + 1));
        // Runs of cells with the same style (and not the cursor) share one span.
        let mut run = String::new();
        let mut run_style: Option<(Style, bool)> = None;
        let flush = |out: &mut String, run: &mut String, st: Option<(Style, bool)>| {
            if run.is_empty() {
                return;
            }
            match st {
                Some((style, cur)) if style != Style::default() || cur => {
                    let class = if cur { " class=\"sshpty-cursor\"" } else { "" };
                    let _ = write!(out, "<span{class} style=\"{}\">", css(&style, cur));
                    out.push_str(run);
                    out.push_str("</span>");
                }
                _ => out.push_str(run),
            }
            run.clear();
        };
        for col in 0..end {
            let (style, text) = match line.cells.get(col) {
                Some(cell) if cell.is_spacer() => continue,
                Some(cell) => {
                    let mut t = String::new();
                    line.push_text(col, &mut t);
                    (cell.attrs.style(), t)
                }
                None => (Style::default(), " ".to_string()),
            };
            let key = (style, cursor_col == Some(col));
            if run_style != Some(key) {
                flush(&mut out, &mut run, run_style);
                run_style = Some(key);
            }
            escape_into(&mut run, &text);
        }
        flush(&mut out, &mut run, run_style);
    }
    out.push_str("</pre>");
    out
}
