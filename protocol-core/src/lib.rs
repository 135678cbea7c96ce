//! Typed, `type`-tagged real-time message protocols.
//!
//! `#[derive(Protocol)]` on an enum is the single source of truth for one direction of a
//! protocol: it defines the wire format (`{"type":"read","messageId":"abc123"}`), a JSON Schema
//! that agrees with the decoder, and the metadata the runtime and the schema tooling use.
//!
//! ```
//! use protocol_core::{Protocol, decode, encode};
//!
//! /// Messages a chat client sends.
//! #[derive(Debug, PartialEq, Protocol)]
//! #[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
//! enum ClientMsg {
//!     /// Join a room.
//!     Join { room: String },
//!     /// Say something in a room.
//!     Message { room: String, text: String },
//!     /// Tell the author that a message was read.
//!     Read { message_id: String },
//! }
//!
//! let msg: ClientMsg = decode(r#"{"type":"read","messageId":"abc123"}"#)?;
//! assert_eq!(msg, ClientMsg::Read { message_id: "abc123".into() });
//! assert_eq!(encode(&msg)?, r#"{"type":"read","messageId":"abc123"}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Wire format
//!
//! - One JSON object per message; the tag field (default `"type"`, `#[protocol(tag = "kind")]`)
//!   names the variant and the variant's fields sit beside it. Unit variants are `{"type":"ping"}`;
//!   a newtype variant of a struct flattens that struct's fields beside the tag.
//! - Enum attributes: `tag`, `rename_all`, `rename_all_fields`, `deny_unknown_fields`.
//!   Variant attributes: `rename`, `alias` (repeatable), `rename_all` (its fields),
//!   `deny_unknown_fields`, `other` (the catch-all). Field attributes are serde's own
//!   (`#[serde(rename, alias, default, skip_serializing_if, with, flatten, ...)]`) and mean exactly
//!   what they mean in serde.
//! - Decoding reads the tag first when it is the first key and streams the fields with no
//!   intermediate tree; otherwise it finds the tag and streams in a second pass. Both give the same
//!   values and the same errors.
//! - Protocol enums are JSON-only and owned: no lifetime or type parameters.
//!
//! # Nested types
//!
//! A field's own types derive serde and schemars through this crate's re-exports, so an app
//! needs no `serde`/`schemars` dependency (nor to guess their versions: serde 1, schemars 1):
//!
//! ```
//! use protocol_core::{Protocol, schemars, serde};
//!
//! #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
//! #[serde(crate = "protocol_core::serde")]
//! #[schemars(crate = "protocol_core::schemars")]
//! struct Cell { row: u8, col: u8 }
//!
//! #[derive(Debug, PartialEq, Protocol)]
//! #[protocol(rename_all = "snake_case")]
//! enum ClientMsg { Move { cell: Cell } }
//!
//! let msg: ClientMsg = protocol_core::decode(r#"{"type":"move","cell":{"row":1,"col":2}}"#)?;
//! assert_eq!(msg, ClientMsg::Move { cell: Cell { row: 1, col: 2 } });
//! # Ok::<(), protocol_core::DecodeError>(())
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

#[allow(unused_extern_crates)] // lets doctests and unit tests use `::protocol_core` paths
extern crate self as protocol_core;

mod codec;
pub mod dispatch;
mod error;
mod protocol;
pub mod query;
pub mod schema;

#[cfg(feature = "runtime")]
pub mod runtime;
#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "axum")]
pub use runtime::axum;
#[cfg(feature = "redis")]
pub use runtime::redis;
#[cfg(feature = "tls")]
pub use runtime::tls;
#[cfg(feature = "jwt")]
pub use runtime::token;
#[cfg(feature = "runtime")]
pub use runtime::{client, connection, history, hub, server, socket};

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use codec::{
    DecodeError, DecodeErrorKind, EncodeError, Frame, FrameError, Incoming, classify, decode,
    decode_frame, decode_slice, encode, encode_frame, encode_to_vec,
};
#[cfg(feature = "runtime")]
pub use dispatch::Runtime;
pub use dispatch::{
    ContextKind, Disconnect, Dispatch, Outcome, dispatch_frame_with, dispatch_with, error_frame,
};
pub use error::{ErrorCode, ErrorReply, UnknownPolicy};
pub use protocol::{Protocol, PushRef, Since, StreamRole, VariantKind, VariantMeta};
#[cfg(feature = "runtime")]
pub use runtime::admit::{Admission, Identity};
#[cfg(feature = "runtime")]
pub use runtime::client::{Backoff, Client, ClientBuilder, ClientError};
#[cfg(feature = "runtime")]
pub use runtime::context::Context;
#[cfg(feature = "runtime")]
pub use runtime::context::{dispatch, dispatch_frame};
#[cfg(feature = "runtime")]
pub use runtime::history::{HistoryConfig, Position, StreamError, StreamJoin};
#[cfg(feature = "runtime")]
pub use runtime::hub::{
    Broker, ConnId, Hub, HubBuilder, InMemoryBroker, Inbox, Joined, PresenceEvent, Target,
};
#[cfg(feature = "runtime")]
pub use runtime::outbox::{SendError, SlowConsumerPolicy};
#[cfg(feature = "runtime")]
pub use runtime::resume::StreamPosition;
#[cfg(feature = "runtime")]
pub use runtime::server::{
    Limits, Rejection, Server, ServerBuilder, ShutdownHandle, TypedServerBuilder, WsServer,
};
#[cfg(feature = "jwt")]
pub use runtime::token::TokenAuth;
#[cfg(feature = "runtime")]
pub use runtime::transport::ServerStream;
pub use schema::schema_for;
/// The schemars this crate is built with (1.x): nested types derive `JsonSchema` from it
/// (`#[derive(protocol_core::schemars::JsonSchema)]` with `#[schemars(crate = "protocol_core::schemars")]`).
pub use schemars;
/// The serde this crate is built with (1.x): nested types used in message fields derive
/// `Serialize`/`Deserialize` from it, e.g.
/// `#[derive(protocol_core::serde::Serialize, protocol_core::serde::Deserialize)]` with
/// `#[serde(crate = "protocol_core::serde")]`, so an app needs no version of its own.
pub use serde;
/// The WebSocket implementation underneath (for frame-level handlers).
#[cfg(feature = "runtime")]
pub use tokio_tungstenite::tungstenite;

/// Derive [`Protocol`] (plus `Serialize`, `Deserialize` and `JsonSchema`) for a message enum.
///
/// See the [crate documentation](crate) for the wire format and the attributes.
#[cfg(feature = "derive")]
pub use protocol_derive::Protocol;
