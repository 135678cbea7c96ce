//! Several nodes sharing one set of rooms through Redis: [`RedisBroker`] (feature `redis`).
//!
//! Any client can connect to any node; handlers do not change. Each node keeps its own sockets
//! and delivers to them; what crosses nodes goes through Redis:
//!
//! - **Fan-out.** A push to an identity, a room broadcast and a push to everyone are published
//!   once (never once per recipient), already encoded, on one pub/sub channel. Every node
//!   delivers to its local connections; the publishing node delivers its own copy directly and
//!   ignores the echo. A push to one connection never leaves the node. Payloads carry the origin
//!   node id and a per-node sequence number; a receiver logs gaps (publications lost while Redis
//!   was unreachable).
//! - **Membership and presence.** `{prefix}:room:{room}` is a hash `identity -> number of nodes
//!   holding it`; `{prefix}:node:{node}` is the set of `(room, identity)` a node holds. Joins and
//!   leaves are Lua scripts, so "first connection on any node" and "last connection on all nodes"
//!   are decided atomically in Redis.
//! - **Who is online.** `{prefix}:online:{node}` is the set of identities connected to a node;
//!   [`Hub::online_everywhere`](crate::Hub::online_everywhere) is their union.
//! - **Liveness.** Each node refreshes `{prefix}:alive:{node}` (a key with a TTL of two thirds
//!   of [`RedisConfig::dead_node_after`]) and sweeps the other nodes as often: the first node to
//!   find a dead node's key expired removes its members and sends the offline presence, within
//!   `dead_node_after` (default 10 s) of the death.
//! - **Failure.** With Redis unreachable, local delivery goes on; publications wait in a queue
//!   bounded in frames and bytes (beyond it they are dropped and counted) and cross-node delivery
//!   resumes when the connection comes back (reconnect with exponential backoff, a warning
//!   logged once per outage). On reconnect the node writes its memberships back, so a Redis
//!   restart or a spell of being presumed dead heals itself.
//!
//! - **Room streams.** [`Context::publish`](crate::Context::publish) runs one Lua script
//!   (`redis/stream_append.lua`, one round trip, nothing per recipient): it takes the room's
//!   meta (creating it with a new random epoch when Redis has none), increments the dense
//!   offset, assembles the frame around it, `XADD`s it with the id `{offset}-0` and
//!   `MAXLEN ~ max_messages`, removes entries older than `max_age`, sets the keys' expiry to
//!   `max_age` and `PUBLISH`es the message, all atomically. Every node, the sending one
//!   included, delivers a stream message when its publication arrives on the subscription, so
//!   each node delivers a room's messages in offset order; the sender's own connection is left
//!   out on the sending node. A consequence: the sender's reply (with its offset) can reach it
//!   before an earlier offset published on another node does; clients resume from the highest
//!   *contiguous* offset they have. A history read or a resume (`redis/stream_read.lua`) reads
//!   the epoch, the bounds and the entries in one script and then publishes a fence for this
//!   node: the read returns once the fence is back, so messages appended before the read have
//!   been delivered here (and the hub drops them from a joiner's live frames). A client may
//!   leave one node and resume on another. Keys, for a room `R`:
//!   - `{prefix}:smeta:R`: hash `epoch` (16 hex digits), `last` (the latest offset);
//!   - `{prefix}:stream:R`: stream of entries `{offset}-0` with fields `t` (Redis time in µs
//!     when appended) and `f` (the frame).
//!
//!   Both expire `max_age` after the last append (a day when `max_age` is 0); with
//!   `max_messages` or `max_age` 0 nothing is stored but offsets still count. When Redis loses
//!   them (key expired, restart without persistence, `FLUSHALL`), the next use starts a new
//!   epoch from offset 1, so clients are told `recovered: false`. `MAXLEN ~` may leave a few
//!   more entries than `max_messages`; reads do not return them, so the history is the same as
//!   in memory. With Redis unreachable, publishing and reading fail with
//!   [`StreamError::Unavailable`] within the connection's timeouts; while only the
//!   subscription is down, stream messages are stored but not delivered live (on this node
//!   either) and a read waits at most `response_timeout` for its fence
//!   ([`RedisStats::fences_late`]).
//!
//! One Redis instance (not Redis Cluster: the scripts compute their keys).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use protocol_core::redis::{RedisBroker, RedisConfig};
//! use protocol_core::{Hub, Protocol};
//!
//! #[derive(Debug, Protocol)]
//! #[protocol(rename_all = "snake_case")]
//! enum ServerMsg {
//!     Said { text: String },
//! }
//!
//! let broker = RedisBroker::connect(RedisConfig::new("redis://127.0.0.1:6379")).await?;
//! let hub: Hub<ServerMsg> = Hub::builder().broker(Arc::new(broker)).build();
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ::redis::AsyncCommands;
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::runtime::history::{HistoryConfig, Position, ReadRange, StreamError, StreamSlice};
use crate::runtime::hub::{Append, Broker, Joined, LocalDelivery, Target};

