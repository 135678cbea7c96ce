//! Writes the test protocols' schemas and sample messages for the outside judges (ajv, python
//! jsonschema) that `.ci/run` runs: `<dir>/<name>.schema.json`, and each sample as
//! `<dir>/valid/<name>-<n>.json` or `<dir>/invalid/<name>-<n>.json`, sorted by what the Rust
//! decoder says. The judges must agree with that sorting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use protocol_core::{Protocol, decode, encode, schema_for};
use protocol_tests::seed::SeedMsg;
use protocol_tests::{Closed, Partial, Position, Shapes, Strict};
use serde_json::{Value, json};

fn write(path: &Path, value: &Value) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(path, text)
}

fn export<T: Protocol>(
    dir: &Path,
    name: &str,
    values: &[T],
    docs: &[Value],
) -> std::io::Result<(usize, usize)> {
    write(&dir.join(format!("{name}.schema.json")), &schema_for::<T>())?;
    let mut samples: Vec<Value> = Vec::new();
    for v in values {
        let text = encode(v).map_err(std::io::Error::other)?;
        samples.push(serde_json::from_str(&text).map_err(std::io::Error::other)?);
    }
    samples.extend(docs.iter().cloned());
    let (mut valid, mut invalid) = (0, 0);
    for (i, doc) in samples.iter().enumerate() {
        let ok = decode::<T>(&doc.to_string()).is_ok();
        let sub = if ok { "valid" } else { "invalid" };
        if ok {
            valid += 1;
        } else {
            invalid += 1;
        }
        write(&dir.join(sub).join(format!("{name}-{i}.json")), doc)?;
    }
    Ok((valid, invalid))
}

