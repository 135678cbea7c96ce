//! Decoding and encoding messages, with structured, located errors.
//!
//! [`decode`] reads the tag first when it is the first key (what [`encode`] writes) and streams
//! the variant's fields straight into its struct. When the tag comes later, it finds the tag with
//! a cheap scan and streams the fields in a second pass: nothing is buffered, so every number
//! decodes exactly as on the fast path. Errors are worked out only when decoding fails, by
//! re-reading the input with path tracking, so the success path pays nothing for them.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::de::{Read, SliceRead, StrRead};

use crate::__private::{
    KeySeed, Keys, OnTag, TagSeed, duplicate_field, expecting_message, finish, missing_tag,
};
use crate::error::{ErrorCode, ErrorReply};
use crate::locate::{Located, locate};
use crate::protocol::Protocol;

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

/// A message with the correlation id it carried (`"id"` by default, see [`Protocol::ID_FIELD`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Frame<T> {
    /// The correlation id, when the message had one.
    pub id: Option<u64>,
    /// The message.
    pub msg: T,
}

/// A frame that failed to decode, with its correlation id when one could be read anyway, so
/// the error reply can carry it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}")]
pub struct FrameError {
    /// The correlation id, if the frame had a readable one.
    pub id: Option<u64>,
    /// What is wrong.
    #[source]
    pub error: DecodeError,
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
            id: crate::locate::find_u64(text.as_bytes(), T::ID_FIELD),
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
    let split = crate::locate::end_of_first_entry(text.as_bytes()).unwrap_or(text.len() - 1);
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

/// A message could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode message of type \"{type_name}\": {source}")]
pub struct EncodeError {
    type_name: &'static str,
    #[source]
    source: serde_json::Error,
}

#[inline]
fn decode_from<'a, T: Protocol, R: Read<'a>>(
    bytes: &'a [u8],
    id: &Cell<Option<u64>>,
    read: impl Fn() -> R,
) -> Result<T, DecodeError> {
    let tag = match locate(bytes, T::TAG) {
        // Found by a byte-level look: no serde pass needed to find it.
        Located::Later(tag) => Cow::Borrowed(tag),
        Located::First | Located::Unsure => {
            let mut de = serde_json::Deserializer::new(read());
            let first = de
                .deserialize_map(FirstPass::<T> {
                    id,
                    marker: PhantomData,
                })
                .and_then(|v| de.end().map(|()| v));
            match first {
                Ok(Decoded::Done(v)) => return Ok(v),
                Ok(Decoded::TagLater(tag)) => tag,
                Err(e) => return Err(diagnose::<T, R>(&read, e)),
            }
        }
    };
    // The tag was not the first key: now stream the fields into the variant's struct with the
    // tag known.
    let mut de = serde_json::Deserializer::new(read());
    let seed = VariantSeed::<T> {
        tag: &tag,
        id,
        marker: PhantomData,
    };
    match seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v)) {
        Ok(v) => Ok(v),
        Err(e) => Err(diagnose::<T, R>(&read, e)),
    }
}

enum Decoded<'de, T> {
    Done(T),
    TagLater(Cow<'de, str>),
}

/// Tag first: decode in one streaming pass. Otherwise skim the rest (values skipped, not
/// parsed into anything) to find the tag, without allocating an error to bail out.
struct FirstPass<'i, T> {
    id: &'i Cell<Option<u64>>,
    marker: PhantomData<T>,
}

impl<'de, T: Protocol> Visitor<'de> for FirstPass<'_, T> {
    type Value = Decoded<'de, T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        expecting_message::<T>(f)
    }

    #[inline]
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(first) = map.next_key_seed(KeySeed)? else {
            return Err(missing_tag::<T, A::Error>());
        };
        if first == T::TAG {
            let tag = map.next_value_seed(TagSeed)?;
            return finish::<T, _>(&tag, map, Keys::new::<T>(OnTag::Reject, self.id))
                .map(Decoded::Done);
        }
        map.next_value::<IgnoredAny>()?;
        let mut tag = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if key == T::TAG {
                if tag.is_some() {
                    return Err(duplicate_field(T::TAG));
                }
                tag = Some(map.next_value_seed(TagSeed)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        tag.map(Decoded::TagLater)
            .ok_or_else(missing_tag::<T, A::Error>)
    }
}

