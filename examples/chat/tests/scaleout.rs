//! The chat on several nodes sharing one real `redis-server` (started by the test kit's
//! `RedisServer` on a free loopback port): the wire contract holds across nodes, a dead node's
//! users go offline, Redis restarts and outages heal, message ids stay unique.
//!
//! Two nodes in this process here; `two_processes.rs` runs two `chat-server` binaries.

#![allow(missing_docs)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_example::{Chat, ClientMsg, ServerMsg};
use protocol_core::redis::{RedisBroker, RedisConfig};
use protocol_core::testing::{RedisServer, TestServer};
use protocol_core::{Broker, assert_push, refute_push};

use common::{join, join_until_members, say, unreachable_redis_url, until_delivered};

type Node = TestServer<ClientMsg, Chat>;

fn redis() -> RedisServer {
    RedisServer::start().expect("redis-server (apt-get install redis-server)")
}

fn config(redis: &RedisServer) -> RedisConfig {
    RedisConfig::new(redis.url())
        .prefix("chat-test")
        .dead_node_after(Duration::from_secs(2))
}

async fn node_with(config: RedisConfig) -> (Node, Arc<RedisBroker>) {
    let broker = Arc::new(
        RedisBroker::connect(config)
            .await
            .expect("connect to Redis"),
    );
    let node = TestServer::start_with(chat_example::server_builder(
        Chat::shared(&broker, 3600),
        chat_example::hub_with(Arc::clone(&broker) as Arc<dyn Broker>),
    ))
    .await;
    (node, broker)
}

