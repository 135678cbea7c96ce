//! Who is on which socket: the connection registry (identity -> connections, connection ->
//! rooms), rooms with presence, and delivery to a connection, an identity, a room or everyone.
//!
//! Delivery and room membership go through a [`Broker`]: the in-memory one serves a single node;
//! a pub/sub broker (Redis) lets several nodes share rooms without handlers changing.
//!
//! One concept per file: [`Hub`] and its builder here (registering connections, delivering
//! frames); `registry` (who is on which socket), `rooms` (join, leave, room streams),
//! `presence` (presence events and membership versions), `broker` (the [`Broker`] trait and
//! the [`InMemoryBroker`]), `stats` ([`Stats`]) and `inbox` ([`Inbox`]).

mod broker;
mod inbox;
mod presence;
mod registry;
mod rooms;
mod stats;

pub use broker::{Append, Broker, InMemoryBroker, LocalDelivery, Target};
pub use inbox::Inbox;
pub use presence::{Joined, PresenceEvent};
pub use registry::ConnId;
pub(crate) use registry::{ConnEntry, unix_ms};
pub use stats::Stats;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::codec::encode;
use crate::error::ErrorReply;
use crate::protocol::Protocol;
use crate::runtime::history::HistoryConfig;
use crate::runtime::outbox::{Outbox, SendError, SlowConsumerPolicy};
use presence::{PENDING, PresenceFn, newer};
use registry::Registry;

/// `(identity, room)`: may this identity join this room?
type AuthorizeJoinFn = dyn Fn(&str, &str) -> Result<(), ErrorReply> + Send + Sync;
/// `(identity, message type)`: may this identity send messages of this type?
type AuthorizeMessageFn = dyn Fn(&str, &str) -> Result<(), ErrorReply> + Send + Sync;

struct HubInner<Out> {
    registry: Mutex<Registry>,
    count: tokio::sync::watch::Sender<usize>,
    broker: Arc<dyn Broker>,
    presence: Option<Box<PresenceFn<Out>>>,
    next_conn: AtomicU64,
    queue_capacity: usize,
    slow_consumer: SlowConsumerPolicy,
    stats: Stats,
    authorize_join: Option<Box<AuthorizeJoinFn>>,
    authorize_message: Option<Box<AuthorizeMessageFn>>,
    max_rooms_per_connection: usize,
    max_room_name_bytes: usize,
    history: HistoryConfig,
}

/// The registry and delivery handle shared by a server, its connections and handler contexts.
/// Cheap to clone.
pub struct Hub<Out> {
    inner: Arc<HubInner<Out>>,
}

