//! Protocol conformance of a live server, from its exported schemas alone.
//!
//! [`probe`] connects to a WebSocket server (in any language), sends schema-valid client
//! messages generated from `<name>.client.schema.json` and schema-invalid mutants of them, and
//! checks on every connection that:
//!
//! - every server frame is JSON and valid against `<name>.server.schema.json`;
//! - every request (a variant whose `$comment` says `protocol:reply=<tag>`) gets its declared
//!   reply, or an error reply, carrying the request's `id`, within the deadline;
//! - every invalid message gets an error reply (with its `id` when a JSON parser can read one
//!   from it) and the connection stays open;
//! - a binary frame ends in a close frame with 1003 and a frame over `--max-size` in one with
//!   1009, not in a dropped TCP connection;
//! - no other close happens, and the server still accepts a fresh connection at the end.
//!
//! Messages go one at a time on each connection. A message that needs no answer (a valid
//! notification, an invalid message after its error) is followed by a generated request: its
//! answer proves the server handled what came before and that the connection is still open.
//! Each failing case is then shrunk on fresh connections (fields dropped, strings, numbers,
//! arrays and nesting made smaller) while it still fails the same way, and printed as the
//! exact frames to send after the setup.
//!
//! The run is deterministic for a seed (a SplitMix64 PRNG per connection), bounded by a number
//! of cases and a time budget, paced per connection (`rate`, under the framework's default
//! limit of 50 messages a second), and it connects only to the URL it is given.

mod conn;
mod generate;
mod mutate;
mod report;
mod run;
mod shrink;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) use conn::{Conn, Incoming};
use generate::render;
use mutate::Mutation;
pub use report::{Finding, FindingKind, Report};
use run::Worker;

use crate::error::Error;
use crate::load::{SchemaFile, find_in_dir, load_schema};
use crate::model::{Fields, ProtocolView};
use crate::spec::Direction;
use crate::validate::TrafficValidator;

/// What to probe and how hard.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProbeConfig {
    /// The WebSocket URL (`ws://HOST:PORT/PATH?QUERY`); the only place the probe connects to.
    pub url: String,
    /// The export directory with `<name>.client.schema.json` and `<name>.server.schema.json`.
    pub schema_dir: PathBuf,
    /// Generated cases (valid and invalid messages), spread over the connections.
    pub cases: u64,
    /// Time budget for the generated cases; shrinking gets at most as much again.
    pub time: Duration,
    /// Connections probing at the same time, one thread each.
    pub conns: usize,
    /// The PRNG seed: the same seed sends the same cases.
    pub seed: u64,
    /// Client frames to send first on every connection (a traffic recording, JSONL), with the
    /// server frames the recording shows after each awaited by type.
    pub setup: Option<PathBuf>,
    /// The server's message size limit in bytes: a frame one byte over it must be closed with
    /// 1009. Without it that check is skipped (the schema does not say the limit).
    pub max_size: Option<usize>,
    /// How long to wait for an answer.
    pub deadline: Duration,
    /// Messages per second per connection (0: as fast as the server answers).
    pub rate: f64,
}

impl ProbeConfig {
    /// A probe of `url` with the schemas in `schema_dir`: 200 cases, 60 s, one connection,
    /// seed 0, no setup, 2 s deadline, 40 messages a second.
    pub fn new(url: impl Into<String>, schema_dir: impl Into<PathBuf>) -> Self {
        ProbeConfig {
            url: url.into(),
            schema_dir: schema_dir.into(),
            cases: 200,
            time: Duration::from_secs(60),
            conns: 1,
            seed: 0,
            setup: None,
            max_size: None,
            deadline: Duration::from_secs(2),
            rate: 40.0,
        }
    }
}

/// The correlation field the exports declare on every variant.
const ID_FIELD: &str = "id";

/// One generated test case: a frame to send and what it is.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    /// The client message type it is of (or was made from), for reports.
    pub wire: String,
    /// Valid, invalid (how), or a frame the limits govern.
    pub kind: CaseKind,
    /// The top-level fields, in order, each value as JSON text.
    pub fields: Vec<(String, String)>,
    /// The frame text when it is not an object built from `fields`.
    pub raw: Option<String>,
    /// The correlation id a JSON parser reads from the frame: what an answer must carry.
    pub id: Option<u64>,
}

/// What a [`Case`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CaseKind {
    /// Valid; a request when the reply type is given.
    Valid {
        /// The declared reply's tag.
        reply: Option<String>,
    },
    /// Invalid, made this way.
    Invalid(Mutation),
    /// A binary frame of these bytes.
    Binary,
    /// A text frame of this many bytes, over the limit.
    Oversize(usize),
}

