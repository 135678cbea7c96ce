//! What a probe found: findings grouped by kind and message type, as a table or JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Case, Found};

/// The kinds of finding, in the order the table lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum FindingKind {
    /// The server stopped accepting connections.
    ServerDied,
    /// The connection ended without a close frame.
    ConnectionDropped,
    /// The server closed the connection after an invalid message (it should answer with an
    /// error reply and keep the connection open).
    ClosedOnInvalid,
    /// The server closed the connection after a valid message.
    UnexpectedClose,
    /// A binary or oversized frame was closed with another code than 1003 / 1009.
    WrongCloseCode,
    /// A binary or oversized frame did not close the connection.
    NoClose,
    /// A server frame the server schema rejects.
    InvalidServerFrame,
    /// A server frame that is not JSON.
    ServerFrameNotJson,
    /// A binary frame from the server in a JSON protocol.
    BinaryFromServer,
    /// A request not answered within the deadline.
    NoReply,
    /// A request answered with another type than its declared reply or an error.
    WrongReply,
    /// An error reply without the id of the message it answers.
    ErrorWithoutId,
    /// An invalid message not answered with an error reply.
    InvalidAccepted,
}

impl FindingKind {
    /// The kebab-case name in tables and JSON: `no-reply`, `error-without-id`, ...
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::ServerDied => "server-died",
            FindingKind::ConnectionDropped => "connection-dropped",
            FindingKind::ClosedOnInvalid => "closed-on-invalid",
            FindingKind::UnexpectedClose => "unexpected-close",
            FindingKind::WrongCloseCode => "wrong-close-code",
            FindingKind::NoClose => "no-close",
            FindingKind::InvalidServerFrame => "invalid-server-frame",
            FindingKind::ServerFrameNotJson => "server-frame-not-json",
            FindingKind::BinaryFromServer => "binary-from-server",
            FindingKind::NoReply => "no-reply",
            FindingKind::WrongReply => "wrong-reply",
            FindingKind::ErrorWithoutId => "error-without-id",
            FindingKind::InvalidAccepted => "invalid-accepted",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One kind of problem with one message type, seen `count` times.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Finding {
    /// What went wrong.
    pub kind: FindingKind,
    /// The message type it is about (the client's; the server frame's for frames the server
    /// schema rejects; `-` when there is none).
    pub message_type: String,
    /// The first occurrence, in words (pointer and reason for schema violations).
    pub detail: String,
    /// How many cases showed it.
    pub count: u64,
    /// The frames sent in the first occurrence (after the setup).
    pub example: Vec<String>,
    /// The server frame at fault in the first occurrence, when one is.
    pub received: Option<String>,
    /// The shrunk reproducer: the exact frames to send after the setup, in order.
    pub reproducer: Vec<String>,
    /// How shrinking went: `shrunk in N steps`, or why it was not.
    pub shrink: String,
    pub(crate) case: Option<Case>,
}

impl Finding {
    pub(crate) fn server_died(reason: &str) -> Self {
        Finding {
            kind: FindingKind::ServerDied,
            message_type: "-".into(),
            detail: format!("a fresh connection at the end failed: {reason}"),
            count: 1,
            example: Vec::new(),
            received: None,
            reproducer: Vec::new(),
            shrink: "nothing to shrink".into(),
            case: None,
        }
    }

    /// The finding as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "kind": self.kind.name(),
            "type": self.message_type,
            "count": self.count,
            "detail": self.detail,
            "example": self.example,
            "received": self.received,
            "reproducer": self.reproducer,
            "shrink": self.shrink,
        })
    }
}

/// Group raw findings by (kind, message type); the first occurrence is the example.
pub(crate) fn group(found: Vec<Found>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for f in found {
        if let Some(g) = out
            .iter_mut()
            .find(|g| g.kind == f.kind && g.message_type == f.wire)
        {
            g.count += 1;
            continue;
        }
        out.push(Finding {
            kind: f.kind,
            message_type: f.wire,
            detail: f.detail,
            count: 1,
            example: f.sent.clone(),
            received: f.received,
            reproducer: f.sent,
            shrink: "not shrunk".into(),
            case: Some(f.case),
        });
    }
    out
}

