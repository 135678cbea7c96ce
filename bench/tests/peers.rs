//! The peers `ratios peers` measures against (`bench/peers/`), and the shipped `chat-server`
//! beside them, held to the chat's wire contract (`../shared/ARCHITECTURE.md`, "Chat example:
//! wire contract" and "Resume and history") by the checks the chat's own tests make
//! (`examples/chat/tests/wire_contract.rs`), and by the stream checks below (offsets, resume
//! with `since`, `history`, the bounded history, restarts): each server runs in its own process
//! on 127.0.0.1:0, driven by the test kit, which validates every frame against the chat schema.
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

use chat_example::{ClientMsg, HistoryEntry, HistoryLimit, ServerMsg};
use protocol_core::Since;
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
    server: &'static str,
    child: Child,
    addr: String,
}

impl Peer {
    fn start(server: &'static str) -> Self {
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
        Peer {
            server,
            child,
            addr,
        }
    }

    /// Stop the server and start it again (on another free port).
    fn restart(&mut self) {
        self.stop();
        *self = Peer::start(self.server);
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
        self.stop();
    }
}

/// Join `room` (no `since`): the members `joined` lists.
async fn join(c: &mut Client, room: &str) -> Vec<String> {
    joined(c, room).await.0
}

/// Join `room` (no `since`): the members, epoch and offset `joined` carries (and no
/// `recovered`: that is for resumes).
async fn joined(c: &mut Client, room: &str) -> (Vec<String>, String, u64) {
    c.send(&ClientMsg::Join {
        room: room.into(),
        since: None,
    })
    .await;
    match assert_push!(c, ServerMsg::Joined { room: r, .. } if r == room) {
        ServerMsg::Joined {
            members,
            epoch,
            offset,
            recovered: None,
            ..
        } => {
            assert!(!epoch.is_empty(), "an epoch is a non-empty string");
            (members, epoch, offset)
        }
        other => panic!("a fresh join carries no `recovered`: {other:?}"),
    }
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

// Room streams ("Resume and history").

/// Join `room` (no `since`): the epoch and offset `joined` carries.
async fn join_at(c: &mut Client, room: &str) -> (String, u64) {
    let (_, epoch, offset) = joined(c, room).await;
    (epoch, offset)
}

/// Send a join of `room` resuming after `since` (what comes back is read by the caller).
async fn resume(c: &mut Client, room: &str, since: Option<Since>) {
    c.send(&ClientMsg::Join {
        room: room.into(),
        since,
    })
    .await;
}

/// Join `room` resuming after `since`; the first message that comes back.
async fn next_after_join(c: &mut Client, room: &str, since: Option<Since>) -> ServerMsg {
    resume(c, room, since).await;
    next(c).await
}

/// Say `text` in `room`: the message id and offset `sent` carries.
async fn say(c: &mut Client, room: &str, text: &str) -> (String, u64) {
    assert_reply!(
        c.request(&ClientMsg::Message {
            room: room.into(),
            text: text.into()
        })
        .await,
        ServerMsg::Sent { message_id, offset } => (message_id, offset)
    )
}

/// The next message the client got, whatever it is (pushes arrive in order).
async fn next(c: &mut Client) -> ServerMsg {
    c.expect_push(|_| true, "any message").await
}

fn since(epoch: &str, offset: u64) -> Option<Since> {
    Some(Since {
        epoch: epoch.into(),
        offset,
    })
}

/// A `history` request: the reply's epoch and messages.
async fn history(
    c: &mut Client,
    room: &str,
    limit: Option<u64>,
    before: Option<u64>,
) -> (String, Vec<HistoryEntry>) {
    let limit = limit.map(|n| HistoryLimit::try_from(n).expect("a limit of 1 to 100"));
    assert_reply!(
        c.request(&ClientMsg::History {
            room: room.into(),
            limit,
            before,
        })
        .await,
        ServerMsg::History { room: r, epoch, messages } if r == room => (epoch, messages)
    )
}

fn offsets(entries: &[HistoryEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.offset).collect()
}

async fn offsets_are_dense_and_shared_by_sent_and_message(p: &Peer) {
    let mut alice = p.connect("alice").await;
    let mut bob = p.connect("bob").await;
    let (epoch, offset) = join_at(&mut alice, "general").await;
    assert_eq!(offset, 0, "a new room starts at offset 0");
    assert_eq!(join_at(&mut bob, "general").await, (epoch.clone(), 0));
    assert_push!(alice, ServerMsg::Presence { .. });
    let mut ids = Vec::new();
    for n in 1..=5 {
        let (id, offset) = say(&mut alice, "general", &format!("m{n}")).await;
        assert_eq!(offset, n, "sent carries the message's offset: 1, 2, 3, ...");
        ids.push(id);
    }
    for (n, id) in (1..=5).zip(&ids) {
        match next(&mut bob).await {
            ServerMsg::Message {
                message_id, offset, ..
            } => assert_eq!(
                (&message_id, offset),
                (id, n),
                "the push carries sent's offset"
            ),
            other => panic!("expected message {n}, got {other:?}"),
        }
    }
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "message ids are unique: {ids:?}");
    // A later joiner learns where the room stands; another room counts on its own.
    let mut carol = p.connect("carol").await;
    assert_eq!(join_at(&mut carol, "general").await, (epoch, 5));
    join_at(&mut carol, "other").await;
    assert_eq!(say(&mut carol, "other", "elsewhere").await.1, 1);
    assert_eq!(say(&mut alice, "general", "m6").await.1, 6);
}