// One concept per file, no cycles: `node` (the state the others share) uses `config`, `scripts`
// and `wire`; `stream` and `tasks` use `node` and `wire`; this file uses them all.
mod config;
mod node;
mod scripts;
mod stream;
mod tasks;
mod wire;

pub use config::RedisConfig;
use node::{Shared, lock};
use wire::{encode_publication, online_key, room_key};

/// The Redis client crate, for apps that keep their own state in the same Redis
/// (see [`RedisBroker::connection`]).
pub use ::redis as client;

/// Why a [`RedisBroker`] could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot use Redis at {url}: {source}")]
pub struct RedisBrokerError {
    url: String,
    #[source]
    source: ::redis::RedisError,
}

impl RedisBrokerError {
    /// The URL that failed.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Counters of a [`RedisBroker`]; read them with [`RedisBroker::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Publications sent to Redis.
    pub published: u64,
    /// Publications lost because Redis failed while sending them.
    pub publish_failed: u64,
    /// Publications dropped because the queue was full (Redis slow or unreachable).
    pub dropped: u64,
    /// Publications of other nodes received and delivered locally.
    pub received: u64,
    /// Publications of other nodes missed, from gaps in their sequence numbers.
    pub missed: u64,
    /// Payloads on the channel that were not valid publications (skipped, logged).
    pub malformed: u64,
    /// Dead nodes this node cleaned up.
    pub dead_nodes_cleaned: u64,
    /// Times this node's memberships were written back (after reconnects).
    pub resyncs: u64,
    /// Stream messages appended (stored and published by Redis).
    pub appended: u64,
    /// Stream appends and reads that failed (Redis unreachable, or refused the script).
    pub stream_failed: u64,
    /// Stream reads whose fence did not come back on the subscription within
    /// `response_timeout` (the subscription was down): the joiner may get a message twice.
    pub fences_late: u64,
}

/// A [`Broker`] for several nodes sharing rooms through Redis pub/sub. See the
/// [module documentation](self) for what goes where.
pub struct RedisBroker {
    shared: Arc<Shared>,
    tasks: Vec<AbortHandle>,
}

impl fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBroker")
            .field("url", &self.shared.config.url)
            .field("node", &self.shared.node)
            .finish_non_exhaustive()
    }
}

