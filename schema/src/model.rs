//! Reading a protocol schema back: the tag field, the variants with their wire names, aliases,
//! catch-all and reply, and the fields of an object schema with their aliases.
//!
//! Everything here works on the exported JSON alone, so the export (TypeScript, AsyncAPI), the
//! diff and the traffic validator all read a schema the same way, whether it came from the Rust
//! types or from a file.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// The prefix of the `$comment` a request variant carries: `protocol:reply=<wire name>`.
pub(crate) const REPLY_COMMENT: &str = "protocol:reply=";

/// The prefix of the `$comment` token that gives a variant's part in room streams:
/// `protocol:stream=stream`, `protocol:stream=join:<announcing wire name>`, `protocol:stream=leave`
/// or `protocol:stream=publish` (written by [`crate::Spec`] from `VariantMeta::stream_role`).
/// A `$comment`, as the reply is, rather than an `x-` keyword: `ajv --strict` refuses unknown
/// keywords, and every judge ignores comments.
pub(crate) const STREAM_COMMENT: &str = "protocol:stream=";

/// A variant's part in room streams, as its schema says (see [`STREAM_COMMENT`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamPart {
    /// A stored server message with `room` and `offset`.
    Stream,
    /// Joins the room in `room` (resuming with `since`); the other direction's message of this
    /// wire name (fields `room`, `epoch`, `offset`, `recovered`) announces the join.
    Join {
        /// The announcing message's wire name, when the schema names it.
        announced_by: Option<String>,
    },
    /// Leaves the room in `room`.
    Leave,
    /// A request publishing into the room in `room`; its reply carries the `offset`.
    Publish,
}

impl StreamPart {
    /// The token's value: `stream`, `join:joined`, `leave`, `publish`.
    pub(crate) fn token(&self) -> String {
        match self {
            Self::Stream => "stream".into(),
            Self::Join {
                announced_by: Some(a),
            } => format!("join:{a}"),
            Self::Join { announced_by: None } => "join".into(),
            Self::Leave => "leave".into(),
            Self::Publish => "publish".into(),
        }
    }
}

/// A protocol schema: `oneOf` one object schema per variant, each with a fixed tag.
#[derive(Debug)]
pub(crate) struct ProtocolView<'a> {
    /// The whole schema.
    pub root: &'a Value,
    /// The tag field, `"type"` unless the enum renamed it.
    pub tag: String,
    /// The variants in `oneOf` order.
    pub variants: Vec<VariantView<'a>>,
}

/// One variant of a [`ProtocolView`].
#[derive(Debug)]
pub(crate) struct VariantView<'a> {
    /// Position in the top-level `oneOf`.
    pub index: usize,
    /// The Rust variant name (`title`), or `#<index>` when the schema has none.
    pub title: String,
    /// The wire name the encoder writes; empty for the catch-all.
    pub wire: String,
    /// The wire name followed by the aliases the decoder also accepts.
    pub tags: Vec<String>,
    /// Whether this is the catch-all that accepts any unknown tag.
    pub catch_all: bool,
    /// For a request: the wire name of its reply in the other direction.
    pub reply: Option<String>,
    /// Its part in room streams, if any.
    pub stream: Option<StreamPart>,
    /// The variant's object schema.
    pub schema: &'a Value,
}

impl<'a> ProtocolView<'a> {
    /// Read the protocol structure of a schema; the error says what is missing.
    pub fn parse(root: &'a Value) -> Result<Self, String> {
        let obj = root
            .as_object()
            .ok_or_else(|| format!("expected an object schema, found {}", kind_of(root)))?;
        let one_of = obj.get("oneOf").and_then(Value::as_array).ok_or(
            "it has no top-level `oneOf` of message variants (is it a schema exported by protocol-schema?)",
        )?;
        let tag = find_tag(obj, one_of)?;
        let mut variants = Vec::with_capacity(one_of.len());
        for (index, schema) in one_of.iter().enumerate() {
            variants.push(VariantView::parse(index, schema, &tag)?);
        }
        let mut seen = BTreeMap::new();
        for v in &variants {
            for t in &v.tags {
                if let Some(other) = seen.insert(t.as_str(), v.title.as_str()) {
                    return Err(format!(
                        "variants `{other}` and `{}` both accept the tag {t:?}",
                        v.title
                    ));
                }
            }
        }
        if variants.iter().filter(|v| v.catch_all).count() > 1 {
            return Err("it has more than one catch-all variant".into());
        }
        Ok(Self {
            root,
            tag,
            variants,
        })
    }

