//! `protocol-schema validate`: recorded traffic against an export, through the real binary.

mod common;
mod protocols;

use std::fmt::Write as _;
use std::path::Path;

use common::{TempDir, protocol_schema, run_with_stdin};
use protocol_core::encode;
use protocols::{ClientMsg, Position, ServerMsg, spec};
use serde_json::{Value, json};

fn record(from: &str, conn: u64, frame: &Value) -> String {
    json!({"from": from, "conn": conn, "frame": frame}).to_string()
}

fn encoded<T: protocol_core::Protocol>(msg: &T) -> Value {
    serde_json::from_str(&encode(msg).unwrap()).unwrap()
}

fn export() -> TempDir {
    let dir = TempDir::new("validate-export");
    spec().export(dir.path()).unwrap();
    dir
}

fn validate(schema_dir: &Path, traffic: &Path) -> common::Output {
    protocol_schema(&[
        "validate".as_ref(),
        "--schema-dir".as_ref(),
        schema_dir.as_os_str(),
        traffic.as_os_str(),
    ])
}

#[test]
fn invalid_frames_are_reported_with_line_pointer_and_reason() {
    let schemas = export();
    let work = TempDir::new("validate-traffic");
    let lines = [
        record(
            "client",
            1,
            &encoded(&ClientMsg::Join {
                room: "general".into(),
            }),
        ),
        record(
            "server",
            1,
            &encoded(&ServerMsg::Message {
                message_id: "m1".into(),
                room: "general".into(),
                from: "alice".into(),
                text: "hi".into(),
            }),
        ),
        record("client", 2, &json!({"type": "read", "messageId": 5})),
        record("client", 2, &json!({"type": "raed", "messageId": "m1"})),
        // The server direction has a catch-all: unknown types are valid.
        record("server", 2, &json!({"type": "future", "anything": [1, 2]})),
        record("client", 3, &json!({"type": "join"})),
        String::new(),
        record("client", 3, &json!([1])),
        // Tag alias and field alias.
        record("client", 3, &json!({"type": "seen", "msgId": "m1"})),
        record(
            "client",
            4,
            &json!({"type": "message", "id": 7, "room": "r", "text": "t"}),
        ),
        record(
            "client",
            4,
            &json!({"type": "message", "id": -1, "room": "r", "text": "t"}),
        ),
        record(
            "server",
            4,
            &encoded(&ServerMsg::Moved(Position {
                x: 1,
                y: 2,
                label: None,
            })),
        ),
        record("server", 4, &json!({"type": "moved", "x": 1.5, "y": 2})),
    ];
    let traffic = work.join("traffic.jsonl");
    std::fs::write(&traffic, lines.join("\n") + "\n").unwrap();
    let out = validate(schemas.path(), &traffic);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let t = traffic.display().to_string();
    let expected = [
        format!("{t}:3: client frame (conn 2) at /messageId: 5 is not of type \"string\""),
        format!(
            "{t}:4: client frame (conn 2) at /type: unknown message type \"raed\"; expected one of: join, message, read, draw, moved, ping"
        ),
        format!(
            "{t}:6: client frame (conn 3) at \"\" (the frame): \"room\" is a required property"
        ),
        format!("{t}:8: client frame (conn 3) at \"\" (the frame): [1] is not of type \"object\""),
        format!("{t}:11: client frame (conn 4) at /id: -1 is less than the minimum of 0"),
        format!("{t}:13: server frame (conn 4) at /x: 1.5 is not of type \"integer\""),
        "12 frames checked (8 from clients, 4 from the server): 6 invalid".to_owned(),
    ];
    let got: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(got, expected, "{}", out.stdout);
    assert_eq!(out.stderr, "");
}

#[test]
fn valid_traffic_exits_0_and_stdin_works() {
    let schemas = export();
    let mut text = String::new();
    for i in 0..50u64 {
        let _ = writeln!(text, "{}", record("client", i, &encoded(&ClientMsg::Ping)));
        let _ = writeln!(
            text,
            "{}",
            record(
                "server",
                i,
                &encoded(&ServerMsg::Sent {
                    message_id: format!("m{i}")
                })
            )
        );
    }
    // No newline after the last record.
    text.push_str(&record(
        "client",
        99,
        &encoded(&ClientMsg::Read {
            message_id: "x".into(),
        }),
    ));
    let out = run_with_stdin(
        &[
            "validate".as_ref(),
            "--schema-dir".as_ref(),
            schemas.path().as_os_str(),
            "-".as_ref(),
        ],
        Some(text.as_bytes()),
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "101 frames checked (51 from clients, 50 from the server): 0 invalid\n"
    );
}

