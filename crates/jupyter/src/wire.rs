//! Jupyter messages on the wire: `[identities…, "<IDS|MSG>", signature, header,
//! parent_header, metadata, content, buffers…]`, signed with HMAC-SHA256.
//!
//! Parsing is split in steps so that a bad message is still answerable where possible:
//! the identities and the header are recovered before the content is trusted, and the
//! signature is checked (in constant time) before any JSON is parsed.

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use jupyter_protocol::{Header, JupyterMessage, JupyterMessageContent};
use serde_json::Value;
use sha2::Sha256;

const DELIMITER: &[u8] = b"<IDS|MSG>";
/// The protocol version we speak; jupyter_kernel_test requires at least 5.2 in headers.
pub const PROTOCOL_VERSION: &str = "5.3";

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("message has no <IDS|MSG> delimiter")]
    NoDelimiter,
    #[error("message has {0} frames after the delimiter; at least 5 are required")]
    TooFewFrames(usize),
    #[error("message signature is missing or wrong")]
    BadSignature,
    #[error("message header is not valid JSON: {0}")]
    BadHeader(serde_json::Error),
    #[error("{msg_type} message is malformed: {source}")]
    BadContent {
        msg_type: String,
        header: Box<Header>,
        source: serde_json::Error,
    },
}

impl WireError {
    /// The header, when it was readable: lets the kernel answer with an error reply.
    pub fn header(&self) -> Option<&Header> {
        match self {
            WireError::BadContent { header, .. } => Some(header),
            _ => None,
        }
    }
}

/// The connection's signing key. An empty key means messages are not signed (spec).
#[derive(Clone)]
pub struct Signer {
    mac: Option<Hmac<Sha256>>,
}

impl Signer {
    pub fn new(key: &[u8]) -> Signer {
        // Hmac accepts keys of any length; new_from_slice cannot fail for HMAC.
        let mac = (!key.is_empty()).then(|| {
            <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length")
        });
        Signer { mac }
    }

    fn sign(&self, parts: &[&[u8]]) -> String {
        match &self.mac {
            None => String::new(),
            Some(mac) => {
                let mut mac = mac.clone();
                for p in parts {
                    mac.update(p);
                }
                hex::encode(mac.finalize().into_bytes())
            }
        }
    }

    fn verify(&self, signature: &[u8], parts: &[&[u8]]) -> bool {
        match &self.mac {
            None => true,
            Some(mac) => {
                let Ok(expected) = hex::decode(signature) else {
                    return false;
                };
                let mut mac = mac.clone();
                for p in parts {
                    mac.update(p);
                }
                // verify_slice compares in constant time.
                mac.verify_slice(&expected).is_ok()
            }
        }
    }
}

/// A verified, parsed request, with the routing identities it came from.
#[derive(Debug, Clone)]
pub struct Request {
    pub identities: Vec<Bytes>,
    pub message: JupyterMessage,
}

impl Request {
    pub fn msg_type(&self) -> &str {
        &self.message.header.msg_type
    }
}

/// A message that could not be used, with the identities it came from (for a reply).
#[derive(Debug)]
pub struct DecodeFailure {
    pub identities: Vec<Bytes>,
    pub error: WireError,
}

/// Split frames at the delimiter, check the signature, then parse.
pub fn decode(signer: &Signer, mut frames: Vec<Bytes>) -> Result<Request, DecodeFailure> {
    let Some(pos) = frames.iter().position(|f| f.as_ref() == DELIMITER) else {
        return Err(DecodeFailure {
            identities: Vec::new(),
            error: WireError::NoDelimiter,
        });
    };
    let rest = frames.split_off(pos + 1);
    frames.pop(); // the delimiter
    let identities = frames;
    decode_parts(signer, rest)
        .map_err(|error| DecodeFailure {
            identities: identities.clone(),
            error,
        })
        .map(|mut r| {
            r.identities = identities;
            r
        })
}

fn decode_parts(signer: &Signer, rest: Vec<Bytes>) -> Result<Request, WireError> {
    if rest.len() < 5 {
        return Err(WireError::TooFewFrames(rest.len()));
    }
    let (signature, header, parent, metadata, content) =
        (&rest[0], &rest[1], &rest[2], &rest[3], &rest[4]);
    if !signer.verify(signature, &[header, parent, metadata, content]) {
        return Err(WireError::BadSignature);
    }
    let header: Header = serde_json::from_slice(header).map_err(WireError::BadHeader)?;
    let bad = |source| WireError::BadContent {
        msg_type: header.msg_type.clone(),
        header: Box::new(header.clone()),
        source,
    };
    let parent_header: Value = serde_json::from_slice(parent).map_err(bad)?;
    let parent_header = match parent_header {
        Value::Object(ref m) if m.is_empty() => None,
        Value::Null => None,
        v => serde_json::from_value::<Header>(v).ok(),
    };
    let metadata: Value = serde_json::from_slice(metadata).map_err(bad)?;
    let mut content: Value = serde_json::from_slice(content).map_err(bad)?;
    // The spec's content is a dict. jupyter-protocol keeps an unknown type's content as it
    // came, and its Debug/Display of a message unwrap a serialisation that fails for any
    // other JSON value: such a message would panic whoever logs it (found by fuzzing).
    if !content.is_object() {
        return Err(bad(serde::de::Error::custom(
            "content is not a JSON object",
        )));
    }
    fill_defaults(&header.msg_type, &mut content);
    let content =
        JupyterMessageContent::from_type_and_content(&header.msg_type, content).map_err(bad)?;
    Ok(Request {
        identities: Vec::new(),
        message: JupyterMessage {
            zmq_identities: Vec::new(),
            header,
            parent_header,
            metadata,
            content,
            buffers: rest[5..].to_vec(),
            channel: None,
        },
    })
}