    /// The catch-all variant, if the protocol has one.
    pub fn catch_all(&self) -> Option<&VariantView<'a>> {
        self.variants.iter().find(|v| v.catch_all)
    }

    /// The variants with a fixed tag (all but the catch-all).
    pub fn known(&self) -> impl Iterator<Item = &VariantView<'a>> {
        self.variants.iter().filter(|v| !v.catch_all)
    }

    /// The variant that accepts this tag (wire name or alias); not the catch-all.
    pub fn variant_for_tag(&self, tag: &str) -> Option<&VariantView<'a>> {
        self.known().find(|v| v.tags.iter().any(|t| t == tag))
    }

    /// The schema's `$defs`.
    pub fn defs(&self) -> Option<&'a Map<String, Value>> {
        self.root.get("$defs").and_then(Value::as_object)
    }
}

/// The tag: the discriminator hint, or the property the root requires and every variant pins.
fn find_tag(obj: &Map<String, Value>, one_of: &[Value]) -> Result<String, String> {
    if let Some(name) = obj
        .get("discriminator")
        .and_then(|d| d.get("propertyName"))
        .and_then(Value::as_str)
    {
        return Ok(name.to_owned());
    }
    let required = obj.get("required").and_then(Value::as_array);
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        let pinned_everywhere = one_of
            .iter()
            .all(|v| v.get("properties").and_then(|p| p.get(name)).is_some());
        if pinned_everywhere {
            return Ok(name.to_owned());
        }
    }
    Err("no tag field: the root neither names a discriminator nor requires a property that every variant defines".into())
}

impl<'a> VariantView<'a> {
    fn parse(index: usize, schema: &'a Value, tag: &str) -> Result<Self, String> {
        let title = schema
            .get("title")
            .and_then(Value::as_str)
            .map_or_else(|| format!("#{index}"), str::to_owned);
        let tag_schema = schema
            .get("properties")
            .and_then(|p| p.get(tag))
            .ok_or_else(|| format!("variant {title} (oneOf/{index}) has no `{tag}` property"))?;
        let comment = schema.get("$comment").and_then(Value::as_str);
        let reply = comment.and_then(parse_reply_comment);
        let stream = comment.and_then(parse_stream_comment);
        let (tags, catch_all) = if let Some(c) = tag_schema.get("const") {
            let c = c.as_str().ok_or_else(|| {
                format!(
                    "variant {title}: the `{tag}` const is {}, not a string",
                    kind_of(c)
                )
            })?;
            (vec![c.to_owned()], false)
        } else if let Some(e) = tag_schema.get("enum").and_then(Value::as_array) {
            let names: Option<Vec<String>> =
                e.iter().map(|v| v.as_str().map(str::to_owned)).collect();
            match names {
                Some(n) if !n.is_empty() => (n, false),
                _ => {
                    return Err(format!(
                        "variant {title}: the `{tag}` enum must list one or more strings"
                    ));
                }
            }
        } else if tag_schema.get("not").is_some() || tag_schema.get("type").is_some() {
            (Vec::new(), true)
        } else {
            return Err(format!(
                "variant {title}: the `{tag}` property is neither a const, an enum nor a catch-all string"
            ));
        };
        Ok(Self {
            index,
            title,
            wire: tags.first().cloned().unwrap_or_default(),
            tags,
            catch_all,
            reply,
            stream,
            schema,
        })
    }

    /// Human name: `"join" (Join)`, or `catch-all (Unknown)`.
    pub fn describe(&self) -> String {
        if self.catch_all {
            format!("catch-all ({})", self.title)
        } else {
            format!("{:?} ({})", self.wire, self.title)
        }
    }
}

