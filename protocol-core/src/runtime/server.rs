//! The WebSocket server: accept loop with handshake timeout, Origin allowlist, authenticate
//! hook and connection caps; graceful shutdown. Every limit has a safe default and a setter.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

use crate::dispatch::Dispatch;
use crate::runtime::admit::{
    AddressBook, Admission, BEARER, Identity, client_address, offers_bearer, origin_allowed,
};
pub use crate::runtime::admit::{Authenticate, Rejection};
use crate::runtime::connection::{self, FrameHandler, TypedFrames};
use crate::runtime::hub::Hub;
pub use crate::runtime::limits::Limits;
use crate::runtime::shutdown::RunState;
pub use crate::runtime::shutdown::ShutdownHandle;
use crate::runtime::transport::ServerStream;

struct Shared<F: FrameHandler> {
    frames: Arc<F>,
    hub: Hub<F::Out>,
    limits: Arc<Limits>,
    auth: Arc<Authenticate>,
    origins: Vec<String>,
    trusted_proxies: Vec<IpAddr>,
    state: Arc<watch::Sender<RunState>>,
    /// Handshakes in progress, on every way of serving together.
    pending: Arc<Semaphore>,
    addresses: Arc<AddressBook>,
    #[cfg(feature = "tls")]
    tls: Option<crate::runtime::tls::TlsConfig>,
}

/// Configures a [`Server`].
pub struct ServerBuilder<F: FrameHandler> {
    frames: Arc<F>,
    hub: Option<Hub<F::Out>>,
    limits: Limits,
    auth: Arc<Authenticate>,
    origins: Vec<String>,
    trusted_proxies: Vec<IpAddr>,
    #[cfg(feature = "tls")]
    tls: Option<crate::runtime::tls::TlsConfig>,
    /// No `authenticate` hook was set (identities are `anon-N`).
    pub(crate) anonymous: bool,
}

/// A WebSocket server of one typed protocol: `In` messages are dispatched to `H`.
///
/// ```no_run
/// use protocol_core::{Context, ErrorReply, Protocol, Server};
///
/// #[derive(Protocol)]
/// #[protocol(rename_all = "snake_case")]
/// enum ClientMsg {
///     Ping,
/// }
///
/// #[derive(Protocol)]
/// #[protocol(rename_all = "snake_case")]
/// enum ServerMsg {
///     Pong,
///     Error(ErrorReply),
/// }
///
/// struct App;
///
/// impl ClientMsgHandler for App {
///     type Out = ServerMsg;
///     async fn on_ping(&self, cx: &Context<ServerMsg>) -> Result<(), ErrorReply> {
///         cx.push(&ServerMsg::Pong).map_err(|e| ErrorReply::new("internal_error", e.to_string()))
///     }
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let server = Server::<ClientMsg, App>::builder(App).build();
/// server.serve(listener).await
/// # }
/// ```
pub type Server<In, H> = WsServer<TypedFrames<In, H>>;

/// The builder of a [`Server`] of `In` messages handled by `H`, to name in function
/// signatures: `fn configure(b: TypedServerBuilder<ClientMsg, Chat>) -> ...`.
pub type TypedServerBuilder<In, H> = ServerBuilder<TypedFrames<In, H>>;

impl<In, H> WsServer<TypedFrames<In, H>>
where
    In: Dispatch<H>,
    H: Send + Sync + 'static,
{
    /// Configure a server for `handler`.
    pub fn builder(handler: H) -> ServerBuilder<TypedFrames<In, H>> {
        ServerBuilder::new(TypedFrames::new(Arc::new(handler)))
    }

    /// Configure a server for a shared handler.
    pub fn builder_shared(handler: Arc<H>) -> ServerBuilder<TypedFrames<In, H>> {
        ServerBuilder::new(TypedFrames::new(handler))
    }
}

