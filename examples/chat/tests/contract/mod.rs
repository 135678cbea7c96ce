//! The chat's wire contract (`../shared/ARCHITECTURE.md`, "Chat example: wire contract" and
//! "Resume and history") as checks any server that speaks it is held to. The chat's own tests
//! run them on the chat in process (`wire_contract.rs`); `bench/tests/peers.rs` runs them on the
//! shipped `chat-server` binary and on the peers `ratios peers` measures it against. A check
//! gets a [`Target`] (where to connect, how to restart it) and talks to it through the test kit,
//! which validates every frame against the chat schema.
//!
//! [`contract_tests!`] makes one `#[tokio::test]` per check, each on a fresh target, so every
//! user of this module runs every check.

use std::time::Duration;

use chat_example::{ClientMsg, HistoryEntry, HistoryLimit, ServerMsg};
use protocol_core::Since;
use protocol_core::testing::TestClient;
use protocol_core::{assert_broadcast, assert_push, assert_reply, refute_push};

pub type Client = TestClient<ClientMsg, ServerMsg>;

/// A chat server the checks run against.
pub trait Target {
    /// The WebSocket URL that connects as `user` (`ws://HOST:PORT/ws?user=NAME`).
    fn url(&self, user: &str) -> String;

    /// Stop the server and start it again: whatever it kept in memory is gone.
    async fn restart(&mut self);
}

/// A client of `target`, connected as `user`.
pub async fn connect(target: &impl Target, user: &str) -> Client {
    Client::connect(&target.url(user), user).await.unwrap()
}

/// Join `room` (no `since`): the members `joined` lists.
pub async fn join(c: &mut Client, room: &str) -> Vec<String> {
    joined(c, room).await.0
}

