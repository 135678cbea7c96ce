//! The protocol reference for people: `<name>.md` (renders on any Git host; diagrams as Mermaid
//! source) and `<name>.html` (self-contained: inline CSS, the same diagrams drawn as inline SVG
//! at export time, no script and no network).
//!
//! Both are rendered from one document model ([`Block`]), so they say the same: per direction,
//! every message with its doc comment, a field table, an example frame made from the schema
//! ([`crate::example`]), the reply it expects or answers, the pushes it causes, the error codes
//! that can come back, and for every client message a sequence diagram ([`crate::sequence`]).

use std::fmt::Write as _;

use serde_json::Value;

use crate::example::{Examples, frame_text};
use crate::model::{Fields, VariantView, def_name};
use crate::sequence::{Arrow, Sequence, Step};
use crate::spec::{Direction, DirectionView};

/// Codes any message can get back, whatever its handler does.
const COMMON_CODES: &[(&str, &str)] = &[
    (
        "invalid_message",
        "the frame does not match the message's schema (missing, unknown or mistyped fields)",
    ),
    (
        "rate_limited",
        "the connection sends faster than its rate limit allows",
    ),
    (
        "internal_error",
        "the handler failed unexpectedly; details are in the server log",
    ),
];
/// Codes for frames that are not any message at all.
const FRAME_CODES: &[(&str, &str)] = &[
    (
        "invalid_json",
        "the frame is not valid JSON, or nests too deeply",
    ),
    (
        "unknown_type",
        "the tag names no message type of the protocol",
    ),
];
/// The code a request gets when its handler misses the deadline.
const TIMEOUT: (&str, &str) = (
    "timeout",
    "the request's deadline passed before its handler answered",
);

/// Inline text: runs of prose (with `backtick` code spans, as in doc comments), and links.
#[derive(Debug, Clone)]
pub(crate) enum Inline {
    Text(String),
    Code(String),
    Link { text: String, href: String },
}

/// A block of the document.
#[derive(Debug, Clone)]
pub(crate) enum Block {
    Heading {
        level: u8,
        id: String,
        text: Vec<Inline>,
    },
    Para(Vec<Inline>),
    List(Vec<Vec<Inline>>),
    Table {
        head: Vec<&'static str>,
        rows: Vec<Vec<Vec<Inline>>>,
    },
    Code {
        lang: &'static str,
        text: String,
    },
    Diagram {
        id: String,
        seq: Sequence,
    },
}

fn text(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}

fn code(s: impl Into<String>) -> Inline {
    Inline::Code(s.into())
}

fn link(t: impl Into<String>, href: impl Into<String>) -> Inline {
    Inline::Link {
        text: t.into(),
        href: href.into(),
    }
}

/// The anchor of a message: `client-join`, `server-message`.
fn anchor(direction: Direction, v: &VariantView<'_>) -> String {
    let key = if v.catch_all {
        v.title.to_ascii_lowercase()
    } else {
        v.wire.clone()
    };
    let slug: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{}-{slug}", direction.as_str())
}

fn def_anchor(d: Direction, key: &str) -> String {
    let slug: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{}-type-{slug}", d.as_str())
}

/// A message's title: `join` or `any other type` for the catch-all.
fn msg_label(v: &VariantView<'_>) -> String {
    if v.catch_all {
        "any other type".to_owned()
    } else {
        v.wire.clone()
    }
}

/// What a schema is, in words: "string", "integer", "array of Position", ...
fn type_words(s: &Value, d: Direction) -> Vec<Inline> {
    let mut out = Vec::new();
    words(s, d, &mut out, 0);
    out
}

