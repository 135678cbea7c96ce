//! Python models (`<name>.py`) for both directions of a protocol, made from the exported JSON
//! Schemas: pydantic v2 models judged by `mypy --strict`, and plain `TypedDict`s.
//!
//! Each variant is a model named `<Enum><Variant>` (`ClientMsgJoin`, `ServerMsgMessage`) whose
//! tag is a `Literal` with the wire name as default (aliases of the tag are part of the
//! `Literal`); each direction is `Annotated[Union[...], Field(discriminator=<tag>)]` with a
//! `TypeAdapter` and a `parse_<enum>` function that reads a frame as the Rust decoder does
//! (wire names only, strict types, JSON text in). Fields keep their wire names as aliases and a
//! snake_case Python name (`message_id`, `from_`), usable in constructors (`validate_by_name`,
//! pydantic's `populate_by_name`); serde aliases are `AliasChoices` (only one of them may
//! appear, as in serde). Integer ranges are `Field(ge=, le=)`; optional fields default to the
//! schema's `default` or `None` (a field that may be left out but not be `null` rejects an
//! explicit `null` and is left out when written); `extra="forbid"` exactly where the schema says
//! `additionalProperties: false` (the decoder denies unknown fields), else unknown fields are
//! ignored as serde ignores them. Docs become docstrings and `Field(description=)`.
//!
//! The `TypedDict` half (`<Enum><Variant>Dict`) describes the same frames with wire names as
//! keys, for code that keeps frames as `dict`s.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::model::{Fields, VariantView, def_name};
use crate::spec::DirectionView;

/// Python keywords and soft keywords that cannot be attribute names.
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Names a pydantic model field must not take (they shadow `BaseModel` attributes).
const MODEL_ATTRS: &[&str] = &[
    "construct",
    "copy",
    "dict",
    "json",
    "parse_file",
    "parse_obj",
    "parse_raw",
    "schema",
    "schema_json",
    "update_forward_refs",
    "validate",
];

/// Whether the models or the typed dicts are being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pydantic,
    Dict,
}

/// `messageId` -> `message_id`, `from` -> `from_`, `kind-x` -> `kind_x`.
pub(crate) fn py_field_name(wire: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in wire.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else {
            out.push('_');
            prev_lower = false;
        }
    }
    let out = out.trim_start_matches('_').to_owned();
    let mut out = if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("f_{out}")
    } else {
        out
    };
    if KEYWORDS.contains(&out.as_str())
        || MODEL_ATTRS.contains(&out.as_str())
        || out.starts_with("model_")
    {
        out.push('_');
    }
    out
}

/// A Python class name made from `raw`: `Wrapper<String>` -> `Wrapper_String_`, `circle` -> `Circle`.
fn py_class_name(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Some(first) = out.get(..1) {
        let upper = first.to_ascii_uppercase();
        out.replace_range(..1, &upper);
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) || out.starts_with('_') {
        out.insert(0, 'T');
    }
    if KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// `ClientMsg` -> `client_msg`.
fn snake(name: &str) -> String {
    py_field_name(name).trim_end_matches('_').to_owned()
}

/// A Python string literal.
fn py_str(s: &str) -> String {
    // JSON string escapes are valid Python escapes.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A Python literal for a JSON value, or `None` when it needs a factory (arrays, objects).
fn py_literal(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some("None".into()),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(py_str(s)),
        _ => None,
    }
}

/// A Python expression building a JSON value (for `default_factory`).
fn py_value(v: &Value) -> String {
    match v {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(py_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", py_str(k), py_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => py_literal(other).unwrap_or_else(|| "None".into()),
    }
}

/// A docstring at `indent`, or nothing.
fn docstring(text: &str, indent: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let escaped = text.replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\"");
    let mut out = String::new();
    let lines: Vec<&str> = escaped.lines().collect();
    if lines.len() == 1 {
        let _ = writeln!(out, "{indent}\"\"\"{}\"\"\"", lines[0].trim_end());
        return out;
    }
    let _ = writeln!(out, "{indent}\"\"\"{}", lines[0].trim_end());
    for l in &lines[1..] {
        if l.trim().is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{indent}{}", l.trim_end());
        }
    }
    let _ = writeln!(out, "{indent}\"\"\"");
    out
}