/// Fields the spec makes optional but the typed content requires: filled with the
/// spec's defaults, so that a client omitting them (jupyter_client's `history()` sends no
/// `unique`) is answered instead of rejected.
fn fill_defaults(msg_type: &str, content: &mut Value) {
    let Value::Object(map) = content else { return };
    let defaults: &[(&str, Value)] = match msg_type {
        "history_request" => &[
            ("output", Value::Bool(false)),
            ("raw", Value::Bool(true)),
            ("unique", Value::Bool(false)),
            ("n", Value::from(10)),
            ("pattern", Value::from("*")),
            ("start", Value::from(0)),
            ("stop", Value::from(0)),
        ],
        "execute_request" => &[
            ("silent", Value::Bool(false)),
            ("store_history", Value::Bool(true)),
            ("user_expressions", Value::Object(Default::default())),
        ],
        "inspect_request" => &[("detail_level", Value::from(0))],
        _ => &[],
    };
    for (k, v) in defaults {
        if map.get(*k).is_none_or(Value::is_null) {
            map.insert((*k).to_owned(), v.clone());
        }
    }
}

/// Who is speaking for this kernel: the session id stamped on every header.
#[derive(Clone)]
pub struct Session {
    pub id: String,
    signer: Signer,
}

impl Session {
    pub fn new(signer: Signer) -> Session {
        Session {
            id: uuid::Uuid::new_v4().to_string(),
            signer,
        }
    }

    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Encode a message as frames. `parent` is the request it answers (if any); routing
    /// identities are prepended for ROUTER sockets, the topic for IOPub.
    pub fn encode(
        &self,
        prefix: Vec<Bytes>,
        content: &JupyterMessageContent,
        parent: Option<&Header>,
        metadata: Value,
    ) -> Vec<Bytes> {
        self.encode_with_id(prefix, content, parent, metadata).1
    }

    /// As `encode`, also returning the new message's id (replies will name it as parent).
    pub fn encode_with_id(
        &self,
        prefix: Vec<Bytes>,
        content: &JupyterMessageContent,
        parent: Option<&Header>,
        metadata: Value,
    ) -> (String, Vec<Bytes>) {
        let header = Header {
            msg_id: uuid::Uuid::new_v4().to_string(),
            username: "sshpty".into(),
            session: self.id.clone(),
            date: chrono::Utc::now(),
            msg_type: content.message_type().to_owned(),
            version: PROTOCOL_VERSION.into(),
        };
        let msg_id = header.msg_id.clone();
        let header = json(&header);
        let parent = match parent {
            Some(p) => json(p),
            None => b"{}".to_vec(),
        };
        let metadata = json(&metadata);
        let content = json(content);
        let signature = self.signer.sign(&[&header, &parent, &metadata, &content]);
        let mut frames = prefix;
        frames.push(Bytes::from_static(DELIMITER));
        frames.extend([
            Bytes::from(signature),
            Bytes::from(header),
            Bytes::from(parent),
            Bytes::from(metadata),
            Bytes::from(content),
        ]);
        (msg_id, frames)
    }
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Serialising our own typed values cannot fail (every map key is a string).
    serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jupyter_protocol::{KernelInfoRequest, Status};

    fn request_frames(signer: &Signer, content: &str) -> Vec<Bytes> {
        let session = Session::new(signer.clone());
        let mut frames = session.encode(
            vec![Bytes::from_static(b"client-1")],
            &JupyterMessageContent::KernelInfoRequest(KernelInfoRequest {}),
            None,
            serde_json::json!({}),
        );
        // Replace the content and re-sign, to test arbitrary content.
        let n = frames.len();
        frames[n - 1] = Bytes::from(content.to_owned());
        resign(signer, frames)
    }

