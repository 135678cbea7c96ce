//! Fan-out across two nodes through a real Redis against one node in memory: a room of members
//! split between two hubs, broadcasts sent on one, delivered on both. Publications are counted
//! by Redis itself (`INFO commandstats`), not assumed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol_core::redis::{RedisBroker, RedisConfig};
use protocol_core::testing::RedisServer;
use protocol_core::{Broker, Hub, Inbox, Target};

use crate::BroadcastMsg;
use crate::net::room_members;

/// The measurements of one run.
#[derive(Debug)]
pub struct FanoutReport {
    /// Room members (split evenly between the two nodes).
    pub members: usize,
    /// Broadcasts sent per round.
    pub broadcasts: usize,
    /// `PUBLISH` calls Redis counted, per broadcast.
    pub publishes_per_broadcast: f64,
    /// Two nodes: time from the first send until every member on both nodes has every
    /// broadcast, per delivered frame (best round).
    pub ns_per_recipient: f64,
    /// One node, in-memory broker, same room size, same measure (best round).
    pub single_node_ns_per_recipient: f64,
    /// Two nodes: CPU time of this process (both nodes; not Redis) per delivered frame (best
    /// round).
    pub cpu_ns_per_recipient: f64,
    /// One node: CPU time per delivered frame (best round).
    pub single_node_cpu_ns_per_recipient: f64,
}

fn hub(broker: Arc<dyn Broker>) -> Hub<BroadcastMsg> {
    Hub::builder().broker(broker).queue_capacity(4096).build()
}

/// CPU time all threads of this process have used, in ns (`/proc/self/task/*/schedstat`).
fn process_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Wall and CPU time per delivered frame, in ns.
#[derive(Debug, Clone, Copy)]
struct Cost {
    wall: f64,
    cpu: f64,
}

/// Send `broadcasts` on `sender`, then wait until `hubs` together queued `expected` more frames;
/// the elapsed wall and process CPU time per frame. Queues are drained afterwards (untimed).
async fn round(
    sender: &Hub<BroadcastMsg>,
    hubs: &[&Hub<BroadcastMsg>],
    inboxes: &mut [Inbox<BroadcastMsg>],
    broadcasts: usize,
    expected: u64,
) -> Cost {
    let out = || -> u64 {
        hubs.iter()
            .map(|h| {
                h.stats()
                    .frames_out
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum()
    };
    let before = out();
    let msg = BroadcastMsg::Message {
        room: "room".into(),
        from: "alice".into(),
        text: "x".repeat(100),
    };
    let start = Instant::now();
    let cpu_start = process_cpu_ns();
    for _ in 0..broadcasts {
        sender
            .send(
                Target::Room {
                    room: Arc::from("room"),
                    except: None,
                },
                &msg,
            )
            .expect("encode");
    }
    let deadline = start + Duration::from_secs(30);
    while out() - before < expected {
        assert!(
            Instant::now() < deadline,
            "fan-out did not complete in 30 s"
        );
        // Sleeping, not spinning: the waiting must not count as CPU of the fan-out.
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let ns = Cost {
        wall: start.elapsed().as_nanos() as f64 / expected as f64,
        cpu: (process_cpu_ns() - cpu_start) as f64 / expected as f64,
    };
    for inbox in inboxes.iter_mut() {
        while inbox.try_recv_text().is_some() {}
    }
    ns
}

/// Run: `members` split over two nodes sharing a fresh `redis-server`, `broadcasts` per round,
/// `rounds` rounds of each setup, interleaved.
pub async fn run(
    members: usize,
    broadcasts: usize,
    rounds: usize,
) -> std::io::Result<FanoutReport> {
    let redis = RedisServer::start()?;
    let connect = || async {
        RedisBroker::connect(RedisConfig::new(redis.url()).prefix("fanout"))
            .await
            .map(Arc::new)
            .map_err(std::io::Error::other)
    };
    let (b1, b2) = (connect().await?, connect().await?);
    let n1 = hub(b1 as Arc<dyn Broker>);
    let n2 = hub(b2 as Arc<dyn Broker>);
    let mut two = room_members(&n1, 0..members / 2).await;
    two.extend(room_members(&n2, members / 2..members).await);
    let single = hub(Arc::new(protocol_core::InMemoryBroker::default()));
    let mut one = room_members(&single, 0..members).await;
    // Presence and joins settle before counting.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let expected = (broadcasts * members) as u64;
    let best = |a: Cost, b: Cost| Cost {
        wall: a.wall.min(b.wall),
        cpu: a.cpu.min(b.cpu),
    };
    let worst = Cost {
        wall: f64::MAX,
        cpu: f64::MAX,
    };
    let (mut best_two, mut best_one) = (worst, worst);
    let mut publishes = 0;
    for _ in 0..rounds {
        let before = redis.command_calls("publish")?;
        best_two = best(
            best_two,
            round(&n1, &[&n1, &n2], &mut two, broadcasts, expected).await,
        );
        publishes += redis.command_calls("publish")? - before;
        best_one = best(
            best_one,
            round(&single, &[&single], &mut one, broadcasts, expected).await,
        );
    }
    Ok(FanoutReport {
        members,
        broadcasts,
        publishes_per_broadcast: publishes as f64 / (rounds * broadcasts) as f64,
        ns_per_recipient: best_two.wall,
        single_node_ns_per_recipient: best_one.wall,
        cpu_ns_per_recipient: best_two.cpu,
        single_node_cpu_ns_per_recipient: best_one.cpu,
    })
}
