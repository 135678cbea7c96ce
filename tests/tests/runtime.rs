//! The WebSocket runtime over real sockets on 127.0.0.1:0: routing, request/reply ids,
//! identities with several connections, rooms, presence, every close code, limits, heartbeat,
//! slow consumers and graceful shutdown. Tests wait on events, never on sleeps.

#![allow(missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol_core::{
    Client, ClientError, Context, ErrorReply, Hub, Limits, Protocol, Server, ShutdownHandle,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use tokio_tungstenite::tungstenite::{Bytes, Message};

#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case")]
pub enum ClientMsg {
    Join {
        room: String,
    },
    Leave {
        room: String,
    },
    #[protocol(reply = ServerMsg::Sent)]
    Say {
        room: String,
        text: String,
    },
    Notify {
        user: String,
        text: String,
    },
    #[protocol(reply = ServerMsg::Pong)]
    Ping,
    Panic,
    #[protocol(reply = ServerMsg::Pong)]
    Slow,
    Spam {
        count: u32,
        size: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case")]
pub enum ServerMsg {
    Joined {
        room: String,
        members: Vec<String>,
    },
    Presence {
        room: String,
        user: String,
        online: bool,
    },
    Said {
        room: String,
        from: String,
        text: String,
    },
    Sent {
        seq: u64,
    },
    Notice {
        from: String,
        text: String,
    },
    Pong,
    Blob {
        data: String,
    },
    Error(ErrorReply),
}

struct App;

impl ClientMsgHandler for App {
    type Out = ServerMsg;

    async fn on_join(&self, cx: &Context<ServerMsg>, room: String) -> Result<(), ErrorReply> {
        let joined = cx.join(&room).await?;
        cx.push(&ServerMsg::Joined {
            room,
            members: joined.members,
        })
        .map_err(internal)
    }

    async fn on_leave(&self, cx: &Context<ServerMsg>, room: String) -> Result<(), ErrorReply> {
        cx.leave(&room).await;
        Ok(())
    }

    async fn on_say(
        &self,
        cx: &Context<ServerMsg>,
        room: String,
        text: String,
    ) -> Result<ServerMsgSent, ErrorReply> {
        if !cx.in_room(&room) {
            return Err(
                ErrorReply::new("not_in_room", format!("join {room:?} first"))
                    .with_pointer("/room"),
            );
        }
        cx.broadcast(
            &room,
            &ServerMsg::Said {
                room: room.clone(),
                from: cx.identity().into(),
                text,
            },
        )
        .map_err(internal)?;
        Ok(ServerMsgSent {
            seq: cx.request_id().unwrap_or(0),
        })
    }

    async fn on_notify(
        &self,
        cx: &Context<ServerMsg>,
        user: String,
        text: String,
    ) -> Result<(), ErrorReply> {
        cx.send_to(
            &user,
            &ServerMsg::Notice {
                from: cx.identity().into(),
                text,
            },
        )
        .map_err(internal)
    }

    async fn on_ping(&self, _cx: &Context<ServerMsg>) -> Result<ServerMsgPong, ErrorReply> {
        Ok(ServerMsgPong)
    }

    async fn on_panic(&self, _cx: &Context<ServerMsg>) -> Result<(), ErrorReply> {
        panic!("handler bug");
    }

    async fn on_slow(&self, _cx: &Context<ServerMsg>) -> Result<ServerMsgPong, ErrorReply> {
        // Never answers in time: the request deadline (set short in the test) fires.
        std::future::pending::<()>().await;
        Ok(ServerMsgPong)
    }

    async fn on_spam(
        &self,
        cx: &Context<ServerMsg>,
        count: u32,
        size: u32,
    ) -> Result<(), ErrorReply> {
        let data = "x".repeat(size as usize);
        for _ in 0..count {
            if cx.push(&ServerMsg::Blob { data: data.clone() }).is_err() {
                break;
            }
        }
        Ok(())
    }
}

fn internal(e: impl std::fmt::Display) -> ErrorReply {
    ErrorReply::new("internal_error", e.to_string())
}

struct Running {
    addr: SocketAddr,
    hub: Hub<ServerMsg>,
    shutdown: ShutdownHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    fn url(&self, user: &str) -> String {
        format!("ws://{}/ws?user={user}", self.addr)
    }

    async fn client(&self, user: &str) -> Client<ClientMsg, ServerMsg> {
        Client::connect(self.url(user)).await.expect("connect")
    }

    async fn wait_connections(&self, n: usize) {
        let mut rx = self.hub.watch_connections();
        tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|c| *c == n))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "connection count never reached {n}; it is {}",
                    self.hub.connection_count()
                )
            })
            .unwrap();
    }
}

