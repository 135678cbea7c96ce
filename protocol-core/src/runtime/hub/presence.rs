//! Presence: the change events (an identity's first connection in a room joined, its last one
//! left), the result of a join, and the membership versions that keep a member from hearing of
//! a change its member list already reflects.

use tokio_tungstenite::tungstenite::Utf8Bytes;

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

/// The app's presence message for a change, `None` for nothing
/// ([`HubBuilder::presence`](super::HubBuilder::presence)).
pub(super) type PresenceFn<Out> = dyn Fn(&PresenceEvent) -> Option<Out> + Send + Sync;

/// A presence frame with the membership version of the change it announces.
pub(super) type VersionedFrame = (u64, Utf8Bytes);

/// The version of a membership whose join the broker has not answered yet.
pub(super) const PENDING: u64 = u64::MAX;

/// Whether a presence change of membership version `event` is news to a connection that joined
/// at `joined` (0 on either side: unknown, so yes).
pub(super) fn newer(event: u64, joined: u64) -> bool {
    event == 0 || joined == 0 || joined < event
}