fn run(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("valid"))?;
    std::fs::create_dir_all(dir.join("invalid"))?;
    let pos = Position {
        x: -1,
        y: 2,
        label: Some("p".into()),
    };
    let mut counts = Vec::new();
    counts.push(export(
        dir,
        "seed",
        &[
            SeedMsg::Message { text: "hi".into() },
            SeedMsg::Read {
                message_id: "abc123".into(),
            },
        ],
        &[
            json!({"type": "read", "messageId": 5}),
            json!({"type": "raed", "messageId": "a"}),
            json!({"type": "message"}),
            json!({"type": "message", "text": "x", "extra": true}),
            json!([1]),
            json!({"messageId": "a"}),
        ],
    )?);
    counts.push(export(
        dir,
        "shapes",
        &[
            Shapes::Unit,
            Shapes::Moved(pos.clone()),
            Shapes::RenamedThing { value: 255 },
            Shapes::Numbers { small: 1, signed: -1, big: u64::MAX, negative: i64::MIN, huge: -5, float: 0.25 },
            Shapes::Attrs { id: 1, name: "n".into(), count: 0, tags: vec![], data: vec![1] },
            Shapes::Open { name: "o".into(), extra: BTreeMap::from([("k".into(), json!({"a": [1]}))]) },
            Shapes::Loud { some_field: true },
            Shapes::Keyed { by_id: BTreeMap::from([(7, "seven".into())]) },
            Shapes::Nested { inner: pos.clone(), list: vec![pos.clone()], maybe: Some(pos) },
            Shapes::Unknown { kind: "later".into(), raw: json!({"kind": "later", "z": 1}) },
        ],
        &[
            json!({"kind": "older", "value": 1}),
            json!({"kind": "renamed", "value": 256}),
            json!({"kind": "attrs", "ID": 1, "nick": "n", "data": ""}),
            json!({"kind": "attrs", "ID": 1, "name": "n", "nick": "n", "data": ""}),
            json!({"kind": "moved", "x": 1}),
            json!({"kind": "numbers", "small": 0, "signed": 0, "big": 0, "negative": 0, "huge": 0, "float": 0.5, "more": 1}),
            json!({"kind": 7}),
            json!({"kind": "loud", "some_field": true}),
        ],
    )?);
    counts.push(export(
        dir,
        "strict",
        &[
            Strict::Ping,
            Strict::At(Position {
                x: 0,
                y: 0,
                label: None,
            }),
            Strict::Set { value: 9 },
            Strict::Closed(Closed { only: false }),
        ],
        &[
            json!({"type": "ping", "x": 1}),
            json!({"type": "at", "x": 1, "y": 1, "z": 1}),
            json!({"type": "set", "value": 70000}),
            json!({"type": "closed", "only": true, "other": 1}),
        ],
    )?);
    counts.push(export(
        dir,
        "partial",
        &[Partial::Loose { value: 1 }, Partial::Tight { value: 2 }],
        &[
            json!({"type": "loose", "value": 1, "x": 1}),
            json!({"type": "tight", "value": 1, "x": 1}),
        ],
    )?);
    // The chat example's own messages, both directions.
    use chat_example::{ClientMsg, ServerMsg};
    counts.push(export(
        dir,
        "chat-client",
        &[
            ClientMsg::Join {
                room: "general".into(),
                since: None,
            },
            ClientMsg::Join {
                room: "general".into(),
                since: Some(protocol_core::Since {
                    epoch: "e1".into(),
                    offset: 41,
                }),
            },
            ClientMsg::History {
                room: "general".into(),
                limit: None,
                before: Some(42),
            },
            ClientMsg::Message {
                room: "general".into(),
                text: "hi".into(),
            },
            ClientMsg::Read {
                message_id: "n1-1".into(),
            },
            ClientMsg::Typing {
                room: "general".into(),
                active: true,
            },
            ClientMsg::Leave {
                room: "general".into(),
            },
        ],
        &[
            json!({"type": "message", "id": 1, "room": "general", "text": "hi"}),
            json!({"type": "message", "id": -1, "room": "general", "text": "hi"}),
            json!({"type": "read", "messageId": "abc123"}),
            json!({"type": "read", "message_id": "abc123"}),
            json!({"type": "history", "room": "general", "limit": 0}),
            json!({"type": "history", "room": "general", "limit": 101}),
            json!({"type": "join", "room": "general", "since": {"epoch": "e1"}}),
            json!({"type": "join", "room": "general", "since": {"epoch": "e1", "offset": -1}}),
            json!({"type": "typing", "room": "general", "active": "yes"}),
            json!({"type": "raed", "messageId": "abc123"}),
        ],
    )?);
    counts.push(export(
        dir,
        "chat-server",
        &[
            ServerMsg::Joined { room: "general".into(), members: vec!["alice".into(), "bob".into()], epoch: "e1".into(), offset: 41, recovered: None },
            ServerMsg::Joined { room: "general".into(), members: vec!["alice".into()], epoch: "e1".into(), offset: 41, recovered: Some(false) },
            ServerMsg::Presence { room: "general".into(), user: "bob".into(), online: true },
            ServerMsg::Sent { message_id: "n1-1".into(), offset: 1 },
            ServerMsg::Message { message_id: "n1-1".into(), offset: 1, room: "general".into(), from: "alice".into(), text: "hi".into() },
            ServerMsg::History { room: "general".into(), epoch: "e1".into(), messages: vec![chat_example::HistoryEntry { message_id: "n1-1".into(), offset: 1, from: "alice".into(), text: "hi".into() }] },
            ServerMsg::Read { message_id: "n1-1".into(), by: "bob".into() },
            ServerMsg::Typing { room: "general".into(), user: "alice".into(), active: false },
        ],
        &[
            json!({"type": "sent", "id": 1, "messageId": "M"}),
            json!({"type": "message", "messageId": "M", "room": "general", "from": "a", "text": "hi"}),
            json!({"type": "joined", "room": "general", "members": [], "epoch": "e1"}),
            json!({"type": "error", "id": 1, "code": "not_in_room", "message": "join first", "pointer": "/room"}),
            json!({"type": "error", "code": "invalid_json", "message": "bad"}),
            json!({"type": "error", "message": "no code"}),
            json!({"type": "presence", "room": "general", "user": "bob"}),
        ],
    )?);
    let (v, i) = counts.iter().fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    println!(
        "wrote 6 schemas, {v} valid and {i} invalid samples to {}",
        dir.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: judge-fixtures DIR");
        return ExitCode::from(2);
    };
    match run(&dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("judge-fixtures: cannot write to {}: {e}", dir.display());
            ExitCode::from(2)
        }
    }
}
