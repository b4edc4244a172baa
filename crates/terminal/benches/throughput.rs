//! Renderer throughput on a mixed corpus, beside two baselines measured in the same run on
//! the same bytes, and a copy of the bytes.
//!
//!     cargo bench -p sshpty-terminal --bench throughput
//!
//! The corpus: the recorded sessions in tests/recordings, plus generated streams of the
//! shapes a cell produces in bulk (plain lines as from `seq`, coloured `ls -l`-like lines,
//! a `\r` progress bar, CJK text, long wrapped lines, random bytes as from `cat /bin/ls`).
//!
//! * **render**: our [`Renderer`], fed in 4 KiB chunks with finished output and replies
//!   taken after each, as the kernel does.
//! * **vte**: vte's bare parser (the version the crate uses) driving a [`vte::Perform`] that
//!   folds every callback and its arguments into a checksum kept through `black_box`: the
//!   ceiling for any emulator built on vte.
//! * **alacritty**: alacritty_terminal (a full emulator on the same vte), its
//!   `vte::ansi::Processor` driving a `Term` of the same size with a no-op event listener:
//!   the like-for-like peer. It keeps a grid and scrollback; it produces no text.
//! * **copy**: copying the bytes in 4 KiB chunks.
//!
//! All at 160x50, the kernel's default size. Each figure is the fastest of [`REPS`] runs,
//! the measurements taken in turn so that load on the machine falls on all of them alike.
//! `ours/vte` and `ours/alacritty` are render's throughput over each baseline's.

mod common;

use std::hint::black_box;
use std::time::Instant;

use alacritty_terminal::event::VoidListener;
use alacritty_terminal::grid::Dimensions;
use alacritty_terminal::term::Config;
use alacritty_terminal::vte::ansi::Processor;
use terminal::Renderer;

const COLS: u16 = 160;
const ROWS: u16 = 50;
/// alacritty's scrollback, in lines: its default (what a user of it gets).
const ALACRITTY_HISTORY: usize = 10_000;
const CHUNK: usize = 4096;
const REPS: usize = 5;

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

/// Our renderer, as the kernel drives it.
fn render_secs(bytes: &[u8]) -> f64 {
    let start = Instant::now();
    let mut r = Renderer::new(COLS, ROWS);
    let mut out = 0usize;
    for chunk in bytes.chunks(CHUNK) {
        r.feed(chunk);
        out += r.take_finished().len();
        black_box(r.take_replies());
    }
    out += r.finish().len();
    black_box(out);
    start.elapsed().as_secs_f64()
}

/// A `Perform` that records every callback: each one's kind and arguments are folded into
/// a checksum, which the optimiser cannot drop since it ends in `black_box`.
#[derive(Default)]
struct Recorder {
    sum: u64,
}

impl Recorder {
    #[inline(always)]
    fn fold(&mut self, v: u64) {
        self.sum = (self.sum.rotate_left(5) ^ v).wrapping_mul(0x0100_0000_01b3);
    }

    fn fold_params(&mut self, params: &vte::Params, inter: &[u8], ignore: bool, c: char) {
        for p in params.iter() {
            for &v in p {
                self.fold(u64::from(v));
            }
            self.fold(0x10000);
        }
        for &b in inter {
            self.fold(u64::from(b));
        }
        self.fold(u64::from(ignore) << 32 | u64::from(c));
    }
}

impl vte::Perform for Recorder {
    fn print(&mut self, c: char) {
        self.fold(u64::from(c));
    }
    fn execute(&mut self, byte: u8) {
        self.fold(1 << 40 | u64::from(byte));
    }
    fn hook(&mut self, params: &vte::Params, inter: &[u8], ignore: bool, c: char) {
        self.fold(2 << 40);
        self.fold_params(params, inter, ignore, c);
    }
    fn put(&mut self, byte: u8) {
        self.fold(3 << 40 | u64::from(byte));
    }
    fn unhook(&mut self) {
        self.fold(4 << 40);
    }
    fn osc_dispatch(&mut self, params: &[&[u8]], bell_terminated: bool) {
        self.fold(5 << 40 | u64::from(bell_terminated));
        for p in params {
            for &b in *p {
                self.fold(u64::from(b));
            }
            self.fold(0x100);
        }
    }
    fn csi_dispatch(&mut self, params: &vte::Params, inter: &[u8], ignore: bool, c: char) {
        self.fold(6 << 40);
        self.fold_params(params, inter, ignore, c);
    }
    fn esc_dispatch(&mut self, inter: &[u8], ignore: bool, byte: u8) {
        self.fold(7 << 40 | u64::from(ignore) << 8 | u64::from(byte));
        for &b in inter {
            self.fold(u64::from(b));
        }
    }
}

/// vte's bare parser into the recorder.
fn vte_secs(bytes: &[u8]) -> f64 {
    let start = Instant::now();
    let mut parser = vte::Parser::new();
    let mut rec = Recorder::default();
    for chunk in bytes.chunks(CHUNK) {
        parser.advance(&mut rec, chunk);
        black_box(rec.sum);
    }
    black_box(rec.sum);
    start.elapsed().as_secs_f64()
}

struct Size;

impl Dimensions for Size {
    fn total_lines(&self) -> usize {
        self.screen_lines()
    }
    fn screen_lines(&self) -> usize {
        usize::from(ROWS)
    }
    fn columns(&self) -> usize {
        usize::from(COLS)
    }
}

/// alacritty_terminal's emulator on the same bytes.
fn alacritty_secs(bytes: &[u8]) -> f64 {
    let start = Instant::now();
    let config = Config {
        scrolling_history: ALACRITTY_HISTORY,
        ..Config::default()
    };
    let mut term = alacritty_terminal::Term::new(config, &Size, VoidListener);
    let mut processor: Processor = Processor::new();
    for chunk in bytes.chunks(CHUNK) {
        processor.advance(&mut term, chunk);
    }
    black_box(term.grid().cursor.point);
    black_box(&term);
    start.elapsed().as_secs_f64()
}

/// The fastest of `REPS` runs of each, taken in turn.
fn best(bytes: &[u8]) -> [f64; 4] {
    let mut best = [f64::INFINITY; 4];
    for _ in 0..REPS {
        let t = [
            render_secs(bytes),
            vte_secs(bytes),
            alacritty_secs(bytes),
            common::copy_secs(bytes),
        ];
        for (b, t) in best.iter_mut().zip(t) {
            *b = b.min(t);
        }
    }
    best
}

fn row(name: &str, bytes: usize, t: &[f64; 4]) {
    let [render, vte, alacritty, copy] = t.map(|s| common::mbps(bytes, s));
    println!(
        "{name:<14} {:>7.1} {:>12.1} {:>10.1} {:>10.1} {:>15.1} {:>9.2} {:>15.2}",
        bytes as f64 / 1e6,
        render,
        copy,
        vte,
        alacritty,
        render / vte,
        render / alacritty,
    );
}

fn main() {
    let corpus = corpus();
    let mut total = 0usize;
    let mut sum = [0f64; 4];
    println!(
        "{:<14} {:>7} {:>12} {:>10} {:>10} {:>15} {:>9} {:>15}",
        "stream",
        "MB",
        "render MB/s",
        "copy MB/s",
        "vte MB/s",
        "alacritty MB/s",
        "ours/vte",
        "ours/alacritty"
    );
    for (name, bytes) in &corpus {
        let t = best(bytes);
        row(name, bytes.len(), &t);
        total += bytes.len();
        for (s, t) in sum.iter_mut().zip(t) {
            *s += t;
        }
    }
    row("all", total, &sum);
}
