//! Room streams: messages declared `#[protocol(stream)]` are numbered per room (`offset` 1, 2,
//! 3, ... with no gaps, the same on every node) and kept in a bounded history, so a client that
//! lost its connection can resume where it left off, and one that opens a room can read what
//! was said.
//!
//! The pieces:
//! - [`Context::publish`](crate::Context::publish) stores a stream message and delivers it; the
//!   message's `offset` field is set by the store, so a stored message cannot reach the wire
//!   without its position ([`Hub::send`](crate::Hub::send) refuses stream messages).
//! - [`Context::join_stream`](crate::Context::join_stream) joins a room and, given a [`Since`],
//!   replays what the connection missed, then sends the app's "joined" message, then live
//!   messages: no gap, no duplicate. When the history cannot cover the gap (the epoch changed,
//!   or `offset + 1` is no longer stored) it says so: [`StreamJoin::recovered`] is `Some(false)`.
//! - [`Context::history`](crate::Context::history): the latest messages, or those before an
//!   offset.
//!
//! Where the stream lives is the [`Broker`](crate::Broker)'s business: in this node's memory
//! ([`InMemoryBroker`](crate::InMemoryBroker), the default) or in Redis.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub use crate::protocol::Since;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::error::{ErrorCode, ErrorReply};

/// A message's place in its room's stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Position {
    /// The stream's epoch.
    pub epoch: Arc<str>,
    /// The message's offset.
    pub offset: u64,
}

/// How much history a room keeps. Both limits apply; 0 for either keeps none (offsets are
/// still assigned, so clients can tell they missed something).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryConfig {
    /// Messages kept per room. Default 1,000.
    pub max_messages: usize,
    /// How long a message is kept. Default 24 hours.
    pub max_age: Duration,
    /// Bytes all rooms' histories may take in this node's memory (the in-memory store; Redis
    /// has its own `maxmemory`); past it, the room written to least recently is forgotten
    /// whole (its epoch changes). Default 256 MiB.
    pub max_memory_bytes: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            max_messages: 1000,
            max_age: Duration::from_secs(24 * 60 * 60),
            max_memory_bytes: 256 << 20,
        }
    }
}

impl HistoryConfig {
    /// Whether anything is kept.
    pub fn keeps(&self) -> bool {
        self.max_messages > 0 && !self.max_age.is_zero()
    }
}

/// A stream message encoded with its offset left out: the frame is `prefix`, the offset in
/// decimal, `suffix`. The store fills in the offset it assigns, so the encoder runs once and
/// outside any lock (and a Redis script can assemble the frame itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFrame {
    prefix: String,
    suffix: String,
}

/// The placeholder offset a stream message is encoded with before the real one is known.
const PLACEHOLDER: u64 = u64::MAX;

impl StreamFrame {
    /// Split `frame`, encoded with the offset [`u64::MAX`], at the offset field `field`.
    /// `None` when the field with that value is not found exactly once (a nested field of the
    /// same name holding `u64::MAX` would make the place ambiguous).
    pub fn split(frame: &str, field: &str) -> Option<StreamFrame> {
        let needle = format!("{}:{PLACEHOLDER}", serde_json::to_string(field).ok()?);
        let at = frame.find(&needle)?;
        if frame[at + needle.len()..].contains(&needle) {
            return None;
        }
        let value_at = at + needle.len() - PLACEHOLDER.to_string().len();
        Some(StreamFrame {
            prefix: frame[..value_at].to_owned(),
            suffix: frame[at + needle.len()..].to_owned(),
        })
    }

    /// The frame with `offset` filled in.
    pub fn with_offset(&self, offset: u64) -> Utf8Bytes {
        let mut s = String::with_capacity(self.prefix.len() + 20 + self.suffix.len());
        s.push_str(&self.prefix);
        // Writing to a String cannot fail.
        let _ = std::fmt::Write::write_fmt(&mut s, format_args!("{offset}"));
        s.push_str(&self.suffix);
        Utf8Bytes::from(s)
    }

    /// The frame up to the offset's digits.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The frame after the offset's digits.
    pub fn suffix(&self) -> &str {
        &self.suffix
    }
}

/// Which stored messages to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadRange {
    /// Those with an offset above this one, oldest first (a resume).
    After(u64),
    /// The latest ones with an offset below this one (`None`: the latest of all), returned
    /// oldest first (a history page).
    Before(Option<u64>),
}

