//! JSON Schema (2020-12) of a protocol, derived from the same enum as the decoder.
//!
//! One subschema per variant under `oneOf`, each an object with the tag as a `const` (or an
//! `enum` of the wire name and its aliases), `title` = variant name, `description` = doc comment,
//! and `additionalProperties: false` exactly when the decoder rejects unknown fields. Integer
//! bounds come from the Rust types; schemars' non-standard `format` values (`uint8`, `int64`,
//! `double`, ...) are replaced by `minimum`/`maximum` so `ajv --strict` accepts the schema.
//! What the schema's keywords cannot say (the reply a request declares, the fields in the order
//! the encoder writes them and which of them it may leave out) is in each variant's `$comment`,
//! see [`FIELDS_COMMENT`].

use schemars::transform::{RecursiveTransform, Transform};
use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

use crate::protocol::{Protocol, VariantKind, VariantMeta};

/// The JSON Schema of a protocol enum (or of any [`JsonSchema`] type) as a JSON value.
///
/// ```
/// use protocol_core::{Protocol, schema_for};
///
/// #[derive(Protocol)]
/// #[protocol(rename_all = "snake_case")]
/// enum ClientMsg {
///     Typing { room: String, active: bool },
/// }
///
/// let schema = schema_for::<ClientMsg>();
/// assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
/// let typing = &schema["oneOf"][0];
/// assert_eq!(typing["title"], "Typing");
/// assert_eq!(typing["properties"]["type"]["const"], "typing");
/// assert_eq!(typing["required"], serde_json::json!(["type", "room", "active"]));
/// // What the encoder writes, in its order (the correlation id only on replies):
/// assert_eq!(typing["$comment"], "protocol:fields=id?,room,active");
/// ```
pub fn schema_for<T: JsonSchema + ?Sized>() -> Value {
    let mut schema = generator().into_root_schema_for::<T>().to_value();
    // What the encoder writes of the named types, from the serialize contract of the same types.
    let written = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    if let (Some(Value::Object(defs)), Some(Value::Object(written))) =
        (schema.get_mut("$defs"), written.get("$defs"))
    {
        for (name, def) in defs.iter_mut() {
            if let Some(w) = written.get(name) {
                annotate_written(def, w);
            }
        }
    }
    schema
}

/// Give an object schema of a named type its [`FIELDS_COMMENT`] list, from `written`, the
/// serialize-contract schema of the same type: the fields it requires (always written, in
/// declaration order), then the others (may be left out, by name). Left alone when the two
/// schemas do not have the same properties (fields renamed differently per direction).
fn annotate_written(def: &mut Value, written: &Value) {
    let Some(obj) = def.as_object_mut() else {
        return;
    };
    if obj.contains_key("$comment") {
        return;
    }
    let (Some(Value::Object(props)), Some(Value::Object(wprops))) =
        (obj.get("properties"), written.get("properties"))
    else {
        return;
    };
    if !props.keys().eq(wprops.keys()) {
        return;
    }
    let always: Vec<&str> = written
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|n| props.contains_key(*n))
        .collect();
    let mut list: Vec<(&str, bool)> = always.iter().map(|n| (*n, true)).collect();
    for name in props.keys() {
        if !always.contains(&name.as_str()) {
            list.push((name, false));
        }
    }
    let comment = format!("{FIELDS_COMMENT}{}", fields_list(&list));
    obj.insert("$comment".into(), comment.into());
}

/// The schema generator every protocol schema is made with: draft 2020-12, the deserialize
/// contract (what the decoder accepts), and the strict-format transform.
pub fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .for_deserialize()
        .with_transform(RecursiveTransform(strict_formats as fn(&mut Schema)))
        .into_generator()
}

