//! Brokers: where a frame goes ([`Target`]), this node's side of delivery ([`LocalDelivery`]),
//! the [`Broker`] trait for fan-out, membership and room streams across nodes, and the
//! single-node [`InMemoryBroker`].

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::future::BoxFuture;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::presence::Joined;
use super::registry::ConnId;
use crate::runtime::history::{
    HistoryConfig, MemoryStreams, Position, ReadRange, StreamError, StreamFrame, StreamSlice,
};

/// A message to append to a room's stream ([`Broker::append`]).
#[derive(Debug)]
pub struct Append<'a> {
    /// The room.
    pub room: &'a str,
    /// A connection the live delivery leaves out (the sender, who gets a reply instead).
    pub except: Option<ConnId>,
    /// The encoded message, without its offset.
    pub frame: StreamFrame,
    /// The history limits.
    pub config: &'a HistoryConfig,
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
    /// ([`Context::publish`](crate::Context::publish)): a connection that is joining the room
    /// with a resume gets it after its replay, or not at all when the replay had it.
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
        let Append {
            room,
            except,
            frame,
            config,
        } = append;
        let position = self
            .streams
            .append(room, frame, config, |room, offset, frame| {
                local.deliver(
                    &Target::Stream {
                        room,
                        except,
                        offset,
                    },
                    frame,
                );
            });
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
