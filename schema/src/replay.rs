//! Replaying a recorded session against a live server: recorded traffic as a regression test.
//!
//! The recording is the test kit's JSONL (`{"from":"client"|"server","conn":N,"frame":{...}}`,
//! what `TestServer::record_to` and `protocol-schema validate` use). [`replay`] opens one
//! connection per recorded `conn` (the URL's `{conn}` replaced by its number, so each can
//! connect as its own user), walks the records in their order, sends each client frame and
//! reads the next server frame of that connection for each server record, and compares it with
//! the recorded one.
//!
//! Volatile values (generated ids, offsets, timestamps) are matched by first appearance: a
//! number, or a string with a digit and no whitespace, first seen in a server frame under a
//! field name (the client never sent it there, nor in a connection URL's query, and no earlier
//! frame held it there), is bound to whatever the replay produced in its place, and every later
//! appearance under that field must map the same way, in server frames and in the client
//! frames sent after (a `read` of recorded `messageId` `n1-1` sends the replay's id). `--ignore POINTER`
//! skips a field everywhere. The first divergence of each connection is reported as a diff;
//! frames of that connection are not compared after it. A client frame recorded as a JSON
//! string (the test kit's form of a frame that was not JSON) is sent as that raw text.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::Error;
use crate::probe::{Conn, Incoming};

/// What to replay where.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReplayConfig {
    /// The WebSocket URL; `{conn}` in it becomes the recorded connection number.
    pub url: String,
    /// The recording (JSONL).
    pub recording: PathBuf,
    /// JSON Pointers (into server frames) not compared: `/timestamp`, `/members/0`.
    pub ignore: Vec<String>,
    /// How long to wait for each server frame.
    pub deadline: Duration,
}

impl ReplayConfig {
    /// Replay `recording` against `url`, 2 s per frame, nothing ignored.
    pub fn new(url: impl Into<String>, recording: impl Into<PathBuf>) -> Self {
        ReplayConfig {
            url: url.into(),
            recording: recording.into(),
            ignore: Vec::new(),
            deadline: Duration::from_secs(2),
        }
    }
}

/// The first place a connection's replay differs from its recording.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Divergence {
    /// The recorded connection number.
    pub conn: u64,
    /// The line of the recording with the frame that was expected.
    pub line: usize,
    /// Where in the frame (`""`: the frame as a whole).
    pub pointer: String,
    /// Why, in words.
    pub reason: String,
    /// The recorded frame.
    pub expected: Value,
    /// What the server sent instead (text), or what happened.
    pub actual: String,
    /// A unified diff of the two frames, pretty-printed.
    pub diff: String,
}

/// The outcome of [`replay`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReplayReport {
    /// The recording.
    pub recording: PathBuf,
    /// Connections opened.
    pub connections: usize,
    /// Client frames sent.
    pub sent: u64,
    /// Server frames that matched.
    pub matched: u64,
    /// Volatile values bound (recorded -> replayed), for the curious.
    pub bound: BTreeMap<String, String>,
    /// The first divergence of each connection that had one.
    pub divergences: Vec<Divergence>,
}

impl ReplayReport {
    /// Exit status of `protocol-schema replay`: 0 as recorded, 1 divergences.
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.divergences.is_empty())
    }
}

struct Record {
    line: usize,
    client: bool,
    conn: u64,
    frame: Value,
}

fn read_recording(path: &Path) -> Result<Vec<Record>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| {
            Error::Usage(format!(
                "{}:{}: {reason} (expected {{\"from\":\"client\"|\"server\",\"conn\":N,\"frame\":{{...}}}})",
                path.display(),
                n + 1
            ))
        };
        let v: Value = serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
        let client = match v.get("from").and_then(Value::as_str) {
            Some("client") => true,
            Some("server") => false,
            _ => return Err(bad("\"from\" must be \"client\" or \"server\"".into())),
        };
        let conn = v.get("conn").and_then(Value::as_u64).unwrap_or(0);
        let frame = v
            .get("frame")
            .cloned()
            .ok_or_else(|| bad("no \"frame\"".into()))?;
        out.push(Record {
            line: n + 1,
            client,
            conn,
            frame,
        });
    }
    if out.is_empty() {
        return Err(Error::Usage(format!(
            "{}: the recording is empty",
            path.display()
        )));
    }
    Ok(out)
}

