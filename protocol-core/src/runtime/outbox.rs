//! A connection's bounded outgoing queue, shared by everyone who sends to it and drained by the
//! connection's writer. Frames are shared bytes: a broadcast is serialised once and the
//! same buffer sits in every recipient's queue.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

/// What happens when a connection's outgoing queue is full (its peer reads too slowly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SlowConsumerPolicy {
    /// Close the connection with 1008 "slow consumer" (the default): others never wait for it.
    #[default]
    Close,
    /// Drop the oldest queued frame to make room, and count the drop.
    DropOldest,
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is closed or closing.
    #[error("the connection is closed")]
    Closed,
    /// The queue was full and the policy is to close the connection.
    #[error("the connection's outgoing queue is full (slow consumer); it is being closed")]
    SlowConsumer,
    /// The message could not be encoded.
    #[error("the message could not be encoded")]
    Encode,
    /// A stream message (`#[protocol(stream)]`) sent to a room as a plain broadcast: it must
    /// be published (`Context::publish`), which stores it and gives it its offset.
    #[error(
        "a stream message must be published (Context::publish), not broadcast: it needs its offset"
    )]
    StreamMessage,
}

/// A failed push or broadcast inside a handler answers the message with `internal_error`, so
/// `cx.push(&msg)?` works in handlers that return `Result<_, ErrorReply>`.
///
/// ```
/// use protocol_core::{ErrorReply, SendError};
///
/// let e = ErrorReply::from(SendError::Closed);
/// assert_eq!((e.code(), e.message()), ("internal_error", "the connection is closed"));
/// ```
impl From<SendError> for crate::ErrorReply {
    fn from(e: SendError) -> Self {
        crate::ErrorReply::new(crate::ErrorCode::INTERNAL, e.to_string())
    }
}

/// What the writer takes next.
#[derive(Debug, PartialEq)]
pub(crate) enum Next {
    Frame(Message),
    Close(u16, String),
}

struct State {
    queue: VecDeque<Message>,
    /// Replayed frames queued beyond the capacity ([`Outbox::push_replay`]), not yet taken:
    /// the capacity grows by as many while they drain.
    replay: usize,
    close: Option<(u16, String)>,
    closed: bool,
    /// A heartbeat ping is due: sent ahead of the queue, outside its capacity.
    ping: bool,
}

impl State {
    /// The next frame to write: a due ping first, then the queue.
    fn take_frame(&mut self) -> Option<Message> {
        if std::mem::take(&mut self.ping) {
            return Some(Message::Ping(Default::default()));
        }
        let frame = self.queue.pop_front()?;
        self.replay = self.replay.saturating_sub(1);
        Some(frame)
    }
}

/// The queue itself.
pub(crate) struct Outbox {
    state: Mutex<State>,
    notify: Notify,
    /// Signals the connection's reader that a close was requested (a slow consumer, say), so it
    /// stops at once rather than at its next periodic check. Only the reader waits on it.
    closing: Notify,
    capacity: usize,
    policy: SlowConsumerPolicy,
    dropped: AtomicU64,
}

