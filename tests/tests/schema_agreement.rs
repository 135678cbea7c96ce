//! The JSON Schema and the decoder agree, proved by property tests:
//!
//! - forward: every value the encoder writes validates against the schema and decodes back;
//! - reverse: documents made by mutating valid ones (fields dropped, added, retyped, numbers at
//!   type edges, tags swapped for aliases and unknown names, the tag moved last) are accepted by
//!   the schema exactly when the decoder accepts them.
//!
//! Known limits of JSON Schema that the generators stay away from, on purpose: integral floats
//! such as `3.0` (JSON Schema calls them integers, serde does not), and fields with custom
//! `with` codecs whose schema is the user's `#[schemars(with)]` approximation.

use std::collections::BTreeMap;

use proptest::prelude::*;
use protocol_core::{Protocol, decode, encode, schema_for};
use protocol_tests::seed::SeedMsg;
use protocol_tests::{Closed, Partial, Position, Shapes, Strict};
use serde_json::{Map, Value, json};

fn validator<T: Protocol>() -> jsonschema::Validator {
    let schema = schema_for::<T>();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| {
        panic!(
            "schema of {} does not compile: {e}",
            std::any::type_name::<T>()
        )
    })
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> String {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect::<Vec<_>>()
        .join("; ")
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,12}",
        "[a-z]{1,6}",
        Just(String::new()),
        Just("\u{0}\"\\\u{1F600}".to_owned())
    ]
}

fn position() -> impl Strategy<Value = Position> {
    (any::<i32>(), any::<i32>(), proptest::option::of(text())).prop_map(|(x, y, label)| Position {
        x,
        y,
        label,
    })
}

fn finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO,
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn shapes() -> impl Strategy<Value = Shapes> {
    let known: Vec<&'static str> = Shapes::VARIANTS
        .iter()
        .flat_map(|v| std::iter::once(v.wire_name).chain(v.aliases.iter().copied()))
        .collect();
    prop_oneof![
        Just(Shapes::Unit),
        position().prop_map(Shapes::Moved),
        any::<u8>().prop_map(|value| Shapes::RenamedThing { value }),
        (
            any::<u8>(),
            any::<i16>(),
            any::<u64>(),
            any::<i64>(),
            any::<i128>(),
            finite_f64()
        )
            .prop_map(
                |(small, signed, big, negative, huge, float)| Shapes::Numbers {
                    small,
                    signed,
                    big,
                    negative,
                    huge,
                    float
                }
            ),
        (
            any::<u32>(),
            text(),
            any::<u32>(),
            proptest::collection::vec(text(), 0..3),
            proptest::collection::vec(any::<u8>(), 0..8)
        )
            .prop_map(|(id, name, count, tags, data)| Shapes::Attrs {
                id,
                name,
                count,
                tags,
                data
            }),
        (
            text(),
            proptest::collection::btree_map("x_[a-z]{1,4}", json_value(), 0..3)
        )
            .prop_map(|(name, extra)| Shapes::Open { name, extra }),
        any::<bool>().prop_map(|some_field| Shapes::Loud { some_field }),
        proptest::collection::btree_map(any::<u32>(), text(), 0..4)
            .prop_map(|by_id| Shapes::Keyed { by_id }),
        (
            position(),
            proptest::collection::vec(position(), 0..3),
            proptest::option::of(position())
        )
            .prop_map(|(inner, list, maybe)| Shapes::Nested { inner, list, maybe }),
        (
            "[a-z]{1,8}",
            proptest::collection::btree_map("[a-z]{1,4}", json_value(), 0..3)
        )
            .prop_filter("tag must be unknown", move |(kind, _)| !known
                .contains(&kind.as_str()))
            .prop_map(|(kind, fields)| {
                let mut raw: Map<String, Value> = fields.into_iter().collect();
                raw.insert("kind".into(), Value::String(kind.clone()));
                Shapes::Unknown {
                    kind,
                    raw: Value::Object(raw),
                }
            }),
    ]
}

fn seed() -> impl Strategy<Value = SeedMsg> {
    prop_oneof![
        text().prop_map(|text| SeedMsg::Message { text }),
        text().prop_map(|message_id| SeedMsg::Read { message_id }),
    ]
}

