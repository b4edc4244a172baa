//! The ZMTP 3.0 greeting (RFC 23, "The Greeting"): 64 octets that each side sends
//! first. Pure: building ours and judging the peer's.

/// RFC 23: `greeting = signature version mechanism as-server filler` = 64 octets.
pub(crate) const GREETING_LEN: usize = 64;
/// Signature (10 octets) plus major version: enough to reject a non-ZMTP or
/// pre-3.0 peer before waiting for the rest.
pub(crate) const GREETING_PREFIX_LEN: usize = 11;

/// Our greeting: signature `FF 00*8 7F`, version 3.0, mechanism "NULL",
/// as-server 0 (RFC 23: NULL ignores it), 31 filler zeros. We announce 3.0 rather
/// than 3.1 so that libzmq sends subscriptions as 3.0-style messages; we accept
/// the 3.1 commands as well (RFC 37).
pub(crate) fn ours() -> [u8; GREETING_LEN] {
    let mut g = [0u8; GREETING_LEN];
    g[0] = 0xff;
    g[9] = 0x7f;
    g[10] = 3;
    g[11] = 0;
    g[12..16].copy_from_slice(b"NULL");
    g
}

/// Why we will not talk to a peer after its greeting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GreetingError {
    #[error("did not send a ZMTP signature (first bytes {first:02x?})")]
    NotZmtp { first: [u8; 10] },
    #[error("speaks ZMTP {major}.x; only 3.x is supported")]
    OldVersion { major: u8 },
    #[error("asked for security mechanism {mechanism:?}; only NULL is supported")]
    Mechanism { mechanism: String },
}

/// Check the signature and major version (RFC 23: `signature = %xFF padding %x7F`,
/// the padding being any 8 octets; `version = %x03 %x00`, and a 3.x peer with a
/// higher minor speaks compatible framing).
pub(crate) fn check_prefix(p: &[u8; GREETING_PREFIX_LEN]) -> Result<(), GreetingError> {
    if p[0] != 0xff || p[9] != 0x7f {
        let mut first = [0u8; 10];
        first.copy_from_slice(&p[..10]);
        return Err(GreetingError::NotZmtp { first });
    }
    if p[10] < 3 {
        return Err(GreetingError::OldVersion { major: p[10] });
    }
    Ok(())
}

/// Check a whole greeting: the prefix, then the mechanism (20 octets, NUL padded).
pub(crate) fn check(g: &[u8; GREETING_LEN]) -> Result<(), GreetingError> {
    let mut prefix = [0u8; GREETING_PREFIX_LEN];
    prefix.copy_from_slice(&g[..GREETING_PREFIX_LEN]);
    check_prefix(&prefix)?;
    let mechanism = &g[12..32];
    let name_len = mechanism.iter().position(|&b| b == 0).unwrap_or(20);
    if &mechanism[..name_len] != b"NULL" || mechanism[name_len..].iter().any(|&b| b != 0) {
        return Err(GreetingError::Mechanism {
            mechanism: String::from_utf8_lossy(&mechanism[..name_len]).into_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_is_64_bytes_and_valid() {
        let g = ours();
        assert_eq!(&g[..12], b"\xff\0\0\0\0\0\0\0\0\x7f\x03\x00");
        assert_eq!(&g[12..32], b"NULL\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        assert!(g[32..].iter().all(|&b| b == 0));
        assert_eq!(check(&g), Ok(()));
    }

    #[test]
    fn libzmq_style_greeting_is_accepted() {
        // libzmq 4.x puts its routing-id length + 1 in the padding and says 3.1.
        let mut g = ours();
        g[8] = 1;
        g[11] = 1;
        g[32] = 1;
        assert_eq!(check(&g), Ok(()));
    }

    #[test]
    fn http_is_not_zmtp() {
        let mut g = [0u8; GREETING_LEN];
        g[..16].copy_from_slice(b"GET / HTTP/1.1\r\n");
        assert!(matches!(check(&g), Err(GreetingError::NotZmtp { .. })));
    }

    #[test]
    fn zmtp_2_is_rejected() {
        let mut g = ours();
        g[10] = 1;
        assert_eq!(check(&g), Err(GreetingError::OldVersion { major: 1 }));
    }

    #[test]
    fn curve_and_plain_are_rejected() {
        for mech in [&b"CURVE"[..], b"PLAIN", b"NULLX"] {
            let mut g = ours();
            g[12..32].fill(0);
            g[12..12 + mech.len()].copy_from_slice(mech);
            assert!(
                matches!(check(&g), Err(GreetingError::Mechanism { .. })),
                "{mech:?}"
            );
        }
    }
}
