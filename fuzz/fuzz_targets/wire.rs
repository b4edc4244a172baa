//! Jupyter wire messages and the ZMTP framing under them, on arbitrary bytes.
//!
//! Input: one control byte, then the payload.
//! * control bit 1 clear: the payload is a list of frames separated by 0xFF (a byte valid
//!   UTF-8, hence JSON and hex signatures, never contains), decoded as a Jupyter message;
//! * control bit 1 set: the payload is a ZMTP byte stream, fed to the frame decoder whole and
//!   cut into pieces (cut points from the control byte and the data); each message it yields
//!   is decoded as a Jupyter message, each command parsed;
//! * control bit 0 set: the signature frame is replaced by the correct HMAC-SHA256 for the
//!   key, so the fuzzer gets past the signature check of a keyed connection.
//!
//! Invariants: nothing panics; identities are the frames before the first delimiter; a keyed
//! decode accepts a message only with the correct signature, and then agrees with an unkeyed
//! decode (the signature check changes nothing else); the ZMTP decoder yields the same events
//! and error however its input is cut, and never anything over its limits.
#![no_main]

use bytes::{Bytes, BytesMut};
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use jupyter::wire::{self, Signer, WireError};
use jupyter::zmtp::fuzzing::{DecodeError, Decoder, Event, FrameLimits, parse_command};

const DELIMITER: &[u8] = b"<IDS|MSG>";
const KEY: &[u8] = b"a2d4a7c2-5f6e-4f43-9d8b-fuzzkey";
/// Small limits so the fuzzer reaches every bound with short inputs.
const LIMITS: FrameLimits = FrameLimits {
    max_frame: 512,
    max_message: 2048,
    max_frames: 16,
};

fuzz_target!(|data: &[u8]| {
    let [control, payload @ ..] = data else {
        return;
    };
    let resign = control & 1 != 0;
    if control & 2 == 0 {
        let frames = payload
            .split(|&b| b == 0xFF)
            .map(Bytes::copy_from_slice)
            .collect();
        check_decode(frames, resign);
    } else {
        for event in zmtp_events(*control, payload) {
            match event {
                Event::Message(frames) => check_decode(frames, resign),
                Event::Command(body) => {
                    let _ = parse_command(body);
                }
            }
        }
    }
});

fn hmac_hex(parts: &[Bytes]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(KEY).expect("any key length");
    for p in parts {
        mac.update(p);
    }
    hex::encode(mac.finalize().into_bytes())
}

fn check_decode(mut frames: Vec<Bytes>, resign: bool) {
    let delim = frames.iter().position(|f| f.as_ref() == DELIMITER);
    if let Some(d) = delim
        && resign
        && frames.len() >= d + 6
    {
        frames[d + 1] = Bytes::from(hmac_hex(&frames[d + 2..d + 6]));
    }
    let plain = wire::decode(&Signer::new(b""), frames.clone());
    let keyed = wire::decode(&Signer::new(KEY), frames.clone());

    let Some(d) = delim else {
        for r in [&plain, &keyed] {
            let f = r.as_ref().expect_err("accepted without a delimiter");
            assert!(matches!(f.error, WireError::NoDelimiter));
            assert!(f.identities.is_empty());
        }
        return;
    };
    for r in [&plain, &keyed] {
        let ids = match r {
            Ok(req) => &req.identities,
            Err(f) => &f.identities,
        };
        assert_eq!(
            ids[..],
            frames[..d],
            "identities are not the frames before <IDS|MSG>"
        );
    }
    let after = frames.len() - d - 1;
    if after < 5 {
        for r in [&plain, &keyed] {
            let f = r.as_ref().expect_err("accepted with too few frames");
            assert!(matches!(f.error, WireError::TooFewFrames(n) if n == after));
        }
        return;
    }
    let correct = hmac_hex(&frames[d + 2..d + 6]);
    if !frames[d + 1].eq_ignore_ascii_case(correct.as_bytes()) {
        let f = keyed.as_ref().expect_err("accepted with a wrong signature");
        assert!(matches!(f.error, WireError::BadSignature), "{:?}", f.error);
        return;
    }
    match (&plain, &keyed) {
        (Ok(a), Ok(b)) => {
            assert_eq!(format!("{:?}", a.message), format!("{:?}", b.message));
            assert_eq!(a.message.buffers[..], frames[d + 6..]);
        }
        (Err(a), Err(b)) => assert_eq!(a.error.to_string(), b.error.to_string()),
        _ => panic!("the signature check changed the outcome of a correctly signed message"),
    }
}

/// Decode `stream` whole and in pieces; both must agree. Returns the events.
fn zmtp_events(control: u8, stream: &[u8]) -> Vec<Event> {
    let whole = decode_chunks(stream, &[]);
    let mut cuts = Vec::new();
    let mut h = u32::from(control).wrapping_mul(0x9e37_79b9) | 1;
    let mut at = 0usize;
    for &b in stream {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        at += 1 + (h % 13) as usize;
        if at >= stream.len() {
            break;
        }
        cuts.push(at);
    }
    let split = decode_chunks(stream, &cuts);
    assert_eq!(
        whole, split,
        "ZMTP decoding depends on how the bytes arrive"
    );
    whole.0
}

fn decode_chunks(stream: &[u8], cuts: &[usize]) -> (Vec<Event>, Option<DecodeError>) {
    let mut dec = Decoder::new(LIMITS);
    let mut src = BytesMut::new();
    let mut events = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
        src.extend_from_slice(&stream[start..cut]);
        start = cut;
        loop {
            match dec.decode(&mut src) {
                Ok(Some(ev)) => {
                    match &ev {
                        Event::Message(frames) => {
                            assert!(!frames.is_empty(), "empty message");
                            assert!(frames.len() <= LIMITS.max_frames, "too many frames");
                            assert!(frames.iter().all(|f| f.len() <= LIMITS.max_frame));
                            let total: usize = frames.iter().map(Bytes::len).sum();
                            assert!(total <= LIMITS.max_message, "message over the limit");
                        }
                        Event::Command(body) => assert!(body.len() <= LIMITS.max_frame),
                    }
                    events.push(ev);
                }
                Ok(None) => {
                    // Documented: at most a partial frame header is left behind.
                    assert!(src.len() < 9, "decoder left {} bytes unread", src.len());
                    break;
                }
                Err(e) => return (events, Some(e)),
            }
        }
    }
    (events, None)
}
