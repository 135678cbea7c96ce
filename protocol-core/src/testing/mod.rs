//! A test kit in the spirit of Phoenix's ChannelTest: a real server on `127.0.0.1:0`, clients
//! that connect as an identity, and assertions that wait (with a timeout) and say what did
//! arrive when they fail. Every frame in both directions is validated against the protocol's
//! JSON Schema, so a handler that sends something its schema does not allow fails the test.
//!
//! ```
//! use protocol_core::testing::TestServer;
//! use protocol_core::{Context, ErrorReply, Protocol, assert_push};
//!
//! #[derive(Debug, Clone, PartialEq, Protocol)]
//! #[protocol(rename_all = "snake_case")]
//! enum ClientMsg {
//!     Poke { user: String },
//! }
//!
//! #[derive(Debug, Clone, PartialEq, Protocol)]
//! #[protocol(rename_all = "snake_case")]
//! enum ServerMsg {
//!     Poked { by: String },
//!     Error(ErrorReply),
//! }
//!
//! struct App;
//!
//! impl ClientMsgHandler for App {
//!     type Out = ServerMsg;
//!     async fn on_poke(&self, cx: &Context<ServerMsg>, user: String) -> Result<(), ErrorReply> {
//!         cx.send_to(&user, &ServerMsg::Poked { by: cx.identity().into() }).map_err(|e| ErrorReply::new("internal_error", e.to_string()))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let server = TestServer::<ClientMsg, App>::start(App).await;
//! let mut alice = server.connect_as("alice").await;
//! let mut bob = server.connect_as("bob").await;
//! alice.send(&ClientMsg::Poke { user: "bob".into() }).await;
//! assert_push!(bob, ServerMsg::Poked { by } if by == "alice");
//! alice.assert_no_push(std::time::Duration::from_millis(50)).await;
//! # });
//! ```

use std::collections::VecDeque;
use std::fmt::Debug;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

mod redis_server;
pub use redis_server::RedisServer;

use crate::codec::{decode_frame, encode_frame};
use crate::dispatch::Dispatch;
use crate::error::ErrorReply;
use crate::protocol::Protocol;
use crate::runtime::connection::TypedFrames;
use crate::runtime::hub::Hub;
use crate::runtime::server::{Rejection, Server, ServerBuilder, ShutdownHandle};
use crate::schema::schema_for;

/// How long assertions wait for a frame unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Schema validators of both directions, compiled once per server.
struct Validators {
    client: jsonschema::Validator,
    server: jsonschema::Validator,
}

impl Validators {
    fn new<C: Protocol, S: Protocol>() -> Self {
        let compile = |schema: serde_json::Value, what: &str| {
            jsonschema::validator_for(&schema)
                .unwrap_or_else(|e| panic!("the {what} schema does not compile: {e}"))
        };
        Validators {
            client: compile(schema_for::<C>(), "client"),
            server: compile(schema_for::<S>(), "server"),
        }
    }

    fn check(&self, from_client: bool, text: &str) {
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) else {
            return;
        };
        let (v, dir) = if from_client {
            (&self.client, "client -> server")
        } else {
            (&self.server, "server -> client")
        };
        let errors: Vec<String> = v
            .iter_errors(&doc)
            .map(|e| format!("at {}: {e}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "a {dir} frame violates the protocol's JSON Schema (do the handlers and the schema disagree?):\n  frame: {text}\n  {}",
            errors.join("\n  ")
        );
    }
}

/// Appends frames to a JSONL traffic record (`{"from":..,"conn":N,"frame":{..}}`).
#[derive(Default)]
struct Recorder {
    file: Mutex<Option<std::fs::File>>,
}

impl Recorder {
    fn record(&self, from_client: bool, conn: u64, text: &str) {
        let mut guard = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(file) = guard.as_mut() else { return };
        let frame: serde_json::Value = serde_json::from_str(text)
            .unwrap_or_else(|_| serde_json::Value::String(text.to_owned()));
        let line = serde_json::json!({ "from": if from_client { "client" } else { "server" }, "conn": conn, "frame": frame });
        let _ = writeln!(file, "{line}");
    }
}

