//! One connection's run of cases: generate, send, await what the protocol promises, check
//! every server frame, turn what went wrong into findings.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::generate::{Gen, Rng};
use super::mutate::Mutator;
use super::{Case, CaseKind, Conn, Ctx, FindingKind, Found, ID_FIELD, Incoming};
use crate::model::Fields;
use crate::spec::Direction;

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
    pub fn run(&mut self, n: u64) {
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
    pub fn limit_cases(&mut self) -> Vec<Found> {
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
