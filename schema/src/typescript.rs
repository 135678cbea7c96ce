//! TypeScript declarations (`<name>.d.ts`) and their runtime half (`<name>.js`: type guards and
//! tag lists) for both directions of a protocol, made from the exported JSON Schemas.
//!
//! Mapping: strings, booleans and `null` map to themselves; integers and numbers to `number`
//! (never `bigint`: `JSON.parse` yields numbers), with a doc warning where an integer can leave
//! the range a double holds exactly (±(2^53 - 1)); arrays to `T[]`, tuples to `[A, B]`; maps to
//! index signatures; `oneOf`/`anyOf` to unions, `allOf` to intersections; `$defs` to named types
//! in the direction's namespace. A field the decoder also accepts under an alias appears under
//! the name the encoder writes, with the aliases in its doc comment.
//!
//! Fields come in the order serde writes them (the `protocol:fields=` list of a variant or named
//! type, see [`protocol_core::schema::FIELDS_COMMENT`]). A server message describes what arrives:
//! a field is optional (`?`) only when the encoder may leave it out (`skip_serializing_if`,
//! `skip_serializing`), so an `Option` it always writes is `next: Mark | null`. A client message
//! describes what the server accepts: a field is optional when the decoder does not require it.
//! The correlation id is on every client message, and on the server's replies and error reply
//! only (pushes answer no request); the JSON Schemas still accept it wherever the decoder does.

use std::fmt::Write as _;

use serde_json::Value;

use crate::model::{Fields, VariantView};
use crate::names::{Names, is_plain_property};
use crate::spec::{Direction, DirectionView};

/// `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE: i128 = (1 << 53) - 1;

/// How tightly a type expression binds, to know when it needs parentheses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prec {
    Union,
    Intersection,
    Atom,
}

/// A type expression.
type Ty = (String, Prec);

fn atom(s: impl Into<String>) -> Ty {
    (s.into(), Prec::Atom)
}

fn indent(level: usize) -> String {
    "  ".repeat(level)
}

/// A JSDoc block at `level`, or nothing when there are no lines.
fn doc_block(lines: &[String], level: usize) -> String {
    let lines: Vec<String> = lines
        .iter()
        .flat_map(|l| l.split('\n'))
        .map(|l| l.trim_end().replace("*/", "*\\/"))
        .collect();
    // Trim blank lines at the ends.
    let start = lines.iter().position(|l| !l.is_empty());
    let end = lines.iter().rposition(|l| !l.is_empty());
    let (Some(start), Some(end)) = (start, end) else {
        return String::new();
    };
    let lines = &lines[start..=end];
    let pad = indent(level);
    if lines.len() == 1 {
        return format!("{pad}/** {} */\n", lines[0]);
    }
    let mut out = format!("{pad}/**\n");
    for l in lines {
        if l.is_empty() {
            let _ = writeln!(out, "{pad} *");
        } else {
            let _ = writeln!(out, "{pad} * {l}");
        }
    }
    let _ = writeln!(out, "{pad} */");
    out
}

fn literal(v: &Value) -> Option<String> {
    match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => {
            serde_json::to_string(v).ok()
        }
        _ => None,
    }
}

fn property_key(name: &str) -> String {
    if is_plain_property(name) {
        name.to_owned()
    } else {
        serde_json::to_string(name).unwrap_or_else(|_| format!("{name:?}"))
    }
}

fn wrap(t: &Ty, at_least: Prec) -> String {
    let needs = match at_least {
        Prec::Atom => t.1 != Prec::Atom,
        Prec::Intersection => t.1 == Prec::Union,
        Prec::Union => false,
    };
    if needs {
        format!("({})", t.0)
    } else {
        t.0.clone()
    }
}

