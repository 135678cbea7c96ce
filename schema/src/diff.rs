//! Direction-aware breaking-change detection between two versions of a protocol schema.
//!
//! Each [`Change`] records what changed and its [`Effect`] on the set of documents the schema
//! accepts. Whether that breaks anything depends on who reads and who writes:
//!
//! - **client -> server** (`<name>.client.schema.json`): the new server reads what old clients
//!   write, so a change that makes the schema reject something it accepted ([`Effect::Narrowed`])
//!   is breaking: removing a variant, adding a required field, narrowing a type or range,
//!   removing an alias, adding `additionalProperties: false`. Widening is safe.
//! - **server -> client** (`<name>.server.schema.json`): old clients read what the new server
//!   writes, so a change that lets the server write something old clients reject
//!   ([`Effect::Widened`]) is breaking: adding a variant (unless the old schema has a catch-all),
//!   widening a type or range, making a field optional that old clients require. Narrowing is
//!   safe.
//!
//! [`Effect::Incompatible`] breaks both ways and [`Effect::Neutral`] neither. A few effects
//! follow what readers and writers actually do rather than set inclusion: writers write the wire
//! name and the field names (not aliases), and readers ignore unknown fields unless the object
//! is closed (`additionalProperties: false`). So an optional field added to an open object is
//! neutral, and to a closed object widening.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::load::{find_in_dir, load_schema};
use crate::model::{Fields, ProtocolView, VariantView, def_name};
use crate::spec::Direction;

/// How a change moves the set of documents a schema accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Effect {
    /// New writers may write what old readers reject: breaking server -> client.
    Widened,
    /// New readers may reject what old writers write: breaking client -> server.
    Narrowed,
    /// Both at once: breaking either way.
    Incompatible,
    /// Neither (documentation, or something readers and writers do not notice).
    Neutral,
}

impl Effect {
    /// `"widened"`, `"narrowed"`, `"incompatible"` or `"neutral"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Widened => "widened",
            Self::Narrowed => "narrowed",
            Self::Incompatible => "incompatible",
            Self::Neutral => "neutral",
        }
    }
}

macro_rules! change_kinds {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// What changed. The name (see [`ChangeKind::as_str`]) is what the report prints.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum ChangeKind {
            $($(#[$doc])* $variant,)*
        }

        impl ChangeKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [ChangeKind] = &[$(ChangeKind::$variant,)*];

            /// The kebab-case name, e.g. `"variant-removed"`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ChangeKind::$variant => $name,)*
                }
            }
        }
    };
}

change_kinds! {
    /// The tag field itself was renamed (`type` -> `kind`).
    TagFieldChanged = "tag-field-changed",
    /// A message type was added.
    VariantAdded = "variant-added",
    /// A message type was removed.
    VariantRemoved = "variant-removed",
    /// A message kept its Rust name but its wire name changed with no alias bridging old and new.
    VariantRenamed = "variant-renamed",
    /// The wire name changed; the old one is still accepted as an alias.
    WireNameChanged = "wire-name-changed",
    /// The decoder accepts a further alias for a message type.
    TagAliasAdded = "tag-alias-added",
    /// A wire name or alias of a message type is no longer accepted.
    TagValueRemoved = "tag-value-removed",
    /// A catch-all variant that keeps unknown message types was added.
    CatchAllAdded = "catch-all-added",
    /// The catch-all variant was removed: unknown types are now rejected.
    CatchAllRemoved = "catch-all-removed",
    /// A message became a request with a reply.
    ReplyAdded = "reply-added",
    /// A request no longer declares a reply.
    ReplyRemoved = "reply-removed",
    /// A request declares a different reply.
    ReplyChanged = "reply-changed",
    /// A title changed (a Rust or TypeScript type name; the wire is unaffected).
    TitleChanged = "title-changed",
    /// A description (doc comment) changed.
    DescriptionChanged = "description-changed",
    /// A default value changed.
    DefaultChanged = "default-changed",
    /// A named type (`$defs`) that a reference points at was renamed.
    TypeRenamed = "type-renamed",
    /// An optional field was added.
    OptionalFieldAdded = "optional-field-added",
    /// A required field was added.
    RequiredFieldAdded = "required-field-added",
    /// An optional field was removed.
    OptionalFieldRemoved = "optional-field-removed",
    /// A required field was removed.
    RequiredFieldRemoved = "required-field-removed",
    /// An optional field became required.
    FieldBecameRequired = "field-became-required",
    /// A required field became optional.
    FieldBecameOptional = "field-became-optional",
    /// A field is written under a new name; the old name is still accepted as an alias.
    FieldRenamed = "field-renamed",
    /// A field alias was added.
    FieldAliasAdded = "field-alias-added",
    /// A field name or alias is no longer accepted.
    FieldAliasRemoved = "field-alias-removed",
    /// Unknown fields are now rejected (`additionalProperties: false` added).
    AdditionalPropertiesClosed = "additional-properties-closed",
    /// Unknown fields are no longer rejected.
    AdditionalPropertiesOpened = "additional-properties-opened",
    /// A closed object now takes extra entries (a flattened map).
    AdditionalPropertiesAllowed = "additional-properties-allowed",
    /// Extra entries of an open object must now match a schema.
    AdditionalPropertiesRestricted = "additional-properties-restricted",
    /// Extra entries no longer need to match a schema.
    AdditionalPropertiesUnrestricted = "additional-properties-unrestricted",
    /// The JSON type changed to an unrelated one.
    TypeChanged = "type-changed",
    /// More JSON types are accepted (`integer` -> `number`, `string` -> `string | null`).
    TypeWidened = "type-widened",
    /// Fewer JSON types are accepted.
    TypeNarrowed = "type-narrowed",
    /// A numeric bound was relaxed or dropped.
    RangeWidened = "range-widened",
    /// A numeric bound was tightened or added.
    RangeNarrowed = "range-narrowed",
    /// A length or item-count bound was relaxed or dropped.
    LengthWidened = "length-widened",
    /// A length or item-count bound was tightened or added.
    LengthNarrowed = "length-narrowed",
    /// An enumerated value was added.
    EnumValueAdded = "enum-value-added",
    /// An enumerated value was removed.
    EnumValueRemoved = "enum-value-removed",
    /// Values are now limited to a list.
    EnumConstraintAdded = "enum-constraint-added",
    /// Values are no longer limited to a list.
    EnumConstraintRemoved = "enum-constraint-removed",
    /// A constant changed.
    ConstChanged = "const-changed",
    /// A string pattern was added.
    PatternAdded = "pattern-added",
    /// A string pattern was removed.
    PatternRemoved = "pattern-removed",
    /// A string pattern changed.
    PatternChanged = "pattern-changed",
    /// A string format was added.
    FormatAdded = "format-added",
    /// A string format was removed.
    FormatRemoved = "format-removed",
    /// A string format changed.
    FormatChanged = "format-changed",
    /// An alternative of a union (`oneOf`/`anyOf`, a Rust enum) was added.
    UnionAlternativeAdded = "union-alternative-added",
    /// An alternative of a union was removed.
    UnionAlternativeRemoved = "union-alternative-removed",
    /// A tuple got more or fewer elements.
    TupleLengthChanged = "tuple-length-changed",
    /// Another validation keyword was added.
    ConstraintAdded = "constraint-added",
    /// Another validation keyword was removed.
    ConstraintRemoved = "constraint-removed",
    /// Another validation keyword changed.
    ConstraintChanged = "constraint-changed",
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change between two schemas of the same direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What changed.
    pub kind: ChangeKind,
    /// Where: the message's wire name, then fields (`message.text`), array items
    /// (`list[]`), tuple elements (`pair[0]`), map values (`tags.*`), union alternatives
    /// (`shape|Circle`); inside a named type the location starts at its name (`Position.x`).
    pub location: String,
    /// How the set of accepted documents moved.
    pub effect: Effect,
    /// What exactly, e.g. `maximum 255 -> 65535`.
    pub detail: String,
}

