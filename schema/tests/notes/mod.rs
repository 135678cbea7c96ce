//! The probe's test protocol, "notes": a small key-value store with rooms, served by the real
//! runtime. [`NotesServer::start`] runs it correctly or with one planted defect (each a thin
//! [`FrameHandler`] around the typed one), on 127.0.0.1:0 in a runtime of its own, so the
//! synchronous probe can run on the test thread.
#![allow(dead_code, missing_docs)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use protocol_core::connection::{FrameHandler, Reaction, TypedFrames};
use protocol_core::server::{Limits, ServerBuilder, WsServer};
use protocol_core::tungstenite::{Bytes, Utf8Bytes};
use protocol_core::{Context, ErrorReply, Protocol};

/// Messages a notes client sends.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ClientMsg {
    /// Join a room; answered with `joined`.
    Join {
        /// The room.
        room: String,
    },
    /// Store a value; answered with `stored` and the key's new version.
    #[protocol(reply = ServerMsg::Stored)]
    Put {
        /// The key.
        #[serde(alias = "name")]
        key: String,
        /// The value.
        value: u32,
        /// Labels.
        tags: Vec<String>,
        /// A note.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Read a value; answered with `value`.
    #[protocol(reply = ServerMsg::Value)]
    Get {
        /// The key.
        key: String,
    },
    /// Delete a key at a version (the one `stored` gave); answered with `deleted`, or the
    /// error `stale` when the version is not the current one.
    #[protocol(reply = ServerMsg::Deleted)]
    Delete {
        /// The key.
        key: String,
        /// Its current version.
        version: u64,
    },
    /// Liveness; answered with `pong`.
    #[protocol(reply = ServerMsg::Pong)]
    Ping {
        /// Echoed.
        n: u8,
    },
    /// Move the cursor; the others in the room get `moved`.
    Move {
        /// The room.
        room: String,
        /// Column.
        x: i16,
        /// Row.
        y: i16,
        /// Quickly.
        fast: bool,
    },
    /// Leave a room.
    #[protocol(alias = "bye")]
    Leave {
        /// The room.
        room: String,
    },
}

/// Messages the notes server sends.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ServerMsg {
    /// You joined a room.
    Joined {
        /// The room.
        room: String,
        /// Who is in it.
        members: Vec<String>,
    },
    /// A value was stored.
    #[protocol(deny_unknown_fields)]
    Stored {
        /// The key.
        key: String,
        /// Its new version.
        version: u64,
    },
    /// A value, if there is one.
    Value {
        /// The key.
        key: String,
        /// The value.
        value: Option<u32>,
        /// Its version (0: none).
        version: u64,
    },
    /// A key was deleted.
    Deleted {
        /// The key.
        key: String,
    },
    /// The answer to `ping`.
    Pong {
        /// The number sent.
        n: u8,
    },
    /// Someone moved.
    Moved {
        /// Who.
        user: String,
        /// Column.
        x: i16,
        /// Row.
        y: i16,
    },
    /// Something went wrong.
    Error(ErrorReply),
}

/// The notes store.
#[derive(Debug)]
pub struct Notes {
    values: Mutex<HashMap<String, (u32, u64)>>,
    next_version: AtomicU64,
    /// `move`s and `leave`s that got past the membership check.
    pub in_room: AtomicU64,
}