impl Case {
    pub(crate) fn new(
        wire: String,
        kind: CaseKind,
        fields: Vec<(String, String)>,
        raw: Option<String>,
        id_field: &str,
    ) -> Self {
        let mut case = Case {
            wire,
            kind,
            fields,
            raw,
            id: None,
        };
        case.id = serde_json::from_str::<Value>(&case.text())
            .ok()
            .and_then(|v| v.get(id_field).and_then(Value::as_u64));
        case
    }

    /// The frame as sent.
    pub(crate) fn text(&self) -> String {
        match (&self.kind, &self.raw) {
            (CaseKind::Oversize(n), _) => {
                // {"type":"x","pad":"xxxx"} of exactly n bytes.
                let head = render(&self.fields);
                let head = &head[..head.len() - 1];
                let sep = if self.fields.is_empty() { "" } else { "," };
                let fixed = head.len() + sep.len() + "\"pad\":\"\"}".len();
                format!(
                    "{head}{sep}\"pad\":\"{}\"}}",
                    "x".repeat(n.saturating_sub(fixed))
                )
            }
            (_, Some(raw)) => raw.clone(),
            _ => render(&self.fields),
        }
    }

    /// The frame for people: long frames cut, limit frames described.
    pub(crate) fn shown(&self) -> String {
        match &self.kind {
            CaseKind::Binary => "<binary frame: 01 02 03>".to_owned(),
            CaseKind::Oversize(n) => {
                let t = self.text();
                format!("<text frame of {n} bytes: {}...>", &t[..t.len().min(60)])
            }
            _ => self.text(),
        }
    }

    /// What the case is, for a finding's detail.
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            CaseKind::Valid { reply: Some(r) } => format!("valid request (reply `{r}`)"),
            CaseKind::Valid { reply: None } => "valid message".to_owned(),
            CaseKind::Invalid(m) => format!("invalid message: {m}"),
            CaseKind::Binary => "binary frame".to_owned(),
            CaseKind::Oversize(n) => format!("{n}-byte frame, over the size limit"),
        }
    }
}

/// A problem seen while running one case, before grouping.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub kind: FindingKind,
    /// The message type the finding is about (the client's, or the server frame's).
    pub wire: String,
    pub detail: String,
    /// The case that showed it.
    pub case: Case,
    /// The frames sent in the exchange (the case, and the request that followed it).
    pub sent: Vec<String>,
    /// The server frame at fault, when one is.
    pub received: Option<String>,
}

/// The protocol as the probe sees it, read from the export directory.
pub(crate) struct Protocol<'a> {
    pub client: ProtocolView<'a>,
    pub server: ProtocolView<'a>,
    pub validator: &'a TrafficValidator,
    /// The server's error variant tag.
    pub error_tag: String,
    /// Indices (into `client.variants`) of the requests.
    pub requests: Vec<usize>,
}

impl<'a> Protocol<'a> {
    fn new(
        client: &'a SchemaFile,
        server: &'a SchemaFile,
        validator: &'a TrafficValidator,
    ) -> Result<Self, Error> {
        let client = client.view()?;
        let server = server.view()?;
        // The error variant: the one with required `code` and `message` (ErrorReply's shape).
        let error_tag = server
            .known()
            .find(|v| {
                let f = Fields::of(v.schema, Some(&server.tag));
                ["code", "message"]
                    .iter()
                    .all(|n| f.fields.iter().any(|x| x.name == *n && x.required))
            })
            .map_or_else(|| "error".to_owned(), |v| v.wire.clone());
        let requests = client
            .known()
            .filter(|v| v.reply.is_some())
            .map(|v| v.index)
            .collect();
        Ok(Protocol {
            client,
            server,
            validator,
            error_tag,
            requests,
        })
    }
}

/// Shared, read-only state of a run.
pub(crate) struct Ctx<'a> {
    pub config: &'a ProbeConfig,
    pub proto: Protocol<'a>,
    /// Client frames to send first, each with the server frames recorded after it (their
    /// types are awaited).
    pub setup: Vec<(String, Vec<Value>)>,
    pub started: Instant,
}

/// Read a setup recording: its client frames in order, each with the types of the server
/// frames recorded after it on the same connection.
fn read_setup(path: &std::path::Path) -> Result<Vec<(String, Vec<Value>)>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut out: Vec<(String, Vec<Value>)> = Vec::new();
    let mut last_conn = None;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| Error::Usage(format!("{}:{}: {reason}", path.display(), n + 1));
        let record: Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
        let frame = record
            .get("frame")
            .ok_or_else(|| bad("no \"frame\"".into()))?;
        let conn = record.get("conn").and_then(Value::as_u64);
        match record.get("from").and_then(Value::as_str) {
            Some("client") => {
                let text = match frame {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.push((text, Vec::new()));
                last_conn = conn;
            }
            Some("server") => {
                if let Some((_, expected)) = out.last_mut()
                    && conn == last_conn
                {
                    expected.push(frame.clone());
                }
            }
            _ => return Err(bad("\"from\" must be \"client\" or \"server\"".into())),
        }
    }
    if out.is_empty() {
        return Err(Error::Usage(format!(
            "{}: no client frames to send",
            path.display()
        )));
    }
    Ok(out)
}

