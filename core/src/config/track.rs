//! A serde `Deserializer` over a `serde_json::Value` that remembers where it is. Decoding a
//! config object through it yields, besides the value, every key the target type did not read
//! (with the keys that type does know at that spot, for "did you mean") and the exact path of
//! a failure. The paths are structured, so a key such as `github.com/devopsfaith/krakend/proxy`
//! or `a.b` is located as written, never re-parsed from a dotted string.

use std::cell::RefCell;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess};
use serde::de::{Unexpected, Visitor};
use serde_json::{Map, Value};

use super::error::Path;

/// Whether decoding notes where things are (the `located-config` feature): the keys nothing
/// read and the innermost failing value. Without it the same decoder runs with the notes
/// compiled out, for a front end whose config was checked, located, when it was built (the
/// Worker): the keys of that text are fixed, so it refuses and accepts exactly what the
/// check did, and an error is reported at the place its caller decoded.
pub(crate) const LOCATED: bool = cfg!(feature = "located-config");

/// A key the target type did not read.
#[derive(Debug)]
pub(crate) struct Ignored {
    /// Where the key is.
    pub(crate) path: Path,
    /// The key as written.
    pub(crate) key: String,
    /// The keys the type decoding that object knows.
    pub(crate) known: &'static [&'static str],
}

/// What one decode found besides the value.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// Keys nothing read, in the order they were met.
    pub(crate) ignored: Vec<Ignored>,
    /// Where the decode failed, if it did: the innermost value that returned the error.
    pub(crate) failed_at: Option<Path>,
}

/// Where a value sits, as borrowed segments; made into a [`Path`] only when reported.
#[derive(Debug, Clone, Copy)]
enum Chain<'a> {
    Root,
    Key(&'a Chain<'a>, &'a str),
    Index(&'a Chain<'a>, usize),
}

/// The decoder at one value.
#[derive(Debug, Clone, Copy)]
struct Tracked<'a, 'de> {
    value: &'de Value,
    chain: &'a Chain<'a>,
    /// The keys of the struct this value belongs to (reported if the value is ignored).
    known: &'static [&'static str],
    base: &'a Path,
    findings: &'a RefCell<Findings>,
}

/// The entries of an object, handed to a visitor.
struct Entries<'a, 'de> {
    entries: serde_json::map::Iter<'de>,
    pending: Option<(&'de str, &'de Value)>,
    /// The keys of the struct being decoded (empty for a map).
    known: &'static [&'static str],
    at: Tracked<'a, 'de>,
}

/// The items of an array, handed to a visitor.
struct Items<'a, 'de> {
    items: std::slice::Iter<'de, Value>,
    index: usize,
    at: Tracked<'a, 'de>,
}

/// Decode `value` (found at `base`) into `T`, noting ignored keys and where a failure is.
pub(crate) fn decode<T: DeserializeOwned>(
    value: &Value,
    base: &Path,
) -> (Result<T, serde_json::Error>, Findings) {
    let findings = RefCell::new(Findings::default());
    let result = T::deserialize(Tracked {
        value,
        chain: &Chain::Root,
        known: &[],
        base,
        findings: &findings,
    });
    (result, findings.into_inner())
}

// === impl Chain ===

impl Chain<'_> {
    fn path(&self, base: &Path) -> Path {
        match self {
            Chain::Root => base.clone(),
            Chain::Key(parent, key) => parent.path(base).key(key),
            Chain::Index(parent, i) => parent.path(base).index(*i),
        }
    }
}

// === impl Tracked ===

impl<'a, 'de> Tracked<'a, 'de> {
    /// Pass `result` on, noting this value as the failure's place if none is noted yet (the
    /// innermost value fails first).
    fn note<T>(&self, result: Result<T, serde_json::Error>) -> Result<T, serde_json::Error> {
        if LOCATED && result.is_err() {
            let mut findings = self.findings.borrow_mut();
            if findings.failed_at.is_none() {
                findings.failed_at = Some(self.chain.path(self.base));
            }
        }
        result
    }

    fn child<'b>(
        &self,
        value: &'de Value,
        chain: &'b Chain<'b>,
        known: &'static [&'static str],
    ) -> Tracked<'b, 'de>
    where
        'a: 'b,
    {
        Tracked {
            value,
            chain,
            known,
            base: self.base,
            findings: self.findings,
        }
    }

    fn visit_object<V: Visitor<'de>>(
        self,
        map: &'de Map<String, Value>,
        known: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        let mut entries = Entries {
            entries: map.iter(),
            pending: None,
            known,
            at: self,
        };
        let value = visitor.visit_map(&mut entries)?;
        match entries.entries.len() {
            0 => Ok(value),
            _ => Err(de::Error::invalid_length(
                map.len(),
                &"fewer elements in map",
            )),
        }
    }

    fn visit_array<V: Visitor<'de>>(
        self,
        all: &'de [Value],
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        let mut items = Items {
            items: all.iter(),
            index: 0,
            at: self,
        };
        let value = visitor.visit_seq(&mut items)?;
        match items.items.len() {
            0 => Ok(value),
            _ => Err(de::Error::invalid_length(
                all.len(),
                &"fewer elements in array",
            )),
        }
    }
}

/// What a value is, for "invalid type" messages.
fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Unexpected::Unsigned(u),
            (_, Some(i), _) => Unexpected::Signed(i),
            (_, _, f) => Unexpected::Float(f.unwrap_or_default()),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// Scalars decode exactly as `serde_json` decodes them (same conversions, same messages).