fn strict() -> impl Strategy<Value = Strict> {
    prop_oneof![
        Just(Strict::Ping),
        position().prop_map(Strict::At),
        any::<u16>().prop_map(|value| Strict::Set { value }),
        any::<bool>().prop_map(|only| Strict::Closed(Closed { only })),
    ]
}

fn partial() -> impl Strategy<Value = Partial> {
    prop_oneof![
        any::<u16>().prop_map(|value| Partial::Loose { value }),
        any::<u16>().prop_map(|value| Partial::Tight { value }),
    ]
}

fn check_forward<T: Protocol + std::fmt::Debug + PartialEq>(
    v: &jsonschema::Validator,
    msg: &T,
) -> Result<(), TestCaseError> {
    let text = encode(msg).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    prop_assert!(
        v.is_valid(&doc),
        "encoder output fails the schema: {text}: {}",
        errors(v, &doc)
    );
    let back: T = decode(&text).unwrap();
    prop_assert_eq!(&back, msg);
    Ok(())
}

/// A value that sits at or just past a type edge, or is of another JSON type altogether.
fn edge_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(-1)),
        Just(json!(0)),
        Just(json!(255)),
        Just(json!(256)),
        Just(json!(65535)),
        Just(json!(65536)),
        Just(json!(i32::MAX)),
        Just(json!(i64::from(i32::MAX) + 1)),
        Just(json!(i64::MIN)),
        Just(json!(u64::MAX)),
        Just(json!(0.5)),
        Just(json!(-1.5e300)),
        Just(json!("")),
        Just(json!("text")),
        Just(json!(true)),
        Just(Value::Null),
        Just(json!([])),
        Just(json!({})),
        Just(json!([{"x": 1, "y": 2}])),
        Just(json!({"x": 1, "y": 2})),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Drop(usize),
    Add(String, Value),
    Retype(usize, Value),
    Tag(String),
    Nothing,
}

fn mutation(tag_names: Vec<String>) -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Drop),
        ("[a-z]{1,5}|ID|SOME_FIELD|x|y|label|value", edge_value())
            .prop_map(|(k, v)| Mutation::Add(k, v)),
        (any::<usize>(), edge_value()).prop_map(|(i, v)| Mutation::Retype(i, v)),
        prop_oneof![
            proptest::sample::select(tag_names),
            "[a-z-]{1,8}".prop_map(String::from)
        ]
        .prop_map(Mutation::Tag),
        Just(Mutation::Nothing),
    ]
}

/// Apply a mutation to a message's fields (never to fields with custom codecs), and write the
/// result with the tag first or last.
fn mutate(doc: &Value, tag: &str, m: &Mutation, protected: &[&str]) -> Value {
    let mut obj = doc.as_object().cloned().unwrap_or_default();
    let fields: Vec<String> = obj
        .keys()
        .filter(|k| *k != tag && !protected.contains(&k.as_str()))
        .cloned()
        .collect();
    match m {
        Mutation::Drop(i) if !fields.is_empty() => {
            obj.remove(&fields[i % fields.len()]);
        }
        Mutation::Add(k, v) if k != tag && !protected.contains(&k.as_str()) => {
            obj.insert(k.clone(), v.clone());
        }
        Mutation::Retype(i, v) if !fields.is_empty() => {
            obj.insert(fields[i % fields.len()].clone(), v.clone());
        }
        Mutation::Tag(t) => {
            obj.insert(tag.to_owned(), Value::String(t.clone()));
        }
        _ => {}
    }
    Value::Object(obj)
}

fn text_with_tag_last(doc: &Value, tag: &str) -> String {
    let obj = doc.as_object().unwrap();
    let mut parts: Vec<String> = obj
        .iter()
        .filter(|(k, _)| *k != tag)
        .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v))
        .collect();
    if let Some(t) = obj.get(tag) {
        parts.push(format!("{}:{}", serde_json::to_string(tag).unwrap(), t));
    }
    format!("{{{}}}", parts.join(","))
}

fn text_with_tag_first(doc: &Value, tag: &str) -> String {
    let obj = doc.as_object().unwrap();
    let mut parts: Vec<String> = Vec::new();
    if let Some(t) = obj.get(tag) {
        parts.push(format!("{}:{}", serde_json::to_string(tag).unwrap(), t));
    }
    parts.extend(
        obj.iter()
            .filter(|(k, _)| *k != tag)
            .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v)),
    );
    format!("{{{}}}", parts.join(","))
}