/// Recorded values and what the replay produced for them, each under the field name it sits
/// in (`messageId="m17"`), so a request id 1 and a version 1 are different values.
#[derive(Default)]
struct Bindings {
    /// Recorded `field=value` -> replayed value.
    map: HashMap<String, Value>,
    /// Replayed `field=value`s already bound (a binding is one to one).
    taken: BTreeSet<String>,
    /// Recorded `field=value`s seen so far (sent by the client, or matched in a server frame).
    known: BTreeSet<String>,
    /// Values the client sent in a connection URL's query (`user=u1`), known under any field.
    from_urls: BTreeSet<String>,
}

/// `messageId="m17"`: the key of a leaf under the field (or the array's field) it sits in.
fn key(field: &str, v: &Value) -> String {
    format!("{field}={v}")
}

impl Bindings {
    fn learn(&mut self, field: &str, v: &Value) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| self.learn(field, x)),
            Value::Object(o) => o.iter().for_each(|(k, x)| self.learn(k, x)),
            leaf => {
                self.known.insert(key(field, leaf));
            }
        }
    }

    /// `v` with every bound recorded value replaced by its replayed one.
    fn apply(&self, field: &str, v: &Value) -> Value {
        match v {
            Value::Array(a) => Value::Array(a.iter().map(|x| self.apply(field, x)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), self.apply(k, x)))
                    .collect(),
            ),
            leaf => self
                .map
                .get(&key(field, leaf))
                .cloned()
                .unwrap_or_else(|| leaf.clone()),
        }
    }
}

/// Whether a value may be generated by the server: a number, or a string with a digit and
/// no whitespace (an id, an epoch, a timestamp; not a sentence).
fn volatile(v: &Value) -> bool {
    match v {
        Value::Number(_) => true,
        Value::String(s) => {
            s.bytes().any(|b| b.is_ascii_digit()) && !s.chars().any(char::is_whitespace)
        }
        _ => false,
    }
}