/// Join `room` (no `since`): the members, epoch and offset `joined` carries (and no
/// `recovered`: that is for resumes).
pub async fn joined(c: &mut Client, room: &str) -> (Vec<String>, String, u64) {
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

/// Join `room` (no `since`): the epoch and offset `joined` carries.
pub async fn join_at(c: &mut Client, room: &str) -> (String, u64) {
    let (_, epoch, offset) = joined(c, room).await;
    (epoch, offset)
}

/// Send a join of `room` resuming after `since` (what comes back is read by the caller).
pub async fn resume(c: &mut Client, room: &str, since: Option<Since>) {
    c.send(&ClientMsg::Join {
        room: room.into(),
        since,
    })
    .await;
}

/// Join `room` resuming after `since`; the first message that comes back.
pub async fn next_after_join(c: &mut Client, room: &str, since: Option<Since>) -> ServerMsg {
    resume(c, room, since).await;
    next(c).await
}

/// Say `text` in `room`: the message id and offset `sent` carries.
pub async fn say(c: &mut Client, room: &str, text: &str) -> (String, u64) {
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
pub async fn next(c: &mut Client) -> ServerMsg {
    c.expect_push(|_| true, "any message").await
}

pub fn since(epoch: &str, offset: u64) -> Option<Since> {
    Some(Since {
        epoch: epoch.into(),
        offset,
    })
}

/// A `history` request: the reply's epoch and messages.
pub async fn history(
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

/// A `history` request of `room` from a client not in it is `not_in_room`.
pub async fn history_is_for_members(c: &mut Client, room: &str) {
    let e = c
        .assert_error(
            &ClientMsg::History {
                room: room.into(),
                limit: None,
                before: None,
            },
            "not_in_room",
        )
        .await;
    assert_eq!(e.pointer(), Some("/room"));
}

pub fn offsets(entries: &[HistoryEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.offset).collect()
}

// Checks: the rows of the contract.

pub async fn join_lists_members_and_tells_the_others(p: &mut impl Target) {
    let mut alice = connect(p, "alice").await;
    let mut bob = connect(p, "bob").await;
    assert_eq!(join(&mut alice, "general").await, vec!["alice"]);
    assert_eq!(join(&mut bob, "general").await, vec!["alice", "bob"]);
    assert_push!(alice, ServerMsg::Presence { room, user, online: true } if room == "general" && user == "bob");
    refute_push!(bob, ServerMsg::Presence { .. });
}

pub async fn messages_are_sent_to_the_others_with_an_id(p: &mut impl Target) {
    let mut alice = connect(p, "alice").await;
    let mut bob = connect(p, "bob").await;
    let mut carol = connect(p, "carol").await;
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

pub async fn message_errors(p: &mut impl Target) {
    let mut alice = connect(p, "alice").await;
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

pub async fn read_receipts_reach_every_device_of_the_author(p: &mut impl Target) {
    let mut alice_phone = connect(p, "alice").await;
    let mut alice_laptop = connect(p, "alice").await;
    let mut bob = connect(p, "bob").await;
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

pub async fn typing_goes_to_the_other_members(p: &mut impl Target) {
    let mut alice = connect(p, "alice").await;
    let mut bob = connect(p, "bob").await;
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

pub async fn leaving_and_last_disconnect_go_offline(p: &mut impl Target) {
    let mut alice = connect(p, "alice").await;
    let mut bob = connect(p, "bob").await;
    let mut bob2 = connect(p, "bob").await;
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

pub async fn decode_errors_and_limits(p: &mut impl Target) {
    let mut c = connect(p, "mallory").await;
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
    let mut d = connect(p, "mallory2").await;
    d.send_binary(b"\x01\x02").await;
    d.assert_closed(1003).await;
}

pub async fn names_are_checked_at_the_handshake(p: &mut impl Target) {
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

// Checks: room streams ("Resume and history").

pub async fn offsets_are_dense_and_shared_by_sent_and_message(p: &mut impl Target) {
    let mut alice = connect(p, "alice").await;
    let mut bob = connect(p, "bob").await;
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
    let mut carol = connect(p, "carol").await;
    assert_eq!(join_at(&mut carol, "general").await, (epoch, 5));
    join_at(&mut carol, "other").await;
    assert_eq!(say(&mut carol, "other", "elsewhere").await.1, 1);
    assert_eq!(say(&mut alice, "general", "m6").await.1, 6);
}

pub async fn resume_replays_exactly_the_missed_messages(p: &mut impl Target) {
    let mut alice = connect(p, "alice").await;
    let mut bob = connect(p, "bob").await;
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
    let mut bob = connect(p, "bob").await;
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
    let mut bob2 = connect(p, "bob").await;
    assert!(matches!(
        next_after_join(&mut bob2, "general", since(&epoch, 8)).await,
        ServerMsg::Joined {
            offset: 8,
            recovered: Some(true),
            ..
        }
    ));
}

pub async fn resume_while_messages_keep_coming_has_no_gap_or_duplicate(p: &mut impl Target) {
    const TOTAL: u64 = 60;
    let mut alice = connect(p, "alice").await;
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
    let mut bob = connect(p, "bob").await;
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

pub async fn a_stale_epoch_or_position_is_not_recovered(p: &mut impl Target) {
    let mut alice = connect(p, "alice").await;
    let (epoch, _) = join_at(&mut alice, "general").await;
    say(&mut alice, "general", "one").await;
    say(&mut alice, "general", "two").await;
    let mut bob = connect(p, "bob").await;
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
    let mut carol = connect(p, "carol").await;
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
    history_is_for_members(&mut carol, "general").await;
}

pub async fn history_latest_before_and_limit_bounds(p: &mut impl Target) {
    let mut alice = connect(p, "alice").await;
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
    history_is_for_members(&mut connect(p, "eve").await, "general").await;
}

/// 1,012 messages, posted by 11 connections of 92 each (under the chat's rate limit, which
/// stays on): the room keeps the last 1,000, offsets 13 to 1,012.
pub async fn the_history_keeps_the_last_thousand(p: &mut impl Target) {
    const POSTERS: u64 = 11;
    const EACH: u64 = 92;
    const TOTAL: u64 = POSTERS * EACH;
    let mut epoch = String::new();
    for poster in 0..POSTERS {
        let mut c = connect(p, &format!("poster{poster}")).await;
        epoch = join_at(&mut c, "general").await.0;
        for n in 1..=EACH {
            let (_, offset) = say(&mut c, "general", &format!("{n}")).await;
            assert_eq!(offset, poster * EACH + n);
        }
        c.close().await;
    }
    let first = TOTAL - 999;
    let mut reader = connect(p, "reader").await;
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
    let mut late = connect(p, "late").await;
    assert!(matches!(
        next_after_join(&mut late, "general", since(&epoch, first - 2)).await,
        ServerMsg::Joined {
            recovered: Some(false),
            ..
        }
    ));
    // After `first - 1`, everything missed is still there: all 1,000 messages come back.
    let mut lucky = connect(p, "lucky").await;
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
pub async fn a_restart_changes_the_epoch_and_no_id_repeats(p: &mut impl Target) {
    let mut alice = connect(p, "alice").await;
    let (epoch, _) = join_at(&mut alice, "general").await;
    let (id, _) = say(&mut alice, "general", "before the restart").await;
    alice.close().await;
    p.restart().await;
    let mut alice = connect(p, "alice").await;
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

/// One `#[tokio::test]` per check of this module, each on a fresh target, made by `$start` (an
/// expression of a [`Target`], `.await` allowed): `contract_tests!(Server::start().await);`.
macro_rules! contract_tests {
    ($start:expr) => {
        $crate::contract::contract_tests!(@checks ($start);
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
    };
    (@checks ($start:expr); $($check:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $check() {
            let mut target = $start;
            $crate::contract::$check(&mut target).await;
        }
    )*};
}
pub(crate) use contract_tests;
