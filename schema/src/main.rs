//! `protocol-schema`: diff two exports of a protocol for breaking changes, or validate recorded
//! traffic against an export.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use protocol_schema::Direction;
use protocol_schema::Error;
use protocol_schema::diff::{Report, diff_dirs, diff_dirs_for, diff_files};
use protocol_schema::probe::ProbeConfig;
use protocol_schema::replay::ReplayConfig;
use protocol_schema::validate::TrafficValidator;

#[derive(Debug, Parser)]
#[command(
    name = "protocol-schema",
    version,
    about = "Breaking-change diff, traffic validation, live probing and replay for protocol schema exports"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the changes between two exports (or two schema files) and say which break peers.
    ///
    /// Client-to-server messages break when the new schema rejects what old clients send;
    /// server-to-client messages break when the new server may send what old clients reject.
    /// Exit status: 0 compatible, 1 breaking, 2 error.
    Diff {
        /// The old export directory, or the old schema file.
        old: PathBuf,
        /// The new export directory, or the new schema file.
        new: PathBuf,
        /// Which messages the files hold (default: from the `.client.schema.json` or
        /// `.server.schema.json` suffix; with directories, compare only this direction).
        #[arg(long, value_enum)]
        direction: Option<DirectionArg>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Validate recorded traffic (JSONL: {"from":"client"|"server","conn":N,"frame":{...}}).
    ///
    /// Prints LINE, JSON pointer and reason for each invalid frame. Exit status: 0 all valid,
    /// 1 some frame invalid, 2 error (unreadable or malformed input, unusable schemas).
    Validate {
        /// The export directory holding <name>.client.schema.json and <name>.server.schema.json.
        #[arg(long, value_name = "DIR")]
        schema_dir: PathBuf,
        /// The traffic file (`-` for standard input).
        traffic: PathBuf,
    },
    /// Test a live server against its exported schemas: generated valid and invalid messages,
    /// every answer checked, failures shrunk to the frames that reproduce them.
    ///
    /// Exit status: 0 no findings, 1 findings, 2 could not run.
    Probe(ProbeArgs),
    /// Replay the client frames of a recording (JSONL, several connections) against a server
    /// and compare its frames with the recorded ones; volatile values map by first appearance.
    ///
    /// Exit status: 0 as recorded, 1 a divergence, 2 could not run.
    Replay {
        /// The WebSocket URL; `{conn}` becomes the recorded connection number
        /// (`ws://HOST/ws?user=u{conn}`).
        #[arg(long)]
        url: String,
        /// A JSON Pointer into server frames not to compare (repeatable).
        #[arg(long, value_name = "POINTER")]
        ignore: Vec<String>,
        /// Milliseconds to wait for each server frame.
        #[arg(long, default_value_t = 2000, value_name = "MS")]
        deadline: u64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// The recording.
        recording: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct ProbeArgs {
    /// The WebSocket URL (ws://HOST:PORT/PATH?QUERY); the probe connects nowhere else.
    #[arg(long)]
    url: String,
    /// The export directory holding <name>.client.schema.json and <name>.server.schema.json.
    #[arg(long, value_name = "DIR")]
    schema_dir: PathBuf,
    /// Generated cases, spread over the connections.
    #[arg(long, default_value_t = 200)]
    cases: u64,
    /// Time budget in seconds for the cases (shrinking may take as long again, at most 60 s).
    #[arg(long, default_value_t = 60.0, value_name = "S")]
    time: f64,
    /// Connections probing at once.
    #[arg(long, default_value_t = 1, value_name = "K")]
    conns: usize,
    /// PRNG seed: the same seed sends the same cases.
    #[arg(long, default_value_t = 0, value_name = "X")]
    seed: u64,
    /// A recording whose client frames are sent first on every connection (e.g. a join).
    #[arg(long, value_name = "FILE.jsonl")]
    setup: Option<PathBuf>,
    /// The server's message size limit in bytes: a frame one byte over must close with 1009
    /// (skipped without it).
    #[arg(long, value_name = "BYTES")]
    max_size: Option<usize>,
    /// Milliseconds to wait for an answer.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    deadline: u64,
    /// Messages per second per connection (0: unpaced); stay under the server's rate limit.
    #[arg(long, default_value_t = 40.0)]
    rate: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DirectionArg {
    /// Client to server (`*.client.schema.json`).
    Client,
    /// Server to client (`*.server.schema.json`).
    Server,
}

impl From<DirectionArg> for Direction {
    fn from(d: DirectionArg) -> Self {
        match d {
            DirectionArg::Client => Direction::Client,
            DirectionArg::Server => Direction::Server,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A table for people.
    Text,
    /// One JSON document for tools.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Diff {
            old,
            new,
            direction,
            format,
        } => diff(&old, &new, direction.map(Direction::from), format),
        Command::Validate {
            schema_dir,
            traffic,
        } => validate(&schema_dir, &traffic),
        Command::Probe(args) => probe(args),
        Command::Replay {
            url,
            ignore,
            deadline,
            format,
            recording,
        } => replay(url, ignore, deadline, format, recording),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn metadata(path: &Path) -> Result<std::fs::Metadata, Error> {
    std::fs::metadata(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

fn direction_from_name(path: &Path) -> Option<Direction> {
    let name = path.file_name()?.to_string_lossy();
    [Direction::Client, Direction::Server]
        .into_iter()
        .find(|d| name.ends_with(d.schema_suffix()))
}

fn diff(old: &Path, new: &Path, direction: Option<Direction>, format: Format) -> Result<u8, Error> {
    let (old_meta, new_meta) = (metadata(old)?, metadata(new)?);
    let report = match (old_meta.is_dir(), new_meta.is_dir()) {
        (true, true) => match direction {
            Some(d) => diff_dirs_for(old, new, d)?,
            None => diff_dirs(old, new)?,
        },
        (false, false) => {
            let inferred = match (direction_from_name(old), direction_from_name(new)) {
                (Some(a), Some(b)) if a == b => Some(a),
                _ => None,
            };
            let direction = direction.or(inferred).ok_or_else(|| {
                Error::Usage(format!(
                    "cannot tell which direction {} and {} describe: pass --direction client or --direction server",
                    old.display(),
                    new.display()
                ))
            })?;
            diff_files(old, new, direction)?
        }
        _ => {
            return Err(Error::Usage(format!(
                "compare two export directories or two schema files, not a directory with a file ({} and {})",
                old.display(),
                new.display()
            )));
        }
    };
    print_report(&report, format);
    Ok(if report.is_compatible() { 0 } else { 1 })
}

fn print_report(report: &Report, format: Format) {
    let mut out = std::io::stdout().lock();
    let _ = match format {
        Format::Text => write!(out, "{report}"),
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
        ),
    };
}

fn validate(schema_dir: &Path, traffic: &Path) -> Result<u8, Error> {
    let meta = metadata(schema_dir)?;
    if !meta.is_dir() {
        return Err(Error::ExportDir {
            path: schema_dir.to_owned(),
            reason: "not a directory; pass the export directory with --schema-dir".into(),
        });
    }
    let validator = TrafficValidator::from_dir(schema_dir)?;
    let mut out = std::io::stdout().lock();
    let read_error = |source| Error::Read {
        path: traffic.to_owned(),
        source,
    };
    let summary = if traffic == Path::new("-") {
        let stdin = std::io::stdin().lock();
        validator
            .validate_reader(stdin, "<stdin>", &mut out)
            .map_err(read_error)?
    } else {
        let file = File::open(traffic).map_err(read_error)?;
        let name = traffic.display().to_string();
        validator
            .validate_reader(BufReader::new(file), &name, &mut out)
            .map_err(read_error)?
    };
    let _ = writeln!(out, "{summary}");
    if summary.bad_records > 0 {
        eprintln!(
            "error: {} has {} lines that are not traffic records ({{\"from\":\"client\"|\"server\",\"conn\":N,\"frame\":{{...}}}})",
            traffic.display(),
            summary.bad_records
        );
    }
    Ok(summary.exit_code())
}

fn probe(args: ProbeArgs) -> Result<u8, Error> {
    if !(args.time.is_finite() && args.time > 0.0) {
        return Err(Error::Usage(format!(
            "--time must be a positive number of seconds, not {}",
            args.time
        )));
    }
    if !(args.rate.is_finite() && args.rate >= 0.0) {
        return Err(Error::Usage(format!(
            "--rate must be 0 or more messages a second, not {}",
            args.rate
        )));
    }
    if args.conns == 0 {
        return Err(Error::Usage("--conns must be at least 1".into()));
    }
    let mut config = ProbeConfig::new(args.url, args.schema_dir);
    config.cases = args.cases;
    config.time = Duration::from_secs_f64(args.time);
    config.conns = args.conns;
    config.seed = args.seed;
    config.setup = args.setup;
    config.max_size = args.max_size;
    config.deadline = Duration::from_millis(args.deadline.max(1));
    config.rate = args.rate;
    let report = protocol_schema::probe::probe(&config)?;
    let mut out = std::io::stdout().lock();
    let _ = match args.format {
        Format::Text => write!(out, "{report}"),
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
        ),
    };
    Ok(report.exit_code())
}

fn replay(
    url: String,
    ignore: Vec<String>,
    deadline: u64,
    format: Format,
    recording: PathBuf,
) -> Result<u8, Error> {
    if let Some(bad) = ignore.iter().find(|p| !p.is_empty() && !p.starts_with('/')) {
        return Err(Error::Usage(format!(
            "--ignore takes a JSON Pointer such as /messageId, not {bad:?}"
        )));
    }
    let mut config = ReplayConfig::new(url, recording);
    config.ignore = ignore;
    config.deadline = Duration::from_millis(deadline.max(1));
    let report = protocol_schema::replay::replay(&config)?;
    let mut out = std::io::stdout().lock();
    let _ = match format {
        Format::Text => write!(out, "{report}"),
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
        ),
    };
    Ok(report.exit_code())
}
