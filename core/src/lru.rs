//! A small bounded map with least-recently-used eviction, for the rate-limit buckets and the
//! HTTP cache: the key space a client controls must never grow memory without bound.

use std::collections::{BTreeMap, HashMap};

/// A map of at most `capacity` entries; inserting into a full map drops the entry used least
/// recently.
#[derive(Debug)]
pub(crate) struct Lru<V> {
    map: HashMap<String, (V, u64)>,
    order: BTreeMap<u64, String>,
    tick: u64,
    capacity: usize,
}

// === impl Lru ===

impl<V> Lru<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            capacity: capacity.max(1),
        }
    }

    fn touch(&mut self, key: &str) -> u64 {
        self.tick += 1;
        let tick = self.tick;
        if let Some((_, used)) = self.map.get_mut(key) {
            self.order.remove(used);
            *used = tick;
            self.order.insert(tick, key.to_owned());
        }
        tick
    }

    /// The entry for `key`, marked as just used.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.touch(key);
        self.map.get_mut(key).map(|(v, _)| v)
    }

    /// The entry for `key`, inserted with `make` (evicting the oldest) when missing.
    pub(crate) fn get_or_insert_with(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        if self.map.contains_key(key) {
            self.touch(key);
        } else {
            while self.map.len() >= self.capacity && self.pop_oldest().is_some() {}
            self.tick += 1;
            self.order.insert(self.tick, key.to_owned());
        }
        let tick = self.tick;
        &mut self
            .map
            .entry(key.to_owned())
            .or_insert_with(|| (make(), tick))
            .0
    }

    /// Insert or replace; evicts least-recently-used entries beyond the capacity, returning them.
    pub(crate) fn insert(&mut self, key: String, value: V) -> Vec<V> {
        let mut evicted = Vec::new();
        if let Some(old) = self.remove(&key) {
            evicted.push(old);
        }
        while self.map.len() >= self.capacity {
            match self.pop_oldest() {
                Some(v) => evicted.push(v),
                None => break,
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, key.clone());
        self.map.insert(key, (value, self.tick));
        evicted
    }

    /// Remove `key`.
    pub(crate) fn remove(&mut self, key: &str) -> Option<V> {
        let (v, used) = self.map.remove(key)?;
        self.order.remove(&used);
        Some(v)
    }

    /// Remove the least recently used entry.
    pub(crate) fn pop_oldest(&mut self) -> Option<V> {
        let (_, key) = self.order.pop_first()?;
        self.map.remove(&key).map(|(v, _)| v)
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used() {
        let mut l = Lru::new(2);
        l.insert("a".into(), 1);
        l.insert("b".into(), 2);
        assert_eq!(l.get_mut("a"), Some(&mut 1));
        l.insert("c".into(), 3);
        assert!(l.get_mut("b").is_none());
        assert_eq!(l.get_mut("a"), Some(&mut 1));
        assert_eq!(l.len(), 2);
        *l.get_or_insert_with("d", || 4) += 1;
        assert_eq!(l.get_mut("d"), Some(&mut 5));
        assert!(l.get_mut("c").is_none());
    }
}