fn union(parts: Vec<Ty>) -> Ty {
    let mut seen: Vec<Ty> = Vec::new();
    for p in parts {
        if !seen.iter().any(|s| s.0 == p.0) {
            seen.push(p);
        }
    }
    match seen.len() {
        0 => atom("never"),
        1 => seen.remove(0),
        _ => {
            if seen.iter().any(|s| s.0 == "unknown") {
                return atom("unknown");
            }
            let text = seen
                .iter()
                .map(|s| wrap(s, Prec::Intersection))
                .collect::<Vec<_>>()
                .join(" | ");
            (text, Prec::Union)
        }
    }
}

fn intersection(parts: Vec<Ty>) -> Ty {
    let parts: Vec<Ty> = parts.into_iter().filter(|p| p.0 != "unknown").collect();
    match parts.len() {
        0 => atom("unknown"),
        1 => parts.into_iter().next().unwrap_or_else(|| atom("unknown")),
        _ => {
            let text = parts
                .iter()
                .map(|p| wrap(p, Prec::Atom))
                .collect::<Vec<_>>()
                .join(" & ");
            (text, Prec::Intersection)
        }
    }
}

/// The JSON types a schema allows, from `type` or implied by its keywords.
fn types_of(s: &Value) -> Vec<&str> {
    match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => {
            if s.get("properties").is_some()
                || s.get("additionalProperties").is_some()
                || s.get("patternProperties").is_some()
            {
                vec!["object"]
            } else if s.get("items").is_some() || s.get("prefixItems").is_some() {
                vec!["array"]
            } else {
                Vec::new()
            }
        }
    }
}

fn number_of(v: Option<&Value>) -> Option<i128> {
    let v = v?;
    if let Some(i) = v.as_i64() {
        return Some(i.into());
    }
    if let Some(u) = v.as_u64() {
        return Some(u.into());
    }
    // A float bound: clamp into i128 range; only its size relative to 2^53 matters here.
    v.as_f64().map(|f| {
        if f >= i128::MAX as f64 {
            i128::MAX
        } else if f <= i128::MIN as f64 {
            i128::MIN
        } else {
            f as i128
        }
    })
}

/// A warning when `s` (or something inside it that is not a named type or a field of its own)
/// is an integer that can exceed what a JavaScript number holds exactly.
fn integer_warning(s: &Value) -> Option<String> {
    let obj = s.as_object()?;
    if types_of(s).contains(&"integer") {
        let min = number_of(obj.get("minimum")).or_else(|| number_of(obj.get("exclusiveMinimum")));
        let max = number_of(obj.get("maximum")).or_else(|| number_of(obj.get("exclusiveMaximum")));
        let unsafe_min = min.is_none_or(|m| m < -MAX_SAFE);
        let unsafe_max = max.is_none_or(|m| m > MAX_SAFE);
        if unsafe_min || unsafe_max {
            let range = match (min, max) {
                (Some(a), Some(b)) => format!("an integer from {a} to {b}"),
                (Some(a), None) => format!("an integer of at least {a}"),
                (None, Some(b)) => format!("an integer of at most {b}"),
                (None, None) => "an integer of any size".to_owned(),
            };
            return Some(format!(
                "Warning: {range}; a JavaScript number is exact only up to 2^53 - 1 \
                 (Number.MAX_SAFE_INTEGER), so larger values lose precision."
            ));
        }
    }
    let mut inner: Vec<&Value> = Vec::new();
    for key in ["items", "additionalProperties", "not"] {
        if let Some(v) = obj.get(key) {
            inner.push(v);
        }
    }
    for key in ["prefixItems", "anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(vs)) = obj.get(key) {
            inner.extend(vs);
        }
    }
    if let Some(Value::Object(pp)) = obj.get("patternProperties") {
        inner.extend(pp.values());
    }
    inner.into_iter().find_map(integer_warning)
}

/// Turns schemas into TypeScript type expressions for one direction.
struct Ts<'a> {
    names: &'a Names,
    /// Whose messages: a server message's type says what arrives (a field is optional when the
    /// encoder may leave it out), a client message's what the server accepts (optional when the
    /// decoder does not require it).
    direction: Direction,
}

