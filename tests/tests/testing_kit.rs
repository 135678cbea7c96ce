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

    async fn on_say(
        &self,
        cx: &Context<ServerMsg>,
        text: String,
    ) -> Result<ServerMsgEcho, ErrorReply> {
        cx.push(&ServerMsg::Note { n: 1 }).unwrap();
        Ok(ServerMsgEcho { text })
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

/// `start_with` a builder that has no authenticate hook keeps the kit's `?user=NAME`; one whose
/// hook ignores `?user=` makes `connect_as` fail loudly instead of handing back a client the
/// server knows under another name.
#[tokio::test]
async fn connect_as_never_lies_about_the_identity() {
    let hub = protocol_core::Hub::<ServerMsg>::builder()
        .presence(|_| Some(ServerMsg::Note { n: 9 }))
        .build();
    let srv = TestServer::<ClientMsg, App>::start_with_hub(App, hub).await;
    let _alice = srv.connect_as("alice").await;
    assert_eq!(srv.hub().online(), vec!["alice"]);

    let builder = protocol_core::Server::<ClientMsg, App>::builder(App);
    let srv = TestServer::start_with(builder).await;
    let _bob = srv.connect_as("bob").await;
    assert_eq!(srv.hub().online(), vec!["bob"]);

    let builder = protocol_core::Server::<ClientMsg, App>::builder(App)
        .authenticate(|_req| Ok("anon-1".to_owned()));
    let srv = TestServer::start_with(builder).await;
    let err = srv
        .try_connect_as("carol")
        .await
        .err()
        .expect("must not connect as carol");
    assert!(
        err.contains("did not register this connection as \"carol\""),
        "{err}"
    );
    assert!(err.contains("anon-1"), "{err}");
}

/// The `=>` forms return what the pattern binds.
#[tokio::test]
async fn assertions_bind_the_fields_of_their_pattern() {
    let srv = TestServer::<ClientMsg, App>::start(App).await;
    let mut c = srv.connect_as("a").await;
    let text = assert_reply!(
        c.request(&ClientMsg::Say { text: "hello".into() }).await,
        ServerMsg::Echo { text } if text.starts_with('h') => text
    );
    assert_eq!(text, "hello");
    let n = assert_push!(c, ServerMsg::Note { n } => n);
    assert_eq!(n, 1);
}
