//! Signed identity on the shipped `chat-server` binary started with `--auth-secret`: every
//! kind of bad token is refused before the upgrade with a reason, good ones are accepted from
//! the query, the Authorization header and the `bearer` subprotocol, and a token that expires
//! while connected closes the connection (3000) unless it was refreshed in time.

#![allow(missing_docs)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use chat_example::{ClientMsg, ServerMsg};
use common::{ChatProcess, join};
use protocol_core::assert_reply;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SECRET: &str = "a-test-secret-of-32-bytes-length";

/// `chat-server token NAME --ttl TTL`, the README's way to get a token.
fn token(name: &str, ttl: &str, secret: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--auth-secret", secret, "token", name, "--ttl", ttl])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn start() -> ChatProcess {
    ChatProcess::start(&["--auth-secret", SECRET], &[])
}

/// Status and body of a refused upgrade.
async fn refused(req: impl IntoClientRequest + Unpin) -> (u16, String) {
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => (
            resp.status().as_u16(),
            String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        Ok(_) => panic!("the upgrade was accepted"),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
    }
}

fn b64(json: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

#[tokio::test]
async fn bad_tokens_are_refused_with_a_reason() {
    let chat = start();
    let ws = |query: &str| format!("ws://{}/ws?{query}", chat.addr());
    let cases = [
        (ws("user=alice"), "token refused".to_owned()),
        (
            ws(&format!(
                "token={}",
                token("alice", "1h", "another-secret-of-32-bytes-long!")
            )),
            "token refused: its signature does not match the server's key".to_owned(),
        ),
        (
            ws(&format!(
                "token={}.{}.",
                b64(r#"{"alg":"none","typ":"JWT"}"#),
                b64(r#"{"sub":"alice","exp":9999999999}"#)
            )),
            "token refused: alg \"none\" (unsigned) is not accepted; expected HS256".to_owned(),
        ),
        (
            ws("token=not-a-jwt"),
            "token refused: it is not a JWT (header.payload.signature)".to_owned(),
        ),
    ];
    for (url, reason) in cases {
        let (status, body) = refused(url.as_str()).await;
        assert_eq!(status, 401, "{url}");
        if reason == "token refused" {
            assert!(body.starts_with("no token"), "{body}");
        } else {
            assert_eq!(body, reason, "{url}");
        }
    }
    // Expired beyond the leeway (30 s): signed by hand with the right secret.
    let expired = {
        let claims = serde_json::json!({"sub": "alice", "exp": 1_000_000_000u64});
        signed(&claims)
    };
    let (status, body) = refused(ws(&format!("token={expired}")).as_str()).await;
    assert_eq!(
        (status, body.as_str()),
        (401, "token refused: it has expired (exp)")
    );
    let no_sub = signed(&serde_json::json!({"exp": 9_999_999_999u64}));
    let (status, body) = refused(ws(&format!("token={no_sub}")).as_str()).await;
    assert_eq!(
        (status, body.as_str()),
        (401, "token refused: it has no sub claim (the identity)")
    );
    let bad_name = signed(&serde_json::json!({"sub": "no spaces", "exp": 9_999_999_999u64}));
    let (status, body) = refused(ws(&format!("token={bad_name}")).as_str()).await;
    assert_eq!(status, 401);
    assert!(body.contains("not a user name"), "{body}");
}

/// A correctly signed HS256 token with these claims (the `token` subcommand only writes
/// `sub`, `exp` and `iat`).
fn signed(claims: &serde_json::Value) -> String {
    protocol_core::token::sign_hs256(SECRET.as_bytes(), claims).unwrap()
}

#[tokio::test]
async fn good_tokens_from_query_header_and_subprotocol() {
    let chat = start();
    let t = token("alice", "1h", SECRET);
    // Query.
    let mut alice = common::Client::connect(&format!("ws://{}/ws?token={t}", chat.addr()), "alice")
        .await
        .unwrap();
    assert_eq!(join(&mut alice, "general").await, vec!["alice"]);
    // Authorization header.
    let mut req = format!("ws://{}/ws", chat.addr())
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {t}").parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_ok());
    // The subprotocol a browser can set; the server answers with `bearer`.
    let mut req = format!("ws://{}/ws", chat.addr())
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        format!("bearer, {t}").parse().unwrap(),
    );
    let (_ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        "bearer"
    );
}

#[tokio::test]
async fn an_expiring_token_closes_the_connection_unless_refreshed_in_time() {
    let chat = start();
    let url = |t: &str| format!("ws://{}/ws?token={t}", chat.addr());
    let short = token("alice", "2s", SECRET);
    let opened = Instant::now();
    let mut late = common::Client::connect(&url(&short), "alice")
        .await
        .unwrap();
    let mut renewed = common::Client::connect(&url(&token("bob", "2s", SECRET)), "bob")
        .await
        .unwrap();
    // Bob renews in time, with a token for himself; a token for someone else is refused.
    let e = renewed
        .assert_error(
            &ClientMsg::Refresh {
                token: token("alice", "1h", SECRET),
            },
            "invalid_token",
        )
        .await;
    assert_eq!(e.pointer(), Some("/token"));
    assert_reply!(
        renewed
            .request(&ClientMsg::Refresh {
                token: token("bob", "1h", SECRET),
            })
            .await,
        ServerMsg::Refreshed { .. }
    );
    // Alice does not: closed with 3000 once her token expires.
    late.assert_closed(3000).await;
    assert!(opened.elapsed() >= Duration::from_millis(1000));
    // Bob is still there well past the first expiry (and past the once-a-second check).
    let past_expiry = Duration::from_millis(3500);
    tokio::time::sleep(past_expiry.saturating_sub(opened.elapsed())).await;
    assert_eq!(join(&mut renewed, "general").await, vec!["bob"]);
}

/// `chat-server --tls-cert --tls-key` with a certificate made now: a token over `wss://`.
#[tokio::test]
async fn tokens_over_tls_on_the_binary() {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("chat-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let chat = ChatProcess::start(
        &[
            "--auth-secret",
            SECRET,
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &[],
    );
    let port = chat.addr().rsplit(':').next().unwrap().to_owned();
    let url = format!(
        "wss://localhost:{port}/ws?token={}",
        token("alice", "1h", SECRET)
    );
    let alice: protocol_core::Client<ClientMsg, ServerMsg> = protocol_core::Client::builder(&url)
        .trust_pem(made.cert.pem().as_bytes())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let reply = alice
        .request(&ClientMsg::Refresh {
            token: token("alice", "2h", SECRET),
        })
        .await
        .unwrap();
    assert!(matches!(reply, ServerMsg::Refreshed { .. }));
    // The refused client now learns the server's reason (status and body).
    let plain_user = format!("wss://localhost:{port}/ws?user=alice");
    let Err(err) = protocol_core::Client::<ClientMsg, ServerMsg>::builder(&plain_user)
        .trust_pem(made.cert.pem().as_bytes())
        .unwrap()
        .connect()
        .await
    else {
        panic!("connected without a token");
    };
    match err {
        protocol_core::ClientError::Connect { status, reason, .. } => {
            assert_eq!(status, Some(401));
            assert!(reason.contains("no token"), "{reason}");
        }
        other => panic!("{other}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The typed Rust client keeps its connection past the token's expiry with a refresh callback;
/// the same client without one is closed.
#[tokio::test]
async fn the_typed_client_refreshes_through_a_callback() {
    let chat = start();
    let url = |t: &str| format!("ws://{}/ws?token={t}", chat.addr());
    let fresh = token("dave", "1h", SECRET);
    let opened = Instant::now();
    let kept: protocol_core::Client<ClientMsg, ServerMsg> =
        protocol_core::Client::builder(url(&token("dave", "2s", SECRET)))
            .refresh_every(Duration::from_millis(500), move || {
                Some(ClientMsg::Refresh {
                    token: fresh.clone(),
                })
            })
            .connect()
            .await
            .unwrap();
    let dropped: protocol_core::Client<ClientMsg, ServerMsg> =
        protocol_core::Client::connect(url(&token("erin", "2s", SECRET)))
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_millis(3500).saturating_sub(opened.elapsed())).await;
    let again = ClientMsg::Refresh {
        token: token("dave", "1h", SECRET),
    };
    assert!(matches!(
        kept.request(&again).await,
        Ok(ServerMsg::Refreshed { .. })
    ));
    let erin = ClientMsg::Refresh {
        token: token("erin", "1h", SECRET),
    };
    assert!(matches!(
        dropped.request(&erin).await,
        Err(protocol_core::ClientError::Closed)
    ));
}
