//! Schema tooling for `#[derive(Protocol)]` enums: export JSON Schema, TypeScript, AsyncAPI 3,
//! Python models and a protocol reference for people for a protocol's two directions, check committed exports for drift, tell breaking changes
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
//! - `<name>.client.js` + `<name>.client.d.ts`: a typed WebSocket client, an ES module with no
//!   dependencies (it imports `<name>.js`), for browsers and Node 20+ (pass a `WebSocket`
//!   implementation such as the `ws` package's). `connect(url, options)` returns a client with
//!   `send(msg)` (any client message), `request(msg)` (only the variants that declare a reply;
//!   the client assigns the correlation id; resolves with the reply's type, rejects with
//!   `ProtocolError` on the error reply, or `ClientError` on a timeout or a lost connection),
//!   `handle(handlers)` (one required handler per server message that is not only a reply),
//!   `on(type, fn)` and `close()`. It reconnects with exponential backoff and jitter, queues
//!   sends made while disconnected (bounded), reports `onStatus` (connecting, open,
//!   reconnecting, closed) and checks every incoming frame against the server messages'
//!   schema (`validate`; failures go to `onInvalid`). 64-bit integers are `number`, as in the
//!   `.d.ts`.
//!
//! - `<name>.py`: pydantic v2 models, one per message, a discriminated union, a `TypeAdapter`
//!   and a `parse_<enum>` function per direction that reads frames as the Rust decoder does,
//!   and plain `TypedDict`s; see the mapping below.
//! - `<name>.md` and `<name>.html`: the protocol reference. Per direction every message with
//!   its doc comment, a field table (type in words, required, range, aliases, default, doc), an
//!   example frame generated from the schema ([`Spec::examples`]), the reply it expects or
//!   answers, the pushes it causes and the error codes that can come back (declared next to
//!   the variant: `#[protocol(pushes(ServerMsg::Message = "room"), error_codes("not_in_room"))]`),
//!   and a sequence diagram per client message: Mermaid source in the Markdown, drawn as inline
//!   SVG in the HTML (one offline page, no script).
//!
//! Python mapping: each variant is a model `<Enum><Variant>` whose tag is a `Literal` (aliases
//! included) defaulting to the wire name; fields have snake_case Python names with the wire
//! names as aliases (`message_id` / `messageId`, `from_` / `from`), serde aliases as
//! `AliasChoices`; integer ranges are `Field(ge=, le=)`; the models are strict, so `"1"` is no
//! integer and `"yes"` no boolean, as in serde; `extra="forbid"` exactly where the decoder
//! denies unknown fields. [`Spec::samples`] is the corpus CI judges them on.
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
//!
//! An application's own binary ([`cli::run`]) also has `samples --out DIR` (the sample corpus,
//! sorted by the Rust decoder, for outside judges) and `decode client|server` (the Rust
//! decoder's verdict on each line of standard input).

mod asyncapi;
pub mod cli;
mod client;
pub mod diff;
mod error;
mod example;
mod json;
mod load;
mod model;
mod names;
pub mod probe;
mod python;
mod reference;
pub mod replay;
mod sequence;
mod spec;
mod typescript;
pub mod validate;

pub use error::Error;
pub use spec::{Direction, Drift, ExportFile, FileDrift, FileStatus, Sample, Spec};