/// The values of a URL's query (`ws://h/ws?user=u1&x=2` -> `u1`, `2`).
fn query_values(url: &str) -> impl Iterator<Item = &str> {
    url.split_once('?')
        .map_or("", |(_, q)| q)
        .split('&')
        .filter_map(|kv| kv.split_once('=').map(|(_, v)| v))
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Compare a recorded frame with a replayed one; new bindings go into `fresh`.
fn compare(
    rec: &Value,
    act: &Value,
    field: &str,
    at: &str,
    ignore: &[String],
    b: &Bindings,
    fresh: &mut Vec<(String, Value)>,
) -> Result<(), (String, String)> {
    if ignore.iter().any(|p| p == at) {
        return Ok(());
    }
    match (rec, act) {
        (Value::Object(r), Value::Object(a)) => {
            for (k, rv) in r {
                let p = format!("{at}/{}", escape(k));
                match a.get(k) {
                    Some(av) => compare(rv, av, k, &p, ignore, b, fresh)?,
                    None if ignore.contains(&p) => {}
                    None => return Err((p, "the field is missing".into())),
                }
            }
            for k in a.keys() {
                let p = format!("{at}/{}", escape(k));
                if !r.contains_key(k) && !ignore.contains(&p) {
                    return Err((p, "a field the recording does not have".into()));
                }
            }
            Ok(())
        }
        (Value::Array(r), Value::Array(a)) => {
            if r.len() != a.len() {
                return Err((
                    at.to_owned(),
                    format!("{} items, the recording has {}", a.len(), r.len()),
                ));
            }
            for (i, (rv, av)) in r.iter().zip(a).enumerate() {
                compare(rv, av, field, &format!("{at}/{i}"), ignore, b, fresh)?;
            }
            Ok(())
        }
        _ => {
            let key = key(field, rec);
            let bound = b
                .map
                .get(&key)
                .or_else(|| fresh.iter().find(|(k, _)| *k == key).map(|(_, v)| v));
            if let Some(expected) = bound {
                return if expected == act {
                    Ok(())
                } else {
                    Err((
                        at.to_owned(),
                        format!(
                            "expected {expected} (the replay's value for the recorded {rec}), got {act}"
                        ),
                    ))
                };
            }
            let same_kind = std::mem::discriminant(rec) == std::mem::discriminant(act);
            let act_key = self::key(field, act);
            let act_free = !b.taken.contains(&act_key)
                && !fresh
                    .iter()
                    .any(|(k, v)| v == act && k.split_once('=').map(|x| x.0) == Some(field));
            let sent_in_url = rec.as_str().is_some_and(|s| b.from_urls.contains(s));
            if volatile(rec) && !b.known.contains(&key) && !sent_in_url && same_kind && act_free {
                fresh.push((key, act.clone()));
                return Ok(());
            }
            if rec == act {
                Ok(())
            } else {
                Err((at.to_owned(), format!("expected {rec}, got {act}")))
            }
        }
    }
}

fn diff_of(expected: &Value, actual: &str) -> String {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    let actual = match serde_json::from_str::<Value>(actual) {
        Ok(v) => pretty(&v),
        Err(_) => format!("{actual}\n"),
    };
    similar::TextDiff::from_lines(pretty(expected).as_str(), actual.as_str())
        .unified_diff()
        .context_radius(3)
        .header("recorded", "replayed")
        .to_string()
}

struct Replayed {
    conn: Option<Conn>,
    diverged: bool,
}

/// Replay a recording; see the [module docs](self).
///
/// # Errors
///
/// [`Error`] when it cannot run: the recording unreadable or malformed, a connection refused.
pub fn replay(config: &ReplayConfig) -> Result<ReplayReport, Error> {
    let records = read_recording(&config.recording)?;
    let mut conns: BTreeMap<u64, Replayed> = BTreeMap::new();
    let mut b = Bindings::default();
    let mut report = ReplayReport {
        recording: config.recording.clone(),
        connections: 0,
        sent: 0,
        matched: 0,
        bound: BTreeMap::new(),
        divergences: Vec::new(),
    };
    for r in &records {
        if let std::collections::btree_map::Entry::Vacant(slot) = conns.entry(r.conn) {
            let url = config.url.replace("{conn}", &r.conn.to_string());
            b.from_urls.extend(query_values(&url).map(str::to_owned));
            let conn =
                Conn::open(&url, config.deadline.max(Duration::from_secs(1))).map_err(|e| {
                    Error::Usage(format!(
                        "cannot replay connection {} of {}: {e}",
                        r.conn,
                        config.recording.display()
                    ))
                })?;
            slot.insert(Replayed {
                conn: Some(conn),
                diverged: false,
            });
            report.connections += 1;
        }
        let Some(state) = conns.get_mut(&r.conn) else {
            continue;
        };
        if state.diverged {
            continue;
        }
        let Some(conn) = state.conn.as_mut() else {
            continue;
        };
        if r.client {
            let text = match &r.frame {
                Value::String(raw) => raw.clone(),
                frame => b.apply("", frame).to_string(),
            };
            b.learn("", &r.frame);
            if let Err(e) = conn.send_text(&text) {
                state.diverged = true;
                report.divergences.push(Divergence {
                    conn: r.conn,
                    line: r.line,
                    pointer: String::new(),
                    reason: format!("sending the recorded client frame failed: {e}"),
                    expected: r.frame.clone(),
                    actual: "(connection gone)".into(),
                    diff: String::new(),
                });
            } else {
                report.sent += 1;
            }
            continue;
        }
        let got = conn.next(Instant::now() + config.deadline);
        let diverge = |pointer: String, reason: String, actual: String| Divergence {
            conn: r.conn,
            line: r.line,
            pointer,
            diff: diff_of(&r.frame, &actual),
            reason,
            expected: r.frame.clone(),
            actual,
        };
        let divergence = match got {
            Incoming::Text(t) => match serde_json::from_str::<Value>(&t) {
                Ok(actual) => {
                    let mut fresh = Vec::new();
                    match compare(&r.frame, &actual, "", "", &config.ignore, &b, &mut fresh) {
                        Ok(()) => {
                            for (k, v) in fresh {
                                let field = k.split_once('=').map_or("", |(f, _)| f);
                                b.taken.insert(key(field, &v));
                                report.bound.insert(k.clone(), v.to_string());
                                b.map.insert(k, v);
                            }
                            b.learn("", &r.frame);
                            report.matched += 1;
                            None
                        }
                        Err((pointer, reason)) => Some(diverge(pointer, reason, t)),
                    }
                }
                Err(e) => Some(diverge(
                    String::new(),
                    format!("the server frame is not JSON: {e}"),
                    t,
                )),
            },
            Incoming::Binary(n) => Some(diverge(
                String::new(),
                format!("a {n}-byte binary frame instead"),
                "(binary frame)".into(),
            )),
            Incoming::Timeout => Some(diverge(
                String::new(),
                format!("no frame within {} ms", config.deadline.as_millis()),
                "(nothing)".into(),
            )),
            Incoming::Close(f) => Some(diverge(
                String::new(),
                format!("the server closed the connection ({f:?})"),
                "(closed)".into(),
            )),
            Incoming::Dropped(e) => Some(diverge(
                String::new(),
                format!("the connection dropped: {e}"),
                "(dropped)".into(),
            )),
        };
        if let Some(d) = divergence {
            state.diverged = true;
            report.divergences.push(d);
        }
    }
    for (_, s) in conns {
        if let Some(c) = s.conn {
            c.close();
        }
    }
    Ok(report)
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "replay {}: {} connection(s), {} client frames sent, {} server frames as recorded, {} volatile value(s) mapped",
            self.recording.display(),
            self.connections,
            self.sent,
            self.matched,
            self.bound.len()
        )?;
        if self.divergences.is_empty() {
            return writeln!(f, "no divergence");
        }
        for d in &self.divergences {
            let at = if d.pointer.is_empty() {
                "the frame".to_owned()
            } else {
                d.pointer.clone()
            };
            writeln!(
                f,
                "\nconn {}, line {}: first divergence at {at}: {}",
                d.conn, d.line, d.reason
            )?;
            write!(f, "{}", d.diff)?;
        }
        Ok(())
    }
}

