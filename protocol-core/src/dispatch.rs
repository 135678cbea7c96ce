//! Generated dispatch: `#[derive(Protocol)]` on `enum ClientMsg` also generates a
//! `ClientMsgHandler` trait with one async method per variant, and implements [`Dispatch`] so
//! that routing a message is a generated `match`, not a string lookup.
//!
//! Dispatch needs no socket: attach a connection to a `Hub` and call `dispatch` or
//! `dispatch_frame` in a plain test (the runtime), or dispatch with a context of your own
//! with [`dispatch_frame_with`] (any WebSocket stack, no runtime needed; see [`ContextKind`]).
//!
//! ```
//! use protocol_core::{Context, ErrorReply, Hub, Outcome, Protocol, dispatch_frame};
//!
//! #[derive(Debug, PartialEq, Protocol)]
//! #[protocol(rename_all = "snake_case")]
//! enum ClientMsg {
//!     /// Say hello; the server answers `welcome`.
//!     #[protocol(reply = ServerMsg::Welcome)]
//!     Hello { name: String },
//!     Ping,
//! }
//!
//! #[derive(Debug, PartialEq, Protocol)]
//! #[protocol(rename_all = "snake_case")]
//! enum ServerMsg {
//!     Welcome { text: String },
//!     Error(ErrorReply),
//! }
//!
//! struct Greeter;
//!
//! impl ClientMsgHandler for Greeter {
//!     type Out = ServerMsg;
//!
//!     // A request answers with its declared reply only: `ServerMsgWelcome`.
//!     async fn on_hello(&self, cx: &Context<ServerMsg>, name: String) -> Result<ServerMsgWelcome, ErrorReply> {
//!         if name.is_empty() {
//!             return Err(ErrorReply::invalid("/name", "name must not be empty"));
//!         }
//!         Ok(ServerMsgWelcome { text: format!("hello {name}, I am talking to {}", cx.identity()) })
//!     }
//!
//!     async fn on_ping(&self, _cx: &Context<ServerMsg>) -> Result<(), ErrorReply> {
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let hub = Hub::<ServerMsg>::new();
//! let (cx, _inbox) = hub.attach("alice");
//! let outcome = dispatch_frame::<ClientMsg, _>(&Greeter, &cx, r#"{"type":"hello","id":7,"name":"bob"}"#).await;
//! assert_eq!(outcome.frame().as_deref(), Some(r#"{"type":"welcome","id":7,"text":"hello bob, I am talking to alice"}"#));
//!
//! let outcome = dispatch_frame::<ClientMsg, _>(&Greeter, &cx, r#"{"type":"hello","id":8,"name":""}"#).await;
//! assert_eq!(
//!     outcome.frame().as_deref(),
//!     Some(r#"{"type":"error","id":8,"code":"invalid_message","message":"name must not be empty","pointer":"/name"}"#)
//! );
//! # });
//! ```

use std::future::Future;

use crate::codec::{
    DecodeErrorKind, Frame, FrameError, decode_frame, encode_frame, insert_after_tag,
};
use crate::error::{ErrorCode, ErrorReply, UnknownPolicy};
use crate::protocol::Protocol;

/// What a handler's `cx` is, for each protocol it answers with: a family of context types.
///
/// The runtime's is `Runtime` (`cx: &Context<Out>`, the default of every
/// generated handler trait). A server of your own (any WebSocket stack) defines its own kind
/// and context type, and dispatches with [`dispatch_frame_with`]:
///
/// ```
/// use protocol_core::{ContextKind, ErrorReply, Outcome, Protocol, dispatch_frame_with};
///
/// #[derive(Debug, PartialEq, Protocol)]
/// #[protocol(rename_all = "snake_case")]
/// enum ClientMsg {
///     #[protocol(reply = ServerMsg::Pong)]
///     Ping,
/// }
///
/// #[derive(Debug, PartialEq, Protocol)]
/// #[protocol(rename_all = "snake_case")]
/// enum ServerMsg {
///     Pong { user: String },
///     Error(ErrorReply),
/// }
///
/// /// My socket's context: who is on it.
/// struct MyCx { user: String }
/// enum MySocket {}
/// impl ContextKind for MySocket {
///     type For<Out: Protocol> = MyCx;
/// }
///
/// struct App;
/// impl ClientMsgHandler<MySocket> for App {
///     type Out = ServerMsg;
///     async fn on_ping(&self, cx: &MyCx) -> Result<ServerMsgPong, ErrorReply> {
///         Ok(ServerMsgPong { user: cx.user.clone() })
///     }
/// }
///
/// let cx = MyCx { user: "ann".into() };
/// let out = futures_executor_lite(dispatch_frame_with::<ClientMsg, _, MySocket>(&App, &cx, r#"{"type":"ping","id":3}"#));
/// assert_eq!(out.frame().as_deref(), Some(r#"{"type":"pong","id":3,"user":"ann"}"#));
/// # fn futures_executor_lite<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let waker = std::task::Waker::noop();
/// #     match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
/// #         std::task::Poll::Ready(v) => v,
/// #         std::task::Poll::Pending => unreachable!("the handler does not wait"),
/// #     }
/// # }
/// ```
pub trait ContextKind: 'static {
    /// The context a handler gets for messages it answers with `Out`.
    type For<Out: Protocol>: Send + Sync;
}

