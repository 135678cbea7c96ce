//! Chat-contract load against server binaries, each in its own process: room fan-out, ping-pong
//! pairs and idle memory, for the shipped `chat-server` and the peers in `bench/peers/`. The load
//! generator is this process. Loopback only; every phase is bounded in time.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

/// A server that follows the chat wire contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The shipped `chat-server` binary (release, next to `ratios`): its axum route through the
    /// runtime's accept loop, default limits.
    Ours,
    /// `tt-peer` (next to `ratios`): hand-rolled tokio-tungstenite, `Value` + if/else, defaults.
    Tt,
    /// `node bench/peers/node/server.js`: the `ws` package, `if (msg.type === ...)`.
    Node,
    /// `bun bench/peers/bun/server.js`: `Bun.serve` (uWebSockets inside), topic pub/sub.
    Bun,
}

impl Subject {
    /// Every subject, ours first.
    pub const ALL: [Subject; 4] = [Subject::Ours, Subject::Tt, Subject::Node, Subject::Bun];

    /// The short name used in JSON keys and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Subject::Ours => "ours",
            Subject::Tt => "tt",
            Subject::Node => "node",
            Subject::Bun => "bun",
        }
    }

    /// Parse a short name.
    pub fn parse(s: &str) -> Option<Subject> {
        Subject::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Which binary and path the figures of this subject come from.
    pub fn path(self) -> &'static str {
        match self {
            Subject::Ours => {
                "chat-server binary next to ratios (axum route via WsServer::serve_router, default \
                 limits but the per-connection rate limit and the connection cap, which the peers \
                 do not have: --rate-per-second 1e9 --rate-burst 1000000000 --max-connections 1000000)"
            }
            Subject::Tt => "tt-peer binary next to ratios (bench/src/bin/tt-peer.rs)",
            Subject::Node => "node bench/peers/node/server.js (ws 8.23.0)",
            Subject::Bun => "bun bench/peers/bun/server.js (bun 1.4.5, Bun.serve)",
        }
    }

    fn command(self) -> std::io::Result<(PathBuf, Vec<PathBuf>)> {
        let peers = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers");
        let next_to_us = |name: &str| sibling(name);
        let (program, args) = match self {
            // The peers have no rate limit and no connection cap: lift ours, so the load
            // measures the server and not the limit (the limits are the shipped defaults
            // elsewhere, `ratios attack` included).
            Subject::Ours => (
                next_to_us("chat-server")?,
                [
                    "--rate-per-second",
                    "1e9",
                    "--rate-burst",
                    "1000000000",
                    "--max-connections",
                    "1000000",
                ]
                .map(PathBuf::from)
                .to_vec(),
            ),
            Subject::Tt => (next_to_us("tt-peer")?, vec![]),
            Subject::Node => ("node".into(), vec![peers.join("node/server.js")]),
            Subject::Bun => (
                peers.join("node_modules/.bin/bun"),
                vec![peers.join("bun/server.js")],
            ),
        };
        let needed = if self == Subject::Node {
            peers.join("node_modules/ws")
        } else {
            program.clone()
        };
        if !needed.exists() {
            return Err(std::io::Error::other(format!(
                "{} is missing: build with `cargo build --release -p chat-example --bin chat-server \
                 -p protocol-bench --bin ratios --bin tt-peer` and run `npm ci` in bench/peers",
                needed.display()
            )));
        }
        Ok((program, args))
    }

    /// Start it on 127.0.0.1:0 with the open-files limit raised to `files`.
    pub fn start(self, files: u64) -> std::io::Result<Server> {
        let (program, args) = self.command()?;
        let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        all.extend([
            std::ffi::OsStr::new("--listen"),
            std::ffi::OsStr::new("127.0.0.1:0"),
        ]);
        let (child, addr) =
            crate::net::spawn_listening(program.as_os_str(), &all, files, self.name())?;
        Ok(Server {
            child,
            addr,
            subject: self,
        })
    }
}