impl Notes {
    /// A store whose versions start after `first`.
    pub fn new(first: u64) -> Self {
        Notes {
            values: Mutex::new(HashMap::new()),
            next_version: AtomicU64::new(first),
            in_room: AtomicU64::new(0),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> ErrorReply {
    ErrorReply::new("internal_error", e.to_string())
}

impl ClientMsgHandler for Notes {
    type Out = ServerMsg;

    async fn on_join(&self, cx: &Context<ServerMsg>, room: String) -> Result<(), ErrorReply> {
        let joined = cx.join(&room).await?;
        cx.push(&ServerMsg::Joined {
            room,
            members: joined.members,
        })
        .map_err(internal)
    }

    async fn on_put(
        &self,
        _cx: &Context<ServerMsg>,
        key: String,
        value: u32,
        _tags: Vec<String>,
        _note: Option<String>,
    ) -> Result<ServerMsgStored, ErrorReply> {
        let version = self.next_version.fetch_add(1, Ordering::Relaxed) + 1;
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values.insert(key.clone(), (value, version));
        Ok(ServerMsgStored { key, version })
    }

    async fn on_get(
        &self,
        _cx: &Context<ServerMsg>,
        key: String,
    ) -> Result<ServerMsgValue, ErrorReply> {
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        let (value, version) = values.get(&key).map_or((None, 0), |(v, n)| (Some(*v), *n));
        Ok(ServerMsgValue {
            key,
            value,
            version,
        })
    }

    async fn on_delete(
        &self,
        _cx: &Context<ServerMsg>,
        key: String,
        version: u64,
    ) -> Result<ServerMsgDeleted, ErrorReply> {
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        match values.get(&key) {
            Some((_, v)) if *v == version => {
                values.remove(&key);
                Ok(ServerMsgDeleted { key })
            }
            _ => Err(
                ErrorReply::new("stale", format!("{key:?} is not at version {version}"))
                    .with_pointer("/version"),
            ),
        }
    }

    async fn on_ping(&self, _cx: &Context<ServerMsg>, n: u8) -> Result<ServerMsgPong, ErrorReply> {
        Ok(ServerMsgPong { n })
    }

    async fn on_move(
        &self,
        cx: &Context<ServerMsg>,
        room: String,
        x: i16,
        y: i16,
        _fast: bool,
    ) -> Result<(), ErrorReply> {
        if !cx.in_room(&room) {
            return Err(ErrorReply::new("not_in_room", "join first").with_pointer("/room"));
        }
        self.in_room.fetch_add(1, Ordering::Relaxed);
        cx.broadcast(
            &room,
            &ServerMsg::Moved {
                user: cx.identity().into(),
                x,
                y,
            },
        )
        .map_err(internal)
    }

    async fn on_leave(&self, cx: &Context<ServerMsg>, room: String) -> Result<(), ErrorReply> {
        if cx.leave(&room).await {
            self.in_room.fetch_add(1, Ordering::Relaxed);
            Ok(())
        } else {
            Err(ErrorReply::new("not_in_room", "not a member").with_pointer("/room"))
        }
    }
}

/// The protocol's spec, for exports.
pub fn spec() -> protocol_schema::Spec {
    protocol_schema::Spec::new("notes", "1.0.0")
        .title("Notes")
        .description("The probe's test protocol: a key-value store with rooms.")
        .address("/ws")
        .client_to_server::<ClientMsg>()
        .server_to_client::<ServerMsg>()
}

/// Export the schemas into a fresh directory under the system temp dir.
pub fn export(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("probe-notes-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    spec().export(&dir).expect("export the notes schemas");
    dir
}

/// The message size limit of the test servers.
pub const MAX_SIZE: usize = 32 * 1024;

/// The planted defects, one per server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// Error replies lose the request's `id`.
    ErrorWithoutId,
    /// `stored` replies carry a field the schema forbids.
    ForbiddenField,
    /// `get` is never answered.
    GetNeverAnswered,
    /// Invalid messages (decode errors) get no error reply.
    InvalidAccepted,
    /// More than 1,000 levels of nesting kill the connection (no close frame).
    CrashOnDeepNesting,
    /// Invalid messages close the connection (1008) instead of an error reply.
    CloseOnBadMessage,
    /// More than 1,000 levels of nesting kill the whole server: every connection dropped, the
    /// listener closed.
    DieOnDeepNesting,
}

/// Depth of the deepest nesting in a JSON text (brackets outside strings).
pub fn nesting(text: &str) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0, false, false);
    for b in text.bytes() {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The TCP sockets of open connections by identity, so a "crash" can drop one.
type Sockets = Arc<Mutex<HashMap<String, std::net::TcpStream>>>;

/// The typed notes protocol, with a defect planted in front of it (or none).
pub struct Planted {
    inner: TypedFrames<ClientMsg, Notes>,
    defect: Option<Defect>,
    sockets: Sockets,
    died: Arc<tokio::sync::Notify>,
}

fn is_error(text: &str) -> bool {
    text.starts_with("{\"type\":\"error\"")
}

fn is_decode_error(text: &str) -> bool {
    is_error(text)
        && [
            "\"invalid_json\"",
            "\"invalid_message\"",
            "\"unknown_type\"",
        ]
        .iter()
        .any(|c| text.contains(c))
}

impl FrameHandler for Planted {
    type Out = ServerMsg;

    async fn on_text(&self, cx: &Context<ServerMsg>, text: Utf8Bytes) -> Reaction {
        match self.defect {
            Some(Defect::DieOnDeepNesting) if nesting(text.as_str()) > 1000 => {
                for (_, s) in self.sockets.lock().unwrap().drain() {
                    let _ = s.shutdown(std::net::Shutdown::Both);
                }
                self.died.notify_one();
                return Reaction::None;
            }
            Some(Defect::CrashOnDeepNesting) if nesting(text.as_str()) > 1000 => {
                if let Some(s) = self.sockets.lock().unwrap().remove(cx.identity()) {
                    let _ = s.shutdown(std::net::Shutdown::Both);
                }
                return Reaction::None;
            }
            Some(Defect::GetNeverAnswered) => {
                let frame = protocol_core::decode_frame::<ClientMsg>(text.as_str());
                if matches!(frame, Ok(f) if matches!(f.msg, ClientMsg::Get { .. })) {
                    return Reaction::None;
                }
            }
            _ => {}
        }
        let reaction = self.inner.on_text(cx, text).await;
        let Reaction::Text(out) = reaction else {
            return reaction;
        };
        let out_str = out.as_str();
        match self.defect {
            Some(Defect::ErrorWithoutId) if is_error(out_str) => {
                let mut v: serde_json::Value = serde_json::from_str(out_str).unwrap();
                v.as_object_mut().unwrap().remove("id");
                Reaction::Text(v.to_string().into())
            }
            Some(Defect::ForbiddenField) if out_str.starts_with("{\"type\":\"stored\"") => {
                let mut v: serde_json::Value = serde_json::from_str(out_str).unwrap();
                v["extra"] = serde_json::Value::from(1);
                Reaction::Text(v.to_string().into())
            }
            Some(Defect::InvalidAccepted) if is_decode_error(out_str) => Reaction::None,
            Some(Defect::CloseOnBadMessage) if is_decode_error(out_str) => {
                Reaction::Close(1008, "bad message".into())
            }
            _ => Reaction::Text(out),
        }
    }

    async fn on_binary(&self, cx: &Context<ServerMsg>, data: Bytes) -> Reaction {
        self.inner.on_binary(cx, data).await
    }
}

/// A notes server on 127.0.0.1:0, in a runtime of its own; stopped when dropped.
pub struct NotesServer {
    pub addr: SocketAddr,
    /// The store, to see what the handlers did.
    pub notes: Arc<Notes>,
    runtime: Option<tokio::runtime::Runtime>,
}

fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_message_size = MAX_SIZE;
    // The probe runs unpaced in tests.
    l.rate_per_second = 1e9;
    l.rate_burst = u32::MAX;
    l
}

impl NotesServer {
    /// Start a correct server (`None`) or one with `defect`; versions start after `first`.
    pub fn start(defect: Option<Defect>) -> Self {
        Self::start_at(defect, 0)
    }

    /// As [`NotesServer::start`], with versions starting after `first`.
    pub fn start_at(defect: Option<Defect>, first: u64) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let sockets: Sockets = Arc::default();
        let notes = Arc::new(Notes::new(first));
        let died = Arc::new(tokio::sync::Notify::new());
        let frames = Planted {
            inner: TypedFrames::new(Arc::clone(&notes)),
            defect,
            sockets: Arc::clone(&sockets),
            died: Arc::clone(&died),
        };
        let server: WsServer<Planted> = ServerBuilder::new(frames).limits(limits()).build();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(accept_loop(listener, server, sockets, died));
        NotesServer {
            addr,
            notes,
            runtime: Some(runtime),
        }
    }

    /// The WebSocket URL.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
}

impl Drop for NotesServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Accept, upgrade with the limits' configuration and serve each connection as `cN`, keeping a
/// handle on its socket; stop accepting (the listener closed) when `died` is notified.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    server: WsServer<Planted>,
    sockets: Sockets,
    died: Arc<tokio::sync::Notify>,
) {
    let config = limits().websocket_config();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = died.notified() => return,
        };
        let Ok((stream, peer)) = accepted else { return };
        let std_stream = stream.into_std().unwrap();
        let handle = std_stream.try_clone().unwrap();
        let stream = tokio::net::TcpStream::from_std(std_stream).unwrap();
        let server = server.clone();
        let sockets = Arc::clone(&sockets);
        tokio::spawn(async move {
            // The server's own admission (its identities are `anon-N`), as any integration that
            // upgrades by itself must use.
            let mut admission = None;
            #[allow(clippy::result_large_err)] // the signature is tungstenite's
            let callback = |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                            resp| {
                admission = server.admit(req, Some(peer)).ok();
                Ok(resp)
            };
            let ws = match tokio_tungstenite::accept_hdr_async_with_config(
                stream,
                callback,
                Some(config),
            )
            .await
            {
                Ok(ws) => ws,
                Err(_) => return,
            };
            let Some(admission) = admission else { return };
            let identity = admission.identity().name().to_owned();
            sockets.lock().unwrap().insert(identity.clone(), handle);
            server.serve_websocket(ws, admission).await;
            sockets.lock().unwrap().remove(&identity);
        });
    }
}

/// Serve a correct notes server on `listener` until the process ends (the demo server).
pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let server = protocol_core::Server::<ClientMsg, Notes>::builder(Notes::new(0)).build();
    server.serve(listener).await
}

/// Where the probe's test fixtures live.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name)
}
