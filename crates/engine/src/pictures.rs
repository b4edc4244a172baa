//! What a cell makes of the pictures and HTML its programs send (`terminal::inline`): images
//! become image outputs with the MIME type of their content, HTML from `displayHTML` is
//! sanitized (`sanitize`), JavaScript and everything refused becomes one line in the cell,
//! saying what was not shown and why. Where these go in the cell's output is `cell.rs`'s
//! business (at the place they occurred).

use std::collections::HashSet;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use terminal::inline::{Frame, Inline, Kind, Piece};
use terminal::picture::{self, Picture};

use crate::frontend::Shown;

/// Display ids a program gives are namespaced, so none can name one of the kernel's own
/// displays (the header, a live view) and replace it.
const ID_PREFIX: &str = "sshpty-show-";

/// bash_kernel's own protocol: its helpers save the data to a file and print this, and its
/// kernel reads the file. sshpty never reads a file a program's output names.
const BASH_KERNEL_SAVED: &str = "bash_kernel: saved ";

/// A cell's state for what its programs show.
#[derive(Default)]
pub struct Pictures {
    /// Display ids shown in this cell: a second frame with one replaces it.
    ids: HashSet<String>,
    told_saved: bool,
    told_screen: bool,
}

impl Pictures {
    /// What `piece` (not [`Piece::Text`]) shows: an output, or the line said in its place.
    pub fn convert(&mut self, piece: Piece) -> Result<Shown, String> {
        match piece {
            Piece::Text(_) => Err(String::new()),
            Piece::Refused(r) => Err(format!("sshpty: {r}\n")),
            Piece::Inline(i) => Ok(self.inline(i)),
            Piece::Frame(f) => self.frame(f),
        }
    }

    fn inline(&mut self, i: Inline) -> Shown {
        let mut size = Map::new();
        if let Some(w) = i.width {
            size.insert("width".into(), json!(w));
        }
        if let Some(h) = i.height {
            size.insert("height".into(), json!(h));
        }
        let mut metadata = Map::new();
        if !size.is_empty() {
            metadata.insert(i.picture.mime.into(), Value::Object(size));
        }
        let mut shown = image(i.picture, i.name.as_deref(), None);
        shown.metadata = metadata;
        shown
    }

    fn frame(&mut self, f: Frame) -> Result<Shown, String> {
        let id = f.id.map(|id| format!("{ID_PREFIX}{id}"));
        let mut shown = match f.kind {
            Kind::JavaScript => {
                return Err(
                    "sshpty: displayJS: JavaScript from a host is never run in the \
                            notebook (it would run with your Jupyter token); nothing was shown\n"
                        .into(),
                );
            }
            Kind::Image => {
                let p = picture::examine(f.data).map_err(|r| format!("sshpty: display: {r}\n"))?;
                image(p, None, id.clone())
            }
            Kind::Html => {
                if f.data.is_empty() {
                    return Err(format!(
                        "sshpty: displayHTML: {}\n",
                        picture::Refusal::Empty
                    ));
                }
                let html = crate::sanitize::clean(&String::from_utf8_lossy(&f.data));
                let mut data = Map::new();
                data.insert(
                    "text/plain".into(),
                    Value::String(format!(
                        "[HTML, {}]",
                        crate::size::format(f.data.len() as u64)
                    )),
                );
                data.insert("text/html".into(), Value::String(html));
                Shown {
                    data,
                    metadata: Map::new(),
                    id: id.clone(),
                    update: false,
                }
            }
        };
        if let Some(id) = id {
            shown.update = !self.ids.insert(id);
        }
        Ok(shown)
    }

    /// A finished line of output: bash_kernel's "saved … data to: FILE" gets a note, once per
    /// cell (the line itself stays, as text).
    pub fn finished_text(&mut self, text: &str) -> Option<&'static str> {
        if self.told_saved || !text.contains(BASH_KERNEL_SAVED) || !text.contains(" data to: ") {
            return None;
        }
        self.told_saved = true;
        Some(
            "sshpty: a program printed bash_kernel's \"saved … data to:\" line; sshpty does not \
             read files that output names: use display (an image on stdin) or displayHTML \
             (HTML on stdin), which every cell has\n",
        )
    }

    /// A picture came while a program holds the full screen: the note that says it is not
    /// shown, once per cell.
    pub fn on_screen(&mut self) -> Option<&'static str> {
        (!std::mem::replace(&mut self.told_screen, true)).then_some(
            "sshpty: pictures and HTML sent while a program holds the full screen are not \
             shown\n",
        )
    }
}

/// An image's bundle: the image in base64 and a line of text for clients that show no image.
fn image(p: Picture, name: Option<&str>, id: Option<String>) -> Shown {
    let kind = p.mime.trim_start_matches("image/").to_ascii_uppercase();
    let named = name.map(|n| format!(" {n}")).unwrap_or_default();
    let plain = format!(
        "[{kind} image{named}, {}×{} pixels, {}]",
        p.width,
        p.height,
        crate::size::format(p.data.len() as u64)
    );
    let mut data = Map::new();
    data.insert("text/plain".into(), Value::String(plain));
    data.insert(
        p.mime.into(),
        Value::String(base64::engine::general_purpose::STANDARD.encode(&p.data)),
    );
    Shown {
        data,
        metadata: Map::new(),
        id,
        update: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png() -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x02\0\0\0\x03\x08\x06\0\0\0".to_vec();
        b.extend([0u8; 4]);
        b
    }

    #[test]
    fn a_display_id_shown_again_is_an_update() {
        let mut p = Pictures::default();
        let f = || {
            Piece::Frame(Frame {
                kind: Kind::Image,
                id: Some("plot".into()),
                data: png(),
            })
        };
        let first = p.convert(f()).expect("shown");
        assert_eq!(
            (first.id.as_deref(), first.update),
            (Some("sshpty-show-plot"), false)
        );
        assert!(p.convert(f()).expect("shown").update);
        assert_eq!(
            first.data["text/plain"],
            "[PNG image, 2×3 pixels, 33 bytes]"
        );
        assert!(first.data.contains_key("image/png"));
    }

    #[test]
    fn html_is_sanitized_and_javascript_refused() {
        let mut p = Pictures::default();
        let s = p
            .convert(Piece::Frame(Frame {
                kind: Kind::Html,
                id: None,
                data: b"<b>x</b><img src=x onerror=alert(1)><script>alert(2)</script>".to_vec(),
            }))
            .expect("shown");
        let html = s.data["text/html"].as_str().expect("text");
        assert!(html.contains("<b>x</b>") && !html.contains("onerror") && !html.contains("script"));
        let js = p.convert(Piece::Frame(Frame {
            kind: Kind::JavaScript,
            id: None,
            data: b"alert(1)".to_vec(),
        }));
        assert!(js.expect_err("refused").contains("displayJS"));
        let svg = p.convert(Piece::Frame(Frame {
            kind: Kind::Image,
            id: None,
            data: b"<svg/>".to_vec(),
        }));
        assert!(svg.expect_err("refused").contains("SVG"));
    }

    #[test]
    fn bash_kernel_saved_lines_get_one_note() {
        let mut p = Pictures::default();
        assert!(p.finished_text("hello\n").is_none());
        assert!(
            p.finished_text("bash_kernel: saved image data to: /tmp/x.png\n")
                .is_some()
        );
        assert!(
            p.finished_text("bash_kernel: saved html data to: /tmp/x.html\n")
                .is_none()
        );
    }
}
