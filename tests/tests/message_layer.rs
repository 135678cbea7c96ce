//! Round trips for every shape and attribute, and the decoder's errors on hostile input.

use std::collections::BTreeMap;

use protocol_core::{DecodeErrorKind, Protocol, VariantKind, decode, decode_slice, encode};
use protocol_tests::seed::SeedMsg;
use protocol_tests::{Closed, Envelope, Partial, Position, Shapes, Strict};
use serde_json::json;

fn roundtrip(msg: &Shapes) {
    let text = encode(msg).unwrap();
    assert!(text.starts_with(r#"{"kind":"#), "tag first: {text}");
    let back: Shapes = decode(&text).unwrap();
    assert_eq!(&back, msg, "{text}");
    // The generic serde path agrees with `decode`.
    let generic: Shapes = serde_json::from_str(&text).unwrap();
    assert_eq!(&generic, msg);
}

#[test]
fn seed_messages_round_trip_byte_identically() {
    for text in [
        r#"{"type":"message","text":"hi"}"#,
        r#"{"type":"read","messageId":"abc123"}"#,
    ] {
        let msg: SeedMsg = decode(text).unwrap();
        assert_eq!(encode(&msg).unwrap(), text);
    }
    assert_eq!(
        decode::<SeedMsg>(r#"{"type":"read","messageId":"abc123"}"#).unwrap(),
        SeedMsg::Read {
            message_id: "abc123".into()
        }
    );
}

#[test]
fn every_shape_round_trips() {
    let pos = Position {
        x: -3,
        y: 7,
        label: Some("here".into()),
    };
    let cases = vec![
        Shapes::Unit,
        Shapes::Moved(pos.clone()),
        Shapes::Moved(Position {
            x: 0,
            y: 0,
            label: None,
        }),
        Shapes::RenamedThing { value: 255 },
        Shapes::Numbers {
            small: 0,
            signed: i16::MIN,
            big: u64::MAX,
            negative: i64::MIN,
            huge: i128::MAX,
            float: 0.1,
        },
        Shapes::Attrs {
            id: 7,
            name: "n".into(),
            count: 0,
            tags: vec![],
            data: vec![0, 255, 16],
        },
        Shapes::Attrs {
            id: 7,
            name: "n".into(),
            count: 3,
            tags: vec!["a".into()],
            data: vec![],
        },
        Shapes::Open {
            name: "o".into(),
            extra: BTreeMap::from([("zz".into(), json!([1, {"a": null}]))]),
        },
        Shapes::Loud { some_field: true },
        Shapes::Keyed {
            by_id: BTreeMap::from([(1, "one".into()), (u32::MAX, "max".into())]),
        },
        Shapes::Nested {
            inner: pos.clone(),
            list: vec![pos.clone(), pos.clone()],
            maybe: None,
        },
    ];
    for case in &cases {
        roundtrip(case);
    }
}

#[test]
fn wire_names_follow_renames() {
    assert_eq!(Shapes::TAG, "kind");
    assert_eq!(
        Shapes::TYPES,
        &[
            "unit", "moved", "renamed", "numbers", "attrs", "open", "loud", "keyed", "nested"
        ]
    );
    assert_eq!(
        encode(&Shapes::Loud { some_field: false }).unwrap(),
        r#"{"kind":"loud","SOME_FIELD":false}"#
    );
    assert_eq!(
        encode(&Shapes::Attrs {
            id: 1,
            name: "x".into(),
            count: 2,
            tags: vec![],
            data: vec![1, 2]
        })
        .unwrap(),
        r#"{"kind":"attrs","ID":1,"name":"x","count":2,"data":"0102"}"#
    );
    assert_eq!(encode(&Shapes::Unit).unwrap(), r#"{"kind":"unit"}"#);
    assert_eq!(
        encode(&Shapes::Moved(Position {
            x: 1,
            y: 2,
            label: None
        }))
        .unwrap(),
        r#"{"kind":"moved","x":1,"y":2}"#
    );
    let meta = Shapes::RenamedThing { value: 1 }.variant_meta();
    assert_eq!(
        (meta.name, meta.wire_name, meta.aliases),
        ("RenamedThing", "renamed", &["old-name", "older"][..])
    );
    assert_eq!(meta.kind, VariantKind::Struct);
    assert_eq!(meta.doc, "Renamed, with aliases.");
    assert_eq!(
        Shapes::meta_for("older").map(|m| m.name),
        Some("RenamedThing")
    );
}

#[test]
fn aliases_decode() {
    for name in ["renamed", "old-name", "older"] {
        let text = format!(r#"{{"kind":"{name}","value":9}}"#);
        assert_eq!(
            decode::<Shapes>(&text).unwrap(),
            Shapes::RenamedThing { value: 9 }
        );
    }
    // Field alias from serde.
    let msg: Shapes = decode(r#"{"kind":"attrs","ID":1,"nick":"x","data":""}"#).unwrap();
    assert_eq!(
        msg,
        Shapes::Attrs {
            id: 1,
            name: "x".into(),
            count: 0,
            tags: vec![],
            data: vec![]
        }
    );
}

#[test]
fn tag_last_decodes_like_tag_first() {
    let first = r#"{"kind":"numbers","small":1,"signed":-2,"big":18446744073709551615,"negative":-9223372036854775808,"huge":170141183460469231731687303715884105727,"float":1.0000000000000002}"#;
    let last = r#"{"small":1,"signed":-2,"big":18446744073709551615,"negative":-9223372036854775808,"huge":170141183460469231731687303715884105727,"float":1.0000000000000002,"kind":"numbers"}"#;
    let a: Shapes = decode(first).unwrap();
    let b: Shapes = decode(last).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        a,
        Shapes::Numbers {
            small: 1,
            signed: -2,
            big: u64::MAX,
            negative: i64::MIN,
            huge: i128::MAX,
            float: 1.0000000000000002
        }
    );
    // The generic (buffered) path loses nothing either: serde's Content buffer would.
    let c: Shapes = serde_json::from_str(last).unwrap();
    assert_eq!(a, c);
    let d: Shapes = decode_slice(last.as_bytes()).unwrap();
    assert_eq!(a, d);

    let keyed_last = r#"{"byId":{"1":"one","4294967295":"max"},"kind":"keyed"}"#;
    let expected = Shapes::Keyed {
        by_id: BTreeMap::from([(1, "one".into()), (u32::MAX, "max".into())]),
    };
    assert_eq!(decode::<Shapes>(keyed_last).unwrap(), expected);
    assert_eq!(
        serde_json::from_str::<Shapes>(keyed_last).unwrap(),
        expected
    );

    let moved = r#"{"x":1,"label":"l","y":2,"kind":"moved"}"#;
    assert_eq!(
        decode::<Shapes>(moved).unwrap(),
        Shapes::Moved(Position {
            x: 1,
            y: 2,
            label: Some("l".into())
        })
    );
}

#[test]
fn tag_in_the_middle_and_nested_in_other_types() {
    let env: Envelope =
        serde_json::from_str(r#"{"seq":18446744073709551615,"msg":{"value":3,"kind":"older"}}"#)
            .unwrap();
    assert_eq!(
        env,
        Envelope {
            seq: u64::MAX,
            msg: Shapes::RenamedThing { value: 3 }
        }
    );
    let value = serde_json::to_value(&env).unwrap();
    assert_eq!(
        value,
        json!({"seq": u64::MAX, "msg": {"kind": "renamed", "value": 3}})
    );
    let back: Envelope =
        serde_json::from_value(json!({"seq": 1, "msg": {"value": 3, "kind": "renamed"}})).unwrap();
    assert_eq!(back.msg, Shapes::RenamedThing { value: 3 });
}

#[test]
fn catch_all_keeps_unknown_messages_whole() {
    let text = r#"{"kind":"future-thing","a":[1,2,{"b":true}],"n":18446744073709551615}"#;
    let msg: Shapes = decode(text).unwrap();
    let Shapes::Unknown { kind, raw } = &msg else {
        panic!("expected the catch-all, got {msg:?}")
    };
    assert_eq!(kind, "future-thing");
    assert_eq!(
        raw,
        &json!({"kind": "future-thing", "a": [1, 2, {"b": true}], "n": u64::MAX})
    );
    assert_eq!(msg.type_name(), "*");
    assert_eq!(msg.wire_tag(), "future-thing");
    assert_eq!(msg.variant_meta().kind, VariantKind::Other);
    // Re-encoding gives the same document back (tag first).
    let again: serde_json::Value = serde_json::from_str(&encode(&msg).unwrap()).unwrap();
    assert_eq!(
        again,
        serde_json::from_str::<serde_json::Value>(text).unwrap()
    );
    // Tag last: same.
    let last: Shapes =
        decode(r#"{"a":[1,2,{"b":true}],"n":18446744073709551615,"kind":"future-thing"}"#).unwrap();
    assert_eq!(last, msg);
}

#[test]
fn deny_unknown_fields_covers_every_shape() {
    let ok = [
        (r#"{"type":"ping"}"#, Strict::Ping),
        (
            r#"{"type":"at","x":1,"y":2}"#,
            Strict::At(Position {
                x: 1,
                y: 2,
                label: None,
            }),
        ),
        (r#"{"type":"set","value":1}"#, Strict::Set { value: 1 }),
        (
            r#"{"type":"closed","only":true}"#,
            Strict::Closed(Closed { only: true }),
        ),
    ];
    for (text, expected) in ok {
        assert_eq!(decode::<Strict>(text).unwrap(), expected, "{text}");
    }
    for text in [
        r#"{"type":"ping","extra":1}"#,
        r#"{"type":"at","x":1,"y":2,"extra":1}"#,
        r#"{"type":"set","value":1,"extra":1}"#,
        r#"{"type":"closed","only":true,"extra":1}"#,
        r#"{"extra":1,"type":"ping"}"#,
        r#"{"x":1,"y":2,"extra":1,"type":"at"}"#,
    ] {
        let err = decode::<Strict>(text).unwrap_err();
        assert!(
            matches!(err.kind(), DecodeErrorKind::UnknownField { field, .. } if field == "extra"),
            "{text}: {err:?}"
        );
        assert_eq!(err.pointer(), Some("/extra"), "{text}");
        assert_eq!(err.code(), "invalid_message");
        assert!(
            err.to_string()
                .starts_with("unknown field /extra of message type"),
            "{err}"
        );
        // The generic path rejects it too.
        assert!(serde_json::from_str::<Strict>(text).is_err(), "{text}");
    }
    // Per-variant.
    assert!(decode::<Partial>(r#"{"type":"loose","value":1,"extra":1}"#).is_ok());
    assert!(decode::<Partial>(r#"{"type":"tight","value":1,"extra":1}"#).is_err());
}

#[test]
fn errors_are_specific_and_located() {
    let cases: Vec<(&str, &str, Option<&str>)> = vec![
        (
            r#"{"kind":"loud","SOME_FIELD":5}"#,
            "invalid type for /SOME_FIELD: expected a boolean, found integer `5`",
            Some("/SOME_FIELD"),
        ),
        (
            r#"{"kind":"renamed","value":300}"#,
            "invalid value for /value: expected u8, found integer `300`",
            Some("/value"),
        ),
        (
            r#"{"value":300,"kind":"renamed"}"#,
            "invalid value for /value: expected u8, found integer `300`",
            Some("/value"),
        ),
        (
            r#"{"kind":"renamed"}"#,
            r#"missing required field /value of message type "renamed""#,
            Some("/value"),
        ),
        (
            r#"{"kind":"nested","inner":{"x":1,"y":2},"list":[{"x":1,"y":2},{"x":1,"y":"2"}]}"#,
            "invalid type for /list/1/y: expected i32, found string \"2\"",
            Some("/list/1/y"),
        ),
        (
            r#"{"kind":"nested","inner":{"x":1},"list":[]}"#,
            r#"missing required field /inner/y of message type "nested""#,
            Some("/inner/y"),
        ),
        (
            r#"{"kind":5}"#,
            "invalid message type at /kind: expected a string, found number `5`",
            Some("/kind"),
        ),
        (
            r#"{"kind":"unit","kind":"unit"}"#,
            "duplicate field at /kind",
            Some("/kind"),
        ),
        (
            r#"{"x":1}"#,
            "missing message type field \"kind\" at the root; expected one of: unit, moved, renamed, numbers, attrs, open, loud, keyed, nested",
            Some(""),
        ),
        (
            "null",
            "expected a JSON object at the root, found null",
            Some(""),
        ),
        (
            "[1,2]",
            "expected a JSON object at the root, found an array",
            Some(""),
        ),
        (
            "42",
            "expected a JSON object at the root, found a number",
            Some(""),
        ),
        (
            r#""kind""#,
            "expected a JSON object at the root, found a string",
            Some(""),
        ),
        (
            "{\"kind\":\"unit\"",
            "invalid JSON at line 1 column 14: EOF while parsing an object",
            None,
        ),
        (
            "{\"kind\":\n\"unit\",}",
            "invalid JSON at line 2 column 8: trailing comma",
            None,
        ),
        (
            r#"{"kind":"unit"} x"#,
            "invalid JSON at line 1 column 17: trailing characters",
            None,
        ),
        (
            r#"{"kind":"attrs","ID":1,"name":"n","data":"abc"}"#,
            "invalid value for /data: hex string of odd length",
            Some("/data"),
        ),
    ];
    for (text, message, pointer) in cases {
        let err = decode::<Shapes>(text).unwrap_err();
        assert_eq!(err.to_string(), message, "{text}");
        assert_eq!(err.pointer(), pointer, "{text}");
        assert!(err.line() >= 1, "{text}");
    }
}

#[test]
fn unknown_type_lists_known_types() {
    let err = decode::<SeedMsg>(r#"{"type":"raed","messageId":"abc123"}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"unknown message type "raed" at /type; expected one of: message, read"#
    );
    assert!(
        matches!(err.kind(), DecodeErrorKind::UnknownType { tag, expected } if tag == "raed" && expected == &["message", "read"])
    );
    let reply = err.to_error_reply();
    assert_eq!(reply.code(), "unknown_type");
    assert_eq!(reply.pointer(), Some("/type"));
    // Tag not first: same error.
    let err2 = decode::<SeedMsg>(r#"{"messageId":"abc123","type":"raed"}"#).unwrap_err();
    assert_eq!(err2.to_string(), err.to_string());
}

#[test]
fn tag_first_and_tag_last_give_the_same_errors() {
    let pairs = [
        (
            r#"{"type":"read","messageId":5}"#,
            r#"{"messageId":5,"type":"read"}"#,
        ),
        (r#"{"type":"read"}"#, r#"{"type":"read"}"#),
        (
            r#"{"type":"message","text":null}"#,
            r#"{"text":null,"type":"message"}"#,
        ),
        (
            r#"{"type":"read","type":"read","messageId":"a"}"#,
            r#"{"messageId":"a","type":"read","type":"read"}"#,
        ),
    ];
    for (first, last) in pairs {
        let a = decode::<SeedMsg>(first).unwrap_err();
        let b = decode::<SeedMsg>(last).unwrap_err();
        assert_eq!(a.kind(), b.kind(), "{first} / {last}");
        assert_eq!(a.pointer(), b.pointer());
        assert_eq!(a.to_string(), b.to_string());
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let depth = 10_000;
    let deep_value = format!(
        r#"{{"kind":"open","name":"x","deep":{}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let err = decode::<Shapes>(&deep_value).unwrap_err();
    assert!(
        matches!(err.kind(), DecodeErrorKind::TooDeep { .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), "invalid_json");
    assert!(
        err.to_string()
            .starts_with("message nests deeper than 128 levels at line 1 column"),
        "{err}"
    );

    let deep_root = "[".repeat(depth);
    let err = decode::<Shapes>(&deep_root).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            DecodeErrorKind::NotAnObject { .. } | DecodeErrorKind::TooDeep { .. }
        ),
        "{err:?}"
    );

    let deep_objects = format!("{}{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    assert!(decode::<Shapes>(&deep_objects).is_err());
    // Tag last, deep value: the scan pass is bounded too.
    let deep_last = format!(
        r#"{{"deep":{}{},"kind":"open","name":"x"}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert!(matches!(
        decode::<Shapes>(&deep_last).unwrap_err().kind(),
        DecodeErrorKind::TooDeep { .. }
    ));
    assert!(serde_json::from_str::<Shapes>(&deep_last).is_err());
}

#[test]
fn megabyte_strings_decode_and_fail_cleanly() {
    let big = "x".repeat(1 << 20);
    let ok = format!(r#"{{"type":"message","text":"{big}"}}"#);
    assert_eq!(
        decode::<SeedMsg>(&ok).unwrap(),
        SeedMsg::Message { text: big.clone() }
    );
    let bad = format!(r#"{{"type":"read","messageId":"a","{big}":1}}"#);
    assert!(
        decode::<SeedMsg>(&bad).is_ok(),
        "unknown fields are ignored unless denied"
    );
    let bad_type = format!(r#"{{"type":"{big}"}}"#);
    let err = decode::<SeedMsg>(&bad_type).unwrap_err();
    assert_eq!(err.code(), "unknown_type");
    let wrong = format!(r#"{{"type":"read","messageId":["{big}"]}}"#);
    assert_eq!(
        decode::<SeedMsg>(&wrong).unwrap_err().pointer(),
        Some("/messageId")
    );
}

#[test]
fn invalid_utf8_in_bytes_is_a_syntax_error() {
    let mut bytes = br#"{"type":"message","text":""#.to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    bytes.extend_from_slice(br#""}"#);
    let err = decode_slice::<SeedMsg>(&bytes).unwrap_err();
    assert!(
        matches!(err.kind(), DecodeErrorKind::Syntax { .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), "invalid_json");
}

#[test]
fn pointers_escape_special_characters() {
    let err = decode::<Shapes>(r#"{"kind":"open","name":5}"#).unwrap_err();
    assert_eq!(err.pointer(), Some("/name"));
    let err = decode::<Shapes>(r#"{"kind":"keyed","byId":{"7":5}}"#).unwrap_err();
    assert_eq!(err.pointer(), Some("/byId/7"), "{err}");
    // A key that is not a number is a value error at the map, not a JSON syntax error.
    let err = decode::<Shapes>(r#"{"kind":"keyed","byId":{"a/b~c":"x"}}"#).unwrap_err();
    assert_eq!(err.pointer(), Some("/byId"), "{err}");
    assert_eq!(err.code(), "invalid_message");
}

/// A struct variant with no fields (`Create {}`) is a message of its own, like a unit variant.
#[test]
fn empty_struct_variants_round_trip() {
    #[derive(Debug, PartialEq, Protocol)]
    #[protocol(rename_all = "snake_case")]
    enum Msg {
        Create {},
        Other { n: u8 },
    }
    assert_eq!(
        protocol_core::encode(&Msg::Create {}).unwrap(),
        r#"{"type":"create"}"#
    );
    assert_eq!(
        protocol_core::decode::<Msg>(r#"{"type":"create"}"#).unwrap(),
        Msg::Create {}
    );
    assert_eq!(
        protocol_core::decode::<Msg>(r#"{"type":"other","n":1}"#).unwrap(),
        Msg::Other { n: 1 }
    );
}