fn check_reverse<T: Protocol + std::fmt::Debug>(
    v: &jsonschema::Validator,
    msg: &T,
    m: &Mutation,
    protected: &[&str],
) -> Result<(), TestCaseError> {
    let doc: Value = serde_json::from_str(&encode(msg).unwrap()).unwrap();
    let mutated = mutate(&doc, T::TAG, m, protected);
    let valid = v.is_valid(&mutated);
    for text in [
        text_with_tag_first(&mutated, T::TAG),
        text_with_tag_last(&mutated, T::TAG),
    ] {
        let decoded = decode::<T>(&text);
        prop_assert_eq!(
            valid,
            decoded.is_ok(),
            "schema says {} but decoder says {:?} for {} (schema errors: {})",
            if valid { "valid" } else { "invalid" },
            decoded.as_ref().map(|_| ()),
            text,
            errors(v, &mutated)
        );
    }
    Ok(())
}

fn tag_names<T: Protocol>() -> Vec<String> {
    T::VARIANTS
        .iter()
        .flat_map(|v| std::iter::once(v.wire_name).chain(v.aliases.iter().copied()))
        .map(String::from)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn encoder_output_validates_shapes(msg in shapes()) {
        thread_local!(static V: jsonschema::Validator = validator::<Shapes>());
        V.with(|v| check_forward(v, &msg))?;
    }

    #[test]
    fn encoder_output_validates_seed(msg in seed()) {
        thread_local!(static V: jsonschema::Validator = validator::<SeedMsg>());
        V.with(|v| check_forward(v, &msg))?;
    }

    #[test]
    fn encoder_output_validates_strict(msg in strict(), p in partial()) {
        thread_local!(static V: jsonschema::Validator = validator::<Strict>());
        thread_local!(static P: jsonschema::Validator = validator::<Partial>());
        V.with(|v| check_forward(v, &msg))?;
        P.with(|v| check_forward(v, &p))?;
    }

    #[test]
    fn schema_accepts_exactly_what_decodes_shapes(msg in shapes(), m in mutation(tag_names::<Shapes>())) {
        thread_local!(static V: jsonschema::Validator = validator::<Shapes>());
        // `data` has a custom hex codec; `byId` keys are numbers the schema can only pattern-match.
        // Mutating the catch-all's fields is pointless: it accepts anything.
        // An i128 beyond 64 bits cannot pass through `serde_json::Value` (the mutation's medium).
        let fits_value = !matches!(msg, Shapes::Numbers { huge, .. } if huge > i128::from(u64::MAX) || huge < i128::from(i64::MIN));
        if fits_value && !matches!(msg, Shapes::Unknown { .. }) {
            V.with(|v| check_reverse(v, &msg, &m, &["data", "byId"]))?;
        }
    }

    #[test]
    fn schema_accepts_exactly_what_decodes_strict(msg in strict(), p in partial(), s in seed(),
                                                   m in mutation(tag_names::<Strict>()),
                                                   m2 in mutation(tag_names::<Partial>()),
                                                   m3 in mutation(tag_names::<SeedMsg>())) {
        thread_local!(static V: jsonschema::Validator = validator::<Strict>());
        thread_local!(static P: jsonschema::Validator = validator::<Partial>());
        thread_local!(static S: jsonschema::Validator = validator::<SeedMsg>());
        V.with(|v| check_reverse(v, &msg, &m, &[]))?;
        P.with(|v| check_reverse(v, &p, &m2, &[]))?;
        S.with(|v| check_reverse(v, &s, &m3, &[]))?;
    }
}

