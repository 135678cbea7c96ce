//! Rooms: a connection joining and leaving (limits, authorization, the pending join's
//! presence version), the presence change it announces, and the room's stream (publish, join
//! with a replay, history).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::Hub;
use super::broker::{Append, Target};
use super::presence::{Joined, PENDING, PresenceEvent, newer};
use super::registry::ConnId;
use crate::codec::encode;
use crate::error::{ErrorCode, ErrorReply};
use crate::protocol::Protocol;
use crate::runtime::history::{
    History, Position, ReadRange, Since, StreamError, StreamFrame, StreamJoin,
};

impl<Out: Protocol> Hub<Out> {
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

    /// Put a connection in a room; when it is the identity's first connection there, the
    /// presence message (if configured) goes to the room's other members.
    ///
    /// Refused, before anything changes: a room name over the limit (`invalid_message`), a
    /// connection already in as many rooms as it may be (`too_many_rooms`), and whatever the
    /// [`HubBuilder::authorize_join`](super::HubBuilder::authorize_join) hook refuses. Joining
    /// a room the connection is in already is not refused.
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

    pub(super) async fn leave_conn(&self, conn: ConnId, room: &str) -> bool {
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

    pub(super) fn presence(&self, room: &str, identity: &Arc<str>, online: bool, version: u64) {
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
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use futures_util::future::BoxFuture;

    use super::*;
    use crate::runtime::hub::{Broker, LocalDelivery};

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
