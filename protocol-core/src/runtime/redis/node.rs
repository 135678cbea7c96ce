//! This node's state in Redis, shared by the broker, its room streams and its background
//! tasks: the connection, the keys, the publication queue, the memberships it holds, its
//! health and counters, and the one-round-trip operations on them (liveness refresh, the
//! membership scripts, reaping).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use ::redis::aio::ConnectionManager;
use tokio::sync::{RwLock, mpsc, oneshot};

use super::config::RedisConfig;
use super::scripts::Scripts;
use super::wire::Keys;
use crate::runtime::hub::LocalDelivery;

/// The broker's counters, read out as [`RedisStats`](super::RedisStats).
#[derive(Default)]
pub(super) struct Counters {
    pub(super) published: AtomicU64,
    pub(super) publish_failed: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) received: AtomicU64,
    pub(super) missed: AtomicU64,
    pub(super) malformed: AtomicU64,
    pub(super) dead_nodes_cleaned: AtomicU64,
    pub(super) resyncs: AtomicU64,
    pub(super) appended: AtomicU64,
    pub(super) stream_failed: AtomicU64,
    pub(super) fences_late: AtomicU64,
}

/// What the broker, its room streams and its background tasks share.
pub(super) struct Shared {
    pub(super) config: RedisConfig,
    pub(super) client: ::redis::Client,
    pub(super) conn: ConnectionManager,
    /// This node's id: 16 hex digits, random.
    pub(super) node: String,
    pub(super) node_num: u64,
    pub(super) keys: Keys,
    pub(super) seq: AtomicU64,
    pub(super) queue: mpsc::UnboundedSender<Vec<u8>>,
    pub(super) queued_frames: AtomicUsize,
    pub(super) queued_bytes: AtomicUsize,
    /// `(room, identity)` this node holds in Redis: what a resync writes back.
    pub(super) held: Mutex<BTreeSet<(String, String)>>,
    /// Joins and leaves take it shared, a resync exclusively (so none is undone by it).
    pub(super) membership: RwLock<()>,
    pub(super) local: OnceLock<Arc<dyn LocalDelivery>>,
    /// Redis answered the last command (warnings are logged on the change only).
    pub(super) healthy: AtomicBool,
    /// A resync failed: the liveness task tries again at its next tick.
    pub(super) needs_resync: AtomicBool,
    /// Identities whose first connection opened or last one closed, not written yet.
    pub(super) online_dirty: Mutex<HashSet<Arc<str>>>,
    pub(super) online_wake: tokio::sync::Notify,
    /// The Redis server's run id when last seen: a new one means it restarted and lost state.
    pub(super) run_id: Mutex<Option<String>>,
    pub(super) counters: Counters,
    pub(super) scripts: Scripts,
    /// Stream reads waiting for their fence to come back on the subscription, by token.
    pub(super) fences: Mutex<HashMap<u64, oneshot::Sender<()>>>,
    pub(super) fence_seq: AtomicU64,
}

/// 64 random bits (a node id, a stream epoch).
pub(super) fn random_node_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::collections::hash_map::RandomState::new().hash_one((nanos, std::process::id()))
}

/// A lock that a panic elsewhere does not poison for the other tasks.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// A new node (with a random id) on this connection, publishing through `queue`; nothing
    /// is sent to Redis yet.
    pub(super) fn new(
        config: RedisConfig,
        client: ::redis::Client,
        conn: ConnectionManager,
        queue: mpsc::UnboundedSender<Vec<u8>>,
    ) -> Self {
        let node_num = random_node_id();
        let node = format!("{node_num:016x}");
        let keys = Keys::new(&config.prefix, &node);
        Shared {
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
        }
    }

    pub(super) fn unhealthy(&self, what: &str, e: &::redis::RedisError) {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(url = %self.config.url, error = %e, "Redis unreachable ({what}): local delivery goes on, cross-node delivery resumes when it is back");
        } else {
            tracing::debug!(error = %e, "Redis still unreachable ({what})");
        }
    }

    pub(super) fn healthy_again(&self) {
        if !self.healthy.swap(true, Ordering::Relaxed) {
            tracing::warn!(url = %self.config.url, "Redis reachable again");
        }
    }

    fn args<'a>(&'a self, room: &'a str, identity: &'a str) -> [&'a str; 4] {
        [&self.config.prefix, &self.node, room, identity]
    }

    pub(super) async fn server_run_id(&self) -> Result<String, ::redis::RedisError> {
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
    pub(super) async fn refresh(&self) -> Result<bool, ::redis::RedisError> {
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
    pub(super) async fn reap(
        &self,
        node: &str,
    ) -> Result<Option<Vec<(String, String)>>, ::redis::RedisError> {
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
    pub(super) async fn join_script(
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
    pub(super) async fn leave_script(
        &self,
        room: &str,
        identity: &str,
    ) -> Result<i64, ::redis::RedisError> {
        self.scripts
            .leave
            .arg(&self.args(room, identity)[..])
            .invoke_async(&mut self.conn.clone())
            .await
    }

    pub(super) fn local(&self) -> Option<&Arc<dyn LocalDelivery>> {
        self.local.get()
    }

    pub(super) fn local_members(&self, room: &str) -> Vec<String> {
        lock(&self.held)
            .iter()
            .filter(|(r, _)| r == room)
            .map(|(_, i)| i.clone())
            .collect()
    }
}
