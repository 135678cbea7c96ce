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

const MODES: &[&str] = &["decode"];

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
