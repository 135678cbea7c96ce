//! Shrinking a failing case to a small reproducer: greedy steps (drop a field, empty or halve a
//! string, an array, an object, move a number toward 0, halve a deep nesting), each kept only
//! when the smaller case still fails the same way on a fresh connection. Bounded in attempts
//! and time.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::mutate::{Mutation, nested};
use super::report::{Finding, FindingKind};
use super::{Case, CaseKind, Ctx, Found, ID_FIELD, Worker};
use crate::spec::Direction;

/// Attempts per finding.
const ATTEMPTS: usize = 60;

/// Shrink the example of every finding (within the run's time budget again, at most 60 s).
pub(crate) fn shrink_all(ctx: &Ctx<'_>, findings: &mut [Finding]) {
    let end = Instant::now() + ctx.config.time.min(Duration::from_secs(60));
    for (i, f) in findings.iter_mut().enumerate() {
        let Some(case) = f.case.clone() else { continue };
        match case.kind {
            CaseKind::Binary | CaseKind::Oversize(_) => {
                f.reproducer = vec![case.shown()];
                f.shrink = "a single frame".into();
                continue;
            }
            _ if f.kind == FindingKind::ServerDied => {
                f.shrink = "not shrunk: the server stopped accepting connections".into();
                continue;
            }
            _ => {}
        }
        if Instant::now() >= end {
            f.shrink = "not shrunk: out of time".into();
            continue;
        }
        let mut w = Worker::new(ctx, 1_000_000 + i as u64);
        let first = match reproduce(&mut w, &case, f.kind, &f.message_type) {
            Ok(found) => found,
            Err(why) => {
                f.shrink = format!("not shrunk: {why}");
                continue;
            }
        };
        let (mut best, mut sent) = (case, first.sent);
        let mut steps = 0;
        let mut attempts = 0;
        'outer: while attempts < ATTEMPTS && Instant::now() < end {
            for cand in candidates(&best, &ctx.proto.client.tag) {
                if attempts >= ATTEMPTS || Instant::now() >= end {
                    break 'outer;
                }
                if !same_class(ctx, &best, &cand) {
                    continue;
                }
                attempts += 1;
                if let Ok(found) = reproduce(&mut w, &cand, f.kind, &f.message_type) {
                    best = cand;
                    sent = found.sent;
                    steps += 1;
                    continue 'outer;
                }
            }
            break;
        }
        if let Some(c) = w.conn.take() {
            c.close();
        }
        f.shrink = if best.raw.is_some() {
            "a raw frame: nothing smaller to try".to_owned()
        } else {
            format!("shrunk in {steps} step(s), {attempts} attempt(s)")
        };
        f.reproducer = sent;
        f.case = Some(best);
    }
}

/// Run `case` alone on a fresh connection (after the setup); the finding when it fails the
/// same way, else why not.
fn reproduce(
    w: &mut Worker<'_, '_>,
    case: &Case,
    kind: FindingKind,
    wire: &str,
) -> Result<Found, &'static str> {
    if let Some(c) = w.conn.take() {
        c.close();
    }
    let found = w.exchange(case);
    if let Some(c) = w.conn.take() {
        c.close();
    }
    if found.iter().any(|f| f.kind == FindingKind::ServerDied) && kind != FindingKind::ServerDied {
        return Err("the server stopped accepting connections");
    }
    found
        .into_iter()
        .find(|f| f.kind == kind && f.wire == wire)
        .ok_or("it does not fail alone on a fresh connection (the example shows what did)")
}

/// A smaller case must stay what it was: valid stays valid, invalid stays invalid.
fn same_class(ctx: &Ctx<'_>, old: &Case, new: &Case) -> bool {
    let parsed = serde_json::from_str::<Value>(&new.text());
    let valid = parsed.as_ref().is_ok_and(|v| {
        ctx.proto
            .validator
            .check_frame(Direction::Client, v)
            .is_empty()
    });
    match &old.kind {
        CaseKind::Valid { reply } => valid && (reply.is_none() || new.id.is_some()),
        CaseKind::Invalid(_) => !valid,
        _ => false,
    }
}

