//! A one-line schema binary for an application: `export --out DIR` and `check --dir DIR`.
//!
//! ```no_run
//! # use protocol_core::Protocol;
//! # #[derive(Protocol)] enum ClientMsg { Ping }
//! # #[derive(Protocol)] enum ServerMsg { Pong }
//! // src/bin/chat-schema.rs
//! fn main() -> std::process::ExitCode {
//!     protocol_schema::cli::run(
//!         protocol_schema::Spec::new("chat", "1.0.0")
//!             .client_to_server::<ClientMsg>()
//!             .server_to_client::<ServerMsg>(),
//!     )
//! }
//! ```
//!
//! `chat-schema export --out schema/` writes the files; `chat-schema check --dir schema/` exits
//! 0 when the committed files match the types, 1 with a unified diff when they drifted, and 2 on
//! an error (unreadable directory, a spec that cannot be exported).

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::spec::{Direction, Spec};

#[derive(Debug, Parser)]
#[command(
    about = "Export this protocol's JSON Schemas, TypeScript types, AsyncAPI document, Python models and reference, or check committed ones"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write <name>.client.schema.json, <name>.server.schema.json, <name>.d.ts, <name>.js,
    /// <name>.asyncapi.json, <name>.client.js, <name>.client.d.ts, <name>.py, <name>.md and
    /// <name>.html into DIR.
    Export {
        /// The directory to write (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Compare the files in DIR with what the types produce: exit 1 and print a diff when they
    /// differ.
    Check {
        /// The directory holding the committed files.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Write the sample corpus for outside judges into DIR: <name>-client.schema.json,
    /// <name>-server.schema.json, and each sample as valid/<name>-<dir>-N.json or
    /// invalid/<name>-<dir>-N.json, sorted by the Rust decoder.
    Samples {
        /// The directory to write (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Decode JSON documents (one per line on standard input) with the Rust decoder and print
    /// one verdict per line: `ok`, or `error: MESSAGE`.
    Decode {
        /// Which direction's decoder: client or server.
        #[arg(value_parser = ["client", "server"])]
        direction: String,
    },
}

fn write_samples(spec: &Spec, out: &Path) -> Result<(usize, usize), String> {
    let samples = spec.samples().map_err(|e| e.to_string())?;
    let io = |p: &Path, e: std::io::Error| format!("cannot write {}: {e}", p.display());
    for sub in ["valid", "invalid"] {
        let d = out.join(sub);
        std::fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
    }
    let name = spec.name();
    for f in spec.files().map_err(|e| e.to_string())? {
        for d in [Direction::Client, Direction::Server] {
            if f.name.ends_with(d.schema_suffix()) {
                let p = out.join(format!("{name}-{d}.schema.json"));
                std::fs::write(&p, &f.contents).map_err(|e| io(&p, e))?;
            }
        }
    }
    let (mut valid, mut invalid) = (0, 0);
    for (i, s) in samples.iter().enumerate() {
        let sub = if s.is_valid() {
            valid += 1;
            "valid"
        } else {
            invalid += 1;
            "invalid"
        };
        let p = out
            .join(sub)
            .join(format!("{name}-{}-{i}.json", s.direction));
        std::fs::write(&p, format!("{}\n", s.frame)).map_err(|e| io(&p, e))?;
    }
    Ok((valid, invalid))
}

/// Parse the process's arguments and run; see the [module docs](self).
pub fn run(spec: Spec) -> ExitCode {
    let code = run_with(
        &spec,
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}

/// Like [`run`], with the arguments (the first is the program name) and the output streams
/// given. Returns the exit status: 0 success, 1 drift found by `check`, 2 error.
pub fn run_with<I, T>(spec: &Spec, args: I, stdout: &mut dyn Write, stderr: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let program = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map_or_else(|| "schema".to_owned(), |n| n.to_string_lossy().into_owned());
    let parsed = match Args::try_parse_from(&args) {
        Ok(p) => p,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let text = e.render().to_string();
            let _ = if e.use_stderr() {
                write!(stderr, "{text}")
            } else {
                write!(stdout, "{text}")
            };
            return code;
        }
    };
    match parsed.command {
        Command::Export { out } => match spec.export(&out) {
            Ok(paths) => {
                for p in paths {
                    let _ = writeln!(stdout, "wrote {}", p.display());
                }
                0
            }
            Err(e) => {
                let _ = writeln!(stderr, "error: {e}");
                2
            }
        },
        Command::Check { dir } => match spec.check(&dir) {
            Ok(drift) if drift.is_clean() => {
                let _ = writeln!(
                    stdout,
                    "{} files in {} match the types",
                    drift.files.len(),
                    dir.display()
                );
                0
            }
            Ok(drift) => {
                let _ = write!(stdout, "{drift}");
                let stale = drift.stale().count();
                let _ = writeln!(
                    stderr,
                    "error: {stale} of {} files in {} differ from what the types produce; \
                     run `{program} export --out {}` and commit the result",
                    drift.files.len(),
                    dir.display(),
                    dir.display()
                );
                1
            }
            Err(e) => {
                let _ = writeln!(stderr, "error: {e}");
                2
            }
        },
        Command::Samples { out } => match write_samples(spec, &out) {
            Ok((valid, invalid)) => {
                let _ = writeln!(
                    stdout,
                    "wrote {valid} valid and {invalid} invalid samples to {}",
                    out.display()
                );
                0
            }
            Err(e) => {
                let _ = writeln!(stderr, "error: {e}");
                2
            }
        },
        Command::Decode { direction } => {
            let direction = if direction == "client" {
                Direction::Client
            } else {
                Direction::Server
            };
            let stdin = std::io::stdin();
            for line in std::io::BufRead::lines(stdin.lock()) {
                let Ok(line) = line else {
                    let _ = writeln!(stderr, "error: cannot read standard input");
                    return 2;
                };
                match spec.decode(direction, &line) {
                    Ok(Ok(())) => {
                        let _ = writeln!(stdout, "ok");
                    }
                    Ok(Err(e)) => {
                        let _ = writeln!(stdout, "error: {}", e.replace('\n', " "));
                    }
                    Err(e) => {
                        let _ = writeln!(stderr, "error: {e}");
                        return 2;
                    }
                }
            }
            0
        }
    }
}