/// Hand-picked edge cases, in both directions.
#[test]
fn corpus_of_edge_cases() {
    let v = validator::<Shapes>();
    let cases: Vec<(Value, bool)> = vec![
        (json!({"kind": "unit"}), true),
        (json!({"kind": "unit", "extra": [1, 2]}), true),
        (json!({"kind": "moved", "x": 1, "y": 2}), true),
        (
            json!({"kind": "moved", "x": 1, "y": 2, "label": null}),
            true,
        ),
        (json!({"kind": "moved", "x": 1}), false),
        (json!({"kind": "older", "value": 255}), true),
        (json!({"kind": "old-name", "value": 256}), false),
        (json!({"kind": "renamed", "value": -1}), false),
        (
            json!({"kind": "numbers", "small": 0, "signed": 0, "big": u64::MAX, "negative": i64::MIN, "huge": 0, "float": 1e300}),
            true,
        ),
        (
            json!({"kind": "numbers", "small": 0, "signed": 32768, "big": 0, "negative": 0, "huge": 0, "float": 0}),
            false,
        ),
        (
            json!({"kind": "attrs", "ID": 1, "name": "n", "data": ""}),
            true,
        ),
        (
            json!({"kind": "attrs", "ID": 1, "nick": "n", "data": ""}),
            true,
        ),
        (
            json!({"kind": "attrs", "ID": 1, "name": "n", "nick": "n", "data": ""}),
            false,
        ),
        (json!({"kind": "attrs", "ID": 1, "data": ""}), false),
        (
            json!({"kind": "attrs", "id": 1, "name": "n", "data": ""}),
            false,
        ),
        (
            json!({"kind": "open", "name": "n", "anything": {"goes": true}}),
            true,
        ),
        (json!({"kind": "loud", "SOME_FIELD": true}), true),
        (json!({"kind": "loud", "someField": true}), false),
        (
            json!({"kind": "keyed", "byId": {"1": "a", "4294967295": "b"}}),
            true,
        ),
        (json!({"kind": "keyed", "byId": {"x": "a"}}), false),
        (
            json!({"kind": "nested", "inner": {"x": 1, "y": 2}, "list": []}),
            true,
        ),
        (
            json!({"kind": "nested", "inner": {"x": 1, "y": 2}, "list": [{"x": 1}]}),
            false,
        ),
        (json!({"kind": "brand-new", "whatever": 1}), true),
        (json!({"kind": 5}), false),
        (json!({"no-kind": 5}), false),
    ];
    for (doc, expected) in cases {
        assert_eq!(
            v.is_valid(&doc),
            expected,
            "schema on {doc}: {}",
            errors(&v, &doc)
        );
        let text = doc.to_string();
        assert_eq!(
            decode::<Shapes>(&text).is_ok(),
            expected,
            "decoder on {text}: {:?}",
            decode::<Shapes>(&text).err()
        );
        let last = text_with_tag_last(&doc, "kind");
        assert_eq!(
            decode::<Shapes>(&last).is_ok(),
            expected,
            "decoder on {last}"
        );
    }
}

#[test]
fn schema_shape_is_what_the_architecture_promises() {
    let s = schema_for::<SeedMsg>();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(s["title"], "SeedMsg");
    assert_eq!(s["discriminator"], json!({"propertyName": "type"}));
    let read = &s["oneOf"][1];
    assert_eq!(read["title"], "Read");
    assert_eq!(read["description"], "A read receipt.");
    assert_eq!(read["properties"]["type"], json!({"const": "read"}));
    assert_eq!(read["required"], json!(["type", "messageId"]));
    assert!(read.get("additionalProperties").is_none());
    let strict = schema_for::<Strict>();
    for variant in strict["oneOf"].as_array().unwrap() {
        assert_eq!(variant["additionalProperties"], json!(false), "{variant}");
    }
    let partial = schema_for::<Partial>();
    assert!(partial["oneOf"][0].get("additionalProperties").is_none());
    assert_eq!(partial["oneOf"][1]["additionalProperties"], json!(false));
    // No non-standard formats anywhere, nested types included.
    let shapes = serde_json::to_string(&schema_for::<Shapes>()).unwrap();
    for bad in [
        "uint8", "int16", "uint32", "int32", "uint64", "int64", "int128", "double",
    ] {
        assert!(
            !shapes.contains(&format!("\"format\":\"{bad}\"")),
            "{bad} left in {shapes}"
        );
    }
    // Nested inside another schemars type.
    let env = schema_for::<protocol_tests::Envelope>();
    assert_eq!(env["properties"]["msg"]["$ref"], "#/$defs/Shapes");
    assert!(env["$defs"]["Shapes"]["oneOf"].is_array());
    assert!(!env.to_string().contains("\"format\":\"uint64\""));
    let _: BTreeMap<String, Value> = BTreeMap::new();
}
