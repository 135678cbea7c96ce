//! Who is on which socket: the connection registry (identity -> connections, connection ->
//! rooms), rooms with presence, and delivery to a connection, an identity, a room or everyone.
//!
//! Delivery and room membership go through a [`Broker`]: the in-memory one serves a single node;
//! a pub/sub broker (Redis) lets several nodes share rooms without handlers changing.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::future::BoxFuture;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::codec::encode;
use crate::error::{ErrorCode, ErrorReply};
use crate::protocol::Protocol;
use crate::runtime::context::Context;
use crate::runtime::history::{
    Append, History, HistoryConfig, MemoryStreams, Position, ReadRange, Since, StreamError,
    StreamFrame, StreamJoin, StreamSlice,
};
use crate::runtime::outbox::{Outbox, SendError, SlowConsumerPolicy};

/// A connection's id, unique within a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// Where a frame goes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// One connection.
    Conn(ConnId),
    /// Every connection of an identity (all of a user's devices).
    Identity(Arc<str>),
    /// Every connection in a room, except one (usually the sender).
    Room {
        /// The room.
        room: Arc<str>,
        /// A connection to leave out.
        except: Option<ConnId>,
    },
    /// Every connection in a room except those of one identity (presence: the identity's own
    /// connections know already).
    RoomExceptIdentity {
        /// The room.
        room: Arc<str>,
        /// The identity whose connections are left out.
        identity: Arc<str>,
        /// The broker's membership version of the change announced ([`Joined::version`]);
        /// connections that joined the room at this version or later are left out too (the
        /// member list they got already reflects it). 0: nobody is left out for this reason.
        version: u64,
    },
    /// Every connection in a room, except one, for a stream message with its offset
    /// ([`Context::publish`]): a connection that is joining the room with a resume gets it
    /// after its replay, or not at all when the replay had it.
    Stream {
        /// The room.
        room: Arc<str>,
        /// A connection to leave out.
        except: Option<ConnId>,
        /// The message's offset in the room's stream.
        offset: u64,
    },
    /// Every connection.
    All,
}

/// A presence change in a room: an identity's first connection joined, or its last one left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceEvent {
    /// The room.
    pub room: String,
    /// The identity whose presence changed.
    pub identity: String,
    /// Online (joined) or offline (left).
    pub online: bool,
}

/// The result of joining a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// Whether this is the identity's first connection in the room (presence went online).
    pub first: bool,
    /// The room's members after the join, sorted.
    pub members: Vec<String>,
    /// The broker's membership version after the join (0 when the broker has none): a
    /// presence change published with an older version is already in `members`. With several
    /// nodes, a change can arrive after a later join was answered.
    pub version: u64,
}

/// This node's side of a [`Broker`]: delivery of frames to the local connections, and presence
/// changes the broker found out about on its own (another node died).
pub trait LocalDelivery: Send + Sync {
    /// Deliver an encoded frame to the local connections the target names; returns how many.
    fn deliver(&self, target: &Target, frame: &Utf8Bytes) -> usize;

    /// `identity`'s presence in `room` changed without a local join or leave (its node died, or
    /// this node's membership was restored after it had been presumed dead). The hub sends the
    /// presence message, if it has one, to the room on every node.
    fn presence(&self, room: &str, identity: &str, online: bool) {
        let _ = (room, identity, online);
    }

    /// Whether `identity` has a connection on this node now.
    fn is_online(&self, identity: &str) -> bool {
        let _ = identity;
        false
    }