async fn resume_replays_exactly_the_missed_messages(p: &Peer) {
    let mut alice = p.connect("alice").await;
    let mut bob = p.connect("bob").await;
    let (epoch, _) = join_at(&mut alice, "general").await;
    join_at(&mut bob, "general").await;
    for n in 1..=3 {
        say(&mut alice, "general", &format!("before {n}")).await;
    }
    let seen = assert_push!(bob, ServerMsg::Message { offset: 3, .. } => 3);
    bob.close().await;
    let mut missed = Vec::new();
    for n in 4..=7 {
        missed.push(say(&mut alice, "general", &format!("missed {n}")).await);
    }
    // Back, resuming: the four missed messages in order, then `joined`, then live traffic.
    let mut bob = p.connect("bob").await;
    resume(&mut bob, "general", since(&epoch, seen)).await;
    for (id, offset) in &missed {
        match next(&mut bob).await {
            ServerMsg::Message {
                message_id,
                offset: o,
                room,
                from,
                text,
            } => {
                assert_eq!((&message_id, o), (id, *offset));
                assert_eq!((room.as_str(), from.as_str()), ("general", "alice"));
                assert_eq!(text, format!("missed {offset}"));
            }
            other => panic!("expected the missed message {offset}, got {other:?}"),
        }
    }
    match next(&mut bob).await {
        ServerMsg::Joined {
            epoch: e,
            offset: 7,
            recovered: Some(true),
            members,
            ..
        } => {
            assert_eq!(e, epoch);
            assert_eq!(members, ["alice", "bob"]);
        }
        other => panic!("expected joined at offset 7, recovered, got {other:?}"),
    }
    say(&mut alice, "general", "live").await;
    assert!(
        matches!(next(&mut bob).await, ServerMsg::Message { offset: 8, .. }),
        "live traffic follows the replay"
    );
    // Nothing missed: recovered, nothing replayed.
    let mut bob2 = p.connect("bob").await;
    assert!(matches!(
        next_after_join(&mut bob2, "general", since(&epoch, 8)).await,
        ServerMsg::Joined {
            offset: 8,
            recovered: Some(true),
            ..
        }
    ));
}

async fn resume_while_messages_keep_coming_has_no_gap_or_duplicate(p: &Peer) {
    const TOTAL: u64 = 60;
    let mut alice = p.connect("alice").await;
    let (epoch, _) = join_at(&mut alice, "general").await;
    for n in 1..=5 {
        say(&mut alice, "general", &format!("{n}")).await;
    }
    // alice keeps posting while bob resumes from offset 2.
    let poster = tokio::spawn(async move {
        for n in 6..=TOTAL {
            say(&mut alice, "general", &format!("{n}")).await;
        }
        alice
    });
    let mut bob = p.connect("bob").await;
    resume(&mut bob, "general", since(&epoch, 2)).await;
    let mut got = Vec::new();
    let mut joined_at = None;
    // Bounded: one message per offset and one `joined`, or a failure on the first timeout.
    for _ in 0..=TOTAL {
        match next(&mut bob).await {
            ServerMsg::Message { offset, .. } => got.push(offset),
            ServerMsg::Joined {
                offset, recovered, ..
            } => {
                assert_eq!(recovered, Some(true));
                assert_eq!(
                    Some(&offset),
                    got.last().or(Some(&2)),
                    "joined comes right after the replay of everything up to its offset"
                );
                joined_at = Some(offset);
            }
            other => panic!("unexpected {other:?}"),
        }
        if got.last() == Some(&TOTAL) && joined_at.is_some() {
            break;
        }
    }
    assert!(joined_at.is_some(), "no joined: {got:?}");
    assert_eq!(
        got,
        (3..=TOTAL).collect::<Vec<_>>(),
        "every offset after since, once, in order"
    );
    poster.await.expect("the poster finished");
}

