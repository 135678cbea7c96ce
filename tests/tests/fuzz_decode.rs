//! Fuzzed decoding of the chat protocol (stable toolchain: proptest, no cargo-fuzz): arbitrary
//! bytes and structure-aware mutations of valid frames go through `decode_frame` and
//! `dispatch_frame`. Never a panic, and every `Ok` re-encodes to a document that decodes to the
//! same value. `PROPTEST_CASES` scales the run (CI runs a bounded one).

#![allow(missing_docs)]

use chat_example::{Chat, ClientMsg, ServerMsg};
use futures_util::FutureExt;
use proptest::prelude::*;
use protocol_core::{
    Hub, Protocol, decode, decode_frame, decode_slice, dispatch_frame, encode, encode_frame,
};
use serde_json::{Map, Value, json};

fn roundtrip<T: Protocol + PartialEq + std::fmt::Debug>(text: &str) -> Result<(), TestCaseError> {
    if let Ok(frame) = decode_frame::<T>(text) {
        let again = encode_frame(&frame.msg, frame.id).expect("a decoded message encodes");
        let back = decode_frame::<T>(&again).expect("a re-encoded message decodes");
        prop_assert_eq!(back.msg, frame.msg, "{} -> {}", text, again);
        prop_assert_eq!(back.id, frame.id);
    }
    Ok(())
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    let s = || ".{0,12}";
    prop_oneof![
        (s(), proptest::option::of((s(), any::<u64>()))).prop_map(|(room, since)| {
            ClientMsg::Join {
                room,
                since: since.map(|(epoch, offset)| protocol_core::Since { epoch, offset }),
            }
        }),
        (
            s(),
            proptest::option::of(1u64..=100),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(room, limit, before)| ClientMsg::History {
                room,
                limit: limit.map(|l| chat_example::HistoryLimit::try_from(l).expect("in range")),
                before,
            }),
        (s(), s()).prop_map(|(room, text)| ClientMsg::Message { room, text }),
        s().prop_map(|message_id| ClientMsg::Read { message_id }),
        (s(), any::<bool>()).prop_map(|(room, active)| ClientMsg::Typing { room, active }),
        s().prop_map(|room| ClientMsg::Leave { room }),
    ]
}

fn edge() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(null)),
        Just(json!(true)),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1.5e308)),
        Just(json!("")),
        Just(json!("\u{0}\u{FFFF}\"\\")),
        Just(json!([])),
        Just(json!({})),
        Just(json!({"type": "join"})),
        (1usize..200).prop_map(|d| {
            let mut v = json!(1);
            for _ in 0..d {
                v = json!([v]);
            }
            v
        }),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    SwapTag(String),
    Drop(usize),
    Retype(usize, Value),
    Add(String, Value),
    DuplicateKey(usize),
    TagLast,
    Truncate(usize),
    Nest(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let tags = ClientMsg::TYPES
        .iter()
        .map(|t| t.to_string())
        .chain(["".into(), "JOIN".into(), "error".into()])
        .collect::<Vec<_>>();
    prop_oneof![
        prop_oneof![proptest::sample::select(tags), "[a-z]{1,6}"].prop_map(Mutation::SwapTag),
        any::<usize>().prop_map(Mutation::Drop),
        (any::<usize>(), edge()).prop_map(|(i, v)| Mutation::Retype(i, v)),
        ("[a-zA-Z]{1,6}|id|type|room|text", edge()).prop_map(|(k, v)| Mutation::Add(k, v)),
        any::<usize>().prop_map(Mutation::DuplicateKey),
        Just(Mutation::TagLast),
        any::<usize>().prop_map(Mutation::Truncate),
        (1usize..20_000).prop_map(Mutation::Nest),
    ]
}

fn apply(msg: &ClientMsg, id: Option<u64>, m: &Mutation) -> String {
    let text = encode_frame(msg, id).unwrap();
    let obj: Map<String, Value> = serde_json::from_str(&text).unwrap();
    let keys: Vec<String> = obj.keys().cloned().collect();
    let pick = |i: usize| keys[i % keys.len()].clone();
    let mut obj = obj;
    match m {
        Mutation::SwapTag(t) => {
            obj.insert("type".into(), Value::String(t.clone()));
        }
        Mutation::Drop(i) => {
            obj.remove(&pick(*i));
        }
        Mutation::Retype(i, v) => {
            obj.insert(pick(*i), v.clone());
        }
        Mutation::Add(k, v) => {
            obj.insert(k.clone(), v.clone());
        }
        Mutation::DuplicateKey(i) => {
            let k = pick(*i);
            let body = serde_json::to_string(&obj).unwrap();
            return format!(
                "{{{}:{},{}",
                serde_json::to_string(&k).unwrap(),
                obj[&k],
                &body[1..]
            );
        }
        Mutation::TagLast => {
            let tag = obj.remove("type").unwrap_or(Value::Null);
            let mut body = serde_json::to_string(&obj).unwrap();
            body.pop();
            let sep = if body.len() > 1 { "," } else { "" };
            return format!("{body}{sep}\"type\":{tag}}}");
        }
        Mutation::Truncate(n) => {
            let cut = n % (text.len() + 1);
            return text.get(..cut).unwrap_or(&text).to_owned();
        }
        Mutation::Nest(depth) => {
            let k = pick(0);
            return format!(
                "{{\"type\":\"join\",{}:{}1{}}}",
                serde_json::to_string(&k).unwrap(),
                "[".repeat(*depth),
                "]".repeat(*depth)
            );
        }
    }
    serde_json::to_string(&obj).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_slice::<ClientMsg>(&bytes);
        let _ = decode_slice::<ServerMsg>(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        roundtrip::<ClientMsg>(&text)?;
        roundtrip::<ServerMsg>(&text)?;
    }

    #[test]
    fn mutated_frames_decode_or_fail_cleanly(msg in client_msg(), id in proptest::option::of(any::<u64>()), ms in proptest::collection::vec(mutation(), 1..3)) {
        let mut text = apply(&msg, id, &ms[0]);
        for m in &ms[1..] {
            // Mutate again from whatever the previous mutation left, if it still decodes.
            if let Ok(frame) = decode_frame::<ClientMsg>(&text) {
                text = apply(&frame.msg, frame.id, m);
            }
        }
        roundtrip::<ClientMsg>(&text)?;
        if let Ok(v) = decode::<ClientMsg>(&text) {
            prop_assert_eq!(decode::<ClientMsg>(&encode(&v).unwrap()).unwrap(), v);
        }
        // Through the handlers too: a decoded message or an error reply, never a panic.
        let rt = rt();
        rt.block_on(async {
            let hub = Hub::<ServerMsg>::new();
            let (cx, _inbox) = hub.attach("fuzz");
            let outcome = dispatch_frame::<ClientMsg, Chat>(&Chat::default(), &cx, &text).now_or_never();
            if let Some(outcome) = outcome {
                let _ = outcome.frame();
            }
        });
    }
}
