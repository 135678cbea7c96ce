//! Schema-invalid mutants of valid messages: a required field dropped, a field retyped, an
//! integer out of range, an unknown `type`, a missing tag, not JSON, not an object, an extra
//! field where `additionalProperties` is false, nesting 10,000 levels deep where a field is
//! expected. Every mutant is confirmed invalid against the client schema before it is used,
//! so a schema that happens to accept one (a catch-all variant takes unknown types) never
//! turns into a false alarm.

use std::fmt;

use serde_json::Value;

use super::generate::{Rng, integer_range, render};
use super::{Case, CaseKind};
use crate::Direction;
use crate::model::{Fields, ProtocolView, VariantView};
use crate::validate::TrafficValidator;

/// How a mutant was made from a valid message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mutation {
    /// This required field was left out.
    DropRequired(String),
    /// This field got a value of another JSON type.
    Retype(String),
    /// This integer field got a value just outside its range.
    OutOfRange(String),
    /// The tag names no variant.
    UnknownType,
    /// The tag was left out.
    MissingTag,
    /// The frame is not JSON.
    NotJson,
    /// The frame is JSON but not an object.
    NotAnObject,
    /// A field the variant does not declare, where `additionalProperties` is false.
    ExtraField,
    /// This field holds arrays nested this deep.
    DeepNesting(String, usize),
}

impl fmt::Display for Mutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mutation::DropRequired(n) => write!(f, "required field `{n}` dropped"),
            Mutation::Retype(n) => write!(f, "field `{n}` retyped"),
            Mutation::OutOfRange(n) => write!(f, "integer `{n}` out of range"),
            Mutation::UnknownType => f.write_str("unknown type"),
            Mutation::MissingTag => f.write_str("tag missing"),
            Mutation::NotJson => f.write_str("not JSON"),
            Mutation::NotAnObject => f.write_str("not an object"),
            Mutation::ExtraField => f.write_str("field the schema forbids"),
            Mutation::DeepNesting(n, d) => write!(f, "field `{n}` nested {d} levels deep"),
        }
    }
}

/// The nesting depth the issue asks for; less when the size limit would not fit it.
pub(crate) const DEEP_NESTING: usize = 10_000;

/// Arrays nested `depth` levels: `[[[...]]]`.
pub(crate) fn nested(depth: usize) -> String {
    let mut s = "[".repeat(depth);
    s.push_str(&"]".repeat(depth));
    s
}

/// What mutating needs to know about the protocol.
pub(crate) struct Mutator<'a> {
    pub view: &'a ProtocolView<'a>,
    pub validator: &'a TrafficValidator,
    pub id_field: &'a str,
    /// The server's message size limit, when known: deep nesting stays under it.
    pub max_size: Option<usize>,
}