macro_rules! scalar {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            let result = self.value.$method(visitor);
            self.note(result)
        }
    )*};
}

impl<'de> Deserializer<'de> for Tracked<'_, 'de> {
    type Error = serde_json::Error;

    scalar! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32
        deserialize_f64 deserialize_char deserialize_str deserialize_string deserialize_bytes
        deserialize_byte_buf deserialize_unit deserialize_identifier
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let result = match self.value {
            Value::Object(map) => self.visit_object(map, &[], visitor),
            Value::Array(items) => self.visit_array(items, visitor),
            scalar => scalar.deserialize_any(visitor),
        };
        self.note(result)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let result = match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        };
        self.note(result)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let result = match self.value {
            Value::Object(map) => self.visit_object(map, fields, visitor),
            other => Err(de::Error::invalid_type(unexpected(other), &"an object")),
        };
        self.note(result)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let result = match self.value {
            Value::Object(map) => self.visit_object(map, &[], visitor),
            other => other.deserialize_map(visitor),
        };
        self.note(result)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let result = match self.value {
            Value::Array(items) => self.visit_array(items, visitor),
            other => other.deserialize_seq(visitor),
        };
        self.note(result)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let result = match self.value {
            Value::Array(items) => self.visit_array(items, visitor),
            other => other.deserialize_tuple(len, visitor),
        };
        self.note(result)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let result = match self.value {
            Value::Array(items) => self.visit_array(items, visitor),
            other => other.deserialize_tuple_struct(name, len, visitor),
        };
        self.note(result)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let result = self.value.deserialize_unit_struct(name, visitor);
        self.note(result)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let result = visitor.visit_newtype_struct(self);
        self.note(result)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let result = self.value.deserialize_enum(name, variants, visitor);
        self.note(result)
    }

    /// The type has no field for this key: note it instead of decoding it.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        if let (true, Chain::Key(_, key)) = (LOCATED, self.chain) {
            self.findings.borrow_mut().ignored.push(Ignored {
                path: self.chain.path(self.base),
                key: (*key).to_owned(),
                known: self.known,
            });
        }
        visitor.visit_unit()
    }
}

// === impl Entries ===

impl<'de> MapAccess<'de> for Entries<'_, 'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.pending = Some((key.as_str(), value));
        seed.deserialize(BorrowedStrDeserializer::<serde_json::Error>::new(
            key.as_str(),
        ))
        .map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, Self::Error> {
        let Some((key, value)) = self.pending.take() else {
            return Err(de::Error::custom("a map value was read before its key"));
        };
        let chain = Chain::Key(self.at.chain, key);
        let child = self.at.child(value, &chain, self.known);
        // Errors raised by the seed itself (`deserialize_with`, `try_from`) belong to this key.
        let result = seed.deserialize(child);
        child.note(result)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

// === impl Items ===

impl<'de> SeqAccess<'de> for Items<'_, 'de> {
    type Error = serde_json::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Self::Error> {
        let Some(value) = self.items.next() else {
            return Ok(None);
        };
        let chain = Chain::Index(self.at.chain, self.index);
        self.index += 1;
        let child = self.at.child(value, &chain, &[]);
        let result = seed.deserialize(child);
        child.note(result).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

// What these tests check, the notes, exist only with `located-config`.
#[cfg(test)]
#[cfg(feature = "located-config")]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Option<Inner>,
        list: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        port: u16,
    }

    fn run(json: &str) -> (Result<Outer, serde_json::Error>, Findings) {
        decode(
            &serde_json::from_str(json).unwrap(),
            &Path::default().key("ns"),
        )
    }

    #[test]
    fn ignored_keys_come_with_their_place_and_the_known_keys_there() {
        let (result, findings) =
            run(r#"{"nme": 1, "inner": {"port": 1, "prt": 2}, "list": [{"port": 2, "a.b": 0}]}"#);
        assert!(result.is_ok());
        let found: Vec<_> = findings
            .ignored
            .iter()
            .map(|i| (i.path.to_string(), i.key.as_str(), i.known))
            .collect();
        assert_eq!(
            found,
            [
                ("ns.inner.prt".to_owned(), "prt", &["port"][..]),
                ("ns.list[0].a.b".to_owned(), "a.b", &["port"][..]),
                ("ns.nme".to_owned(), "nme", &["name", "inner", "list"][..]),
            ]
        );
    }

    #[test]
    fn a_failure_is_located_at_the_innermost_value() {
        let (result, findings) = run(r#"{"list": [{"port": 1}, {"port": "x"}]}"#);
        assert!(result.unwrap_err().to_string().contains("expected u16"));
        assert_eq!(findings.failed_at.unwrap().to_string(), "ns.list[1].port");

        let (result, findings) = run(r#"{"inner": {}}"#);
        assert!(result
            .unwrap_err()
            .to_string()
            .contains("missing field `port`"));
        assert_eq!(findings.failed_at.unwrap().to_string(), "ns.inner");
    }

    #[test]
    fn a_struct_needs_an_object() {
        let (result, findings) = run(r#"{"inner": true}"#);
        assert_eq!(
            result.unwrap_err().to_string(),
            "invalid type: boolean `true`, expected an object"
        );
        assert_eq!(findings.failed_at.unwrap().to_string(), "ns.inner");
    }
}
