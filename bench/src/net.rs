//! Network benchmarks: echo throughput against `ratios __server` child processes (our
//! `WsServer` with an echo frame handler, and raw tokio-tungstenite), and the in-process hub's
//! broadcast cost, each against a baseline measured in the same run. The chat-contract modes
//! against server binaries are in [`crate::chat_load`]. Loopback only, bounded in count and time.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use protocol_core::connection::{FrameHandler, Reaction};
use protocol_core::server::ServerBuilder;
use protocol_core::{Context, Hub, Target};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::ServerMsg;

/// Echo at the layer below typed dispatch: the same connection code, limits and close
/// handling as typed protocols.
pub struct EchoFrames;

impl FrameHandler for EchoFrames {
    type Out = ServerMsg;

    async fn on_text(&self, _cx: &Context<ServerMsg>, text: Utf8Bytes) -> Reaction {
        Reaction::Text(text)
    }
}

/// Which server a child process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `tokio_tungstenite::accept_async` with its default configuration, echo loop.
    RawDefault,
    /// tokio-tungstenite with small buffers and batched flushes, echo loop.
    RawTuned,
    /// Ours: `WsServer` with the echo frame handler.
    Ours,
}

impl Kind {
    /// Parse a kind name.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "raw-default" => Some(Kind::RawDefault),
            "raw-tuned" => Some(Kind::RawTuned),
            "ours" => Some(Kind::Ours),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::RawDefault => "raw-default",
            Kind::RawTuned => "raw-tuned",
            Kind::Ours => "ours",
        }
    }
}

fn tuned_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    protocol_core::Limits::default().websocket_config()
}

/// Run an echo server of `kind` on 127.0.0.1:0, print its address, serve until killed.
pub async fn serve(kind: Kind) -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    match kind {
        Kind::Ours => {
            let server = ServerBuilder::new(EchoFrames)
                .with_limits(|l| {
                    l.max_connections = 100_000;
                    l.max_pending_handshakes = 100_000;
                    l.rate_per_second = 1e9;
                    l.rate_burst = u32::MAX;
                    l.heartbeat_interval = Duration::from_secs(3600);
                    l.heartbeat_timeout = Duration::from_secs(7200);
                })
                .build();
            server.serve(listener).await
        }
        Kind::RawDefault | Kind::RawTuned => loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let ws = if kind == Kind::RawTuned {
                    tokio_tungstenite::accept_async_with_config(stream, Some(tuned_config())).await
                } else {
                    tokio_tungstenite::accept_async(stream).await
                };
                let Ok(mut ws) = ws else { return };
                while let Some(Ok(msg)) = ws.next().await {
                    if !(msg.is_text() || msg.is_binary()) {
                        continue;
                    }
                    if kind == Kind::RawTuned {
                        // Batch: queue the echo, flush only when no further frame is ready.
                        if ws.feed(msg).await.is_err() {
                            break;
                        }
                        if futures_util::FutureExt::now_or_never(ws.flush()).is_none()
                            && ws.flush().await.is_err()
                        {
                            break;
                        }
                    } else if ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        },
    }
}

/// A child server process.
pub struct ChildServer {
    child: Child,
    /// Its address.
    pub addr: SocketAddr,
}

/// Start `program ARGS` through `sh` with the open-files limit raised to `files` (or to the hard
/// limit when that is lower), and read the address from its first line of output: `ADDR` or
/// `listening on http://ADDR`. `who` names it in errors.
pub fn spawn_listening(
    program: &std::ffi::OsStr,
    args: &[&std::ffi::OsStr],
    files: u64,
    who: &str,
) -> std::io::Result<(Child, SocketAddr)> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n {files} 2>/dev/null || ulimit -n \"$(ulimit -Hn)\" 2>/dev/null; exec \"$0\" \"$@\""
        ))
        .arg(program)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let text = line.trim();
    let addr = text
        .strip_prefix("listening on http://")
        .unwrap_or(text)
        .parse()
        .map_err(|_| std::io::Error::other(format!("{who} said {line:?}")))?;
    Ok((child, addr))
}

/// Resident set size of a process, in bytes (0 when it cannot be read).
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

impl ChildServer {
    /// The shipped `chat-server` binary (release, next to this one), as a user runs it, with
    /// `args`: the path every chat figure is measured on (its axum route through the runtime's
    /// accept loop). Build it first: `cargo build --release -p chat-example --bin chat-server`.
    pub fn chat_server(args: &[&str]) -> std::io::Result<Self> {
        let exe = std::env::current_exe()?;
        let bin = exe.with_file_name("chat-server");
        if !bin.exists() {
            return Err(std::io::Error::other(format!(
                "{} is missing: build it with `cargo build --release -p chat-example --bin chat-server`",
                bin.display()
            )));
        }
        let mut all: Vec<&std::ffi::OsStr> = vec!["--listen".as_ref(), "127.0.0.1:0".as_ref()];
        all.extend(args.iter().map(std::ffi::OsStr::new));
        let (child, addr) = spawn_listening(bin.as_os_str(), &all, 16384, "chat-server")?;
        Ok(ChildServer { child, addr })
    }

