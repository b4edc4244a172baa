//! The prompt detector (`terminal::prompt`) watching a renderer fed arbitrary output, checked
//! as the kernel checks it: after each chunk (idle zero) and on timer ticks (idle past
//! `IDLE_FOR_PROMPT`), with and without a sudo marker.
//!
//! Input: a control byte (cut points, which chunks get a timer tick, whether an answered
//! prompt's line is dropped), the width and the height, then the output.
//!
//! Invariants: nothing panics; without a marker no prompt is the kernel's sudo prompt, and
//! with one, only output that printed every character of the marker can make one (a program
//! that does not know the per-cell nonce cannot get the remembered password); the kernel's
//! sudo prompt is a password box; no prompt's text shows the marker; before the output has
//! been quiet for `IDLE_FOR_PROMPT` only the kernel's sudo prompt counts, and in screen mode
//! only sudo's questions under the marker;
//! a prompt's text is trimmed and not empty; a prompt is reported at most once per burst of
//! output. Then the same bytes go through `terminal::fuzzing::check_prompts` (its own size
//! byte; every decision the same however the output is cut).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use terminal::Renderer;
use terminal::prompt::{Detector, IDLE_FOR_PROMPT, Prompt, PromptKind};

const MARKER: &str = "Zq7xK9";

fuzz_target!(|data: &[u8]| {
    let [control, c, r, stream @ ..] = data else {
        return;
    };
    let cols = u16::from(*c % 160) + 1;
    let rows = u16::from(*r % 50) + 1;
    // A program lacking one of the marker's characters cannot draw the marker.
    let can_forge = MARKER.bytes().all(|m| stream.contains(&m));
    run(*control, cols, rows, stream, None, false);
    run(*control, cols, rows, stream, Some(MARKER), can_forge);
    terminal::fuzzing::check_prompts(data);
});

fn run(control: u8, cols: u16, rows: u16, stream: &[u8], marker: Option<&str>, can_forge: bool) {
    let mut screen = Renderer::new(cols, rows);
    let mut detector = Detector::new(marker);
    let mut h = u32::from(control).wrapping_mul(0x9e37_79b9) | 1;
    let mut start = 0;
    while start < stream.len() {
        h = (h ^ u32::from(stream[start])).wrapping_mul(0x0100_0193);
        let end = (start + 1 + (h % 23) as usize).min(stream.len());
        screen.feed(&stream[start..end]);
        start = end;
        let _ = screen.take_finished();
        let _ = screen.take_replies();
        detector.output();
        // After each chunk: idle zero.
        if let Some(p) = detector.check(&screen, Duration::ZERO) {
            verify(&p, &screen, marker, can_forge, false);
            answered(&mut detector, &mut screen, control);
        }
        // Some chunks are followed by a quiet spell long enough for any prompt.
        if (h >> 8) % 3 == 0 {
            let idle = IDLE_FOR_PROMPT + Duration::from_millis(u64::from(h >> 24));
            if let Some(p) = detector.check(&screen, idle) {
                verify(&p, &screen, marker, can_forge, true);
                answered(&mut detector, &mut screen, control);
            }
        } else if (h >> 8) % 3 == 1 {
            let short = IDLE_FOR_PROMPT - Duration::from_millis(1 + u64::from(h >> 24));
            if let Some(p) = detector.check(&screen, short) {
                verify(&p, &screen, marker, can_forge, false);
                answered(&mut detector, &mut screen, control);
            }
        }
    }
    if let Some(p) = detector.check(&screen, Duration::from_secs(1)) {
        verify(&p, &screen, marker, can_forge, true);
        answered(&mut detector, &mut screen, control);
    }
    let _ = screen.finish();
}

fn verify(p: &Prompt, screen: &Renderer, marker: Option<&str>, can_forge: bool, settled: bool) {
    assert!(!p.text.is_empty(), "empty prompt text");
    assert_eq!(p.text.trim(), p.text, "prompt text not trimmed");
    if let Some(m) = marker {
        assert!(
            !p.text.contains(m),
            "the marker shows in the prompt: {:?}",
            p.text
        );
    }
    if p.sudo.is_some() {
        assert!(marker.is_some(), "a sudo prompt without a sudo marker");
        assert!(
            can_forge,
            "a sudo prompt from output that never printed the marker"
        );
        assert_eq!(
            p.kind,
            PromptKind::Password,
            "sudo prompt is not a password box"
        );
    } else {
        assert!(settled, "a prompt before the output was quiet: {p:?}");
        // Under a full-screen program only sudo's own questions count: besides the password
        // one, the other PAM questions sudo-rs asks under the marker (not `sudo`, as they are
        // not the password).
        let sudos = marker.is_some() && can_forge;
        assert!(
            !screen.screen_mode() || sudos,
            "a prompt in screen mode: {p:?}"
        );
    }
}

/// What the kernel does with an answered prompt: at most one report per burst, then the
/// prompt line dropped (or the echo of the answer expected), and the answer's echo arrives.
fn answered(detector: &mut Detector, screen: &mut Renderer, control: u8) {
    assert!(
        detector.check(screen, Duration::from_secs(5)).is_none(),
        "a prompt reported twice in one burst"
    );
    if control & 1 != 0 {
        screen.drop_prompt_line();
    } else {
        screen.forget_echo("answer");
    }
    screen.feed(b"answer\r\n");
    detector.output();
}
