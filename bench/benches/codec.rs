//! Criterion benchmarks of decoding and encoding a chat message against serde baselines.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use protocol_bench::{
    Bare, CHAT_MESSAGE, CHAT_MESSAGE_TAG_LAST, ClientMsg, SerdeTagged, value_if_else,
};

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.bench_function("bare_struct", |b| {
        b.iter(|| serde_json::from_str::<Bare>(black_box(CHAT_MESSAGE)).unwrap())
    });
    g.bench_function("ours_tag_first", |b| {
        b.iter(|| protocol_core::decode::<ClientMsg>(black_box(CHAT_MESSAGE)).unwrap())
    });
    g.bench_function("ours_tag_last", |b| {
        b.iter(|| protocol_core::decode::<ClientMsg>(black_box(CHAT_MESSAGE_TAG_LAST)).unwrap())
    });
    g.bench_function("serde_tagged", |b| {
        b.iter(|| serde_json::from_str::<SerdeTagged>(black_box(CHAT_MESSAGE)).unwrap())
    });
    g.bench_function("value_if_else", |b| {
        b.iter(|| value_if_else(black_box(CHAT_MESSAGE)).unwrap())
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let msg: ClientMsg = protocol_core::decode(CHAT_MESSAGE).unwrap();
    let tagged: SerdeTagged = serde_json::from_str(CHAT_MESSAGE).unwrap();
    let mut g = c.benchmark_group("encode");
    g.bench_function("ours", |b| {
        b.iter(|| protocol_core::encode(black_box(&msg)).unwrap())
    });
    g.bench_function("serde_tagged", |b| {
        b.iter(|| serde_json::to_string(black_box(&tagged)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
