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

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{AsyncCommands, Script};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio::sync::{RwLock, mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio_tungstenite::tungstenite::{Bytes, Utf8Bytes};

use crate::runtime::history::{
    Append, HistoryConfig, Position, ReadRange, StreamError, StreamSlice,
};
use crate::runtime::hub::{Broker, ConnId, Joined, LocalDelivery, Target};

mod stream;

/// The Redis client crate, for apps that keep their own state in the same Redis
/// (see [`RedisBroker::connection`]).
pub use ::redis as client;

/// How a [`RedisBroker`] connects and what it tolerates.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// Prefix of every key and of the channel: nodes with the same prefix share rooms.
    /// Default `"protocol"`.
    pub prefix: String,
    /// How soon after a node dies the others remove its members and send offline presence.
    /// Default 10 s.
    pub dead_node_after: Duration,
    /// How long a Redis command may take before it counts as failed. Default 2 s.
    pub response_timeout: Duration,
    /// Publications queued while Redis is slow or unreachable, at most. Default 10,000.
    pub max_queued_frames: usize,
    /// Bytes of queued publications, at most. Default 16 MiB.
    pub max_queued_bytes: usize,
    /// Longest wait between reconnection attempts. Default 5 s.
    pub max_backoff: Duration,
}

impl RedisConfig {
    /// The defaults, with this URL.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            prefix: "protocol".to_owned(),
            dead_node_after: Duration::from_secs(10),
            response_timeout: Duration::from_secs(2),
            max_queued_frames: 10_000,
            max_queued_bytes: 16 << 20,
            max_backoff: Duration::from_secs(5),
        }
    }

    /// Use another key prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Detect dead nodes within this time (at least 600 ms).
    pub fn dead_node_after(mut self, after: Duration) -> Self {
        self.dead_node_after = after.max(Duration::from_millis(600));
        self
    }
}

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

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    publish_failed: AtomicU64,
    dropped: AtomicU64,
    received: AtomicU64,
    missed: AtomicU64,
    malformed: AtomicU64,
    dead_nodes_cleaned: AtomicU64,
    resyncs: AtomicU64,
    appended: AtomicU64,
    stream_failed: AtomicU64,
    fences_late: AtomicU64,
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

struct Keys {
    channel: String,
    nodes: String,
    alive: String,
    /// The identities connected to this node.
    online: String,
}

struct Shared {
    config: RedisConfig,
    client: ::redis::Client,
    conn: ConnectionManager,
    /// This node's id: 16 hex digits, random.
    node: String,
    node_num: u64,
    keys: Keys,
    seq: AtomicU64,
    queue: mpsc::UnboundedSender<Vec<u8>>,
    queued_frames: AtomicUsize,
    queued_bytes: AtomicUsize,
    /// `(room, identity)` this node holds in Redis: what a resync writes back.
    held: Mutex<BTreeSet<(String, String)>>,
    /// Joins and leaves take it shared, a resync exclusively (so none is undone by it).
    membership: RwLock<()>,
    local: OnceLock<Arc<dyn LocalDelivery>>,
    /// Redis answered the last command (warnings are logged on the change only).
    healthy: AtomicBool,
    /// A resync failed: the liveness task tries again at its next tick.
    needs_resync: AtomicBool,
    /// Identities whose first connection opened or last one closed, not written yet.
    online_dirty: Mutex<HashSet<Arc<str>>>,
    online_wake: tokio::sync::Notify,
    /// The Redis server's run id when last seen: a new one means it restarted and lost state.
    run_id: Mutex<Option<String>>,
    counters: Counters,
    scripts: Scripts,
    /// Stream reads waiting for their fence to come back on the subscription, by token.
    fences: Mutex<HashMap<u64, oneshot::Sender<()>>>,
    fence_seq: AtomicU64,
}

struct Scripts {
    join: Script,
    leave: Script,
    reap: Script,
    append: Script,
    read: Script,
}

