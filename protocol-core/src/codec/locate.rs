//! Byte-level looks at a message's top-level keys, before (or instead of) a parse.
//!
//! [`locate`]: is the tag the first key, and if not, where is it? Only the top level is
//! examined and nothing is validated: whenever the input is anything but plain, the answer is
//! "unsure" and the serde-based path decides (and reports the error). So this can make decoding
//! faster, never different. [`entries`] walks the top-level entries for the best-effort reads
//! that must not fail: the correlation id of a frame that did not decode ([`find_u64`]) and
//! what kind of frame arrived (`classify`).

/// What the look found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Located<'a> {
    /// The tag is the first key.
    First,
    /// The tag is a later key; its value is this string (no escapes in it), and it occurs once.
    Later(&'a str),
    /// Anything else: let serde work it out.
    Unsure,
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    i
}

/// `b[i]` is the opening quote; returns the index after the closing quote and whether the
/// string had escapes.
fn skip_string(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    i += 1;
    let mut escaped = false;
    loop {
        i = next_quote_or_backslash(b, i);
        match *b.get(i)? {
            b'"' => return Some((i + 1, escaped)),
            _ => {
                escaped = true;
                i += 2;
            }
        }
    }
}

/// The index of the first `"` or `\` at or after `i` (`b.len()` when there is none), eight bytes
/// at a time: the text of a message is most of its bytes, and a string is skipped in a few steps
/// instead of one branch per byte.
#[inline]
fn next_quote_or_backslash(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    // A byte of `x` is zero exactly where the lowest set high bit of this is (higher bits may
    // be false alarms, so only the lowest one is used).
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let found = zero_bytes(w ^ QUOTES) | zero_bytes(w ^ BACKSLASHES);
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && b[i] != b'"' && b[i] != b'\\' {
        i += 1;
    }
    i.min(b.len())
}

/// Skip one value starting at `b[i]`; nested containers are skipped by bracket depth.
fn skip_value(b: &[u8], mut i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => skip_string(b, i).map(|(end, _)| end),
        b'{' | b'[' => {
            let mut depth = 0usize;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = skip_string(b, i)?.0;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            while i < b.len() && !matches!(b[i], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
            {
                i += 1;
            }
            Some(i)
        }
    }
}

/// Look for the top-level key `tag` in `input`.
#[inline]
pub(super) fn locate<'a>(input: &'a [u8], tag: &str) -> Located<'a> {
    // What `encode` writes, checked in a few instructions: `{"type":`.
    let tag = tag.as_bytes();
    if input.len() > tag.len() + 3
        && input[0] == b'{'
        && input[1] == b'"'
        && &input[2..2 + tag.len()] == tag
        && input[2 + tag.len()] == b'"'
    {
        return Located::First;
    }
    locate_inner(input, tag).unwrap_or(Located::Unsure)
}

fn locate_inner<'a>(b: &'a [u8], tag: &[u8]) -> Option<Located<'a>> {
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut found: Option<&'a str> = None;
    let mut first = true;
    i = skip_ws(b, i + 1);
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let (key_end, key_escaped) = skip_string(b, i)?;
        if key_escaped {
            return None;
        }
        let key = &b[i + 1..key_end - 1];
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        if key == tag {
            if first {
                return Some(Located::First);
            }
            if found.is_some() || b.get(i) != Some(&b'"') {
                return None;
            }
            let (end, escaped) = skip_string(b, i)?;
            if escaped {
                return None;
            }
            found = Some(std::str::from_utf8(&b[i + 1..end - 1]).ok()?);
            i = end;
        } else {
            i = skip_value(b, i)?;
        }
        first = false;
        i = skip_ws(b, i);
        match b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b'}' => return found.map(Located::Later),
            _ => return None,
        }
    }
}

/// The top-level entries of the JSON object in `b`, in order, as (key, value): the key's bytes
/// with their quotes (escapes not decoded, see [`string_is`]) and the value's bytes. Nested
/// values are skipped by bracket depth, strings by their quotes, so neither can pass for a
/// top-level key. Not a validator: the walk ends, without error, at the first thing that is not
/// an entry, so on malformed input it gives the entries before the fault.
pub(super) fn entries(b: &[u8]) -> Entries<'_> {
    Entries {
        b,
        at: None,
        done: false,
    }
}

