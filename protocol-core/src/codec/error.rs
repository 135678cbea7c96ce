//! The codec's errors: what failed to decode ([`DecodeError`], [`DecodeErrorKind`], with its
//! JSON Pointer and line/column), a frame that failed with the id it carried ([`FrameError`]),
//! and what failed to encode ([`EncodeError`]).

use std::fmt;

use crate::error::{ErrorCode, ErrorReply};

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

/// A message could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode message of type \"{type_name}\": {source}")]
pub struct EncodeError {
    pub(super) type_name: &'static str,
    #[source]
    pub(super) source: serde_json::Error,
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
    pub(super) inner: Box<ErrorInner>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ErrorInner {
    pub(super) kind: DecodeErrorKind,
    pub(super) pointer: Option<String>,
    pub(super) line: usize,
    pub(super) column: usize,
    pub(super) tag: Option<String>,
    pub(super) variant: Option<&'static str>,
}

impl DecodeError {
    pub(super) fn new(inner: ErrorInner) -> Self {
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
