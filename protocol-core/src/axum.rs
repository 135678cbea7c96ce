//! Mount a server on an axum router, so one port serves pages and the WebSocket.
//!
//! The route checks the upgrade request with the server's own rules ([`WsServer::admit`]:
//! Origin, authenticate hook, connection caps), answers `101 Switching Protocols` and runs the
//! upgraded connection with the same connection code as [`WsServer::serve`].
//!
//! ```no_run
//! # use protocol_core::{Context, ErrorReply, Protocol, Server};
//! # #[derive(Protocol)] #[protocol(rename_all = "snake_case")] enum ClientMsg { Ping }
//! # #[derive(Protocol)] #[protocol(rename_all = "snake_case")] enum ServerMsg { Pong, Error(ErrorReply) }
//! # struct App;
//! # impl ClientMsgHandler for App {
//! #     type Out = ServerMsg;
//! #     async fn on_ping(&self, _: &Context<ServerMsg>) -> Result<(), ErrorReply> { Ok(()) }
//! # }
//! # async fn run() -> std::io::Result<()> {
//! let server = Server::<ClientMsg, App>::builder(App).build();
//! let app = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { "hello" }))
//!     .route("/ws", protocol_core::axum::websocket_route(server));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

use ::axum::body::Body;
use ::axum::extract::Request;
use ::axum::http::{HeaderValue, StatusCode, header};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::{MethodRouter, get};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::connection::FrameHandler;
use crate::server::WsServer;

/// A `GET` route that upgrades to this server's WebSocket protocol.
pub fn websocket_route<F: FrameHandler, S: Clone + Send + Sync + 'static>(
    server: WsServer<F>,
) -> MethodRouter<S> {
    get(move |req: Request| upgrade(server.clone(), req))
}

fn refuse(status: u16, reason: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        reason.to_owned(),
    )
        .into_response()
}

async fn upgrade<F: FrameHandler>(server: WsServer<F>, req: Request) -> Response {
    let headers = req.headers();
    let is_upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(key) = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|_| is_upgrade)
        .cloned()
    else {
        return refuse(
            426,
            "this endpoint speaks WebSocket: send an upgrade request",
        );
    };
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        return refuse(426, "unsupported WebSocket version; use 13");
    }
    let (parts, body) = req.into_parts();
    let probe = tokio_tungstenite::tungstenite::http::Request::from_parts(parts.clone(), ());
    let identity = match server.admit(&probe) {
        Ok(identity) => identity,
        Err(r) => return refuse(r.status, &r.reason),
    };
    let mut req = Request::from_parts(parts, body);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let config = server.limits().websocket_config();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                server.serve_websocket(ws, &identity).await;
            }
            Err(e) => tracing::debug!(error = %e, "upgrade failed"),
        }
    });
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    resp
}
