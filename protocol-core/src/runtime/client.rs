//! A typed WebSocket client: send `Out` messages, await replies matched by correlation id, and
//! receive pushed `In` messages; optional reconnect with exponential backoff and jitter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::codec::{DecodeError, Frame, decode_frame, encode_frame};
use crate::error::ErrorReply;
use crate::protocol::Protocol;
use crate::runtime::resume::{StreamPosition, Tracker};

/// What went wrong on the client side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Could not connect (or reconnect).
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// The HTTP status when the server refused the upgrade (401, 403, 429, 503, ...).
        status: Option<u16>,
        /// Why: the server's own text when it refused (`HTTP 401 Unauthorized: connect with
        /// ?user=NAME`).
        reason: String,
    },
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
    /// No reply within the request deadline.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The server answered with an error reply.
    #[error("server error: {0}")]
    Server(ErrorReply),
    /// A message could not be encoded.
    #[error("cannot encode the message: {0}")]
    Encode(String),
    /// The reply could not be decoded.
    #[error("cannot decode the reply: {0}")]
    Decode(DecodeError),
}

/// Reconnect policy: exponential backoff from `initial` to `max`, with up to 50% jitter.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

/// Configures a [`Client`] sending `Out` and receiving `In`; the types come with the builder,
/// so `let c: Client<ClientMsg, ServerMsg> = Client::builder(url).connect().await?` and
/// `Client::<ClientMsg, ServerMsg>::builder(url)` both infer.
pub struct ClientBuilder<Out, In> {
    settings: Settings,
    marker: std::marker::PhantomData<fn(Out) -> In>,
}

impl<Out, In> std::fmt::Debug for ClientBuilder<Out, In> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.settings;
        f.debug_struct("ClientBuilder")
            .field("url", &s.url)
            .field("request_timeout", &s.request_timeout)
            .field("reconnect", &s.reconnect)
            .field("max_message_size", &s.max_message_size)
            .field("refresh_every", &s.refresh.as_ref().map(|r| r.0))
            .finish_non_exhaustive()
    }
}

impl<Out, In> Clone for ClientBuilder<Out, In> {
    fn clone(&self) -> Self {
        ClientBuilder {
            settings: self.settings.clone(),
            marker: std::marker::PhantomData,
        }
    }
}

/// Makes the encoded refresh request for a correlation id.
type RefreshFn = Arc<dyn Fn(u64) -> Option<String> + Send + Sync>;

/// What a [`ClientBuilder`] configures, without the types (the connection task keeps it for
/// reconnecting).
#[derive(Clone)]
struct Settings {
    refresh: Option<(Duration, RefreshFn)>,
    url: String,
    request_timeout: Duration,
    reconnect: Option<Backoff>,
    max_message_size: usize,
    push_capacity: usize,
    resume: bool,
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

enum Command {
    Frame(String),
    Close(u16, String),
}

type Pending<In> = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<In, ClientError>>>>>;

/// A typed client: sends `Out`, receives `In`.
pub struct Client<Out, In> {
    commands: mpsc::Sender<Command>,
    pushes: mpsc::Receiver<In>,
    pending: Pending<In>,
    next_id: Arc<AtomicU64>,
    request_timeout: Duration,
    tracker: Option<Arc<Tracker>>,
    marker: std::marker::PhantomData<fn(Out)>,
}

impl<Out: Protocol, In: Protocol> ClientBuilder<Out, In> {
    /// A client of `url` (`ws://host:port/path?query`), 10 s request deadline, no reconnect.
    pub fn new(url: impl Into<String>) -> Self {
        ClientBuilder {
            settings: Settings {
                refresh: None,
                url: url.into(),
                request_timeout: Duration::from_secs(10),
                reconnect: None,
                max_message_size: 16 << 20,
                push_capacity: 1024,
                resume: true,
                #[cfg(feature = "tls")]
                tls: None,
            },
            marker: std::marker::PhantomData,
        }
    }

    /// Trust these certificates (PEM; a private CA or a self-signed server) for `wss://`, on
    /// top of the webpki roots.
    #[cfg(feature = "tls")]
    pub fn trust_pem(mut self, pem: &[u8]) -> Result<Self, crate::runtime::tls::TlsError> {
        let certs = crate::runtime::tls::certificates(pem)?;
        self.settings.tls = Some(crate::runtime::tls::client_config(&certs)?);
        Ok(self)
    }

