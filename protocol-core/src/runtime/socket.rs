//! Serve a typed server on a WebSocket some other stack accepted (axum's own `WebSocketUpgrade`,
//! actix-ws, ...): map its messages to [`SocketMessage`] in a few lines and hand the socket to
//! [`WsServer::serve_socket`]. The connection then runs on the runtime's own connection loop,
//! exactly as [`WsServer::serve_websocket`] runs it: the same reply ids and error replies, the
//! protocol's unknown-type policy, rate limit, request deadline, outgoing queue and slow-consumer
//! policy, heartbeat (the pings go out as [`SocketMessage::Ping`]) and close codes.
//!
//! The largest message is checked on each text or binary message's length
//! ([`Limits::max_message_size`](crate::Limits::max_message_size), close 1009), for stacks that
//! did not check it themselves. Other read errors are the stack's; say which with
//! [`SocketError`] when the stack tells them apart (too big: close 1009, invalid UTF-8: 1007).
//! Any other error (every `std::error::Error` converts with `From`) ends the connection as
//! lost (1006), as a broken socket does on the tungstenite path.
//!
//! What it costs: each outgoing text is copied once into the `String` of
//! [`SocketMessage::Text`] (the tungstenite path shares one encoding between all recipients);
//! incoming text is taken over without a copy.
//!
//! ```no_run
//! use std::io;
//!
//! use futures_util::{Sink, SinkExt, Stream, StreamExt};
//! use protocol_core::connection::TypedFrames;
//! use protocol_core::socket::{SocketClose, SocketError, SocketMessage};
//! use protocol_core::{Admission, Context, ErrorReply, Protocol, Server, WsServer};
//! # #[derive(Protocol)] #[protocol(rename_all = "snake_case")] enum ClientMsg { Ping }
//! # #[derive(Protocol)] #[protocol(rename_all = "snake_case")] enum ServerMsg { Pong, Error(ErrorReply) }
//! # struct App;
//! # impl ClientMsgHandler for App {
//! #     type Out = ServerMsg;
//! #     async fn on_ping(&self, _: &Context<ServerMsg>) -> Result<(), ErrorReply> { Ok(()) }
//! # }
//!
//! /// Some other stack's message type.
//! enum Theirs {
//!     Text(String),
//!     Bytes(Vec<u8>),
//!     Ping(Vec<u8>),
//!     Pong(Vec<u8>),
//!     Close(Option<(u16, String)>),
//! }
//!
//! fn ours(msg: Theirs) -> SocketMessage {
//!     match msg {
//!         Theirs::Text(text) => SocketMessage::Text(text),
//!         Theirs::Bytes(data) => SocketMessage::Binary(data.into()),
//!         Theirs::Ping(data) => SocketMessage::Ping(data.into()),
//!         Theirs::Pong(data) => SocketMessage::Pong(data.into()),
//!         Theirs::Close(frame) => SocketMessage::Close(frame.map(|(code, reason)| SocketClose { code, reason })),
//!     }
//! }
//!
//! fn theirs(msg: SocketMessage) -> Theirs {
//!     match msg {
//!         SocketMessage::Text(text) => Theirs::Text(text),
//!         SocketMessage::Binary(data) => Theirs::Bytes(data.to_vec()),
//!         SocketMessage::Ping(data) => Theirs::Ping(data.to_vec()),
//!         SocketMessage::Pong(data) => Theirs::Pong(data.to_vec()),
//!         SocketMessage::Close(frame) => Theirs::Close(frame.map(|c| (c.code, c.reason))),
//!     }
//! }
//!
//! /// `socket` was accepted by the other stack after `server.admit(..)` let its request in.
//! async fn serve<T>(server: &WsServer<TypedFrames<ClientMsg, App>>, socket: T, admission: Admission)
//! where
//!     T: Stream<Item = Result<Theirs, io::Error>> + Sink<Theirs, Error = io::Error> + Send + 'static,
//! {
//!     let socket = socket
//!         .map(|read| read.map(ours).map_err(SocketError::from))
//!         .with(|msg| std::future::ready(Ok::<_, io::Error>(theirs(msg))));
//!     server.serve_socket(socket, admission).await;
//! }
//! # let _ = Server::<ClientMsg, App>::builder(App).build();
//! ```

use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message, Utf8Bytes};

use crate::runtime::admit::Admission;
use crate::runtime::connection::FrameHandler;
use crate::runtime::server::WsServer;

/// A WebSocket message, neutral of any stack: what a foreign socket's messages are mapped to
/// (and from) for [`WsServer::serve_socket`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketMessage {
    /// A text message.
    Text(String),
    /// A binary message (typed protocols close with 1003 on one).
    Binary(Bytes),
    /// A ping (the runtime's heartbeat sends these; answering a peer's ping is the stack's job).
    Ping(Bytes),
    /// A pong: any message, pongs included, keeps the connection's heartbeat alive.
    Pong(Bytes),
    /// A close message, with its code and reason when it has them.
    Close(Option<SocketClose>),
}

/// A close frame's code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketClose {
    /// The close code (1000 normal, 1001 going away, 1008 policy, 1009 too big, ...).
    pub code: u16,
    /// The reason (at most 123 bytes are sent).
    pub reason: String,
}

