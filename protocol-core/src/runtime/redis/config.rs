//! How a Redis broker connects and what it tolerates: [`RedisConfig`] and its builder.

use std::time::Duration;

/// How a [`RedisBroker`](super::RedisBroker) connects and what it tolerates.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// Prefix of every key and of the channel: nodes with the same prefix share rooms.
    /// Default `"protocol"`.
    pub prefix: String,
    /// How soon after a node dies the others remove its members and send offline presence.
    /// Default 10 s.
    pub dead_node_after: Duration,
    /// How long a Redis command may take before it counts as failed. Default 2 s.
    pub response_timeout: Duration,
    /// Publications queued while Redis is slow or unreachable, at most. Default 10,000.
    pub max_queued_frames: usize,
    /// Bytes of queued publications, at most. Default 16 MiB.
    pub max_queued_bytes: usize,
    /// Longest wait between reconnection attempts. Default 5 s.
    pub max_backoff: Duration,
}

impl RedisConfig {
    /// The defaults, with this URL.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            prefix: "protocol".to_owned(),
            dead_node_after: Duration::from_secs(10),
            response_timeout: Duration::from_secs(2),
            max_queued_frames: 10_000,
            max_queued_bytes: 16 << 20,
            max_backoff: Duration::from_secs(5),
        }
    }

    /// Use another key prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Detect dead nodes within this time (at least 600 ms).
    pub fn dead_node_after(mut self, after: Duration) -> Self {
        self.dead_node_after = after.max(Duration::from_millis(600));
        self
    }
}
