//! The names a direction's types get in TypeScript and AsyncAPI, shared so both agree.
//!
//! Each direction is a namespace named after its Rust enum (`ClientMsg`), holding one type per
//! variant under the Rust variant name (`ClientMsg.Message`) and the `$defs` types under their
//! schema names (`ClientMsg.Position`). Two directions can both have a `Message` variant without
//! a clash. A `$defs` type whose name is taken by a variant (or by `MessageType`) gets a `Type`
//! suffix (`PositionType`, or `PositionType2`, ... when that is taken too).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{ProtocolView, def_name};

/// Words TypeScript does not allow as a type name, or that read as a built-in type.
const RESERVED: &[&str] = &[
    "any",
    "bigint",
    "boolean",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "never",
    "new",
    "null",
    "number",
    "object",
    "return",
    "string",
    "super",
    "switch",
    "symbol",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "undefined",
    "unknown",
    "var",
    "void",
    "while",
    "with",
];

/// A valid TypeScript identifier made from `raw` (other characters become `_`).
pub(crate) fn ts_ident(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '$' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if RESERVED.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// Whether `name` can be written bare as a TypeScript property name.
pub(crate) fn is_plain_property(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// An AsyncAPI component key (`^[a-zA-Z0-9.\-_]+$`) for `ns.name`.
pub(crate) fn component_key(ns: &str, name: &str) -> String {
    format!("{ns}.{name}").replace('$', "_")
}

/// The names of one direction's types.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    /// The namespace and union type: the Rust enum's name.
    pub ns: String,
    /// Variant type names, by position in `oneOf`.
    pub variants: Vec<String>,
    /// `$defs` key -> type name.
    pub defs: BTreeMap<String, String>,
    /// The union of tag strings: `MessageType`, unless a variant has that name.
    pub message_type: String,
}

impl Names {
    /// Name the types of the protocol `view` inside namespace `ns`.
    pub fn new(ns: &str, view: &ProtocolView<'_>) -> Self {
        let variants: Vec<String> = view.variants.iter().map(|v| ts_ident(&v.title)).collect();
        let mut taken: BTreeSet<String> = variants.iter().cloned().collect();
        let mut message_type = String::from("MessageType");
        while taken.contains(&message_type) {
            message_type.push('_');
        }
        taken.insert(message_type.clone());
        let mut defs = BTreeMap::new();
        let mut keys: Vec<&String> = view.defs().into_iter().flat_map(|d| d.keys()).collect();
        keys.sort();
        // First every name that is free keeps it, then the clashing ones get a suffix, so a
        // clash never pushes a free name aside.
        let mut clashing = Vec::new();
        for key in keys {
            let base = ts_ident(key);
            if taken.insert(base.clone()) {
                defs.insert(key.clone(), base);
            } else {
                clashing.push((key, base));
            }
        }
        for (key, base) in clashing {
            let mut name = format!("{base}Type");
            let mut n = 2;
            while taken.contains(&name) {
                name = format!("{base}Type{n}");
                n += 1;
            }
            taken.insert(name.clone());
            defs.insert(key.clone(), name);
        }
        Self {
            ns: ts_ident(ns),
            variants,
            defs,
            message_type,
        }
    }

    /// The type name a `$ref` points at, when it names one of the `$defs`.
    pub fn for_ref(&self, reference: &str) -> Option<&str> {
        def_name(reference)
            .and_then(|key| self.defs.get(&key))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn idents() {
        assert_eq!(ts_ident("Position"), "Position");
        assert_eq!(ts_ident("Wrapper<String>"), "Wrapper_String_");
        assert_eq!(ts_ident("1x"), "_1x");
        assert_eq!(ts_ident("string"), "string_");
        assert_eq!(ts_ident(""), "_");
        assert!(is_plain_property("messageId"));
        assert!(!is_plain_property("ID-x"));
        assert!(!is_plain_property("9"));
        assert_eq!(component_key("A", "b$c"), "A.b_c");
    }

    #[test]
    fn def_names_avoid_variant_names() {
        let schema = json!({
            "required": ["type"],
            "$defs": {"Position": {}, "PositionType": {}, "Other": {}, "MessageType": {}},
            "oneOf": [
                {"title": "Position", "properties": {"type": {"const": "p"}}},
                {"title": "Moved", "properties": {"type": {"const": "m"}}}
            ]
        });
        let view = ProtocolView::parse(&schema).unwrap();
        let names = Names::new("ClientMsg", &view);
        assert_eq!(names.variants, vec!["Position", "Moved"]);
        assert_eq!(names.message_type, "MessageType");
        assert_eq!(names.for_ref("#/$defs/Other"), Some("Other"));
        assert_eq!(
            names.for_ref("#/$defs/MessageType"),
            Some("MessageTypeType")
        );
        assert_eq!(names.for_ref("#/$defs/Position"), Some("PositionType2"));
        assert_eq!(names.for_ref("#/$defs/PositionType"), Some("PositionType"));
        assert_eq!(names.for_ref("#/$defs/Missing"), None);
    }
}
