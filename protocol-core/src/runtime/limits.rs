//! The limits of a server and its connections, with safe defaults.

use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Limits of a server and its connections. Defaults are safe for the open internet; every
/// field has a setter on [`ServerBuilder`](crate::ServerBuilder).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// Time a client has to complete the HTTP upgrade (slowloris protection). Default 5 s.
    /// Each connection gets between 90% and all of it, spread by its port, so that connections
    /// opened together (a slowloris burst) are not all dropped in the same instant.
    pub handshake_timeout: Duration,
    /// Handshakes in progress at once; further connections are dropped. Default 1024.
    pub max_pending_handshakes: usize,
    /// Open connections in total; more get HTTP 503. Default 10 000.
    pub max_connections: usize,
    /// Open connections per identity; more get HTTP 429. Default 16.
    pub max_connections_per_identity: usize,
    /// Open connections per client address (the peer's, or the one trusted proxies forwarded);
    /// more get HTTP 429. Default 256.
    pub max_connections_per_address: usize,
    /// Loopback addresses are not counted per address (a reverse proxy on the same host looks
    /// like one address). Default true.
    pub exempt_loopback: bool,
    /// Largest message, after reassembling fragments; bigger closes with 1009. Default 64 KiB.
    pub max_message_size: usize,
    /// Read buffer per connection, and the most bytes one read takes from the socket. Default
    /// 512 bytes (tokio-tungstenite's is 128 KiB): every connection keeps it while idle, and it
    /// holds a few chat-sized frames; a frame larger than it is read in pieces of this size.
    pub read_buffer_size: usize,
    /// Most bytes a connection may have buffered for writing; the largest outgoing message is
    /// this minus the 16 KiB batch buffer. Only what is written is allocated. Default 4 MiB.
    pub max_write_buffer_size: usize,
    /// Frames queued per connection before the slow-consumer policy applies. Default 256.
    /// With a hub of your own ([`ServerBuilder::hub`](crate::ServerBuilder::hub)) left at this default, the hub's
    /// [`HubBuilder::queue_capacity`](crate::HubBuilder::queue_capacity) applies instead.
    pub queue_capacity: usize,
    /// Ping interval. Default 15 s.
    pub heartbeat_interval: Duration,
    /// Close a connection that sent nothing (not even a pong) for this long. Default 45 s.
    pub heartbeat_timeout: Duration,
    /// Messages per second per connection (token bucket refill). Default 50.
    pub rate_per_second: f64,
    /// Token bucket size. Default 100.
    pub rate_burst: u32,
    /// Consecutive rate-limited messages (each answered `rate_limited`) before closing with 1008.
    /// Default 20.
    pub rate_strikes: u32,
    /// Deadline for a handler to answer a message; past it the client gets a `timeout` error.
    /// Default 10 s.
    pub request_timeout: Duration,
    /// Time to flush a closing connection's queue. Default 2 s.
    pub close_timeout: Duration,
    /// Time connections get to finish their close handshake on shutdown. Default 5 s.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: Duration::from_secs(5),
            max_pending_handshakes: 1024,
            max_connections: 10_000,
            max_connections_per_identity: 16,
            max_connections_per_address: 256,
            exempt_loopback: true,
            max_message_size: 64 * 1024,
            read_buffer_size: 512,
            max_write_buffer_size: 4 << 20,
            queue_capacity: 256,
            heartbeat_interval: Duration::from_secs(15),
            heartbeat_timeout: Duration::from_secs(45),
            rate_per_second: 50.0,
            rate_burst: 100,
            rate_strikes: 20,
            request_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl Limits {
    /// The tungstenite configuration these limits imply.
    pub fn websocket_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_size)
            // Frames are fed in batches and flushed once per batch; tungstenite requires the
            // write buffer to stay below its maximum.
            .write_buffer_size((16 * 1024).min(self.max_write_buffer_size.max(2048) / 2))
            .max_write_buffer_size(self.max_write_buffer_size.max(2048))
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
    }
}
