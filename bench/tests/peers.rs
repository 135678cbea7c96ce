//! The peers `ratios peers` measures against (`bench/peers/`), and the shipped `chat-server`
//! beside them, held to the chat's wire contract (`../shared/ARCHITECTURE.md`, "Chat example:
//! wire contract" and "Resume and history") by the very checks the chat's own tests run
//! (`examples/chat/tests/contract/`, shared with `wire_contract.rs`): each server runs in its
//! own process on 127.0.0.1:0, driven by the test kit, which validates every frame against the
//! chat schema.
//!
//! The `ratios` load modes get a small functional run against the peers too (no timing: they
//! deliver, every delivery is counted, nothing is refused).
//!
//! Needs `npm ci` in `bench/peers` (ws and bun) and a built `chat-server` (`CHAT_SERVER_BIN`, or
//! the workspace's `target/debug/chat-server`): `.ci/run` does both.

#![allow(missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "../../examples/chat/tests/contract/mod.rs"]
mod contract;

fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers")
}

fn must_exist(path: PathBuf, how: &str) -> PathBuf {
    assert!(path.exists(), "{} is missing: {how}", path.display());
    path
}

/// The command that starts each server (it takes `--listen 127.0.0.1:0`).
fn command(server: &str) -> Command {
    let npm = "run `npm ci` in bench/peers";
    match server {
        "node" => {
            must_exist(peers_dir().join("node_modules/ws"), npm);
            let mut c = Command::new("node");
            c.arg(peers_dir().join("node/server.js"));
            c
        }
        "bun" => {
            let mut c = Command::new(must_exist(peers_dir().join("node_modules/.bin/bun"), npm));
            c.arg(peers_dir().join("bun/server.js"));
            c
        }
        "tt" => Command::new(env!("CARGO_BIN_EXE_tt-peer")),
        "chat-server" => {
            let bin = std::env::var_os("CHAT_SERVER_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    let target = std::env::var_os("CARGO_TARGET_DIR")
                        .map(PathBuf::from)
                        .unwrap_or_else(|| {
                            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target")
                        });
                    target.join("debug/chat-server")
                });
            Command::new(must_exist(
                bin,
                "build it with `cargo build -p chat-example --bin chat-server` or set CHAT_SERVER_BIN",
            ))
        }
        other => panic!("no such server {other:?}"),
    }
}

/// A server process on a free port, killed when dropped.
struct Peer {
    server: &'static str,
    child: Child,
    addr: String,
}

impl Peer {
    fn start(server: &'static str) -> Self {
        let mut child = command(server)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {server}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("{server}: expected the listening line, got {line:?}"))
            .to_owned();
        Peer {
            server,
            child,
            addr,
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl contract::Target for Peer {
    fn url(&self, user: &str) -> String {
        format!("ws://{}/ws?user={user}", self.addr)
    }

    /// Kill the process and start the same server again (on another free port).
    async fn restart(&mut self) {
        self.stop();
        *self = Peer::start(self.server);
    }
}

mod node_ws {
    crate::contract::contract_tests!(crate::Peer::start("node"));
}

mod bun_serve {
    crate::contract::contract_tests!(crate::Peer::start("bun"));
}

mod tokio_tungstenite {
    crate::contract::contract_tests!(crate::Peer::start("tt"));
}

mod chat_server {
    crate::contract::contract_tests!(crate::Peer::start("chat-server"));
}

/// `room` and `pairs` (the `ratios` load modes) against the Node peer, small: every member gets
/// the messages, every answer comes back, no errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_modes_run_against_a_peer() {
    use protocol_bench::chat_load::{Subject, pairs, room};
    let server = Subject::Node.start(4096).unwrap();
    let load = room(&server, 10, 2, 2, Duration::from_millis(500))
        .await
        .unwrap();
    assert!(load.delivered > 0, "{load:?}");
    assert_eq!(load.errors, 0, "{load:?}");
    assert!(load.p99_us >= load.p50_us, "{load:?}");
    let load = pairs(&server, 3, Duration::from_millis(500)).await.unwrap();
    assert!(load.delivered > 0, "{load:?}");
    assert_eq!(load.errors, 0, "{load:?}");
}

/// `idle` (the `ratios` mode) against the tokio-tungstenite peer, small: every connection is
/// upgraded and held, the server still answers, its memory grew.
#[test]
fn idle_mode_runs_against_a_peer() {
    let idle = protocol_bench::chat_load::idle(protocol_bench::chat_load::Subject::Tt, 50).unwrap();
    assert_eq!(idle.opened, 50, "{idle:?}");
    assert_eq!(idle.refusal, None, "{idle:?}");
    assert!(idle.answers, "{idle:?}");
    assert!(idle.rss > 0, "{idle:?}");
}
