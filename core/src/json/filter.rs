//! [`Filter`]: a backend's `allow` or `deny` dot paths as a tree, applied to a parsed object
//! ([`Filter::apply`]) or while an answer is transcoded (`transcode`), with one meaning:
//! - `allow`: only the named paths stay; an object is kept only if something inside it stays,
//!   and a path going on through anything but an object drops that key (lura's
//!   `whitelistPrune`);
//! - `deny`: the named paths go; paths go on through objects only, never through arrays.

use super::{Map, Value};

/// `allow` or `deny` dot paths as a tree, built once from the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `allow` (only what is named stays) rather than `deny` (what is named goes).
    allow: bool,
    /// The keys named at this level, in config order.
    keys: Vec<(String, Node)>,
}

/// Where a path goes after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    /// A path ends here: the whole value is kept (`allow`) or removed (`deny`).
    End,
    /// Only longer paths go on from here.
    Inside(Filter),
}

/// What becomes of one member of an object.
pub(super) enum Pick<'a> {
    /// Kept as it is.
    Keep,
    /// Removed.
    Drop,
    /// Filtered by the paths under its key when it is an object; otherwise dropped (`allow`)
    /// or kept (`deny`).
    Inside(&'a Filter),
}

// === impl Filter ===

impl Filter {
    /// `allow`: only these paths stay. No paths keep nothing.
    pub fn allow(paths: &[Vec<String>]) -> Self {
        Self::build(true, paths)
    }

    /// `deny`: these paths go. No paths keep everything.
    pub fn deny(paths: &[Vec<String>]) -> Self {
        Self::build(false, paths)
    }

    fn build(allow: bool, paths: &[Vec<String>]) -> Self {
        let mut tree = Filter {
            allow,
            keys: Vec::new(),
        };
        for path in paths {
            tree.add(path);
        }
        tree
    }

    fn add(&mut self, path: &[String]) {
        let Some((key, rest)) = path.split_first() else {
            return;
        };
        let at = match self.keys.iter().position(|(k, _)| k == key) {
            Some(at) => at,
            None => {
                let inner = Filter {
                    allow: self.allow,
                    keys: Vec::new(),
                };
                self.keys.push((key.clone(), Node::Inside(inner)));
                self.keys.len() - 1
            }
        };
        if let Some((_, node)) = self.keys.get_mut(at) {
            match (node, rest.is_empty()) {
                (node, true) => *node = Node::End,
                (Node::Inside(inner), false) => inner.add(rest),
                // A shorter path already decides the whole value.
                (Node::End, false) => {}
            }
        }
    }

    /// Whether no path was given (a `deny` that removes nothing, an `allow` that keeps nothing).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether this is an `allow` filter.
    pub(super) fn is_allow(&self) -> bool {
        self.allow
    }

    /// What becomes of the member named `key` (its text's bytes). Inlined: the transcoder
    /// asks once per member, and a call cost more than the (usually empty) search.
    #[inline]
    pub(super) fn pick(&self, key: &[u8]) -> Pick<'_> {
        let node = self.keys.iter().find(|(k, _)| k.as_bytes() == key);
        match (node, self.allow) {
            (None, true) | (Some((_, Node::End)), false) => Pick::Drop,
            (None, false) | (Some((_, Node::End)), true) => Pick::Keep,
            (Some((_, Node::Inside(inner))), _) => Pick::Inside(inner),
        }
    }

    /// Filter a parsed object in place (it keeps its map and key texts: building a new map
    /// per answer cost ~2,900 instructions per backend on scenario b); whether anything is
    /// left in it.
    pub fn apply(&self, data: &mut Map) -> bool {
        data.retain(|key, value| match self.pick(key.as_bytes()) {
            Pick::Keep => true,
            Pick::Drop => false,
            Pick::Inside(inner) => match value {
                // `deny` keeps an object it emptied; `allow` keeps only what holds something.
                Value::Object(map) => inner.apply(map) || !inner.allow,
                _ => !inner.allow,
            },
        });
        !data.is_empty()
    }
}