/// A `(room, identity)` entry in a node's set: the room's length first, so any room name works.
const ENTRY_LUA: &str = include_str!("membership_lib.lua");

/// ARGV: prefix, node, room, identity. Returns {first on any node (0/1), members, version}.
/// `{prefix}:version` orders joins, so a presence change can be ordered against a later join
/// on another node: it grows by one per join and is never below Redis's clock in
/// microseconds, so it keeps growing across a Redis restart that lost it.
const JOIN_LUA: &str = include_str!("membership_join.lua");

/// ARGV: prefix, node, room, identity. Returns 1 when the identity left the room on all nodes.
const LEAVE_LUA: &str = include_str!("membership_leave.lua");

/// ARGV: prefix, dead node. Returns nil if the node is alive (checked here, atomically with
/// the cleanup, so a node that just came back keeps what it wrote); else the room and identity
/// of every member that is now gone from its room, flattened.
const REAP_LUA: &str = include_str!("membership_reap.lua");

impl Scripts {
    fn new() -> Self {
        let script = |body: &str| Script::new(&format!("{ENTRY_LUA}{body}"));
        let stream = |body: &str| Script::new(&format!("{}{body}", stream::LIB_LUA));
        Scripts {
            join: script(JOIN_LUA),
            leave: script(LEAVE_LUA),
            reap: script(REAP_LUA),
            append: stream(stream::APPEND_LUA),
            read: stream(stream::READ_LUA),
        }
    }
}

fn random_node_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::collections::hash_map::RandomState::new().hash_one((nanos, std::process::id()))
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
        let node_num = random_node_id();
        let node = format!("{node_num:016x}");
        let p = &config.prefix;
        let keys = Keys {
            channel: format!("{p}:bus"),
            nodes: format!("{p}:nodes"),
            alive: format!("{p}:alive:{node}"),
            online: format!("{p}:online:{node}"),
        };
        pubsub.subscribe(&keys.channel).await.map_err(err)?;
        let (queue, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            client,
            conn,
            node,
            node_num,
            keys,
            seq: AtomicU64::new(0),
            queue,
            queued_frames: AtomicUsize::new(0),
            queued_bytes: AtomicUsize::new(0),
            held: Mutex::new(BTreeSet::new()),
            membership: RwLock::new(()),
            local: OnceLock::new(),
            healthy: AtomicBool::new(true),
            needs_resync: AtomicBool::new(false),
            online_dirty: Mutex::new(HashSet::new()),
            online_wake: tokio::sync::Notify::new(),
            run_id: Mutex::new(None),
            counters: Counters::default(),
            scripts: Scripts::new(),
            fences: Mutex::new(HashMap::new()),
            fence_seq: AtomicU64::new(0),
            config,
        });
        let first_run_id = shared.server_run_id().await.map_err(err)?;
        *lock(&shared.run_id) = Some(first_run_id);
        shared.refresh().await.map_err(err)?;
        let tasks = vec![
            tokio::spawn(Arc::clone(&shared).publisher(rx)).abort_handle(),
            tokio::spawn(Arc::clone(&shared).subscriber(pubsub)).abort_handle(),
            tokio::spawn(Arc::clone(&shared).liveness()).abort_handle(),
            tokio::spawn(Arc::clone(&shared).online_writer()).abort_handle(),
        ];
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Publication kinds on the wire.
const KIND_IDENTITY: u8 = 1;
const KIND_ROOM: u8 = 2;
const KIND_ROOM_EXCEPT_IDENTITY: u8 = 3;
const KIND_ALL: u8 = 4;
const KIND_STREAM: u8 = 5;
/// A stream read's marker, published by the read script after the read: once its node
/// receives it, every message appended before the read has been delivered there.
const KIND_FENCE: u8 = 6;
const MAGIC: &[u8; 2] = b"P1";
/// The sequence number of the append script's publications: they are ordered by their offset,
/// not by a node's sequence (which starts at 1), and the origin node delivers them too.
const STREAM_SEQ: u64 = 0;
/// Bytes before the kind: magic, node, sequence.
const KIND_AT: usize = 2 + 8 + 8;