impl<Out> Clone for Hub<Out> {
    fn clone(&self) -> Self {
        Hub {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<Out: Protocol> Default for Hub<Out> {
    fn default() -> Self {
        HubBuilder::new().build()
    }
}

/// Builds a [`Hub`]: broker, presence messages, per-connection queue limits.
pub struct HubBuilder<Out> {
    broker: Arc<dyn Broker>,
    presence: Option<Box<PresenceFn<Out>>>,
    queue_capacity: usize,
    slow_consumer: SlowConsumerPolicy,
    authorize_join: Option<Box<AuthorizeJoinFn>>,
    authorize_message: Option<Box<AuthorizeMessageFn>>,
    max_rooms_per_connection: usize,
    max_room_name_bytes: usize,
    history: HistoryConfig,
}

impl<Out: Protocol> HubBuilder<Out> {
    /// In-memory broker, no presence messages, 256 frames per connection queue, close slow
    /// consumers, everyone may join every room and send every message, at most 100 rooms per
    /// connection and 256-byte room names.
    pub fn new() -> Self {
        HubBuilder {
            broker: Arc::new(InMemoryBroker::default()),
            presence: None,
            queue_capacity: 256,
            slow_consumer: SlowConsumerPolicy::Close,
            authorize_join: None,
            authorize_message: None,
            max_rooms_per_connection: 100,
            max_room_name_bytes: 256,
            history: HistoryConfig::default(),
        }
    }

    /// How much history each room's stream keeps (default: 1,000 messages and 24 h per room,
    /// 256 MiB in memory for all rooms): what a resume can replay and `history` can read.
    pub fn history(mut self, config: HistoryConfig) -> Self {
        self.history = config;
        self
    }

    /// Decide who may join which room. Checked by [`Hub::join`] (and so by
    /// [`Context::join`](crate::Context::join)) on every node before any membership or presence
    /// changes, so no handler can forget it; a refusal is the join's error.
    ///
    /// ```
    /// use protocol_core::{ErrorReply, Hub, Protocol};
    ///
    /// #[derive(Protocol)]
    /// #[protocol(rename_all = "snake_case")]
    /// enum ServerMsg { Pong }
    ///
    /// let hub = Hub::<ServerMsg>::builder()
    ///     .authorize_join(|identity, room| match room.strip_prefix("private:") {
    ///         Some(owner) if owner != identity => Err(ErrorReply::new("forbidden", "not your room")),
    ///         _ => Ok(()),
    ///     })
    ///     .build();
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (alice, _inbox) = hub.attach("alice");
    /// assert!(alice.join("private:alice").await.is_ok());
    /// assert_eq!(alice.join("private:bob").await.unwrap_err().code(), "forbidden");
    /// assert!(!alice.in_room("private:bob"));
    /// # });
    /// ```
    pub fn authorize_join(
        mut self,
        f: impl Fn(&str, &str) -> Result<(), ErrorReply> + Send + Sync + 'static,
    ) -> Self {
        self.authorize_join = Some(Box::new(f));
        self
    }

    /// Decide who may send which message type (by wire name), checked before the handler
    /// runs; a refusal is answered as the message's error reply.
    pub fn authorize_message(
        mut self,
        f: impl Fn(&str, &str) -> Result<(), ErrorReply> + Send + Sync + 'static,
    ) -> Self {
        self.authorize_message = Some(Box::new(f));
        self
    }

    /// Rooms one connection may be in at once; joining one more is refused with
    /// `too_many_rooms`. Default 100.
    pub fn max_rooms_per_connection(mut self, rooms: usize) -> Self {
        self.max_rooms_per_connection = rooms;
        self
    }

    /// Longest room name, in bytes; longer is refused with `invalid_message`. Default 256.
    pub fn max_room_name_bytes(mut self, bytes: usize) -> Self {
        self.max_room_name_bytes = bytes;
        self
    }

    /// Use another broker (e.g. Redis pub/sub for several nodes).
    pub fn broker(mut self, broker: Arc<dyn Broker>) -> Self {
        self.broker = broker;
        self
    }

    /// The message other room members get when someone's presence changes (`None`: nothing).
    pub fn presence(
        mut self,
        f: impl Fn(&PresenceEvent) -> Option<Out> + Send + Sync + 'static,
    ) -> Self {
        self.presence = Some(Box::new(f));
        self
    }

    /// Frames a connection may have queued before its slow-consumer policy applies.
    pub fn queue_capacity(mut self, frames: usize) -> Self {
        self.queue_capacity = frames.max(1);
        self
    }

    /// What to do with a connection whose queue is full.
    pub fn slow_consumer(mut self, policy: SlowConsumerPolicy) -> Self {
        self.slow_consumer = policy;
        self
    }

    /// The hub.
    pub fn build(self) -> Hub<Out> {
        let hub = Hub {
            inner: Arc::new(HubInner {
                registry: Mutex::new(Registry::default()),
                count: tokio::sync::watch::Sender::new(0),
                broker: self.broker,
                presence: self.presence,
                next_conn: AtomicU64::new(1),
                queue_capacity: self.queue_capacity,
                slow_consumer: self.slow_consumer,
                stats: Stats::default(),
                authorize_join: self.authorize_join,
                authorize_message: self.authorize_message,
                max_rooms_per_connection: self.max_rooms_per_connection,
                max_room_name_bytes: self.max_room_name_bytes,
                history: self.history,
            }),
        };
        hub.inner.broker.bind(Arc::new(WeakHub {
            inner: Arc::downgrade(&hub.inner),
        }));
        hub
    }
}

/// What a broker holds of its hub: delivery without keeping the hub alive.
struct WeakHub<Out> {
    inner: std::sync::Weak<HubInner<Out>>,
}

impl<Out: Protocol> WeakHub<Out> {
    fn hub(&self) -> Option<Hub<Out>> {
        self.inner.upgrade().map(|inner| Hub { inner })
    }
}

impl<Out: Protocol> LocalDelivery for WeakHub<Out> {
    fn deliver(&self, target: &Target, frame: &Utf8Bytes) -> usize {
        self.hub().map_or(0, |hub| hub.deliver(target, frame))
    }

    fn presence(&self, room: &str, identity: &str, online: bool) {
        if let Some(hub) = self.hub() {
            hub.presence(room, &Arc::from(identity), online, 0);
        }
    }

    fn is_online(&self, identity: &str) -> bool {
        self.hub()
            .is_some_and(|hub| hub.identity_connection_count(identity) > 0)
    }

    fn online(&self) -> Vec<String> {
        self.hub().map(|hub| hub.online()).unwrap_or_default()
    }
}

impl<Out: Protocol> Default for HubBuilder<Out> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Out: Protocol> Hub<Out> {
    /// A hub with the defaults of [`HubBuilder::new`].
    pub fn new() -> Self {
        HubBuilder::new().build()
    }

    /// Configure a hub.
    pub fn builder() -> HubBuilder<Out> {
        HubBuilder::new()
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The hub's counters.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// Register a connection for `identity`; it receives what is delivered to it through the
    /// returned outbox.
    pub(crate) fn register(
        &self,
        identity: Arc<str>,
        expires: Option<std::time::SystemTime>,
    ) -> Arc<ConnEntry> {
        self.register_with(identity, expires, self.inner.queue_capacity)
    }

    /// Frames a connection attached to this hub may have queued ([`HubBuilder::queue_capacity`]).
    pub fn queue_capacity(&self) -> usize {
        self.inner.queue_capacity
    }

    /// [`Hub::register`] with a queue of `capacity` frames (a server's
    /// [`Limits::queue_capacity`](crate::Limits::queue_capacity)).
    pub(crate) fn register_with(
        &self,
        identity: Arc<str>,
        expires: Option<std::time::SystemTime>,
        capacity: usize,
    ) -> Arc<ConnEntry> {
        let id = ConnId(self.inner.next_conn.fetch_add(1, Ordering::Relaxed));
        let outbox = Outbox::new(capacity, self.inner.slow_consumer);
        let entry = Arc::new(ConnEntry {
            id,
            identity: Arc::clone(&identity),
            expires_ms: AtomicU64::new(expires.map_or(0, unix_ms)),
            outbox,
        });
        let mut reg = self.registry();
        reg.conns.insert(id, Arc::clone(&entry));
        let conns = reg.identities.entry(Arc::clone(&identity)).or_default();
        conns.push(id);
        let first = conns.len() == 1;
        self.inner.count.send_replace(reg.conns.len());
        drop(reg);
        if first {
            self.inner.broker.identity_changed(&identity);
        }
        self.inner
            .stats
            .connections_opened
            .fetch_add(1, Ordering::Relaxed);
        entry
    }

    /// Remove a connection: it leaves its rooms (presence goes offline where it was the
    /// identity's last connection) and stops receiving.
    pub(crate) async fn unregister(&self, id: ConnId) {
        let rooms: Vec<Arc<str>> = {
            let reg = self.registry();
            reg.conn_rooms
                .get(&id)
                .map(|r| r.keys().cloned().collect())
                .unwrap_or_default()
        };
        for room in rooms {
            self.leave_conn(id, &room).await;
        }
        let mut reg = self.registry();
        let mut gone = None;
        if let Some(entry) = reg.conns.remove(&id) {
            if let Some(list) = reg.identities.get_mut(&entry.identity) {
                list.retain(|c| *c != id);
                if list.is_empty() {
                    reg.identities.remove(&entry.identity);
                    gone = Some(Arc::clone(&entry.identity));
                }
            }
            // The connection's writer sends what is queued and the close frame.
            entry.outbox.close(1001, "going away", true);
            self.inner
                .stats
                .connections_closed
                .fetch_add(1, Ordering::Relaxed);
        }
        reg.conn_rooms.remove(&id);
        self.inner.count.send_replace(reg.conns.len());
        drop(reg);
        if let Some(identity) = gone {
            self.inner.broker.identity_changed(&identity);
        }
    }

    /// Watch the number of live connections (tests wait on it instead of sleeping).
    pub fn watch_connections(&self) -> tokio::sync::watch::Receiver<usize> {
        self.inner.count.subscribe()
    }

    /// Number of live connections.
    pub fn connection_count(&self) -> usize {
        self.registry().conns.len()
    }

    /// Number of live connections of an identity.
    pub fn identity_connection_count(&self, identity: &str) -> usize {
        self.registry().identities.get(identity).map_or(0, Vec::len)
    }

    /// Identities with a connection on any node, sorted: through the broker when it shares
    /// who is online (Redis), else the same as [`Hub::online`].
    pub async fn online_everywhere(&self) -> Vec<String> {
        match self.inner.broker.online().await {
            Some(all) => all,
            None => self.online(),
        }
    }

    /// Identities with at least one live connection on this node, sorted.
    pub fn online(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .registry()
            .identities
            .keys()
            .map(|k| k.to_string())
            .collect();
        v.sort();
        v
    }

    /// Encode once and deliver to a target (on every node, through the broker).
    pub fn send(&self, target: Target, msg: &Out) -> Result<(), SendError> {
        if msg.is_stream() && !matches!(target, Target::Conn(_) | Target::Identity(_)) {
            tracing::error!(
                r#type = msg.type_name(),
                "a stream message sent to a room without its offset: publish it instead"
            );
            return Err(SendError::StreamMessage);
        }
        let frame = encode(msg).map_err(|_| SendError::Encode)?;
        self.send_frame(target, Utf8Bytes::from(frame));
        Ok(())
    }

    /// Deliver an already encoded frame.
    pub fn send_frame(&self, target: Target, frame: Utf8Bytes) {
        self.inner.broker.publish(target, frame, self);
    }

    /// Whether `identity` may send a message of type `type_name` (the
    /// [`HubBuilder::authorize_message`] hook; everything is allowed without one).
    pub fn authorize_message(&self, identity: &str, type_name: &str) -> Result<(), ErrorReply> {
        match &self.inner.authorize_message {
            Some(f) => f(identity, type_name),
            None => Ok(()),
        }
    }

    /// The history limits of the rooms' streams.
    pub fn history_config(&self) -> &HistoryConfig {
        &self.inner.history
    }

    /// The node id of the hub's broker (unique among nodes sharing it).
    pub fn node_id(&self) -> &str {
        self.inner.broker.node_id()
    }

    fn deliver_local(&self, target: &Target, frame: &Utf8Bytes) -> usize {
        let mut reg = self.registry();
        let mut pending = Vec::new();
        let mut n = 0;
        let mut send = |entry: &ConnEntry| match entry
            .outbox
            .push(tokio_tungstenite::tungstenite::Message::Text(frame.clone()))
        {
            Ok(()) => n += 1,
            Err(SendError::SlowConsumer) => {
                tracing::warn!(conn = %entry.id, identity = %entry.identity, "slow consumer: queue full, closing");
            }
            Err(_) => {}
        };
        match target {
            Target::Conn(id) => {
                if let Some(e) = reg.conns.get(id) {
                    send(e);
                }
            }
            Target::Identity(identity) => {
                for id in reg.identities.get(identity).into_iter().flatten() {
                    if let Some(e) = reg.conns.get(id) {
                        send(e);
                    }
                }
            }
            Target::Room { room, except } => {
                for (id, e) in reg.rooms.get(room).into_iter().flatten() {
                    if Some(*id) != *except {
                        send(e);
                    }
                }
            }
            Target::RoomExceptIdentity {
                room,
                identity,
                version,
            } => {
                for e in reg.rooms.get(room).into_iter().flatten().map(|(_, e)| e) {
                    if e.identity == *identity {
                        continue;
                    }
                    let joined = reg
                        .conn_rooms
                        .get(&e.id)
                        .and_then(|r| r.get(room))
                        .copied()
                        .unwrap_or(0);
                    if joined == PENDING && *version != 0 {
                        pending.push(e.id);
                    } else if newer(*version, joined) {
                        send(e);
                    }
                }
            }
            Target::Stream {
                room,
                except,
                offset,
            } => {
                let Registry {
                    rooms, replaying, ..
                } = &mut *reg;
                let mut joining = replaying.get_mut(room);
                for (id, e) in rooms.get(room).into_iter().flatten() {
                    if Some(*id) == *except {
                        continue;
                    }
                    match joining.as_mut().and_then(|j| j.get_mut(id)) {
                        Some(buffer) => buffer.push((*offset, frame.clone())),
                        None => send(e),
                    }
                }
            }
            Target::All => {
                for e in reg.conns.values() {
                    send(e);
                }
            }
        }
        if let Target::RoomExceptIdentity { room, version, .. } = target {
            for id in pending {
                reg.pending
                    .entry((id, Arc::clone(room)))
                    .or_default()
                    .push((*version, frame.clone()));
            }
        }
        drop(reg);
        self.inner
            .stats
            .frames_out
            .fetch_add(n as u64, Ordering::Relaxed);
        n
    }
}

impl<Out: Protocol> LocalDelivery for Hub<Out> {
    fn deliver(&self, target: &Target, frame: &Utf8Bytes) -> usize {
        self.deliver_local(target, frame)
    }

    fn presence(&self, room: &str, identity: &str, online: bool) {
        Hub::presence(self, room, &Arc::from(identity), online, 0);
    }

    fn is_online(&self, identity: &str) -> bool {
        self.identity_connection_count(identity) > 0
    }

    fn online(&self) -> Vec<String> {
        Hub::online(self)
    }
}
