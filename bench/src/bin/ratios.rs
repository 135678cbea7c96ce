//! Prints benchmark ratios measured in one run; the last line is one JSON object.
//!
//! `cargo run --release -p protocol-bench --bin ratios -- decode`

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Duration;

use protocol_bench::{
    Bare, BareOut, CHAT_MESSAGE, CHAT_MESSAGE_TAG_LAST, ClientMsg, SerdeTagged, keep, measure,
    value_if_else,
};

const MODES: &[&str] = &[
    "decode",
    "dispatch",
    "idle",
    "echo",
    "broadcast",
    "fuzz",
    "attack",
    "fanout",
    "room",
    "pairs",
    "peers",
];

/// The chat (in a child process) under slowloris, flood and slow-reader attacks, each alone:
/// others' p99 against an unloaded run, interleaved in rounds until `ratios attack [ROUNDS]`
/// (default 3) of them were quiet (other processes left the CPU alone).
fn attack_mode() -> std::io::Result<serde_json::Value> {
    use protocol_bench::attack::{Phase, ROUNDS};
    let rounds = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(ROUNDS);
    let r = protocol_bench::attack::run(rounds)?;
    for (i, (round_p99, other)) in r
        .round_p99_us
        .iter()
        .zip(&r.round_other_cpu_pct)
        .enumerate()
    {
        let line: Vec<String> = Phase::ALL
            .iter()
            .map(|p| {
                let k = *p as usize;
                format!("{} {:.0} ({:.0}%)", p.name(), round_p99[k], other[k])
            })
            .collect();
        let quiet = if r.round_quiet[i] { "quiet" } else { "noisy" };
        println!(
            "round {} ({quiet}): p99 us (other processes' CPU): {}",
            i + 1,
            line.join(", ")
        );
    }
    println!("{r:?}");
    let quiet_rounds = r.round_quiet.iter().filter(|q| **q).count();
    // The headline is the quiet rounds; without any, every round (and "quiet_rounds": 0 says so).
    let (p99_us, samples) = if quiet_rounds > 0 {
        (&r.quiet_p99_us, &r.quiet_samples)
    } else {
        (&r.p99_us, &r.samples)
    };
    let unloaded = Phase::Unloaded as usize;
    let floods = &r.floods;
    let slow = &r.slow_readers;
    let mut json = serde_json::json!({
        "bench": "attack",
        "rounds": r.round_p99_us.len(),
        "quiet_rounds": quiet_rounds,
        "samples_per_phase": samples.iter().min(),
        "failed_requests": r.failed_requests,
    });
    for p in Phase::ALL {
        let k = p as usize;
        json[format!("{}_p99_us", p.name())] = p99_us[k].round().into();
        if p != Phase::Unloaded {
            json[format!("{}_ratio", p.name())] = round(p99_us[k] / p99_us[unloaded]).into();
            json[format!("{}_ratio_all_rounds", p.name())] =
                round(r.p99_us[k] / r.p99_us[unloaded]).into();
            // Each round against its own unloaded phase: how steady the ratio is.
            json[format!("{}_round_ratios", p.name())] = r
                .round_p99_us
                .iter()
                .map(|q| round(q[k] / q[unloaded]))
                .collect::<Vec<_>>()
                .into();
        }
    }
    json["slow_reader_vs_busy_baseline"] =
        round(p99_us[Phase::SlowReader as usize] / p99_us[Phase::BusyRoom as usize]).into();
    // What each phase cost: CPU used over wall time (100 = one core) by the server, by this
    // process, and by everything else on the machine (the noise the ratios are exposed to).
    for (key, cpu) in [
        ("server_cpu_pct", &r.server_cpu_s),
        ("bench_cpu_pct", &r.bench_cpu_s),
        ("other_cpu_pct", &r.other_cpu_s),
    ] {
        json[key] = Phase::ALL
            .iter()
            .map(|p| {
                let k = *p as usize;
                (
                    p.name().to_owned(),
                    (100.0 * cpu[k] / r.phase_s[k]).round().into(),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    json["slowloris_stage_p99_us"] = serde_json::json!({
        "opening": r.slowloris_stage_p99_us[0].round(),
        "holding": r.slowloris_stage_p99_us[1].round(),
        "closing": r.slowloris_stage_p99_us[2].round(),
    });
    json["slowloris_opened"] = r.slowloris.opened.into();
    json["slowloris_closed"] = r.slowloris.closed.into();
    json["slowloris_closed_after_s"] = serde_json::json!([
        round(r.slowloris.closed_after_s.0),
        round(r.slowloris.closed_after_s.1)
    ]);
    json["flood_sent"] = floods.iter().map(|f| f.sent).collect::<Vec<_>>().into();
    json["flood_answered"] = floods.iter().map(|f| f.answered).collect::<Vec<_>>().into();
    json["flood_rate_limited"] = floods
        .iter()
        .map(|f| f.rate_limited)
        .collect::<Vec<_>>()
        .into();
    json["flood_close_codes"] = floods
        .iter()
        .map(|f| f.close_code)
        .collect::<Vec<_>>()
        .into();
    json["flood_cut_off_ms"] = floods
        .iter()
        .map(|f| f.cut_off_ms.round())
        .collect::<Vec<_>>()
        .into();
    json["busy_messages"] = r.busy_messages.into();
    json["slow_reader_messages_until_cut_off"] = slow
        .iter()
        .map(|s| s.messages_until_cut_off)
        .collect::<Vec<_>>()
        .into();
    json["slow_reader_cut_off_ms"] = slow
        .iter()
        .map(|s| s.cut_off_ms.round())
        .collect::<Vec<_>>()
        .into();
    json["slow_reader_close_codes"] = slow.iter().map(|s| s.close_code).collect::<Vec<_>>().into();
    Ok(json)
}

/// A room of 2,000 split over two nodes sharing a real Redis, against one node in memory.
fn fanout_mode() -> std::io::Result<serde_json::Value> {
    let r = runtime().block_on(protocol_bench::fanout::run(2000, 200, 9))?;
    println!("{r:?}");
    Ok(serde_json::json!({
        "bench": "fanout",
        "members": r.members,
        "broadcasts_per_round": r.broadcasts,
        "publishes_per_broadcast": round(r.publishes_per_broadcast),
        "ns_per_recipient": round(r.ns_per_recipient),
        "single_node_ns_per_recipient": round(r.single_node_ns_per_recipient),
        "vs_single_node": round(r.ns_per_recipient / r.single_node_ns_per_recipient),
        "cpu_ns_per_recipient": round(r.cpu_ns_per_recipient),
        "single_node_cpu_ns_per_recipient": round(r.single_node_cpu_ns_per_recipient),
        "cpu_vs_single_node": round(r.cpu_ns_per_recipient / r.single_node_cpu_ns_per_recipient),
    }))
}

/// Long fuzzing runs of the chat protocol's decoder: random byte-level and token-level
/// mutations of valid frames through `decode_frame`; every `Ok` must re-encode and decode to the
/// same value, and nothing may panic. `ratios fuzz [SECONDS]` (default 10).
fn fuzz_mode() -> serde_json::Value {
    use chat_example::ClientMsg;
    use std::time::Instant;
    let seconds: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let seeds: Vec<String> = [
        r#"{"type":"join","room":"general"}"#,
        r#"{"type":"message","id":1,"room":"general","text":"hi"}"#,
        r#"{"room":"general","text":"hi","type":"message","id":18446744073709551615}"#,
        r#"{"type":"read","messageId":"abc123"}"#,
        r#"{"type":"typing","room":"r","active":true}"#,
        r#"{"type":"leave","room":"r"}"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let tokens: &[&[u8]] = &[
        b"\"type\":\"join\"",
        b"\"id\":",
        b"[[[[[[[[",
        b"]]]]",
        b"1e999",
        b"-0",
        b"\\u0000",
        b"\\ud800",
        b"null",
        b"{}",
        b",",
        b":",
        b"\"",
        b"\xff\xfe",
        b"18446744073709551616",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let (mut cases, mut failures, mut decoded) = (0u64, 0u64, 0u64);
    while Instant::now() < deadline {
        for _ in 0..1000 {
            let mut bytes = seeds[(next() % seeds.len() as u64) as usize]
                .clone()
                .into_bytes();
            for _ in 0..1 + next() % 4 {
                let at = (next() % (bytes.len() as u64 + 1)) as usize;
                match next() % 5 {
                    0 if !bytes.is_empty() => {
                        let last = bytes.len() - 1;
                        bytes[at.min(last)] = next() as u8;
                    }
                    1 => bytes.insert(at, next() as u8),
                    2 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    3 => {
                        let t = tokens[(next() % tokens.len() as u64) as usize];
                        bytes.splice(at..at, t.iter().copied());
                    }
                    _ => bytes.truncate(at),
                }
            }
            cases += 1;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let ok = std::panic::catch_unwind(|| {
                match protocol_core::decode_frame::<ClientMsg>(&text) {
                    Ok(frame) => {
                        let again = protocol_core::encode_frame(&frame.msg, frame.id).ok();
                        let back =
                            again.and_then(|a| protocol_core::decode_frame::<ClientMsg>(&a).ok());
                        (back.is_some_and(|b| b == frame), true)
                    }
                    Err(e) => {
                        let _ = e.to_string();
                        (true, false)
                    }
                }
            });
            match ok {
                Ok((true, was_ok)) => decoded += u64::from(was_ok),
                _ => {
                    failures += 1;
                    eprintln!("failure on {text:?}");
                }
            }
        }
    }
    let rate = cases as f64 / start.elapsed().as_secs_f64();
    println!("{cases} cases ({decoded} decoded), {rate:.0} cases/s, {failures} failures");
    serde_json::json!({ "bench": "fuzz", "cases": cases, "cases_per_s": rate.round(), "failures": failures })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn arg(n: usize) -> Option<String> {
    std::env::args().nth(n)
}

fn subject(n: usize) -> std::io::Result<protocol_bench::chat_load::Subject> {
    use protocol_bench::chat_load::Subject;
    match arg(n) {
        None => Ok(Subject::Ours),
        Some(s) => Subject::parse(&s).ok_or_else(|| {
            std::io::Error::other(format!(
                "unknown server {s:?}; expected ours, tt, node or bun"
            ))
        }),
    }
}

fn load_json(load: &protocol_bench::chat_load::Load) -> serde_json::Value {
    serde_json::json!({
        "per_s": load.per_s.round(),
        "p50_us": load.p50_us.round(),
        "p99_us": load.p99_us.round(),
        "delivered": load.delivered,
        "errors": load.errors,
        "server_cpu_ns_per_delivery": load.server_cpu_ns_per_delivery.round(),
    })
}

/// Room fan-out against a server binary (default the shipped chat-server): 200 users in one
/// room, 20 of them sending. `ratios room [ours|tt|node|bun]`.
fn room_mode() -> std::io::Result<serde_json::Value> {
    let who = subject(2)?;
    let server = who.start(16384)?;
    let load = runtime().block_on(protocol_bench::chat_load::room(
        &server,
        ROOM_USERS,
        ROOM_SENDERS,
        ROOM_WINDOW,
        MEASURE,
    ))?;
    println!("{}: {load:?}", who.path());
    let mut json = load_json(&load);
    json["bench"] = "room".into();
    json["server"] = who.path().into();
    json["users"] = ROOM_USERS.into();
    json["senders"] = ROOM_SENDERS.into();
    Ok(json)
}

/// Ping-pong pairs against a server binary (default the shipped chat-server): 100 pairs, each
/// in its own room. `ratios pairs [ours|tt|node|bun]`.
fn pairs_mode() -> std::io::Result<serde_json::Value> {
    let who = subject(2)?;
    let server = who.start(16384)?;
    let load = runtime().block_on(protocol_bench::chat_load::pairs(&server, PAIRS, MEASURE))?;
    println!("{}: {load:?}", who.path());
    let mut json = load_json(&load);
    json["bench"] = "pairs".into();
    json["server"] = who.path().into();
    json["pairs"] = PAIRS.into();
    Ok(json)
}

/// Room streams on the shipped chat-server: memory per stored message with 50 rooms of full
/// history (1,000 messages of 100 bytes each), and replay throughput with 200 clients resuming
/// from offset 0 at once. `ratios resume`.
fn resume_mode() -> std::io::Result<serde_json::Value> {
    use protocol_bench::chat_load::Subject;
    let server = Subject::Ours.start(16384)?;
    let r = runtime().block_on(protocol_bench::resume::resume(&server, 50, 1000, 200, 100))?;
    println!("{}: {r:?}", Subject::Ours.path());
    if r.replayed != (r.resumers * r.per_room) as u64 || !r.all_recovered {
        return Err(std::io::Error::other(format!(
            "the replay was incomplete: {} of {} messages, all recovered: {}",
            r.replayed,
            r.resumers * r.per_room,
            r.all_recovered
        )));
    }
    Ok(serde_json::json!({
        "bench": "resume",
        "server": Subject::Ours.path(),
        "rooms": r.rooms,
        "history_per_room": r.per_room,
        "text_bytes": r.text_bytes,
        "rss_bytes_per_stored_message": r.rss_per_message.round(),
        "resuming_clients": r.resumers,
        "replayed": r.replayed,
        "replay_messages_per_s": r.replay_per_s.round(),
    }))
}

const ROOM_USERS: usize = 200;
const ROOM_SENDERS: usize = 20;
/// Messages each sender may have awaiting their `sent` reply.
const ROOM_WINDOW: usize = 4;
const PAIRS: usize = 100;
const MEASURE: Duration = Duration::from_secs(3);

fn idle_json(idle: &protocol_bench::chat_load::Idle) -> serde_json::Value {
    serde_json::json!({
        "connections": idle.wanted,
        "tried": idle.tried,
        "cap": idle.cap,
        "server_open_files_limit": idle.server_files,
        "client_processes": idle.client_processes,
        "opened": idle.opened,
        "refusal": idle.refusal,
        "bytes_per_conn": idle.bytes_per_conn.round(),
        "server_rss_mb": round(idle.rss as f64 / 1048576.0),
        "answers": idle.answers,
    })
}

/// Server RSS growth per idle connection against a server binary (default the shipped
/// chat-server), connections from a client process: `ratios idle [N] [ours|tt|node|bun]`
/// (default 2,000; they come from source addresses 127.0.0.1, 127.0.0.2, ..., 1,000 each, so
/// 100000 is past the ephemeral port range).
fn idle_mode() -> std::io::Result<serde_json::Value> {
    let n = arg(2).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let who = subject(3)?;
    let idle = protocol_bench::chat_load::idle(who, n)?;
    println!("{}: {idle:?}", who.path());
    let mut json = idle_json(&idle);
    json["bench"] = "idle".into();
    json["server"] = who.path().into();
    Ok(json)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

/// Ours (the shipped chat-server release binary) and the three peers on `room` and `pairs` in
/// interleaved rounds (the order rotates each round), then `idle` with 2,000 connections each;
/// medians over rounds, ratios ours vs each peer. `ratios peers [ROUNDS]` (default 3).
fn peers_mode() -> std::io::Result<serde_json::Value> {
    use protocol_bench::chat_load::{Load, Subject, idle, pairs, room};
    let rounds: usize = arg(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let rt = runtime();
    let servers: Vec<_> = Subject::ALL
        .iter()
        .map(|s| s.start(16384))
        .collect::<Result<_, _>>()?;
    let n = servers.len();
    let mut rooms: Vec<Vec<Load>> = vec![Vec::new(); n];
    let mut pings: Vec<Vec<Load>> = vec![Vec::new(); n];
    // What everything but the servers and this process used: the noise the figures were exposed to.
    let ours_cpu = |servers: &[protocol_bench::chat_load::Server]| {
        servers.iter().map(|s| s.cpu_seconds()).sum::<f64>()
            + protocol_bench::net::cpu_seconds("/proc/self/stat")
    };
    let busy_before = protocol_bench::net::machine_busy_seconds() - ours_cpu(&servers);
    let started = std::time::Instant::now();
    for r in 0..rounds {
        for k in 0..n {
            let i = (k + r) % n;
            let s = &servers[i];
            let load = rt.block_on(room(s, ROOM_USERS, ROOM_SENDERS, ROOM_WINDOW, MEASURE))?;
            println!("round {} room  {:<5} {load:?}", r + 1, s.subject.name());
            rooms[i].push(load);
            let load = rt.block_on(pairs(s, PAIRS, MEASURE))?;
            println!("round {} pairs {:<5} {load:?}", r + 1, s.subject.name());
            pings[i].push(load);
        }
    }
    let other_cpu_pct = 100.0
        * (protocol_bench::net::machine_busy_seconds() - ours_cpu(&servers) - busy_before)
        / started.elapsed().as_secs_f64();
    drop(servers);
    let mut idles = Vec::new();
    for s in Subject::ALL {
        let i = idle(s, 2000)?;
        println!("idle {:<5} {i:?}", s.name());
        idles.push(i);
    }
    let stat = |loads: &[Load], f: fn(&Load) -> f64| median(loads.iter().map(f).collect());
    let mut servers_json = serde_json::Map::new();
    let mut figures = Vec::new();
    for (i, s) in Subject::ALL.iter().enumerate() {
        let fig = [
            stat(&rooms[i], |l| l.per_s),
            stat(&rooms[i], |l| l.p50_us),
            stat(&rooms[i], |l| l.p99_us),
            stat(&pings[i], |l| l.per_s),
            stat(&pings[i], |l| l.p50_us),
            stat(&pings[i], |l| l.p99_us),
            idles[i].bytes_per_conn,
        ];
        servers_json.insert(
            s.name().into(),
            serde_json::json!({
                "path": s.path(),
                "room_deliveries_per_s": fig[0].round(),
                "room_p50_us": fig[1].round(),
                "room_p99_us": fig[2].round(),
                "room_errors": rooms[i].iter().map(|l| l.errors).sum::<u64>(),
                "room_server_cpu_ns_per_delivery": stat(&rooms[i], |l| l.server_cpu_ns_per_delivery).round(),
                "pairs_msgs_per_s": fig[3].round(),
                "pairs_p50_us": fig[4].round(),
                "pairs_p99_us": fig[5].round(),
                "pairs_errors": pings[i].iter().map(|l| l.errors).sum::<u64>(),
                "pairs_server_cpu_ns_per_delivery": stat(&pings[i], |l| l.server_cpu_ns_per_delivery).round(),
                "idle_bytes_per_conn": fig[6].round(),
                "idle_answers": idles[i].answers,
            }),
        );
        figures.push(fig);
    }
    let mut ratios = serde_json::Map::new();
    for (i, s) in Subject::ALL.iter().enumerate().skip(1) {
        let (o, p) = (&figures[0], &figures[i]);
        let name = s.name();
        // Above 1 is ours ahead for rates; below 1 is ours ahead for latency and memory.
        ratios.insert(format!("room_per_s_vs_{name}"), round(o[0] / p[0]).into());
        ratios.insert(format!("room_p99_vs_{name}"), round(o[2] / p[2]).into());
        ratios.insert(format!("pairs_per_s_vs_{name}"), round(o[3] / p[3]).into());
        ratios.insert(format!("pairs_p99_vs_{name}"), round(o[5] / p[5]).into());
        ratios.insert(format!("idle_bytes_vs_{name}"), round(o[6] / p[6]).into());
    }
    Ok(serde_json::json!({
        "bench": "peers",
        "rounds": rounds,
        "room": {"users": ROOM_USERS, "senders": ROOM_SENDERS, "window": ROOM_WINDOW},
        "pairs": PAIRS,
        "measure_s": MEASURE.as_secs_f64(),
        "other_processes_cpu_pct": other_cpu_pct.round(),
        "ratios": ratios,
        "servers": servers_json,
    }))
}

/// Echo throughput, 100 connections, 150-byte messages, servers in child processes of this
/// binary (`ratios __server KIND`: our `WsServer` with an echo frame handler, and raw
/// tokio-tungstenite); the chat has no echo, so the chat-server binary's own rates are `room`
/// and `pairs`.
fn echo_mode() -> std::io::Result<serde_json::Value> {
    use protocol_bench::net::{ChildServer, Kind, echo_throughput};
    let rt = runtime();
    let mut rates = Vec::new();
    for kind in [Kind::RawDefault, Kind::RawTuned, Kind::Ours] {
        let server = ChildServer::start(kind)?;
        // Interleave rounds would need three servers alive; best of three runs per server.
        let mut best: f64 = 0.0;
        for _ in 0..3 {
            best = best.max(rt.block_on(echo_throughput(server.addr, 100, 1000, 8)));
        }
        println!("{kind:?}: {best:>10.0} msgs/s");
        rates.push(best);
    }
    Ok(serde_json::json!({
        "bench": "echo",
        "path": "ratios __server ours (WsServer + echo FrameHandler) in its own process",
        "msgs_per_s": rates[2].round(),
        "vs_default_tt": round(rates[2] / rates[0]),
        "vs_tuned_tt": round(rates[2] / rates[1]),
    }))
}

/// In-process: the hub's broadcast to a room of 5,000 attached connections (encode once, queue
/// the shared bytes per recipient), no sockets. Fan-out through a server binary is `room`.
fn broadcast_mode() -> serde_json::Value {
    let rt = runtime();
    let recipients = 5000;
    let ns = rt.block_on(protocol_bench::net::broadcast_ns_per_recipient(
        recipients, 640,
    ));
    let stored = rt.block_on(protocol_bench::net::stored_broadcast_ns_per_recipient(
        recipients, 640,
    ));
    println!("{ns:.1} ns per recipient; stored (numbered, kept in history): {stored:.1}");
    serde_json::json!({
        "bench": "broadcast",
        "path": "in-process Hub, no sockets",
        "recipients": recipients,
        "ns_per_recipient": round(ns),
        "stored_ns_per_recipient": round(stored),
        "stored_vs_plain": round(stored / ns),
    })
}

/// `dispatch_frame` (decode tag-first + generated match + handler) against hand-written
/// `Value` + if/else routing and serde's tagged enum + match, all calling the same logic.
fn dispatch_mode() -> serde_json::Value {
    use futures_util::FutureExt;
    use protocol_bench::{Counter, route_serde_tagged, route_value_if_else};
    let counter = Counter::default();
    let hub = protocol_core::Hub::<protocol_bench::ServerMsg>::new();
    let (cx, _inbox) = hub.attach("bench");
    let mut ours = || {
        let outcome = protocol_core::dispatch_frame::<ClientMsg, Counter>(
            &counter,
            &cx,
            black_box(CHAT_MESSAGE),
        )
        .now_or_never()
        .expect("handlers complete without waiting");
        keep(outcome);
    };
    let mut value = || keep(route_value_if_else(&counter, black_box(CHAT_MESSAGE)));
    let mut tagged = || keep(route_serde_tagged(&counter, black_box(CHAT_MESSAGE)));
    let mut candidates: Vec<(&str, &mut dyn FnMut())> = vec![
        ("ours: dispatch_frame", &mut ours),
        ("Value + if/else routing", &mut value),
        ("serde tagged enum + match", &mut tagged),
    ];
    let ns = measure(&mut candidates, 31, Duration::from_millis(20));
    for ((name, _), t) in candidates.iter().zip(&ns) {
        println!("{name:<30} {t:>8.1} ns/msg");
    }
    serde_json::json!({
        "bench": "dispatch",
        "ours_vs_value_ifelse": round(ns[1] / ns[0]),
        "ours_vs_serde_tagged": round(ns[2] / ns[0]),
    })
}

fn decode_mode() -> serde_json::Value {
    let msg: ClientMsg = protocol_core::decode(CHAT_MESSAGE).expect("bench message decodes");
    let ClientMsg::Message { room, text } = &msg else {
        unreachable!()
    };
    let (room, text) = (room.clone(), text.clone());
    let mut bare = || keep(serde_json::from_str::<Bare>(black_box(CHAT_MESSAGE)).unwrap());
    let mut first = || keep(protocol_core::decode::<ClientMsg>(black_box(CHAT_MESSAGE)).unwrap());
    let mut last =
        || keep(protocol_core::decode::<ClientMsg>(black_box(CHAT_MESSAGE_TAG_LAST)).unwrap());
    let mut tagged = || keep(serde_json::from_str::<SerdeTagged>(black_box(CHAT_MESSAGE)).unwrap());
    let mut value = || keep(value_if_else(black_box(CHAT_MESSAGE)).unwrap());
    let out = BareOut {
        ty: "message",
        room: &room,
        text: &text,
    };
    let mut enc_bare = || keep(serde_json::to_string(black_box(&out)).unwrap());
    let mut enc_ours = || keep(protocol_core::encode(black_box(&msg)).unwrap());
    let mut candidates: Vec<(&str, &mut dyn FnMut())> = vec![
        ("bare struct decode", &mut bare),
        ("ours, tag first", &mut first),
        ("ours, tag last", &mut last),
        ("serde tag=\"type\" enum", &mut tagged),
        ("serde_json::Value + if/else", &mut value),
        ("bare struct encode", &mut enc_bare),
        ("ours encode", &mut enc_ours),
    ];
    let ns = measure(&mut candidates, 31, Duration::from_millis(20));
    for ((name, _), t) in candidates.iter().zip(&ns) {
        println!("{name:<30} {t:>8.1} ns/msg");
    }
    serde_json::json!({
        "bench": "decode",
        "tag_first_vs_bare": round(ns[1] / ns[0]),
        "tag_last_vs_bare": round(ns[2] / ns[0]),
        "serde_tagged_vs_ours": round(ns[3] / ns[1]),
        "value_ifelse_vs_ours": round(ns[4] / ns[1]),
        "encode_vs_bare": round(ns[6] / ns[5]),
    })
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let result = match mode.as_str() {
        "decode" => decode_mode(),
        "dispatch" => dispatch_mode(),
        "broadcast" => broadcast_mode(),
        "fuzz" => {
            let result = fuzz_mode();
            let failed = result["failures"].as_u64().unwrap_or(1) > 0;
            println!("{result}");
            return if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
        "idle" | "echo" | "attack" | "fanout" | "room" | "pairs" | "peers" | "resume" => {
            match match mode.as_str() {
                "resume" => resume_mode(),
                "idle" => idle_mode(),
                "room" => room_mode(),
                "pairs" => pairs_mode(),
                "peers" => peers_mode(),
                "echo" => echo_mode(),
                "fanout" => fanout_mode(),
                _ => attack_mode(),
            } {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("ratios {mode}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        "__server" => {
            let kind = std::env::args()
                .nth(2)
                .and_then(|k| protocol_bench::net::Kind::parse(&k));
            let Some(kind) = kind else {
                return ExitCode::from(2);
            };
            return match runtime().block_on(protocol_bench::net::serve(kind)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            };
        }
        "__idle_clients" => {
            let addr = std::env::args().nth(2).and_then(|a| a.parse().ok());
            let n = std::env::args()
                .nth(3)
                .and_then(|a| a.parse().ok())
                .unwrap_or(2000);
            let first = std::env::args()
                .nth(4)
                .and_then(|a| a.parse().ok())
                .unwrap_or(0);
            let Some(addr) = addr else {
                return ExitCode::from(2);
            };
            return match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(protocol_bench::chat_load::hold_idle(addr, n, first)))
            {
                Ok(Ok(())) => ExitCode::SUCCESS,
                _ => ExitCode::FAILURE,
            };
        }
        other => {
            eprintln!(
                "unknown mode {other:?}; expected one of: {}",
                MODES.join(", ")
            );
            return ExitCode::from(2);
        }
    };
    println!("{result}");
    ExitCode::SUCCESS
}
