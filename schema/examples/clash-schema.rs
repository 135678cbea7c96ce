//! The schema binary of the test protocol whose names clash (a variant named like a type, a
//! variant named `MessageType`, a custom tag): `cargo run -p protocol-schema --example
//! clash-schema -- export --out DIR`.

#[path = "../tests/protocols/mod.rs"]
mod protocols;

fn main() -> std::process::ExitCode {
    protocol_schema::cli::run(protocols::clash::spec())
}
