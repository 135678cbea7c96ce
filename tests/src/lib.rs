//! Protocols shared by the cross-crate tests: every variant shape and every attribute.

use std::collections::BTreeMap;

use protocol_core::Protocol;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The seed's messages, exactly as the seed writes them.
pub mod seed {
    use super::*;

    /// The two messages the seed quotes.
    #[derive(Debug, Clone, PartialEq, Protocol)]
    #[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
    pub enum SeedMsg {
        /// A chat message.
        Message {
            /// The text.
            text: String,
        },
        /// A read receipt.
        Read {
            /// The id of the message that was read.
            message_id: String,
        },
    }
}

/// A struct that newtype variants flatten beside the tag.
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

/// A struct that rejects unknown fields on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Closed {
    /// The only field.
    pub only: bool,
}

/// Hex encoding for `#[serde(with = ...)]`.
pub mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Write bytes as a lowercase hex string.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        s.serialize_str(&text)
    }

    /// Read a hex string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        if !text.len().is_multiple_of(2) {
            return Err(serde::de::Error::custom("hex string of odd length"));
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// Every variant shape, renames, aliases, serde field attributes and a catch-all.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Shapes {
    /// No fields.
    Unit,
    /// A struct's fields beside the tag.
    Moved(Position),
    /// Renamed, with aliases.
    #[protocol(rename = "renamed", alias = "old-name", alias = "older")]
    RenamedThing {
        /// A small number.
        value: u8,
    },
    /// Numbers at every width.
    Numbers {
        /// u8
        small: u8,
        /// i16
        signed: i16,
        /// u64
        big: u64,
        /// i64
        negative: i64,
        /// i128
        huge: i128,
        /// f64
        float: f64,
    },
    /// serde field attributes.
    Attrs {
        /// Renamed field.
        #[serde(rename = "ID")]
        id: u32,
        /// Field with an alias.
        #[serde(alias = "nick")]
        name: String,
        /// Defaulted field.
        #[serde(default)]
        count: u32,
        /// Skipped when empty.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
        /// Custom encoding.
        #[serde(with = "hex")]
        #[schemars(with = "String")]
        data: Vec<u8>,
    },
    /// Flattened extra fields.
    Open {
        /// A named field.
        name: String,
        /// Everything else.
        #[serde(flatten)]
        extra: BTreeMap<String, serde_json::Value>,
    },
    /// Fields renamed by a per-variant rule.
    #[protocol(rename_all = "SCREAMING_SNAKE_CASE")]
    Loud {
        /// Shouted.
        some_field: bool,
    },
    /// An integer-keyed map.
    Keyed {
        /// By id.
        by_id: BTreeMap<u32, String>,
    },
    /// Nested structs and lists.
    Nested {
        /// One.
        inner: Position,
        /// Many.
        list: Vec<Position>,
        /// Maybe.
        maybe: Option<Position>,
    },
    /// Any other kind.
    #[protocol(other)]
    Unknown {
        /// The unknown tag.
        kind: String,
        /// The whole message.
        raw: serde_json::Value,
    },
}

/// `deny_unknown_fields` on the whole enum: every shape rejects unknown fields.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", deny_unknown_fields)]
pub enum Strict {
    /// Unit.
    Ping,
    /// Newtype.
    At(Position),
    /// Struct.
    Set {
        /// A value.
        value: u16,
    },
    /// Newtype of a struct that is closed by itself.
    Closed(Closed),
}

/// `deny_unknown_fields` on one variant only.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case")]
pub enum Partial {
    /// Open.
    Loose {
        /// A value.
        value: u16,
    },
    /// Closed.
    #[protocol(deny_unknown_fields)]
    Tight {
        /// A value.
        value: u16,
    },
}

/// A protocol enum nested inside ordinary serde / schemars types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope {
    /// Sequence number.
    pub seq: u64,
    /// The message.
    pub msg: Shapes,
}
