//! What a fleet cell shows at the end, as text/plain and text/html: the folded outputs
//! (headers as `dshbak -c` writes them) and the summary table. Outputs are shown as text
//! (invalid UTF-8 replaced); in HTML every piece of host text is escaped.

use std::fmt::Write;

use terminal::html_escape;

use super::hostlist;
use super::outputs::{Block, Body, Fold, Row, Status};

/// dshbak's rule line.
const RULE: &str = "----------------";

/// The folded outputs as text: per block a header naming its hosts (and how they ended,
/// unless ok), then the output.
pub fn text(fold: &Fold) -> String {
    let mut out = String::new();
    for block in fold.blocks() {
        let _ = writeln!(out, "{RULE}\n{}\n{RULE}", header(&block));
        match &block.body {
            Body::Text(bytes) => {
                out.push_str(&String::from_utf8_lossy(bytes));
                if !bytes.is_empty() && !bytes.ends_with(b"\n") {
                    out.push('\n');
                }
            }
            body => {
                out.push_str(&elsewhere(body));
                out.push('\n');
            }
        }
    }
    out
}

/// The folded outputs as HTML.
pub fn html(fold: &Fold) -> String {
    let mut out = String::from("<div class=\"sshpty-fleet\">");
    for block in fold.blocks() {
        let _ = write!(
            out,
            "<div class=\"sshpty-fleet-block\"><div class=\"sshpty-fleet-hosts\" \
             style=\"font-weight:bold;border-bottom:1px solid #999\">{}</div>",
            html_escape(&header(&block))
        );
        match &block.body {
            Body::Text(bytes) if bytes.is_empty() => {}
            Body::Text(bytes) => {
                let _ = write!(
                    out,
                    "<pre style=\"margin:0.2em 0 0.8em 0\">{}</pre>",
                    html_escape(&String::from_utf8_lossy(bytes))
                );
            }
            body => {
                let _ = write!(out, "<p><i>{}</i></p>", html_escape(&elsewhere(body)));
            }
        }
        out.push_str("</div>");
    }
    out.push_str("</div>");
    out
}

/// `web[01-03] (exit 2)`.
fn header(block: &Block) -> String {
    let hosts = hostlist::fold(&block.hosts);
    match &block.status {
        Status::Ok => hosts,
        Status::Failed { exit_code } => format!("{hosts} (exit {exit_code})"),
        Status::Unreachable { message } => format!("{hosts} (unreachable: {message})"),
    }
}

fn elsewhere(body: &Body) -> String {
    match body {
        Body::InFile { path, bytes } => format!("(output in {path}, {bytes} bytes)"),
        Body::NotKept { bytes } => {
            format!("({bytes} bytes of output not kept: beyond the limit for this cell)")
        }
        Body::Text(_) => String::new(),
    }
}

/// The summary's columns for one row.
fn cells(row: &Row) -> [String; 4] {
    let (status, exit) = match &row.status {
        Status::Ok => ("ok".to_owned(), "0".to_owned()),
        Status::Failed { exit_code } => ("failed".to_owned(), exit_code.to_string()),
        Status::Unreachable { message } => (format!("unreachable: {message}"), "-".to_owned()),
    };
    [row.host.clone(), status, exit, duration(row.duration_ms)]
}

const HEADINGS: [&str; 4] = ["host", "status", "exit", "duration"];

/// The summary table as text, columns aligned.
pub fn summary_text(fold: &Fold) -> String {
    let rows: Vec<[String; 4]> = fold.rows().iter().map(cells).collect();
    let mut widths = HEADINGS.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(HEADINGS.map(str::to_owned)).chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The summary table as HTML.
pub fn summary_html(fold: &Fold) -> String {
    let mut out = String::from("<table class=\"sshpty-fleet-summary\"><thead><tr>");
    for h in HEADINGS {
        let _ = write!(out, "<th style=\"text-align:left\">{h}</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for row in fold.rows() {
        out.push_str("<tr>");
        for cell in cells(&row) {
            let _ = write!(
                out,
                "<td style=\"text-align:left\">{}</td>",
                html_escape(&cell)
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// `850 ms`, `12.3 s`.
fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}