/// Formats defined by JSON Schema 2020-12; any other `format` is removed.
const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Replace schemars' numeric `format` values by bounds, and drop any other non-standard format.
fn strict_formats(schema: &mut Schema) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let Some(format) = obj.get("format").and_then(Value::as_str) else {
        return;
    };
    if STANDARD_FORMATS.contains(&format) {
        return;
    }
    let bounds: Option<(Value, Value)> = match format {
        "int8" => Some((i8::MIN.into(), i8::MAX.into())),
        "int16" => Some((i16::MIN.into(), i16::MAX.into())),
        "int32" => Some((i32::MIN.into(), i32::MAX.into())),
        "int64" => Some((i64::MIN.into(), i64::MAX.into())),
        "int" => Some(((isize::MIN as i64).into(), (isize::MAX as i64).into())),
        "uint8" => Some((0.into(), u8::MAX.into())),
        "uint16" => Some((0.into(), u16::MAX.into())),
        "uint32" => Some((0.into(), u32::MAX.into())),
        "uint64" => Some((0.into(), u64::MAX.into())),
        "uint" => Some((0.into(), (usize::MAX as u64).into())),
        "uint128" => Some((0.into(), Value::Null)),
        _ => None,
    };
    if let Some((min, max)) = bounds {
        obj.entry("minimum").or_insert(min);
        if !max.is_null() {
            obj.entry("maximum").or_insert(max);
        }
    }
    obj.remove("format");
}

fn tag_property(meta: &VariantMeta) -> Value {
    if meta.aliases.is_empty() {
        json!({ "const": meta.wire_name })
    } else {
        let mut names = vec![meta.wire_name];
        names.extend_from_slice(meta.aliases);
        json!({ "enum": names })
    }
}

/// Put the tag into an object schema of a variant's fields, plus title and description.
fn tagged_object(mut fields: Schema, tag: &str, meta: &VariantMeta) -> Schema {
    let obj = fields.ensure_object();
    let mut out = Map::new();
    out.insert("title".into(), meta.name.into());
    if !meta.doc.is_empty() {
        out.insert("description".into(), meta.doc.into());
    }
    out.insert("type".into(), "object".into());
    let mut properties = match obj.remove("properties") {
        Some(Value::Object(p)) => p,
        _ => Map::new(),
    };
    properties.insert(tag.to_owned(), tag_property(meta));
    let mut required = vec![Value::from(tag)];
    if let Some(Value::Array(r)) = obj.remove("required") {
        required.extend(r);
    }
    out.insert("properties".into(), Value::Object(properties));
    out.insert("required".into(), Value::Array(required));
    if meta.deny_unknown_fields {
        out.insert("additionalProperties".into(), false.into());
    }
    // Keep whatever else the fields' schema says (additionalProperties of an inner type that
    // denies unknown fields, patternProperties of a flattened map, ...), but not its own
    // title/description, which describe the generated struct rather than the message.
    for (k, v) in std::mem::take(obj) {
        if matches!(k.as_str(), "title" | "description" | "type" | "$schema") {
            continue;
        }
        out.entry(k).or_insert(v);
    }
    Schema::from(out)
}

/// Schema of a unit variant: just the tag.
pub fn unit_variant_schema(tag: &str, meta: &VariantMeta) -> Schema {
    tagged_object(Schema::default(), tag, meta)
}

/// The `$comment` token that lists a variant's fields in declaration order (the order serde
/// writes them), each followed by `?` when the encoder may leave it out (the correlation id,
/// `skip_serializing_if`, `skip_serializing`): `protocol:fields=id?,room,text,note?`.
///
/// The schema's `properties` and `required` say what the decoder accepts; this token says what
/// the encoder writes, which a JSON Schema keyword cannot say. Names are percent-encoded outside
/// `A-Z a-z 0-9 _ - . $ @`. The named types under `$defs` carry the same list (from serde's
/// serialize contract: the fields it always writes in declaration order, then the others); the
/// fields of a flattened or newtype inner struct in a variant are not listed.
pub const FIELDS_COMMENT: &str = "protocol:fields=";

