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
mod shrink;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) use conn::{Conn, Incoming};
use generate::{Gen, Rng, render};
use mutate::{Mutation, Mutator};
pub use report::{Finding, FindingKind, Report};

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

/// One connection's run: its own PRNG, ids and connection.
pub(crate) struct Worker<'c, 'a> {
    ctx: &'c Ctx<'a>,
    rng: Rng,
    values: Gen<'a>,
    next_id: u64,
    pub conn: Option<Conn>,
    last_send: Option<Instant>,
    pub found: Vec<Found>,
    pub cases_done: u64,
    /// Server frames received, by type.
    pub answers: BTreeMap<String, u64>,
    /// Set when the server can no longer be reached: the worker stops.
    dead: bool,
}

impl<'c, 'a> Worker<'c, 'a> {
    pub fn new(ctx: &'c Ctx<'a>, k: u64) -> Self {
        let mut values = Gen::new(ctx.proto.client.root);
        for (text, _) in &ctx.setup {
            if let Ok(v) = serde_json::from_str::<Value>(text) {
                harvest(&v, &ctx.proto.client.tag, &mut values.setup_pool);
            }
        }
        Worker {
            ctx,
            rng: Rng::new(ctx.config.seed.wrapping_mul(1_000_003).wrapping_add(k)),
            values,
            next_id: 1_000,
            conn: None,
            last_send: None,
            found: Vec::new(),
            cases_done: 0,
            answers: BTreeMap::new(),
            dead: false,
        }
    }

    fn over_time(&self) -> bool {
        self.ctx.started.elapsed() >= self.ctx.config.time
    }

