// User code that shadows common names must not break the generated code.
#![allow(dead_code)]

use std::collections::BTreeMap;

use ::protocol_core::Protocol;

#[derive(::serde::Serialize, ::serde::Deserialize, ::schemars::JsonSchema)]
struct Inner {
    a: u8,
}

mod shadowed {
// Names the generated code must not depend on.
#![allow(unused)]
use super::{BTreeMap, Inner, Protocol};
type Result = ();
type Option = ();
struct Vec;
struct String;
mod serde {}
mod schemars {}
mod protocol_core {}

mod hex {
    pub fn serialize<S: ::serde::Serializer>(v: &[u8], s: S) -> ::core::result::Result<S::Ok, S::Error> {
        s.serialize_str(&v.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }
    pub fn deserialize<'de, D: ::serde::Deserializer<'de>>(d: D) -> ::core::result::Result<std::vec::Vec<u8>, D::Error> {
        let _ = <std::string::String as ::serde::Deserialize>::deserialize(d)?;
        Ok(std::vec::Vec::new())
    }
}

/// A protocol using every attribute.
#[derive(Protocol)]
#[protocol(tag = "kind", rename_all = "camelCase", rename_all_fields = "snake_case", deny_unknown_fields)]
enum Everything {
    /// Unit.
    PingPong,
    /// Newtype.
    Wrapped(Inner),
    #[protocol(rename = "r", alias = "r2", rename_all = "kebab-case")]
    Renamed {
        #[serde(rename = "X", alias = "x")]
        some_x: u32,
        #[serde(default, skip_serializing_if = "std::option::Option::is_none")]
        maybe: std::option::Option<std::string::String>,
        #[serde(with = "hex")]
        #[schemars(with = "std::string::String")]
        bytes: std::vec::Vec<u8>,
        map: BTreeMap<std::string::String, i64>,
    },
    #[protocol(other)]
    Unknown { r#type: std::string::String, raw: ::serde_json::Value },
}

pub fn check() {
    let msg: Everything = ::protocol_core::decode(r#"{"kind":"pingPong"}"#).unwrap();
    assert_eq!(<Everything as Protocol>::TYPES, &["pingPong", "wrapped", "r"]);
    assert_eq!(msg.type_name(), "pingPong");
}
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Inner({})", self.a)
    }
}

fn main() {
    shadowed::check();
}
