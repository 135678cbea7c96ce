//! Schema tooling for `#[derive(Protocol)]` enums: export JSON Schema, TypeScript and AsyncAPI 3
//! for a protocol's two directions, check committed exports for drift, tell breaking changes
//! apart per direction, and validate recorded traffic.
//!
//! ```
//! use protocol_core::Protocol;
//! use protocol_schema::Spec;
//!
//! /// Messages a chat client sends.
//! #[derive(Protocol)]
//! #[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
//! enum ClientMsg {
//!     /// Join a room.
//!     Join { room: String },
//!     /// Say something.
//!     Message { room: String, text: String },
//! }
//!
//! /// Messages the chat server sends.
//! #[derive(Protocol)]
//! #[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
//! enum ServerMsg {
//!     /// Someone said something.
//!     Message { room: String, from: String, text: String },
//! }
//!
//! let spec = Spec::new("chat", "1.0.0")
//!     .client_to_server::<ClientMsg>()
//!     .server_to_client::<ServerMsg>();
//! let files = spec.files()?;
//! let dts = &files.iter().find(|f| f.name == "chat.d.ts").unwrap().contents;
//! assert!(dts.contains("export type ClientMsg = ClientMsg.Join | ClientMsg.Message;"));
//! assert!(dts.contains("export type ServerMsg = ServerMsg.Message;"));
//! # Ok::<(), protocol_schema::Error>(())
//! ```
//!
//! # Exported files
//!
//! [`Spec::export`] writes, deterministically (sorted keys, trailing newline):
//!
//! - `<name>.client.schema.json`, `<name>.server.schema.json`: [`protocol_core::schema_for`]
//!   of each enum plus `$id` and `title`.
//! - `<name>.d.ts`: each direction as a discriminated union `ClientMsg = ClientMsg.Join | ...`
//!   merged with a namespace `ClientMsg` holding one interface per message, the named types
//!   they use, `MessageType` (the union of tag strings), `TYPES` and `is<Variant>` guards. The
//!   namespace keeps both directions' `Message` variants apart (`ClientMsg.Message`,
//!   `ServerMsg.Message`).
//! - `<name>.js`: the runtime half of the declarations (the guards and `TYPES`), an ES module.
//! - `<name>.asyncapi.json`: AsyncAPI 3.0.0 from the server's point of view: one channel (the
//!   WebSocket connection, address from [`Spec::address`]), a `receive` operation for the
//!   client-to-server messages and a `send` operation for the server-to-client ones, and for
//!   each request (a variant declaring its reply) an operation of its own whose `reply` names
//!   the reply message, with a `correlationId` on the id field. `components.messages` hold one
//!   message per variant, named like the TypeScript types (`ClientMsg.Join`), whose payloads
//!   reference `components.schemas` (the variant schemas in AsyncAPI's draft-07 dialect:
//!   `$defs` moved to `components.schemas`, tuples as `items` arrays).
//!
//! TypeScript mapping: strings, booleans and `null` as themselves; every integer and number as
//! `number` (never `bigint`, since `JSON.parse` yields numbers) with a doc warning where the
//! range exceeds ±(2^53 - 1); `Option<T>` as `T | null` (optional with `?` when it may be
//! left out); `Vec<T>` as `T[]`, tuples as `[A, B]`, maps as index signatures; Rust enums as
//! unions. A catch-all variant is declared (`ServerMsg.Unknown`, with an `isUnknown` guard)
//! but left out of the union, so that `switch (m.type)` narrows; handle
//! `ServerMsg | ServerMsg.Unknown` where unknown types can arrive. Variant and field aliases
//! appear in doc comments; the types use the names the encoder writes.
//!
//! # The `protocol-schema` binary
//!
//! - `protocol-schema diff OLD NEW [--direction client|server] [--format text|json]`: see
//!   [`diff`]; exit 0 compatible, 1 breaking, 2 error.
//! - `protocol-schema validate --schema-dir DIR traffic.jsonl`: see [`validate`]; exit 0 all
//!   valid, 1 some frame invalid, 2 error.
//! - `protocol-schema probe --url ws://... --schema-dir DIR`: see [`probe`]; exit 0 no
//!   findings, 1 findings, 2 could not run.
//! - `protocol-schema replay --url ws://... RECORDING.jsonl`: see [`replay`]; exit 0 the
//!   server answered as recorded, 1 a divergence, 2 could not run.

mod asyncapi;
pub mod cli;
pub mod diff;
mod error;
mod json;
mod load;
mod model;
mod names;
pub mod probe;
pub mod replay;
mod spec;
mod typescript;
pub mod validate;

pub use error::Error;
pub use spec::{Direction, Drift, ExportFile, FileDrift, FileStatus, Spec};
