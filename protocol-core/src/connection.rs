//! One WebSocket connection: a reader task that decodes and dispatches, a writer fed by the
//! connection's bounded outbox, heartbeat, rate limit and the close codes of every limit.
//!
//! Generic over the stream, so a TCP socket, an upgraded hyper connection and an in-memory
//! duplex all run the same code. The layer below typed dispatch is [`FrameHandler`]: it sees
//! each text or binary frame and answers with frames; typed protocols plug in through
//! [`TypedFrames`], the echo server of the conformance tests through its own implementation.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{
    Bytes, Error as WsError, Message, Utf8Bytes, error::CapacityError,
};
use tracing::Instrument;

use crate::context::Context;
use crate::dispatch::{Dispatch, Outcome, dispatch_frame, error_frame};
use crate::error::{ErrorCode, ErrorReply};
use crate::hub::{ConnEntry, Hub};
use crate::outbox::Next;
use crate::protocol::Protocol;
use crate::server::{Limits, RunState};

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

/// A token bucket: `rate` tokens per second, at most `burst`.
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(rate: f64, burst: u32) -> Self {
        TokenBucket {
            rate,
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: Instant::now(),
        }
    }

    pub(crate) fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn close_message(code: u16, reason: &str) -> Message {
    // A close reason is at most 123 bytes (RFC 6455 5.5): cut on a char boundary.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from(&reason[..end]),
    }))
}

/// Run a connection to its end: reader here, writer on its own task.
pub(crate) async fn run<S, F>(
    ws: WebSocketStream<S>,
    entry: Arc<ConnEntry>,
    hub: Hub<F::Out>,
    frames: Arc<F>,
    limits: Arc<Limits>,
    mut state: watch::Receiver<RunState>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FrameHandler,
{
    let span = tracing::info_span!("conn", id = %entry.id, identity = %entry.identity);
    async move {
        tracing::debug!("open");
        let (mut sink, mut stream) = ws.split();
        let writer_entry = Arc::clone(&entry);
        let ping_every = limits.heartbeat_interval;
        let writer = tokio::spawn(
            async move {
                let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
                loop {
                    tokio::select! {
                        next = writer_entry.outbox.next() => match next {
                            Some(Next::Frame(frame)) => {
                                // Batch what is queued into one flush (one syscall for a backlog).
                                let mut pending = Some(Next::Frame(frame));
                                let mut failed = false;
                                let mut close = None;
                                while let Some(next) = pending.take() {
                                    match next {
                                        Next::Frame(f) => {
                                            if sink.feed(f).await.is_err() {
                                                failed = true;
                                                break;
                                            }
                                            pending = writer_entry.outbox.try_next();
                                        }
                                        Next::Close(code, reason) => close = Some((code, reason)),
                                    }
                                }
                                if failed || sink.flush().await.is_err() {
                                    break;
                                }
                                if let Some((code, reason)) = close {
                                    let _ = sink.send(close_message(code, &reason)).await;
                                    break;
                                }
                            }
                            Some(Next::Close(code, reason)) => {
                                let _ = sink.send(close_message(code, &reason)).await;
                                break;
                            }
                            None => break,
                        },
                        _ = ping.tick() => {
                            if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                writer_entry.outbox.mark_closed();
                let _ = sink.close().await;
            }
            .in_current_span(),
        );

        let cx = hub.context(&entry, None);
        if AssertUnwindSafe(frames.on_open(&cx)).catch_unwind().await.is_err() {
            tracing::error!("the connect hook panicked; the connection goes on");
        }
        // How the connection ends; the server's own closes overwrite it.
        let end = std::sync::Mutex::new(Disconnect::new(1006, "connection lost", false));
        let set_end = |d: Disconnect| *end.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = d;
        let mut bucket = TokenBucket::new(limits.rate_per_second, limits.rate_burst);
        let mut strikes = 0u32;
        let mut last_seen = Instant::now();
        let mut check = tokio::time::interval(limits.heartbeat_interval.min(Duration::from_secs(1)).max(Duration::from_millis(50)));
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
                        if wait_for_close(&mut stream, &mut state).await {
                            break;
                        }
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
                _ = check.tick() => {
                    if last_seen.elapsed() > limits.heartbeat_timeout {
                        close(1001, "ping timeout: no pong received");
                        break;
                    }
                    let expires = entry.expires_ms.load(std::sync::atomic::Ordering::Relaxed);
                    if expires != 0 && crate::hub::unix_ms(std::time::SystemTime::now()) >= expires {
                        close(TOKEN_EXPIRED, "token expired: renew it before it expires");
                        break;
                    }
                    if entry.outbox.is_closing() {
                        break;
                    }
                }
                msg = stream.next() => {
                    let Some(msg) = msg else { break };
                    last_seen = Instant::now();
                    let reaction = match msg {
                        Ok(Message::Text(text)) => {
                            if !bucket.take(Instant::now()) {
                                strikes += 1;
                                if strikes > limits.rate_strikes {
                                    close(1008, "rate limit exceeded");
                                    break;
                                }
                                let id = crate::locate::find_u64(text.as_bytes(), <F::Out as Protocol>::ID_FIELD);
                                let error = ErrorReply::new(
                                    ErrorCode::RATE_LIMITED,
                                    format!("too many messages: the limit is {} per second (burst {})", limits.rate_per_second, limits.rate_burst),
                                );
                                hub.stats().record_error(error.code());
                                Reaction::Text(error_frame::<F::Out>(&error, id).into())
                            } else {
                                strikes = 0;
                                hub.stats().messages_in.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                handle(&*frames, &cx, text, limits.request_timeout).await
                            }
                        }
                        Ok(Message::Binary(data)) => match AssertUnwindSafe(frames.on_binary(&cx, data)).catch_unwind().await {
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
                }
            }
        }
        let end = end.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        if AssertUnwindSafe(frames.on_close(&cx, &end)).catch_unwind().await.is_err() {
            tracing::error!("the disconnect hook panicked");
        }
        hub.unregister(entry.id).await;
        entry.outbox.close(1000, "", true);
        // The writer sends what is queued and the close frame; never wait on it forever (a peer
        // that does not read would hold the socket open).
        let abort = writer.abort_handle();
        if tokio::time::timeout(limits.close_timeout, writer).await.is_err() {
            tracing::debug!("writer did not finish in time; dropping the connection");
            abort.abort();
        }
        tracing::debug!("closed");
    }
    .instrument(span)
    .await;
}

/// After asking a connection to close for shutdown, wait for the peer's close or the abort.
async fn wait_for_close<S>(stream: &mut S, state: &mut watch::Receiver<RunState>) -> bool
where
    S: futures_util::Stream<Item = Result<Message, WsError>> + Unpin,
{
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return true,
                Some(Ok(_)) => {}
            },
            changed = state.changed() => {
                if changed.is_err() || *state.borrow() == RunState::Abort {
                    return false;
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
    let id_hint = || crate::locate::find_u64(text.as_bytes(), <F::Out as Protocol>::ID_FIELD);
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
