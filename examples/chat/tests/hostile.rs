//! Hostile clients at scale against the real `chat-server` binary: 50 clients send 10,000
//! hostile frames in total while 10 well-behaved clients keep chatting. No panic, every
//! well-behaved message delivered, every hostile connection answered with the right error or close
//! code, and the server's memory back near its starting level after they leave.

#![allow(missing_docs)]

mod common;

use std::time::Duration;

use chat_example::{ClientMsg, ServerMsg};
use futures_util::{SinkExt, StreamExt};
use protocol_core::Client;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use tokio_tungstenite::tungstenite::{Bytes, Message};

use common::ChatProcess;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What a hostile connection should get back.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Error(&'static str),
    Close(u16),
    Pong,
}

fn hostile_frame(kind: usize, i: usize) -> (Message, Expect) {
    match kind % 9 {
        0 => (
            Message::Text(format!("{{\"type\":\"message\",\"id\":{i},").into()),
            Expect::Error("invalid_json"),
        ),
        1 => (
            Message::Text(format!("{{\"type\":\"shout{i}\",\"id\":{i}}}").into()),
            Expect::Error("unknown_type"),
        ),
        2 => (
            Message::Text(format!("{{\"type\":\"join\",\"id\":{i},\"room\":{i}}}").into()),
            Expect::Error("invalid_message"),
        ),
        3 => (
            // 10k-deep nesting where a string is expected: the decoder stops at the first `[`
            // (in an ignored field, serde_json skips nesting iteratively, without recursion).
            Message::Text(
                format!(
                    "{{\"type\":\"join\",\"room\":{}1{}}}",
                    "[".repeat(10_000),
                    "]".repeat(10_000)
                )
                .into(),
            ),
            Expect::Error("invalid_message"),
        ),
        4 => (
            Message::Text("x".repeat(1 << 20).into()),
            Expect::Close(1009),
        ),
        5 => {
            let header = FrameHeader {
                opcode: OpCode::Data(Data::Text),
                ..FrameHeader::default()
            };
            (
                Message::Frame(Frame::from_payload(
                    header,
                    Bytes::from_static(b"{\"a\":\"\xff\xfe\"}"),
                )),
                Expect::Close(1007),
            )
        }
        6 => {
            // A fragment that never finishes, growing past the message limit.
            let header = FrameHeader {
                is_final: false,
                opcode: OpCode::Data(Data::Text),
                ..FrameHeader::default()
            };
            (
                Message::Frame(Frame::from_payload(
                    header,
                    Bytes::from(vec![b'a'; 70 * 1024]),
                )),
                Expect::Close(1009),
            )
        }
        7 => (Message::Ping(Bytes::from(vec![7u8; 125])), Expect::Pong),
        _ => (
            Message::Close(Some(CloseFrame {
                code: CloseCode::from(999),
                reason: "bad code".into(),
            })),
            Expect::Close(1002),
        ),
    }
}