/// Whether `schema` accepts `null` (as far as can be told without resolving references).
fn accepts_null(schema: &Value, root: &Value) -> bool {
    match schema {
        Value::Bool(b) => *b,
        Value::Object(o) => {
            if o.is_empty() {
                return true;
            }
            if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                return resolve(root, r)
                    .is_some_and(|t| !std::ptr::eq(t, schema) && accepts_null(t, root));
            }
            if let Some(c) = o.get("const") {
                return c.is_null();
            }
            if let Some(Value::Array(e)) = o.get("enum") {
                return e.iter().any(Value::is_null);
            }
            let by_type = match o.get("type") {
                Some(Value::String(t)) => Some(t == "null"),
                Some(Value::Array(ts)) => Some(ts.iter().any(|t| t == "null")),
                _ => None,
            };
            let by_alts = ["oneOf", "anyOf"].iter().find_map(|k| {
                o.get(*k)
                    .and_then(Value::as_array)
                    .map(|alts| alts.iter().any(|a| accepts_null(a, root)))
            });
            match (by_type, by_alts) {
                (Some(t), Some(a)) => t && a,
                (Some(t), None) => t,
                (None, Some(a)) => a,
                (None, None) => false,
            }
        }
        _ => false,
    }
}

fn resolve<'v>(root: &'v Value, reference: &str) -> Option<&'v Value> {
    if reference == "#" {
        return Some(root);
    }
    root.get("$defs")?.get(def_name(reference)?)
}

/// Writes the module: definitions in dependency order, names unique across both directions.
struct Py<'a> {
    dirs: [&'a DirectionView<'a>; 2],
    mode: Mode,
    /// Finished definitions, in the order they must appear.
    out: String,
    taken: BTreeSet<String>,
    /// (direction, `$defs` key) -> Python name.
    defs: BTreeMap<(usize, String), String>,
    /// The `$defs` schemas already written, by Python name, to share identical ones.
    def_schemas: BTreeMap<String, &'a Value>,
    /// Whether a `JsonValue` or a validator helper is used.
    uses: BTreeSet<&'static str>,
}

impl<'a> Py<'a> {
    fn new(dirs: [&'a DirectionView<'a>; 2], mode: Mode, taken: BTreeSet<String>) -> Self {
        Self {
            dirs,
            mode,
            out: String::new(),
            taken,
            defs: BTreeMap::new(),
            def_schemas: BTreeMap::new(),
            uses: BTreeSet::new(),
        }
    }