impl Change {
    /// Whether this change breaks peers of the other version for messages of `direction`.
    pub fn is_breaking(&self, direction: Direction) -> bool {
        matches!(
            (self.effect, direction),
            (Effect::Incompatible, _)
                | (Effect::Narrowed, Direction::Client)
                | (Effect::Widened, Direction::Server)
        )
    }

    /// Why it breaks (or why not), for `direction`.
    pub fn reason(&self, direction: Direction) -> &'static str {
        match (self.effect, direction) {
            (Effect::Incompatible, _) => "old and new versions disagree either way",
            (Effect::Narrowed, Direction::Client) => {
                "the new server may reject what old clients send"
            }
            (Effect::Widened, Direction::Server) => {
                "old clients may reject what the new server sends"
            }
            (Effect::Narrowed, Direction::Server) => {
                "the new server sends less than old clients accept"
            }
            (Effect::Widened, Direction::Client) => {
                "the new server accepts more than old clients send"
            }
            (Effect::Neutral, _) => "readers and writers are unaffected",
        }
    }
}

/// The changes between two schemas of one direction.
#[derive(Debug, Clone)]
pub struct DirectionDiff {
    /// Which messages.
    pub direction: Direction,
    /// The old schema's path.
    pub old: PathBuf,
    /// The new schema's path.
    pub new: PathBuf,
    /// The changes, in the order found.
    pub changes: Vec<Change>,
}

impl DirectionDiff {
    /// The breaking changes.
    pub fn breaking(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| c.is_breaking(self.direction))
    }
}

/// The result of a diff: one [`DirectionDiff`] per direction compared.
#[derive(Debug, Clone)]
pub struct Report {
    /// Client -> server first, when both were compared.
    pub directions: Vec<DirectionDiff>,
}

impl Report {
    /// How many changes break something.
    pub fn breaking_count(&self) -> usize {
        self.directions.iter().map(|d| d.breaking().count()).sum()
    }

    /// Whether no change breaks anything.
    pub fn is_compatible(&self) -> bool {
        self.breaking_count() == 0
    }