    /// Every `period`, send the request `make` returns (if any): how a connection keeps a
    /// signed token alive, e.g. the chat's `refresh` with a token fetched from the app's
    /// issuer. The reply is awaited in the background; a refusal is logged (the server closes
    /// the connection with 3000 when the old token expires).
    ///
    /// ```no_run
    /// # use protocol_core::{Client, ErrorReply, Protocol};
    /// # #[derive(Protocol)] #[protocol(rename_all = "snake_case")]
    /// # enum ClientMsg { #[protocol(reply = ServerMsg::Refreshed)] Refresh { token: String } }
    /// # #[derive(Protocol)] #[protocol(rename_all = "snake_case")]
    /// # enum ServerMsg { Refreshed { expires_at: u64 }, Error(ErrorReply) }
    /// # fn fresh_token() -> String { String::new() }
    /// # async fn run() -> Result<(), protocol_core::ClientError> {
    /// let client: Client<ClientMsg, ServerMsg> = Client::builder("ws://127.0.0.1:8080/ws?token=...")
    ///     .refresh_every(std::time::Duration::from_secs(600), || {
    ///         Some(ClientMsg::Refresh { token: fresh_token() })
    ///     })
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn refresh_every(
        mut self,
        period: Duration,
        make: impl Fn() -> Option<Out> + Send + Sync + 'static,
    ) -> Self {
        let make: RefreshFn = Arc::new(move |id| {
            let msg = make()?;
            match encode_frame(&msg, Some(id)) {
                Ok(text) => Some(text),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot encode the refresh request");
                    None
                }
            }
        });
        self.settings.refresh = Some((period.max(Duration::from_millis(10)), make));
        self
    }

    /// Deadline for [`Client::request`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.settings.request_timeout = timeout;
        self
    }

    /// Reconnect when the connection drops (pending requests fail with [`ClientError::Closed`]).
    pub fn reconnect(mut self, backoff: Backoff) -> Self {
        self.settings.reconnect = Some(backoff);
        self
    }

    /// Resume room streams after a reconnect (on by default, for protocols that declare a
    /// `joins_stream` message): the client keeps each joined room's epoch and offset, re-sends
    /// the app's join with `since` when it reconnects, and hands the app each stream message
    /// once (a replay's repeats are dropped). [`Client::positions`] says where it stands and
    /// whether the last resume recovered; the join announcement says so too.
    pub fn resume(mut self, on: bool) -> Self {
        self.settings.resume = on;
        self
    }

    /// Largest message accepted from the server.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.settings.max_message_size = bytes;
        self
    }

    /// Connect.
    pub async fn connect(self) -> Result<Client<Out, In>, ClientError> {
        let settings = self.settings;
        let ws = open(&settings).await?;
        let (commands, command_rx) = mpsc::channel(256);
        let (push_tx, pushes) = mpsc::channel(settings.push_capacity);
        let pending: Pending<In> = Arc::default();
        let request_timeout = settings.request_timeout;
        let next_id = Arc::new(AtomicU64::new(1));
        let tracker = if settings.resume {
            Tracker::new::<Out>().map(Arc::new)
        } else {
            None
        };
        tokio::spawn(drive::<In>(
            ws,
            settings,
            Channels {
                next_id: Arc::clone(&next_id),
                commands: command_rx,
                pushes: push_tx,
                pending: Arc::clone(&pending),
                tracker: tracker.clone(),
                id_field: Out::ID_FIELD,
            },
        ));
        Ok(Client {
            commands,
            pushes,
            pending,
            next_id,
            request_timeout,
            tracker,
            marker: std::marker::PhantomData,
        })
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(builder: &Settings) -> Result<Ws, ClientError> {
    let url = builder.url.as_str();
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(builder.max_message_size))
        .max_frame_size(Some(builder.max_message_size));
    // `true`: TCP_NODELAY, so a request is not held back by Nagle's algorithm.
    #[cfg(feature = "tls")]
    let connected = {
        let connector = builder
            .tls
            .as_ref()
            .map(|tls| tokio_tungstenite::Connector::Rustls(std::sync::Arc::clone(tls)));
        tokio_tungstenite::connect_async_tls_with_config(url, Some(config), true, connector).await
    };
    #[cfg(not(feature = "tls"))]
    let connected = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await;
    connected.map(|(ws, _)| ws).map_err(|e| match e {
        tokio_tungstenite::tungstenite::Error::Http(resp) => {
            let body =
                String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).into_owned();
            ClientError::Connect {
                url: url.to_owned(),
                status: Some(resp.status().as_u16()),
                reason: format!("HTTP {}: {body}", resp.status()),
            }
        }
        other => ClientError::Connect {
            url: url.to_owned(),
            status: None,
            reason: other.to_string(),
        },
    })
}