async fn a_stale_epoch_or_position_is_not_recovered(p: &Peer) {
    let mut alice = p.connect("alice").await;
    let (epoch, _) = join_at(&mut alice, "general").await;
    say(&mut alice, "general", "one").await;
    say(&mut alice, "general", "two").await;
    let mut bob = p.connect("bob").await;
    match next_after_join(&mut bob, "general", since("not-this-epoch", 1)).await {
        ServerMsg::Joined {
            epoch: e,
            offset: 2,
            recovered: Some(false),
            ..
        } => assert_eq!(e, epoch, "joined tells the current epoch"),
        other => panic!("expected joined, not recovered, at offset 2, got {other:?}"),
    }
    refute_push!(bob, ServerMsg::Message { .. });
    // A position past the room's latest offset is a bad request, not a resume.
    let mut carol = p.connect("carol").await;
    let e = carol
        .assert_error(
            &ClientMsg::Join {
                room: "general".into(),
                since: since(&epoch, 3),
            },
            "invalid_message",
        )
        .await;
    assert_eq!(e.pointer(), Some("/since/offset"));
    for (bad, pointer) in [
        (r#"{"epoch":"e","offset":-1}"#, "/since/offset"),
        (r#"{"epoch":5,"offset":1}"#, "/since/epoch"),
        ("7", "/since"),
    ] {
        carol
            .send_raw_text(&format!(
                r#"{{"type":"join","id":9,"room":"general","since":{bad}}}"#
            ))
            .await;
        let e = carol.expect_error("invalid_message").await;
        assert_eq!(e.pointer(), Some(pointer), "since {bad}: {e}");
    }
    // None of these joined.
    let e = carol
        .assert_error(
            &ClientMsg::History {
                room: "general".into(),
                limit: None,
                before: None,
            },
            "not_in_room",
        )
        .await;
    assert_eq!(e.pointer(), Some("/room"));
}

async fn history_latest_before_and_limit_bounds(p: &Peer) {
    let mut alice = p.connect("alice").await;
    let (epoch, _) = join_at(&mut alice, "general").await;
    let mut sent = Vec::new();
    for n in 1..=7 {
        sent.push(say(&mut alice, "general", &format!("h{n}")).await);
    }
    let (e, all) = history(&mut alice, "general", None, None).await;
    assert_eq!(e, epoch);
    assert_eq!(offsets(&all), (1..=7).collect::<Vec<_>>(), "oldest first");
    for (entry, (id, offset)) in all.iter().zip(&sent) {
        assert_eq!((&entry.message_id, entry.offset), (id, *offset));
        assert_eq!(entry.from, "alice");
        assert_eq!(entry.text, format!("h{offset}"));
    }
    let latest = history(&mut alice, "general", Some(3), None).await.1;
    assert_eq!(offsets(&latest), [5, 6, 7]);
    let page = history(&mut alice, "general", Some(2), Some(5)).await.1;
    assert_eq!(offsets(&page), [3, 4]);
    let page = history(&mut alice, "general", Some(100), Some(3)).await.1;
    assert_eq!(offsets(&page), [1, 2]);
    assert!(
        history(&mut alice, "general", None, Some(1))
            .await
            .1
            .is_empty()
    );
    for (bad, pointer) in [
        (r#""limit":0"#, "/limit"),
        (r#""limit":101"#, "/limit"),
        (r#""limit":1.5"#, "/limit"),
        (r#""before":0"#, "/before"),
        // Past the room's next offset (8).
        (r#""before":9"#, "/before"),
    ] {
        alice
            .send_raw_text(&format!(
                r#"{{"type":"history","id":900,"room":"general",{bad}}}"#
            ))
            .await;
        let e = alice.expect_error("invalid_message").await;
        assert_eq!(e.pointer(), Some(pointer), "{bad}: {e}");
    }
    // The next offset itself is fine: everything before it.
    let page = history(&mut alice, "general", Some(2), Some(8)).await.1;
    assert_eq!(offsets(&page), [6, 7]);
    // Only members read a room's history.
    let mut eve = p.connect("eve").await;
    let e = eve
        .assert_error(
            &ClientMsg::History {
                room: "general".into(),
                limit: None,
                before: None,
            },
            "not_in_room",
        )
        .await;
    assert_eq!(e.pointer(), Some("/room"));
}

/// 1,012 messages, posted by 11 connections of 92 each (under the chat's rate limit, which
/// stays on): the room keeps the last 1,000, offsets 13 to 1,012.
async fn the_history_keeps_the_last_thousand(p: &Peer) {
    const POSTERS: u64 = 11;
    const EACH: u64 = 92;
    const TOTAL: u64 = POSTERS * EACH;
    let mut epoch = String::new();
    for poster in 0..POSTERS {
        let mut c = p.connect(&format!("poster{poster}")).await;
        epoch = join_at(&mut c, "general").await.0;
        for n in 1..=EACH {
            let (_, offset) = say(&mut c, "general", &format!("{n}")).await;
            assert_eq!(offset, poster * EACH + n);
        }
        c.close().await;
    }
    let first = TOTAL - 999;
    let mut reader = p.connect("reader").await;
    assert_eq!(
        join_at(&mut reader, "general").await,
        (epoch.clone(), TOTAL)
    );
    let oldest = history(&mut reader, "general", None, Some(first + 1))
        .await
        .1;
    assert_eq!(
        offsets(&oldest),
        [first],
        "offsets below {first} are forgotten"
    );
    let latest = history(&mut reader, "general", Some(100), None).await.1;
    assert_eq!(offsets(&latest), (TOTAL - 99..=TOTAL).collect::<Vec<_>>());
    // Resuming after `first - 2` needs `first - 1`, which is gone.
    let mut late = p.connect("late").await;
    assert!(matches!(
        next_after_join(&mut late, "general", since(&epoch, first - 2)).await,
        ServerMsg::Joined {
            recovered: Some(false),
            ..
        }
    ));
    // After `first - 1`, everything missed is still there: all 1,000 messages come back.
    let mut lucky = p.connect("lucky").await;
    resume(&mut lucky, "general", since(&epoch, first - 1)).await;
    for offset in first..=TOTAL {
        match next(&mut lucky).await {
            ServerMsg::Message { offset: o, .. } => assert_eq!(o, offset),
            other => panic!("expected message {offset}, got {other:?}"),
        }
    }
    assert!(matches!(
        next(&mut lucky).await,
        ServerMsg::Joined {
            recovered: Some(true),
            ..
        }
    ));
}

/// A server started again has lost its history (all of them keep it in memory): a new epoch,
/// so an old position is not recovered, and message ids that do not repeat the old ones.
async fn a_restart_changes_the_epoch_and_no_id_repeats(p: &mut Peer) {
    let mut alice = p.connect("alice").await;
    let (epoch, _) = join_at(&mut alice, "general").await;
    let (id, _) = say(&mut alice, "general", "before the restart").await;
    alice.close().await;
    p.restart();
    let mut alice = p.connect("alice").await;
    match next_after_join(&mut alice, "general", since(&epoch, 1)).await {
        ServerMsg::Joined {
            epoch: e,
            offset: 0,
            recovered: Some(false),
            ..
        } => assert_ne!(e, epoch, "a restart changes the epoch"),
        other => panic!("expected joined, not recovered, at offset 0, got {other:?}"),
    }
    let (id_after, offset) = say(&mut alice, "general", "after the restart").await;
    assert_eq!(offset, 1);
    assert_ne!(id_after, id, "message ids do not repeat across restarts");
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
                offsets_are_dense_and_shared_by_sent_and_message,
                resume_replays_exactly_the_missed_messages,
                resume_while_messages_keep_coming_has_no_gap_or_duplicate,
                a_stale_epoch_or_position_is_not_recovered,
                history_latest_before_and_limit_bounds,
                the_history_keeps_the_last_thousand,
                a_restart_changes_the_epoch_and_no_id_repeats,
            );
        }
    )*};
    (@checks $name:literal: $($check:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $check() {
            let mut peer = Peer::start($name);
            super::$check(&mut peer).await;
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
