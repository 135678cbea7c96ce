//! The message layer on its own: with `default-features = false, features = ["derive"]` (no
//! tokio, tokio-tungstenite, futures or tracing in the build; CI checks that with `cargo tree`)
//! the derive, the codec, the schema, error replies and the generated handler trait with a
//! context of the app's own all work. CI runs this file in both feature sets.

use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::task::{Context as TaskContext, Poll, Waker};

use protocol_core::{
    ContextKind, DecodeErrorKind, Disconnect, Dispatch, ErrorReply, Outcome, Protocol, Since,
    decode, dispatch_frame_with, encode, schema_for,
};

#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
enum ClientMsg {
    #[protocol(joins_stream = ServerMsg::Joined)]
    Join {
        room: String,
        since: Option<Since>,
    },
    #[protocol(reply = ServerMsg::Sent)]
    Message {
        room: String,
        text: String,
    },
    Ping,
}

#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
enum ServerMsg {
    Joined {
        room: String,
        epoch: String,
        offset: u64,
    },
    Sent {
        message_id: String,
    },
    Error(ErrorReply),
}

/// A socket of the app's own: what its handlers see, and what they push.
struct MyCx {
    user: String,
    pushed: Mutex<Vec<ServerMsg>>,
}

enum MySocket {}

impl ContextKind for MySocket {
    type For<Out: Protocol> = MyCx;
}

struct App;

impl ClientMsgHandler<MySocket> for App {
    type Out = ServerMsg;

    async fn disconnected(&self, cx: &MyCx, end: &Disconnect) {
        cx.pushed.lock().unwrap().push(ServerMsg::Sent {
            message_id: format!("bye {}", end.code),
        });
    }

    async fn on_join(
        &self,
        cx: &MyCx,
        room: String,
        since: Option<Since>,
    ) -> Result<(), ErrorReply> {
        cx.pushed.lock().unwrap().push(ServerMsg::Joined {
            room,
            epoch: "e".into(),
            offset: since.map_or(0, |s| s.offset),
        });
        Ok(())
    }

    async fn on_message(
        &self,
        cx: &MyCx,
        room: String,
        text: String,
    ) -> Result<ServerMsgSent, ErrorReply> {
        if text.is_empty() {
            return Err(ErrorReply::invalid("/text", "say something"));
        }
        Ok(ServerMsgSent {
            message_id: format!("{}@{room}", cx.user),
        })
    }

    async fn on_ping(&self, _cx: &MyCx) -> Result<(), ErrorReply> {
        Ok(())
    }
}

/// The handlers do not wait on anything: one poll finishes them (no executor needed).
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut TaskContext::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the handler waited"),
    }
}

fn cx() -> MyCx {
    MyCx {
        user: "ann".into(),
        pushed: Mutex::new(Vec::new()),
    }
}

#[test]
fn codec_schema_and_constants() {
    assert_eq!(ClientMsg::TYPES, &["join", "message", "ping"]);
    let msg = decode::<ClientMsg>(r#"{"type":"message","room":"r","text":"hi"}"#).unwrap();
    assert_eq!(
        msg,
        ClientMsg::Message {
            room: "r".into(),
            text: "hi".into()
        }
    );
    assert_eq!(
        encode(&ServerMsg::Sent {
            message_id: "m1".into()
        })
        .unwrap(),
        r#"{"type":"sent","messageId":"m1"}"#
    );
    let e = decode::<ClientMsg>(r#"{"type":"mesage"}"#).unwrap_err();
    assert!(
        matches!(e.kind(), DecodeErrorKind::UnknownType { .. }),
        "{e}"
    );
    assert_eq!(e.to_error_reply().code(), "unknown_type");
    let schema = schema_for::<ClientMsg>();
    assert!(schema.to_string().contains("\"since\""), "{schema}");
}

#[test]
fn the_generated_trait_runs_on_a_context_of_the_apps_own() {
    let cx = cx();
    let out = now(dispatch_frame_with::<ClientMsg, _, MySocket>(
        &App,
        &cx,
        r#"{"type":"message","id":4,"room":"r","text":"hi"}"#,
    ));
    assert_eq!(
        out.frame().as_deref(),
        Some(r#"{"type":"sent","id":4,"messageId":"ann@r"}"#)
    );
    let out = now(dispatch_frame_with::<ClientMsg, _, MySocket>(
        &App,
        &cx,
        r#"{"type":"message","id":5,"room":"r","text":""}"#,
    ));
    assert_eq!(
        out.frame().as_deref(),
        Some(
            r#"{"type":"error","id":5,"code":"invalid_message","message":"say something","pointer":"/text"}"#
        )
    );
    let out = now(dispatch_frame_with::<ClientMsg, _, MySocket>(
        &App, &cx, "not json",
    ));
    assert!(
        matches!(&out, Outcome::Error { error, .. } if error.code() == "invalid_json"),
        "{out:?}"
    );
    let out = now(dispatch_frame_with::<ClientMsg, _, MySocket>(
        &App,
        &cx,
        r#"{"type":"join","room":"r","since":{"epoch":"e","offset":3}}"#,
    ));
    assert_eq!(out, Outcome::Done);
    now(<ClientMsg as Dispatch<App, MySocket>>::disconnected(
        &App,
        &cx,
        &Disconnect::new(1000, "", false),
    ));
    assert_eq!(
        *cx.pushed.lock().unwrap(),
        [
            ServerMsg::Joined {
                room: "r".into(),
                epoch: "e".into(),
                offset: 3
            },
            ServerMsg::Sent {
                message_id: "bye 1000".into()
            },
        ]
    );
}