    /// The report as JSON (what `protocol-schema diff --format json` prints).
    pub fn to_json(&self) -> Value {
        let directions: Vec<Value> = self
            .directions
            .iter()
            .map(|d| {
                let changes: Vec<Value> = d
                    .changes
                    .iter()
                    .map(|c| {
                        json!({
                            "kind": c.kind.as_str(),
                            "location": c.location,
                            "effect": c.effect.as_str(),
                            "breaking": c.is_breaking(d.direction),
                            "detail": c.detail,
                            "reason": c.reason(d.direction),
                        })
                    })
                    .collect();
                json!({
                    "direction": d.direction.as_str(),
                    "flow": d.direction.flow(),
                    "old": d.old.display().to_string(),
                    "new": d.new.display().to_string(),
                    "breaking": d.breaking().count(),
                    "changes": changes,
                })
            })
            .collect();
        json!({
            "compatible": self.is_compatible(),
            "breaking": self.breaking_count(),
            "directions": directions,
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.directions {
            writeln!(
                f,
                "{} ({} -> {})",
                d.direction.flow(),
                d.old.display(),
                d.new.display()
            )?;
            if d.changes.is_empty() {
                writeln!(f, "  no changes")?;
            }
            let kind_w = d
                .changes
                .iter()
                .map(|c| c.kind.as_str().len())
                .max()
                .unwrap_or(0);
            let loc_w = d
                .changes
                .iter()
                .map(|c| c.location.len())
                .max()
                .unwrap_or(0);
            for c in &d.changes {
                let verdict = if c.is_breaking(d.direction) {
                    "BREAKING"
                } else {
                    "ok      "
                };
                write!(
                    f,
                    "  {verdict}  {:kind_w$}  {:loc_w$}  {}",
                    c.kind.as_str(),
                    c.location,
                    c.detail
                )?;
                if c.is_breaking(d.direction) {
                    write!(f, " ({})", c.reason(d.direction))?;
                }
                writeln!(f)?;
            }
        }
        let n = self.breaking_count();
        match n {
            0 => writeln!(f, "compatible: no breaking changes"),
            1 => writeln!(f, "1 breaking change"),
            _ => writeln!(f, "{n} breaking changes"),
        }
    }
}

/// Diff two schema files of the same direction.
///
/// # Errors
///
/// An [`Error`] naming the file when either cannot be read or is not a protocol schema.
pub fn diff_files(old: &Path, new: &Path, direction: Direction) -> Result<Report, Error> {
    Ok(Report {
        directions: vec![diff_direction(old, new, direction)?],
    })
}

/// Diff the schemas of one direction in two export directories.
///
/// # Errors
///
/// An [`Error`] naming the directory or file at fault.
pub fn diff_dirs_for(old: &Path, new: &Path, direction: Direction) -> Result<Report, Error> {
    let old_file = find_in_dir(old, direction)?;
    let new_file = find_in_dir(new, direction)?;
    diff_files(&old_file, &new_file, direction)
}

/// Diff two export directories, both directions.
///
/// # Errors
///
/// An [`Error`] naming the directory or file at fault.
pub fn diff_dirs(old: &Path, new: &Path) -> Result<Report, Error> {
    let mut directions = Vec::new();
    for direction in [Direction::Client, Direction::Server] {
        let old_file = find_in_dir(old, direction)?;
        let new_file = find_in_dir(new, direction)?;
        directions.push(diff_direction(&old_file, &new_file, direction)?);
    }
    Ok(Report { directions })
}

fn diff_direction(old: &Path, new: &Path, direction: Direction) -> Result<DirectionDiff, Error> {
    let (old_file, _) = load_schema(old)?;
    let (new_file, _) = load_schema(new)?;
    let old_view = old_file.view()?;
    let new_view = new_file.view()?;
    Ok(DirectionDiff {
        direction,
        old: old.to_owned(),
        new: new.to_owned(),
        changes: diff_views(&old_view, &new_view),
    })
}

/// Diff two protocol schemas given as values (no file, no compile check).
///
/// ```
/// use protocol_schema::Direction;
/// use protocol_schema::diff::{ChangeKind, diff_values};
/// use serde_json::json;
///
/// let v1 = json!({"required": ["type"], "oneOf": [
///     {"title": "Join", "properties": {"type": {"const": "join"}, "room": {"type": "string"}}, "required": ["type", "room"]},
/// ]});
/// let mut v2 = v1.clone();
/// v2["oneOf"][0]["properties"]["user"] = json!({"type": "string"});
/// v2["oneOf"][0]["required"] = json!(["type", "room", "user"]);
///
/// let changes = diff_values(&v1, &v2)?;
/// assert_eq!(changes[0].kind, ChangeKind::RequiredFieldAdded);
/// assert_eq!(changes[0].location, "join.user");
/// // Old clients do not send `user`: breaking when clients write these messages...
/// assert!(changes[0].is_breaking(Direction::Client));
/// // ...but old clients reading it from the server just ignore it.
/// assert!(!changes[0].is_breaking(Direction::Server));
/// # Ok::<(), String>(())
/// ```
///
/// # Errors
///
/// A message saying why a value is not a protocol schema.
pub fn diff_values(old: &Value, new: &Value) -> Result<Vec<Change>, String> {
    let old_view = ProtocolView::parse(old).map_err(|e| format!("old schema: {e}"))?;
    let new_view = ProtocolView::parse(new).map_err(|e| format!("new schema: {e}"))?;
    Ok(diff_views(&old_view, &new_view))
}

fn diff_views(old: &ProtocolView<'_>, new: &ProtocolView<'_>) -> Vec<Change> {
    let mut cx = Cx {
        old_root: old.root,
        new_root: new.root,
        tag: new.tag.clone(),
        seen: HashSet::new(),
        changes: Vec::new(),
    };
    cx.protocol(old, new);
    cx.changes
}

/// Keywords that say nothing about validity.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$comment",
    "$id",
    "$schema",
    "$defs",
    "definitions",
    "discriminator",
    "$anchor",
    "$dynamicAnchor",
];

/// Keywords compared by dedicated code; everything else is compared generically.
const HANDLED: &[&str] = &[
    "$ref",
    "oneOf",
    "anyOf",
    "allOf",
    "const",
    "enum",
    "type",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
];

/// A number from a schema, exact for integers.
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn of(v: &Value) -> Option<Self> {
        if let Some(i) = v.as_i64() {
            Some(Self::Int(i.into()))
        } else if let Some(u) = v.as_u64() {
            Some(Self::Int(u.into()))
        } else {
            v.as_f64().map(Self::Float)
        }
    }

    fn cmp(self, other: Self) -> std::cmp::Ordering {
        match (self, other) {
            (Self::Int(a), Self::Int(b)) => a.cmp(&b),
            (a, b) => a.as_f64().total_cmp(&b.as_f64()),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Self::Int(i) => i as f64,
            Self::Float(f) => f,
        }
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
        }
    }
}

/// A bound: its value and whether it is exclusive.
type Bound = Option<(Num, bool)>;

fn bound(s: &Map<String, Value>, inclusive: &str, exclusive: &str, lower: bool) -> Bound {
    let inc = s.get(inclusive).and_then(Num::of).map(|n| (n, false));
    let exc = s.get(exclusive).and_then(Num::of).map(|n| (n, true));
    match (inc, exc) {
        (Some(a), Some(b)) => {
            // The tighter of the two.
            let ord = a.0.cmp(b.0);
            let b_tighter = if lower { ord.is_le() } else { ord.is_ge() };
            Some(if b_tighter { b } else { a })
        }
        (a, b) => a.or(b),
    }
}

/// Whether bound `new` lets in more (`Widened`) or less (`Narrowed`) than `old`.
fn bound_effect(old: Bound, new: Bound, lower: bool) -> Option<Effect> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match (old, new) {
        (None, None) => None,
        (Some(_), None) => Some(Effect::Widened),
        (None, Some(_)) => Some(Effect::Narrowed),
        (Some((a, ae)), Some((b, be))) => {
            let ord = b.cmp(a);
            let looser = match (ord, lower) {
                (Less, true) | (Greater, false) => Some(true),
                (Greater, true) | (Less, false) => Some(false),
                (Equal, _) if ae == be => None,
                (Equal, _) => Some(ae && !be),
            };
            looser.map(|l| if l { Effect::Widened } else { Effect::Narrowed })
        }
    }
}

fn show_bound(b: Bound, lower: bool) -> String {
    match b {
        None => "none".to_owned(),
        Some((n, false)) => format!("{}{n}", if lower { ">= " } else { "<= " }),
        Some((n, true)) => format!("{}{n}", if lower { "> " } else { "< " }),
    }
}

