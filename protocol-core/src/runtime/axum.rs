//! Mount a server on an axum router, so one port serves pages and the WebSocket.
//!
//! The route checks the upgrade request with the server's own rules ([`WsServer::admit`]:
//! Origin, authenticate hook, connection caps total / per identity / per address), answers
//! `101 Switching Protocols` and runs the upgraded connection with the same connection code as
//! [`WsServer::serve`].
//!
//! Serve the router with [`WsServer::serve_router`], not `axum::serve`: hyper's header read is
//! unbounded there (a client that never finishes its request headers holds its socket for
//! ever) and nothing caps the handshakes in progress or sets `TCP_NODELAY`. `serve_router` runs
//! the same accept loop as [`WsServer::serve`] (the cap on handshakes in progress, the
//! handshake deadline as hyper's header-read timeout, `TCP_NODELAY`, the per-address count
//! with the peer's address) and the same graceful shutdown. The route still works under another
//! server, but logs a warning once, and counts per address only if the request carries
//! `axum::extract::ConnectInfo<SocketAddr>`.
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
//!     .route("/ws", protocol_core::axum::websocket_route(server.clone()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! server.serve_router(listener, app).await
//! # }
//! ```

use ::axum::body::Body;
use ::axum::extract::Request;
use ::axum::http::{HeaderValue, StatusCode, header};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::{MethodRouter, get};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use ::axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::runtime::connection::FrameHandler;
use crate::runtime::server::WsServer;

/// A `GET` route that upgrades to this server's WebSocket protocol.
pub fn websocket_route<F: FrameHandler, S: Clone + Send + Sync + 'static>(
    server: WsServer<F>,
) -> MethodRouter<S> {
    get(move |req: Request| upgrade(server.clone(), req))
}

/// Marks requests that came through [`WsServer::serve_router`].
#[derive(Debug, Clone, Copy)]
struct ServedBy;

static WARNED: AtomicBool = AtomicBool::new(false);

impl<F: FrameHandler> WsServer<F> {
    /// Serve an axum router (pages and [`websocket_route`]s) on `listener` with this server's
    /// admission limits: see the [module documentation](self). Returns after a graceful
    /// shutdown ([`ShutdownHandle`](crate::ShutdownHandle)).
    pub async fn serve_router(
        &self,
        listener: TcpListener,
        router: ::axum::Router,
    ) -> std::io::Result<()> {
        self.accept_loop(listener, move |server, stream, peer, deadline, permit| {
            let router = router.clone();
            async move {
                let Some((stream, deadline)) = server.secure(stream, peer, deadline).await else {
                    return;
                };
                let service =
                    hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(ConnectInfo(peer));
                        req.extensions_mut().insert(ServedBy);
                        let mut router = router.clone();
                        async move {
                            tower_service::Service::call(&mut router, req.map(Body::new)).await
                        }
                    });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    // The handshake deadline, on every request's headers: a client that never
                    // finishes them (slowloris) or idles on a kept-alive connection is dropped.
                    .header_read_timeout(deadline)
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, error = %e, "HTTP connection ended");
                }
                // An upgraded connection no longer counts as a handshake in progress.
                drop(permit);
            }
        })
        .await
    }
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
    if req.extensions().get::<ServedBy>().is_none() && !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "websocket_route is served without WsServer::serve_router: no handshake deadline, \
             no cap on handshakes in progress"
        );
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer);
    let (parts, body) = req.into_parts();
    let probe = tokio_tungstenite::tungstenite::http::Request::from_parts(parts.clone(), ());
    let admission = match server.admit(&probe, peer) {
        Ok(admission) => admission,
        Err(r) => return refuse(r.status, &r.reason),
    };
    let bearer = crate::runtime::admit::offers_bearer(&parts.headers);
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
                server.serve_websocket(ws, admission).await;
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
    if bearer {
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(crate::runtime::admit::BEARER),
        );
    }
    resp
}
