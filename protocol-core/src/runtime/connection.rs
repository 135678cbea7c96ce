//! One WebSocket connection, on one task: a reader that decodes and dispatches, a writer fed by
//! the connection's bounded outbox, heartbeat, rate limit and the close codes of every limit.
//!
//! Generic over the stream, so a TCP socket, an upgraded hyper connection and an in-memory
//! duplex all run the same code. The layer below typed dispatch is [`FrameHandler`]: it sees
//! each text or binary frame and answers with frames; typed protocols plug in through
//! [`TypedFrames`], the echo server of the conformance tests through its own implementation.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use futures_util::{FutureExt, Sink, Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{
    Bytes, Error as WsError, Message, Utf8Bytes, error::CapacityError,
};
use tracing::Instrument;

use crate::dispatch::{Dispatch, Outcome, error_frame};
use crate::error::{ErrorCode, ErrorReply};
use crate::protocol::Protocol;
use crate::runtime::context::Context;
use crate::runtime::context::dispatch_frame;
use crate::runtime::hub::{ConnEntry, Hub};
use crate::runtime::limits::Limits;
use crate::runtime::rate::TokenBucket;
use crate::runtime::shutdown::RunState;
use crate::runtime::writer::write_loop;

/// Close code when a connection's credential expired without being renewed (IANA's
/// registered 3000, "Unauthorized").
pub const TOKEN_EXPIRED: u16 = 3000;

/// What a frame handler asks the connection to do with a frame it was given.
#[derive(Debug)]
#[non_exhaustive]
pub enum Reaction {
    /// Nothing to send.
    None,
    /// Send this text frame back (shared bytes: an echo costs no copy).
    Text(Utf8Bytes),
    /// Send this binary frame back.
    Binary(Bytes),
    /// Close the connection with this code and reason.
    Close(u16, String),
}

/// The layer below typed dispatch: what to do with each data frame of a connection.
pub trait FrameHandler: Send + Sync + 'static {
    /// The connection's hub protocol (what is pushed to connections).
    type Out: Protocol;

    /// A text frame arrived.
    fn on_text(
        &self,
        cx: &Context<Self::Out>,
        text: Utf8Bytes,
    ) -> impl Future<Output = Reaction> + Send;

    /// The connection opened (registered, before its first message). Default: nothing.
    fn on_open(&self, cx: &Context<Self::Out>) -> impl Future<Output = ()> + Send {
        let _ = cx;
        async {}
    }

    /// The connection ended, for whatever reason (the peer, a limit, shutdown), with the close
    /// code the connection ended with; called once, before it leaves its rooms. Default:
    /// nothing.
    fn on_close(
        &self,
        cx: &Context<Self::Out>,
        end: &Disconnect,
    ) -> impl Future<Output = ()> + Send {
        let _ = (cx, end);
        async {}
    }

    /// A binary frame arrived. JSON protocols refuse them: close 1003.
    fn on_binary(
        &self,
        cx: &Context<Self::Out>,
        data: Bytes,
    ) -> impl Future<Output = Reaction> + Send {
        let _ = (cx, data);
        async {
            Reaction::Close(
                1003,
                "binary frames are not accepted: send JSON in text frames".to_owned(),
            )
        }
    }
}

pub use crate::dispatch::Disconnect;

/// Typed protocols as a [`FrameHandler`]: decode (tag first), dispatch through the generated
/// trait, answer with the reply or the error reply.
pub struct TypedFrames<In, H> {
    pub(crate) handler: Arc<H>,
    pub(crate) marker: std::marker::PhantomData<fn() -> In>,
}

impl<In, H> TypedFrames<In, H> {
    /// Wrap a handler of `In` messages.
    pub fn new(handler: Arc<H>) -> Self {
        TypedFrames {
            handler,
            marker: std::marker::PhantomData,
        }
    }
}

