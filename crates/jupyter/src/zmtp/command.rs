//! ZMTP commands (RFC 23 "Commands", RFC 37 for PING/PONG/SUBSCRIBE/CANCEL) and
//! socket types (RFC 23 "Socket Semantics"). Pure: parse a command body, build
//! the ones we send.

use bytes::{BufMut, Bytes, BytesMut};

/// The socket types of RFC 23 "Socket Semantics".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketType {
    Req,
    Rep,
    Dealer,
    Router,
    Pub,
    Sub,
    XPub,
    XSub,
    Push,
    Pull,
    Pair,
}

impl SocketType {
    /// The `Socket-Type` property value (RFC 23: upper case names).
    pub fn as_str(self) -> &'static str {
        match self {
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Pub => "PUB",
            SocketType::Sub => "SUB",
            SocketType::XPub => "XPUB",
            SocketType::XSub => "XSUB",
            SocketType::Push => "PUSH",
            SocketType::Pull => "PULL",
            SocketType::Pair => "PAIR",
        }
    }

    pub fn parse(name: &[u8]) -> Option<SocketType> {
        const ALL: [SocketType; 11] = [
            SocketType::Req,
            SocketType::Rep,
            SocketType::Dealer,
            SocketType::Router,
            SocketType::Pub,
            SocketType::Sub,
            SocketType::XPub,
            SocketType::XSub,
            SocketType::Push,
            SocketType::Pull,
            SocketType::Pair,
        ];
        ALL.into_iter().find(|t| t.as_str().as_bytes() == name)
    }

    /// RFC 23 "The Socket-Type property": which peer types a socket may talk to.
    pub fn accepts(self, peer: SocketType) -> bool {
        use SocketType::*;
        matches!(
            (self, peer),
            (Req, Rep | Router)
                | (Rep, Req | Dealer)
                | (Dealer, Rep | Dealer | Router)
                | (Router, Req | Dealer | Router)
                | (Pub | XPub, Sub | XSub)
                | (Sub | XSub, Pub | XPub)
                | (Push, Pull)
                | (Pull, Push)
                | (Pair, Pair)
        )
    }
}

/// The properties of a READY command that we use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ready {
    pub socket_type: Option<Bytes>,
    pub identity: Option<Bytes>,
}

/// A parsed command body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ready(Ready),
    /// RFC 37: `ping-ttl` (tenths of a second) and up to 16 octets of context.
    Ping {
        ttl: u16,
        context: Bytes,
    },
    Pong {
        context: Bytes,
    },
    /// RFC 37 SUBSCRIBE / CANCEL: the topic is the rest of the body.
    Subscribe(Bytes),
    Cancel(Bytes),
    /// RFC 23 ERROR: the peer gives up, with a reason.
    Error {
        reason: String,
    },
    /// A command we do not know; RFC 37 says to ignore it.
    Unknown {
        name: String,
    },
}

/// A command body we cannot make sense of; fatal for the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("sent a command with an empty or truncated name")]
    BadName,
    #[error("sent a malformed {command} command: {what}")]
    Malformed {
        command: &'static str,
        what: &'static str,
    },
}

/// RFC 37: PING context is at most 16 octets.
const MAX_PING_CONTEXT: usize = 16;
/// RFC 23 "The Identity property": 0 to 255 octets.
pub(crate) const MAX_IDENTITY: usize = 255;

/// Parse a command body: `name-size name data` (RFC 23 "Commands").
pub fn parse(body: Bytes) -> Result<Command, CommandError> {
    let name_len = usize::from(*body.first().ok_or(CommandError::BadName)?);
    if name_len == 0 || body.len() < 1 + name_len {
        return Err(CommandError::BadName);
    }
    let name = body.slice(1..1 + name_len);
    let data = body.slice(1 + name_len..);
    // Command names are case-sensitive in RFC 23/37 and libzmq.
    match &name[..] {
        b"READY" => parse_ready(&data).map(Command::Ready),
        b"PING" => {
            let malformed = |what| CommandError::Malformed {
                command: "PING",
                what,
            };
            let ttl = data.get(..2).ok_or(malformed("no TTL"))?;
            let ttl = u16::from_be_bytes([ttl[0], ttl[1]]);
            let context = data.slice(2..);
            if context.len() > MAX_PING_CONTEXT {
                return Err(malformed("context over 16 octets"));
            }
            Ok(Command::Ping { ttl, context })
        }
        b"PONG" => Ok(Command::Pong { context: data }),
        b"SUBSCRIBE" => Ok(Command::Subscribe(data)),
        b"CANCEL" => Ok(Command::Cancel(data)),
        b"ERROR" => {
            // RFC 23: `reason = OCTET 0*255VCHAR`; be lenient with a short body.
            let reason = match data.split_first() {
                Some((&n, rest)) => &rest[..usize::from(n).min(rest.len())],
                None => &[][..],
            };
            Ok(Command::Error {
                reason: String::from_utf8_lossy(reason).into_owned(),
            })
        }
        _ => Ok(Command::Unknown {
            name: String::from_utf8_lossy(&name).into_owned(),
        }),
    }
}

