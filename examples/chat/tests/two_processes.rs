//! Two `chat-server` processes sharing a real `redis-server`: alice on node 1 and bob on node 2
//! see each other as on one node; killing node 2 makes bob go offline for alice within the
//! dead-node time; Redis unreachable at start is an error naming the URL.

#![allow(missing_docs)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use chat_example::{ClientMsg, ServerMsg};
use protocol_core::testing::RedisServer;
use protocol_core::{assert_push, assert_reply, refute_push};

use common::{ChatProcess, join, join_until_members, unreachable_redis_url, until_delivered};

/// Seconds after which a silent node counts as dead, for these tests.
const DEAD_AFTER: f64 = 2.0;

fn node(redis: &RedisServer) -> ChatProcess {
    ChatProcess::start(
        &["--dead-node-after", &DEAD_AFTER.to_string()],
        &[("CHAT_REDIS_URL", &redis.url()), ("RUST_LOG", "warn")],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_and_bob_on_two_processes_chat_as_on_one() {
    let mut redis = RedisServer::start().expect("redis-server (apt-get install redis-server)");
    let n1 = node(&redis);
    let mut n2 = node(&redis);
    let mut alice = n1.connect("alice").await;
    let mut alice_phone = n2.connect("alice").await;
    let mut bob = n2.connect("bob").await;

    assert_eq!(join(&mut alice, "general").await, ["alice"]);
    assert_eq!(join(&mut alice_phone, "general").await, ["alice"]);
    assert_eq!(join(&mut bob, "general").await, ["alice", "bob"]);
    for a in [&mut alice, &mut alice_phone] {
        assert_push!(a, ServerMsg::Presence { room, user, online: true } if room == "general" && user == "bob");
    }
    refute_push!(bob, ServerMsg::Presence { .. });

    let sent = assert_reply!(
        alice
            .request(&ClientMsg::Message {
                room: "general".into(),
                text: "hello from node 1".into(),
            })
            .await,
        ServerMsg::Sent { .. }
    );
    let ServerMsg::Sent { message_id: id, .. } = sent else {
        unreachable!()
    };
    for c in [&mut bob, &mut alice_phone] {
        assert_push!(c, ServerMsg::Message { message_id, from, text, .. }
            if *message_id == id && from == "alice" && text == "hello from node 1");
    }
    bob.send(&ClientMsg::Read {
        message_id: id.clone(),
    })
    .await;
    for a in [&mut alice, &mut alice_phone] {
        assert_push!(a, ServerMsg::Read { message_id, by } if *message_id == id && by == "bob");
    }
    bob.send(&ClientMsg::Typing {
        room: "general".into(),
        active: true,
    })
    .await;
    assert_push!(alice, ServerMsg::Typing { user, active: true, .. } if user == "bob");
    bob.send(&ClientMsg::Leave {
        room: "general".into(),
    })
    .await;
    assert_push!(alice, ServerMsg::Presence { user, online: false, .. } if user == "bob");
    assert_eq!(join(&mut bob, "general").await, ["alice", "bob"]);
    assert_push!(alice, ServerMsg::Presence { user, online: true, .. } if user == "bob");

    // Redis restarts empty: both nodes reconnect and write their members back.
    redis.restart().unwrap();
    until_delivered(&mut bob, &mut alice, "general", Duration::from_secs(15)).await;
    until_delivered(&mut alice, &mut bob, "general", Duration::from_secs(15)).await;
    let mut dave = n1.connect("dave").await;
    join_until_members(&mut dave, "general", &["alice", "bob", "dave"]).await;
    for c in [&mut alice, &mut bob, &mut alice_phone] {
        assert_push!(c, ServerMsg::Presence { user, online: true, .. } if user == "dave");
    }
    dave.close().await;
    for c in [&mut alice, &mut bob] {
        assert_push!(c, ServerMsg::Presence { user, online: false, .. } if user == "dave");
    }

    // Node 2 dies (SIGKILL: no goodbye). alice's phone and bob were there; alice is still
    // online through node 1, bob is gone.
    let killed = Instant::now();
    n2.kill();
    alice.set_timeout(Duration::from_secs_f64(DEAD_AFTER + 4.0));
    assert_push!(alice, ServerMsg::Presence { room, user, online: false } if room == "general" && user == "bob");
    let took = killed.elapsed();
    assert!(
        took <= Duration::from_secs_f64(DEAD_AFTER + 2.0),
        "bob went offline {took:?} after node 2 died (dead-node time {DEAD_AFTER} s)"
    );
    refute_push!(alice, ServerMsg::Presence { user, .. } if user == "alice");
    let mut carol = n1.connect("carol").await;
    assert_eq!(join(&mut carol, "general").await, ["alice", "carol"]);
}

#[test]
fn redis_unreachable_at_start_is_an_error_naming_the_url() {
    let url = unreachable_redis_url();
    let out = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--listen", "127.0.0.1:0", "--redis", &url])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("chat-server: cannot use Redis at {url}: ")),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "it must not claim to listen");
}