/// The outcome of [`super::probe`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Report {
    /// Where it probed.
    pub url: String,
    /// The seed.
    pub seed: u64,
    /// Connections used for generated cases.
    pub connections: usize,
    /// Cases run (generated ones and the limit frames).
    pub cases: u64,
    /// Wall time of the cases (before shrinking).
    pub elapsed: Duration,
    /// Wall time of the generated cases alone.
    pub generated_for: Duration,
    /// Server frames received during the cases, by type (error replies by code too:
    /// `error/not_in_room`): which handlers the traffic reached.
    pub answers: BTreeMap<String, u64>,
    /// The setup frames sent first on every connection (reproducers follow them).
    pub setup: Vec<String>,
    /// The findings, by kind then message type.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Exit status of `protocol-schema probe`: 0 no findings, 1 findings.
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.findings.is_empty())
    }

    /// Cases per second over the run.
    pub fn cases_per_second(&self) -> f64 {
        self.cases as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The report as JSON (`--format json`).
    pub fn to_json(&self) -> Value {
        json!({
            "url": self.url,
            "seed": self.seed,
            "connections": self.connections,
            "cases": self.cases,
            "elapsed_ms": self.elapsed.as_millis() as u64,
            "cases_per_second": (self.cases_per_second() * 10.0).round() / 10.0,
            "answers": self.answers,
            "setup": self.setup,
            "findings": self.findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
        })
    }
}

/// Frames longer than this are cut in the table (the JSON report has them whole).
const SHOWN: usize = 160;

fn cut(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_owned();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "probe {}: {} cases in {:.1} s ({:.1} cases/s), {} connection(s), seed {}",
            self.url,
            self.cases,
            self.elapsed.as_secs_f64(),
            self.cases_per_second(),
            self.connections,
            self.seed
        )?;
        let answers: Vec<String> = self
            .answers
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(f, "server frames by type: {}", answers.join(", "))?;
        if self.findings.is_empty() {
            return writeln!(f, "no findings");
        }
        writeln!(f, "{} finding(s):\n", self.findings.len())?;
        if !self.setup.is_empty() {
            writeln!(
                f,
                "setup, sent first on every connection and before each reproducer:"
            )?;
            for frame in &self.setup {
                writeln!(f, "    {}", cut(frame, SHOWN))?;
            }
            writeln!(f)?;
        }
        let kind_w = self
            .findings
            .iter()
            .map(|x| x.kind.name().len())
            .max()
            .unwrap_or(4)
            .max(4);
        let type_w = self
            .findings
            .iter()
            .map(|x| x.message_type.len())
            .max()
            .unwrap_or(4)
            .max(12);
        writeln!(
            f,
            "{:kind_w$}  {:type_w$}  {:>5}  example",
            "kind", "message type", "count"
        )?;
        for x in &self.findings {
            let example = x
                .example
                .first()
                .map_or_else(|| "-".to_owned(), |e| cut(e, 80));
            writeln!(
                f,
                "{:kind_w$}  {:type_w$}  {:>5}  {example}",
                x.kind.name(),
                x.message_type,
                x.count
            )?;
        }
        for x in &self.findings {
            writeln!(f, "\n{} ({}): {}", x.kind, x.message_type, x.detail)?;
            if let Some(r) = &x.received {
                writeln!(f, "  server sent: {}", cut(r, SHOWN))?;
            }
            if !x.reproducer.is_empty() {
                writeln!(f, "  reproducer ({}), send after the setup:", x.shrink)?;
                for frame in &x.reproducer {
                    writeln!(f, "    {}", cut(frame, 4096))?;
                }
            }
        }
        Ok(())
    }
}
