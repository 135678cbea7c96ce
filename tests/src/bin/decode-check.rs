//! Reads JSON documents, one per line, and decodes each as the chat example's client or server
//! message: the Rust side of the hypothesis-jsonschema judge (documents the schema generates
//! must decode). `decode-check client|server < docs.jsonl`; exit 1 if any fails.

use std::io::BufRead;
use std::process::ExitCode;

use chat_example::{ClientMsg, ServerMsg};
use protocol_core::{DecodeError, decode};

fn main() -> ExitCode {
    let direction = std::env::args().nth(1).unwrap_or_default();
    let check: fn(&str) -> Result<(), DecodeError> = match direction.as_str() {
        "client" => |line| decode::<ClientMsg>(line).map(drop),
        "server" => |line| decode::<ServerMsg>(line).map(drop),
        _ => {
            eprintln!("usage: decode-check client|server < docs.jsonl");
            return ExitCode::from(2);
        }
    };
    let (mut ok, mut failed) = (0usize, 0usize);
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let Ok(line) = line else {
            eprintln!("decode-check: cannot read line {}", n + 1);
            return ExitCode::from(2);
        };
        if line.trim().is_empty() {
            continue;
        }
        match check(&line) {
            Ok(()) => ok += 1,
            Err(e) => {
                failed += 1;
                println!("line {}: {e}\n  {line}", n + 1);
            }
        }
    }
    println!("decode-check {direction}: {ok} decoded, {failed} failed");
    if failed == 0 && ok > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