/// The state of `additionalProperties`.
#[derive(Debug, Clone, Copy)]
enum Extra<'a> {
    /// Absent: readers tolerate unknown fields.
    Open,
    /// `true`: extra entries are part of the message (a flattened map).
    Any,
    /// `false`.
    Closed,
    /// A schema for the extra entries.
    Typed(&'a Value),
}

fn extra_of(s: &Value) -> Extra<'_> {
    match s.get("additionalProperties") {
        None => Extra::Open,
        Some(Value::Bool(true)) => Extra::Any,
        Some(Value::Bool(false)) => Extra::Closed,
        Some(v) => match v.as_object() {
            Some(o) if o.is_empty() => Extra::Any,
            _ => Extra::Typed(v),
        },
    }
}

fn types_of(s: &Map<String, Value>) -> Option<BTreeSet<String>> {
    match s.get("type")? {
        Value::String(t) => Some(std::iter::once(t.clone()).collect()),
        Value::Array(ts) => Some(
            ts.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

fn covered(t: &str, set: Option<&BTreeSet<String>>) -> bool {
    match set {
        None => true,
        Some(s) => s.contains(t) || (t == "integer" && s.contains("number")),
    }
}

fn show_types(set: Option<&BTreeSet<String>>) -> String {
    match set {
        None => "any".to_owned(),
        Some(s) => s.iter().cloned().collect::<Vec<_>>().join(" | "),
    }
}

fn values_of(s: &Map<String, Value>) -> Option<Vec<Value>> {
    if let Some(c) = s.get("const") {
        return Some(vec![c.clone()]);
    }
    s.get("enum").and_then(Value::as_array).cloned()
}

fn join(loc: &str, part: &str) -> String {
    if loc.is_empty() {
        part.to_owned()
    } else {
        format!("{loc}.{part}")
    }
}

/// Resolve a local reference (`#`, `#/$defs/X`, any `#/...` pointer).
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    root.pointer(pointer)
}

/// A short, stable name for a reference target: the `$defs` name, or the reference itself.
fn ref_label(reference: &str) -> String {
    def_name(reference).unwrap_or_else(|| reference.to_owned())
}

/// The key that pairs alternatives of two unions, and how to show it.
fn alternative_key(alt: &Value, index: usize) -> (String, String) {
    let Some(obj) = alt.as_object() else {
        return (format!("bool:{alt}"), alt.to_string());
    };
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let label = ref_label(r);
        return (format!("ref:{label}"), label);
    }
    if let Some(c) = obj.get("const") {
        return (format!("const:{c}"), c.to_string());
    }
    if obj.contains_key("enum") {
        return ("enum".into(), "enum".into());
    }
    let props = obj.get("properties").and_then(Value::as_object);
    let required = obj.get("required").and_then(Value::as_array);
    if let (Some(props), Some(required)) = (props, required) {
        if props.len() == 1
            && required.len() == 1
            && let Some(name) = required[0].as_str()
            && props.contains_key(name)
        {
            return (format!("tagged:{name}"), name.to_owned());
        }
        for (name, p) in props {
            if let Some(c) = p.get("const") {
                return (format!("tagged:{name}={c}"), format!("{name}={c}"));
            }
        }
    }
    if let Some(t) = obj.get("title").and_then(Value::as_str) {
        return (format!("title:{t}"), t.to_owned());
    }
    if let Some(types) = types_of(obj) {
        let shown = show_types(Some(&types));
        return (format!("type:{shown}"), shown);
    }
    (format!("index:{index}"), format!("#{index}"))
}

/// The diff walk.
struct Cx<'a> {
    old_root: &'a Value,
    new_root: &'a Value,
    /// The tag field (not compared as a field).
    tag: String,
    /// Pairs of references already compared (each named type is reported once, and recursive
    /// types terminate).
    seen: HashSet<(String, String)>,
    changes: Vec<Change>,
}

impl<'a> Cx<'a> {
    fn push(&mut self, kind: ChangeKind, location: &str, effect: Effect, detail: String) {
        self.changes.push(Change {
            kind,
            location: if location.is_empty() {
                "(protocol)".to_owned()
            } else {
                location.to_owned()
            },
            effect,
            detail,
        });
    }

    fn protocol(&mut self, old: &ProtocolView<'a>, new: &ProtocolView<'a>) {
        if old.tag != new.tag {
            self.push(
                ChangeKind::TagFieldChanged,
                "",
                Effect::Incompatible,
                format!("the tag field is now {:?} (was {:?})", new.tag, old.tag),
            );
            return;
        }
        self.annotations(old.root, new.root, "");
        match (old.catch_all(), new.catch_all()) {
            (None, Some(c)) => self.push(
                ChangeKind::CatchAllAdded,
                "",
                Effect::Neutral,
                format!(
                    "catch-all {} added: readers keep messages of unknown type",
                    c.title
                ),
            ),
            (Some(c), None) => self.push(
                ChangeKind::CatchAllRemoved,
                "",
                Effect::Narrowed,
                format!(
                    "catch-all {} removed: unknown message types are now rejected",
                    c.title
                ),
            ),
            _ => {}
        }
        let pairs = match_variants(old, new);
        let mut matched_new: HashSet<usize> = HashSet::new();
        let mut unmatched_old = Vec::new();
        for (o, n) in &pairs {
            match n {
                Some(n) => {
                    matched_new.insert(n.index);
                }
                None => unmatched_old.push(*o),
            }
        }
        // A message whose Rust name stayed while no tag survived: a rename on the wire.
        let mut renamed = Vec::new();
        for o in &unmatched_old {
            let n = new.known().find(|n| {
                !matched_new.contains(&n.index) && n.title == o.title && !o.title.starts_with('#')
            });
            if let Some(n) = n {
                matched_new.insert(n.index);
                renamed.push((*o, n));
            }
        }
        for (o, n) in &pairs {
            match n {
                Some(n) => self.variant(o, n),
                None => {
                    if let Some((_, n)) = renamed.iter().find(|(r, _)| r.index == o.index) {
                        self.push(
                            ChangeKind::VariantRenamed,
                            &n.wire,
                            Effect::Incompatible,
                            format!(
                                "{} is now sent as {:?}, and {:?} is not accepted any more",
                                o.title, n.wire, o.wire
                            ),
                        );
                        self.variant_body(o, n);
                    } else {
                        self.push(
                            ChangeKind::VariantRemoved,
                            &o.wire,
                            Effect::Narrowed,
                            format!("message {} removed", o.describe()),
                        );
                    }
                }
            }
        }
        for n in new.known() {
            if !matched_new.contains(&n.index) {
                let (effect, note) = if old.catch_all().is_some() {
                    (Effect::Neutral, "; old readers keep it in their catch-all")
                } else {
                    (Effect::Widened, "")
                };
                self.push(
                    ChangeKind::VariantAdded,
                    &n.wire,
                    effect,
                    format!("message {} added{note}", n.describe()),
                );
            }
        }
    }