    /// The identities with a connection on this node now.
    fn online(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Fan-out and room membership across nodes.
///
/// The in-memory broker ([`InMemoryBroker`]) is the default and serves one node. A pub/sub
/// implementation publishes each delivery once per node and keeps membership in shared storage.
pub trait Broker: Send + Sync + 'static {
    /// Called once when a hub is built with this broker: where frames published by other nodes
    /// go. The handle does not keep the hub alive; it delivers nothing once the hub is dropped.
    fn bind(&self, local: Arc<dyn LocalDelivery>) {
        let _ = local;
    }
    /// This node's id, unique among the nodes sharing the broker (apps use it to make ids
    /// unique across nodes).
    fn node_id(&self) -> &str {
        "n1"
    }
    /// Deliver `frame` to `target` on every node, this one included (through `local`).
    fn publish(&self, target: Target, frame: Utf8Bytes, local: &dyn LocalDelivery);
    /// `identity`'s first connection on this node opened, or its last one closed. Must not
    /// block: a broker that shares who is online records it in the background (asking
    /// [`LocalDelivery::is_online`] then, so events out of order do not matter).
    fn identity_changed(&self, identity: &Arc<str>) {
        let _ = identity;
    }
    /// The identities with a connection on any node, sorted; `None` when the broker knows only
    /// this node (the hub then answers from its registry).
    fn online(&self) -> BoxFuture<'_, Option<Vec<String>>> {
        Box::pin(async { None })
    }
    /// Record that `identity` is now in `room`; whether it was not before, and the members.
    fn join<'a>(&'a self, room: &'a str, identity: &'a str) -> BoxFuture<'a, Joined>;
    /// Record that `identity` left `room`; whether it was in it.
    fn leave<'a>(&'a self, room: &'a str, identity: &'a str) -> BoxFuture<'a, bool>;
    /// The members of a room, sorted.
    fn members<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Vec<String>>;

    /// Give a stream message the room's next offset, store it within the history limits, and
    /// deliver it as [`Target::Stream`] on every node, this one included (through `local`).
    /// Each node must deliver one room's stream messages in offset order. The default keeps no
    /// streams.
    fn append<'a>(
        &'a self,
        append: Append<'a>,
        local: &'a dyn LocalDelivery,
    ) -> BoxFuture<'a, Result<Position, StreamError>> {
        let _ = (append, local);
        Box::pin(async { Err(StreamError::Unsupported) })
    }

    /// Read a room's stored messages: at most `limit`, in the range given, oldest first, with
    /// the stream's epoch and bounds. A room without a stream gets one (a new epoch), so the
    /// position a joiner is told is the one later messages continue.
    fn read<'a>(
        &'a self,
        room: &'a str,
        range: ReadRange,
        limit: usize,
        config: &'a HistoryConfig,
    ) -> BoxFuture<'a, Result<StreamSlice, StreamError>> {
        let _ = (room, range, limit, config);
        Box::pin(async { Err(StreamError::Unsupported) })
    }
}

/// The single-node broker: delivery is local, membership and room streams live in memory.
#[derive(Debug, Default)]
pub struct InMemoryBroker {
    rooms: Mutex<HashMap<String, BTreeSet<String>>>,
    streams: MemoryStreams,
}

impl InMemoryBroker {
    fn rooms(&self) -> MutexGuard<'_, HashMap<String, BTreeSet<String>>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The room streams (their memory use, say).
    pub fn streams(&self) -> &MemoryStreams {
        &self.streams
    }
}

impl Broker for InMemoryBroker {
    fn publish(&self, target: Target, frame: Utf8Bytes, local: &dyn LocalDelivery) {
        local.deliver(&target, &frame);
    }

