//! Hostile output: time and peak memory while rendering streams a cell must survive.
//!
//!     cargo bench -p sshpty-terminal --bench hostile
//!
//! Each stream is generated on the fly in 64 KiB chunks (so the input itself takes no
//! memory) and fed to one renderer, taking finished output after each chunk as the kernel
//! does. Peak RSS is the process's VmHWM, read from /proc after each stream.

use std::hint::black_box;
use std::time::Instant;

use terminal::Renderer;

const CHUNK: usize = 64 * 1024;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn run(name: &str, total: usize, mut fill: impl FnMut(&mut [u8], usize)) {
    let mut r = Renderer::new(160, 24);
    let mut buf = vec![0u8; CHUNK];
    let start = Instant::now();
    let mut out = 0usize;
    let mut fed = 0usize;
    while fed < total {
        fill(&mut buf, fed);
        r.feed(&buf);
        out += r.take_finished().len();
        black_box(r.take_replies());
        fed += CHUNK;
    }
    black_box(r.pending());
    out += r.finish().len();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name:<28} {:>6} MB in {secs:>6.2} s ({:>6.1} MB/s), {:>6.1} MB out, peak RSS {:>6.1} MB",
        total >> 20,
        total as f64 / secs / 1e6,
        out as f64 / 1e6,
        peak_rss_mb()
    );
}

fn main() {
    println!("baseline peak RSS {:.1} MB", peak_rss_mb());
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    run("random bytes", 256 << 20, |b, _| {
        for x in b.iter_mut() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            *x = s as u8;
        }
    });
    run("one line, no newline", 256 << 20, |b, _| b.fill(b'x'));
    run("endless OSC", 64 << 20, |b, fed| {
        b.fill(b'y');
        if fed == 0 {
            b[..4].copy_from_slice(b"\x1b]0;");
        }
    });
    run("endless CSI parameters", 64 << 20, |b, fed| {
        b.fill(b'1');
        if fed == 0 {
            b[..2].copy_from_slice(b"\x1b[");
        }
    });
    run("endless combining marks", 64 << 20, |b, fed| {
        for pair in b.chunks_mut(2) {
            pair.copy_from_slice(&[0xcc, 0x81]); // U+0301
        }
        if fed == 0 {
            b[..2].copy_from_slice(b"e\xcc");
        }
    });
    run("alt screen toggling", 64 << 20, |b, _| {
        let pat = b"\x1b[?1049hscreen\x1b[?1049l";
        for (i, x) in b.iter_mut().enumerate() {
            *x = pat[i % pat.len()];
        }
    });
    run("progress bar redraws", 256 << 20, |b, _| {
        let pat = b"\r[##########          ] 50%";
        for (i, x) in b.iter_mut().enumerate() {
            *x = pat[i % pat.len()];
        }
    });
}
