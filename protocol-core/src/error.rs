//! Error replies: the protocol's own `{"type":"error",...}` messages.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Well-known error codes. Apps add their own as any `snake_case` string.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ErrorCode;

impl ErrorCode {
    /// The frame is not valid JSON (or nests too deeply).
    pub const INVALID_JSON: &'static str = "invalid_json";
    /// The tag names no message type of the protocol.
    pub const UNKNOWN_TYPE: &'static str = "unknown_type";
    /// The message is JSON but does not match its type: missing, unknown or mistyped fields.
    pub const INVALID_MESSAGE: &'static str = "invalid_message";
    /// The connection sends faster than its rate limit allows.
    pub const RATE_LIMITED: &'static str = "rate_limited";
    /// The handler failed unexpectedly (it panicked); details are in the server log.
    pub const INTERNAL: &'static str = "internal_error";
    /// The request's deadline passed before its handler answered.
    pub const TIMEOUT: &'static str = "timeout";
    /// The identity may not do this (join a private room, renew someone else's credential).
    pub const FORBIDDEN: &'static str = "forbidden";
    /// The connection is in as many rooms as it may be.
    pub const TOO_MANY_ROOMS: &'static str = "too_many_rooms";
}

/// An error answer to a message: a stable machine-readable `code`, a human-readable `message`
/// and, when one field is at fault, a JSON Pointer to it.
///
/// On the wire it is `{"type":"error","id":1,"code":"not_in_room","message":"...","pointer":"/room"}`
/// (`id` when the message that failed carried one).
///
/// ```
/// use protocol_core::ErrorReply;
///
/// let e = ErrorReply::new("not_in_room", "join \"general\" before sending to it").with_pointer("/room");
/// assert_eq!(e.code(), "not_in_room");
/// assert_eq!(e.pointer(), Some("/room"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorReply {
    /// Stable machine-readable code, `snake_case`: `invalid_json`, `unknown_type`,
    /// `invalid_message`, `rate_limited`, or one of the app's own.
    code: Cow<'static, str>,
    /// What went wrong, for humans.
    message: String,
    /// JSON Pointer to the field at fault, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pointer: Option<String>,
}

impl ErrorReply {
    /// An error with a code (`snake_case`) and a message for humans.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            pointer: None,
        }
    }

    /// `invalid_message` pointing at a field: the usual answer to a failed validation.
    pub fn invalid(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_MESSAGE, message).with_pointer(pointer)
    }

    /// Point at the field at fault (a JSON Pointer such as `/text`).
    pub fn with_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }

    /// The machine-readable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON Pointer of the field at fault, if any.
    pub fn pointer(&self) -> Option<&str> {
        self.pointer.as_deref()
    }
}

impl fmt::Display for ErrorReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(p) = &self.pointer {
            write!(f, " (at {p})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorReply {}

/// What a server does with a message whose type its protocol does not know (and that has no
/// `#[protocol(other)]` catch-all): `#[protocol(on_unknown = "reply" | "ignore" | "close")]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnknownPolicy {
    /// Answer with an `unknown_type` error and keep the connection (the default).
    #[default]
    Reply,
    /// Log and count it, answer nothing.
    Ignore,
    /// Close the connection with 1008 (policy violation).
    Close,
}
