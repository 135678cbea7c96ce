//! Admission: who may open a connection, from where, and for how long. Every way to serve (the
//! runtime's own listener, the axum route, an upgraded stream handed to
//! [`WsServer::serve_websocket`](crate::WsServer::serve_websocket)) goes through the same
//! [`WsServer::admit`](crate::WsServer::admit), which hands out the [`Admission`] a connection
//! needs to be served: there is no way to serve a socket that was not admitted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use tokio_tungstenite::tungstenite::handshake::server::Request;

/// Who a connection is: the name handlers see ([`Context::identity`](crate::Context::identity)),
/// and when the credential it proved that with expires (the connection is closed then, with
/// close code 3000, unless it [renews](crate::Context::renew) it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    name: String,
    expires_at: Option<SystemTime>,
}

impl Identity {
    /// An identity whose credential does not expire.
    ///
    /// ```
    /// let id = protocol_core::Identity::new("alice");
    /// assert_eq!(id.name(), "alice");
    /// assert_eq!(id.expires(), None);
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        Identity {
            name: name.into(),
            expires_at: None,
        }
    }

    /// The same identity, valid until `at`.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When the credential expires, if it does.
    pub fn expires(&self) -> Option<SystemTime> {
        self.expires_at
    }
}

impl From<String> for Identity {
    fn from(name: String) -> Self {
        Identity::new(name)
    }
}

impl From<&str> for Identity {
    fn from(name: &str) -> Self {
        Identity::new(name)
    }
}

/// A connection that passed admission: its identity and the place it holds in the per-address
/// count (given back when the connection ends). Made only by
/// [`WsServer::admit`](crate::WsServer::admit).
#[derive(Debug)]
pub struct Admission {
    pub(crate) identity: Identity,
    pub(crate) address: Option<IpAddr>,
    pub(crate) _slot: Option<AddressSlot>,
}

impl Admission {
    /// Who was admitted.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The client's address (after trusted proxies), when the way of serving knows it.
    pub fn address(&self) -> Option<IpAddr> {
        self.address
    }
}

/// Open connections per client address.
#[derive(Debug, Default)]
pub(crate) struct AddressBook {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

impl AddressBook {
    /// Take a place for `ip` if it has fewer than `cap` connections.
    pub(crate) fn take(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<AddressSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = counts.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            book: Arc::clone(self),
            ip,
        })
    }

    #[cfg(test)]
    fn count(&self, ip: IpAddr) -> usize {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(&ip).copied().unwrap_or(0)
    }
}

/// One connection's place in the per-address count.
#[derive(Debug)]
pub(crate) struct AddressSlot {
    book: Arc<AddressBook>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self
            .book
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// The client's address: the peer's, or, when the peer is a trusted proxy, the last address in
/// `X-Forwarded-For` that is not itself a trusted proxy. A client can prepend anything to that
/// header, so only what trusted proxies appended counts.
pub(crate) fn client_address(
    peer: IpAddr,
    forwarded_for: Option<&str>,
    trusted: &[IpAddr],
) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in header.rsplit(',') {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            // Garbage from the client's side of the chain: stop at the last good hop.
            break;
        };
        client = ip;
        if !trusted.contains(&ip) {
            break;
        }
    }
    client
}

/// Why a handshake is refused: an HTTP status and a body saying why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// HTTP status code (401, 403, 429, 503, ...).
    pub status: u16,
    /// Text explaining why.
    pub reason: String,
}

impl Rejection {
    /// A rejection with a status and a reason.
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Rejection {
            status,
            reason: reason.into(),
        }
    }
}

/// Decides who a connecting client is, from its HTTP upgrade request.
pub type Authenticate = dyn Fn(&Request) -> Result<Identity, Rejection> + Send + Sync;

/// The subprotocol a browser names before its token (`new WebSocket(url, ["bearer", jwt])`);
/// a browser fails the connection unless the server answers with one it offered.
pub(crate) const BEARER: &str = "bearer";

/// The subprotocols a request offers (`Sec-WebSocket-Protocol`, every header, comma-separated),
/// in order.
pub(crate) fn offered_protocols(
    headers: &tokio_tungstenite::tungstenite::http::HeaderMap,
) -> impl Iterator<Item = &str> {
    headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// Whether the request offers the `bearer` subprotocol.
pub(crate) fn offers_bearer(headers: &tokio_tungstenite::tungstenite::http::HeaderMap) -> bool {
    offered_protocols(headers).any(|p| p == BEARER)
}

/// Is this request's Origin acceptable: absent, same as Host, or allowed?
pub(crate) fn origin_allowed(req: &Request, allowed: &[String]) -> bool {
    let Some(origin) = req.headers().get("origin").and_then(|o| o.to_str().ok()) else {
        return true;
    };
    if allowed.iter().any(|a| a == origin || a == "*") {
        return true;
    }
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxy = ip("10.0.0.1");
        let trusted = [proxy, ip("10.0.0.2")];
        // Not a proxy: the header is the client's word, ignored.
        assert_eq!(
            client_address(ip("203.0.113.9"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        // A proxy without the header: the proxy is the client.
        assert_eq!(client_address(proxy, None, &trusted), proxy);
        // The last hop that is not a trusted proxy is the client; what it prepended is not.
        assert_eq!(
            client_address(proxy, Some("6.6.6.6, 198.51.100.7, 10.0.0.2"), &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(proxy, Some("garbage, 198.51.100.7"), &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(client_address(proxy, Some("not an ip"), &trusted), proxy);
    }

    #[test]
    fn address_slots_are_given_back() {
        let book = Arc::new(AddressBook::default());
        let a = ip("192.0.2.1");
        let first = book.take(a, 2).unwrap();
        let second = book.take(a, 2).unwrap();
        assert!(book.take(a, 2).is_none());
        assert!(book.take(ip("192.0.2.2"), 2).is_some());
        drop(first);
        assert_eq!(book.count(a), 1);
        let third = book.take(a, 2);
        assert!(third.is_some());
        drop((second, third));
        assert_eq!(book.count(a), 0);
    }
}