    fn variant(&mut self, o: &VariantView<'a>, n: &VariantView<'a>) {
        let loc = n.wire.clone();
        let old_tags: BTreeSet<&str> = o.tags.iter().map(String::as_str).collect();
        let new_tags: BTreeSet<&str> = n.tags.iter().map(String::as_str).collect();
        if o.wire != n.wire {
            let effect = if old_tags.contains(n.wire.as_str()) {
                Effect::Neutral
            } else {
                Effect::Widened
            };
            self.push(
                ChangeKind::WireNameChanged,
                &loc,
                effect,
                format!("written as {:?} (was {:?})", n.wire, o.wire),
            );
        }
        for t in old_tags.difference(&new_tags) {
            self.push(
                ChangeKind::TagValueRemoved,
                &loc,
                Effect::Narrowed,
                format!("{t:?} is no longer accepted for {}", n.title),
            );
        }
        for t in new_tags.difference(&old_tags) {
            if *t != n.wire {
                self.push(
                    ChangeKind::TagAliasAdded,
                    &loc,
                    Effect::Neutral,
                    format!("{t:?} is also accepted for {}", n.title),
                );
            }
        }
        self.variant_body(o, n);
    }

    fn variant_body(&mut self, o: &VariantView<'a>, n: &VariantView<'a>) {
        let loc = n.wire.clone();
        match (&o.reply, &n.reply) {
            (None, Some(r)) => self.push(
                ChangeKind::ReplyAdded,
                &loc,
                Effect::Neutral,
                format!("now a request answered by {r:?}"),
            ),
            (Some(r), None) => self.push(
                ChangeKind::ReplyRemoved,
                &loc,
                Effect::Incompatible,
                format!("no longer answered by {r:?}"),
            ),
            (Some(a), Some(b)) if a != b => self.push(
                ChangeKind::ReplyChanged,
                &loc,
                Effect::Incompatible,
                format!("answered by {b:?} (was {a:?})"),
            ),
            _ => {}
        }
        let tag = self.tag.clone();
        self.schema(o.schema, n.schema, &loc, Some(&tag));
    }

    fn annotations(&mut self, old: &Value, new: &Value, loc: &str) {
        for (key, kind) in [
            ("title", ChangeKind::TitleChanged),
            ("description", ChangeKind::DescriptionChanged),
            ("default", ChangeKind::DefaultChanged),
        ] {
            let (a, b) = (old.get(key), new.get(key));
            if a != b {
                let show = |v: Option<&Value>| v.map_or_else(|| "none".to_owned(), short);
                self.push(
                    kind,
                    loc,
                    Effect::Neutral,
                    format!("{key}: {} -> {}", show(a), show(b)),
                );
            }
        }
    }