/// A real server of protocol `In` (handled by `H`) on `127.0.0.1:0`.
pub struct TestServer<In: Dispatch<H>, H: Send + Sync + 'static> {
    addr: SocketAddr,
    hub: Hub<In::Out>,
    shutdown: ShutdownHandle,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    validators: Arc<Validators>,
    recorder: Arc<Recorder>,
    next_conn: AtomicU64,
}

/// The identity from `?user=NAME`; what [`TestServer::start`] authenticates with.
pub fn user_from_query(
    req: &tokio_tungstenite::tungstenite::handshake::server::Request,
) -> Result<String, Rejection> {
    crate::query::param(req.uri().query().unwrap_or_default(), "user")
        .filter(|u| !u.is_empty())
        .map(std::borrow::Cow::into_owned)
        .ok_or_else(|| Rejection::new(401, "connect with ?user=NAME"))
}

impl<In: Dispatch<H>, H: Send + Sync + 'static> TestServer<In, H> {
    /// Start a server with default limits; clients authenticate as `?user=NAME`.
    pub async fn start(handler: H) -> Self {
        Self::start_with(Server::<In, H>::builder(handler).authenticate(user_from_query)).await
    }

    /// Start a server with this hub (presence messages, broker, authorization), default
    /// limits, clients authenticating as `?user=NAME`.
    pub async fn start_with_hub(handler: H, hub: crate::Hub<In::Out>) -> Self {
        Self::start_with(Server::<In, H>::builder(handler).hub(hub)).await
    }

    /// Start a configured server (hub, limits, Origins, ...). Without an authenticate hook of
    /// its own it authenticates `?user=NAME` like [`start`](Self::start); with one, that hook
    /// decides, and [`connect_as`](Self::connect_as) checks that it agreed.
    pub async fn start_with(mut builder: ServerBuilder<TypedFrames<In, H>>) -> Self {
        if builder.anonymous {
            builder = builder.authenticate(user_from_query);
        }
        let server = builder.build();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let hub = server.hub().clone();
        let shutdown = server.shutdown_handle();
        let task = tokio::spawn(async move { server.serve(listener).await });
        TestServer {
            addr,
            hub,
            shutdown,
            task: Some(task),
            validators: Arc::new(Validators::new::<In, In::Out>()),
            recorder: Arc::default(),
            next_conn: AtomicU64::new(1),
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL a client of `identity` connects to.
    pub fn url(&self, identity: &str) -> String {
        format!("ws://{}/ws?user={identity}", self.addr)
    }

    /// The server's registry.
    pub fn hub(&self) -> &Hub<In::Out> {
        &self.hub
    }

    /// Record every frame of every client of this server, from now on, to a JSONL file
    /// (`protocol-schema validate` reads it).
    pub fn record_to(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let file = std::fs::File::create(path)?;
        *self
            .recorder
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(file);
        Ok(())
    }

    /// Connect as `identity`; panics if the server refuses, or if the server registered the
    /// connection under another identity (its authenticate hook does not read `?user=NAME`).
    pub async fn connect_as(&self, identity: &str) -> TestClient<In, In::Out> {
        match self.try_connect_as(identity).await {
            Ok(c) => c,
            Err(e) => panic!("connect as {identity:?} failed: {e}"),
        }
    }

    /// Connect as `identity`, returning the handshake error (e.g. an HTTP rejection) or the
    /// identity mismatch.
    pub async fn try_connect_as(&self, identity: &str) -> Result<TestClient<In, In::Out>, String> {
        let before = self.hub.identity_connection_count(identity);
        let mut changes = self.hub.watch_connections();
        let client = TestClient::open(
            &self.url(identity),
            identity,
            self.next_conn.fetch_add(1, Ordering::Relaxed),
            Arc::clone(&self.validators),
            Arc::clone(&self.recorder),
        )
        .await?;
        // The server registers the connection just after the handshake: wait for it to be
        // counted under the identity asked for.
        let registered = tokio::time::timeout(Duration::from_secs(5), async {
            while self.hub.identity_connection_count(identity) <= before {
                if changes.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        if registered.is_err() || self.hub.identity_connection_count(identity) <= before {
            return Err(format!(
                "the server did not register this connection as {identity:?} (its identities are \
                 {:?}): its authenticate hook does not read ?user=NAME; use TestServer::start, \
                 start_with without an authenticate hook, or connect with the credential it expects",
                self.hub.online()
            ));
        }
        Ok(client)
    }

    /// Wait until the server has exactly `n` connections (it counts asynchronously).
    pub async fn wait_for_connections(&self, n: usize) {
        let mut rx = self.hub.watch_connections();
        let waited = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|c| *c == n)).await;
        assert!(
            waited.is_ok(),
            "the server never had {n} connections (it has {})",
            self.hub.connection_count()
        );
    }

    /// Shut down gracefully and wait for the server to finish.
    pub async fn shutdown(mut self) {
        self.shutdown.shutdown();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
    }
}

impl<In: Dispatch<H>, H: Send + Sync + 'static> Drop for TestServer<In, H> {
    fn drop(&mut self) {
        self.shutdown.shutdown();
    }
}

/// One received frame.
#[derive(Debug, Clone)]
enum Received<S> {
    Msg {
        id: Option<u64>,
        msg: S,
        text: String,
    },
    Error {
        id: Option<u64>,
        error: ErrorReply,
        text: String,
    },
    Other(String),
}

impl<S: Debug> Received<S> {
    fn text(&self) -> &str {
        match self {
            Received::Msg { text, .. } | Received::Error { text, .. } | Received::Other(text) => {
                text
            }
        }
    }
}

/// A client of a [`TestServer`]: sends `C`, receives `S`.
pub struct TestClient<C, S> {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    identity: String,
    conn: u64,
    inbox: VecDeque<Received<S>>,
    seen: Vec<String>,
    closed: Option<Option<(u16, String)>>,
    next_id: u64,
    timeout: Duration,
    validators: Arc<Validators>,
    recorder: Arc<Recorder>,
    marker: std::marker::PhantomData<fn(C)>,
}

impl<C, S> TestClient<C, S> {
    async fn open(
        url: &str,
        identity: &str,
        conn: u64,
        validators: Arc<Validators>,
        recorder: Arc<Recorder>,
    ) -> Result<Self, String> {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .map_err(|e| format!("{identity}: connect to {url}: {e}"))?;
        Ok(TestClient {
            ws,
            identity: identity.to_owned(),
            conn,
            inbox: VecDeque::new(),
            seen: Vec::new(),
            closed: None,
            next_id: 1,
            timeout: DEFAULT_TIMEOUT,
            validators,
            recorder,
            marker: std::marker::PhantomData,
        })
    }
}

impl<C: Protocol + Debug, S: Protocol + Debug + Clone> TestClient<C, S> {
    /// Connect to a server that runs elsewhere (another process, another node) at `url`,
    /// naming the client `identity` in failures. Frames are validated against the schemas of
    /// `C` and `S` as with [`TestServer::connect_as`].
    pub async fn connect(url: &str, identity: &str) -> Result<Self, String> {
        Self::open(
            url,
            identity,
            1,
            Arc::new(Validators::new::<C, S>()),
            Arc::default(),
        )
        .await
    }

    /// The identity this client connected as.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// How long assertions wait (default 2 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    async fn send_frame(&mut self, text: String, validate: bool) {
        if validate {
            self.validators.check(true, &text);
        }
        self.recorder.record(true, self.conn, &text);
        if let Err(e) = self.ws.send(Message::Text(text.into())).await {
            panic!("{}: send failed: {e}", self.identity);
        }
    }

    /// Send a message (validated against the client schema).
    pub async fn send(&mut self, msg: &C) {
        let text = encode_frame(msg, None).expect("the message encodes");
        self.send_frame(text, true).await;
    }

    /// Send a request with a fresh id and wait for the reply with that id: `Ok(reply)` or the
    /// error reply. Pushes that arrive meanwhile stay in the inbox for later assertions.
    pub async fn request(&mut self, msg: &C) -> Result<S, ErrorReply> {
        let id = self.next_id;
        self.next_id += 1;
        let text = encode_frame(msg, Some(id)).expect("the message encodes");
        self.send_frame(text, true).await;
        let found = self
            .take_matching(|r| matches!(r, Received::Msg { id: Some(i), .. } | Received::Error { id: Some(i), .. } if *i == id))
            .await;
        match found {
            Some(Received::Msg { msg, .. }) => Ok(msg),
            Some(Received::Error { error, .. }) => Err(error),
            _ => panic!(
                "{}: no reply to request {id} within {:?}; received: {}",
                self.identity,
                self.timeout,
                self.describe()
            ),
        }
    }

    /// Send text as one frame, unvalidated (hostile tests).
    pub async fn send_raw_text(&mut self, text: &str) {
        self.send_frame(text.to_owned(), false).await;
    }

    /// Send a binary frame.
    pub async fn send_binary(&mut self, data: &[u8]) {
        let _ = self
            .ws
            .send(Message::Binary(Bytes::copy_from_slice(data)))
            .await;
    }

    /// Send a text frame of `bytes` bytes (to trip the server's message size limit).
    pub async fn send_oversized(&mut self, bytes: usize) {
        let text = format!("{{\"type\":\"{}\"}}", "x".repeat(bytes.saturating_sub(12)));
        let _ = self.ws.send(Message::Text(text.into())).await;
    }

    /// Read one frame from the socket (into the inbox); false on timeout or close.
    async fn pull(&mut self, until: tokio::time::Instant) -> bool {
        if self.closed.is_some() {
            return false;
        }
        let next = match tokio::time::timeout_at(until, self.ws.next()).await {
            Err(_) => return false,
            Ok(n) => n,
        };
        match next {
            Some(Ok(Message::Text(text))) => {
                let text = text.to_string();
                self.validators.check(false, &text);
                self.recorder.record(false, self.conn, &text);
                self.seen.push(text.clone());
                let incoming = crate::codec::classify(&text, S::TAG, S::ID_FIELD);
                let is_error = incoming.is_error();
                let received = match decode_frame::<S>(&text) {
                    Ok(frame) if !is_error => Received::Msg {
                        id: frame.id,
                        msg: frame.msg,
                        text,
                    },
                    _ => match serde_json::from_str::<ErrorReply>(&text) {
                        Ok(error) if is_error => {
                            let id = incoming.id();
                            Received::Error { id, error, text }
                        }
                        _ => Received::Other(text),
                    },
                };
                self.inbox.push_back(received);
                true
            }
            Some(Ok(Message::Close(frame))) => {
                self.closed = Some(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
                false
            }
            Some(Ok(_)) => true,
            Some(Err(_)) | None => {
                self.closed = Some(None);
                false
            }
        }
    }

    async fn take_matching(&mut self, pred: impl Fn(&Received<S>) -> bool) -> Option<Received<S>> {
        let until = tokio::time::Instant::now() + self.timeout;
        loop {
            if let Some(pos) = self.inbox.iter().position(&pred) {
                return self.inbox.remove(pos);
            }
            if !self.pull(until).await {
                return None;
            }
        }
    }

    fn describe(&self) -> String {
        let mut out = if self.seen.is_empty() {
            "nothing".to_owned()
        } else {
            format!("\n    {}", self.seen.join("\n    "))
        };
        if let Some(c) = &self.closed {
            out.push_str(&format!("\n    (connection closed: {c:?})"));
        }
        out
    }

    /// Wait for a pushed message (not a reply) satisfying `pred`; consume and return it. Use the
    /// [`assert_push!`](crate::assert_push) macro, which builds `pred` from a pattern.
    pub async fn expect_push(&mut self, pred: impl Fn(&S) -> bool, what: &str) -> S {
        match self
            .take_matching(|r| matches!(r, Received::Msg { msg, .. } if pred(msg)))
            .await
        {
            Some(Received::Msg { msg, .. }) => msg,
            _ => panic!(
                "{}: expected a push matching `{what}` within {:?}; received: {}",
                self.identity,
                self.timeout,
                self.describe()
            ),
        }
    }

    /// Wait up to `within` for a pushed message satisfying `pred`; consume and return it, or
    /// `None` (no failure: for polling, e.g. until delivery resumes after an outage).
    pub async fn wait_push(&mut self, pred: impl Fn(&S) -> bool, within: Duration) -> Option<S> {
        let saved = std::mem::replace(&mut self.timeout, within);
        let found = self
            .take_matching(|r| matches!(r, Received::Msg { msg, .. } if pred(msg)))
            .await;
        self.timeout = saved;
        match found {
            Some(Received::Msg { msg, .. }) => Some(msg),
            _ => None,
        }
    }

    /// Fail if a push satisfying `pred` arrives within `within`. Use [`refute_push!`](crate::refute_push).
    pub async fn refute_push_matching(
        &mut self,
        pred: impl Fn(&S) -> bool,
        what: &str,
        within: Duration,
    ) {
        let saved = self.timeout;
        self.timeout = within;
        let found = self
            .take_matching(|r| matches!(r, Received::Msg { msg, .. } if pred(msg)))
            .await;
        self.timeout = saved;
        if let Some(r) = found {
            panic!(
                "{}: expected no push matching `{what}`, got {}",
                self.identity,
                r.text()
            );
        }
    }

    /// Fail if any frame arrives within `within`.
    pub async fn assert_no_push(&mut self, within: Duration) {
        let until = tokio::time::Instant::now() + within;
        while self.inbox.is_empty() && self.pull(until).await {}
        if let Some(r) = self.inbox.front() {
            panic!(
                "{}: expected no push within {within:?}, got {}",
                self.identity,
                r.text()
            );
        }
    }

    /// Send a request and fail unless it is answered with an error reply of `code`; returns it.
    pub async fn assert_error(&mut self, msg: &C, code: &str) -> ErrorReply {
        match self.request(msg).await {
            Err(e) if e.code() == code => e,
            Err(e) => panic!("{}: expected error `{code}`, got error {e}", self.identity),
            Ok(reply) => panic!(
                "{}: expected error `{code}`, got reply {reply:?}",
                self.identity
            ),
        }
    }

    /// Wait for an error reply (to a raw frame, say) of `code`; returns it.
    pub async fn expect_error(&mut self, code: &str) -> ErrorReply {
        match self
            .take_matching(|r| matches!(r, Received::Error { error, .. } if error.code() == code))
            .await
        {
            Some(Received::Error { error, .. }) => error,
            _ => panic!(
                "{}: expected an error `{code}` within {:?}; received: {}",
                self.identity,
                self.timeout,
                self.describe()
            ),
        }
    }

    /// Fail unless the server closes the connection with `code` (within the timeout).
    pub async fn assert_closed(&mut self, code: u16) {
        let until = tokio::time::Instant::now() + self.timeout.max(Duration::from_secs(5));
        while self.pull(until).await {}
        match &self.closed {
            Some(Some((c, _))) if *c == code => {}
            other => panic!(
                "{}: expected close code {code}, got {other:?}; received: {}",
                self.identity,
                self.describe()
            ),
        }
    }

    /// Everything received so far, as text.
    pub fn received(&self) -> &[String] {
        &self.seen
    }

    /// Close the connection normally.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        while let Some(Ok(_)) = self.ws.next().await {}
    }
}

