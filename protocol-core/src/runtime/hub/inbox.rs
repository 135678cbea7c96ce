//! A connection without a socket: what a connection attached with [`Hub::attach`] received,
//! for testing handlers.

use std::sync::Arc;

use super::Hub;
use super::registry::{ConnEntry, ConnId};
use crate::protocol::Protocol;

/// What a connection attached with [`Hub::attach`] received.
pub struct Inbox<Out> {
    entry: Arc<ConnEntry>,
    hub: Hub<Out>,
}

impl<Out: Protocol> Inbox<Out> {
    /// The inbox of a registered connection.
    pub(in crate::runtime) fn new(entry: Arc<ConnEntry>, hub: Hub<Out>) -> Self {
        Inbox { entry, hub }
    }

    /// The next frame delivered, as text.
    pub fn try_recv_text(&mut self) -> Option<String> {
        match self.entry.outbox.try_next()? {
            crate::runtime::outbox::Next::Frame(f) => {
                Some(f.into_text().map(|t| t.to_string()).unwrap_or_default())
            }
            crate::runtime::outbox::Next::Close(code, reason) => {
                Some(format!("<close {code} {reason}>"))
            }
        }
    }

    /// The next message delivered, decoded (frames that do not decode are skipped).
    pub fn try_recv(&mut self) -> Option<Out> {
        while let Some(text) = self.try_recv_text() {
            if let Ok(msg) = crate::codec::decode::<Out>(&text) {
                return Some(msg);
            }
        }
        None
    }

    /// Everything delivered so far, decoded.
    pub fn drain(&mut self) -> Vec<Out> {
        std::iter::from_fn(|| self.try_recv()).collect()
    }

    /// The connection's id.
    pub fn conn_id(&self) -> ConnId {
        self.entry.id
    }

    /// Disconnect: leave every room (presence goes offline) and unregister.
    pub async fn disconnect(self) {
        self.hub.unregister(self.entry.id).await;
    }
}
