//! Test protocols for the schema tooling: both directions have a `Message` variant, and between
//! them they use every shape the exporters must handle (aliases, catch-all, requests with
//! replies, nested named types, big integers, tuples, maps, optional and nullable fields).
#![allow(dead_code)]

use std::collections::BTreeMap;

use protocol_core::Protocol;
use protocol_schema::Spec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A point on the whiteboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    /// Horizontal.
    pub x: i32,
    /// Vertical.
    pub y: i32,
    /// An optional label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A colour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    /// Red.
    Red,
    /// Green.
    Green,
}

/// A shape with data (an externally tagged Rust enum).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub enum Shape {
    /// A circle.
    Circle {
        /// Radius.
        r: f64,
    },
    /// A square of this side.
    Square(u32),
    /// Nothing.
    Empty,
}

/// Messages a client sends.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ClientMsg {
    /// Join a room.
    #[protocol(pushes(ServerMsg::Joined = "sender"))]
    Join {
        /// The room.
        room: String,
    },
    /// Say something in a room.
    #[protocol(
        reply = ServerMsg::Sent,
        pushes(ServerMsg::Message = "room"),
        error_codes("not_in_room")
    )]
    Message {
        /// The room.
        room: String,
        /// The text.
        text: String,
    },
    /// Tell the author that a message was read.
    #[protocol(alias = "seen")]
    Read {
        /// The message.
        #[serde(alias = "msgId")]
        message_id: String,
    },
    /// Draw something.
    Draw {
        /// Where.
        at: Position,
        /// Optional second point.
        to: Option<Position>,
        /// The path.
        path: Vec<Position>,
        /// A pair.
        pair: (u8, String),
        /// The colour.
        color: Color,
        /// The shape.
        shape: Shape,
        /// A big counter.
        counter: u64,
        /// Weights by name.
        weights: BTreeMap<String, f64>,
        /// Names by number.
        by_number: BTreeMap<u32, String>,
        /// Extra note.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Move a point (a newtype variant).
    #[protocol(pushes(ServerMsg::Moved = "everyone"))]
    Moved(Position),
    /// Keep-alive.
    Ping,
}

/// Messages the server sends.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ServerMsg {
    /// You joined.
    Joined {
        /// The room.
        room: String,
        /// Everyone in it, sorted.
        members: Vec<String>,
    },
    /// Your message was stored.
    Sent {
        /// Its id.
        message_id: String,
    },
    /// Someone said something.
    Message {
        /// Its id.
        message_id: String,
        /// The room.
        room: String,
        /// The author.
        from: String,
        /// The text.
        text: String,
    },
    /// A point moved.
    Moved(Position),
    /// Something went wrong.
    Error {
        /// A machine-readable code.
        code: String,
        /// For people.
        message: String,
        /// The field at fault.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pointer: Option<String>,
    },
    /// Messages of types this client does not know.
    #[protocol(other)]
    Unknown {
        /// The unknown tag.
        r#type: String,
        /// The whole message.
        raw: serde_json::Value,
    },
}

/// The test protocol's spec.
pub fn spec() -> Spec {
    Spec::new("demo", "1.0.0")
        .title("Demo chat")
        .description("The schema tooling's test protocol.")
        .address("/ws")
        .client_to_server::<ClientMsg>()
        .server_to_client::<ServerMsg>()
}

/// A protocol whose variant names clash with the names of its `$defs`, with a custom tag.
pub mod clash {
    use protocol_core::Protocol;
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// The named type.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
    pub struct Position {
        /// X.
        pub x: i8,
    }

    /// Variants named like types.
    #[derive(Debug, Clone, PartialEq, Protocol)]
    #[protocol(tag = "kind", rename_all = "kebab-case")]
    pub enum Msg {
        /// Named like the struct.
        Position {
            /// Where.
            at: Position,
            /// And where else.
            also: Position,
        },
        /// Named like the tag union.
        MessageType,
        /// A struct that flattens an enum beside its fields.
        Flat(Flattened),
    }

    /// Fields plus a flattened enum.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
    pub struct Flattened {
        /// A name.
        pub name: String,
        /// One of two shapes, flattened.
        #[serde(flatten)]
        pub kind: Kind,
    }

    /// Two shapes.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
    pub enum Kind {
        /// A number.
        A {
            /// It.
            a: u8,
        },
        /// A string.
        B {
            /// It.
            b: String,
        },
    }

    /// The other direction, with the same Rust name.
    pub mod other {
        use protocol_core::Protocol;

        /// Same name as the client's enum.
        #[derive(Debug, Clone, PartialEq, Protocol)]
        pub enum Msg {
            /// Hi.
            Hello,
        }
    }

    /// The clash protocol's spec (the server enum renamed, as both are called `Msg`).
    pub fn spec() -> protocol_schema::Spec {
        protocol_schema::Spec::new("clash", "0.1.0")
            .client_to_server::<Msg>()
            .server_to_client_named::<other::Msg>("ServerMsg")
    }
}
