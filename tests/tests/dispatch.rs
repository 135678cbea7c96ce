//! Generated dispatch without any socket: every variant shape, requests and notifications,
//! error mapping, unknown-message policies, correlation ids.

#![allow(missing_docs)]

use std::sync::Mutex;

use protocol_core::{Context, ErrorReply, Hub, Outcome, Protocol, dispatch, dispatch_frame};
use protocol_tests::Position;
use serde_json::{Value, json};

/// What the app's client sends.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ClientMsg {
    /// Unit notification.
    Ping,
    /// Struct request.
    #[protocol(reply = ServerMsg::Sent)]
    Message { room: String, text: String },
    /// Newtype notification.
    Move(Position),
    /// Unit request.
    #[protocol(reply = ServerMsg::Pong)]
    Time,
    /// Catch-all.
    #[protocol(other)]
    Unknown { r#type: String, raw: Value },
}

#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ServerMsg {
    Sent { message_id: String },
    Pong { at: u64 },
    Moved { by: String, x: i32 },
    Error(ErrorReply),
}

#[derive(Default)]
struct App {
    log: Mutex<Vec<String>>,
}

impl ClientMsgHandler for App {
    type Out = ServerMsg;

    async fn on_ping(&self, cx: &Context<ServerMsg>) -> Result<(), ErrorReply> {
        self.log.lock().unwrap().push(format!(
            "ping from {} id {:?}",
            cx.identity(),
            cx.request_id()
        ));
        Ok(())
    }

    async fn on_message(
        &self,
        cx: &Context<ServerMsg>,
        room: String,
        text: String,
    ) -> Result<ServerMsgSent, ErrorReply> {
        if text.is_empty() {
            return Err(ErrorReply::invalid("/text", "text must not be empty"));
        }
        if room != "general" {
            return Err(
                ErrorReply::new("not_in_room", format!("not in room {room:?}"))
                    .with_pointer("/room"),
            );
        }
        Ok(ServerMsgSent {
            message_id: format!("{}-{}", cx.identity(), cx.request_id().unwrap_or(0)),
        })
    }

    async fn on_move(&self, cx: &Context<ServerMsg>, msg: Position) -> Result<(), ErrorReply> {
        cx.push(&ServerMsg::Moved {
            by: cx.identity().into(),
            x: msg.x,
        })
        .unwrap();
        Ok(())
    }

    async fn on_time(&self, _cx: &Context<ServerMsg>) -> Result<ServerMsgPong, ErrorReply> {
        Ok(ServerMsgPong { at: 42 })
    }