/// The context kind a generated handler trait uses when none is named.
#[cfg(feature = "runtime")]
#[doc(hidden)]
pub type DefaultContextKind = Runtime;

/// The runtime's context kind: handlers get a [`Context`](crate::Context) (the default of every
/// generated handler trait: `impl ClientMsgHandler for App` means
/// `impl ClientMsgHandler<Runtime> for App`).
#[cfg(feature = "runtime")]
#[derive(Debug)]
pub enum Runtime {}

/// Without the runtime there is no default context: name yours
/// (`impl ClientMsgHandler<MySocket> for App`); this one cannot be built.
#[cfg(not(feature = "runtime"))]
#[doc(hidden)]
pub enum DefaultContextKind {}

#[cfg(not(feature = "runtime"))]
impl ContextKind for DefaultContextKind {
    type For<Out: Protocol> = std::convert::Infallible;
}

/// How a connection ended: the close code and reason it ended with (sent by the server for a
/// limit or shutdown, or received from the peer; 1006 when the socket was lost without a close
/// frame).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Disconnect {
    /// The close code (1000 normal, 1001 going away / shutdown, 1008 policy, 1009 too big, ...).
    pub code: u16,
    /// The close reason.
    pub reason: String,
    /// Whether the server closed it (a limit, shutdown, a handler's close), not the peer.
    pub by_server: bool,
}

impl Disconnect {
    /// How a connection ended, for a server of your own calling the `disconnected` hook.
    pub fn new(code: u16, reason: &str, by_server: bool) -> Self {
        Disconnect {
            code,
            reason: reason.to_owned(),
            by_server,
        }
    }
}

/// Routes a decoded message to the handler method of its variant. Implemented by
/// `#[derive(Protocol)]` for every handler type `H` that implements the generated trait, for
/// each context kind `K` it implements it with.
#[diagnostic::on_unimplemented(
    message = "`{H}` does not handle `{Self}` messages",
    label = "the handler for `{Self}`",
    note = "implement the trait generated by #[derive(Protocol)] on `{Self}` (named `{Self}Handler` unless #[protocol(handler = \"...\")] says otherwise) for `{H}`"
)]
pub trait Dispatch<H: ?Sized, K: ContextKind = DefaultContextKind>: Protocol {
    /// The protocol of the replies.
    type Out: Protocol;

    /// Call the handler's method for this message; a request's reply comes back as `Some`.
    fn dispatch(
        handler: &H,
        cx: &K::For<Self::Out>,
        msg: Self,
    ) -> impl Future<Output = Result<Option<Self::Out>, ErrorReply>> + Send;

    /// The handler's `connected` hook.
    fn connected(handler: &H, cx: &K::For<Self::Out>) -> impl Future<Output = ()> + Send;

    /// The handler's `disconnected` hook.
    fn disconnected(
        handler: &H,
        cx: &K::For<Self::Out>,
        end: &Disconnect,
    ) -> impl Future<Output = ()> + Send;
}

/// Dispatch a decoded message to `handler` with a context of kind `K`.
pub async fn dispatch_with<In: Dispatch<H, K>, H: ?Sized, K: ContextKind>(
    handler: &H,
    cx: &K::For<In::Out>,
    msg: In,
) -> Result<Option<In::Out>, ErrorReply> {
    In::dispatch(handler, cx, msg).await
}

