//! Frames: a message with the correlation id it carried ([`Frame`]), and telling an incoming
//! frame apart without decoding it ([`classify`]: a reply, an error reply or a push).

use super::locate::{as_u64, entries, string_is};

/// A message with the correlation id it carried (`"id"` by default, see [`Protocol::ID_FIELD`]).
///
/// [`Protocol::ID_FIELD`]: crate::Protocol::ID_FIELD
#[derive(Debug, Clone, PartialEq)]
pub struct Frame<T> {
    /// The correlation id, when the message had one.
    pub id: Option<u64>,
    /// The message.
    pub msg: T,
}

/// The tag value of an error reply (`{"type":"error",...}`, see [`ErrorReply`](crate::ErrorReply)).
const ERROR_TAG: &str = "error";

/// What an incoming frame is, as [`classify`] tells it from the frame's top-level tag and
/// correlation id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Incoming {
    /// A message carrying correlation id `id`: on a client, the reply to request `id`; on a
    /// server, a request to answer with that id.
    Reply {
        /// The correlation id.
        id: u64,
    },
    /// An error reply (`"error"` under the tag): to request `id` when it carries one.
    Error {
        /// The correlation id, when the error answers a request.
        id: Option<u64>,
    },
    /// Neither: a message with no correlation id (pushed, answering nothing). Text that is not
    /// a JSON object is a `Push` too; decoding it says what is wrong.
    Push,
}

impl Incoming {
    /// The correlation id the frame carried, if any (a reply's, or an error reply's).
    pub fn id(&self) -> Option<u64> {
        match *self {
            Incoming::Reply { id } => Some(id),
            Incoming::Error { id } => id,
            Incoming::Push => None,
        }
    }

    /// Whether the frame is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Incoming::Error { .. })
    }
}

/// Tell an incoming frame apart: a reply (it carries an id under `id_field`), an error reply
/// (`"error"` under `tag`) or a push, without decoding it.
///
/// Both fields are found wherever they stand among the object's top-level entries, whitespace
/// and escapes allowed (`"typ\u0065"` is `type`); the same names inside nested values or
/// inside strings are not taken for them. The id counts when it is an unsigned integer. On
/// malformed input this is best effort (the entries before the fault count) and never fails:
/// decoding the frame is what reports the error.
///
/// ```
/// use protocol_core::{Incoming, classify};
///
/// assert_eq!(classify(r#"{"type":"sent","id":1,"messageId":"M"}"#, "type", "id"), Incoming::Reply { id: 1 });
/// assert_eq!(
///     classify(r#"{"code":"not_in_room","message":"join first","id":2,"type":"error"}"#, "type", "id"),
///     Incoming::Error { id: Some(2) },
/// );
/// assert_eq!(classify(r#"{"type":"error","code":"invalid_json","message":"..."}"#, "type", "id").id(), None);
/// // Names inside nested values and strings do not count.
/// assert_eq!(
///     classify(r#"{"type":"message","text":"\"type\":\"error\"","meta":{"id":3}}"#, "type", "id"),
///     Incoming::Push,
/// );
/// ```
pub fn classify(text: &str, tag: &str, id_field: &str) -> Incoming {
    // Each field's first occurrence counts (the decoder rejects a second one).
    let mut error: Option<bool> = None;
    let mut id: Option<Option<u64>> = None;
    for (key, value) in entries(text.as_bytes()) {
        if error.is_none() && string_is(key, tag) {
            error = Some(string_is(value, ERROR_TAG));
        } else if id.is_none() && string_is(key, id_field) {
            id = Some(as_u64(value));
        }
        if error.is_some() && id.is_some() {
            break;
        }
    }
    let id = id.flatten();
    match (error, id) {
        (Some(true), id) => Incoming::Error { id },
        (_, Some(id)) => Incoming::Reply { id },
        (_, None) => Incoming::Push,
    }
}