/// Decodes the fields of a message whose tag is known, skipping the tag wherever it is.
struct VariantSeed<'t, T> {
    tag: &'t str,
    id: &'t Cell<Option<u64>>,
    marker: PhantomData<T>,
}

impl<'de, T: Protocol> DeserializeSeed<'de> for VariantSeed<'_, T> {
    type Value = T;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: Protocol> Visitor<'de> for VariantSeed<'_, T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        expecting_message::<T>(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        finish::<T, _>(self.tag, map, Keys::new::<T>(OnTag::Skip, self.id))
    }
}

/// What the structural scan found wrong before any field was looked at.
enum ScanFault {
    NotAnObject(&'static str),
    MissingTag,
    InvalidTag(String),
    DuplicateTag,
    UnknownType(String),
}

struct ScanVisitor<'f, T> {
    fault: &'f RefCell<Option<ScanFault>>,
    marker: PhantomData<T>,
}

impl<T> ScanVisitor<'_, T> {
    fn fail<E: de::Error>(&self, fault: ScanFault) -> E {
        *self.fault.borrow_mut() = Some(fault);
        E::custom("invalid message structure")
    }
}

impl<'de, T: Protocol> Visitor<'de> for ScanVisitor<'_, T> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<String, E> {
        Err(self.fail(ScanFault::NotAnObject("a boolean")))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<String, E> {
        Err(self.fail(ScanFault::NotAnObject("a number")))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<String, E> {
        Err(self.fail(ScanFault::NotAnObject("a number")))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<String, E> {
        Err(self.fail(ScanFault::NotAnObject("a number")))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<String, E> {
        Err(self.fail(ScanFault::NotAnObject("a string")))
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Err(self.fail(ScanFault::NotAnObject("null")))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(self.fail(ScanFault::NotAnObject("an array")))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
        let mut tag: Option<String> = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if key != T::TAG {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if tag.is_some() {
                return Err(self.fail(ScanFault::DuplicateTag));
            }
            match map.next_value::<serde_json::Value>()? {
                serde_json::Value::String(t) => {
                    if T::__variant_index(&t).is_none() && !T::HAS_OTHER {
                        return Err(self.fail(ScanFault::UnknownType(t)));
                    }
                    tag = Some(t);
                }
                other => return Err(self.fail(ScanFault::InvalidTag(describe(&other)))),
            }
        }
        tag.ok_or_else(|| self.fail(ScanFault::MissingTag))
    }
}

fn describe(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(b) => format!("boolean `{b}`"),
        serde_json::Value::Number(n) => format!("number `{n}`"),
        serde_json::Value::String(s) => format!("string {s:?}"),
        serde_json::Value::Array(_) => "an array".into(),
        serde_json::Value::Object(_) => "an object".into(),
    }
}

/// Check the message's structure and return its tag, or the structural error.
fn scan<'a, T: Protocol, R: Read<'a>>(read: &impl Fn() -> R) -> Result<String, DecodeError> {
    let fault = RefCell::new(None);
    let mut de = serde_json::Deserializer::new(read());
    let result = de
        .deserialize_any(ScanVisitor::<T> {
            fault: &fault,
            marker: PhantomData,
        })
        .and_then(|v| de.end().map(|()| v));
    match result {
        Ok(tag) => Ok(tag),
        Err(e) => Err(match fault.into_inner() {
            Some(f) => from_fault::<T>(f, &e),
            None => from_json_error(&e, None, None),
        }),
    }
}

fn from_fault<T: Protocol>(fault: ScanFault, e: &serde_json::Error) -> DecodeError {
    let tag_pointer = Some(format!("/{}", escape_token(T::TAG)));
    let (kind, pointer, tag) = match fault {
        ScanFault::NotAnObject(found) => (
            DecodeErrorKind::NotAnObject { found },
            Some(String::new()),
            None,
        ),
        ScanFault::MissingTag => (
            DecodeErrorKind::MissingTag {
                tag_field: T::TAG,
                expected: T::TYPES,
            },
            Some(String::new()),
            None,
        ),
        ScanFault::InvalidTag(found) => (DecodeErrorKind::InvalidTag { found }, tag_pointer, None),
        ScanFault::DuplicateTag => (
            DecodeErrorKind::DuplicateField {
                field: T::TAG.to_owned(),
            },
            tag_pointer,
            None,
        ),
        ScanFault::UnknownType(tag) => (
            DecodeErrorKind::UnknownType {
                tag: tag.clone(),
                expected: T::TYPES,
            },
            tag_pointer,
            Some(tag),
        ),
    };
    DecodeError::new(ErrorInner {
        kind,
        pointer,
        line: e.line(),
        column: e.column(),
        tag,
        variant: None,
    })
}

/// Work out a structured error for input that failed to decode.
fn diagnose<'a, T: Protocol, R: Read<'a>>(
    read: &impl Fn() -> R,
    fast: serde_json::Error,
) -> DecodeError {
    // A valid-JSON check comes first: some of serde_json's "syntax" errors are about values
    // (a map key that is not a number), and those deserve a pointer.
    let tag = match scan::<T, R>(read) {
        Ok(tag) => tag,
        Err(e) => return e,
    };
    let variant = T::meta_for(&tag).map(|m| m.name);
    let mut track = serde_path_to_error::Track::new();
    let mut de = serde_json::Deserializer::new(read());
    let result = VariantSeed::<T> {
        tag: &tag,
        id: &Cell::new(None),
        marker: PhantomData,
    }
    .deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track));
    let (err, path) = match result {
        Err(e) => (e, track.path()),
        // The tracked pass disagreeing with the fast one would be a bug; keep the fast error.
        Ok(_) => (fast, serde_path_to_error::Track::new().path()),
    };
    let mut pointer = String::new();
    for segment in &path {
        match segment {
            serde_path_to_error::Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            serde_path_to_error::Segment::Map { key }
            | serde_path_to_error::Segment::Enum { variant: key } => {
                pointer.push('/');
                pointer.push_str(&escape_token(key));
            }
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    let mut error = from_json_error(&err, Some(pointer), variant);
    error.inner.tag = Some(tag);
    error
}

/// Escape one JSON Pointer reference token (RFC 6901).
fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// serde_json's message without its " at line L column C" suffix.
fn bare_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    full.strip_suffix(&suffix)
        .map(str::to_owned)
        .unwrap_or(full)
}

