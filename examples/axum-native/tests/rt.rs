//! The adapter: the runtime's typed server on axum's own socket (`/rt`, through
//! `WsServer::serve_socket`) behaves as the same server on the runtime's own listener
//! (`WsServer::serve`, through `serve_websocket`), frame for frame, in the same scenarios.

mod common;

use std::net::SocketAddr;

use axum_native_example::rt::{rt_router, rt_server};
use common::Ws;
use protocol_core::Limits;
use tokio_tungstenite::tungstenite::Message;

/// The same server twice, with the same limits: on its own listener, and on axum's socket.
async fn both(limits: impl Fn(&mut Limits)) -> [(SocketAddr, &'static str); 2] {
    let mut l = Limits::default();
    limits(&mut l);
    let own = rt_server(l.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { own.serve(listener).await.unwrap() });
    let adapted = common::serve(rt_router(rt_server(l))).await;
    [(own_addr, "/ws"), (adapted, "/rt")]
}

#[tokio::test]
async fn replies_carry_ids_and_pushes_reach_the_room() {
    for (addr, path) in both(|_| {}).await {
        let mut ann = Ws::connect(addr, &format!("{path}?user=ann")).await;
        ann.ask(
            r#"{"type":"hello","id":1,"name":"bob"}"#,
            r#"{"type":"error","id":1,"code":"invalid_message","message":"you are connected as \"ann\"","pointer":"/name"}"#,
        )
        .await;
        ann.ask(
            r#"{"type":"add","id":2,"by":1}"#,
            r#"{"type":"error","id":2,"code":"not_introduced","message":"say hello first"}"#,
        )
        .await;
        ann.ask(
            r#"{"type":"hello","id":3,"name":"ann"}"#,
            r#"{"type":"welcome","id":3,"count":0,"here":["ann"]}"#,
        )
        .await;
        let mut bob = Ws::connect(addr, &format!("{path}?user=bob")).await;
        bob.ask(
            r#"{"name":"bob","type":"hello","id":7}"#,
            r#"{"type":"welcome","id":7,"count":0,"here":["ann","bob"]}"#,
        )
        .await;
        assert_eq!(
            ann.text().await,
            r#"{"type":"arrived","name":"bob"}"#,
            "{path}"
        );
        bob.ask(
            r#"{"type":"add","id":8,"by":5}"#,
            r#"{"type":"added","id":8,"count":5}"#,
        )
        .await;
        assert_eq!(
            ann.text().await,
            r#"{"type":"counted","count":5,"by":5,"from":"bob"}"#,
            "{path}"
        );
        bob.send(r#"{"type":"say","text":"hi"}"#).await;
        assert_eq!(
            ann.text().await,
            r#"{"type":"said","from":"bob","text":"hi"}"#,
            "{path}"
        );
        bob.close().await;
        assert_eq!(
            ann.text().await,
            r#"{"type":"left","name":"bob"}"#,
            "{path}"
        );
    }
}

#[tokio::test]
async fn invalid_frames_and_unknown_types_get_the_same_answers() {
    for (addr, path) in both(|_| {}).await {
        let mut ws = Ws::connect(addr, &format!("{path}?user=ann")).await;
        let cases = [
            (
                r#"{"type":"shout","id":2}"#,
                r#"{"type":"error","id":2,"code":"unknown_type","message":"unknown message type \"shout\" at /type; expected one of: hello, add, say","pointer":"/type"}"#,
            ),
            (
                "hello there",
                r#"{"type":"error","code":"invalid_json","message":"invalid JSON at line 1 column 1: expected value"}"#,
            ),
            (
                r#"{"type":"add","id":3}"#,
                r#"{"type":"error","id":3,"code":"invalid_message","message":"missing required field /by of message type \"add\"","pointer":"/by"}"#,
            ),
            (
                r#"{"type":"add","id":4,"by":"two"}"#,
                r#"{"type":"error","id":4,"code":"invalid_message","message":"invalid type for /by: expected i64, found string \"two\"","pointer":"/by"}"#,
            ),
        ];
        for (frame, answer) in cases {
            ws.ask(frame, answer).await;
        }
        ws.send_msg(Message::binary(b"{}".to_vec())).await;
        assert_eq!(
            ws.closed().await,
            (
                1003,
                "binary frames are not accepted: send JSON in text frames".to_owned()
            ),
            "{path}"
        );
    }
}

#[tokio::test]
async fn an_oversized_message_closes_with_1009_and_the_sizes() {
    for (addr, path) in both(|l| l.max_message_size = 1024).await {
        let mut ws = Ws::connect(addr, &format!("{path}?user=ann")).await;
        let text = format!(r#"{{"type":"say","text":"{}"}}"#, "a".repeat(2000));
        ws.send(&text).await;
        assert_eq!(
            ws.closed().await,
            (
                1009,
                format!("message too big: {} bytes, the limit is 1024", text.len())
            ),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_rate_limit_answers_then_closes() {
    let limits = |l: &mut Limits| {
        l.rate_per_second = 0.001;
        l.rate_burst = 3;
        l.rate_strikes = 2;
    };
    for (addr, path) in both(limits).await {
        let mut ws = Ws::connect(addr, &format!("{path}?user=ann")).await;
        ws.ask(
            r#"{"type":"hello","id":1,"name":"ann"}"#,
            r#"{"type":"welcome","id":1,"count":0,"here":["ann"]}"#,
        )
        .await;
        ws.ask(
            r#"{"type":"add","id":2,"by":1}"#,
            r#"{"type":"added","id":2,"count":1}"#,
        )
        .await;
        ws.ask(
            r#"{"type":"add","id":3,"by":1}"#,
            r#"{"type":"added","id":3,"count":2}"#,
        )
        .await;
        for id in [4, 5] {
            ws.ask(
                &format!(r#"{{"type":"add","id":{id},"by":1}}"#),
                &format!(
                    r#"{{"type":"error","id":{id},"code":"rate_limited","message":"too many messages: the limit is 0.001 per second (burst 3)"}}"#
                ),
            )
            .await;
        }
        ws.send(r#"{"type":"add","id":6,"by":1}"#).await;
        assert_eq!(
            ws.closed().await,
            (1008, "rate limit exceeded".to_owned()),
            "{path}"
        );
    }
}

#[tokio::test]
async fn admission_refuses_alike() {
    for (addr, path) in both(|l| l.max_connections_per_identity = 1).await {
        assert_eq!(
            Ws::refused(addr, path).await,
            (401, "connect with ?user=NAME".to_owned()),
            "{path}"
        );
        let mut ann = Ws::connect(addr, &format!("{path}?user=ann")).await;
        assert_eq!(
            Ws::refused(addr, &format!("{path}?user=ann")).await,
            (429, "too many connections for this identity".to_owned()),
            "{path}"
        );
        ann.ask(
            r#"{"type":"hello","id":1,"name":"ann"}"#,
            r#"{"type":"welcome","id":1,"count":0,"here":["ann"]}"#,
        )
        .await;
    }
}

#[tokio::test]
async fn the_heartbeat_pings_through_the_adapter() {
    for (addr, path) in both(|l| l.heartbeat_interval = std::time::Duration::from_millis(20)).await
    {
        let mut ws = Ws::connect(addr, &format!("{path}?user=ann")).await;
        // The first frame a silent client gets is the server's ping.
        assert!(
            matches!(ws.next_any().await, Message::Ping(_)),
            "{path}: no ping first"
        );
    }
}
