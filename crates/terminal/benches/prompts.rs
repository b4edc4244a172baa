//! Prompt detection cost on a mixed corpus, beside rendering alone and a baseline of copying
//! the same bytes.
//!
//!     cargo bench -p sshpty-terminal --bench prompts
//!
//! The corpus: the recorded corpora in tests/prompts (ordinary output and prompts), plus
//! generated streams (plain lines, a `\r` progress bar, long wrapped lines, prompt-like
//! lines that are not prompts). Fed in 4 KiB chunks with finished output taken after each,
//! as the kernel does; "detect" also calls `Detector::output` and `check` twice after every
//! chunk, once with idle zero (what the kernel does on each chunk, looking for its sudo
//! marker) and once as if output had been quiet (a timer tick), which is more often than
//! the kernel's ticks: an upper bound on the detector's cost.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use terminal::Renderer;
use terminal::prompt::Detector;

fn recorded() -> Vec<u8> {
    let mut all = common::recordings("tests/prompts/ordinary", b"\r\n");
    all.extend(common::recordings("tests/prompts/prompts", b"\r\n"));
    all
}

fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let recorded = recorded();
    let recorded = recorded.repeat((8 << 20) / recorded.len().max(1) + 1);
    let seq = common::seq_lines();
    let progress = common::progress();
    let long = common::long_lines();
    let askish: Vec<u8> = (0..100_000)
        .flat_map(|i| {
            format!("Password: changed for user{i}\r\nContinue? [y/N] {i}\r\nname? ok\r\n")
                .into_bytes()
        })
        .collect();
    vec![
        ("recordings", recorded),
        ("seq lines", seq),
        ("\\r progress", progress),
        ("long lines", long),
        ("prompt-like", askish),
    ]
}

fn render(bytes: &[u8], detect: bool) -> f64 {
    let start = Instant::now();
    let mut r = Renderer::new(160, 24);
    let mut d = Detector::new(Some("b3nchm4rk"));
    let mut out = 0usize;
    for chunk in bytes.chunks(4096) {
        r.feed(chunk);
        out += r.take_finished().len();
        if detect {
            d.output();
            black_box(d.check(&r, Duration::ZERO));
            black_box(d.check(&r, Duration::from_secs(1)));
        }
    }
    out += r.finish().len();
    black_box(out);
    start.elapsed().as_secs_f64()
}

fn main() {
    let corpus = corpus();
    let mut total = 0usize;
    let (mut t_render, mut t_detect, mut t_copy) = (0f64, 0f64, 0f64);
    println!(
        "{:<14} {:>7} {:>12} {:>12} {:>10}",
        "stream", "MB", "render MB/s", "+detect MB/s", "copy MB/s"
    );
    for (name, bytes) in &corpus {
        let render_only = render(bytes, false);
        let detect = render(bytes, true);

        let copy = common::copy_secs(bytes);

        println!(
            "{name:<14} {:>7.1} {:>12.1} {:>12.1} {:>10.1}",
            bytes.len() as f64 / 1e6,
            common::mbps(bytes.len(), render_only),
            common::mbps(bytes.len(), detect),
            common::mbps(bytes.len(), copy)
        );
        total += bytes.len();
        t_render += render_only;
        t_detect += detect;
        t_copy += copy;
    }
    println!(
        "{:<14} {:>7.1} {:>12.1} {:>12.1} {:>10.1}",
        "all",
        total as f64 / 1e6,
        common::mbps(total, t_render),
        common::mbps(total, t_detect),
        common::mbps(total, t_copy)
    );
}
