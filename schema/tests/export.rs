//! Export: the ten files, their determinism and content, the drift check and the app CLI.

mod common;
mod protocols;

use common::TempDir;
use protocol_core::{Protocol, schema_for};
use protocol_schema::{Error, FileStatus, Spec, cli};
use protocols::{ClientMsg, ServerMsg, clash, spec};
use serde_json::{Value, json};

const FILES: [&str; 10] = [
    "demo.client.schema.json",
    "demo.server.schema.json",
    "demo.d.ts",
    "demo.js",
    "demo.asyncapi.json",
    "demo.client.js",
    "demo.client.d.ts",
    "demo.py",
    "demo.md",
    "demo.html",
];

fn read(dir: &TempDir, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

fn read_json(dir: &TempDir, name: &str) -> Value {
    serde_json::from_str(&read(dir, name)).unwrap()
}

/// Run the app CLI in-process: (exit status, stdout, stderr).
fn app(spec: &Spec, args: &[&str]) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut argv = vec!["demo-schema"];
    argv.extend_from_slice(args);
    let code = cli::run_with(spec, argv, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn export_writes_every_file_deterministically() {
    let (a, b) = (TempDir::new("export-a"), TempDir::new("export-b"));
    let paths = spec().export(a.path()).unwrap();
    assert_eq!(
        paths,
        FILES.iter().map(|f| a.join(f)).collect::<Vec<_>>(),
        "export returns the paths in order"
    );
    spec().export(b.path()).unwrap();
    for f in FILES {
        let text = read(&a, f);
        assert_eq!(text, read(&b, f), "{f} differs between two exports");
        assert!(
            text.ends_with('\n') && !text.ends_with("\n\n"),
            "{f}: one trailing newline"
        );
        if f.ends_with(".json") {
            let value: Value = serde_json::from_str(&text).unwrap();
            // Keys sorted at every level: re-serialising with sorted maps gives the same text.
            let again = serde_json::to_string_pretty(&value).unwrap() + "\n";
            assert_eq!(text, again, "{f}: keys sorted, pretty, newline");
        }
    }
    // Exporting again over the same files leaves them untouched.
    let before = std::fs::metadata(a.join("demo.d.ts"))
        .unwrap()
        .modified()
        .unwrap();
    spec().export(a.path()).unwrap();
    let after = std::fs::metadata(a.join("demo.d.ts"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
}

#[test]
fn schemas_are_schema_for_plus_id_and_title() {
    let dir = TempDir::new("schemas");
    spec().export(dir.path()).unwrap();
    let mut expected = schema_for::<ClientMsg>();
    expected["$id"] = json!("urn:protocol-schema:demo:1.0.0:client");
    expected["title"] = json!("ClientMsg");
    assert_eq!(read_json(&dir, "demo.client.schema.json"), expected);
    let mut expected = schema_for::<ServerMsg>();
    expected["$id"] = json!("urn:protocol-schema:demo:1.0.0:server");
    expected["title"] = json!("ServerMsg");
    assert_eq!(read_json(&dir, "demo.server.schema.json"), expected);

    let with_base = spec().base_uri("https://example.com/schemas/");
    let files = with_base.files().unwrap();
    let client: Value = serde_json::from_str(&files[0].contents).unwrap();
    assert_eq!(
        client["$id"],
        "https://example.com/schemas/demo.client.schema.json"
    );
    // The exported schema still validates what the encoder writes.
    let validator = jsonschema::validator_for(&client).unwrap();
    let msg = ClientMsg::Join {
        room: "general".into(),
    };
    let doc: Value = serde_json::from_str(&protocol_core::encode(&msg).unwrap()).unwrap();
    assert!(validator.is_valid(&doc));
}

#[test]
fn typescript_declares_unions_namespaces_and_guards() {
    let dir = TempDir::new("ts");
    spec().export(dir.path()).unwrap();
    let dts = read(&dir, "demo.d.ts");
    for line in [
        "export type ClientMsg = ClientMsg.Join | ClientMsg.Message | ClientMsg.Read | ClientMsg.Draw | ClientMsg.Moved | ClientMsg.Ping;",
        // The catch-all is not part of the union, so `switch (m.type)` narrows.
        "export type ServerMsg = ServerMsg.Joined | ServerMsg.Sent | ServerMsg.Message | ServerMsg.Moved | ServerMsg.Error;",
        "export declare namespace ClientMsg {",
        "export declare namespace ServerMsg {",
        "  export type MessageType = \"join\" | \"message\" | \"read\" | \"draw\" | \"moved\" | \"ping\";",
        "  export type MessageType = \"joined\" | \"sent\" | \"message\" | \"moved\" | \"error\";",
        "  export const TYPES: readonly MessageType[];",
        "  export function isRead(m: { readonly type: string }): m is Read;",
        "  export function isUnknown(m: { readonly type: string }): m is Unknown;",
        "    type: \"join\";",
        "    room: string;",
        "    id?: number;",
        "    note?: string | null;",
        "    to?: Position | null;",
        "    pair: [number, string];",
        "    path: Position[];",
        "    members: string[];",
        "    counter: number;",
        "  export type Color = \"red\" | \"green\";",
        "  export interface Position {",
        "    [field: string]: unknown;",
        "  /** Join a room. */",
    ] {
        assert!(dts.contains(line), "missing {line:?} in:\n{dts}");
    }
    // Both directions have a `Message` interface, each in its namespace.
    assert_eq!(dts.matches("  export interface Message {").count(), 2);
    // Integers that can exceed 2^53 are numbers with a warning, never bigint.
    assert!(!dts.contains("bigint"));
    let counter = dts.find("    counter: number;").unwrap();
    assert!(
        dts[..counter].rfind("Warning: an integer from 0 to 18446744073709551615")
            > dts[..counter].rfind("/** Where. */")
    );
    // Small integers get no warning.
    let x = dts.find("    x: number;").unwrap();
    assert!(!dts[x.saturating_sub(60)..x].contains("Warning"));
    // Aliases are documented, the wire name is used.
    assert!(dts.contains("Also accepted as `msgId` (the encoder writes `messageId`)."));
    assert!(dts.contains("The decoder also accepts `\"type\": \"seen\"` for this message."));
    assert!(dts.contains(
        "A request: answered by {@link ServerMsg.Sent} (`\"type\": \"sent\"`) with the same `id`."
    ));
    // The externally tagged Rust enum.
    assert!(dts.contains("  export type Shape = {\n    Circle: {\n      /** Radius. */\n      r: number;\n    };\n  } | {\n    Square: number;\n  } | \"Empty\";"), "{dts}");

    let js = read(&dir, "demo.js");
    for line in [
        "export const ClientMsg = Object.freeze({",
        "  TYPES: Object.freeze([\"join\", \"message\", \"read\", \"draw\", \"moved\", \"ping\"]),",
        "  isRead: (m) => m.type === \"read\",",
        "  isUnknown: (m) => typeof m.type === \"string\" && ![\"joined\", \"sent\", \"message\", \"moved\", \"error\"].includes(m.type),",
    ] {
        assert!(js.contains(line), "missing {line:?} in:\n{js}");
    }
}

#[test]
fn clashing_names_get_suffixes_and_custom_tags_work() {
    let files = clash::spec().files().unwrap();
    let dts = &files[2].contents;
    assert!(
        dts.contains("  export interface Position {\n    kind: \"position\";\n"),
        "{dts}"
    );
    assert!(dts.contains("    also: PositionType;\n"), "{dts}");
    assert!(dts.contains("    at: PositionType;\n"), "{dts}");
    assert!(dts.contains("  export interface PositionType {"), "{dts}");
    assert!(dts.contains("  export interface MessageType {"), "{dts}");
    assert!(
        dts.contains("  export type MessageType_ = \"position\" | \"message-type\" | \"flat\";"),
        "{dts}"
    );
    // A struct flattening an enum: an intersection with the enum's union, not an interface.
    assert!(
        dts.contains("  export type Flat = {\n    kind: \"flat\";\n"),
        "{dts}"
    );
    assert!(
        dts.contains("    name: string;\n  } & ({\n    A: {\n"),
        "{dts}"
    );
    assert!(
        dts.contains("  export function isPosition(m: { readonly kind: string }): m is Position;")
    );
    assert!(dts.contains("export type ServerMsg = ServerMsg.Hello;"));
    let asyncapi: Value = serde_json::from_str(&files[4].contents).unwrap();
    assert_eq!(
        asyncapi["components"]["schemas"]["Msg.Position"]["properties"]["at"]["$ref"],
        "#/components/schemas/Msg.PositionType"
    );
    assert!(asyncapi["components"]["schemas"]["Msg.PositionType"].is_object());
}

#[test]
fn the_client_knows_requests_handlers_and_the_error_reply_of_each_protocol() {
    let files = spec().files().unwrap();
    let js = &files[5].contents;
    let dts = &files[6].contents;
    assert_eq!(files[5].name, "demo.client.js");
    assert!(js.contains("import { ServerMsg as ServerGuards } from \"./demo.js\";"));
    assert!(js.contains("const REPLIES = Object.freeze({ message: \"sent\" });"));
    assert!(js.contains("const ERROR_TYPE = \"error\";"));
    // Replies (`sent`) and the error reply need no handler; the catch-all does, under "*".
    assert!(
        js.contains("const HANDLED = Object.freeze([\"joined\", \"message\", \"moved\", \"*\"]);")
    );
    // The schema for `validate`, without annotations.
    assert!(
        js.contains("    \"moved\": {\"properties\":{\"id\":"),
        "{js}"
    );
    assert!(!js.contains("\"description\""), "annotations are left out");
    assert!(js.contains("export function connect(url, options = {})"));
    assert!(
        !js.contains("`validate` does not check"),
        "every keyword is checked"
    );
    assert_eq!(files[6].name, "demo.client.d.ts");
    assert!(dts.contains(
        "import type { ClientMsg as ClientMessage, ServerMsg as ServerMessage } from \"./demo.js\";"
    ));
    assert!(dts.contains(
        "export interface Requests {\n  message: { request: ClientMessage.Message; reply: ServerMessage.Sent };\n}"
    ));
    assert!(dts.contains("export type ServerError = ServerMessage.Error;"));
    assert!(dts.contains("  moved: (msg: ServerMessage.Moved) => void;\n"));
    assert!(dts.contains("  \"*\": (msg: ServerMessage.Unknown) => void;\n"));
    assert!(!dts.contains("  sent: ("), "a reply gets no handler");

    // Another tag, renamed enums, no requests and no error reply.
    let files = clash::spec().files().unwrap();
    let js = &files[5].contents;
    let dts = &files[6].contents;
    assert!(js.contains("const CLIENT_TAG = \"kind\";"));
    assert!(js.contains("const SERVER_TAG = \"type\";"));
    assert!(js.contains("const ERROR_TYPE = null;"));
    assert!(js.contains("const REPLIES = Object.freeze({});"));
    assert!(js.contains("const HANDLED = Object.freeze([\"Hello\"]);"));
    assert!(js.contains("  catchAll: null,"));
    assert!(dts.contains(
        "import type { Msg as ClientMessage, ServerMsg as ServerMessage } from \"./clash.js\";"
    ));
    assert!(dts.contains("type ClientTag = \"kind\";"));
    assert!(dts.contains("export interface Requests {}"));
    assert!(dts.contains("export type ServerError = never;"));
}

#[test]
fn asyncapi_document_has_channel_operations_and_replies() {
    let dir = TempDir::new("asyncapi");
    spec().export(dir.path()).unwrap();
    let doc = read_json(&dir, "demo.asyncapi.json");
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(doc["info"]["title"], "Demo chat");
    assert_eq!(doc["info"]["version"], "1.0.0");
    assert_eq!(doc["channels"]["demo"]["address"], "/ws");
    let channel_messages = doc["channels"]["demo"]["messages"].as_object().unwrap();
    assert_eq!(channel_messages.len(), 12, "6 client + 6 server messages");
    assert_eq!(
        channel_messages["ServerMsg.Message"]["$ref"],
        "#/components/messages/ServerMsg.Message"
    );
    let ops = doc["operations"].as_object().unwrap();
    assert_eq!(
        ops.keys().collect::<Vec<_>>(),
        [
            "receive.ClientMsg",
            "receive.ClientMsg.Message",
            "send.ServerMsg"
        ]
    );
    assert_eq!(ops["receive.ClientMsg"]["action"], "receive");
    assert_eq!(ops["send.ServerMsg"]["action"], "send");
    assert_eq!(
        ops["receive.ClientMsg.Message"]["reply"]["messages"][0]["$ref"],
        "#/channels/demo/messages/ServerMsg.Sent"
    );
    let message = &doc["components"]["messages"]["ClientMsg.Message"];
    assert_eq!(
        message["payload"]["$ref"],
        "#/components/schemas/ClientMsg.Message"
    );
    assert_eq!(message["name"], "message");
    assert_eq!(message["correlationId"]["location"], "$message.payload#/id");
    assert!(
        doc["components"]["messages"]["ClientMsg.Join"]
            .get("correlationId")
            .is_none()
    );
    // Of the server's messages, the replies and the error reply carry the id; pushes do not.
    let messages = &doc["components"]["messages"];
    assert_eq!(
        messages["ServerMsg.Sent"]["correlationId"]["location"],
        "$message.payload#/id"
    );
    assert_eq!(
        messages["ServerMsg.Error"]["correlationId"]["location"],
        "$message.payload#/id"
    );
    assert!(messages["ServerMsg.Joined"].get("correlationId").is_none());
    assert!(messages["ServerMsg.Message"].get("correlationId").is_none());
    let draw = &doc["components"]["schemas"]["ClientMsg.Draw"];
    assert_eq!(
        draw["properties"]["at"]["$ref"],
        "#/components/schemas/ClientMsg.Position"
    );
    assert_eq!(
        draw["properties"]["pair"]["items"][1],
        json!({"type": "string"})
    );
    assert!(doc["components"]["schemas"]["ClientMsg.Position"].is_object());
    assert!(!doc.to_string().contains("$defs"));
}

#[test]
fn check_passes_then_reports_drift_as_a_unified_diff() {
    let dir = TempDir::new("check");
    let dir_arg = dir.path().to_str().unwrap().to_owned();
    let spec = spec();
    let (code, out, _) = app(&spec, &["export", "--out", &dir_arg]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), FILES.len());
    let (code, out, err) = app(&spec, &["check", "--dir", &dir_arg]);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert!(out.contains(&format!("{} files in", FILES.len())));

    let dts = dir.join("demo.d.ts");
    let text = std::fs::read_to_string(&dts).unwrap();
    std::fs::write(
        &dts,
        text.replace("    room: string;\n", "    room: number;\n"),
    )
    .unwrap();
    std::fs::remove_file(dir.join("demo.js")).unwrap();
    let (code, out, err) = app(&spec, &["check", "--dir", &dir_arg]);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!("differs:    {}", dts.display())),
        "{out}"
    );
    assert!(out.contains("missing:    "), "{out}");
    assert!(out.contains("up to date: "), "{out}");
    assert!(
        out.contains(&format!("--- {} (committed)", dts.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("+++ {} (from the types)", dts.display())),
        "{out}"
    );
    assert!(out.contains("\n-    room: number;\n"), "{out}");
    assert!(out.contains("\n+    room: string;\n"), "{out}");
    assert!(out.contains("@@ -"), "{out}");
    assert!(
        err.contains(&format!("2 of {} files", FILES.len())),
        "{err}"
    );
    assert!(
        err.contains(&format!("run `demo-schema export --out {dir_arg}`")),
        "{err}"
    );

    let drift = spec.check(dir.path()).unwrap();
    assert!(!drift.is_clean());
    assert_eq!(drift.stale().count(), 2);
    assert_eq!(drift.files[3].status, FileStatus::Missing);

    // A directory where a file should be cannot be read: an error, not drift.
    std::fs::create_dir(dir.join("demo.js")).unwrap();
    let (code, _, err) = app(&spec, &["check", "--dir", &dir_arg]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read") && err.contains("demo.js"),
        "{err}"
    );
}

#[test]
fn app_cli_usage() {
    let spec = spec();
    let (code, _, err) = app(&spec, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("Usage: demo-schema"), "{err}");
    let (code, _, err) = app(&spec, &["export"]);
    assert_eq!(code, 2);
    assert!(err.contains("--out <DIR>"), "{err}");
    let (code, out, _) = app(&spec, &["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("export") && out.contains("check"), "{out}");
    // Exporting under a regular file fails with the path named.
    let dir = TempDir::new("unwritable");
    std::fs::write(dir.join("file"), "x").unwrap();
    let target = dir.join("file").join("sub");
    let (code, _, err) = app(&spec, &["export", "--out", target.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot write") && err.contains("file/sub"),
        "{err}"
    );
}

/// A server enum without the `sent` reply that `ClientMsg::Message` declares.
mod no_reply {
    use protocol_core::Protocol;

    /// Server messages lacking `sent`.
    #[derive(Debug, Clone, PartialEq, Protocol)]
    pub enum ServerMsg {
        /// Something.
        Joined,
    }
}

#[test]
fn specs_that_cannot_be_exported_say_why() {
    let err = |spec: Spec| match spec.files() {
        Err(Error::Spec(msg)) => msg,
        other => panic!("expected a spec error, got {other:?}"),
    };
    let msg = err(Spec::new("demo", "1").client_to_server::<ClientMsg>());
    assert!(msg.contains("server_to_client"), "{msg}");
    let msg = err(Spec::new("demo", "1").server_to_client::<ServerMsg>());
    assert!(msg.contains("client_to_server"), "{msg}");
    let msg = err(Spec::new("../x", "1")
        .client_to_server::<ClientMsg>()
        .server_to_client::<ServerMsg>());
    assert!(msg.contains("file names"), "{msg}");
    let msg = err(Spec::new("demo", " ")
        .client_to_server::<ClientMsg>()
        .server_to_client::<ServerMsg>());
    assert!(msg.contains("version"), "{msg}");
    let msg = err(Spec::new("demo", "1")
        .client_to_server::<clash::Msg>()
        .server_to_client::<clash::other::Msg>());
    assert!(msg.contains("both directions are named `Msg`"), "{msg}");
    let msg = err(Spec::new("demo", "1")
        .client_to_server::<ClientMsg>()
        .server_to_client::<no_reply::ServerMsg>());
    assert!(
        msg.contains("`ClientMsg::Message` declares the reply \"sent\""),
        "{msg}"
    );
    assert_eq!(ClientMsg::TAG, "type");
}

#[test]
fn samples_command_writes_the_corpus_sorted_by_the_decoder() {
    let dir = TempDir::new("samples");
    let dir_arg = dir.path().to_str().unwrap().to_owned();
    let spec = spec();
    let (code, out, err) = app(&spec, &["samples", "--out", &dir_arg]);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    let samples = spec.samples().unwrap();
    let valid = samples.iter().filter(|s| s.is_valid()).count();
    assert_eq!(
        out.trim(),
        format!(
            "wrote {valid} valid and {} invalid samples to {dir_arg}",
            samples.len() - valid
        )
    );
    let count = |sub: &str| std::fs::read_dir(dir.join(sub)).unwrap().count();
    assert_eq!(
        (count("valid"), count("invalid")),
        (valid, samples.len() - valid)
    );
    for (i, s) in samples.iter().enumerate() {
        let sub = if s.is_valid() { "valid" } else { "invalid" };
        let path = dir.join(&format!("{sub}/demo-{}-{i}.json", s.direction));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", s.frame)
        );
        assert_eq!(
            spec.decode(s.direction, &s.frame).unwrap().err(),
            s.decode_error
        );
    }
    for d in ["client", "server"] {
        let schema = read_json(&dir, &format!("demo-{d}.schema.json"));
        assert_eq!(schema["$id"], format!("urn:protocol-schema:demo:1.0.0:{d}"));
    }
    // The decoder's messages are the decoder's own.
    let bad = samples.iter().find(|s| s.frame == "[1]").unwrap();
    assert!(
        bad.decode_error.as_deref().unwrap().contains("object"),
        "{bad:?}"
    );
}
