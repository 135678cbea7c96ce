//! Shared pieces of the benchmarks: the message types compared, and a small interleaved timer
//! that reports ratios against a baseline measured in the same run (the machine is shared and
//! noisy; absolute times mean little).

use std::hint::black_box;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicU64, Ordering};

use protocol_core::{Context, ErrorReply, Protocol};
use serde::{Deserialize, Serialize};

/// A typical chat message, tag first (what `encode` writes).
pub const CHAT_MESSAGE: &str = r#"{"type":"message","id":17,"room":"general","text":"hello there, are we still on for lunch today?"}"#;

/// The same message with the tag last.
pub const CHAT_MESSAGE_TAG_LAST: &str = r#"{"id":17,"room":"general","text":"hello there, are we still on for lunch today?","type":"message"}"#;

/// The chat client protocol, ours.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ClientMsg {
    /// Join a room.
    Join {
        /// Room.
        room: String,
    },
    /// Send a message (its `id` is the framework's correlation id).
    Message {
        /// Room.
        room: String,
        /// Text.
        text: String,
    },
    /// Read receipt.
    Read {
        /// Message id.
        message_id: String,
    },
    /// Typing indicator.
    Typing {
        /// Room.
        room: String,
        /// Active.
        active: bool,
    },
    /// Leave a room.
    Leave {
        /// Room.
        room: String,
    },
}

/// The same protocol as a serde internally tagged enum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum SerdeTagged {
    /// Join a room.
    Join {
        /// Room.
        room: String,
    },
    /// Send a message.
    Message {
        /// Correlation id.
        id: u64,
        /// Room.
        room: String,
        /// Text.
        text: String,
    },
    /// Read receipt.
    Read {
        /// Message id.
        message_id: String,
    },
    /// Typing indicator.
    Typing {
        /// Room.
        room: String,
        /// Active.
        active: bool,
    },
    /// Leave a room.
    Leave {
        /// Room.
        room: String,
    },
}

/// The bare baseline: one plain struct with the message's fields (the tag is ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Bare {
    /// Correlation id.
    pub id: u64,
    /// Room.
    pub room: String,
    /// Text.
    pub text: String,
}

/// The bare baseline for encoding: the tag as a constant first field.
#[derive(Debug, Clone, Serialize)]
pub struct BareOut<'a> {
    /// Tag.
    #[serde(rename = "type")]
    pub ty: &'static str,
    /// Room.
    pub room: &'a str,
    /// Text.
    pub text: &'a str,
}

/// Decode with `serde_json::Value` and route by `if msg["type"] == ...`, as the seed does today.
pub fn value_if_else(text: &str) -> Option<ClientMsgLite> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let ty = v.get("type")?.as_str()?;
    if ty == "join" {
        Some(ClientMsgLite::Join(v.get("room")?.as_str()?.to_owned()))
    } else if ty == "message" {
        Some(ClientMsgLite::Message(
            v.get("id")?.as_u64()?,
            v.get("room")?.as_str()?.to_owned(),
            v.get("text")?.as_str()?.to_owned(),
        ))
    } else if ty == "read" {
        Some(ClientMsgLite::Read(
            v.get("messageId")?.as_str()?.to_owned(),
        ))
    } else if ty == "typing" {
        Some(ClientMsgLite::Typing(
            v.get("room")?.as_str()?.to_owned(),
            v.get("active")?.as_bool()?,
        ))
    } else if ty == "leave" {
        Some(ClientMsgLite::Leave(v.get("room")?.as_str()?.to_owned()))
    } else {
        None
    }
}

/// What the hand-written routing produces.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMsgLite {
    /// Join.
    Join(String),
    /// Message.
    Message(u64, String, String),
    /// Read.
    Read(String),
    /// Typing.
    Typing(String, bool),
    /// Leave.
    Leave(String),
}