/// Wait for a push matching a pattern (with an optional guard) and return it; on timeout, panic
/// listing what did arrive.
///
/// `assert_push!(client, ServerMsg::Read { by, .. } if by == "bob")`
///
/// With `=> expression`, it returns the expression instead, evaluated with the pattern's
/// bindings: `let members = assert_push!(client, ServerMsg::Joined { members, .. } => members);`
#[macro_export]
macro_rules! assert_push {
    ($client:expr, $($pat:pat_param)|+ $(if $guard:expr)? => $out:expr $(,)?) => {
        match $crate::assert_push!($client, $($pat)|+ $(if $guard)?) {
            $($pat)|+ $(if $guard)? => $out,
            #[allow(unreachable_patterns)]
            _ => ::core::unreachable!("the push matched the pattern a moment ago"),
        }
    };
    ($client:expr, $($pat:pat_param)|+ $(if $guard:expr)? $(,)?) => {
        $client
            .expect_push(
                |__m| {
                    // The bindings are for the `=>` form; here only whether it matches counts.
                    #[allow(unused_variables)]
                    let __matches = ::core::matches!(__m, $($pat)|+ $(if $guard)?);
                    __matches
                },
                ::core::stringify!($($pat)|+ $(if $guard)?),
            )
            .await
    };
}