/// The iterator of [`entries`].
pub(super) struct Entries<'a> {
    b: &'a [u8],
    /// Just after the previous entry's value; `None` before the first.
    at: Option<usize>,
    done: bool,
}

impl<'a> Entries<'a> {
    fn step(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        let b = self.b;
        let mut i = match self.at {
            None => {
                let i = skip_ws(b, 0);
                if b.get(i) != Some(&b'{') {
                    return None;
                }
                skip_ws(b, i + 1)
            }
            Some(at) => {
                let i = skip_ws(b, at);
                if b.get(i) != Some(&b',') {
                    return None;
                }
                skip_ws(b, i + 1)
            }
        };
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let (key_end, _) = skip_string(b, i)?;
        let key = &b[i..key_end];
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let end = skip_value(b, i)?;
        self.at = Some(end);
        Some((key, &b[i..end]))
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let entry = self.step();
        self.done = entry.is_none();
        entry
    }
}

/// Whether `quoted` (a JSON string with its quotes, as [`entries`] gives keys and values) is
/// the string `want`, escapes decoded: `"i\u0064"` is `id`. Escapes are rare, and then a real
/// parser decodes them.
pub(super) fn string_is(quoted: &[u8], want: &str) -> bool {
    let Some(inner) = quoted
        .strip_prefix(b"\"")
        .and_then(|q| q.strip_suffix(b"\""))
    else {
        return false;
    };
    if !inner.contains(&b'\\') {
        return inner == want.as_bytes();
    }
    serde_json::from_slice::<String>(quoted).is_ok_and(|s| s == want)
}

