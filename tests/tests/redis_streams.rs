//! Room streams on Redis (`RedisBroker::append` / `read`) against a real `redis-server` started
//! on a free loopback port: resume on another node, dense offsets under concurrent publishing
//! on two nodes (one script call and one publication per message, counted by Redis), a reader
//! reconnecting to alternating nodes while messages flow, history pages and resumes equal to the
//! in-memory store's, the history limits (count with `MAXLEN ~`, nothing kept, age, expiry), a
//! Redis restart and `FLUSHALL` (new epoch), a hung Redis and Redis down (errors, no hang), and
//! the replay rate and memory of a full history. Connections are the hub's in-process ones
//! (`Hub::attach`), whose inboxes are polled: every wait is bounded in time.

#![allow(missing_docs)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol_core::redis::{RedisBroker, RedisConfig};
use protocol_core::testing::RedisServer;
use protocol_core::{
    Broker, Context, HistoryConfig, Hub, InMemoryBroker, Inbox, Protocol, Since, StreamError,
    StreamJoin,
};

#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case")]
enum Out {
    /// Stored and numbered per room.
    #[protocol(stream)]
    Said {
        room: String,
        offset: u64,
        from: String,
        text: String,
    },
    Joined {
        room: String,
        epoch: String,
        offset: u64,
        recovered: Option<bool>,
    },
}

/// Generous waits: the machine is shared, and nothing here measures time.
const WAIT: Duration = Duration::from_secs(20);

fn redis() -> RedisServer {
    RedisServer::start().expect("redis-server (apt-get install redis-server)")
}

async fn broker(redis: &RedisServer) -> Arc<RedisBroker> {
    broker_at(&redis.url()).await
}

async fn broker_at(url: &str) -> Arc<RedisBroker> {
    let config = RedisConfig::new(url)
        .prefix("streams-test")
        .dead_node_after(Duration::from_secs(2));
    Arc::new(
        RedisBroker::connect(config)
            .await
            .expect("connect to Redis"),
    )
}

fn hub_on(broker: Arc<dyn Broker>, history: HistoryConfig) -> Hub<Out> {
    Hub::builder()
        .broker(broker)
        .history(history)
        .queue_capacity(4096)
        .build()
}

fn said(room: &str, from: &str, text: &str) -> Out {
    Out::Said {
        room: room.into(),
        offset: 0,
        from: from.into(),
        text: text.into(),
    }
}

async fn join(cx: &Context<Out>, room: &str, since: Option<&Since>) -> StreamJoin {
    let room_name = room.to_owned();
    cx.join_stream(room, since, move |_, s| Out::Joined {
        room: room_name,
        epoch: s.epoch.to_string(),
        offset: s.offset,
        recovered: s.recovered,
    })
    .await
    .expect("join_stream")
}

/// The offsets and texts of the `said` messages in `msgs`, in order.
fn said_of(msgs: &[Out]) -> Vec<(u64, String)> {
    msgs.iter()
        .filter_map(|m| match m {
            Out::Said { offset, text, .. } => Some((*offset, text.clone())),
            Out::Joined { .. } => None,
        })
        .collect()
}

