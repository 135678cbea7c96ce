//! `axum-native-server --listen 127.0.0.1:8080`: the counter room on axum's own WebSocket
//! support. Prints `listening on ws://ADDR/ws` with the real port once bound (so `:0` works).

use std::net::SocketAddr;

use axum::serve::ListenerExt;
use clap::Parser;

/// Serve the counter room (`/ws`) and its schemas (`/schema`).
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("listening on ws://{}/ws", listener.local_addr()?);
    // Small frames go out at once rather than waiting on Nagle (axum leaves it off by default;
    // the runtime's own listener sets it on every socket).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, axum_native_example::router(Default::default())).await
}
