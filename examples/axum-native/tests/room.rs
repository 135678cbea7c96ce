//! The counter room over real sockets: axum on 127.0.0.1:0 and tokio-tungstenite clients,
//! exact frames for replies (with ids), pushes, every error kind and the close codes.

mod common;

use std::sync::Arc;

use axum_native_example::{ClientMsg, MAX_TEXT_FRAME, Room, router};
use common::{Ws, serve};
use protocol_core::{Protocol, UnknownPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

async fn hello(ws: &mut Ws, id: u64, name: &str, count: i64, here: &str) {
    ws.ask(
        &format!(r#"{{"type":"hello","id":{id},"name":"{name}"}}"#),
        &format!(r#"{{"type":"welcome","id":{id},"count":{count},"here":[{here}]}}"#),
    )
    .await;
}

#[tokio::test]
async fn replies_carry_ids_and_the_others_get_pushes() {
    let room = Arc::new(Room::default());
    let addr = serve(router(room.clone())).await;
    let mut ann = Ws::connect(addr, "/ws").await;
    let mut bob = Ws::connect(addr, "/ws").await;

    hello(&mut ann, 1, "ann", 0, r#""ann""#).await;
    hello(&mut bob, 7, "bob", 0, r#""ann","bob""#).await;
    assert_eq!(ann.text().await, r#"{"type":"arrived","name":"bob"}"#);

    // A request without an id is still answered, without one.
    bob.ask(r#"{"type":"add","by":5}"#, r#"{"type":"added","count":5}"#)
        .await;
    assert_eq!(
        ann.text().await,
        r#"{"type":"counted","count":5,"by":5,"from":"bob"}"#
    );
    // The id may come anywhere in the object; the reply puts it after the tag.
    ann.ask(
        r#"{"by":-8,"type":"add","id":2}"#,
        r#"{"type":"added","id":2,"count":-3}"#,
    )
    .await;
    assert_eq!(
        bob.text().await,
        r#"{"type":"counted","count":-3,"by":-8,"from":"ann"}"#
    );
    assert_eq!(room.count(), -3);

    // A notification: no answer to the sender, a push to the others.
    ann.send(r#"{"type":"say","text":"hi \"bob\""}"#).await;
    assert_eq!(
        bob.text().await,
        r#"{"type":"said","from":"ann","text":"hi \"bob\""}"#
    );

    // A third socket that never says hello gets no pushes; when bob leaves, ann hears it.
    let mut cat = Ws::connect(addr, "/ws").await;
    bob.close().await;
    assert_eq!(ann.text().await, r#"{"type":"left","name":"bob"}"#);
    hello(&mut cat, 1, "cat", -3, r#""ann","cat""#).await;
    assert_eq!(ann.text().await, r#"{"type":"arrived","name":"cat"}"#);
}

#[tokio::test]
async fn bad_input_gets_our_error_replies_and_the_socket_stays_open() {
    // The protocol keeps the default policy: an unknown type is answered, not ignored.
    assert_eq!(ClientMsg::ON_UNKNOWN, UnknownPolicy::Reply);
    let addr = serve(router(Arc::new(Room::default()))).await;
    let mut ws = Ws::connect(addr, "/ws").await;
    let cases = [
        // invalid_json: not JSON at all, and JSON cut short.
        (
            "hello there",
            r#"{"type":"error","code":"invalid_json","message":"invalid JSON at line 1 column 1: expected value"}"#,
        ),
        (
            r#"{"type":"add","id":1,"by":"#,
            r#"{"type":"error","id":1,"code":"invalid_json","message":"invalid JSON at line 1 column 26: EOF while parsing a value"}"#,
        ),
        // unknown_type, under the default policy (reply), listing the known types.
        (
            r#"{"type":"shout","id":2,"text":"HI"}"#,
            r#"{"type":"error","id":2,"code":"unknown_type","message":"unknown message type \"shout\" at /type; expected one of: hello, add, say","pointer":"/type"}"#,
        ),
        // invalid_message: a missing field, a wrong type, a number out of range, no tag.
        (
            r#"{"type":"add","id":3}"#,
            r#"{"type":"error","id":3,"code":"invalid_message","message":"missing required field /by of message type \"add\"","pointer":"/by"}"#,
        ),
        (
            r#"{"type":"add","id":4,"by":"two"}"#,
            r#"{"type":"error","id":4,"code":"invalid_message","message":"invalid type for /by: expected i64, found string \"two\"","pointer":"/by"}"#,
        ),
        (
            r#"{"type":"add","id":5,"by":9223372036854775808}"#,
            r#"{"type":"error","id":5,"code":"invalid_message","message":"invalid value for /by: expected i64, found integer `9223372036854775808`","pointer":"/by"}"#,
        ),
        (
            r#"{"id":6,"by":1}"#,
            r#"{"type":"error","id":6,"code":"invalid_message","message":"missing message type field \"type\" at the root; expected one of: hello, add, say"}"#,
        ),
        // The handlers' own errors, with the request's id.
        (
            r#"{"type":"add","id":7,"by":1}"#,
            r#"{"type":"error","id":7,"code":"not_introduced","message":"say hello first"}"#,
        ),
        (
            r#"{"type":"hello","id":8,"name":"no spaces"}"#,
            r#"{"type":"error","id":8,"code":"invalid_message","message":"a name is 1 to 32 of A-Z a-z 0-9 _ -","pointer":"/name"}"#,
        ),
        (
            r#"{"type":"hello","id":9,"name":"dee"}"#,
            r#"{"type":"welcome","id":9,"count":0,"here":["dee"]}"#,
        ),
        (
            r#"{"type":"hello","id":10,"name":"eve"}"#,
            r#"{"type":"error","id":10,"code":"already_introduced","message":"you are already here as \"dee\""}"#,
        ),
        (
            r#"{"type":"say","id":11,"text":""}"#,
            r#"{"type":"error","id":11,"code":"invalid_message","message":"say 1 to 500 characters","pointer":"/text"}"#,
        ),
        (
            r#"{"type":"add","id":12,"by":9223372036854775807}"#,
            r#"{"type":"added","id":12,"count":9223372036854775807}"#,
        ),
        (
            r#"{"type":"add","id":13,"by":1}"#,
            r#"{"type":"error","id":13,"code":"invalid_message","message":"the counter (9223372036854775807) would overflow","pointer":"/by"}"#,
        ),
    ];
    for (frame, answer) in cases {
        ws.ask(frame, answer).await;
    }
    // Still open and answering after all of that.
    ws.ask(
        r#"{"type":"add","id":14,"by":-7}"#,
        r#"{"type":"added","id":14,"count":9223372036854775800}"#,
    )
    .await;
}

#[tokio::test]
async fn a_taken_name_is_refused() {
    let addr = serve(router(Arc::new(Room::default()))).await;
    let mut ann = Ws::connect(addr, "/ws").await;
    let mut other = Ws::connect(addr, "/ws").await;
    hello(&mut ann, 1, "ann", 0, r#""ann""#).await;
    other
        .ask(
            r#"{"type":"hello","id":1,"name":"ann"}"#,
            r#"{"type":"error","id":1,"code":"name_taken","message":"\"ann\" is already here","pointer":"/name"}"#,
        )
        .await;
    hello(&mut other, 2, "ann2", 0, r#""ann","ann2""#).await;
}

#[tokio::test]
async fn oversized_and_binary_frames_close_the_socket_with_their_codes() {
    let addr = serve(router(Arc::new(Room::default()))).await;

    let mut big = Ws::connect(addr, "/ws").await;
    let text = format!(
        r#"{{"type":"say","text":"{}"}}"#,
        "a".repeat(MAX_TEXT_FRAME)
    );
    big.send(&text).await;
    assert_eq!(
        big.closed().await,
        (
            1009,
            format!(
                "message of {} bytes is over the limit of {MAX_TEXT_FRAME}",
                text.len()
            )
        )
    );

    let mut bin = Ws::connect(addr, "/ws").await;
    bin.send_msg(Message::binary(b"{}".to_vec())).await;
    assert_eq!(
        bin.closed().await,
        (1003, "binary frames are not accepted".to_owned())
    );

    // The server goes on serving others.
    let mut ok = Ws::connect(addr, "/ws").await;
    hello(&mut ok, 1, "ok", 0, r#""ok""#).await;
}

#[tokio::test]
async fn the_schemas_are_served_beside_the_socket() {
    let addr = serve(router(Arc::new(Room::default()))).await;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /schema HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(common::WAIT, tcp.read_to_end(&mut response))
        .await
        .expect("no response within the wait")
        .unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let schemas: serde_json::Value = serde_json::from_str(body).unwrap();
    let titles = |side: &str| -> Vec<String> {
        schemas[side]["oneOf"]
            .as_array()
            .unwrap_or_else(|| panic!("{side}: no oneOf in {body}"))
            .iter()
            .map(|s| {
                s["properties"]["type"]["const"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(titles("client"), ["hello", "add", "say"]);
    assert_eq!(
        titles("server"),
        [
            "welcome", "added", "counted", "arrived", "said", "left", "error"
        ]
    );
}

#[tokio::test]
async fn a_socket_that_does_not_read_is_closed_as_a_slow_consumer() {
    use futures_util::{SinkExt, StreamExt};

    let addr = serve(router(Arc::new(Room::new(16)))).await;
    let mut slow = Ws::connect_small(addr, "/ws").await;
    hello(&mut slow, 1, "slow", 0, r#""slow""#).await;
    let mut spam = Ws::connect(addr, "/ws").await;
    hello(&mut spam, 1, "spam", 0, r#""slow","spam""#).await;

    // `spam` talks until the room tells it `slow` left; `slow` reads nothing meanwhile.
    let say = format!(r#"{{"type":"say","text":"{}"}}"#, "x".repeat(500));
    let (mut tx, mut rx) = spam.into_inner().split();
    let mut said = 0u64;
    let heard = loop {
        assert!(
            said < 1_000_000,
            "slow was not closed after {said} messages"
        );
        tokio::select! {
            msg = tokio::time::timeout(common::WAIT * 6, rx.next()) => {
                break msg.expect("no frame within the wait").unwrap().unwrap();
            }
            sent = tx.send(Message::text(say.as_str())) => {
                sent.unwrap();
                said += 1;
            }
        }
    };
    assert_eq!(heard.to_text().unwrap(), r#"{"type":"left","name":"slow"}"#);

    // What `slow` finds when it reads at last: the pushes that made it out, then the end
    // (the close frame, when it fitted in before the socket was dropped).
    assert_eq!(slow.text().await, r#"{"type":"arrived","name":"spam"}"#);
    let mut slow = slow.into_inner();
    let mut read = 0u64;
    let end = loop {
        assert!(read <= said, "more pushes than were said");
        match tokio::time::timeout(common::WAIT, slow.next())
            .await
            .expect("no frame within the wait")
        {
            Some(Ok(Message::Text(text))) => {
                assert!(
                    text.starts_with(r#"{"type":"said","from":"spam""#),
                    "{text}"
                );
                read += 1;
            }
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(other)) => panic!("unexpected {other:?}"),
            Some(Err(_)) | None => break None,
        }
    };
    assert!(matches!(end, None | Some(1008)), "{end:?}");
    assert!(
        read < said,
        "slow got all {said} pushes: its queue never overflowed"
    );
}