fn jitter(d: Duration) -> Duration {
    // Cheap, non-cryptographic spread so clients do not reconnect in lockstep.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let frac = f64::from(nanos % 1000) / 2000.0;
    d.mul_f64(1.0 + frac)
}

fn lock<In>(
    pending: &Pending<In>,
) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Result<In, ClientError>>>> {
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the connection task shares with the [`Client`].
struct Channels<In> {
    next_id: Arc<AtomicU64>,
    commands: mpsc::Receiver<Command>,
    pushes: mpsc::Sender<In>,
    pending: Pending<In>,
    tracker: Option<Arc<Tracker>>,
    /// The correlation id field of the messages sent.
    id_field: &'static str,
}

async fn drive<In: Protocol>(mut ws: Ws, config: Settings, channels: Channels<In>) {
    let Channels {
        next_id,
        mut commands,
        pushes,
        pending,
        tracker,
        id_field,
    } = channels;
    loop {
        let refresh = config.refresh.as_ref().map(|(period, make)| Refresh {
            period: *period,
            make,
            next_id: &next_id,
            timeout: config.request_timeout,
        });
        let closed_by_us = run_socket(
            &mut ws,
            &mut commands,
            &pushes,
            &pending,
            refresh,
            tracker.as_deref(),
        )
        .await;
        for (_, tx) in lock(&pending).drain() {
            let _ = tx.send(Err(ClientError::Closed));
        }
        let Some(backoff) = config.reconnect.filter(|_| !closed_by_us) else {
            return;
        };
        let mut delay = backoff.initial;
        ws = loop {
            tokio::time::sleep(jitter(delay)).await;
            if commands.is_closed() {
                return;
            }
            match open(&config).await {
                Ok(mut ws) => {
                    // Resume every joined room before anything the app queued meanwhile.
                    let rejoins = tracker
                        .as_deref()
                        .map(|t| t.rejoin_frames(id_field))
                        .unwrap_or_default();
                    let mut sent = true;
                    for frame in rejoins {
                        if ws
                            .send(Message::Text(Utf8Bytes::from(frame)))
                            .await
                            .is_err()
                        {
                            sent = false;
                            break;
                        }
                    }
                    if sent {
                        break ws;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "reconnect failed");
                    delay = (delay * 2).min(backoff.max);
                }
            }
        };
    }
}

/// The periodic refresh request of a connection.
struct Refresh<'a> {
    period: Duration,
    make: &'a RefreshFn,
    next_id: &'a AtomicU64,
    timeout: Duration,
}

/// Returns whether the close was ours.
async fn run_socket<In: Protocol>(
    ws: &mut Ws,
    commands: &mut mpsc::Receiver<Command>,
    pushes: &mpsc::Sender<In>,
    pending: &Pending<In>,
    refresh: Option<Refresh<'_>>,
    tracker: Option<&Tracker>,
) -> bool {
    let period = refresh
        .as_ref()
        .map_or(Duration::from_secs(3600), |r| r.period);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            _ = tick.tick(), if refresh.is_some() => {
                let Some(r) = &refresh else { continue };
                let id = r.next_id.fetch_add(1, Ordering::Relaxed);
                let Some(text) = (r.make)(id) else { continue };
                let (tx, rx) = oneshot::channel();
                lock(pending).insert(id, tx);
                if ws.send(Message::Text(Utf8Bytes::from(text))).await.is_err() {
                    lock(pending).remove(&id);
                    return false;
                }
                let (timeout, pending) = (r.timeout, Arc::clone(pending));
                tokio::spawn(async move {
                    match tokio::time::timeout(timeout, rx).await {
                        Ok(Ok(Ok(_))) => tracing::debug!("credential refreshed"),
                        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "refresh refused"),
                        Ok(Err(_)) => {}
                        Err(_) => {
                            lock(&pending).remove(&id);
                            tracing::warn!("no answer to the refresh request");
                        }
                    }
                });
            }
            cmd = commands.recv() => match cmd {
                Some(Command::Frame(text)) => {
                    if ws.send(Message::Text(Utf8Bytes::from(text))).await.is_err() {
                        return false;
                    }
                }
                Some(Command::Close(code, reason)) => {
                    let frame = CloseFrame { code: CloseCode::from(code), reason: Utf8Bytes::from(reason) };
                    let _ = ws.close(Some(frame)).await;
                    while let Some(Ok(_)) = ws.next().await {}
                    return true;
                }
                None => {
                    let _ = ws.close(None).await;
                    return true;
                }
            },
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => deliver(text.as_str(), pushes, pending, tracker).await,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return false,
                Some(Ok(_)) => {}
            }
        }
    }
}

