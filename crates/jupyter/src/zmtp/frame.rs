//! ZMTP 3.0 framing (RFC 23, "Framing"): a pure, push-style decoder and the
//! frame-header encoder. No I/O and no clock, so it is unit- and property-tested.
//!
//! Every size a peer announces is checked against [`FrameLimits`] *before*
//! anything is reserved, and a frame body is collected only as its bytes actually
//! arrive: a header announcing 2^40 bytes costs nothing, and one announcing 60 MiB
//! followed by 10 bytes costs 10 bytes.

use bytes::{Buf, Bytes, BytesMut};

/// RFC 23 "Framing": bit 0, more frames of this message follow.
pub(crate) const FLAG_MORE: u8 = 0x01;
/// RFC 23 "Framing": bit 1, the size field is 8 octets (network order), not 1.
pub(crate) const FLAG_LONG: u8 = 0x02;
/// RFC 23 "Framing": bit 2, this frame is a command, not a message frame.
pub(crate) const FLAG_COMMAND: u8 = 0x04;
/// RFC 23 "Framing": "bits 7-3 are reserved ... SHALL be zero".
const RESERVED_BITS: u8 = !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND);

/// The longest frame header: flags + 8-octet size.
pub(crate) const MAX_HEADER: usize = 9;

/// What the decoder yields: a complete multipart message, or one command
/// (RFC 23: `traffic = *(command / message)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete message: all its frames, never empty.
    Message(Vec<Bytes>),
    /// A command body: `name-size name data` (parsed by [`super::command`]).
    Command(Bytes),
}

/// The bounds the decoder enforces; taken from [`super::Limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    pub max_frame: usize,
    pub max_message: usize,
    pub max_frames: usize,
}

/// Why a byte stream is not acceptable ZMTP 3.0 traffic. Each is fatal for the
/// connection that sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "sent frame flags {flags:#04x}: reserved bits set (RFC 23 allows only MORE, LONG, COMMAND)"
    )]
    ReservedFlags { flags: u8 },
    #[error("announced a {announced}-byte frame, over the {max}-byte frame limit")]
    FrameTooLarge { announced: u64, max: usize },
    #[error("sent a message of at least {total} bytes, over the {max}-byte message limit")]
    MessageTooLarge { total: u64, max: usize },
    #[error("sent a message of more than {max} frames")]
    TooManyFrames { max: usize },
    #[error("sent a command frame with the MORE flag (RFC 23: SHALL be zero on commands)")]
    CommandWithMore,
    #[error("sent a command in the middle of a multipart message")]
    CommandInsideMessage,
}

/// A frame whose header has been read and whose body is still arriving.
#[derive(Debug)]
struct Pending {
    flags: u8,
    len: usize,
    /// Grows only with bytes actually received (never reserved to `len`).
    body: BytesMut,
}

/// Push decoder: feed it the bytes read so far, take events out.
#[derive(Debug)]
pub struct Decoder {
    limits: FrameLimits,
    pending: Option<Pending>,
    /// Frames of the message being assembled (all had MORE set).
    parts: Vec<Bytes>,
    /// Sum of the sizes in `parts` plus the pending frame's announced size.
    msg_bytes: u64,
}

impl Decoder {
    pub fn new(limits: FrameLimits) -> Decoder {
        Decoder {
            limits,
            pending: None,
            parts: Vec::new(),
            msg_bytes: 0,
        }
    }

