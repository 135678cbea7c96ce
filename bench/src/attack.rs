//! The chat under attack: the p99 latency of well-behaved clients' requests, unloaded and while a
//! slowloris (1,000 unfinished handshakes), a flood (one client, 100,000 messages) and a slow
//! reader (never reads while the room is busy) run. Each attack must be cut off by its limit.

use std::time::{Duration, Instant};

use chat_example::{Chat, ClientMsg, ServerMsg};
use futures_util::SinkExt;
use protocol_core::Client;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// The measurements of one run.
#[derive(Debug)]
pub struct AttackReport {
    /// p99 request latency without attackers, in microseconds.
    pub unloaded_p99_us: f64,
    /// p99 request latency during the attacks, in microseconds.
    pub loaded_p99_us: f64,
    /// Slowloris sockets the server had closed by the end.
    pub slowloris_closed: usize,
    /// Whether the flooding client was disconnected (rate limit).
    pub flood_cut_off: bool,
    /// Whether the slow reader was disconnected (slow consumer).
    pub slow_reader_cut_off: bool,
    /// Messages the busy room's talkers got through (each fanned out to 41 members).
    pub busy_messages: usize,
}

async fn p99(clients: &[Client<ClientMsg, ServerMsg>], rounds: usize) -> f64 {
    let mut samples = Vec::with_capacity(rounds * clients.len());
    for round in 0..rounds {
        for c in clients {
            let start = Instant::now();
            let reply = c
                .request(&ClientMsg::Message {
                    room: "quiet".into(),
                    text: format!("r{round}"),
                })
                .await;
            assert!(matches!(reply, Ok(ServerMsg::Sent { .. })), "{reply:?}");
            samples.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    samples.sort_by(f64::total_cmp);
    samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
}

/// Run the chat server in this process (its own runtime) and attack it.
pub async fn run() -> std::io::Result<AttackReport> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = chat_example::server_builder(Chat::default(), chat_example::hub())
        .with_limits(|l| l.handshake_timeout = Duration::from_secs(2))
        .build();
    let hub = server.hub().clone();
    tokio::spawn(async move { server.serve(listener).await });
    let url = |u: &str| format!("ws://{addr}/ws?user={u}");

    let mut good = Vec::new();
    for i in 0..10 {
        let c: Client<ClientMsg, ServerMsg> = Client::connect(url(&format!("good{i}")))
            .await
            .map_err(std::io::Error::other)?;
        c.send(&ClientMsg::Join {
            room: "quiet".into(),
        })
        .await
        .map_err(std::io::Error::other)?;
        good.push(c);
    }
    let unloaded = p99(&good, 50).await;

    // Slowloris: 1,000 connections that never finish the handshake.
    let mut loris = Vec::new();
    for _ in 0..1000 {
        if let Ok(mut s) = TcpStream::connect(addr).await {
            let _ = s
                .write_all(b"GET /ws?user=loris HTTP/1.1\r\nHost: x\r\n")
                .await;
            loris.push(s);
        }
    }
    // Flood: one client, 100,000 messages as fast as it can write them.
    let flood_url = url("flood");
    let flood = tokio::spawn(async move {
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(flood_url).await else {
            return false;
        };
        for i in 0..100_000u32 {
            if ws
                .feed(Message::Text(
                    format!(
                        r#"{{"type":"typing","room":"quiet","active":{}}}"#,
                        i % 2 == 0
                    )
                    .into(),
                ))
                .await
                .is_err()
            {
                return true;
            }
            if i % 64 == 0 && ws.flush().await.is_err() {
                return true;
            }
        }
        // Still connected after 100,000 messages: read until the server cuts it off.
        use futures_util::StreamExt;
        tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await
        .is_ok()
    });
    // Slow reader: joins a busy room with a small receive buffer and never reads.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let stream = socket.connect(addr).await?;
    let (mut slow, _) = tokio_tungstenite::client_async(url("slow"), stream)
        .await
        .map_err(std::io::Error::other)?;
    slow.send(Message::Text(r#"{"type":"join","room":"busy"}"#.into()))
        .await
        .map_err(std::io::Error::other)?;
    // 40 talkers, each within its rate-limit burst: 4,000 messages of 4 KB, more than the slow
    // reader's socket buffers hold.
    let mut busy_tasks = Vec::new();
    for t in 0..40 {
        let busy: Client<ClientMsg, ServerMsg> = Client::connect(url(&format!("busy{t}")))
            .await
            .map_err(std::io::Error::other)?;
        busy.send(&ClientMsg::Join {
            room: "busy".into(),
        })
        .await
        .map_err(std::io::Error::other)?;
        let big = "z".repeat(3900);
        busy_tasks.push(tokio::spawn(async move {
            let mut sent = 0usize;
            for _ in 0..100 {
                match busy
                    .request(&ClientMsg::Message {
                        room: "busy".into(),
                        text: big.clone(),
                    })
                    .await
                {
                    Ok(_) => sent += 1,
                    Err(_) => break,
                }
            }
            sent
        }));
    }

    let loaded = p99(&good, 50).await;
    let mut busy_sent = 0;
    for t in busy_tasks {
        busy_sent += t.await.unwrap_or(0);
    }

    let flood_cut_off = flood.await.unwrap_or(false);
    // The connection's reader notices the slow-consumer close within its 1 s check interval.
    let mut slow_reader_cut_off = false;
    for _ in 0..100 {
        if !hub.online().iter().any(|u| u == "slow") {
            slow_reader_cut_off = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Slowloris sockets: the handshake timeout closes them.
    let mut closed = 0;
    for mut s in loris {
        let mut buf = [0u8; 16];
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::io::AsyncReadExt::read(&mut s, &mut buf),
        )
        .await
        {
            closed += 1;
        }
    }
    drop(slow);
    Ok(AttackReport {
        unloaded_p99_us: unloaded,
        loaded_p99_us: loaded,
        slowloris_closed: closed,
        flood_cut_off,
        slow_reader_cut_off,
        busy_messages: busy_sent,
    })
}
