//! The chat under attack. The server is the shipped `chat-server` release binary in a child
//! process (its axum route, as users run it); well-behaved clients measure the
//! p99 latency of a request (`message` in a room of their own, answered `sent`) with no attacker,
//! and while each attack runs alone: a slowloris (2,000 connections that never finish the
//! handshake, more than the cap on handshakes in progress), a flood (one client, 100,000 messages) and a slow reader (never reads while a room
//! is busy). The slow reader needs a busy room to fill its buffers, so the same busy room without
//! it is measured as well. Every phase runs once per round and the rounds interleave them, so the
//! machine's other load falls on all phases alike; rounds in which other processes used the CPU
//! are counted but not trusted, and more rounds run until enough were quiet (bounded). Each
//! attack must be cut off by its limit.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chat_example::{ClientMsg, ServerMsg};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use protocol_core::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::net::ChildServer;

/// The server's handshake timeout in this bench (the default is 5 s), so slowloris phases end
/// sooner.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// Quiet rounds wanted by default; each round runs every phase once.
pub const ROUNDS: usize = 3;
/// At most this many rounds per quiet round wanted.
const MAX_ROUNDS_PER_QUIET: usize = 3;
/// A round is quiet when, in each of its phases, other processes used less than this share of
/// one core (%). A p99 is decided by 1% of the samples: a compiler holding a core for a few
/// percent of a phase decides it, not the attack.
pub const QUIET_OTHER_CPU_PCT: f64 = 10.0;
/// Well-behaved clients, each in a room of its own (no fan-out between them).
const GOOD_CLIENTS: usize = 20;
/// One request per client per `PACE`: 40/s, under the 50/s rate limit; 800/s in all, so the
/// good clients measure latency and are not themselves a load test.
const PACE: Duration = Duration::from_millis(25);
/// Requests per client per phase at least: 1,000 per phase and round.
const MIN_SAMPLES_PER_CLIENT: usize = 50;
/// No phase samples for longer than this.
const PHASE_DEADLINE: Duration = Duration::from_secs(20);
/// Unfinished handshakes per slowloris phase: more than the shipped binary's cap on handshakes
/// in progress (1024), so the cap is attacked too (connections over it are dropped at once).
const SLOWLORIS: usize = 2000;
const FLOOD: usize = 100_000;
/// The busy room: talkers each sending `TALKER_MESSAGES` messages of `TALKER_TEXT` characters,
/// one per `TALKER_PACE` (67/s: the rate limit's burst lasts the whole phase). A slow reader is
/// cut off once its receive buffer (4 KiB), the server's kernel send buffer (up to 4 MiB of
/// memory: about 700 frames of 4 KB on loopback), tungstenite's write buffer and the outbox's
/// 256 frames are full: about 1,000 messages. This is that with 15% to spare, and no more.
const TALKERS: usize = 4;
const TALKER_MESSAGES: usize = 280;
const TALKER_PACE: Duration = Duration::from_millis(15);
const TALKER_TEXT: usize = 3900;

/// The phases of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Only the good clients.
    Unloaded,
    /// 1,000 unfinished handshakes.
    Slowloris,
    /// One client writing 100,000 messages as fast as it can.
    Flood,
    /// The busy room the slow reader needs, without it.
    BusyRoom,
    /// The busy room with a member that never reads.
    SlowReader,
}

impl Phase {
    /// Every phase, in the order of a round.
    pub const ALL: [Phase; 5] = [
        Phase::Unloaded,
        Phase::Slowloris,
        Phase::Flood,
        Phase::BusyRoom,
        Phase::SlowReader,
    ];

    /// The phase's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Unloaded => "unloaded",
            Phase::Slowloris => "slowloris",
            Phase::Flood => "flood",
            Phase::BusyRoom => "busy_baseline",
            Phase::SlowReader => "slow_reader",
        }
    }
}

/// What the slowloris phases saw.
#[derive(Debug, Default, Clone)]
pub struct SlowlorisFacts {
    /// Connections opened (each sent part of an upgrade request, then nothing).
    pub opened: usize,
    /// Connections the server closed.
    pub closed: usize,
    /// Shortest and longest time from opening to the server's close, in seconds.
    pub closed_after_s: (f64, f64),
    /// When the last connection was open and when the server closed the first, from the start
    /// of the phase, in seconds: the phase's opening, holding and closing stages.
    pub stages_s: (f64, f64),
}

