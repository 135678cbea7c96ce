//! A server's life (running, draining, aborting) and the handle that stops it.

use std::sync::Arc;

use tokio::sync::watch;

/// Where a server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunState {
    Running,
    Draining,
    Abort,
}

/// Stops a running server: no new connections, 1001 to every connection, queues drained
/// within the grace period.
#[derive(Clone)]
pub struct ShutdownHandle {
    pub(crate) state: Arc<watch::Sender<RunState>>,
}

impl ShutdownHandle {
    /// Begin a graceful shutdown; [`WsServer::serve`](crate::WsServer::serve) returns when it is complete.
    pub fn shutdown(&self) {
        self.state.send_if_modified(|s| {
            if *s == RunState::Running {
                *s = RunState::Draining;
                true
            } else {
                false
            }
        });
    }
}
