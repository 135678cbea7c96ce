//! Every row of the chat's wire contract (`../shared/ARCHITECTURE.md`), errors, resume and
//! history included, through the test kit: real server on 127.0.0.1:0, every frame validated
//! against the schema. The checks are in `contract/`, shared with `bench/tests/peers.rs`, which
//! holds the `chat-server` binary and the bench's peers to the same contract.

#![allow(missing_docs)]

mod common;
mod contract;

use std::time::Duration;

use chat_example::{Chat, ClientMsg, ServerMsg};
use protocol_core::testing::TestServer;
use protocol_core::{assert_push, assert_reply};

use common::join;

type Server = TestServer<ClientMsg, Chat>;

async fn start() -> Server {
    TestServer::start_with(chat_example::server_builder(
        Chat::default(),
        chat_example::hub(),
    ))
    .await
}

/// The chat in this process.
struct InProcess(Server);

impl contract::Target for InProcess {
    fn url(&self, user: &str) -> String {
        self.0.url(user)
    }

    /// A new server in place of the old one: a new chat and hub, whose memory starts empty.
    async fn restart(&mut self) {
        self.0 = start().await;
    }
}

// Every check of the contract, each on a fresh server.
contract::contract_tests!(InProcess(start().await));

#[tokio::test]
async fn traffic_can_be_recorded() {
    let srv = start().await;
    let path = std::env::temp_dir().join(format!("chat-traffic-{}.jsonl", std::process::id()));
    srv.record_to(&path).unwrap();
    let mut alice = srv.connect_as("alice").await;
    join(&mut alice, "general").await;
    alice.close().await;
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["from"], "client");
    assert_eq!(lines[0]["frame"]["type"], "join");
    assert_eq!(lines[1]["from"], "server");
    assert_eq!(lines[1]["frame"]["type"], "joined");
    let _ = std::fs::remove_file(path);
}

/// The real binary's setup: one axum port serving the page and the WebSocket.
#[tokio::test]
async fn one_port_serves_the_page_and_the_websocket() {
    let server = chat_example::server(Chat::default(), chat_example::hub());
    let hub = server.hub().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = chat_example::router(server.clone());
    tokio::spawn(async move { server.serve_router(listener, router).await });

    // The page.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut page = String::new();
    tcp.read_to_string(&mut page).await.unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<script type=\"module\" src=\"/chat.js\">"));
    // The generated modules the page imports.
    for (path, module) in [
        ("/schema/chat.client.js", chat_example::CLIENT_JS),
        ("/schema/chat.js", chat_example::GUARDS_JS),
    ] {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        tcp.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{path}: {response}");
        assert!(response.contains("text/javascript"), "{path}: {response}");
        assert!(response.ends_with(module), "{path}: the committed module");
    }

    // The WebSocket, typed client.
    let url = format!("ws://{addr}/ws?user=alice");
    let mut alice: protocol_core::Client<ClientMsg, ServerMsg> =
        protocol_core::Client::connect(url).await.unwrap();
    alice
        .send(&ClientMsg::Join {
            room: "general".into(),
            since: None,
        })
        .await
        .unwrap();
    let joined = tokio::time::timeout(Duration::from_secs(5), alice.next())
        .await
        .unwrap();
    assert!(
        matches!(&joined, Some(ServerMsg::Joined { room, members, offset: 0, recovered: None, .. })
            if room == "general" && *members == ["alice"]),
        "{joined:?}"
    );
    let sent = alice
        .request(&ClientMsg::Message {
            room: "general".into(),
            text: "hi".into(),
        })
        .await
        .unwrap();
    assert!(matches!(sent, ServerMsg::Sent { .. }));
    assert_eq!(hub.connection_count(), 1);

    // Bad names and foreign origins are refused before the upgrade.
    let err = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?user=no%20spaces"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{addr}/ws?user=eve"),
    )
    .unwrap();
    req.headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
}

