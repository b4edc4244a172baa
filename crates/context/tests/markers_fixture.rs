//! The marker formats in `tests/fixtures/markers.json`, from which the integration tests
//! forge markers (a program printing a copied or forged marker must change nothing), are
//! exactly what the kernel writes and reads: if the format changes, this fails, and the
//! fixture (and so the forged-marker tests) must change with it.

use context::capture;
use context::demux::{
    Demux, Event, ctx_marker, end_marker, ready_marker, start_marker, stay_marker,
};

const NONCE: &str = "0123456789abcdef0123456789abcdef";

fn fixture() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/markers.json"
    );
    let text = std::fs::read_to_string(path).expect("tests/fixtures/markers.json");
    serde_json::from_str(&text).expect("markers.json is JSON")
}

fn field(f: &serde_json::Value, key: &str) -> String {
    f[key]
        .as_str()
        .unwrap_or_else(|| panic!("markers.json has no string {key:?}"))
        .to_owned()
}

fn with_nonce(f: &serde_json::Value, key: &str) -> Vec<u8> {
    field(f, key).replace("{nonce}", NONCE).into_bytes()
}

#[test]
fn the_fixture_markers_are_the_kernels() {
    let f = fixture();
    assert_eq!(with_nonce(&f, "start"), start_marker(NONCE));
    assert_eq!(with_nonce(&f, "ready"), ready_marker(NONCE));
    assert_eq!(with_nonce(&f, "ctx"), ctx_marker(NONCE));
    assert_eq!(with_nonce(&f, "end"), end_marker(NONCE));
    assert_eq!(with_nonce(&f, "stay"), stay_marker(NONCE));
}

#[test]
fn a_stream_built_from_the_fixture_is_read_as_a_cell_with_its_capture() {
    let f = fixture();
    let mut stream = with_nonce(&f, "start");
    stream.extend(
        field(&f, "start_tail")
            .replace("{pid}", "4242")
            .replace("{cd_failed}", "0")
            .into_bytes(),
    );
    stream.extend(b"hello\r\n");
    stream.extend(with_nonce(&f, "ctx"));
    stream.extend(field(&f, "capture").into_bytes());
    stream.extend(with_nonce(&f, "end"));

    let mut events = Vec::new();
    Demux::new(NONCE).feed(&stream, &mut events);
    let started = events.iter().any(|e| {
        matches!(
            e,
            Event::Started {
                pid: 4242,
                cd_failed: false
            }
        )
    });
    assert!(started, "{events:?}");
    let output: Vec<u8> = events
        .iter()
        .filter_map(|e| match e {
            Event::Output(o) => Some(o.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(output, b"hello\r\n");
    let block = events
        .iter()
        .find_map(|e| match e {
            Event::Capture(b) => Some(b.clone()),
            _ => None,
        })
        .expect("a capture event");
    let captured = capture::parse(&block).expect("the fixture's capture parses");
    assert_eq!(captured.status, 0);
    assert_eq!(captured.cwd, b"/");
    assert_eq!(captured.umask, "0022");
    assert_eq!(
        captured.vars.get("victim").map(Vec::as_slice),
        Some(&b"declare -- victim=\"forged\""[..])
    );
}
