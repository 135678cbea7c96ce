//! The chat wire contract (`../shared/ARCHITECTURE.md`, "Chat example: wire contract") hand-rolled
//! on tokio-tungstenite the way its users write it: `accept_hdr_async` with default settings
//! (only the contract's 64 KiB message limit; `TCP_NODELAY` as Node's ws and uWebSockets set it), `serde_json::Value` and if/else routing (replies from a serde `tag = "type"` enum), one
//! writer task and unbounded channel per connection, shared state behind a mutex, and per room a
//! `VecDeque` of its last 1,000 messages (24 h) with a counter for their offsets, for resume
//! (`join` with `since`) and `history` ("Resume and history"). A peer for `ratios peers`;
//! checked by `bench/tests/peers.rs`.
//!
//! `tt-peer --listen 127.0.0.1:0` prints `listening on http://ADDR`.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error, Message};

const MAX_TEXT: usize = 4000;
const KEEP_AUTHORS: usize = 10_000;
const KEEP_MESSAGES: usize = 1000;
const KEEP_FOR: Duration = Duration::from_secs(24 * 60 * 60);
const MAX_HISTORY: u64 = 100;
const DEFAULT_HISTORY: u64 = 50;

#[derive(Default)]
struct State {
    /// The history lives in this process only: a restart loses it, so the epoch is drawn at
    /// start. Message ids carry it too, so they never repeat across restarts.
    epoch: String,
    next_conn: u64,
    next_message: u64,
    conns: HashMap<u64, Conn>,
    /// room -> user -> that user's connections in the room.
    rooms: HashMap<String, HashMap<String, HashSet<u64>>>,
    users: HashMap<String, HashSet<u64>>,
    /// message id -> (room, author), the most recent ones.
    authors: HashMap<String, (String, String)>,
    author_order: VecDeque<String>,
    streams: HashMap<String, Stream>,
}

/// A room's messages: the latest offset, and the last ones kept, oldest first.
#[derive(Default)]
struct Stream {
    offset: u64,
    messages: VecDeque<Stored>,
}

struct Stored {
    message_id: String,
    offset: u64,
    from: String,
    text: String,
    at: Instant,
}

impl Stream {
    /// Forget what is older than a day.
    fn expire(&mut self) {
        while self
            .messages
            .front()
            .is_some_and(|m| m.at.elapsed() >= KEEP_FOR)
        {
            self.messages.pop_front();
        }
    }
}

/// Sixteen hex digits that differ from run to run: std seeds `RandomState` from the OS.
fn draw_epoch() -> String {
    use std::hash::BuildHasher;
    let drawn = std::collections::hash_map::RandomState::new().hash_one(0u8);
    format!("{drawn:016x}")
}

struct Conn {
    user: String,
    tx: UnboundedSender<Message>,
    rooms: HashSet<String>,
}

type Shared = Arc<Mutex<State>>;

fn valid_user(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn user_of(req: &Request) -> Option<String> {
    if req.uri().path() != "/ws" {
        return None;
    }
    let query = req.uri().query()?;
    let user = query.split('&').find_map(|kv| kv.strip_prefix("user="))?;
    valid_user(user).then(|| user.to_owned())
}

/// What the server sends, tagged by `type` (written first).
#[derive(Serialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
enum Out<'a> {
    Joined {
        room: &'a str,
        members: BTreeSet<&'a String>,
        epoch: &'a str,
        offset: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        recovered: Option<bool>,
    },
    Presence {
        room: &'a str,
        user: &'a str,
        online: bool,
    },
    Sent {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a Value>,
        message_id: &'a str,
        offset: u64,
    },
    Message {
        message_id: &'a str,
        offset: u64,
        room: &'a str,
        from: &'a str,
        text: &'a str,
    },
    History {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a Value>,
        room: &'a str,
        epoch: &'a str,
        messages: Vec<Entry<'a>>,
    },
    Read {
        message_id: &'a str,
        by: &'a str,
    },
    Typing {
        room: &'a str,
        user: &'a str,
        active: bool,
    },
    Error {
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pointer: Option<&'a str>,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    message_id: &'a str,
    offset: u64,
    from: &'a str,
    text: &'a str,
}

fn push_of<'a>(room: &'a str, m: &'a Stored) -> Out<'a> {
    Out::Message {
        message_id: &m.message_id,
        offset: m.offset,
        room,
        from: &m.from,
        text: &m.text,
    }
}

fn error<'a>(
    id: Option<&'a Value>,
    code: &'a str,
    message: &'a str,
    pointer: Option<&'a str>,
) -> Out<'a> {
    Out::Error {
        code,
        message,
        id,
        pointer,
    }
}

