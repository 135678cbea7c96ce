//! Rules that involve more than one attribute or variant.

use std::collections::HashMap;

use crate::ast::{Container, Field, Style, Variant};
use crate::ctxt::Ctxt;

pub fn check(cx: &Ctxt, cont: &Container<'_>) {
    check_generics(cx, cont);
    check_not_empty(cx, cont);
    check_other(cx, cont);
    check_wire_names(cx, cont);
    check_tag_collisions(cx, cont);
    check_newtype_attrs(cx, cont);
    check_id_collisions(cx, cont);
    check_reply_enums(cx, cont);
    check_custom_codecs(cx, cont);
    check_streams(cx, cont);
}

/// A stored message must carry its room and position: fields `room` and `offset: u64` the
/// encoder always writes (their types are checked by the generated code). The client messages
/// that join, leave and publish into streams name the room in `room` (and the join its resume
/// point in `since`), so a typed client can resume on its own.
fn check_streams(cx: &Ctxt, cont: &Container<'_>) {
    fn field<'v, 'a>(v: &'v Variant<'a>, name: &str) -> Option<(String, &'v Field<'a>)> {
        match &v.style {
            Style::Struct(fields) => fields
                .iter()
                .find(|f| f.ident.is_some_and(|i| i == name))
                .map(|f| (f.wire_name(v.field_rule).unwrap_or_default(), f)),
            _ => None,
        }
    }
    fn need<'v, 'a>(
        cx: &Ctxt,
        v: &'v Variant<'a>,
        what: &str,
        name: &str,
        ty: &str,
    ) -> Option<&'v Field<'a>> {
        match field(v, name) {
            None => {
                cx.error_spanned_by(v.ident, format!("a `#[protocol({what})]` message names its room stream in fields: give the variant a field `{name}: {ty}`"));
                None
            }
            Some((wire, f)) if wire != name => {
                cx.error_spanned_by(f.original, format!("the `{name}` field of a `#[protocol({what})]` message is `{name}` on the wire (clients find it by that name): remove its rename"));
                None
            }
            Some((_, f)) => Some(f),
        }
    }
    for v in &cont.variants {
        let roles = [
            v.attrs.stream,
            v.attrs.joins_stream.is_some(),
            v.attrs.leaves_stream,
            v.attrs.publishes,
        ];
        if roles.iter().filter(|r| **r).count() > 1 {
            cx.error_spanned_by(v.ident, "a message has at most one of `stream`, `joins_stream`, `leaves_stream` and `publishes`");
            continue;
        }
        if v.attrs.other && roles.iter().any(|r| *r) {
            cx.error_spanned_by(
                v.ident,
                "the `#[protocol(other)]` variant has no stream role",
            );
            continue;
        }
        if v.attrs.stream {
            need(cx, v, "stream", "room", "String");
            if let Some(f) = need(cx, v, "stream", "offset", "u64")
                && (f.attrs.flatten
                    || f.attrs.skip_serializing
                    || f.attrs.skip_serializing_if.is_some())
            {
                cx.error_spanned_by(f.original, "the `offset` of a `#[protocol(stream)]` message must always reach the wire: remove `skip`, `skip_serializing_if` and `flatten`");
            }
        }
        if v.attrs.joins_stream.is_some() {
            need(cx, v, "joins_stream", "room", "String");
            need(
                cx,
                v,
                "joins_stream",
                "since",
                "Option<protocol_core::Since>",
            );
        }
        if v.attrs.leaves_stream {
            need(cx, v, "leaves_stream", "room", "String");
        }
        if v.attrs.publishes {
            need(cx, v, "publishes", "room", "String");
            if v.attrs.reply.is_none() {
                cx.error_spanned_by(v.ident, "a `#[protocol(publishes)]` message is a request: its `reply` carries the published message's `offset`");
            }
        }
    }
}

/// A field with its own (de)serialize functions has a wire shape the derive cannot see, and the
/// schema must agree with the decoder: make the user say what it looks like.
fn check_custom_codecs(cx: &Ctxt, cont: &Container<'_>) {
    for v in &cont.variants {
        let Style::Struct(fields) = &v.style else {
            continue;
        };
        for f in fields {
            if let (Some(path), false) = (&f.attrs.custom_codec, f.attrs.schema_override) {
                cx.error_spanned_by(
                    path,
                    "a field with `#[serde(with / serialize_with / deserialize_with)]` needs `#[schemars(with = \"WireType\")]` (or `schema_with`) saying what it looks like on the wire, so the JSON Schema matches what the decoder accepts",
                );
            }
        }
    }
}

fn check_generics(cx: &Ctxt, cont: &Container<'_>) {
    let generics = &cont.input.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        cx.error_spanned_by(
            generics,
            "#[derive(Protocol)] does not support generic or lifetime parameters: protocol messages are owned, concrete types (use `String` rather than `&str`, and one enum per protocol)",
        );
    }
}

fn check_not_empty(cx: &Ctxt, cont: &Container<'_>) {
    if cont.variants.iter().all(|v| v.attrs.other) {
        cx.error_spanned_by(
            cont.ident,
            "a protocol needs at least one message type: add a variant",
        );
    }
}

