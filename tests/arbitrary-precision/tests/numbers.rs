//! With serde_json's `arbitrary_precision`, numbers keep every digit on both decode paths (tag
//! first, tag later) and through the generic buffered path: serde's `Content` buffer loses them.

use protocol_core::{Protocol, decode, encode};
use serde_json::{Number, Value};

#[derive(Debug, PartialEq, Protocol)]
#[protocol(rename_all = "snake_case")]
enum Msg {
    Big { n: Number, v: Value, small: u64 },
}

#[test]
fn every_digit_survives_both_paths() {
    let digits = "123456789012345678901234567890.12345678901234567890";
    let first = format!(r#"{{"type":"big","n":{digits},"v":[1e400,-0.0],"small":18446744073709551615}}"#);
    let last = format!(r#"{{"n":{digits},"v":[1e400,-0.0],"small":18446744073709551615,"type":"big"}}"#);
    let a: Msg = decode(&first).unwrap();
    let b: Msg = decode(&last).unwrap();
    let c: Msg = serde_json::from_str(&last).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    let Msg::Big { n, v, small } = &a;
    assert_eq!(n.to_string(), digits);
    // serde_json writes the exponent as `e+400`: the value, not the spelling, is kept.
    assert_eq!(v.to_string(), "[1e+400,-0.0]");
    assert_eq!(*small, u64::MAX);
    let again: Msg = decode(&encode(&a).unwrap()).unwrap();
    assert_eq!(again, a);
}