/// A recording with the values that differ from run to run (room epochs, message ids: both
/// drawn at start) named by order of first appearance, so two sessions of the same contract
/// compare equal.
fn volatile_named(recording: &str) -> String {
    fn walk(v: &mut serde_json::Value, seen: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    if let ("epoch" | "messageId", serde_json::Value::String(s)) =
                        (key.as_str(), &mut *value)
                    {
                        let n = match seen.iter().position(|(k, old)| k == key && old == s) {
                            Some(i) => i,
                            None => {
                                seen.push((key.clone(), s.clone()));
                                seen.len() - 1
                            }
                        };
                        *s = format!("<{key} {n}>");
                    } else {
                        walk(value, seen);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|i| walk(i, seen)),
            _ => {}
        }
    }
    let mut seen = Vec::new();
    recording
        .lines()
        .map(
            |line| match serde_json::from_str::<serde_json::Value>(line) {
                Ok(mut v) => {
                    walk(&mut v, &mut seen);
                    v.to_string()
                }
                Err(_) => line.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
}

/// The committed recording `tests/recordings/wire-contract.jsonl` is this session's traffic
/// (two users, `u1` and `u2`, so that `protocol-schema replay --url 'ws://ADDR/ws?user=u{conn}'`
/// connects each recorded connection as its user). CI replays it against a fresh `chat-server`.
/// After a deliberate change of the contract, regenerate it with
/// `CHAT_RECORDING_UPDATE=1 cargo test -p chat-example --test wire_contract`.
#[tokio::test]
async fn the_committed_recording_is_this_session() {
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("recordings")
        .join("wire-contract.jsonl");
    let path =
        std::env::temp_dir().join(format!("chat-wire-contract-{}.jsonl", std::process::id()));
    let srv = start().await;
    srv.record_to(&path).unwrap();
    let mut u1 = srv.connect_as("u1").await;
    let mut u2 = srv.connect_as("u2").await;
    assert_eq!(join(&mut u1, "general").await, vec!["u1"]);
    assert_eq!(join(&mut u2, "general").await, vec!["u1", "u2"]);
    assert_push!(u1, ServerMsg::Presence { user, online: true, .. } if user == "u2");
    let reply = assert_reply!(
        u1.request(&ClientMsg::Message {
            room: "general".into(),
            text: "hi".into()
        })
        .await,
        ServerMsg::Sent { .. }
    );
    let ServerMsg::Sent { message_id, .. } = reply else {
        unreachable!()
    };
    assert_push!(u2, ServerMsg::Message { message_id: m, .. } if *m == message_id);
    u2.send(&ClientMsg::Read {
        message_id: message_id.clone(),
    })
    .await;
    assert_push!(u1, ServerMsg::Read { message_id: m, by } if *m == message_id && by == "u2");
    u2.send(&ClientMsg::Typing {
        room: "general".into(),
        active: true,
    })
    .await;
    assert_push!(u1, ServerMsg::Typing { user, active: true, .. } if user == "u2");
    u2.assert_error(
        &ClientMsg::Message {
            room: "general".into(),
            text: String::new(),
        },
        "invalid_message",
    )
    .await;
    u2.assert_error(
        &ClientMsg::Typing {
            room: "elsewhere".into(),
            active: false,
        },
        "not_in_room",
    )
    .await;
    u2.send(&ClientMsg::Read {
        message_id: "nope".into(),
    })
    .await;
    u2.expect_error("unknown_message").await;
    u2.send_raw_text("{not json").await;
    u2.expect_error("invalid_json").await;
    u2.send_raw_text(r#"{"type":"shout","room":"general"}"#)
        .await;
    u2.expect_error("unknown_type").await;
    u2.send_raw_text(r#"{"type":"join","id":9,"room":7}"#).await;
    let e = u2.expect_error("invalid_message").await;
    assert_eq!(e.pointer(), Some("/room"));
    u2.send(&ClientMsg::Leave {
        room: "general".into(),
    })
    .await;
    assert_push!(u1, ServerMsg::Presence { user, online: false, .. } if user == "u2");
    let recorded = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    if std::env::var_os("CHAT_RECORDING_UPDATE").is_some() {
        std::fs::create_dir_all(committed.parent().unwrap()).unwrap();
        std::fs::write(&committed, &recorded).unwrap();
    }
    let expected = std::fs::read_to_string(&committed).unwrap_or_default();
    assert!(
        volatile_named(&recorded) == volatile_named(&expected),
        "{} differs from this session's traffic; if the contract changed on purpose, run \
         `CHAT_RECORDING_UPDATE=1 cargo test -p chat-example --test wire_contract` and commit \
         the file.\nrecorded now:\n{recorded}",
        committed.display()
    );
}
