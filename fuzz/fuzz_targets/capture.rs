//! The context capture: the marker demultiplexer (`context::demux`) and the capture-block
//! parser (`context::capture`) on arbitrary bytes, with a fixed nonce.
//!
//! Input: one control byte (seeds the cut points), then the payload, used three ways:
//! 1. as a capture block: `capture::parse` never panics, and a block in raw output mode
//!    (`\n\t;` probe) parses the same once the PTY's `onlcr` has turned each `\n` into `\r\n`;
//!    as `export -p` text of a POSIX sh (`context::posix`): each variable read survives the
//!    trip through the context's `declare -x` text, and a value the kernel quotes for sh is
//!    read back as it was;
//! 2. as a raw PTY stream: the demultiplexer's events are the same however the stream is cut
//!    (adjacent output merged), since SSH delivers output in arbitrary chunks;
//! 3. split at 0xFF into noise, output, capture body and late output, framed with this
//!    cell's real markers: the events are exactly noise, start, output, the capture block and
//!    the late output, every byte the program printed kept, in order (when the parts do not
//!    contain this cell's markers themselves, which only a program knowing the nonce could
//!    print).
#![no_main]

use libfuzzer_sys::fuzz_target;
use context::demux::{Demux, Event, ctx_marker, end_marker, start_marker};
use context::{capture, posix, quote};

const NONCE: &str = "0123456789abcdef0123456789abcdef";
const START_TAIL: &[u8] = b"4242;0\x1b\\";

fuzz_target!(|data: &[u8]| {
    let [control, payload @ ..] = data else {
        return;
    };

    // 1. The parser.
    let parsed = capture::parse(payload);
    if payload.starts_with(b"\n\t;") {
        assert_eq!(
            capture::parse(&onlcr(payload)),
            parsed,
            "onlcr not undone exactly"
        );
    }

    for (name, value) in posix::parse_export_p(payload) {
        assert!(quote::is_name(&name), "not a shell name: {name:?}");
        // NUL cannot be in a shell string; the quoting drops it.
        if value.as_ref().is_some_and(|v| v.contains(&0)) {
            continue;
        }
        let text = posix::declare_exported(&name, value.as_deref());
        assert_eq!(
            posix::declared_scalar(&text),
            Some((name, true, value)),
            "an exported variable does not survive its declare text"
        );
    }
    if !payload.contains(&0) {
        let mut line = b"export V=".to_vec();
        line.extend(posix::sh_quote(payload));
        line.push(b'\n');
        assert_eq!(
            posix::parse_export_p(&line),
            vec![("V".to_owned(), Some(payload.to_vec()))],
            "a value quoted for sh is not read back as it was"
        );
    }

    // 2. The demultiplexer on the raw stream.
    let cuts = cut_points(*control, payload);
    assert_eq!(
        demux(payload, &[]),
        demux(payload, &cuts),
        "demultiplexing depends on how the output is cut"
    );

    // 3. A framed cell.
    let mut parts = payload.splitn(4, |&b| b == 0xFF);
    let noise = parts.next().unwrap_or_default();
    let output = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let late = parts.next().unwrap_or_default();
    let (start, ctx, end) = (start_marker(NONCE), ctx_marker(NONCE), end_marker(NONCE));
    let mut stream = noise.to_vec();
    stream.extend(&start);
    stream.extend(START_TAIL);
    stream.extend(output);
    stream.extend(&ctx);
    stream.extend(body);
    stream.extend(&end);
    stream.extend(late);

    let events = demux(&stream, &[]);
    assert_eq!(
        events,
        demux(&stream, &cut_points(*control, &stream)),
        "demultiplexing a framed cell depends on how the output is cut"
    );
    if contains(noise, &start) || contains(output, &ctx) || contains(body, &end) {
        return;
    }
    let mut block = body.to_vec();
    block.extend(&end);
    let mut expected = Vec::new();
    if !noise.is_empty() {
        expected.push(Event::Noise(noise.to_vec()));
    }
    expected.push(Event::Started {
        pid: 4242,
        cd_failed: false,
    });
    if !output.is_empty() {
        expected.push(Event::Output(output.to_vec()));
    }
    expected.push(Event::Capture(block.clone()));
    if !late.is_empty() {
        expected.push(Event::Output(late.to_vec()));
    }
    assert_eq!(
        events, expected,
        "output or the capture block was not kept as printed"
    );
    let _ = capture::parse(&block);
});

/// What the PTY's `onlcr` output processing does to the bytes.
fn onlcr(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &b in bytes {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// Cut points walking through `data`, 1–17 bytes apart, different for every input.
fn cut_points(seed: u8, data: &[u8]) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut h = u32::from(seed).wrapping_mul(0x9e37_79b9) | 1;
    let mut at = 0usize;
    for &b in data {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        at += 1 + (h % 17) as usize;
        if at >= data.len() {
            break;
        }
        cuts.push(at);
    }
    cuts
}

/// The demultiplexer's events for `stream` cut at `cuts`, adjacent output and noise merged
/// (how they are split depends on the chunks by design).
fn demux(stream: &[u8], cuts: &[usize]) -> Vec<Event> {
    let mut d = Demux::new(NONCE);
    let mut raw = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
        d.feed(&stream[start..cut], &mut raw);
        start = cut;
    }
    d.finish(&mut raw);
    let mut out: Vec<Event> = Vec::new();
    for e in raw {
        if let Event::Output(b) | Event::Noise(b) = &e {
            assert!(!b.is_empty(), "an empty output event");
        }
        match (out.last_mut(), e) {
            (Some(Event::Output(a)), Event::Output(b)) => a.extend(b),
            (Some(Event::Noise(a)), Event::Noise(b)) => a.extend(b),
            (_, e) => out.push(e),
        }
    }
    out
}