/// What one flood saw.
#[derive(Debug, Default, Clone)]
pub struct FloodFacts {
    /// Messages that reached the socket before writing failed (out of 100,000).
    pub sent: usize,
    /// Replies to messages the server handled (`not_in_room`, then `rate_limited`).
    pub answered: usize,
    /// Of those, `rate_limited` errors.
    pub rate_limited: usize,
    /// The close code the server sent.
    pub close_code: Option<u16>,
    /// Time from the first message to the server's close frame, in milliseconds.
    pub cut_off_ms: f64,
}

/// What one slow reader saw.
#[derive(Debug, Default, Clone)]
pub struct SlowReaderFacts {
    /// Room messages the talkers had sent when the server announced the slow reader offline.
    pub messages_until_cut_off: Option<usize>,
    /// Time from the first room message to that announcement, in milliseconds.
    pub cut_off_ms: f64,
    /// The close code the server sent (read once cut off).
    pub close_code: Option<u16>,
}

/// The measurements of one run.
#[derive(Debug, Default)]
pub struct AttackReport {
    /// p99 request latency of each phase (in [`Phase::ALL`] order) over every round, in µs.
    pub p99_us: [f64; 5],
    /// The same over the quiet rounds only (NaN without any).
    pub quiet_p99_us: [f64; 5],
    /// Samples of each phase over the quiet rounds.
    pub quiet_samples: [usize; 5],
    /// Which rounds were quiet.
    pub round_quiet: Vec<bool>,
    /// p99 of the slowloris phases' requests sent while the connections were being opened,
    /// while all were held open, and while the server closed them, in µs (quiet rounds, or all
    /// when none was).
    pub slowloris_stage_p99_us: [f64; 3],
    /// The same per round.
    pub round_p99_us: Vec<[f64; 5]>,
    /// Samples of each phase over every round.
    pub samples: [usize; 5],
    /// Good requests that failed or were not answered `sent`.
    pub failed_requests: usize,
    /// The slowloris phases, summed.
    pub slowloris: SlowlorisFacts,
    /// Each flood.
    pub floods: Vec<FloodFacts>,
    /// Each slow reader.
    pub slow_readers: Vec<SlowReaderFacts>,
    /// Room messages the talkers sent per busy phase.
    pub busy_messages: usize,
    /// Wall time of each phase over every round, in seconds.
    pub phase_s: [f64; 5],
    /// CPU time the server process used in each phase over every round, in seconds.
    pub server_cpu_s: [f64; 5],
    /// CPU time this process (good clients and attackers) used in the same, in seconds.
    pub bench_cpu_s: [f64; 5],
    /// CPU time every other process on the machine used in the same, in seconds: when it is
    /// high, the latencies measure the machine's other load.
    pub other_cpu_s: [f64; 5],
    /// The same per round, as a share of one core (100 = one core busy).
    pub round_other_cpu_pct: Vec<[f64; 5]>,
}

type Good = Arc<Vec<Client<ClientMsg, ServerMsg>>>;
type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn url(addr: SocketAddr, user: &str) -> String {
    format!("ws://{addr}/ws?user={user}")
}

/// One good client's requests until `stop` and its minimum, or the deadline: each request's
/// latency in µs and when it was sent, in seconds from `began`.
async fn sample_client(
    good: Good,
    i: usize,
    began: Instant,
    mut stop: watch::Receiver<bool>,
) -> (Vec<(f64, f64)>, usize) {
    let deadline = Instant::now() + PHASE_DEADLINE;
    let room = format!("quiet{i}");
    // Spread the clients over the pace so their requests do not arrive together.
    let first = tokio::time::Instant::now() + PACE * i as u32 / GOOD_CLIENTS as u32;
    let mut tick = tokio::time::interval_at(first, PACE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut samples, mut failed) = (Vec::with_capacity(4 * MIN_SAMPLES_PER_CLIENT), 0);
    loop {
        tick.tick().await;
        let enough = samples.len() + failed >= MIN_SAMPLES_PER_CLIENT;
        if (enough && *stop.borrow_and_update()) || Instant::now() >= deadline {
            break;
        }
        let start = Instant::now();
        let reply = good[i]
            .request(&ClientMsg::Message {
                room: room.clone(),
                text: "ping".into(),
            })
            .await;
        match reply {
            Ok(ServerMsg::Sent { .. }) => samples.push((
                start.elapsed().as_secs_f64() * 1e6,
                start.saturating_duration_since(began).as_secs_f64(),
            )),
            _ => failed += 1,
        }
    }
    (samples, failed)
}