    /// Compare two schemas at `loc`; `skip` names a property not to compare (the tag).
    fn schema(&mut self, old: &'a Value, new: &'a Value, loc: &str, skip: Option<&str>) {
        // Boolean schemas.
        match (old, new) {
            (Value::Bool(a), Value::Bool(b)) => {
                if a != b {
                    let effect = if *b {
                        Effect::Widened
                    } else {
                        Effect::Narrowed
                    };
                    let kind = if *b {
                        ChangeKind::TypeWidened
                    } else {
                        ChangeKind::TypeNarrowed
                    };
                    self.push(kind, loc, effect, format!("schema {a} -> {b}"));
                }
                return;
            }
            (Value::Bool(false), _) => {
                self.push(
                    ChangeKind::TypeWidened,
                    loc,
                    Effect::Widened,
                    "no longer rejects everything".into(),
                );
                return;
            }
            (_, Value::Bool(false)) => {
                self.push(
                    ChangeKind::TypeNarrowed,
                    loc,
                    Effect::Narrowed,
                    "now rejects everything".into(),
                );
                return;
            }
            _ => {}
        }
        static EMPTY: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
        let empty = EMPTY.get_or_init(|| Value::Object(Map::new()));
        let old = if old.is_boolean() { empty } else { old };
        let new = if new.is_boolean() { empty } else { new };
        // References.
        let old_ref = old.get("$ref").and_then(Value::as_str);
        let new_ref = new.get("$ref").and_then(Value::as_str);
        if old_ref.is_some() || new_ref.is_some() {
            // A pair already under comparison (a recursive type, or a reference to itself)
            // is not walked again; an inline side is identified by its address.
            let key = |r: Option<&str>, v: &Value| {
                r.map_or_else(|| format!("@{:p}", v as *const Value), str::to_owned)
            };
            if !self.seen.insert((key(old_ref, old), key(new_ref, new))) {
                return;
            }
            self.annotations(old, new, loc);
            let mut loc = loc.to_owned();
            if let (Some(a), Some(b)) = (old_ref, new_ref) {
                let (la, lb) = (ref_label(a), ref_label(b));
                if la != lb {
                    self.push(
                        ChangeKind::TypeRenamed,
                        &loc,
                        Effect::Neutral,
                        format!("type {la} is now {lb}"),
                    );
                }
                // Inside a named type, locations start at its name: it is reported once.
                loc = lb;
            }
            let old_target = match old_ref {
                Some(r) => resolve(self.old_root, r).unwrap_or(empty),
                None => old,
            };
            let new_target = match new_ref {
                Some(r) => resolve(self.new_root, r).unwrap_or(empty),
                None => new,
            };
            self.schema(old_target, new_target, &loc, skip);
            return;
        }
        self.annotations(old, new, loc);
        let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
            return;
        };
        // Unions.
        let union = |m: &'a Map<String, Value>| {
            m.get("oneOf")
                .or_else(|| m.get("anyOf"))
                .and_then(Value::as_array)
        };
        let only_union = |m: &Map<String, Value>| {
            m.keys()
                .all(|k| k == "oneOf" || k == "anyOf" || ANNOTATIONS.contains(&k.as_str()))
        };
        match (union(o), union(n)) {
            (Some(a), Some(b)) => self.alternatives(a.iter().collect(), b.iter().collect(), loc),
            (None, Some(b)) if only_union(n) => {
                self.alternatives(vec![old], b.iter().collect(), loc);
                return;
            }
            (Some(a), None) if only_union(o) => {
                self.alternatives(a.iter().collect(), vec![new], loc);
                return;
            }
            (None, Some(_)) => self.push(
                ChangeKind::ConstraintAdded,
                loc,
                Effect::Narrowed,
                "must now also match one of several alternatives".into(),
            ),
            (Some(_), None) => self.push(
                ChangeKind::ConstraintRemoved,
                loc,
                Effect::Widened,
                "no longer needs to match one of several alternatives".into(),
            ),
            (None, None) => {}
        }
        self.values(o, n, loc);
        self.types(o, n, loc);
        self.bounds(o, n, loc);
        self.strings(o, n, loc);
        self.arrays(o, n, loc);
        let objectish = |m: &Map<String, Value>| {
            [
                "properties",
                "required",
                "additionalProperties",
                "patternProperties",
                "allOf",
            ]
            .iter()
            .any(|k| m.contains_key(*k))
        };
        if objectish(o) || objectish(n) {
            self.object(old, new, loc, skip);
        }
        self.other_keywords(o, n, loc);
    }

    fn alternatives(&mut self, old: Vec<&'a Value>, new: Vec<&'a Value>, loc: &str) {
        let old_keys: Vec<(String, String)> = old
            .iter()
            .enumerate()
            .map(|(i, a)| alternative_key(a, i))
            .collect();
        let new_keys: Vec<(String, String)> = new
            .iter()
            .enumerate()
            .map(|(i, a)| alternative_key(a, i))
            .collect();
        let mut used = vec![false; new.len()];
        for (i, o) in old.iter().enumerate() {
            let found = (0..new.len()).find(|&j| !used[j] && new_keys[j].0 == old_keys[i].0);
            match found {
                Some(j) => {
                    used[j] = true;
                    let sub = if old.len() == 1 && new.len() == 1 {
                        loc.to_owned()
                    } else {
                        format!("{loc}|{}", new_keys[j].1)
                    };
                    self.schema(o, new[j], &sub, None);
                }
                None => self.push(
                    ChangeKind::UnionAlternativeRemoved,
                    loc,
                    Effect::Narrowed,
                    format!("alternative {} removed", old_keys[i].1),
                ),
            }
        }
        for (j, taken) in used.iter().enumerate() {
            if !taken {
                self.push(
                    ChangeKind::UnionAlternativeAdded,
                    loc,
                    Effect::Widened,
                    format!("alternative {} added", new_keys[j].1),
                );
            }
        }
    }

    fn values(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, loc: &str) {
        match (values_of(o), values_of(n)) {
            (Some(a), Some(b)) => {
                if o.contains_key("const") && n.contains_key("const") {
                    if a != b {
                        self.push(
                            ChangeKind::ConstChanged,
                            loc,
                            Effect::Incompatible,
                            format!("constant {} -> {}", short(&a[0]), short(&b[0])),
                        );
                    }
                    return;
                }
                for v in a.iter().filter(|v| !b.contains(v)) {
                    self.push(
                        ChangeKind::EnumValueRemoved,
                        loc,
                        Effect::Narrowed,
                        format!("value {} removed", short(v)),
                    );
                }
                for v in b.iter().filter(|v| !a.contains(v)) {
                    self.push(
                        ChangeKind::EnumValueAdded,
                        loc,
                        Effect::Widened,
                        format!("value {} added", short(v)),
                    );
                }
            }
            (None, Some(b)) => self.push(
                ChangeKind::EnumConstraintAdded,
                loc,
                Effect::Narrowed,
                format!("now limited to {}", short(&Value::Array(b))),
            ),
            (Some(a), None) => self.push(
                ChangeKind::EnumConstraintRemoved,
                loc,
                Effect::Widened,
                format!("no longer limited to {}", short(&Value::Array(a))),
            ),
            (None, None) => {}
        }
    }

    fn types(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, loc: &str) {
        let (a, b) = (types_of(o), types_of(n));
        if a == b {
            return;
        }
        let widened = match &b {
            None => true,
            Some(b) => b.iter().any(|t| !covered(t, a.as_ref())),
        };
        let narrowed = match &a {
            None => true,
            Some(a) => a.iter().any(|t| !covered(t, b.as_ref())),
        };
        let detail = format!(
            "type {} -> {}",
            show_types(a.as_ref()),
            show_types(b.as_ref())
        );
        match (widened, narrowed) {
            (true, true) => self.push(ChangeKind::TypeChanged, loc, Effect::Incompatible, detail),
            (true, false) => self.push(ChangeKind::TypeWidened, loc, Effect::Widened, detail),
            (false, true) => self.push(ChangeKind::TypeNarrowed, loc, Effect::Narrowed, detail),
            (false, false) => {}
        }
    }

    fn bounds(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, loc: &str) {
        for (inc, exc, lower) in [
            ("minimum", "exclusiveMinimum", true),
            ("maximum", "exclusiveMaximum", false),
        ] {
            let (a, b) = (bound(o, inc, exc, lower), bound(n, inc, exc, lower));
            if let Some(effect) = bound_effect(a, b, lower) {
                let kind = if effect == Effect::Widened {
                    ChangeKind::RangeWidened
                } else {
                    ChangeKind::RangeNarrowed
                };
                let what = if lower { "lower bound" } else { "upper bound" };
                self.push(
                    kind,
                    loc,
                    effect,
                    format!(
                        "{what} {} -> {}",
                        show_bound(a, lower),
                        show_bound(b, lower)
                    ),
                );
            }
        }
    }

    fn lengths(
        &mut self,
        o: &Map<String, Value>,
        n: &Map<String, Value>,
        loc: &str,
        min: &str,
        max: &str,
    ) {
        for (key, lower) in [(min, true), (max, false)] {
            let a = o.get(key).and_then(Num::of).map(|v| (v, false));
            let b = n.get(key).and_then(Num::of).map(|v| (v, false));
            if let Some(effect) = bound_effect(a, b, lower) {
                let kind = if effect == Effect::Widened {
                    ChangeKind::LengthWidened
                } else {
                    ChangeKind::LengthNarrowed
                };
                let show = |x: Bound| x.map_or_else(|| "none".to_owned(), |(v, _)| v.to_string());
                self.push(
                    kind,
                    loc,
                    effect,
                    format!("{key} {} -> {}", show(a), show(b)),
                );
            }
        }
    }

    fn strings(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, loc: &str) {
        self.lengths(o, n, loc, "minLength", "maxLength");
        for (key, added, removed, changed) in [
            (
                "pattern",
                ChangeKind::PatternAdded,
                ChangeKind::PatternRemoved,
                ChangeKind::PatternChanged,
            ),
            (
                "format",
                ChangeKind::FormatAdded,
                ChangeKind::FormatRemoved,
                ChangeKind::FormatChanged,
            ),
        ] {
            match (o.get(key), n.get(key)) {
                (None, Some(b)) => self.push(
                    added,
                    loc,
                    Effect::Narrowed,
                    format!("{key} {} added", short(b)),
                ),
                (Some(a), None) => self.push(
                    removed,
                    loc,
                    Effect::Widened,
                    format!("{key} {} removed", short(a)),
                ),
                (Some(a), Some(b)) if a != b => self.push(
                    changed,
                    loc,
                    Effect::Incompatible,
                    format!("{key} {} -> {}", short(a), short(b)),
                ),
                _ => {}
            }
        }
    }

    fn arrays(&mut self, o: &'a Map<String, Value>, n: &'a Map<String, Value>, loc: &str) {
        self.lengths(o, n, loc, "minItems", "maxItems");
        let (pa, pb) = (
            o.get("prefixItems").and_then(Value::as_array),
            n.get("prefixItems").and_then(Value::as_array),
        );
        match (pa, pb) {
            (Some(a), Some(b)) => {
                if a.len() != b.len() {
                    self.push(
                        ChangeKind::TupleLengthChanged,
                        loc,
                        Effect::Incompatible,
                        format!("tuple of {} elements -> {}", a.len(), b.len()),
                    );
                }
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    self.schema(x, y, &format!("{loc}[{i}]"), None);
                }
            }
            (None, Some(_)) => self.push(
                ChangeKind::ConstraintAdded,
                loc,
                Effect::Narrowed,
                "now a tuple".into(),
            ),
            (Some(_), None) => self.push(
                ChangeKind::ConstraintRemoved,
                loc,
                Effect::Widened,
                "no longer a tuple".into(),
            ),
            (None, None) => {}
        }
        static ANY: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
        let any = ANY.get_or_init(|| Value::Bool(true));
        match (o.get("items"), n.get("items")) {
            (None, None) => {}
            (a, b) => self.schema(
                a.unwrap_or(any),
                b.unwrap_or(any),
                &format!("{loc}[]"),
                None,
            ),
        }
    }

    fn object(&mut self, old: &'a Value, new: &'a Value, loc: &str, skip: Option<&str>) {
        let of = Fields::of(old, skip);
        let nf = Fields::of(new, skip);
        let (oe, ne) = (extra_of(old), extra_of(new));
        let old_strict = matches!(oe, Extra::Closed | Extra::Typed(_));
        let new_strict = matches!(ne, Extra::Closed | Extra::Typed(_));
        let mut matched_old: HashSet<String> = HashSet::new();
        for nfield in &nf.fields {
            let ofield = of
                .fields
                .iter()
                .find(|f| f.name == nfield.name)
                .or_else(|| {
                    of.fields
                        .iter()
                        .find(|f| nfield.names().any(|x| f.names().any(|y| x == y)))
                })
                .filter(|f| !matched_old.contains(&f.name));
            let floc = join(loc, &nfield.name);
            let Some(ofield) = ofield else {
                if nfield.required {
                    let effect = if old_strict {
                        Effect::Incompatible
                    } else {
                        Effect::Narrowed
                    };
                    self.push(
                        ChangeKind::RequiredFieldAdded,
                        &floc,
                        effect,
                        format!("required field {:?} added", nfield.name),
                    );
                } else {
                    let effect = if old_strict {
                        Effect::Widened
                    } else {
                        Effect::Neutral
                    };
                    let note = if old_strict {
                        " (old readers reject unknown fields)"
                    } else {
                        ""
                    };
                    self.push(
                        ChangeKind::OptionalFieldAdded,
                        &floc,
                        effect,
                        format!("optional field {:?} added{note}", nfield.name),
                    );
                }
                continue;
            };
            matched_old.insert(ofield.name.clone());
            let old_names: BTreeSet<&str> = ofield.names().collect();
            let new_names: BTreeSet<&str> = nfield.names().collect();
            if ofield.name != nfield.name {
                let effect = if old_names.contains(nfield.name.as_str()) {
                    Effect::Neutral
                } else {
                    Effect::Widened
                };
                self.push(
                    ChangeKind::FieldRenamed,
                    &floc,
                    effect,
                    format!("written as {:?} (was {:?})", nfield.name, ofield.name),
                );
            }
            for name in old_names.difference(&new_names) {
                self.push(
                    ChangeKind::FieldAliasRemoved,
                    &floc,
                    Effect::Narrowed,
                    format!("{name:?} is no longer accepted for this field"),
                );
            }
            for name in new_names.difference(&old_names) {
                if *name != nfield.name {
                    self.push(
                        ChangeKind::FieldAliasAdded,
                        &floc,
                        Effect::Neutral,
                        format!("{name:?} is also accepted for this field"),
                    );
                }
            }
            match (ofield.required, nfield.required) {
                (true, false) => self.push(
                    ChangeKind::FieldBecameOptional,
                    &floc,
                    Effect::Widened,
                    "required -> optional".into(),
                ),
                (false, true) => self.push(
                    ChangeKind::FieldBecameRequired,
                    &floc,
                    Effect::Narrowed,
                    "optional -> required".into(),
                ),
                _ => {}
            }
            self.schema(ofield.schema, nfield.schema, &floc, None);
        }
        for ofield in &of.fields {
            if matched_old.contains(&ofield.name) {
                continue;
            }
            let floc = join(loc, &ofield.name);
            if ofield.required {
                let effect = if new_strict {
                    Effect::Incompatible
                } else {
                    Effect::Widened
                };
                self.push(
                    ChangeKind::RequiredFieldRemoved,
                    &floc,
                    effect,
                    format!("required field {:?} removed", ofield.name),
                );
            } else {
                let effect = if new_strict {
                    Effect::Narrowed
                } else {
                    Effect::Neutral
                };
                let note = if new_strict {
                    " (the new reader rejects it if sent)"
                } else {
                    ""
                };
                self.push(
                    ChangeKind::OptionalFieldRemoved,
                    &floc,
                    effect,
                    format!("optional field {:?} removed{note}", ofield.name),
                );
            }
        }
        let extra_loc = join(loc, "*");
        match (oe, ne) {
            (Extra::Open | Extra::Any, Extra::Open | Extra::Any)
            | (Extra::Closed, Extra::Closed) => {}
            (Extra::Open | Extra::Any | Extra::Typed(_), Extra::Closed) => self.push(
                ChangeKind::AdditionalPropertiesClosed,
                loc,
                Effect::Narrowed,
                "unknown fields are now rejected".into(),
            ),
            (Extra::Closed, Extra::Open) => self.push(
                ChangeKind::AdditionalPropertiesOpened,
                loc,
                Effect::Neutral,
                "unknown fields are no longer rejected".into(),
            ),
            (Extra::Closed, Extra::Any | Extra::Typed(_)) => self.push(
                ChangeKind::AdditionalPropertiesAllowed,
                loc,
                Effect::Widened,
                "extra entries are now part of the message".into(),
            ),
            (Extra::Open | Extra::Any, Extra::Typed(_)) => self.push(
                ChangeKind::AdditionalPropertiesRestricted,
                loc,
                Effect::Narrowed,
                "extra entries must now match a schema".into(),
            ),
            (Extra::Typed(_), Extra::Open | Extra::Any) => self.push(
                ChangeKind::AdditionalPropertiesUnrestricted,
                loc,
                Effect::Widened,
                "extra entries no longer need to match a schema".into(),
            ),
            (Extra::Typed(a), Extra::Typed(b)) => self.schema(a, b, &extra_loc, None),
        }
        let op = old.get("patternProperties").and_then(Value::as_object);
        let np = new.get("patternProperties").and_then(Value::as_object);
        for (pattern, a) in op.into_iter().flatten() {
            match np.and_then(|m| m.get(pattern)) {
                Some(b) => self.schema(a, b, &join(loc, &format!("/{pattern}/")), None),
                None => self.push(
                    ChangeKind::ConstraintRemoved,
                    loc,
                    Effect::Widened,
                    format!("entries matching {pattern:?} are no longer checked"),
                ),
            }
        }
        for pattern in np.into_iter().flat_map(|m| m.keys()) {
            if !op.is_some_and(|m| m.contains_key(pattern)) {
                self.push(
                    ChangeKind::ConstraintAdded,
                    loc,
                    Effect::Narrowed,
                    format!("entries matching {pattern:?} are now checked"),
                );
            }
        }
        // Other `allOf` members, by position.
        let (ra, rb) = (of.rest_all_of, nf.rest_all_of);
        for (i, (a, b)) in ra.iter().zip(&rb).enumerate() {
            self.schema(a, b, &format!("{loc}&{i}"), None);
        }
        for a in ra.iter().skip(rb.len()) {
            self.push(
                ChangeKind::ConstraintRemoved,
                loc,
                Effect::Widened,
                format!("allOf member {} removed", short(a)),
            );
        }
        for b in rb.iter().skip(ra.len()) {
            self.push(
                ChangeKind::ConstraintAdded,
                loc,
                Effect::Narrowed,
                format!("allOf member {} added", short(b)),
            );
        }
    }

    fn other_keywords(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, loc: &str) {
        let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
        for key in keys {
            if ANNOTATIONS.contains(&key.as_str()) || HANDLED.contains(&key.as_str()) {
                continue;
            }
            match (o.get(key), n.get(key)) {
                (None, Some(b)) => self.push(
                    ChangeKind::ConstraintAdded,
                    loc,
                    Effect::Narrowed,
                    format!("{key}: {} added", short(b)),
                ),
                (Some(a), None) => self.push(
                    ChangeKind::ConstraintRemoved,
                    loc,
                    Effect::Widened,
                    format!("{key}: {} removed", short(a)),
                ),
                (Some(a), Some(b)) if a != b => self.push(
                    ChangeKind::ConstraintChanged,
                    loc,
                    Effect::Incompatible,
                    format!("{key}: {} -> {}", short(a), short(b)),
                ),
                _ => {}
            }
        }
    }
}