    /// Consume what it can of `src` and return the next complete event, or
    /// `Ok(None)` when `src` holds no complete event yet (everything usable has been
    /// taken from `src`; at most a partial frame header is left in it). After an
    /// error the decoder must be dropped along with its connection.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Event>, DecodeError> {
        loop {
            let pending = match self.pending.as_mut() {
                Some(p) => p,
                None => {
                    let Some((flags, len, header_len)) = parse_header(src)? else {
                        return Ok(None);
                    };
                    let len = self.admit(flags, len)?;
                    src.advance(header_len);
                    self.pending.insert(Pending {
                        flags,
                        len,
                        body: BytesMut::new(),
                    })
                }
            };
            let missing = pending.len - pending.body.len();
            let frame = if pending.body.is_empty() && src.len() >= missing {
                // The whole body is already buffered: hand it out without a copy.
                src.split_to(missing).freeze()
            } else {
                let take = missing.min(src.len());
                pending.body.extend_from_slice(&src[..take]);
                src.advance(take);
                if pending.body.len() < pending.len {
                    return Ok(None);
                }
                pending.body.split().freeze()
            };
            let flags = pending.flags;
            self.pending = None;
            if flags & FLAG_COMMAND != 0 {
                return Ok(Some(Event::Command(frame)));
            }
            self.parts.push(frame);
            if flags & FLAG_MORE == 0 {
                self.msg_bytes = 0;
                return Ok(Some(Event::Message(std::mem::take(&mut self.parts))));
            }
        }
    }

    /// Check a frame header against the protocol and the limits before any of its
    /// body is accepted; returns the body size as usize.
    fn admit(&mut self, flags: u8, len: u64) -> Result<usize, DecodeError> {
        let too_large = DecodeError::FrameTooLarge {
            announced: len,
            max: self.limits.max_frame,
        };
        let len_usize = usize::try_from(len).map_err(|_| too_large.clone())?;
        if len_usize > self.limits.max_frame {
            return Err(too_large);
        }
        if flags & FLAG_COMMAND != 0 {
            if flags & FLAG_MORE != 0 {
                return Err(DecodeError::CommandWithMore);
            }
            if !self.parts.is_empty() {
                return Err(DecodeError::CommandInsideMessage);
            }
            return Ok(len_usize);
        }
        if self.parts.len() >= self.limits.max_frames {
            return Err(DecodeError::TooManyFrames {
                max: self.limits.max_frames,
            });
        }
        let total = self.msg_bytes.saturating_add(len);
        if total > self.limits.max_message as u64 {
            return Err(DecodeError::MessageTooLarge {
                total,
                max: self.limits.max_message,
            });
        }
        self.msg_bytes = total;
        Ok(len_usize)
    }

    /// Bytes held for the frame being received; lets tests show that an announced
    /// size is never reserved up front.
    #[cfg(test)]
    pub(crate) fn pending_capacity(&self) -> usize {
        self.pending.as_ref().map_or(0, |p| p.body.capacity())
    }
}

/// `(flags, size, header length)` if `src` starts with a complete frame header.
/// Reserved flag bits are rejected as soon as the flags octet is there.
fn parse_header(src: &[u8]) -> Result<Option<(u8, u64, usize)>, DecodeError> {
    let Some(&flags) = src.first() else {
        return Ok(None);
    };
    if flags & RESERVED_BITS != 0 {
        return Err(DecodeError::ReservedFlags { flags });
    }
    if flags & FLAG_LONG != 0 {
        let Some(size) = src.get(1..MAX_HEADER) else {
            return Ok(None);
        };
        let mut be = [0u8; 8];
        be.copy_from_slice(size);
        Ok(Some((flags, u64::from_be_bytes(be), MAX_HEADER)))
    } else {
        match src.get(1) {
            Some(&size) => Ok(Some((flags, u64::from(size), 2))),
            None => Ok(None),
        }
    }
}

/// Encode a frame header (RFC 23: short form for sizes up to 255, long otherwise).
/// `flags` is MORE and/or COMMAND; LONG is added here when needed.
pub(crate) fn header(flags: u8, len: usize) -> ([u8; MAX_HEADER], usize) {
    let mut out = [0u8; MAX_HEADER];
    match u8::try_from(len) {
        Ok(short) => {
            out[0] = flags;
            out[1] = short;
            (out, 2)
        }
        Err(_) => {
            out[0] = flags | FLAG_LONG;
            out[1..].copy_from_slice(&(len as u64).to_be_bytes());
            (out, MAX_HEADER)
        }
    }
}

/// Append a whole message to `dst` (frames copied: for tests and small messages;
/// the socket writer sends large bodies without this copy).
#[cfg(test)]
pub(crate) fn encode_message(frames: &[Bytes], dst: &mut BytesMut) {
    for (i, frame) in frames.iter().enumerate() {
        let more = if i + 1 < frames.len() { FLAG_MORE } else { 0 };
        let (h, n) = header(more, frame.len());
        dst.extend_from_slice(&h[..n]);
        dst.extend_from_slice(frame);
    }
}

