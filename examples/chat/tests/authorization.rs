//! Who may go where, on the shipped `chat-server` binary: private rooms `dm:A:B`, read receipts
//! for messages of rooms the reader is not in, typing outside a room, room names, the room cap,
//! and the memory one connection can make the server keep.

#![allow(missing_docs)]

mod common;

use std::time::Duration;

use chat_example::{ClientMsg, ServerMsg};
use common::{ChatProcess, join, say};
use protocol_core::{assert_push, refute_push};

#[tokio::test]
async fn private_rooms_are_open_only_to_their_two_users() {
    let chat = ChatProcess::start(&[], &[]);
    let mut alice = chat.connect("alice").await;
    let mut bob = chat.connect("bob").await;
    let mut carol = chat.connect("carol").await;
    assert_eq!(join(&mut bob, "dm:bob:carol").await, vec!["bob"]);

    let e = alice
        .assert_error(
            &ClientMsg::Join {
                room: "dm:bob:carol".into(),
                since: None,
            },
            "forbidden",
        )
        .await;
    assert_eq!(e.pointer(), Some("/room"));
    // Alice learns nothing and bob hears nothing of her.
    refute_push!(alice, ServerMsg::Joined { .. } | ServerMsg::Presence { .. });
    refute_push!(bob, ServerMsg::Presence { .. });
    // Nor can she write or type into it.
    alice
        .assert_error(
            &ClientMsg::Message {
                room: "dm:bob:carol".into(),
                text: "let me in".into(),
            },
            "not_in_room",
        )
        .await;

    assert_eq!(join(&mut carol, "dm:bob:carol").await, vec!["bob", "carol"]);
    assert_push!(bob, ServerMsg::Presence { user, online: true, .. } if user == "carol");

    // Not the canonical name (A < B), or not two user names: invalid, not a room of its own.
    for room in ["dm:carol:bob", "dm:bob", "dm:bob:", "dm:bob:carol:x"] {
        let e = bob
            .assert_error(
                &ClientMsg::Join {
                    room: room.into(),
                    since: None,
                },
                "invalid_message",
            )
            .await;
        assert_eq!(e.pointer(), Some("/room"), "{room}");
    }
}

#[tokio::test]
async fn receipts_and_typing_need_membership() {
    let chat = ChatProcess::start(&[], &[]);
    let mut alice = chat.connect("alice").await;
    let mut bob = chat.connect("bob").await;
    join(&mut bob, "secret").await;
    let m = say(&mut bob, "secret", "for members").await;

    // Alice is not in the room: the message does not exist for her, bob gets no receipt.
    let e = alice
        .assert_error(
            &ClientMsg::Read {
                message_id: m.clone(),
            },
            "unknown_message",
        )
        .await;
    assert_eq!(e.pointer(), Some("/messageId"));
    refute_push!(bob, ServerMsg::Read { .. });
    let e = alice
        .assert_error(
            &ClientMsg::Typing {
                room: "secret".into(),
                active: true,
            },
            "not_in_room",
        )
        .await;
    assert_eq!(e.pointer(), Some("/room"));
    refute_push!(bob, ServerMsg::Typing { .. });

    // Once she is in, the same receipt works.
    join(&mut alice, "secret").await;
    alice
        .send(&ClientMsg::Read {
            message_id: m.clone(),
        })
        .await;
    assert_push!(bob, ServerMsg::Read { message_id, by } if *message_id == m && by == "alice");
}

#[tokio::test]
async fn room_names_and_the_room_cap() {
    let chat = ChatProcess::start(&[], &[]);
    let mut alice = chat.connect("alice").await;
    for room in ["", "has space", "ünïcode", &"x".repeat(65)] {
        let e = alice
            .assert_error(
                &ClientMsg::Join {
                    room: room.into(),
                    since: None,
                },
                "invalid_message",
            )
            .await;
        assert_eq!(e.pointer(), Some("/room"), "{room:?}");
    }
    assert_eq!(join(&mut alice, &"x".repeat(64)).await, vec!["alice"]);
    for i in 1..chat_example::MAX_ROOMS {
        if i % 40 == 0 {
            // Under the rate limit (50/s, burst 100).
            tokio::time::sleep(Duration::from_millis(900)).await;
        }
        join(&mut alice, &format!("room.{i}")).await;
    }
    let e = alice
        .assert_error(
            &ClientMsg::Join {
                room: "one-more".into(),
                since: None,
            },
            "too_many_rooms",
        )
        .await;
    assert_eq!(e.pointer(), Some("/room"));
    // Joining one it is in already is fine; leaving makes room.
    join(&mut alice, "room.1").await;
    alice
        .send(&ClientMsg::Leave {
            room: "room.1".into(),
        })
        .await;
    join(&mut alice, "one-more").await;
}

/// The issue's attack: connections with made-up names joining rooms with 60 KB names, under
/// the rate limit. The server keeps nothing of it (names refused) and at most 100 rooms of
/// valid names per connection; its memory stays bounded.
#[tokio::test]
async fn one_connection_cannot_make_the_server_keep_much() {
    let chat = ChatProcess::start(&[], &[]);
    let mut warm = chat.connect("warm").await;
    join(&mut warm, "general").await;
    let before = chat.rss();
    let mut attackers = Vec::new();
    for i in 0..5 {
        attackers.push(chat.connect(&format!("made-up-{i}")).await);
    }
    let long = "r".repeat(60 * 1024);
    for (i, a) in attackers.iter_mut().enumerate() {
        for j in 0..90 {
            a.assert_error(
                &ClientMsg::Join {
                    room: format!("{long}{i}-{j}"),
                    since: None,
                },
                "invalid_message",
            )
            .await;
        }
        // Stay under the rate limit (50/s, burst 100), as the attack did.
        tokio::time::sleep(Duration::from_secs(2)).await;
        for j in 0..120 {
            let room = format!("room-{i}-{j}");
            if j < chat_example::MAX_ROOMS {
                join(a, &room).await;
            } else {
                a.assert_error(&ClientMsg::Join { room, since: None }, "too_many_rooms")
                    .await;
            }
            if j % 40 == 39 {
                tokio::time::sleep(Duration::from_millis(800)).await;
            }
        }
    }
    let after = chat.rss();
    let grown = after.saturating_sub(before);
    assert!(
        grown < 16 << 20,
        "the server grew by {} KB (from {} KB) under the room attack",
        grown / 1024,
        before / 1024
    );
}