impl Outbox {
    pub(crate) fn new(capacity: usize, policy: SlowConsumerPolicy) -> Self {
        Outbox {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                replay: 0,
                close: None,
                closed: false,
                ping: false,
            }),
            notify: Notify::new(),
            closing: Notify::new(),
            capacity: capacity.max(1),
            policy,
            dropped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue inconsistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queue a frame without waiting.
    pub(crate) fn push(&self, frame: Message) -> Result<(), SendError> {
        let mut st = self.lock();
        if st.closed || st.close.is_some() {
            return Err(SendError::Closed);
        }
        if st.queue.len() >= self.capacity + st.replay {
            match self.policy {
                SlowConsumerPolicy::Close => {
                    st.close = Some((1008, "slow consumer".to_owned()));
                    st.queue.clear();
                    drop(st);
                    self.notify.notify_one();
                    self.closing.notify_one();
                    return Err(SendError::SlowConsumer);
                }
                SlowConsumerPolicy::DropOldest => {
                    st.queue.pop_front();
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let was_empty = st.queue.is_empty();
        st.queue.push_back(frame);
        drop(st);
        // The writer only waits after finding the queue empty: waking it for every frame of a
        // backlog would cost each broadcast recipient an atomic round trip for nothing.
        if was_empty {
            self.notify.notify_one();
        }
        Ok(())
    }

    /// Queue frames a resume replays: beyond the capacity (the replay is bounded by the
    /// history), which grows by as many until the writer has taken them, so live frames behind
    /// the replay do not find the queue full.
    pub(crate) fn push_replay(
        &self,
        frames: impl IntoIterator<Item = Message>,
    ) -> Result<(), SendError> {
        let mut st = self.lock();
        if st.closed || st.close.is_some() {
            return Err(SendError::Closed);
        }
        let was_empty = st.queue.is_empty();
        for frame in frames {
            st.queue.push_back(frame);
            st.replay += 1;
        }
        let now_empty = st.queue.is_empty();
        drop(st);
        if was_empty && !now_empty {
            self.notify.notify_one();
        }
        Ok(())
    }

    /// Ask the writer to send a heartbeat ping next, ahead of what is queued and outside the
    /// capacity (the connection's reader keeps the one timer of the connection and calls this
    /// when a ping is due). Nothing once closing; a ping still due is not doubled.
    pub(crate) fn ping(&self) {
        let mut st = self.lock();
        if st.closed || st.close.is_some() || st.ping {
            return;
        }
        st.ping = true;
        let was_empty = st.queue.is_empty();
        drop(st);
        // As in `push`: a writer that has frames queued takes the ping with them.
        if was_empty {
            self.notify.notify_one();
        }
    }

    /// Ask the writer to send a close frame after what is queued (`drain`) or at once.
    pub(crate) fn close(&self, code: u16, reason: &str, drain: bool) {
        let mut st = self.lock();
        if st.close.is_none() && !st.closed {
            if !drain {
                st.queue.clear();
                st.ping = false;
            }
            st.close = Some((code, reason.to_owned()));
        }
        drop(st);
        self.notify.notify_one();
        self.closing.notify_one();
    }

    /// No more frames will be taken (the writer is gone).
    pub(crate) fn mark_closed(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.queue.clear();
        st.ping = false;
        drop(st);
        self.notify.notify_one();
        self.closing.notify_one();
    }

    /// Completes once a close has been requested or the writer is gone (for the one reader of
    /// this connection; a request made while it was not waiting is kept for it).
    pub(crate) async fn closing(&self) {
        self.closing.notified().await;
    }

    /// Whether a close was requested or the writer is gone.
    /// The close asked for, if any.
    pub(crate) fn close_reason(&self) -> Option<(u16, String)> {
        self.lock().close.clone()
    }

    pub(crate) fn is_closing(&self) -> bool {
        let st = self.lock();
        st.closed || st.close.is_some()
    }

    /// Frames dropped by the drop-oldest policy.
    #[cfg(test)]
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The next frame, or the close, waiting for one; `None` once closed and empty.
    pub(crate) async fn next(&self) -> Option<Next> {
        loop {
            let notified = self.notify.notified();
            {
                let mut st = self.lock();
                if let Some(frame) = st.take_frame() {
                    return Some(Next::Frame(frame));
                }
                if let Some((code, reason)) = st.close.take() {
                    st.closed = true;
                    return Some(Next::Close(code, reason));
                }
                if st.closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Take a frame if one is queued, without waiting.
    pub(crate) fn try_next(&self) -> Option<Next> {
        let mut st = self.lock();
        if let Some(frame) = st.take_frame() {
            return Some(Next::Frame(frame));
        }
        st.close.take().map(|(code, reason)| {
            st.closed = true;
            Next::Close(code, reason)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Message {
        Message::Text(s.into())
    }

    #[test]
    fn close_policy_closes_when_full() {
        let o = Outbox::new(2, SlowConsumerPolicy::Close);
        o.push(text("a")).unwrap();
        o.push(text("b")).unwrap();
        assert_eq!(o.push(text("c")), Err(SendError::SlowConsumer));
        assert_eq!(
            o.try_next(),
            Some(Next::Close(1008, "slow consumer".into()))
        );
        assert_eq!(o.push(text("d")), Err(SendError::Closed));
    }

    #[test]
    fn drop_oldest_keeps_the_newest() {
        let o = Outbox::new(2, SlowConsumerPolicy::DropOldest);
        for f in ["a", "b", "c"] {
            o.push(text(f)).unwrap();
        }
        assert_eq!(o.dropped(), 1);
        assert_eq!(o.try_next(), Some(Next::Frame(text("b"))));
        assert_eq!(o.try_next(), Some(Next::Frame(text("c"))));
        assert_eq!(o.try_next(), None);
    }

    #[test]
    fn a_ping_goes_first_and_outside_the_capacity() {
        let o = Outbox::new(1, SlowConsumerPolicy::Close);
        o.push(text("a")).unwrap();
        o.ping();
        o.ping();
        assert_eq!(
            o.try_next(),
            Some(Next::Frame(Message::Ping(Default::default())))
        );
        assert_eq!(o.try_next(), Some(Next::Frame(text("a"))));
        assert_eq!(o.try_next(), None);
        o.close(1001, "going away", false);
        o.ping();
        assert_eq!(o.try_next(), Some(Next::Close(1001, "going away".into())));
        assert_eq!(o.try_next(), None);
    }

    #[tokio::test]
    async fn a_ping_wakes_a_waiting_writer() {
        let o = std::sync::Arc::new(Outbox::new(4, SlowConsumerPolicy::Close));
        let waiting = tokio::spawn({
            let o = std::sync::Arc::clone(&o);
            async move { o.next().await }
        });
        tokio::task::yield_now().await;
        o.ping();
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(next, Some(Next::Frame(Message::Ping(Default::default()))));
    }

    #[tokio::test]
    async fn drains_before_closing() {
        let o = Outbox::new(4, SlowConsumerPolicy::Close);
        o.push(text("a")).unwrap();
        o.close(1001, "going away", true);
        assert_eq!(o.next().await, Some(Next::Frame(text("a"))));
        assert_eq!(o.next().await, Some(Next::Close(1001, "going away".into())));
        assert_eq!(o.next().await, None);
    }
}
