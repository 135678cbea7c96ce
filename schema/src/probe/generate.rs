//! Schema-valid client messages, generated from the exported JSON Schema with a seeded PRNG.
//!
//! The generator covers what the exports use: `oneOf` of variants with a const tag, objects
//! with required and optional fields (present and absent, under their name or an alias),
//! strings within `minLength`/`maxLength`, integers within `minimum`/`maximum` (edges
//! included), numbers, booleans, `null`, arrays and tuples, maps, enums and local `$ref`s. It
//! aims at valid documents but does not have to hit them: every message is checked against
//! the schema before it is sent as valid, and regenerated when it misses (a `pattern`, say).

use serde_json::{Map, Value};

use crate::model::{Field, Fields, ProtocolView, VariantView};

/// A small seeded PRNG (SplitMix64): the same seed gives the same cases on every machine.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// One of `items` (None when empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let n = items.len() as u64;
        (n > 0).then(|| &items[self.below(n) as usize])
    }

    /// Uniform in `lo..=hi`.
    pub fn in_range(&mut self, lo: i128, hi: i128) -> i128 {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo) as u128 + 1;
        let r = (u128::from(self.next_u64()) << 64 | u128::from(self.next_u64())) % span;
        lo + r as i128
    }
}

/// Nesting beyond which the generator takes the shortest way out (optional fields absent,
/// empty arrays, the first branch that ends), so recursive types terminate.
const DEEP: usize = 6;

/// Characters strings are made of: ASCII, a space, an escape-worthy quote, non-ASCII.
const ALPHABET: &[char] = &[
    'a', 'b', 'c', 'x', 'y', 'z', 'A', 'Q', '0', '1', '7', '9', '_', '-', '.', ':', ' ', '"', '\\',
    'é', 'ß', '中', '🙂',
];

/// Generates JSON values for the subschemas of one protocol schema.
pub(crate) struct Gen<'a> {
    root: &'a Value,
    /// Strings from the setup and its answers (the room joined): a generated string field
    /// takes one of them three times in eight, so traffic reaches the handlers behind them.
    pub setup_pool: Vec<String>,
    /// Strings from the answers to requests (ids, keys): taken one time in eight, so that
    /// lookups of things that exist are tried too.
    pub pool: Vec<String>,
}

impl<'a> Gen<'a> {
    /// A generator for the subschemas of `root` (which holds the `$defs`).
    pub fn new(root: &'a Value) -> Self {
        Gen {
            root,
            setup_pool: Vec::new(),
            pool: Vec::new(),
        }
    }

    /// The fields of a message of `variant` (the tag included, the correlation field left to
    /// the caller), in encoder order: tag first.
    pub fn message(
        &self,
        rng: &mut Rng,
        view: &ProtocolView<'_>,
        variant: &VariantView<'_>,
        id_field: &str,
    ) -> Vec<(String, Value)> {
        let tag_value = if variant.catch_all {
            Value::String(format!("probe_unknown_{}", rng.below(1000)))
        } else if variant.tags.len() > 1 && rng.chance(1, 3) {
            Value::String(rng.pick(&variant.tags).cloned().unwrap_or_default())
        } else {
            Value::String(variant.wire.clone())
        };
        let mut fields = vec![(view.tag.clone(), tag_value)];
        let skip = [view.tag.as_str(), id_field];
        let body = Fields::of(variant.schema, Some(&view.tag));
        for f in &body.fields {
            if skip.contains(&f.name.as_str()) {
                continue;
            }
            if let Some((name, value)) = self.field(rng, f, 0) {
                fields.push((name, value));
            }
        }
        fields
    }

    /// A field, or None when it is optional and left out this time.
    fn field(&self, rng: &mut Rng, f: &Field<'_>, depth: usize) -> Option<(String, Value)> {
        let present = f.required || (depth < DEEP && rng.chance(1, 2));
        if !present {
            return None;
        }
        let name = if !f.aliases.is_empty() && rng.chance(1, 3) {
            rng.pick(&f.aliases)
                .cloned()
                .unwrap_or_else(|| f.name.clone())
        } else {
            f.name.clone()
        };
        let value = self.value(rng, f.schema, depth + 1)?;
        Some((name, value))
    }