/// `P1`, origin node (u64 LE), sequence (u64 LE), kind (u8), membership version (u64 LE),
/// two length-prefixed (u32 LE) strings (room or identity, identity or empty), then the frame.
/// A stream message has the offset in the version's place and the connection left out (on
/// the origin node) in decimal as the second string, or an empty one.
fn encode_publication(node: u64, seq: u64, target: &Target, frame: &[u8]) -> Option<Vec<u8>> {
    let except;
    let (kind, a, b, version): (u8, &str, &str, u64) = match target {
        Target::Conn(_) => return None,
        Target::Identity(identity) => (KIND_IDENTITY, identity, "", 0),
        Target::Room { room, .. } => (KIND_ROOM, room, "", 0),
        Target::RoomExceptIdentity {
            room,
            identity,
            version,
        } => (KIND_ROOM_EXCEPT_IDENTITY, room, identity, *version),
        Target::All => (KIND_ALL, "", "", 0),
        Target::Stream {
            room,
            except: left_out,
            offset,
        } => {
            except = left_out.map(|c| c.0.to_string()).unwrap_or_default();
            (KIND_STREAM, room, except.as_str(), *offset)
        }
    };
    let (head, tail) = publication_parts(node, seq, kind, a, b)?;
    let mut out = Vec::with_capacity(head.len() + 8 + tail.len() + frame.len());
    out.extend_from_slice(&head);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&tail);
    out.extend_from_slice(frame);
    Some(out)
}

/// A publication without its version and frame: what comes before the version (magic, node,
/// sequence, kind) and what comes between it and the frame (the two strings). The append
/// script puts them around the offset it assigns.
fn publication_parts(
    node: u64,
    seq: u64,
    kind: u8,
    a: &str,
    b: &str,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut head = Vec::with_capacity(KIND_AT + 1);
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&node.to_le_bytes());
    head.extend_from_slice(&seq.to_le_bytes());
    head.push(kind);
    let mut tail = Vec::with_capacity(8 + a.len() + b.len());
    for s in [a, b] {
        tail.extend_from_slice(&u32::try_from(s.len()).ok()?.to_le_bytes());
        tail.extend_from_slice(s.as_bytes());
    }
    Some((head, tail))
}

/// A fence of `node` with `token` (in the sequence's place).
fn encode_fence(node: u64, token: u64) -> Vec<u8> {
    let (head, tail) = publication_parts(node, token, KIND_FENCE, "", "").unwrap_or_default();
    [head.as_slice(), &0u64.to_le_bytes(), &tail].concat()
}

/// `(node, token)` when the payload is a fence.
fn decode_fence(payload: &[u8]) -> Option<(u64, u64)> {
    let rest = payload.strip_prefix(MAGIC)?;
    let (node, rest) = rest.split_first_chunk::<8>()?;
    let (token, rest) = rest.split_first_chunk::<8>()?;
    (rest.first() == Some(&KIND_FENCE))
        .then(|| (u64::from_le_bytes(*node), u64::from_le_bytes(*token)))
}

/// A publication read back.
#[derive(Debug, PartialEq)]
struct Publication {
    node: u64,
    seq: u64,
    target: Target,
    frame: Utf8Bytes,
}