async fn node(redis: &RedisServer) -> (Node, Arc<RedisBroker>) {
    node_with(config(redis)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_contract_holds_across_nodes() {
    let redis = redis();
    let (n1, _b1) = node(&redis).await;
    let (n2, _b2) = node(&redis).await;
    let mut alice = n1.connect_as("alice").await;
    let mut bob = n2.connect_as("bob").await;

    // join / joined / presence
    assert_eq!(join(&mut alice, "general").await, ["alice"]);
    assert_eq!(join(&mut bob, "general").await, ["alice", "bob"]);
    assert_push!(alice, ServerMsg::Presence { room, user, online: true } if room == "general" && user == "bob");
    refute_push!(bob, ServerMsg::Presence { .. });

    // alice's second device, on the other node: no presence (alice is online already)
    let mut alice2 = n2.connect_as("alice").await;
    assert_eq!(join(&mut alice2, "general").await, ["alice", "bob"]);
    refute_push!(bob, ServerMsg::Presence { .. });

    // message + sent: everyone else in the room, on both nodes
    let id = say(&mut alice, "general", "hi bob").await;
    for c in [&mut bob, &mut alice2] {
        assert_push!(c, ServerMsg::Message { message_id, room, from, text, .. }
            if *message_id == id && room == "general" && from == "alice" && text == "hi bob");
    }
    refute_push!(alice, ServerMsg::Message { .. });

    // read receipt: every device of the author, wherever it is connected
    bob.send(&ClientMsg::Read {
        message_id: id.clone(),
    })
    .await;
    for c in [&mut alice, &mut alice2] {
        assert_push!(c, ServerMsg::Read { message_id, by } if *message_id == id && by == "bob");
    }
    refute_push!(bob, ServerMsg::Read { .. });
    // ...also when the reader is on the node that did not see the message sent
    let id2 = say(&mut bob, "general", "hi alice").await;
    alice
        .send(&ClientMsg::Read {
            message_id: id2.clone(),
        })
        .await;
    assert_push!(bob, ServerMsg::Read { message_id, by } if *message_id == id2 && by == "alice");
    let e = alice
        .assert_error(
            &ClientMsg::Read {
                message_id: "nope".into(),
            },
            "unknown_message",
        )
        .await;
    assert_eq!(e.pointer(), Some("/messageId"));

    // typing
    bob.send(&ClientMsg::Typing {
        room: "general".into(),
        active: true,
    })
    .await;
    for c in [&mut alice, &mut alice2] {
        assert_push!(c, ServerMsg::Typing { room, user, active: true } if room == "general" && user == "bob");
    }

    // leave: presence offline on the other node; one of alice's two devices leaving is not
    // alice going offline
    bob.send(&ClientMsg::Leave {
        room: "general".into(),
    })
    .await;
    for c in [&mut alice, &mut alice2] {
        assert_push!(c, ServerMsg::Presence { room, user, online: false } if room == "general" && user == "bob");
    }
    let mut carol = n2.connect_as("carol").await;
    assert_eq!(join(&mut carol, "general").await, ["alice", "carol"]);
    alice2.close().await;
    refute_push!(carol, ServerMsg::Presence { online: false, .. });
    alice.close().await;
    assert_push!(carol, ServerMsg::Presence { room, user, online: false } if room == "general" && user == "alice");
}

/// `PUBLISH` calls Redis counted (`INFO commandstats`), once the count stops moving.
async fn settled_publish_calls(redis: &RedisServer) -> u64 {
    let calls = || redis.command_calls("publish").unwrap();
    let mut last = calls();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = calls();
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("PUBLISH count never settled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_is_published_once_whatever_the_room_size() {
    let redis = redis();
    let (n1, b1) = node(&redis).await;
    let (n2, b2) = node(&redis).await;
    let mut speaker = n1.connect_as("speaker").await;
    join(&mut speaker, "big").await;
    let mut listeners = Vec::new();
    for i in 0..10 {
        let node = if i % 2 == 0 { &n1 } else { &n2 };
        let mut c = node.connect_as(&format!("l{i}")).await;
        join(&mut c, "big").await;
        listeners.push(c);
    }
    let before = settled_publish_calls(&redis).await;
    let id = say(&mut speaker, "big", "to all ten").await;
    for c in &mut listeners {
        assert_push!(c, ServerMsg::Message { message_id, .. } if *message_id == id);
    }
    assert_eq!(
        settled_publish_calls(&redis).await - before,
        1,
        "one PUBLISH for ten recipients on two nodes"
    );
    assert_eq!(b2.stats().received, b1.stats().published);
    // A reply to one connection never leaves its node.
    let published = b1.stats().published;
    speaker
        .assert_error(
            &ClientMsg::Read {
                message_id: "x".into(),
            },
            "unknown_message",
        )
        .await;
    assert_eq!(b1.stats().published, published);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_ids_are_unique_across_nodes_under_concurrent_sends() {
    let redis = redis();
    let (n1, _b1) = node(&redis).await;
    let (n2, _b2) = node(&redis).await;
    let mut tasks = Vec::new();
    for i in 0..4 {
        let mut c = if i % 2 == 0 { &n1 } else { &n2 }
            .connect_as(&format!("u{i}"))
            .await;
        join(&mut c, "ids").await;
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for k in 0..40 {
                ids.push(say(&mut c, "ids", &format!("m{k}")).await);
            }
            (c, ids)
        }));
    }
    let mut all = HashSet::new();
    let mut count = 0;
    for t in tasks {
        let (_c, ids) = t.await.unwrap();
        count += ids.len();
        all.extend(ids);
    }
    assert_eq!(count, 160);
    assert_eq!(all.len(), 160, "duplicate message ids across nodes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_a_redis_restart_and_membership_is_restored() {
    let mut redis = redis();
    let (n1, b1) = node(&redis).await;
    let (n2, _b2) = node(&redis).await;
    let mut alice = n1.connect_as("alice").await;
    let mut bob = n2.connect_as("bob").await;
    join(&mut alice, "general").await;
    join(&mut bob, "general").await;
    assert_push!(alice, ServerMsg::Presence { user, online: true, .. } if user == "bob");

    redis.restart().unwrap(); // empty: every membership in Redis is gone
    until_delivered(&mut bob, &mut alice, "general", Duration::from_secs(15)).await;
    until_delivered(&mut alice, &mut bob, "general", Duration::from_secs(15)).await;
    // Both nodes wrote their members back: a newcomer sees everyone.
    let mut carol = n1.connect_as("carol").await;
    join_until_members(&mut carol, "general", &["alice", "bob", "carol"]).await;
    assert!(b1.stats().resyncs >= 1);
    online_becomes(&n2, &["alice", "bob", "carol"]).await;
    // Nobody went offline, so nobody is announced online again.
    refute_push!(alice, ServerMsg::Presence { user, .. } if user == "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_local_delivery_goes_on_and_the_queue_stays_bounded() {
    let mut redis = redis();
    let mut small = config(&redis);
    small.max_queued_frames = 10;
    let (n1, b1) = node_with(small).await;
    let (n2, _b2) = node(&redis).await;
    let mut alice = n1.connect_as("alice").await;
    let mut dave = n1.connect_as("dave").await;
    let mut bob = n2.connect_as("bob").await;
    for c in [&mut alice, &mut dave, &mut bob] {
        join(c, "general").await;
    }

    redis.stop();
    let typing = ClientMsg::Typing {
        room: "general".into(),
        active: true,
    };
    // The first publication fails; the publisher backs off...
    alice.send(&typing).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while b1.stats().publish_failed == 0 {
        assert!(Instant::now() < deadline, "no failure: {:?}", b1.stats());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ...while local delivery goes on (within the sender's rate-limit burst) and the queue
    // keeps at most 10 publications: the rest are dropped, counted, not kept.
    for _ in 0..80 {
        alice.send(&typing).await;
    }
    for _ in 0..81 {
        dave.expect_push(
            |m| matches!(m, ServerMsg::Typing { user, .. } if user == "alice"),
            "typing from alice",
        )
        .await;
    }
    let stats = b1.stats();
    assert!(stats.dropped >= 60, "{stats:?}");
    assert!(
        stats.published + stats.publish_failed + stats.dropped <= 81,
        "{stats:?}"
    );

    redis.restart().unwrap();
    until_delivered(&mut alice, &mut bob, "general", Duration::from_secs(15)).await;
    until_delivered(&mut bob, &mut dave, "general", Duration::from_secs(15)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_refreshing_is_reaped_and_its_users_go_offline() {
    let redis = redis();
    let (n1, _b1) = node(&redis).await;
    let (n2, b2) = node(&redis).await;
    let mut alice = n1.connect_as("alice").await;
    let mut bob = n2.connect_as("bob").await;
    join(&mut alice, "general").await;
    join(&mut bob, "general").await;
    assert_push!(alice, ServerMsg::Presence { user, online: true, .. } if user == "bob");
    // Node 2 freezes: its background tasks stop (as if the process were gone), its sockets
    // stay open. The two-process test kills a real process.
    let started = Instant::now();
    b2.simulate_crash();
    alice.set_timeout(Duration::from_secs(5));
    assert_push!(alice, ServerMsg::Presence { room, user, online: false } if room == "general" && user == "bob");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "offline after {took:?}");
    let mut carol = n1.connect_as("carol").await;
    assert_eq!(join(&mut carol, "general").await, ["alice", "carol"]);
    drop(n2);
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error_naming_the_url() {
    let url = unreachable_redis_url();
    let e = RedisBroker::connect(RedisConfig::new(&url))
        .await
        .unwrap_err();
    assert_eq!(e.url(), url);
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("cannot use Redis at {url}: ")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_leaves_cleanly_sends_offline_presence_at_once() {
    let redis = redis();
    // The default dead-node time (10 s) is far longer than the assertion's 2 s: the offline
    // presence comes from the leaving node itself, not from reaping.
    let config = RedisConfig::new(redis.url()).prefix("chat-test");
    let (n1, _b1) = node_with(config.clone()).await;
    let (n2, b2) = node_with(config).await;
    let mut alice = n1.connect_as("alice").await;
    let mut bob = n2.connect_as("bob").await;
    join(&mut alice, "general").await;
    join(&mut bob, "general").await;
    assert_push!(alice, ServerMsg::Presence { user, online: true, .. } if user == "bob");
    b2.shutdown().await;
    assert_push!(alice, ServerMsg::Presence { room, user, online: false } if room == "general" && user == "bob");
    let mut carol = n1.connect_as("carol").await;
    assert_eq!(join(&mut carol, "general").await, ["alice", "carol"]);
    drop(n2);
}

/// Poll `hub.online_everywhere()` until it is `expected`; bounded.
async fn online_becomes(node: &Node, expected: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let online = node.hub().online_everywhere().await;
        if online == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "online everywhere: {online:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_is_online_is_shared_across_nodes() {
    let redis = redis();
    let (n1, _b1) = node(&redis).await;
    let (n2, b2) = node(&redis).await;
    let alice = n1.connect_as("alice").await;
    let alice_phone = n2.connect_as("alice").await;
    let bob = n2.connect_as("bob").await;
    online_becomes(&n1, &["alice", "bob"]).await;
    online_becomes(&n2, &["alice", "bob"]).await;
    assert_eq!(n1.hub().online(), ["alice"], "online() is this node only");
    // alice closes her laptop: still online through her phone on the other node.
    alice.close().await;
    n1.wait_for_connections(0).await;
    online_becomes(&n1, &["alice", "bob"]).await;
    alice_phone.close().await;
    online_becomes(&n1, &["bob"]).await;
    // Node 2 dies: bob is gone once it is reaped.
    b2.simulate_crash();
    online_becomes(&n1, &[]).await;
    drop(bob);
}
