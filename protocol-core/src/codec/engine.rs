//! The decode engine: the passes that turn JSON into a message.
//!
//! [`decode_from`] (what `decode` runs) reads the tag first when it is the first key and streams
//! the variant's fields straight into its struct; when the tag comes later, it finds it (a
//! byte-level look, or a skim of the entries) and streams the fields in a second pass with the
//! tag known. [`deserialize`] is the generic `Deserialize` path, which buffers the entries
//! instead. The per-shape decoders (`unit_variant`, `struct_variant`, `newtype_variant`) are what
//! the generated `__deserialize_variant` calls, through `__private`. Failures come out as
//! serde_json's own errors; `diagnose` makes them located [`DecodeError`](super::DecodeError)s.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use serde_json::de::Read;
use serde_json::value::RawValue;

use super::locate::{Located, locate};
use crate::protocol::{Keys, OnTag, Protocol};

/// Deserialize a protocol enum from any self-describing deserializer (the correlation id, if
/// any, is accepted and dropped).
pub fn deserialize<'de, T: Protocol, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
    let id = Cell::new(None);
    deserializer.deserialize_map(TaggedVisitor::<T> {
        id: &id,
        marker: PhantomData,
    })
}

/// `#[serde(deserialize_with)]` of the correlation id field: an unsigned integer, never null.
pub fn correlation_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    <u64 as de::Deserialize>::deserialize(deserializer).map(Some)
}

/// Decode one message: tag first in one streaming pass, otherwise the tag found and the fields
/// streamed in a second pass. `read` gives a fresh reader over `bytes` for each pass.
#[inline]
pub(super) fn decode_from<'a, T: Protocol, R: Read<'a>>(
    bytes: &'a [u8],
    id: &Cell<Option<u64>>,
    read: &impl Fn() -> R,
) -> Result<T, serde_json::Error> {
    let tag = match locate(bytes, T::TAG) {
        // Found by a byte-level look: no serde pass needed to find it.
        Located::Later(tag) => Cow::Borrowed(tag),
        Located::First | Located::Unsure => {
            let mut de = serde_json::Deserializer::new(read());
            let first = de
                .deserialize_map(FirstPass::<T> {
                    id,
                    marker: PhantomData,
                })
                .and_then(|v| de.end().map(|()| v));
            match first? {
                Decoded::Done(v) => return Ok(v),
                Decoded::TagLater(tag) => tag,
            }
        }
    };
    // The tag was not the first key: now stream the fields into the variant's struct with the
    // tag known.
    let mut de = serde_json::Deserializer::new(read());
    let seed = VariantSeed::<T> {
        tag: &tag,
        id,
        marker: PhantomData,
    };
    seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v))
}

enum Decoded<'de, T> {
    Done(T),
    TagLater(Cow<'de, str>),
}

/// Tag first: decode in one streaming pass. Otherwise skim the rest (values skipped, not
/// parsed into anything) to find the tag, without allocating an error to bail out.
struct FirstPass<'i, T> {
    id: &'i Cell<Option<u64>>,
    marker: PhantomData<T>,
}

impl<'de, T: Protocol> Visitor<'de> for FirstPass<'_, T> {
    type Value = Decoded<'de, T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        expecting_message::<T>(f)
    }

    #[inline]
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(first) = map.next_key_seed(KeySeed)? else {
            return Err(missing_tag::<T, A::Error>());
        };
        if first == T::TAG {
            let tag = map.next_value_seed(TagSeed)?;
            return finish::<T, _>(&tag, map, Keys::new::<T>(OnTag::Reject, self.id))
                .map(Decoded::Done);
        }
        map.next_value::<IgnoredAny>()?;
        let mut tag = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if key == T::TAG {
                if tag.is_some() {
                    return Err(duplicate_field(T::TAG));
                }
                tag = Some(map.next_value_seed(TagSeed)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        tag.map(Decoded::TagLater)
            .ok_or_else(missing_tag::<T, A::Error>)
    }
}

/// Decodes the fields of a message whose tag is known, skipping the tag wherever it is.
pub(super) struct VariantSeed<'t, T> {
    pub(super) tag: &'t str,
    pub(super) id: &'t Cell<Option<u64>>,
    pub(super) marker: PhantomData<T>,
}

impl<'de, T: Protocol> DeserializeSeed<'de> for VariantSeed<'_, T> {
    type Value = T;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: Protocol> Visitor<'de> for VariantSeed<'_, T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        expecting_message::<T>(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        finish::<T, _>(self.tag, map, Keys::new::<T>(OnTag::Skip, self.id))
    }
}

/// The generic path: tag first streams; otherwise the entries are buffered losslessly (as raw
/// JSON text) and replayed. `decode` avoids the buffer altogether, see [`decode_from`].
struct TaggedVisitor<'a, T> {
    id: &'a Cell<Option<u64>>,
    marker: PhantomData<T>,
}

