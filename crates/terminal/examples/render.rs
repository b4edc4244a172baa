//! Render a byte stream file as a cell would save it, or as the screen shows it.
//!
//!     cargo run -p sshpty-terminal --example render -- [--screen] [--size COLSxROWS] FILE
//!
//! Used to compare with tmux by hand (tests/recordings/README.md) and to look at what a
//! recording renders to.

use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut screen, mut size, mut file) = (false, (160u16, 24u16), None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--screen" => screen = true,
            "--size" => {
                let s = args.next().unwrap_or_default();
                let parsed = s
                    .split_once('x')
                    .and_then(|(c, r)| Some((c.parse().ok()?, r.parse().ok()?)));
                match parsed {
                    Some(p) => size = p,
                    None => {
                        eprintln!("--size wants COLSxROWS, e.g. 160x24, not {s:?}");
                        std::process::exit(2);
                    }
                }
            }
            _ => file = Some(a),
        }
    }
    let Some(file) = file else {
        eprintln!("usage: render [--screen] [--size COLSxROWS] FILE");
        std::process::exit(2);
    };
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read {file}: {e}");
            std::process::exit(1);
        }
    };
    let mut r = terminal::Renderer::new(size.0, size.1);
    r.feed(&bytes);
    let out = if screen {
        r.screen_text()
    } else {
        r.take_finished() + &r.finish()
    };
    let _ = std::io::stdout().write_all(out.as_bytes());
}