    fn join<'a>(&'a self, room: &'a str, identity: &'a str) -> BoxFuture<'a, Joined> {
        let mut rooms = self.rooms();
        let members = rooms.entry(room.to_owned()).or_default();
        let first = members.insert(identity.to_owned());
        let joined = Joined {
            first,
            members: members.iter().cloned().collect(),
            version: 0,
        };
        Box::pin(async move { joined })
    }

    fn leave<'a>(&'a self, room: &'a str, identity: &'a str) -> BoxFuture<'a, bool> {
        let mut rooms = self.rooms();
        let was = rooms.get_mut(room).is_some_and(|m| m.remove(identity));
        if rooms.get(room).is_some_and(BTreeSet::is_empty) {
            rooms.remove(room);
        }
        Box::pin(async move { was })
    }

    fn members<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Vec<String>> {
        let members = self
            .rooms()
            .get(room)
            .map(|m| m.iter().cloned().collect())
            .unwrap_or_default();
        Box::pin(async move { members })
    }

    fn append<'a>(
        &'a self,
        append: Append<'a>,
        local: &'a dyn LocalDelivery,
    ) -> BoxFuture<'a, Result<Position, StreamError>> {
        let position = self.streams.append(append, local);
        Box::pin(async move { Ok(position) })
    }

    fn read<'a>(
        &'a self,
        room: &'a str,
        range: ReadRange,
        limit: usize,
        config: &'a HistoryConfig,
    ) -> BoxFuture<'a, Result<StreamSlice, StreamError>> {
        let slice = self.streams.read(room, range, limit, config);
        Box::pin(async move { Ok(slice) })
    }
}

/// A live connection as the registry knows it.
pub(crate) struct ConnEntry {
    pub(crate) id: ConnId,
    pub(crate) identity: Arc<str>,
    /// When the connection's credential expires, in ms since the Unix epoch (0: never).
    pub(crate) expires_ms: AtomicU64,
    /// Inline, not behind another pointer: a broadcast touches one allocation per recipient.
    pub(crate) outbox: Outbox,
}

#[derive(Default)]
struct Registry {
    conns: HashMap<ConnId, Arc<ConnEntry>>,
    identities: HashMap<Arc<str>, Vec<ConnId>>,
    /// room -> connection -> its identity.
    /// room -> its connections (the entries themselves: a broadcast does no lookups).
    rooms: HashMap<Arc<str>, HashMap<ConnId, Arc<ConnEntry>>>,
    /// connection -> its rooms, with the membership version it joined at (0: unknown,
    /// [`PENDING`]: the broker has not answered yet).
    conn_rooms: HashMap<ConnId, HashMap<Arc<str>, u64>>,
    /// Presence changes that arrived for a connection while its join was pending: delivered
    /// or dropped when the join's version is known.
    pending: HashMap<(ConnId, Arc<str>), Vec<VersionedFrame>>,
    /// room -> connections joining it with a stream read in progress -> the stream frames
    /// `(offset, frame)` delivered meanwhile, sent after the replay ([`Hub::join_stream`]).
    replaying: HashMap<Arc<str>, HashMap<ConnId, Vec<VersionedFrame>>>,
}

/// A presence frame with the membership version of the change it announces.
type VersionedFrame = (u64, Utf8Bytes);

/// The version of a membership whose join the broker has not answered yet.
const PENDING: u64 = u64::MAX;

/// Whether a presence change of membership version `event` is news to a connection that joined
/// at `joined` (0 on either side: unknown, so yes).
fn newer(event: u64, joined: u64) -> bool {
    event == 0 || joined == 0 || joined < event
}

impl Registry {
    /// `conn` no longer buffers `room`'s stream frames: the frames it buffered, if it did.
    fn stop_replaying(&mut self, room: &str, conn: ConnId) -> Option<Vec<VersionedFrame>> {
        let joining = self.replaying.get_mut(room)?;
        let buffered = joining.remove(&conn);
        if joining.is_empty() {
            self.replaying.remove(room);
        }
        buffered
    }

    /// Connections of `identity` in `room`.
    fn identity_conns_in(&self, room: &str, identity: &str) -> usize {
        self.rooms.get(room).map_or(0, |m| {
            m.values().filter(|e| &*e.identity == identity).count()
        })
    }
}

type PresenceFn<Out> = dyn Fn(&PresenceEvent) -> Option<Out> + Send + Sync;
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

