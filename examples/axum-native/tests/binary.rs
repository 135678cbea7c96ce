//! The shipped binary: `--listen 127.0.0.1:0` prints the bound address, and the room answers
//! there.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use common::Ws;

/// Kills the server when the test ends, passed or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_prints_its_address_and_serves_the_room() {
    let mut child = Server(
        Command::new(env!("CARGO_BIN_EXE_axum-native-server"))
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    // The first line comes once the socket is bound; a thread so a hung binary cannot hang
    // the test past the wait.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(common::WAIT).expect("no address printed");
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on ws://")
        .and_then(|rest| rest.strip_suffix("/ws"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    assert_ne!(addr.port(), 0);

    let mut ws = Ws::connect(addr, "/ws").await;
    ws.ask(
        r#"{"type":"hello","id":1,"name":"ann"}"#,
        r#"{"type":"welcome","id":1,"count":0,"here":["ann"]}"#,
    )
    .await;
    ws.ask(
        r#"{"type":"add","id":2,"by":3}"#,
        r#"{"type":"added","id":2,"count":3}"#,
    )
    .await;
}
