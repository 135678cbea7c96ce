//! The peers `ratios peers` measures against (`bench/peers/`), and the shipped `chat-server`
//! beside them, held to the chat's wire contract (`../shared/ARCHITECTURE.md`, "Chat example:
//! wire contract") by the checks the chat's own tests make (`examples/chat/tests/wire_contract.rs`):
//! each server runs in its own process on 127.0.0.1:0, driven by the test kit, which validates
//! every frame against the chat schema.
//!
//! The `ratios` load modes get a small functional run against the peers too (no timing: they
//! deliver, every delivery is counted, nothing is refused).
//!
//! Needs `npm ci` in `bench/peers` (ws and bun) and a built `chat-server` (`CHAT_SERVER_BIN`, or
//! the workspace's `target/debug/chat-server`): `.ci/run` does both.

#![allow(missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chat_example::{ClientMsg, ServerMsg};
use protocol_core::testing::TestClient;
use protocol_core::{assert_broadcast, assert_push, assert_reply, refute_push};

type Client = TestClient<ClientMsg, ServerMsg>;

fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers")
}

fn must_exist(path: PathBuf, how: &str) -> PathBuf {
    assert!(path.exists(), "{} is missing: {how}", path.display());
    path
}

/// The command that starts each server (it takes `--listen 127.0.0.1:0`).
fn command(server: &str) -> Command {
    let npm = "run `npm ci` in bench/peers";
    match server {
        "node" => {
            must_exist(peers_dir().join("node_modules/ws"), npm);
            let mut c = Command::new("node");
            c.arg(peers_dir().join("node/server.js"));
            c
        }
        "bun" => {
            let mut c = Command::new(must_exist(peers_dir().join("node_modules/.bin/bun"), npm));
            c.arg(peers_dir().join("bun/server.js"));
            c
        }
        "tt" => Command::new(env!("CARGO_BIN_EXE_tt-peer")),
        "chat-server" => {
            let bin = std::env::var_os("CHAT_SERVER_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    let target = std::env::var_os("CARGO_TARGET_DIR")
                        .map(PathBuf::from)
                        .unwrap_or_else(|| {
                            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target")
                        });
                    target.join("debug/chat-server")
                });
            Command::new(must_exist(
                bin,
                "build it with `cargo build -p chat-example --bin chat-server` or set CHAT_SERVER_BIN",
            ))
        }
        other => panic!("no such server {other:?}"),
    }
}

/// A server process on a free port, killed when dropped.
struct Peer {
    child: Child,
    addr: String,
}

