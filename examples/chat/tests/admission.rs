//! Admission on the shipped `chat-server` binary (it serves through axum): unfinished
//! handshakes are closed by the deadline, the cap on handshakes in progress holds, connections
//! per address are capped, and good clients keep chatting through a slowloris.

#![allow(missing_docs)]

mod common;

use std::time::{Duration, Instant};

use chat_example::ServerMsg;
use common::{ChatProcess, join, say};
use protocol_core::assert_push;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn unfinished(addr: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /ws?user=slow HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tcp
}

/// Wait until the server closes the socket (EOF or reset), at most `bound`.
async fn closed_within(tcp: &mut TcpStream, bound: Duration) -> bool {
    let mut buf = [0u8; 256];
    tokio::time::timeout(bound, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// The reproduction, on the binary with its defaults (handshake limit 5 s): a request
/// whose headers never end is closed by the limit, not kept for ever.
#[tokio::test]
async fn unfinished_handshake_is_closed_by_the_limit() {
    let chat = ChatProcess::start(&[], &[]);
    let opened = Instant::now();
    let mut tcp = unfinished(chat.addr()).await;
    assert!(
        closed_within(&mut tcp, Duration::from_secs(5) + Duration::from_secs(3)).await,
        "an unfinished handshake on chat-server stayed open past its 5 s limit"
    );
    // Closed by the deadline (90-100% of the limit), not by anything sooner.
    assert!(opened.elapsed() >= Duration::from_millis(4400));
}

#[tokio::test]
async fn handshakes_in_progress_are_capped_and_good_clients_keep_chatting() {
    let chat = ChatProcess::start(
        &[
            "--handshake-timeout",
            "2",
            "--max-pending-handshakes",
            "300",
        ],
        &[],
    );
    let mut alice = chat.connect("alice").await;
    let mut bob = chat.connect("bob").await;
    join(&mut alice, "general").await;
    join(&mut bob, "general").await;
    assert_push!(alice, ServerMsg::Presence { user, online: true, .. } if user == "bob");

    let mut slow = Vec::new();
    for _ in 0..300 {
        slow.push(unfinished(chat.addr()).await);
    }
    // Over the cap: dropped at once.
    let mut over = unfinished(chat.addr()).await;
    assert!(closed_within(&mut over, Duration::from_millis(1500)).await);
    // The chat goes on meanwhile.
    for i in 0..20 {
        say(&mut alice, "general", &format!("hi {i}")).await;
        assert_push!(bob, ServerMsg::Message { text, .. } if *text == format!("hi {i}"));
    }
    for tcp in &mut slow {
        assert!(closed_within(tcp, Duration::from_secs(6)).await);
    }
    // Room again for new connections.
    let mut carol = chat.connect("carol").await;
    join(&mut carol, "general").await;
}

#[tokio::test]
async fn connections_per_address_are_capped() {
    let chat = ChatProcess::start(&["--count-loopback", "--max-conns-per-address", "3"], &[]);
    let mut open = Vec::new();
    for user in ["u1", "u2", "u3"] {
        open.push(chat.connect(user).await);
    }
    let err = tokio_tungstenite::connect_async(chat.url("u4"))
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => {
            assert_eq!(resp.status().as_u16(), 429);
            let body =
                String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).into_owned();
            assert_eq!(
                body,
                "too many connections from 127.0.0.1: the limit is 3 per address"
            );
        }
        other => panic!("expected HTTP 429, got {other}"),
    }
    // A closed connection gives its place back.
    open.pop().unwrap().close().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if tokio_tungstenite::connect_async(chat.url("u4"))
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed connection's place never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
