//! The typed [`Client`](crate::Client)'s place in each room stream, so it resumes on its own
//! after a reconnect: which rooms it joined (the app's own join message, kept whole), each
//! room's epoch and the highest offset up to which it has seen every message, and the offsets
//! seen beyond it (a reply may overtake an earlier message published on another node).
//!
//! Everything is read from the messages' declared stream roles ([`StreamRole`]), so it works
//! for any protocol that declares them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::Value;

use crate::protocol::{Protocol, StreamRole, VariantMeta};

/// Offsets remembered beyond the contiguous one, per room; past it the oldest are forgotten
/// (a duplicate among them could then reach the app; the resume itself stays exact).
const MAX_AHEAD: usize = 4096;

/// Where the client stands in one room's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPosition {
    /// The room.
    pub room: String,
    /// The room's epoch, once the join was announced.
    pub epoch: Option<String>,
    /// Every message up to this offset was received (or was before the client joined).
    pub offset: u64,
    /// What the last join announcement said: `None` for a fresh join, `Some(true)` when a
    /// resume replayed everything missed, `Some(false)` when it could not (fetch the history).
    pub recovered: Option<bool>,
}

#[derive(Debug, Default)]
struct Room {
    join: serde_json::Map<String, Value>,
    epoch: Option<String>,
    offset: u64,
    ahead: BTreeSet<u64>,
    recovered: Option<bool>,
}

impl Room {
    fn seen(&self, offset: u64) -> bool {
        offset <= self.offset || self.ahead.contains(&offset)
    }

    fn mark(&mut self, offset: u64) {
        if offset <= self.offset {
            return;
        }
        if offset == self.offset + 1 {
            self.catch_up(offset);
        } else {
            self.ahead.insert(offset);
            if self.ahead.len() > MAX_AHEAD {
                self.ahead.pop_first();
            }
        }
    }

    /// Every offset up to `offset` is had: move the contiguous mark there, then over the
    /// offsets already seen beyond it.
    fn catch_up(&mut self, offset: u64) {
        self.offset = self.offset.max(offset);
        let upto = self.offset;
        self.ahead.retain(|o| *o > upto);
        while self.ahead.remove(&(self.offset + 1)) {
            self.offset += 1;
        }
    }
}

#[derive(Debug, Default)]
struct State {
    rooms: BTreeMap<String, Room>,
    /// Request id -> room, for requests that publish (their reply carries the offset).
    publishing: HashMap<u64, String>,
}

/// The tracker; present only when the client's protocol declares a joining message.
#[derive(Debug)]
pub(crate) struct Tracker {
    state: Mutex<State>,
    /// The wire name of the server message announcing a join.
    announce: &'static str,
}

fn room_of(v: &Value) -> Option<&str> {
    v.get("room").and_then(Value::as_str)
}

fn offset_of(v: &Value) -> Option<u64> {
    v.get("offset").and_then(Value::as_u64)
}

impl Tracker {
    /// A tracker for a client sending `Out`, when `Out` has a [`StreamRole::Join`] message.
    pub(crate) fn new<Out: Protocol>() -> Option<Self> {
        let announce = Out::VARIANTS
            .iter()
            .find(|m| m.stream_role() == Some(StreamRole::Join))?
            .announced_by()?;
        Some(Tracker {
            state: Mutex::new(State::default()),
            announce,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The app sends `msg` (request id `id`).
    pub(crate) fn outgoing<Out: Protocol>(&self, msg: &Out, id: Option<u64>) {
        let Some(role) = msg.variant_meta().stream_role() else {
            return;
        };
        let Ok(Value::Object(map)) = serde_json::to_value(msg) else {
            return;
        };
        let Some(room) = map.get("room").and_then(Value::as_str).map(str::to_owned) else {
            return;
        };
        let mut st = self.lock();
        match role {
            StreamRole::Join => {
                let entry = st.rooms.entry(room).or_default();
                entry.join = map;
                entry.join.remove("since");
            }
            StreamRole::Leave => {
                st.rooms.remove(&room);
            }
            StreamRole::Publish => {
                if let Some(id) = id {
                    st.publishing.insert(id, room);
                }
            }
            _ => {}
        }
    }

    /// A request was answered or given up on: forget it.
    pub(crate) fn forget_request(&self, id: u64) {
        self.lock().publishing.remove(&id);
    }

    /// A message arrived (as the reply to request `reply_to`, if it is one); whether the app
    /// gets it (`false`: a stream message already seen, which a replay repeats).
    pub(crate) fn incoming(&self, meta: &VariantMeta, text: &str, reply_to: Option<u64>) -> bool {
        let stream = meta.stream_role() == Some(StreamRole::Stream);
        let announce = meta.wire_name == self.announce;
        let publishing = reply_to.and_then(|id| self.lock().publishing.remove(&id));
        if !stream && !announce && publishing.is_none() {
            return true;
        }
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return true;
        };
        let mut st = self.lock();
        if let Some(room) = publishing {
            if let (Some(r), Some(offset)) = (st.rooms.get_mut(&room), offset_of(&v)) {
                r.mark(offset);
            }
            return true;
        }
        let Some(r) = room_of(&v).and_then(|room| st.rooms.get_mut(room)) else {
            return true;
        };
        let Some(offset) = offset_of(&v) else {
            return true;
        };
        if stream {
            if r.seen(offset) {
                return false;
            }
            r.mark(offset);
            return true;
        }
        let epoch = v.get("epoch").and_then(Value::as_str).map(str::to_owned);
        let recovered = v.get("recovered").and_then(Value::as_bool);
        if recovered == Some(true) && epoch == r.epoch {
            // Everything up to `offset` was replayed.
            r.catch_up(offset);
        } else {
            // A fresh start: a new join, or the history could not cover the gap.
            r.epoch = epoch;
            r.offset = offset;
            r.ahead.clear();
        }
        r.recovered = recovered;
        true
    }

    /// The join messages to send after a reconnect: the app's own, each with `since` where
    /// the room's position is known.
    pub(crate) fn rejoin_frames(&self, id_field: &str) -> Vec<String> {
        self.lock()
            .rooms
            .values()
            .filter_map(|r| {
                let mut join = r.join.clone();
                if join.is_empty() {
                    return None;
                }
                join.remove(id_field);
                if let Some(epoch) = &r.epoch {
                    join.insert(
                        "since".into(),
                        serde_json::json!({"epoch": epoch, "offset": r.offset}),
                    );
                }
                serde_json::to_string(&Value::Object(join)).ok()
            })
            .collect()
    }

    /// Every joined room's position, by room name.
    pub(crate) fn positions(&self) -> Vec<StreamPosition> {
        self.lock()
            .rooms
            .iter()
            .map(|(room, r)| StreamPosition {
                room: room.clone(),
                epoch: r.epoch.clone(),
                offset: r.offset,
                recovered: r.recovered,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguity_survives_out_of_order_offsets() {
        let mut r = Room::default();
        for o in [1, 2, 4, 5, 3, 7] {
            r.mark(o);
        }
        assert_eq!(r.offset, 5);
        assert!(r.seen(4) && r.seen(7) && !r.seen(6));
        r.mark(6);
        assert_eq!(r.offset, 7);
        assert!(r.ahead.is_empty());
        // A recovered resume up to 9 also takes in 10, seen before it.
        r.mark(10);
        r.catch_up(9);
        assert_eq!(r.offset, 10);
        assert!(r.ahead.is_empty());
    }
}