fn words(s: &Value, d: Direction, out: &mut Vec<Inline>, depth: usize) {
    let Value::Object(o) = s else {
        out.push(text("any JSON value"));
        return;
    };
    if depth > 6 {
        out.push(text("…"));
        return;
    }
    if let Some(r) = o.get("$ref").and_then(Value::as_str) {
        match def_name(r) {
            Some(k) => out.push(link(k.clone(), format!("#{}", def_anchor(d, &k)))),
            None => out.push(text("a message of this direction")),
        }
        return;
    }
    if let Some(c) = o.get("const") {
        out.push(code(c.to_string()));
        return;
    }
    let alts = o
        .get("oneOf")
        .or_else(|| o.get("anyOf"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect::<Vec<_>>())
        .or_else(|| o.get("enum").and_then(Value::as_array).map(|_| Vec::new()));
    if let Some(Value::Array(e)) = o.get("enum") {
        for (i, v) in e.iter().enumerate() {
            if i > 0 {
                out.push(text(" or "));
            }
            out.push(code(v.to_string()));
        }
        return;
    }
    if let Some(alts) = alts
        && !o.contains_key("properties")
    {
        for (i, a) in alts.iter().enumerate() {
            if i > 0 {
                out.push(text(" or "));
            }
            words(a, d, out, depth + 1);
        }
        return;
    }
    let types: Vec<&str> = match o.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ if o.contains_key("properties") => vec!["object"],
        _ => Vec::new(),
    };
    if types.is_empty() {
        out.push(text("any JSON value"));
    }
    for (i, t) in types.iter().enumerate() {
        if i > 0 {
            out.push(text(" or "));
        }
        match *t {
            "array" => {
                if let Some(Value::Array(prefix)) = o.get("prefixItems") {
                    out.push(text(format!("array of {}: ", prefix.len())));
                    for (j, p) in prefix.iter().enumerate() {
                        if j > 0 {
                            out.push(text(", "));
                        }
                        words(p, d, out, depth + 1);
                    }
                } else {
                    out.push(text("array of "));
                    match o.get("items") {
                        Some(i) => words(i, d, out, depth + 1),
                        None => out.push(text("any JSON value")),
                    }
                }
            }
            "object" => {
                if o.contains_key("properties") {
                    out.push(text("object"));
                } else if let Some(Value::Object(pp)) = o.get("patternProperties") {
                    let key = pp.keys().next().cloned().unwrap_or_default();
                    out.push(text("map from keys matching "));
                    out.push(code(key));
                    out.push(text(" to "));
                    if let Some(v) = pp.values().next() {
                        words(v, d, out, depth + 1);
                    }
                } else if let Some(ap @ Value::Object(_)) = o.get("additionalProperties") {
                    out.push(text("map from string to "));
                    words(ap, d, out, depth + 1);
                } else {
                    out.push(text("object"));
                }
            }
            other => out.push(text(other)),
        }
    }
}

/// The range of a number: "0 to 255", "at least 1", "1 to 100 characters".
fn range_words(s: &Value) -> String {
    let num = |k: &str| s.get(k).filter(|v| v.is_number()).map(Value::to_string);
    let (min, max) = (num("minimum"), num("maximum"));
    let (xmin, xmax) = (num("exclusiveMinimum"), num("exclusiveMaximum"));
    let mut parts = Vec::new();
    match (min, max) {
        (Some(a), Some(b)) => parts.push(format!("{a} to {b}")),
        (Some(a), None) => parts.push(format!("at least {a}")),
        (None, Some(b)) => parts.push(format!("at most {b}")),
        (None, None) => {}
    }
    if let Some(a) = xmin {
        parts.push(format!("above {a}"));
    }
    if let Some(b) = xmax {
        parts.push(format!("below {b}"));
    }
    let len = |a: &str, b: &str, unit: &str| match (
        s.get(a).and_then(Value::as_u64),
        s.get(b).and_then(Value::as_u64),
    ) {
        (Some(x), Some(y)) => Some(format!("{x} to {y} {unit}")),
        (Some(x), None) => Some(format!("at least {x} {unit}")),
        (None, Some(y)) => Some(format!("at most {y} {unit}")),
        _ => None,
    };
    parts.extend(len("minLength", "maxLength", "characters"));
    parts.extend(len("minItems", "maxItems", "items"));
    if let Some(p) = s.get("pattern").and_then(Value::as_str) {
        parts.push(format!("matches {p}"));
    }
    // Nullable numbers keep their range on the non-null branch.
    if parts.is_empty()
        && let Some(Value::Array(alts)) = s.get("anyOf").or_else(|| s.get("oneOf"))
    {
        return alts
            .iter()
            .map(range_words)
            .find(|r| !r.is_empty())
            .unwrap_or_default();
    }
    parts.join(", ")
}

