//! [`Map`]: a JSON object as one vector of members sorted by key.
//!
//! A `BTreeMap<String, Value>` cost a node allocation per object, a search and shift per
//! inserted member while parsing, and a tree walk to drop (together ≈ 18 % of the instructions
//! of parsing, filtering and writing scenario c's body). Objects from backends are small and
//! are built once and read or filtered a few times: the parser collects members in document
//! order and sorts them once at the end of the object (nothing to do when they already come
//! sorted), lookups are binary searches, and writing walks a slice. The API is the subset of
//! `BTreeMap` the gateway uses, with the same semantics (sorted iteration, last duplicate wins).

use std::cmp::Ordering;
use std::fmt;
use std::{iter, slice, vec};

use super::{Str, Value};

/// A JSON object: keys sorted, which is also Go's (and therefore KrakenD's) output order.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Map {
    /// Sorted by key, keys unique.
    entries: Vec<(Str, Value)>,
}

/// One member as the borrowing iterators yield it.
type Ref<'a> = (&'a Str, &'a Value);
/// One member as the mutably borrowing iterators yield it.
type Mut<'a> = (&'a Str, &'a mut Value);

/// Members in key order ([`Map::iter`]).
pub type Iter<'a> = iter::Map<slice::Iter<'a, (Str, Value)>, fn(&'a (Str, Value)) -> Ref<'a>>;
/// Members in key order, values mutable ([`Map::iter_mut`]).
pub type IterMut<'a> =
    iter::Map<slice::IterMut<'a, (Str, Value)>, fn(&'a mut (Str, Value)) -> Mut<'a>>;

/// Key order (bytes, as `str` orders). Keys of one object mostly differ in their first byte:
/// deciding on it first saves a `memcmp` call per comparison while sorting members.
pub(super) fn key_order(a: &[u8], b: &[u8]) -> Ordering {
    match (a.first(), b.first()) {
        (Some(x), Some(y)) if x != y => x.cmp(y),
        _ => a.cmp(b),
    }
}

fn key_cmp(a: &Str, b: &Str) -> Ordering {
    key_order(a.as_bytes(), b.as_bytes())
}

// === impl Map ===

impl Map {
    /// An empty object.
    pub const fn new() -> Self {
        Map {
            entries: Vec::new(),
        }
    }