    /// Run `n` generated cases (or until the time budget ends).
    fn run(&mut self, n: u64) {
        for _ in 0..n {
            if self.over_time() || self.dead {
                break;
            }
            let Some(case) = self.next_case() else { break };
            let found = self.exchange(&case);
            self.found.extend(found);
            self.cases_done += 1;
        }
        if let Some(c) = self.conn.take() {
            c.close();
        }
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A valid message of the variant at `index`, or None when generation keeps missing the
    /// schema.
    fn valid(&mut self, index: usize) -> Option<Case> {
        let proto = &self.ctx.proto;
        let variant = &proto.client.variants[index];
        for _ in 0..10 {
            let values = self
                .values
                .message(&mut self.rng, &proto.client, variant, ID_FIELD);
            let mut fields: Vec<(String, String)> = values
                .into_iter()
                .map(|(k, v)| (k, v.to_string()))
                .collect();
            // The correlation field where the variant declares one: always on requests.
            let declares_id = Fields::of(variant.schema, None)
                .fields
                .iter()
                .any(|f| f.name == ID_FIELD);
            let with_id = declares_id && (variant.reply.is_some() || self.rng.chance(2, 3));
            if with_id {
                let id = self.fresh_id();
                let at = 1 + self.rng.below(fields.len() as u64) as usize;
                fields.insert(at.min(fields.len()), (ID_FIELD.to_owned(), id.to_string()));
            }
            // The tag first most of the time (what encoders write), last or inside otherwise.
            if fields.len() > 1 {
                match self.rng.below(4) {
                    0 => fields.rotate_left(1),
                    1 => {
                        let mid = fields.len() / 2;
                        fields.swap(0, mid);
                    }
                    _ => {}
                }
            }
            let wire = if variant.catch_all {
                "(unknown)".to_owned()
            } else {
                variant.wire.clone()
            };
            let case = Case::new(
                wire,
                CaseKind::Valid {
                    reply: variant.reply.clone(),
                },
                fields,
                None,
                ID_FIELD,
            );
            let valid = serde_json::from_str::<Value>(&case.text()).is_ok_and(|v| {
                proto
                    .validator
                    .check_frame(Direction::Client, &v)
                    .is_empty()
            });
            if valid {
                return Some(case);
            }
        }
        None
    }

    /// The next generated case: a valid message one time in three, else a mutant.
    fn next_case(&mut self) -> Option<Case> {
        let n = self.ctx.proto.client.variants.len() as u64;
        for _ in 0..50 {
            let index = self.rng.below(n) as usize;
            let Some(base) = self.valid(index) else {
                continue;
            };
            if self.rng.chance(1, 3) {
                return Some(base);
            }
            let proto = &self.ctx.proto;
            let mutator = Mutator {
                view: &proto.client,
                validator: proto.validator,
                id_field: ID_FIELD,
                max_size: self.ctx.config.max_size,
            };
            if let Some(m) = mutator.mutate(&mut self.rng, &base, &proto.client.variants[index]) {
                return Some(m);
            }
        }
        None
    }

    /// A valid request to follow a case that needs no answer.
    fn barrier(&mut self) -> Option<Case> {
        let requests = self.ctx.proto.requests.clone();
        let &index = self.rng.pick(&requests)?;
        self.valid(index)
    }

    /// Open a connection and send the setup.
    pub fn connect(&mut self) -> Result<(), String> {
        let mut conn = Conn::open(
            &self.ctx.config.url,
            self.ctx.config.deadline.max(Duration::from_secs(1)),
        )?;
        for (text, expected) in &self.ctx.setup {
            self.pace();
            conn.send_text(text)
                .map_err(|e| format!("setup: sending {text}: {e}"))?;
            let tag = &self.ctx.proto.server.tag;
            let mut waiting: Vec<String> = expected
                .iter()
                .map(|f| {
                    f.get(tag)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect();
            let deadline = Instant::now() + self.ctx.config.deadline;
            while !waiting.is_empty() {
                match conn.next(deadline) {
                    Incoming::Text(t) => {
                        let v: Option<Value> = serde_json::from_str(&t).ok();
                        let tag = v
                            .as_ref()
                            .and_then(|v| v.get(&self.ctx.proto.server.tag))
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        if let Some(at) = waiting.iter().position(|w| w == tag) {
                            waiting.remove(at);
                            if let Some(v) = &v {
                                harvest(v, &self.ctx.proto.server.tag, &mut self.values.setup_pool);
                            }
                        }
                    }
                    Incoming::Binary(_) => {}
                    other => {
                        return Err(format!(
                            "setup: after sending {text}, expected {} but got {}",
                            waiting.join(", "),
                            describe_incoming(&other)
                        ));
                    }
                }
            }
        }
        self.conn = Some(conn);
        Ok(())
    }

    fn pace(&mut self) {
        let rate = self.ctx.config.rate;
        if rate > 0.0 {
            let gap = Duration::from_secs_f64(1.0 / rate);
            if let Some(last) = self.last_send {
                let next = last + gap;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                }
            }
        }
        self.last_send = Some(Instant::now());
    }

    /// Make sure there is a connection; a server that stopped accepting is a finding.
    fn ensure_conn(&mut self, case: &Case) -> Result<(), Box<Found>> {
        if self.conn.is_some() {
            return Ok(());
        }
        self.connect().map_err(|e| {
            self.dead = true;
            Box::new(Found {
                kind: FindingKind::ServerDied,
                wire: case.wire.clone(),
                detail: format!("cannot reconnect: {e}"),
                case: case.clone(),
                sent: Vec::new(),
                received: None,
            })
        })
    }

    fn found(
        &self,
        kind: FindingKind,
        case: &Case,
        detail: String,
        sent: &[String],
        received: Option<String>,
    ) -> Found {
        Found {
            kind,
            wire: case.wire.clone(),
            detail,
            case: case.clone(),
            sent: sent.to_vec(),
            received,
        }
    }

    /// Send a case and check what comes back; the findings it showed.
    pub fn exchange(&mut self, case: &Case) -> Vec<Found> {
        let mut out = Vec::new();
        if let Err(f) = self.ensure_conn(case) {
            return vec![*f];
        }
        let mut sent = vec![case.text()];
        self.pace();
        if let Some(Err(e)) = self.conn.as_mut().map(|c| c.send_text(&sent[0])) {
            self.conn = None;
            out.push(self.found(
                FindingKind::ConnectionDropped,
                case,
                format!("sending failed: {e}"),
                &sent,
                None,
            ));
            return out;
        }
        let deadline = self.ctx.config.deadline;
        match &case.kind {
            CaseKind::Valid { reply: Some(reply) } => {
                let w = self.wait(case, &sent, case.id, Some(reply), false, deadline, &mut out);
                match w {
                    Waited::Answered => {}
                    Waited::Other(frame) => out.push(self.found(
                        FindingKind::WrongReply,
                        case,
                        format!("answered with another type than the declared `{reply}`"),
                        &sent,
                        Some(frame),
                    )),
                    Waited::Stray(e) => out.push(self.stray_finding(case, &sent, e)),
                    Waited::Timeout => out.push(self.no_reply(case, &sent, deadline)),
                    Waited::Ended(kind, detail) => {
                        out.push(self.found(kind, case, detail, &sent, None))
                    }
                }
            }
            CaseKind::Valid { reply: None } | CaseKind::Invalid(_) => {
                let invalid = matches!(case.kind, CaseKind::Invalid(_));
                if invalid {
                    match self.wait(case, &sent, case.id, None, false, deadline, &mut out) {
                        Waited::Answered => {}
                        Waited::Other(frame) => {
                            out.push(self.found(
                                FindingKind::InvalidAccepted,
                                case,
                                format!("{}: answered like a valid message", case.describe()),
                                &sent,
                                Some(frame),
                            ));
                        }
                        Waited::Stray(e) => out.push(self.stray_finding(case, &sent, e)),
                        Waited::Timeout => out.push(self.found(
                            FindingKind::InvalidAccepted,
                            case,
                            format!(
                                "{}: no error reply within {} ms",
                                case.describe(),
                                deadline.as_millis()
                            ),
                            &sent,
                            None,
                        )),
                        Waited::Ended(kind, detail) => {
                            let kind = if kind == FindingKind::UnexpectedClose {
                                FindingKind::ClosedOnInvalid
                            } else {
                                kind
                            };
                            out.push(self.found(
                                kind,
                                case,
                                format!("{}: {detail}", case.describe()),
                                &sent,
                                None,
                            ));
                            return out;
                        }
                    }
                }
                // The request that follows proves the case was handled and the connection
                // is still open.
                let Some(barrier) = self.barrier() else {
                    // No requests in this protocol: a quiet moment instead.
                    let _ = self.wait(
                        case,
                        &sent,
                        None,
                        None,
                        true,
                        Duration::from_millis(100),
                        &mut out,
                    );
                    return out;
                };
                sent.push(barrier.text());
                self.pace();
                if let Some(Err(e)) = self.conn.as_mut().map(|c| c.send_text(&barrier.text())) {
                    self.conn = None;
                    let kind = if invalid {
                        FindingKind::ClosedOnInvalid
                    } else {
                        FindingKind::ConnectionDropped
                    };
                    out.push(self.found(
                        kind,
                        case,
                        format!(
                            "{}: the next message could not be sent: {e}",
                            case.describe()
                        ),
                        &sent,
                        None,
                    ));
                    return out;
                }
                let reply = barrier.kind.clone();
                let CaseKind::Valid { reply: Some(reply) } = reply else {
                    return out;
                };
                // One error reply without an id here may be the answer to a valid message that
                // had none (an invalid one's error was awaited above).
                let strays_ok = !invalid && case.id.is_none();
                match self.wait(
                    &barrier,
                    &sent,
                    barrier.id,
                    Some(&reply),
                    strays_ok,
                    deadline,
                    &mut out,
                ) {
                    Waited::Answered => {}
                    Waited::Other(frame) => out.push(self.found(
                        FindingKind::WrongReply,
                        &barrier,
                        format!("answered with another type than the declared `{reply}`"),
                        &sent,
                        Some(frame),
                    )),
                    Waited::Stray(e) => out.push(self.stray_finding(&barrier, &sent, e)),
                    Waited::Timeout => out.push(self.no_reply(&barrier, &sent, deadline)),
                    Waited::Ended(kind, detail) => {
                        let kind = match kind {
                            FindingKind::UnexpectedClose if invalid => FindingKind::ClosedOnInvalid,
                            k => k,
                        };
                        out.push(self.found(
                            kind,
                            case,
                            format!("after {}: {detail}", case.describe()),
                            &sent,
                            None,
                        ));
                    }
                }
            }
            CaseKind::Binary | CaseKind::Oversize(_) => {}
        }
        out
    }

    fn stray_finding(&self, case: &Case, sent: &[String], error: String) -> Found {
        let id = case.id.unwrap_or_default();
        self.found(
            FindingKind::ErrorWithoutId,
            case,
            format!(
                "{}: the error reply does not carry the message's id {id}",
                case.describe()
            ),
            sent,
            Some(error),
        )
    }

    fn no_reply(&self, case: &Case, sent: &[String], deadline: Duration) -> Found {
        let id = case.id.unwrap_or_default();
        self.found(
            FindingKind::NoReply,
            case,
            format!(
                "request id {id}: no reply within {} ms",
                deadline.as_millis()
            ),
            sent,
            None,
        )
    }

    /// Read frames until one carries `id` (or, with no id, until an error reply without one)
    /// and is the reply or an error. An error reply without an id while one is awaited is
    /// the answer without its id, unless `strays_ok`. Every frame is checked against the
    /// server schema.
    #[allow(clippy::too_many_arguments)]
    fn wait(
        &mut self,
        case: &Case,
        sent: &[String],
        id: Option<u64>,
        reply: Option<&str>,
        strays_ok: bool,
        within: Duration,
        out: &mut Vec<Found>,
    ) -> Waited {
        let deadline = Instant::now() + within;
        let error_tag = self.ctx.proto.error_tag.clone();
        let mut strays_ok = strays_ok;
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Waited::Ended(FindingKind::ConnectionDropped, "no connection".into());
            };
            match conn.next(deadline) {
                Incoming::Text(t) => {
                    let Some(v) = self.check_server(&t, case, sent, out) else {
                        continue;
                    };
                    let tag = v
                        .get(&self.ctx.proto.server.tag)
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let frame_id = v.get(ID_FIELD).and_then(Value::as_u64);
                    let is_error = tag == error_tag;
                    match id {
                        Some(id) if frame_id == Some(id) => {
                            if is_error || reply.is_some_and(|r| r == tag) {
                                if !is_error && reply.is_some() {
                                    harvest(&v, &self.ctx.proto.server.tag, &mut self.values.pool);
                                }
                                return Waited::Answered;
                            }
                            return Waited::Other(t);
                        }
                        // A frame no JSON parser reads an id from may still get one back.
                        None if is_error && !strays_ok => return Waited::Answered,
                        // A request of a protocol without correlation ids: its reply type.
                        None if reply.is_some_and(|r| r == tag) => return Waited::Answered,
                        Some(_) if is_error && frame_id.is_none() => {
                            if !strays_ok {
                                return Waited::Stray(t);
                            }
                            strays_ok = false;
                        }
                        _ => {}
                    }
                }
                Incoming::Binary(n) => out.push(self.found(
                    FindingKind::BinaryFromServer,
                    case,
                    format!("the server sent a {n}-byte binary frame; the protocol is JSON text"),
                    sent,
                    None,
                )),
                Incoming::Timeout => return Waited::Timeout,
                Incoming::Close(frame) => {
                    self.conn = None;
                    return Waited::Ended(
                        FindingKind::UnexpectedClose,
                        format!(
                            "the server closed the connection ({})",
                            describe_close(&frame)
                        ),
                    );
                }
                Incoming::Dropped(e) => {
                    self.conn = None;
                    return Waited::Ended(
                        FindingKind::ConnectionDropped,
                        format!("the connection dropped without a close frame ({e})"),
                    );
                }
            }
        }
    }

