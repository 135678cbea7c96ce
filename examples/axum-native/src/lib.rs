//! A counter room served with axum's own WebSocket support (`axum::extract::ws`), using only
//! protocol-core's message layer: `#[derive(Protocol)]` for the messages, its codec and error
//! replies, its JSON Schema, and the generated `ClientMsgHandler` trait implemented for a
//! context of our own ([`Conn`], of kind [`AxumSocket`]) and called with
//! [`protocol_core::dispatch_frame_with`]. No runtime of ours: the socket loop is in
//! `socket.rs`, under 100 lines.
//!
//! With the feature `runtime`, the module `rt` serves the same protocol with the runtime's
//! typed server on axum's socket (`WsServer::serve_socket`), at `/rt`.
//!
//! Mount [`router`] in an axum app (`/ws` is the WebSocket, `/schema` the protocol's JSON
//! Schemas):
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let app = axum::Router::new()
//!     .route("/health", axum::routing::get(|| async { "ok" }))
//!     .merge(axum_native_example::router(Default::default()));
//! axum::serve(listener, app).await
//! # }
//! ```

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use protocol_core::schema_for;

pub mod protocol;
mod room;
#[cfg(feature = "runtime")]
pub mod rt;
mod socket;

pub use protocol::{ClientMsg, ServerMsg};
pub use room::{App, AxumSocket, Conn, MAX_NAME, MAX_TEXT, Room};
pub use socket::MAX_TEXT_FRAME;

/// What axum itself buffers at most for one message before our own check of
/// [`MAX_TEXT_FRAME`] (which answers with close 1009 and a reason).
const AXUM_MAX_MESSAGE: usize = 1024 * 1024;

/// The routes: `GET /ws` upgrades to the counter room's WebSocket, `GET /schema` answers
/// `{"client":<schema>,"server":<schema>}`.
pub fn router(room: Arc<Room>) -> Router {
    Router::new()
        .route("/ws", get(upgrade))
        .route("/schema", get(schemas))
        .with_state(room)
}

async fn upgrade(ws: WebSocketUpgrade, State(room): State<Arc<Room>>) -> Response {
    ws.max_message_size(AXUM_MAX_MESSAGE)
        .max_frame_size(AXUM_MAX_MESSAGE)
        .on_upgrade(move |socket| socket::serve(socket, room))
}

async fn schemas() -> impl IntoResponse {
    let body = format!(
        r#"{{"client":{},"server":{}}}"#,
        schema_for::<ClientMsg>(),
        schema_for::<ServerMsg>()
    );
    ([(header::CONTENT_TYPE, "application/json")], body)
}