impl<In: Dispatch<H>, H: Send + Sync + 'static> FrameHandler for TypedFrames<In, H> {
    type Out = In::Out;

    async fn on_open(&self, cx: &Context<Self::Out>) {
        In::connected(&self.handler, cx).await;
    }

    async fn on_close(&self, cx: &Context<Self::Out>, end: &Disconnect) {
        In::disconnected(&self.handler, cx, end).await;
    }

    async fn on_text(&self, cx: &Context<Self::Out>, text: Utf8Bytes) -> Reaction {
        let outcome = dispatch_frame::<In, H>(&self.handler, cx, text.as_str()).await;
        match &outcome {
            Outcome::Close { code, reason } => Reaction::Close(*code, reason.clone()),
            Outcome::Ignored { tag } => {
                tracing::debug!(tag = %tag, "ignored message of unknown type");
                Reaction::None
            }
            _ => {
                if let Outcome::Error { error, .. } = &outcome {
                    cx.hub().stats().record_error(error.code());
                    tracing::debug!(
                        code = error.code(),
                        message = error.message(),
                        "error reply"
                    );
                }
                outcome
                    .frame()
                    .map_or(Reaction::None, |f| Reaction::Text(Utf8Bytes::from(f)))
            }
        }
    }
}

/// `d` from now, saturating far in the future instead of overflowing (a limit of
/// `Duration::MAX` means "never").
fn after(d: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 24 * 3600))
}

/// When the reader next looks at its connection: when the next ping is due, when the heartbeat
/// runs out (no frame since `last_seen`), and, for a credential that expires, at its expiry and
/// at least once a second (a renewal made outside the reader's own handlers is seen within that
/// second).
fn check_at(
    next_ping: tokio::time::Instant,
    last_seen: Instant,
    limits: &Limits,
    expires_ms: u64,
) -> tokio::time::Instant {
    let silent = last_seen.elapsed();
    let at = after(limits.heartbeat_timeout.saturating_sub(silent)).min(next_ping);
    if expires_ms == 0 {
        return at;
    }
    let left =
        expires_ms.saturating_sub(crate::runtime::hub::unix_ms(std::time::SystemTime::now()));
    at.min(after(
        Duration::from_millis(left).min(Duration::from_secs(1)),
    ))
}

