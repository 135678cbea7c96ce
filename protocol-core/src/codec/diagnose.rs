//! Diagnosis: turning the serde / serde_json error of a failed decode into a
//! [`DecodeErrorKind`] with a JSON Pointer, by re-reading the input with path tracking (only
//! when decoding failed, so the success path pays nothing for it).
//!
//! The kinds are read from serde_json's wording ("missing field", "invalid type: ...", ...),
//! which serde_json does not promise to keep: `tests/tests/decode_error_kinds.rs` has one test
//! per kind, so a change of wording fails a test instead of changing a kind silently.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::de::Read;

use super::engine::{KeySeed, VariantSeed};
use super::error::{DecodeError, DecodeErrorKind, ErrorInner};
use crate::protocol::Protocol;

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
pub(super) fn diagnose<'a, T: Protocol, R: Read<'a>>(
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