    /// A value for `schema`; None when the schema accepts nothing the generator can make.
    pub fn value(&self, rng: &mut Rng, schema: &Value, depth: usize) -> Option<Value> {
        let obj = match schema {
            Value::Bool(true) => return Some(self.anything(rng, depth)),
            Value::Bool(false) => return None,
            Value::Object(o) => o,
            _ => return None,
        };
        if let Some(Value::String(r)) = obj.get("$ref") {
            let target = r.strip_prefix('#').and_then(|p| self.root.pointer(p))?;
            return self.value(rng, target, depth + 1);
        }
        if let Some(c) = obj.get("const") {
            return Some(c.clone());
        }
        if let Some(Value::Array(options)) = obj.get("enum") {
            return rng.pick(options).cloned();
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(Value::Array(branches)) = obj.get(key) {
                return self.branch(rng, branches, depth);
            }
        }
        let types: Vec<&str> = match obj.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ if obj.contains_key("properties") => vec!["object"],
            _ if obj.contains_key("items") || obj.contains_key("prefixItems") => vec!["array"],
            _ => return Some(self.anything(rng, depth)),
        };
        // `null` is the way out of deep optional nesting; otherwise it is one choice of five.
        let non_null: Vec<&str> = types.iter().copied().filter(|t| *t != "null").collect();
        let ty = if types.contains(&"null")
            && (non_null.is_empty() || depth >= DEEP || rng.chance(1, 5))
        {
            "null"
        } else {
            rng.pick(&non_null).copied()?
        };
        match ty {
            "null" => Some(Value::Null),
            "boolean" => Some(Value::Bool(rng.chance(1, 2))),
            "integer" => Some(integer(rng, obj)),
            "number" => Some(number(rng, obj)),
            "string" => Some(Value::String(self.string(rng, obj))),
            "array" => self.array(rng, obj, depth),
            "object" => self.object(rng, schema, depth),
            _ => None,
        }
    }

    fn branch(&self, rng: &mut Rng, branches: &[Value], depth: usize) -> Option<Value> {
        if branches.is_empty() {
            return None;
        }
        let start = if depth >= DEEP {
            0
        } else {
            rng.below(branches.len() as u64) as usize
        };
        (0..branches.len()).find_map(|k| {
            let b = &branches[(start + k) % branches.len()];
            self.value(rng, b, depth + 1)
        })
    }

    fn string(&self, rng: &mut Rng, obj: &Map<String, Value>) -> String {
        let min = obj.get("minLength").and_then(Value::as_u64).unwrap_or(0);
        let max = obj
            .get("maxLength")
            .and_then(Value::as_u64)
            .unwrap_or(min + 16)
            .min(min + 64);
        let pool = match rng.below(8) {
            0..=2 => &self.setup_pool,
            3 => &self.pool,
            _ => &Vec::new(),
        };
        if !pool.is_empty() {
            let s = rng.pick(pool).cloned().unwrap_or_default();
            let n = s.chars().count() as u64;
            if (min..=max).contains(&n) {
                return s;
            }
        }
        let len = if rng.chance(1, 8) {
            min
        } else {
            min + rng.below(max - min + 1)
        };
        (0..len)
            .map(|_| {
                if rng.chance(3, 4) {
                    ALPHABET[rng.below(12) as usize]
                } else {
                    rng.pick(ALPHABET).copied().unwrap_or('a')
                }
            })
            .collect()
    }

    fn array(&self, rng: &mut Rng, obj: &Map<String, Value>, depth: usize) -> Option<Value> {
        let mut out = Vec::new();
        if let Some(Value::Array(prefix)) = obj.get("prefixItems") {
            for s in prefix {
                out.push(self.value(rng, s, depth + 1)?);
            }
            return Some(Value::Array(out));
        }
        let min = obj.get("minItems").and_then(Value::as_u64).unwrap_or(0);
        let max = obj
            .get("maxItems")
            .and_then(Value::as_u64)
            .unwrap_or(min + 3)
            .min(min + 4);
        let len = if depth >= DEEP {
            min
        } else {
            min + rng.below(max - min + 1)
        };
        let items = obj.get("items").cloned().unwrap_or(Value::Bool(true));
        for _ in 0..len {
            out.push(self.value(rng, &items, depth + 1)?);
        }
        Some(Value::Array(out))
    }

    fn object(&self, rng: &mut Rng, schema: &Value, depth: usize) -> Option<Value> {
        let mut out = Map::new();
        for f in &Fields::of(schema, None).fields {
            if let Some((name, value)) = self.field(rng, f, depth) {
                out.insert(name, value);
            }
        }
        // A map (`additionalProperties` with a schema): a few entries.
        if let Some(values @ Value::Object(_)) = schema.get("additionalProperties") {
            let numeric_keys = schema.get("propertyNames").is_some();
            let n = if depth >= DEEP { 0 } else { rng.below(3) };
            for _ in 0..n {
                let key = if numeric_keys {
                    rng.below(10_000).to_string()
                } else {
                    self.string(rng, &Map::new())
                };
                out.insert(key, self.value(rng, values, depth + 1)?);
            }
        }
        Some(Value::Object(out))
    }

    /// A small value of any kind, for schemas that accept anything.
    fn anything(&self, rng: &mut Rng, depth: usize) -> Value {
        match if depth >= DEEP {
            rng.below(4)
        } else {
            rng.below(6)
        } {
            0 => Value::Null,
            1 => Value::Bool(rng.chance(1, 2)),
            2 => Value::from(rng.below(100)),
            3 => Value::String(self.string(rng, &Map::new())),
            4 => Value::Array(vec![self.anything(rng, depth + 1)]),
            _ => {
                let mut m = Map::new();
                m.insert("k".into(), self.anything(rng, depth + 1));
                Value::Object(m)
            }
        }
    }
}

