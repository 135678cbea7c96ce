//! Reading parameters of an upgrade request's query string (`/ws?user=alice&token=...`).

use std::borrow::Cow;

/// The value of the first `name=value` pair of `query` (the part after `?`), percent-decoded
/// (`%20` and `+` are spaces, as browsers' `URLSearchParams` write them). `None` when absent;
/// a value that is not UTF-8 after decoding is lossily converted.
///
/// ```
/// use protocol_core::query::param;
///
/// assert_eq!(param("a=1&user=alice", "user").as_deref(), Some("alice"));
/// assert_eq!(param("user=al%69ce+b", "user").as_deref(), Some("alice b"));
/// assert_eq!(param("username=x", "user"), None);
/// assert_eq!(param("", "user"), None);
/// ```
pub fn param<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(key) == name).then(|| decode(value))
    })
}

fn decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| {
                    std::str::from_utf8(h)
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                });
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    // A lone `%` stands for itself.
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::param;

    #[test]
    fn percent_decoding_and_edges() {
        assert_eq!(param("x=%zz&x=2", "x").as_deref(), Some("%zz"));
        assert_eq!(param("x=%4", "x").as_deref(), Some("%4"));
        assert_eq!(param("flag&x=1", "flag").as_deref(), Some(""));
        assert_eq!(param("us%65r=bob", "user").as_deref(), Some("bob"));
        assert_eq!(param("user=%C3%A9", "user").as_deref(), Some("é"));
        assert_eq!(param("user=%FF", "user").as_deref(), Some("\u{FFFD}"));
    }
}
