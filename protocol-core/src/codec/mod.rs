//! Decoding and encoding messages, with structured, located errors: the public API.
//!
//! [`decode`] reads the tag first when it is the first key (what [`encode`] writes) and streams
//! the variant's fields straight into its struct. When the tag comes later, it finds the tag with
//! a cheap scan and streams the fields in a second pass: nothing is buffered, so every number
//! decodes exactly as on the fast path. Errors are worked out only when decoding fails, by
//! re-reading the input with path tracking, so the success path pays nothing for them.
//!
//! The parts: `engine` (the passes), `diagnose` (a failed pass's error made into a
//! [`DecodeErrorKind`] and a JSON Pointer), `locate` (byte-level looks at a message's top-level
//! keys), `error` (the error types) and `frame` (a message with its correlation id, and
//! [`classify`] for telling incoming frames apart).

use std::cell::Cell;

use serde_json::de::{Read, SliceRead, StrRead};

use crate::protocol::Protocol;

mod diagnose;
pub(crate) mod engine;
mod error;
mod frame;
mod locate;

pub use error::{DecodeError, DecodeErrorKind, EncodeError, FrameError};
pub use frame::{Frame, Incoming, classify};

/// Decode one message from JSON text.
///
/// ```
/// use protocol_core::{Protocol, decode};
///
/// #[derive(Debug, PartialEq, Protocol)]
/// #[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
/// enum ClientMsg {
///     Read { message_id: String },
///     Leave { room: String },
/// }
///
/// let msg: ClientMsg = decode(r#"{"type":"read","messageId":"abc123"}"#).unwrap();
/// assert_eq!(msg, ClientMsg::Read { message_id: "abc123".into() });
///
/// let err = decode::<ClientMsg>(r#"{"type":"raed","messageId":"abc123"}"#).unwrap_err();
/// assert_eq!(err.to_string(), r#"unknown message type "raed" at /type; expected one of: read, leave"#);
/// assert_eq!(err.code(), "unknown_type");
///
/// let err = decode::<ClientMsg>(r#"{"type":"leave","room":5}"#).unwrap_err();
/// assert_eq!(err.to_string(), "invalid type for /room: expected a string, found integer `5`");
/// assert_eq!(err.pointer(), Some("/room"));
/// ```
#[inline]
pub fn decode<T: Protocol>(text: &str) -> Result<T, DecodeError> {
    let id = Cell::new(None);
    decode_from::<T, _>(text.as_bytes(), &id, || StrRead::new(text))
}

/// Decode one message from JSON bytes (checked to be UTF-8 where it matters, in strings).
pub fn decode_slice<T: Protocol>(bytes: &[u8]) -> Result<T, DecodeError> {
    let id = Cell::new(None);
    decode_from::<T, _>(bytes, &id, || SliceRead::new(bytes))
}

/// Decode one frame: the message and its correlation id.
///
/// ```
/// use protocol_core::{Frame, Protocol, decode_frame};
///
/// #[derive(Debug, PartialEq, Protocol)]
/// #[protocol(rename_all = "snake_case")]
/// enum ClientMsg {
///     Message { room: String, text: String },
/// }
///
/// let frame = decode_frame::<ClientMsg>(r#"{"type":"message","id":1,"room":"general","text":"hi"}"#).unwrap();
/// assert_eq!(frame, Frame { id: Some(1), msg: ClientMsg::Message { room: "general".into(), text: "hi".into() } });
///
/// let err = decode_frame::<ClientMsg>(r#"{"type":"message","id":2,"room":5}"#).unwrap_err();
/// assert_eq!(err.id, Some(2));
/// assert_eq!(err.error.pointer(), Some("/room"));
/// ```
#[inline]
pub fn decode_frame<T: Protocol>(text: &str) -> Result<Frame<T>, FrameError> {
    let id = Cell::new(None);
    match decode_from::<T, _>(text.as_bytes(), &id, || StrRead::new(text)) {
        Ok(msg) => Ok(Frame { id: id.get(), msg }),
        Err(error) => Err(FrameError {
            id: locate::find_u64(text.as_bytes(), T::ID_FIELD),
            error,
        }),
    }
}

/// Encode a message with a correlation id, placed right after the tag:
/// `{"type":"sent","id":1,"messageId":"M"}`.
///
/// ```
/// use protocol_core::{Protocol, encode_frame};
///
/// #[derive(Protocol)]
/// #[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
/// enum ServerMsg {
///     Sent { message_id: String },
/// }
///
/// let text = encode_frame(&ServerMsg::Sent { message_id: "M".into() }, Some(1)).unwrap();
/// assert_eq!(text, r#"{"type":"sent","id":1,"messageId":"M"}"#);
/// ```
pub fn encode_frame<T: Protocol>(msg: &T, id: Option<u64>) -> Result<String, EncodeError> {
    let text = encode(msg)?;
    Ok(match id {
        Some(id) => insert_after_tag(&text, T::ID_FIELD, id),
        None => text,
    })
}

/// `text` is an encoded message (tag first); insert `"field":id` right after the tag.
pub(crate) fn insert_after_tag(text: &str, field: &str, id: u64) -> String {
    let split = locate::end_of_first_entry(text.as_bytes()).unwrap_or(text.len() - 1);
    let (head, tail) = text.split_at(split);
    let field = serde_json::Value::from(field);
    let mut out = String::with_capacity(text.len() + 32);
    out.push_str(head);
    use std::fmt::Write as _;
    let _ = write!(out, ",{field}:{id}");
    out.push_str(tail);
    out
}

/// Encode a message as compact JSON with the tag first.
///
/// Fails only when a field's own `Serialize` impl fails (a `serialize_with` function returning
/// an error, a map with keys JSON cannot represent).
///
/// ```
/// use protocol_core::{Protocol, encode};
///
/// #[derive(Protocol)]
/// #[protocol(rename_all = "snake_case")]
/// enum ClientMsg {
///     Message { text: String },
/// }
///
/// let json = encode(&ClientMsg::Message { text: "hi".into() }).unwrap();
/// assert_eq!(json, r#"{"type":"message","text":"hi"}"#);
/// ```
pub fn encode<T: Protocol>(msg: &T) -> Result<String, EncodeError> {
    serde_json::to_string(msg).map_err(|source| EncodeError {
        type_name: msg.type_name(),
        source,
    })
}

/// Encode a message into a byte buffer (appending), for callers that reuse buffers.
pub fn encode_to_vec<T: Protocol>(msg: &T, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
    serde_json::to_writer(&mut *buf, msg).map_err(|source| EncodeError {
        type_name: msg.type_name(),
        source,
    })
}

/// The engine's passes, and on failure the diagnosis of what is wrong.
#[inline]
fn decode_from<'a, T: Protocol, R: Read<'a>>(
    bytes: &'a [u8],
    id: &Cell<Option<u64>>,
    read: impl Fn() -> R,
) -> Result<T, DecodeError> {
    engine::decode_from::<T, R>(bytes, id, &read).map_err(|e| diagnose::diagnose::<T, R>(&read, e))
}
