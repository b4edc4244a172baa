//! Renderer throughput on a mixed corpus, beside a baseline of copying the same bytes.
//!
//!     cargo bench -p sshpty-terminal --bench throughput
//!
//! The corpus: the recorded sessions in tests/recordings, plus generated streams of the
//! shapes a cell produces in bulk (plain lines as from `seq`, coloured `ls -l`-like lines,
//! a `\r` progress bar, CJK text, long wrapped lines, random bytes as from `cat /bin/ls`).
//! Fed in 4 KiB chunks with finished output taken after each, as the kernel does.

mod common;

use std::hint::black_box;
use std::time::Instant;

use terminal::Renderer;

fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let recorded = common::recordings("tests/recordings", b"");
    let recorded = recorded.repeat((8 << 20) / recorded.len().max(1) + 1);

    let seq = common::seq_lines();
    let ls: Vec<u8> = (0..100_000)
        .flat_map(|i| {
            format!("-rw-r--r-- 1 root root {i:>8} Jan  1 00:00 \x1b[01;32mfile-{i}.txt\x1b[0m\r\n")
                .into_bytes()
        })
        .collect();
    let progress = common::progress();
    let cjk: Vec<u8> = "日本語のテキストと中文字符 mixed with ASCII 😀\r\n"
        .repeat(100_000)
        .into_bytes();
    let long = common::long_lines();
    // A xorshift stream: binary garbage with escapes and controls in it.
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let random: Vec<u8> = (0..8 << 20)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect();
    vec![
        ("recordings", recorded),
        ("seq lines", seq),
        ("ls --color", ls),
        ("\\r progress", progress),
        ("CJK + emoji", cjk),
        ("long lines", long),
        ("random bytes", random),
    ]
}

fn main() {
    let corpus = corpus();
    let mut total = 0usize;
    let (mut t_render, mut t_copy) = (0f64, 0f64);
    println!(
        "{:<14} {:>9} {:>12} {:>12}",
        "stream", "MB", "render MB/s", "copy MB/s"
    );
    for (name, bytes) in &corpus {
        let start = Instant::now();
        let mut r = Renderer::new(160, 24);
        let mut out = 0usize;
        for chunk in bytes.chunks(4096) {
            r.feed(chunk);
            out += r.take_finished().len();
            black_box(r.take_replies());
        }
        out += r.finish().len();
        let render = start.elapsed().as_secs_f64();
        black_box(out);

        let copy = common::copy_secs(bytes);

        println!(
            "{name:<14} {:>9.1} {:>12.1} {:>12.1}",
            bytes.len() as f64 / 1e6,
            common::mbps(bytes.len(), render),
            common::mbps(bytes.len(), copy)
        );
        total += bytes.len();
        t_render += render;
        t_copy += copy;
    }
    println!(
        "{:<14} {:>9.1} {:>12.1} {:>12.1}",
        "all",
        total as f64 / 1e6,
        common::mbps(total, t_render),
        common::mbps(total, t_copy)
    );
}
