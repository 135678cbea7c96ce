//! The seed's chat, built on `protocol-core`: rooms, messages with ids, read receipts pushed to
//! every device of the author, typing indicators and presence. No hand-written routing: the
//! handlers implement the trait `#[derive(Protocol)]` generates.
//!
//! Wire contract: `../shared/ARCHITECTURE.md` ("Chat example"). `ws://HOST:PORT/ws?user=NAME`,
//! the page at `/` on the same port.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use protocol_core::{
    Context, ErrorCode, ErrorReply, Hub, Protocol, Rejection, Server, TokenAuth, TypedServerBuilder,
};

/// Longest message text, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Rooms one connection may be in (one more: `too_many_rooms`).
pub const MAX_ROOMS: usize = 100;

/// Messages a chat client sends.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ClientMsg {
    /// Join a room; the sender gets `joined` with the members, the others `presence`.
    /// Private rooms `dm:A:B` (A < B) are open only to A and B (anyone else: `forbidden`); a
    /// connection may be in at most 100 rooms (`too_many_rooms`).
    #[protocol(
        pushes(ServerMsg::Joined = "sender", ServerMsg::Presence = "other members"),
        error_codes("invalid_message", "forbidden", "too_many_rooms")
    )]
    Join {
        /// The room: 1 to 64 of `A-Z a-z 0-9 _ . : -`.
        room: String,
    },
    /// Say something in a room you joined; answered with `sent` carrying the message id.
    #[protocol(
        reply = ServerMsg::Sent,
        pushes(ServerMsg::Message = "other members"),
        error_codes("not_in_room", "invalid_message")
    )]
    Message {
        /// The room.
        room: String,
        /// 1 to 4000 characters.
        text: String,
    },
    /// Tell the author that you read a message; every device of the author gets `read`. A
    /// message of a room you are not in is `unknown_message`.
    #[protocol(pushes(ServerMsg::Read = "author"), error_codes("unknown_message"))]
    Read {
        /// The id from `sent` / `message`.
        message_id: String,
    },
    /// Typing started or stopped; the room's other members get `typing`.
    #[protocol(
        pushes(ServerMsg::Typing = "other members"),
        error_codes("not_in_room", "invalid_message")
    )]
    Typing {
        /// The room.
        room: String,
        /// Whether typing is going on.
        active: bool,
    },
    /// Leave a room; the others get `presence` offline when it was your last connection there.
    #[protocol(
        pushes(ServerMsg::Presence = "other members"),
        error_codes("not_in_room", "invalid_message")
    )]
    Leave {
        /// The room.
        room: String,
    },
    /// Renew the connection's signed token before it expires (servers started with
    /// `--auth-secret`); answered with `refreshed`. A token for another user, or one that does
    /// not verify, is `invalid_token`; without tokens on the server, `invalid_message`.
    #[protocol(reply = ServerMsg::Refreshed, error_codes("invalid_token", "invalid_message"))]
    Refresh {
        /// A fresh JWT for the same user.
        token: String,
    },
}

/// Messages the chat server sends.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ServerMsg {
    /// You joined a room: who is in it (sorted, you included).
    Joined {
        /// The room.
        room: String,
        /// Members, sorted.
        members: Vec<String>,
    },
    /// Someone's first connection joined a room, or their last one left.
    Presence {
        /// The room.
        room: String,
        /// Who.
        user: String,
        /// Online or offline.
        online: bool,
    },
    /// Your message was delivered; the reply to `message`, with its `id`.
    Sent {
        /// The new message's id.
        message_id: String,
    },
    /// Someone said something in a room you are in.
    Message {
        /// The message's id, for read receipts.
        message_id: String,
        /// The room.
        room: String,
        /// The author.
        from: String,
        /// The text.
        text: String,
    },
    /// Your token was renewed; the reply to `refresh`, with its `id`.
    Refreshed {
        /// When the connection now expires, in seconds since the Unix epoch.
        expires_at: u64,
    },
    /// Someone read your message.
    Read {
        /// Which message.
        message_id: String,
        /// Who read it.
        by: String,
    },
    /// Someone in a room is typing (or stopped).
    Typing {
        /// The room.
        room: String,
        /// Who.
        user: String,
        /// Whether typing is going on.
        active: bool,
    },
    /// A message could not be handled.
    Error(ErrorReply),
}

/// Remembers who wrote each message and in which room (for read receipts), the most recent
/// ones only.
#[derive(Debug)]
struct Authors {
    by_id: HashMap<String, Written>,
    order: VecDeque<String>,
    capacity: usize,
}

