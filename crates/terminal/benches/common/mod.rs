//! What the terminal benches share: the generated streams both corpora hold, the copy
//! baseline, and the MB/s figure.

use std::hint::black_box;
use std::time::Instant;

/// The recordings (`*.bin`) in `dir` below the crate, in name order, each followed by
/// `separator`.
pub fn recordings(dir: &str, separator: &[u8]) -> Vec<u8> {
    let dir = format!("{}/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    names.sort();
    let mut all = Vec::new();
    for p in names {
        if p.extension().is_some_and(|e| e == "bin") {
            all.extend(std::fs::read(&p).unwrap_or_default());
            all.extend_from_slice(separator);
        }
    }
    all
}

pub fn mbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

/// Seconds to copy `bytes` in 4 KiB chunks: the baseline every figure stands beside.
pub fn copy_secs(bytes: &[u8]) -> f64 {
    let start = Instant::now();
    let mut sink = Vec::with_capacity(4096);
    for chunk in bytes.chunks(4096) {
        sink.clear();
        sink.extend_from_slice(chunk);
        black_box(&sink);
    }
    start.elapsed().as_secs_f64()
}

/// `seq`-like numbered lines.
pub fn seq_lines() -> Vec<u8> {
    (0..1_000_000)
        .flat_map(|i| format!("{i}\r\n").into_bytes())
        .collect()
}

/// A `\r` progress bar redrawn 100 000 times.
pub fn progress() -> Vec<u8> {
    (0..100_000)
        .flat_map(|i| format!("\r[{:<50}] {:>3}%", "#".repeat(i % 51), i % 101).into_bytes())
        .collect()
}

/// Lines of 10 000 characters.
pub fn long_lines() -> Vec<u8> {
    ("x".repeat(10_000) + "\r\n").repeat(500).into_bytes()
}