/// The binary `name` next to this one, or one directory up (where Cargo puts the package's
/// binaries for its integration tests, which run from `deps/`).
fn sibling(name: &str) -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let here = exe.with_file_name(name);
    let up = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join(name))
        .filter(|p| p.exists() && !here.exists());
    Ok(up.unwrap_or(here))
}

/// A server process, killed when dropped.
pub struct Server {
    child: Child,
    /// Its address.
    pub addr: SocketAddr,
    /// What it is.
    pub subject: Subject,
}

impl Server {
    /// Resident set size, in bytes.
    pub fn rss(&self) -> u64 {
        crate::net::rss_of(self.child.id())
    }

    /// CPU time (user + system) used so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        crate::net::cpu_seconds(&format!("/proc/{}/stat", self.child.id()))
    }

    pub(crate) fn url(&self, user: &str) -> String {
        format!("ws://{}/ws?user={user}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A WebSocket to `url` over a socket with `TCP_NODELAY` (the generator adds no Nagle delay).
pub(crate) async fn connect(addr: SocketAddr, url: &str) -> std::io::Result<Ws> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (ws, _) = tokio_tungstenite::client_async(url, tcp)
        .await
        .map_err(|e| std::io::Error::other(format!("{url}: {e}")))?;
    Ok(ws)
}

pub(crate) async fn next_text(ws: &mut Ws, until: Instant) -> Option<String> {
    loop {
        let left = until.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(t.as_str().to_owned()),
            Ok(Some(Ok(_))) => {}
            _ => return None,
        }
    }
}