impl Authors {
    fn insert(&mut self, id: String, written: Written) {
        if self.order.len() >= self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.by_id.remove(&old);
        }
        self.order.push_back(id.clone());
        self.by_id.insert(id, written);
    }
}

/// Who wrote a message, in which room.
#[derive(Debug, Clone, PartialEq)]
struct Written {
    room: String,
    author: String,
}

impl Written {
    /// Stored as `ROOM AUTHOR`: neither may contain a space.
    fn to_stored(&self) -> String {
        format!("{} {}", self.room, self.author)
    }

    fn from_stored(s: &str) -> Option<Self> {
        let (room, author) = s.split_once(' ')?;
        Some(Written {
            room: room.to_owned(),
            author: author.to_owned(),
        })
    }
}

/// Where the authors of messages are kept: this node's memory, or Redis when several nodes
/// share the chat (a read receipt may arrive on another node than the message).
enum AuthorBook {
    Local(Mutex<Authors>),
    Redis {
        conn: protocol_core::redis::client::aio::ConnectionManager,
        prefix: String,
        ttl_secs: u64,
    },
}

impl std::fmt::Debug for AuthorBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthorBook::Local(_) => f.write_str("Local"),
            AuthorBook::Redis { prefix, .. } => write!(f, "Redis({prefix})"),
        }
    }
}

/// The chat's state and handlers.
#[derive(Debug)]
pub struct Chat {
    node: String,
    next_id: AtomicU64,
    authors: AuthorBook,
    tokens: Option<TokenAuth>,
}

impl Default for Chat {
    fn default() -> Self {
        Self::new("n1", 100_000)
    }
}

impl Chat {
    /// A chat whose message ids start with `node` (unique across nodes) and which remembers the
    /// authors of the last `remember` messages for read receipts.
    pub fn new(node: &str, remember: usize) -> Self {
        Chat {
            node: node.to_owned(),
            next_id: AtomicU64::new(1),
            authors: AuthorBook::Local(Mutex::new(Authors {
                by_id: HashMap::new(),
                order: VecDeque::new(),
                capacity: remember.max(1),
            })),
            tokens: None,
        }
    }

    /// Require signed tokens (`?token=JWT`, `sub` = user name) instead of `?user=NAME`.
    pub fn with_tokens(mut self, tokens: TokenAuth) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// A chat node sharing its rooms through `broker`: message ids start with the node's id, and
    /// authors are kept in the same Redis (under `{prefix}:author:`) for `remember_secs`, so a
    /// read receipt works on any node.
    pub fn shared(broker: &protocol_core::redis::RedisBroker, remember_secs: u64) -> Self {
        use protocol_core::Broker;
        Chat {
            node: broker.node_id().to_owned(),
            next_id: AtomicU64::new(1),
            authors: AuthorBook::Redis {
                conn: broker.connection(),
                prefix: format!("{}:author:", broker.prefix()),
                ttl_secs: remember_secs.max(1),
            },
            tokens: None,
        }
    }

    async fn remember(&self, message_id: &str, written: Written) -> Result<(), ErrorReply> {
        match &self.authors {
            AuthorBook::Local(m) => {
                lock(m).insert(message_id.to_owned(), written);
                Ok(())
            }
            AuthorBook::Redis {
                conn,
                prefix,
                ttl_secs,
            } => {
                use protocol_core::redis::client::AsyncCommands;
                conn.clone()
                    .set_ex::<_, _, ()>(
                        format!("{prefix}{message_id}"),
                        written.to_stored(),
                        *ttl_secs,
                    )
                    .await
                    .map_err(internal)
            }
        }
    }