/// Fail if a push matching the pattern arrives within the duration (default 100 ms).
///
/// `refute_push!(client, ServerMsg::Typing { .. })`
#[macro_export]
macro_rules! refute_push {
    ($client:expr, $($pat:pat_param)|+ $(if $guard:expr)?, within = $d:expr $(,)?) => {
        $client
            .refute_push_matching(
                |__m| ::core::matches!(__m, $($pat)|+ $(if $guard)?),
                ::core::stringify!($($pat)|+ $(if $guard)?),
                $d,
            )
            .await
    };
    ($client:expr, $($pat:pat_param)|+ $(if $guard:expr)? $(,)?) => {
        $crate::refute_push!($client, $($pat)|+ $(if $guard)?, within = ::std::time::Duration::from_millis(100))
    };
}

/// Every listed client gets a push matching the pattern, and the sender does not.
///
/// `assert_broadcast!(alice => [bob, carol], ServerMsg::Message { text, .. } if text == "hi")`
#[macro_export]
macro_rules! assert_broadcast {
    ($sender:expr => [$($member:expr),+ $(,)?], $($rest:tt)+) => {{
        $crate::__assert_push_each!([$($member),+] $($rest)+);
        $crate::refute_push!($sender, $($rest)+);
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __assert_push_each {
    ([$first:expr $(, $more:expr)*] $($rest:tt)+) => {
        $crate::assert_push!($first, $($rest)+);
        $crate::__assert_push_each!([$($more),*] $($rest)+);
    };
    ([] $($rest:tt)+) => {};
}

/// A reply satisfies a pattern: `assert_reply!(client.request(&msg).await, ServerMsg::Sent { .. })`.
///
/// With `=> expression`, it returns the expression evaluated with the pattern's bindings:
/// `let id = assert_reply!(client.request(&msg).await, ServerMsg::Sent { message_id } => message_id);`
#[macro_export]
macro_rules! assert_reply {
    ($reply:expr, $($pat:pat_param)|+ $(if $guard:expr)? => $out:expr $(,)?) => {
        match $crate::assert_reply!($reply, $($pat)|+ $(if $guard)?) {
            $($pat)|+ $(if $guard)? => $out,
            #[allow(unreachable_patterns)]
            _ => ::core::unreachable!("the reply matched the pattern a moment ago"),
        }
    };
    ($reply:expr, $($pat:pat_param)|+ $(if $guard:expr)? $(,)?) => {
        match $reply {
            ::core::result::Result::Ok(__r) => {
                #[allow(unused_variables)]
                let __matches = ::core::matches!(&__r, $($pat)|+ $(if $guard)?);
                if !__matches {
                    ::core::panic!("expected a reply matching `{}`, got {:?}", ::core::stringify!($($pat)|+ $(if $guard)?), __r);
                }
                __r
            }
            ::core::result::Result::Err(__e) => ::core::panic!(
                "expected a reply matching `{}`, got error {}",
                ::core::stringify!($($pat)|+ $(if $guard)?),
                __e
            ),
        }
    };
}

/// A reply does not satisfy a pattern (an error reply passes).
#[macro_export]
macro_rules! refute_reply {
    ($reply:expr, $($pat:pat_param)|+ $(if $guard:expr)? $(,)?) => {
        if let ::core::result::Result::Ok(__r) = &$reply {
            if ::core::matches!(__r, $($pat)|+ $(if $guard)?) {
                ::core::panic!("expected no reply matching `{}`, got {:?}", ::core::stringify!($($pat)|+ $(if $guard)?), __r);
            }
        }
    };
}