fn check_other(cx: &Ctxt, cont: &Container<'_>) {
    let mut seen = false;
    for v in cont.variants.iter().filter(|v| v.attrs.other) {
        if seen {
            cx.error_spanned_by(v.ident, "only one variant can be `#[protocol(other)]`: it catches every unknown message type");
        }
        seen = true;
        if v.attrs.rename.is_some()
            || !v.attrs.aliases.is_empty()
            || v.attrs.reply.is_some()
            || v.attrs.error.is_some()
            || !v.attrs.pushes.is_empty()
            || !v.attrs.error_codes.is_empty()
        {
            cx.error_spanned_by(v.ident, "the `#[protocol(other)]` variant has no wire name of its own: remove `rename`, `alias`, `reply`, `error`, `pushes` and `error_codes`");
        }
        let shape_ok = match &v.style {
            Style::Struct(fields) => {
                fields.len() == 2 && fields.iter().any(|f| f.ident.is_some_and(|i| i == "raw"))
            }
            _ => false,
        };
        if !shape_ok {
            cx.error_spanned_by(
                v.original,
                "the `#[protocol(other)]` variant must look like `Unknown { r#type: String, raw: serde_json::Value }`: one field receives the unknown tag, `raw` the whole message",
            );
        }
    }
}

fn check_wire_names(cx: &Ctxt, cont: &Container<'_>) {
    let mut names: HashMap<String, &syn::Ident> = HashMap::new();
    for v in cont.variants.iter().filter(|v| !v.attrs.other) {
        let mut own = vec![(v.wire_name.clone(), None)];
        own.extend(v.attrs.aliases.iter().map(|a| (a.value(), Some(a))));
        for (name, lit) in own {
            if name.is_empty() {
                cx.error_spanned_by(v.ident, "a message type name must not be empty");
            }
            if let Some(first) = names.get(&name) {
                let message = format!(
                    "message type \"{name}\" is used twice: by `{first}` and by `{}` (after renames and aliases); each wire name must name one variant",
                    v.ident
                );
                match lit {
                    Some(lit) => cx.error_spanned_by(lit, message),
                    None => cx.error_spanned_by(v.ident, message),
                }
            } else {
                names.insert(name, v.ident);
            }
        }
    }
}

fn check_tag_collisions(cx: &Ctxt, cont: &Container<'_>) {
    for v in cont.variants.iter().filter(|v| !v.attrs.other) {
        let Style::Struct(fields) = &v.style else {
            continue;
        };
        for f in fields {
            if f.attrs.flatten {
                continue;
            }
            if f.wire_name(v.field_rule).as_deref() == Some(cont.tag.as_str()) {
                cx.error_spanned_by(
                    f.original,
                    format!("field is serialized as \"{}\", which is the tag field; rename the field or choose another tag with #[protocol(tag = \"...\")]", cont.tag),
                );
            }
        }
    }
}

/// serde attributes on a newtype variant's field would be silently ignored.
pub fn check_newtype_attrs(cx: &Ctxt, cont: &Container<'_>) {
    for v in &cont.variants {
        if let Style::Newtype(f) = &v.style
            && f.original.attrs.iter().any(|a| a.path().is_ident("serde"))
        {
            cx.error_spanned_by(
                f.original,
                "serde attributes on a newtype variant's field have no effect; put them on the fields of the inner struct",
            );
        }
    }
}

/// Every variant may carry the correlation id beside its fields, so no field may use its name.
fn check_id_collisions(cx: &Ctxt, cont: &Container<'_>) {
    let id = cont.id_field();
    for v in cont.variants.iter().filter(|v| !v.attrs.other) {
        let Style::Struct(fields) = &v.style else {
            continue;
        };
        for f in fields.iter().filter(|f| !f.attrs.flatten) {
            if f.wire_name(v.field_rule).as_deref() == Some(id.as_str()) {
                cx.error_spanned_by(
                    f.original,
                    format!("field is serialized as \"{id}\", the correlation id every message may carry; rename the field, or move the correlation id with #[protocol(id = \"requestId\")]"),
                );
            }
        }
    }
}

/// Every request's reply lives in the same enum: the handler's `Out`; pushes name variants of
/// that enum too.
fn check_reply_enums(cx: &Ctxt, cont: &Container<'_>) {
    let first = crate::dispatch::reply_enum(cont).or_else(|| {
        cont.variants
            .iter()
            .find_map(|v| v.attrs.pushes.first())
            .map(|(p, _)| crate::dispatch::enum_of(p))
    });
    let Some(first) = first else {
        return;
    };
    for v in &cont.variants {
        if let Some(reply) = &v.attrs.reply
            && crate::dispatch::enum_of(reply) != first
        {
            cx.error_spanned_by(reply, "every `reply` must name a variant of the same enum: the other direction's protocol");
        }
        for (push, _) in &v.attrs.pushes {
            if crate::dispatch::enum_of(push) != first {
                cx.error_spanned_by(push, "every `pushes` entry must name a variant of the same enum as the replies: the other direction's protocol");
            }
        }
    }
}