/// Time several candidates, interleaved round by round; returns the best-round ns per iteration
/// of each. Bounded: `rounds` rounds of at least `min_batch_time` each.
pub fn measure(
    candidates: &mut [(&str, &mut dyn FnMut())],
    rounds: usize,
    min_batch_time: Duration,
) -> Vec<f64> {
    // Calibrate one batch size per candidate.
    let mut batch: Vec<u64> = Vec::new();
    for (_, f) in candidates.iter_mut() {
        let mut n = 1u64;
        loop {
            let start = Instant::now();
            for _ in 0..n {
                f();
            }
            if start.elapsed() >= min_batch_time || n >= 1 << 30 {
                break;
            }
            n *= 2;
        }
        batch.push(n);
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); candidates.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in candidates.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..batch[i] {
                f();
            }
            samples[i].push(start.elapsed().as_nanos() as f64 / batch[i] as f64);
        }
    }
    // The fastest round: on a shared machine, other load only ever adds time.
    samples
        .into_iter()
        .map(|s| s.into_iter().fold(f64::INFINITY, f64::min))
        .collect()
}

/// Keep a value alive for the optimiser.
pub fn keep<T>(v: T) {
    black_box(v);
}

pub mod attack;
pub mod chat_load;
pub mod fanout;
pub mod net;
pub mod resume;

/// A broadcast message like the chat's.
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case")]
pub enum BroadcastMsg {
    /// A chat line.
    Message {
        /// Room.
        room: String,
        /// Author.
        from: String,
        /// Text.
        text: String,
    },
    /// A chat line kept in the room's history (numbered, replayed on resume).
    #[protocol(stream)]
    Stored {
        /// Room.
        room: String,
        /// Position in the room.
        offset: u64,
        /// Author.
        from: String,
        /// Text.
        text: String,
    },
}

/// What the bench server sends (only errors, here).
#[derive(Debug, Clone, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case")]
pub enum ServerMsg {
    /// An error reply.
    Error(ErrorReply),
}

/// A handler doing the same small amount of work per message type in every routing style.
#[derive(Debug, Default)]
pub struct Counter {
    /// Bytes of text seen.
    pub seen: AtomicU64,
}

impl Counter {
    /// The "business logic": count bytes.
    pub fn handle(&self, n: usize) {
        self.seen.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl ClientMsgHandler for Counter {
    type Out = ServerMsg;

    async fn on_join(&self, _cx: &Context<ServerMsg>, room: String) -> Result<(), ErrorReply> {
        self.handle(room.len());
        Ok(())
    }

    async fn on_message(
        &self,
        _cx: &Context<ServerMsg>,
        room: String,
        text: String,
    ) -> Result<(), ErrorReply> {
        self.handle(room.len() + text.len());
        Ok(())
    }

    async fn on_read(
        &self,
        _cx: &Context<ServerMsg>,
        message_id: String,
    ) -> Result<(), ErrorReply> {
        self.handle(message_id.len());
        Ok(())
    }

    async fn on_typing(
        &self,
        _cx: &Context<ServerMsg>,
        room: String,
        _active: bool,
    ) -> Result<(), ErrorReply> {
        self.handle(room.len());
        Ok(())
    }

    async fn on_leave(&self, _cx: &Context<ServerMsg>, room: String) -> Result<(), ErrorReply> {
        self.handle(room.len());
        Ok(())
    }
}

/// Hand-written routing over `serde_json::Value`, as the seed does it, calling the same logic.
pub fn route_value_if_else(counter: &Counter, text: &str) -> bool {
    match value_if_else(text) {
        Some(
            ClientMsgLite::Join(room) | ClientMsgLite::Leave(room) | ClientMsgLite::Typing(room, _),
        ) => counter.handle(room.len()),
        Some(ClientMsgLite::Message(_, room, text)) => counter.handle(room.len() + text.len()),
        Some(ClientMsgLite::Read(id)) => counter.handle(id.len()),
        None => return false,
    }
    true
}

/// serde's internally tagged enum and a `match`, calling the same logic.
pub fn route_serde_tagged(counter: &Counter, text: &str) -> bool {
    match serde_json::from_str::<SerdeTagged>(text) {
        Ok(
            SerdeTagged::Join { room }
            | SerdeTagged::Leave { room }
            | SerdeTagged::Typing { room, .. },
        ) => counter.handle(room.len()),
        Ok(SerdeTagged::Message { room, text, .. }) => counter.handle(room.len() + text.len()),
        Ok(SerdeTagged::Read { message_id }) => counter.handle(message_id.len()),
        Err(_) => return false,
    }
    true
}
