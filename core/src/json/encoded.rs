//! [`Encoded`]: an object already written as the gateway's JSON, and the two things the
//! pipeline does to one without a tree: wrap it in a `group`, merge several by key.

use std::ops::Range;

use super::map::key_order;
use super::parse::Parser;
use super::{write, Map, Str, Value};

/// A JSON object as the gateway writes it (sorted keys, Go's escaping), with its member count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The text.
    pub bytes: Vec<u8>,
    /// How many members it has.
    pub len: usize,
    /// Its members' keys and where each `"key":value` lies in `bytes`, when known.
    members: Option<Vec<(Str, Range<usize>)>>,
}

// === impl Encoded ===

impl Encoded {
    /// The object whose text (as the gateway writes it) is `bytes`, with `len` members.
    pub(super) fn new(bytes: Vec<u8>, len: usize) -> Self {
        Encoded {
            bytes,
            len,
            members: None,
        }
    }

    /// A parsed object, written.
    pub fn from_map(map: Map) -> Self {
        let len = map.len();
        Self::new(Value::Object(map).to_json_bytes(0), len)
    }

    /// Whether the object has no members.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `{"key":<this object>}` (`group`).
    pub fn wrap(self, key: &Str) -> Self {
        let mut bytes = Vec::with_capacity(self.bytes.len() + key.len() + 8);
        bytes.push(b'{');
        write::write_str(&mut bytes, key);
        bytes.push(b':');
        bytes.extend_from_slice(&self.bytes);
        bytes.push(b'}');
        let member = 1..bytes.len() - 1;
        Encoded {
            bytes,
            len: 1,
            members: Some(vec![(key.clone(), member)]),
        }
    }

    /// The members' keys and texts: recorded, or found in the text (which is valid JSON: our
    /// own output).
    fn members(&self) -> Vec<(Str, Range<usize>)> {
        if let Some(members) = &self.members {
            return members.clone();
        }
        let mut found = Vec::with_capacity(self.len);
        let Ok(mut p) = Parser::scanner(&self.bytes) else {
            return found;
        };
        p.pos = 1;
        while p.peek() == Some(b'"') {
            let start = p.pos;
            let Ok(key) = p.string() else { break };
            p.pos += 1;
            if p.skip(1).is_err() {
                break;
            }
            found.push((key, start..p.pos));
            if p.peek() == Some(b',') {
                p.pos += 1;
            }
        }
        found
    }

    /// The objects' members together, in key order; of equal keys the one from the later
    /// object wins (a merge in declaration order).
    pub fn merge(parts: &[Encoded]) -> Self {
        let lists: Vec<Vec<(Str, Range<usize>)>> = parts.iter().map(Encoded::members).collect();
        let mut all: Vec<(&Str, &[u8])> = parts
            .iter()
            .zip(&lists)
            .flat_map(|(part, list)| {
                list.iter()
                    .map(|(key, text)| (key, part.bytes.get(text.clone()).unwrap_or_default()))
            })
            .collect();
        // Stable: equal keys stay in declaration order, the last of each run wins.
        all.sort_by(|a, b| key_order(a.0.as_bytes(), b.0.as_bytes()));
        let mut bytes = Vec::with_capacity(all.iter().map(|m| m.1.len() + 1).sum::<usize>() + 2);
        bytes.push(b'{');
        let mut len = 0;
        for (i, (key, text)) in all.iter().enumerate() {
            if all.get(i + 1).is_some_and(|next| next.0 == *key) {
                continue;
            }
            if len > 0 {
                bytes.push(b',');
            }
            bytes.extend_from_slice(text);
            len += 1;
        }
        bytes.push(b'}');
        Self::new(bytes, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn map(text: &str) -> Map {
        match parse(text.as_bytes()) {
            Ok(Value::Object(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    fn text(e: &Encoded) -> &str {
        std::str::from_utf8(&e.bytes).unwrap()
    }

    #[test]
    fn wraps_and_merges_as_the_tree_does() {
        let parts = [
            r#"{"b":{"x":[1,{"y":"<"}]},"a":"\"q\"","c":{}}"#,
            r#"{"c":2,"aa":null}"#,
            r#"{}"#,
            r#"{"b":"last","z\u0000":1}"#,
        ];
        let mut tree = Map::new();
        for p in parts {
            tree.extend(map(p));
        }
        let merged = Encoded::merge(&parts.map(|p| Encoded::from_map(map(p))));
        assert_eq!(text(&merged), Value::Object(tree.clone()).to_json());
        assert_eq!(merged.len, tree.len());
        // Merged again, and wrapped: known members and found ones agree.
        let again = Encoded::merge(std::slice::from_ref(&merged));
        assert_eq!(again, merged);
        let key = Str::from("g<");
        let wrapped = Encoded::from_map(map(parts[0])).wrap(&key);
        let mut grouped = Map::new();
        grouped.insert(key, Value::Object(map(parts[0])));
        assert_eq!(text(&wrapped), Value::Object(grouped).to_json());
        let found = Encoded::new(wrapped.bytes.clone(), 1).members();
        assert_eq!(Some(&found), wrapped.members.as_ref());
        let both = Encoded::merge(&[wrapped, Encoded::from_map(map(r#"{"a":1}"#))]);
        assert_eq!(both.len, 2);
        assert!(text(&both).starts_with(r#"{"a":1,"g\u003c":{"#));
        assert!(Encoded::from_map(Map::new()).is_empty());
    }
}