/// Messages from `inbox` until `n` `said` ones arrived (or `WAIT` passed: then what came).
async fn receive_said(inbox: &mut Inbox<Out>, n: usize) -> Vec<Out> {
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    while said_of(&got).len() < n && Instant::now() < deadline {
        match inbox.try_recv() {
            Some(m) => got.push(m),
            None => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    got
}

fn offsets(msgs: &[Out]) -> Vec<u64> {
    said_of(msgs).into_iter().map(|(o, _)| o).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_on_another_node_with_exactly_the_missing_messages() {
    let redis = redis();
    let history = HistoryConfig::default();
    let a = hub_on(broker(&redis).await, history.clone());
    let b = hub_on(broker(&redis).await, history);

    let (alice, mut alice_in) = a.attach("alice");
    let (bob, mut bob_in) = a.attach("bob");
    join(&alice, "general", None).await;
    let first = join(&bob, "general", None).await;
    assert_eq!((first.offset, first.recovered), (0, None));
    for i in 1..=10 {
        let p = alice
            .publish("general", said("general", "alice", &format!("m{i}")))
            .await
            .unwrap();
        assert_eq!(p.offset, i);
        assert_eq!(p.epoch, first.epoch);
    }
    // Live, in order, on the sending node too (delivered when Redis's publication comes back).
    let live = receive_said(&mut bob_in, 10).await;
    assert_eq!(offsets(&live), (1..=10).collect::<Vec<_>>());
    assert!(matches!(
        &live[0],
        Out::Joined {
            offset: 0,
            recovered: None,
            ..
        }
    ));
    // The sender is left out of its own messages (`except` crosses Redis and back).
    assert_eq!(said_of(&alice_in.drain()), []);

    bob_in.disconnect().await;
    for i in 11..=20 {
        alice
            .publish("general", said("general", "alice", &format!("m{i}")))
            .await
            .unwrap();
    }

    // Bob comes back on the other node from offset 10: 11..=20 replayed, then `joined`.
    let (bob2, mut bob2_in) = b.attach("bob");
    let since = Since {
        epoch: first.epoch.to_string(),
        offset: 10,
    };
    let back = join(&bob2, "general", Some(&since)).await;
    assert_eq!(
        (back.offset, back.recovered, back.replayed),
        (20, Some(true), 10)
    );
    let got = bob2_in.drain();
    assert_eq!(
        said_of(&got),
        (11..=20).map(|i| (i, format!("m{i}"))).collect::<Vec<_>>()
    );
    assert!(
        matches!(got.last(), Some(Out::Joined { offset: 20, recovered: Some(true), epoch, .. }) if **epoch == *first.epoch),
        "{got:?}"
    );
    // Then live messages from the first node, with no gap and no duplicate.
    alice
        .publish("general", said("general", "alice", "m21"))
        .await
        .unwrap();
    let live = receive_said(&mut bob2_in, 1).await;
    assert_eq!(said_of(&live), [(21, "m21".to_owned())]);

    // A resume further back, on the first node: 6..=21.
    let (carol, mut carol_in) = a.attach("carol");
    let since = Since {
        epoch: first.epoch.to_string(),
        offset: 5,
    };
    let back = join(&carol, "general", Some(&since)).await;
    assert_eq!((back.recovered, back.replayed), (Some(true), 16));
    assert_eq!(offsets(&carol_in.drain()), (6..=21).collect::<Vec<_>>());
    // Another room has its own epoch and offsets; an offset past the room's latest is refused.
    let other = join(&carol, "other", None).await;
    assert_ne!(other.epoch, first.epoch);
    assert_eq!(other.offset, 0);
    let e = carol
        .join_stream(
            "other",
            Some(&Since {
                epoch: other.epoch.to_string(),
                offset: 3,
            }),
            |_, _| said("other", "x", "never sent"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.pointer()),
        ("invalid_message", Some("/since/offset"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_are_dense_and_in_order_on_every_member_when_two_nodes_publish_at_once() {
    const EACH: u64 = 200;
    let redis = redis();
    let history = HistoryConfig::default();
    let a = hub_on(broker(&redis).await, history.clone());
    let b = hub_on(broker(&redis).await, history);
    let (pa, mut pa_in) = a.attach("pa");
    let (pb, mut pb_in) = b.attach("pb");
    let (wa, mut wa_in) = a.attach("wa");
    let (wb, mut wb_in) = b.attach("wb");
    for cx in [&pa, &pb, &wa, &wb] {
        join(cx, "busy", None).await;
    }

    let spawn_all = |cx: &Context<Out>, name: &'static str| {
        (0..EACH)
            .map(|i| {
                let cx = cx.clone();
                tokio::spawn(async move {
                    cx.publish("busy", said("busy", name, &format!("{name}{i}")))
                        .await
                        .map(|p| p.offset)
                })
            })
            .collect::<Vec<_>>()
    };
    // The append script loaded (in another room), then counted: one script call and one
    // publication per message, whatever the number of members and nodes.
    pa.publish("warm-up", said("warm-up", "pa", "x"))
        .await
        .unwrap();
    let calls = |command: &str| redis.command_calls(command).unwrap();
    let (evalsha_before, publish_before) = (calls("evalsha"), calls("publish"));
    let tasks_a = spawn_all(&pa, "a");
    let tasks_b = spawn_all(&pb, "b");
    let mut by_a = BTreeSet::new();
    let mut by_b = BTreeSet::new();
    for t in tasks_a {
        assert!(by_a.insert(t.await.unwrap().expect("publish on a")));
    }
    for t in tasks_b {
        assert!(by_b.insert(t.await.unwrap().expect("publish on b")));
    }
    let all: BTreeSet<u64> = by_a.union(&by_b).copied().collect();
    assert_eq!(all, (1..=2 * EACH).collect(), "each offset exactly once");
    assert_eq!(calls("evalsha") - evalsha_before, 2 * EACH);
    assert_eq!(calls("publish") - publish_before, 2 * EACH);

    let everything: Vec<u64> = (1..=2 * EACH).collect();
    for (name, inbox) in [("wa", &mut wa_in), ("wb", &mut wb_in)] {
        let got = receive_said(inbox, 2 * EACH as usize).await;
        assert_eq!(
            offsets(&got),
            everything,
            "{name} gets every offset once, in order"
        );
    }
    // Each publisher gets the other's messages, in order, and none of its own.
    let got = receive_said(&mut pa_in, EACH as usize).await;
    assert_eq!(offsets(&got), by_b.iter().copied().collect::<Vec<_>>());
    let got = receive_said(&mut pb_in, EACH as usize).await;
    assert_eq!(offsets(&got), by_a.iter().copied().collect::<Vec<_>>());
    // Nothing more arrives (a fence: a read on each node comes after every publication).
    for (hub, inbox) in [(&a, &mut wa_in), (&b, &mut wb_in)] {
        let page = hub.history("busy", None, 5).await.unwrap();
        assert_eq!(page.last, 2 * EACH);
        assert_eq!(said_of(&inbox.drain()), []);
    }
}

/// What a sequence of publishes, history pages and resumes gives, epochs left out (they are
/// random): the same on every backend.
#[derive(Debug, PartialEq)]
enum Seen {
    Page {
        last: u64,
        messages: Vec<(u64, String)>,
    },
    Resume {
        offset: u64,
        recovered: Option<bool>,
        said: Vec<(u64, String)>,
    },
    Refused(String),
}

async fn history_scenario(hub: &Hub<Out>, room: &str) -> Vec<Seen> {
    let mut seen = Vec::new();
    let (writer, _w) = hub.attach("writer");
    let fresh = join(&writer, room, None).await;
    let page = |h: protocol_core::history::History<Out>| Seen::Page {
        last: h.last,
        messages: said_of(&h.messages.into_iter().map(|(_, m)| m).collect::<Vec<_>>()),
    };
    seen.push(page(hub.history(room, None, 10).await.unwrap()));
    for i in 1..=40 {
        writer
            .publish(room, said(room, "writer", &format!("t{i}")))
            .await
            .unwrap();
    }
    for (before, limit) in [
        (None, 5),
        (None, 100),
        (Some(41), 3),
        (Some(30), 7),
        (Some(20), 10),
        (Some(18), 10),
        (Some(16), 10),
        (Some(1), 10),
        (Some(0), 10),
        (None, 0),
    ] {
        seen.push(page(hub.history(room, before, limit).await.unwrap()));
    }
    match hub.history(room, Some(42), 5).await {
        Err(StreamError::BadPosition { message, pointer }) => {
            seen.push(Seen::Refused(format!("{pointer}: {message}")))
        }
        other => panic!("before past the next offset: {other:?}"),
    }
    for offset in [40, 39, 25, 16, 15, 14, 0] {
        let (reader, mut inbox) = hub.attach("reader");
        let since = Since {
            epoch: fresh.epoch.to_string(),
            offset,
        };
        let r = join(&reader, room, Some(&since)).await;
        seen.push(Seen::Resume {
            offset: r.offset,
            recovered: r.recovered,
            said: said_of(&inbox.drain()),
        });
        inbox.disconnect().await;
    }
    let (reader, mut inbox) = hub.attach("reader");
    let stale = Since {
        epoch: "not-the-epoch".into(),
        offset: 39,
    };
    let r = join(&reader, room, Some(&stale)).await;
    assert_eq!(r.epoch, fresh.epoch);
    seen.push(Seen::Resume {
        offset: r.offset,
        recovered: r.recovered,
        said: said_of(&inbox.drain()),
    });
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_and_resumes_on_redis_equal_the_in_memory_store() {
    let redis = redis();
    // 25 kept of 40: the pages reach below the cap; Redis trims with `MAXLEN ~`.
    let history = HistoryConfig {
        max_messages: 25,
        ..HistoryConfig::default()
    };
    // Any room name works on Redis (its keys are binary-safe, and a name cannot reach another
    // room's keys).
    for room in ["plain", "ro:om:smeta:\n é {x} *"] {
        let memory = history_scenario(
            &hub_on(Arc::new(InMemoryBroker::default()), history.clone()),
            room,
        )
        .await;
        let on_redis = history_scenario(&hub_on(broker(&redis).await, history.clone()), room).await;
        assert_eq!(on_redis, memory, "room {room:?}");
        // The scenario is not vacuous: the cap and the pages are what they should be.
        let text = |range: std::ops::RangeInclusive<u64>| {
            range.map(|i| (i, format!("t{i}"))).collect::<Vec<_>>()
        };
        assert_eq!(
            memory[0],
            Seen::Page {
                last: 0,
                messages: vec![]
            }
        );
        assert_eq!(
            memory[1],
            Seen::Page {
                last: 40,
                messages: text(36..=40)
            }
        );
        assert_eq!(
            memory[2],
            Seen::Page {
                last: 40,
                messages: text(16..=40)
            }
        );
        assert_eq!(
            memory[4],
            Seen::Page {
                last: 40,
                messages: text(23..=29)
            }
        );
        assert_eq!(
            memory[6],
            Seen::Page {
                last: 40,
                messages: text(16..=17)
            }
        );
        assert!(matches!(&memory[11], Seen::Refused(m) if m.starts_with("/before:")));
        assert_eq!(
            memory[14],
            Seen::Resume {
                offset: 40,
                recovered: Some(true),
                said: text(26..=40)
            }
        );
        assert_eq!(
            memory[16],
            Seen::Resume {
                offset: 40,
                recovered: Some(true),
                said: text(16..=40)
            },
            "15 + 1 is the oldest kept"
        );
        assert_eq!(
            memory[17],
            Seen::Resume {
                offset: 40,
                recovered: Some(false),
                said: vec![]
            },
            "15 is gone"
        );
        assert!(matches!(
            memory.last(),
            Some(Seen::Resume {
                offset: 40,
                recovered: Some(false),
                ..
            })
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_limits_hold_on_redis() {
    let redis = redis();
    // The count: 10 kept of 300, although `MAXLEN ~` leaves more in Redis.
    let capped = HistoryConfig {
        max_messages: 10,
        ..HistoryConfig::default()
    };
    let hub = hub_on(broker(&redis).await, capped);
    let (w, _w_in) = hub.attach("w");
    let start = join(&w, "capped", None).await;
    for i in 1..=300 {
        w.publish("capped", said("capped", "w", &i.to_string()))
            .await
            .unwrap();
    }
    let stored: u64 = redis
        .command("XLEN streams-test:stream:capped")
        .unwrap()
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap();
    assert!(
        (10..300).contains(&stored),
        "MAXLEN ~ trims whole nodes: {stored} stored"
    );
    let latest = hub.history("capped", None, 100).await.unwrap();
    assert_eq!(
        latest.messages.iter().map(|m| m.0).collect::<Vec<_>>(),
        (291..=300).collect::<Vec<_>>()
    );
    let resume = |offset| Since {
        epoch: start.epoch.to_string(),
        offset,
    };
    let (r, mut r_in) = hub.attach("r");
    let beyond = join(&r, "capped", Some(&resume(250))).await;
    assert_eq!(
        (beyond.recovered, beyond.replayed, beyond.offset),
        (Some(false), 0, 300)
    );
    assert_eq!(said_of(&r_in.drain()), []);
    r_in.disconnect().await;
    let (r, mut r_in) = hub.attach("r");
    let within = join(&r, "capped", Some(&resume(290))).await;
    assert_eq!((within.recovered, within.replayed), (Some(true), 10));
    assert_eq!(offsets(&r_in.drain()), (291..=300).collect::<Vec<_>>());

    // Nothing kept (max_messages 0, or max_age 0): offsets still count, nothing is stored.
    for keep_none in [
        HistoryConfig {
            max_messages: 0,
            ..HistoryConfig::default()
        },
        HistoryConfig {
            max_age: Duration::ZERO,
            ..HistoryConfig::default()
        },
    ] {
        let hub = hub_on(broker(&redis).await, keep_none.clone());
        let room = format!("none-{}", keep_none.max_messages);
        let (w, _w_in) = hub.attach("w");
        let start = join(&w, &room, None).await;
        for i in 1..=5 {
            let p = w.publish(&room, said(&room, "w", "x")).await.unwrap();
            assert_eq!((p.offset, &p.epoch), (i, &start.epoch));
        }
        let page = hub.history(&room, None, 10).await.unwrap();
        assert_eq!((page.last, page.messages.len()), (5, 0));
        assert_eq!(
            redis
                .command(&format!("EXISTS streams-test:stream:{room}"))
                .unwrap(),
            ":0\r\n"
        );
        let (r, _r_in) = hub.attach("r");
        let up_to_date = Since {
            epoch: start.epoch.to_string(),
            offset: 5,
        };
        assert_eq!(
            join(&r, &room, Some(&up_to_date)).await.recovered,
            Some(true)
        );
        let behind = Since {
            epoch: start.epoch.to_string(),
            offset: 3,
        };
        assert_eq!(join(&r, &room, Some(&behind)).await.recovered, Some(false));
    }

    // The age: a burst, then messages written every 100 ms for 3 s, kept 1.5 s: the oldest
    // are gone (read and append both trim them), the latest are there, the epoch is the same.
    let aged = HistoryConfig {
        max_age: Duration::from_millis(1500),
        ..HistoryConfig::default()
    };
    let hub = hub_on(broker(&redis).await, aged);
    let (w, _w_in) = hub.attach("w");
    let start = join(&w, "aged", None).await;
    let began = Instant::now();
    // A burst first: it ages out all at once (the trim removes more than a pass's 64).
    const BURST: u64 = 150;
    for i in 1..=BURST {
        w.publish("aged", said("aged", "w", &i.to_string()))
            .await
            .unwrap();
    }
    let mut n = BURST;
    while began.elapsed() < Duration::from_secs(3) && n < BURST + 100 {
        n += 1;
        w.publish("aged", said("aged", "w", &n.to_string()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = hub.history("aged", None, 1000).await.unwrap();
    assert_eq!((page.last, &page.epoch), (n, &start.epoch));
    let kept: Vec<u64> = page.messages.iter().map(|m| m.0).collect();
    let oldest = *kept.first().expect("the latest message is kept");
    assert!(
        oldest > BURST,
        "the burst and the next messages are older than 1.5 s: {kept:?}"
    );
    assert_eq!(kept, (oldest..=n).collect::<Vec<_>>());
    let (r, _r_in) = hub.attach("r");
    let from_start = Since {
        epoch: start.epoch.to_string(),
        offset: 0,
    };
    assert_eq!(
        join(&r, "aged", Some(&from_start)).await.recovered,
        Some(false)
    );
    // A room idle for longer than the history keeps loses its stream: a new epoch.
    let deadline = Instant::now() + WAIT;
    let after_idle = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let page = hub.history("aged", None, 10).await.unwrap();
        if page.epoch != start.epoch || Instant::now() > deadline {
            break page;
        }
    };
    assert_ne!(after_idle.epoch, start.epoch, "the stream's keys expired");
    assert_eq!((after_idle.last, after_idle.messages.len()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_changes_the_epoch_and_the_brokers_recover() {
    let mut redis = redis();
    let history = HistoryConfig::default();
    let a = hub_on(broker(&redis).await, history.clone());
    let b = hub_on(broker(&redis).await, history);
    let (w, _w_in) = a.attach("w");
    let (watcher, mut watcher_in) = b.attach("watcher");
    let before = join(&w, "r", None).await;
    join(&watcher, "r", None).await;
    for _ in 0..5 {
        w.publish("r", said("r", "w", "before")).await.unwrap();
    }
    assert_eq!(
        offsets(&receive_said(&mut watcher_in, 5).await),
        [1, 2, 3, 4, 5]
    );

    redis.restart().expect("restart redis-server");

    // The first publish may fail while the connection comes back; then it works, in a new
    // epoch, from offset 1.
    let deadline = Instant::now() + WAIT;
    let mut failures = 0;
    let after = loop {
        match w.publish("r", said("r", "w", "after")).await {
            Ok(p) => break p,
            Err(StreamError::Unavailable(reason)) => {
                assert!(!reason.is_empty());
                failures += 1;
                assert!(Instant::now() < deadline, "no recovery: {reason}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    };
    assert_ne!(
        after.epoch, before.epoch,
        "Redis lost the stream: a new epoch"
    );
    assert_eq!(after.offset, 1);
    eprintln!("publishes refused while Redis restarted: {failures}");

    // A resume with the old epoch, on the other node: not recovered, told the new position.
    let (r, mut r_in) = b.attach("r");
    let old = Since {
        epoch: before.epoch.to_string(),
        offset: 5,
    };
    let back = join(&r, "r", Some(&old)).await;
    assert_eq!(
        (&back.epoch, back.offset, back.recovered, back.replayed),
        (&after.epoch, 1, Some(false), 0)
    );
    let got = r_in.drain();
    assert!(
        matches!(&got[..], [Out::Joined { offset: 1, recovered: Some(false), epoch, .. }] if **epoch == *after.epoch),
        "{got:?}"
    );
    // Live delivery across nodes comes back once the subscription is renewed (with backoff).
    let deadline = Instant::now() + WAIT;
    let mut live = Vec::new();
    while live.is_empty() && Instant::now() < deadline {
        let p = w.publish("r", said("r", "w", "live")).await.unwrap();
        let got = receive_said(&mut r_in, 1).await;
        live = said_of(&got);
        assert!(live.iter().all(|(o, _)| *o <= p.offset));
    }
    assert!(!live.is_empty(), "cross-node delivery after the restart");
    // And the resume in the new epoch works.
    let (r2, mut r2_in) = a.attach("r2");
    let current = Since {
        epoch: after.epoch.to_string(),
        offset: 0,
    };
    let again = join(&r2, "r", Some(&current)).await;
    assert_eq!(again.recovered, Some(true));
    assert_eq!(
        offsets(&r2_in.drain()),
        (1..=again.offset).collect::<Vec<_>>()
    );

    // FLUSHALL loses the stream too: a new epoch, offsets from 1 again.
    assert!(redis.command("FLUSHALL").unwrap().starts_with("+OK"));
    let flushed = w.publish("r", said("r", "w", "flushed")).await.unwrap();
    assert_ne!(flushed.epoch, after.epoch);
    assert_eq!(flushed.offset, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_streams_fail_with_unavailable_in_bounded_time() {
    let mut redis = redis();
    let hub = hub_on(broker(&redis).await, HistoryConfig::default());
    let (w, _w_in) = hub.attach("w");
    join(&w, "r", None).await;
    w.publish("r", said("r", "w", "up")).await.unwrap();
    redis.stop();

    // Each call ends (the connection manager's timeouts bound it); the guard only catches a
    // hang.
    for _ in 0..3 {
        let published = tokio::time::timeout(WAIT, w.publish("r", said("r", "w", "down")))
            .await
            .expect("publish ends");
        assert!(
            matches!(&published, Err(StreamError::Unavailable(reason)) if reason.contains("Redis")),
            "{published:?}"
        );
        let page = tokio::time::timeout(WAIT, hub.history("r", None, 10))
            .await
            .expect("history ends");
        assert!(
            matches!(&page, Err(StreamError::Unavailable(_))),
            "{page:?}"
        );
        let (r, _r_in) = hub.attach("r");
        let joined = tokio::time::timeout(
            WAIT,
            r.join_stream("r", None, |_, _| said("r", "x", "never")),
        )
        .await
        .expect("join ends");
        let e = joined.unwrap_err();
        assert_eq!(e.code(), "internal_error", "{e:?}");
        assert!(
            !r.in_room("r"),
            "a failed stream join leaves nothing behind"
        );
    }
}

/// Sends SIGCONT to a stopped process when dropped (a failing test leaves no frozen server).
/// Signals go through `sh`'s own `kill` (no procps needed).
struct Frozen(u32);

fn signal(pid: u32, signal: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("kill -{signal} {pid}")])
        .status()
        .is_ok_and(|s| s.success())
}

impl Frozen {
    fn stop(pid: u32) -> Frozen {
        assert!(signal(pid, "STOP"), "kill -STOP {pid}");
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_is_unavailable_after_the_response_timeout_and_then_recovers() {
    let redis = redis();
    let hub = hub_on(broker(&redis).await, HistoryConfig::default());
    let (w, _w_in) = hub.attach("w");
    let start = join(&w, "r", None).await;
    w.publish("r", said("r", "w", "before")).await.unwrap();
    let info = redis.command("INFO server").unwrap();
    let pid = info
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
        .expect("INFO server has process_id");

    let frozen = Frozen::stop(pid);
    // Redis accepts nothing and answers nothing: the response timeout (2 s) ends each call.
    let published = tokio::time::timeout(WAIT, w.publish("r", said("r", "w", "hung")))
        .await
        .expect("publish ends");
    assert!(
        matches!(&published, Err(StreamError::Unavailable(_))),
        "{published:?}"
    );
    let page = tokio::time::timeout(WAIT, hub.history("r", None, 10))
        .await
        .expect("history ends");
    assert!(
        matches!(&page, Err(StreamError::Unavailable(_))),
        "{page:?}"
    );
    drop(frozen);

    // Back: same epoch (Redis kept its data). The timed-out append may have run once Redis
    // woke up (a timeout does not say it did not): the offsets stay dense either way.
    let deadline = Instant::now() + WAIT;
    let after = loop {
        match w.publish("r", said("r", "w", "after")).await {
            Ok(p) => break p,
            Err(e) => {
                assert!(Instant::now() < deadline, "no recovery: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(after.epoch, start.epoch);
    let page = hub.history("r", None, 100).await.unwrap();
    let stored: Vec<u64> = page.messages.iter().map(|m| m.0).collect();
    assert_eq!(stored, (1..=after.offset).collect::<Vec<_>>());
    assert!((2..=3).contains(&after.offset), "{stored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_history_replays_in_order_on_redis() {
    let redis = redis();
    let history = HistoryConfig::default();
    let a = hub_on(broker(&redis).await, history.clone());
    let b = hub_on(broker(&redis).await, history.clone());
    let (w, _w_in) = a.attach("w");
    let start = join(&w, "full", None).await;
    let text = "x".repeat(100);
    for _ in 0..history.max_messages {
        w.publish("full", said("full", "w", &text)).await.unwrap();
    }
    let (r, mut r_in) = b.attach("r");
    let since = Since {
        epoch: start.epoch.to_string(),
        offset: 0,
    };
    let began = Instant::now();
    let back = join(&r, "full", Some(&since)).await;
    let took = began.elapsed();
    assert_eq!(back.replayed, history.max_messages);
    assert_eq!(
        offsets(&r_in.drain()),
        (1..=history.max_messages as u64).collect::<Vec<_>>()
    );
    eprintln!(
        "replay of {} messages from Redis (debug build): {:?}, {:.0} messages/s",
        back.replayed,
        took,
        back.replayed as f64 / took.as_secs_f64()
    );
    // What the full history costs in Redis, measured there (the stream key; the meta is a
    // small hash).
    let integer = |reply: String| -> u64 {
        reply
            .trim()
            .trim_start_matches(':')
            .parse()
            .unwrap_or_else(|_| panic!("an integer reply: {reply:?}"))
    };
    let bytes = integer(
        redis
            .command("MEMORY USAGE streams-test:stream:full SAMPLES 0")
            .unwrap(),
    );
    let frame_bytes =
        r#"{"type":"said","room":"full","offset":1000,"from":"w","text":""}"#.len() + text.len();
    assert!(
        bytes as usize >= history.max_messages * text.len(),
        "{bytes} bytes"
    );
    eprintln!(
        "a full history in Redis: {bytes} bytes for {} messages of about {frame_bytes} bytes, {} bytes a message",
        history.max_messages,
        bytes as usize / history.max_messages
    );
}

/// Messages from `inbox` for `time` (bounded by it).
async fn receive_for(inbox: &mut Inbox<Out>, time: Duration) -> Vec<Out> {
    let deadline = Instant::now() + time;
    let mut got = Vec::new();
    while Instant::now() < deadline {
        match inbox.try_recv() {
            Some(m) => got.push(m),
            None => tokio::time::sleep(Duration::from_millis(2)).await,
        }
    }
    got.extend(inbox.drain());
    got
}

/// Short connections while a writer publishes as fast as it can: the messages appended just
/// before a resume's read are still on their way to the reader's node when the read answers.
/// Without the read's fence (tried: the read not waiting for it) this fails within a few runs
/// with a message delivered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_reconnecting_to_the_other_node_each_time_misses_nothing_while_messages_flow() {
    const TOTAL: u64 = 2000;
    let redis = redis();
    // Larger than TOTAL: a reader that falls behind on a busy machine still recovers.
    let history = HistoryConfig {
        max_messages: 10_000,
        ..HistoryConfig::default()
    };
    let a = hub_on(broker(&redis).await, history.clone());
    let b = hub_on(broker(&redis).await, history);
    let (w, _w_in) = a.attach("w");
    let start = join(&w, "flow", None).await;
    let writer = tokio::spawn(async move {
        for i in 1..=TOTAL {
            w.publish("flow", said("flow", "w", &i.to_string()))
                .await
                .unwrap();
        }
    });
    let mut have: Vec<u64> = Vec::new();
    let mut cycles = 0u64;
    let deadline = Instant::now() + WAIT;
    while (have.len() as u64) < TOTAL && Instant::now() < deadline && cycles < 2000 {
        cycles += 1;
        // Publishing node and the other one in turn.
        let hub = if cycles.is_multiple_of(2) { &a } else { &b };
        let (r, mut inbox) = hub.attach("reader");
        let since = Since {
            epoch: start.epoch.to_string(),
            offset: have.last().copied().unwrap_or(0),
        };
        let j = join(&r, "flow", Some(&since)).await;
        assert_eq!(j.recovered, Some(true), "cycle {cycles}");
        let got = receive_for(&mut inbox, Duration::from_millis(cycles % 3)).await;
        for offset in offsets(&got) {
            assert_eq!(
                offset,
                have.len() as u64 + 1,
                "cycle {cycles}: no gap, no duplicate (replay, then live)"
            );
            have.push(offset);
        }
        inbox.disconnect().await;
    }
    writer.await.unwrap();
    assert_eq!(have, (1..=TOTAL).collect::<Vec<_>>());
    assert!(cycles > 2, "the reader reconnected while messages flowed");
    eprintln!("{TOTAL} messages received across {cycles} connections on alternating nodes");
}
