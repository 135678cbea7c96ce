//! What a handler gets with each message: who sent it, on which connection, the request's
//! correlation id, and handles to answer, push and broadcast.

use std::sync::Arc;

use crate::hub::{ConnEntry, ConnId, Hub, Joined, Target};
use crate::outbox::SendError;
use crate::protocol::Protocol;

/// A handler's view of the connection a message came from.
///
/// `Out` is the protocol of the other direction: everything sent from here is typed.
pub struct Context<Out> {
    conn: Arc<ConnEntry>,
    hub: Hub<Out>,
    request_id: Option<u64>,
}

impl<Out> Clone for Context<Out> {
    fn clone(&self) -> Self {
        Context {
            conn: Arc::clone(&self.conn),
            hub: self.hub.clone(),
            request_id: self.request_id,
        }
    }
}

impl<Out> std::fmt::Debug for Context<Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("conn", &self.conn.id)
            .field("identity", &self.conn.identity)
            .field("request_id", &self.request_id)
            .finish()
    }
}

impl<Out: Protocol> Context<Out> {
    pub(crate) fn new(conn: Arc<ConnEntry>, hub: Hub<Out>, request_id: Option<u64>) -> Self {
        Context {
            conn,
            hub,
            request_id,
        }
    }

    /// The same connection, for a message with this correlation id.
    pub(crate) fn with_request_id(&self, request_id: Option<u64>) -> Self {
        Context {
            conn: Arc::clone(&self.conn),
            hub: self.hub.clone(),
            request_id,
        }
    }

    /// The identity the connection authenticated as.
    pub fn identity(&self) -> &str {
        &self.conn.identity
    }

    /// The identity, shared.
    pub fn identity_arc(&self) -> Arc<str> {
        Arc::clone(&self.conn.identity)
    }

    /// The connection's id.
    pub fn conn_id(&self) -> ConnId {
        self.conn.id
    }

    /// The correlation id of the message being handled, if it carried one.
    pub fn request_id(&self) -> Option<u64> {
        self.request_id
    }

    /// The registry and delivery handle.
    pub fn hub(&self) -> &Hub<Out> {
        &self.hub
    }

    /// Send a message to this connection.
    pub fn push(&self, msg: &Out) -> Result<(), SendError> {
        self.hub.send(Target::Conn(self.conn.id), msg)
    }

    /// Send a message to every connection of an identity (all of a user's devices).
    pub fn send_to(&self, identity: &str, msg: &Out) -> Result<(), SendError> {
        self.hub.send(Target::Identity(Arc::from(identity)), msg)
    }

    /// Send a message to every connection in a room except this one; encoded once.
    pub fn broadcast(&self, room: &str, msg: &Out) -> Result<(), SendError> {
        self.hub.send(
            Target::Room {
                room: Arc::from(room),
                except: Some(self.conn.id),
            },
            msg,
        )
    }

    /// Send a message to every connection in a room, this one included.
    pub fn broadcast_all(&self, room: &str, msg: &Out) -> Result<(), SendError> {
        self.hub.send(
            Target::Room {
                room: Arc::from(room),
                except: None,
            },
            msg,
        )
    }

    /// Put this connection in a room (presence goes online when it is the identity's first).
    pub async fn join(&self, room: &str) -> Joined {
        self.hub.join(self.conn.id, room).await
    }

    /// Take this connection out of a room; whether it was in it.
    pub async fn leave(&self, room: &str) -> bool {
        self.hub.leave(self.conn.id, room).await
    }

    /// Whether this connection is in a room.
    pub fn in_room(&self, room: &str) -> bool {
        self.hub.rooms_of(self.conn.id).iter().any(|r| r == room)
    }

    /// The rooms this connection is in, sorted.
    pub fn rooms(&self) -> Vec<String> {
        self.hub.rooms_of(self.conn.id)
    }

    /// The members of a room, sorted.
    pub async fn members(&self, room: &str) -> Vec<String> {
        self.hub.members(room).await
    }
}