async fn start(limits: impl FnOnce(&mut Limits)) -> Running {
    let hub = Hub::<ServerMsg>::builder()
        .presence(|e| {
            Some(ServerMsg::Presence {
                room: e.room.clone(),
                user: e.identity.clone(),
                online: e.online,
            })
        })
        .queue_capacity(32)
        .build();
    let server = Server::<ClientMsg, App>::builder(App)
        .hub(hub.clone())
        .authenticate(protocol_core::testing::user_from_query)
        .allow_origin("http://allowed.example")
        .with_limits(limits)
        .build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = server.shutdown_handle();
    let task = tokio::spawn(async move { server.serve(listener).await });
    Running {
        addr,
        hub,
        shutdown,
        task,
    }
}

async fn next(c: &mut Client<ClientMsg, ServerMsg>) -> ServerMsg {
    tokio::time::timeout(Duration::from_secs(5), c.next())
        .await
        .expect("a push within 5 s")
        .expect("connection open")
}

type RawWs = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn raw(url: &str) -> RawWs {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("raw connect")
        .0
}

/// Read until the server's close frame; its code.
async fn close_code(ws: &mut RawWs) -> Option<u16> {
    let fut = async {
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("closed within 10 s")
}

#[tokio::test]
async fn requests_get_replies_with_their_ids_and_errors_keep_the_connection() {
    let srv = start(|_| {}).await;
    let c = srv.client("alice").await;
    assert_eq!(c.request(&ClientMsg::Ping).await.unwrap(), ServerMsg::Pong);
    let err = c
        .request(&ClientMsg::Say {
            room: "nowhere".into(),
            text: "hi".into(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Server(e) if e.code() == "not_in_room" && e.pointer() == Some("/room")),
        "{err:?}"
    );
    // Still connected.
    assert_eq!(c.request(&ClientMsg::Ping).await.unwrap(), ServerMsg::Pong);
    // Concurrent requests are matched by id.
    let (a, b) = tokio::join!(c.request(&ClientMsg::Ping), c.request(&ClientMsg::Ping));
    assert_eq!((a.unwrap(), b.unwrap()), (ServerMsg::Pong, ServerMsg::Pong));
}

#[tokio::test]
async fn rooms_broadcast_to_others_and_presence_follows_devices() {
    let srv = start(|_| {}).await;
    let mut alice = srv.client("alice").await;
    let mut bob1 = srv.client("bob").await;
    alice
        .send(&ClientMsg::Join {
            room: "general".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        next(&mut alice).await,
        ServerMsg::Joined {
            room: "general".into(),
            members: vec!["alice".into()]
        }
    );
    bob1.send(&ClientMsg::Join {
        room: "general".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        next(&mut bob1).await,
        ServerMsg::Joined {
            room: "general".into(),
            members: vec!["alice".into(), "bob".into()]
        }
    );
    assert_eq!(
        next(&mut alice).await,
        ServerMsg::Presence {
            room: "general".into(),
            user: "bob".into(),
            online: true
        }
    );

    // A second device of bob joins: no new presence for alice.
    let mut bob2 = srv.client("bob").await;
    bob2.send(&ClientMsg::Join {
        room: "general".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        next(&mut bob2).await,
        ServerMsg::Joined {
            room: "general".into(),
            members: vec!["alice".into(), "bob".into()]
        }
    );

    // Broadcast reaches every other connection, both of bob's, not the sender.
    let sent = alice
        .request(&ClientMsg::Say {
            room: "general".into(),
            text: "hello".into(),
        })
        .await
        .unwrap();
    assert!(matches!(sent, ServerMsg::Sent { .. }));
    let said = ServerMsg::Said {
        room: "general".into(),
        from: "alice".into(),
        text: "hello".into(),
    };
    assert_eq!(next(&mut bob1).await, said);
    assert_eq!(next(&mut bob2).await, said);
    assert_eq!(alice.try_next(), None);

    // Pushes to an identity reach all its connections.
    alice
        .send(&ClientMsg::Notify {
            user: "bob".into(),
            text: "read".into(),
        })
        .await
        .unwrap();
    let notice = ServerMsg::Notice {
        from: "alice".into(),
        text: "read".into(),
    };
    assert_eq!(next(&mut bob1).await, notice);
    assert_eq!(next(&mut bob2).await, notice);

    // bob's first device leaves: still online through the second.
    bob1.close(1000, "bye").await;
    srv.wait_connections(2).await;
    // bob's last device disconnects: alice sees him go offline.
    drop(bob2);
    assert_eq!(
        next(&mut alice).await,
        ServerMsg::Presence {
            room: "general".into(),
            user: "bob".into(),
            online: false
        }
    );
    assert_eq!(srv.hub.members("general").await, vec!["alice".to_owned()]);
}

#[tokio::test]
async fn decode_errors_are_answered_and_garbage_does_not_disturb_others() {
    let srv = start(|_| {}).await;
    let mut good = srv.client("good").await;
    good.send(&ClientMsg::Join { room: "r".into() })
        .await
        .unwrap();
    next(&mut good).await;
    let mut bad = raw(&srv.url("bad")).await;
    let cases = [
        ("{nope", "invalid_json"),
        (r#"{"type":"fly","id":4}"#, "unknown_type"),
        (r#"{"type":"say","id":5,"room":1}"#, "invalid_message"),
        ("[1,2,3]", "invalid_message"),
    ];
    for (frame, code) in cases {
        bad.send(Message::Text(frame.into())).await.unwrap();
        let Some(Ok(Message::Text(reply))) = bad.next().await else {
            panic!("no reply to {frame}")
        };
        let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(v["type"], "error", "{reply}");
        assert_eq!(v["code"], code, "{reply}");
    }
    // The id survives into the error reply.
    bad.send(Message::Text(r#"{"type":"say","id":77,"room":1}"#.into()))
        .await
        .unwrap();
    let Some(Ok(Message::Text(reply))) = bad.next().await else {
        panic!()
    };
    assert!(
        reply.starts_with(r#"{"type":"error","id":77,"code":"invalid_message""#),
        "{reply}"
    );
    // A panicking handler fails only its own message.
    bad.send(Message::Text(r#"{"type":"panic","id":9}"#.into()))
        .await
        .unwrap();
    let Some(Ok(Message::Text(reply))) = bad.next().await else {
        panic!()
    };
    assert!(
        reply.contains(r#""code":"internal_error""#) && reply.contains(r#""id":9"#),
        "{reply}"
    );
    assert_eq!(
        good.request(&ClientMsg::Ping).await.unwrap(),
        ServerMsg::Pong
    );
    bad.send(Message::Text(r#"{"type":"ping","id":1}"#.into()))
        .await
        .unwrap();
    let Some(Ok(Message::Text(reply))) = bad.next().await else {
        panic!()
    };
    assert_eq!(reply.as_str(), r#"{"type":"pong","id":1}"#);
    // Every error reply is counted, by code.
    let stats = srv.hub.stats();
    let by_code = stats.errors_by_code();
    assert_eq!(by_code.get("invalid_json"), Some(&1));
    assert_eq!(by_code.get("unknown_type"), Some(&1));
    assert_eq!(by_code.get("invalid_message"), Some(&3));
    assert_eq!(by_code.get("internal_error"), Some(&1));
    assert_eq!(stats.errors.load(std::sync::atomic::Ordering::Relaxed), 6);
}

#[tokio::test]
async fn every_limit_closes_with_its_code() {
    let srv = start(|l| {
        l.max_message_size = 1024;
        l.rate_per_second = 1.0;
        l.rate_burst = 5;
        l.rate_strikes = 3;
    })
    .await;
    // Too big: 1009.
    let mut ws = raw(&srv.url("big")).await;
    ws.send(Message::Text("x".repeat(4096).into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1009));
    // Binary: 1003.
    let mut ws = raw(&srv.url("bin")).await;
    ws.send(Message::Binary(Bytes::from_static(b"\x00\x01")))
        .await
        .unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1003));
    // Invalid UTF-8 in a text frame: 1007.
    let mut ws = raw(&srv.url("utf")).await;
    let header = FrameHeader {
        opcode: OpCode::Data(Data::Text),
        ..FrameHeader::default()
    };
    ws.send(Message::Frame(Frame::from_payload(
        header,
        Bytes::from_static(&[0x7b, 0xff, 0xfe, 0x7d]),
    )))
    .await
    .unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1007));
    // Rate limit: rate_limited errors, then 1008.
    let mut ws = raw(&srv.url("fast")).await;
    for i in 0..20 {
        if ws
            .send(Message::Text(
                format!(r#"{{"type":"ping","id":{i}}}"#).into(),
            ))
            .await
            .is_err()
        {
            break;
        }
    }
    let mut limited = 0;
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Text(t))) if t.contains("rate_limited") => limited += 1,
            Some(Ok(Message::Close(f))) => break f.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            _ => break None,
        }
    };
    assert!(
        limited >= 1,
        "at least one rate_limited error before the close"
    );
    assert_eq!(code, Some(1008));
}

#[tokio::test]
async fn handshake_refusals() {
    let srv = start(|l| {
        l.max_connections = 3;
        l.max_connections_per_identity = 2;
    })
    .await;
    // No identity: 401 from the authenticate hook.
    let err = tokio_tungstenite::connect_async(format!("ws://{}/ws", srv.addr))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    // Foreign origin: 403; allowed origin passes.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        srv.url("o"),
    )
    .unwrap();
    req.headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        srv.url("o"),
    )
    .unwrap();
    req.headers_mut()
        .insert("origin", "http://allowed.example".parse().unwrap());
    let (ok, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    // Per identity: 429.
    let _a1 = raw(&srv.url("a")).await;
    let _a2 = raw(&srv.url("a")).await;
    srv.wait_connections(3).await;
    let err = tokio_tungstenite::connect_async(srv.url("a"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("429") || err.to_string().contains("503"),
        "{err}"
    );
    // Total: 503.
    let err = tokio_tungstenite::connect_async(srv.url("z"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    drop(ok);
}

#[tokio::test]
async fn slowloris_connections_are_closed_by_the_handshake_timeout() {
    let srv = start(|l| l.handshake_timeout = Duration::from_millis(300)).await;
    let mut socks = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        s.write_all(b"GET /ws?user=slow HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        socks.push(s);
    }
    for mut s in socks {
        let mut buf = [0u8; 64];
        // EOF (0 bytes) or a reset: the server gave up on the handshake.
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("closed in time")
            .unwrap_or(0);
        assert_eq!(n, 0);
    }
    // Real clients still get in.
    assert_eq!(
        srv.client("fine")
            .await
            .request(&ClientMsg::Ping)
            .await
            .unwrap(),
        ServerMsg::Pong
    );
}

#[tokio::test]
async fn dead_peers_are_detected_by_the_heartbeat() {
    let srv = start(|l| {
        l.heartbeat_interval = Duration::from_millis(100);
        l.heartbeat_timeout = Duration::from_millis(400);
    })
    .await;
    // A client that completes the handshake and then never reads (so never answers pings).
    let ws = raw(&srv.url("ghost")).await;
    srv.wait_connections(1).await;
    srv.wait_connections(0).await;
    drop(ws);
    // A live client answers pings (by reading) and stays.
    let c = srv.client("alive").await;
    for _ in 0..8 {
        assert_eq!(c.request(&ClientMsg::Ping).await.unwrap(), ServerMsg::Pong);
        tokio::task::yield_now().await;
    }
    assert_eq!(srv.hub.connection_count(), 1);
}

#[tokio::test]
async fn requests_have_one_deadline() {
    let srv = start(|l| l.request_timeout = Duration::from_millis(200)).await;
    let c = srv.client("patient").await;
    let err = c.request(&ClientMsg::Slow).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Server(e) if e.code() == "timeout"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_slow_consumer_is_cut_off_while_others_keep_receiving() {
    let srv = start(|l| {
        l.max_write_buffer_size = 16 * 1024;
        l.rate_per_second = 1e6;
        l.rate_burst = 1_000_000;
    })
    .await;
    // The slow reader: a small receive buffer, and it never reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(srv.addr).await.unwrap();
    let (mut slow, _) = tokio_tungstenite::client_async(srv.url("slow"), stream)
        .await
        .unwrap();
    slow.send(Message::Text(r#"{"type":"join","room":"busy"}"#.into()))
        .await
        .unwrap();
    let mut fast = srv.client("fast").await;
    fast.send(&ClientMsg::Join {
        room: "busy".into(),
    })
    .await
    .unwrap();
    assert!(matches!(next(&mut fast).await, ServerMsg::Joined { .. }));
    let sender = srv.client("sender").await;
    sender
        .send(&ClientMsg::Join {
            room: "busy".into(),
        })
        .await
        .unwrap();
    // More than the kernel's socket buffers hold, so the slow reader's queue must fill.
    let text = "y".repeat(8000);
    let rounds = 1500u64;
    let mut received = 0u64;
    for _ in 0..rounds {
        sender
            .request(&ClientMsg::Say {
                room: "busy".into(),
                text: text.clone(),
            })
            .await
            .unwrap();
        while let Some(msg) = fast.try_next() {
            if matches!(msg, ServerMsg::Said { .. }) {
                received += 1;
            }
        }
    }
    while received < rounds {
        if let ServerMsg::Said { .. } = next(&mut fast).await {
            received += 1;
        }
    }
    // The slow connection was dropped by the server: the fast one and the sender remain.
    srv.wait_connections(2).await;
    drop(slow);
}

#[tokio::test]
async fn graceful_shutdown_sends_1001_and_returns() {
    let srv = start(|l| l.shutdown_grace = Duration::from_secs(2)).await;
    let mut ws = raw(&srv.url("stay")).await;
    srv.wait_connections(1).await;
    srv.shutdown.shutdown();
    assert_eq!(close_code(&mut ws).await, Some(1001));
    drop(ws);
    tokio::time::timeout(Duration::from_secs(10), srv.task)
        .await
        .expect("serve returned")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(srv.addr).await.is_err()
            || tokio_tungstenite::connect_async(format!("ws://{}/ws?user=x", srv.addr))
                .await
                .is_err()
    );
}

#[tokio::test]
async fn clients_reconnect_with_backoff() {
    let srv = start(|_| {}).await;
    let c: Client<ClientMsg, ServerMsg> = protocol_core::ClientBuilder::new(srv.url("phoenix"))
        .reconnect(protocol_core::Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(200),
        })
        .connect()
        .await
        .unwrap();
    assert_eq!(c.request(&ClientMsg::Ping).await.unwrap(), ServerMsg::Pong);
    srv.wait_connections(1).await;
    // Overflow its own queue (capacity 32): the server closes it as a slow consumer.
    c.send(&ClientMsg::Spam {
        count: 5000,
        size: 64,
    })
    .await
    .unwrap();
    // The client comes back by itself; requests fail with `Closed` until it has.
    let mut answered = false;
    for _ in 0..500 {
        match c.request(&ClientMsg::Ping).await {
            Ok(ServerMsg::Pong) => {
                answered = true;
                break;
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(ClientError::Closed) => tokio::task::yield_now().await,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(answered, "requests work again after the reconnect");
    let opened = srv
        .hub
        .stats()
        .connections_opened
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(opened, 2, "the client connected twice");
}

#[test]
fn the_queue_length_comes_from_whichever_of_hub_and_limits_was_configured() {
    let built = |hub: Option<usize>, limit: Option<usize>| {
        let mut b = Server::<ClientMsg, App>::builder(App);
        if let Some(frames) = hub {
            b = b.hub(Hub::builder().queue_capacity(frames).build());
        }
        if let Some(frames) = limit {
            b = b.with_limits(|l| l.queue_capacity = frames);
        }
        b.build().limits().queue_capacity
    };
    assert_eq!(built(None, None), 256);
    assert_eq!(
        built(Some(8), None),
        8,
        "the hub's, not silently the default"
    );
    assert_eq!(built(None, Some(9)), 9);
    assert_eq!(
        built(Some(8), Some(9)),
        9,
        "both set: the server's limit (with a warning)"
    );
}