/// The text between the first pair of backticks.
fn quoted(s: &str) -> Option<&str> {
    let start = s.find('`')? + 1;
    let len = s[start..].find('`')?;
    Some(&s[start..start + len])
}

fn from_json_error(
    e: &serde_json::Error,
    pointer: Option<String>,
    variant: Option<&'static str>,
) -> DecodeError {
    let message = bare_message(e);
    let mut pointer = pointer;
    let kind = if message.starts_with("recursion limit exceeded") {
        DecodeErrorKind::TooDeep { limit: 128 }
    } else if matches!(
        e.classify(),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof
    ) && (pointer.is_none() || is_lexical(&message))
    {
        pointer = None;
        DecodeErrorKind::Syntax { message }
    } else if let Some(rest) = message.strip_prefix("missing field ") {
        let field = quoted(rest).unwrap_or(rest).to_owned();
        push_token(&mut pointer, &field);
        DecodeErrorKind::MissingField { field }
    } else if let Some(rest) = message.strip_prefix("unknown field ") {
        let field = quoted(rest).unwrap_or(rest).to_owned();
        push_token(&mut pointer, &field);
        let expected = rest
            .split_once(", ")
            .map(|(_, e)| e.to_owned())
            .unwrap_or_default();
        DecodeErrorKind::UnknownField { field, expected }
    } else if let Some(rest) = message.strip_prefix("duplicate field ") {
        let field = quoted(rest).unwrap_or(rest).to_owned();
        push_token(&mut pointer, &field);
        DecodeErrorKind::DuplicateField { field }
    } else {
        let split = |prefix: &str| {
            message
                .strip_prefix(prefix)
                .and_then(|r| r.rsplit_once(", expected "))
                .map(|(found, expected)| (found.to_owned(), expected.to_owned()))
        };
        if let Some((found, expected)) = split("invalid type: ") {
            DecodeErrorKind::InvalidField {
                problem: "type",
                expected,
                found,
                message,
            }
        } else if let Some((found, expected)) = split("invalid value: ") {
            DecodeErrorKind::InvalidField {
                problem: "value",
                expected,
                found,
                message,
            }
        } else if let Some((found, expected)) = split("invalid length ") {
            DecodeErrorKind::InvalidField {
                problem: "length",
                expected,
                found: format!("length {found}"),
                message,
            }
        } else {
            DecodeErrorKind::InvalidField {
                problem: "value",
                expected: String::new(),
                found: String::new(),
                message,
            }
        }
    };
    DecodeError::new(ErrorInner {
        kind,
        pointer,
        line: e.line(),
        column: e.column(),
        tag: None,
        variant,
    })
}