#[cfg(test)]
mod tests {
    use super::{Incoming, classify};

    #[test]
    fn error_frames_are_told_apart_wherever_the_tag_is() {
        for (text, error) in [
            (r#"{"type":"error","code":"x","message":"m"}"#, true),
            (r#"{"type": "error","code":"x"}"#, true),
            (r#"{"code":"x","message":"m","type":"error"}"#, true),
            (r#"{"code":"x","type":"err\u006fr"}"#, true),
            (r#"{"type":"errors","code":"x"}"#, false),
            (r#"{"type":"sent","id":1}"#, false),
            (r#"{"message":"error","type":"sent"}"#, false),
            ("not json", false),
        ] {
            assert_eq!(classify(text, "type", "id").is_error(), error, "{text}");
        }
    }

    #[test]
    fn replies_error_replies_and_pushes() {
        for (text, want) in [
            (r#"{"type":"sent","id":7}"#, Incoming::Reply { id: 7 }),
            (r#"{"id":7,"type":"sent"}"#, Incoming::Reply { id: 7 }),
            (r#"{"type":"message","text":"hi"}"#, Incoming::Push),
            (
                r#"{"type":"error","id":7,"code":"x"}"#,
                Incoming::Error { id: Some(7) },
            ),
            (
                r#"{"code":"x","id":7,"type":"error"}"#,
                Incoming::Error { id: Some(7) },
            ),
            (
                r#"{"type":"error","code":"x"}"#,
                Incoming::Error { id: None },
            ),
            // Whitespace before the tag's value: a prefix test reads this one wrong.
            (
                r#"{ "type" : "error" , "id" : 3 }"#,
                Incoming::Error { id: Some(3) },
            ),
            (
                "\n{\t\"id\":\r\n9 ,\"type\":\"sent\"}",
                Incoming::Reply { id: 9 },
            ),
            // Escaped keys and values are what they decode to.
            (
                r#"{"typ\u0065":"error","i\u0064":4}"#,
                Incoming::Error { id: Some(4) },
            ),
            (r#"{"type":"\u0065rror"}"#, Incoming::Error { id: None }),
            (r#"{"type":"error\n"}"#, Incoming::Push),
            // The names nested or inside strings do not count.
            (
                r#"{"x":{"type":"error","id":1},"type":"sent"}"#,
                Incoming::Push,
            ),
            (
                r#"{"x":[{"id":1}],"y":"\"id\":2,\"type\":\"error\"","type":"m"}"#,
                Incoming::Push,
            ),
            (r#"{"s":"a\\","id":5}"#, Incoming::Reply { id: 5 }),
            (
                r#"{"s":"}\"","type":"error","id":6}"#,
                Incoming::Error { id: Some(6) },
            ),
            // An id that is not an unsigned integer is no id.
            (r#"{"type":"sent","id":-1}"#, Incoming::Push),
            (r#"{"type":"sent","id":1.5}"#, Incoming::Push),
            (r#"{"type":"sent","id":"1"}"#, Incoming::Push),
            (
                r#"{"type":"sent","id":18446744073709551616}"#,
                Incoming::Push,
            ),
            (r#"{"type":"sent","id":null}"#, Incoming::Push),
            // The first occurrence counts.
            (r#"{"id":1,"id":2}"#, Incoming::Reply { id: 1 }),
            (r#"{"type":"sent","type":"error"}"#, Incoming::Push),
            // Not an object, or malformed: what the entries before the fault say.
            ("[1,2]", Incoming::Push),
            ("", Incoming::Push),
            (r#""type""#, Incoming::Push),
            (
                r#"{"type":"error","id":8,"#,
                Incoming::Error { id: Some(8) },
            ),
            (r#"{"id":8 "type":"error"}"#, Incoming::Reply { id: 8 }),
            (r#"{"type":"err"#, Incoming::Push),
        ] {
            assert_eq!(classify(text, "type", "id"), want, "{text}");
            assert_eq!(classify(text, "type", "id").id(), want.id(), "{text}");
        }
    }

    #[test]
    fn the_names_are_the_protocols() {
        let text = r#"{"kind":"error","ref":12,"type":"sent","id":1}"#;
        assert_eq!(
            classify(text, "kind", "ref"),
            Incoming::Error { id: Some(12) }
        );
        assert_eq!(classify(text, "type", "id"), Incoming::Reply { id: 1 });
    }

    use proptest::prelude::*;
    use serde_json::Value;

    /// A JSON string literal of `s` with the characters whose bit in `mask` is set written as
    /// `\uXXXX` escapes (surrogate pairs beyond the BMP), the others as serde_json writes them.
    fn escaped(s: &str, mask: u32) -> String {
        let mut out = String::from("\"");
        for (i, c) in s.chars().enumerate() {
            if mask & (1 << (i % 32)) != 0 {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            } else {
                let one = serde_json::to_string(&c.to_string()).unwrap();
                out.push_str(&one[1..one.len() - 1]);
            }
        }
        out.push('"');
        out
    }

    fn render(v: &Value, mask: u32) -> String {
        match v {
            Value::String(s) => escaped(s, mask),
            other => other.to_string(),
        }
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            ".{0,6}".prop_map(Value::from),
            Just(Value::from("error")),
            Just(Value::from("\\")),
            Just(Value::from("}\"],{[\"type\":\"error\",\"id\":1")),
            Just(serde_json::json!({"type": "error", "id": 1})),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z\"\\\\]{0,4}|type|id", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Whatever the object, escapes and spacing: what a real parser reads at the top level.
        #[test]
        fn agrees_with_a_parser(
            fields in proptest::collection::btree_map("[a-z\"\\\\]{0,5}|.{0,3}|ty|ids", value(), 0..5),
            tag in proptest::option::of(prop_oneof![
                3 => Just(Value::from("error")),
                1 => "err.{0,3}".prop_map(Value::from),
                1 => value(),
            ]),
            id in proptest::option::of(prop_oneof![3 => any::<u64>().prop_map(Value::from), 1 => value()]),
            tag_at in any::<usize>(),
            id_at in any::<usize>(),
            masks in any::<[u32; 3]>(),
            spaced in any::<bool>(),
        ) {
            let (sep, colon) = if spaced { (" ,\n", " : ") } else { (",", ":") };
            let entry = |key: String, value: String| format!("{key}{colon}{value}");
            let mut parts: Vec<String> = fields
                .iter()
                .filter(|(k, _)| *k != "type" && *k != "id")
                .map(|(k, v)| entry(escaped(k, masks[0]), render(v, masks[1])))
                .collect();
            if let Some(t) = &tag {
                let at = tag_at % (parts.len() + 1);
                parts.insert(at, entry(escaped("type", masks[2]), render(t, masks[1])));
            }
            if let Some(i) = &id {
                let at = id_at % (parts.len() + 1);
                parts.insert(at, entry(escaped("id", masks[2] >> 4), render(i, masks[1])));
            }
            let text = format!("{{{}}}", parts.join(sep));
            let parsed: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
            let id = parsed.get("id").and_then(Value::as_u64);
            let want = if parsed.get("type").and_then(Value::as_str) == Some("error") {
                Incoming::Error { id }
            } else {
                id.map_or(Incoming::Push, |id| Incoming::Reply { id })
            };
            prop_assert_eq!(classify(&text, "type", "id"), want, "{}", text);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = classify(&text, "type", "id");
        }

        /// Cut anywhere, a frame is still read without a panic.
        #[test]
        fn never_panics_on_cut_frames(at in 0usize..64) {
            let text = r#"{"s":"a\"b\\","n":{"type":[1,{"id":2}]},"type":"error","id":18}"#;
            let cut = &text[..at.min(text.len())];
            let _ = classify(cut, "type", "id");
        }
    }
}