/// The fields a variant's `$comment` lists (`protocol:fields=id?,room,note?`): each name, in
/// the order the encoder writes them, with whether it always writes it. `None` without a list.
pub(crate) fn parse_fields_comment(comment: &str) -> Option<Vec<(String, bool)>> {
    let prefix = protocol_core::schema::FIELDS_COMMENT;
    let start = comment.find(prefix)? + prefix.len();
    let rest = &comment[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let list = &rest[..end];
    if list.is_empty() {
        return Some(Vec::new());
    }
    list.split(',')
        .map(|item| {
            let (name, always) = match item.strip_suffix('?') {
                Some(n) => (n, false),
                None => (item, true),
            };
            Some((percent_decode(name)?, always))
        })
        .collect()
}

/// `a%20b` -> `a b`; `None` when an escape is malformed or the bytes are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `protocol:reply=sent` -> `sent`.
pub(crate) fn parse_reply_comment(comment: &str) -> Option<String> {
    let start = comment.find(REPLY_COMMENT)? + REPLY_COMMENT.len();
    let rest = &comment[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let name = rest[..end].trim_end_matches([',', ';', '.']);
    (!name.is_empty()).then(|| name.to_owned())
}

/// `protocol:stream=join:joined` -> [`StreamPart::Join`] announced by `joined`; `None` without
/// the token or with a role this version does not know.
pub(crate) fn parse_stream_comment(comment: &str) -> Option<StreamPart> {
    let start = comment.find(STREAM_COMMENT)? + STREAM_COMMENT.len();
    let rest = &comment[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (role, arg) = match rest[..end].split_once(':') {
        Some((role, arg)) => (role, Some(arg).filter(|a| !a.is_empty())),
        None => (&rest[..end], None),
    };
    match (role, arg) {
        ("stream", None) => Some(StreamPart::Stream),
        ("join", announced_by) => Some(StreamPart::Join {
            announced_by: announced_by.map(str::to_owned),
        }),
        ("leave", None) => Some(StreamPart::Leave),
        ("publish", None) => Some(StreamPart::Publish),
        _ => None,
    }
}

/// A field of an object schema, with the aliases the decoder also accepts for it.
#[derive(Debug, Clone)]
pub(crate) struct Field<'a> {
    /// The name the encoder writes.
    pub name: String,
    /// Other names accepted in its place (`#[serde(alias)]`).
    pub aliases: Vec<String>,
    /// Whether a document must carry the field (under its name or an alias): what the decoder
    /// asks of a message it reads.
    pub required: bool,
    /// Whether the encoder always writes the field: what a message it wrote carries. From the
    /// variant's field list (`$comment`); where there is none (nested types, flattened fields),
    /// the same as `required`.
    pub written: bool,
    /// The field's schema.
    pub schema: &'a Value,
}

impl Field<'_> {
    /// The name and the aliases.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

/// The fields of an object schema, field aliases folded in, and the `allOf` members that are
/// not alias bookkeeping.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    /// Fields in the order the encoder writes them (the variant's field list), then any it does
    /// not list sorted by name (all of them, sorted, in a schema without a list).
    pub fields: Vec<Field<'a>>,
    /// `allOf` members other than the alias constructs.
    pub rest_all_of: Vec<&'a Value>,
}

impl<'a> Fields<'a> {
    /// Read the fields of an object schema; `skip` names a property to leave out (the tag).
    pub fn of(schema: &'a Value, skip: Option<&str>) -> Self {
        let props = schema.get("properties").and_then(Value::as_object);
        let mut required: BTreeSet<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        // alias -> canonical name
        let mut alias_of: BTreeMap<String, String> = BTreeMap::new();
        let mut rest_all_of = Vec::new();
        let all_of = schema.get("allOf").and_then(Value::as_array);
        for member in all_of.into_iter().flatten() {
            if let Some(names) = required_alias_group(member) {
                if let Some((first, others)) = names.split_first() {
                    required.insert(first);
                    for o in others {
                        alias_of.insert((*o).to_owned(), (*first).to_owned());
                    }
                }
            } else if let Some((a, b)) = optional_alias_pair(member) {
                // Pairs are written (name, alias) and (alias, later alias): the name never comes
                // second, and an alias points at whatever the first of its first pair maps to.
                let canonical = alias_of.get(a).cloned().unwrap_or_else(|| a.to_owned());
                alias_of.entry(b.to_owned()).or_insert(canonical);
            } else {
                rest_all_of.push(member);
            }
        }
        let listed: Vec<(String, bool)> = schema
            .get("$comment")
            .and_then(Value::as_str)
            .and_then(parse_fields_comment)
            .unwrap_or_default();
        let position = |name: &str| listed.iter().position(|(n, _)| n == name);
        let mut fields: Vec<Field<'a>> = Vec::new();
        let mut names: Vec<(&'a String, &'a Value)> = props.into_iter().flatten().collect();
        names.sort_by(|a, b| {
            let (pa, pb) = (position(a.0), position(b.0));
            // Listed fields first, in list order; the rest after them, by name.
            (pa.is_none(), pa, a.0).cmp(&(pb.is_none(), pb, b.0))
        });
        for (name, field_schema) in names {
            if Some(name.as_str()) == skip || alias_of.contains_key(name) {
                continue;
            }
            let aliases: Vec<String> = alias_of
                .iter()
                .filter(|(_, c)| *c == name)
                .map(|(a, _)| a.clone())
                .collect();
            let required = required.contains(name.as_str());
            let written = position(name).map_or(required, |i| listed[i].1);
            fields.push(Field {
                name: name.clone(),
                aliases,
                required,
                written,
                schema: field_schema,
            });
        }
        Self {
            fields,
            rest_all_of,
        }
    }
}

/// `{"oneOf":[{"properties":{"name":..},"required":["name"]},{"properties":{"nick":..},"required":["nick"]}]}`
fn required_alias_group(member: &Value) -> Option<Vec<&str>> {
    let obj = member.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    let alts = obj.get("oneOf")?.as_array()?;
    if alts.len() < 2 {
        return None;
    }
    alts.iter()
        .map(|alt| {
            let alt = alt.as_object()?;
            let props = alt.get("properties")?.as_object()?;
            let req = alt.get("required")?.as_array()?;
            if alt.len() != 2 || props.len() != 1 || req.len() != 1 {
                return None;
            }
            let name = req[0].as_str()?;
            props.contains_key(name).then_some(name)
        })
        .collect()
}

/// `{"not":{"properties":{"a":..,"b":..},"required":["a","b"]}}`
fn optional_alias_pair(member: &Value) -> Option<(&str, &str)> {
    let obj = member.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    let not = obj.get("not")?.as_object()?;
    let props = not.get("properties")?.as_object()?;
    let req = not.get("required")?.as_array()?;
    if not.len() != 2 || props.len() != 2 || req.len() != 2 {
        return None;
    }
    let a = req[0].as_str()?;
    let b = req[1].as_str()?;
    (props.contains_key(a) && props.contains_key(b)).then_some((a, b))
}

/// `"an object"`, `"a string"`, ... for messages.
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The `$defs` name a local reference points at: `#/$defs/Position` -> `Position`.
pub(crate) fn def_name(reference: &str) -> Option<String> {
    let rest = reference.strip_prefix("#/$defs/")?;
    if rest.contains('/') {
        return None;
    }
    Some(rest.replace("~1", "/").replace("~0", "~"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stream_comment() {
        let join = StreamPart::Join {
            announced_by: Some("joined".into()),
        };
        assert_eq!(
            parse_stream_comment("protocol:stream=join:joined protocol:fields=id?,room"),
            Some(join.clone())
        );
        for part in [
            StreamPart::Stream,
            join,
            StreamPart::Join { announced_by: None },
            StreamPart::Leave,
            StreamPart::Publish,
        ] {
            let comment = format!(
                "protocol:reply=sent {STREAM_COMMENT}{} protocol:fields=",
                part.token()
            );
            assert_eq!(parse_stream_comment(&comment), Some(part));
            assert_eq!(parse_reply_comment(&comment), Some("sent".into()));
            assert_eq!(parse_fields_comment(&comment), Some(vec![]));
        }
        assert_eq!(parse_stream_comment("protocol:stream=leave:x"), None);
        assert_eq!(parse_stream_comment("protocol:stream=teleport"), None);
        assert_eq!(parse_stream_comment("protocol:fields=room"), None);
    }

    #[test]
    fn reply_comment() {
        assert_eq!(
            parse_reply_comment("protocol:reply=sent"),
            Some("sent".into())
        );
        assert_eq!(
            parse_reply_comment("x protocol:reply=a-b; more"),
            Some("a-b".into())
        );
        assert_eq!(parse_reply_comment("protocol:reply="), None);
        assert_eq!(parse_reply_comment("nothing"), None);
    }

    #[test]
    fn fields_with_aliases() {
        let s = json!({
            "allOf": [
                {"oneOf": [
                    {"properties": {"name": {"type": "string"}}, "required": ["name"]},
                    {"properties": {"nick": {"type": "string"}}, "required": ["nick"]}
                ]},
                {"not": {"properties": {"b": {}, "b2": {}}, "required": ["b", "b2"]}},
                {"not": {"properties": {"b": {}, "b3": {}}, "required": ["b", "b3"]}},
                {"not": {"properties": {"b2": {}, "b3": {}}, "required": ["b2", "b3"]}},
                {"minProperties": 1}
            ],
            "properties": {"type": {"const": "x"}, "name": {"type": "string"}, "nick": {"type": "string"},
                           "b": {}, "b2": {}, "b3": {}, "c": {}},
            "required": ["type", "c"]
        });
        let f = Fields::of(&s, Some("type"));
        let summary: Vec<(String, Vec<String>, bool)> = f
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.aliases.clone(), f.required))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("b".into(), vec!["b2".into(), "b3".into()], false),
                ("c".into(), vec![], true),
                ("name".into(), vec!["nick".into()], true),
            ]
        );
        assert_eq!(f.rest_all_of, vec![&json!({"minProperties": 1})]);
    }

    #[test]
    fn fields_comment() {
        assert_eq!(
            parse_fields_comment("protocol:reply=sent protocol:fields=id?,room,a%20b,note?"),
            Some(vec![
                ("id".into(), false),
                ("room".into(), true),
                ("a b".into(), true),
                ("note".into(), false),
            ])
        );
        assert_eq!(parse_fields_comment("protocol:fields="), Some(vec![]));
        assert_eq!(parse_fields_comment("protocol:fields=a%2"), None);
        assert_eq!(parse_fields_comment("protocol:reply=sent"), None);
    }

    #[test]
    fn fields_in_the_listed_order_with_what_the_encoder_writes() {
        let s = json!({
            "$comment": "protocol:fields=id?,zone,next,note?,alpha",
            "properties": {"type": {"const": "x"}, "alpha": {}, "extra": {}, "id": {},
                           "next": {}, "note": {}, "zone": {}},
            "required": ["type", "zone", "alpha", "extra"]
        });
        let f = Fields::of(&s, Some("type"));
        let summary: Vec<(&str, bool, bool)> = f
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.required, f.written))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("id", false, false),
                ("zone", true, true),
                ("next", false, true),
                ("note", false, false),
                ("alpha", true, true),
                ("extra", true, true),
            ]
        );
    }

    #[test]
    fn protocol_view_errors_say_what_is_missing() {
        let err = ProtocolView::parse(&json!({"type": "object"})).unwrap_err();
        assert!(err.contains("oneOf"), "{err}");
        let err = ProtocolView::parse(&json!([1])).unwrap_err();
        assert!(err.contains("an array"), "{err}");
        let err = ProtocolView::parse(&json!({"oneOf": [{"properties": {}}]})).unwrap_err();
        assert!(err.contains("no tag field"), "{err}");
        let dup = json!({"required": ["type"], "oneOf": [
            {"title": "A", "properties": {"type": {"const": "a"}}},
            {"title": "B", "properties": {"type": {"enum": ["b", "a"]}}}
        ]});
        let err = ProtocolView::parse(&dup).unwrap_err();
        assert!(err.contains("both accept"), "{err}");
    }
}
