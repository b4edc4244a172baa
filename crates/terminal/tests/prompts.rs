//! Prompt detection against the two corpora in `tests/prompts/` (see its README):
//! ordinary output of real programs, replayed with long pauses, must never give a prompt;
//! every prompt shape must be detected with the right kind and text. Then properties:
//! detection does not depend on how the bytes are chunked, nothing but the kernel's sudo
//! prompt counts while output flows, and no input makes it panic.

use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;
use terminal::Renderer;
use terminal::prompt::{Detector, IDLE_FOR_PROMPT, Prompt, PromptKind, sudo_prompt_argument};

/// The marker the recordings of the kernel's sudo prompt were made with (`record.py`).
const MARKER: &str = "m4rk3r";
/// The PTY size of the recordings.
const COLS: u16 = 120;
const ROWS: u16 = 30;

fn corpus_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/prompts")
        .join(kind)
}

/// A recorded stream and the offsets where a read from the PTY ended (the pause points).
struct Recording {
    name: String,
    bytes: Vec<u8>,
    chunk_ends: Vec<usize>,
}

fn load(kind: &str) -> Vec<Recording> {
    let dir = corpus_dir(kind);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "bin").then(|| p.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(dir.join(format!("{name}.bin"))).unwrap();
            let chunks = std::fs::read_to_string(dir.join(format!("{name}.chunks")))
                .unwrap_or_else(|e| panic!("{name}.chunks: {e}"));
            let chunk_ends = chunks
                .lines()
                .filter_map(|l| l.split_whitespace().next()?.parse().ok())
                .collect();
            Recording {
                name,
                bytes,
                chunk_ends,
            }
        })
        .collect()
}

/// A pause of 1–5 s, different at each point (a cheap hash), as the idle time passed in.
fn pause(i: usize) -> Duration {
    Duration::from_millis(1000 + (i as u64).wrapping_mul(2_654_435_761) % 4001)
}

/// Every point a pause is inserted at: the recorded read boundaries, and (stricter than any
/// real chunking) after every line feed and carriage return.
fn pause_points(rec: &Recording) -> Vec<usize> {
    let mut points = rec.chunk_ends.clone();
    points.extend(
        rec.bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| matches!(b, b'\n' | b'\r'))
            .map(|(i, _)| i + 1),
    );
    points.push(rec.bytes.len());
    points.sort_unstable();
    points.dedup();
    points
}

#[test]
fn ordinary_output_is_never_a_prompt() {
    let recs = load("ordinary");
    assert!(
        recs.len() >= 10,
        "ordinary corpus: {} recordings",
        recs.len()
    );
    let mut checked = 0;
    for rec in &recs {
        let mut r = Renderer::new(COLS, ROWS);
        let mut d = Detector::new(Some(MARKER));
        let mut at = 0;
        for (i, &end) in pause_points(rec).iter().enumerate() {
            r.feed(&rec.bytes[at..end]);
            r.take_finished();
            at = end;
            d.output();
            let flowing = d.check(&r, Duration::ZERO);
            let paused = d.check(&r, pause(i));
            assert_eq!(
                (flowing, paused),
                (None, None),
                "{}: a prompt at byte {end} (line {:?})",
                rec.name,
                r.cursor_line()
            );
            checked += 1;
        }
    }
    assert!(checked > 500, "only {checked} pause points");
}

/// The sudo column: `-` for no sudo prompt, `""` for the kernel's sudo prompt with the
/// user unknown, else the user.
fn sudo_column(s: &str) -> Option<String> {
    match s {
        "-" => None,
        "\"\"" => Some(String::new()),
        u => Some(u.to_string()),
    }
}

/// `expected.tsv`: name, kind, sudo user (`-`: not the kernel's sudo prompt), text.
fn expectations() -> Vec<(String, PromptKind, Option<String>, String)> {
    let path = corpus_dir("prompts").join("expected.tsv");
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 4, "expected.tsv: {l:?}");
            let kind = match f[1] {
                "password" => PromptKind::Password,
                "text" => PromptKind::Text,
                k => panic!("expected.tsv: kind {k:?}"),
            };
            (f[0].to_string(), kind, sudo_column(f[2]), f[3].to_string())
        })
        .collect()
}