fn decode_publication(payload: &[u8]) -> Option<Publication> {
    let rest = payload.strip_prefix(MAGIC)?;
    let (node, rest) = rest.split_first_chunk::<8>()?;
    let (seq, rest) = rest.split_first_chunk::<8>()?;
    let (&kind, rest) = rest.split_first()?;
    let (version, mut rest) = rest.split_first_chunk::<8>()?;
    let mut strings = [String::new(), String::new()];
    for s in &mut strings {
        let (len, after) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        let bytes = after.get(..len)?;
        *s = std::str::from_utf8(bytes).ok()?.to_owned();
        rest = &after[len..];
    }
    let [a, b] = strings;
    let target = match kind {
        KIND_IDENTITY => Target::Identity(Arc::from(a)),
        KIND_ROOM => Target::Room {
            room: Arc::from(a),
            except: None,
        },
        KIND_ROOM_EXCEPT_IDENTITY => Target::RoomExceptIdentity {
            room: Arc::from(a),
            identity: Arc::from(b),
            version: u64::from_le_bytes(*version),
        },
        KIND_ALL => Target::All,
        KIND_STREAM => Target::Stream {
            room: Arc::from(a),
            except: if b.is_empty() {
                None
            } else {
                Some(ConnId(b.parse().ok()?))
            },
            offset: u64::from_le_bytes(*version),
        },
        _ => return None,
    };
    let frame = Utf8Bytes::try_from(Bytes::copy_from_slice(rest)).ok()?;
    Some(Publication {
        node: u64::from_le_bytes(*node),
        seq: u64::from_le_bytes(*seq),
        target,
        frame,
    })
}