/// Run a connection to its end, on the task that called it: the reader and the writer are two
/// futures of this one task (a connection costs one task, not two), each waiting on its own
/// event, so a handler that awaits does not hold up the writer.
///
/// What an idle connection keeps is what this future holds while it waits, so the futures of
/// user code (the handler of a message, the lifecycle hooks, leaving the rooms) are boxed for
/// the time they run instead of being laid out inside it, and the connection has one timer, set
/// to its next deadline (ping, heartbeat, credential expiry), rather than periodic ticks.
pub(crate) fn run<S, F>(
    ws: WebSocketStream<S>,
    entry: Arc<ConnEntry>,
    hub: Hub<F::Out>,
    frames: Arc<F>,
    limits: Arc<Limits>,
    state: watch::Receiver<RunState>,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FrameHandler,
{
    // Split here, before the future exists: an `async fn` would keep the stream it was given
    // laid out beside its halves for the connection's whole life.
    let (sink, stream) = ws.split();
    run_halves(sink, stream, entry, hub, frames, limits, state)
}

/// [`run`] on the two halves of any socket that speaks tungstenite's [`Message`]: the
/// tungstenite stream's own halves, or a foreign socket mapped to them
/// ([`serve_socket`](crate::WsServer::serve_socket)). Monomorphised for each: nothing boxed.
pub(crate) fn run_halves<Si, St, F>(
    sink: Si,
    stream: St,
    entry: Arc<ConnEntry>,
    hub: Hub<F::Out>,
    frames: Arc<F>,
    limits: Arc<Limits>,
    state: watch::Receiver<RunState>,
) -> impl Future<Output = ()> + Send
where
    Si: Sink<Message> + Unpin + Send + 'static,
    St: Stream<Item = Result<Message, WsError>> + Unpin + Send + 'static,
    F: FrameHandler,
{
    let span = tracing::info_span!("conn", id = %entry.id, identity = %entry.identity);
    async move {
        tracing::debug!("open");
        let mut writer = std::pin::pin!(write_loop(sink, &entry));
        let mut writer_done = false;
        {
            let mut reader =
                std::pin::pin!(read_loop(stream, &entry, &hub, &*frames, &limits, state));
            // The task is woken for either half; the reader is polled only when its own waker
            // fired: polling it for a frame to write (every delivery of a broadcast) would ask
            // the socket for input for nothing.
            let wake = Arc::new(ReaderWake {
                woken: AtomicBool::new(true),
                task: AtomicWaker::new(),
            });
            let reader_waker = std::task::Waker::from(Arc::clone(&wake));
            std::future::poll_fn(|cx| {
                wake.task.register(cx.waker());
                if !writer_done && writer.as_mut().poll(cx).is_ready() {
                    writer_done = true;
                }
                if wake.woken.swap(false, Ordering::AcqRel) {
                    let mut own = std::task::Context::from_waker(&reader_waker);
                    if reader.as_mut().poll(&mut own).is_ready() {
                        return std::task::Poll::Ready(());
                    }
                }
                std::task::Poll::Pending
            })
            .await;
        }
        // The writer sends what is queued and the close frame; never wait on it forever (a peer
        // that does not read would hold the socket open).
        if !writer_done
            && tokio::time::timeout(limits.close_timeout, writer)
                .await
                .is_err()
        {
            tracing::debug!("writer did not finish in time; dropping the connection");
        }
        tracing::debug!("closed");
    }
    .instrument(span)
}

/// The reader's waker: marks the reader as due, and wakes the connection's task.
struct ReaderWake {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl std::task::Wake for ReaderWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// The reader: decodes and dispatches each frame, enforces the limits, and when the connection
/// ends runs the disconnect hook and leaves the hub.
// Not an `async fn`: an async block uses what it captured where it is, where an `async fn`
// would keep a second copy of each argument.
#[allow(clippy::manual_async_fn)]
fn read_loop<'a, St, F>(
    mut stream: St,
    entry: &'a Arc<ConnEntry>,
    hub: &'a Hub<F::Out>,
    frames: &'a F,
    limits: &'a Limits,
    mut state: watch::Receiver<RunState>,
) -> impl Future<Output = ()> + Send + 'a
where
    St: Stream<Item = Result<Message, WsError>> + Unpin + Send + 'a,
    F: FrameHandler,
{
    async move {
        let cx = hub.context(entry, None);
        if AssertUnwindSafe(Box::pin(frames.on_open(&cx)))
            .catch_unwind()
            .await
            .is_err()
        {
            tracing::error!("the connect hook panicked; the connection goes on");
        }
        // How the connection ends; the server's own closes overwrite it.
        let end = std::sync::Mutex::new(Disconnect::new(1006, "connection lost", false));
        let set_end = |d: Disconnect| {
            *end.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = d
        };
        let mut bucket = TokenBucket::new(limits.rate_per_second, limits.rate_burst);
        let mut strikes = 0u32;
        let mut last_seen = Instant::now();
        let mut armed_expiry = entry.expires_ms.load(std::sync::atomic::Ordering::Relaxed);
        // A zero interval would ping in a busy loop: at most one ping per 10 ms.
        let ping_every = limits.heartbeat_interval.max(Duration::from_millis(10));
        let mut next_ping = after(ping_every);
        // The connection's one timer (pings, heartbeat, expiry), moved on lazily: a frame only
        // updates `last_seen`, and the timer, when it fires early, is set again from it.
        let mut check = std::pin::pin!(tokio::time::sleep_until(check_at(
            next_ping,
            last_seen,
            limits,
            armed_expiry
        )));
        let close = |code: u16, reason: &str| {
            tracing::debug!(code, reason, "closing");
            set_end(Disconnect::new(code, reason, true));
            // Queued replies (the rate_limited errors, say) go out before the close frame.
            entry.outbox.close(code, reason, true);
        };
        loop {
            tokio::select! {
                biased;
                changed = state.changed() => {
                    if changed.is_err() || *state.borrow() != RunState::Running {
                        set_end(Disconnect::new(1001, "server shutting down", true));
                        entry.outbox.close(1001, "server shutting down", true);
                        // Keep reading until the peer answers the close or the grace ends.
                        wait_for_close(&mut stream, &mut state).await;
                        break;
                    }
                }
                () = entry.outbox.closing() => {
                    // A slow consumer (its queue overflowed) or a close asked for elsewhere.
                    set_end(match entry.outbox.close_reason() {
                        Some((code, reason)) => Disconnect::new(code, &reason, true),
                        None => Disconnect::new(1008, "closed by the server", true),
                    });
                    break;
                }
                () = &mut check => {
                    if last_seen.elapsed() >= limits.heartbeat_timeout {
                        close(1001, "ping timeout: no pong received");
                        break;
                    }
                    armed_expiry = entry.expires_ms.load(std::sync::atomic::Ordering::Relaxed);
                    if armed_expiry != 0 && crate::runtime::hub::unix_ms(std::time::SystemTime::now()) >= armed_expiry {
                        close(TOKEN_EXPIRED, "token expired: renew it before it expires");
                        break;
                    }
                    if entry.outbox.is_closing() {
                        break;
                    }
                    if tokio::time::Instant::now() >= next_ping {
                        entry.outbox.ping();
                        next_ping = after(ping_every);
                    }
                    check.as_mut().reset(check_at(next_ping, last_seen, limits, armed_expiry));
                }
                msg = stream.next() => {
                    let Some(msg) = msg else { break };
                    last_seen = Instant::now();
                    let reaction = match msg {
                        Ok(Message::Text(text)) => {
                            if !bucket.take(last_seen) {
                                strikes += 1;
                                if strikes > limits.rate_strikes {
                                    close(1008, "rate limit exceeded");
                                    break;
                                }
                                let id = crate::codec::classify(&text, F::Out::TAG, F::Out::ID_FIELD).id();
                                let error = ErrorReply::new(
                                    ErrorCode::RATE_LIMITED,
                                    format!("too many messages: the limit is {} per second (burst {})", limits.rate_per_second, limits.rate_burst),
                                );
                                hub.stats().record_error(error.code());
                                Reaction::Text(error_frame::<F::Out>(&error, id).into())
                            } else {
                                strikes = 0;
                                hub.stats().messages_in.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                // Boxed: laid out inside this future, the largest handler future
                                // would be memory every idle connection keeps.
                                Box::pin(handle(frames, &cx, text, limits.request_timeout)).await
                            }
                        }
                        Ok(Message::Binary(data)) => match AssertUnwindSafe(Box::pin(frames.on_binary(&cx, data))).catch_unwind().await {
                            Ok(r) => r,
                            Err(_) => Reaction::Close(1011, "internal error".to_owned()),
                        },
                        Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => Reaction::None,
                        Ok(Message::Close(frame)) => {
                            set_end(match frame {
                                Some(f) => Disconnect::new(u16::from(f.code), f.reason.as_str(), false),
                                None => Disconnect::new(1005, "", false),
                            });
                            break;
                        }
                        Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size })) => {
                            close(1009, &format!("message too big: {size} bytes, the limit is {max_size}"));
                            break;
                        }
                        Err(WsError::Utf8(_)) => {
                            close(1007, "invalid UTF-8 in a text frame");
                            break;
                        }
                        // The peer went away without a close frame: nothing to answer.
                        Err(WsError::Protocol(
                            tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                        )) => break,
                        Err(WsError::Protocol(e)) => {
                            close(1002, &format!("protocol error: {e}"));
                            break;
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "read failed");
                            break;
                        }
                    };
                    match reaction {
                        Reaction::None => {}
                        Reaction::Text(text) => {
                            let _ = entry.outbox.push(Message::Text(text));
                        }
                        Reaction::Binary(data) => {
                            let _ = entry.outbox.push(Message::Binary(data));
                        }
                        Reaction::Close(code, reason) => {
                            close(code, &reason);
                            break;
                        }
                    }
                    // A handler may have renewed the credential: the timer follows its expiry.
                    let expiry = entry.expires_ms.load(std::sync::atomic::Ordering::Relaxed);
                    if expiry != armed_expiry {
                        armed_expiry = expiry;
                        check.as_mut().reset(check_at(next_ping, last_seen, limits, armed_expiry));
                    }
                }
            }
        }
        let end = end
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if AssertUnwindSafe(Box::pin(frames.on_close(&cx, &end)))
            .catch_unwind()
            .await
            .is_err()
        {
            tracing::error!("the disconnect hook panicked");
        }
        Box::pin(hub.unregister(entry.id)).await;
        entry.outbox.close(1000, "", true);
    }
}