/// Join `room` and wait for `joined` (other frames are skipped).
async fn join(ws: &mut Ws, room: &str) -> std::io::Result<()> {
    let frame = format!(r#"{{"type":"join","room":"{room}"}}"#);
    ws.send(Message::text(frame))
        .await
        .map_err(std::io::Error::other)?;
    let until = Instant::now() + Duration::from_secs(20);
    while let Some(t) = next_text(ws, until).await {
        if t.contains(r#""type":"joined""#) {
            return Ok(());
        }
    }
    Err(std::io::Error::other(format!("no joined reply for {room}")))
}

/// The microsecond stamp a bench message carries as its text.
fn stamp(text_frame: &str) -> Option<u64> {
    let at = text_frame.find(r#""text":""#)? + 8;
    let rest = &text_frame[at..];
    rest[..rest.find('"')?].parse().ok()
}

fn is_push(frame: &str) -> bool {
    frame.contains(r#""type":"message""#)
}

/// One load phase's outcome.
#[derive(Debug, Clone, Default)]
pub struct Load {
    /// Deliveries (`message` pushes received) per second in the measured window.
    pub per_s: f64,
    /// Median delivery latency, send to receipt, in microseconds.
    pub p50_us: f64,
    /// 99th percentile delivery latency, in microseconds.
    pub p99_us: f64,
    /// Deliveries in the window.
    pub delivered: u64,
    /// `error` replies the server sent (e.g. `rate_limited`).
    pub errors: u64,
    /// Server CPU time per delivery over the whole phase, in nanoseconds.
    pub server_cpu_ns_per_delivery: f64,
}

/// The latencies the client tasks measured, summarized with the server CPU time they cost.
async fn finish(
    tasks: Vec<tokio::task::JoinHandle<Vec<u64>>>,
    server: &Server,
    cpu_before: f64,
    measure: Duration,
    errors: &AtomicU64,
) -> Load {
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap_or_default());
    }
    let cpu = server.cpu_seconds() - cpu_before;
    let mut load = summarize(lat, measure, errors.load(Ordering::Relaxed));
    load.server_cpu_ns_per_delivery = cpu * 1e9 / load.delivered.max(1) as f64;
    load
}

fn summarize(mut lat: Vec<u64>, window: Duration, errors: u64) -> Load {
    lat.sort_unstable();
    let pick = |q: f64| {
        if lat.is_empty() {
            0.0
        } else {
            lat[((lat.len() - 1) as f64 * q) as usize] as f64
        }
    };
    Load {
        per_s: lat.len() as f64 / window.as_secs_f64(),
        p50_us: pick(0.5),
        p99_us: pick(0.99),
        delivered: lat.len() as u64,
        errors,
        server_cpu_ns_per_delivery: 0.0,
    }
}

/// Room fan-out: `users` members of one room, `senders` of them sending (each with up to
/// `window` messages awaiting their `sent` reply), measured for `measure` after a warm-up.
pub async fn room(
    server: &Server,
    users: usize,
    senders: usize,
    window: usize,
    measure: Duration,
) -> std::io::Result<Load> {
    let mut conns = Vec::with_capacity(users);
    for i in 0..users {
        let mut ws = connect(server.addr, &server.url(&format!("r{i}"))).await?;
        join(&mut ws, "bench").await?;
        conns.push(ws);
    }
    // Let the presence pushes of the joins drain.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let epoch = Instant::now();
    let warm = Duration::from_millis(500);
    let (from, to) = (epoch + warm, epoch + warm + measure);
    let errors = Arc::new(AtomicU64::new(0));
    let cpu_before = server.cpu_seconds();
    let mut tasks = Vec::new();
    for (i, ws) in conns.into_iter().enumerate() {
        let (mut tx, mut rx) = ws.split();
        let errors = errors.clone();
        let credit = Arc::new(Semaphore::new(if i < senders { window } else { 0 }));
        if i < senders {
            let credit = credit.clone();
            tokio::spawn(async move {
                let mut id = 0u64;
                while Instant::now() < to {
                    let Ok(Ok(permit)) =
                        tokio::time::timeout(Duration::from_secs(2), credit.acquire()).await
                    else {
                        break;
                    };
                    permit.forget();
                    id += 1;
                    let text = format!(
                        r#"{{"type":"message","id":{id},"room":"bench","text":"{}"}}"#,
                        epoch.elapsed().as_micros()
                    );
                    if tx.send(Message::text(text)).await.is_err() {
                        break;
                    }
                }
                let _ = tx.close().await;
            });
        }
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let stop = to + Duration::from_millis(500);
            while let Some(left) = stop.checked_duration_since(Instant::now()) {
                let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(left, rx.next()).await
                else {
                    break;
                };
                let now = Instant::now();
                if is_push(&t) {
                    if now >= from
                        && now < to
                        && let Some(s) = stamp(&t)
                    {
                        lat.push(((now - epoch).as_micros() as u64).saturating_sub(s));
                    }
                } else if t.contains(r#""type":"sent""#) {
                    credit.add_permits(1);
                } else if t.contains(r#""type":"error""#) {
                    errors.fetch_add(1, Ordering::Relaxed);
                    credit.add_permits(1);
                }
            }
            lat
        }));
    }
    Ok(finish(tasks, server, cpu_before, measure, &errors).await)
}