impl Ts<'_> {
    fn ty(&self, s: &Value, level: usize) -> Ty {
        let obj = match s {
            Value::Bool(true) => return atom("unknown"),
            Value::Bool(false) => return atom("never"),
            Value::Object(o) => o,
            _ => return atom("unknown"),
        };
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            return match self.names.for_ref(r) {
                Some(name) => atom(name),
                None if r == "#" => atom(self.names.ns.clone()),
                None => atom("unknown"),
            };
        }
        if let Some(c) = obj.get("const") {
            return literal(c).map_or_else(|| atom("unknown"), atom);
        }
        if let Some(Value::Array(values)) = obj.get("enum") {
            let lits: Option<Vec<Ty>> = values.iter().map(|v| literal(v).map(atom)).collect();
            return lits.map_or_else(|| atom("unknown"), union);
        }
        let mut parts: Vec<Ty> = Vec::new();
        let types = types_of(s);
        if !types.is_empty() {
            let mut alts = Vec::new();
            for t in types {
                match t {
                    "string" => alts.push(atom("string")),
                    "integer" | "number" => alts.push(atom("number")),
                    "boolean" => alts.push(atom("boolean")),
                    "null" => alts.push(atom("null")),
                    "array" => alts.push(self.array(s, level)),
                    "object" => alts.push(atom(self.object(s, level, None, None))),
                    _ => alts.push(atom("unknown")),
                }
            }
            parts.push(union(alts));
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(Value::Array(alts)) = obj.get(key) {
                parts.push(union(alts.iter().map(|a| self.ty(a, level)).collect()));
            }
        }
        for member in Fields::of(s, None).rest_all_of {
            parts.push(self.ty(member, level));
        }
        intersection(parts)
    }

    fn array(&self, s: &Value, level: usize) -> Ty {
        let items = s.get("items");
        if let Some(Value::Array(prefix)) = s.get("prefixItems") {
            let mut elems: Vec<String> = prefix.iter().map(|p| self.ty(p, level).0).collect();
            let max = s.get("maxItems").and_then(Value::as_u64);
            let closed =
                matches!(items, Some(Value::Bool(false))) || max == Some(prefix.len() as u64);
            if !closed {
                let rest = items.map_or_else(|| atom("unknown"), |i| self.ty(i, level));
                elems.push(format!("...{}[]", wrap(&rest, Prec::Atom)));
            }
            return atom(format!("[{}]", elems.join(", ")));
        }
        let item = items.map_or_else(|| atom("unknown"), |i| self.ty(i, level));
        atom(format!("{}[]", wrap(&item, Prec::Atom)))
    }

    /// An object type literal, `{ ... }` over several lines; `hide` names a property left out.
    fn object(
        &self,
        s: &Value,
        level: usize,
        tag: Option<(&str, &str)>,
        hide: Option<&str>,
    ) -> String {
        let members = self.members(s, level + 1, tag, hide);
        if members.is_empty() {
            return "{}".to_owned();
        }
        format!("{{\n{members}{}}}", indent(level))
    }

    /// The member lines of an object type at `level`: the tag first, then the fields in the
    /// order the encoder writes them (see [`Fields`]) but `hide`, then an index signature when
    /// the object allows further properties.
    fn members(
        &self,
        s: &Value,
        level: usize,
        tag: Option<(&str, &str)>,
        hide: Option<&str>,
    ) -> String {
        let pad = indent(level);
        let mut out = String::new();
        if let Some((name, ty)) = tag {
            let _ = writeln!(out, "{pad}{}: {ty};", property_key(name));
        }
        let fields = Fields::of(s, tag.map(|t| t.0));
        for f in &fields.fields {
            if Some(f.name.as_str()) == hide {
                continue;
            }
            let mut doc = Vec::new();
            if let Some(d) = f.schema.get("description").and_then(Value::as_str) {
                doc.push(d.to_owned());
            }
            if !f.aliases.is_empty() {
                let list: Vec<String> = f.aliases.iter().map(|a| format!("`{a}`")).collect();
                push_paragraph(
                    &mut doc,
                    format!(
                        "Also accepted as {} (the encoder writes `{}`).",
                        list.join(", "),
                        f.name
                    ),
                );
            }
            if let Some(w) = integer_warning(f.schema) {
                push_paragraph(&mut doc, w);
            }
            out.push_str(&doc_block(&doc, level));
            let present = match self.direction {
                Direction::Server => f.written,
                Direction::Client => f.required,
            };
            let optional = if present { "" } else { "?" };
            let ty = self.ty(f.schema, level);
            let _ = writeln!(out, "{pad}{}{optional}: {};", property_key(&f.name), ty.0);
        }
        let has_fields = tag.is_some() || !fields.fields.is_empty();
        let extra = match s.get("additionalProperties") {
            Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(atom("unknown")),
            Some(schema @ Value::Object(_)) => Some(self.ty(schema, level)),
            _ => None,
        };
        let pattern = s
            .get("patternProperties")
            .and_then(Value::as_object)
            .map(|pp| union(pp.values().map(|v| self.ty(v, level)).collect()));
        let index = match (extra, pattern) {
            (Some(a), Some(b)) => Some(union(vec![a, b])),
            (a, b) => a.or(b),
        };
        let index = match index {
            // Named fields must fit the index signature's type: widen it.
            Some(_) if has_fields => Some(atom("unknown")),
            other => other,
        };
        if let Some(t) = index {
            let _ = writeln!(out, "{pad}[key: string]: {};", t.0);
        } else if !has_fields && s.get("additionalProperties").is_none() {
            // An object schema with no fields and no word on others: any object.
            let _ = writeln!(out, "{pad}[key: string]: unknown;");
        }
        out
    }
}

