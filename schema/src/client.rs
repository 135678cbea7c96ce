//! The generated client (`<name>.client.js` + `<name>.client.d.ts`): an ES module with no
//! dependencies beyond the exported guards (`<name>.js`) that connects to a server of the
//! protocol and makes its two enums the client's API.
//!
//! Each file is this protocol's part (tag and id fields, which request gets which reply, which
//! server messages need a handler, the server messages' schemas for `validate`) followed by a
//! part that is the same for every protocol (`client_runtime.js` / `client_runtime.d.ts`,
//! included verbatim).
//!
//! - `request` accepts only the variants that declare a reply and resolves with that reply's
//!   type; the correlation id is the client's (a counter, never reused across reconnects).
//! - `Handlers` has one required member per server message that is not a declared reply nor
//!   the error reply (the variant whose wire name is `error`, as in [`protocol_core::ErrorReply`]);
//!   a catch-all variant gets the member `"*"`.
//! - `validate` checks each incoming frame with the server direction's JSON Schema, kept in the
//!   module without its annotations; keywords the checker does not know are listed in the
//!   file's header and not checked.
//! - Resume: the stream roles of the variants (`joins_stream`, `leaves_stream`, `publishes`,
//!   `stream`, read from each variant's `$comment`, see `model::STREAM_COMMENT`) go
//!   into the module's `STREAMS` table. The client keeps, per joined room, the epoch and the
//!   highest offset up to which it has every stored message (from the join announcement, the
//!   stream messages and the publishing requests' replies, with a small set of offsets seen
//!   above a gap), joins again with `since` after a reconnect before the queue is flushed,
//!   drops stored messages it already had, and reports each resume to `onResume`.
//! - 64-bit integers are `number`, as in the `.d.ts`: `JSON.parse` yields numbers, exact up to
//!   2^53 - 1. The ids the client assigns count up from 1 and stay far below that.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::model::{StreamPart, VariantView};
use crate::names::is_plain_property;
use crate::spec::DirectionView;

/// The part of the module that is the same for every protocol.
const RUNTIME_JS: &str = include_str!("client_runtime.js");
/// The part of the declarations that is the same for every protocol.
const RUNTIME_DTS: &str = include_str!("client_runtime.d.ts");

/// The wire name of the error reply, as `protocol_core::ErrorReply` writes it.
pub(crate) const ERROR_TAG: &str = "error";

/// The handler key of the catch-all variant (no wire name of its own).
const CATCH_ALL_KEY: &str = "*";

/// Keywords the client's checker implements; the rest of a schema's keywords are either
/// annotations (dropped) or reported as unchecked.
const CHECKED: &[&str] = &[
    "$ref",
    "type",
    "const",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "items",
    "prefixItems",
    "minProperties",
    "maxProperties",
    "required",
    "properties",
    "patternProperties",
    "additionalProperties",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
];

/// Keywords that say nothing about validity.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "$defs",
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "format",
    "discriminator",
    "contentEncoding",
    "contentMediaType",
];

fn js_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

fn property_key(name: &str) -> String {
    if is_plain_property(name) {
        name.to_owned()
    } else {
        js_string(name)
    }
}

/// `schema` with only the keywords the checker reads; unknown keywords go to `unchecked`
/// as `keyword at pointer`.
fn strip(schema: &Value, at: &str, unchecked: &mut BTreeSet<String>) -> Value {
    let Value::Object(obj) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in obj {
        let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
        match key.as_str() {
            "properties" | "patternProperties" => {
                let Value::Object(map) = value else {
                    continue;
                };
                let inner = map
                    .iter()
                    .map(|(k, v)| (k.clone(), strip(v, &format!("{here}/{k}"), unchecked)))
                    .collect();
                out.insert(key.clone(), Value::Object(inner));
            }
            "items" | "additionalProperties" | "not" => {
                out.insert(key.clone(), strip(value, &here, unchecked));
            }
            "prefixItems" | "allOf" | "anyOf" | "oneOf" => {
                let Value::Array(items) = value else {
                    continue;
                };
                let inner = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| strip(v, &format!("{here}/{i}"), unchecked))
                    .collect();
                out.insert(key.clone(), Value::Array(inner));
            }
            k if CHECKED.contains(&k) => {
                out.insert(key.clone(), value.clone());
            }
            k if ANNOTATIONS.contains(&k) => {}
            k => {
                unchecked.insert(format!("`{k}` at {}", if at.is_empty() { "/" } else { at }));
            }
        }
    }
    Value::Object(out)
}

