//! One case per `DecodeErrorKind`, with the exact kind, pointer and fields. Several kinds are
//! told apart by the wording of serde / serde_json messages ("missing field", "unknown field",
//! "duplicate field", "invalid type: ...", "invalid value: ...", "recursion limit exceeded"):
//! when a serde_json upgrade changes that wording, these tests fail, naming the kind that no
//! longer comes out, before any user sees a wrong error code.

use protocol_core::{DecodeErrorKind, ErrorReply, Protocol, decode};

#[derive(Debug, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
enum Msg {
    #[protocol(deny_unknown_fields)]
    Say {
        room: String,
        count: u8,
    },
    Ping,
    Blob {
        data: serde_json::Value,
    },
}

fn kind(input: &str) -> (DecodeErrorKind, Option<String>, ErrorReply) {
    let e = decode::<Msg>(input).expect_err(input);
    (
        e.kind().clone(),
        e.pointer().map(str::to_owned),
        e.to_error_reply(),
    )
}

#[test]
fn syntax() {
    let (k, pointer, reply) = kind(r#"{"type":"ping""#);
    assert!(matches!(k, DecodeErrorKind::Syntax { .. }), "{k:?}");
    assert_eq!((pointer, reply.code()), (None, "invalid_json"));
}

#[test]
fn too_deep() {
    let deep = format!(
        r#"{{"type":"blob","data":{}1{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let (k, _, reply) = kind(&deep);
    assert_eq!(k, DecodeErrorKind::TooDeep { limit: 128 });
    assert_eq!(reply.code(), "invalid_json");
}

#[test]
fn not_an_object() {
    let (k, _, reply) = kind("[1,2]");
    assert!(
        matches!(k, DecodeErrorKind::NotAnObject { found } if found.contains("array")),
        "{k:?}"
    );
    assert_eq!(reply.code(), "invalid_message");
}

#[test]
fn missing_tag() {
    let (k, _, _) = kind(r#"{"room":"r"}"#);
    assert!(
        matches!(k, DecodeErrorKind::MissingTag { tag_field: "type", expected } if expected == ["say", "ping", "blob"]),
        "{k:?}"
    );
}

#[test]
fn invalid_tag() {
    let (k, pointer, _) = kind(r#"{"type":7}"#);
    assert!(matches!(k, DecodeErrorKind::InvalidTag { .. }), "{k:?}");
    assert_eq!(pointer.as_deref(), Some("/type"));
}

#[test]
fn unknown_type() {
    let (k, pointer, reply) = kind(r#"{"type":"sya"}"#);
    assert!(
        matches!(&k, DecodeErrorKind::UnknownType { tag, .. } if tag == "sya"),
        "{k:?}"
    );
    assert_eq!(
        (pointer.as_deref(), reply.code()),
        (Some("/type"), "unknown_type")
    );
}

#[test]
fn duplicate_field() {
    let (k, pointer, _) = kind(r#"{"type":"say","room":"a","room":"b","count":1}"#);
    assert_eq!(
        k,
        DecodeErrorKind::DuplicateField {
            field: "room".into()
        }
    );
    assert_eq!(pointer.as_deref(), Some("/room"));
}

#[test]
fn missing_field() {
    let (k, pointer, reply) = kind(r#"{"type":"say","room":"a"}"#);
    assert_eq!(
        k,
        DecodeErrorKind::MissingField {
            field: "count".into()
        }
    );
    assert_eq!(
        (pointer.as_deref(), reply.code()),
        (Some("/count"), "invalid_message")
    );
}

#[test]
fn unknown_field() {
    let (k, pointer, _) = kind(r#"{"type":"say","room":"a","count":1,"colour":2}"#);
    assert!(
        matches!(&k, DecodeErrorKind::UnknownField { field, expected } if field == "colour" && expected.contains("`room`")),
        "{k:?}"
    );
    assert_eq!(pointer.as_deref(), Some("/colour"));
}

#[test]
fn invalid_field_type_and_value() {
    let (k, pointer, _) = kind(r#"{"type":"say","room":5,"count":1}"#);
    assert!(
        matches!(&k, DecodeErrorKind::InvalidField { problem: "type", found, expected, .. }
        if found.contains("integer") && expected.contains("string")),
        "{k:?}"
    );
    assert_eq!(pointer.as_deref(), Some("/room"));
    let (k, pointer, _) = kind(r#"{"type":"say","room":"a","count":300}"#);
    assert!(
        matches!(&k, DecodeErrorKind::InvalidField { problem: "value", found, .. } if found.contains("300")),
        "{k:?}"
    );
    assert_eq!(pointer.as_deref(), Some("/count"));
}
