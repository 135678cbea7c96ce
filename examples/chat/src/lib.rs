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
    Context, ErrorCode, ErrorReply, Hub, Protocol, Rejection, Server, Since, TokenAuth,
    TypedServerBuilder, schemars, serde,
};

/// Longest message text, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Rooms one connection may be in (one more: `too_many_rooms`).
pub const MAX_ROOMS: usize = 100;
/// Most messages one `history` request returns.
pub const MAX_HISTORY_LIMIT: u8 = 100;
/// Messages a `history` request returns when it gives no `limit`.
pub const DEFAULT_HISTORY_LIMIT: u8 = 50;

/// How many messages a `history` request wants: 1 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(crate = "protocol_core::serde", try_from = "u64", into = "u8")]
pub struct HistoryLimit(u8);

impl HistoryLimit {
    /// The limit, 1 to 100.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u64> for HistoryLimit {
    type Error = String;
    fn try_from(n: u64) -> Result<Self, String> {
        match u8::try_from(n) {
            Ok(n) if (1..=MAX_HISTORY_LIMIT).contains(&n) => Ok(HistoryLimit(n)),
            _ => Err(format!(
                "a history limit is 1 to {MAX_HISTORY_LIMIT} messages, got {n}"
            )),
        }
    }
}

impl From<HistoryLimit> for u8 {
    fn from(l: HistoryLimit) -> u8 {
        l.0
    }
}

impl schemars::JsonSchema for HistoryLimit {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HistoryLimit".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "How many messages: 1 to 100.",
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_HISTORY_LIMIT,
        })
    }
}

/// A stored message as `history` returns it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(
    crate = "protocol_core::serde",
    rename_all = "camelCase",
    deny_unknown_fields
)]
#[schemars(crate = "protocol_core::schemars")]
pub struct HistoryEntry {
    /// The message's id, for read receipts.
    pub message_id: String,
    /// Its position in the room.
    pub offset: u64,
    /// The author.
    pub from: String,
    /// The text.
    pub text: String,
}

