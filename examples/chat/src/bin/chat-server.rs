//! `chat-server --listen ADDR`: serves the chat page at `/` and its WebSocket at `/ws`.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

/// The chat example's server.
#[derive(Parser, Debug)]
#[command(name = "chat-server", version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free port (the real one is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
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
        let server = chat_example::server(chat_example::Chat::default(), chat_example::hub());
        let shutdown = server.shutdown_handle();
        let app = chat_example::router(server);
        println!("listening on http://{addr}");
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            shutdown.shutdown();
        });
        match serve.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("chat-server: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