impl<'de, T: Protocol> Visitor<'de> for TaggedVisitor<'_, T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        expecting_message::<T>(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let Some(first) = map.next_key_seed(KeySeed)? else {
            return Err(missing_tag::<T, A::Error>());
        };
        if first == T::TAG {
            // The common case, and what `encode` writes: the fields stream straight into the
            // variant's struct.
            let tag = map.next_value_seed(TagSeed)?;
            return finish::<T, _>(&tag, map, Keys::new::<T>(OnTag::Reject, self.id));
        }
        buffered::<T, A>(first, map, self.id)
    }
}

fn expecting_message<T: Protocol>(f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(
        f,
        "a JSON object with a \"{}\" field naming the message type",
        T::TAG
    )
}

/// Decode the rest of a message whose tag is known. `keys.on_tag` says whether the tag was
/// consumed already (a second one is a duplicate) or is still among the fields (skip it).
fn finish<'de, T: Protocol, M: MapAccess<'de>>(
    tag: &str,
    map: M,
    keys: Keys<'_>,
) -> Result<T, M::Error> {
    match T::__variant_index(tag) {
        Some(index) => T::__deserialize_variant(index, map, keys),
        None if T::HAS_OTHER => {
            // The catch-all keeps everything, the correlation id included.
            let filtered = TagFiltered {
                inner: map,
                tag: keys.tag,
                on_tag: keys.on_tag,
                id: None,
            };
            let mut raw: serde_json::Map<String, serde_json::Value> =
                de::Deserialize::deserialize(MapAccessDeserializer::new(filtered))?;
            keys.set_id(raw.get(keys.id_field).and_then(serde_json::Value::as_u64));
            raw.insert(T::TAG.to_owned(), serde_json::Value::String(tag.to_owned()));
            T::__other(tag.to_owned(), serde_json::Value::Object(raw))
                .ok_or_else(|| M::Error::custom("the catch-all variant rejected the message"))
        }
        None => Err(unknown_type::<T, M::Error>(tag)),
    }
}

fn buffered<'de, T: Protocol, A: MapAccess<'de>>(
    first: Cow<'de, str>,
    mut map: A,
    id: &Cell<Option<u64>>,
) -> Result<T, A::Error> {
    // Raw JSON text keeps every number exactly (u64, i128, floats, arbitrary precision) and lets
    // integer-keyed maps parse their keys, which serde's internal `Content` buffer does not.
    let mut entries: Vec<(Cow<'de, str>, Box<RawValue>)> = Vec::new();
    let mut tag: Option<Cow<'de, str>> = None;
    let mut key = Some(first);
    while let Some(k) = key {
        if k == T::TAG {
            if tag.is_some() {
                return Err(duplicate_field(T::TAG));
            }
            tag = Some(map.next_value_seed(TagSeed)?);
        } else {
            entries.push((k, map.next_value()?));
        }
        key = map.next_key_seed(KeySeed)?;
    }
    let Some(tag) = tag else {
        return Err(missing_tag::<T, A::Error>());
    };
    let replay = BufferedMap {
        entries: entries.iter(),
        value: None,
    };
    finish::<T, _>(&tag, replay, Keys::new::<T>(OnTag::Reject, id)).map_err(A::Error::custom)
}

struct BufferedMap<'x, 'de> {
    entries: std::slice::Iter<'x, (Cow<'de, str>, Box<RawValue>)>,
    value: Option<&'x RawValue>,
}

impl<'x> MapAccess<'x> for BufferedMap<'x, '_> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'x>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(BorrowedStrDeserializer::new(key))
                    .map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'x>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(raw) => seed.deserialize(raw),
            None => Err(serde_json::Error::custom("value requested before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A map of a message's fields with the tag taken out (rejected or skipped) and the correlation
/// id captured, handed to the variant's decoder.
struct TagFiltered<'a, M> {
    inner: M,
    tag: &'static str,
    on_tag: OnTag,
    /// The id field and where to put its value; `None` leaves the id among the fields.
    id: Option<(&'static str, &'a Cell<Option<u64>>)>,
}

impl<'a, M> TagFiltered<'a, M> {
    fn new(inner: M, keys: Keys<'a>) -> Self {
        TagFiltered {
            inner,
            tag: keys.tag,
            on_tag: keys.on_tag,
            id: Some((keys.id_field, keys.id)),
        }
    }
}

impl<'de, M: MapAccess<'de>> MapAccess<'de> for TagFiltered<'_, M> {
    type Error = M::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        loop {
            let Some(key) = self.inner.next_key_seed(KeySeed)? else {
                return Ok(None);
            };
            if key == self.tag {
                match self.on_tag {
                    OnTag::Reject => return Err(duplicate_field(self.tag)),
                    OnTag::Skip => {
                        self.inner.next_value::<IgnoredAny>()?;
                        continue;
                    }
                }
            }
            if let Some((id_field, slot)) = self.id
                && key == id_field
            {
                if slot.get().is_some() {
                    return Err(duplicate_field(id_field));
                }
                slot.set(self.inner.next_value_seed(IdSeed)?);
                continue;
            }
            return match key {
                Cow::Borrowed(k) => seed.deserialize(BorrowedStrDeserializer::new(k)),
                Cow::Owned(k) => seed.deserialize(StringDeserializer::new(k)),
            }
            .map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

struct IdSeed;

impl<'de> DeserializeSeed<'de> for IdSeed {
    type Value = Option<u64>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        correlation_id(deserializer)
    }
}

/// Reads a map key as a string, borrowed from the input when it has no escapes.
pub(super) struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(CowStrVisitor("a field name"))
    }
}