/// What a read found: the stream's epoch and bounds, and the messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSlice {
    /// The stream's epoch.
    pub epoch: Arc<str>,
    /// The latest offset assigned (0: none yet).
    pub last: u64,
    /// The oldest offset still stored (`last + 1` when none is).
    pub first: u64,
    /// The messages read, `(offset, frame)`, oldest first.
    pub entries: Vec<(u64, Utf8Bytes)>,
}

/// Why a stream operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The message is not a stream message: send it with `broadcast`.
    #[error("`{0}` is not a stream message (`#[protocol(stream)]`): broadcast it instead")]
    NotStream(&'static str),
    /// The message could not be encoded, or its offset field not found in the encoding.
    #[error("the stream message could not be encoded with its offset: {0}")]
    Encode(String),
    /// The broker keeps no streams.
    #[error("this broker keeps no room streams")]
    Unsupported,
    /// The store did not answer (Redis unreachable, say).
    #[error("the room's stream is unavailable: {0}")]
    Unavailable(String),
    /// A resume or history position that cannot be right for this room.
    #[error("{message}")]
    BadPosition {
        /// What is wrong, with the values allowed.
        message: String,
        /// Which field of the request (JSON pointer relative to the message, e.g. `/since/offset`).
        pointer: &'static str,
    },
}

impl From<StreamError> for ErrorReply {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::BadPosition { message, pointer } => ErrorReply::invalid(pointer, message),
            other => ErrorReply::new(ErrorCode::INTERNAL, other.to_string()),
        }
    }
}

/// What [`Context::join_stream`](crate::Context::join_stream) did: the room's position after
/// the join and whether a resume recovered everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamJoin {
    /// The room's epoch.
    pub epoch: Arc<str>,
    /// The room's latest offset when the joiner went live: every later message reaches it
    /// live, every earlier one was replayed or is in the history.
    pub offset: u64,
    /// `None` for a fresh join; for a resume, whether every message after `since` was
    /// replayed (`false`: the epoch differs or the history no longer covers the gap; fetch the
    /// history).
    pub recovered: Option<bool>,
    /// How many messages were replayed.
    pub replayed: usize,
}

/// A page of a room's history, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct History<Out> {
    /// The room's epoch.
    pub epoch: Arc<str>,
    /// The room's latest offset.
    pub last: u64,
    /// `(offset, message)`, oldest first.
    pub messages: Vec<(u64, Out)>,
}

/// What a resume read means for a connection that had `since`: which stored messages to
/// replay, or that it cannot recover. Pure, so the rules are tested on their own.
pub(crate) fn resume_plan(
    since: &Since,
    slice: &StreamSlice,
    max_replay: usize,
) -> Result<bool, StreamError> {
    if *since.epoch != *slice.epoch {
        return Ok(false);
    }
    if since.offset > slice.last {
        return Err(StreamError::BadPosition {
            message: format!(
                "offset {} is past the room's latest offset {} in epoch {:?}",
                since.offset, slice.last, since.epoch
            ),
            pointer: "/since/offset",
        });
    }
    let gap = slice.last - since.offset;
    let covered = gap == 0
        || (since.offset + 1 >= slice.first
            && usize::try_from(gap).is_ok_and(|g| g <= max_replay)
            && slice.entries.first().map(|e| e.0) == Some(since.offset + 1)
            && slice.entries.last().map(|e| e.0) == Some(slice.last));
    Ok(covered)
}

/// The live frames buffered while a joining connection's stream was read that it still needs,
/// in order: those above `last`, the latest offset the read saw (the ones at or below it were
/// published before the read, and are either in the replay or before the joiner's start).
pub(crate) fn live_after(buffered: Vec<(u64, Utf8Bytes)>, last: u64) -> Vec<Utf8Bytes> {
    let mut live: Vec<(u64, Utf8Bytes)> = buffered.into_iter().filter(|(o, _)| *o > last).collect();
    // Live frames of one room arrive in offset order; sorting keeps a broker that reorders
    // from producing a wrong order here, and drops nothing.
    live.sort_by_key(|(o, _)| *o);
    live.dedup_by_key(|(o, _)| *o);
    live.into_iter().map(|(_, f)| f).collect()
}