    /// Start `ratios __server KIND` with a raised file limit.
    pub fn start(kind: Kind) -> std::io::Result<Self> {
        let exe = std::env::current_exe()?;
        let args = ["__server".as_ref(), kind.name().as_ref()];
        let (child, addr) = spawn_listening(exe.as_os_str(), &args, 16384, kind.name())?;
        Ok(ChildServer { child, addr })
    }

    /// Resident set size of the server process, in bytes.
    pub fn rss(&self) -> u64 {
        rss_of(self.child.id())
    }
}

impl ChildServer {
    /// CPU time the server process has used (user + system), in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&format!("/proc/{}/stat", self.child.id()))
    }
}

/// CPU time (user + system) of a process from its `/proc/PID/stat`, in seconds.
pub fn cpu_seconds(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // The command name may hold spaces: fields are counted after its closing parenthesis, where
    // utime and stime are the 12th and 13th (fields 14 and 15 of proc(5)).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum());
    // USER_HZ is 100 on Linux whatever the kernel's tick rate.
    ticks as f64 / 100.0
}

/// CPU time the whole machine spent busy (all cores, everything but idle and iowait), in
/// seconds: what other processes used is this minus ours.
pub fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    busy as f64 / 100.0
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Echo throughput (messages per second) of a server: `conns` clients, each with `window`
/// messages in flight, `per_conn` messages each.
pub async fn echo_throughput(
    addr: SocketAddr,
    conns: usize,
    per_conn: usize,
    window: usize,
) -> f64 {
    let payload = "x".repeat(150);
    let url = format!("ws://{addr}/");
    let mut sockets = Vec::new();
    for _ in 0..conns {
        let (ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("connect");
        sockets.push(ws);
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for ws in sockets {
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let (mut tx, mut rx) = ws.split();
            let mut sent = 0;
            let mut received = 0;
            while received < per_conn {
                while sent < per_conn && sent - received < window {
                    if tx
                        .feed(Message::Text(payload.clone().into()))
                        .await
                        .is_err()
                    {
                        return received;
                    }
                    sent += 1;
                }
                let _ = tx.flush().await;
                match tokio::time::timeout(Duration::from_secs(10), rx.next()).await {
                    Ok(Some(Ok(m))) if m.is_text() => received += 1,
                    Ok(Some(Ok(_))) => {}
                    _ => return received,
                }
            }
            let _ = tx.close().await;
            received
        }));
    }
    let mut total = 0usize;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// Attach `user{i}` for each `i` in `members` to `hub`, each joined to `"room"`; their inboxes.
pub async fn room_members(
    hub: &Hub<crate::BroadcastMsg>,
    members: std::ops::Range<usize>,
) -> Vec<protocol_core::Inbox<crate::BroadcastMsg>> {
    let mut inboxes = Vec::with_capacity(members.len());
    for i in members {
        let (cx, inbox) = hub.attach(&format!("user{i}"));
        cx.join("room").await.expect("join the bench room");
        inboxes.push(inbox);
    }
    inboxes
}

/// Nanoseconds per recipient of a room broadcast (encode once, share the bytes) on a hub with
/// `members` attached connections.
pub async fn broadcast_ns_per_recipient(members: usize, broadcasts: usize) -> f64 {
    let hub = Hub::<crate::BroadcastMsg>::builder()
        .queue_capacity(1024)
        .build();
    let mut inboxes = room_members(&hub, 0..members).await;
    let msg = crate::BroadcastMsg::Message {
        room: "room".into(),
        from: "alice".into(),
        text: "x".repeat(100),
    };
    // Each broadcast is timed alone, and the recipients' writers are stood in for by draining the
    // queues between broadcasts (untimed), as a server's writer tasks keep them short.
    let mut samples = Vec::with_capacity(broadcasts);
    for _ in 0..broadcasts {
        let start = Instant::now();
        hub.send(
            Target::Room {
                room: Arc::from("room"),
                except: None,
            },
            &msg,
        )
        .expect("encode");
        samples.push(start.elapsed().as_nanos() as f64 / members as f64);
        for inbox in &mut inboxes {
            while inbox.try_recv_text().is_some() {}
        }
    }
    samples.sort_by(f64::total_cmp);
    // The median: half the broadcasts were at least this fast.
    samples[samples.len() / 2]
}

/// [`broadcast_ns_per_recipient`] for a stream message (`Hub::publish`: numbered, stored in
/// the room's in-memory history, then delivered), the same room and text.
pub async fn stored_broadcast_ns_per_recipient(members: usize, broadcasts: usize) -> f64 {
    let hub = Hub::<crate::BroadcastMsg>::builder()
        .queue_capacity(1024)
        .build();
    let mut inboxes = room_members(&hub, 0..members).await;
    let msg = crate::BroadcastMsg::Stored {
        room: "room".into(),
        offset: 0,
        from: "alice".into(),
        text: "x".repeat(100),
    };
    let mut samples = Vec::with_capacity(broadcasts);
    for _ in 0..broadcasts {
        let msg = msg.clone();
        let start = Instant::now();
        hub.publish("room", None, msg).await.expect("stored");
        samples.push(start.elapsed().as_nanos() as f64 / members as f64);
        for inbox in &mut inboxes {
            while inbox.try_recv_text().is_some() {}
        }
    }
    samples.sort_by(f64::total_cmp);
    // The median: half the broadcasts were at least this fast.
    samples[samples.len() / 2]
}