fn text_of(msg: &Out<'_>) -> Message {
    Message::text(serde_json::to_string(msg).expect("server messages serialize"))
}

impl State {
    fn send(&self, conn: u64, msg: &Out<'_>) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.tx.send(text_of(msg));
        }
    }

    /// Answer a request with an error about the field at `pointer`.
    fn reject(&self, conn: u64, id: Option<&Value>, code: &str, message: &str, pointer: &str) {
        self.send(conn, &error(id, code, message, Some(pointer)));
    }

    fn to_room(&self, room: &str, msg: &Out<'_>, except: Option<u64>) {
        let Some(members) = self.rooms.get(room) else {
            return;
        };
        let text = text_of(msg);
        for conns in members.values() {
            for id in conns {
                if Some(*id) != except
                    && let Some(c) = self.conns.get(id)
                {
                    let _ = c.tx.send(text.clone());
                }
            }
        }
    }

    fn leave(&mut self, conn: u64, room: &str) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.rooms.remove(room) {
            return;
        }
        let user = c.user.clone();
        let Some(members) = self.rooms.get_mut(room) else {
            return;
        };
        if let Some(conns) = members.get_mut(&user) {
            conns.remove(&conn);
            if conns.is_empty() {
                members.remove(&user);
                if members.is_empty() {
                    self.rooms.remove(room);
                } else {
                    let presence = Out::Presence {
                        room,
                        user: &user,
                        online: false,
                    };
                    self.to_room(room, &presence, None);
                }
            }
        }
    }

    fn handle(&mut self, conn: u64, text: &str) {
        let msg: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                return self.send(
                    conn,
                    &error(None, "invalid_json", &format!("not JSON: {e}"), None),
                );
            }
        };
        if !msg.is_object() {
            return self.send(
                conn,
                &error(None, "invalid_message", "expected an object", None),
            );
        }
        let id = msg.get("id").filter(|v| v.is_u64());
        let user = self.conns[&conn].user.clone();
        let room = msg.get("room").and_then(Value::as_str);
        let ty = msg.get("type").and_then(Value::as_str).unwrap_or("");
        let needs_room = matches!(ty, "join" | "message" | "typing" | "leave" | "history");
        let Some(room) = room.or(if needs_room { None } else { Some("") }) else {
            return self.reject(
                conn,
                id,
                "invalid_message",
                "room must be a string",
                "/room",
            );
        };
        let member = self.conns[&conn].rooms.contains(room);

        if ty == "join" {
            let since = match msg.get("since") {
                None | Some(Value::Null) => None,
                Some(Value::Object(since)) => {
                    let Some(epoch) = since.get("epoch").and_then(Value::as_str) else {
                        return self.reject(
                            conn,
                            id,
                            "invalid_message",
                            "epoch must be a string",
                            "/since/epoch",
                        );
                    };
                    let Some(offset) = since.get("offset").and_then(Value::as_u64) else {
                        return self.reject(
                            conn,
                            id,
                            "invalid_message",
                            "offset must be a whole number",
                            "/since/offset",
                        );
                    };
                    Some((epoch, offset))
                }
                Some(_) => {
                    return self.reject(
                        conn,
                        id,
                        "invalid_message",
                        "since must be {epoch, offset}",
                        "/since",
                    );
                }
            };
            let stream = self.streams.entry(room.into()).or_default();
            stream.expire();
            let latest = stream.offset;
            if let Some((epoch, offset)) = since
                && epoch == self.epoch
                && offset > latest
            {
                let message = format!("offset {offset} is past the room's latest {latest}");
                return self.reject(conn, id, "invalid_message", &message, "/since/offset");
            }
            if !member {
                self.conns.get_mut(&conn).unwrap().rooms.insert(room.into());
                let members = self.rooms.entry(room.into()).or_default();
                let first = !members.contains_key(&user);
                members.entry(user.clone()).or_default().insert(conn);
                if first {
                    let presence = Out::Presence {
                        room,
                        user: &user,
                        online: true,
                    };
                    self.to_room(room, &presence, Some(conn));
                }
            }
            let mut recovered = None;
            if let Some((epoch, offset)) = since {
                let stream = &self.streams[room];
                // Recovered when every message after `offset` is still stored.
                let first = stream.messages.front().map_or(latest + 1, |m| m.offset);
                let all_there = epoch == self.epoch && offset + 1 >= first;
                if all_there {
                    for m in stream.messages.iter().filter(|m| m.offset > offset) {
                        self.send(conn, &push_of(room, m));
                    }
                }
                recovered = Some(all_there);
            }
            let members: BTreeSet<&String> = self.rooms[room].keys().collect();
            let joined = Out::Joined {
                room,
                members,
                epoch: &self.epoch,
                offset: latest,
                recovered,
            };
            self.send(conn, &joined);
        } else if ty == "message" {
            let Some(text) = msg.get("text").and_then(Value::as_str) else {
                return self.reject(
                    conn,
                    id,
                    "invalid_message",
                    "text must be a string",
                    "/text",
                );
            };
            if !member {
                return self.reject(conn, id, "not_in_room", "join the room first", "/room");
            }
            let chars = text.chars().count();
            if chars == 0 || chars > MAX_TEXT {
                return self.reject(
                    conn,
                    id,
                    "invalid_message",
                    "text must be 1 to 4000 characters",
                    "/text",
                );
            }
            self.next_message += 1;
            let message_id = format!("{}-{}", self.epoch, self.next_message);
            self.authors
                .insert(message_id.clone(), (room.into(), user.clone()));
            self.author_order.push_back(message_id.clone());
            if self.author_order.len() > KEEP_AUTHORS
                && let Some(old) = self.author_order.pop_front()
            {
                self.authors.remove(&old);
            }
            let stream = self.streams.entry(room.into()).or_default();
            stream.expire();
            stream.offset += 1;
            let offset = stream.offset;
            stream.messages.push_back(Stored {
                message_id: message_id.clone(),
                offset,
                from: user.clone(),
                text: text.to_owned(),
                at: Instant::now(),
            });
            if stream.messages.len() > KEEP_MESSAGES {
                stream.messages.pop_front();
            }
            self.send(
                conn,
                &Out::Sent {
                    id,
                    message_id: &message_id,
                    offset,
                },
            );
            let stored = self.streams[room].messages.back().expect("pushed above");
            self.to_room(room, &push_of(room, stored), Some(conn));
        } else if ty == "history" {
            let limit = match msg.get("limit") {
                None | Some(Value::Null) => DEFAULT_HISTORY,
                Some(v) => match v.as_u64() {
                    Some(n) if (1..=MAX_HISTORY).contains(&n) => n,
                    _ => {
                        return self.reject(
                            conn,
                            id,
                            "invalid_message",
                            "limit must be 1 to 100",
                            "/limit",
                        );
                    }
                },
            };
            let before = match msg.get("before") {
                None | Some(Value::Null) => None,
                Some(v) => match v.as_u64() {
                    Some(n) if n >= 1 => Some(n),
                    _ => {
                        return self.reject(
                            conn,
                            id,
                            "invalid_message",
                            "before must be an offset, 1 or more",
                            "/before",
                        );
                    }
                },
            };
            if !member {
                return self.reject(conn, id, "not_in_room", "join the room first", "/room");
            }
            let stream = self.streams.entry(room.into()).or_default();
            stream.expire();
            if let Some(b) = before
                && b > stream.offset + 1
            {
                let message = format!("before {b} is past the room's next offset");
                return self.reject(conn, id, "invalid_message", &message, "/before");
            }
            let stream = &self.streams[room];
            let end = stream
                .messages
                .partition_point(|m| before.is_none_or(|b| m.offset < b));
            let start = end.saturating_sub(usize::try_from(limit).unwrap_or(usize::MAX));
            let messages = stream
                .messages
                .range(start..end)
                .map(|m| Entry {
                    message_id: &m.message_id,
                    offset: m.offset,
                    from: &m.from,
                    text: &m.text,
                })
                .collect();
            let history = Out::History {
                id,
                room,
                epoch: &self.epoch,
                messages,
            };
            self.send(conn, &history);
        } else if ty == "read" {
            let Some(message_id) = msg.get("messageId").and_then(Value::as_str) else {
                return self.reject(
                    conn,
                    id,
                    "invalid_message",
                    "messageId must be a string",
                    "/messageId",
                );
            };
            let known = self
                .authors
                .get(message_id)
                .filter(|(room, _)| self.conns[&conn].rooms.contains(room));
            let Some((_, author)) = known else {
                return self.reject(conn, id, "unknown_message", "no such message", "/messageId");
            };
            let receipt = Out::Read {
                message_id,
                by: &user,
            };
            for c in self.users.get(author).into_iter().flatten() {
                self.send(*c, &receipt);
            }
        } else if ty == "typing" {
            let Some(active) = msg.get("active").and_then(Value::as_bool) else {
                return self.reject(
                    conn,
                    id,
                    "invalid_message",
                    "active must be a boolean",
                    "/active",
                );
            };
            if !member {
                return self.reject(conn, id, "not_in_room", "join the room first", "/room");
            }
            let typing = Out::Typing {
                room,
                user: &user,
                active,
            };
            self.to_room(room, &typing, Some(conn));
        } else if ty == "leave" {
            self.leave(conn, room);
        } else {
            self.reject(conn, id, "unknown_type", "unknown message type", "/type");
        }
    }
}