fn field_table(schema: &Value, tag: Option<(&str, &VariantView<'_>)>, d: Direction) -> Block {
    let mut rows = Vec::new();
    if let Some((tag_name, v)) = tag {
        let mut ty = Vec::new();
        for (i, t) in v.tags.iter().enumerate() {
            if i > 0 {
                ty.push(text(" or "));
            }
            ty.push(code(format!("\"{t}\"")));
        }
        rows.push(vec![
            vec![code(tag_name)],
            ty,
            vec![text("required")],
            vec![],
            vec![],
            vec![],
            vec![text("The message type.")],
        ]);
    }
    let fields = Fields::of(schema, tag.map(|t| t.0));
    for f in &fields.fields {
        let aliases: Vec<Inline> = f
            .aliases
            .iter()
            .enumerate()
            .flat_map(|(i, a)| {
                let mut v = Vec::new();
                if i > 0 {
                    v.push(text(", "));
                }
                v.push(code(a.clone()));
                v
            })
            .collect();
        let default = f
            .schema
            .get("default")
            .map(|v| vec![code(v.to_string())])
            .unwrap_or_default();
        let doc = f
            .schema
            .get("description")
            .and_then(Value::as_str)
            .map(|s| vec![text(s.replace('\n', " "))])
            .unwrap_or_default();
        rows.push(vec![
            vec![code(f.name.clone())],
            type_words(f.schema, d),
            vec![text(if f.required { "required" } else { "optional" })],
            vec![text(range_words(f.schema))],
            aliases,
            default,
            doc,
        ]);
    }
    Block::Table {
        head: vec![
            "field",
            "type",
            "required",
            "range",
            "aliases",
            "default",
            "description",
        ],
        rows,
    }
}

/// The document for both directions.
pub(crate) fn document(
    title: &str,
    version: &str,
    description: Option<&str>,
    file_stem: &str,
    dirs: [&DirectionView<'_>; 2],
) -> Vec<Block> {
    let mut doc = Vec::new();
    doc.push(Block::Heading {
        level: 1,
        id: "top".into(),
        text: vec![text(format!("{title} {version}: protocol reference"))],
    });
    if let Some(d) = description {
        doc.push(Block::Para(vec![text(d)]));
    }
    doc.push(Block::Para(vec![
        text("Generated by protocol-schema from the Rust protocol enums: do not edit. The same types as "),
        code(format!("{file_stem}.client.schema.json")),
        text(", "),
        code(format!("{file_stem}.server.schema.json")),
        text(", "),
        code(format!("{file_stem}.d.ts")),
        text(" and "),
        code(format!("{file_stem}.py")),
        text("."),
    ]));
    let client = dirs[0];
    let tag = &client.view.tag;
    let id = &client.id_field;
    let error_variant = dirs[1].view.variant_for_tag("error");
    let mut rules = vec![
        vec![text(format!(
            "One JSON object per WebSocket text frame; the `{tag}` field names the message, its fields sit beside it."
        ))],
        vec![text(format!(
            "A request carries `{id}`, an integer the client chooses (0 to 18446744073709551615); its reply and any error reply carry the same `{id}`."
        ))],
    ];
    let mut errs = vec![text("An error reply is ")];
    match error_variant {
        Some(e) => errs.push(link(
            format!("`{}`", e.wire),
            format!("#{}", anchor(Direction::Server, e)),
        )),
        None => errs.push(code("error")),
    }
    errs.push(text(" with a `code`. Any message can get "));
    for (i, (c, _)) in COMMON_CODES.iter().enumerate() {
        if i > 0 {
            errs.push(text(", "));
        }
        errs.push(code(*c));
    }
    errs.push(text("; a request also "));
    errs.push(code(TIMEOUT.0));
    errs.push(text("; a frame that is no message at all gets "));
    for (i, (c, _)) in FRAME_CODES.iter().enumerate() {
        if i > 0 {
            errs.push(text(" or "));
        }
        errs.push(code(*c));
    }
    errs.push(text("."));
    rules.push(errs);
    doc.push(Block::Heading {
        level: 2,
        id: "wire-format".into(),
        text: vec![text("Wire format")],
    });
    doc.push(Block::List(rules));
    let mut code_rows: Vec<Vec<Vec<Inline>>> = COMMON_CODES
        .iter()
        .chain(FRAME_CODES)
        .chain(std::iter::once(&TIMEOUT))
        .map(|(c, what)| vec![vec![code(*c)], vec![text(*what)]])
        .collect();
    let mut declared: Vec<String> = client.error_codes.iter().flatten().cloned().collect();
    declared.sort();
    declared.dedup();
    for c in declared {
        if code_rows
            .iter()
            .any(|r| matches!(r[0].first(), Some(Inline::Code(x)) if *x == c))
        {
            continue;
        }
        let users: Vec<Inline> = client
            .view
            .variants
            .iter()
            .filter(|v| client.error_codes[v.index].contains(&c))
            .enumerate()
            .flat_map(|(i, v)| {
                let mut out = vec![];
                if i > 0 {
                    out.push(text(", "));
                }
                out.push(link(
                    format!("`{}`", v.wire),
                    format!("#{}", anchor(Direction::Client, v)),
                ));
                out
            })
            .collect();
        let mut what = vec![text("answer to ")];
        what.extend(users);
        code_rows.push(vec![vec![code(c)], what]);
    }
    doc.push(Block::Heading {
        level: 3,
        id: "error-codes".into(),
        text: vec![text("Error codes")],
    });
    doc.push(Block::Table {
        head: vec!["code", "when"],
        rows: code_rows,
    });

    doc.push(Block::Heading {
        level: 2,
        id: "contents".into(),
        text: vec![text("Contents")],
    });
    let mut contents = Vec::new();
    for dir in dirs {
        let mut line = vec![text(format!("{}: ", dir.direction.flow()))];
        for (i, v) in dir.view.variants.iter().enumerate() {
            if i > 0 {
                line.push(text(", "));
            }
            line.push(link(
                format!("`{}`", msg_label(v)),
                format!("#{}", anchor(dir.direction, v)),
            ));
        }
        contents.push(line);
    }
    doc.push(Block::List(contents));

    for (i, dir) in dirs.iter().enumerate() {
        let other = dirs[1 - i];
        direction_section(&mut doc, dir, other);
    }
    doc
}

fn direction_section(doc: &mut Vec<Block>, dir: &DirectionView<'_>, other: &DirectionView<'_>) {
    let d = dir.direction;
    let heading = match d {
        Direction::Client => "Client to server",
        Direction::Server => "Server to client",
    };
    doc.push(Block::Heading {
        level: 2,
        id: d.as_str().into(),
        text: vec![text(format!("{heading} ({})", dir.names.ns))],
    });
    if let Some(desc) = dir.view.root.get("description").and_then(Value::as_str) {
        doc.push(Block::Para(vec![text(desc)]));
    }
    let ex = Examples::new(&dir.view);
    for v in &dir.view.variants {
        doc.push(Block::Heading {
            level: 3,
            id: anchor(d, v),
            text: vec![code(msg_label(v)), text(format!(" ({})", v.title))],
        });
        if let Some(desc) = v.schema.get("description").and_then(Value::as_str) {
            doc.push(Block::Para(vec![text(desc)]));
        }
        if v.catch_all {
            doc.push(Block::Para(vec![text(format!(
                "Any message whose `{}` is none of the above is kept whole rather than rejected.",
                dir.view.tag
            ))]));
        }
        if v.tags.len() > 1 {
            let mut p = vec![text("Also accepted with the tag ")];
            for (i, t) in v.tags[1..].iter().enumerate() {
                if i > 0 {
                    p.push(text(", "));
                }
                p.push(code(format!("\"{t}\"")));
            }
            p.push(text(" (the encoder writes "));
            p.push(code(format!("\"{}\"", v.wire)));
            p.push(text(")."));
            doc.push(Block::Para(p));
        }
        if !v.catch_all {
            doc.push(field_table(v.schema, Some((&dir.view.tag, v)), d));
        }
        // Relations: reply, answers, pushes, pushed by.
        let mut facts: Vec<Vec<Inline>> = Vec::new();
        let reply = dir.reply_of(v.index, other);
        if let Some(r) = reply {
            facts.push(vec![
                text("Request: answered by "),
                link(
                    format!("`{}`", r.wire),
                    format!("#{}", anchor(other.direction, r)),
                ),
                text(format!(" with the same `{}`.", dir.id_field)),
            ]);
        }
        let answers: Vec<&VariantView<'_>> = other
            .view
            .variants
            .iter()
            .filter(|o| {
                other
                    .reply_of(o.index, dir)
                    .is_some_and(|r| r.index == v.index)
            })
            .collect();
        if !answers.is_empty() {
            let mut f = vec![text("Reply to ")];
            for (i, a) in answers.iter().enumerate() {
                if i > 0 {
                    f.push(text(", "));
                }
                f.push(link(
                    format!("`{}`", a.wire),
                    format!("#{}", anchor(other.direction, a)),
                ));
            }
            f.push(text(format!(", with the request's `{}`.", other.id_field)));
            facts.push(f);
        }
        for (target, to) in &dir.pushes[v.index] {
            if let Some(t) = other.view.variants.get(*target) {
                facts.push(vec![
                    text("Causes "),
                    link(
                        format!("`{}`", t.wire),
                        format!("#{}", anchor(other.direction, t)),
                    ),
                    text(format!(" to {to}.")),
                ]);
            }
        }
        for o in &other.view.variants {
            for (target, to) in &other.pushes[o.index] {
                if *target == v.index {
                    facts.push(vec![
                        text("Sent to "),
                        text(to.clone()),
                        text(" when the server handles "),
                        link(
                            format!("`{}`", o.wire),
                            format!("#{}", anchor(other.direction, o)),
                        ),
                        text("."),
                    ]);
                }
            }
        }
        if d == Direction::Client && !v.catch_all {
            let mut codes: Vec<String> = dir.error_codes[v.index].clone();
            for (c, _) in COMMON_CODES {
                if !codes.iter().any(|x| x == c) {
                    codes.push((*c).to_owned());
                }
            }
            if reply.is_some() {
                codes.push(TIMEOUT.0.to_owned());
            }
            let mut f = vec![text("Error codes: ")];
            for (i, c) in codes.iter().enumerate() {
                if i > 0 {
                    f.push(text(", "));
                }
                f.push(code(c.clone()));
            }
            f.push(text("."));
            facts.push(f);
        }
        if d == Direction::Client && reply.is_none() && !v.catch_all {
            facts.insert(
                0,
                vec![text(
                    "One-way: no reply; errors come back as error replies.",
                )],
            );
        }
        if !facts.is_empty() {
            doc.push(Block::List(facts));
        }
        // The example frame.
        let id = (reply.is_some() || !answers.is_empty()).then_some((dir.id_field.as_str(), 1));
        let frame = ex.frame(&dir.view, v, id);
        doc.push(Block::Para(vec![text("Example:")]));
        doc.push(Block::Code {
            lang: "json",
            text: frame_text(&frame, &dir.view.tag, &dir.id_field),
        });
        if d == Direction::Client && !v.catch_all {
            doc.push(Block::Diagram {
                id: format!("diagram-{}", anchor(d, v)),
                seq: diagram(dir, other, v),
            });
        }
    }
    if let Some(defs) = dir.view.defs()
        && !defs.is_empty()
    {
        doc.push(Block::Heading {
            level: 3,
            id: format!("{}-types", d.as_str()),
            text: vec![text(format!("Types used by {}", dir.names.ns))],
        });
        for (key, schema) in defs {
            doc.push(Block::Heading {
                level: 4,
                id: def_anchor(d, key),
                text: vec![code(key.clone())],
            });
            if let Some(desc) = schema.get("description").and_then(Value::as_str) {
                doc.push(Block::Para(vec![text(desc)]));
            }
            if schema.get("properties").is_some() {
                doc.push(field_table(schema, None, d));
            } else {
                let mut p = vec![text("One of: ")];
                p.extend(type_words(schema, d));
                p.push(text("."));
                doc.push(Block::Para(p));
            }
        }
    }
}

/// The sequence diagram of a client message: the request, its reply or one-way effect, the
/// pushes it causes, and the error reply.
fn diagram(dir: &DirectionView<'_>, other: &DirectionView<'_>, v: &VariantView<'_>) -> Sequence {
    let mut seq = Sequence::new(&["Client", "Server"]);
    let reply = dir.reply_of(v.index, other);
    let id = &dir.id_field;
    let req = if reply.is_some() {
        format!("{} ({id}: 1)", v.wire)
    } else {
        v.wire.clone()
    };
    seq.steps.push(Step::Message {
        from: 0,
        to: 1,
        text: req,
        arrow: Arrow::Solid,
    });
    let mut ok = Vec::new();
    if let Some(r) = reply {
        ok.push(Step::Message {
            from: 1,
            to: 0,
            text: format!("{} ({id}: 1)", r.wire),
            arrow: Arrow::Dashed,
        });
    }
    for (target, to) in &dir.pushes[v.index] {
        let Some(t) = other.view.variants.get(*target) else {
            continue;
        };
        let lane = if to == "sender" {
            0
        } else {
            seq.participant(to)
        };
        ok.push(Step::Message {
            from: 1,
            to: lane,
            text: t.wire.clone(),
            arrow: Arrow::Dashed,
        });
    }
    let err_name = other
        .view
        .variant_for_tag("error")
        .map_or("error", |e| e.wire.as_str());
    let mut codes = dir.error_codes[v.index].clone();
    if codes.is_empty() {
        codes.push("invalid_message".to_owned());
    }
    let err_text = if reply.is_some() {
        format!("{err_name} ({id}: 1, code: {})", codes.join(" | "))
    } else {
        format!("{err_name} (code: {})", codes.join(" | "))
    };
    let err = vec![Step::Message {
        from: 1,
        to: 0,
        text: err_text,
        arrow: Arrow::Dashed,
    }];
    if ok.is_empty() {
        ok.push(Step::Note {
            over: 1,
            text: "handled, nothing sent".into(),
        });
    }
    seq.steps.push(Step::Alt {
        branches: vec![("handled".into(), ok), ("rejected".into(), err)],
    });
    seq
}

// ---------------------------------------------------------------- Markdown

fn md_escape(s: &str, in_table: bool) -> String {
    let s = s.replace('<', "&lt;").replace('>', "&gt;");
    if in_table { s.replace('|', "\\|") } else { s }
}

fn md_inline(parts: &[Inline], in_table: bool) -> String {
    let mut out = String::new();
    for p in parts {
        match p {
            Inline::Text(t) => out.push_str(&md_escape(t, in_table)),
            Inline::Code(c) => {
                let c = if in_table {
                    c.replace('|', "\\|")
                } else {
                    c.clone()
                };
                let fence = if c.contains('`') { "``" } else { "`" };
                let _ = write!(out, "{fence}{c}{fence}");
            }
            Inline::Link { text, href } => {
                let _ = write!(out, "[{}]({href})", md_escape(text, in_table));
            }
        }
    }
    out
}

/// The Markdown text.
pub(crate) fn markdown(doc: &[Block]) -> String {
    let mut out = String::from(
        "<!-- Generated by protocol-schema from the Rust protocol enums: do not edit. -->\n",
    );
    for b in doc {
        out.push('\n');
        match b {
            Block::Heading { level, id, text } => {
                let _ = writeln!(out, "<a id=\"{id}\"></a>\n");
                let _ = writeln!(
                    out,
                    "{} {}",
                    "#".repeat(usize::from(*level)),
                    md_inline(text, false)
                );
            }
            Block::Para(p) => {
                let _ = writeln!(out, "{}", md_inline(p, false));
            }
            Block::List(items) => {
                for i in items {
                    let _ = writeln!(out, "- {}", md_inline(i, false));
                }
            }
            Block::Table { head, rows } => {
                let _ = writeln!(out, "| {} |", head.join(" | "));
                let _ = writeln!(out, "|{}|", vec!["---"; head.len()].join("|"));
                for r in rows {
                    let cells: Vec<String> = r.iter().map(|c| md_inline(c, true)).collect();
                    let _ = writeln!(out, "| {} |", cells.join(" | "));
                }
            }
            Block::Code { lang, text } => {
                let _ = writeln!(out, "```{lang}\n{text}\n```");
            }
            Block::Diagram { seq, .. } => {
                let _ = writeln!(out, "```mermaid\n{}```", seq.mermaid());
            }
        }
    }
    out
}

// ---------------------------------------------------------------- HTML

pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Prose with `code` spans, as doc comments write it.
fn html_prose(t: &str) -> String {
    let mut out = String::new();
    for (i, part) in t.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", html_escape(part));
        } else {
            out.push_str(&html_escape(part));
        }
    }
    out
}

