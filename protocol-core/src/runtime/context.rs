//! What a handler gets with each message: who sent it, on which connection, the request's
//! correlation id, and handles to answer, push and broadcast.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::codec::Frame;
use crate::dispatch::{Dispatch, Outcome, Runtime, decode_for_dispatch, outcome};
use crate::error::{ErrorCode, ErrorReply};
use crate::protocol::Protocol;
use crate::runtime::admit::Identity;
use crate::runtime::history::{History, Position, Since, StreamError, StreamJoin};
use crate::runtime::hub::{ConnEntry, ConnId, Hub, Inbox, Joined, Target};
use crate::runtime::outbox::SendError;

impl crate::dispatch::ContextKind for Runtime {
    type For<Out: Protocol> = Context<Out>;
}

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

    /// When the connection's credential expires (the connection is closed with close code
    /// [`TOKEN_EXPIRED`](crate::runtime::connection::TOKEN_EXPIRED) then, checked once a second).
    pub fn expires(&self) -> Option<std::time::SystemTime> {
        match self.conn.expires_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)),
        }
    }

    /// Extend the connection with a fresh credential of the same identity (a refreshed token,
    /// verified by the app, e.g. with `TokenAuth::verify`, feature `jwt`). A
    /// credential for someone else is refused with `forbidden`.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use protocol_core::{Hub, Identity, Protocol};
    ///
    /// #[derive(Protocol)]
    /// #[protocol(rename_all = "snake_case")]
    /// enum ServerMsg { Pong }
    ///
    /// let (cx, _inbox) = Hub::<ServerMsg>::new().attach("alice");
    /// let later = SystemTime::now() + Duration::from_secs(3600);
    /// cx.renew(&Identity::new("alice").expires_at(later)).unwrap();
    /// assert!(cx.expires().is_some());
    /// assert_eq!(cx.renew(&Identity::new("bob")).unwrap_err().code(), "forbidden");
    /// ```
    pub fn renew(&self, identity: &Identity) -> Result<(), ErrorReply> {
        if identity.name() != &*self.conn.identity {
            return Err(ErrorReply::new(
                ErrorCode::FORBIDDEN,
                format!(
                    "the credential is for {:?}, this connection is {:?}",
                    identity.name(),
                    &*self.conn.identity
                ),
            ));
        }
        let ms = identity.expires().map_or(0, crate::runtime::hub::unix_ms);
        self.conn.expires_ms.store(ms, Ordering::Relaxed);
        Ok(())
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
    /// Refused by the hub's limits and its join authorization: see [`Hub::join`].
    pub async fn join(&self, room: &str) -> Result<Joined, ErrorReply> {
        self.hub.join(self.conn.id, room).await
    }

    /// Publish a stream message (`#[protocol(stream)]`) into a room, for everyone in it but
    /// this connection: it is stored in the room's history and gets the room's next offset,
    /// written into its `offset` field before it is encoded. Returns its position (for the
    /// sender's reply). Messages not declared `stream` are refused: broadcast those.
    ///
    /// ```
    /// use protocol_core::{Hub, Protocol, Since};
    ///
    /// #[derive(Debug, Clone, PartialEq, Protocol)]
    /// #[protocol(rename_all = "snake_case")]
    /// enum Out {
    ///     /// Stored and numbered per room.
    ///     #[protocol(stream)]
    ///     Said { room: String, offset: u64, text: String },
    ///     Joined { room: String, epoch: String, offset: u64, recovered: Option<bool> },
    ///     Typing { room: String },
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let hub = Hub::<Out>::new();
    /// let (alice, _a) = hub.attach("alice");
    /// let (bob, mut bob_inbox) = hub.attach("bob");
    /// let announce = |_: &protocol_core::Joined, s: &protocol_core::StreamJoin| Out::Joined {
    ///     room: "r".into(), epoch: s.epoch.to_string(), offset: s.offset, recovered: s.recovered,
    /// };
    /// alice.join("r").await.unwrap();
    /// let first = bob.join_stream("r", None, announce).await.unwrap();
    /// assert_eq!((first.offset, first.recovered), (0, None));
    ///
    /// let said = |text: &str| Out::Said { room: "r".into(), offset: 0, text: text.into() };
    /// assert_eq!(alice.publish("r", said("one")).await.unwrap().offset, 1);
    /// bob.leave("r").await;
    /// alice.publish("r", said("two")).await.unwrap();
    /// alice.publish("r", said("three")).await.unwrap();
    /// assert!(alice.broadcast("r", &said("not numbered")).is_err());
    ///
    /// // Bob comes back from offset 1: "two" and "three" are replayed, then `joined`.
    /// let since = Since { epoch: first.epoch.to_string(), offset: 1 };
    /// let back = bob.join_stream("r", Some(&since), announce).await.unwrap();
    /// assert_eq!((back.offset, back.recovered, back.replayed), (3, Some(true), 2));
    /// let got: Vec<Out> = bob_inbox.drain();
    /// assert!(matches!(&got[1], Out::Said { offset: 1, .. }));
    /// assert!(matches!(&got[2], Out::Said { offset: 2, text, .. } if text == "two"));
    /// assert!(matches!(&got[3], Out::Said { offset: 3, .. }));
    /// assert!(matches!(&got[4], Out::Joined { recovered: Some(true), offset: 3, .. }));
    /// assert_eq!(got.len(), 5);
    ///
    /// let page = bob.history("r", None, 2).await.unwrap();
    /// assert_eq!(page.messages.iter().map(|m| m.0).collect::<Vec<_>>(), [2, 3]);
    /// # });
    /// ```
    pub async fn publish(&self, room: &str, msg: Out) -> Result<Position, StreamError> {
        self.hub.publish(room, Some(self.conn.id), msg).await
    }

    /// [`Context::publish`] to everyone in the room, this connection included.
    pub async fn publish_all(&self, room: &str, msg: Out) -> Result<Position, StreamError> {
        self.hub.publish(room, None, msg).await
    }

    /// Join a room's stream: with `since` (where the client left off), the messages it missed
    /// are replayed first, then `announce`'s message (the app's "joined"), then live messages,
    /// with no gap and no duplicate; see [`Hub::join_stream`]. Refused like [`Context::join`];
    /// a `since` past the room's latest offset is `invalid_message` at `/since/offset`.
    pub async fn join_stream(
        &self,
        room: &str,
        since: Option<&Since>,
        announce: impl FnOnce(&Joined, &StreamJoin) -> Out,
    ) -> Result<StreamJoin, ErrorReply> {
        self.hub
            .join_stream(self.conn.id, room, since, announce)
            .await
            .map(|(_, s)| s)
    }

    /// A page of a room's history (the latest `limit`, or the `limit` before offset
    /// `before`), oldest first; see [`Hub::history`].
    pub async fn history(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<History<Out>, StreamError> {
        self.hub.history(room, before, limit).await
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

// Building a `Context` is the context's business: the hub knows nothing of contexts, so `hub`
// does not depend on `context` (no module cycle).
impl<Out: Protocol> Hub<Out> {
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
        let inbox = Inbox::new(Arc::clone(&entry), self.clone());
        (self.context(&entry, None), inbox)
    }
}

/// Dispatch a decoded message to `handler` with the runtime's [`Context`].
pub async fn dispatch<In: Dispatch<H>, H: ?Sized>(
    handler: &H,
    cx: &Context<In::Out>,
    msg: In,
) -> Result<Option<In::Out>, ErrorReply> {
    In::dispatch(handler, cx, msg).await
}

/// Decode a frame (tag first) and dispatch it with the runtime's [`Context`]; decode failures
/// become the protocol's error replies (`invalid_json`, `unknown_type`, `invalid_message`)
/// carrying the frame's id. The hub's message authorization applies.
pub async fn dispatch_frame<In: Dispatch<H>, H: ?Sized>(
    handler: &H,
    cx: &Context<In::Out>,
    text: &str,
) -> Outcome<In::Out> {
    let Frame { id, msg } = match decode_for_dispatch::<In, In::Out>(text) {
        Ok(frame) => frame,
        Err(outcome) => return outcome,
    };
    if let Err(error) = cx.hub().authorize_message(cx.identity(), msg.type_name()) {
        return Outcome::Error { id, error };
    }
    let cx = cx.with_request_id(id);
    outcome(id, In::dispatch(handler, &cx, msg).await)
}