impl Mutator<'_> {
    /// A mutant of the valid message `base` (of `variant`), confirmed invalid; None when the
    /// mutation drawn does not apply or the schema accepts its result.
    pub fn mutate(&self, rng: &mut Rng, base: &Case, variant: &VariantView<'_>) -> Option<Case> {
        let tag = &self.view.tag;
        let body = Fields::of(variant.schema, Some(tag));
        let mut fields = base.fields.clone();
        let others: Vec<usize> = (0..fields.len()).filter(|&i| fields[i].0 != *tag).collect();
        let mut raw = None;
        let mutation = match rng.below(9) {
            0 => {
                let required: Vec<&str> = body
                    .fields
                    .iter()
                    .filter(|f| f.required && f.name != *self.id_field)
                    .flat_map(|f| f.names())
                    .collect();
                let present: Vec<usize> = (0..fields.len())
                    .filter(|&i| required.contains(&fields[i].0.as_str()))
                    .collect();
                let &at = rng.pick(&present)?;
                let (name, _) = fields.remove(at);
                Mutation::DropRequired(name)
            }
            1 => {
                let &at = rng.pick(&others)?;
                let old: Value = serde_json::from_str(&fields[at].1).ok()?;
                fields[at].1 = retyped(&old).to_owned();
                Mutation::Retype(fields[at].0.clone())
            }
            2 => {
                let ints: Vec<(usize, String)> = others
                    .iter()
                    .filter_map(|&i| {
                        let s = field_schema(self.view, variant, &fields[i].0)?;
                        let obj = s.as_object()?;
                        (obj.get("type")? == "integer").then_some(())?;
                        let (lo, hi) = integer_range(obj);
                        let out = if hi < i128::from(u64::MAX) {
                            hi + 1
                        } else if lo > i128::from(i64::MIN) {
                            lo - 1
                        } else {
                            return None;
                        };
                        Some((i, out.to_string()))
                    })
                    .collect();
                let (at, text) = rng.pick(&ints)?.clone();
                fields[at].1 = text;
                Mutation::OutOfRange(fields[at].0.clone())
            }
            3 => {
                let at = fields.iter().position(|(k, _)| k == tag)?;
                fields[at].1 =
                    Value::String(format!("probe_unknown_{}", rng.below(100))).to_string();
                Mutation::UnknownType
            }
            4 => {
                let at = fields.iter().position(|(k, _)| k == tag)?;
                fields.remove(at);
                Mutation::MissingTag
            }
            5 => {
                let text = render(&fields);
                raw = Some(match rng.below(3) {
                    0 => {
                        let mut cut = text.len() / 2;
                        while !text.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        text[..cut].to_owned()
                    }
                    1 => format!("{text}}}"),
                    _ => "{not json".to_owned(),
                });
                Mutation::NotJson
            }
            6 => {
                raw = Some(match rng.below(4) {
                    0 => format!("[{}]", render(&fields)),
                    1 => "\"hello\"".to_owned(),
                    2 => "42".to_owned(),
                    _ => "null".to_owned(),
                });
                Mutation::NotAnObject
            }
            7 => {
                if variant.schema.get("additionalProperties") != Some(&Value::Bool(false)) {
                    return None;
                }
                let at = rng.below(fields.len() as u64 + 1) as usize;
                fields.insert(at, ("probeExtra".to_owned(), "1".to_owned()));
                Mutation::ExtraField
            }
            _ => {
                let typed: Vec<usize> = others
                    .iter()
                    .copied()
                    .filter(|&i| {
                        field_schema(self.view, variant, &fields[i].0)
                            .is_some_and(|s| not_array(self.view, s))
                    })
                    .collect();
                let &at = rng.pick(&typed)?;
                let rest = render(&fields).len() - fields[at].1.len();
                let room = self
                    .max_size
                    .map_or(usize::MAX, |m| m.saturating_sub(rest + 16) / 2);
                let depth = DEEP_NESTING.min(room);
                if depth < 200 {
                    return None;
                }
                fields[at].1 = nested(depth);
                Mutation::DeepNesting(fields[at].0.clone(), depth)
            }
        };
        let case = Case::new(
            base.wire.clone(),
            CaseKind::Invalid(mutation),
            fields,
            raw,
            self.id_field,
        );
        self.is_invalid(&case).then_some(case)
    }

    /// Whether the client schema rejects the case's frame (not JSON and too deep to read
    /// count as rejected: no schema accepts them).
    pub fn is_invalid(&self, case: &Case) -> bool {
        match serde_json::from_str::<Value>(&case.text()) {
            Ok(v) => !self.validator.check_frame(Direction::Client, &v).is_empty(),
            Err(_) => true,
        }
    }
}

/// The schema of a top-level field of `variant` (by name or alias), `$ref` resolved.
pub(crate) fn field_schema<'a>(
    view: &'a ProtocolView<'a>,
    variant: &VariantView<'a>,
    name: &str,
) -> Option<&'a Value> {
    let body = Fields::of(variant.schema, None);
    let f = body
        .fields
        .into_iter()
        .find(|f| f.names().any(|n| n == name))?;
    resolve(view, f.schema)
}

fn resolve<'a>(view: &'a ProtocolView<'a>, s: &'a Value) -> Option<&'a Value> {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => view.root.pointer(r.strip_prefix('#')?),
        None => Some(s),
    }
}

/// Whether a field's schema rejects arrays outright (so deep arrays there are invalid).
fn not_array(view: &ProtocolView<'_>, s: &Value) -> bool {
    if s.get("const").is_some() || s.get("enum").is_some() {
        return true;
    }
    match s.get("type") {
        Some(Value::String(t)) => t != "array",
        Some(Value::Array(ts)) => !ts.iter().any(|t| t == "array"),
        _ => ["oneOf", "anyOf"].iter().any(|k| {
            s.get(*k).and_then(Value::as_array).is_some_and(|bs| {
                !bs.is_empty()
                    && bs
                        .iter()
                        .all(|b| resolve(view, b).is_some_and(|b| not_array(view, b)))
            })
        }),
    }
}

/// A value of another JSON type than `old`.
fn retyped(old: &Value) -> &'static str {
    match old {
        Value::String(_) => "7",
        Value::Number(_) => "\"7\"",
        Value::Bool(_) => "\"true\"",
        Value::Null => "{}",
        Value::Array(_) => "{}",
        Value::Object(_) => "[]",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_balanced() {
        assert_eq!(nested(3), "[[[]]]");
        assert!(serde_json::from_str::<Value>(&nested(DEEP_NESTING)).is_err());
    }
}
