//! The chat's resume and history contract (`../shared/ARCHITECTURE.md`, "Resume and history")
//! through the test kit, on one node: offsets, resume with `since`, `recovered`, `history`, the
//! limits, and message ids that do not repeat across restarts.

#![allow(missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chat_example::{Chat, ClientMsg, HistoryEntry, HistoryLimit, ServerMsg};
use protocol_core::testing::TestServer;
use protocol_core::{HistoryConfig, InMemoryBroker, Since, assert_push, assert_reply, refute_push};

use common::{Client, say};

type Server = TestServer<ClientMsg, Chat>;

async fn start_with(history: HistoryConfig) -> Server {
    TestServer::start_with(
        chat_example::server_builder(
            Chat::default(),
            chat_example::hub_configured(Arc::new(InMemoryBroker::default()), history),
        )
        // These tests post more than a burst's worth of messages at once.
        .with_limits(|l| l.rate_burst = 1000),
    )
    .await
}

async fn start() -> Server {
    start_with(HistoryConfig::default()).await
}

/// `joined` for `room`: (epoch, offset, recovered).
async fn joined(c: &mut Client, room: &str) -> (String, u64, Option<bool>) {
    assert_push!(c, ServerMsg::Joined { room: r, epoch, offset, recovered, .. } if r == room
        => (epoch, offset, recovered))
}

async fn join_since(c: &mut Client, room: &str, since: Option<Since>) {
    c.send(&ClientMsg::Join {
        room: room.into(),
        since,
    })
    .await;
}

async fn sent_offset(c: &mut Client, room: &str, text: &str) -> (String, u64) {
    assert_reply!(
        c.request(&ClientMsg::Message {
            room: room.into(),
            text: text.into()
        })
        .await,
        ServerMsg::Sent { message_id, offset } => (message_id, offset)
    )
}

fn since(epoch: &str, offset: u64) -> Option<Since> {
    Some(Since {
        epoch: epoch.into(),
        offset,
    })
}

#[tokio::test]
async fn offsets_are_dense_and_shared_by_sent_and_message() {
    let srv = start().await;
    let mut alice = srv.connect_as("alice").await;
    let mut bob = srv.connect_as("bob").await;
    join_since(&mut alice, "general", None).await;
    let (epoch, start, recovered) = joined(&mut alice, "general").await;
    assert_eq!((start, recovered), (0, None));
    join_since(&mut bob, "general", None).await;
    assert_eq!(joined(&mut bob, "general").await.0, epoch);
    for n in 1..=3u64 {
        let (id, offset) = sent_offset(&mut alice, "general", &format!("m{n}")).await;
        assert_eq!(offset, n);
        assert_push!(bob, ServerMsg::Message { message_id, offset: o, .. } if *message_id == id && *o == n);
    }
    // Another room counts on its own.
    join_since(&mut alice, "other", None).await;
    let (other_epoch, _, _) = joined(&mut alice, "other").await;
    assert_ne!(other_epoch, epoch);
    assert_eq!(sent_offset(&mut alice, "other", "x").await.1, 1);
}

#[tokio::test]
async fn a_resume_replays_what_was_missed_then_joined_then_live() {
    let srv = start().await;
    let mut alice = srv.connect_as("alice").await;
    let mut bob = srv.connect_as("bob").await;
    for c in [&mut alice, &mut bob] {
        join_since(c, "general", None).await;
    }
    let (epoch, _, _) = joined(&mut bob, "general").await;
    say(&mut alice, "general", "seen").await;
    assert_push!(bob, ServerMsg::Message { offset: 1, .. });
    bob.close().await;
    // Typing is not stored: it must not come back in the replay.
    alice
        .send(&ClientMsg::Typing {
            room: "general".into(),
            active: true,
        })
        .await;
    for text in ["two", "three", "four"] {
        say(&mut alice, "general", text).await;
    }
    let mut bob = srv.connect_as("bob").await;
    join_since(&mut bob, "general", since(&epoch, 1)).await;
    for (n, text) in [(2u64, "two"), (3, "three"), (4, "four")] {
        assert_push!(bob, ServerMsg::Message { offset, text: t, from, .. }
            if *offset == n && t == text && from == "alice");
    }
    assert_eq!(
        joined(&mut bob, "general").await,
        (epoch.clone(), 4, Some(true))
    );
    say(&mut alice, "general", "live").await;
    assert_push!(bob, ServerMsg::Message { offset: 5, text, .. } if text == "live");
    refute_push!(bob, ServerMsg::Typing { .. } | ServerMsg::Message { .. });

    // Nothing missed: recovered, nothing replayed.
    let mut carol = srv.connect_as("carol").await;
    join_since(&mut carol, "general", since(&epoch, 5)).await;
    assert_eq!(joined(&mut carol, "general").await, (epoch, 5, Some(true)));
}