/// Counters a hub keeps; read them with [`Hub::stats`].
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections registered since start.
    pub connections_opened: AtomicU64,
    /// Connections unregistered since start.
    pub connections_closed: AtomicU64,
    /// Frames queued for delivery (one per recipient).
    pub frames_out: AtomicU64,
    /// Messages received and dispatched.
    pub messages_in: AtomicU64,
    /// Error replies sent.
    pub errors: AtomicU64,
    /// TCP connections accepted by the runtime's accept loop (own listener or
    /// [`serve_router`](crate::WsServer::serve_router)).
    pub sockets_accepted: AtomicU64,
    /// Of those, how many had `TCP_NODELAY` on when read back from the socket after setting it.
    pub sockets_nodelay: AtomicU64,
    by_code: Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Stats {
    /// Count an error reply by its code.
    pub fn record_error(&self, code: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut by_code = self.by_code.lock().unwrap_or_else(PoisonError::into_inner);
        match by_code.get_mut(code) {
            Some(n) => *n += 1,
            None => {
                by_code.insert(code.to_owned(), 1);
            }
        }
    }

    /// Error replies sent, by code.
    pub fn errors_by_code(&self) -> std::collections::BTreeMap<String, u64> {
        self.by_code
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
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

/// Milliseconds since the Unix epoch, at least 1 (0 means "never" where it is stored).
pub(crate) fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH).map_or(1, |d| {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
    })
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

    /// A context for a registered connection.
    pub(crate) fn context(&self, entry: &Arc<ConnEntry>, request_id: Option<u64>) -> Context<Out> {
        Context::new(Arc::clone(entry), self.clone(), request_id)
    }

    /// Attach a connection without a socket: for testing handlers with [`crate::dispatch()`].
    /// The returned [`Inbox`] receives what is delivered to the connection.
    ///
    /// ```
    /// use protocol_core::{Hub, Protocol};
    ///
    /// #[derive(Debug, PartialEq, Protocol)]
    /// #[protocol(rename_all = "snake_case")]
    /// enum ServerMsg {
    ///     Hello { to: String },
    /// }
    ///
    /// let hub = Hub::<ServerMsg>::new();
    /// let (cx, mut inbox) = hub.attach("alice");
    /// cx.push(&ServerMsg::Hello { to: "alice".into() }).unwrap();
    /// assert_eq!(inbox.try_recv(), Some(ServerMsg::Hello { to: "alice".into() }));
    /// ```
    pub fn attach(&self, identity: &str) -> (Context<Out>, Inbox<Out>) {
        let entry = self.register(Arc::from(identity), None);
        let inbox = Inbox {
            entry: Arc::clone(&entry),
            hub: self.clone(),
        };
        (self.context(&entry, None), inbox)
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

    /// The rooms a connection is in, sorted.
    pub fn rooms_of(&self, conn: ConnId) -> Vec<String> {
        let mut v: Vec<String> = self
            .registry()
            .conn_rooms
            .get(&conn)
            .map(|r| r.keys().map(|s| s.to_string()).collect())
            .unwrap_or_default();
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

    /// Put a connection in a room; when it is the identity's first connection there, the
    /// presence message (if configured) goes to the room's other members.
    ///
    /// Refused, before anything changes: a room name over the limit (`invalid_message`), a
    /// connection already in as many rooms as it may be (`too_many_rooms`), and whatever the
    /// [`HubBuilder::authorize_join`] hook refuses. Joining a room the connection is in
    /// already is not refused.
    pub async fn join(&self, conn: ConnId, room: &str) -> Result<Joined, ErrorReply> {
        self.join_as(conn, room, false).await
    }

    /// [`Hub::join`]; with `replay`, the connection's stream frames of the room are buffered
    /// from the moment it is in the room until [`Hub::finish_replay`].
    async fn join_as(&self, conn: ConnId, room: &str, replay: bool) -> Result<Joined, ErrorReply> {
        let max_name = self.inner.max_room_name_bytes;
        if room.len() > max_name {
            return Err(ErrorReply::new(
                ErrorCode::INVALID_MESSAGE,
                format!(
                    "the room name is {} bytes; the limit is {max_name}",
                    room.len()
                ),
            ));
        }
        if let Some(authorize) = &self.inner.authorize_join {
            let identity = self
                .registry()
                .conns
                .get(&conn)
                .map(|e| Arc::clone(&e.identity));
            if let Some(identity) = identity {
                authorize(&identity, room)?;
            }
        }
        let max_rooms = self.inner.max_rooms_per_connection;
        let joined_now = {
            let mut reg = self.registry();
            match reg.conns.get(&conn).cloned() {
                None => None,
                Some(entry) => {
                    let rooms = reg.conn_rooms.get(&conn);
                    let already_in = rooms.is_some_and(|r| r.contains_key(room));
                    if !already_in && rooms.map_or(0, HashMap::len) >= max_rooms {
                        return Err(ErrorReply::new(
                            ErrorCode::TOO_MANY_ROOMS,
                            format!(
                                "this connection is in {max_rooms} rooms, the most it may be in: leave one first"
                            ),
                        ));
                    }
                    let identity = Arc::clone(&entry.identity);
                    let room_key: Arc<str> = reg
                        .rooms
                        .get_key_value(room)
                        .map(|(k, _)| Arc::clone(k))
                        .unwrap_or_else(|| Arc::from(room));
                    let first_local = reg.identity_conns_in(room, &identity) == 0;
                    let already = reg
                        .rooms
                        .entry(Arc::clone(&room_key))
                        .or_default()
                        .insert(conn, entry)
                        .is_some();
                    let first_local = first_local && !already;
                    reg.conn_rooms
                        .entry(conn)
                        .or_default()
                        .entry(Arc::clone(&room_key))
                        .or_insert(if first_local { PENDING } else { 0 });
                    if replay {
                        reg.replaying
                            .entry(Arc::clone(&room_key))
                            .or_default()
                            .insert(conn, Vec::new());
                    }
                    Some((identity, room_key, first_local))
                }
            }
        };
        let Some((identity, room_key, first_local)) = joined_now else {
            return Ok(Joined {
                first: false,
                members: Vec::new(),
                version: 0,
            });
        };
        if !first_local {
            let members = self.inner.broker.members(room).await;
            return Ok(Joined {
                first: false,
                members,
                version: 0,
            });
        }
        let joined = self.inner.broker.join(&room_key, &identity).await;
        self.joined_at(conn, &room_key, joined.version);
        if joined.first {
            self.presence(&room_key, &identity, true, joined.version);
        }
        Ok(joined)
    }

    /// Record the version a connection joined a room at, and deliver the presence changes that
    /// arrived meanwhile and are news to it.
    fn joined_at(&self, conn: ConnId, room: &Arc<str>, version: u64) {
        let mut reg = self.registry();
        let buffered = reg.pending.remove(&(conn, Arc::clone(room)));
        let Some(v) = reg.conn_rooms.get_mut(&conn).and_then(|r| r.get_mut(room)) else {
            return;
        };
        *v = version;
        let Some(entry) = reg.conns.get(&conn) else {
            return;
        };
        for (event, frame) in buffered.into_iter().flatten() {
            if newer(event, version) {
                let _ = entry
                    .outbox
                    .push(tokio_tungstenite::tungstenite::Message::Text(frame));
            }
        }
    }

    /// Take a connection out of a room; presence goes offline when it was the identity's last.
    pub async fn leave(&self, conn: ConnId, room: &str) -> bool {
        self.leave_conn(conn, room).await
    }

    async fn leave_conn(&self, conn: ConnId, room: &str) -> bool {
        let (identity, last_local) = {
            let mut reg = self.registry();
            let Some(identity) = reg
                .rooms
                .get_mut(room)
                .and_then(|m| m.remove(&conn))
                .map(|e| Arc::clone(&e.identity))
            else {
                return false;
            };
            if reg.rooms.get(room).is_some_and(HashMap::is_empty) {
                reg.rooms.remove(room);
            }
            if let Some(r) = reg.conn_rooms.get_mut(&conn) {
                r.remove(room);
            }
            reg.pending.remove(&(conn, Arc::from(room)));
            reg.stop_replaying(room, conn);
            let last_local = reg.identity_conns_in(room, &identity) == 0;
            (identity, last_local)
        };
        if last_local && self.inner.broker.leave(room, &identity).await {
            self.presence(room, &identity, false, 0);
        }
        true
    }

    /// The members of a room (identities), sorted.
    pub async fn members(&self, room: &str) -> Vec<String> {
        self.inner.broker.members(room).await
    }

    /// The history limits of the rooms' streams.
    pub fn history_config(&self) -> &HistoryConfig {
        &self.inner.history
    }

    /// Publish a stream message (`#[protocol(stream)]`) into `room`: the broker gives it the
    /// room's next offset (written into its `offset` field), stores it and delivers it to the
    /// room's connections except `except`. Returns its position.
    pub async fn publish(
        &self,
        room: &str,
        except: Option<ConnId>,
        mut msg: Out,
    ) -> Result<Position, StreamError> {
        let type_name = msg.type_name();
        let field = msg
            .variant_meta()
            .offset_field()
            .ok_or(StreamError::NotStream(type_name))?;
        let Some(slot) = msg.__stream_offset() else {
            return Err(StreamError::NotStream(type_name));
        };
        *slot = u64::MAX;
        let frame = encode(&msg).map_err(|e| StreamError::Encode(e.to_string()))?;
        let frame = StreamFrame::split(&frame, field).ok_or_else(|| {
            StreamError::Encode(format!(
                "the field {field:?} holding the placeholder offset is not found exactly once in the encoded `{type_name}`"
            ))
        })?;
        self.inner
            .broker
            .append(
                Append {
                    room,
                    except,
                    frame,
                    config: &self.inner.history,
                },
                self,
            )
            .await
    }

    /// Join `room` as a stream: with `since`, replay the stored messages after it (when the
    /// history covers the gap), then queue `announce`'s message, then the live messages, with
    /// no gap and no duplicate. Without `since` the joiner starts at the room's latest offset.
    ///
    /// The steps: the connection enters the room with its stream frames buffered, the stream
    /// is read, and then, in one step, the replay, the announcement and the buffered frames the
    /// replay did not cover are queued and the connection goes live.
    pub async fn join_stream(
        &self,
        conn: ConnId,
        room: &str,
        since: Option<&Since>,
        announce: impl FnOnce(&Joined, &StreamJoin) -> Out,
    ) -> Result<(Joined, StreamJoin), ErrorReply> {
        let joined = self.join_as(conn, room, true).await?;
        let max = self.inner.history.max_messages;
        let range = match since {
            Some(s) => ReadRange::After(s.offset),
            None => ReadRange::Before(Some(0)),
        };
        let read = self
            .inner
            .broker
            .read(room, range, max, &self.inner.history)
            .await;
        let plan = read.and_then(|slice| {
            let recovered = since
                .map(|s| crate::runtime::history::resume_plan(s, &slice, max))
                .transpose()?;
            Ok((slice, recovered))
        });
        let (slice, recovered) = match plan {
            Ok(p) => p,
            Err(e) => {
                // The join fails whole: nothing half-done stays behind.
                self.leave_conn(conn, room).await;
                return Err(e.into());
            }
        };
        let replay = if recovered == Some(true) {
            slice.entries
        } else {
            Vec::new()
        };
        let state = StreamJoin {
            epoch: slice.epoch,
            offset: slice.last,
            recovered,
            replayed: replay.len(),
        };
        let announcement = announce(&joined, &state);
        self.finish_replay(conn, room, replay, slice.last, &announcement);
        Ok((joined, state))
    }

    /// Queue the replay, the announcement and the buffered live frames above `last`, and stop
    /// buffering; all under the registry lock, so no live frame slips in between.
    fn finish_replay(
        &self,
        conn: ConnId,
        room: &str,
        replay: Vec<(u64, Utf8Bytes)>,
        last: u64,
        announcement: &Out,
    ) {
        use tokio_tungstenite::tungstenite::Message;
        let announcement = match encode(announcement) {
            Ok(f) => Some(Utf8Bytes::from(f)),
            Err(e) => {
                tracing::error!(error = %e, "cannot encode the join announcement");
                None
            }
        };
        let mut reg = self.registry();
        let buffered = reg.stop_replaying(room, conn);
        let Some(entry) = reg.conns.get(&conn) else {
            return;
        };
        let live = crate::runtime::history::live_after(buffered.unwrap_or_default(), last);
        let n = replay.len() + usize::from(announcement.is_some()) + live.len();
        let frames = replay
            .into_iter()
            .map(|(_, f)| f)
            .chain(announcement)
            .chain(live)
            .map(Message::Text);
        if entry.outbox.push_replay(frames).is_ok() {
            self.inner
                .stats
                .frames_out
                .fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// A page of a room's history: the latest `limit` messages, or the `limit` before offset
    /// `before`, oldest first, decoded. `limit` is capped by the history's size; a `before`
    /// past the room's next offset is refused.
    pub async fn history(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<History<Out>, StreamError> {
        let limit = limit.min(self.inner.history.max_messages);
        let slice = self
            .inner
            .broker
            .read(room, ReadRange::Before(before), limit, &self.inner.history)
            .await?;
        if let Some(b) = before
            && b > slice.last + 1
        {
            return Err(StreamError::BadPosition {
                message: format!(
                    "before {b} is past the room's next offset {}",
                    slice.last + 1
                ),
                pointer: "/before",
            });
        }
        let messages = slice
            .entries
            .iter()
            .filter_map(|(offset, frame)| match crate::codec::decode::<Out>(frame) {
                Ok(m) => Some((*offset, m)),
                Err(e) => {
                    tracing::warn!(room, offset, error = %e, "a stored message does not decode; left out of the history");
                    None
                }
            })
            .collect();
        Ok(History {
            epoch: slice.epoch,
            last: slice.last,
            messages,
        })
    }

    fn presence(&self, room: &str, identity: &Arc<str>, online: bool, version: u64) {
        let Some(f) = &self.inner.presence else {
            return;
        };
        let event = PresenceEvent {
            room: room.to_owned(),
            identity: identity.to_string(),
            online,
        };
        if let Some(msg) = f(&event) {
            // Everyone else in the room: the identity's other connections know already.
            let frame = match encode(&msg) {
                Ok(f) => Utf8Bytes::from(f),
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode presence message");
                    return;
                }
            };
            self.inner.broker.publish(
                Target::RoomExceptIdentity {
                    room: Arc::from(room),
                    identity: Arc::clone(identity),
                    version,
                },
                frame,
                self,
            );
        }
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

/// What a connection attached with [`Hub::attach`] received.
pub struct Inbox<Out> {
    entry: Arc<ConnEntry>,
    hub: Hub<Out>,
}

impl<Out: Protocol> Inbox<Out> {
    /// The next frame delivered, as text.
    pub fn try_recv_text(&mut self) -> Option<String> {
        match self.entry.outbox.try_next()? {
            crate::runtime::outbox::Next::Frame(f) => {
                Some(f.into_text().map(|t| t.to_string()).unwrap_or_default())
            }
            crate::runtime::outbox::Next::Close(code, reason) => {
                Some(format!("<close {code} {reason}>"))
            }
        }
    }

    /// The next message delivered, decoded (frames that do not decode are skipped).
    pub fn try_recv(&mut self) -> Option<Out> {
        while let Some(text) = self.try_recv_text() {
            if let Ok(msg) = crate::codec::decode::<Out>(&text) {
                return Some(msg);
            }
        }
        None
    }

    /// Everything delivered so far, decoded.
    pub fn drain(&mut self) -> Vec<Out> {
        std::iter::from_fn(|| self.try_recv()).collect()
    }

    /// The connection's id.
    pub fn conn_id(&self) -> ConnId {
        self.entry.id
    }

    /// Disconnect: leave every room (presence goes offline) and unregister.
    pub async fn disconnect(self) {
        self.hub.unregister(self.entry.id).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, crate::Protocol)]
    #[protocol(rename_all = "snake_case")]
    enum Out {
        Presence { user: String, online: bool },
    }

    /// A broker whose joins answer with a chosen version once released, so a presence change
    /// from "another node" can arrive while a join is pending.
    struct GatedBroker {
        gate: tokio::sync::Semaphore,
        next_version: AtomicU64,
    }

    impl Broker for GatedBroker {
        fn publish(&self, target: Target, frame: Utf8Bytes, local: &dyn LocalDelivery) {
            local.deliver(&target, &frame);
        }
        fn join<'a>(&'a self, _room: &'a str, _identity: &'a str) -> BoxFuture<'a, Joined> {
            Box::pin(async move {
                self.gate.acquire().await.expect("open").forget();
                Joined {
                    first: true,
                    members: Vec::new(),
                    version: self.next_version.load(Ordering::Relaxed),
                }
            })
        }
        fn leave<'a>(&'a self, _room: &'a str, _identity: &'a str) -> BoxFuture<'a, bool> {
            Box::pin(async { true })
        }
        fn members<'a>(&'a self, _room: &'a str) -> BoxFuture<'a, Vec<String>> {
            Box::pin(async { Vec::new() })
        }
    }

    fn remote_presence(hub: &Hub<Out>, user: &str, version: u64) {
        let frame = Utf8Bytes::from(
            encode(&Out::Presence {
                user: user.into(),
                online: true,
            })
            .unwrap(),
        );
        hub.deliver(
            &Target::RoomExceptIdentity {
                room: Arc::from("r"),
                identity: Arc::from(user),
                version,
            },
            &frame,
        );
    }

    #[tokio::test]
    async fn presence_older_than_a_join_is_not_delivered_to_it_even_while_pending() {
        let broker = Arc::new(GatedBroker {
            gate: tokio::sync::Semaphore::new(0),
            next_version: AtomicU64::new(0),
        });
        let hub: Hub<Out> = Hub::builder()
            .broker(Arc::clone(&broker) as Arc<dyn Broker>)
            .build();
        let (bob, mut inbox) = hub.attach("bob");
        broker.next_version.store(10, Ordering::Relaxed);
        let join = tokio::spawn({
            let bob = bob.clone();
            async move { bob.join("r").await }
        });
        tokio::task::yield_now().await;
        // While bob's join is pending: a change from before it (9) and one after it (11).
        remote_presence(&hub, "alice", 9);
        remote_presence(&hub, "carol", 11);
        assert_eq!(inbox.try_recv(), None, "held while the join is pending");
        broker.gate.add_permits(1);
        assert_eq!(join.await.unwrap().unwrap().version, 10);
        // Only the change newer than bob's join reaches him; later ones are filtered the same.
        remote_presence(&hub, "dave", 8);
        remote_presence(&hub, "erin", 12);
        remote_presence(&hub, "frank", 0);
        let users: Vec<String> = inbox
            .drain()
            .into_iter()
            .map(|Out::Presence { user, .. }| user)
            .collect();
        assert_eq!(users, ["carol", "erin", "frank"]);
    }
}
