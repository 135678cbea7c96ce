//! `chat-server --listen ADDR`: serves the chat page at `/` and its WebSocket at `/ws`.
//! `chat-server token NAME --ttl 1h`: prints a signed token for NAME (with `--auth-secret`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use protocol_core::redis::{RedisBroker, RedisConfig};

/// The chat example's server.
#[derive(Parser, Debug)]
#[command(name = "chat-server", version, about)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Require signed tokens (HS256 JWT with this secret, `sub` = user name): connect with
    /// `?token=JWT`. Without it, `?user=NAME` is the development mode (identities unverified).
    #[arg(
        long,
        env = "CHAT_AUTH_SECRET",
        global = true,
        value_name = "SECRET",
        hide_env_values = true
    )]
    auth_secret: Option<String>,
    /// Address to listen on; port 0 picks a free port (the real one is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Share rooms, presence and delivery with other nodes through this Redis
    /// (`redis://HOST:PORT`); without it, one node in memory.
    #[arg(long, env = "CHAT_REDIS_URL", value_name = "URL")]
    redis: Option<String>,
    /// Key prefix in Redis: nodes with the same prefix share one chat.
    #[arg(long, default_value = "chat", requires = "redis")]
    redis_prefix: String,
    /// Seconds after which the other nodes treat a silent node as dead (its users go offline).
    #[arg(long, default_value_t = 10.0, requires = "redis")]
    dead_node_after: f64,
    /// Messages each room keeps for resume and `history` (0: none).
    #[arg(long, default_value_t = 1000)]
    history_messages: usize,
    /// How long a room keeps a message, in seconds (0: not at all).
    #[arg(long, default_value_t = 86_400.0)]
    history_max_age: f64,
    /// Bytes all rooms' histories may take in this process (one node without Redis); past it the
    /// room written to least recently is forgotten.
    #[arg(long, default_value_t = 256 << 20)]
    history_memory: usize,
    /// Seconds a client has to finish its HTTP request headers / WebSocket handshake.
    #[arg(long, default_value_t = 5.0)]
    handshake_timeout: f64,
    /// Handshakes in progress at once; connections over it are dropped.
    #[arg(long, default_value_t = 1024)]
    max_pending_handshakes: usize,
    /// Messages per second per connection (token bucket); over it, `rate_limited` replies, then
    /// close 1008.
    #[arg(long, default_value_t = 50.0)]
    rate_per_second: f64,
    /// The token bucket's size (a burst of messages allowed at once).
    #[arg(long, default_value_t = 100)]
    rate_burst: u32,
    /// Open WebSocket connections in total (HTTP 503 over it).
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Open WebSocket connections per client address (HTTP 429 over it).
    #[arg(long, default_value_t = 256)]
    max_conns_per_address: usize,
    /// Count loopback clients per address too (by default they are exempt: a reverse proxy on
    /// the same host looks like one address).
    #[arg(long)]
    count_loopback: bool,
    /// Serve TLS (https:// and wss://) with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Honour `X-Forwarded-For` from this proxy address (repeatable).
    #[arg(long, value_name = "IP")]
    trust_proxy: Vec<std::net::IpAddr>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Print a token for NAME signed with the --auth-secret (or CHAT_AUTH_SECRET).
    Token {
        /// The user name ([A-Za-z0-9_-]{1,32}).
        name: String,
        /// How long it is valid: `90s`, `30m`, `1h`, `7d`.
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: Duration,
    },
}

fn parse_ttl(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 30m, 1h or 7d"))?;
    let secs = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit {unit:?} in {s:?}: use s, m, h or d")),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Token { name, ttl }) = &args.command {
        let Some(secret) = &args.auth_secret else {
            eprintln!("chat-server token: give the secret with --auth-secret or CHAT_AUTH_SECRET");
            return ExitCode::from(2);
        };
        if !chat_example::valid_user(name) {
            eprintln!("chat-server token: {name:?} is not a user name ([A-Za-z0-9_-]{{1,32}})");
            return ExitCode::from(2);
        }
        return match protocol_core::token::hs256_token(secret.as_bytes(), name, *ttl) {
            Ok(token) => {
                println!("{token}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("chat-server token: {e}");
                ExitCode::from(2)
            }
        };
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match protocol_core::tls::TlsConfig::from_pem_files(cert, key) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("chat-server: --tls-cert/--tls-key: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let tokens = match args
        .auth_secret
        .as_deref()
        .map(|s| protocol_core::TokenAuth::hs256(s.as_bytes()))
    {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            eprintln!("chat-server: --auth-secret: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chat-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("chat-server: cannot listen on {}: {e}", args.listen);
                return ExitCode::FAILURE;
            }
        };
        let addr = listener.local_addr().unwrap_or(args.listen);
        let broker = match &args.redis {
            None => None,
            Some(url) => {
                let config = RedisConfig::new(url.as_str())
                    .prefix(args.redis_prefix.as_str())
                    .dead_node_after(Duration::from_secs_f64(args.dead_node_after.max(0.0)));
                match RedisBroker::connect(config).await {
                    Ok(b) => Some(Arc::new(b)),
                    Err(e) => {
                        eprintln!("chat-server: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
        };
        let Ok(max_age) = Duration::try_from_secs_f64(args.history_max_age) else {
            eprintln!("chat-server: --history-max-age is seconds, 0 or more; got {}", args.history_max_age);
            return ExitCode::FAILURE;
        };
        let history = protocol_core::HistoryConfig {
            max_messages: args.history_messages,
            max_age,
            max_memory_bytes: args.history_memory,
        };
        let (chat, hub) = match &broker {
            None => (
                chat_example::Chat::default(),
                chat_example::hub_configured(
                    Arc::new(protocol_core::InMemoryBroker::default()),
                    history,
                ),
            ),
            Some(b) => (
                chat_example::Chat::shared(b, 24 * 3600),
                chat_example::hub_configured(
                    Arc::clone(b) as Arc<dyn protocol_core::Broker>,
                    history,
                ),
            ),
        };
        let chat = match &tokens {
            Some(t) => chat.with_tokens(t.clone()),
            None => {
                tracing::warn!(
                    "no --auth-secret: clients name themselves with ?user=NAME and nothing verifies it (development mode)"
                );
                chat
            }
        };
        let node = hub.node_id().to_owned();
        let mut builder = chat_example::server_builder(chat, hub).with_limits(|l| {
            l.handshake_timeout = Duration::from_secs_f64(args.handshake_timeout.max(0.001));
            l.max_pending_handshakes = args.max_pending_handshakes;
            l.max_connections_per_address = args.max_conns_per_address;
            l.rate_per_second = args.rate_per_second.max(0.001);
            l.rate_burst = args.rate_burst.max(1);
            l.max_connections = args.max_connections.max(1);
            l.exempt_loopback = !args.count_loopback;
        });
        for proxy in &args.trust_proxy {
            builder = builder.trust_proxy(*proxy);
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        if let Some(tls) = tls {
            builder = builder.tls(tls);
        }
        let server = builder.build();
        let shutdown = server.shutdown_handle();
        let app = chat_example::router(server.clone());
        if broker.is_some() {
            tracing::info!(%node, "sharing rooms through Redis");
        }
        println!("listening on {scheme}://{addr}");
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            shutdown.shutdown();
        });
        // The runtime's accept loop, not `axum::serve`: handshake deadline, cap on handshakes in
        // progress, per-address caps and TCP_NODELAY on every connection.
        let serve = server.serve_router(listener, app);
        let result = serve.await;
        if let Some(b) = &broker {
            b.shutdown().await;
        }
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("chat-server: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