#[tokio::test]
async fn a_resume_the_history_cannot_cover_says_recovered_false() {
    let srv = start_with(HistoryConfig {
        max_messages: 3,
        ..HistoryConfig::default()
    })
    .await;
    let mut alice = srv.connect_as("alice").await;
    join_since(&mut alice, "general", None).await;
    let (epoch, _, _) = joined(&mut alice, "general").await;
    for n in 0..6 {
        say(&mut alice, "general", &format!("m{n}")).await;
    }
    let mut bob = srv.connect_as("bob").await;
    // Offset 1 is known, 2 is gone (only 4..=6 are kept): no replay at all.
    join_since(&mut bob, "general", since(&epoch, 1)).await;
    assert_eq!(
        joined(&mut bob, "general").await,
        (epoch.clone(), 6, Some(false))
    );
    refute_push!(bob, ServerMsg::Message { .. });
    // The history then holds what is kept, oldest first.
    let page = assert_reply!(
        bob.request(&ClientMsg::History { room: "general".into(), limit: None, before: None }).await,
        ServerMsg::History { messages, epoch: e, .. } if *e == epoch => messages
    );
    assert_eq!(
        page.iter()
            .map(|m| (m.offset, m.text.as_str()))
            .collect::<Vec<_>>(),
        [(4, "m3"), (5, "m4"), (6, "m5")]
    );

    // An epoch of another room (or of before a restart) is not this room's.
    join_since(&mut alice, "other", None).await;
    let (other, _, _) = joined(&mut alice, "other").await;
    let mut carol = srv.connect_as("carol").await;
    join_since(&mut carol, "general", since(&other, 2)).await;
    assert_eq!(
        joined(&mut carol, "general").await,
        (epoch.clone(), 6, Some(false))
    );

    // An offset past the latest cannot be right: a clear error, and no membership.
    let e = carol
        .assert_error(
            &ClientMsg::Join {
                room: "general".into(),
                since: since(&epoch, 7),
            },
            "invalid_message",
        )
        .await;
    assert_eq!(e.pointer(), Some("/since/offset"));
    assert!(e.message().contains("latest offset 6"), "{}", e.message());
    let huge = "e".repeat(65);
    let e = carol
        .assert_error(
            &ClientMsg::Join {
                room: "general".into(),
                since: since(&huge, 1),
            },
            "invalid_message",
        )
        .await;
    assert_eq!(e.pointer(), Some("/since/epoch"));
}

