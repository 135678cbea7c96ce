//! `echo-server --listen ADDR`: echoes text as text and binary as binary, through the same
//! connection code, limits and close handling as typed protocols (the `FrameHandler` layer below
//! typed dispatch). Autobahn|Testsuite's fuzzing client runs against it in CI.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use protocol_core::connection::{FrameHandler, Reaction};
use protocol_core::server::ServerBuilder;
use protocol_core::tungstenite::{Bytes, Utf8Bytes};
use protocol_core::{Context, ErrorReply, Protocol};

/// The echo server.
#[derive(Parser, Debug)]
#[command(name = "echo-server", version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free port (the real one is printed).
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: SocketAddr,
    /// Largest message accepted, in bytes (Autobahn sends up to 16 MiB).
    #[arg(long, default_value_t = 16 << 20)]
    max_message_size: usize,
}

/// What the hub would push (nothing: an echo server only answers).
#[derive(Debug, Protocol)]
#[protocol(rename_all = "snake_case")]
enum Pushed {
    Error(ErrorReply),
}

struct Echo;

impl FrameHandler for Echo {
    type Out = Pushed;

    async fn on_text(&self, _cx: &Context<Pushed>, text: Utf8Bytes) -> Reaction {
        Reaction::Text(text)
    }

    async fn on_binary(&self, _cx: &Context<Pushed>, data: Bytes) -> Reaction {
        Reaction::Binary(data)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    else {
        eprintln!("echo-server: cannot start the runtime");
        return ExitCode::FAILURE;
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("echo-server: cannot listen on {}: {e}", args.listen);
                return ExitCode::FAILURE;
            }
        };
        let addr = listener.local_addr().unwrap_or(args.listen);
        let server = ServerBuilder::new(Echo)
            .with_limits(|l| {
                l.max_message_size = args.max_message_size;
                l.max_write_buffer_size = args.max_message_size.saturating_mul(2).max(1 << 20);
                // A conformance suite sends as fast as it can.
                l.rate_per_second = 1e9;
                l.rate_burst = u32::MAX;
                l.handshake_timeout = std::time::Duration::from_secs(30);
            })
            .build();
        println!("listening on ws://{addr}/");
        match server.serve(listener).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("echo-server: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