/// Ping-pong pairs: each pair's two users in their own room; one sends, the other answers when
/// the message arrives, and so on; measured for `measure` after a warm-up.
pub async fn pairs(server: &Server, pairs: usize, measure: Duration) -> std::io::Result<Load> {
    let mut conns = Vec::with_capacity(pairs * 2);
    for p in 0..pairs {
        for side in ["a", "b"] {
            let mut ws = connect(server.addr, &server.url(&format!("{side}{p}"))).await?;
            join(&mut ws, &format!("p{p}")).await?;
            conns.push((p, side == "a", ws));
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let epoch = Instant::now();
    let warm = Duration::from_millis(500);
    let (from, to) = (epoch + warm, epoch + warm + measure);
    let errors = Arc::new(AtomicU64::new(0));
    let cpu_before = server.cpu_seconds();
    let mut tasks = Vec::new();
    for (p, starts, mut ws) in conns {
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let room = format!("p{p}");
            let mut id = 0u64;
            let mut lat = Vec::new();
            let message = |id: u64| {
                format!(
                    r#"{{"type":"message","id":{id},"room":"{room}","text":"{}"}}"#,
                    epoch.elapsed().as_micros()
                )
            };
            if starts {
                id += 1;
                if ws.send(Message::text(message(id))).await.is_err() {
                    return lat;
                }
            }
            let stop = to + Duration::from_millis(500);
            while let Some(t) = next_text(&mut ws, stop).await {
                if is_push(&t) {
                    let now = Instant::now();
                    if now >= from
                        && now < to
                        && let Some(s) = stamp(&t)
                    {
                        lat.push(((now - epoch).as_micros() as u64).saturating_sub(s));
                    }
                    if now < to {
                        id += 1;
                        if ws.send(Message::text(message(id))).await.is_err() {
                            break;
                        }
                    }
                } else if t.contains(r#""type":"error""#) {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            let _ = ws.close(None).await;
            lat
        }));
    }
    Ok(finish(tasks, server, cpu_before, measure, &errors).await)
}

/// What an idle run found.
#[derive(Debug, Clone)]
pub struct Idle {
    /// Connections asked for.
    pub wanted: usize,
    /// Connections tried: those asked for, or fewer when the server's open-files limit cannot
    /// hold them (see `cap`).
    pub tried: usize,
    /// Why fewer were tried than asked for, if they were.
    pub cap: Option<String>,
    /// The server process's open-files limit (soft, as it runs).
    pub server_files: u64,
    /// Client processes that held the connections.
    pub client_processes: usize,
    /// Connections the server upgraded (the client processes stop at the first refusal).
    pub opened: usize,
    /// The first refusal, if any.
    pub refusal: Option<String>,
    /// Server RSS growth per opened connection, in bytes.
    pub bytes_per_conn: f64,
    /// Server RSS with the connections open, in bytes.
    pub rss: u64,
    /// Whether a fresh client could join a room and get `joined` with them all open.
    pub answers: bool,
}

/// File descriptors a server keeps beside its connections (listener, poller, stdio, ...) and
/// the probe's connection: connections are only tried up to its limit minus these.
const SPARE_FILES: u64 = 64;

/// The open-files limits (soft, hard) of a process, from `/proc/PID/limits` (`self` for this
/// one); `None` when it cannot be read.
pub fn files_limit(pid: &str) -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut numbers = line["Max open files".len()..].split_whitespace().map(|w| {
        if w == "unlimited" {
            Some(u64::MAX)
        } else {
            w.parse().ok()
        }
    });
    Some((numbers.next()??, numbers.next()??))
}

/// Server RSS growth per idle connection: `n` upgraded WebSockets opened by client processes
/// (`ratios __idle_clients`, each holding as many as its own open-files limit allows), spread
/// over source addresses 127.0.0.1, 127.0.0.2, ... (1,000 each: past the ephemeral port range,
/// and quick to bind). Every process's open-files limit is raised to what `n` needs through
/// `ulimit -n` (soft and hard: that takes `CAP_SYS_RESOURCE` past the hard limit); a server
/// left with less than `n` plus a few spare is asked for only what it can hold, and `cap` says
/// so. The clients send an unsolicited pong every 10 s (RFC 6455 5.5.3), so a long run is not
/// cut short by the server's heartbeat.
pub fn idle(subject: Subject, n: usize) -> std::io::Result<Idle> {
    let files = (n as u64 + 1000).max(16384);
    let server = subject.start(files)?;
    std::thread::sleep(Duration::from_millis(300));
    let before = server.rss();
    let server_files = files_limit(&server.child.id().to_string()).map_or(files, |(soft, _)| soft);
    let holdable = usize::try_from(server_files.saturating_sub(SPARE_FILES)).unwrap_or(usize::MAX);
    let tried = n.min(holdable);
    let cap = (tried < n).then(|| {
        format!(
            "{tried} tried of {n}: the server's open-files limit is {server_files} (raising the \
             hard limit takes CAP_SYS_RESOURCE), {SPARE_FILES} kept for its own files and the probe"
        )
    });
    // Each client process holds what its own limit allows.
    let own_hard = files_limit("self").map_or(16384, |(_, hard)| hard);
    let per_client = usize::try_from(files.min(own_hard).saturating_sub(SPARE_FILES))
        .unwrap_or(usize::MAX)
        .max(1);
    let exe = sibling("ratios")?;
    let mut clients = Vec::new();
    let mut opened = 0;
    let mut refusal = None;
    while opened < tried && refusal.is_none() {
        let count = per_client.min(tried - opened);
        let mut client = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -n {files} 2>/dev/null || ulimit -n \"$(ulimit -Hn)\" 2>/dev/null; exec \"$0\" \"$@\""
            ))
            .arg(&exe)
            .arg("__idle_clients")
            .arg(server.addr.to_string())
            .arg(count.to_string())
            .arg(opened.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        if let Some(out) = client.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        let mut words = line.trim().splitn(3, ' ');
        if words.next() != Some("ready") {
            let _ = client.kill();
            let _ = client.wait();
            return Err(std::io::Error::other(format!(
                "a client process did not open its connections: {line:?}"
            )));
        }
        opened += words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        refusal = words.next().map(str::to_owned);
        clients.push(client);
    }
    // Let the server finish registering the last handshakes.
    std::thread::sleep(Duration::from_millis(1000));
    let rss = server.rss();
    let answers = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let probe = async {
                let mut ws = connect(server.addr, &server.url("probe")).await?;
                join(&mut ws, "probe-room").await
            };
            matches!(
                tokio::time::timeout(Duration::from_secs(20), probe).await,
                Ok(Ok(()))
            )
        });
    let client_processes = clients.len();
    for mut client in clients {
        drop(client.stdin.take());
        let _ = client.wait();
    }
    Ok(Idle {
        wanted: n,
        tried,
        cap,
        server_files,
        client_processes,
        opened,
        refusal,
        bytes_per_conn: rss.saturating_sub(before) as f64 / opened.max(1) as f64,
        rss,
        answers,
    })
}