// tungstenite's handshake callback returns its `ErrorResponse` by value.
#[allow(clippy::result_large_err)]
async fn connection(state: Shared, stream: TcpStream) {
    let mut user = None;
    let config = WebSocketConfig::default().max_message_size(Some(64 * 1024));
    let accepted = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        |req: &Request, res: Response| match user_of(req) {
            Some(name) => {
                user = Some(name);
                Ok(res)
            }
            None => {
                let mut refusal = ErrorResponse::new(Some("a user name is required".into()));
                *refusal.status_mut() = 401.try_into().expect("a status code");
                Err(refusal)
            }
        },
        Some(config),
    )
    .await;
    let (Ok(ws), Some(user)) = (accepted, user) else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = unbounded_channel();
    let conn = {
        let mut s = state.lock().unwrap();
        s.next_conn += 1;
        let conn = s.next_conn;
        s.users.entry(user.clone()).or_default().insert(conn);
        s.conns.insert(
            conn,
            Conn {
                user: user.clone(),
                tx: tx.clone(),
                rooms: HashSet::new(),
            },
        );
        conn
    };
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            let close = matches!(msg, Message::Close(_));
            if sink.send(msg).await.is_err() || close {
                break;
            }
        }
    });
    let close = |code: CloseCode, reason: &str| {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.to_owned().into(),
        }))
    };
    while let Some(msg) = stream.next().await {
        match msg {
            Ok(Message::Text(text)) => state.lock().unwrap().handle(conn, &text),
            Ok(Message::Binary(_)) => {
                let _ = tx.send(close(
                    CloseCode::Unsupported,
                    "binary frames are not accepted",
                ));
                break;
            }
            Ok(Message::Close(_)) => break,
            Ok(_) => {}
            Err(Error::Capacity(_)) => {
                let _ = tx.send(close(CloseCode::Size, "message too big"));
                break;
            }
            Err(_) => break,
        }
    }
    {
        let mut s = state.lock().unwrap();
        let rooms: Vec<String> = s.conns[&conn].rooms.iter().cloned().collect();
        for room in rooms {
            s.leave(conn, &room);
        }
        s.conns.remove(&conn);
        if let Some(conns) = s.users.get_mut(&user) {
            conns.remove(&conn);
            if conns.is_empty() {
                s.users.remove(&user);
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let listen = match args.iter().position(|a| a == "--listen") {
        Some(i) => args
            .get(i + 1)
            .cloned()
            .ok_or_else(|| std::io::Error::other("--listen needs an address, e.g. 127.0.0.1:0"))?,
        None => "127.0.0.1:8080".to_owned(),
    };
    let listener = TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let state = Shared::new(Mutex::new(State {
        epoch: draw_epoch(),
        ..State::default()
    }));
    loop {
        let (stream, _) = listener.accept().await?;
        // What Node's ws and uWebSockets do by default (and the tokio-tungstenite echo
        // baselines in net.rs): without it Nagle's algorithm meets delayed ACKs.
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(state.clone(), stream));
    }
}