fn push_paragraph(doc: &mut Vec<String>, text: String) {
    if !doc.is_empty() {
        doc.push(String::new());
    }
    doc.push(text);
}

/// `"Sent by the client, read by the server."`
fn role(direction: Direction) -> &'static str {
    match direction {
        Direction::Client => "Client to server: sent by the client, read by the server.",
        Direction::Server => "Server to client: sent by the server, read by the client.",
    }
}

/// The member access `m.type` (or `m["kind-x"]`).
fn tag_access(tag: &str) -> String {
    if is_plain_property(tag) {
        format!("m.{tag}")
    } else {
        format!("m[{}]", property_key(tag))
    }
}

fn variant_doc(
    v: &VariantView<'_>,
    dir: &DirectionView<'_>,
    other: &DirectionView<'_>,
    tag: &str,
) -> Vec<String> {
    let mut doc = Vec::new();
    if let Some(d) = v.schema.get("description").and_then(Value::as_str) {
        doc.push(d.to_owned());
    }
    if v.tags.len() > 1 {
        let list: Vec<String> = v.tags[1..]
            .iter()
            .map(|a| format!("`\"{tag}\": \"{a}\"`"))
            .collect();
        push_paragraph(
            &mut doc,
            format!(
                "The decoder also accepts {} for this message.",
                list.join(", ")
            ),
        );
    }
    if let Some(reply) = dir.reply_of(v.index, other) {
        push_paragraph(
            &mut doc,
            format!(
                "A request: answered by {{@link {}.{}}} (`\"{tag}\": \"{}\"`) with the same `{}`.",
                other.names.ns, other.names.variants[reply.index], reply.wire, dir.id_field
            ),
        );
    }
    doc
}