    async fn written(&self, message_id: &str) -> Result<Option<Written>, ErrorReply> {
        match &self.authors {
            AuthorBook::Local(m) => Ok(lock(m).by_id.get(message_id).cloned()),
            AuthorBook::Redis { conn, prefix, .. } => {
                use protocol_core::redis::client::AsyncCommands;
                let stored: Option<String> = conn
                    .clone()
                    .get(format!("{prefix}{message_id}"))
                    .await
                    .map_err(internal)?;
                Ok(stored.as_deref().and_then(Written::from_stored))
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn not_in_room(room: &str) -> ErrorReply {
    ErrorReply::new("not_in_room", format!("join room {room:?} first")).with_pointer("/room")
}

fn internal(e: impl std::fmt::Display) -> ErrorReply {
    ErrorReply::new("internal_error", e.to_string())
}

/// Room names match `^[A-Za-z0-9_.:-]{1,64}$`.
pub fn valid_room(room: &str) -> bool {
    (1..=64).contains(&room.len())
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

fn check_room(room: &str) -> Result<(), ErrorReply> {
    if valid_room(room) {
        Ok(())
    } else {
        Err(ErrorReply::invalid(
            "/room",
            format!(
                "room names are 1 to 64 of A-Z a-z 0-9 _ . : - ; got {} bytes",
                room.len()
            ),
        ))
    }
}

/// Who may join `room`: everyone, except for private rooms `dm:A:B` (A < B, both valid user
/// names), which only A and B may join. Anyone else learns nothing about the room.
pub fn authorize_join(identity: &str, room: &str) -> Result<(), ErrorReply> {
    let Some(pair) = room.strip_prefix("dm:") else {
        return Ok(());
    };
    let forbidden = || {
        ErrorReply::new(
            ErrorCode::FORBIDDEN,
            "private rooms dm:A:B are open only to A and B",
        )
        .with_pointer("/room")
    };
    match pair.split_once(':') {
        Some((a, b)) if valid_user(a) && valid_user(b) && a < b => {
            if identity == a || identity == b {
                Ok(())
            } else {
                Err(forbidden())
            }
        }
        _ => Err(ErrorReply::invalid(
            "/room",
            "a private room is dm:A:B with A < B, both user names",
        )),
    }
}

impl ClientMsgHandler for Chat {
    type Out = ServerMsg;

    async fn on_join(&self, cx: &Context<ServerMsg>, room: String) -> Result<(), ErrorReply> {
        check_room(&room)?;
        let joined = cx.join(&room).await.map_err(|e| {
            if e.code() == ErrorCode::TOO_MANY_ROOMS && e.pointer().is_none() {
                e.with_pointer("/room")
            } else {
                e
            }
        })?;
        Ok(cx.push(&ServerMsg::Joined {
            room,
            members: joined.members,
        })?)
    }

    async fn on_message(
        &self,
        cx: &Context<ServerMsg>,
        room: String,
        text: String,
    ) -> Result<ServerMsgSent, ErrorReply> {
        check_room(&room)?;
        if !cx.in_room(&room) {
            return Err(not_in_room(&room));
        }
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_TEXT_CHARS {
            return Err(ErrorReply::invalid(
                "/text",
                format!("text must be 1 to {MAX_TEXT_CHARS} characters, got {chars}"),
            ));
        }
        let message_id = format!(
            "{}-{}",
            self.node,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        self.remember(
            &message_id,
            Written {
                room: room.clone(),
                author: cx.identity().to_owned(),
            },
        )
        .await?;
        let msg = ServerMsg::Message {
            message_id: message_id.clone(),
            room: room.clone(),
            from: cx.identity().into(),
            text,
        };
        cx.broadcast(&room, &msg)?;
        Ok(ServerMsgSent { message_id })
    }

    async fn on_read(&self, cx: &Context<ServerMsg>, message_id: String) -> Result<(), ErrorReply> {
        // A message of a room the reader is not in is answered like one that does not exist:
        // the reader learns nothing about it and its author gets no receipt.
        let Some(Written { author, .. }) = self
            .written(&message_id)
            .await?
            .filter(|w| cx.in_room(&w.room))
        else {
            return Err(ErrorReply::new(
                "unknown_message",
                format!("no message with id {message_id:?}"),
            )
            .with_pointer("/messageId"));
        };
        Ok(cx.send_to(
            &author,
            &ServerMsg::Read {
                message_id,
                by: cx.identity().into(),
            },
        )?)
    }

    async fn on_typing(
        &self,
        cx: &Context<ServerMsg>,
        room: String,
        active: bool,
    ) -> Result<(), ErrorReply> {
        check_room(&room)?;
        if !cx.in_room(&room) {
            return Err(not_in_room(&room));
        }
        Ok(cx.broadcast(
            &room,
            &ServerMsg::Typing {
                room: room.clone(),
                user: cx.identity().into(),
                active,
            },
        )?)
    }

    async fn on_refresh(
        &self,
        cx: &Context<ServerMsg>,
        token: String,
    ) -> Result<ServerMsgRefreshed, ErrorReply> {
        let Some(tokens) = &self.tokens else {
            return Err(ErrorReply::invalid(
                "/token",
                "this server does not use tokens (started without --auth-secret)",
            ));
        };
        let identity = tokens
            .verify(&token)
            .map_err(|r| ErrorReply::new("invalid_token", r.reason).with_pointer("/token"))?;
        cx.renew(&identity).map_err(|e| {
            ErrorReply::new("invalid_token", e.message().to_owned()).with_pointer("/token")
        })?;
        let expires_at = identity
            .expires()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        Ok(ServerMsgRefreshed { expires_at })
    }

    async fn on_leave(&self, cx: &Context<ServerMsg>, room: String) -> Result<(), ErrorReply> {
        check_room(&room)?;
        if !cx.leave(&room).await {
            return Err(not_in_room(&room));
        }
        Ok(())
    }
}

/// `NAME` matches `[A-Za-z0-9_-]{1,32}`.
pub fn valid_user(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The identity from `?user=NAME` (the development mode: nothing verifies it), or 401.
pub fn authenticate(uri: &str) -> Result<String, Rejection> {
    let query = uri.split_once('?').map_or("", |(_, q)| q);
    let user = protocol_core::query::param(query, "user").unwrap_or_default();
    if valid_user(&user) {
        Ok(user.into_owned())
    } else {
        Err(Rejection::new(
            401,
            "connect as /ws?user=NAME with NAME matching [A-Za-z0-9_-]{1,32}",
        ))
    }
}

/// The hub with the chat's presence messages, for one node.
pub fn hub() -> Hub<ServerMsg> {
    hub_with(Arc::new(protocol_core::InMemoryBroker::default()))
}

/// The hub with the chat's presence messages, on a broker (Redis: several nodes).
pub fn hub_with(broker: Arc<dyn protocol_core::Broker>) -> Hub<ServerMsg> {
    Hub::builder()
        .broker(broker)
        .authorize_join(authorize_join)
        .max_rooms_per_connection(MAX_ROOMS)
        .presence(|e| {
            Some(ServerMsg::Presence {
                room: e.room.clone(),
                user: e.identity.clone(),
                online: e.online,
            })
        })
        .build()
}

/// The chat's server, configured: hub, authentication (signed tokens when the chat has them,
/// else the development mode `?user=NAME`), default limits.
pub fn server_builder(chat: Chat, hub: Hub<ServerMsg>) -> TypedServerBuilder<ClientMsg, Chat> {
    let tokens = chat.tokens.clone();
    let builder = Server::<ClientMsg, Chat>::builder_shared(Arc::new(chat)).hub(hub);
    match tokens {
        Some(tokens) => builder.authenticate(move |req| {
            let identity = tokens.authenticate(req)?;
            if valid_user(identity.name()) {
                Ok(identity)
            } else {
                Err(Rejection::new(
                    401,
                    "token refused: its sub is not a user name ([A-Za-z0-9_-]{1,32})",
                ))
            }
        }),
        None => builder.authenticate(|req| authenticate(&req.uri().to_string())),
    }
}

/// The chat's WebSocket server (mount it with [`router`] or serve it directly).
pub fn server(chat: Chat, hub: Hub<ServerMsg>) -> Server<ClientMsg, Chat> {
    server_builder(chat, hub).build()
}

/// The chat protocol for the schema tooling: exports under `examples/chat/schema/`.
pub fn spec() -> protocol_schema::Spec {
    protocol_schema::Spec::new("chat", "1.0.0")
        .title("Chat")
        .description(
            "The seed's chat: rooms, messages, read receipts, typing indicators and presence.",
        )
        .client_to_server::<ClientMsg>()
        .server_to_client::<ServerMsg>()
}

/// The page.
pub const INDEX_HTML: &str = include_str!("../static/index.html");
/// The page's script.
pub const CHAT_JS: &str = include_str!("../static/chat.js");
/// The generated client the page imports (`schema/chat.client.js`, from `chat-schema export`).
pub const CLIENT_JS: &str = include_str!("../schema/chat.client.js");
/// The generated guards the client imports (`schema/chat.js`).
pub const GUARDS_JS: &str = include_str!("../schema/chat.js");

/// One port: the page at `/`, its script at `/chat.js`, the generated modules it imports under
/// `/schema/`, the WebSocket at `/ws`.
pub fn router(server: Server<ClientMsg, Chat>) -> axum::Router {
    use axum::http::header::CONTENT_TYPE;
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/",
            get(|| async { ([(CONTENT_TYPE, "text/html; charset=utf-8")], INDEX_HTML) }),
        )
        .route(
            "/chat.js",
            get(|| async { ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], CHAT_JS) }),
        )
        .route(
            "/schema/chat.client.js",
            get(|| async {
                (
                    [(CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    CLIENT_JS,
                )
            }),
        )
        .route(
            "/schema/chat.js",
            get(|| async {
                (
                    [(CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    GUARDS_JS,
                )
            }),
        )
        .route("/ws", protocol_core::axum::websocket_route(server))
}

/// The README's code blocks, compiled and run as doctests (here, where the test kit is a
/// dev-dependency).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
