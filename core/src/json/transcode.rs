//! A backend's JSON object straight to the gateway's answer: Go's compact encoding with sorted
//! keys, filtered by `allow`/`deny` on the way, without building a [`Value`](super::Value).
//!
//! An answer that is only filtered (no `target`, `mapping`, flatmap…; `group` and the merge
//! work on the text: [`Encoded`]) was parsed into a tree, filtered and written back; on
//! scenario c's 100 KB body that was four fifths of the request's instructions, most of them
//! making, moving and dropping nodes. Here
//! each member is written as it is read, and an object whose keys do not come sorted (or
//! repeat) is put in order from its members' byte ranges: one copy of its text. A string Go
//! writes as it is (no escape, no `<`, `>`, `&`, U+2028/9) is copied from the input whole; any
//! other goes through the parser's and the writer's own functions. The input is checked
//! exactly as [`parse`](super::parse) checks it; on any error the caller parses the tree for the
//! parser's own error text.

use super::encoded::Encoded;
use super::filter::{Filter, Pick};
use super::map::key_order;
use super::parse::{ParseError, Parser};
use super::{scan, write, Str, Value, MAX_DEPTH, MAX_PRESIZE};

/// Longest input [`transcode`] takes (its positions are `u32`); longer ones are parsed.
const MAX_INPUT: usize = 1 << 28;

/// The JSON object `input`, filtered by `filter`, as the bytes `Value::to_json_bytes` writes
/// for the filtered object; an error for anything [`parse`](super::parse) refuses and for a
/// document that is not an object.
pub fn transcode(input: &[u8], filter: &Filter) -> Result<Encoded, ParseError> {
    if input.len() > MAX_INPUT {
        return Err(ParseError {
            offset: 0,
            message: "too long to transcode",
        });
    }
    let (members, order) = SCRATCH.take().unwrap_or_default();
    let mut t = Transcoder {
        p: Parser::scanner(input)?,
        // Room for the whole text and one window past it (`Transcoder::copy`).
        out: Vec::with_capacity(input.len().min(MAX_PRESIZE) + RUN),
        members,
        decoded: Vec::new(),
        order,
    };
    let kept = t.document(filter);
    let Transcoder {
        out,
        mut members,
        mut order,
        ..
    } = t;
    if members.capacity() <= MAX_KEPT && order.capacity() <= MAX_KEPT {
        members.clear();
        order.clear();
        SCRATCH.set(Some((members, order)));
    }
    let members = kept?;
    let mut bytes = out;
    if bytes.capacity() > 2 * bytes.len() + 4096 {
        // A filter dropped most of the body (as `Value::to_json_bytes`).
        bytes.shrink_to_fit();
    }
    Ok(Encoded::new(bytes, members))
}

thread_local! {
    /// The member and order lists of the last transcode on this thread, emptied: every
    /// backend answer needs both, and making them cost two allocations per answer.
    static SCRATCH: std::cell::Cell<Option<(Vec<Member>, Vec<Rank>)>> =
        const { std::cell::Cell::new(None) };
}

/// Longest lists kept for the next transcode (a huge object's are let go).
const MAX_KEPT: usize = 4096;

struct Transcoder<'a> {
    p: Parser<'a>,
    out: Vec<u8>,
    /// Members of the objects being written, innermost last.
    members: Vec<Member>,
    /// The keys that had to be decoded ([`Key::Decoded`]).
    decoded: Vec<Str>,
    /// An object's members in key order, while it is put in order.
    order: Vec<Rank>,
}

/// A member's position in its object, and the first bytes of its key read as a big-endian
/// number: sorting compares that first (zero bytes pad a short key, and no byte sorts before
/// zero, so a difference there is the keys' order; equal prefixes compare the whole keys).
type Rank = (u64, u32);

/// One member of an object being written (positions as `u32`: [`transcode`] takes at most
/// [`MAX_INPUT`] bytes, and its output is at most six times as long).
#[derive(Clone, Copy)]
struct Member {
    key: Key,
    /// Its `"key":value` text in the output; `None` when the filter removed it (it still hides
    /// an earlier member with the same key: the last one wins before filtering, as in the tree).
    text: Option<(u32, u32)>,
}