/// serde_json errors about the text of a string (bad UTF-8, escapes, control characters) are
/// JSON syntax errors even when they surface while a typed field is being read.
fn is_lexical(message: &str) -> bool {
    ["unicode", "escape", "control character", "surrogate"]
        .iter()
        .any(|w| message.contains(w))
}

fn push_token(pointer: &mut Option<String>, field: &str) {
    let p = pointer.get_or_insert_with(String::new);
    let token = format!("/{}", escape_token(field));
    if !p.ends_with(&token) {
        p.push_str(&token);
    }
}

#[cfg(test)]
mod tests {
    use super::escape_token;

    #[test]
    fn pointer_tokens_are_escaped() {
        assert_eq!(escape_token("a/b~c"), "a~1b~0c");
        assert_eq!(escape_token("plain"), "plain");
    }
}

/// What went wrong in a [`DecodeError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input is not valid JSON.
    Syntax {
        /// serde_json's description, e.g. "expected value".
        message: String,
    },
    /// Arrays and objects nest deeper than the decoder's limit.
    TooDeep {
        /// The nesting limit.
        limit: usize,
    },
    /// The message is valid JSON but not an object.
    NotAnObject {
        /// What it is instead, e.g. "an array".
        found: &'static str,
    },
    /// The object has no tag field.
    MissingTag {
        /// The tag field's name.
        tag_field: &'static str,
        /// The message types the protocol knows.
        expected: &'static [&'static str],
    },
    /// The tag's value is not a string.
    InvalidTag {
        /// What it is instead.
        found: String,
    },
    /// The tag names no variant of the protocol.
    UnknownType {
        /// The tag as received.
        tag: String,
        /// The message types the protocol knows.
        expected: &'static [&'static str],
    },
    /// A field (the tag included) appears twice.
    DuplicateField {
        /// The field's name.
        field: String,
    },
    /// A required field is absent.
    MissingField {
        /// The field's name.
        field: String,
    },
    /// A field the variant does not have, under `deny_unknown_fields`.
    UnknownField {
        /// The field's name.
        field: String,
        /// serde's list of the fields that are allowed, e.g. "expected one of `a`, `b`".
        expected: String,
    },
    /// A field's value has the wrong type, is out of range or otherwise invalid.
    InvalidField {
        /// "type", "value" or "length".
        problem: &'static str,
        /// What the field's type accepts.
        expected: String,
        /// What was found.
        found: String,
        /// The underlying error message.
        message: String,
    },
}

/// A message failed to decode: what is wrong, where (JSON Pointer and line/column) and, when
/// known, which message type it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    // Boxed: keeps `Result<Message, DecodeError>` small on the hot path.
    inner: Box<ErrorInner>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ErrorInner {
    kind: DecodeErrorKind,
    pointer: Option<String>,
    line: usize,
    column: usize,
    tag: Option<String>,
    variant: Option<&'static str>,
}

