//! Support code called by `#[derive(Protocol)]`. Not public API: it may change in any release.
//!
//! The macro stays thin: it emits per-variant structs and `match`es that call into the codec's
//! engine and the schema builders; this module only re-exports what the generated code names,
//! under short paths (`::protocol_core::__private::unit_variant`).

pub use schemars;
pub use serde;
pub use serde_json;

pub use crate::codec::engine::{
    DuplicateTag, correlation_id, deserialize, newtype_variant, serialize_other, struct_variant,
    unit_variant,
};
pub use crate::dispatch::DefaultContextKind;
pub use crate::protocol::{Keys, PushRef, ReplyRef};
pub use crate::schema::{
    newtype_variant_schema, other_variant_schema, protocol_schema, struct_variant_schema,
    unit_variant_schema,
};