    /// An object from members in any order; for a repeated key the last one wins.
    pub(super) fn from_members(mut entries: Vec<(Str, Value)>) -> Self {
        if !entries
            .windows(2)
            .all(|w| key_cmp(&w[0].0, &w[1].0) == Ordering::Less)
        {
            // Stable, so equal keys keep document order and the swap below keeps the last.
            entries.sort_by(|a, b| key_cmp(&a.0, &b.0));
            entries.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    std::mem::swap(&mut later.1, &mut kept.1);
                }
                same
            });
        }
        Map { entries }
    }

    /// An object from members already sorted by key, keys distinct (the parser's shapes).
    pub(super) fn from_sorted(entries: Vec<(Str, Value)>) -> Self {
        debug_assert!(entries
            .windows(2)
            .all(|w| key_cmp(&w[0].0, &w[1].0) == Ordering::Less));
        Map { entries }
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        // Bytes compare as `str`s do, without the inline text's UTF-8 check.
        let key = key.as_bytes();
        self.entries
            .binary_search_by(|(k, _)| k.as_bytes().cmp(key))
    }

    /// Room for `additional` more members without growing.
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the object has no members.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        let i = self.find(key).ok()?;
        self.entries.get(i).map(|(_, v)| v)
    }

    /// The value of `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        let i = self.find(key).ok()?;
        self.entries.get_mut(i).map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Set `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: Str, value: Value) -> Option<Value> {
        // Appending in key order (copying another object, building sorted output) is the
        // common case: no search.
        if self.entries.last().is_none_or(|(last, _)| *last < key) {
            self.entries.push((key, value));
            return None;
        }
        match self.find(&key) {
            Ok(i) => self
                .entries
                .get_mut(i)
                .map(|(_, v)| std::mem::replace(v, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Remove `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.find(key).ok()?;
        Some(self.entries.remove(i).1)
    }

    /// Remove `key`; returns the member.
    pub fn remove_entry(&mut self, key: &str) -> Option<(Str, Value)> {
        let i = self.find(key).ok()?;
        Some(self.entries.remove(i))
    }

    /// Members in key order.
    pub fn iter(&self) -> Iter<'_> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// Members in key order, values mutable.
    pub fn iter_mut(&mut self) -> IterMut<'_> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Str> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    /// Values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    /// Values in key order, mutably.
    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut Value> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// The values, by value, in key order.
    pub fn into_values(self) -> impl DoubleEndedIterator<Item = Value> + ExactSizeIterator {
        self.entries.into_iter().map(|(_, v)| v)
    }

    /// The keys, by value, in order.
    pub fn into_keys(self) -> impl DoubleEndedIterator<Item = Str> + ExactSizeIterator {
        self.entries.into_iter().map(|(k, _)| k)
    }

    /// The first member in key order.
    pub fn first_key_value(&self) -> Option<(&Str, &Value)> {
        self.entries.first().map(|(k, v)| (k, v))
    }

    /// Keep only the members `keep` accepts (it may change their values).
    pub fn retain(&mut self, mut keep: impl FnMut(&Str, &mut Value) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// Move all of `other`'s members into this object (`other`'s win), leaving `other` empty.
    pub fn append(&mut self, other: &mut Map) {
        let other = std::mem::take(&mut other.entries);
        self.extend(other);
    }

    /// Remove every member.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The member of `key`, to read, insert or update in place.
    pub fn entry(&mut self, key: Str) -> Entry<'_> {
        match self.find(&key) {
            Ok(i) => Entry::Occupied(OccupiedEntry {
                map: self,
                index: i,
            }),
            Err(i) => Entry::Vacant(VacantEntry {
                map: self,
                index: i,
                key,
            }),
        }
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl std::ops::Index<&str> for Map {
    type Output = Value;

    /// The value of `key`; like `BTreeMap`, a missing key is a bug in the caller (tests only).
    #[allow(clippy::panic)]
    fn index(&self, key: &str) -> &Value {
        match self.get(key) {
            Some(v) => v,
            None => panic!("key not in the JSON object"),
        }
    }
}

impl<K: Into<Str>> FromIterator<(K, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        Map::from_members(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl<K: Into<Str>> Extend<(K, Value)> for Map {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        let mut iter = iter.into_iter();
        // Few members: one insert each; many: append all and sort once.
        let (lower, _) = iter.size_hint();
        if lower <= 8 {
            self.entries.reserve(lower);
            for (k, v) in iter.by_ref() {
                self.insert(k.into(), v);
            }
            return;
        }
        let mut entries = std::mem::take(&mut self.entries);
        entries.extend(iter.map(|(k, v)| (k.into(), v)));
        *self = Map::from_members(entries);
    }
}

impl<K: Into<Str>, const N: usize> From<[(K, Value); N]> for Map {
    fn from(members: [(K, Value); N]) -> Self {
        Map::from_members(members.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl IntoIterator for Map {
    type Item = (Str, Value);
    type IntoIter = vec::IntoIter<(Str, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = Ref<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Map {
    type Item = Mut<'a>;
    type IntoIter = IterMut<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

/// A member of a [`Map`] looked up by [`Map::entry`].
#[derive(Debug)]
pub enum Entry<'a> {
    /// The key is present.
    Occupied(OccupiedEntry<'a>),
    /// The key is absent.
    Vacant(VacantEntry<'a>),
}

/// A present member ([`Entry::Occupied`]).
#[derive(Debug)]
pub struct OccupiedEntry<'a> {
    map: &'a mut Map,
    index: usize,
}

/// An absent member and where it goes ([`Entry::Vacant`]).
#[derive(Debug)]
pub struct VacantEntry<'a> {
    map: &'a mut Map,
    index: usize,
    key: Str,
}

// === impl Entry ===

impl<'a> Entry<'a> {
    /// The value, inserting `default` first if absent.
    pub fn or_insert(self, default: Value) -> &'a mut Value {
        self.or_insert_with(|| default)
    }

    /// The value, inserting `default()` first if absent.
    pub fn or_insert_with(self, default: impl FnOnce() -> Value) -> &'a mut Value {
        match self {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(default()),
        }
    }

    /// The value, inserting `null` first if absent.
    pub fn or_default(self) -> &'a mut Value {
        self.or_insert_with(Value::default)
    }
}

// === impl OccupiedEntry ===

impl<'a> OccupiedEntry<'a> {
    /// The value, for the map's lifetime.
    #[allow(clippy::panic)]
    pub fn into_mut(self) -> &'a mut Value {
        match self.map.entries.get_mut(self.index) {
            Some((_, v)) => v,
            // `index` came from a successful search on this map, which is borrowed since.
            None => panic!("entry index out of range"),
        }
    }
}

// === impl VacantEntry ===

impl<'a> VacantEntry<'a> {
    /// Insert `value` at the key's place; returns it.
    #[allow(clippy::panic)]
    pub fn insert(self, value: Value) -> &'a mut Value {
        self.map.entries.insert(self.index, (self.key, value));
        match self.map.entries.get_mut(self.index) {
            Some((_, v)) => v,
            None => panic!("entry index out of range"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn n(i: u64) -> Value {
        Value::from(i)
    }

    proptest! {
        /// Every operation agrees with `BTreeMap` on random keys (few, so they repeat).
        #[test]
        fn behaves_like_btreemap(ops in proptest::collection::vec((0u8..6, "[a-e]{0,2}", 0u64..100), 0..60)) {
            let mut ours = Map::new();
            let mut theirs = BTreeMap::new();
            for (op, key, val) in ops {
                match op {
                    0 => prop_assert_eq!(ours.insert(key.clone().into(), n(val)), theirs.insert(key, n(val))),
                    1 => prop_assert_eq!(ours.remove(key.as_str()), theirs.remove(key.as_str())),
                    2 => {
                        *ours.entry(key.clone().into()).or_insert(n(val)) = n(val + 1);
                        *theirs.entry(key).or_insert(n(val)) = n(val + 1);
                    }
                    3 => {
                        ours.retain(|k, _| k.len() != usize::from(val as u8 % 3));
                        theirs.retain(|k, _| k.len() != usize::from(val as u8 % 3));
                    }
                    4 => {
                        let extra: Vec<(String, Value)> = (0..val % 12).map(|i| (format!("{key}{}", i % 4), n(i))).collect();
                        ours.extend(extra.clone());
                        theirs.extend(extra);
                    }
                    _ => {
                        let mut other: Map = [(key.clone(), n(val)), ("c".to_owned(), n(1))].into();
                        let mut theirs_other: BTreeMap<String, Value> = [(key, n(val)), ("c".to_owned(), n(1))].into();
                        ours.append(&mut other);
                        theirs.append(&mut theirs_other);
                        prop_assert!(other.is_empty());
                    }
                }
                prop_assert_eq!(ours.len(), theirs.len());
                prop_assert!(ours.iter().map(|(k, v)| (k.as_str(), v)).eq(theirs.iter().map(|(k, v)| (k.as_str(), v))));
            }
        }

        /// Members collected in any order come out sorted; a repeated key keeps its last value.
        #[test]
        fn from_members_sorts_and_last_wins(members in proptest::collection::vec(("[a-d]{0,2}", 0u64..100), 0..30)) {
            let ours: Map = members.iter().map(|(k, v)| (k.clone(), n(*v))).collect();
            let theirs: BTreeMap<String, Value> = members.iter().map(|(k, v)| (k.clone(), n(*v))).collect();
            prop_assert!(ours.iter().map(|(k, v)| (k.as_str(), v)).eq(theirs.iter().map(|(k, v)| (k.as_str(), v))));
        }
    }
}