/// Append one command frame with this body to `dst`.
pub(crate) fn encode_command(body: &[u8], dst: &mut BytesMut) {
    let (h, n) = header(FLAG_COMMAND, body.len());
    dst.extend_from_slice(&h[..n]);
    dst.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: FrameLimits = FrameLimits {
        max_frame: 1 << 20,
        max_message: 4 << 20,
        max_frames: 1024,
    };

    fn decode_all(dec: &mut Decoder, src: &mut BytesMut) -> Result<Vec<Event>, DecodeError> {
        let mut out = Vec::new();
        while let Some(ev) = dec.decode(src)? {
            out.push(ev);
        }
        Ok(out)
    }

    fn decode_bytes(bytes: &[u8]) -> Result<Vec<Event>, DecodeError> {
        decode_all(&mut Decoder::new(LIMITS), &mut BytesMut::from(bytes))
    }

    fn msg(frames: &[&[u8]]) -> Event {
        Event::Message(frames.iter().map(|f| Bytes::copy_from_slice(f)).collect())
    }

    #[test]
    fn short_single_frame() {
        assert_eq!(decode_bytes(b"\x00\x03abc"), Ok(vec![msg(&[b"abc"])]));
    }

    #[test]
    fn empty_frame_is_a_message() {
        assert_eq!(decode_bytes(b"\x00\x00"), Ok(vec![msg(&[b""])]));
    }

    #[test]
    fn multipart_short_and_long() {
        let mut bytes = b"\x01\x00\x01\x02hi".to_vec();
        bytes.extend_from_slice(b"\x02\x00\x00\x00\x00\x00\x00\x01\x00");
        bytes.extend_from_slice(&[7u8; 256]);
        assert_eq!(
            decode_bytes(&bytes),
            Ok(vec![msg(&[b"", b"hi", &[7u8; 256]])])
        );
    }

    #[test]
    fn long_frame_with_small_size_is_accepted() {
        // RFC 23 does not require the short form for small sizes.
        assert_eq!(
            decode_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00\x02ok"),
            Ok(vec![msg(&[b"ok"])])
        );
    }

    #[test]
    fn short_and_long_commands() {
        let mut bytes = b"\x04\x05\x04PING".to_vec();
        bytes.extend_from_slice(b"\x06\x00\x00\x00\x00\x00\x00\x01\x00");
        bytes.extend_from_slice(&[1u8; 256]);
        assert_eq!(
            decode_bytes(&bytes),
            Ok(vec![
                Event::Command(Bytes::from_static(b"\x04PING")),
                Event::Command(Bytes::from(vec![1u8; 256])),
            ])
        );
    }

    #[test]
    fn partial_header_waits_for_more() {
        let mut dec = Decoder::new(LIMITS);
        let mut src = BytesMut::from(&b"\x02\x00\x00"[..]);
        assert_eq!(dec.decode(&mut src), Ok(None));
        assert_eq!(src.len(), 3, "a partial header stays in the buffer");
    }

    #[test]
    fn reserved_flag_bits_are_rejected() {
        for bit in 3..8 {
            let flags = 1u8 << bit;
            assert_eq!(
                decode_bytes(&[flags]),
                Err(DecodeError::ReservedFlags { flags }),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn command_with_more_is_rejected() {
        assert_eq!(decode_bytes(b"\x05\x00"), Err(DecodeError::CommandWithMore));
    }

    #[test]
    fn command_inside_message_is_rejected() {
        assert_eq!(
            decode_bytes(b"\x01\x00\x04\x00"),
            Err(DecodeError::CommandInsideMessage)
        );
    }

    #[test]
    fn huge_long_frame_is_rejected_before_allocation() {
        let mut dec = Decoder::new(LIMITS);
        let mut src = BytesMut::from(&b"\x02\x00\x00\x01\x00\x00\x00\x00\x00more"[..]);
        assert_eq!(
            dec.decode(&mut src),
            Err(DecodeError::FrameTooLarge {
                announced: 1 << 40,
                max: LIMITS.max_frame
            })
        );
        assert_eq!(dec.pending_capacity(), 0);
        // u64::MAX does not fit usize on any platform we build for either.
        assert!(matches!(
            decode_bytes(&[0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn announced_size_is_not_reserved_up_front() {
        // Even with no frame limit, a 2^40 announcement followed by 10 bytes holds
        // only about those bytes.
        let mut dec = Decoder::new(FrameLimits {
            max_frame: usize::MAX,
            max_message: usize::MAX,
            max_frames: 8,
        });
        let mut src = BytesMut::from(&b"\x02\x00\x00\x01\x00\x00\x00\x00\x000123456789"[..]);
        assert_eq!(dec.decode(&mut src), Ok(None));
        assert!(src.is_empty());
        assert!(
            dec.pending_capacity() <= 64 * 1024,
            "{}",
            dec.pending_capacity()
        );
    }

    #[test]
    fn message_size_is_bounded_across_frames() {
        let mut dec = Decoder::new(FrameLimits {
            max_frame: 100,
            max_message: 150,
            max_frames: 1024,
        });
        let mut src = BytesMut::new();
        src.extend_from_slice(b"\x01\x64");
        src.extend_from_slice(&[0u8; 100]);
        src.extend_from_slice(b"\x00\x64");
        assert_eq!(
            decode_all(&mut dec, &mut src),
            Err(DecodeError::MessageTooLarge {
                total: 200,
                max: 150
            })
        );
    }

    #[test]
    fn a_million_empty_frames_are_rejected() {
        let mut src = BytesMut::with_capacity(2_000_000);
        for _ in 0..1_000_000 {
            src.extend_from_slice(b"\x01\x00");
        }
        let mut dec = Decoder::new(LIMITS);
        assert_eq!(
            decode_all(&mut dec, &mut src),
            Err(DecodeError::TooManyFrames { max: 1024 })
        );
        assert!(dec.parts.len() <= 1024);
    }

    #[test]
    fn exactly_max_frames_is_accepted() {
        let mut dec = Decoder::new(FrameLimits {
            max_frames: 3,
            ..LIMITS
        });
        let mut src = BytesMut::from(&b"\x01\x00\x01\x00\x00\x00"[..]);
        assert_eq!(
            decode_all(&mut dec, &mut src),
            Ok(vec![msg(&[b"", b"", b""])])
        );
    }

    #[test]
    fn header_encoding_switches_to_long_above_255() {
        assert_eq!(header(FLAG_MORE, 255).1, 2);
        let (h, n) = header(0, 256);
        assert_eq!(&h[..n], b"\x02\x00\x00\x00\x00\x00\x00\x01\x00");
    }

    fn arb_event() -> impl Strategy<Value = Event> {
        let frame = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..8),
            proptest::collection::vec(any::<u8>(), 250..300),
        ]
        .prop_map(Bytes::from);
        prop_oneof![
            proptest::collection::vec(frame.clone(), 1..5).prop_map(Event::Message),
            frame.prop_map(Event::Command),
        ]
    }

    fn encode(events: &[Event]) -> Vec<u8> {
        let mut out = BytesMut::new();
        for ev in events {
            match ev {
                Event::Message(frames) => encode_message(frames, &mut out),
                Event::Command(body) => encode_command(body, &mut out),
            }
        }
        out.to_vec()
    }

    proptest! {
        /// Bytes arrive from TCP in arbitrary pieces: any split of a valid stream
        /// must decode to the same events as the whole stream.
        #[test]
        fn any_split_decodes_the_same(
            events in proptest::collection::vec(arb_event(), 1..8),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let bytes = encode(&events);
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            cuts.push(0);
            cuts.push(bytes.len());
            cuts.sort_unstable();
            let mut dec = Decoder::new(LIMITS);
            let mut src = BytesMut::new();
            let mut got = Vec::new();
            for w in cuts.windows(2) {
                src.extend_from_slice(&bytes[w[0]..w[1]]);
                got.extend(decode_all(&mut dec, &mut src).expect("valid stream"));
            }
            prop_assert_eq!(got, events);
            prop_assert!(src.is_empty());
        }
    }
}
