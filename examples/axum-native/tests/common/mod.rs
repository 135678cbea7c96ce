//! A real axum server on 127.0.0.1:0 and a real WebSocket client, with bounded waits.

#![allow(dead_code)] // each test file uses its own part of this

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any one expected frame may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// Serve `app` on a free loopback port, in the background of the test's runtime.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // As the binary does: TCP_NODELAY on every accepted socket, like the runtime's own listener.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A client socket.
pub struct Ws(WebSocketStream<MaybeTlsStream<TcpStream>>);

impl Ws {
    /// Connect to `ws://{addr}{path}`.
    pub async fn connect(addr: SocketAddr, path: &str) -> Ws {
        let url = format!("ws://{addr}{path}");
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("handshake timed out")
            .expect("handshake failed");
        Ws(ws)
    }

    /// A refused handshake: the HTTP status and body.
    pub async fn refused(addr: SocketAddr, path: &str) -> (u16, String) {
        let url = format!("ws://{addr}{path}");
        match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("handshake timed out")
        {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => (
                resp.status().as_u16(),
                String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).into_owned(),
            ),
            Err(e) => panic!("expected an HTTP refusal, got {e}"),
            Ok(_) => panic!("expected an HTTP refusal, got a WebSocket"),
        }
    }

    /// The next frame from the server, pings and pongs included.
    pub async fn next_any(&mut self) -> Message {
        tokio::time::timeout(WAIT, self.0.next())
            .await
            .expect("no frame within the wait")
            .expect("the socket ended")
            .expect("the socket failed")
    }

    /// Connect with a tiny receive buffer (so a client that does not read backs the server
    /// up soon).
    pub async fn connect_small(addr: SocketAddr, path: &str) -> Ws {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let tcp = socket.connect(addr).await.unwrap();
        let url = format!("ws://{addr}{path}");
        let (ws, _) = tokio::time::timeout(
            WAIT,
            tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)),
        )
        .await
        .expect("handshake timed out")
        .expect("handshake failed");
        Ws(ws)
    }

    /// The socket underneath.
    pub fn into_inner(self) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
        self.0
    }

    /// Send a text frame.
    pub async fn send(&mut self, text: &str) {
        self.0.send(Message::text(text)).await.unwrap();
    }

    /// Send any frame.
    pub async fn send_msg(&mut self, msg: Message) {
        self.0.send(msg).await.unwrap();
    }

    /// The next frame from the server, skipping pings and pongs.
    pub async fn next(&mut self) -> Message {
        loop {
            let msg = tokio::time::timeout(WAIT, self.0.next())
                .await
                .expect("no frame within the wait")
                .expect("the socket ended")
                .expect("the socket failed");
            if !matches!(msg, Message::Ping(_) | Message::Pong(_)) {
                return msg;
            }
        }
    }

    /// The next frame, which must be text.
    pub async fn text(&mut self) -> String {
        match self.next().await {
            Message::Text(text) => text.as_str().to_owned(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Send `frame` and expect exactly `answer` back.
    pub async fn ask(&mut self, frame: &str, answer: &str) {
        self.send(frame).await;
        assert_eq!(self.text().await, answer, "the answer to {frame}");
    }

    /// The next frame, which must be a close: its code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        match self.next().await {
            Message::Close(Some(CloseFrame { code, reason })) => {
                (u16::from(code), reason.as_str().to_owned())
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    /// Close normally.
    pub async fn close(mut self) {
        self.0.close(None).await.unwrap();
    }
}
