//! Admission is the same on every way to serve: the runtime's own listener (`serve`) and an axum
//! router served by `serve_router` are driven through the same checks here (handshake
//! deadline on unfinished headers, the cap on handshakes in progress, the per-address cap and
//! trusted proxies, TCP_NODELAY read back on the accepted sockets), and must answer alike.

#![allow(missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use protocol_core::{Context, ErrorReply, Hub, Protocol, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case")]
pub enum ClientMsg {
    #[protocol(reply = ServerMsg::Pong)]
    Ping,
}

#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case")]
pub enum ServerMsg {
    Pong,
    Error(ErrorReply),
}

struct App;

impl ClientMsgHandler for App {
    type Out = ServerMsg;
    async fn on_ping(&self, _cx: &Context<ServerMsg>) -> Result<ServerMsgPong, ErrorReply> {
        Ok(ServerMsgPong)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Path {
    OwnListener,
    AxumRouter,
}

const HANDSHAKE: Duration = Duration::from_millis(800);

struct Running {
    addr: SocketAddr,
    hub: Hub<ServerMsg>,
}

async fn start(path: Path) -> Running {
    let server = Server::<ClientMsg, App>::builder(App)
        .authenticate(protocol_core::testing::user_from_query)
        .trust_proxy("127.0.0.2".parse().unwrap())
        .with_limits(|l| {
            l.handshake_timeout = HANDSHAKE;
            l.max_pending_handshakes = 4;
            l.max_connections_per_address = 2;
            l.exempt_loopback = false;
        })
        .build();
    let hub = server.hub().clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    match path {
        Path::OwnListener => {
            tokio::spawn(async move { server.serve(listener).await });
        }
        Path::AxumRouter => {
            let router = axum::Router::new()
                .route("/", axum::routing::get(|| async { "page" }))
                .route("/ws", protocol_core::axum::websocket_route(server.clone()));
            tokio::spawn(async move { server.serve_router(listener, router).await });
        }
    }
    Running { addr, hub }
}

/// Open a TCP connection that sends part of an upgrade request and never finishes it.
async fn unfinished(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /ws?user=slow HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tcp
}

/// How long until the server closes this socket (reads until EOF or reset), bounded.
async fn closed_after(tcp: &mut TcpStream, bound: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 256];
    tokio::time::timeout(bound, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return start.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

async fn upgrade(addr: SocketAddr, user: &str, forwarded: Option<&str>) -> Result<(), String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}/ws?user={user}")
        .into_client_request()
        .unwrap();
    if let Some(f) = forwarded {
        req.headers_mut()
            .insert("x-forwarded-for", f.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => {
            // Keep it open as long as the test holds the task; dropped at the end.
            tokio::spawn(async move {
                let _ws = ws;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
            Ok(())
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(format!(
            "{} {}",
            resp.status().as_u16(),
            String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default())
        )),
        Err(e) => Err(e.to_string()),
    }
}

async fn wait_connections(hub: &Hub<ServerMsg>, n: usize) {
    let mut rx = hub.watch_connections();
    tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|c| *c == n))
        .await
        .expect("connection count reached")
        .unwrap();
}

/// What a way of serving did in the scenario, in a form both must share.
#[derive(Debug, PartialEq)]
struct Observed {
    slowloris_closed_by_deadline: bool,
    over_pending_cap_dropped_at_once: bool,
    fresh_connection_after_deadlines: bool,
    per_address: Vec<Result<(), String>>,
    forwarded: Vec<Result<(), String>>,
    every_socket_counted: bool,
    every_socket_nodelay: bool,
}

async fn observe(path: Path) -> Observed {
    let srv = start(path).await;

    // Four unfinished handshakes fill the cap on handshakes in progress; a fifth is dropped
    // at once, long before any deadline.
    let mut slow = Vec::new();
    for _ in 0..4 {
        slow.push((Instant::now(), unfinished(srv.addr).await));
    }
    tokio::time::sleep(Duration::from_millis(100)).await; // let the server accept them
    let mut fifth = unfinished(srv.addr).await;
    let over_pending_cap_dropped_at_once = closed_after(&mut fifth, HANDSHAKE / 2).await.is_some();
    // Each unfinished one is closed by its deadline (between 90% and 100% of the limit).
    let mut slowloris_closed_by_deadline = true;
    for (opened, tcp) in &mut slow {
        match closed_after(tcp, HANDSHAKE * 4).await {
            // Not before 90% of the limit (minus scheduling slack): closed by the deadline.
            Some(_) => slowloris_closed_by_deadline &= opened.elapsed() >= HANDSHAKE * 8 / 10,
            None => slowloris_closed_by_deadline = false,
        }
    }
    let fresh_connection_after_deadlines = upgrade(srv.addr, "fresh", None).await.is_ok();

    // Per address (loopback not exempt here): the fresh one counts; one more, then 429.
    let per_address = vec![
        upgrade(srv.addr, "a", None).await,
        upgrade(srv.addr, "b", None).await,
    ];
    wait_connections(&srv.hub, 2).await;

    // 127.0.0.1 is not a trusted proxy: its X-Forwarded-For is ignored (still 127.0.0.1, full).
    let forwarded = vec![upgrade(srv.addr, "c", Some("198.51.100.1")).await];
    drop(fifth);

    let stats = srv.hub.stats();
    let accepted = stats
        .sockets_accepted
        .load(std::sync::atomic::Ordering::Relaxed);
    let nodelay = stats
        .sockets_nodelay
        .load(std::sync::atomic::Ordering::Relaxed);
    Observed {
        // 4 slow + 1 over the cap (dropped before it is counted) + fresh + a + b + c.
        every_socket_counted: accepted == 8,
        slowloris_closed_by_deadline,
        over_pending_cap_dropped_at_once,
        fresh_connection_after_deadlines,
        per_address,
        forwarded,
        every_socket_nodelay: accepted > 0 && nodelay == accepted,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_ways_of_serving_admit_alike() {
    let own = observe(Path::OwnListener).await;
    let axum = observe(Path::AxumRouter).await;
    let too_many =
        Err("429 too many connections from 127.0.0.1: the limit is 2 per address".to_owned());
    let expected = Observed {
        slowloris_closed_by_deadline: true,
        over_pending_cap_dropped_at_once: true,
        fresh_connection_after_deadlines: true,
        per_address: vec![Ok(()), too_many.clone()],
        forwarded: vec![too_many],
        every_socket_counted: true,
        every_socket_nodelay: true,
    };
    assert_eq!(own, expected, "own listener");
    assert_eq!(axum, expected, "axum router");
}

/// Behind a trusted proxy, each forwarded client address has its own count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxy_forwards_the_client_address() {
    for path in [Path::OwnListener, Path::AxumRouter] {
        let srv = start(path).await;
        // Connect from 127.0.0.2, the trusted proxy (loopback has all of 127/8).
        let connect = |user: &'static str, forwarded: &'static str| async move {
            use tokio_tungstenite::tungstenite::client::IntoClientRequest;
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            let tcp = socket.connect(srv.addr).await.unwrap();
            let mut req = format!("ws://{}/ws?user={user}", srv.addr)
                .into_client_request()
                .unwrap();
            req.headers_mut()
                .insert("x-forwarded-for", forwarded.parse().unwrap());
            match tokio_tungstenite::client_async(req, tcp).await {
                Ok((ws, _)) => {
                    tokio::spawn(async move {
                        let _ws = ws;
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    });
                    Ok(())
                }
                Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                    Err(resp.status().as_u16())
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(connect("a", "203.0.113.5").await, Ok(()), "{path:?}");
        assert_eq!(connect("b", "203.0.113.5").await, Ok(()), "{path:?}");
        assert_eq!(connect("c", "203.0.113.5").await, Err(429), "{path:?}");
        // A client cannot escape its count by prepending an address of its own.
        assert_eq!(
            connect("d", "10.9.9.9, 203.0.113.5").await,
            Err(429),
            "{path:?}"
        );
        assert_eq!(connect("e", "203.0.113.6").await, Ok(()), "{path:?}");
        wait_connections(&srv.hub, 3).await;
    }
}

/// A page connection kept alive but idle is closed by the same deadline on the axum path.
#[tokio::test]
async fn idle_kept_alive_page_connection_is_closed() {
    let srv = start(Path::AxumRouter).await;
    let mut tcp = TcpStream::connect(srv.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    assert!(
        closed_after(&mut tcp, HANDSHAKE * 4).await.is_some(),
        "an idle kept-alive connection stayed open"
    );
}
