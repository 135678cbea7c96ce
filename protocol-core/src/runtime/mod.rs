//! The WebSocket runtime on tokio + tokio-tungstenite: accepting and admitting connections, the
//! per-connection loop and its outbox, the hub (registry, rooms, presence, brokers), room streams
//! and history, the typed client.

pub(crate) mod admit;
#[cfg(feature = "axum")]
pub mod axum;
pub mod client;
pub mod connection;
pub(crate) mod context;
pub mod history;
pub mod hub;
pub(crate) mod limits;
pub(crate) mod outbox;
pub(crate) mod rate;
#[cfg(feature = "redis")]
pub mod redis;
pub(crate) mod resume;
pub mod server;
pub(crate) mod shutdown;
pub mod socket;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "jwt")]
pub mod token;
pub(crate) mod transport;
pub(crate) mod writer;