/// Open up to `n` idle WebSockets to `addr` as users `i{first}`, `i{first + 1}`, ... (the
/// upgrade by hand: only the socket is kept, so the client side stays small), print
/// `ready OPENED [REFUSAL]`, and hold them until stdin closes, each sending an unsolicited pong
/// every 10 s meanwhile.
pub async fn hold_idle(addr: SocketAddr, n: usize, first: usize) -> std::io::Result<()> {
    let conns = Arc::new(std::sync::Mutex::new(Vec::with_capacity(n)));
    let keepalive = tokio::spawn({
        let conns = Arc::clone(&conns);
        async move {
            // A masked pong with no payload (the mask is all zero bits: any key is valid).
            const PONG: [u8; 6] = [0x8A, 0x80, 0, 0, 0, 0];
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            loop {
                tick.tick().await;
                let conns = conns
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for tcp in conns.iter() {
                    let _: std::io::Result<usize> = TcpStream::try_write(tcp, &PONG);
                }
            }
        }
    });
    let mut refusal = String::new();
    for i in first..first + n {
        // 1,000 per source address: binding a port stays quick.
        let source = Ipv4Addr::new(127, 0, (i / 250_000) as u8, 1 + (i / 1000 % 250) as u8);
        match open_idle(addr, source, i).await {
            Ok(tcp) => conns
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(tcp),
            Err(e) => {
                refusal = format!("connection {i}: {e}");
                break;
            }
        }
    }
    let opened = conns
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .len();
    println!("ready {opened} {refusal}");
    std::io::stdout().flush()?;
    let _ = tokio::task::spawn_blocking(|| {
        let mut s = String::new();
        let _ = std::io::stdin().read_line(&mut s);
    })
    .await;
    keepalive.abort();
    drop(conns);
    Ok(())
}

async fn open_idle(addr: SocketAddr, source: Ipv4Addr, i: usize) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let mut tcp = socket.connect(addr).await?;
    let request = format!(
        "GET /ws?user=i{i} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    let read = async {
        while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
            if tcp.read(&mut byte).await? == 0 {
                break;
            }
            head.push(byte[0]);
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .map_err(|_| std::io::Error::other("no upgrade response within 20 s"))??;
    let status = String::from_utf8_lossy(&head);
    let status = status.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 101") {
        return Err(std::io::Error::other(format!("answered {status:?}")));
    }
    Ok(tcp)
}