impl Shared {
    fn unhealthy(&self, what: &str, e: &::redis::RedisError) {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(url = %self.config.url, error = %e, "Redis unreachable ({what}): local delivery goes on, cross-node delivery resumes when it is back");
        } else {
            tracing::debug!(error = %e, "Redis still unreachable ({what})");
        }
    }

    fn healthy_again(&self) {
        if !self.healthy.swap(true, Ordering::Relaxed) {
            tracing::warn!(url = %self.config.url, "Redis reachable again");
        }
    }

    fn args<'a>(&'a self, room: &'a str, identity: &'a str) -> [&'a str; 4] {
        [&self.config.prefix, &self.node, room, identity]
    }

    async fn server_run_id(&self) -> Result<String, ::redis::RedisError> {
        let info: String = ::redis::cmd("INFO")
            .arg("server")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(info
            .lines()
            .find_map(|l| l.strip_prefix("run_id:"))
            .unwrap_or_default()
            .trim()
            .to_owned())
    }

    /// Refresh the liveness key; whether it had expired (this node was presumed dead, or Redis
    /// lost its data).
    async fn refresh(&self) -> Result<bool, ::redis::RedisError> {
        let ttl =
            u64::try_from(self.config.dead_node_after.as_millis() * 2 / 3).unwrap_or(u64::MAX);
        let (old, _): (Option<String>, i64) = ::redis::pipe()
            .cmd("SET")
            .arg(&self.keys.alive)
            .arg(&self.node)
            .arg("PX")
            .arg(ttl)
            .arg("GET")
            .cmd("SADD")
            .arg(&self.keys.nodes)
            .arg(&self.node)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(old.is_none())
    }

    /// Remove a dead node's memberships; the members now gone, or `None` if it is alive.
    async fn reap(&self, node: &str) -> Result<Option<Vec<(String, String)>>, ::redis::RedisError> {
        let gone: Option<Vec<String>> = self
            .scripts
            .reap
            .arg(&self.config.prefix)
            .arg(node)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(gone.map(|gone| {
            let mut it = gone.into_iter();
            std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
        }))
    }

    /// Run the join script: (first on any node, members, membership version).
    async fn join_script(
        &self,
        room: &str,
        identity: &str,
    ) -> Result<(i64, Vec<String>, u64), ::redis::RedisError> {
        self.scripts
            .join
            .arg(&self.args(room, identity)[..])
            .invoke_async(&mut self.conn.clone())
            .await
    }

    /// Run the leave script: 1 when the identity left the room on all nodes.
    async fn leave_script(&self, room: &str, identity: &str) -> Result<i64, ::redis::RedisError> {
        self.scripts
            .leave
            .arg(&self.args(room, identity)[..])
            .invoke_async(&mut self.conn.clone())
            .await
    }

    fn local(&self) -> Option<&Arc<dyn LocalDelivery>> {
        self.local.get()
    }

    /// Sends queued publications, a pipeline per batch.
    async fn publisher(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Vec<u8>>) {
        let mut batch = Vec::with_capacity(128);
        let mut backoff = Duration::from_millis(50);
        while rx.recv_many(&mut batch, 128).await > 0 {
            let bytes: usize = batch.iter().map(Vec::len).sum();
            let mut pipe = ::redis::pipe();
            for p in &batch {
                pipe.cmd("PUBLISH").arg(&self.keys.channel).arg(p).ignore();
            }
            let n = batch.len() as u64;
            let sent = pipe.query_async::<()>(&mut self.conn.clone()).await;
            // Counted as queued until sent (or lost): `shutdown` waits for this to reach 0.
            self.queued_frames.fetch_sub(batch.len(), Ordering::Relaxed);
            self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            batch.clear();
            match sent {
                Ok(()) => {
                    self.counters.published.fetch_add(n, Ordering::Relaxed);
                    self.healthy_again();
                    backoff = Duration::from_millis(50);
                }
                Err(e) => {
                    self.counters.publish_failed.fetch_add(n, Ordering::Relaxed);
                    self.unhealthy("publish", &e);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.config.max_backoff);
                }
            }
        }
    }

    /// Delivers other nodes' publications locally; resubscribes (with backoff) when the
    /// connection drops, then writes this node's memberships back.
    async fn subscriber(self: Arc<Self>, pubsub: ::redis::aio::PubSub) {
        let mut pubsub = pubsub;
        let mut last_seq: HashMap<u64, u64> = HashMap::new();
        loop {
            {
                let mut messages = pubsub.on_message();
                while let Some(msg) = messages.next().await {
                    self.receive(msg.get_payload_bytes(), &mut last_seq);
                }
            }
            self.unhealthy(
                "subscription",
                &::redis::RedisError::from(std::io::Error::other("pub/sub connection closed")),
            );
            let mut backoff = Duration::from_millis(100);
            pubsub = loop {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(self.config.max_backoff);
                match self.client.get_async_pubsub().await {
                    Ok(mut p) => match p.subscribe(&self.keys.channel).await {
                        Ok(()) => break p,
                        Err(e) => self.unhealthy("subscribe", &e),
                    },
                    Err(e) => self.unhealthy("subscribe", &e),
                }
            };
            self.healthy_again();
            self.resync().await;
        }
    }

    fn receive(&self, payload: &[u8], last_seq: &mut HashMap<u64, u64>) {
        if let Some((node, token)) = decode_fence(payload) {
            if node == self.node_num
                && let Some(waiting) = lock(&self.fences).remove(&token)
            {
                let _ = waiting.send(());
            }
            return;
        }
        let Some(mut p) = decode_publication(payload) else {
            self.counters.malformed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                bytes = payload.len(),
                "skipping a payload on the broker channel that is not a publication"
            );
            return;
        };
        if p.node != self.node_num
            && let Target::Stream { except, .. } = &mut p.target
        {
            // Connection ids are the origin node's.
            *except = None;
        }
        if p.seq == STREAM_SEQ && matches!(p.target, Target::Stream { .. }) {
            // Appended stream messages are delivered in the order Redis gave them offsets, on
            // the origin node too (it did not deliver its own); they carry no sequence number.
            if p.node != self.node_num {
                self.counters.received.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(local) = self.local() {
                local.deliver(&p.target, &p.frame);
            }
            return;
        }
        if p.node == self.node_num {
            return;
        }
        if last_seq.len() >= 1024 && !last_seq.contains_key(&p.node) {
            // Node ids are per process: forget the nodes of past restarts.
            last_seq.clear();
        }
        let prev = last_seq.insert(p.node, p.seq);
        if let Some(prev) = prev
            && p.seq > prev + 1
        {
            let missed = p.seq - prev - 1;
            self.counters.missed.fetch_add(missed, Ordering::Relaxed);
            tracing::warn!(origin = %format_args!("{:016x}", p.node), missed, "missed publications of another node");
        }
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        if let Some(local) = self.local() {
            local.deliver(&p.target, &p.frame);
        }
    }

    /// Records in `{prefix}:online:{node}` whether each changed identity is connected here,
    /// asking the hub at the time of writing (so changes out of order cannot leave it wrong).
    async fn online_writer(self: Arc<Self>) {
        loop {
            self.online_wake.notified().await;
            let changed: Vec<Arc<str>> = lock(&self.online_dirty).drain().collect();
            let Some(local) = self.local() else { continue };
            let _shared = self.membership.read().await;
            let mut pipe = ::redis::pipe();
            for identity in &changed {
                let cmd = if local.is_online(identity) {
                    "SADD"
                } else {
                    "SREM"
                };
                pipe.cmd(cmd)
                    .arg(&self.keys.online)
                    .arg(identity.as_ref())
                    .ignore();
            }
            if let Err(e) = pipe.query_async::<()>(&mut self.conn.clone()).await {
                // The resync after the outage writes the whole set again.
                self.needs_resync.store(true, Ordering::Relaxed);
                self.unhealthy("online", &e);
            }
        }
    }

    /// Refreshes this node's liveness and reaps dead nodes, every sixth of `dead_node_after`.
    async fn liveness(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.config.dead_node_after / 6);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            match self.refresh().await {
                Ok(expired) => {
                    self.healthy_again();
                    if expired {
                        tracing::warn!(node = %self.node, "this node's liveness key had expired; writing its memberships back");
                        self.resync().await;
                    } else if self.needs_resync.load(Ordering::Relaxed) {
                        self.resync().await;
                    }
                }
                Err(e) => {
                    self.unhealthy("liveness", &e);
                    continue;
                }
            }
            if let Err(e) = self.sweep().await {
                self.unhealthy("sweep", &e);
            }
        }
    }

    async fn sweep(&self) -> Result<(), ::redis::RedisError> {
        let nodes: Vec<String> = self.conn.clone().smembers(&self.keys.nodes).await?;
        for node in nodes.iter().filter(|n| **n != self.node) {
            let Some(gone) = self.reap(node).await? else {
                continue;
            };
            self.counters
                .dead_nodes_cleaned
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(dead = %node, members = gone.len(), "a node stopped refreshing its liveness; removed its members");
            if let Some(local) = self.local() {
                for (room, identity) in gone {
                    local.presence(&room, &identity, false);
                }
            }
        }
        Ok(())
    }

    /// Write this node's memberships back (after a reconnect, a Redis restart or having been
    /// presumed dead) and remove those Redis has that this node no longer holds. Presence goes
    /// online for members that had been reaped, unless Redis restarted (then nobody saw them
    /// go offline).
    async fn resync(&self) {
        let _exclusive = self.membership.write().await;
        let result: Result<(), ::redis::RedisError> = async {
            let run_id = self.server_run_id().await?;
            let restarted = lock(&self.run_id).replace(run_id.clone()) != Some(run_id);
            self.refresh().await?;
            if let Some(local) = self.local() {
                let mut pipe = ::redis::pipe();
                pipe.atomic().del(&self.keys.online).ignore();
                let online = local.online();
                if !online.is_empty() {
                    pipe.sadd(&self.keys.online, online).ignore();
                }
                pipe.query_async::<()>(&mut self.conn.clone()).await?;
            }
            let held = lock(&self.held).clone();
            for (room, identity) in &held {
                let (first, _, _) = self.join_script(room, identity).await?;
                if first == 1
                    && !restarted
                    && let Some(local) = self.local()
                {
                    local.presence(room, identity, true);
                }
            }
            let stored: Vec<String> = self
                .conn
                .clone()
                .smembers(format!("{}:node:{}", self.config.prefix, self.node))
                .await?;
            for entry in stored {
                let Some((room, identity)) = split_entry(&entry) else {
                    continue;
                };
                if held.contains(&(room.to_owned(), identity.to_owned())) {
                    continue;
                }
                let left = self.leave_script(room, identity).await?;
                if left == 1
                    && let Some(local) = self.local()
                {
                    local.presence(room, identity, false);
                }
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                self.needs_resync.store(false, Ordering::Relaxed);
                self.counters.resyncs.fetch_add(1, Ordering::Relaxed);
                tracing::info!(node = %self.node, "memberships written back to Redis");
            }
            Err(e) => {
                self.needs_resync.store(true, Ordering::Relaxed);
                self.unhealthy("resync", &e);
            }
        }
    }

    fn local_members(&self, room: &str) -> Vec<String> {
        lock(&self.held)
            .iter()
            .filter(|(r, _)| r == room)
            .map(|(_, i)| i.clone())
            .collect()
    }
}