/// The good clients, their runtime, and the server they talk to.
struct Sampler<'a> {
    rt: &'a tokio::runtime::Runtime,
    good: Good,
    server: &'a ChildServer,
}

/// What the good clients measured in one phase, and what it cost.
struct Sampled {
    /// Request latencies in µs, and when each request was sent in seconds from the start.
    samples: Vec<(f64, f64)>,
    failed: usize,
    wall_s: f64,
    server_cpu_s: f64,
    bench_cpu_s: f64,
    other_cpu_s: f64,
}

impl Sampler<'_> {
    /// Sample the good clients while `attack` runs, and at least the minimum.
    async fn phase<T>(&self, attack: impl Future<Output = T>) -> (Sampled, T) {
        let (began, server_cpu, bench_cpu, machine_cpu) = (
            Instant::now(),
            self.server.cpu_seconds(),
            crate::net::cpu_seconds("/proc/self/stat"),
            crate::net::machine_busy_seconds(),
        );
        let (stop, stopped) = watch::channel(false);
        let sampling: Vec<_> = (0..GOOD_CLIENTS)
            .map(|i| {
                self.rt.spawn(sample_client(
                    Arc::clone(&self.good),
                    i,
                    began,
                    stopped.clone(),
                ))
            })
            .collect();
        let facts = attack.await;
        let _ = stop.send(true);
        let (mut samples, mut failed) = (Vec::new(), 0);
        for s in sampling {
            let (mut s, f) = s.await.unwrap_or_default();
            samples.append(&mut s);
            failed += f;
        }
        let server_cpu_s = self.server.cpu_seconds() - server_cpu;
        let bench_cpu_s = crate::net::cpu_seconds("/proc/self/stat") - bench_cpu;
        let machine_cpu_s = crate::net::machine_busy_seconds() - machine_cpu;
        let sampled = Sampled {
            samples,
            failed,
            wall_s: began.elapsed().as_secs_f64(),
            server_cpu_s,
            bench_cpu_s,
            other_cpu_s: (machine_cpu_s - server_cpu_s - bench_cpu_s).max(0.0),
        };
        (sampled, facts)
    }
}

fn p99<'a>(samples: impl IntoIterator<Item = &'a (f64, f64)>) -> f64 {
    let mut latencies: Vec<f64> = samples.into_iter().map(|s| s.0).collect();
    if latencies.is_empty() {
        return f64::NAN;
    }
    latencies.sort_by(f64::total_cmp);
    latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)]
}

/// 2,000 connections that send part of an upgrade request and nothing more, opened at about
/// 2,000 a second (all open well within the handshake timeout); returns when the server has
/// closed them all, or after five handshake timeouts.
async fn slowloris(addr: SocketAddr) -> SlowlorisFacts {
    let start = Instant::now();
    let mut waiting = tokio::task::JoinSet::new();
    let mut facts = SlowlorisFacts::default();
    for i in 0..SLOWLORIS {
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let Ok(Ok(mut s)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(addr)).await
        else {
            continue;
        };
        if s.write_all(b"GET /ws?user=loris HTTP/1.1\r\nHost: x\r\n")
            .await
            .is_err()
        {
            continue;
        }
        facts.opened += 1;
        let opened = Instant::now();
        waiting.spawn(async move {
            let mut buf = [0u8; 64];
            match tokio::time::timeout(HANDSHAKE_TIMEOUT * 5, s.read(&mut buf)).await {
                // End of stream or reset, and no HTTP response: dropped by the handshake timeout.
                Ok(Ok(0) | Err(_)) => Some(opened.elapsed().as_secs_f64()),
                _ => None,
            }
        });
    }
    let all_open = start.elapsed().as_secs_f64();
    let (mut first, mut last, mut first_close) = (f64::INFINITY, 0.0f64, f64::INFINITY);
    while let Some(closed) = waiting.join_next().await {
        if let Ok(Some(after)) = closed {
            facts.closed += 1;
            first = first.min(after);
            last = last.max(after);
            first_close = first_close.min(start.elapsed().as_secs_f64());
        }
    }
    facts.closed_after_s = (first, last);
    facts.stages_s = (all_open, first_close);
    facts
}

