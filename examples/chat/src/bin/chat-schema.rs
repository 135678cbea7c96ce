//! `chat-schema export --out DIR` / `chat-schema check --dir DIR`: the chat protocol's JSON
//! Schemas, TypeScript and AsyncAPI, and the drift check CI runs on the committed copies.

fn main() -> std::process::ExitCode {
    protocol_schema::cli::run(chat_example::spec())
}
