//! Room streams on Redis: appending and reading with the stream scripts (their Lua in
//! `stream_*.lua` beside this file, loaded in `scripts.rs`; keys and layout in `stream_lib.lua`
//! and the [module documentation](super)), their arguments, and the read's fence.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::{Bytes, Utf8Bytes};

use super::node::{Shared, lock, random_node_id};
use super::wire::{KIND_STREAM, STREAM_SEQ, encode_fence, publication_parts, stream_keys};
use crate::runtime::history::{HistoryConfig, Position, ReadRange, StreamError, StreamSlice};
use crate::runtime::hub::Append;

/// How long a room's stream keys live without an append: the history's age limit (a room idle
/// longer has nothing left to replay), or a day when no age is kept (the offsets still count).
fn stream_ttl_ms(config: &HistoryConfig) -> u64 {
    if config.max_age.is_zero() {
        24 * 60 * 60 * 1000
    } else {
        u64::try_from(config.max_age.as_micros().div_ceil(1000))
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_LUA_INT)
    }
}

/// Numbers a Lua script holds exactly (it has doubles only).
const MAX_LUA_INT: u64 = 1 << 53;

fn lua_int(n: impl TryInto<u64>) -> u64 {
    n.try_into().map_or(MAX_LUA_INT, |n| n.min(MAX_LUA_INT))
}

/// A fresh epoch: 16 hex digits drawn at random.
fn epoch_candidate() -> String {
    format!("{:016x}", random_node_id())
}

/// Removes a stream read's fence from the waiting ones when the read ends (or is dropped).
struct FenceGuard<'a> {
    fences: &'a Mutex<HashMap<u64, oneshot::Sender<()>>>,
    token: u64,
}

impl Drop for FenceGuard<'_> {
    fn drop(&mut self) {
        lock(self.fences).remove(&self.token);
    }
}

impl Shared {
    /// A failed stream operation: counted, logged (as unreachable when it is), and the reason.
    fn stream_failed(&self, what: &str, room: &str, e: &::redis::RedisError) -> StreamError {
        self.counters.stream_failed.fetch_add(1, Ordering::Relaxed);
        if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
        {
            self.unhealthy(what, e);
        } else {
            tracing::warn!(room, error = %e, "Redis refused the room stream's {what}");
        }
        // Not the URL: it may hold a password, and the reason may reach a client's error reply.
        StreamError::Unavailable(format!("Redis did not answer the {what}: {e}"))
    }

    pub(super) async fn append_stream(&self, append: Append<'_>) -> Result<Position, StreamError> {
        let config = append.config;
        let except = append.except.map(|c| c.0.to_string()).unwrap_or_default();
        let (head, tail) =
            publication_parts(self.node_num, STREAM_SEQ, KIND_STREAM, append.room, &except)
                .ok_or_else(|| {
                    StreamError::Unavailable(format!(
                        "the room name is too long for a publication ({} bytes)",
                        append.room.len()
                    ))
                })?;
        let [meta, stream] = stream_keys(&self.config.prefix, append.room);
        let mut script = self.scripts.append.prepare_invoke();
        script
            .key(&meta)
            .key(&stream)
            .arg(epoch_candidate())
            .arg(if config.keeps() {
                lua_int(config.max_messages)
            } else {
                0
            })
            .arg(lua_int(config.max_age.as_micros()))
            .arg(stream_ttl_ms(config))
            .arg(&self.keys.channel)
            .arg(head)
            .arg(tail)
            .arg(append.frame.prefix())
            .arg(append.frame.suffix());
        match script
            .invoke_async::<(String, u64)>(&mut self.conn.clone())
            .await
        {
            Ok((epoch, offset)) => {
                self.healthy_again();
                self.counters.appended.fetch_add(1, Ordering::Relaxed);
                self.counters.published.fetch_add(1, Ordering::Relaxed);
                Ok(Position {
                    epoch: Arc::from(epoch),
                    offset,
                })
            }
            Err(e) => Err(self.stream_failed("append", append.room, &e)),
        }
    }

    pub(super) async fn read_stream(
        &self,
        room: &str,
        range: ReadRange,
        limit: usize,
        config: &HistoryConfig,
    ) -> Result<StreamSlice, StreamError> {
        let token = self.fence_seq.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        lock(&self.fences).insert(token, tx);
        let _guard = FenceGuard {
            fences: &self.fences,
            token,
        };
        let (mode, n) = match range {
            ReadRange::After(after) => ("after", after.to_string()),
            ReadRange::Before(Some(before)) => ("before", before.to_string()),
            ReadRange::Before(None) => ("before", "-1".to_owned()),
        };
        let [meta, stream] = stream_keys(&self.config.prefix, room);
        let mut script = self.scripts.read.prepare_invoke();
        script
            .key(&meta)
            .key(&stream)
            .arg(epoch_candidate())
            .arg(stream_ttl_ms(config))
            .arg(lua_int(config.max_messages))
            .arg(lua_int(config.max_age.as_micros()))
            .arg(mode)
            .arg(n)
            .arg(lua_int(limit))
            .arg(&self.keys.channel)
            .arg(encode_fence(self.node_num, token));
        type Read = (String, u64, u64, Vec<(u64, Vec<u8>)>);
        let (epoch, last, first, raw) =
            match script.invoke_async::<Read>(&mut self.conn.clone()).await {
                Ok(read) => read,
                Err(e) => return Err(self.stream_failed("read", room, &e)),
            };
        self.healthy_again();
        let mut entries = Vec::with_capacity(raw.len());
        for (offset, frame) in raw {
            let frame = Utf8Bytes::try_from(Bytes::from(frame)).map_err(|_| {
                StreamError::Unavailable(format!(
                    "the stored message at offset {offset} of room {room:?} is not UTF-8 \
                     (written by something else than this broker?)"
                ))
            })?;
            entries.push((offset, frame));
        }
        // Messages appended before the read may still be on their way to this node; the hub
        // must have them (to drop them from the joiner's live frames) before the read's
        // result: the fence comes after them on the subscription.
        if tokio::time::timeout(self.config.response_timeout, rx)
            .await
            .is_err()
        {
            self.counters.fences_late.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                room,
                "the subscription did not bring a stream read's fence back in time (is it \
                 down?): a joiner may get a message twice"
            );
        }
        Ok(StreamSlice {
            epoch: Arc::from(epoch),
            last,
            first,
            entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stream_keys_live_as_long_as_the_history() {
        let config = |ms| HistoryConfig {
            max_age: Duration::from_millis(ms),
            ..HistoryConfig::default()
        };
        assert_eq!(stream_ttl_ms(&config(1500)), 1500);
        assert_eq!(stream_ttl_ms(&config(0)), 24 * 60 * 60 * 1000);
        let tiny = HistoryConfig {
            max_age: Duration::from_micros(10),
            ..HistoryConfig::default()
        };
        assert_eq!(stream_ttl_ms(&tiny), 1);
        assert_eq!(lua_int(usize::MAX), 1 << 53);
        assert_eq!(lua_int(1000u64), 1000);
    }
}