#[tokio::test]
async fn history_pages_and_its_limits() {
    let srv = start().await;
    let mut alice = srv.connect_as("alice").await;
    let history = |limit: Option<u8>, before: Option<u64>| ClientMsg::History {
        room: "general".into(),
        limit: limit.map(|l| HistoryLimit::try_from(u64::from(l)).expect("1..=100")),
        before,
    };
    let e = alice
        .assert_error(&history(None, None), "not_in_room")
        .await;
    assert_eq!(e.pointer(), Some("/room"));
    join_since(&mut alice, "general", None).await;
    let (epoch, _, _) = joined(&mut alice, "general").await;
    let mut ids = Vec::new();
    for n in 1..=120 {
        ids.push(say(&mut alice, "general", &format!("m{n}")).await);
    }
    let page = |msgs: &[HistoryEntry]| msgs.iter().map(|m| m.offset).collect::<Vec<_>>();
    let latest = assert_reply!(alice.request(&history(None, None)).await,
        ServerMsg::History { messages, epoch: e, room } if *e == epoch && room == "general" => messages);
    assert_eq!(page(&latest), (71..=120).collect::<Vec<_>>(), "default 50");
    assert_eq!(latest[0].message_id, ids[70]);
    assert_eq!(
        (latest[0].from.as_str(), latest[0].text.as_str()),
        ("alice", "m71")
    );
    let before = assert_reply!(alice.request(&history(Some(5), Some(71))).await,
        ServerMsg::History { messages, .. } => messages);
    assert_eq!(page(&before), [66, 67, 68, 69, 70]);
    let most = assert_reply!(alice.request(&history(Some(100), None)).await,
        ServerMsg::History { messages, .. } => messages);
    assert_eq!(most.len(), 100);
    let first = assert_reply!(alice.request(&history(Some(10), Some(3))).await,
        ServerMsg::History { messages, .. } => messages);
    assert_eq!(page(&first), [1, 2]);

    // Out of range: clear errors where they are.
    for (raw, pointer) in [
        (
            r#"{"type":"history","id":1,"room":"general","limit":0}"#,
            "/limit",
        ),
        (
            r#"{"type":"history","id":2,"room":"general","limit":101}"#,
            "/limit",
        ),
        (
            r#"{"type":"history","id":3,"room":"general","before":0}"#,
            "/before",
        ),
        (
            r#"{"type":"history","id":4,"room":"general","before":500}"#,
            "/before",
        ),
    ] {
        alice.send_raw_text(raw).await;
        let e = alice.expect_error("invalid_message").await;
        assert_eq!(e.pointer(), Some(pointer), "{raw}: {}", e.message());
    }
}

#[tokio::test]
async fn message_ids_do_not_repeat_across_restarts() {
    let mut first_ids = Vec::new();
    for _ in 0..2 {
        // A fresh server each time, as after a restart.
        let srv = start().await;
        let mut alice = srv.connect_as("alice").await;
        join_since(&mut alice, "general", None).await;
        joined(&mut alice, "general").await;
        first_ids.push(say(&mut alice, "general", "first").await);
        alice.close().await;
        srv.shutdown().await;
    }
    assert_ne!(first_ids[0], first_ids[1]);
}

#[tokio::test]
async fn a_typed_client_resumes_on_its_own_after_a_cut() {
    let srv = start().await;
    let proxy = common::CutProxy::start(srv.addr().to_string()).await;
    let url = format!("ws://{}/ws?user=bob", proxy.addr());
    let mut bob = common::resuming_client(url, "general", true).await;
    let mut alice = srv.connect_as("alice").await;
    join_since(&mut alice, "general", None).await;
    joined(&mut alice, "general").await;
    say(&mut alice, "general", "before").await;
    proxy.cut();
    say(&mut alice, "general", "while away 1").await;
    say(&mut alice, "general", "while away 2").await;
    let mut texts = Vec::new();
    let mut recovered = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while texts.len() < 3 {
        match tokio::time::timeout_at(deadline, bob.next()).await {
            Ok(Some(ServerMsg::Message { text, .. })) => texts.push(text),
            Ok(Some(ServerMsg::Joined { recovered: r, .. })) => recovered = r,
            Ok(Some(_)) => {}
            other => panic!("bob stopped receiving: {other:?}, got {texts:?}"),
        }
    }
    assert_eq!(texts, ["before", "while away 1", "while away 2"]);
    // The resume's `joined` comes after the replay.
    let joined = tokio::time::timeout(Duration::from_secs(5), bob.next()).await;
    if recovered.is_none() {
        assert!(
            matches!(
                joined,
                Ok(Some(ServerMsg::Joined {
                    recovered: Some(true),
                    ..
                }))
            ),
            "{joined:?}"
        );
    }
    let positions = bob.positions();
    assert_eq!(positions.len(), 1);
    assert_eq!(
        (positions[0].offset, positions[0].recovered),
        (3, Some(true))
    );
}
