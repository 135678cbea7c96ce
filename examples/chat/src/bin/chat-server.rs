//! `chat-server --listen ADDR`: serves the chat page at `/` and its WebSocket at `/ws`.

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
}

fn main() -> ExitCode {
    let args = Args::parse();
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
        let (chat, hub) = match &broker {
            None => (chat_example::Chat::default(), chat_example::hub()),
            Some(b) => (
                chat_example::Chat::shared(b, 24 * 3600),
                chat_example::hub_with(Arc::clone(b) as Arc<dyn protocol_core::Broker>),
            ),
        };
        let node = hub.node_id().to_owned();
        let server = chat_example::server(chat, hub);
        let shutdown = server.shutdown_handle();
        let app = chat_example::router(server);
        if broker.is_some() {
            tracing::info!(%node, "sharing rooms through Redis");
        }
        println!("listening on http://{addr}");
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            shutdown.shutdown();
        });
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