/// Rooms' streams in this node's memory: what [`InMemoryBroker`](crate::InMemoryBroker) keeps.
#[derive(Debug)]
pub struct MemoryStreams {
    inner: Mutex<Streams>,
    boot: String,
}

#[derive(Debug, Default)]
struct Streams {
    rooms: HashMap<Arc<str>, Log>,
    /// Bytes held, all rooms.
    bytes: usize,
    /// Appends and reads so far: the clock of `lru`.
    tick: u64,
    /// `tick` of each room's last use -> room: the least recently used first.
    lru: BTreeMap<u64, Arc<str>>,
    /// Streams created so far: each one's epoch is new.
    generation: u64,
}

#[derive(Debug)]
struct Log {
    epoch: Arc<str>,
    last: u64,
    entries: VecDeque<Entry>,
    bytes: usize,
    used: u64,
}

#[derive(Debug)]
struct Entry {
    offset: u64,
    at: Instant,
    frame: Utf8Bytes,
}

/// Bytes a stream costs beyond its frames (its name, map slots, bookkeeping).
const LOG_OVERHEAD: usize = 160;
/// Bytes an entry costs beyond its frame.
const ENTRY_OVERHEAD: usize = 48;

impl Default for MemoryStreams {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStreams {
    /// Empty; epochs start with a value drawn at random, so they differ from any earlier
    /// process's.
    pub fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        MemoryStreams {
            inner: Mutex::new(Streams::default()),
            boot: format!("{:016x}", h.finish()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Streams> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes held by all rooms' histories (frames plus bookkeeping).
    pub fn memory_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Append a message to `room`'s stream and hand it to `deliver` (with the room and its
    /// offset, while the stream is locked, so delivery order is offset order).
    pub fn append(
        &self,
        room: &str,
        frame: StreamFrame,
        config: &HistoryConfig,
        deliver: impl FnOnce(Arc<str>, u64, &Utf8Bytes),
    ) -> Position {
        let mut s = self.lock();
        let room = s.open(&self.boot, room, config);
        let now = Instant::now();
        let (position, frame, delta) = {
            let log = s.rooms.get_mut(&room).expect("opened above");
            let mut delta = log.expire(config, now);
            log.last += 1;
            let offset = log.last;
            let frame = frame.with_offset(offset);
            if config.keeps() {
                let cost = frame.len() + ENTRY_OVERHEAD;
                log.entries.push_back(Entry {
                    offset,
                    at: now,
                    frame: frame.clone(),
                });
                log.bytes += cost;
                delta += isize::try_from(cost).unwrap_or(isize::MAX);
                while log.entries.len() > config.max_messages {
                    delta -= log.pop_front();
                }
            }
            (
                Position {
                    epoch: Arc::clone(&log.epoch),
                    offset,
                },
                frame,
                delta,
            )
        };
        s.bytes = s.bytes.saturating_add_signed(delta);
        s.evict(config, &room);
        deliver(room, position.offset, &frame);
        position
    }

    /// Read stored messages (creating the room's stream when it has none, so its epoch is the
    /// one later messages get).
    pub fn read(
        &self,
        room: &str,
        range: ReadRange,
        limit: usize,
        config: &HistoryConfig,
    ) -> StreamSlice {
        let mut s = self.lock();
        let room = s.open(&self.boot, room, config);
        let log = s.rooms.get_mut(&room).expect("opened above");
        let delta = log.expire(config, Instant::now());
        let first = log.entries.front().map_or(log.last + 1, |e| e.offset);
        let entries: Vec<(u64, Utf8Bytes)> = match range {
            ReadRange::After(after) => log
                .entries
                .iter()
                .skip_while(|e| e.offset <= after)
                .take(limit)
                .map(|e| (e.offset, e.frame.clone()))
                .collect(),
            ReadRange::Before(before) => {
                let end = before.unwrap_or(u64::MAX);
                let upto = log.entries.partition_point(|e| e.offset < end);
                let start = upto.saturating_sub(limit);
                log.entries
                    .range(start..upto)
                    .map(|e| (e.offset, e.frame.clone()))
                    .collect()
            }
        };
        let slice = StreamSlice {
            epoch: Arc::clone(&log.epoch),
            last: log.last,
            first,
            entries,
        };
        s.bytes = s.bytes.saturating_add_signed(delta);
        slice
    }
}

impl Streams {
    /// The room's stream, created with a new epoch when it has none; marks it used.
    fn open(&mut self, boot: &str, room: &str, config: &HistoryConfig) -> Arc<str> {
        self.tick += 1;
        let tick = self.tick;
        if let Some((key, log)) = self.rooms.get_key_value(room) {
            let key = Arc::clone(key);
            let old = log.used;
            self.lru.remove(&old);
            self.lru.insert(tick, Arc::clone(&key));
            self.rooms.get_mut(room).expect("found above").used = tick;
            return key;
        }
        self.generation += 1;
        let key: Arc<str> = Arc::from(room);
        self.rooms.insert(
            Arc::clone(&key),
            Log {
                epoch: Arc::from(format!("{boot}-{:x}", self.generation)),
                last: 0,
                entries: VecDeque::new(),
                bytes: LOG_OVERHEAD + room.len(),
                used: tick,
            },
        );
        self.bytes += LOG_OVERHEAD + room.len();
        self.lru.insert(tick, Arc::clone(&key));
        self.evict(config, &key);
        key
    }

    /// Forget the least recently used rooms (never `keep`) until the memory limit holds.
    fn evict(&mut self, config: &HistoryConfig, keep: &Arc<str>) {
        while self.bytes > config.max_memory_bytes {
            let Some((&tick, room)) = self.lru.iter().find(|(_, r)| *r != keep) else {
                return;
            };
            let room = Arc::clone(room);
            self.lru.remove(&tick);
            if let Some(log) = self.rooms.remove(&room) {
                self.bytes = self.bytes.saturating_sub(log.bytes);
                tracing::debug!(room = %room, "room history forgotten: the history memory limit is reached");
            }
        }
    }
}

impl Log {
    /// Drop messages older than the age limit; the change in bytes held.
    fn expire(&mut self, config: &HistoryConfig, now: Instant) -> isize {
        let mut delta = 0;
        while self
            .entries
            .front()
            .is_some_and(|e| now.duration_since(e.at) >= config.max_age)
        {
            delta -= self.pop_front();
        }
        delta
    }

    fn pop_front(&mut self) -> isize {
        let Some(e) = self.entries.pop_front() else {
            return 0;
        };
        let cost = e.frame.len() + ENTRY_OVERHEAD;
        self.bytes -= cost;
        isize::try_from(cost).unwrap_or(isize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn slice(epoch: &str, first: u64, last: u64) -> StreamSlice {
        StreamSlice {
            epoch: Arc::from(epoch),
            last,
            first,
            entries: (first..=last)
                .map(|o| (o, Utf8Bytes::from(o.to_string())))
                .collect(),
        }
    }

    fn since(epoch: &str, offset: u64) -> Since {
        Since {
            epoch: epoch.to_owned(),
            offset,
        }
    }

    #[test]
    fn frames_split_at_their_offset_only() {
        let f = StreamFrame::split(
            r#"{"type":"message","offset":18446744073709551615,"text":"\"offset\":18446744073709551615"}"#,
            "offset",
        )
        .expect("found once");
        assert_eq!(
            &*f.with_offset(7),
            r#"{"type":"message","offset":7,"text":"\"offset\":18446744073709551615"}"#
        );
        assert!(StreamFrame::split(r#"{"offset":3}"#, "offset").is_none());
        assert!(
            StreamFrame::split(
                r#"{"offset":18446744073709551615,"x":{"offset":18446744073709551615}}"#,
                "offset"
            )
            .is_none()
        );
    }

    #[test]
    fn resume_rules() {
        let s = slice("e", 5, 9);
        assert_eq!(resume_plan(&since("e", 4), &s, 100), Ok(true));
        assert_eq!(resume_plan(&since("e", 9), &s, 100), Ok(true));
        assert_eq!(resume_plan(&since("e", 3), &s, 100), Ok(false), "6 is gone");
        assert_eq!(resume_plan(&since("other", 4), &s, 100), Ok(false));
        assert_eq!(
            resume_plan(&since("e", 4), &s, 3),
            Ok(false),
            "gap over the cap"
        );
        let err = resume_plan(&since("e", 10), &s, 100).unwrap_err();
        assert!(matches!(
            err,
            StreamError::BadPosition {
                pointer: "/since/offset",
                ..
            }
        ));
        assert!(err.to_string().contains("latest offset 9"), "{err}");
        // Nothing stored, nothing missed.
        assert_eq!(
            resume_plan(&since("e", 0), &slice("e", 1, 0), 100),
            Ok(true)
        );
    }

    fn frames(v: &[Utf8Bytes]) -> Vec<u64> {
        v.iter().map(|f| f.parse().expect("offset")).collect()
    }

    proptest! {
        /// However the live messages interleave with the join's steps, the joiner gets every
        /// offset after `since` exactly once, in order.
        #[test]
        fn replay_and_live_merge_without_gap_or_duplicate(
            before in 0u64..30,
            since_off in 0u64..30,
            during_read in 0u64..20,
            after_read in 0u64..20,
        ) {
            let since_off = since_off.min(before);
            let streams = MemoryStreams::new();
            let config = HistoryConfig::default();
            struct Sink(Mutex<Vec<(u64, Utf8Bytes)>>, std::sync::atomic::AtomicBool);
            impl Sink {
                fn deliver(&self, offset: u64, frame: &Utf8Bytes) {
                    if self.1.load(std::sync::atomic::Ordering::Relaxed) {
                        self.0.lock().unwrap().push((offset, frame.clone()));
                    }
                }
            }
            let sink = Sink(Mutex::new(Vec::new()), false.into());
            let publish = |n: u64| for _ in 0..n {
                let frame = StreamFrame { prefix: String::new(), suffix: String::new() };
                streams.append("r", frame, &config, |_, offset, frame| sink.deliver(offset, frame));
            };
            publish(before);
            // The joiner is registered: live frames from now on are buffered.
            sink.1.store(true, std::sync::atomic::Ordering::Relaxed);
            publish(during_read);
            let s = streams.read("r", ReadRange::After(since_off), config.max_messages, &config);
            publish(after_read);
            let epoch = s.epoch.to_string();
            prop_assert_eq!(resume_plan(&since(&epoch, since_off), &s, config.max_messages), Ok(true));
            let last = s.last;
            let mut got: Vec<Utf8Bytes> = s.entries.into_iter().map(|(_, f)| f).collect();
            got.extend(live_after(sink.0.lock().unwrap().clone(), last));
            let want: Vec<u64> = (since_off + 1..=before + during_read + after_read).collect();
            prop_assert_eq!(frames(&got), want);
        }
    }

    #[test]
    fn history_is_bounded_by_count_age_and_memory() {
        let streams = MemoryStreams::new();
        let config = HistoryConfig {
            max_messages: 10,
            ..HistoryConfig::default()
        };
        let frame = || StreamFrame::split(r#"{"offset":18446744073709551615}"#, "offset").unwrap();
        for _ in 0..25 {
            streams.append("a", frame(), &config, |_, _, _| {});
        }
        let s = streams.read("a", ReadRange::After(0), 1000, &config);
        assert_eq!((s.first, s.last, s.entries.len()), (16, 25, 10));
        let page = streams.read("a", ReadRange::Before(Some(20)), 3, &config);
        assert_eq!(
            page.entries.iter().map(|e| e.0).collect::<Vec<_>>(),
            [17, 18, 19]
        );
        assert_eq!(&*page.entries[0].1, r#"{"offset":17}"#);
        let latest = streams.read("a", ReadRange::Before(None), 2, &config);
        assert_eq!(
            latest.entries.iter().map(|e| e.0).collect::<Vec<_>>(),
            [24, 25]
        );

        let aged = HistoryConfig {
            max_age: Duration::ZERO,
            ..config.clone()
        };
        streams.append("b", frame(), &aged, |_, _, _| {});
        let b = streams.read("b", ReadRange::After(0), 10, &aged);
        assert_eq!(
            (b.first, b.last, b.entries.len()),
            (2, 1, 0),
            "nothing kept, offset still counted"
        );

        // Memory: room "a" is forgotten (new epoch) once the limit is reached by other rooms.
        let epoch_a = s.epoch.clone();
        let tight = HistoryConfig {
            max_memory_bytes: 2_000,
            ..config
        };
        for i in 0..20 {
            streams.append(&format!("r{i}"), frame(), &tight, |_, _, _| {});
        }
        assert!(
            streams.memory_bytes() <= 2_000,
            "{}",
            streams.memory_bytes()
        );
        let again = streams.read("a", ReadRange::After(0), 10, &tight);
        assert_ne!(again.epoch, epoch_a);
        assert_eq!(again.last, 0);
    }
}