    async fn on_unknown(
        &self,
        _cx: &Context<ServerMsg>,
        r#type: String,
        raw: Value,
    ) -> Result<(), ErrorReply> {
        self.log
            .lock()
            .unwrap()
            .push(format!("unknown {type} {raw}"));
        Ok(())
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn every_shape_reaches_its_method() {
    rt().block_on(async {
        let app = App::default();
        let hub = Hub::<ServerMsg>::new();
        let (cx, mut inbox) = hub.attach("alice");

        assert_eq!(dispatch(&app, &cx, ClientMsg::Ping).await, Ok(None));
        let reply = dispatch(
            &app,
            &cx,
            ClientMsg::Message {
                room: "general".into(),
                text: "hi".into(),
            },
        )
        .await;
        assert_eq!(
            reply,
            Ok(Some(ServerMsg::Sent {
                message_id: "alice-0".into()
            }))
        );
        assert_eq!(
            dispatch(
                &app,
                &cx,
                ClientMsg::Move(Position {
                    x: 3,
                    y: 4,
                    label: None
                })
            )
            .await,
            Ok(None)
        );
        assert_eq!(
            inbox.drain(),
            vec![ServerMsg::Moved {
                by: "alice".into(),
                x: 3
            }]
        );
        assert_eq!(
            dispatch(&app, &cx, ClientMsg::Time).await,
            Ok(Some(ServerMsg::Pong { at: 42 }))
        );
        let unknown = ClientMsg::Unknown {
            r#type: "later".into(),
            raw: json!({"type": "later", "x": 1}),
        };
        assert_eq!(dispatch(&app, &cx, unknown).await, Ok(None));
        let log = app.log.lock().unwrap().clone();
        assert_eq!(
            log,
            vec![
                "ping from alice id None".to_owned(),
                r#"unknown later {"type":"later","x":1}"#.to_owned()
            ]
        );
    });
}

#[test]
fn frames_get_replies_with_their_ids() {
    rt().block_on(async {
        let app = App::default();
        let hub = Hub::<ServerMsg>::new();
        let (cx, _inbox) = hub.attach("bob");
        let cases = [
            (r#"{"type":"message","id":1,"room":"general","text":"hi"}"#, Some(r#"{"type":"sent","id":1,"messageId":"bob-1"}"#.to_owned())),
            (r#"{"room":"general","text":"hi","id":9,"type":"message"}"#, Some(r#"{"type":"sent","id":9,"messageId":"bob-9"}"#.to_owned())),
            (r#"{"type":"message","room":"general","text":"hi"}"#, Some(r#"{"type":"sent","messageId":"bob-0"}"#.to_owned())),
            (
                r#"{"type":"message","id":2,"room":"general","text":""}"#,
                Some(r#"{"type":"error","id":2,"code":"invalid_message","message":"text must not be empty","pointer":"/text"}"#.to_owned()),
            ),
            (
                r#"{"type":"message","id":3,"room":"x","text":"a"}"#,
                Some(r#"{"type":"error","id":3,"code":"not_in_room","message":"not in room \"x\"","pointer":"/room"}"#.to_owned()),
            ),
            (
                r#"{"type":"message","id":4,"room":5,"text":"a"}"#,
                Some(r#"{"type":"error","id":4,"code":"invalid_message","message":"invalid type for /room: expected a string, found integer `5`","pointer":"/room"}"#.to_owned()),
            ),
            (
                r#"{"type":"message","id":5,"room":"general""#,
                Some(r#"{"type":"error","id":5,"code":"invalid_json","message":"invalid JSON at line 1 column 41: EOF while parsing an object"}"#.to_owned()),
            ),
            (r#"{"type":"ping","id":6}"#, None),
            (r#"{"type":"time","id":7}"#, Some(r#"{"type":"pong","id":7,"at":42}"#.to_owned())),
        ];
        for (input, expected) in cases {
            let outcome = dispatch_frame::<ClientMsg, _>(&app, &cx, input).await;
            assert_eq!(outcome.frame(), expected, "{input}");
        }
        // The id is checked like any field.
        let outcome = dispatch_frame::<ClientMsg, _>(&app, &cx, r#"{"type":"ping","id":"x"}"#).await;
        assert!(matches!(&outcome, Outcome::Error { id: None, error } if error.pointer() == Some("/id")), "{outcome:?}");
        let outcome = dispatch_frame::<ClientMsg, _>(&app, &cx, r#"{"type":"ping","id":1,"id":2}"#).await;
        assert!(matches!(&outcome, Outcome::Error { error, .. } if error.code() == "invalid_message"), "{outcome:?}");
    });
}

#[test]
fn metadata_describes_requests_and_replies() {
    let message = ClientMsg::meta_for("message").unwrap();
    assert!(message.is_request());
    assert_eq!(message.reply(), Some("sent"));
    assert_eq!(message.reply_variant(), Some("Sent"));
    assert_eq!(ClientMsg::meta_for("ping").unwrap().reply(), None);
    assert_eq!(ClientMsg::ID_FIELD, "id");
    let schema = protocol_core::schema_for::<ClientMsg>();
    let message = &schema["oneOf"][1];
    assert_eq!(
        message["$comment"],
        "protocol:reply=sent protocol:fields=id?,room,text"
    );
    assert_eq!(message["properties"]["id"]["type"], "integer");
    assert!(
        !message["required"]
            .as_array()
            .unwrap()
            .contains(&json!("id"))
    );
}

/// `on_unknown = "ignore"` and `"close"`, and the default `reply`.
mod policies {
    use super::*;

    #[derive(Debug, Protocol)]
    #[protocol(rename_all = "snake_case", on_unknown = "ignore")]
    pub enum Quiet {
        Ping,
    }

    #[derive(Debug, Protocol)]
    #[protocol(
        rename_all = "snake_case",
        on_unknown = "close",
        handler = "StrictHandler"
    )]
    pub enum Loud {
        Ping,
    }

    #[derive(Debug, Protocol)]
    #[protocol(rename_all = "snake_case", handler_default)]
    pub enum Defaulted {
        Ping,
        Pong,
    }

    pub struct Nothing;

    impl QuietHandler for Nothing {
        type Out = ServerMsg;
        async fn on_ping(&self, _: &Context<ServerMsg>) -> Result<(), ErrorReply> {
            Ok(())
        }
    }

    impl StrictHandler for Nothing {
        type Out = ServerMsg;
        async fn on_ping(&self, _: &Context<ServerMsg>) -> Result<(), ErrorReply> {
            Ok(())
        }
    }

    impl DefaultedHandler for Nothing {
        type Out = ServerMsg;
        async fn on_ping(&self, _: &Context<ServerMsg>) -> Result<(), ErrorReply> {
            Ok(())
        }
    }

    #[test]
    fn unknown_messages_follow_the_policy() {
        rt().block_on(async {
            let hub = Hub::<ServerMsg>::new();
            let (cx, _inbox) = hub.attach("carol");
            let frame = r#"{"type":"nope","id":3}"#;
            let quiet = dispatch_frame::<Quiet, _>(&Nothing, &cx, frame).await;
            assert_eq!(quiet, Outcome::Ignored { tag: "nope".into() });
            assert_eq!(quiet.frame(), None);
            let loud = dispatch_frame::<Loud, _>(&Nothing, &cx, frame).await;
            assert!(matches!(loud, Outcome::Close { code: 1008, .. }), "{loud:?}");
            let default = dispatch_frame::<ClientMsg, _>(&App::default(), &cx, frame).await;
            // ClientMsg has a catch-all: the unknown message reaches its handler.
            assert_eq!(default, Outcome::Done);
            let replying = dispatch_frame::<SeedOnly, _>(&Nothing, &cx, frame).await;
            assert_eq!(
                replying.frame().as_deref(),
                Some(r#"{"type":"error","id":3,"code":"unknown_type","message":"unknown message type \"nope\" at /type; expected one of: ping","pointer":"/type"}"#)
            );
            let defaulted = dispatch_frame::<Defaulted, _>(&Nothing, &cx, r#"{"type":"pong","id":1}"#).await;
            assert!(matches!(&defaulted, Outcome::Error { id: Some(1), error } if error.code() == "not_implemented"), "{defaulted:?}");
        });
    }

    #[derive(Debug, Protocol)]
    #[protocol(rename_all = "snake_case")]
    pub enum SeedOnly {
        Ping,
    }

    impl SeedOnlyHandler for Nothing {
        type Out = ServerMsg;
        async fn on_ping(&self, _: &Context<ServerMsg>) -> Result<(), ErrorReply> {
            Ok(())
        }
    }
}

/// The generated futures are `Send`: handlers run under `tokio::spawn` with shared state.
#[test]
fn dispatch_runs_on_spawned_tasks() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = std::sync::Arc::new(App::default());
        let hub = Hub::<ServerMsg>::new();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let app = app.clone();
            let (cx, _inbox) = hub.attach(&format!("user{i}"));
            tasks.push(tokio::spawn(async move {
                dispatch_frame::<ClientMsg, _>(&*app, &cx, r#"{"type":"ping"}"#).await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Outcome::Done);
        }
        assert_eq!(app.log.lock().unwrap().len(), 8);
    });
}

/// A request kind with its own error type: the handler returns it, the wire gets its
/// `ErrorReply` form.
mod typed_errors {
    use super::*;

    #[derive(Debug)]
    pub enum TransferError {
        Insufficient { missing: u64 },
        UnknownAccount(String),
    }

    impl From<TransferError> for ErrorReply {
        fn from(e: TransferError) -> Self {
            match e {
                TransferError::Insufficient { missing } => {
                    ErrorReply::new("insufficient_funds", format!("{missing} short"))
                        .with_pointer("/amount")
                }
                TransferError::UnknownAccount(a) => {
                    ErrorReply::new("unknown_account", format!("no account {a:?}"))
                        .with_pointer("/to")
                }
            }
        }
    }

    #[derive(Debug, Protocol)]
    #[protocol(rename_all = "snake_case")]
    pub enum Bank {
        #[protocol(reply = ServerMsg::Pong, error = TransferError)]
        Transfer { to: String, amount: u64 },
    }

    pub struct Teller;

    impl BankHandler for Teller {
        type Out = ServerMsg;
        async fn on_transfer(
            &self,
            _cx: &Context<ServerMsg>,
            to: String,
            amount: u64,
        ) -> Result<ServerMsgPong, TransferError> {
            if to != "bob" {
                return Err(TransferError::UnknownAccount(to));
            }
            if amount > 10 {
                return Err(TransferError::Insufficient {
                    missing: amount - 10,
                });
            }
            Ok(ServerMsgPong { at: amount })
        }
    }

    #[test]
    fn typed_errors_become_error_replies() {
        rt().block_on(async {
            let hub = Hub::<ServerMsg>::new();
            let (cx, _inbox) = hub.attach("alice");
            let ok = dispatch_frame::<Bank, _>(&Teller, &cx, r#"{"type":"transfer","id":1,"to":"bob","amount":5}"#).await;
            assert_eq!(ok.frame().as_deref(), Some(r#"{"type":"pong","id":1,"at":5}"#));
            let short = dispatch_frame::<Bank, _>(&Teller, &cx, r#"{"type":"transfer","id":2,"to":"bob","amount":15}"#).await;
            assert_eq!(
                short.frame().as_deref(),
                Some(r#"{"type":"error","id":2,"code":"insufficient_funds","message":"5 short","pointer":"/amount"}"#)
            );
            let who = dispatch_frame::<Bank, _>(&Teller, &cx, r#"{"type":"transfer","id":3,"to":"eve","amount":1}"#).await;
            assert!(matches!(&who, Outcome::Error { id: Some(3), error } if error.code() == "unknown_account"), "{who:?}");
        });
    }
}

/// The per-variant structs convert both ways: into the enum, and back when it is that variant.
#[test]
fn reply_structs_convert_both_ways() {
    let sent = ServerMsgSent {
        message_id: "m1".into(),
    };
    let msg: ServerMsg = sent.into();
    assert_eq!(
        msg,
        ServerMsg::Sent {
            message_id: "m1".into()
        }
    );
    let back = ServerMsgSent::try_from(msg).unwrap();
    assert_eq!(back.message_id, "m1");
    let other = ServerMsg::Pong { at: 1 };
    assert_eq!(ServerMsgSent::try_from(other.clone()).err(), Some(other));
}