/// RFC 23 "The Metadata": `*property`, each `name-size name value-size(4 octets,
/// network order) value`. Names compare case-insensitively, as RFC 23 asks.
fn parse_ready(mut data: &[u8]) -> Result<Ready, CommandError> {
    let malformed = |what| CommandError::Malformed {
        command: "READY",
        what,
    };
    let mut ready = Ready::default();
    while let Some((&name_len, rest)) = data.split_first() {
        let name_len = usize::from(name_len);
        if name_len == 0 {
            return Err(malformed("empty property name"));
        }
        let name = rest.get(..name_len).ok_or(malformed("truncated name"))?;
        let rest = &rest[name_len..];
        let size = rest.get(..4).ok_or(malformed("truncated value size"))?;
        let size = u32::from_be_bytes([size[0], size[1], size[2], size[3]]);
        // The body is already bounded by max_frame; compare in u64 so a huge
        // size cannot overflow on 32-bit targets.
        if u64::from(size) > (rest.len() - 4) as u64 {
            return Err(malformed("property value longer than the command"));
        }
        let value = &rest[4..4 + size as usize];
        data = &rest[4 + size as usize..];
        if name.eq_ignore_ascii_case(b"Socket-Type") {
            ready.socket_type = Some(Bytes::copy_from_slice(value));
        } else if name.eq_ignore_ascii_case(b"Identity") {
            if value.len() > MAX_IDENTITY {
                return Err(malformed("Identity over 255 octets"));
            }
            ready.identity = Some(Bytes::copy_from_slice(value));
        }
    }
    Ok(ready)
}

fn command_body(name: &str, data_len: usize) -> BytesMut {
    let mut body = BytesMut::with_capacity(1 + name.len() + data_len);
    // Our names are constants shorter than 256 octets.
    body.put_u8(name.len() as u8);
    body.put_slice(name.as_bytes());
    body
}

/// Our READY: just `Socket-Type` (a ROUTER/PUB/REP has no use for an Identity).
pub fn ready(socket_type: SocketType) -> Bytes {
    let name = b"Socket-Type";
    let value = socket_type.as_str().as_bytes();
    let mut body = command_body("READY", 1 + name.len() + 4 + value.len());
    body.put_u8(name.len() as u8);
    body.put_slice(name);
    body.put_u32(value.len() as u32);
    body.put_slice(value);
    body.freeze()
}

/// RFC 37: "PONG ... SHALL echo the context of the PING".
pub fn pong(context: &[u8]) -> Bytes {
    let mut body = command_body("PONG", context.len());
    body.put_slice(context);
    body.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_round_trips() {
        assert_eq!(
            ready(SocketType::Router),
            Bytes::from_static(b"\x05READY\x0bSocket-Type\x00\x00\x00\x06ROUTER")
        );
        assert_eq!(
            parse(ready(SocketType::Pub)),
            Ok(Command::Ready(Ready {
                socket_type: Some(Bytes::from_static(b"PUB")),
                identity: None
            }))
        );
    }

    #[test]
    fn ready_with_identity_and_unknown_property() {
        let body = Bytes::from_static(
            b"\x05READY\x0bsocket-type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x03abc\x01X\x00\x00\x00\x00",
        );
        assert_eq!(
            parse(body),
            Ok(Command::Ready(Ready {
                socket_type: Some(Bytes::from_static(b"DEALER")),
                identity: Some(Bytes::from_static(b"abc")),
            }))
        );
    }

    #[test]
    fn ready_with_oversized_value_is_malformed() {
        let body = Bytes::from_static(b"\x05READY\x0bSocket-Type\xff\xff\xff\xffDEALER");
        assert!(matches!(
            parse(body),
            Err(CommandError::Malformed {
                command: "READY",
                ..
            })
        ));
        let truncated = Bytes::from_static(b"\x05READY\x0bSocket-Type\x00\x00");
        assert!(parse(truncated).is_err());
    }

    #[test]
    fn ping_pong_subscribe_cancel_error_unknown() {
        assert_eq!(
            parse(Bytes::from_static(b"\x04PING\x00\x64ctx")),
            Ok(Command::Ping {
                ttl: 100,
                context: Bytes::from_static(b"ctx")
            })
        );
        assert!(parse(Bytes::from_static(b"\x04PING\x00")).is_err());
        assert_eq!(pong(b"ctx"), Bytes::from_static(b"\x04PONGctx"));
        assert_eq!(
            parse(Bytes::from_static(b"\x09SUBSCRIBEtopic")),
            Ok(Command::Subscribe(Bytes::from_static(b"topic")))
        );
        assert_eq!(
            parse(Bytes::from_static(b"\x06CANCEL")),
            Ok(Command::Cancel(Bytes::new()))
        );
        assert_eq!(
            parse(Bytes::from_static(b"\x05ERROR\x03bad")),
            Ok(Command::Error {
                reason: "bad".into()
            })
        );
        assert_eq!(
            parse(Bytes::from_static(b"\x05HELLOxyz")),
            Ok(Command::Unknown {
                name: "HELLO".into()
            })
        );
        assert_eq!(parse(Bytes::new()), Err(CommandError::BadName));
        assert_eq!(
            parse(Bytes::from_static(b"\x09SUB")),
            Err(CommandError::BadName)
        );
    }

    #[test]
    fn socket_type_compatibility() {
        use SocketType::*;
        assert!(Router.accepts(Dealer) && Router.accepts(Req) && Router.accepts(Router));
        assert!(!Router.accepts(Sub) && !Router.accepts(Rep));
        assert!(Pub.accepts(Sub) && Pub.accepts(XSub) && !Pub.accepts(Dealer));
        assert!(Rep.accepts(Req) && Rep.accepts(Dealer) && !Rep.accepts(Router));
        assert_eq!(SocketType::parse(b"XSUB"), Some(XSub));
        assert_eq!(SocketType::parse(b"sub"), None);
    }
}
