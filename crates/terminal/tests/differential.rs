//! Random streams rendered by us and by tmux at 20×6 (tests/differential, see its README):
//! the line output and the screen must match, except for the listed cases where tmux 3.3a
//! has a quirk we do not copy.

use std::path::PathBuf;

use terminal::Renderer;

mod common;
use common::{line_output, normalise, strip_sgr};

/// Cases where tmux's behaviour is a quirk we do not follow (README.md says which).
const KNOWN: &[&str] = &[
    "s070", "s086", "s098", "s101", "s105", "s108", "s133", "s135", "s136", "s139", "s140",
];

#[test]
fn random_streams_render_as_in_tmux() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/differential");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/differential")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".bin").map(str::to_owned))
        .collect();
    names.sort();
    assert!(names.len() >= 100, "only {} cases", names.len());
    let mut failed = Vec::new();
    for name in names.iter().filter(|n| !KNOWN.contains(&n.as_str())) {
        let read = |ext: &str| std::fs::read(dir.join(format!("{name}.{ext}"))).unwrap();
        let bytes = read("bin");
        let lines = normalise(&strip_sgr(&line_output(20, 6, &bytes)));
        let expected_lines = normalise(&String::from_utf8(read("lines")).unwrap());
        let mut r = Renderer::new(20, 6);
        r.feed(&bytes);
        let screen = normalise(&r.screen_text());
        let expected_screen = normalise(&String::from_utf8(read("screen")).unwrap());
        if lines != expected_lines || screen != expected_screen {
            failed.push(format!(
                "{name}:\n  ours lines {lines:?}\n  tmux lines {expected_lines:?}\n  ours screen {screen:?}\n  tmux screen {expected_screen:?}"
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} differ from tmux:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