/// The inverse of the scripts' `entry(room, id)`.
fn split_entry(entry: &str) -> Option<(&str, &str)> {
    let (len, rest) = entry.split_once(':')?;
    let len: usize = len.parse().ok()?;
    (rest.is_char_boundary(len) && len <= rest.len()).then(|| rest.split_at(len))
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
                    .map(|n| format!("{}:online:{n}", s.config.prefix))
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
            let result: Result<Vec<String>, _> = s
                .conn
                .clone()
                .hkeys(format!("{}:room:{room}", s.config.prefix))
                .await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publications_round_trip() {
        let targets = [
            Target::Identity(Arc::from("alice")),
            Target::Room {
                room: Arc::from("ro:om\n"),
                except: None,
            },
            Target::RoomExceptIdentity {
                room: Arc::from("général"),
                identity: Arc::from("bob"),
                version: 12,
            },
            Target::All,
            Target::Stream {
                room: Arc::from("r:1"),
                except: Some(crate::runtime::hub::ConnId(42)),
                offset: 1 << 40,
            },
            Target::Stream {
                room: Arc::from(""),
                except: None,
                offset: 1,
            },
        ];
        for (i, target) in targets.into_iter().enumerate() {
            let frame = r#"{"type":"x","t":"ünï"}"#;
            let bytes = encode_publication(7, i as u64, &target, frame.as_bytes()).unwrap();
            let back = decode_publication(&bytes).unwrap();
            assert_eq!(
                back,
                Publication {
                    node: 7,
                    seq: i as u64,
                    target,
                    frame: Utf8Bytes::from(frame),
                }
            );
        }
        assert!(
            encode_publication(1, 1, &Target::Conn(crate::runtime::hub::ConnId(3)), b"{}")
                .is_none()
        );
    }

    #[test]
    fn fences_are_told_apart_from_publications() {
        let fence = encode_fence(7, 99);
        assert_eq!(decode_fence(&fence), Some((7, 99)));
        assert!(decode_publication(&fence).is_none());
        let publication = encode_publication(7, 99, &Target::All, b"{}").unwrap();
        assert_eq!(decode_fence(&publication), None);
        assert_eq!(decode_fence(&fence[..KIND_AT]), None);
    }

    #[test]
    fn malformed_publications_are_refused() {
        let good = encode_publication(1, 2, &Target::All, b"{}").unwrap();
        for cut in 0..good.len() - 2 {
            assert!(decode_publication(&good[..cut]).is_none(), "cut at {cut}");
        }
        let mut bad_kind = good.clone();
        bad_kind[KIND_AT] = 9;
        assert!(decode_publication(&bad_kind).is_none());
        let mut bad_utf8 = good;
        bad_utf8.push(0xff);
        assert!(decode_publication(&bad_utf8).is_none());
    }

    #[test]
    fn entries_split_like_the_scripts_build_them() {
        assert_eq!(split_entry("5:ro:mbob"), Some(("ro:mb", "ob")));
        assert_eq!(split_entry("4:roombob"), Some(("room", "bob")));
        assert_eq!(split_entry("x:room"), None);
        assert_eq!(split_entry("9:room"), None);
    }
}