impl RedisBroker {
    /// Connect, register this node and subscribe. Fails (naming the URL) when Redis cannot be
    /// reached or refuses; it does not retry: a node that starts without its Redis should say
    /// so and exit.
    pub async fn connect(config: RedisConfig) -> Result<RedisBroker, RedisBrokerError> {
        let url = config.url.clone();
        let err = |source| RedisBrokerError {
            url: url.clone(),
            source,
        };
        let client = ::redis::Client::open(config.url.as_str()).map_err(err)?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.response_timeout))
            .set_response_timeout(Some(config.response_timeout))
            .set_number_of_retries(1)
            .set_max_delay(config.max_backoff);
        let mut conn = client
            .get_connection_manager_with_config(manager)
            .await
            .map_err(err)?;
        let _: String = ::redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(err)?;
        let mut pubsub = client.get_async_pubsub().await.map_err(err)?;
        let (queue, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::new(config, client, conn, queue));
        pubsub.subscribe(&shared.keys.channel).await.map_err(err)?;
        let first_run_id = shared.server_run_id().await.map_err(err)?;
        *lock(&shared.run_id) = Some(first_run_id);
        shared.refresh().await.map_err(err)?;
        let tasks = tasks::spawn(&shared, rx, pubsub);
        tracing::info!(url = %shared.config.url, node = %shared.node, "connected to Redis");
        Ok(RedisBroker { shared, tasks })
    }

    /// A connection to the same Redis (cheap to clone, reconnects by itself), for app state
    /// that must be shared between nodes.
    pub fn connection(&self) -> ConnectionManager {
        self.shared.conn.clone()
    }

    /// The key prefix in use.
    pub fn prefix(&self) -> &str {
        &self.shared.config.prefix
    }

    /// The broker's counters.
    pub fn stats(&self) -> RedisStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RedisStats {
            published: get(&c.published),
            publish_failed: get(&c.publish_failed),
            dropped: get(&c.dropped),
            received: get(&c.received),
            missed: get(&c.missed),
            malformed: get(&c.malformed),
            dead_nodes_cleaned: get(&c.dead_nodes_cleaned),
            resyncs: get(&c.resyncs),
            appended: get(&c.appended),
            stream_failed: get(&c.stream_failed),
            fences_late: get(&c.fences_late),
        }
    }

    /// Leave the cluster cleanly, after the server's graceful shutdown: remove this node's
    /// memberships and liveness key now and tell the other nodes who went offline (instead of
    /// them finding out after `dead_node_after`), send what is still queued (waiting at most
    /// `response_timeout`), then stop the background tasks.
    pub async fn shutdown(&self) {
        let s = &self.shared;
        let mut conn = s.conn.clone();
        let _: Result<(), _> = conn.del(&s.keys.alive).await;
        match s.reap(&s.node).await {
            Ok(gone) => {
                let gone = gone.unwrap_or_default();
                lock(&s.held).clear();
                if let Some(local) = s.local() {
                    for (room, identity) in gone {
                        local.presence(&room, &identity, false);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not remove this node's memberships from Redis");
            }
        }
        let deadline = tokio::time::Instant::now() + s.config.response_timeout;
        while s.queued_frames.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl RedisBroker {
    /// Stop the background tasks and nothing else, as a crash would: the others stop hearing
    /// from this node and reap it after `dead_node_after`. For tests of node death in one
    /// process.
    #[doc(hidden)]
    pub fn simulate_crash(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for RedisBroker {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Broker for RedisBroker {
    fn bind(&self, local: Arc<dyn LocalDelivery>) {
        if self.shared.local.set(local).is_err() {
            tracing::error!("a RedisBroker serves one hub; this hub gets no cross-node delivery");
        }
    }

    fn node_id(&self) -> &str {
        &self.shared.node
    }

    fn identity_changed(&self, identity: &Arc<str>) {
        lock(&self.shared.online_dirty).insert(Arc::clone(identity));
        self.shared.online_wake.notify_one();
    }

    fn online(&self) -> BoxFuture<'_, Option<Vec<String>>> {
        let s = &self.shared;
        Box::pin(async move {
            let result: Result<Vec<String>, ::redis::RedisError> = async {
                let nodes: Vec<String> = s.conn.clone().smembers(&s.keys.nodes).await?;
                let keys: Vec<String> = nodes
                    .iter()
                    .map(|n| online_key(&s.config.prefix, n))
                    .collect();
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                s.conn.clone().sunion(keys).await
            }
            .await;
            match result {
                Ok(mut all) => {
                    s.healthy_again();
                    all.sort_unstable();
                    Some(all)
                }
                Err(e) => {
                    s.unhealthy("online", &e);
                    None
                }
            }
        })
    }

    fn publish(&self, target: Target, frame: Utf8Bytes, local: &dyn LocalDelivery) {
        local.deliver(&target, &frame);
        if matches!(target, Target::Conn(_)) {
            // One connection of this node: nothing to publish.
            return;
        }
        let s = &self.shared;
        let seq = s.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let Some(payload) = encode_publication(s.node_num, seq, &target, frame.as_bytes()) else {
            return;
        };
        let frames = s.queued_frames.fetch_add(1, Ordering::Relaxed);
        let bytes = s.queued_bytes.fetch_add(payload.len(), Ordering::Relaxed);
        if frames >= s.config.max_queued_frames || bytes + payload.len() > s.config.max_queued_bytes
        {
            s.queued_frames.fetch_sub(1, Ordering::Relaxed);
            s.queued_bytes.fetch_sub(payload.len(), Ordering::Relaxed);
            let dropped = s.counters.dropped.fetch_add(1, Ordering::Relaxed);
            if dropped.is_power_of_two() || dropped == 0 {
                tracing::warn!(
                    dropped = dropped + 1,
                    queued_frames = frames,
                    queued_bytes = bytes,
                    "publication queue full (Redis slow or unreachable): dropping cross-node delivery"
                );
            }
            return;
        }
        let len = payload.len();
        if s.queue.send(payload).is_err() {
            s.queued_frames.fetch_sub(1, Ordering::Relaxed);
            s.queued_bytes.fetch_sub(len, Ordering::Relaxed);
        }
    }

    /// One script: the offset, the entry, the trims, the expiry and the publication. This node
    /// delivers the message when its publication comes back, like every other node, so each
    /// node delivers a room's messages in offset order.
    fn append<'a>(
        &'a self,
        append: Append<'a>,
        local: &'a dyn LocalDelivery,
    ) -> BoxFuture<'a, Result<Position, StreamError>> {
        let _ = local;
        Box::pin(self.shared.append_stream(append))
    }

    fn read<'a>(
        &'a self,
        room: &'a str,
        range: ReadRange,
        limit: usize,
        config: &'a HistoryConfig,
    ) -> BoxFuture<'a, Result<StreamSlice, StreamError>> {
        Box::pin(self.shared.read_stream(room, range, limit, config))
    }

    fn join<'a>(&'a self, room: &'a str, identity: &'a str) -> BoxFuture<'a, Joined> {
        let s = &self.shared;
        Box::pin(async move {
            let _shared = s.membership.read().await;
            lock(&s.held).insert((room.to_owned(), identity.to_owned()));
            match s.join_script(room, identity).await {
                Ok((first, mut members, version)) => {
                    s.healthy_again();
                    members.sort_unstable();
                    Joined {
                        first: first == 1,
                        members,
                        version,
                    }
                }
                Err(e) => {
                    s.unhealthy("join", &e);
                    Joined {
                        first: true,
                        members: s.local_members(room),
                        version: 0,
                    }
                }
            }
        })
    }

    fn leave<'a>(&'a self, room: &'a str, identity: &'a str) -> BoxFuture<'a, bool> {
        let s = &self.shared;
        Box::pin(async move {
            let _shared = s.membership.read().await;
            lock(&s.held).remove(&(room.to_owned(), identity.to_owned()));
            match s.leave_script(room, identity).await {
                Ok(left) => {
                    s.healthy_again();
                    left == 1
                }
                Err(e) => {
                    s.unhealthy("leave", &e);
                    true
                }
            }
        })
    }

    fn members<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Vec<String>> {
        let s = &self.shared;
        Box::pin(async move {
            let result: Result<Vec<String>, _> =
                s.conn.clone().hkeys(room_key(&s.config.prefix, room)).await;
            match result {
                Ok(mut members) => {
                    members.sort_unstable();
                    members
                }
                Err(e) => {
                    s.unhealthy("members", &e);
                    s.local_members(room)
                }
            }
        })
    }
}
