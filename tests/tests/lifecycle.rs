//! The handler's connection lifecycle: `connected` once before the first message,
//! `disconnected` once at the end, whatever ended it (the peer, a limit, a lost socket,
//! shutdown), while the connection is still in its rooms.

#![allow(missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol_core::{Client, Context, Disconnect, ErrorReply, Protocol, Server};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case")]
pub enum ClientMsg {
    Join {
        room: String,
    },
    #[protocol(reply = ServerMsg::Pong)]
    Ping,
}

#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case")]
pub enum ServerMsg {
    Pong,
    Error(ErrorReply),
}

#[derive(Default)]
struct Seats {
    log: Mutex<Vec<String>>,
}

struct App(Arc<Seats>);

impl ClientMsgHandler for App {
    type Out = ServerMsg;

    async fn connected(&self, cx: &Context<ServerMsg>) {
        self.0
            .log
            .lock()
            .unwrap()
            .push(format!("connected {}", cx.identity()));
    }

    async fn disconnected(&self, cx: &Context<ServerMsg>, end: &Disconnect) {
        // Still in its rooms: the app can free the seats it held there.
        self.0.log.lock().unwrap().push(format!(
            "disconnected {} {} by_server={} rooms={:?}",
            cx.identity(),
            end.code,
            end.by_server,
            cx.rooms()
        ));
    }

    async fn on_join(&self, cx: &Context<ServerMsg>, room: String) -> Result<(), ErrorReply> {
        cx.join(&room).await?;
        Ok(())
    }

    async fn on_ping(&self, _cx: &Context<ServerMsg>) -> Result<ServerMsgPong, ErrorReply> {
        Ok(ServerMsgPong)
    }
}

async fn wait_for(seats: &Seats, line: &str) {
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if seats.log.lock().unwrap().iter().any(|l| l == line) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "never logged {line:?}; log: {:?}",
        seats.log.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_run_once_per_connection_whatever_ends_it() {
    let seats = Arc::new(Seats::default());
    let server = Server::<ClientMsg, App>::builder(App(Arc::clone(&seats)))
        .authenticate(protocol_core::testing::user_from_query)
        .with_limits(|l| {
            l.rate_per_second = 1.0;
            l.rate_burst = 2;
            l.rate_strikes = 2;
            l.shutdown_grace = Duration::from_secs(2);
        })
        .build();
    let hub = server.hub().clone();
    let shutdown = server.shutdown_handle();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(async move { server.serve(listener).await });
    let url = |u: &str| format!("ws://{addr}/ws?user={u}");

    // Closed by the peer, after joining a room.
    let quits: Client<ClientMsg, ServerMsg> = Client::connect(url("quits")).await.unwrap();
    quits
        .send(&ClientMsg::Join {
            room: "table-1".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        quits.request(&ClientMsg::Ping).await.unwrap(),
        ServerMsg::Pong
    );
    wait_for(&seats, "connected quits").await;
    quits.close(1000, "bye").await;
    wait_for(
        &seats,
        r#"disconnected quits 1000 by_server=false rooms=["table-1"]"#,
    )
    .await;

    // Closed by the rate limit (1008).
    let (mut flood, _) = tokio_tungstenite::connect_async(url("flood"))
        .await
        .unwrap();
    for _ in 0..20 {
        if flood
            .send(Message::text(r#"{"type":"ping","id":1}"#))
            .await
            .is_err()
        {
            break;
        }
    }
    while let Some(Ok(_)) = flood.next().await {}
    wait_for(&seats, "disconnected flood 1008 by_server=true rooms=[]").await;

    // The socket lost without a close frame (1006).
    let (lost, _) = tokio_tungstenite::connect_async(url("lost")).await.unwrap();
    wait_for(&seats, "connected lost").await;
    drop(lost);
    wait_for(&seats, "disconnected lost 1006 by_server=false rooms=[]").await;

    // Server shutdown (1001).
    let stays: Client<ClientMsg, ServerMsg> = Client::connect(url("stays")).await.unwrap();
    assert_eq!(
        stays.request(&ClientMsg::Ping).await.unwrap(),
        ServerMsg::Pong
    );
    shutdown.shutdown();
    wait_for(&seats, "disconnected stays 1001 by_server=true rooms=[]").await;
    serving.await.unwrap().unwrap();
    assert_eq!(hub.connection_count(), 0);

    // Exactly once each.
    let log = seats.log.lock().unwrap().clone();
    for who in ["quits", "flood", "lost", "stays"] {
        let connected = log
            .iter()
            .filter(|l| **l == format!("connected {who}"))
            .count();
        let disconnected = log
            .iter()
            .filter(|l| l.starts_with(&format!("disconnected {who} ")))
            .count();
        assert_eq!((connected, disconnected), (1, 1), "{who}: {log:?}");
    }
}
