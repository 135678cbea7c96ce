//! Resume under fire, on the shipped binary: a TCP proxy on loopback cuts the receiver's
//! connection at random intervals while another client posts; the receiver (the typed Rust
//! client, reconnecting with backoff and resuming on its own) must end with every message
//! exactly once, in order. Bounded: 500 messages, 30 s.

#![allow(missing_docs)]

mod common;

use std::time::{Duration, Instant};

use chat_example::{ClientMsg, ServerMsg};
use protocol_core::{Backoff, Client};

use common::{ChatProcess, CutProxy, join, say};

/// Messages the sender posts.
const MESSAGES: usize = 500;
/// The whole run, at most.
const WITHIN: Duration = Duration::from_secs(30);

/// A small deterministic generator for the cut intervals (the seed is printed).
struct Lcg(u64);

impl Lcg {
    fn next_in(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

/// What the receiver got.
#[derive(Debug)]
struct Outcome {
    texts: Vec<String>,
    cuts: usize,
    connections: usize,
    not_recovered: usize,
}

/// Post [`MESSAGES`] through `sender_addr` while the receiver, connected through a proxy to
/// `receiver_targets` (one node, or each reconnect to the next), is cut every 50-400 ms.
async fn run(sender: &ChatProcess, receiver_targets: Vec<String>) -> Outcome {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    eprintln!("chaos seed {seed}");
    let proxy = CutProxy::start_many(receiver_targets).await;
    let mut bob: Client<ClientMsg, ServerMsg> =
        Client::builder(format!("ws://{}/ws?user=bob", proxy.addr()))
            .reconnect(Backoff {
                initial: Duration::from_millis(10),
                max: Duration::from_millis(200),
            })
            .connect()
            .await
            .unwrap();
    bob.send(&ClientMsg::Join {
        room: "general".into(),
        since: None,
    })
    .await
    .unwrap();
    let joined = tokio::time::timeout(Duration::from_secs(5), bob.next()).await;
    assert!(
        matches!(joined, Ok(Some(ServerMsg::Joined { .. }))),
        "{joined:?}"
    );

    let mut alice = sender.connect("alice").await;
    join(&mut alice, "general").await;
    let started = Instant::now();
    let post = tokio::spawn(async move {
        for n in 0..MESSAGES {
            say(&mut alice, "general", &format!("m{n}")).await;
            tokio::time::sleep(Duration::from_millis(8)).await;
        }
        alice
    });
    let cutting = {
        let proxy = std::sync::Arc::new(proxy);
        let p = std::sync::Arc::clone(&proxy);
        let task = tokio::spawn(async move {
            let mut rng = Lcg(seed);
            let mut cuts = 0;
            while started.elapsed() < WITHIN {
                tokio::time::sleep(Duration::from_millis(rng.next_in(50, 400))).await;
                p.cut();
                cuts += 1;
            }
            cuts
        });
        (proxy, task)
    };

    let mut texts = Vec::new();
    let mut not_recovered = 0;
    let deadline = tokio::time::Instant::now() + WITHIN;
    while texts.len() < MESSAGES {
        match tokio::time::timeout_at(deadline, bob.next()).await {
            Ok(Some(ServerMsg::Message { text, .. })) => texts.push(text),
            Ok(Some(ServerMsg::Joined {
                recovered: Some(false),
                ..
            })) => not_recovered += 1,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the client gave up"),
            Err(_) => break,
        }
    }
    let (proxy, cutter) = cutting;
    cutter.abort();
    let _ = post.await;
    Outcome {
        texts,
        cuts: proxy.accepted.load(std::sync::atomic::Ordering::Relaxed) - 1,
        connections: proxy.accepted.load(std::sync::atomic::Ordering::Relaxed),
        not_recovered,
    }
}

fn expected() -> Vec<String> {
    (0..MESSAGES).map(|n| format!("m{n}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_once_in_order_through_random_cuts_on_one_node() {
    let node = ChatProcess::start(
        &["--rate-per-second", "500", "--rate-burst", "500"],
        &[("RUST_LOG", "warn")],
    );
    let out = run(&node, vec![node.addr().to_owned()]).await;
    eprintln!(
        "one node: delivered {}/{MESSAGES} over {} connections ({} cuts), recovered:false {}",
        out.texts.len(),
        out.connections,
        out.cuts,
        out.not_recovered
    );
    assert!(
        out.cuts >= 3,
        "the proxy should have cut a few times: {out:?}"
    );
    assert_eq!(out.not_recovered, 0);
    assert_eq!(out.texts, expected());
}
