//! `lobby-schema export --out DIR` / `lobby-schema check --dir DIR`: the lobby protocol's JSON
//! Schemas, TypeScript, AsyncAPI, Python models and reference, and the drift check CI runs on
//! the committed copies under `examples/lobby/schema/`.

fn main() -> std::process::ExitCode {
    protocol_schema::cli::run(lobby_example::spec())
}
