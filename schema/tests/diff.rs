//! `protocol-schema diff`: a table of change kinds, each judged for both directions through the
//! real binary, plus export directories, output formats and bad input.

mod common;
mod protocols;

use common::{TempDir, protocol_schema};
use protocol_schema::diff::{ChangeKind, diff_values};
use serde_json::{Value, json};

const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";

/// A protocol schema of these variants (a discriminator unless one is a catch-all).
fn proto(variants: Vec<Value>) -> Value {
    proto_with_defs(variants, json!({}))
}

fn proto_with_defs(variants: Vec<Value>, defs: Value) -> Value {
    let catch_all = variants
        .iter()
        .any(|v| v["properties"]["type"].get("not").is_some());
    let mut root = json!({
        "$schema": DRAFT,
        "title": "Msg",
        "type": "object",
        "oneOf": variants,
        "properties": {"type": {"type": "string"}},
        "required": ["type"],
    });
    if !catch_all {
        root["discriminator"] = json!({"propertyName": "type"});
    }
    if defs.as_object().is_some_and(|d| !d.is_empty()) {
        root["$defs"] = defs;
    }
    root
}

fn title_of(wire: &str) -> String {
    let mut c = wire.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// A variant with a fixed tag, these properties, and these required fields.
fn var(wire: &str, props: Value, required: &[&str]) -> Value {
    let mut properties = json!({"type": {"const": wire}});
    for (k, v) in props.as_object().unwrap() {
        properties[k] = v.clone();
    }
    let mut req = vec![json!("type")];
    req.extend(required.iter().map(|r| json!(r)));
    json!({
        "title": title_of(wire),
        "type": "object",
        "properties": properties,
        "required": req,
    })
}

fn with(mut v: Value, f: impl FnOnce(&mut Value)) -> Value {
    f(&mut v);
    v
}

fn catch_all(known: &[&str]) -> Value {
    json!({
        "title": "Unknown",
        "type": "object",
        "properties": {"type": {"type": "string", "not": {"enum": known}}},
        "required": ["type"],
    })
}

fn join() -> Value {
    var("join", json!({"room": {"type": "string"}}), &["room"])
}

fn read() -> Value {
    var(
        "read",
        json!({"messageId": {"type": "string"}}),
        &["messageId"],
    )
}

/// A protocol with `join` and a `message` variant of this field schema.
fn field(schema: Value) -> Value {
    proto(vec![join(), var("message", json!({"v": schema}), &["v"])])
}

struct Row {
    kind: ChangeKind,
    old: Value,
    new: Value,
    /// Breaking for client -> server?
    client: bool,
    /// Breaking for server -> client?
    server: bool,
}

fn row(kind: ChangeKind, old: Value, new: Value, client: bool, server: bool) -> Row {
    Row {
        kind,
        old,
        new,
        client,
        server,
    }
}

fn table() -> Vec<Row> {
    use ChangeKind as K;
    let base = proto(vec![join(), read()]);
    let closed = |v: Value| with(v, |v| v["additionalProperties"] = json!(false));
    let reply =
        |v: Value, r: &str| with(v, |v| v["$comment"] = json!(format!("protocol:reply={r}")));
    let aliased_join = |aliases: &[&str]| {
        with(join(), |v| {
            let mut names = vec![json!("join")];
            names.extend(aliases.iter().map(|a| json!(a)));
            v["properties"]["type"] = json!({"enum": names});
        })
    };
    let aliased_field = |names: &[&str]| {
        // A required field with aliases, as protocol-core writes it.
        let alts: Vec<Value> = names
            .iter()
            .map(|n| json!({"properties": {*n: {"type": "string"}}, "required": [n]}))
            .collect();
        let mut props = json!({"type": {"const": "read"}});
        for n in names {
            props[*n] = json!({"type": "string"});
        }
        json!({"title": "Read", "type": "object", "properties": props, "required": ["type"],
               "allOf": [{"oneOf": alts}]})
    };
    let pos_defs = |x: Value| json!({"Position": {"type": "object", "properties": {"x": x}, "required": ["x"]}});
    let at = |name: &str| {
        var(
            "draw",
            json!({"at": {"$ref": format!("#/$defs/{name}")}}),
            &["at"],
        )
    };
    let u8_ = json!({"type": "integer", "minimum": 0, "maximum": 255});
    vec![
        row(
            K::VariantAdded,
            base.clone(),
            proto(vec![join(), read(), var("ping", json!({}), &[])]),
            false,
            true,
        ),
        row(
            K::VariantAdded,
            proto(vec![join(), read(), catch_all(&["join", "read"])]),
            proto(vec![
                join(),
                read(),
                var("ping", json!({}), &[]),
                catch_all(&["join", "read", "ping"]),
            ]),
            false,
            false,
        ),
        row(
            K::VariantRemoved,
            base.clone(),
            proto(vec![join()]),
            true,
            false,
        ),
        row(
            K::VariantRenamed,
            base.clone(),
            proto(vec![
                with(join(), |v| {
                    v["properties"]["type"] = json!({"const": "enter"})
                }),
                read(),
            ]),
            true,
            true,
        ),
        row(
            K::WireNameChanged,
            base.clone(),
            proto(vec![
                with(join(), |v| {
                    v["properties"]["type"] = json!({"enum": ["enter", "join"]})
                }),
                read(),
            ]),
            false,
            true,
        ),
        row(
            K::TagAliasAdded,
            base.clone(),
            proto(vec![aliased_join(&["enter"]), read()]),
            false,
            false,
        ),
        row(
            K::TagValueRemoved,
            proto(vec![aliased_join(&["enter"]), read()]),
            base.clone(),
            true,
            false,
        ),
        row(
            K::TagFieldChanged,
            base.clone(),
            {
                let mut p = proto(vec![]);
                p["oneOf"] = json!([{"title": "Join", "type": "object", "properties": {"kind": {"const": "join"}}, "required": ["kind"]}]);
                p["discriminator"] = json!({"propertyName": "kind"});
                p["properties"] = json!({"kind": {"type": "string"}});
                p["required"] = json!(["kind"]);
                p
            },
            true,
            true,
        ),
        row(
            K::CatchAllAdded,
            base.clone(),
            proto(vec![join(), read(), catch_all(&["join", "read"])]),
            false,
            false,
        ),
        row(
            K::CatchAllRemoved,
            proto(vec![join(), read(), catch_all(&["join", "read"])]),
            base.clone(),
            true,
            false,
        ),
        row(
            K::ReplyAdded,
            base.clone(),
            proto(vec![reply(join(), "joined"), read()]),
            false,
            false,
        ),
        row(
            K::ReplyRemoved,
            proto(vec![reply(join(), "joined"), read()]),
            base.clone(),
            true,
            true,
        ),
        row(
            K::ReplyChanged,
            proto(vec![reply(join(), "joined"), read()]),
            proto(vec![reply(join(), "welcome"), read()]),
            true,
            true,
        ),
        row(
            K::TitleChanged,
            base.clone(),
            proto(vec![with(join(), |v| v["title"] = json!("Enter")), read()]),
            false,
            false,
        ),
        row(
            K::DescriptionChanged,
            base.clone(),
            proto(vec![
                with(join(), |v| v["description"] = json!("Join a room.")),
                read(),
            ]),
            false,
            false,
        ),
        row(
            K::DefaultChanged,
            field(json!({"type": "boolean", "default": false})),
            field(json!({"type": "boolean", "default": true})),
            false,
            false,
        ),
        row(
            K::OptionalFieldAdded,
            base.clone(),
            proto(vec![
                with(join(), |v| {
                    v["properties"]["note"] = json!({"type": "string"})
                }),
                read(),
            ]),
            false,
            false,
        ),
        row(
            K::OptionalFieldAdded,
            proto(vec![closed(join()), read()]),
            proto(vec![
                closed(with(join(), |v| {
                    v["properties"]["note"] = json!({"type": "string"})
                })),
                read(),
            ]),
            false,
            true,
        ),
        row(
            K::RequiredFieldAdded,
            base.clone(),
            proto(vec![
                var(
                    "join",
                    json!({"room": {"type": "string"}, "user": {"type": "string"}}),
                    &["room", "user"],
                ),
                read(),
            ]),
            true,
            false,
        ),
        row(
            K::RequiredFieldAdded,
            proto(vec![closed(join()), read()]),
            proto(vec![
                closed(var(
                    "join",
                    json!({"room": {"type": "string"}, "user": {"type": "string"}}),
                    &["room", "user"],
                )),
                read(),
            ]),
            true,
            true,
        ),
        row(
            K::OptionalFieldRemoved,
            proto(vec![
                with(join(), |v| {
                    v["properties"]["note"] = json!({"type": "string"})
                }),
                read(),
            ]),
            base.clone(),
            false,
            false,
        ),
        row(
            K::RequiredFieldRemoved,
            base.clone(),
            proto(vec![var("join", json!({}), &[]), read()]),
            false,
            true,
        ),
        row(
            K::FieldBecameRequired,
            proto(vec![
                with(join(), |v| {
                    v["properties"]["note"] = json!({"type": "string"})
                }),
                read(),
            ]),
            proto(vec![
                with(join(), |v| {
                    v["properties"]["note"] = json!({"type": "string"});
                    v["required"] = json!(["type", "room", "note"]);
                }),
                read(),
            ]),
            true,
            false,
        ),
        row(
            K::FieldBecameOptional,
            base.clone(),
            proto(vec![
                with(join(), |v| v["required"] = json!(["type"])),
                read(),
            ]),
            false,
            true,
        ),
        row(
            K::FieldRenamed,
            proto(vec![join(), aliased_field(&["messageId"])]),
            proto(vec![join(), aliased_field(&["id2", "messageId"])]),
            false,
            true,
        ),
        row(
            K::FieldAliasAdded,
            proto(vec![join(), aliased_field(&["messageId"])]),
            proto(vec![join(), aliased_field(&["messageId", "msgId"])]),
            false,
            false,
        ),
        row(
            K::FieldAliasRemoved,
            proto(vec![join(), aliased_field(&["messageId", "msgId"])]),
            proto(vec![join(), aliased_field(&["messageId"])]),
            true,
            false,
        ),
        row(
            K::AdditionalPropertiesClosed,
            base.clone(),
            proto(vec![closed(join()), read()]),
            true,
            false,
        ),
        row(
            K::AdditionalPropertiesOpened,
            proto(vec![closed(join()), read()]),
            base.clone(),
            false,
            false,
        ),
        row(
            K::AdditionalPropertiesAllowed,
            proto(vec![closed(join()), read()]),
            proto(vec![
                with(join(), |v| v["additionalProperties"] = json!(true)),
                read(),
            ]),
            false,
            true,
        ),
        row(
            K::AdditionalPropertiesRestricted,
            base.clone(),
            proto(vec![
                with(join(), |v| {
                    v["additionalProperties"] = json!({"type": "string"})
                }),
                read(),
            ]),
            true,
            false,
        ),
        row(
            K::AdditionalPropertiesUnrestricted,
            proto(vec![
                with(join(), |v| {
                    v["additionalProperties"] = json!({"type": "string"})
                }),
                read(),
            ]),
            base.clone(),
            false,
            true,
        ),
        row(
            K::TypeChanged,
            field(json!({"type": "string"})),
            field(json!({"type": "integer"})),
            true,
            true,
        ),
        row(
            K::TypeWidened,
            field(json!({"type": "string"})),
            field(json!({"type": ["string", "null"]})),
            false,
            true,
        ),
        row(
            K::TypeWidened,
            field(json!({"type": "integer"})),
            field(json!({"type": "number"})),
            false,
            true,
        ),
        row(
            K::TypeNarrowed,
            field(json!({"type": "number"})),
            field(json!({"type": "integer"})),
            true,
            false,
        ),
        row(
            K::RangeWidened,
            field(u8_.clone()),
            field(json!({"type": "integer", "minimum": 0, "maximum": 65535})),
            false,
            true,
        ),
        row(
            K::RangeNarrowed,
            field(u8_.clone()),
            field(json!({"type": "integer", "minimum": 1, "maximum": 255})),
            true,
            false,
        ),
        row(
            K::RangeNarrowed,
            field(u8_.clone()),
            field(json!({"type": "integer", "exclusiveMinimum": 0, "maximum": 255})),
            true,
            false,
        ),
        row(
            K::LengthNarrowed,
            field(json!({"type": "string", "maxLength": 4000})),
            field(json!({"type": "string", "maxLength": 100})),
            true,
            false,
        ),
        row(
            K::LengthWidened,
            field(json!({"type": "array", "items": {"type": "string"}, "minItems": 1})),
            field(json!({"type": "array", "items": {"type": "string"}})),
            false,
            true,
        ),
        row(
            K::EnumValueAdded,
            field(json!({"type": "string", "enum": ["a", "b"]})),
            field(json!({"type": "string", "enum": ["a", "b", "c"]})),
            false,
            true,
        ),
        row(
            K::EnumValueRemoved,
            field(json!({"type": "string", "enum": ["a", "b"]})),
            field(json!({"type": "string", "enum": ["a"]})),
            true,
            false,
        ),
        row(
            K::EnumConstraintAdded,
            field(json!({"type": "string"})),
            field(json!({"type": "string", "enum": ["a"]})),
            true,
            false,
        ),
        row(
            K::EnumConstraintRemoved,
            field(json!({"type": "string", "enum": ["a"]})),
            field(json!({"type": "string"})),
            false,
            true,
        ),
        row(
            K::ConstChanged,
            field(json!({"const": 1})),
            field(json!({"const": 2})),
            true,
            true,
        ),
        row(
            K::PatternAdded,
            field(json!({"type": "string"})),
            field(json!({"type": "string", "pattern": "^[a-z]+$"})),
            true,
            false,
        ),
        row(
            K::PatternRemoved,
            field(json!({"type": "string", "pattern": "^[a-z]+$"})),
            field(json!({"type": "string"})),
            false,
            true,
        ),
        row(
            K::PatternChanged,
            field(json!({"type": "string", "pattern": "^[a-z]+$"})),
            field(json!({"type": "string", "pattern": "^[0-9]+$"})),
            true,
            true,
        ),
        row(
            K::FormatAdded,
            field(json!({"type": "string"})),
            field(json!({"type": "string", "format": "uuid"})),
            true,
            false,
        ),
        row(
            K::FormatRemoved,
            field(json!({"type": "string", "format": "uuid"})),
            field(json!({"type": "string"})),
            false,
            true,
        ),
        row(
            K::FormatChanged,
            field(json!({"type": "string", "format": "uuid"})),
            field(json!({"type": "string", "format": "email"})),
            true,
            true,
        ),
        row(
            K::UnionAlternativeAdded,
            field(json!({"type": "string"})),
            field(json!({"anyOf": [{"type": "string"}, {"type": "null"}]})),
            false,
            true,
        ),
        row(
            K::UnionAlternativeRemoved,
            field(
                json!({"oneOf": [{"type": "string", "enum": ["Empty"]}, {"type": "object", "properties": {"Square": u8_}, "required": ["Square"]}]}),
            ),
            field(json!({"oneOf": [{"type": "string", "enum": ["Empty"]}]})),
            true,
            false,
        ),
        row(
            K::TupleLengthChanged,
            field(
                json!({"type": "array", "prefixItems": [{"type": "string"}], "minItems": 1, "maxItems": 1}),
            ),
            field(
                json!({"type": "array", "prefixItems": [{"type": "string"}, {"type": "string"}], "minItems": 2, "maxItems": 2}),
            ),
            true,
            true,
        ),
        row(
            K::ConstraintAdded,
            field(json!({"type": "integer"})),
            field(json!({"type": "integer", "multipleOf": 2})),
            true,
            false,
        ),
        row(
            K::ConstraintRemoved,
            field(json!({"type": "integer", "multipleOf": 2})),
            field(json!({"type": "integer"})),
            false,
            true,
        ),
        row(
            K::ConstraintChanged,
            field(json!({"type": "integer", "multipleOf": 2})),
            field(json!({"type": "integer", "multipleOf": 3})),
            true,
            true,
        ),
        row(
            K::TypeRenamed,
            proto_with_defs(vec![at("Position")], pos_defs(u8_.clone())),
            proto_with_defs(
                vec![at("Point")],
                json!({"Point": pos_defs(u8_.clone())["Position"]}),
            ),
            false,
            false,
        ),
        // A change inside a named type is found through the reference.
        row(
            K::RangeWidened,
            proto_with_defs(vec![at("Position")], pos_defs(u8_.clone())),
            proto_with_defs(
                vec![at("Position")],
                pos_defs(json!({"type": "integer", "minimum": -128, "maximum": 255})),
            ),
            false,
            true,
        ),
        // Array items are compared.
        row(
            K::TypeChanged,
            field(json!({"type": "array", "items": {"type": "string"}})),
            field(json!({"type": "array", "items": {"type": "boolean"}})),
            true,
            true,
        ),
    ]
}

#[test]
fn the_table_covers_at_least_25_change_kinds() {
    let kinds: std::collections::BTreeSet<ChangeKind> = table().iter().map(|r| r.kind).collect();
    assert!(kinds.len() >= 25, "only {} kinds", kinds.len());
    // Every kind the diff can report appears in the table.
    let missing: Vec<&str> = ChangeKind::ALL
        .iter()
        .filter(|k| !kinds.contains(k))
        .map(|k| k.as_str())
        .collect();
    assert!(missing.is_empty(), "kinds without a row: {missing:?}");
}

#[test]
fn every_row_is_judged_per_direction_by_the_binary() {
    let dir = TempDir::new("diff-table");
    let mut failures = Vec::new();
    for (i, r) in table().iter().enumerate() {
        let old = dir.join(&format!("{i}-old.json"));
        let new = dir.join(&format!("{i}-new.json"));
        std::fs::write(&old, serde_json::to_string_pretty(&r.old).unwrap()).unwrap();
        std::fs::write(&new, serde_json::to_string_pretty(&r.new).unwrap()).unwrap();
        for (direction, expected) in [("client", r.client), ("server", r.server)] {
            let out = protocol_schema(&[
                "diff".as_ref(),
                old.as_os_str(),
                new.as_os_str(),
                "--direction".as_ref(),
                direction.as_ref(),
                "--format".as_ref(),
                "json".as_ref(),
            ]);
            let report: Value = match serde_json::from_str(&out.stdout) {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!(
                        "row {i} {:?} {direction}: not JSON ({e}): {} {}",
                        r.kind, out.stdout, out.stderr
                    ));
                    continue;
                }
            };
            let changes = report["directions"][0]["changes"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let hit = changes.iter().find(|c| c["kind"] == r.kind.as_str());
            let any_breaking = changes.iter().any(|c| c["breaking"] == true);
            match hit {
                None => failures.push(format!(
                    "row {i} {:?} {direction}: kind not reported; got {changes:?}",
                    r.kind
                )),
                Some(c) if c["breaking"] != expected => failures.push(format!(
                    "row {i} {:?} {direction}: breaking = {}, expected {expected}: {c}",
                    r.kind, c["breaking"]
                )),
                Some(_) => {}
            }
            let expected_code = if any_breaking { 1 } else { 0 };
            if out.code != expected_code || report["compatible"] != !any_breaking {
                failures.push(format!(
                    "row {i} {:?} {direction}: exit {} but breaking = {any_breaking}",
                    r.kind, out.code
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn identical_schemas_have_no_changes() {
    for r in table() {
        assert_eq!(diff_values(&r.old, &r.old).unwrap(), vec![], "{:?}", r.kind);
        assert_eq!(diff_values(&r.new, &r.new).unwrap(), vec![], "{:?}", r.kind);
    }
}

#[test]
fn locations_name_the_message_the_field_and_the_named_type() {
    let base = proto_with_defs(
        vec![var(
            "draw",
            json!({"at": {"$ref": "#/$defs/Position"}, "list": {"type": "array", "items": {"type": "string"}}}),
            &["at", "list"],
        )],
        json!({"Position": {"type": "object", "properties": {"x": {"type": "integer", "minimum": 0, "maximum": 255}}, "required": ["x"]}}),
    );
    let mut new = base.clone();
    new["$defs"]["Position"]["properties"]["x"]["maximum"] = json!(65535);
    new["oneOf"][0]["properties"]["list"]["items"] = json!({"type": "integer"});
    let changes = diff_values(&base, &new).unwrap();
    let locations: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| (c.kind.as_str(), c.location.as_str()))
        .collect();
    assert_eq!(
        locations,
        [
            ("range-widened", "Position.x"),
            ("type-changed", "draw.list[]")
        ]
    );
}

/// Version 2 of the test protocols: a client message removed, a server message added.
mod v2 {
    use protocol_core::Protocol;

    pub use super::protocols::{Position, ServerMsg as OldServerMsg};

    /// Client messages without `ping`, with an optional field on `join`.
    #[derive(Debug, Clone, PartialEq, Protocol)]
    #[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
    pub enum ClientMsg {
        /// Join a room.
        Join {
            /// The room.
            room: String,
            /// A greeting.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            greeting: Option<String>,
        },
    }

    /// Server messages plus `bye`.
    #[derive(Debug, Clone, PartialEq, Protocol)]
    #[protocol(rename_all = "snake_case")]
    pub enum ServerMsg {
        /// You joined.
        Joined {
            /// The room.
            room: String,
        },
        /// Goodbye.
        Bye,
    }
}

/// Version 1 matching [`v2`]'s shape.
mod v1 {
    use protocol_core::Protocol;

    /// Client messages.
    #[derive(Debug, Clone, PartialEq, Protocol)]
    #[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
    pub enum ClientMsg {
        /// Join a room.
        Join {
            /// The room.
            room: String,
        },
        /// Keep-alive.
        Ping,
    }

    /// Server messages, with a catch-all.
    #[derive(Debug, Clone, PartialEq, Protocol)]
    #[protocol(rename_all = "snake_case")]
    pub enum ServerMsg {
        /// You joined.
        Joined {
            /// The room.
            room: String,
        },
        /// Anything newer.
        #[protocol(other)]
        Unknown {
            /// The tag.
            r#type: String,
            /// The message.
            raw: serde_json::Value,
        },
    }
}

#[test]
fn export_directories_are_compared_in_both_directions() {
    let (a, b) = (TempDir::new("diff-old"), TempDir::new("diff-new"));
    protocol_schema::Spec::new("chat", "1.0.0")
        .client_to_server::<v1::ClientMsg>()
        .server_to_client::<v1::ServerMsg>()
        .export(a.path())
        .unwrap();
    protocol_schema::Spec::new("chat", "2.0.0")
        .client_to_server::<v2::ClientMsg>()
        .server_to_client::<v2::ServerMsg>()
        .export(b.path())
        .unwrap();

    let out = protocol_schema(&["diff".as_ref(), a.path().as_os_str(), b.path().as_os_str()]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let text = &out.stdout;
    assert!(text.contains("client -> server ("), "{text}");
    assert!(text.contains("server -> client ("), "{text}");
    assert!(text.contains("BREAKING  variant-removed"), "{text}");
    assert!(
        text.contains(
            "message \"ping\" (Ping) removed (the new server may reject what old clients send)"
        ),
        "{text}"
    );
    assert!(text.contains("ok        optional-field-added"), "{text}");
    assert!(text.contains("catch-all-removed"), "{text}");
    assert!(
        text.contains("old readers keep it in their catch-all"),
        "{text}"
    );
    assert!(text.ends_with("1 breaking change\n"), "{text}");

    let out = protocol_schema(&[
        "diff".as_ref(),
        a.path().as_os_str(),
        b.path().as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert_eq!(out.code, 1);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["compatible"], false);
    assert_eq!(report["breaking"], 1);
    assert_eq!(report["directions"][0]["direction"], "client");
    assert_eq!(report["directions"][0]["breaking"], 1);
    assert_eq!(report["directions"][1]["direction"], "server");
    assert_eq!(report["directions"][1]["breaking"], 0);
    let server_kinds: Vec<&str> = report["directions"][1]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert!(server_kinds.contains(&"variant-added"), "{server_kinds:?}");

    // Only the server direction: compatible.
    let out = protocol_schema(&[
        "diff".as_ref(),
        a.path().as_os_str(),
        b.path().as_os_str(),
        "--direction".as_ref(),
        "server".as_ref(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.ends_with("compatible: no breaking changes\n"));

    // Two files of one direction: the direction comes from the file names.
    let out = protocol_schema(&[
        "diff".as_ref(),
        a.join("chat.client.schema.json").as_os_str(),
        b.join("chat.client.schema.json").as_os_str(),
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.starts_with("client -> server"), "{}", out.stdout);

    // The same export against itself.
    let out = protocol_schema(&["diff".as_ref(), a.path().as_os_str(), a.path().as_os_str()]);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout.matches("  no changes").count(),
        2,
        "{}",
        out.stdout
    );
    let _ = v2::OldServerMsg::Moved(v2::Position {
        x: 0,
        y: 0,
        label: None,
    });
}

#[test]
fn bad_input_is_a_clear_error_with_exit_2() {
    let dir = TempDir::new("diff-bad");
    let good = dir.join("good.client.schema.json");
    std::fs::write(&good, serde_json::to_string(&proto(vec![join()])).unwrap()).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (dir.join("missing.json"), "cannot read"),
        (write("broken.json", "{\"oneOf\": ["), "is not valid JSON"),
        (
            write("array.json", "[1, 2]"),
            "is not a JSON Schema: expected an object with \"$schema\", found an array",
        ),
        (
            write("noschema.json", "{\"type\": \"object\"}"),
            "has no \"$schema\"",
        ),
        (
            write(
                "draft7.json",
                "{\"$schema\": \"http://json-schema.org/draft-07/schema#\", \"type\": \"object\"}",
            ),
            "is a JSON Schema of another draft (http://json-schema.org/draft-07/schema#)",
        ),
        (
            write(
                "invalid.json",
                &format!("{{\"$schema\": \"{DRAFT}\", \"type\": 12}}"),
            ),
            "is not a valid JSON Schema 2020-12",
        ),
        (
            write(
                "regex.json",
                &format!("{{\"$schema\": \"{DRAFT}\", \"pattern\": \"(\"}}"),
            ),
            "is not a valid JSON Schema 2020-12",
        ),
        (
            write(
                "ref.json",
                &serde_json::to_string(&proto(vec![var(
                    "a",
                    json!({"x": {"$ref": "#/$defs/Missing"}}),
                    &[],
                )]))
                .unwrap(),
            ),
            "Pointer '/$defs/Missing' does not exist",
        ),
        (
            write(
                "plain.json",
                &format!("{{\"$schema\": \"{DRAFT}\", \"type\": \"object\"}}"),
            ),
            "is not a protocol schema: it has no top-level `oneOf`",
        ),
    ];
    for (path, message) in cases {
        for (old, new) in [(&good, &path), (&path, &good)] {
            let out = protocol_schema(&[
                "diff".as_ref(),
                old.as_os_str(),
                new.as_os_str(),
                "--direction".as_ref(),
                "client".as_ref(),
            ]);
            assert_eq!(out.code, 2, "{path:?}: {}", out.stderr);
            assert!(
                out.stderr.contains(message),
                "{path:?}: expected {message:?} in {}",
                out.stderr
            );
            assert!(
                out.stderr.contains(&path.display().to_string()),
                "{path:?} not named: {}",
                out.stderr
            );
            assert!(out.stdout.is_empty());
        }
    }
    // Two files whose names do not say the direction.
    let other = write(
        "other.json",
        &serde_json::to_string(&proto(vec![join()])).unwrap(),
    );
    let out = protocol_schema(&["diff".as_ref(), good.as_os_str(), other.as_os_str()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--direction client"), "{}", out.stderr);
    // A directory and a file.
    let out = protocol_schema(&["diff".as_ref(), dir.path().as_os_str(), good.as_os_str()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("not a directory with a file"),
        "{}",
        out.stderr
    );
    // A directory that is not an export.
    let empty = TempDir::new("diff-empty");
    let out = protocol_schema(&[
        "diff".as_ref(),
        empty.path().as_os_str(),
        empty.path().as_os_str(),
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no *.client.schema.json file here"),
        "{}",
        out.stderr
    );
    // clap's own usage errors exit 2 too.
    let out = protocol_schema(&["diff"]);
    assert_eq!(out.code, 2);
    let out = protocol_schema(&["diff", "a", "b", "--direction", "sideways"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("sideways"), "{}", out.stderr);
}

#[test]
fn self_referencing_and_recursive_types_terminate() {
    // A type that refers to itself, against an inline schema and against itself.
    let looped = proto_with_defs(
        vec![var("a", json!({"x": {"$ref": "#/$defs/Loop"}}), &["x"])],
        json!({"Loop": {"$ref": "#/$defs/Loop"}}),
    );
    let inline = proto(vec![var("a", json!({"x": {"type": "string"}}), &["x"])]);
    assert!(diff_values(&looped, &inline).is_ok());
    assert!(diff_values(&inline, &looped).is_ok());
    assert_eq!(diff_values(&looped, &looped).unwrap(), vec![]);
    // A recursive tree whose node type gains a field.
    let tree = |extra: bool| {
        let mut node = json!({"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}, "required": ["children"]});
        if extra {
            node["properties"]["name"] = json!({"type": "string"});
        }
        proto_with_defs(
            vec![var(
                "a",
                json!({"root": {"$ref": "#/$defs/Node"}}),
                &["root"],
            )],
            json!({"Node": node}),
        )
    };
    let changes = diff_values(&tree(false), &tree(true)).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].kind, ChangeKind::OptionalFieldAdded);
    assert_eq!(changes[0].location, "Node.name");
}
