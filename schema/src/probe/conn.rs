//! A blocking WebSocket client over `std::net::TcpStream` (tungstenite, no async runtime):
//! deadlines are socket read timeouts, so the probe and replay run on plain threads.

use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Error as WsError, Message, WebSocket};

/// What the next read from a connection gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(usize),
    /// The server's close frame: code and reason (None: a close frame without a code).
    Close(Option<(u16, String)>),
    /// The TCP connection ended without a close frame, or failed.
    Dropped(String),
    /// Nothing arrived before the deadline.
    Timeout,
}

/// One client connection.
pub(crate) struct Conn {
    ws: WebSocket<TcpStream>,
    done: bool,
}

/// `ws://HOST:PORT/PATH` split into the socket address part; `wss://` is refused.
fn host_port(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("ws://").ok_or_else(|| {
        if url.starts_with("wss://") {
            format!("{url}: wss:// is not supported; probe a plain ws:// endpoint (behind the TLS terminator)")
        } else {
            format!("{url}: expected a ws://HOST:PORT/PATH URL")
        }
    })?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("{url}: no host"));
    }
    Ok(
        if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            && !authority.ends_with(']')
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        },
    )
}

impl Conn {
    /// Connect and upgrade within `timeout`.
    pub fn open(url: &str, timeout: Duration) -> Result<Conn, String> {
        let target = host_port(url)?;
        let addrs: Vec<_> = target
            .to_socket_addrs()
            .map_err(|e| format!("{url}: cannot resolve {target}: {e}"))?
            .collect();
        let mut last = format!("{url}: no address for {target}");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    let _ = stream.set_read_timeout(Some(timeout));
                    let _ = stream.set_write_timeout(Some(timeout));
                    let config = WebSocketConfig::default()
                        .max_message_size(Some(64 << 20))
                        .max_frame_size(Some(64 << 20));
                    return match tungstenite::client::client_with_config(url, stream, Some(config))
                    {
                        Ok((ws, _)) => Ok(Conn { ws, done: false }),
                        Err(tungstenite::HandshakeError::Failure(e)) => {
                            Err(format!("{url}: the upgrade failed: {e}"))
                        }
                        Err(tungstenite::HandshakeError::Interrupted(_)) => Err(format!(
                            "{url}: the upgrade did not finish within {timeout:?}"
                        )),
                    };
                }
                Err(e) => last = format!("{url}: cannot connect to {addr}: {e}"),
            }
        }
        Err(last)
    }

    /// Send a text frame; an error when the connection is gone.
    pub fn send_text(&mut self, text: &str) -> Result<(), String> {
        self.send(Message::text(text))
    }

    /// Send a binary frame.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), String> {
        self.send(Message::binary(data.to_vec()))
    }

    fn send(&mut self, m: Message) -> Result<(), String> {
        self.ws.send(m).map_err(|e| e.to_string())
    }

    /// The next data frame or close before `deadline` (pings are answered on the way).
    pub fn next(&mut self, deadline: Instant) -> Incoming {
        if self.done {
            return Incoming::Dropped("the connection already ended".into());
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Incoming::Timeout;
            }
            let _ = self
                .ws
                .get_ref()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            match self.ws.read() {
                Ok(Message::Text(t)) => return Incoming::Text(t.to_string()),
                Ok(Message::Binary(b)) => return Incoming::Binary(b.len()),
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Close(frame)) => {
                    self.done = true;
                    // Answer the close (best effort) so the server's close handshake ends.
                    let _ = self.ws.flush();
                    return Incoming::Close(
                        frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                    );
                }
                Err(WsError::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    if Instant::now() >= deadline {
                        return Incoming::Timeout;
                    }
                }
                Err(e) => {
                    self.done = true;
                    return Incoming::Dropped(match e {
                        WsError::Protocol(p) => format!("{p}"),
                        WsError::ConnectionClosed | WsError::AlreadyClosed => {
                            "connection closed".into()
                        }
                        other => other.to_string(),
                    });
                }
            }
        }
    }

    /// Close politely (best effort; the probe does not wait for the answer).
    pub fn close(mut self) {
        if !self.done {
            let _ = self.ws.close(None);
            let _ = self.ws.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn urls() {
        assert_eq!(
            host_port("ws://127.0.0.1:9/ws?user=a").unwrap(),
            "127.0.0.1:9"
        );
        assert_eq!(host_port("ws://example.com/ws").unwrap(), "example.com:80");
        assert!(host_port("wss://x/").unwrap_err().contains("not supported"));
        assert!(host_port("http://x/").unwrap_err().contains("ws://"));
    }
}