/// The server messages a client must handle: every known one but the replies and the error
/// reply, then the catch-all.
fn handled<'a>(
    client: &DirectionView<'_>,
    server: &'a DirectionView<'a>,
) -> Vec<&'a VariantView<'a>> {
    let replies: BTreeSet<usize> = client.replies.iter().flatten().copied().collect();
    let mut out: Vec<&VariantView<'_>> = server
        .view
        .known()
        .filter(|v| !replies.contains(&v.index) && v.wire != ERROR_TAG)
        .collect();
    out.extend(server.view.catch_all());
    out
}

/// The error reply, when the server direction has one.
fn error_variant<'a>(server: &'a DirectionView<'a>) -> Option<&'a VariantView<'a>> {
    server.view.known().find(|v| v.wire == ERROR_TAG)
}

/// The requests: (request variant, reply variant).
fn requests<'a>(
    client: &'a DirectionView<'a>,
    server: &'a DirectionView<'a>,
) -> Vec<(&'a VariantView<'a>, &'a VariantView<'a>)> {
    client
        .view
        .known()
        .filter_map(|v| client.reply_of(v.index, server).map(|r| (v, r)))
        .collect()
}

/// The `STREAMS` table of the module: which client messages join (and which server message
/// announces each join), leave and publish into a room stream, and which server messages are
/// stored stream messages. Empty lists when the protocol has no streams.
fn streams_table(client: &DirectionView<'_>, server: &DirectionView<'_>) -> String {
    let quoted = |dir: &DirectionView<'_>, want: &StreamPart| -> Vec<String> {
        dir.view
            .known()
            .filter(|v| v.stream.as_ref() == Some(want))
            .map(|v| js_string(&v.wire))
            .collect()
    };
    let joins: Vec<String> = client
        .view
        .known()
        .filter_map(|v| match &v.stream {
            Some(StreamPart::Join { announced_by }) => Some(format!(
                "{}: {}",
                property_key(&v.wire),
                announced_by
                    .as_deref()
                    .and_then(|a| server.view.variant_for_tag(a))
                    .map_or_else(|| "null".to_owned(), |a| js_string(&a.wire))
            )),
            _ => None,
        })
        .collect();
    let joins = if joins.is_empty() {
        "{}".to_owned()
    } else {
        format!("{{ {} }}", joins.join(", "))
    };
    format!(
        "/** Room streams (resume): each joining message's type and the server message that announces\n \
         * the join (null: none), the leaving and publishing messages, the stored stream messages. */\n\
         const STREAMS = Object.freeze({{\n  \
         joins: Object.freeze({joins}),\n  \
         leaves: Object.freeze([{}]),\n  \
         publishes: Object.freeze([{}]),\n  \
         messages: Object.freeze([{}]),\n\
         }});\n",
        quoted(client, &StreamPart::Leave).join(", "),
        quoted(client, &StreamPart::Publish).join(", "),
        quoted(server, &StreamPart::Stream).join(", "),
    )
}

fn handler_key(v: &VariantView<'_>) -> String {
    if v.catch_all {
        js_string(CATCH_ALL_KEY)
    } else {
        property_key(&v.wire)
    }
}