    /// Sign the last four frames again (after a test changed them).
    fn resign(signer: &Signer, mut frames: Vec<Bytes>) -> Vec<Bytes> {
        let n = frames.len();
        let sig = signer.sign(&[
            &frames[n - 4],
            &frames[n - 3],
            &frames[n - 2],
            &frames[n - 1],
        ]);
        frames[n - 5] = Bytes::from(sig);
        frames
    }

    #[test]
    fn round_trip_signed() {
        let signer = Signer::new(b"secret");
        let req = decode(&signer, request_frames(&signer, "{}")).expect("valid");
        assert_eq!(req.identities, vec![Bytes::from_static(b"client-1")]);
        assert_eq!(req.msg_type(), "kernel_info_request");
    }

    #[test]
    fn wrong_key_is_rejected() {
        let frames = request_frames(&Signer::new(b"other"), "{}");
        assert!(matches!(
            decode(&Signer::new(b"secret"), frames).map_err(|e| e.error),
            Err(WireError::BadSignature)
        ));
    }

    #[test]
    fn unsigned_is_rejected_when_a_key_is_set() {
        let mut frames = request_frames(&Signer::new(b""), "{}");
        let n = frames.len();
        frames[n - 5] = Bytes::new();
        assert!(matches!(
            decode(&Signer::new(b"secret"), frames).map_err(|e| e.error),
            Err(WireError::BadSignature)
        ));
    }

    #[test]
    fn empty_key_means_unsigned() {
        let frames = request_frames(&Signer::new(b""), "{}");
        assert!(decode(&Signer::new(b""), frames).is_ok());
    }

    #[test]
    fn malformed_content_keeps_the_header() {
        let signer = Signer::new(b"k");
        let err = decode(&signer, request_frames(&signer, "{not json")).unwrap_err();
        assert_eq!(err.identities, vec![Bytes::from_static(b"client-1")]);
        let err = err.error;
        assert_eq!(
            err.header().map(|h| h.msg_type.as_str()),
            Some("kernel_info_request")
        );
    }

    #[test]
    fn optional_history_fields_take_their_defaults() {
        let signer = Signer::new(b"k");
        let frames = typed_frames(
            &signer,
            "history_request",
            br#"{"hist_access_type":"search","pattern":"x*"}"#,
        );
        let req = decode(&signer, frames).expect("defaults filled");
        assert!(matches!(
            req.message.content,
            JupyterMessageContent::HistoryRequest(jupyter_protocol::HistoryRequest::Search {
                unique: false,
                ..
            })
        ));
    }

    /// A signed message of `msg_type` with `content`, as a client would send it.
    fn typed_frames(signer: &Signer, msg_type: &str, content: &[u8]) -> Vec<Bytes> {
        let mut frames = request_frames(signer, "{}");
        let n = frames.len();
        let mut header: Value = serde_json::from_slice(&frames[n - 4]).unwrap();
        header["msg_type"] = msg_type.into();
        frames[n - 4] = Bytes::from(serde_json::to_vec(&header).unwrap());
        frames[n - 1] = Bytes::copy_from_slice(content);
        resign(signer, frames)
    }

    /// Regression (fuzz target `wire`): an unknown message type with a JSON string as its
    /// content was accepted, and formatting the message with `{:?}` then panicked inside
    /// jupyter-protocol. It is refused with its header kept, so it is still answered.
    #[test]
    fn content_that_is_not_an_object_is_refused() {
        let signer = Signer::new(b"k");
        for content in [&br#""-s16""#[..], b"[1]", b"null", b"3"] {
            let err = decode(&signer, typed_frames(&signer, "frob_request", content))
                .expect_err("non-object content accepted");
            assert!(
                matches!(&err.error, WireError::BadContent { msg_type, .. } if msg_type == "frob_request"),
                "{}",
                err.error
            );
        }
        let ok = decode(
            &signer,
            typed_frames(&signer, "frob_request", br#"{"a":[1]}"#),
        )
        .expect("an unknown type with object content is accepted");
        assert!(format!("{:?}", ok.message).contains("frob_request"));
    }

    #[test]
    fn missing_delimiter_and_short_messages() {
        let signer = Signer::new(b"k");
        assert!(matches!(
            decode(&signer, vec![Bytes::from_static(b"x")]).map_err(|e| e.error),
            Err(WireError::NoDelimiter)
        ));
        assert!(matches!(
            decode(&signer, vec![Bytes::from_static(DELIMITER), Bytes::new()]).map_err(|e| e.error),
            Err(WireError::TooFewFrames(1))
        ));
    }

    #[test]
    fn status_serialises_with_type() {
        let s = Session::new(Signer::new(b""));
        let frames = s.encode(
            vec![],
            &JupyterMessageContent::Status(Status::busy()),
            None,
            serde_json::json!({}),
        );
        let header: Value = serde_json::from_slice(&frames[2]).unwrap();
        assert_eq!(header["msg_type"], "status");
        assert_eq!(&frames[5][..], br#"{"execution_state":"busy"}"#);
    }
}