/// The `.d.ts` text for both directions.
pub(crate) fn declarations(
    title: &str,
    version: &str,
    js_file: &str,
    dirs: [&DirectionView<'_>; 2],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Generated by protocol-schema from the Rust protocol enums: do not edit.\n\
         // {title} {version}: message types of both directions; the runtime guards are in {js_file}.\n\
         //\n\
         // Each direction is a union type plus a namespace of the same name (the Rust enum's name)\n\
         // holding one interface per message, the named types the messages use, `MessageType`\n\
         // (the union of the tag strings), `TYPES` and one `is<Variant>` guard per message.\n\
         // Narrow a message with `switch (m.type)` or a guard."
    );
    for (i, dir) in dirs.iter().enumerate() {
        let other = dirs[1 - i];
        out.push('\n');
        direction_declarations(&mut out, dir, other);
    }
    out
}

fn direction_declarations(out: &mut String, dir: &DirectionView<'_>, other: &DirectionView<'_>) {
    let ts = Ts {
        names: &dir.names,
        direction: dir.direction,
    };
    let ns = &dir.names.ns;
    let tag = dir.view.tag.as_str();
    let mut doc = Vec::new();
    if let Some(d) = dir.view.root.get("description").and_then(Value::as_str) {
        doc.push(d.to_owned());
    }
    push_paragraph(&mut doc, role(dir.direction).to_owned());
    if let Some(c) = dir.view.catch_all() {
        push_paragraph(
            &mut doc,
            format!(
                "The reader keeps messages of unknown type whole: where they can arrive, handle \
                 `{ns} | {ns}.{}` and give the switch a `default` branch.",
                dir.names.variants[c.index]
            ),
        );
    }
    out.push_str(&doc_block(&doc, 0));
    let members: Vec<String> = dir
        .view
        .known()
        .map(|v| format!("{ns}.{}", dir.names.variants[v.index]))
        .collect();
    let union_text = if members.is_empty() {
        "never".to_owned()
    } else {
        members.join(" | ")
    };
    let _ = writeln!(out, "export type {ns} = {union_text};\n");
    let _ = writeln!(out, "export declare namespace {ns} {{");
    let mt = &dir.names.message_type;
    let tags: Vec<String> = dir
        .view
        .known()
        .filter_map(|v| literal(&Value::String(v.wire.clone())))
        .collect();
    out.push_str(&doc_block(
        &[format!("The `{tag}` of every known {ns}.")],
        1,
    ));
    let tag_union = if tags.is_empty() {
        "never".to_owned()
    } else {
        tags.join(" | ")
    };
    let _ = writeln!(out, "  export type {mt} = {tag_union};");
    out.push_str(&doc_block(
        &[format!("Every {{@link {mt}}}, in declaration order.")],
        1,
    ));
    let _ = writeln!(out, "  export const TYPES: readonly {mt}[];");
    let guard_param = format!("m: {{ readonly {}: string }}", property_key(tag));
    for v in &dir.view.variants {
        let name = &dir.names.variants[v.index];
        out.push('\n');
        if v.catch_all {
            let mut doc = Vec::new();
            if let Some(d) = v.schema.get("description").and_then(Value::as_str) {
                doc.push(d.to_owned());
            }
            push_paragraph(
                &mut doc,
                format!(
                    "Any message whose `{tag}` is none of {{@link {mt}}} (nor an alias); not part \
                     of the {{@link {ns}}} union, so that switching on `{tag}` narrows."
                ),
            );
            out.push_str(&doc_block(&doc, 1));
            let _ = writeln!(out, "  export interface {name} {{");
            let _ = writeln!(out, "    {}: string;", property_key(tag));
            let _ = writeln!(out, "    [field: string]: unknown;");
            let _ = writeln!(out, "  }}");
            out.push_str(&doc_block(
                &[format!(
                    "Whether `m` carries a `{tag}` this protocol does not know (a {{@link {name}}})."
                )],
                1,
            ));
            let _ = writeln!(
                out,
                "  export function is{name}({guard_param}): m is {name};"
            );
            continue;
        }
        out.push_str(&doc_block(&variant_doc(v, dir, other, tag), 1));
        let wire = literal(&Value::String(v.wire.clone())).unwrap_or_default();
        // The correlation id only where it can come: requests and their replies, the error.
        let hide = (!dir.carries_id(v.index, other)).then_some(dir.id_field.as_str());
        let fields = Fields::of(v.schema, Some(tag));
        let has_unions = ["oneOf", "anyOf"]
            .iter()
            .any(|k| v.schema.get(*k).is_some())
            || !fields.rest_all_of.is_empty();
        if has_unions {
            // A variant that flattens an enum: an interface cannot extend a union.
            let mut parts = vec![atom(ts.object(v.schema, 1, Some((tag, &wire)), hide))];
            for key in ["oneOf", "anyOf"] {
                if let Some(Value::Array(alts)) = v.schema.get(key) {
                    parts.push(union(alts.iter().map(|a| ts.ty(a, 1)).collect()));
                }
            }
            for member in fields.rest_all_of {
                parts.push(ts.ty(member, 1));
            }
            let _ = writeln!(out, "  export type {name} = {};", intersection(parts).0);
        } else {
            let _ = write!(out, "  export interface {name} ");
            let _ = writeln!(out, "{}", ts.object(v.schema, 1, Some((tag, &wire)), hide));
        }
        out.push_str(&doc_block(
            &[format!(
                "Whether `m` is a {{@link {name}}} (`{tag}` {wire})."
            )],
            1,
        ));
        let _ = writeln!(
            out,
            "  export function is{name}({guard_param}): m is {name};"
        );
    }
    if let Some(defs) = dir.view.defs() {
        for (key, name) in &dir.names.defs {
            let Some(schema) = defs.get(key) else {
                continue;
            };
            out.push('\n');
            let mut doc = Vec::new();
            if let Some(d) = schema.get("description").and_then(Value::as_str) {
                doc.push(d.to_owned());
            }
            if let Some(w) = integer_warning(schema) {
                push_paragraph(&mut doc, w);
            }
            out.push_str(&doc_block(&doc, 1));
            let plain_object = types_of(schema) == ["object"]
                && schema.get("oneOf").is_none()
                && schema.get("anyOf").is_none()
                && Fields::of(schema, None).rest_all_of.is_empty();
            if plain_object {
                let _ = writeln!(
                    out,
                    "  export interface {name} {}",
                    ts.object(schema, 1, None, None)
                );
            } else {
                let _ = writeln!(out, "  export type {name} = {};", ts.ty(schema, 1).0);
            }
        }
    }
    let _ = writeln!(out, "}}");
}

