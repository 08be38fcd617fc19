//! Reading a few members of a JSON text without building the rest: serde visitors driven by
//! `deserialize_any` that keep what the rules use and skim everything else (`IgnoredAny`).
//!
//! Why hand-written visitors rather than `#[derive(Deserialize)]` structs: serde's typed reads refuse a
//! wrong type with a message that formats the value, which links core's float formatter and a copy of
//! serde_json's typed parser into the module (~45 KB). Here every refusal is one fixed message: the
//! caller then reads the text as a `serde_json::Value`, which decides and explains as it always did.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

pub(crate) const REFUSED: &str = "not the expected shape";

/// Visitor methods that refuse their kind of value.
macro_rules! refuse {
    ($($kind:ident),*) => { $( refuse!(@one $kind); )* };
    (@one unit) => { fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> { Err(E::custom($crate::skim::REFUSED)) } };
    (@one bool) => { fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> { Err(E::custom($crate::skim::REFUSED)) } };
    (@one i64) => { fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> { Err(E::custom($crate::skim::REFUSED)) } };
    (@one u64) => { fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> { Err(E::custom($crate::skim::REFUSED)) } };
    (@one f64) => { fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> { Err(E::custom($crate::skim::REFUSED)) } };
    (@one str) => { fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> { Err(E::custom($crate::skim::REFUSED)) } };
    (@one seq) => {
        fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(de::Error::custom($crate::skim::REFUSED))
        }
    };
    (@one map) => {
        fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(de::Error::custom($crate::skim::REFUSED))
        }
    };
}
pub(crate) use refuse;

/// Reads a whole JSON text with `visitor` through `deserialize_any`; `None` when it refuses.
pub(crate) fn read<'de, V: Visitor<'de>>(text: &'de str, visitor: V) -> Option<V::Value> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = deserializer.deserialize_any(visitor).ok()?;
    deserializer.end().ok()?;
    Some(value)
}

/// A visitor as a seed for one value (`next_value_seed`, `next_element_seed`).
pub(crate) struct Any<V>(pub V);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for Any<V> {
    type Value = V::Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        deserializer.deserialize_any(self.0)
    }
}

/// An object key: borrowed from the text, unless it holds escapes (no allocation per key skimmed).
pub(crate) enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    pub fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(key) => key,
            Key::Owned(key) => key,
        }
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key::Owned(v.to_string()))
    }
    refuse!(unit, bool, i64, u64, f64, seq, map);
}

/// The next key of an object, or `None` at its end.
pub(crate) fn next_key<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Key<'de>>, A::Error> {
    map.next_key_seed(Any(KeyVisitor))
}

pub(crate) fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(|_| ())
}

/// A non-negative integer (what `Value::as_u64` accepts).
pub(crate) struct Unsigned;

impl<'de> Visitor<'de> for Unsigned {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an unsigned integer")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    refuse!(unit, bool, i64, f64, str, seq, map);
}

/// A string or null.
pub(crate) struct OptionalText;

impl<'de> Visitor<'de> for OptionalText {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or null")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    refuse!(bool, i64, u64, f64, seq, map);
}

/// A boolean or null.
pub(crate) struct OptionalBool;

impl<'de> Visitor<'de> for OptionalBool {
    type Value = Option<bool>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a boolean or null")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    refuse!(i64, u64, f64, str, seq, map);
}

/// Each element of an array, read with a copy of the seed visitor `V`.
pub(crate) struct List<V>(pub V);

impl<'de, V: Visitor<'de> + Clone> Visitor<'de> for List<V> {
    type Value = Vec<V::Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Any(self.0.clone()))? {
            items.push(item);
        }
        Ok(items)
    }
    refuse!(unit, bool, i64, u64, f64, str, map);
}