impl<F: FrameHandler> ServerBuilder<F> {
    /// A builder with default limits, anonymous identities (`anon-N`) and no extra origins.
    pub fn new(frames: F) -> Self {
        let counter = std::sync::atomic::AtomicU64::new(1);
        ServerBuilder {
            frames: Arc::new(frames),
            hub: None,
            limits: Limits::default(),
            auth: Arc::new(move |_req: &Request| {
                Ok(Identity::new(format!(
                    "anon-{}",
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                )))
            }),
            origins: Vec::new(),
            trusted_proxies: Vec::new(),
            #[cfg(feature = "tls")]
            tls: None,
            anonymous: true,
        }
    }

    /// Serve TLS (`wss://`, and `https://` pages on the axum router) with this certificate, on
    /// every way of serving a listener. The TLS handshake counts against the handshake
    /// deadline.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: crate::runtime::tls::TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Use this hub (to configure presence messages, the broker, queue limits).
    pub fn hub(mut self, hub: Hub<F::Out>) -> Self {
        self.hub = Some(hub);
        self
    }

    /// Decide each connection's identity from its upgrade request, or refuse it. The hook
    /// returns a name (`String`) or an [`Identity`] with an expiry (see
    /// `TokenAuth` for signed tokens, feature `jwt`).
    pub fn authenticate<I: Into<Identity>>(
        mut self,
        f: impl Fn(&Request) -> Result<I, Rejection> + Send + Sync + 'static,
    ) -> Self {
        self.auth = Arc::new(move |req| f(req).map(Into::into));
        self.anonymous = false;
        self
    }

    /// Authenticate with signed tokens: the identity is the token's `sub`, and the connection
    /// closes (code 3000) at its `exp` unless renewed. See [`TokenAuth`](crate::TokenAuth).
    ///
    /// ```
    /// use protocol_core::{Context, ErrorReply, Protocol, Server, TokenAuth};
    /// # #[derive(Protocol)] #[protocol(rename_all = "snake_case")] enum ClientMsg { Ping }
    /// # #[derive(Protocol)] #[protocol(rename_all = "snake_case")] enum ServerMsg { Error(ErrorReply) }
    /// # struct App;
    /// # impl ClientMsgHandler for App { type Out = ServerMsg; async fn on_ping(&self, _: &Context<ServerMsg>) -> Result<(), ErrorReply> { Ok(()) } }
    /// let server = Server::<ClientMsg, App>::builder(App)
    ///     .token_auth(TokenAuth::hs256(b"the secret the token issuer shares")?)
    ///     .build();
    /// # Ok::<(), protocol_core::token::KeyError>(())
    /// ```
    #[cfg(feature = "jwt")]
    pub fn token_auth(self, auth: crate::TokenAuth) -> Self {
        self.authenticate(move |req| auth.authenticate(req))
    }

    /// Honour `X-Forwarded-For` from this proxy when counting connections per address (only
    /// the hops it and other trusted proxies appended count).
    pub fn trust_proxy(mut self, proxy: IpAddr) -> Self {
        self.trusted_proxies.push(proxy);
        self
    }

    /// Allow browser pages from this origin (e.g. `https://app.example.com`). Same-origin
    /// requests and requests without an `Origin` header are always allowed.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.origins.push(origin.into());
        self
    }

    /// Replace all limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Change limits in place.
    pub fn with_limits(mut self, f: impl FnOnce(&mut Limits)) -> Self {
        f(&mut self.limits);
        self
    }

    /// The server.
    pub fn build(self) -> WsServer<F>
    where
        F: FrameHandler,
    {
        let mut limits = self.limits;
        let default = Limits::default().queue_capacity;
        let hub = match self.hub {
            None => Hub::builder().queue_capacity(limits.queue_capacity).build(),
            Some(hub) => {
                // One queue length per connection, from whichever of the two was configured.
                let from_hub = hub.queue_capacity();
                if limits.queue_capacity == default {
                    limits.queue_capacity = from_hub;
                } else if from_hub != default && from_hub != limits.queue_capacity {
                    tracing::warn!(
                        limits = limits.queue_capacity,
                        hub = from_hub,
                        "Limits::queue_capacity and HubBuilder::queue_capacity differ: the server's connections queue Limits::queue_capacity frames"
                    );
                }
                hub
            }
        };
        let (state, _) = watch::channel(RunState::Running);
        WsServer {
            shared: Arc::new(Shared {
                frames: self.frames,
                hub,
                pending: Arc::new(Semaphore::new(limits.max_pending_handshakes.max(1))),
                limits: Arc::new(limits),
                auth: self.auth,
                origins: self.origins,
                trusted_proxies: self.trusted_proxies,
                state: Arc::new(state),
                addresses: Arc::default(),
                #[cfg(feature = "tls")]
                tls: self.tls,
            }),
        }
    }
}