/// The inclusive integer range a schema allows, clamped to what JSON integers carry here.
pub(crate) fn integer_range(obj: &Map<String, Value>) -> (i128, i128) {
    let bound = |key: &str| -> Option<i128> {
        let v = obj.get(key)?;
        v.as_i64()
            .map(i128::from)
            .or_else(|| v.as_u64().map(i128::from))
            .or_else(|| {
                v.as_f64()
                    .map(|f| f.clamp(i64::MIN as f64, u64::MAX as f64) as i128)
            })
    };
    let mut lo = bound("minimum").unwrap_or(i128::from(i64::MIN));
    let mut hi = bound("maximum").unwrap_or(i128::from(u64::MAX));
    if let Some(e) = bound("exclusiveMinimum") {
        lo = lo.max(e + 1);
    }
    if let Some(e) = bound("exclusiveMaximum") {
        hi = hi.min(e - 1);
    }
    (lo.max(i128::from(i64::MIN)), hi.min(i128::from(u64::MAX)))
}

/// An integer inside the range: an edge, something small, or anything.
fn integer(rng: &mut Rng, obj: &Map<String, Value>) -> Value {
    let (lo, hi) = integer_range(obj);
    let n = match rng.below(10) {
        0 => lo,
        1 => hi,
        2..=6 => rng.in_range(lo.max(-100), hi.min(100).max(lo.max(-100))),
        _ => rng.in_range(lo, hi),
    };
    let n = n.clamp(lo, hi);
    if n >= 0 {
        Value::from(n as u64)
    } else {
        Value::from(n as i64)
    }
}

fn number(rng: &mut Rng, obj: &Map<String, Value>) -> Value {
    let lo = obj.get("minimum").and_then(Value::as_f64).unwrap_or(-1e6);
    let hi = obj.get("maximum").and_then(Value::as_f64).unwrap_or(1e6);
    let x = (rng.below(16_001) as f64 - 8000.0) / 8.0;
    serde_json::Number::from_f64(x.clamp(lo, hi)).map_or(Value::from(0), Value::Number)
}

/// Compact JSON of an object whose keys come in the given order (serde_json sorts maps, and
/// the order of the tag is part of what is tested).
pub(crate) fn render(fields: &[(String, String)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::String(k.clone()).to_string());
        out.push(':');
        out.push_str(v);
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn same_seed_same_values() {
        let root = json!({"type": "object", "properties": {
            "n": {"type": "integer", "minimum": 0, "maximum": 255},
            "s": {"type": "string", "minLength": 2, "maxLength": 5},
            "a": {"type": "array", "items": {"type": "boolean"}}
        }, "required": ["n", "s", "a"]});
        let g = Gen::new(&root);
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..20)
                .map(|_| g.value(&mut rng, &root, 0).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        for v in run(3) {
            let n = v["n"].as_u64().unwrap();
            assert!(n <= 255, "{v}");
            let s = v["s"].as_str().unwrap().chars().count();
            assert!((2..=5).contains(&s), "{v}");
            assert!(v["a"].is_array(), "{v}");
        }
    }

    #[test]
    fn integer_edges_stay_in_range() {
        let o = json!({"minimum": -128, "maximum": 127});
        let mut rng = Rng::new(1);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let v = integer(&mut rng, o.as_object().unwrap()).as_i64().unwrap();
            assert!((-128..=127).contains(&v));
            seen.insert(v);
        }
        assert!(seen.contains(&-128) && seen.contains(&127));
    }

    #[test]
    fn render_keeps_the_order() {
        let f = vec![
            ("type".to_owned(), "\"a\"".to_owned()),
            ("id".into(), "1".into()),
        ];
        assert_eq!(render(&f), r#"{"type":"a","id":1}"#);
    }
}
