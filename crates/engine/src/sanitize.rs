//! HTML from a program (`displayHTML`), cleaned before it reaches the operator's page.
//!
//! JupyterLab runs `<script>` in HTML a kernel sends during the live session, and the page
//! holds the Jupyter token: the kernel's machine, its keys, every host it reaches. A host
//! must not get that by printing HTML, so what a program sends keeps only an allowlist,
//! enforced by ammonia (a maintained sanitizer on html5ever, which parses as a browser
//! does, so no malformed markup slips past it; README, "Why these dependencies"):
//!
//! * formatting, lists, headings, tables, links (`href` http, https, mailto; every link gets
//!   `rel="noopener noreferrer"`) and images (`src` http, https, or a `data:` PNG, JPEG or
//!   GIF);
//! * no `script`, `style`, `iframe`, `object`, `embed`, `form`, `svg`, `math` (dropped, and
//!   the contents of `script` and `style` with them); no `on*` attribute, no `style`
//!   attribute (so no `url()`), no `class` or `id` (the page's own styles and names are not
//!   a program's to use); no `javascript:` or other scheme, no relative URL (it would reach
//!   the Jupyter server with the page's cookies).

use std::collections::{HashMap, HashSet};

const TAGS: &[&str] = &[
    "a",
    "abbr",
    "b",
    "bdi",
    "bdo",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "details",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "rp",
    "rt",
    "ruby",
    "s",
    "samp",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "time",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
    "wbr",
];

/// Images a page may load from a `data:` URL: the types a cell shows (`terminal::picture`).
const DATA_IMAGES: &[&str] = &["data:image/png;", "data:image/jpeg;", "data:image/gif;"];

/// `html` with only the allowlist left.
pub fn clean(html: &str) -> String {
    let tag_attributes: HashMap<&str, HashSet<&str>> = HashMap::from([
        ("a", HashSet::from(["href", "title"])),
        (
            "img",
            HashSet::from(["src", "alt", "title", "width", "height"]),
        ),
        ("td", HashSet::from(["colspan", "rowspan", "align"])),
        (
            "th",
            HashSet::from(["colspan", "rowspan", "align", "scope"]),
        ),
        ("col", HashSet::from(["span"])),
        ("colgroup", HashSet::from(["span"])),
        ("ol", HashSet::from(["start", "reversed", "type"])),
        ("time", HashSet::from(["datetime"])),
        ("details", HashSet::from(["open"])),
    ]);
    ammonia::Builder::empty()
        .tags(TAGS.iter().copied().collect())
        .clean_content_tags(HashSet::from(["script", "style"]))
        .tag_attributes(tag_attributes)
        .generic_attributes(HashSet::from(["title", "lang", "dir"]))
        .url_schemes(HashSet::from(["http", "https", "mailto", "data"]))
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer"))
        .strip_comments(true)
        // `data:` only for an image's source, and only an image of ours.
        .attribute_filter(|element, attribute, value| {
            let data = value
                .get(..5)
                .is_some_and(|s| s.eq_ignore_ascii_case("data:"));
            if !data {
                return Some(value.into());
            }
            let lower = value.get(..16).unwrap_or(value).to_ascii_lowercase();
            (element == "img"
                && attribute == "src"
                && DATA_IMAGES.iter().any(|p| lower.starts_with(p)))
            .then(|| value.into())
        })
        .clean(html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn formatting_tables_links_and_images_are_kept() {
        assert_eq!(clean("<b>x</b> <i>y</i>"), "<b>x</b> <i>y</i>");
        let t = clean("<table><tr><th>a</th><td colspan=\"2\">1</td></tr></table>");
        assert!(
            t.contains("<table>") && t.contains("<th>a</th>") && t.contains("colspan=\"2\""),
            "{t}"
        );
        let a = clean("<a href=\"https://example.com/x\">l</a>");
        assert_eq!(
            a,
            "<a href=\"https://example.com/x\" rel=\"noopener noreferrer\">l</a>"
        );
        let img = clean("<img src=\"data:image/png;base64,iVBORw0KGgo=\" alt=\"p\">");
        assert!(
            img.contains("src=\"data:image/png;base64,iVBORw0KGgo=\""),
            "{img}"
        );
    }

    #[test]
    fn scripts_are_dropped_with_their_text() {
        let c = clean("<b>x</b><script>alert(2)</script><SCRIPT src=//e/x.js></SCRIPT>");
        assert_eq!(c, "<b>x</b>");
        assert!(!clean("<style>body{background:url(//e/x)}</style>t").contains("url("));
    }

    #[test]
    fn event_handlers_and_style_attributes_are_dropped() {
        let c = clean(
            "<img src=x onerror=alert(1)><b onclick=\"f()\" style=\"background:url(//e)\">b</b>",
        );
        assert!(
            !c.contains("onerror") && !c.contains("onclick") && !c.contains("style"),
            "{c}"
        );
        assert!(!c.contains("url("), "{c}");
        assert!(c.contains("<b>b</b>"), "{c}");
        // A relative src (which would reach the Jupyter server) is dropped too.
        assert!(!c.contains("src"), "{c}");
    }

    #[test]
    fn frames_objects_forms_and_svg_are_dropped() {
        for bad in [
            "<iframe src=\"https://e/\"></iframe>",
            "<object data=\"x.swf\"></object>",
            "<embed src=\"x.swf\">",
            "<form action=\"https://e/\"><input name=q></form>",
            "<svg><script>alert(1)</script></svg>",
            "<math><mtext><script>alert(1)</script></mtext></math>",
            "<meta http-equiv=refresh content=\"0;url=javascript:alert(1)\">",
            "<base href=\"https://e/\">",
            "<link rel=stylesheet href=\"https://e/x.css\">",
        ] {
            let c = clean(bad);
            for word in [
                "iframe", "object", "embed", "form", "input", "svg", "script", "meta", "base",
                "link", "math",
            ] {
                assert!(!c.contains(&format!("<{word}")), "{bad} gave {c}");
            }
        }
    }

    #[test]
    fn javascript_and_other_schemes_are_dropped() {
        for bad in [
            "<a href=\"javascript:alert(1)\">x</a>",
            "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
            "<a href=\"java&#x09;script:alert(1)\">x</a>",
            "<a href=\"vbscript:x\">x</a>",
            "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
            "<img src=\"data:image/svg+xml;base64,PHN2Zz4=\">",
            "<img src=\"javascript:alert(1)\">",
        ] {
            let c = clean(bad);
            assert!(!c.contains("href") && !c.contains("src"), "{bad} gave {c}");
        }
    }
}