/// One hostile client: sends `frames` frames of one kind (reconnecting after each close) and
/// checks every answer. Returns frames sent.
async fn hostile(url: String, kind: usize, frames: usize) -> usize {
    let mut sent = 0;
    let mut ws: Option<Ws> = None;
    while sent < frames {
        if ws.is_none() {
            ws = Some(
                tokio_tungstenite::connect_async(&url)
                    .await
                    .expect("hostile connect")
                    .0,
            );
        }
        let socket = ws.as_mut().unwrap();
        let (frame, expect) = hostile_frame(kind, sent);
        sent += 1;
        if socket.send(frame).await.is_err() {
            ws = None;
            continue;
        }
        loop {
            let next = tokio::time::timeout(Duration::from_secs(20), socket.next())
                .await
                .expect("an answer within 20 s");
            match (next, expect) {
                (Some(Ok(Message::Text(t))), Expect::Error(code)) => {
                    // A flood is itself answered: `rate_limited` is the right reply then.
                    assert!(
                        t.contains(&format!("\"code\":\"{code}\""))
                            || t.contains("\"code\":\"rate_limited\""),
                        "kind {kind}: expected {code}, got {t}"
                    );
                    break;
                }
                (Some(Ok(Message::Text(t))), Expect::Pong)
                    if t.contains("\"code\":\"rate_limited\"") => {}
                (Some(Ok(Message::Close(f))), _)
                    if f.as_ref().map(|f| u16::from(f.code)) == Some(1008) =>
                {
                    // Rate limit exceeded for too long: closed with 1008, reconnect.
                    ws = None;
                    break;
                }
                (Some(Ok(Message::Pong(p))), Expect::Pong) => {
                    assert_eq!(p.len(), 125);
                    break;
                }
                (Some(Ok(Message::Close(f))), Expect::Close(code)) => {
                    assert_eq!(f.map(|f| u16::from(f.code)), Some(code), "kind {kind}");
                    ws = None;
                    break;
                }
                (Some(Ok(Message::Ping(_) | Message::Pong(_))), _) => {}
                (Some(Err(_)) | None, Expect::Close(_)) => {
                    ws = None;
                    break;
                }
                (other, expect) => panic!("kind {kind}: expected {expect:?}, got {other:?}"),
            }
        }
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_do_not_disturb_the_chat() {
    // One malloc arena per core at most: RSS then tracks live memory rather than how many
    // threads happened to allocate.
    let server = ChatProcess::start(&[], &[("RUST_LOG", "error"), ("MALLOC_ARENA_MAX", "2")]);
    // Ten well-behaved clients in one room.
    let mut good: Vec<Client<ClientMsg, ServerMsg>> = Vec::new();
    for i in 0..10 {
        let mut c = Client::connect(server.url(&format!("good{i}")))
            .await
            .unwrap();
        c.send(&ClientMsg::Join {
            room: "general".into(),
            since: None,
        })
        .await
        .unwrap();
        loop {
            if let Some(ServerMsg::Joined { .. }) =
                tokio::time::timeout(Duration::from_secs(10), c.next())
                    .await
                    .unwrap()
            {
                break;
            }
        }
        good.push(c);
    }
    // Warm-up: one round of chat and a few frames of every hostile kind, so the allocator's
    // per-thread arenas and the runtime's buffers exist before the starting level is taken.
    for (i, c) in good.iter().enumerate() {
        c.request(&ClientMsg::Message {
            room: "general".into(),
            text: format!("warm-up {i}"),
        })
        .await
        .unwrap();
    }
    for c in good.iter_mut() {
        for _ in 0..9 {
            tokio::time::timeout(Duration::from_secs(20), c.next())
                .await
                .unwrap();
        }
    }
    let warm: Vec<_> = (0..9)
        .map(|k| tokio::spawn(hostile(server.url(&format!("warm{k}")), k, 3)))
        .collect();
    for w in warm {
        w.await.expect("warm-up");
    }
    let start_rss = server.rss();

    // 50 hostile clients, 10,000 frames in total (fewer for the expensive kinds).
    let mut tasks = Vec::new();
    let mut planned = 0;
    for h in 0..50 {
        let kind = h % 9;
        let frames = match kind {
            3 | 4 | 6 => 40,
            _ => 284,
        };
        planned += frames;
        tasks.push(tokio::spawn(hostile(
            server.url(&format!("mallory{h}")),
            kind,
            frames,
        )));
    }

    // Meanwhile the good clients chat: every message reaches the nine others.
    let rounds = 20;
    for round in 0..rounds {
        for (i, c) in good.iter().enumerate() {
            let reply = c
                .request(&ClientMsg::Message {
                    room: "general".into(),
                    text: format!("{round}-{i}"),
                })
                .await;
            assert!(matches!(reply, Ok(ServerMsg::Sent { .. })), "{reply:?}");
        }
    }
    let mut received = vec![0usize; good.len()];
    for (i, c) in good.iter_mut().enumerate() {
        while received[i] < rounds * 9 {
            match tokio::time::timeout(Duration::from_secs(20), c.next())
                .await
                .expect("delivery within 20 s")
            {
                Some(ServerMsg::Message { .. }) => received[i] += 1,
                Some(_) => {}
                None => panic!("good{i} was disconnected"),
            }
        }
    }

    let mut sent = 0;
    for t in tasks {
        sent += t.await.expect("a hostile client's checks failed");
    }
    assert_eq!(sent, planned);
    assert!(sent >= 10_000, "{sent} hostile frames");

    // The server is still alive and well.
    assert_eq!(
        good[0]
            .request(&ClientMsg::Message {
                room: "general".into(),
                text: "still here".into()
            })
            .await
            .ok()
            .map(|r| matches!(r, ServerMsg::Sent { .. })),
        Some(true)
    );
    let end_rss = server.rss();
    let grew = end_rss.saturating_sub(start_rss) as f64 / start_rss.max(1) as f64;
    println!(
        "server RSS: {start_rss} -> {end_rss} bytes ({:+.1}%)",
        grew * 100.0
    );
    assert!(
        grew <= 0.10,
        "server RSS grew {:.1}% ({start_rss} -> {end_rss})",
        grew * 100.0
    );
}