impl Divergence {
    /// The divergence as JSON.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "conn": self.conn,
            "line": self.line,
            "pointer": self.pointer,
            "reason": self.reason,
            "expected": self.expected,
            "actual": self.actual,
            "diff": self.diff,
        })
    }
}

impl ReplayReport {
    /// The report as JSON (`--format json`).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "recording": self.recording.display().to_string(),
            "connections": self.connections,
            "sent": self.sent,
            "matched": self.matched,
            "bound": self.bound,
            "divergences": self.divergences.iter().map(Divergence::to_json).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cmp(rec: Value, act: Value, b: &Bindings) -> Result<Vec<(String, Value)>, (String, String)> {
        let mut fresh = Vec::new();
        compare(&rec, &act, "", "", &[], b, &mut fresh).map(|()| fresh)
    }

    #[test]
    fn volatile_values_bind_by_first_appearance() {
        let mut b = Bindings::default();
        b.learn("", &json!({"type": "message", "id": 1, "text": "hi 2"}));
        let fresh = cmp(
            json!({"type": "sent", "id": 1, "messageId": "m17"}),
            json!({"type": "sent", "id": 1, "messageId": "n1-4"}),
            &b,
        )
        .unwrap();
        assert_eq!(fresh, vec![("messageId=\"m17\"".to_owned(), json!("n1-4"))]);
        for (k, v) in fresh {
            b.taken.insert(key("messageId", &v));
            b.map.insert(k, v);
        }
        // The same recorded id must map the same way.
        cmp(
            json!({"messageId": "m17"}),
            json!({"messageId": "n1-4"}),
            &b,
        )
        .unwrap();
        let (at, why) = cmp(
            json!({"messageId": "m17"}),
            json!({"messageId": "n1-5"}),
            &b,
        )
        .unwrap_err();
        assert_eq!(at, "/messageId");
        assert!(why.contains("n1-4"), "{why}");
        // What the client sent must come back as sent.
        assert!(cmp(json!({"id": 1}), json!({"id": 2}), &b).is_err());
        assert!(cmp(json!({"text": "hi 2"}), json!({"text": "hi 3"}), &b).is_err());
        // A number the client sent under one name is new under another: a version 1 after a
        // request id 1.
        assert_eq!(
            cmp(json!({"version": 1}), json!({"version": 501}), &b).unwrap(),
            vec![("version=1".to_owned(), json!(501))]
        );
        // Words are not volatile.
        assert!(cmp(json!({"user": "alice"}), json!({"user": "bob"}), &b).is_err());
        // Another recorded value may not take a replayed value already bound.
        assert!(
            cmp(
                json!({"messageId": "m18"}),
                json!({"messageId": "n1-4"}),
                &b
            )
            .is_err()
        );
        // Client frames sent later use the replayed value.
        assert_eq!(
            b.apply("", &json!({"type": "read", "messageId": "m17"})),
            json!({"type": "read", "messageId": "n1-4"})
        );
    }

    #[test]
    fn missing_and_extra_fields_and_ignore() {
        let b = Bindings::default();
        assert_eq!(cmp(json!({"a": true}), json!({}), &b).unwrap_err().0, "/a");
        assert_eq!(cmp(json!({}), json!({"b": true}), &b).unwrap_err().0, "/b");
        let mut fresh = Vec::new();
        compare(
            &json!({"a": true, "t": "x"}),
            &json!({"a": true, "t": "y"}),
            "",
            "",
            &["/t".into()],
            &b,
            &mut fresh,
        )
        .unwrap();
    }
}