    /// Check a server frame: JSON, valid against the server schema. The parsed frame when it
    /// is JSON.
    fn check_server(
        &mut self,
        text: &str,
        case: &Case,
        sent: &[String],
        out: &mut Vec<Found>,
    ) -> Option<Value> {
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                out.push(Found {
                    kind: FindingKind::ServerFrameNotJson,
                    wire: "-".into(),
                    detail: format!("{e}"),
                    case: case.clone(),
                    sent: sent.to_vec(),
                    received: Some(text.to_owned()),
                });
                return None;
            }
        };
        let tag = v
            .get(&self.ctx.proto.server.tag)
            .and_then(Value::as_str)
            .unwrap_or("-");
        // Error replies count by code: `not_in_room` everywhere says the handlers behind a
        // join were not reached.
        let key = match v.get("code").and_then(Value::as_str) {
            Some(code) if tag == self.ctx.proto.error_tag => format!("{tag}/{code}"),
            _ => tag.to_owned(),
        };
        *self.answers.entry(key).or_insert(0) += 1;
        let failures = self.ctx.proto.validator.check_frame(Direction::Server, &v);
        if let Some(f) = failures.first() {
            let tag = v
                .get(&self.ctx.proto.server.tag)
                .and_then(Value::as_str)
                .unwrap_or("-");
            let at = if f.pointer.is_empty() {
                "the frame".to_owned()
            } else {
                f.pointer.clone()
            };
            out.push(Found {
                kind: FindingKind::InvalidServerFrame,
                wire: tag.to_owned(),
                detail: format!("at {at}: {}", f.reason),
                case: case.clone(),
                sent: sent.to_vec(),
                received: Some(text.to_owned()),
            });
        }
        Some(v)
    }

    /// The binary frame and the oversized frame, each on a fresh connection.
    fn limit_cases(&mut self) -> Vec<Found> {
        let mut out = Vec::new();
        let first = self.ctx.proto.client.known().next().map(|v| {
            (
                self.ctx.proto.client.tag.clone(),
                Value::String(v.wire.clone()).to_string(),
                v.wire.clone(),
            )
        });
        let (fields, wire) = match first {
            Some((k, v, w)) => (vec![(k, v)], w),
            None => (Vec::new(), "-".to_owned()),
        };
        let mut cases = vec![(
            Case::new("-".into(), CaseKind::Binary, Vec::new(), None, ID_FIELD),
            1003,
        )];
        if let Some(max) = self.ctx.config.max_size {
            cases.push((
                Case::new(wire, CaseKind::Oversize(max + 1), fields, None, ID_FIELD),
                1009,
            ));
        }
        for (case, code) in cases {
            out.extend(self.limit_case(&case, code));
            self.cases_done += 1;
        }
        out
    }

    /// Send a frame the limits govern on a fresh connection; expect a close frame with `code`.
    pub fn limit_case(&mut self, case: &Case, code: u16) -> Vec<Found> {
        let mut out = Vec::new();
        if let Some(c) = self.conn.take() {
            c.close();
        }
        if let Err(f) = self.ensure_conn(case) {
            return vec![*f];
        }
        let sent = vec![case.shown()];
        let Some(conn) = self.conn.as_mut() else {
            return out;
        };
        let sent_ok = match case.kind {
            CaseKind::Binary => conn.send_binary(&[1, 2, 3]),
            _ => conn.send_text(&case.text()),
        };
        // A server may close while the frame is still being written; read what it said anyway.
        let _ = sent_ok;
        let deadline = Instant::now() + self.ctx.config.deadline;
        while let Some(conn) = self.conn.as_mut() {
            match conn.next(deadline) {
                Incoming::Text(t) => {
                    self.check_server(&t, case, &sent, &mut out);
                }
                Incoming::Binary(_) => {}
                Incoming::Close(Some((c, _))) if c == code => {
                    self.conn = None;
                    break;
                }
                Incoming::Close(frame) => {
                    self.conn = None;
                    out.push(self.found(
                        FindingKind::WrongCloseCode,
                        case,
                        format!(
                            "{}: closed with {}, expected {code}",
                            case.describe(),
                            describe_close(&frame)
                        ),
                        &sent,
                        None,
                    ));
                    break;
                }
                Incoming::Dropped(e) => {
                    self.conn = None;
                    out.push(self.found(
                        FindingKind::ConnectionDropped,
                        case,
                        format!("{}: the connection dropped without a close frame ({e}); expected close {code}", case.describe()),
                        &sent,
                        None,
                    ));
                    break;
                }
                Incoming::Timeout => {
                    out.push(self.found(
                        FindingKind::NoClose,
                        case,
                        format!(
                            "{}: the connection stayed open; expected close {code}",
                            case.describe()
                        ),
                        &sent,
                        None,
                    ));
                    break;
                }
            }
        }
        if let Some(c) = self.conn.take() {
            c.close();
        }
        out
    }
}