/// Replay a prompt recording: nothing before its end (paused or not), then the prompt.
/// Returns what was detected at the end with idle zero and after a pause.
fn replay_prompt(rec: &Recording) -> (Option<Prompt>, Option<Prompt>) {
    let mut r = Renderer::new(COLS, ROWS);
    let mut d = Detector::new(Some(MARKER));
    let mut at = 0;
    let points = pause_points(rec);
    let (last, before) = points.split_last().expect("empty recording");
    for (i, &end) in before.iter().enumerate() {
        r.feed(&rec.bytes[at..end]);
        r.take_finished();
        at = end;
        d.output();
        assert_eq!(d.check(&r, Duration::ZERO), None, "{}: at {end}", rec.name);
        assert_eq!(d.check(&r, pause(i)), None, "{}: at {end}", rec.name);
    }
    r.feed(&rec.bytes[at..*last]);
    d.output();
    let at_once = d.check(&r, Duration::ZERO);
    d.output();
    let later = d.check(&r, Duration::from_secs(2));
    (at_once, later)
}

fn check_expected(
    name: &str,
    got: (Option<Prompt>, Option<Prompt>),
    kind: PromptKind,
    sudo: &Option<String>,
    text: &str,
) {
    let (at_once, later) = got;
    let p = if sudo.is_some() {
        // The kernel's sudo prompt counts at once, without waiting for quiet.
        at_once.unwrap_or_else(|| panic!("{name}: the sudo prompt was not seen at once"))
    } else {
        assert_eq!(at_once, None, "{name}: an ordinary prompt counted at once");
        later.unwrap_or_else(|| panic!("{name}: no prompt detected"))
    };
    assert_eq!(p.kind, kind, "{name}");
    assert_eq!(p.text, text, "{name}");
    assert_eq!(p.sudo.map(|s| s.user), *sudo, "{name}");
    assert!(!p.text.contains(MARKER), "{name}: the marker shows");
}

#[test]
fn recorded_prompts_are_detected() {
    let recs = load("prompts");
    let expected = expectations();
    assert!(recs.len() >= 15, "prompt corpus: {} recordings", recs.len());
    for rec in &recs {
        let Some((_, kind, sudo, text)) = expected.iter().find(|e| e.0 == rec.name) else {
            panic!("{}: not in expected.tsv", rec.name)
        };
        check_expected(&rec.name, replay_prompt(rec), *kind, sudo, text);
    }
    for (name, ..) in &expected {
        assert!(
            recs.iter().any(|r| &r.name == name),
            "{name}: in expected.tsv but not recorded"
        );
    }
}

/// `\e`, `\r`, `\n`, `\t`, `\\` and `\xHH` escapes, for the byte column of shapes.tsv.
fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            i += 1;
            match b[i] {
                b'e' => out.push(0x1b),
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                c => panic!("shapes.tsv: unknown escape \\{}", c as char),
            }
        } else {
            out.push(b[i]);
        }
        i += 1;
    }
    out
}

/// `shapes.tsv`: the prompt shapes no program here prints (sudo-rs, mysql, OTP modules,
/// other distributions' package managers, su in other languages), written from the
/// programs' documented formats: name, kind, sudo user, text, bytes.
#[test]
fn prompt_shapes_are_detected() {
    let path = corpus_dir("prompts").join("shapes.tsv");
    let table = std::fs::read_to_string(&path).unwrap();
    let mut n = 0;
    let mut su_words = 0;
    for l in table.lines() {
        if l.starts_with('#') || l.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!(f.len(), 5, "shapes.tsv: {l:?}");
        let kind = match f[1] {
            "password" => PromptKind::Password,
            "text" => PromptKind::Text,
            k => panic!("shapes.tsv: kind {k:?}"),
        };
        let sudo = sudo_column(f[2]);
        let bytes = unescape(f[4]);
        let rec = Recording {
            name: f[0].to_string(),
            chunk_ends: vec![bytes.len()],
            bytes,
        };
        check_expected(f[0], replay_prompt(&rec), kind, &sudo, f[3]);
        n += 1;
        su_words += usize::from(f[0].starts_with("su_l10n_"));
    }
    assert!(n >= 40, "{n} shapes");
    // Every word of Ansible's SU_PROMPT_LOCALIZATIONS.
    assert_eq!(su_words, 32);
}

#[test]
fn the_sudo_argument_is_what_the_recordings_used() {
    // record.py passes this literally; a change here must be recorded again.
    assert_eq!(
        sudo_prompt_argument(MARKER),
        "[sshpty:m4rk3r] password for %p: "
    );
}

// ---- properties ----------------------------------------------------------------------

/// Streams for the properties: every recording (prompts cut at their prompt, ordinary
/// output), and prompt shapes.
fn streams() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = load("prompts").into_iter().map(|r| r.bytes).collect();
    v.extend(load("ordinary").into_iter().map(|r| {
        // Long recordings are cut: the properties replay them many times.
        let mut b = r.bytes;
        b.truncate(8 << 10);
        b
    }));
    v
}

