//! Interop harness for `jupyter::zmtp` against real libzmq (pyzmq): binds a
//! ROUTER, a PUB and a heartbeat on 127.0.0.1, prints their ports as one JSON
//! line, then serves until stdin closes.
//!
//! ROUTER: every message is sent back to its sender unchanged and published on
//! the PUB socket as `[b"echo", identity, frames...]`. A message `[b"publish",
//! topic, n]` instead publishes `n` messages `[topic, i]` (to test filtering).
//!
//! Driven by `examples/zmtp_interop.py` (pyzmq DEALER, REQ, SUB); see there.

use std::io::Read;

use jupyter::zmtp::{Bytes, Limits, PubSocket, RouterSocket, serve_heartbeat};

struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        eprintln!("[{}] {}", record.level(), record.args());
    }
    fn flush(&self) {}
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    log::set_logger(&StderrLogger).map_err(|e| std::io::Error::other(e.to_string()))?;
    log::set_max_level(log::LevelFilter::Info);
    let mut router = RouterSocket::bind("127.0.0.1", 0, Limits::default()).await?;
    let iopub = PubSocket::bind("127.0.0.1", 0, Limits::default()).await?;
    let (hb_port, _hb) = serve_heartbeat("127.0.0.1", 0, Limits::default()).await?;
    println!(
        "{{\"shell\": {}, \"iopub\": {}, \"hb\": {}}}",
        router.port(),
        iopub.port(),
        hb_port
    );

    let (stdin_closed_tx, mut stdin_closed) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        let _ = stdin_closed_tx.send(());
    });

    let sender = router.sender();
    let publisher = iopub.publisher();
    loop {
        let (identity, frames) = tokio::select! {
            m = router.recv() => match m {
                Some(m) => m,
                None => break,
            },
            _ = &mut stdin_closed => break,
        };
        if frames.len() == 3 && frames[0] == "publish" {
            let n: u32 = std::str::from_utf8(&frames[2])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            for i in 0..n {
                publisher.publish(vec![frames[1].clone(), Bytes::from(i.to_string())]);
            }
        } else {
            let mut echo = vec![Bytes::from_static(b"echo"), identity.clone()];
            echo.extend(frames.iter().cloned());
            publisher.publish(echo);
        }
        if let Err(e) = sender.send(&identity, frames) {
            eprintln!("reply to {identity:?} failed: {e}");
        }
    }
    Ok(())
}
