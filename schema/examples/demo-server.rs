//! The probe's demo protocol server ("notes", a key-value store with rooms) on the real
//! runtime, with default limits (64 KiB messages, 50 messages a second per connection):
//! `cargo run -p protocol-schema --example demo-server -- --listen 127.0.0.1:0 --export DIR`
//! writes the protocol's exports into DIR, then prints `listening on ws://ADDR/ws`. CI probes it.

#[path = "../tests/notes/mod.rs"]
mod notes;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut listen = "127.0.0.1:0".to_owned();
    let mut export = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            ("--export", Some(v)) => export = Some(v),
            _ => {
                eprintln!("usage: demo-server [--listen ADDR] [--export DIR]");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(dir) = export
        && let Err(e) = notes::spec().export(std::path::Path::new(&dir))
    {
        eprintln!("demo-server: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("demo-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("demo-server: cannot listen on {listen}: {e}");
                return ExitCode::FAILURE;
            }
        };
        match listener.local_addr() {
            Ok(addr) => println!("listening on ws://{addr}/ws"),
            Err(e) => {
                eprintln!("demo-server: {e}");
                return ExitCode::FAILURE;
            }
        }
        match notes::serve(listener).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("demo-server: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
