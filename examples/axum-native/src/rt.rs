//! Feature `runtime`: the same counter room served by the runtime's typed server, through
//! axum's own `WebSocketUpgrade` and [`WsServer::serve_socket`], so the connection gets the
//! runtime's per-connection semantics (admission, ids, error replies, unknown policy, rate
//! limit, request deadline, heartbeat, slow consumer, close codes) on axum's socket.
//!
//! The handler is `ClientMsgHandler` with the runtime's `Context` this time: the room is a hub
//! room, the identity comes from `?user=NAME` at admission, `hello` must give that name.

use std::sync::Mutex;

use axum::Router;
use axum::extract::ws::{self, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use protocol_core::connection::{Disconnect, TypedFrames};
use protocol_core::socket::{SocketClose, SocketError, SocketMessage};
use protocol_core::{Context, ErrorCode, ErrorReply, Limits, Rejection, Server, WsServer};

use crate::protocol::{ClientMsg, ClientMsgHandler, ServerMsg, ServerMsgAdded, ServerMsgWelcome};
use crate::room::{MAX_NAME, MAX_TEXT};

/// The hub room everyone who said `hello` is in.
pub const ROOM: &str = "counter";

/// The typed server of the counter room on the runtime.
pub type RtServer = WsServer<TypedFrames<ClientMsg, RtApp>>;

/// The counter room's handlers on the runtime: the counter here, the members in the hub.
#[derive(Debug, Default)]
pub struct RtApp {
    count: Mutex<i64>,
}

fn internal(e: impl std::fmt::Display) -> ErrorReply {
    ErrorReply::new(ErrorCode::INTERNAL, e.to_string())
}

fn not_introduced() -> ErrorReply {
    ErrorReply::new("not_introduced", "say hello first")
}

impl ClientMsgHandler for RtApp {
    type Out = ServerMsg;

    async fn disconnected(&self, cx: &Context<ServerMsg>, _end: &Disconnect) {
        if cx.in_room(ROOM) {
            let left = ServerMsg::Left {
                name: cx.identity().to_owned(),
            };
            // Nobody is left to answer: a `left` the hub could not queue is not sent.
            let _ = cx.broadcast(ROOM, &left);
        }
    }

    async fn on_hello(
        &self,
        cx: &Context<ServerMsg>,
        name: String,
    ) -> Result<ServerMsgWelcome, ErrorReply> {
        if name != cx.identity() {
            return Err(ErrorReply::invalid(
                "/name",
                format!("you are connected as {:?}", cx.identity()),
            ));
        }
        if cx.in_room(ROOM) {
            return Err(ErrorReply::new(
                "already_introduced",
                format!("you are already here as {name:?}"),
            ));
        }
        let joined = cx.join(ROOM).await?;
        cx.broadcast(ROOM, &ServerMsg::Arrived { name })
            .map_err(internal)?;
        let count = *self.count.lock().map_err(internal)?;
        Ok(ServerMsgWelcome {
            count,
            here: joined.members,
        })
    }

    async fn on_add(&self, cx: &Context<ServerMsg>, by: i64) -> Result<ServerMsgAdded, ErrorReply> {
        if !cx.in_room(ROOM) {
            return Err(not_introduced());
        }
        let mut count = self.count.lock().map_err(internal)?;
        let Some(next) = count.checked_add(by) else {
            return Err(ErrorReply::invalid(
                "/by",
                format!("the counter ({count}) would overflow"),
            ));
        };
        *count = next;
        let counted = ServerMsg::Counted {
            count: next,
            by,
            from: cx.identity().to_owned(),
        };
        // Under the lock, so every socket sees the changes in one order.
        cx.broadcast(ROOM, &counted).map_err(internal)?;
        Ok(ServerMsgAdded { count: next })
    }

    async fn on_say(&self, cx: &Context<ServerMsg>, text: String) -> Result<(), ErrorReply> {
        if !cx.in_room(ROOM) {
            return Err(not_introduced());
        }
        if !(1..=MAX_TEXT).contains(&text.chars().count()) {
            return Err(ErrorReply::invalid(
                "/text",
                format!("say 1 to {MAX_TEXT} characters"),
            ));
        }
        let said = ServerMsg::Said {
            from: cx.identity().to_owned(),
            text,
        };
        cx.broadcast(ROOM, &said).map_err(internal)
    }
}

/// The runtime's typed server of the counter room with these limits; the identity is the
/// upgrade request's `?user=NAME` (1 to 32 of `A-Z a-z 0-9 _ -`, otherwise HTTP 401).
pub fn rt_server(limits: Limits) -> RtServer {
    Server::<ClientMsg, RtApp>::builder(RtApp::default())
        .authenticate(|req| {
            let query = req.uri().query().unwrap_or("");
            match protocol_core::query::param(query, "user") {
                Some(user)
                    if (1..=MAX_NAME).contains(&user.len())
                        && user
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
                {
                    Ok(user.into_owned())
                }
                _ => Err(Rejection::new(401, "connect with ?user=NAME")),
            }
        })
        .limits(limits)
        .build()
}

/// `GET /rt`: admission by `server`'s rules, the upgrade by axum, the connection by the
/// runtime's loop through [`WsServer::serve_socket`].
pub fn rt_router(server: RtServer) -> Router {
    Router::new().route("/rt", get(upgrade)).with_state(server)
}

async fn upgrade(State(server): State<RtServer>, req: Request) -> Response {
    let (mut parts, _body) = req.into_parts();
    // The runtime's admission sees the request as it came (headers, query).
    let probe = protocol_core::tungstenite::http::Request::from_parts(parts.clone(), ());
    let admission = match server.admit(&probe, None) {
        Ok(admission) => admission,
        Err(r) => {
            let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::FORBIDDEN);
            return (status, r.reason).into_response();
        }
    };
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    // axum's own size limit above the runtime's, so the runtime's check (close 1009 with the
    // size and the limit) is the one that answers.
    let room = server.limits().max_message_size.saturating_add(1 << 20);
    ws.max_message_size(room)
        .max_frame_size(room)
        .on_upgrade(move |socket| async move {
            let socket = socket
                .map(|read| read.map(ours).map_err(SocketError::from))
                .with(|msg| std::future::ready(Ok::<_, axum::Error>(theirs(msg))));
            server.serve_socket(socket, admission).await;
        })
}

/// axum's message as the runtime's.
fn ours(msg: ws::Message) -> SocketMessage {
    match msg {
        ws::Message::Text(text) => SocketMessage::Text(text.as_str().to_owned()),
        ws::Message::Binary(data) => SocketMessage::Binary(data),
        ws::Message::Ping(data) => SocketMessage::Ping(data),
        ws::Message::Pong(data) => SocketMessage::Pong(data),
        ws::Message::Close(frame) => SocketMessage::Close(frame.map(|f| SocketClose {
            code: f.code,
            reason: f.reason.as_str().to_owned(),
        })),
    }
}

/// The runtime's message as axum's.
fn theirs(msg: SocketMessage) -> ws::Message {
    match msg {
        SocketMessage::Text(text) => ws::Message::Text(text.into()),
        SocketMessage::Binary(data) => ws::Message::Binary(data),
        SocketMessage::Ping(data) => ws::Message::Ping(data),
        SocketMessage::Pong(data) => ws::Message::Pong(data),
        SocketMessage::Close(frame) => ws::Message::Close(frame.map(|c| ws::CloseFrame {
            code: c.code,
            reason: c.reason.into(),
        })),
    }
}