/// Messages a chat client sends.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ClientMsg {
    /// Join a room; the sender gets `joined` with the members and the room's position, the
    /// others `presence`. With `since` (after a reconnect), the messages missed after it come
    /// first, each once and in order, then `joined` with `recovered`. Private rooms `dm:A:B`
    /// (A < B) are open only to A and B (anyone else: `forbidden`); a connection may be in at
    /// most 100 rooms (`too_many_rooms`).
    #[protocol(
        joins_stream = ServerMsg::Joined,
        pushes(
            ServerMsg::Message = "sender",
            ServerMsg::Joined = "sender",
            ServerMsg::Presence = "other members"
        ),
        error_codes("invalid_message", "forbidden", "too_many_rooms")
    )]
    Join {
        /// The room: 1 to 64 of `A-Z a-z 0-9 _ . : -`.
        room: String,
        /// Where this client left off (epoch and offset from `joined`, `message` and `sent`):
        /// resume instead of starting at the latest message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<Since>,
    },
    /// Say something in a room you joined; answered with `sent` carrying the message id and
    /// its offset.
    #[protocol(
        reply = ServerMsg::Sent,
        publishes,
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
    /// Read a room's stored messages (the last 1,000 of the past 24 h): the latest `limit`
    /// (default 50), or the `limit` before offset `before`; answered with `history`, oldest
    /// first. Not a member: `not_in_room`.
    #[protocol(
        reply = ServerMsg::History,
        error_codes("not_in_room", "invalid_message")
    )]
    History {
        /// The room.
        room: String,
        /// How many messages, 1 to 100 (default 50).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<HistoryLimit>,
        /// Only messages with a smaller offset (default: the latest).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
    },
    /// Leave a room; the others get `presence` offline when it was your last connection there.
    #[protocol(
        leaves_stream,
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
    /// You joined a room: who is in it (sorted, you included), and where its stream stands.
    Joined {
        /// The room.
        room: String,
        /// Members, sorted.
        members: Vec<String>,
        /// The room's epoch: changes whenever its history was lost; resume only within one.
        epoch: String,
        /// The room's latest offset: every later message reaches you live.
        offset: u64,
        /// After a resume (`since`): whether every missed message was replayed (`false`: the
        /// epoch changed or the history no longer reaches back; fetch `history`).
        #[serde(skip_serializing_if = "Option::is_none")]
        recovered: Option<bool>,
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
        /// Its position in the room.
        offset: u64,
    },
    /// Someone said something in a room you are in (stored: replayed on resume).
    #[protocol(stream)]
    Message {
        /// The message's id, for read receipts.
        message_id: String,
        /// Its position in the room: 1, 2, 3, ... with no gaps.
        offset: u64,
        /// The room.
        room: String,
        /// The author.
        from: String,
        /// The text.
        text: String,
    },
    /// A page of a room's history, oldest first; the reply to `history`.
    History {
        /// The room.
        room: String,
        /// The room's epoch.
        epoch: String,
        /// The messages.
        messages: Vec<HistoryEntry>,
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
    /// Message ids are `{id_prefix}-{n}`: the node, and for a node of its own a value drawn
    /// at start, so ids never repeat across restarts.
    id_prefix: String,
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
    /// A chat whose message ids start with `node` and a value drawn at start (unique across
    /// nodes and restarts) and which remembers the authors of the last `remember` messages for
    /// read receipts.
    pub fn new(node: &str, remember: usize) -> Self {
        Chat {
            id_prefix: format!("{node}-{}", boot_token()),
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
            // The broker's node id is drawn at random when it connects.
            id_prefix: broker.node_id().to_owned(),
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

/// Eight hex digits drawn when the process starts (seeded by the OS through `RandomState`,
/// and the clock).
fn boot_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:08x}", h.finish() as u32)
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

    async fn on_join(
        &self,
        cx: &Context<ServerMsg>,
        room: String,
        since: Option<Since>,
    ) -> Result<(), ErrorReply> {
        check_room(&room)?;
        if let Some(s) = &since
            && s.epoch.len() > 64
        {
            return Err(ErrorReply::invalid(
                "/since/epoch",
                format!("an epoch is at most 64 bytes, got {}", s.epoch.len()),
            ));
        }
        // The hub queues `joined` itself: after the replay, before any live message.
        cx.join_stream(&room, since.as_ref(), |joined, stream| ServerMsg::Joined {
            room: room.clone(),
            members: joined.members.clone(),
            epoch: stream.epoch.to_string(),
            offset: stream.offset,
            recovered: stream.recovered,
        })
        .await
        .map_err(|e| {
            if e.code() == ErrorCode::TOO_MANY_ROOMS && e.pointer().is_none() {
                e.with_pointer("/room")
            } else {
                e
            }
        })?;
        Ok(())
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
            self.id_prefix,
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
            offset: 0,
            room: room.clone(),
            from: cx.identity().into(),
            text,
        };
        let position = cx.publish(&room, msg).await?;
        Ok(ServerMsgSent {
            message_id,
            offset: position.offset,
        })
    }

    async fn on_history(
        &self,
        cx: &Context<ServerMsg>,
        room: String,
        limit: Option<HistoryLimit>,
        before: Option<u64>,
    ) -> Result<ServerMsgHistory, ErrorReply> {
        check_room(&room)?;
        if !cx.in_room(&room) {
            return Err(not_in_room(&room));
        }
        if before == Some(0) {
            return Err(ErrorReply::invalid(
                "/before",
                "offsets start at 1: `before` is 1 or more (leave it out for the latest)",
            ));
        }
        let limit = limit.map_or(DEFAULT_HISTORY_LIMIT, HistoryLimit::get);
        let page = cx.history(&room, before, usize::from(limit)).await?;
        let messages = page
            .messages
            .into_iter()
            .filter_map(|(offset, msg)| match msg {
                ServerMsg::Message {
                    message_id,
                    from,
                    text,
                    ..
                } => Some(HistoryEntry {
                    message_id,
                    offset,
                    from,
                    text,
                }),
                _ => None,
            })
            .collect();
        Ok(ServerMsgHistory {
            room,
            epoch: page.epoch.to_string(),
            messages,
        })
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
    hub_configured(broker, protocol_core::HistoryConfig::default())
}

/// [`hub_with`], keeping `history` in each room (for resume and `history`).
pub fn hub_configured(
    broker: Arc<dyn protocol_core::Broker>,
    history: protocol_core::HistoryConfig,
) -> Hub<ServerMsg> {
    Hub::builder()
        .broker(broker)
        .history(history)
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