/// `value` as an unsigned integer, when it is one.
pub(super) fn as_u64(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// The value of top-level key `field` (its first occurrence) when it is an unsigned integer;
/// best effort, for putting the correlation id on the error reply of a frame that did not
/// decode.
pub(super) fn find_u64(b: &[u8], field: &str) -> Option<u64> {
    entries(b)
        .find(|(key, _)| string_is(key, field))
        .and_then(|(_, value)| as_u64(value))
}

/// In compact JSON written by `encode` (`{"type":"x",...}`), the index just after the first
/// entry's value.
pub(super) fn end_of_first_entry(b: &[u8]) -> Option<usize> {
    if b.first() != Some(&b'{') || b.get(1) != Some(&b'"') {
        return None;
    }
    let (key_end, _) = skip_string(b, 1)?;
    if b.get(key_end) != Some(&b':') {
        return None;
    }
    skip_value(b, key_end + 1)
}

#[cfg(test)]
mod tests {
    use super::{Located, locate};

    #[test]
    fn finds_the_tag() {
        assert_eq!(locate(br#"{"type":"a","x":1}"#, "type"), Located::First);
        assert_eq!(locate(b" {\n \"type\" : 5}", "type"), Located::First);
        assert_eq!(
            locate(br#"{"x":1,"type":"a"}"#, "type"),
            Located::Later("a")
        );
        assert_eq!(
            locate(
                br#"{"x":{"type":"no","y":[1,{"z":"}"}]},"s":"a\"}b","type":"yes"}"#,
                "type"
            ),
            Located::Later("yes")
        );
        assert_eq!(
            locate(br#"{"x":true, "n": -1.5e3 ,"type" : "a" }"#, "type"),
            Located::Later("a")
        );
    }

    #[test]
    fn the_word_scan_finds_the_first_quote_or_backslash() {
        use super::next_quote_or_backslash;
        for len in 0..40 {
            for at in 0..=len {
                for stop in [b'"', b'\\'] {
                    // Non-ASCII and near-miss bytes around the stop, which the word test must not
                    // take for it.
                    let mut b: Vec<u8> =
                        (0..len).map(|i| [b'a', 0xe2, b'#', b']'][i % 4]).collect();
                    if at < len {
                        b[at] = stop;
                        if at + 1 < len {
                            b[at + 1] = b'"';
                        }
                    }
                    for from in 0..=at.min(len) {
                        let naive = (from..len)
                            .find(|&i| b[i] == b'"' || b[i] == b'\\')
                            .unwrap_or(len);
                        assert_eq!(
                            next_quote_or_backslash(&b, from),
                            naive,
                            "{b:?} from {from}"
                        );
                    }
                }
            }
        }
        assert_eq!(next_quote_or_backslash(b"abc", 7), 3);
    }

    #[test]
    fn finds_ids_and_entry_ends() {
        use super::{end_of_first_entry, find_u64};
        assert_eq!(find_u64(br#"{"type":"a","id":42,"x":1}"#, "id"), Some(42));
        assert_eq!(find_u64(br#"{"x":{"id":1},"id" : 7 }"#, "id"), Some(7));
        assert_eq!(find_u64(br#"{"id":"7"}"#, "id"), None);
        assert_eq!(find_u64(br#"{"id":-1}"#, "id"), None);
        assert_eq!(find_u64(br#"{"type":"a"}"#, "id"), None);
        assert_eq!(find_u64(br#"{"i\u0064":3}"#, "id"), Some(3));
        assert_eq!(end_of_first_entry(br#"{"type":"a\"b","x":1}"#), Some(14));
        assert_eq!(end_of_first_entry(br#"{"type":"a"}"#), Some(11));
    }

    #[test]
    fn entries_walk_the_top_level_only() {
        use super::{entries, string_is};
        let text = br#" { "a" : {"b":[1,"}"]} , "c\u0064":"x\"y", "e":-1.5e3}"#;
        let got: Vec<(&[u8], &[u8])> = entries(text).collect();
        assert_eq!(
            got,
            [
                (&br#""a""#[..], &br#"{"b":[1,"}"]}"#[..]),
                (br#""c\u0064""#, br#""x\"y""#),
                (br#""e""#, b"-1.5e3"),
            ]
        );
        assert!(string_is(got[1].0, "cd"));
        assert!(string_is(got[1].1, "x\"y"));
        assert!(!string_is(got[2].1, "-1.5e3"));
        // The walk stops at the first thing that is not an entry.
        assert_eq!(entries(br#"{"a":1 "b":2}"#).count(), 1);
        assert_eq!(entries(br#"[{"a":1}]"#).count(), 0);
    }

    #[test]
    fn unsure_about_anything_unusual() {
        for input in [
            &br#"{"x":1}"#[..],
            br#"{"x":1,"type":"a","type":"b"}"#,
            br#"{"x":1,"type":"a\u0062"}"#,
            br#"{"x":1,"typ\u0065":"a"}"#,
            br#"{"x":1,"type":5}"#,
            br#"[1]"#,
            br#"{"x":1,"type":"a""#,
            br#"{"x":[1,"type":"a"}"#,
            b"",
            br#"{}"#,
        ] {
            assert_eq!(
                locate(input, "type"),
                Located::Unsure,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    use proptest::prelude::*;

    fn leaf() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            ".{0,8}".prop_map(serde_json::Value::from),
            Just(serde_json::Value::from("}\"],{[\"type\":")),
        ]
    }

    fn value() -> impl Strategy<Value = serde_json::Value> {
        leaf().prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map(".{0,5}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Whatever the look says is what a real parser sees; it may only be unsure.
        #[test]
        fn agrees_with_a_parser(
            fields in proptest::collection::vec(("[a-z\\\"]{0,5}", value()), 0..5),
            tag in proptest::option::of(".{0,6}"),
            at in any::<usize>(),
            spaced in any::<bool>(),
        ) {
            let mut parts: Vec<String> = fields
                .iter()
                .filter(|(k, _)| k != "type")
                .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v))
                .collect();
            if let Some(t) = &tag {
                let pos = at % (parts.len() + 1);
                parts.insert(pos, format!("\"type\":{}", serde_json::to_string(t).unwrap()));
            }
            let sep = if spaced { " , " } else { "," };
            let text = format!("{{{}}}", parts.join(sep));
            let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
            let first_key_is_tag = text.starts_with("{\"type\"");
            match locate(text.as_bytes(), "type") {
                Located::First => prop_assert!(first_key_is_tag, "{}", text),
                Located::Later(t) => {
                    prop_assert!(!first_key_is_tag);
                    prop_assert_eq!(parsed.get("type").and_then(|v| v.as_str()), Some(t));
                }
                // Allowed whenever the input is unusual (escapes in keys or in the tag).
                Located::Unsure => {}
            }
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = locate(&bytes, "type");
        }
    }
}
