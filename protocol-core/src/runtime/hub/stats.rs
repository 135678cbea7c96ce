//! The hub's counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// Counters a hub keeps; read them with [`Hub::stats`](super::Hub::stats).
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections registered since start.
    pub connections_opened: AtomicU64,
    /// Connections unregistered since start.
    pub connections_closed: AtomicU64,
    /// Frames queued for delivery (one per recipient).
    pub frames_out: AtomicU64,
    /// Messages received and dispatched.
    pub messages_in: AtomicU64,
    /// Error replies sent.
    pub errors: AtomicU64,
    /// TCP connections accepted by the runtime's accept loop (own listener or
    /// `WsServer::serve_router`, feature `axum`).
    pub sockets_accepted: AtomicU64,
    /// Of those, how many had `TCP_NODELAY` on when read back from the socket after setting it.
    pub sockets_nodelay: AtomicU64,
    /// Broker operations that failed (Redis unreachable, say), each answered from this node's
    /// own registry instead ([`BrokerError`](super::BrokerError)).
    pub broker_errors: AtomicU64,
    by_code: Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Stats {
    /// Count an error reply by its code.
    pub fn record_error(&self, code: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut by_code = self.by_code.lock().unwrap_or_else(PoisonError::into_inner);
        match by_code.get_mut(code) {
            Some(n) => *n += 1,
            None => {
                by_code.insert(code.to_owned(), 1);
            }
        }
    }

    /// Error replies sent, by code.
    pub fn errors_by_code(&self) -> std::collections::BTreeMap<String, u64> {
        self.by_code
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
