//! The AsyncAPI 3.0.0 document of a protocol, from the point of view of the server application:
//! one channel (the WebSocket connection), an operation that receives the client-to-server
//! messages and one that sends the server-to-client messages, and for each request a
//! receive (or send) operation of its own whose `reply` names the reply message.
//!
//! Payloads are AsyncAPI Schema Objects (a superset of JSON Schema draft-07), so the 2020-12
//! schemas are carried over with two rewrites: `$defs` become `components.schemas` (references
//! follow), and tuples (`prefixItems` + `items`) take draft-07's form (`items` array +
//! `additionalItems`). Component names are those of the TypeScript declarations:
//! `ClientMsg.Join`, `ServerMsg.Position`.

use serde_json::{Map, Value, json};

use crate::model::{VariantView, def_name};
use crate::names::component_key;
use crate::spec::{Direction, DirectionView};

/// What the document says about itself.
pub(crate) struct Info<'a> {
    /// The channel's key: the protocol's name.
    pub channel: &'a str,
    /// `info.title`.
    pub title: &'a str,
    /// `info.version`.
    pub version: &'a str,
    /// `info.description`.
    pub description: Option<&'a str>,
    /// The channel's address (the WebSocket path), if known.
    pub address: Option<&'a str>,
}

/// Rewrite a 2020-12 schema of `dir` into an AsyncAPI Schema Object.
fn rewrite(schema: &Value, dir: &DirectionView<'_>) -> Value {
    match schema {
        Value::Object(obj) => {
            let mut out = Map::new();
            for (k, v) in obj {
                match k.as_str() {
                    "$ref" => {
                        let target = v.as_str().map(|r| retarget(r, dir));
                        out.insert(k.clone(), target.map_or_else(|| v.clone(), Value::String));
                    }
                    "$schema" | "$id" | "$defs" => {}
                    "prefixItems" => {
                        out.insert("items".into(), rewrite(v, dir));
                        if let Some(rest) = obj.get("items") {
                            out.insert("additionalItems".into(), rewrite(rest, dir));
                        }
                    }
                    "items" if obj.contains_key("prefixItems") => {}
                    // Keys of `properties`/`patternProperties` are names, not keywords.
                    "properties" | "patternProperties" | "$comment" | "enum" | "const"
                    | "default" | "examples" => {
                        out.insert(k.clone(), rewrite_values(k, v, dir));
                    }
                    _ => {
                        out.insert(k.clone(), rewrite(v, dir));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| rewrite(i, dir)).collect()),
        other => other.clone(),
    }
}

/// Rewrite inside a keyword whose value is not itself a schema (or a map of schemas).
fn rewrite_values(keyword: &str, v: &Value, dir: &DirectionView<'_>) -> Value {
    match (keyword, v) {
        ("properties" | "patternProperties", Value::Object(map)) => Value::Object(
            map.iter()
                .map(|(name, s)| (name.clone(), rewrite(s, dir)))
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// `#/$defs/Position` -> `#/components/schemas/ClientMsg.Position`; `#` -> the direction's schema.
fn retarget(reference: &str, dir: &DirectionView<'_>) -> String {
    if reference == "#" {
        return format!("#/components/schemas/{}", ns_key(&dir.names.ns));
    }
    if let Some(rest) = reference.strip_prefix("#/$defs/") {
        let (head, tail) = rest.split_once('/').map_or((rest, ""), |(h, t)| (h, t));
        let key = def_name(&format!("#/$defs/{head}")).unwrap_or_default();
        if let Some(name) = dir.names.defs.get(&key) {
            let sep = if tail.is_empty() { "" } else { "/" };
            return format!(
                "#/components/schemas/{}{sep}{tail}",
                component_key(&dir.names.ns, name)
            );
        }
    }
    if let Some(rest) = reference.strip_prefix("#/oneOf/") {
        let (head, tail) = rest.split_once('/').map_or((rest, ""), |(h, t)| (h, t));
        if let Some(name) = head
            .parse::<usize>()
            .ok()
            .and_then(|i| dir.names.variants.get(i))
        {
            let sep = if tail.is_empty() { "" } else { "/" };
            return format!(
                "#/components/schemas/{}{sep}{tail}",
                component_key(&dir.names.ns, name)
            );
        }
    }
    reference.to_owned()
}

/// The component key of a direction's whole schema.
fn ns_key(ns: &str) -> String {
    ns.replace('$', "_")
}

fn message_key(dir: &DirectionView<'_>, v: &VariantView<'_>) -> String {
    component_key(&dir.names.ns, &dir.names.variants[v.index])
}

/// The variants of `dir` that take part in a request/reply exchange.
fn in_exchange(dir: &DirectionView<'_>, other: &DirectionView<'_>, v: &VariantView<'_>) -> bool {
    dir.replies.get(v.index).is_some_and(Option::is_some)
        || other.replies.iter().flatten().any(|&r| r == v.index)
}

fn has_property(schema: &Value, name: &str) -> bool {
    schema.get("properties").and_then(|p| p.get(name)).is_some()
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim()
}

/// The whole document.
pub(crate) fn document(info: &Info<'_>, dirs: [&DirectionView<'_>; 2]) -> Value {
    let channel = info.channel;
    let channel_ref = json!({ "$ref": format!("#/channels/{}", escape(channel)) });
    let mut schemas = Map::new();
    let mut messages = Map::new();
    let mut channel_messages = Map::new();
    let mut operations = Map::new();
    for (i, dir) in dirs.iter().enumerate() {
        let other = dirs[1 - i];
        let ns = &dir.names.ns;
        let mut variant_refs = Vec::new();
        for v in &dir.view.variants {
            let key = message_key(dir, v);
            schemas.insert(key.clone(), rewrite(v.schema, dir));
            let mut msg = Map::new();
            msg.insert(
                "name".into(),
                if v.catch_all {
                    v.title.clone()
                } else {
                    v.wire.clone()
                }
                .into(),
            );
            msg.insert("title".into(), v.title.clone().into());
            if let Some(d) = v.schema.get("description").and_then(Value::as_str) {
                msg.insert("summary".into(), first_line(d).into());
                msg.insert("description".into(), d.into());
            }
            msg.insert("contentType".into(), "application/json".into());
            msg.insert(
                "payload".into(),
                json!({ "$ref": format!("#/components/schemas/{key}") }),
            );
            let error_reply =
                dir.direction == Direction::Server && v.wire == crate::client::ERROR_TAG;
            if (in_exchange(dir, other, v) || error_reply) && has_property(v.schema, &dir.id_field)
            {
                let description = if error_reply {
                    "An error reply carries the id of the request it refuses."
                } else {
                    "A request and its reply carry the same id."
                };
                msg.insert(
                    "correlationId".into(),
                    json!({
                        "description": description,
                        "location": format!("$message.payload#/{}", escape(&dir.id_field)),
                    }),
                );
            }
            messages.insert(key.clone(), Value::Object(msg));
            channel_messages.insert(
                key.clone(),
                json!({ "$ref": format!("#/components/messages/{key}") }),
            );
            let channel_message = json!({
                "$ref": format!("#/channels/{}/messages/{key}", escape(channel))
            });
            // Requests get an operation of their own (with the reply); the rest share one.
            match dir.reply_of(v.index, other) {
                Some(reply) => {
                    let reply_key = message_key(other, reply);
                    let (action, verb) = action(dir.direction);
                    let mut op = Map::new();
                    op.insert("action".into(), action.into());
                    op.insert("channel".into(), channel_ref.clone());
                    op.insert(
                        "summary".into(),
                        format!(
                            "{verb} a `{}` request and answer it with `{}`.",
                            v.wire, reply.wire
                        )
                        .into(),
                    );
                    op.insert("messages".into(), json!([channel_message]));
                    op.insert(
                        "reply".into(),
                        json!({
                            "channel": channel_ref.clone(),
                            "messages": [{
                                "$ref": format!("#/channels/{}/messages/{reply_key}", escape(channel))
                            }],
                        }),
                    );
                    operations.insert(format!("{action}.{key}"), Value::Object(op));
                }
                None => variant_refs.push(channel_message),
            }
        }
        // The whole direction as one schema too, for tools that want the union.
        let mut whole = Map::new();
        if let Some(d) = dir.view.root.get("description") {
            whole.insert("description".into(), d.clone());
        }
        whole.insert("title".into(), ns.clone().into());
        whole.insert(
            "oneOf".into(),
            Value::Array(
                dir.view
                    .variants
                    .iter()
                    .map(|v| json!({ "$ref": format!("#/components/schemas/{}", message_key(dir, v)) }))
                    .collect(),
            ),
        );
        schemas.insert(ns_key(ns), Value::Object(whole));
        if let Some(defs) = dir.view.defs() {
            for (raw, name) in &dir.names.defs {
                if let Some(schema) = defs.get(raw) {
                    schemas.insert(component_key(ns, name), rewrite(schema, dir));
                }
            }
        }
        if !variant_refs.is_empty() {
            let (action, _) = action(dir.direction);
            let summary = match dir.direction {
                Direction::Client => "Messages the server receives from clients.",
                Direction::Server => "Messages the server sends to clients.",
            };
            operations.insert(
                format!("{action}.{ns}"),
                json!({
                    "action": action,
                    "channel": channel_ref.clone(),
                    "summary": summary,
                    "messages": variant_refs,
                }),
            );
        }
    }
    let mut info_obj = Map::new();
    info_obj.insert("title".into(), info.title.into());
    info_obj.insert("version".into(), info.version.into());
    if let Some(d) = info.description {
        info_obj.insert("description".into(), d.into());
    }
    let mut channel_obj = Map::new();
    channel_obj.insert(
        "address".into(),
        info.address.map_or(Value::Null, |a| a.into()),
    );
    channel_obj.insert(
        "description".into(),
        "One WebSocket connection; each text frame carries one JSON message.".into(),
    );
    channel_obj.insert("messages".into(), Value::Object(channel_messages));
    let mut channels = Map::new();
    channels.insert(channel.to_owned(), Value::Object(channel_obj));
    json!({
        "asyncapi": "3.0.0",
        "info": Value::Object(info_obj),
        "defaultContentType": "application/json",
        "channels": Value::Object(channels),
        "operations": Value::Object(operations),
        "components": {
            "schemas": Value::Object(schemas),
            "messages": Value::Object(messages),
        },
    })
}

/// The server's action on a direction's messages, and the verb for summaries.
fn action(direction: Direction) -> (&'static str, &'static str) {
    match direction {
        Direction::Client => ("receive", "Receive"),
        Direction::Server => ("send", "Send"),
    }
}

/// Escape a name for use in a JSON pointer.
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProtocolView;
    use crate::names::Names;

    fn dir<'a>(direction: Direction, schema: &'a Value, ns: &str) -> DirectionView<'a> {
        let view = ProtocolView::parse(schema).unwrap();
        let names = Names::new(ns, &view);
        let n = view.variants.len();
        DirectionView {
            direction,
            view,
            names,
            replies: vec![None; n],
            id_field: "id".into(),
            pushes: vec![Vec::new(); n],
            error_codes: vec![Vec::new(); n],
        }
    }

    #[test]
    fn refs_and_tuples_are_rewritten() {
        let schema = json!({
            "required": ["type"],
            "$defs": {"Pos": {"type": "object"}},
            "oneOf": [{"title": "Pos", "properties": {
                "type": {"const": "p"},
                "at": {"$ref": "#/$defs/Pos"},
                "pair": {"type": "array", "prefixItems": [{"type": "string"}], "items": false},
                "$ref": {"type": "string"}
            }}]
        });
        let d = dir(Direction::Client, &schema, "C");
        let out = rewrite(&d.view.variants[0].schema.clone(), &d);
        assert_eq!(
            out["properties"]["at"]["$ref"],
            "#/components/schemas/C.PosType"
        );
        assert_eq!(
            out["properties"]["pair"]["items"],
            json!([{"type": "string"}])
        );
        assert_eq!(out["properties"]["pair"]["additionalItems"], json!(false));
        // A field named like a keyword stays a field.
        assert_eq!(out["properties"]["$ref"], json!({"type": "string"}));
        assert_eq!(retarget("#", &d), "#/components/schemas/C");
        assert_eq!(retarget("#/oneOf/0", &d), "#/components/schemas/C.Pos");
        assert_eq!(retarget("other.json#/x", &d), "other.json#/x");
    }

    #[test]
    fn request_operations_name_their_reply() {
        let client = json!({"required": ["type"], "oneOf": [
            {"title": "Ask", "properties": {"type": {"const": "ask"}, "id": {"type": "integer"}}},
            {"title": "Note", "properties": {"type": {"const": "note"}}}
        ]});
        let server = json!({"required": ["type"], "oneOf": [
            {"title": "Answer", "properties": {"type": {"const": "answer"}, "id": {"type": "integer"}}}
        ]});
        let mut c = dir(Direction::Client, &client, "ClientMsg");
        let s = dir(Direction::Server, &server, "ServerMsg");
        c.replies[0] = Some(0);
        let doc = document(
            &Info {
                channel: "chat",
                title: "Chat",
                version: "1",
                description: None,
                address: Some("/ws"),
            },
            [&c, &s],
        );
        let op = &doc["operations"]["receive.ClientMsg.Ask"];
        assert_eq!(op["action"], "receive");
        assert_eq!(
            op["reply"]["messages"][0]["$ref"],
            "#/channels/chat/messages/ServerMsg.Answer"
        );
        assert_eq!(
            doc["operations"]["receive.ClientMsg"]["messages"],
            json!([{"$ref": "#/channels/chat/messages/ClientMsg.Note"}])
        );
        assert_eq!(
            doc["components"]["messages"]["ServerMsg.Answer"]["correlationId"]["location"],
            "$message.payload#/id"
        );
        assert!(
            doc["components"]["messages"]["ClientMsg.Note"]
                .get("correlationId")
                .is_none()
        );
        assert_eq!(doc["channels"]["chat"]["address"], "/ws");
    }
}