/// The `.js` module: the runtime half of the declarations (guards and tag lists).
pub(crate) fn runtime(
    title: &str,
    version: &str,
    dts_file: &str,
    dirs: [&DirectionView<'_>; 2],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Generated by protocol-schema from the Rust protocol enums: do not edit.\n\
         // {title} {version}: the runtime half of {dts_file} (type guards and tag lists), an ES module."
    );
    for dir in dirs {
        let ns = &dir.names.ns;
        let tag = tag_access(&dir.view.tag);
        let known: Vec<String> = dir
            .view
            .known()
            .filter_map(|v| literal(&Value::String(v.wire.clone())))
            .collect();
        let _ = writeln!(out, "\nexport const {ns} = Object.freeze({{");
        let _ = writeln!(out, "  TYPES: Object.freeze([{}]),", known.join(", "));
        for v in &dir.view.variants {
            let name = &dir.names.variants[v.index];
            if v.catch_all {
                let all: Vec<String> = dir
                    .view
                    .known()
                    .flat_map(|k| k.tags.iter())
                    .filter_map(|t| literal(&Value::String(t.clone())))
                    .collect();
                let _ = writeln!(
                    out,
                    "  is{name}: (m) => typeof {tag} === \"string\" && ![{}].includes({tag}),",
                    all.join(", ")
                );
            } else {
                let wire = literal(&Value::String(v.wire.clone())).unwrap_or_default();
                let _ = writeln!(out, "  is{name}: (m) => {tag} === {wire},");
            }
        }
        let _ = writeln!(out, "}});");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ty(s: Value) -> String {
        let view_schema = json!({"required": ["type"], "oneOf": [], "$defs": {"Pos": {}}});
        let view = crate::model::ProtocolView::parse(&view_schema).unwrap();
        let names = Names::new("NS", &view);
        Ts {
            names: &names,
            direction: Direction::Client,
        }
        .ty(&s, 0)
        .0
    }

    #[test]
    fn scalar_and_composite_types() {
        assert_eq!(ty(json!({"type": "string"})), "string");
        assert_eq!(ty(json!({"type": ["string", "null"]})), "string | null");
        assert_eq!(
            ty(json!({"type": "integer", "minimum": 0, "maximum": 255})),
            "number"
        );
        assert_eq!(ty(json!({"enum": ["a", "b"]})), "\"a\" | \"b\"");
        assert_eq!(ty(json!({"const": 3})), "3");
        assert_eq!(ty(json!({"$ref": "#/$defs/Pos"})), "Pos");
        assert_eq!(ty(json!({"$ref": "#"})), "NS");
        assert_eq!(
            ty(json!({"anyOf": [{"$ref": "#/$defs/Pos"}, {"type": "null"}]})),
            "Pos | null"
        );
        assert_eq!(
            ty(json!({"type": "array", "items": {"type": ["string", "null"]}})),
            "(string | null)[]"
        );
        assert_eq!(
            ty(
                json!({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "minItems": 2, "maxItems": 2})
            ),
            "[number, string]"
        );
        assert_eq!(
            ty(json!({"type": "array", "prefixItems": [{"type": "integer"}]})),
            "[number, ...unknown[]]"
        );
        assert_eq!(
            ty(json!({"type": "object", "additionalProperties": {"type": "integer"}})),
            "{\n  [key: string]: number;\n}"
        );
        assert_eq!(
            ty(
                json!({"type": "object", "patternProperties": {"^\\d+$": {"type": "string"}}, "additionalProperties": false})
            ),
            "{\n  [key: string]: string;\n}"
        );
        assert_eq!(
            ty(json!({"type": "object"})),
            "{\n  [key: string]: unknown;\n}"
        );
        assert_eq!(ty(json!(true)), "unknown");
        assert_eq!(ty(json!({})), "unknown");
        assert_eq!(ty(json!({"$ref": "#/elsewhere"})), "unknown");
        assert_eq!(
            ty(
                json!({"type": "object", "properties": {"a-b": {"type": "boolean"}, "c": {"type": "string"}}, "required": ["c"]})
            ),
            "{\n  \"a-b\"?: boolean;\n  c: string;\n}"
        );
    }

    #[test]
    fn unsafe_integers_are_flagged() {
        assert!(
            integer_warning(&json!({"type": "integer", "minimum": 0, "maximum": 255})).is_none()
        );
        assert!(
            integer_warning(
                &json!({"type": "integer", "minimum": 0, "maximum": 9007199254740991u64})
            )
            .is_none()
        );
        let w = integer_warning(&json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}))
            .unwrap();
        assert!(w.contains("from 0 to 18446744073709551615"), "{w}");
        assert!(
            integer_warning(&json!({"type": "integer"}))
                .unwrap()
                .contains("any size")
        );
        assert!(
            integer_warning(&json!({"type": "array", "items": {"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX}}))
                .is_some()
        );
        assert!(integer_warning(&json!({"type": "number"})).is_none());
        assert!(integer_warning(&json!({"$ref": "#/$defs/Big"})).is_none());
    }

    #[test]
    fn doc_blocks() {
        assert_eq!(doc_block(&["One line.".into()], 1), "  /** One line. */\n");
        assert_eq!(
            doc_block(&["a\n\nb */ c".into()], 0),
            "/**\n * a\n *\n * b *\\/ c\n */\n"
        );
        assert_eq!(doc_block(&[String::new()], 0), "");
    }
}
