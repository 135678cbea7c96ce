//! Helpers shared by the chat's integration tests.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use chat_example::{ClientMsg, ServerMsg};
use protocol_core::testing::TestClient;
use protocol_core::{assert_push, assert_reply};

pub type Client = TestClient<ClientMsg, ServerMsg>;

/// Join `room`; the members the `joined` reply lists.
pub async fn join(c: &mut Client, room: &str) -> Vec<String> {
    c.send(&ClientMsg::Join { room: room.into() }).await;
    let ServerMsg::Joined { members, .. } =
        assert_push!(c, ServerMsg::Joined { room: r, .. } if r == room)
    else {
        unreachable!()
    };
    members
}

/// Send a message to `room`; the message id the `sent` reply carries.
pub async fn say(c: &mut Client, room: &str, text: &str) -> String {
    let reply = assert_reply!(
        c.request(&ClientMsg::Message {
            room: room.into(),
            text: text.into()
        })
        .await,
        ServerMsg::Sent { .. }
    );
    let ServerMsg::Sent { message_id } = reply else {
        unreachable!()
    };
    message_id
}

/// Send typing from `from` until `to` sees it (cross-node delivery works again); bounded.
pub async fn until_delivered(from: &mut Client, to: &mut Client, room: &str, within: Duration) {
    let deadline = Instant::now() + within;
    let user = from.identity().to_owned();
    loop {
        from.send(&ClientMsg::Typing {
            room: room.into(),
            active: true,
        })
        .await;
        let got = to
            .wait_push(
                |m| matches!(m, ServerMsg::Typing { user: u, .. } if *u == user),
                Duration::from_millis(300),
            )
            .await;
        if got.is_some() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "cross-node delivery did not resume within {within:?}"
        );
    }
}

/// A `redis://` URL nothing listens on.
pub fn unreachable_redis_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("redis://127.0.0.1:{port}")
}
