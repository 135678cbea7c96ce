//! The test kit itself: its failures are readable and frames that break the schema are caught.

#![allow(missing_docs)]

use std::time::Duration;

use protocol_core::testing::TestServer;
use protocol_core::{
    Context, ErrorReply, Protocol, Target, assert_push, assert_reply, refute_push, refute_reply,
};

#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case")]
pub enum ClientMsg {
    #[protocol(reply = ServerMsg::Echo)]
    Say {
        text: String,
    },
    Raw {
        frame: String,
    },
}

#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case")]
pub enum ServerMsg {
    Echo { text: String },
    Note { n: u8 },
    Error(ErrorReply),
}

struct App;

impl ClientMsgHandler for App {
    type Out = ServerMsg;

    async fn on_say(&self, cx: &Context<ServerMsg>, text: String) -> Result<ServerMsg, ErrorReply> {
        cx.push(&ServerMsg::Note { n: 1 }).unwrap();
        Ok(ServerMsg::Echo { text })
    }

    async fn on_raw(&self, cx: &Context<ServerMsg>, frame: String) -> Result<(), ErrorReply> {
        // Bypasses the typed encoder: how a handler/schema disagreement would look on the wire.
        cx.hub()
            .send_frame(Target::Conn(cx.conn_id()), frame.into());
        Ok(())
    }
}

#[tokio::test]
async fn replies_and_pushes_are_told_apart() {
    let srv = TestServer::<ClientMsg, App>::start(App).await;
    let mut c = srv.connect_as("a").await;
    let reply = assert_reply!(c.request(&ClientMsg::Say { text: "x".into() }).await, ServerMsg::Echo { text } if text == "x");
    assert_eq!(reply, ServerMsg::Echo { text: "x".into() });
    refute_reply!(
        c.request(&ClientMsg::Say { text: "y".into() }).await,
        ServerMsg::Note { .. }
    );
    assert_push!(c, ServerMsg::Note { n: 1 });
    assert_push!(c, ServerMsg::Note { n } if *n == 1);
    refute_push!(
        c,
        ServerMsg::Note { .. },
        within = Duration::from_millis(50)
    );
    c.assert_no_push(Duration::from_millis(50)).await;
}

#[tokio::test]
#[should_panic(expected = "expected a push matching `ServerMsg::Note { n } if *n == 9`")]
async fn a_missing_push_lists_what_arrived() {
    let srv = TestServer::<ClientMsg, App>::start(App).await;
    let mut c = srv.connect_as("a").await;
    c.set_timeout(Duration::from_millis(200));
    let _ = c.request(&ClientMsg::Say { text: "x".into() }).await;
    assert_push!(c, ServerMsg::Note { n } if *n == 9);
}

#[tokio::test]
#[should_panic(expected = "violates the protocol's JSON Schema")]
async fn frames_that_break_the_schema_fail_the_test() {
    let srv = TestServer::<ClientMsg, App>::start(App).await;
    let mut c = srv.connect_as("a").await;
    c.send(&ClientMsg::Raw {
        frame: r#"{"type":"note","n":300}"#.into(),
    })
    .await;
    assert_push!(c, ServerMsg::Note { .. });
}

#[tokio::test]
async fn hostile_helpers_and_close_codes() {
    let srv = TestServer::<ClientMsg, App>::start(App).await;
    let mut c = srv.connect_as("a").await;
    c.send_raw_text(r#"{"type":"say","id":5}"#).await;
    let e = c.expect_error("invalid_message").await;
    assert!(e.message().contains("/text"), "{e}");
    c.send_oversized(100_000).await;
    c.assert_closed(1009).await;
    srv.wait_for_connections(0).await;
    srv.shutdown().await;
}