/// Probe the server; see the [module docs](self).
///
/// ```no_run
/// use std::time::Duration;
/// use protocol_schema::probe::{ProbeConfig, probe};
///
/// let mut config = ProbeConfig::new("ws://127.0.0.1:8080/ws?user=probe", "examples/chat/schema");
/// config.setup = Some("examples/chat/tests/recordings/join-general.jsonl".into());
/// config.max_size = Some(64 * 1024);
/// config.conns = 4;
/// config.time = Duration::from_secs(30);
/// let report = probe(&config)?;
/// print!("{report}");
/// std::process::exit(report.exit_code().into());
/// # Ok::<(), protocol_schema::Error>(())
/// ```
///
/// # Errors
///
/// [`Error`] when the probe cannot run: unusable schemas or setup file, the server not
/// reachable at the start, the setup not answered.
pub fn probe(config: &ProbeConfig) -> Result<Report, Error> {
    let (client_file, _) = load_schema(&find_in_dir(&config.schema_dir, Direction::Client)?)?;
    let (server_file, _) = load_schema(&find_in_dir(&config.schema_dir, Direction::Server)?)?;
    let validator = TrafficValidator::from_dir(&config.schema_dir)?;
    let proto = Protocol::new(&client_file, &server_file, &validator)?;
    let setup = match &config.setup {
        Some(p) => read_setup(p)?,
        None => Vec::new(),
    };
    let ctx = Ctx {
        config,
        proto,
        setup,
        started: Instant::now(),
    };
    // One connection first: a server that cannot be reached, or does not answer the setup,
    // is "could not run", not a finding.
    {
        let mut w = Worker::new(&ctx, 0);
        w.connect()
            .map_err(|e| Error::Usage(format!("cannot probe {}: {e}", config.url)))?;
        if let Some(c) = w.conn.take() {
            c.close();
        }
    }
    let conns = config.conns.max(1);
    let per = config.cases / conns as u64;
    let extra = config.cases % conns as u64;
    let mut results: Vec<(Vec<Found>, u64, BTreeMap<String, u64>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..conns)
            .map(|k| {
                let ctx = &ctx;
                let n = per + u64::from((k as u64) < extra);
                s.spawn(move || {
                    let mut w = Worker::new(ctx, k as u64);
                    w.run(n);
                    (w.found, w.cases_done, w.answers)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    })
    .into_iter()
    .collect::<Result<_, _>>()
    .map_err(|_| {
        Error::Usage(
            "a probe thread panicked (a bug in protocol-schema; please report it with the seed)"
                .into(),
        )
    })?;
    let mut found: Vec<Found> = Vec::new();
    let mut cases = 0;
    let mut answers = BTreeMap::new();
    for (f, n, a) in results.drain(..) {
        found.extend(f);
        cases += n;
        for (k, v) in a {
            *answers.entry(k).or_insert(0) += v;
        }
    }
    let generated_for = ctx.started.elapsed();
    // The frames the limits govern, each on a connection of its own (unless the server
    // already died).
    if !found.iter().any(|f| f.kind == FindingKind::ServerDied) {
        let mut limits = Worker::new(&ctx, conns as u64);
        found.extend(limits.limit_cases());
        cases += limits.cases_done;
    }
    let elapsed = ctx.started.elapsed();
    let mut report = report::group(found);
    shrink::shrink_all(&ctx, &mut report);
    // Did it survive?
    match Conn::open(&config.url, config.deadline) {
        Ok(c) => c.close(),
        Err(e) => match report
            .iter_mut()
            .find(|f| f.kind == FindingKind::ServerDied)
        {
            Some(f) => f.detail = format!("{}; a fresh connection at the end failed too", f.detail),
            None => report.push(Finding::server_died(&e)),
        },
    }
    report.sort_by(|a, b| (a.kind, &a.message_type).cmp(&(b.kind, &b.message_type)));
    Ok(Report {
        url: config.url.clone(),
        seed: config.seed,
        connections: conns,
        cases,
        elapsed,
        generated_for,
        answers,
        setup: ctx.setup.iter().map(|(t, _)| t.clone()).collect(),
        findings: report,
    })
}