/// Smaller variants of a case, most aggressive first.
fn candidates(case: &Case, tag: &str) -> Vec<Case> {
    if case.raw.is_some() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let remake = |fields: Vec<(String, String)>| {
        let mut kind = case.kind.clone();
        if let CaseKind::Invalid(Mutation::DeepNesting(name, _)) = &case.kind
            && let Some((_, v)) = fields.iter().find(|(k, _)| k == name)
        {
            kind = CaseKind::Invalid(Mutation::DeepNesting(name.clone(), v.len() / 2));
        }
        Case::new(case.wire.clone(), kind, fields, None, ID_FIELD)
    };
    // Candidates that change what the case is (a valid one made invalid) are filtered out by
    // the caller. The tag stays (unless the case is about it), so the reproducer still says
    // which message type fails.
    let keep_tag = !matches!(
        case.kind,
        CaseKind::Invalid(Mutation::MissingTag | Mutation::UnknownType)
    );
    for i in 0..case.fields.len() {
        if keep_tag && case.fields[i].0 == tag {
            continue;
        }
        let mut f = case.fields.clone();
        f.remove(i);
        out.push(remake(f));
    }
    for i in 0..case.fields.len() {
        if keep_tag && case.fields[i].0 == tag {
            continue;
        }
        for smaller in smaller_values(&case.fields[i].1) {
            let mut f = case.fields.clone();
            f[i].1 = smaller;
            out.push(remake(f));
        }
    }
    out
}

/// Smaller JSON texts for a value.
fn smaller_values(text: &str) -> Vec<String> {
    let depth = text.len() / 2;
    if depth > 1 && text.len().is_multiple_of(2) && text.bytes().take(depth).all(|b| b == b'[') {
        return [depth / 2, depth * 3 / 4, depth * 7 / 8]
            .into_iter()
            .filter(|&d| d > 0 && d < depth)
            .map(nested)
            .collect();
    }
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let mut out: Vec<Value> = Vec::new();
    match &v {
        Value::String(s) if !s.is_empty() => {
            out.push(Value::String(String::new()));
            let half: String = s.chars().take(s.chars().count() / 2).collect();
            if !half.is_empty() {
                out.push(Value::String(half));
            }
            if s.chars().any(|c| !c.is_ascii_alphanumeric()) {
                out.push(Value::String(
                    s.chars().filter(char::is_ascii_alphanumeric).collect(),
                ));
            }
        }
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                if i != 0 {
                    out.push(Value::from(0));
                    out.push(Value::from(i / 2));
                }
            } else if let Some(u) = n.as_u64() {
                out.push(Value::from(0));
                out.push(Value::from(u / 2));
            } else if n.as_f64() != Some(0.0) {
                out.push(Value::from(0));
            }
        }
        Value::Bool(true) => out.push(Value::Bool(false)),
        Value::Array(items) if !items.is_empty() => {
            out.push(Value::Array(Vec::new()));
            out.push(Value::Array(items[..items.len() / 2].to_vec()));
            if items.len() <= 4 {
                for i in 0..items.len() {
                    let mut a = items.clone();
                    a.remove(i);
                    out.push(Value::Array(a));
                }
            }
        }
        Value::Object(map) if !map.is_empty() => {
            out.push(Value::Object(serde_json::Map::new()));
            for k in map.keys() {
                let mut m = map.clone();
                m.remove(k);
                out.push(Value::Object(m));
            }
        }
        _ => {}
    }
    out.into_iter()
        .map(|v| v.to_string())
        .filter(|t| t != text)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaller_values_shrink() {
        assert_eq!(smaller_values("\"abcd\""), vec!["\"\"", "\"ab\""]);
        assert_eq!(smaller_values("10"), vec!["0", "5"]);
        assert_eq!(smaller_values("0"), Vec::<String>::new());
        assert_eq!(
            smaller_values(&nested(8)),
            vec![nested(4), nested(6), nested(7)]
        );
        assert!(smaller_values("[1,2]").contains(&"[]".to_owned()));
    }
}