impl DecodeError {
    fn new(inner: ErrorInner) -> Self {
        DecodeError {
            inner: Box::new(inner),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.inner.kind
    }

    /// JSON Pointer (RFC 6901) to the faulty value: `""` for the whole message, `/text`,
    /// `/items/3/id`. `None` for syntax errors, which are located by line and column.
    pub fn pointer(&self) -> Option<&str> {
        self.inner.pointer.as_deref()
    }

    /// 1-based line of the fault in the input.
    pub fn line(&self) -> usize {
        self.inner.line
    }

    /// 1-based column of the fault in the input.
    pub fn column(&self) -> usize {
        self.inner.column
    }

    /// The message's tag, when it was read.
    pub fn tag(&self) -> Option<&str> {
        self.inner.tag.as_deref()
    }

    /// The Rust name of the variant the message was decoded as, when the tag was known.
    pub fn variant(&self) -> Option<&'static str> {
        self.inner.variant
    }

    /// The protocol error code for this failure: `invalid_json`, `unknown_type` or
    /// `invalid_message`.
    pub fn code(&self) -> &'static str {
        match self.inner.kind {
            DecodeErrorKind::Syntax { .. } | DecodeErrorKind::TooDeep { .. } => {
                ErrorCode::INVALID_JSON
            }
            DecodeErrorKind::UnknownType { .. } => ErrorCode::UNKNOWN_TYPE,
            _ => ErrorCode::INVALID_MESSAGE,
        }
    }

    /// The protocol's error reply for this failure (`code`, `message`, `pointer`).
    pub fn to_error_reply(&self) -> ErrorReply {
        let reply = ErrorReply::new(self.code(), self.to_string());
        match &self.inner.pointer {
            Some(p) if !p.is_empty() => reply.with_pointer(p.clone()),
            _ => reply,
        }
    }

    fn at(&self) -> String {
        match self.inner.pointer.as_deref() {
            Some("") => "the root".to_owned(),
            Some(p) => p.to_owned(),
            None => format!("line {} column {}", self.inner.line, self.inner.column),
        }
    }

    fn of_type(&self) -> String {
        match &self.inner.tag {
            Some(t) => format!(" of message type \"{}\"", t.escape_debug()),
            None => String::new(),
        }
    }
}

impl From<&DecodeError> for ErrorReply {
    fn from(e: &DecodeError) -> Self {
        e.to_error_reply()
    }
}

impl From<DecodeError> for ErrorReply {
    fn from(e: DecodeError) -> Self {
        e.to_error_reply()
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.kind {
            DecodeErrorKind::Syntax { message } => {
                write!(
                    f,
                    "invalid JSON at line {} column {}: {message}",
                    self.inner.line, self.inner.column
                )
            }
            DecodeErrorKind::TooDeep { limit } => write!(
                f,
                "message nests deeper than {limit} levels at line {} column {}",
                self.inner.line, self.inner.column
            ),
            DecodeErrorKind::NotAnObject { found } => {
                write!(f, "expected a JSON object at the root, found {found}")
            }
            DecodeErrorKind::MissingTag {
                tag_field,
                expected,
            } => write!(
                f,
                "missing message type field \"{tag_field}\" at the root; expected one of: {}",
                expected.join(", ")
            ),
            DecodeErrorKind::InvalidTag { found } => {
                write!(
                    f,
                    "invalid message type at {}: expected a string, found {found}",
                    self.at()
                )
            }
            DecodeErrorKind::UnknownType { tag, expected } => write!(
                f,
                "unknown message type \"{}\" at {}; expected one of: {}",
                tag.escape_debug(),
                self.at(),
                expected.join(", ")
            ),
            DecodeErrorKind::DuplicateField { .. } => {
                write!(f, "duplicate field at {}{}", self.at(), self.of_type())
            }
            DecodeErrorKind::MissingField { .. } => {
                write!(f, "missing required field {}{}", self.at(), self.of_type())
            }
            DecodeErrorKind::UnknownField { expected, .. } => {
                write!(f, "unknown field {}{}", self.at(), self.of_type())?;
                if !expected.is_empty() {
                    write!(f, "; {expected}")?;
                }
                Ok(())
            }
            DecodeErrorKind::InvalidField {
                problem,
                expected,
                found,
                message,
            } => {
                if expected.is_empty() {
                    write!(f, "invalid value for {}: {message}", self.at())
                } else {
                    write!(
                        f,
                        "invalid {problem} for {}: expected {expected}, found {found}",
                        self.at()
                    )
                }
            }
        }
    }
}

impl std::error::Error for DecodeError {}
