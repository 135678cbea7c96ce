//! The one-line schema binary of an application, for the test protocols:
//! `cargo run -p protocol-schema --example demo-schema -- export --out DIR` (or `check --dir DIR`).

#[path = "../tests/protocols/mod.rs"]
mod protocols;

fn main() -> std::process::ExitCode {
    protocol_schema::cli::run(protocols::spec())
}