/// Why reading a foreign socket failed. Any `std::error::Error` converts into one (the
/// connection then ends as lost, 1006); the constructors say what the runtime should answer.
pub struct SocketError(ErrorKind);

enum ErrorKind {
    TooBig { size: usize, max_size: usize },
    InvalidUtf8(String),
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl SocketError {
    /// The stack refused a message over its size limit: close 1009.
    pub fn too_big(size: usize, max_size: usize) -> Self {
        SocketError(ErrorKind::TooBig { size, max_size })
    }

    /// A text message was not UTF-8: close 1007.
    pub fn invalid_utf8(detail: impl Into<String>) -> Self {
        SocketError(ErrorKind::InvalidUtf8(detail.into()))
    }

    fn into_ws(self) -> WsError {
        match self.0 {
            ErrorKind::TooBig { size, max_size } => {
                WsError::Capacity(CapacityError::MessageTooLong { size, max_size })
            }
            ErrorKind::InvalidUtf8(detail) => WsError::Utf8(detail),
            ErrorKind::Other(e) => WsError::Io(std::io::Error::other(e)),
        }
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for SocketError {
    fn from(e: E) -> Self {
        SocketError(ErrorKind::Other(Box::new(e)))
    }
}

impl fmt::Debug for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            ErrorKind::TooBig { size, max_size } => {
                write!(f, "message too big: {size} bytes, the limit is {max_size}")
            }
            ErrorKind::InvalidUtf8(d) => write!(f, "invalid UTF-8: {d}"),
            ErrorKind::Other(e) => write!(f, "{e}"),
        }
    }
}

impl From<SocketMessage> for Message {
    fn from(msg: SocketMessage) -> Message {
        match msg {
            SocketMessage::Text(text) => Message::Text(Utf8Bytes::from(text)),
            SocketMessage::Binary(data) => Message::Binary(data),
            SocketMessage::Ping(data) => Message::Ping(data),
            SocketMessage::Pong(data) => Message::Pong(data),
            SocketMessage::Close(frame) => Message::Close(frame.map(|c| CloseFrame {
                code: CloseCode::from(c.code),
                reason: Utf8Bytes::from(c.reason),
            })),
        }
    }
}

/// Tungstenite's message as ours; `None` for a raw frame (the runtime never writes one).
fn to_socket(msg: Message) -> Option<SocketMessage> {
    Some(match msg {
        Message::Text(text) => SocketMessage::Text(text.as_str().to_owned()),
        Message::Binary(data) => SocketMessage::Binary(data),
        Message::Ping(data) => SocketMessage::Ping(data),
        Message::Pong(data) => SocketMessage::Pong(data),
        Message::Close(frame) => SocketMessage::Close(frame.map(|f| SocketClose {
            code: u16::from(f.code),
            reason: f.reason.as_str().to_owned(),
        })),
        Message::Frame(_) => return None,
    })
}

/// The read half of a foreign socket as the connection loop's stream of tungstenite messages,
/// with the size limit checked on each message.
struct Incoming<St> {
    inner: St,
    max_size: usize,
}

impl<St, E> Stream for Incoming<St>
where
    St: Stream<Item = Result<SocketMessage, E>> + Unpin,
    E: Into<SocketError>,
{
    type Item = Result<Message, WsError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let max_size = self.max_size;
        self.inner.poll_next_unpin(cx).map(|read| {
            read.map(|read| match read {
                Ok(SocketMessage::Text(text)) if text.len() > max_size => {
                    Err(WsError::Capacity(CapacityError::MessageTooLong {
                        size: text.len(),
                        max_size,
                    }))
                }
                Ok(SocketMessage::Binary(data)) if data.len() > max_size => {
                    Err(WsError::Capacity(CapacityError::MessageTooLong {
                        size: data.len(),
                        max_size,
                    }))
                }
                Ok(msg) => Ok(Message::from(msg)),
                Err(e) => Err(e.into().into_ws()),
            })
        })
    }
}

/// The write half of a foreign socket as a sink of tungstenite messages.
struct Outgoing<Si> {
    inner: Si,
}

impl<Si: Sink<SocketMessage> + Unpin> Sink<Message> for Outgoing<Si> {
    type Error = Si::Error;

    fn poll_ready(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready_unpin(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        match to_socket(item) {
            Some(msg) => self.inner.start_send_unpin(msg),
            None => Ok(()),
        }
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_flush_unpin(cx)
    }

    fn poll_close(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_close_unpin(cx)
    }
}

impl<F: FrameHandler> WsServer<F> {
    /// Serve a WebSocket another stack accepted, once [`admit`](Self::admit) let its upgrade
    /// request in, on the same connection loop as [`serve_websocket`](Self::serve_websocket):
    /// see the [module documentation](self). Returns when the connection ends; its place in
    /// the per-address count is given back then.
    pub async fn serve_socket<T, E>(&self, socket: T, admission: Admission)
    where
        T: Stream<Item = Result<SocketMessage, E>> + Sink<SocketMessage> + Send + 'static,
        E: Into<SocketError>,
    {
        let (sink, stream) = socket.split();
        let stream = Incoming {
            inner: stream,
            max_size: self.limits().max_message_size,
        };
        self.serve_halves(Outgoing { inner: sink }, stream, admission)
            .await;
    }
}