/// After asking a connection to close for shutdown, wait for the peer's close or the abort.
async fn wait_for_close<S>(stream: &mut S, state: &mut watch::Receiver<RunState>)
where
    S: futures_util::Stream<Item = Result<Message, WsError>> + Unpin,
{
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            changed = state.changed() => {
                if changed.is_err() || *state.borrow() == RunState::Abort {
                    return;
                }
            }
        }
    }
}

/// Handle one text frame: one deadline per request, a panicking handler fails only this
/// message.
async fn handle<F: FrameHandler>(
    frames: &F,
    cx: &Context<F::Out>,
    text: Utf8Bytes,
    deadline: Duration,
) -> Reaction {
    let id_hint = || crate::codec::classify(&text, F::Out::TAG, F::Out::ID_FIELD).id();
    let mut handling =
        std::pin::pin!(AssertUnwindSafe(frames.on_text(cx, text.clone())).catch_unwind());
    // Most handlers finish without waiting: only arm the deadline timer for those that do not.
    let finished = match futures_util::FutureExt::now_or_never(handling.as_mut()) {
        Some(done) => Ok(done),
        None => tokio::time::timeout(deadline, handling).await,
    };
    match finished {
        Ok(Ok(reaction)) => reaction,
        Ok(Err(panic)) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %what, "handler panicked; the connection stays open");
            let error = ErrorReply::new(
                ErrorCode::INTERNAL,
                "the server failed to handle this message",
            );
            cx.hub().stats().record_error(error.code());
            Reaction::Text(error_frame::<F::Out>(&error, id_hint()).into())
        }
        Err(_) => {
            tracing::warn!(
                deadline_ms = deadline.as_millis() as u64,
                "handler missed its deadline"
            );
            let error = ErrorReply::new(
                ErrorCode::TIMEOUT,
                format!("no answer within {} ms", deadline.as_millis()),
            );
            cx.hub().stats().record_error(error.code());
            Reaction::Text(error_frame::<F::Out>(&error, id_hint()).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::Role;

    #[derive(Debug, Clone, PartialEq, crate::Protocol)]
    #[protocol(rename_all = "snake_case")]
    enum Out {
        Pong,
    }

    /// A handler whose future is large: it holds 16 KiB across an await.
    struct Big;

    impl FrameHandler for Big {
        type Out = Out;
        async fn on_text(&self, _cx: &Context<Out>, text: Utf8Bytes) -> Reaction {
            let mut scratch = [0u8; 16 * 1024];
            scratch[text.len() % scratch.len()] = 1;
            tokio::task::yield_now().await;
            Reaction::Text(Utf8Bytes::from(format!("{}", scratch.iter().sum::<u8>())))
        }
        async fn on_close(&self, _cx: &Context<Out>, _end: &Disconnect) {
            let scratch = [1u8; 16 * 1024];
            tokio::task::yield_now().await;
            assert_eq!(scratch.len(), 16 * 1024);
        }
    }

    /// What an idle connection keeps is the connection's future: the futures of the handler and
    /// the hooks are not laid out inside it, whatever their size.
    #[tokio::test]
    async fn an_idle_connection_does_not_hold_its_handlers_futures() {
        let (server, _client) = tokio::io::duplex(64);
        let ws = WebSocketStream::from_raw_socket(server, Role::Server, None).await;
        let hub = Hub::<Out>::new();
        let entry = hub.register(Arc::from("probe"), None);
        let (_state, watch) = watch::channel(RunState::Running);
        let conn = run(
            ws,
            entry,
            hub,
            Arc::new(Big),
            Arc::new(Limits::default()),
            watch,
        );
        let size = std::mem::size_of_val(&conn);
        assert!(
            size < 4 * 1024,
            "the connection future is {size} bytes: a handler future is inside it"
        );
    }

    #[test]
    fn deadlines_saturate_instead_of_overflowing() {
        let far = after(Duration::MAX);
        assert!(far > tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600));
        let limits = Limits {
            heartbeat_timeout: Duration::MAX,
            ..Limits::default()
        };
        let ping = after(Duration::from_secs(5));
        // The ping comes first; with an expiring credential, at most a second away.
        assert_eq!(check_at(ping, Instant::now(), &limits, 0), ping);
        let expires = crate::runtime::hub::unix_ms(std::time::SystemTime::now()) + 60_000;
        assert!(check_at(ping, Instant::now(), &limits, expires) <= after(Duration::from_secs(1)));
    }
}
