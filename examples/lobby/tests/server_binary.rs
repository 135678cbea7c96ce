//! The `lobby-server` binary: it prints `listening on http://ADDR` with the real port, and two
//! players play on it through real sockets; killing one's socket abandons the game.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use lobby_example::{ClientMsg, Mark, ServerMsg, ServerMsgJoined};
use protocol_core::testing::TestClient;
use protocol_core::{assert_push, assert_reply};

type Player = TestClient<ClientMsg, ServerMsg>;

/// A `lobby-server --listen 127.0.0.1:0` process, killed when dropped.
struct LobbyProcess {
    child: Child,
    addr: String,
}

impl LobbyProcess {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lobby-server"))
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start lobby-server");
        let stdout = child.stdout.take().expect("piped stdout");
        // The first line, read on a thread so a server that never prints fails the test in
        // bounded time instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("lobby-server printed nothing within 30 s");
            }
        };
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| {
                panic!("lobby-server printed {line:?}, not `listening on http://ADDR`")
            })
            .to_owned();
        assert!(
            !addr.ends_with(":0"),
            "the real port is printed, got {addr}"
        );
        LobbyProcess { child, addr }
    }

    async fn connect(&self, player: &str) -> Player {
        let url = format!("ws://{}/ws?user={player}", self.addr);
        TestClient::connect(&url, player)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"))
    }
}

impl Drop for LobbyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn two_players_on_the_binary() {
    let server = LobbyProcess::start();
    let mut alice = server.connect("alice").await;
    let mut bob = server.connect("bob").await;
    let game = assert_reply!(
        alice.request(&ClientMsg::Create).await,
        ServerMsg::Joined { game, seat: Mark::X, .. } => game
    );
    let reply = bob.request(&ClientMsg::Join { game: game.clone() }).await;
    assert_eq!(
        reply,
        Ok(ServerMsgJoined {
            game: game.clone(),
            seat: Mark::O,
            opponent: Some("alice".into()),
        }
        .into())
    );
    assert_reply!(
        alice
            .request(&ClientMsg::Move {
                game: game.clone(),
                cell: 4,
            })
            .await,
        ServerMsg::Moved { cell: 4, .. }
    );
    let cells = assert_push!(bob, ServerMsg::Board { cells, turn: Some(Mark::O), .. } => cells);
    assert_eq!(cells[4], Some(Mark::X));
    alice.close().await;
    assert_push!(bob, ServerMsg::Abandoned { by, .. } if by == "alice");
    assert_push!(bob, ServerMsg::Presence { player, online: false, .. } if player == "alice");
}

#[tokio::test]
async fn the_binary_refuses_a_connection_without_a_name() {
    let server = LobbyProcess::start();
    let url = format!("ws://{}/ws", server.addr);
    let refused = Player::connect(&url, "nobody").await;
    let Err(e) = refused else {
        panic!("a connection without ?user=NAME was accepted")
    };
    assert!(e.contains("401"), "{e}");
}