fn decide(r: &Renderer, idle: Duration) -> (Option<Prompt>, Option<Prompt>) {
    let mut d = Detector::new(Some(MARKER));
    let at_once = d.check(r, Duration::ZERO);
    d.output();
    (at_once, d.check(r, idle))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// At every point output could pause, the decision depends only on the bytes so far,
    /// never on how they were cut into chunks.
    #[test]
    fn detection_does_not_depend_on_chunking(
        pick in 0usize..1000,
        extra in proptest::collection::vec(any::<u8>(), 0..64),
        cuts in proptest::collection::vec(0usize..10_000, 0..40),
    ) {
        let all = streams();
        let mut bytes = all[pick % all.len()].clone();
        if pick % 3 == 0 {
            bytes.extend(&extra);
        }
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.push(bytes.len());
        cuts.sort_unstable();
        cuts.dedup();
        let mut chunked = Renderer::new(COLS, ROWS);
        let mut at = 0;
        for &end in &cuts {
            chunked.feed(&bytes[at..end]);
            chunked.take_finished();
            at = end;
            let mut whole = Renderer::new(COLS, ROWS);
            whole.feed(&bytes[..end]);
            for idle in [Duration::ZERO, Duration::from_millis(450), Duration::from_secs(3)] {
                prop_assert_eq!(decide(&chunked, idle), decide(&whole, idle), "at {}", end);
            }
        }
    }

    /// While output flows (less than IDLE_FOR_PROMPT since the last output) only the
    /// kernel's sudo prompt counts.
    #[test]
    fn nothing_but_sudo_while_output_flows(
        pick in 0usize..1000,
        idle_ms in 0u64..(IDLE_FOR_PROMPT.as_millis() as u64),
        cut in 0usize..10_000,
    ) {
        let all = streams();
        let bytes = &all[pick % all.len()];
        let end = if pick % 2 == 0 { bytes.len() } else { cut % (bytes.len() + 1) };
        let mut r = Renderer::new(COLS, ROWS);
        r.feed(&bytes[..end]);
        let mut d = Detector::new(Some(MARKER));
        if let Some(p) = d.check(&r, Duration::from_millis(idle_ms)) {
            prop_assert!(p.sudo.is_some(), "{:?} while output flows", p);
        }
    }

    /// Arbitrary bytes, sizes, idle times and answers: no panic, and a prompt's text is
    /// plain, trimmed and free of the marker.
    #[test]
    fn never_panics(
        cols in 1u16..200,
        rows in 1u16..60,
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..8),
        idle_ms in 0u64..5000,
        answer in ".{0,8}",
    ) {
        let mut r = Renderer::new(cols, rows);
        let mut d = Detector::new(Some(MARKER));
        for c in &chunks {
            r.feed(c);
            d.output();
            if let Some(p) = d.check(&r, Duration::from_millis(idle_ms)) {
                prop_assert!(!p.text.is_empty());
                prop_assert_eq!(p.text.trim(), p.text.as_str());
                prop_assert!(!p.text.chars().any(char::is_control));
                prop_assert!(!p.text.contains(MARKER));
                r.drop_prompt_line();
                r.forget_echo(&answer);
            }
        }
        let _ = r.finish();
    }

    /// Prompt-shaped text with a marker in random places: the same guarantees.
    #[test]
    fn never_panics_on_prompt_like_text(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("[sshpty:m4rk3r] password for ".to_string()),
                Just("[sudo: ".to_string()),
                Just("] ".to_string()),
                Just("%p".to_string()),
                Just(": ".to_string()),
                Just("? ".to_string()),
                Just("Password".to_string()),
                Just("(y/n)".to_string()),
                Just("\r\n".to_string()),
                Just("\x1b[A".to_string()),
                "[a-z ]{0,6}",
            ],
            0..12,
        ),
        idle_ms in 0u64..3000,
    ) {
        let s: String = parts.concat();
        let mut r = Renderer::new(40, 5);
        r.feed(s.as_bytes());
        let mut d = Detector::new(Some(MARKER));
        if let Some(p) = d.check(&r, Duration::from_millis(idle_ms)) {
            prop_assert!(!p.text.contains(MARKER), "{:?}", p);
            if p.sudo.is_none() && p.kind == PromptKind::Text {
                prop_assert!(Duration::from_millis(idle_ms) >= IDLE_FOR_PROMPT);
            }
        }
    }
}

#[test]
fn fuzz_check_holds_on_the_corpora() {
    // The fuzz target's invariants on every recording and shape, at several sizes.
    for s in streams() {
        for size in [0u8, 39, 119, 200, 255] {
            let mut data = vec![size];
            data.extend_from_slice(&s[..s.len().min(4096)]);
            terminal::fuzzing::check_prompts(&data);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_check_holds_on_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        terminal::fuzzing::check_prompts(&data);
    }
}