/// How waiting for an answer ended.
enum Waited {
    /// The awaited reply or error arrived.
    Answered,
    /// A frame with the id arrived, of another type than awaited.
    Other(String),
    /// An error reply without an id came while one with an id was awaited.
    Stray(String),
    /// Nothing by the deadline.
    Timeout,
    /// The connection ended.
    Ended(FindingKind, String),
}

fn describe_close(frame: &Option<(u16, String)>) -> String {
    match frame {
        Some((code, reason)) if reason.is_empty() => format!("close {code}"),
        Some((code, reason)) => format!("close {code} {reason:?}"),
        None => "a close frame without a code".into(),
    }
}

fn describe_incoming(i: &Incoming) -> String {
    match i {
        Incoming::Text(t) => format!("the frame {t}"),
        Incoming::Binary(n) => format!("a {n}-byte binary frame"),
        Incoming::Close(f) => describe_close(f),
        Incoming::Dropped(e) => format!("a dropped connection ({e})"),
        Incoming::Timeout => "nothing in time".into(),
    }
}

/// Strings of a frame worth reusing in generated fields (room names, message ids): short
/// ones, the tag left out, at most 64 kept.
fn harvest(v: &Value, tag: &str, pool: &mut Vec<String>) {
    fn walk(v: &Value, pool: &mut Vec<String>) {
        match v {
            Value::String(s)
                if !s.is_empty() && s.len() <= 64 && !pool.contains(s) && pool.len() < 64 =>
            {
                pool.push(s.clone());
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, pool)),
            Value::Object(o) => o.values().for_each(|i| walk(i, pool)),
            _ => {}
        }
    }
    match v {
        Value::Object(o) => o
            .iter()
            .filter(|(k, _)| *k != tag)
            .for_each(|(_, x)| walk(x, pool)),
        other => walk(other, pool),
    }
}
