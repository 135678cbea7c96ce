//! TLS on every way of serving, with a certificate made at test time (rcgen): the typed client
//! talks over `wss://`, a client that does not trust the certificate or speaks plain `ws://`
//! is refused, and a client that never starts its TLS handshake is cut off by the handshake
//! deadline.

#![allow(missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use protocol_core::tls::TlsConfig;
use protocol_core::{Client, ClientError, Context, ErrorReply, Protocol, Server};
use tokio::io::AsyncReadExt;
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
    Pong { to: String },
    Error(ErrorReply),
}

struct App;

impl ClientMsgHandler for App {
    type Out = ServerMsg;
    async fn on_ping(&self, cx: &Context<ServerMsg>) -> Result<ServerMsgPong, ErrorReply> {
        Ok(ServerMsgPong {
            to: cx.identity().to_owned(),
        })
    }
}

const HANDSHAKE: Duration = Duration::from_millis(800);

fn certificate() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (made.cert.pem(), made.signing_key.serialize_pem())
}

async fn start(router: bool, cert: &str, key: &str) -> SocketAddr {
    let server = Server::<ClientMsg, App>::builder(App)
        .authenticate(protocol_core::testing::user_from_query)
        .tls(TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap())
        .with_limits(|l| l.handshake_timeout = HANDSHAKE)
        .build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    if router {
        let app =
            axum::Router::new().route("/ws", protocol_core::axum::websocket_route(server.clone()));
        tokio::spawn(async move { server.serve_router(listener, app).await });
    } else {
        tokio::spawn(async move { server.serve(listener).await });
    }
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_on_every_way_of_serving() {
    let (cert, key) = certificate();
    for router in [false, true] {
        let addr = start(router, &cert, &key).await;
        let url = format!("wss://localhost:{}/ws?user=alice", addr.port());

        let client: Client<ClientMsg, ServerMsg> = Client::builder(&url)
            .trust_pem(cert.as_bytes())
            .unwrap()
            .connect()
            .await
            .unwrap();
        assert_eq!(
            client.request(&ClientMsg::Ping).await.unwrap(),
            ServerMsg::Pong { to: "alice".into() },
            "router: {router}"
        );

        // Not trusted: the webpki roots do not know a self-signed certificate.
        let Err(err) = Client::<ClientMsg, ServerMsg>::builder(&url)
            .connect()
            .await
        else {
            panic!("connected without trusting the certificate");
        };
        assert!(
            matches!(&err, ClientError::Connect { reason, .. } if reason.contains("certificate")),
            "{err}"
        );

        // Plain WebSocket to a TLS port: no upgrade.
        let plain = format!("ws://localhost:{}/ws?user=bob", addr.port());
        assert!(
            Client::<ClientMsg, ServerMsg>::connect(plain)
                .await
                .is_err()
        );

        // A client that connects and never says anything is cut off by the deadline.
        let opened = Instant::now();
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(HANDSHAKE * 4, silent.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0) | Err(_))),
            "router: {router}: {read:?}"
        );
        assert!(opened.elapsed() >= HANDSHAKE * 8 / 10);
    }
}

#[test]
fn unusable_certificates_are_explained() {
    let (cert, key) = certificate();
    let (_, other_key) = certificate();
    assert!(
        TlsConfig::from_pem(b"", key.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("no -----BEGIN CERTIFICATE-----")
    );
    assert!(
        TlsConfig::from_pem(cert.as_bytes(), b"nope")
            .unwrap_err()
            .to_string()
            .starts_with("cannot read the private key")
    );
    assert!(
        TlsConfig::from_pem(cert.as_bytes(), other_key.as_bytes())
            .unwrap_err()
            .to_string()
            .starts_with("cannot use the certificate and key")
    );
}