/// Reads the tag's value, which must be a string.
struct TagSeed;

impl<'de> DeserializeSeed<'de> for TagSeed {
    type Value = Cow<'de, str>;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(CowStrVisitor("a string naming the message type"))
    }
}

struct CowStrVisitor(&'static str);

impl<'de> Visitor<'de> for CowStrVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    #[inline]
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    #[inline]
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    #[inline]
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

fn missing_tag<T: Protocol, E: de::Error>() -> E {
    E::custom(format_args!(
        "missing message type field \"{}\"; expected one of: {}",
        T::TAG,
        T::TYPES.join(", ")
    ))
}

fn unknown_type<T: Protocol, E: de::Error>(tag: &str) -> E {
    E::custom(format_args!(
        "unknown message type \"{}\"; expected one of: {}",
        tag.escape_debug(),
        T::TYPES.join(", ")
    ))
}

fn duplicate_field<E: de::Error>(field: &str) -> E {
    E::custom(format_args!("duplicate field `{field}`"))
}

/// Decode a unit variant: no fields, extra ones ignored (like serde) or rejected.
#[inline]
pub fn unit_variant<'de, M: MapAccess<'de>>(
    map: M,
    keys: Keys<'_>,
    deny_unknown_fields: bool,
) -> Result<(), M::Error> {
    let mut map = TagFiltered::new(map, keys);
    while let Some(key) = map.next_key_seed(KeySeed)? {
        if deny_unknown_fields {
            return Err(M::Error::custom(format_args!(
                "unknown field `{key}`, there are no fields"
            )));
        }
        map.next_value::<IgnoredAny>()?;
    }
    Ok(())
}

/// Decode a struct variant's generated struct from the remaining fields. The struct has guard
/// fields named like the tag and the id, so with the tag consumed the map goes in unwrapped: the
/// tag-first path costs what a plain struct costs. The caller passes the struct's captured id
/// to [`Keys::set_id`].
#[inline]
pub fn struct_variant<'de, S: de::Deserialize<'de>, M: MapAccess<'de>>(
    map: M,
    keys: Keys<'_>,
) -> Result<S, M::Error> {
    match keys.on_tag {
        OnTag::Reject => S::deserialize(MapAccessDeserializer::new(map)),
        OnTag::Skip => S::deserialize(MapAccessDeserializer::new(TagFiltered::new(map, keys))),
    }
}

/// A field named like the tag in a struct variant's generated struct: present means the tag
/// came twice.
pub struct DuplicateTag<T>(PhantomData<T>);

impl<T> Default for DuplicateTag<T> {
    fn default() -> Self {
        DuplicateTag(PhantomData)
    }
}

impl<'de, T: Protocol> de::Deserialize<'de> for DuplicateTag<T> {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(duplicate_field(T::TAG))
    }
}

/// Decode a newtype variant's inner struct; with `deny_unknown_fields`, any field the inner type
/// ignored is an error, as it is for every other variant shape.
pub fn newtype_variant<'de, S: de::Deserialize<'de>, M: MapAccess<'de>>(
    map: M,
    keys: Keys<'_>,
    deny_unknown_fields: bool,
) -> Result<S, M::Error> {
    let map = TagFiltered::new(map, keys);
    if !deny_unknown_fields {
        return S::deserialize(MapAccessDeserializer::new(map));
    }
    let mut unknown: Option<String> = None;
    let value = serde_ignored::deserialize(MapAccessDeserializer::new(map), |path| {
        if unknown.is_none()
            && let serde_ignored::Path::Map {
                parent: serde_ignored::Path::Root,
                key,
            } = path
        {
            unknown = Some(key);
        }
    })?;
    match unknown {
        Some(key) => Err(M::Error::custom(format_args!("unknown field `{key}`"))),
        None => Ok(value),
    }
}

/// Serialize the catch-all variant: the tag it was received with, then the rest of the raw
/// message (which already holds the tag when it came from the decoder).
pub fn serialize_other<S: serde::Serializer>(
    serializer: S,
    tag_field: &str,
    tag: &str,
    raw: &serde_json::Value,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let fields = raw.as_object();
    let mut map = serializer.serialize_map(None)?;
    map.serialize_entry(tag_field, tag)?;
    for (k, v) in fields.into_iter().flatten() {
        if k != tag_field {
            map.serialize_entry(k, v)?;
        }
    }
    map.end()
}