impl Peer {
    fn start(server: &str) -> Self {
        let mut child = command(server)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {server}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("{server}: expected the listening line, got {line:?}"))
            .to_owned();
        Peer { child, addr }
    }

    fn url(&self, user: &str) -> String {
        format!("ws://{}/ws?user={user}", self.addr)
    }

    async fn connect(&self, user: &str) -> Client {
        Client::connect(&self.url(user), user).await.unwrap()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn join(c: &mut Client, room: &str) -> Vec<String> {
    c.send(&ClientMsg::Join {
        room: room.into(),
        since: None,
    })
    .await;
    let ServerMsg::Joined { members, .. } =
        assert_push!(c, ServerMsg::Joined { room: r, .. } if r == room)
    else {
        unreachable!()
    };
    members
}

async fn join_lists_members_and_tells_the_others(p: &Peer) {
    let mut alice = p.connect("alice").await;
    let mut bob = p.connect("bob").await;
    assert_eq!(join(&mut alice, "general").await, vec!["alice"]);
    assert_eq!(join(&mut bob, "general").await, vec!["alice", "bob"]);
    assert_push!(alice, ServerMsg::Presence { room, user, online: true } if room == "general" && user == "bob");
    refute_push!(bob, ServerMsg::Presence { .. });
}

async fn messages_are_sent_to_the_others_with_an_id(p: &Peer) {
    let mut alice = p.connect("alice").await;
    let mut bob = p.connect("bob").await;
    let mut carol = p.connect("carol").await;
    for c in [&mut alice, &mut bob, &mut carol] {
        join(c, "general").await;
    }
    let reply = assert_reply!(
        alice
            .request(&ClientMsg::Message {
                room: "general".into(),
                text: "hi".into()
            })
            .await,
        ServerMsg::Sent { .. }
    );
    let ServerMsg::Sent { message_id, .. } = reply else {
        unreachable!()
    };
    assert_broadcast!(alice => [bob, carol], ServerMsg::Message { message_id: m, room, from, text, .. }
        if *m == message_id && room == "general" && from == "alice" && text == "hi");
}

async fn message_errors(p: &Peer) {
    let mut alice = p.connect("alice").await;
    let message = |text: String| ClientMsg::Message {
        room: "general".into(),
        text,
    };
    let e = alice
        .assert_error(&message("hi".into()), "not_in_room")
        .await;
    assert_eq!(e.pointer(), Some("/room"));
    join(&mut alice, "general").await;
    let e = alice
        .assert_error(&message(String::new()), "invalid_message")
        .await;
    assert_eq!(e.pointer(), Some("/text"));
    let e = alice
        .assert_error(&message("é".repeat(4001)), "invalid_message")
        .await;
    assert_eq!(e.pointer(), Some("/text"));
    let ok = alice.request(&message("é".repeat(4000))).await;
    assert!(matches!(ok, Ok(ServerMsg::Sent { .. })), "{ok:?}");
    join(&mut alice, "other").await;
}

async fn read_receipts_reach_every_device_of_the_author(p: &Peer) {
    let mut alice_phone = p.connect("alice").await;
    let mut alice_laptop = p.connect("alice").await;
    let mut bob = p.connect("bob").await;
    join(&mut alice_phone, "general").await;
    join(&mut alice_laptop, "general").await;
    join(&mut bob, "general").await;
    let Ok(ServerMsg::Sent { message_id, .. }) = alice_phone
        .request(&ClientMsg::Message {
            room: "general".into(),
            text: "did you see?".into(),
        })
        .await
    else {
        panic!("no sent")
    };
    assert_push!(alice_laptop, ServerMsg::Message { from, .. } if from == "alice");
    assert_push!(bob, ServerMsg::Message { message_id: m, .. } if *m == message_id);
    bob.send(&ClientMsg::Read {
        message_id: message_id.clone(),
    })
    .await;
    for device in [&mut alice_phone, &mut alice_laptop] {
        assert_push!(device, ServerMsg::Read { message_id: m, by } if *m == message_id && by == "bob");
    }
    refute_push!(bob, ServerMsg::Read { .. });
    bob.send(&ClientMsg::Read {
        message_id: "nope".into(),
    })
    .await;
    let e = bob.expect_error("unknown_message").await;
    assert_eq!(e.pointer(), Some("/messageId"));
}

async fn typing_goes_to_the_other_members(p: &Peer) {
    let mut alice = p.connect("alice").await;
    let mut bob = p.connect("bob").await;
    join(&mut alice, "general").await;
    join(&mut bob, "general").await;
    assert_push!(alice, ServerMsg::Presence { .. });
    alice
        .send(&ClientMsg::Typing {
            room: "general".into(),
            active: true,
        })
        .await;
    assert_broadcast!(alice => [bob], ServerMsg::Typing { room, user, active: true } if room == "general" && user == "alice");
    let e = bob
        .assert_error(
            &ClientMsg::Typing {
                room: "elsewhere".into(),
                active: true,
            },
            "not_in_room",
        )
        .await;
    assert_eq!(e.pointer(), Some("/room"));
}

async fn leaving_and_last_disconnect_go_offline(p: &Peer) {
    let mut alice = p.connect("alice").await;
    let mut bob = p.connect("bob").await;
    let mut bob2 = p.connect("bob").await;
    join(&mut alice, "general").await;
    join(&mut bob, "general").await;
    join(&mut bob2, "general").await;
    assert_push!(alice, ServerMsg::Presence { user, online: true, .. } if user == "bob");
    bob.send(&ClientMsg::Leave {
        room: "general".into(),
    })
    .await;
    refute_push!(
        alice,
        ServerMsg::Presence { online: false, .. },
        within = Duration::from_millis(200)
    );
    bob2.close().await;
    assert_push!(alice, ServerMsg::Presence { room, user, online: false } if room == "general" && user == "bob");
}

async fn decode_errors_and_limits(p: &Peer) {
    let mut c = p.connect("mallory").await;
    c.send_raw_text("{not json").await;
    c.expect_error("invalid_json").await;
    c.send_raw_text(r#"{"type":"shout","room":"general"}"#)
        .await;
    let e = c.expect_error("unknown_type").await;
    assert_eq!(e.pointer(), Some("/type"));
    c.send_raw_text(r#"{"type":"join","room":7}"#).await;
    let e = c.expect_error("invalid_message").await;
    assert_eq!(e.pointer(), Some("/room"));
    c.send_oversized(200 * 1024).await;
    c.assert_closed(1009).await;
    let mut d = p.connect("mallory2").await;
    d.send_binary(b"\x01\x02").await;
    d.assert_closed(1003).await;
}

async fn names_are_checked_at_the_handshake(p: &Peer) {
    for bad in [
        "",
        "has%20space",
        "this-name-is-far-too-long-for-the-chat-123",
    ] {
        let err = Client::connect(&p.url(bad), "bad")
            .await
            .err()
            .unwrap_or_else(|| panic!("{bad:?} was accepted"));
        assert!(err.contains("401"), "{bad:?}: {err}");
    }
}

macro_rules! contract {
    ($($server:ident = $name:literal),* $(,)?) => {$(
        mod $server {
            use super::*;
            contract!(@checks $name:
                join_lists_members_and_tells_the_others,
                messages_are_sent_to_the_others_with_an_id,
                message_errors,
                read_receipts_reach_every_device_of_the_author,
                typing_goes_to_the_other_members,
                leaving_and_last_disconnect_go_offline,
                decode_errors_and_limits,
                names_are_checked_at_the_handshake,
            );
        }
    )*};
    (@checks $name:literal: $($check:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $check() {
            let peer = Peer::start($name);
            super::$check(&peer).await;
        }
    )*};
}

contract!(
    node_ws = "node",
    bun_serve = "bun",
    tokio_tungstenite = "tt",
    chat_server = "chat-server",
);

/// `room` and `pairs` (the `ratios` load modes) against the Node peer, small: every member gets
/// the messages, every answer comes back, no errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_modes_run_against_a_peer() {
    use protocol_bench::chat_load::{Subject, pairs, room};
    let server = Subject::Node.start(4096).unwrap();
    let load = room(&server, 10, 2, 2, Duration::from_millis(500))
        .await
        .unwrap();
    assert!(load.delivered > 0, "{load:?}");
    assert_eq!(load.errors, 0, "{load:?}");
    assert!(load.p99_us >= load.p50_us, "{load:?}");
    let load = pairs(&server, 3, Duration::from_millis(500)).await.unwrap();
    assert!(load.delivered > 0, "{load:?}");
    assert_eq!(load.errors, 0, "{load:?}");
}

/// `idle` (the `ratios` mode) against the tokio-tungstenite peer, small: every connection is
/// upgraded and held, the server still answers, its memory grew.
#[test]
fn idle_mode_runs_against_a_peer() {
    let idle = protocol_bench::chat_load::idle(protocol_bench::chat_load::Subject::Tt, 50).unwrap();
    assert_eq!(idle.opened, 50, "{idle:?}");
    assert_eq!(idle.refusal, None, "{idle:?}");
    assert!(idle.answers, "{idle:?}");
    assert!(idle.rss > 0, "{idle:?}");
}
