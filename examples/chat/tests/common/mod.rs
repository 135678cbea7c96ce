//! Helpers shared by the chat's integration tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chat_example::{ClientMsg, ServerMsg};
use protocol_core::testing::TestClient;
use protocol_core::{assert_push, assert_reply};

pub type Client = TestClient<ClientMsg, ServerMsg>;

/// Join `room`; the members the `joined` reply lists.
pub async fn join(c: &mut Client, room: &str) -> Vec<String> {
    c.send(&ClientMsg::Join {
        room: room.into(),
        since: None,
    })
    .await;
    assert_push!(c, ServerMsg::Joined { room: r, members, .. } if r == room => members)
}

/// Send a message to `room`; the message id the `sent` reply carries.
pub async fn say(c: &mut Client, room: &str, text: &str) -> String {
    assert_reply!(
        c.request(&ClientMsg::Message {
            room: room.into(),
            text: text.into()
        })
        .await,
        ServerMsg::Sent { message_id, .. } => message_id
    )
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

/// Join `room` until the `joined` reply lists exactly `expected` (membership written back
/// after an outage arrives asynchronously); bounded.
pub async fn join_until_members(c: &mut Client, room: &str, expected: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let members = join(c, room).await;
        if members == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "members: {members:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A `chat-server` process on a free port, killed when dropped.
pub struct ChatProcess {
    child: Child,
    addr: String,
}

impl ChatProcess {
    /// Start `chat-server --listen 127.0.0.1:0 ARGS` with `envs`, and wait for its
    /// `listening on` line.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chat-server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .or_else(|| line.trim().strip_prefix("listening on https://"))
            .unwrap_or_else(|| panic!("expected the listening line, got {line:?}"))
            .to_owned();
        ChatProcess { child, addr }
    }

    /// `HOST:PORT` the server listens on.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The WebSocket URL for `user`.
    pub fn url(&self, user: &str) -> String {
        format!("ws://{}/ws?user={user}", self.addr)
    }

    /// A test client connected as `user`.
    pub async fn connect(&self, user: &str) -> Client {
        Client::connect(&self.url(user), user).await.unwrap()
    }

    /// Resident memory of the process, in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    }

    /// SIGKILL: no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChatProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP proxy on loopback between clients and one or more servers: each new connection goes
/// to the next server in turn; [`CutProxy::cut`] drops every connection it carries at once (no
/// close frame, as when a phone changes networks).
pub struct CutProxy {
    addr: std::net::SocketAddr,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
    /// Connections carried so far.
    pub accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl CutProxy {
    /// A proxy to `target` (`HOST:PORT`).
    pub async fn start(target: String) -> Self {
        Self::start_many(vec![target]).await
    }

    /// A proxy sending each new connection to the next of `targets`.
    pub async fn start_many(targets: Vec<String>) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (list, count) = (
            std::sync::Arc::clone(&conns),
            std::sync::Arc::clone(&accepted),
        );
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let n = count.fetch_add(1, Ordering::Relaxed);
                let target = targets[n % targets.len()].clone();
                let task = tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
                let mut list = list.lock().unwrap();
                list.retain(|h: &tokio::task::AbortHandle| !h.is_finished());
                list.push(task.abort_handle());
            }
        });
        CutProxy {
            addr,
            conns,
            accept,
            accepted,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Drop every connection the proxy carries now.
    pub fn cut(&self) {
        for h in self.conns.lock().unwrap().drain(..) {
            h.abort();
        }
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// The typed client reconnecting with a short backoff (resume on unless `resume` is false),
/// joined to `room` (its `joined` taken).
pub async fn resuming_client(
    url: String,
    room: &str,
    resume: bool,
) -> protocol_core::Client<ClientMsg, ServerMsg> {
    let client = protocol_core::Client::builder(url)
        .reconnect(protocol_core::Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(200),
        })
        .resume(resume)
        .connect()
        .await
        .unwrap();
    client
        .send(&ClientMsg::Join {
            room: room.into(),
            since: None,
        })
        .await
        .unwrap();
    let mut client = client;
    let joined = tokio::time::timeout(Duration::from_secs(5), client.next()).await;
    assert!(
        matches!(joined, Ok(Some(ServerMsg::Joined { .. }))),
        "{joined:?}"
    );
    client
}
