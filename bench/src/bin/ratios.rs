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

/// Server memory per idle connection: 2,000 connections from a separate client process.
fn idle_mode() -> std::io::Result<serde_json::Value> {
    use protocol_bench::net::{Kind, idle_bytes_per_conn};
    let n = 2000;
    let baseline = idle_bytes_per_conn(Kind::RawDefault, n)?;
    let ours = idle_bytes_per_conn(Kind::Ours, n)?;
    println!("raw tokio-tungstenite default: {baseline:>9.0} bytes/conn");
    println!("ours:                          {ours:>9.0} bytes/conn");
    Ok(serde_json::json!({
        "bench": "idle",
        "connections": n,
        "bytes_per_conn": ours.round(),
        "baseline_bytes_per_conn": baseline.round(),
    }))
}

/// Echo throughput, 100 connections, 150-byte messages, servers in child processes.
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
        "msgs_per_s": rates[2].round(),
        "vs_default_tt": round(rates[2] / rates[0]),
        "vs_tuned_tt": round(rates[2] / rates[1]),
    }))
}

/// Broadcast to a room of 5,000 connections: encode once, queue the shared bytes per recipient.
fn broadcast_mode() -> serde_json::Value {
    let rt = runtime();
    let recipients = 5000;
    let ns = rt.block_on(protocol_bench::net::broadcast_ns_per_recipient(
        recipients, 640,
    ));
    println!("{ns:.1} ns per recipient");
    serde_json::json!({ "bench": "broadcast", "recipients": recipients, "ns_per_recipient": round(ns) })
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
        "idle" | "echo" | "attack" | "fanout" => match match mode.as_str() {
            "idle" => idle_mode(),
            "echo" => echo_mode(),
            "fanout" => fanout_mode(),
            _ => attack_mode(),
        } {
            Ok(v) => v,
            Err(e) => {
                eprintln!("ratios {mode}: {e}");
                return ExitCode::FAILURE;
            }
        },
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
            let Some(addr) = addr else {
                return ExitCode::from(2);
            };
            return match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(protocol_bench::net::hold_idle(addr, n)))
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