/// A value shown in one short line.
fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// Pair each old variant with the new variant that reads or writes the same messages: same wire
/// name first, then a wire name the other side accepts as an alias, then any shared tag.
fn match_variants<'v, 'a>(
    old: &'v ProtocolView<'a>,
    new: &'v ProtocolView<'a>,
) -> Vec<(&'v VariantView<'a>, Option<&'v VariantView<'a>>)> {
    let olds: Vec<&VariantView<'a>> = old.known().collect();
    let news: Vec<&VariantView<'a>> = new.known().collect();
    let mut taken = vec![false; news.len()];
    let mut result: Vec<Option<usize>> = vec![None; olds.len()];
    // Same wire name; the old wire name is a new alias; the new wire name was an old alias;
    // any shared tag.
    let rule = |k: usize, o: &VariantView<'a>, n: &VariantView<'a>| match k {
        0 => o.wire == n.wire,
        1 => n.tags.contains(&o.wire),
        2 => o.tags.contains(&n.wire),
        _ => o.tags.iter().any(|t| n.tags.contains(t)),
    };
    for k in 0..4 {
        for (i, o) in olds.iter().enumerate() {
            if result[i].is_some() {
                continue;
            }
            if let Some(j) = (0..news.len()).find(|&j| !taken[j] && rule(k, o, news[j])) {
                taken[j] = true;
                result[i] = Some(j);
            }
        }
    }
    olds.into_iter()
        .zip(result)
        .map(|(o, j)| (o, j.map(|j| news[j])))
        .collect()
}
