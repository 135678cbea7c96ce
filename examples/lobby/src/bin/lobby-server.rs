//! `lobby-server --listen ADDR`: the tic-tac-toe lobby's WebSocket at `ws://ADDR/ws?user=NAME`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

/// The tic-tac-toe lobby's server.
#[derive(Parser, Debug)]
#[command(name = "lobby-server", version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free port (the real one is printed).
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
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
            eprintln!("lobby-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("lobby-server: cannot listen on {}: {e}", args.listen);
                return ExitCode::FAILURE;
            }
        };
        let addr = listener.local_addr().unwrap_or(args.listen);
        let server = lobby_example::server_builder(
            Arc::new(lobby_example::Lobby::new()),
            lobby_example::hub(),
        )
        .build();
        let shutdown = server.shutdown_handle();
        tracing::warn!("clients name themselves with ?user=NAME and nothing verifies it");
        println!("listening on http://{addr}");
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            shutdown.shutdown();
        });
        // The runtime's own accept loop: handshake deadline, caps, TCP_NODELAY.
        match server.serve(listener).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lobby-server: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