/// The `.client.js` module.
pub(crate) fn module(
    title: &str,
    version: &str,
    runtime_file: &str,
    [client, server]: [&DirectionView<'_>; 2],
) -> String {
    let mut unchecked = BTreeSet::new();
    let mut root = server.view.root.clone();
    if let Value::Object(obj) = &mut root {
        obj.remove("oneOf");
    }
    let root = strip(&root, "", &mut unchecked);
    let mut variants = Vec::new();
    for v in server.view.known() {
        let at = format!("/oneOf/{}", v.index);
        variants.push(format!(
            "    {}: {},",
            js_string(&v.wire),
            strip(v.schema, &at, &mut unchecked)
        ));
    }
    let catch_all = server.view.catch_all().map_or_else(
        || "null".to_owned(),
        |v| strip(v.schema, &format!("/oneOf/{}", v.index), &mut unchecked).to_string(),
    );
    let mut defs = Vec::new();
    for (key, schema) in server.view.defs().into_iter().flatten() {
        let pointer = format!("#/$defs/{}", key.replace('~', "~0").replace('/', "~1"));
        let stripped = strip(schema, &pointer[1..], &mut unchecked);
        defs.push(format!("    {}: {stripped},", js_string(&pointer)));
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Generated by protocol-schema from the Rust protocol enums: do not edit.\n\
         // {title} {version}: a typed WebSocket client for this protocol, an ES module; types in\n\
         // {}. Uses the guards of {runtime_file} and nothing else.",
        runtime_file.replace(".js", ".client.d.ts"),
    );
    if !unchecked.is_empty() {
        let list: Vec<&str> = unchecked.iter().map(String::as_str).collect();
        let _ = writeln!(
            out,
            "//\n// `validate` does not check these keywords of the server schema: {}.",
            list.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\nimport {{ {} as ServerGuards }} from {};\n",
        server.names.ns,
        js_string(&format!("./{runtime_file}"))
    );
    let _ = writeln!(
        out,
        "/** The tag and correlation id fields of client messages, then of server messages. */"
    );
    let _ = writeln!(out, "const CLIENT_TAG = {};", js_string(&client.view.tag));
    let _ = writeln!(out, "const CLIENT_ID = {};", js_string(&client.id_field));
    let _ = writeln!(out, "const SERVER_TAG = {};", js_string(&server.view.tag));
    let _ = writeln!(out, "const SERVER_ID = {};", js_string(&server.id_field));
    let _ = writeln!(
        out,
        "/** The error reply's type (null: this protocol has none). */"
    );
    let error = error_variant(server).map_or_else(|| "null".to_owned(), |v| js_string(&v.wire));
    let _ = writeln!(out, "const ERROR_TYPE = {error};");
    let _ = writeln!(out, "/** Each request's type, and its reply's. */");
    let pairs: Vec<String> = requests(client, server)
        .iter()
        .map(|(q, r)| format!("{}: {}", property_key(&q.wire), js_string(&r.wire)))
        .collect();
    let replies = if pairs.is_empty() {
        "{}".to_owned()
    } else {
        format!("{{ {} }}", pairs.join(", "))
    };
    let _ = writeln!(out, "const REPLIES = Object.freeze({replies});");
    let _ = writeln!(
        out,
        "/** The server messages `handle` needs a handler for (\"*\": any unknown type). */"
    );
    let keys: Vec<String> = handled(client, server)
        .iter()
        .map(|v| {
            if v.catch_all {
                js_string(CATCH_ALL_KEY)
            } else {
                js_string(&v.wire)
            }
        })
        .collect();
    let _ = writeln!(out, "const HANDLED = Object.freeze([{}]);", keys.join(", "));
    let _ = writeln!(out, "const HANDLED_SET = new Set(HANDLED);");
    out.push_str(&streams_table(client, server));
    let _ = writeln!(
        out,
        "/** The server messages' schemas, annotations left out: the root's own rules, one per type,\n \
         * the catch-all's (null: none), and the named types `$ref` points at. */"
    );
    let _ = writeln!(out, "const SCHEMA = {{");
    let _ = writeln!(out, "  root: {root},");
    let _ = writeln!(out, "  variants: {{");
    for v in &variants {
        let _ = writeln!(out, "{v}");
    }
    let _ = writeln!(out, "  }},");
    let _ = writeln!(out, "  catchAll: {catch_all},");
    let _ = writeln!(out, "  defs: {{");
    for d in &defs {
        let _ = writeln!(out, "{d}");
    }
    let _ = writeln!(out, "  }},");
    let _ = writeln!(out, "}};");
    out.push_str(RUNTIME_JS);
    out
}

/// The `.client.d.ts` declarations.
pub(crate) fn declarations(
    title: &str,
    version: &str,
    runtime_file: &str,
    [client, server]: [&DirectionView<'_>; 2],
) -> String {
    let cns = &client.names.ns;
    let sns = &server.names.ns;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Generated by protocol-schema from the Rust protocol enums: do not edit.\n\
         // {title} {version}: the types of {}, a typed WebSocket client for this protocol.\n\
         //\n\
         // `connect(url, options)` returns a `Client`: `send` takes any {cns}; `request` takes only\n\
         // the messages that declare a reply and resolves with the reply's type; `handle` needs one\n\
         // handler for every {sns} that is not only a reply. 64-bit integers are `number`, as in\n\
         // {}: exact up to 2^53 - 1.",
        runtime_file.replace(".js", ".client.js"),
        runtime_file.replace(".js", ".d.ts"),
    );
    let _ = writeln!(
        out,
        "\nimport type {{ {cns} as ClientMessage, {sns} as ServerMessage }} from {};\n",
        js_string(&format!("./{runtime_file}"))
    );
    let _ = writeln!(out, "/** The tag field of client messages. */");
    let _ = writeln!(out, "type ClientTag = {};", js_string(&client.view.tag));
    let _ = writeln!(out, "/** The correlation id field of client messages. */");
    let _ = writeln!(out, "type ClientId = {};", js_string(&client.id_field));
    let _ = writeln!(out, "/** The tag field of server messages. */");
    let _ = writeln!(out, "type ServerTag = {};\n", js_string(&server.view.tag));
    match error_variant(server) {
        Some(v) => {
            let _ = writeln!(
                out,
                "/** The error reply ({}): rejects a request as a `ProtocolError`, or goes to `onError`. */",
                js_string(&v.wire)
            );
            let _ = writeln!(
                out,
                "export type ServerError = ServerMessage.{};\n",
                server.names.variants[v.index]
            );
        }
        None => {
            let _ = writeln!(
                out,
                "/** This protocol has no error reply (no server message of type \"error\"). */"
            );
            let _ = writeln!(out, "export type ServerError = never;\n");
        }
    }
    let _ = writeln!(
        out,
        "/** The requests (messages that declare a reply), by type: the message and its reply. */"
    );
    let reqs = requests(client, server);
    if reqs.is_empty() {
        let _ = writeln!(out, "export interface Requests {{}}\n");
    } else {
        let _ = writeln!(out, "export interface Requests {{");
        for (q, r) in &reqs {
            let _ = writeln!(
                out,
                "  {}: {{ request: ClientMessage.{}; reply: ServerMessage.{} }};",
                property_key(&q.wire),
                client.names.variants[q.index],
                server.names.variants[r.index]
            );
        }
        let _ = writeln!(out, "}}\n");
    }
    let _ = writeln!(
        out,
        "/** One handler per server message that is not only a reply: all required, so a new {sns}\n \
         * variant fails type-checking until it is handled. */"
    );
    let handled = handled(client, server);
    if handled.is_empty() {
        let _ = writeln!(out, "export interface Handlers {{}}");
    } else {
        let _ = writeln!(out, "export interface Handlers {{");
        for v in handled {
            if v.catch_all {
                let _ = writeln!(
                    out,
                    "  /** Any message of a type this protocol does not know. */"
                );
            }
            let _ = writeln!(
                out,
                "  {}: (msg: ServerMessage.{}) => void;",
                handler_key(v),
                server.names.variants[v.index]
            );
        }
        let _ = writeln!(out, "}}");
    }
    out.push_str(RUNTIME_DTS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strip_keeps_checks_and_reports_unknown_keywords() {
        let mut unchecked = BTreeSet::new();
        let s = json!({
            "description": "d", "title": "T", "type": "object",
            "properties": {"description": {"type": "string", "description": "a field named description"},
                           "n": {"type": "integer", "format": "uint8", "minimum": 0, "maximum": 255}},
            "required": ["description"],
            "dependentRequired": {"a": ["b"]},
            "oneOf": [{"const": 1, "$comment": "x"}]
        });
        let out = strip(&s, "", &mut unchecked);
        assert_eq!(
            out,
            json!({
                "type": "object",
                "properties": {"description": {"type": "string"}, "n": {"type": "integer", "minimum": 0, "maximum": 255}},
                "required": ["description"],
                "oneOf": [{"const": 1}]
            })
        );
        assert_eq!(
            unchecked.into_iter().collect::<Vec<_>>(),
            ["`dependentRequired` at /"]
        );
    }
}