#[test]
fn lines_that_are_not_records_exit_2_after_checking_the_rest() {
    let schemas = export();
    let work = TempDir::new("validate-bad-records");
    let traffic = work.join("t.jsonl");
    let lines = [
        "{not json".to_owned(),
        record("client", 1, &json!({"type": "read", "messageId": 5})),
        r#"{"from":"browser","conn":1,"frame":{}}"#.to_owned(),
        r#"{"from":"client","conn":1}"#.to_owned(),
        "[]".to_owned(),
        record("client", 1, &encoded(&ClientMsg::Ping)),
    ];
    let mut bytes = (lines.join("\n") + "\n").into_bytes();
    bytes.extend_from_slice(b"\xff\xfe\n");
    std::fs::write(&traffic, bytes).unwrap();
    let out = validate(schemas.path(), &traffic);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    let t = traffic.display().to_string();
    let got: Vec<&str> = out.stdout.lines().collect();
    assert!(
        got[0].starts_with(&format!("{t}:1: bad record: not JSON: ")),
        "{got:?}"
    );
    assert_eq!(
        got[1],
        format!("{t}:2: client frame (conn 1) at /messageId: 5 is not of type \"string\"")
    );
    assert_eq!(
        got[2],
        format!("{t}:3: bad record: \"from\" must be \"client\" or \"server\", found \"browser\"")
    );
    assert_eq!(got[3], format!("{t}:4: bad record: no \"frame\""));
    assert_eq!(
        got[4],
        format!("{t}:5: bad record: expected a record object, found an array")
    );
    assert!(
        got[5].starts_with(&format!("{t}:7: bad record: not JSON: ")),
        "{got:?}"
    );
    assert_eq!(
        got[6],
        "2 frames checked (2 from clients, 0 from the server): 1 invalid, 5 lines that are not traffic records"
    );
    assert!(
        out.stderr.contains(&format!(
            "error: {t} has 5 lines that are not traffic records"
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn unusable_schemas_or_files_are_errors_naming_the_path() {
    let schemas = export();
    let work = TempDir::new("validate-errors");
    let traffic = work.join("t.jsonl");
    std::fs::write(
        &traffic,
        record("client", 1, &encoded(&ClientMsg::Ping)) + "\n",
    )
    .unwrap();

    let missing = work.join("no-such-dir");
    let out = validate(&missing, &traffic);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains(&format!("cannot read {}", missing.display())),
        "{}",
        out.stderr
    );

    let out = validate(&traffic, &traffic);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("not a directory"), "{}", out.stderr);

    let no_traffic = work.join("none.jsonl");
    let out = validate(schemas.path(), &no_traffic);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains(&format!("cannot read {}", no_traffic.display())),
        "{}",
        out.stderr
    );

    let empty = TempDir::new("validate-empty");
    let out = validate(empty.path(), &traffic);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no *.client.schema.json file here"),
        "{}",
        out.stderr
    );

    // A schema of another draft, a non-schema, invalid JSON: each names the file.
    for (text, message) in [
        (
            r#"{"$schema": "http://json-schema.org/draft-07/schema#"}"#,
            "another draft",
        ),
        ("[]", "is not a JSON Schema"),
        ("{", "is not valid JSON"),
    ] {
        let dir = TempDir::new("validate-bad-schema");
        for f in ["demo.client.schema.json", "demo.server.schema.json"] {
            std::fs::copy(schemas.join(f), dir.join(f)).unwrap();
        }
        std::fs::write(dir.join("demo.server.schema.json"), text).unwrap();
        let out = validate(dir.path(), &traffic);
        assert_eq!(out.code, 2, "{text}");
        assert!(out.stderr.contains(message), "{text}: {}", out.stderr);
        assert!(
            out.stderr
                .contains(&dir.join("demo.server.schema.json").display().to_string()),
            "{}",
            out.stderr
        );
    }

    // Two exports in one directory are ambiguous.
    std::fs::copy(
        schemas.join("demo.client.schema.json"),
        schemas.join("other.client.schema.json"),
    )
    .unwrap();
    let out = validate(schemas.path(), &traffic);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("more than one *.client.schema.json file"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_long_file_is_streamed() {
    let schemas = export();
    let work = TempDir::new("validate-long");
    let traffic = work.join("long.jsonl");
    let good = record(
        "client",
        1,
        &encoded(&ClientMsg::Join {
            room: "general".into(),
        }),
    );
    let bad = record("server", 2, &json!({"type": "sent"}));
    let mut text = String::with_capacity(100_000 * (good.len() + 1));
    for i in 0..100_000 {
        text.push_str(if i % 10_000 == 9_999 { &bad } else { &good });
        text.push('\n');
    }
    std::fs::write(&traffic, text).unwrap();
    let out = validate(schemas.path(), &traffic);
    assert_eq!(out.code, 1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 11, "{}", out.stdout);
    assert!(lines[0].ends_with(":10000: server frame (conn 2) at \"\" (the frame): \"messageId\" is a required property"), "{}", lines[0]);
    assert_eq!(
        lines[10],
        "100000 frames checked (99990 from clients, 10 from the server): 10 invalid"
    );
}
