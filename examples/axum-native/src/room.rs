//! The app: one room shared by every socket (a counter and who is here), the context each
//! handler gets (`Conn`: this socket's queue and the room), and the generated handler trait
//! implemented for a context kind of our own (`AxumSocket`), not the runtime's.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use protocol_core::{ContextKind, Disconnect, ErrorCode, ErrorReply, Protocol, encode};
use tokio::sync::{Notify, mpsc};

use crate::protocol::{ClientMsgHandler, ServerMsg, ServerMsgAdded, ServerMsgWelcome};

/// The longest name `hello` accepts, in characters.
pub const MAX_NAME: usize = 32;
/// The longest text `say` accepts, in characters.
pub const MAX_TEXT: usize = 500;

/// The room every socket is in: the shared counter and the sockets, each with its outgoing
/// queue. Cheap to share (`Arc<Room>`).
#[derive(Debug)]
pub struct Room {
    state: Mutex<State>,
    queue: usize,
}

#[derive(Debug, Default)]
struct State {
    count: i64,
    next_id: u64,
    members: BTreeMap<u64, Member>,
}

#[derive(Debug)]
struct Member {
    /// Set by `hello`.
    name: Option<String>,
    tx: mpsc::Sender<Utf8Bytes>,
    /// Woken when this socket's queue overflowed: its loop closes it (slow consumer).
    overflow: Arc<Notify>,
}

impl Default for Room {
    fn default() -> Self {
        Room::new(256)
    }
}

impl Room {
    /// An empty room whose sockets each queue at most `queue` outgoing frames; a socket whose
    /// queue is full when a push arrives is closed with 1008 (slow consumer).
    pub fn new(queue: usize) -> Self {
        Room {
            state: Mutex::new(State::default()),
            queue: queue.max(1),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A handler that panicked while holding the lock left nothing half-written: every
        // change below is a single assignment or map operation.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new socket enters (not yet introduced): its context and the receiving end of its
    /// queue, which the socket's loop drains.
    pub(crate) fn enter(self: &Arc<Self>) -> (Conn, mpsc::Receiver<Utf8Bytes>, Arc<Notify>) {
        let (tx, rx) = mpsc::channel(self.queue);
        let overflow = Arc::new(Notify::new());
        let mut state = self.state();
        state.next_id += 1;
        let id = state.next_id;
        state.members.insert(
            id,
            Member {
                name: None,
                tx,
                overflow: overflow.clone(),
            },
        );
        drop(state);
        let conn = Conn {
            id,
            room: self.clone(),
        };
        (conn, rx, overflow)
    }

    /// The socket left: everyone else gets `left` if it had said `hello`.
    fn leave(&self, id: u64) -> Result<(), ErrorReply> {
        let mut state = self.state();
        match state.members.remove(&id).and_then(|m| m.name) {
            Some(name) => state.push_others(id, &ServerMsg::Left { name }),
            None => Ok(()),
        }
    }

    /// The counter now.
    pub fn count(&self) -> i64 {
        self.state().count
    }
}

impl State {
    /// Push `msg` to every introduced socket but `except`: encoded once, the bytes shared.
    /// Called with the room locked, so every socket sees the room's changes in one order.
    fn push_others(&self, except: u64, msg: &ServerMsg) -> Result<(), ErrorReply> {
        let frame = Utf8Bytes::from(
            encode(msg).map_err(|e| ErrorReply::new(ErrorCode::INTERNAL, e.to_string()))?,
        );
        for (id, member) in &self.members {
            if *id != except && member.name.is_some() {
                member.send(frame.clone());
            }
        }
        Ok(())
    }
}

impl Member {
    fn send(&self, frame: Utf8Bytes) {
        if self.tx.try_send(frame).is_err() {
            // Full (or the loop is gone): the loop closes the socket rather than lose frames.
            self.overflow.notify_one();
        }
    }
}

/// What every handler gets as `cx`: which socket this is and the room, whose table holds
/// each socket's outgoing queue (so a handler can reach its own socket and everyone else's).
#[derive(Debug)]
pub struct Conn {
    id: u64,
    room: Arc<Room>,
}

impl Conn {
    /// The room this socket is in.
    pub fn room(&self) -> &Arc<Room> {
        &self.room
    }

    fn introduced(&self, state: &State) -> Result<String, ErrorReply> {
        state
            .members
            .get(&self.id)
            .and_then(|m| m.name.clone())
            .ok_or_else(|| ErrorReply::new("not_introduced", "say hello first"))
    }
}

/// Our context kind: handlers of any protocol served on these sockets get a [`Conn`].
pub enum AxumSocket {}

impl ContextKind for AxumSocket {
    type For<Out: Protocol> = Conn;
}

/// The handlers. All their state is in the room their `cx` points at.
#[derive(Debug, Default, Clone, Copy)]
pub struct App;

fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl ClientMsgHandler<AxumSocket> for App {
    type Out = ServerMsg;

    async fn disconnected(&self, cx: &Conn, _end: &Disconnect) {
        // Nobody is left to answer: a `left` that could not be encoded is simply not sent.
        let _ = cx.room.leave(cx.id);
    }

    async fn on_hello(&self, cx: &Conn, name: String) -> Result<ServerMsgWelcome, ErrorReply> {
        if !valid_name(&name) {
            return Err(ErrorReply::invalid(
                "/name",
                format!("a name is 1 to {MAX_NAME} of A-Z a-z 0-9 _ -"),
            ));
        }
        let mut state = cx.room.state();
        if state
            .members
            .values()
            .any(|m| m.name.as_deref() == Some(&name))
        {
            return Err(
                ErrorReply::new("name_taken", format!("{name:?} is already here"))
                    .with_pointer("/name"),
            );
        }
        let Some(me) = state.members.get_mut(&cx.id) else {
            return Err(ErrorReply::new(
                ErrorCode::INTERNAL,
                "this socket left the room",
            ));
        };
        if let Some(old) = &me.name {
            return Err(ErrorReply::new(
                "already_introduced",
                format!("you are already here as {old:?}"),
            ));
        }
        me.name = Some(name.clone());
        state.push_others(cx.id, &ServerMsg::Arrived { name })?;
        let mut here: Vec<String> = state
            .members
            .values()
            .filter_map(|m| m.name.clone())
            .collect();
        here.sort();
        Ok(ServerMsgWelcome {
            count: state.count,
            here,
        })
    }

    async fn on_add(&self, cx: &Conn, by: i64) -> Result<ServerMsgAdded, ErrorReply> {
        let mut state = cx.room.state();
        let from = cx.introduced(&state)?;
        let Some(count) = state.count.checked_add(by) else {
            return Err(ErrorReply::invalid(
                "/by",
                format!("the counter ({}) would overflow", state.count),
            ));
        };
        state.count = count;
        state.push_others(cx.id, &ServerMsg::Counted { count, by, from })?;
        Ok(ServerMsgAdded { count })
    }

    async fn on_say(&self, cx: &Conn, text: String) -> Result<(), ErrorReply> {
        let state = cx.room.state();
        let from = cx.introduced(&state)?;
        if !(1..=MAX_TEXT).contains(&text.chars().count()) {
            return Err(ErrorReply::invalid(
                "/text",
                format!("say 1 to {MAX_TEXT} characters"),
            ));
        }
        state.push_others(cx.id, &ServerMsg::Said { from, text })
    }
}