/// `name` percent-encoded for a [`FIELDS_COMMENT`] list.
fn encode_field_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'$' | b'@') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `room,text,note?` for (name, always written) pairs.
fn fields_list(fields: &[(&str, bool)]) -> String {
    fields
        .iter()
        .map(|(name, always)| {
            let mut item = encode_field_name(name);
            if !always {
                item.push('?');
            }
            item
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Schema of a struct variant, from the schema of its generated fields struct.
///
/// `aliases` lists fields with `#[serde(alias)]`: the decoder accepts each alias in place of the
/// field (exactly one of the names, a second one is a duplicate), so the schema does too.
/// `order` lists the fields the encoder writes, in declaration order, each with whether it is
/// always written (see [`FIELDS_COMMENT`]).
pub fn struct_variant_schema(
    mut fields: Schema,
    tag: &str,
    meta: &VariantMeta,
    aliases: &[(&str, &[&str])],
    order: &[(&str, bool)],
) -> Schema {
    let obj = fields.ensure_object();
    let mut all_of = Vec::new();
    for (name, alias_names) in aliases {
        let Some(prop) = obj.get("properties").and_then(|p| p.get(*name)).cloned() else {
            continue;
        };
        if let Some(Value::Object(props)) = obj.get_mut("properties") {
            for alias in *alias_names {
                props.insert((*alias).to_owned(), prop.clone());
            }
        }
        let mut names = vec![*name];
        names.extend_from_slice(alias_names);
        let was_required = match obj.get_mut("required") {
            Some(Value::Array(req)) => {
                let before = req.len();
                req.retain(|r| r != name);
                req.len() != before
            }
            _ => false,
        };
        // Each alternative repeats the property, which `ajv --strict` (strictRequired) asks for.
        if was_required {
            let one_of: Vec<Value> = names
                .iter()
                .map(|n| json!({ "properties": { *n: prop }, "required": [n] }))
                .collect();
            all_of.push(json!({ "oneOf": one_of }));
        } else {
            for (i, a) in names.iter().enumerate() {
                for b in &names[i + 1..] {
                    all_of.push(json!({ "not": { "properties": { *a: prop, *b: prop }, "required": [a, b] } }));
                }
            }
        }
    }
    if !all_of.is_empty() {
        obj.insert("allOf".into(), Value::Array(all_of));
    }
    let mut schema = tagged_object(fields, tag, meta);
    // Completed (correlation id, reply) by `with_correlation`.
    schema.ensure_object().insert(
        "$comment".into(),
        format!("{FIELDS_COMMENT}{}", fields_list(order)).into(),
    );
    schema
}

/// Schema of a newtype variant, from the inner struct's own (inlined) schema.
pub fn newtype_variant_schema(inner: Schema, tag: &str, meta: &VariantMeta) -> Schema {
    tagged_object(inner, tag, meta)
}

/// Schema of the catch-all variant: any object whose tag is a string naming no known variant
/// (wire names and aliases alike, so `oneOf` stays exclusive).
pub fn other_variant_schema(tag: &str, meta: &VariantMeta, variants: &[VariantMeta]) -> Schema {
    let known: Vec<&str> = variants
        .iter()
        .filter(|v| v.kind != VariantKind::Other)
        .flat_map(|v| std::iter::once(v.wire_name).chain(v.aliases.iter().copied()))
        .collect();
    let mut props = Map::new();
    props.insert(
        tag.to_owned(),
        json!({ "type": "string", "not": { "enum": known } }),
    );
    let mut out = Map::new();
    out.insert("title".into(), meta.name.into());
    let doc = if meta.doc.is_empty() {
        "Any message with a type this protocol does not know; it is kept whole."
    } else {
        meta.doc
    };
    out.insert("description".into(), doc.into());
    out.insert("type".into(), "object".into());
    out.insert("properties".into(), Value::Object(props));
    out.insert("required".into(), json!([tag]));
    Schema::from(out)
}

/// The whole protocol: `oneOf` the variants, a discriminator hint when every variant has a
/// fixed tag, and the strict-format transform applied to everything this generator holds, so
/// the result is strict-valid wherever it is embedded.
pub fn protocol_schema<T: Protocol>(
    generator: &mut SchemaGenerator,
    doc: &str,
    variants: Vec<Schema>,
) -> Schema {
    let mut out = Map::new();
    if !doc.is_empty() {
        out.insert("description".into(), doc.into());
    }
    out.insert("type".into(), "object".into());
    let variants: Vec<Value> = variants
        .into_iter()
        .zip(T::VARIANTS)
        .map(|(schema, meta)| with_correlation::<T>(schema, meta).to_value())
        .collect();
    out.insert("oneOf".into(), Value::Array(variants));
    if !T::HAS_OTHER {
        out.insert("discriminator".into(), json!({ "propertyName": T::TAG }));
    }
    out.insert("properties".into(), json!({ T::TAG: { "type": "string" } }));
    out.insert("required".into(), json!([T::TAG]));
    let mut schema = Schema::from(out);
    let mut transform = RecursiveTransform(strict_formats as fn(&mut Schema));
    transform.transform(&mut schema);
    for def in generator.definitions_mut().values_mut() {
        if let Ok(s) = <&mut Schema>::try_from(def) {
            transform.transform(s);
        }
    }
    schema
}

/// Every message may carry the correlation id beside its fields; a request says which reply
/// answers it. Both go into the variant's `$comment`, read by the schema tooling:
/// `protocol:reply=<wire name>` (requests only), then the [`FIELDS_COMMENT`] list, the
/// correlation id first (the encoder writes it after the tag, and only on replies).
fn with_correlation<T: Protocol>(mut schema: Schema, meta: &VariantMeta) -> Schema {
    if meta.kind == VariantKind::Other {
        return schema;
    }
    let obj = schema.ensure_object();
    let declared = match obj.remove("$comment") {
        Some(Value::String(c)) => c
            .strip_prefix(FIELDS_COMMENT)
            .map(str::to_owned)
            .unwrap_or_default(),
        _ => String::new(),
    };
    let mut fields = format!("{FIELDS_COMMENT}{}", fields_list(&[(T::ID_FIELD, false)]));
    if !declared.is_empty() {
        fields.push(',');
        fields.push_str(&declared);
    }
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        props.insert(
            T::ID_FIELD.to_owned(),
            json!({
                "description": "Correlation id chosen by the sender of a request; replies and error replies carry the same id.",
                "type": "integer",
                "minimum": 0,
                "maximum": u64::MAX,
            }),
        );
    }
    let comment = match meta.reply() {
        Some(reply) => format!("protocol:reply={reply} {fields}"),
        None => fields,
    };
    obj.insert("$comment".into(), comment.into());
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Protocol::json_schema` has no default body (the trait needs nothing of this module):
    /// the derive writes it, and it is `schema_for`.
    #[cfg(feature = "derive")]
    #[test]
    fn the_traits_schema_is_schema_for() {
        #[derive(crate::Protocol)]
        #[protocol(rename_all = "snake_case")]
        enum Msg {
            /// Join a room.
            Join {
                room: String,
            },
            Ping,
        }
        let schema = <Msg as Protocol>::json_schema();
        assert_eq!(schema, schema_for::<Msg>());
        assert_eq!(schema["oneOf"][0]["title"], "Join");
        assert_eq!(schema["oneOf"][1]["properties"]["type"]["const"], "ping");
    }

    #[test]
    fn numeric_formats_become_bounds() {
        let mut s = Schema::from(
            json!({ "type": "integer", "format": "uint8", "minimum": 0, "maximum": 255 })
                .as_object()
                .unwrap()
                .clone(),
        );
        strict_formats(&mut s);
        assert_eq!(
            s.to_value(),
            json!({ "type": "integer", "minimum": 0, "maximum": 255 })
        );

        let mut s = Schema::from(
            json!({ "type": "integer", "format": "int64" })
                .as_object()
                .unwrap()
                .clone(),
        );
        strict_formats(&mut s);
        assert_eq!(
            s.to_value(),
            json!({ "type": "integer", "minimum": i64::MIN, "maximum": i64::MAX })
        );

        let mut s = Schema::from(
            json!({ "type": "number", "format": "double" })
                .as_object()
                .unwrap()
                .clone(),
        );
        strict_formats(&mut s);
        assert_eq!(s.to_value(), json!({ "type": "number" }));

        let mut s = Schema::from(
            json!({ "type": "string", "format": "uuid" })
                .as_object()
                .unwrap()
                .clone(),
        );
        strict_formats(&mut s);
        assert_eq!(s.to_value(), json!({ "type": "string", "format": "uuid" }));
    }

    #[test]
    fn field_lists_encode_names_and_mark_skippable_fields() {
        assert_eq!(
            fields_list(&[
                ("room", true),
                ("note", false),
                ("a b,c?", true),
                ("é", false)
            ]),
            "room,note?,a%20b%2Cc%3F,%C3%A9?"
        );
        assert_eq!(fields_list(&[]), "");
    }
}