/// A WebSocket server of any [`FrameHandler`]. [`Server`] is the typed one; raw frame handlers
/// (the echo server of the conformance tests) use this directly, with the same connection code.
pub struct WsServer<F: FrameHandler> {
    shared: Arc<Shared<F>>,
}

impl<F: FrameHandler> Clone for WsServer<F> {
    fn clone(&self) -> Self {
        WsServer {
            shared: Arc::clone(&self.shared),
        }
    }
}

fn reject(status: u16, reason: &str) -> ErrorResponse {
    let mut resp = ErrorResponse::new(Some(reason.to_owned()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// One connection's handshake deadline: the limit minus up to a tenth of it, chosen by the peer's
/// port. Connections that arrive together would otherwise all time out in the same timer tick,
/// and their closes (each a FIN through the kernel and a wakeup of the peer) would hold both
/// workers for milliseconds at once.
pub(crate) fn handshake_deadline(limit: Duration, peer: SocketAddr) -> Duration {
    // Fibonacci hashing spreads consecutive ports over 0..1024.
    let spread = u64::from(peer.port()).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54;
    limit - limit / 10 * spread as u32 / 1024
}

impl<F: FrameHandler> WsServer<F> {
    /// The registry of this server's connections.
    pub fn hub(&self) -> &Hub<F::Out> {
        &self.shared.hub
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// A handle to stop the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            state: Arc::clone(&self.shared.state),
        }
    }

    /// Check a handshake request: server running, Origin, identity, connection caps (total,
    /// per identity, per client address). `peer` is the TCP peer, when the way of serving knows
    /// it. For integrations that do the HTTP upgrade themselves: serve the upgraded socket with
    /// [`serve_websocket`](Self::serve_websocket) and the [`Admission`] this returns.
    pub fn admit(&self, req: &Request, peer: Option<SocketAddr>) -> Result<Admission, Rejection> {
        let s = &self.shared;
        if *s.state.borrow() != RunState::Running {
            return Err(Rejection::new(503, "server shutting down"));
        }
        if !origin_allowed(req, &s.origins) {
            return Err(Rejection::new(403, "origin not allowed"));
        }
        let identity = (s.auth)(req)?;
        if s.hub.connection_count() >= s.limits.max_connections {
            return Err(Rejection::new(503, "too many connections"));
        }
        if s.hub.identity_connection_count(identity.name()) >= s.limits.max_connections_per_identity
        {
            return Err(Rejection::new(
                429,
                "too many connections for this identity",
            ));
        }
        let address = peer.map(|p| {
            let forwarded = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok());
            client_address(p.ip(), forwarded, &s.trusted_proxies)
        });
        let slot = match address {
            Some(ip) if !(s.limits.exempt_loopback && ip.is_loopback()) => {
                let Some(slot) = s.addresses.take(ip, s.limits.max_connections_per_address) else {
                    return Err(Rejection::new(
                        429,
                        format!(
                            "too many connections from {ip}: the limit is {} per address",
                            s.limits.max_connections_per_address
                        ),
                    ));
                };
                Some(slot)
            }
            _ => None,
        };
        Ok(Admission {
            identity,
            address,
            _slot: slot,
        })
    }

    /// Accept connections until shut down; then wait for open connections to close (1001,
    /// queues drained) within the grace period.
    pub async fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        self.accept_loop(
            listener,
            |server, stream, peer, deadline, permit| async move {
                server.handle_tcp(stream, peer, deadline, permit).await;
            },
        )
        .await
    }

    /// The accept loop every way of serving a listener shares: `TCP_NODELAY` on every socket,
    /// the cap on handshakes in progress (a connection over it is dropped), each connection's
    /// handshake deadline, and the shutdown: stop accepting, give open connections the grace
    /// period, then abort.
    pub(crate) async fn accept_loop<C, Fut>(
        &self,
        listener: TcpListener,
        on_conn: C,
    ) -> std::io::Result<()>
    where
        C: Fn(Self, TcpStream, SocketAddr, Duration, OwnedSemaphorePermit) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut state = self.shared.state.subscribe();
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                changed = state.changed() => {
                    if changed.is_err() || *state.borrow() != RunState::Running {
                        break;
                    }
                }
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of file descriptors and the like: back off, keep serving.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = Arc::clone(&self.shared.pending).try_acquire_owned() else {
                        tracing::warn!(%peer, "too many handshakes in progress; dropping connection");
                        continue;
                    };
                    // Small frames (a reply, a ping) must not wait for Nagle and delayed ACKs.
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
                    }
                    let stats = self.shared.hub.stats();
                    stats.sockets_accepted.fetch_add(1, Ordering::Relaxed);
                    if stream.nodelay().unwrap_or(false) {
                        stats.sockets_nodelay.fetch_add(1, Ordering::Relaxed);
                    }
                    let deadline = handshake_deadline(self.shared.limits.handshake_timeout, peer);
                    tasks.spawn(on_conn(self.clone(), stream, peer, deadline, permit));
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        drop(listener);
        // Draining: connections were told (they watch the same state). Give them the grace.
        let grace = self.shared.limits.shutdown_grace;
        let mut open = self.shared.hub.watch_connections();
        let drained = tokio::time::timeout(grace, async {
            while tasks.join_next().await.is_some() {}
            // Upgraded connections of integrations run on tasks of their own.
            let _ = open.wait_for(|n| *n == 0).await;
        })
        .await;
        if drained.is_err() {
            self.shared.state.send_replace(RunState::Abort);
            tokio::time::sleep(Duration::from_millis(100)).await;
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        Ok(())
    }

    /// The connection's stream: TLS accepted within the handshake deadline when the server has
    /// a certificate. The rest of the deadline, for the HTTP upgrade.
    pub(crate) async fn secure(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        deadline: Duration,
    ) -> Option<(ServerStream, Duration)> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.shared.tls {
            let started = tokio::time::Instant::now();
            return match tokio::time::timeout(deadline, tls.acceptor.accept(stream)).await {
                Ok(Ok(tls)) => Some((
                    ServerStream::Tls(Box::new(tls)),
                    deadline.saturating_sub(started.elapsed()),
                )),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    None
                }
            };
        }
        let _ = peer;
        Some((ServerStream::Plain(stream), deadline))
    }

    async fn handle_tcp(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        deadline: Duration,
        permit: OwnedSemaphorePermit,
    ) {
        let Some((stream, deadline)) = self.secure(stream, peer, deadline).await else {
            return;
        };
        let s = &self.shared;
        let mut admission = None;
        #[allow(clippy::result_large_err)] // the signature is tungstenite's
        let callback = |req: &Request, mut resp: Response| match self.admit(req, Some(peer)) {
            Ok(a) => {
                admission = Some(a);
                if offers_bearer(req.headers()) {
                    resp.headers_mut()
                        .insert("sec-websocket-protocol", HeaderValue::from_static(BEARER));
                }
                Ok(resp)
            }
            Err(r) => {
                tracing::debug!(%peer, status = r.status, reason = %r.reason, "handshake refused");
                Err(reject(r.status, &r.reason))
            }
        };
        let handshake = tokio_tungstenite::accept_hdr_async_with_config(
            stream,
            callback,
            Some(s.limits.websocket_config()),
        );
        let ws = match tokio::time::timeout(deadline, handshake).await {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "handshake timed out");
                return;
            }
        };
        drop(permit);
        let Some(admission) = admission else { return };
        self.serve_websocket(ws, admission).await;
    }

    /// Serve one already-upgraded WebSocket that [`admit`](Self::admit) let in. Its place in
    /// the per-address count is given back when it closes.
    pub async fn serve_websocket<S>(&self, ws: WebSocketStream<S>, admission: Admission)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let s = &self.shared;
        connection::run(
            ws,
            self.register(&admission),
            s.hub.clone(),
            Arc::clone(&s.frames),
            Arc::clone(&s.limits),
            s.state.subscribe(),
        )
        .await;
        drop(admission);
    }

    /// [`serve_websocket`](Self::serve_websocket) on the halves of a socket mapped to
    /// tungstenite's messages (see [`serve_socket`](Self::serve_socket)).
    pub(crate) async fn serve_halves<Si, St>(&self, sink: Si, stream: St, admission: Admission)
    where
        Si: futures_util::Sink<tokio_tungstenite::tungstenite::Message> + Unpin + Send + 'static,
        St: futures_util::Stream<
                Item = Result<
                    tokio_tungstenite::tungstenite::Message,
                    tokio_tungstenite::tungstenite::Error,
                >,
            > + Unpin
            + Send
            + 'static,
    {
        let s = &self.shared;
        connection::run_halves(
            sink,
            stream,
            self.register(&admission),
            s.hub.clone(),
            Arc::clone(&s.frames),
            Arc::clone(&s.limits),
            s.state.subscribe(),
        )
        .await;
        drop(admission);
    }

    /// The admitted connection's place in the hub.
    fn register(&self, admission: &Admission) -> Arc<crate::runtime::hub::ConnEntry> {
        let s = &self.shared;
        s.hub.register_with(
            Arc::from(admission.identity.name()),
            admission.identity.expires(),
            s.limits.queue_capacity,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_write_buffer_limit_gives_a_valid_config() {
        for max in [0, 1, 1024, 2048, 16 * 1024, 32 * 1024, 1 << 20] {
            let limits = Limits {
                max_write_buffer_size: max,
                ..Limits::default()
            };
            // tungstenite panics on an invalid configuration; this must not.
            let _ = tokio_tungstenite::tungstenite::protocol::WebSocketContext::new(
                tokio_tungstenite::tungstenite::protocol::Role::Server,
                Some(limits.websocket_config()),
            );
        }
    }

    #[test]
    fn handshake_deadlines_spread_over_the_last_tenth() {
        let limit = Duration::from_secs(5);
        let deadlines: Vec<Duration> = (40_000..40_050)
            .map(|port| handshake_deadline(limit, SocketAddr::from(([127, 0, 0, 1], port))))
            .collect();
        assert!(deadlines.iter().all(|d| *d <= limit && *d > limit * 9 / 10));
        let (min, max) = (deadlines.iter().min(), deadlines.iter().max());
        assert!(max.zip(min).is_some_and(|(a, b)| *a - *b > limit / 20));
    }

    #[test]
    fn origins() {
        let req = |origin: Option<&str>| {
            let mut b = Request::builder()
                .uri("/ws")
                .header("host", "chat.example:8080");
            if let Some(o) = origin {
                b = b.header("origin", o);
            }
            b.body(()).unwrap()
        };
        let allowed = vec!["https://app.example".to_owned()];
        assert!(origin_allowed(&req(None), &allowed));
        assert!(origin_allowed(
            &req(Some("http://chat.example:8080")),
            &allowed
        ));
        assert!(origin_allowed(&req(Some("https://app.example")), &allowed));
        assert!(!origin_allowed(
            &req(Some("https://evil.example")),
            &allowed
        ));
        assert!(!origin_allowed(
            &req(Some("http://chat.example:9999")),
            &allowed
        ));
    }
}