    fn suffix(&self) -> &'static str {
        match self.mode {
            Mode::Pydantic => "",
            Mode::Dict => "Dict",
        }
    }

    fn unique(&mut self, base: String) -> String {
        let mut name = base.clone();
        let mut n = 2;
        while self.taken.contains(&name) {
            name = format!("{base}{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// The union alias of direction `d`.
    fn union_name(&self, d: usize) -> String {
        format!("{}{}", self.dirs[d].names.ns, self.suffix())
    }

    /// The Python name of `$defs` entry `key` of direction `d`, writing it first if needed.
    fn def(&mut self, d: usize, key: &str) -> Option<String> {
        if let Some(name) = self.defs.get(&(d, key.to_owned())) {
            return Some(name.clone());
        }
        let schema: &'a Value = self.dirs[d].view.defs()?.get(key)?;
        let base = format!("{}{}", py_class_name(key), self.suffix());
        // The other direction may have written the very same type already.
        if let Some(existing) = self.def_schemas.get(&base)
            && *existing == schema
        {
            self.defs.insert((d, key.to_owned()), base.clone());
            return Some(base);
        }
        let name = if self.taken.contains(&base) {
            self.unique(format!("{}{base}", self.dirs[d].names.ns))
        } else {
            self.unique(base)
        };
        self.defs.insert((d, key.to_owned()), name.clone());
        self.def_schemas.insert(name.clone(), schema);
        let is_class = schema.get("properties").is_some()
            && schema.get("oneOf").is_none()
            && schema.get("anyOf").is_none();
        if is_class {
            let class = self.class(d, &name, schema, None, None);
            self.out.push_str(&class);
        } else {
            let hint = name.trim_end_matches(self.suffix()).to_owned();
            let ty = self.ty(d, schema, &hint);
            let mut text = String::new();
            let _ = writeln!(text, "{name}: TypeAlias = {ty}");
            if let Some(doc) = schema.get("description").and_then(Value::as_str) {
                text.push_str(&docstring(doc, ""));
            }
            text.push_str("\n\n");
            self.out.push_str(&text);
        }
        Some(name)
    }

    /// The Python type of `schema` in direction `d`; `hint` names inline classes.
    fn ty(&mut self, d: usize, schema: &'a Value, hint: &str) -> String {
        let obj = match schema {
            Value::Object(o) if !o.is_empty() => o,
            Value::Bool(false) => return "NoReturn".into(),
            _ => {
                self.uses.insert("JsonValue");
                return "JsonValue".into();
            }
        };
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            if r == "#" {
                return format!("\"{}\"", self.union_name(d));
            }
            return match def_name(r).and_then(|k| self.def(d, &k)) {
                Some(n) => n,
                None => {
                    self.uses.insert("JsonValue");
                    "JsonValue".into()
                }
            };
        }
        if let Some(c) = obj.get("const") {
            return match c {
                Value::Null => "None".into(),
                other => py_literal(other).map_or_else(
                    || {
                        self.uses.insert("JsonValue");
                        "JsonValue".into()
                    },
                    |l| format!("Literal[{l}]"),
                ),
            };
        }
        if let Some(Value::Array(values)) = obj.get("enum") {
            let lits: Vec<String> = values
                .iter()
                .filter(|v| !v.is_null())
                .filter_map(py_literal)
                .collect();
            let mut t = format!("Literal[{}]", lits.join(", "));
            if values.iter().any(Value::is_null) {
                t.push_str(" | None");
            }
            return t;
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(Value::Array(alts)) = obj.get(key)
                && !obj.contains_key("properties")
            {
                // A set of string constants is one Literal.
                let consts: Option<Vec<String>> = alts
                    .iter()
                    .map(|a| a.get("const").and_then(Value::as_str).map(py_str))
                    .collect();
                if let Some(c) = consts
                    && !c.is_empty()
                {
                    return format!("Literal[{}]", c.join(", "));
                }
                let mut parts: Vec<String> = Vec::new();
                for (i, a) in alts.iter().enumerate() {
                    let alt_hint = a
                        .get("required")
                        .and_then(Value::as_array)
                        .and_then(|r| r.first())
                        .and_then(Value::as_str)
                        .map_or_else(
                            || format!("{hint}{}", i + 1),
                            |r| format!("{hint}{}", py_class_name(r)),
                        );
                    let t = self.ty(d, a, &alt_hint);
                    if !parts.contains(&t) {
                        parts.push(t);
                    }
                }
                return parts.join(" | ");
            }
        }
        let types: Vec<&str> = match obj.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ if obj.contains_key("properties") => vec!["object"],
            _ => Vec::new(),
        };
        if types.is_empty() {
            self.uses.insert("JsonValue");
            return "JsonValue".into();
        }
        let mut parts = Vec::new();
        for t in types {
            let p = match t {
                "string" => self.constrained(
                    "str",
                    obj,
                    &[
                        ("minLength", "min_length"),
                        ("maxLength", "max_length"),
                        ("pattern", "pattern"),
                    ],
                ),
                "integer" => self.constrained(
                    "int",
                    obj,
                    &[
                        ("minimum", "ge"),
                        ("maximum", "le"),
                        ("exclusiveMinimum", "gt"),
                        ("exclusiveMaximum", "lt"),
                    ],
                ),
                "number" => self.constrained(
                    "float",
                    obj,
                    &[
                        ("minimum", "ge"),
                        ("maximum", "le"),
                        ("exclusiveMinimum", "gt"),
                        ("exclusiveMaximum", "lt"),
                    ],
                ),
                "boolean" => "bool".into(),
                "null" => "None".into(),
                "array" => self.array(d, obj, hint),
                "object" => self.object(d, schema, hint),
                _ => {
                    self.uses.insert("JsonValue");
                    "JsonValue".into()
                }
            };
            parts.push(p);
        }
        parts.join(" | ")
    }

    /// `int` or `Annotated[int, Field(ge=0, le=255)]` (constraints only on models).
    fn constrained(
        &mut self,
        base: &str,
        obj: &serde_json::Map<String, Value>,
        keys: &[(&str, &str)],
    ) -> String {
        if self.mode == Mode::Dict {
            return base.to_owned();
        }
        let args: Vec<String> = keys
            .iter()
            .filter_map(|(k, arg)| {
                let v = obj.get(*k)?;
                let lit = match v {
                    Value::String(s) => format!("r{}", py_raw_str(s)?),
                    other => py_literal(other)?,
                };
                Some(format!("{arg}={lit}"))
            })
            .collect();
        if args.is_empty() {
            base.to_owned()
        } else {
            format!("Annotated[{base}, Field({})]", args.join(", "))
        }
    }

    fn array(&mut self, d: usize, obj: &'a serde_json::Map<String, Value>, hint: &str) -> String {
        if let Some(Value::Array(prefix)) = obj.get("prefixItems") {
            let closed = matches!(obj.get("items"), Some(Value::Bool(false)))
                || obj.get("maxItems").and_then(Value::as_u64) == Some(prefix.len() as u64);
            if closed {
                let elems: Vec<String> = prefix
                    .iter()
                    .enumerate()
                    .map(|(i, p)| self.ty(d, p, &format!("{hint}{}", i + 1)))
                    .collect();
                return format!("tuple[{}]", elems.join(", "));
            }
            self.uses.insert("JsonValue");
            return "list[JsonValue]".into();
        }
        let item = match obj.get("items") {
            Some(i) => self.ty(d, i, &format!("{hint}Item")),
            None => {
                self.uses.insert("JsonValue");
                "JsonValue".into()
            }
        };
        let list = format!("list[{item}]");
        self.constrained(
            &list,
            obj,
            &[("minItems", "min_length"), ("maxItems", "max_length")],
        )
    }

    fn object(&mut self, d: usize, schema: &'a Value, hint: &str) -> String {
        if schema.get("properties").is_some() {
            let base = format!("{}{}", py_class_name(hint), self.suffix());
            let name = self.unique(base);
            let class = self.class(d, &name, schema, None, None);
            self.out.push_str(&class);
            return name;
        }
        let value = match schema.get("additionalProperties") {
            Some(ap @ Value::Object(_)) => Some(self.ty(d, ap, &format!("{hint}Value"))),
            _ => None,
        };
        if let Some(Value::Object(pp)) = schema.get("patternProperties")
            && let Some((pattern, item)) = pp.iter().next()
        {
            let item = self.ty(d, item, &format!("{hint}Value"));
            let key = match (self.mode, py_raw_str(pattern)) {
                (Mode::Pydantic, Some(p)) => format!("Annotated[str, Field(pattern=r{p})]"),
                _ => "str".to_owned(),
            };
            return format!("dict[{key}, {item}]");
        }
        let value = value.unwrap_or_else(|| {
            self.uses.insert("JsonValue");
            "JsonValue".into()
        });
        format!("dict[str, {value}]")
    }

    /// A model (or typed dict) class for an object schema; `tag` is (tag field, its Python
    /// type, default) for a variant, `extra_doc` more docstring paragraphs.
    fn class(
        &mut self,
        d: usize,
        name: &str,
        schema: &'a Value,
        tag: Option<(&str, String, String)>,
        extra_doc: Option<String>,
    ) -> String {
        let root = self.dirs[d].view.root;
        let fields = Fields::of(schema, tag.as_ref().map(|t| t.0));
        let mut doc = schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let flattened = ["oneOf", "anyOf"].iter().any(|k| schema.get(*k).is_some())
            || !fields.rest_all_of.is_empty();
        if flattened {
            push_par(
                &mut doc,
                "Its schema also has alternatives (a flattened enum) that these fields do not \
                 model: validate frames against the JSON Schema for those.",
            );
        }
        if let Some(extra) = extra_doc {
            push_par(&mut doc, &extra);
        }
        let mut body = String::new();
        let mut lines: Vec<String> = Vec::new();
        let mut used_names: BTreeSet<String> = BTreeSet::new();
        // (python name, wire name, aliases) of fields written.
        let mut written: Vec<(String, String, Vec<String>)> = Vec::new();
        let mut not_null: Vec<String> = Vec::new();
        let functional = self.mode == Mode::Dict
            && (tag
                .iter()
                .map(|t| t.0)
                .chain(fields.fields.iter().map(|f| f.name.as_str())))
            .any(|n| py_field_name(n) != n);
        if let Some((tag_name, tag_ty, tag_default)) = &tag {
            let py = py_field_name(tag_name);
            used_names.insert(py.clone());
            match self.mode {
                Mode::Pydantic => {
                    let alias = if py == *tag_name {
                        String::new()
                    } else {
                        format!(", alias={}", py_str(tag_name))
                    };
                    lines.push(if alias.is_empty() {
                        format!("{py}: {tag_ty} = {tag_default}")
                    } else {
                        format!("{py}: {tag_ty} = Field(default={tag_default}{alias})")
                    });
                }
                Mode::Dict => lines.push(dict_line(functional, tag_name, tag_ty)),
            }
        }
        for f in &fields.fields {
            let mut py = py_field_name(&f.name);
            while !used_names.insert(py.clone()) {
                py.push('_');
            }
            let field_hint = format!(
                "{}{}",
                name.trim_end_matches(self.suffix()),
                py_class_name(&f.name)
            );
            let mut ty = self.ty(d, f.schema, &field_hint);
            let desc = f.schema.get("description").and_then(Value::as_str);
            let mut desc_text = desc.unwrap_or_default().to_owned();
            if !f.aliases.is_empty() {
                let list: Vec<String> = f.aliases.iter().map(|a| format!("`{a}`")).collect();
                push_par(
                    &mut desc_text,
                    &format!(
                        "Also accepted as {} (written as `{}`).",
                        list.join(", "),
                        f.name
                    ),
                );
            }
            match self.mode {
                Mode::Dict => {
                    if !f.required {
                        ty = format!("NotRequired[{ty}]");
                    }
                    if !functional && !desc_text.is_empty() {
                        lines.push(format!("# {}", desc_text.replace('\n', " ")));
                    }
                    lines.push(dict_line(functional, &f.name, &ty));
                }
                Mode::Pydantic => {
                    let mut args: Vec<String> = Vec::new();
                    if !f.required {
                        match f.schema.get("default") {
                            Some(v) => match py_literal(v) {
                                Some(lit) => args.push(format!("default={lit}")),
                                None => {
                                    args.push(format!("default_factory=lambda: {}", py_value(v)))
                                }
                            },
                            None => {
                                if !accepts_null(f.schema, root) {
                                    // May be left out, not null: None stands for "left out".
                                    not_null.push(py.clone());
                                    args.push("exclude_if=_is_none".into());
                                    ty = format!("{ty} | None");
                                }
                                args.insert(0, "default=None".into());
                            }
                        }
                    }
                    if f.aliases.is_empty() {
                        if py != f.name {
                            args.push(format!("alias={}", py_str(&f.name)));
                        }
                    } else {
                        self.uses.insert("AliasChoices");
                        let names: Vec<String> = f.names().map(py_str).collect();
                        args.push(format!(
                            "validation_alias=AliasChoices({})",
                            names.join(", ")
                        ));
                        args.push(format!("serialization_alias={}", py_str(&f.name)));
                    }
                    if !desc_text.is_empty() {
                        args.push(format!("description={}", py_str(&desc_text)));
                    }
                    lines.push(if args.is_empty() {
                        format!("{py}: {ty}")
                    } else {
                        format!("{py}: {ty} = Field({})", args.join(", "))
                    });
                }
            }
            written.push((py, f.name.clone(), f.aliases.clone()));
        }
        if functional {
            let _ = writeln!(body, "{name} = TypedDict(");
            let _ = writeln!(body, "    {},", py_str(name));
            let _ = writeln!(body, "    {{");
            for l in &lines {
                let _ = writeln!(body, "        {l},");
            }
            let _ = writeln!(body, "    }},");
            let _ = writeln!(body, ")");
            body.push_str("\n\n");
            let comments: String = doc
                .lines()
                .map(|l| format!("# {l}").trim_end().to_owned() + "\n")
                .collect();
            return comments + &body;
        }
        let base = match self.mode {
            Mode::Pydantic => "_Model",
            Mode::Dict => "TypedDict",
        };
        let _ = writeln!(body, "class {name}({base}):");
        let doc_text = docstring(&doc, "    ");
        body.push_str(&doc_text);
        if self.mode == Mode::Pydantic {
            if !doc_text.is_empty() {
                body.push('\n');
            }
            let extra = match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => "forbid",
                Some(Value::Object(_)) | Some(Value::Bool(true)) => "allow",
                _ if flattened => "allow",
                _ => "ignore",
            };
            let _ = writeln!(
                body,
                "    model_config = ConfigDict(extra={})",
                py_str(extra)
            );
            if let Some(ap @ Value::Object(_)) = schema.get("additionalProperties") {
                let t = self.ty(d, ap, &format!("{name}Extra"));
                let _ = writeln!(
                    body,
                    "    __pydantic_extra__: dict[str, {t}] = Field(init=False)"
                );
            }
            body.push('\n');
        } else if lines.is_empty() && doc_text.is_empty() {
            body.push_str("    pass\n");
        }
        for l in &lines {
            let _ = writeln!(body, "    {l}");
        }
        if self.mode == Mode::Pydantic {
            if !not_null.is_empty() {
                let names: Vec<String> = not_null.iter().map(|n| py_str(n)).collect();
                let _ = write!(
                    body,
                    "\n    _not_null = field_validator({}, mode=\"before\")(_reject_null)\n",
                    names.join(", ")
                );
                self.uses.insert("not_null");
            }
            let groups: Vec<String> = written
                .iter()
                .filter(|(_, _, aliases)| !aliases.is_empty())
                .map(|(_, wire, aliases)| {
                    let names: Vec<String> = std::iter::once(wire)
                        .chain(aliases)
                        .map(|n| py_str(n))
                        .collect();
                    format!("({},)", names.join(", "))
                })
                .collect();
            if !groups.is_empty() {
                let _ = write!(
                    body,
                    "\n    @model_validator(mode=\"before\")\n    @classmethod\n    \
                     def _one_name_each(cls, data: object) -> object:\n        \
                     return _at_most_one_of(data, ({},))\n",
                    groups.join(", ")
                );
                self.uses.insert("one_name");
            }
        }
        body.push_str("\n\n");
        body
    }

    fn variant_class(&mut self, d: usize, v: &VariantView<'a>) -> String {
        let dir = self.dirs[d];
        let other = self.dirs[1 - d];
        let name = format!(
            "{}{}{}",
            dir.names.ns,
            py_class_name(&v.title),
            self.suffix()
        );
        let name = self.unique(name);
        let tag = dir.view.tag.as_str();
        let mut doc = Vec::new();
        if v.tags.len() > 1 {
            let list: Vec<String> = v.tags[1..].iter().map(|a| format!("`{a}`")).collect();
            doc.push(format!(
                "The decoder also accepts the tag {} for it.",
                list.join(", ")
            ));
        }
        if let Some(reply) = dir.reply_of(v.index, other) {
            doc.push(format!(
                "A request: answered by `{}{}` with the same `{}`.",
                other.names.ns,
                py_class_name(&reply.title),
                dir.id_field
            ));
        }
        let lits: Vec<String> = v.tags.iter().map(|t| py_str(t)).collect();
        let tag_ty = format!("Literal[{}]", lits.join(", "));
        let extra = (!doc.is_empty()).then(|| doc.join("\n\n"));
        let class = self.class(
            d,
            &name,
            v.schema,
            Some((tag, tag_ty, py_str(&v.wire))),
            extra,
        );
        self.out.push_str(&class);
        name
    }
}