/// A member's key.
#[derive(Clone, Copy)]
enum Key {
    /// Its text is these input bytes (no escapes, nothing Go escapes).
    At(u32, u32),
    /// Its text, decoded: `decoded[i]`.
    Decoded(u32),
}

/// A string's text as [`Transcoder::string`] found it.
enum Text {
    /// These input bytes (between its quotes).
    At(u32, u32),
    /// Decoded.
    Decoded(Str),
}

/// The keys of an array's previous object element, when they were all plain and distinct:
/// arrays of records repeat one set of keys in one order, so the next element's keys are
/// compared with these instead of scanned, and its members are put in the known order
/// without sorting (as the parser's record shapes; scenario c's 405 items, six keys each).
#[derive(Default)]
struct Layout {
    /// The keys in document order.
    keys: Vec<Str>,
    /// Document positions in key order.
    order: Vec<Rank>,
    /// The keys came in key order: the text needs no reordering.
    sorted: bool,
}

/// What becomes of a member.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Kept,
    /// Removed for its key (so is every member with that key).
    Dropped,
    /// Removed for its value (`allow`: nothing of it stays).
    Pruned,
}

/// Longest run copied as one fixed-size window ([`Transcoder::copy`]).
const RUN: usize = 32;

/// A key's bytes: in `input`, or decoded.
fn key_bytes<'a>(input: &'a [u8], decoded: &'a [Str], key: Key) -> &'a [u8] {
    match key {
        Key::At(start, end) => input.get(start as usize..end as usize),
        Key::Decoded(i) => decoded.get(i as usize).map(Str::as_bytes),
    }
    .unwrap_or_default()
}

// === impl Transcoder ===