/// One client writing 100,000 `typing` messages (to a room it is not in) as fast as it can,
/// while reading what the server answers; returns when the server has cut it off.
async fn flood(addr: SocketAddr) -> FloodFacts {
    let mut facts = FloodFacts::default();
    let Ok((ws, _)) = tokio_tungstenite::connect_async(url(addr, "flood")).await else {
        return facts;
    };
    let (mut sink, mut stream) = ws.split();
    let start = Instant::now();
    let reader = tokio::spawn(async move {
        let mut facts = FloodFacts::default();
        while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(10), stream.next()).await
        {
            match msg {
                Ok(Message::Text(t)) => {
                    facts.answered += 1;
                    facts.rate_limited += usize::from(t.contains(r#""code":"rate_limited""#));
                }
                Ok(Message::Close(frame)) => {
                    facts.close_code = frame.map(|f| u16::from(f.code));
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        facts.cut_off_ms = start.elapsed().as_secs_f64() * 1e3;
        facts
    });
    let mut fed = 0;
    for i in 0..FLOOD {
        let text = if i % 2 == 0 {
            r#"{"type":"typing","room":"quiet0","active":true}"#
        } else {
            r#"{"type":"typing","room":"quiet0","active":false}"#
        };
        if sink.feed(Message::Text(text.into())).await.is_err() {
            break;
        }
        fed += 1;
        if fed % 64 == 0 || fed == FLOOD {
            if sink.flush().await.is_err() {
                break;
            }
            facts.sent = fed;
        }
    }
    if let Ok(answers) = reader.await {
        facts = FloodFacts {
            sent: facts.sent,
            ..answers
        };
    }
    facts
}

/// The room a slow reader needs: talkers that read everything and send 4 KB messages.
struct BusyRoom {
    writers: Vec<SplitSink<Ws, Message>>,
    readers: Vec<JoinHandle<()>>,
    sent: Arc<AtomicUsize>,
    /// Set by the first talker when the server announces `slow` offline: messages sent by then,
    /// and when.
    slow_gone: watch::Receiver<Option<(usize, Instant)>>,
}

impl BusyRoom {
    async fn open(addr: SocketAddr) -> std::io::Result<BusyRoom> {
        let sent = Arc::new(AtomicUsize::new(0));
        let (gone, slow_gone) = watch::channel(None);
        let gone = Arc::new(gone);
        let (mut writers, mut readers) = (Vec::new(), Vec::new());
        for t in 0..TALKERS {
            let (ws, _) = tokio_tungstenite::connect_async(url(addr, &format!("busy{t}")))
                .await
                .map_err(std::io::Error::other)?;
            let (mut sink, mut stream) = ws.split();
            sink.send(Message::Text(r#"{"type":"join","room":"busy"}"#.into()))
                .await
                .map_err(std::io::Error::other)?;
            let (sent, gone) = (Arc::clone(&sent), Arc::clone(&gone));
            readers.push(tokio::spawn(async move {
                // Read everything (a talker must not become a slow consumer itself) until the
                // server closes, bounded in time.
                while let Ok(Some(Ok(msg))) =
                    tokio::time::timeout(Duration::from_secs(30), stream.next()).await
                {
                    let Message::Text(text) = msg else {
                        if msg.is_close() {
                            break;
                        }
                        continue;
                    };
                    if t == 0
                        && text.starts_with(r#"{"type":"presence""#)
                        && let Ok(ServerMsg::Presence {
                            user,
                            online: false,
                            ..
                        }) = protocol_core::decode(&text)
                        && user == "slow"
                    {
                        gone.send_replace(Some((sent.load(Ordering::Relaxed), Instant::now())));
                    }
                }
            }));
            writers.push(sink);
        }
        Ok(BusyRoom {
            writers,
            readers,
            sent,
            slow_gone,
        })
    }

    /// Every talker sends its messages, paced; returns when all are sent and when it began.
    async fn talk(&mut self) -> Instant {
        let text = format!(
            r#"{{"type":"message","room":"busy","text":"{}"}}"#,
            "z".repeat(TALKER_TEXT)
        );
        let frame = Message::Text(text.into());
        let start = Instant::now();
        let mut tick = tokio::time::interval(TALKER_PACE);
        // Late ticks must not come in bursts: the rate limit would answer them.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for _ in 0..TALKER_MESSAGES {
            tick.tick().await;
            for w in &mut self.writers {
                if w.send(frame.clone()).await.is_ok() {
                    self.sent.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        start
    }

    async fn close(self) {
        for mut w in self.writers {
            let _ = w.close().await;
        }
        for r in self.readers {
            let _ = tokio::time::timeout(Duration::from_secs(5), r).await;
        }
    }
}

/// A member of the busy room with a 4 KiB receive buffer that does not read.
async fn slow_reader(addr: SocketAddr) -> std::io::Result<Ws> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let stream = socket.connect(addr).await?;
    let (mut slow, _) =
        tokio_tungstenite::client_async(url(addr, "slow"), MaybeTlsStream::Plain(stream))
            .await
            .map_err(std::io::Error::other)?;
    slow.send(Message::Text(r#"{"type":"join","room":"busy"}"#.into()))
        .await
        .map_err(std::io::Error::other)?;
    Ok(slow)
}

/// After the talk: wait for the server to announce the slow reader offline, then read what it
/// was sent, up to the close frame.
async fn slow_reader_facts(
    room: &mut BusyRoom,
    talk_began: Instant,
    mut slow: Ws,
) -> SlowReaderFacts {
    let mut facts = SlowReaderFacts::default();
    let gone = tokio::time::timeout(
        Duration::from_secs(5),
        room.slow_gone.wait_for(Option::is_some),
    )
    .await;
    if let Ok(Ok(seen)) = gone
        && let Some((sent, at)) = *seen
    {
        facts.messages_until_cut_off = Some(sent);
        facts.cut_off_ms = at.saturating_duration_since(talk_began).as_secs_f64() * 1e3;
    }
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(5), slow.next()).await {
        if let Message::Close(frame) = msg {
            facts.close_code = frame.map(|f| u16::from(f.code));
            break;
        }
    }
    facts
}

/// Start the chat server in a child process and measure every phase in rounds, until
/// `quiet_rounds` were quiet or after three times as many rounds.
pub fn run(quiet_rounds: usize) -> std::io::Result<AttackReport> {
    let timeout = format!("{}", HANDSHAKE_TIMEOUT.as_secs_f64());
    let server = ChildServer::chat_server(&["--handshake-timeout", &timeout])?;
    let addr = server.addr;
    // The good clients get a runtime (a thread) of their own: an attacker task can delay them
    // only through the server or the machine, not by holding their worker.
    let good_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("good-clients")
        .enable_all()
        .build()?;
    let attack_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("attackers")
        .enable_all()
        .build()?;
    let good: Good = Arc::new(good_rt.block_on(async {
        let mut clients = Vec::new();
        for i in 0..GOOD_CLIENTS {
            let c: Client<ClientMsg, ServerMsg> = Client::connect(url(addr, &format!("good{i}")))
                .await
                .map_err(std::io::Error::other)?;
            c.send(&ClientMsg::Join {
                room: format!("quiet{i}"),
                since: None,
            })
            .await
            .map_err(std::io::Error::other)?;
            clients.push(c);
        }
        Ok::<_, std::io::Error>(clients)
    })?);

    let sampler = Sampler {
        rt: &good_rt,
        good,
        server: &server,
    };
    let mut report = AttackReport::default();
    // Samples of every round, and of the quiet ones; slowloris stages likewise.
    let mut pooled: [[Vec<(f64, f64)>; 5]; 2] = Default::default();
    let mut stages: [[Vec<(f64, f64)>; 3]; 2] = Default::default();
    let wanted = quiet_rounds.max(1);
    report.slowloris.closed_after_s = (f64::INFINITY, 0.0);
    attack_rt.block_on(async {
        for _ in 0..wanted * MAX_ROUNDS_PER_QUIET {
            let (mut round, mut other) = ([0.0; 5], [0.0; 5]);
            let mut samples: [Vec<(f64, f64)>; 5] = Default::default();
            let mut round_stages: [Vec<(f64, f64)>; 3] = Default::default();
            for (k, p) in Phase::ALL.into_iter().enumerate() {
                let sampled = match p {
                    Phase::Unloaded => sampler.phase(async {}).await.0,
                    Phase::Slowloris => {
                        let (sampled, facts) = sampler.phase(slowloris(addr)).await;
                        let all = &mut report.slowloris;
                        all.opened += facts.opened;
                        all.closed += facts.closed;
                        all.closed_after_s.0 = all.closed_after_s.0.min(facts.closed_after_s.0);
                        all.closed_after_s.1 = all.closed_after_s.1.max(facts.closed_after_s.1);
                        for &s in &sampled.samples {
                            let (open, closing) = facts.stages_s;
                            round_stages[usize::from(s.1 >= open) + usize::from(s.1 >= closing)]
                                .push(s);
                        }
                        sampled
                    }
                    Phase::Flood => {
                        let (sampled, facts) = sampler.phase(flood(addr)).await;
                        report.floods.push(facts);
                        sampled
                    }
                    Phase::BusyRoom => {
                        let mut room = BusyRoom::open(addr).await?;
                        let (sampled, _) = sampler.phase(room.talk()).await;
                        report.busy_messages = room.sent.load(Ordering::Relaxed);
                        room.close().await;
                        sampled
                    }
                    Phase::SlowReader => {
                        let slow = slow_reader(addr).await?;
                        let mut room = BusyRoom::open(addr).await?;
                        let (sampled, began) = sampler.phase(room.talk()).await;
                        let facts = slow_reader_facts(&mut room, began, slow).await;
                        report.slow_readers.push(facts);
                        room.close().await;
                        sampled
                    }
                };
                report.phase_s[k] += sampled.wall_s;
                report.server_cpu_s[k] += sampled.server_cpu_s;
                report.bench_cpu_s[k] += sampled.bench_cpu_s;
                report.other_cpu_s[k] += sampled.other_cpu_s;
                other[k] = 100.0 * sampled.other_cpu_s / sampled.wall_s;
                report.failed_requests += sampled.failed;
                round[k] = p99(&sampled.samples);
                samples[k] = sampled.samples;
                // Let the server finish closing this phase's connections before the next.
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let quiet = other.iter().all(|&o| o < QUIET_OTHER_CPU_PCT);
            for (k, s) in samples.into_iter().enumerate() {
                if quiet {
                    pooled[1][k].extend_from_slice(&s);
                }
                pooled[0][k].extend(s);
            }
            for (k, s) in round_stages.into_iter().enumerate() {
                if quiet {
                    stages[1][k].extend_from_slice(&s);
                }
                stages[0][k].extend(s);
            }
            report.round_p99_us.push(round);
            report.round_other_cpu_pct.push(other);
            report.round_quiet.push(quiet);
            if report.round_quiet.iter().filter(|q| **q).count() >= wanted {
                break;
            }
        }
        Ok::<_, std::io::Error>(())
    })?;
    let [all, quiet] = &pooled;
    for (k, (all, quiet)) in all.iter().zip(quiet).enumerate() {
        (report.samples[k], report.p99_us[k]) = (all.len(), p99(all));
        (report.quiet_samples[k], report.quiet_p99_us[k]) = (quiet.len(), p99(quiet));
    }
    let stages = if stages[1][0].is_empty() {
        &stages[0]
    } else {
        &stages[1]
    };
    for (k, stage) in stages.iter().enumerate() {
        report.slowloris_stage_p99_us[k] = p99(stage);
    }
    drop(sampler);
    drop(server);
    Ok(report)
}