fn html_inline(parts: &[Inline]) -> String {
    let mut out = String::new();
    for p in parts {
        match p {
            Inline::Text(t) => out.push_str(&html_prose(t)),
            Inline::Code(c) => {
                let _ = write!(out, "<code>{}</code>", html_escape(c));
            }
            Inline::Link { text, href } => {
                let _ = write!(
                    out,
                    "<a href=\"{}\">{}</a>",
                    html_escape(href),
                    html_prose(text)
                );
            }
        }
    }
    out
}

const CSS: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}\
code,pre{font-family:ui-monospace,monospace;font-size:13px}code{background:#f0f2f4;padding:0 .25em;border-radius:3px}\
pre{background:#f6f8fa;padding:.6rem .8rem;border-radius:6px;overflow-x:auto}pre code{background:none;padding:0}\
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:14px}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}\
th{background:#f6f8fa}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2rem;margin-top:2.5rem}\
section.message{border-left:3px solid #d0d7de;padding-left:1rem;margin:1.5rem 0}figure.diagram{margin:.5rem 0 1rem}\
figure.diagram svg{max-width:100%;height:auto}details{font-size:13px;color:#57606a}";

/// The HTML text: one page, inline CSS and SVG, no script.
pub(crate) fn html(title: &str, doc: &[Block]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<!-- Generated by protocol-schema from the Rust protocol enums: do not edit. -->\n\
         <html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        html_escape(title)
    );
    let mut in_section = false;
    for b in doc {
        match b {
            Block::Heading { level, id, text } => {
                if in_section && *level <= 3 {
                    out.push_str("</section>\n");
                    in_section = false;
                }
                let is_message = *level == 3
                    && (id.starts_with("client-") || id.starts_with("server-"))
                    && !id.ends_with("-types");
                if is_message {
                    let _ = writeln!(
                        out,
                        "<section class=\"message\" id=\"{}\">",
                        html_escape(id)
                    );
                    in_section = true;
                    let _ = writeln!(out, "<h3>{}</h3>", html_inline(text));
                } else {
                    let _ = writeln!(
                        out,
                        "<h{level} id=\"{}\">{}</h{level}>",
                        html_escape(id),
                        html_inline(text)
                    );
                }
            }
            Block::Para(p) => {
                let _ = writeln!(out, "<p>{}</p>", html_inline(p));
            }
            Block::List(items) => {
                out.push_str("<ul>\n");
                for i in items {
                    let _ = writeln!(out, "<li>{}</li>", html_inline(i));
                }
                out.push_str("</ul>\n");
            }
            Block::Table { head, rows } => {
                out.push_str("<table>\n<thead><tr>");
                for h in head {
                    let _ = write!(out, "<th>{h}</th>");
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for r in rows {
                    out.push_str("<tr>");
                    for c in r {
                        let _ = write!(out, "<td>{}</td>", html_inline(c));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
            }
            Block::Code { lang, text } => {
                let _ = writeln!(
                    out,
                    "<pre><code class=\"language-{lang}\">{}</code></pre>",
                    html_escape(text)
                );
            }
            Block::Diagram { id, seq } => {
                let _ = writeln!(
                    out,
                    "<figure class=\"diagram\" id=\"{}\">\n{}<details><summary>Mermaid source</summary><pre>{}</pre></details>\n</figure>",
                    html_escape(id),
                    seq.svg(),
                    html_escape(&seq.mermaid())
                );
            }
        }
    }
    if in_section {
        out.push_str("</section>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}