impl Transcoder<'_> {
    /// The whole input: one object, nothing after it; how many members it kept.
    fn document(&mut self, filter: &Filter) -> Result<usize, ParseError> {
        self.p.skip_ws();
        if self.p.peek() != Some(b'{') {
            return Err(self.p.err("not an object"));
        }
        let members = self.object(0, Some(filter), None)?;
        self.p.skip_ws();
        if self.p.pos != self.p.input.len() {
            return Err(self.p.err("trailing characters after the JSON value"));
        }
        Ok(members)
    }

    /// The value at the parser, unfiltered (the same depth rule as the parser's `value`).
    fn value(&mut self, depth: usize) -> Result<(), ParseError> {
        if depth >= MAX_DEPTH {
            return Err(self.p.err("nesting too deep"));
        }
        match self.p.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'{') => self.object(depth, None, None).map(drop),
            Some(b'[') => self.array(depth),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.p.scan_number()?;
                self.copy(start, self.p.pos);
                Ok(())
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(_) => Err(self.p.err("unexpected character")),
            None => Err(self.p.err("unexpected end of input")),
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), ParseError> {
        self.p.literal(word, Value::Null)?;
        self.out.extend_from_slice(word);
        Ok(())
    }

    /// Append `input[start..end]`: a short run as one fixed-size window cut back to its
    /// length (a constant-size copy the compiler inlines, where a variable one is a `memcpy`
    /// call: one per string and number).
    #[inline(always)]
    fn copy(&mut self, start: usize, end: usize) {
        let window = self
            .p
            .input
            .get(start..start + RUN)
            .and_then(|w| <&[u8; RUN]>::try_from(w).ok());
        match window {
            Some(window) if end - start <= RUN => {
                let len = self.out.len() + end - start;
                self.out.extend_from_slice(window);
                self.out.truncate(len);
            }
            _ => self
                .out
                .extend_from_slice(self.p.input.get(start..end).unwrap_or_default()),
        }
    }

    /// A string, written: copied with its quotes when Go writes it as it is (its text is then
    /// those input bytes), else decoded and escaped.
    fn string(&mut self) -> Result<Text, ParseError> {
        let open = self.p.pos;
        let content = self.p.input.get(open + 1..).unwrap_or_default();
        let close = open + 1 + scan::write_plain(content);
        if self.p.input.get(close) == Some(&b'"') {
            self.p.pos = close + 1;
            self.copy(open, close + 1);
            return Ok(Text::At(open as u32 + 1, close as u32));
        }
        let s = self.p.string()?;
        write::write_str(&mut self.out, &s);
        Ok(Text::Decoded(s))
    }

    /// A key, written; a decoded one is kept for comparisons (values' texts are not).
    fn key(&mut self) -> Result<Key, ParseError> {
        Ok(match self.string()? {
            Text::At(start, end) => Key::At(start, end),
            Text::Decoded(s) => {
                self.decoded.push(s);
                Key::Decoded(self.decoded.len() as u32 - 1)
            }
        })
    }

    /// A key's text (an `At` key lies between quotes: at character boundaries).
    fn key_text(&self, key: Key) -> &str {
        match key {
            Key::At(start, end) => self.p.text.get(start as usize..end as usize),
            Key::Decoded(i) => self.decoded.get(i as usize).map(Str::as_str),
        }
        .unwrap_or_default()
    }

    fn key_bytes(&self, key: Key) -> &[u8] {
        key_bytes(self.p.input, &self.decoded, key)
    }

    /// Out of line: inlined into `value`, its frame made every scalar pay for saving registers.
    #[inline(never)]
    fn array(&mut self, depth: usize) -> Result<(), ParseError> {
        self.p.pos += 1;
        self.out.push(b'[');
        self.p.skip_ws();
        if self.p.peek() == Some(b']') {
            self.p.pos += 1;
            self.out.push(b']');
            return Ok(());
        }
        let mut layout = Layout::default();
        loop {
            self.p.skip_ws();
            match self.p.peek() {
                Some(b'{') if depth + 1 < MAX_DEPTH => {
                    self.object(depth + 1, None, Some(&mut layout))?;
                }
                Some(b'"') if depth + 1 < MAX_DEPTH => {
                    self.string()?;
                }
                _ => self.value(depth + 1)?,
            }
            self.p.skip_ws();
            match self.p.peek() {
                Some(b',') => {
                    self.p.pos += 1;
                    self.out.push(b',');
                }
                Some(b']') => {
                    self.p.pos += 1;
                    self.out.push(b']');
                    return Ok(());
                }
                _ => return Err(self.p.err("expected ',' or ']'")),
            }
        }
    }

    /// An object, filtered by `filter` when given (`layout`: an array element's, unfiltered);
    /// how many members it kept.
    fn object(
        &mut self,
        depth: usize,
        filter: Option<&Filter>,
        mut layout: Option<&mut Layout>,
    ) -> Result<usize, ParseError> {
        self.p.pos += 1;
        self.out.push(b'{');
        let open = self.out.len();
        let base = self.members.len();
        self.p.skip_ws();
        if self.p.peek() == Some(b'}') {
            self.p.pos += 1;
            self.out.push(b'}');
            return Ok(0);
        }
        // While the keys are the previous element's, in its order.
        let mut repeating = layout.as_deref().is_some_and(|l| !l.keys.is_empty());
        // Whether the kept keys came strictly ascending (then the text is already in order).
        let mut sorted = true;
        let mut last_kept: Option<Key> = None;
        // Whether a member was removed for its value (another with its key may be kept).
        let mut pruned = false;
        loop {
            self.p.skip_ws();
            if self.p.peek() != Some(b'"') {
                return Err(self.p.err("expected a string key"));
            }
            let before = self.out.len();
            if before != open {
                self.out.push(b',');
            }
            let start = self.out.len();
            let count = self.members.len() - base;
            let known = match layout.as_deref() {
                Some(l) if repeating => l.keys.get(count).filter(|k| self.p.at_key(k)),
                _ => None,
            };
            let key = match known {
                Some(k) => {
                    let at = self.p.pos + 1;
                    let end = at + k.as_bytes().len();
                    k.write_quoted(&mut self.out);
                    self.p.pos = end + 1;
                    Key::At(at as u32, end as u32)
                }
                None => {
                    if repeating && count > 0 {
                        // The members so far were not checked for order.
                        sorted = false;
                    }
                    repeating = false;
                    self.key()?
                }
            };
            self.p.skip_ws();
            if self.p.peek() != Some(b':') {
                return Err(self.p.err("expected ':'"));
            }
            self.p.pos += 1;
            self.p.skip_ws();
            self.out.push(b':');
            let fate = self.member(depth + 1, key, filter)?;
            let text = if fate == Fate::Kept {
                Some((start as u32, self.out.len() as u32))
            } else {
                self.out.truncate(before);
                // A key the filter drops is dropped wherever it repeats: no member to hide.
                pruned |= fate == Fate::Pruned;
                None
            };
            if text.is_some() && !repeating {
                if let Some(last) = last_kept {
                    let order = key_order(self.key_bytes(last), self.key_bytes(key));
                    sorted &= order.is_lt();
                }
                last_kept = Some(key);
            }
            self.members.push(Member { key, text });
            self.p.skip_ws();
            match self.p.peek() {
                Some(b',') => self.p.pos += 1,
                Some(b'}') => {
                    self.p.pos += 1;
                    break;
                }
                _ => return Err(self.p.err("expected ',' or '}'")),
            }
        }
        let count = self.members.len() - base;
        let kept = match layout.as_deref_mut() {
            Some(l) if repeating => {
                if !l.sorted {
                    self.write_in_order(base, open, &l.order, false);
                }
                count
            }
            _ => {
                let in_order = sorted && !(pruned && self.removed_key_repeats(base));
                if in_order {
                    self.order.clear();
                    self.order.extend((0..count as u32).map(|i| (0, i)));
                } else {
                    self.sort(base);
                }
                if let Some(l) = layout {
                    self.learn(l, base, in_order);
                }
                if in_order {
                    let members = self.members.get(base..).unwrap_or_default();
                    members.iter().filter(|m| m.text.is_some()).count()
                } else {
                    let order = std::mem::take(&mut self.order);
                    let kept = self.write_in_order(base, open, &order, true);
                    self.order = order;
                    kept
                }
            }
        };
        self.members.truncate(base);
        self.out.push(b'}');
        Ok(kept)
    }

    /// One member's value, its key written; what becomes of it (the caller cuts the key of a
    /// removed one).
    fn member(
        &mut self,
        depth: usize,
        key: Key,
        filter: Option<&Filter>,
    ) -> Result<Fate, ParseError> {
        let pick = filter.map_or(Pick::Keep, |f| f.pick(self.key_bytes(key)));
        let object_follows = self.p.peek() == Some(b'{') && depth < MAX_DEPTH;
        match pick {
            Pick::Drop => self.p.skip(depth).map(|()| Fate::Dropped),
            Pick::Inside(inner) if object_follows => {
                let kept = self.object(depth, Some(inner), None)?;
                // `allow` keeps an object only when something in it stays.
                Ok(if kept == 0 && inner.is_allow() {
                    Fate::Pruned
                } else {
                    Fate::Kept
                })
            }
            // `allow`'s paths go on through objects only.
            Pick::Inside(inner) if inner.is_allow() => self.p.skip(depth).map(|()| Fate::Pruned),
            // Most values are strings: without `value`'s call (the same depth rule).
            Pick::Keep | Pick::Inside(_) if self.p.peek() == Some(b'"') && depth < MAX_DEPTH => {
                self.string().map(|_| Fate::Kept)
            }
            Pick::Keep | Pick::Inside(_) => self.value(depth).map(|()| Fate::Kept),
        }
    }

    /// Whether a removed member's key is also another member's (of the object from `base`):
    /// then which member wins is decided by position, as in the tree.
    fn removed_key_repeats(&self, base: usize) -> bool {
        let members = self.members.get(base..).unwrap_or_default();
        members.iter().enumerate().any(|(i, m)| {
            m.text.is_none()
                && members
                    .iter()
                    .enumerate()
                    .any(|(j, o)| i != j && self.key_bytes(o.key) == self.key_bytes(m.key))
        })
    }

    /// `order`: the members from `base` in key order, equal keys in document order (so the
    /// last of each run is the one that wins).
    fn sort(&mut self, base: usize) {
        let mut order = std::mem::take(&mut self.order);
        let members = self.members.get(base..).unwrap_or_default();
        order.clear();
        order.extend(members.iter().zip(0..).map(|(m, i)| {
            let mut prefix = [0; 8];
            let key = self.key_bytes(m.key);
            let n = key.len().min(8);
            prefix[..n].copy_from_slice(&key[..n]);
            (u64::from_be_bytes(prefix), i)
        }));
        let key = |i: u32| {
            members
                .get(i as usize)
                .map_or(&[][..], |m| self.key_bytes(m.key))
        };
        order.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| key_order(key(a.1), key(b.1)))
                .then(a.1.cmp(&b.1))
        });
        self.order = order;
    }

    /// Remember the keys of the object from `base` (in `order`) for the array's next element,
    /// when they are plain and distinct; forget them otherwise.
    fn learn(&self, layout: &mut Layout, base: usize, sorted: bool) {
        let members = self.members.get(base..).unwrap_or_default();
        layout.keys.clear();
        let plain = members
            .iter()
            .all(|m| m.text.is_some() && matches!(m.key, Key::At(..)));
        let key = |r: &Rank| members.get(r.1 as usize).map(|m| self.key_bytes(m.key));
        let distinct = self.order.windows(2).all(|w| key(&w[0]) != key(&w[1]));
        if !(plain && distinct) {
            return;
        }
        layout
            .keys
            .extend(members.iter().map(|m| Str::new(self.key_text(m.key), true)));
        layout.order.clone_from(&self.order);
        layout.sorted = sorted;
    }

    /// Rewrite the text of the object from `open` (members from `base`) in `order`, removed
    /// members left out and, with `dedup` (`order` as [`Transcoder::sort`] made it), only the
    /// last of equal keys; how many it kept. The members are copied past the end in order (a
    /// short one as one fixed-size window, as [`Transcoder::copy`]), and that copy moved back
    /// over the original.
    fn write_in_order(&mut self, base: usize, open: usize, order: &[Rank], dedup: bool) -> usize {
        let members = self.members.get(base..).unwrap_or_default();
        let (input, decoded) = (self.p.input, &self.decoded);
        let key = |i: u32| {
            members
                .get(i as usize)
                .map_or(&[][..], |m| key_bytes(input, decoded, m.key))
        };
        let end = self.out.len();
        let mut kept = 0;
        for (j, &(prefix, i)) in order.iter().enumerate() {
            let Some((start, stop)) = members.get(i as usize).and_then(|m| m.text) else {
                continue;
            };
            // Equal keys have equal prefixes ([`Rank`]): most neighbours differ there, and
            // their key bytes are not compared.
            let next = order.get(j + 1);
            if dedup && next.is_some_and(|&(p, n)| p == prefix && key(n) == key(i)) {
                continue;
            }
            if kept > 0 {
                self.out.push(b',');
            }
            let (start, stop) = (start as usize, stop as usize);
            let window = self
                .out
                .get(start..start + RUN)
                .and_then(|w| <[u8; RUN]>::try_from(w).ok());
            match window {
                Some(window) if stop - start <= RUN => {
                    let len = self.out.len() + stop - start;
                    self.out.extend_from_slice(&window);
                    self.out.truncate(len);
                }
                _ => self.out.extend_from_within(start..stop),
            }
            kept += 1;
        }
        self.out.copy_within(end.., open);
        self.out.truncate(open + self.out.len() - end);
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;
    use proptest::prelude::*;

    fn paths(list: &[&str]) -> Vec<Vec<String>> {
        list.iter()
            .map(|p| p.split('.').map(str::to_owned).collect())
            .collect()
    }

    /// What the tree gives: parse, filter, write.
    fn by_tree(input: &str, filter: &Filter) -> Option<(String, usize)> {
        match parse(input.as_bytes()).ok()? {
            Value::Object(mut m) => {
                filter.apply(&mut m);
                let n = m.len();
                Some((Value::Object(m).to_json(), n))
            }
            _ => None,
        }
    }

    fn by_transcoding(input: &str, filter: &Filter) -> Option<(String, usize)> {
        let t = transcode(input.as_bytes(), filter).ok()?;
        Some((String::from_utf8(t.bytes).ok()?, t.len))
    }

    fn agree(input: &str, filter: &Filter) {
        assert_eq!(
            by_transcoding(input, filter),
            by_tree(input, filter),
            "{input} {filter:?}"
        );
    }

    /// JSON text with what the tree and the transcoder may disagree on: repeated and unsorted
    /// keys, whitespace, escapes, text Go escapes, numbers, nesting.
    fn text() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec!["a", "b", "c", "ab", "\\u0061", "<", "é"]);
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("-0.5e3".to_owned()),
            Just("12345678901234567890".to_owned()),
            "[a-c <&>\"\\\\é\u{2028}]{0,6}"
                .prop_map(|s| format!("{:?}", s).replace("\\u{2028}", "\u{2028}")),
            Just("\"x\\n\\ud83d\\ude00\\/\"".to_owned()),
        ];
        leaf.prop_recursive(4, 40, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|items| format!("[ {} ]", items.join(" ,"))),
                prop::collection::vec((key.clone(), inner), 0..6).prop_map(|members| {
                    let members: Vec<String> = members
                        .iter()
                        .map(|(k, v)| format!("\"{k}\" :{v}"))
                        .collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    fn filter() -> impl Strategy<Value = Filter> {
        let path = prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "<"]), 1..4);
        (any::<bool>(), prop::collection::vec(path, 0..4)).prop_map(|(allow, paths)| {
            let paths: Vec<Vec<String>> = paths
                .iter()
                .map(|p| p.iter().map(|s| (*s).to_owned()).collect())
                .collect();
            if allow {
                Filter::allow(&paths)
            } else {
                Filter::deny(&paths)
            }
        })
    }

    proptest! {
        #[test]
        fn transcoding_is_parsing_filtering_and_writing(
            members in prop::collection::vec((prop::sample::select(vec!["a", "b", "c"]), text()), 0..6),
            filter in filter(),
            cut in any::<prop::sample::Index>(),
        ) {
            let members: Vec<String> =
                members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let doc = format!("{{{}}}", members.join(","));
            prop_assert_eq!(by_transcoding(&doc, &filter), by_tree(&doc, &filter), "{}", doc);
            // Cut short, both refuse (or, cut at a boundary that still parses, both agree).
            let short = doc.get(..cut.index(doc.len())).unwrap_or_default();
            prop_assert_eq!(by_transcoding(short, &filter), by_tree(short, &filter));
        }
    }

    proptest! {
        /// Arrays of records: elements that repeat the previous one's keys, in its order or
        /// not, fewer, more, repeated or escaped.
        #[test]
        fn records_are_written_as_the_tree_writes_them(
            elements in prop::collection::vec(
                prop::collection::vec(
                    prop::sample::select(vec!["id", "sku", "a", "zz", "b\\u0041", "<"]),
                    0..5,
                ),
                1..6,
            ),
        ) {
            let items: Vec<String> = elements
                .iter()
                .enumerate()
                .map(|(i, keys)| {
                    let members: Vec<String> =
                        keys.iter().enumerate().map(|(j, k)| format!("\"{k}\":{}", i * 10 + j)).collect();
                    format!("{{{}}}", members.join(","))
                })
                .collect();
            let doc = format!("{{\"items\":[{}]}}", items.join(","));
            let none = Filter::deny(&[]);
            prop_assert_eq!(by_transcoding(&doc, &none), by_tree(&doc, &none), "{}", doc);
        }
    }

    #[test]
    fn writes_what_the_tree_writes() {
        let none = Filter::deny(&[]);
        for input in [
            r#"{}"#,
            r#" { "b" : 1 , "a" : [ 1 , {"z":null,"y":true} , "x" ] } "#,
            r#"{"a":1,"a":2,"b":{"c":3,"c":{"d":4}}}"#,
            r#"{"s":"<&>\u2028 \"q\" \\ é \ud83d\ude00 \ud800","k\u0041":"\t"}"#,
            r#"{"n":-0.5e+10,"m":12345678901234567890123,"l":[],"o":{}}"#,
            "{\"x\":\"\u{2028}\u{2029}\u{2030}\"}",
            // Keys longer than a sort prefix that share it: equal only where the rest is.
            r#"{"prefix_b":1,"prefix_a":2,"prefix_b":3,"prefix_":4,"prefix_a\u0062":5}"#,
            r#"{"zz":0,"long_key_one":1,"long_key_two":2,"long_key_one":3}"#,
        ] {
            agree(input, &none);
        }
    }

    #[test]
    fn filters_as_the_tree_filters() {
        let input =
            r#"{"a":{"b":1,"c":{"d":2,"e":3}},"l":[{"x":1}],"p":"s","a":{"b":5,"z":6},"q":{}}"#;
        for list in [
            &["a.b"][..],
            &["a"],
            &["a.c.d", "l.x", "p"],
            &["a.b", "a"],
            &["q.r", "nothing"],
            &["a.z", "p.x", "l"],
        ] {
            agree(input, &Filter::allow(&paths(list)));
            agree(input, &Filter::deny(&paths(list)));
        }
        // The last duplicate wins before filtering: the kept first one must not come back.
        for filter in [
            Filter::allow(&paths(&["a.b"])),
            Filter::deny(&paths(&["a"])),
        ] {
            agree(r#"{"a":{"b":1},"a":{"z":1}}"#, &filter);
            agree(r#"{"a":{"z":1},"a":{"b":1},"c":2}"#, &filter);
            agree(r#"{"a":2,"a":{"b":1}}"#, &filter);
        }
    }

    #[test]
    fn refuses_what_the_parser_refuses() {
        let none = Filter::deny(&[]);
        for input in [
            "",
            "[1]",
            "\"s\"",
            "{",
            "{\"a\"}",
            "{\"a\":1,}",
            "{\"a\":1} x",
            "{\"a\":tru}",
            "{\"a\":\"\u{1}\"}",
            "{\"a\":01}",
            "{\"a\":[1 2]}",
            "{\"a\":\"\\x\"}",
        ] {
            assert!(transcode(input.as_bytes(), &none).is_err(), "{input:?}");
        }
        assert!(transcode(b"{\"a\":\"\xff\"}", &none).is_err());
        let deny = Filter::deny(&paths(&["a"]));
        // A removed value is still checked.
        assert!(transcode(br#"{"a":[1,}"#, &deny).is_err());
        // Around the depth limit both agree, and the limit is inside the range tried.
        let mut seen = Vec::new();
        for n in MAX_DEPTH - 3..MAX_DEPTH + 2 {
            let doc = format!("{{\"a\":{}{}}}", "[".repeat(n), "]".repeat(n));
            let parsed = parse(doc.as_bytes()).is_ok();
            assert_eq!(transcode(doc.as_bytes(), &none).is_ok(), parsed, "{n}");
            assert_eq!(transcode(doc.as_bytes(), &deny).is_ok(), parsed, "{n}");
            let nested = format!("{{\"a\":{}1{}}}", "{\"a\":".repeat(n), "}".repeat(n));
            let allow = Filter::allow(&[vec!["a".to_owned(); n + 1]]);
            let parsed_nested = parse(nested.as_bytes()).is_ok();
            assert_eq!(
                transcode(nested.as_bytes(), &allow).is_ok(),
                parsed_nested,
                "{n}"
            );
            seen.push((parsed, parsed_nested));
        }
        for pick in [|s: &(bool, bool)| s.0, |s: &(bool, bool)| s.1] {
            let outcomes: Vec<bool> = seen.iter().map(pick).collect();
            assert!(outcomes.contains(&true) && outcomes.contains(&false));
        }
    }
}
