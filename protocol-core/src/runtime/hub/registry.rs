//! The connection registry: who is on which socket (identity -> connections, connection ->
//! rooms), the joins whose presence version is pending, and the stream frames buffered for
//! connections joining a room with a replay.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::presence::VersionedFrame;
use crate::runtime::outbox::Outbox;

/// A connection's id, unique within a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
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

/// The hub's bookkeeping of its local connections, under one lock.
#[derive(Default)]
pub(super) struct Registry {
    pub(super) conns: HashMap<ConnId, Arc<ConnEntry>>,
    pub(super) identities: HashMap<Arc<str>, Vec<ConnId>>,
    /// room -> connection -> its identity.
    /// room -> its connections (the entries themselves: a broadcast does no lookups).
    pub(super) rooms: HashMap<Arc<str>, HashMap<ConnId, Arc<ConnEntry>>>,
    /// connection -> its rooms, with the membership version it joined at (0: unknown,
    /// [`PENDING`](super::presence::PENDING): the broker has not answered yet).
    pub(super) conn_rooms: HashMap<ConnId, HashMap<Arc<str>, u64>>,
    /// Presence changes that arrived for a connection while its join was pending: delivered
    /// or dropped when the join's version is known.
    pub(super) pending: HashMap<(ConnId, Arc<str>), Vec<VersionedFrame>>,
    /// room -> connections joining it with a stream read in progress -> the stream frames
    /// `(offset, frame)` delivered meanwhile, sent after the replay
    /// ([`Hub::join_stream`](super::Hub::join_stream)).
    pub(super) replaying: HashMap<Arc<str>, HashMap<ConnId, Vec<VersionedFrame>>>,
}

impl Registry {
    /// `conn` no longer buffers `room`'s stream frames: the frames it buffered, if it did.
    pub(super) fn stop_replaying(
        &mut self,
        room: &str,
        conn: ConnId,
    ) -> Option<Vec<VersionedFrame>> {
        let joining = self.replaying.get_mut(room)?;
        let buffered = joining.remove(&conn);
        if joining.is_empty() {
            self.replaying.remove(room);
        }
        buffered
    }

    /// Connections of `identity` in `room`.
    pub(super) fn identity_conns_in(&self, room: &str, identity: &str) -> usize {
        self.rooms.get(room).map_or(0, |m| {
            m.values().filter(|e| &*e.identity == identity).count()
        })
    }
}

/// Milliseconds since the Unix epoch, at least 1 (0 means "never" where it is stored).
pub(crate) fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH).map_or(1, |d| {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
    })
}