async fn deliver<In: Protocol>(
    text: &str,
    pushes: &mpsc::Sender<In>,
    pending: &Pending<In>,
    tracker: Option<&Tracker>,
) {
    let incoming = crate::codec::classify(text, In::TAG, In::ID_FIELD);
    let (is_error, id) = (incoming.is_error(), incoming.id());
    if let Some(id) = id {
        let waiter = lock(pending).remove(&id);
        if let Some(tx) = waiter {
            let result = if is_error {
                serde_json::from_str::<ErrorReply>(text)
                    .map_err(|e| ClientError::Encode(e.to_string()))
                    .and_then(|e| Err(ClientError::Server(e)))
            } else {
                decode_frame::<In>(text)
                    .map(|Frame { msg, .. }| msg)
                    .map_err(|e| ClientError::Decode(e.error))
            };
            if let Some(t) = tracker {
                match &result {
                    Ok(msg) => {
                        t.incoming(msg.variant_meta(), text, Some(id));
                    }
                    Err(_) => t.forget_request(id),
                }
            }
            let _ = tx.send(result);
            return;
        }
    }
    match decode_frame::<In>(text) {
        Ok(Frame { msg, .. }) => {
            if tracker.is_none_or(|t| t.incoming(msg.variant_meta(), text, None)) {
                let _ = pushes.send(msg).await;
            }
        }
        Err(e) => tracing::warn!(error = %e.error, "server sent a message that does not decode"),
    }
}

impl<Out: Protocol, In: Protocol> Client<Out, In> {
    /// Connect with the defaults of [`ClientBuilder::new`].
    pub async fn connect(url: impl Into<String>) -> Result<Self, ClientError> {
        ClientBuilder::new(url).connect().await
    }

    /// Configure a client.
    pub fn builder(url: impl Into<String>) -> ClientBuilder<Out, In> {
        ClientBuilder::new(url)
    }

    /// Send a message (no reply expected).
    pub async fn send(&self, msg: &Out) -> Result<(), ClientError> {
        let text = encode_frame(msg, None).map_err(|e| ClientError::Encode(e.to_string()))?;
        if let Some(t) = &self.tracker {
            t.outgoing(msg, None);
        }
        self.send_text(text).await
    }

    /// Send raw text as one frame (for tests of hostile input).
    pub async fn send_text(&self, text: String) -> Result<(), ClientError> {
        self.commands
            .send(Command::Frame(text))
            .await
            .map_err(|_| ClientError::Closed)
    }

    /// Send a request with a fresh correlation id and wait for the reply with the same id (or
    /// the error reply), within the request deadline.
    pub async fn request(&self, msg: &Out) -> Result<In, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let text = encode_frame(msg, Some(id)).map_err(|e| ClientError::Encode(e.to_string()))?;
        if let Some(t) = &self.tracker {
            t.outgoing(msg, Some(id));
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        if let Err(e) = self.send_text(text).await {
            lock(&self.pending).remove(&id);
            return Err(e);
        }
        match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => {
                lock(&self.pending).remove(&id);
                if let Some(t) = &self.tracker {
                    t.forget_request(id);
                }
                Err(ClientError::Timeout(self.request_timeout))
            }
        }
    }

    /// Where the client stands in each room stream it joined (empty when the protocol has no
    /// streams or resume is off): epoch, the offset up to which it has every message, and
    /// whether the last resume recovered.
    pub fn positions(&self) -> Vec<StreamPosition> {
        self.tracker
            .as_ref()
            .map(|t| t.positions())
            .unwrap_or_default()
    }

    /// The next pushed message (not a reply to a pending request); `None` once closed for good.
    pub async fn next(&mut self) -> Option<In> {
        self.pushes.recv().await
    }

    /// A pushed message if one has arrived.
    pub fn try_next(&mut self) -> Option<In> {
        self.pushes.try_recv().ok()
    }

    /// Close with a code and reason, waiting for the server's close.
    pub async fn close(self, code: u16, reason: &str) {
        let _ = self
            .commands
            .send(Command::Close(code, reason.to_owned()))
            .await;
        self.commands.closed().await;
    }
}

/// Pushed messages as a `Stream` (the same as calling [`Client::next`]).
impl<Out, In: Protocol> futures_util::Stream for Client<Out, In> {
    type Item = In;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<In>> {
        self.get_mut().pushes.poll_recv(cx)
    }
}