/// What handling one frame came to; [`Outcome::frame`] is what goes back on the wire.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome<Out> {
    /// A request was answered.
    Reply {
        /// The request's correlation id.
        id: Option<u64>,
        /// The reply.
        msg: Out,
    },
    /// A notification was handled.
    Done,
    /// The frame failed to decode, or its handler returned an error.
    Error {
        /// The correlation id of the failed message, when it had a readable one.
        id: Option<u64>,
        /// The error.
        error: ErrorReply,
    },
    /// A message of unknown type, ignored by the protocol's `on_unknown = "ignore"` policy.
    Ignored {
        /// The unknown tag.
        tag: String,
    },
    /// The connection should close (unknown type under `on_unknown = "close"`).
    Close {
        /// Close code.
        code: u16,
        /// Reason.
        reason: String,
    },
}

impl<Out: Protocol> Outcome<Out> {
    /// The frame to send back, if any: the reply with the request's id after the tag, or the
    /// error reply `{"type":"error","id":..,"code":..,"message":..,"pointer":..}`.
    pub fn frame(&self) -> Option<String> {
        match self {
            Outcome::Reply { id, msg } => match encode_frame(msg, *id) {
                Ok(text) => Some(text),
                Err(e) => Some(error_frame::<Out>(
                    &ErrorReply::new(ErrorCode::INTERNAL, e.to_string()),
                    *id,
                )),
            },
            Outcome::Error { id, error } => Some(error_frame::<Out>(error, *id)),
            Outcome::Done | Outcome::Ignored { .. } | Outcome::Close { .. } => None,
        }
    }
}

/// The wire form of an error reply in protocol `Out`: `{"type":"error","id":1,"code":..}`.
pub fn error_frame<Out: Protocol>(error: &ErrorReply, id: Option<u64>) -> String {
    #[derive(serde::Serialize)]
    struct Wire<'a> {
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        pointer: Option<&'a str>,
    }
    let body = serde_json::to_string(&Wire {
        code: error.code(),
        message: error.message(),
        pointer: error.pointer(),
    })
    .unwrap_or_else(|_| r#"{"code":"internal_error","message":"unencodable error"}"#.to_owned());
    let tag = serde_json::Value::from(Out::TAG);
    let text = format!("{{{tag}:\"error\",{}", &body[1..]);
    match id {
        Some(id) => insert_after_tag(&text, Out::ID_FIELD, id),
        None => text,
    }
}

/// Decode a frame (tag first): the message and its id, or what to answer instead
/// (`invalid_json`, `unknown_type`, `invalid_message` carrying the frame's id, or the
/// protocol's unknown-type policy).
pub(crate) fn decode_for_dispatch<In: Protocol, Out>(
    text: &str,
) -> Result<Frame<In>, Outcome<Out>> {
    decode_frame::<In>(text).map_err(|FrameError { id, error }| {
        if let DecodeErrorKind::UnknownType { tag, .. } = error.kind() {
            match In::ON_UNKNOWN {
                UnknownPolicy::Ignore => return Outcome::Ignored { tag: tag.clone() },
                UnknownPolicy::Close => {
                    return Outcome::Close {
                        code: 1008,
                        reason: format!("unknown message type {tag:?}"),
                    };
                }
                _ => {}
            }
        }
        Outcome::Error {
            id,
            error: error.to_error_reply(),
        }
    })
}

pub(crate) fn outcome<Out>(
    id: Option<u64>,
    result: Result<Option<Out>, ErrorReply>,
) -> Outcome<Out> {
    match result {
        Ok(Some(msg)) => Outcome::Reply { id, msg },
        Ok(None) => Outcome::Done,
        Err(error) => Outcome::Error { id, error },
    }
}

/// `dispatch_frame` with a context of your own kind `K` (a server on another WebSocket stack,
/// or no runtime at all): decode, dispatch, and the outcome to answer with.
pub async fn dispatch_frame_with<In: Dispatch<H, K>, H: ?Sized, K: ContextKind>(
    handler: &H,
    cx: &K::For<In::Out>,
    text: &str,
) -> Outcome<In::Out> {
    let Frame { id, msg } = match decode_for_dispatch::<In, In::Out>(text) {
        Ok(frame) => frame,
        Err(outcome) => return outcome,
    };
    outcome(id, In::dispatch(handler, cx, msg).await)
}