/// `"name": type` in a functional TypedDict, or `name: type` in a class.
fn dict_line(functional: bool, name: &str, ty: &str) -> String {
    if functional {
        format!("{}: {ty}", py_str(name))
    } else {
        format!("{name}: {ty}")
    }
}

/// A raw Python string literal for `s` (`"..."`, to be prefixed with `r`), when one can hold it.
fn py_raw_str(s: &str) -> Option<String> {
    if s.contains('"') || s.contains('\n') || s.ends_with('\\') {
        None
    } else {
        Some(format!("\"{s}\""))
    }
}

fn push_par(doc: &mut String, text: &str) {
    if !doc.is_empty() {
        doc.push_str("\n\n");
    }
    doc.push_str(text);
}

/// The `<name>.py` text for both directions.
pub(crate) fn module(title: &str, version: &str, dirs: [&DirectionView<'_>; 2]) -> String {
    let mut taken: BTreeSet<String> = BTreeSet::new();
    for d in dirs {
        taken.insert(d.names.ns.clone());
        taken.insert(format!("{}Dict", d.names.ns));
        taken.insert(format!("{}Adapter", d.names.ns));
        if let Some(c) = d.view.catch_all() {
            taken.insert(format!("{}{}", d.names.ns, py_class_name(&c.title)));
        }
    }
    for t in [
        "JsonValue",
        "BaseModel",
        "Field",
        "Literal",
        "Union",
        "Annotated",
    ] {
        taken.insert(t.to_owned());
    }
    let mut models = Py::new(dirs, Mode::Pydantic, taken.clone());
    let mut model_names: Vec<Vec<String>> = Vec::new();
    for (d, dir) in dirs.iter().enumerate() {
        let names = dir
            .view
            .known()
            .map(|v| models.variant_class(d, v))
            .collect();
        model_names.push(names);
    }
    let mut dicts = Py::new(dirs, Mode::Dict, models.taken.clone());
    let mut dict_names: Vec<Vec<String>> = Vec::new();
    for (d, dir) in dirs.iter().enumerate() {
        let names = dir
            .view
            .known()
            .map(|v| dicts.variant_class(d, v))
            .collect();
        dict_names.push(names);
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Generated by protocol-schema from the Rust protocol enums: do not edit.\n\
         \"\"\"{title} {version}: pydantic v2 models and TypedDicts for both directions.\n\n\
         Read a frame with ``parse_<enum>(text)``: it accepts exactly what the Rust decoder\n\
         accepts (wire names only, strict types). Write one with ``encode(model)``. Models take\n\
         Python names in constructors (``message_id=...``); on the wire fields keep their\n\
         wire names (``messageId``).\n\"\"\"\n\n\
         from __future__ import annotations\n\n\
         import json\n\
         from typing import Annotated, Final, Literal, NoReturn, NotRequired, TypeAlias, TypedDict, Union\n"
    );
    let mut pyd_imports = vec!["BaseModel", "ConfigDict", "Field", "TypeAdapter"];
    if models.uses.contains("AliasChoices") {
        pyd_imports.push("AliasChoices");
    }
    pyd_imports.push("JsonValue");
    if models.uses.contains("not_null") {
        pyd_imports.push("field_validator");
    }
    if models.uses.contains("one_name") {
        pyd_imports.push("model_validator");
    }
    pyd_imports.sort_unstable();
    let _ = writeln!(out, "from pydantic import {}\n", pyd_imports.join(", "));
    let _ = writeln!(
        out,
        "__all__ = [{}]\n",
        dirs.iter()
            .enumerate()
            .flat_map(|(d, dir)| {
                let ns = dir.names.ns.clone();
                let sn = snake(&ns);
                let mut v = vec![
                    py_str(&ns),
                    py_str(&format!("{ns}Dict")),
                    py_str(&format!("{ns}Adapter")),
                    py_str(&format!("parse_{sn}")),
                    py_str(&format!("{}_TYPES", sn.to_ascii_uppercase())),
                ];
                v.extend(model_names[d].iter().map(|n| py_str(n)));
                v.extend(dict_names[d].iter().map(|n| py_str(n)));
                if let Some(c) = dir.view.catch_all() {
                    v.push(py_str(&format!("{ns}{}", py_class_name(&c.title))));
                }
                v
            })
            .chain(std::iter::once(py_str("encode")))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out.push_str(
        "\nclass _Model(BaseModel):\n    \
         \"\"\"Strict like the Rust decoder; fields take their Python or their wire names.\"\"\"\n\n    \
         model_config = ConfigDict(strict=True, validate_by_name=True, validate_by_alias=True)\n\n\n\
         def _is_none(value: object) -> bool:\n    return value is None\n\n\n",
    );
    if models.uses.contains("not_null") {
        out.push_str(
            "def _reject_null(value: object) -> object:\n    \
             # A field that may be left out but is not nullable: null is an error, as in serde.\n    \
             if value is None:\n        \
             raise ValueError(\"null is not allowed here; leave the field out instead\")\n    \
             return value\n\n\n",
        );
    }
    if models.uses.contains("one_name") {
        out.push_str(
            "def _at_most_one_of(data: object, groups: tuple[tuple[str, ...], ...]) -> object:\n    \
             # serde rejects a field given under two of its names (\"duplicate field\").\n    \
             if isinstance(data, dict):\n        \
             for names in groups:\n            \
             present = [n for n in names if n in data]\n            \
             if len(present) > 1:\n                \
             raise ValueError(f\"duplicate field: {' and '.join(present)} name the same field\")\n    \
             return data\n\n\n",
        );
    }
    out.push_str("# Models\n\n");
    out.push_str(&models.out);
    for (d, dir) in dirs.iter().enumerate() {
        let ns = &dir.names.ns;
        let tag = &dir.view.tag;
        let sn = snake(ns);
        let members = &model_names[d];
        let union = match members.len() {
            0 => "NoReturn".to_owned(),
            1 => members[0].clone(),
            _ => format!(
                "Annotated[\n    Union[\n        {},\n    ],\n    Field(discriminator={}),\n]",
                members.join(",\n        "),
                py_str(&py_field_name(tag))
            ),
        };
        let _ = writeln!(out, "{ns}: TypeAlias = {union}");
        let mut doc = dir
            .view
            .root
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        push_par(
            &mut doc,
            &format!(
                "Every {} message, told apart by `{tag}`.",
                dir.direction.flow()
            ),
        );
        out.push_str(&docstring(&doc, ""));
        let _ = writeln!(out, "\n{ns}Adapter: TypeAdapter[{ns}] = TypeAdapter({ns})");
        let tags: Vec<String> = dir.view.known().map(|v| py_str(&v.wire)).collect();
        let all_tags: Vec<String> = dir
            .view
            .known()
            .flat_map(|v| v.tags.iter())
            .map(|t| py_str(t))
            .collect();
        let upper = sn.to_ascii_uppercase();
        let _ = writeln!(
            out,
            "{upper}_TYPES: Final[tuple[str, ...]] = ({}{})\n\"\"\"The `{tag}` of every known {ns}, in declaration order.\"\"\"\n",
            tags.join(", "),
            if tags.len() == 1 { "," } else { "" }
        );
        let flow = dir.direction.flow();
        match dir.view.catch_all() {
            None => {
                let _ = writeln!(
                    out,
                    "\ndef parse_{sn}(frame: str | bytes) -> {ns}:\n    \
                     \"\"\"Read one {flow} frame as the Rust decoder reads it.\n\n    \
                     Raises ``pydantic.ValidationError`` when the decoder would reject it.\n    \"\"\"\n    \
                     return {ns}Adapter.validate_json(frame, by_alias=True, by_name=False)\n"
                );
            }
            Some(c) => {
                let unknown = format!("{ns}{}", py_class_name(&c.title));
                let _ = writeln!(
                    out,
                    "\nclass {unknown}(_Model):\n    \
                     \"\"\"A {ns} of a type this module does not know, kept whole (the catch-all).\"\"\"\n\n    \
                     model_config = ConfigDict(extra=\"allow\")\n\n    \
                     {}: str{}\n\n\n\
                     _{upper}_KNOWN: Final[frozenset[str]] = frozenset(({}{}))\n\n\n\
                     def parse_{sn}(frame: str | bytes) -> {ns} | {unknown}:\n    \
                     \"\"\"Read one {flow} frame as the Rust decoder reads it; a frame of unknown\n    \
                     type comes back whole as ``{unknown}``.\n\n    \
                     Raises ``pydantic.ValidationError`` when the decoder would reject it.\n    \"\"\"\n    \
                     try:\n        \
                     data = json.loads(frame)\n    \
                     except ValueError:\n        \
                     data = None\n    \
                     if isinstance(data, dict) and isinstance(data.get({}), str) and data[{}] not in _{upper}_KNOWN:\n        \
                     return {unknown}.model_validate_json(frame, by_alias=True, by_name=False)\n    \
                     return {ns}Adapter.validate_json(frame, by_alias=True, by_name=False)\n",
                    py_field_name(tag),
                    if py_field_name(tag) == *tag {
                        String::new()
                    } else {
                        format!(" = Field(alias={})", py_str(tag))
                    },
                    all_tags.join(", "),
                    if all_tags.len() == 1 { "," } else { "" },
                    py_str(tag),
                    py_str(tag),
                );
            }
        }
    }
    out.push_str(
        "\n\ndef encode(message: BaseModel) -> str:\n    \
         \"\"\"One frame's text: wire names, fields that were left out stay out.\"\"\"\n    \
         return message.model_dump_json(by_alias=True)\n\n\n",
    );
    out.push_str("# TypedDicts: the same frames as plain dicts, keys as on the wire\n\n");
    out.push_str(&dicts.out);
    for (d, dir) in dirs.iter().enumerate() {
        let ns = &dir.names.ns;
        let members = &dict_names[d];
        let union = match members.len() {
            0 => "NoReturn".to_owned(),
            1 => members[0].clone(),
            _ => format!("Union[\n    {},\n]", members.join(",\n    ")),
        };
        let _ = writeln!(out, "{ns}Dict: TypeAlias = {union}");
        let _ = writeln!(
            out,
            "\"\"\"Every {} message as a dict.\"\"\"\n",
            dir.direction.flow()
        );
    }
    let trimmed = out.trim_end().to_owned();
    trimmed + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_names() {
        assert_eq!(py_field_name("messageId"), "message_id");
        assert_eq!(py_field_name("from"), "from_");
        assert_eq!(py_field_name("kind-x"), "kind_x");
        assert_eq!(py_field_name("ID"), "id");
        assert_eq!(py_field_name("json"), "json_");
        assert_eq!(py_field_name("model_config"), "model_config_");
        assert_eq!(py_field_name("9lives"), "f_9lives");
        assert_eq!(py_field_name("byNumber"), "by_number");
        assert_eq!(py_class_name("Wrapper<String>"), "Wrapper_String_");
        assert_eq!(py_class_name("circle"), "Circle");
        assert_eq!(snake("ClientMsg"), "client_msg");
    }

    #[test]
    fn docstrings_escape_quotes_and_backslashes() {
        assert_eq!(docstring("One.", ""), "\"\"\"One.\"\"\"\n");
        assert_eq!(
            docstring("a \\d \"\"\" b\n\nc", "    "),
            "    \"\"\"a \\\\d \\\"\\\"\\\" b\n\n    c\n    \"\"\"\n"
        );
    }
}
