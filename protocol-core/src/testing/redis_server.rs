//! A real `redis-server` for tests, on a free loopback port, with no persistence, stopped when
//! dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` process this test started (`--save "" --appendonly no` on `127.0.0.1`).
///
/// ```no_run
/// use protocol_core::testing::RedisServer;
///
/// let redis = RedisServer::start().expect("redis-server");
/// println!("{}", redis.url()); // redis://127.0.0.1:PORT
/// // Dropping it stops the server.
/// ```
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

/// How long a starting server may take to answer `PING`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

impl RedisServer {
    /// Start `redis-server` (from `PATH`, or `$REDIS_SERVER`) on a free port of 127.0.0.1 and
    /// wait until it answers `PING`.
    pub fn start() -> std::io::Result<Self> {
        let mut last = None;
        // A free port can be taken by someone else between our probe and the server's bind.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let mut server = RedisServer { port, child: None };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("redis-server did not start")))
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kill the server (its data is gone: no persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port, empty.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.stop();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Send one command (inline syntax, e.g. `"INFO commandstats"`) and return the raw reply.
    pub fn command(&self, line: &str) -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(format!("{line}\r\n").as_bytes())?;
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf)?;
            reply.extend_from_slice(&buf[..n]);
            if n == 0 || reply_complete(&reply) {
                break;
            }
        }
        Ok(String::from_utf8_lossy(&reply).into_owned())
    }

    /// How many times Redis has run `command` (lowercase, e.g. `"publish"`) since it started,
    /// from `INFO commandstats`: measured, not assumed.
    pub fn command_calls(&self, command: &str) -> std::io::Result<u64> {
        let info = self.command("INFO commandstats")?;
        let prefix = format!("cmdstat_{command}:calls=");
        Ok(info
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let program = std::env::var_os("REDIS_SERVER").unwrap_or_else(|| "redis-server".into());
        let mut child = Command::new(&program)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "cannot run {}: {e} (install it: apt-get install redis-server, or set REDIS_SERVER)",
                        program.to_string_lossy()
                    ),
                )
            })?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(std::io::Error::other(format!(
                    "redis-server on port {} exited at start: {status}",
                    self.port
                )));
            }
            if self.command("PING").is_ok_and(|r| r.starts_with("+PONG")) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("redis-server on port {} did not answer PING", self.port),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Whether a RESP reply read so far is whole (simple, error, integer and bulk strings).
fn reply_complete(reply: &[u8]) -> bool {
    let Some(first_line) = reply.windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    match reply.first() {
        Some(b'$') => {
            let len: i64 = std::str::from_utf8(&reply[1..first_line])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            len < 0 || reply.len() >= first_line + 2 + len as usize + 2
        }
        _ => true,
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_restarts_and_stops() {
        let mut redis = RedisServer::start().expect("redis-server (apt-get install redis-server)");
        assert!(redis.command("SET k v").unwrap().starts_with("+OK"));
        assert_eq!(redis.command("GET k").unwrap(), "$1\r\nv\r\n");
        assert_eq!(redis.command_calls("get").unwrap(), 1);
        assert_eq!(redis.command_calls("publish").unwrap(), 0);
        redis.restart().unwrap();
        assert_eq!(redis.command("GET k").unwrap(), "$-1\r\n", "no persistence");
        let port = redis.port();
        drop(redis);
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}
