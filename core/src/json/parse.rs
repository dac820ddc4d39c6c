//! JSON text to [`Value`], exact numbers, bounded depth; and path location for config errors.

use std::fmt;

use super::{Map, Number, Str, Value, MAX_DEPTH};

/// Why a JSON text was rejected, with the byte offset where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset in the input.
    pub offset: usize,
    /// What was wrong.
    pub message: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for ParseError {}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// Parse a complete JSON document (surrounding whitespace allowed, nothing else).
pub fn parse(input: &[u8]) -> Result<Value, ParseError> {
    let mut p = Parser::new(input)?;
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos != input.len() {
        return Err(p.err("trailing characters after the JSON value"));
    }
    Ok(v)
}

/// Which top-level keys [`parse_keeping`] builds, given a key's bytes.
pub type Keep<'a> = dyn Fn(&[u8]) -> bool + 'a;

/// Parse a complete JSON document like [`parse`]; when it is an object, only the values of
/// the top-level keys `keep` accepts (given their bytes: no UTF-8 check per key) are built,
/// the others are checked (the whole document must still be valid JSON) and skipped without
/// allocating. An `allow` filter then sees exactly the same data, without building and
/// dropping everything it would throw away.
pub fn parse_keeping(input: &[u8], keep: &Keep<'_>) -> Result<Value, ParseError> {
    let mut p = Parser::new(input)?;
    p.skip_ws();
    let v = if p.peek() == Some(b'{') {
        p.object(0, Some(keep), None)?
    } else {
        p.value(0)?
    };
    p.skip_ws();
    if p.pos != input.len() {
        return Err(p.err("trailing characters after the JSON value"));
    }
    Ok(v)
}

/// Byte offset of the value at `path` in `input` (for error locations), or of the deepest
/// existing ancestor when the path does not exist.
pub fn locate(input: &[u8], path: &[PathSeg]) -> usize {
    let Ok(mut p) = Parser::new(input) else {
        return 0;
    };
    p.skip_ws();
    let mut best = p.pos;
    for seg in path {
        match (seg, p.peek()) {
            (PathSeg::Key(want), Some(b'{')) => {
                p.pos += 1;
                let mut found = false;
                loop {
                    p.skip_ws();
                    if p.peek() != Some(b'"') {
                        break;
                    }
                    let key_at = p.pos;
                    let Ok(key) = p.string() else { return best };
                    p.skip_ws();
                    if p.peek() != Some(b':') {
                        return best;
                    }
                    p.pos += 1;
                    p.skip_ws();
                    if key.as_str() == want.as_str() {
                        // Point at the key: "line 12: `url_patern`" reads better than the value.
                        best = key_at;
                        found = true;
                        break;
                    }
                    if p.value(0).is_err() {
                        return best;
                    }
                    p.skip_ws();
                    if p.peek() == Some(b',') {
                        p.pos += 1;
                    }
                }
                if !found {
                    return best;
                }
            }
            (PathSeg::Index(want), Some(b'[')) => {
                p.pos += 1;
                p.skip_ws();
                for _ in 0..*want {
                    if p.value(0).is_err() {
                        return best;
                    }
                    p.skip_ws();
                    if p.peek() != Some(b',') {
                        return best;
                    }
                    p.pos += 1;
                    p.skip_ws();
                }
                best = p.pos;
            }
            _ => return best,
        }
    }
    best
}

/// Whether `text` is exactly one JSON number.
pub(crate) fn is_number(text: &str) -> bool {
    let mut p = Parser {
        input: text.as_bytes(),
        text,
        pos: 0,
        members: Vec::new(),
        items: Vec::new(),
    };
    p.number().is_ok() && p.pos == text.len()
}

pub(super) struct Parser<'a> {
    pub(super) input: &'a [u8],
    /// The same bytes, checked as UTF-8 once up front: a string without escapes is then one
    /// slice and one copy (its ends are ASCII quotes, so always character boundaries).
    pub(super) text: &'a str,
    pub(super) pos: usize,
    /// Members of the objects being parsed, innermost last: one stack for the whole document,
    /// so each finished object takes its members in one exact allocation instead of growing a
    /// vector of its own.
    members: Vec<(Str, Value)>,
    /// Elements of the arrays being parsed, likewise.
    items: Vec<Value>,
}

// === impl Parser ===

impl<'a> Parser<'a> {
    fn new(input: &'a [u8]) -> Result<Self, ParseError> {
        let mut p = Self::scanner(input)?;
        // Room for a small document's members from the start (a member takes six bytes or
        // more): growing from empty cost two reallocations on a 100-byte answer.
        p.members.reserve((input.len() / 8).clamp(4, 32));
        Ok(p)
    }

    /// A parser over `input` (checked as UTF-8) that builds nothing yet: its stacks are empty.
    pub(super) fn scanner(input: &'a [u8]) -> Result<Self, ParseError> {
        let text = std::str::from_utf8(input).map_err(|e| ParseError {
            offset: e.valid_up_to(),
            message: "invalid UTF-8",
        })?;
        Ok(Parser {
            input,
            text,
            pos: 0,
            members: Vec::new(),
            items: Vec::new(),
        })
    }

    /// Move past plain string content, up to the next `"`, `\\` or control character.
    fn scan_plain(&mut self) {
        let rest = self.input.get(self.pos..).unwrap_or_default();
        self.pos += super::scan::parse_plain(rest);
    }

    /// The text between two positions that are character boundaries.
    fn slice(&self, start: usize) -> &'a str {
        self.text.get(start..self.pos).unwrap_or_default()
    }
    /// The text from `start` to here as a [`Str`]; short text is copied as a fixed-size window
    /// of the input where the input is long enough ([`Str::from_window`]).
    #[inline(always)]
    fn text_from(&self, start: usize, verbatim: bool) -> Str {
        let window = self
            .input
            .get(start..start + super::str::INLINE)
            .and_then(|w| <&[u8; super::str::INLINE]>::try_from(w).ok());
        window
            .and_then(|w| Str::from_window(w, self.pos - start, verbatim))
            .unwrap_or_else(|| Str::new(self.slice(start), verbatim))
    }

    pub(super) fn err(&self, message: &'static str) -> ParseError {
        ParseError {
            offset: self.pos,
            message,
        }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    pub(super) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    pub(super) fn literal(&mut self, word: &'static [u8], v: Value) -> Result<Value, ParseError> {
        if self.input.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, ParseError> {
        if depth >= MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        match self.peek() {
            Some(b'{') => self.object(depth, None, None),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end of input")),
        }
    }

    /// A member's or element's value: strings (most of them) without `value`'s call (the same
    /// depth rule: a scalar counts as a level too).
    #[inline(always)]
    fn member(&mut self, depth: usize) -> Result<Value, ParseError> {
        match self.peek() {
            Some(b'"') if depth < MAX_DEPTH => self.string().map(Value::String),
            _ => self.value(depth),
        }
    }

    /// An object; with `keep`, only the values of accepted keys are built, the others are
    /// checked and skipped ([`parse_keeping`]). `shape` is given for an array's elements: the
    /// keys of the previous element ([`Shape`]).
    fn object(
        &mut self,
        depth: usize,
        keep: Option<&Keep<'_>>,
        mut shape: Option<&mut Shape>,
    ) -> Result<Value, ParseError> {
        self.pos += 1;
        let base = self.members.len();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(Map::new()));
        }
        // While this object's keys repeat the previous element's, in the same order, each
        // member goes straight to its place in key order (`placed`), not to the stack.
        let mut repeating = shape.as_deref().is_some_and(|s| !s.keys.is_empty());
        let mut placed: Vec<(Str, Value)> = Vec::new();
        let mut count = 0;
        // Every key's text is its bytes in the input (no escapes): the keys can be a shape.
        let mut plain = true;
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let known = match shape.as_deref() {
                Some(s) if repeating => s.known(count, self),
                _ => None,
            };
            let (key, rank) = match known {
                Some((key, rank)) => {
                    self.pos += key.as_bytes().len() + 2;
                    (key, Some(rank))
                }
                None => {
                    if repeating {
                        repeating = false;
                        self.unplace(&mut placed, shape.as_deref(), count);
                    }
                    let start = self.pos;
                    let key = self.string()?;
                    // Every escape is longer than the character it stands for.
                    plain &= key.as_bytes().len() + 2 == self.pos - start;
                    (key, None)
                }
            };
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.pos += 1;
            self.skip_ws();
            if keep.is_some_and(|keep| !keep(key.as_bytes())) {
                self.skip(depth + 1)?;
            } else {
                let v = self.member(depth + 1)?;
                match rank {
                    Some(rank) => {
                        if placed.is_empty() {
                            let n = shape.as_deref().map_or(0, |s| s.keys.len());
                            placed.resize_with(n, || (Str::EMPTY, Value::Null));
                        }
                        if let Some(slot) = placed.get_mut(rank) {
                            // Each rank is filled once, so the slot holds the empty
                            // placeholder: nothing to drop (forgetting it skips the call).
                            std::mem::forget(std::mem::replace(slot, (key, v)));
                        }
                    }
                    // Duplicate keys: the last one wins, deterministically (documented
                    // behaviour).
                    None => self.members.push((key, v)),
                }
            }
            count += 1;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    if repeating && count == placed.len() {
                        return Ok(Value::Object(Map::from_sorted(placed)));
                    }
                    // Fewer members than the previous element.
                    self.unplace(&mut placed, shape.as_deref(), count);
                    return Ok(Value::Object(match shape.as_deref_mut() {
                        Some(s) if plain && self.another_element_follows() => {
                            s.learn(&mut self.members, base)
                        }
                        _ => Map::from_members(take_tail(&mut self.members, base)),
                    }));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    /// Move the first `count` members of an object that stopped repeating its shape from their
    /// places in key order back to the stack, in document order.
    fn unplace(&mut self, placed: &mut Vec<(Str, Value)>, shape: Option<&Shape>, count: usize) {
        if let Some(s) = shape.filter(|_| !placed.is_empty()) {
            let ranks = s.rank.get(..count).unwrap_or_default();
            self.members.extend(
                ranks
                    .iter()
                    .filter_map(|&r| placed.get_mut(r).map(std::mem::take)),
            );
        }
        placed.clear();
    }

    /// Whether the input here is the string `"key"` (the key's bytes, then the closing quote).
    pub(super) fn at_key(&self, key: &Str) -> bool {
        let rest = self.input.get(self.pos + 1..).unwrap_or_default();
        let len = key.as_bytes().len();
        key.starts(rest) && rest.get(len) == Some(&b'"')
    }

    /// Whether a `,` (after whitespace) follows: the array has another element.
    fn another_element_follows(&self) -> bool {
        let rest = self.input.get(self.pos..).unwrap_or_default();
        rest.iter()
            .find(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
            .is_some_and(|&b| b == b',')
    }

    /// Out of line, like `object`: inlined into `value`, its registers made every string and
    /// number pay for saving them.
    #[inline(never)]
    fn array(&mut self, depth: usize) -> Result<Value, ParseError> {
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(Vec::new()));
        }
        let base = self.items.len();
        let mut shape = Shape::default();
        loop {
            self.skip_ws();
            let v = if self.peek() == Some(b'{') && depth + 1 < MAX_DEPTH {
                self.object(depth + 1, None, Some(&mut shape))?
            } else {
                self.member(depth + 1)?
            };
            self.items.push(v);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(take_tail(&mut self.items, base)));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Check one number's syntax and move past it; returns where it started.
    pub(super) fn scan_number(&mut self) -> Result<usize, ParseError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        Ok(start)
    }

    fn number(&mut self) -> Result<Number, ParseError> {
        let start = self.scan_number()?;
        // Digits, signs, `.`, `e`: nothing to escape.
        Ok(Number(self.text_from(start, true)))
    }

    /// Check one value and move past it without building it (same rules as `value`).
    pub(super) fn skip(&mut self, depth: usize) -> Result<(), ParseError> {
        if depth >= MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let (close, is_object) = match self.peek() {
            Some(b'{') => (b'}', true),
            Some(b'[') => (b']', false),
            Some(b'"') => return self.skip_string(),
            Some(b't') => return self.literal(b"true", Value::Null).map(drop),
            Some(b'f') => return self.literal(b"false", Value::Null).map(drop),
            Some(b'n') => return self.literal(b"null", Value::Null).map(drop),
            Some(b'-' | b'0'..=b'9') => return self.scan_number().map(drop),
            Some(_) => return Err(self.err("unexpected character")),
            None => return Err(self.err("unexpected end of input")),
        };
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            if is_object {
                if self.peek() != Some(b'"') {
                    return Err(self.err("expected a string key"));
                }
                self.skip_string()?;
                self.skip_ws();
                if self.peek() != Some(b':') {
                    return Err(self.err("expected ':'"));
                }
                self.pos += 1;
                self.skip_ws();
            }
            self.skip(depth + 1)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or a closing bracket")),
            }
        }
    }

    /// Check one string (escapes) and move past it without copying it.
    fn skip_string(&mut self) -> Result<(), ParseError> {
        self.pos += 1;
        loop {
            self.scan_plain();
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1;
                        }
                        Some(b'u') => {
                            self.pos += 1;
                            self.hex4()?;
                        }
                        Some(_) => return Err(self.err("invalid escape")),
                        None => return Err(self.err("unterminated string")),
                    }
                }
                Some(_) => return Err(self.err("control character in string")),
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let digits = self
            .input
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("bad \\u escape"))?;
        let mut n = 0u32;
        for &d in digits {
            let v = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.err("bad \\u escape"))?;
            n = n * 16 + v;
        }
        self.pos += 4;
        Ok(n)
    }

    /// A string or key. The scan stops at everything Go's encoding escapes, so a string that
    /// reaches its closing quote without an escape or one of `<`, `>`, `&`, U+2028/9 is
    /// marked verbatim and written back without a second scan.
    pub(super) fn string(&mut self) -> Result<Str, ParseError> {
        self.pos += 1;
        let start = self.pos;
        let mut verbatim = true;
        loop {
            let rest = self.input.get(self.pos..).unwrap_or_default();
            self.pos += super::scan::write_plain(rest);
            match self.peek() {
                Some(b'"') => {
                    let s = self.text_from(start, verbatim);
                    self.pos += 1;
                    return Ok(s);
                }
                Some(b'\\') => return self.escaped_string(start).map(Str::from),
                // Plain text for the parser, escaped by the writer (0xE2 only as U+2028/9,
                // but the writer's check decides that).
                Some(b'<' | b'>' | b'&' | 0xE2) => {
                    verbatim = false;
                    self.pos += 1;
                }
                Some(_) => return Err(self.err("control character in string")),
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    /// The rest of a string that has escapes, from its content's `start` (the plain text up
    /// to the current position is kept).
    #[cold]
    #[inline(never)]
    fn escaped_string(&mut self, start: usize) -> Result<String, ParseError> {
        let mut out = String::from(self.slice(start));
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let esc = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.pos += 1;
                    out.push(match esc {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(self.err("invalid escape")),
                    });
                }
                Some(_) => return Err(self.err("control character in string")),
                None => return Err(self.err("unterminated string")),
            }
            let start = self.pos;
            self.scan_plain();
            out.push_str(self.slice(start));
        }
    }

    fn unicode_escape(&mut self) -> Result<char, ParseError> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) {
            // A high surrogate should be followed by a low one; a lone one becomes U+FFFD, as in Go.
            if self.input.get(self.pos..self.pos + 2) == Some(b"\\u") {
                let save = self.pos;
                self.pos += 2;
                let second = self.hex4()?;
                if (0xDC00..0xE000).contains(&second) {
                    let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                    return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
                }
                self.pos = save;
            }
            return Ok('\u{FFFD}');
        }
        Ok(char::from_u32(first).unwrap_or('\u{FFFD}'))
    }
}

/// The keys of the previous object element of an array, in document order, and where each
/// goes in key order. Arrays of records repeat one set of keys in one order: the next element's
/// keys are then compared with these bytes instead of being scanned and copied, and its members
/// are put in key order as they come, without sorting (scenario c's 405 items: six keys each).
#[derive(Default)]
struct Shape {
    /// Keys whose text is their bytes in the input (no escapes), in document order, distinct.
    keys: Vec<Str>,
    /// `rank[i]`: the position of `keys[i]` in key order.
    rank: Vec<usize>,
}

// === impl Shape ===

impl Shape {
    /// When the input at the parser is the shape's `i`-th key: that key and its rank.
    fn known(&self, i: usize, p: &Parser<'_>) -> Option<(Str, usize)> {
        let key = self.keys.get(i).filter(|k| p.at_key(k))?;
        Some((key.clone(), self.rank.get(i).copied()?))
    }

    /// Take the object whose members are `stack[base..]` in document order, and remember its
    /// keys for the next element; an object with a repeated key is not a shape (it is sorted
    /// and deduplicated as usual).
    fn learn(&mut self, stack: &mut Vec<(Str, Value)>, base: usize) -> Map {
        self.keys.clear();
        self.rank.clear();
        let members = stack.get(base..).unwrap_or_default();
        let key = |i: usize| members.get(i).map_or(&[][..], |(k, _)| k.as_bytes());
        // `order[j]`: the document index of the `j`-th member in key order.
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_unstable_by(|&a, &b| super::map::key_order(key(a), key(b)));
        if order.windows(2).any(|w| key(w[0]) == key(w[1])) {
            return Map::from_members(take_tail(stack, base));
        }
        self.keys.extend(members.iter().map(|(k, _)| k.clone()));
        self.rank.resize(order.len(), 0);
        for (j, &i) in order.iter().enumerate() {
            if let Some(r) = self.rank.get_mut(i) {
                *r = j;
            }
        }
        let mut sorted = Vec::with_capacity(order.len());
        if let Some(tail) = stack.get_mut(base..) {
            sorted.extend(
                order
                    .iter()
                    .filter_map(|&i| tail.get_mut(i).map(std::mem::take)),
            );
        }
        stack.truncate(base);
        Map::from_sorted(sorted)
    }
}

/// The elements from `base` on, in one allocation of exactly their number; `stack` keeps its
/// capacity for the next object or array. (`Vec::split_off(0)` would hand the whole buffer,
/// spare capacity included, to every outermost object and allocate as much again for the stack.)
fn take_tail<T>(stack: &mut Vec<T>, base: usize) -> Vec<T> {
    if base > 0 {
        // One exact allocation and one copy.
        return stack.split_off(base);
    }
    let mut tail = Vec::with_capacity(stack.len());
    tail.append(stack);
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_object_or_array_holds_exactly_its_members() {
        for base in [0, 2] {
            let mut stack: Vec<u32> = Vec::with_capacity(64);
            stack.extend(0..5);
            let tail = take_tail(&mut stack, base);
            assert_eq!(tail, (base as u32..5).collect::<Vec<_>>());
            assert_eq!(tail.capacity(), 5 - base, "base {base}");
            assert_eq!(stack.len(), base);
            assert!(stack.capacity() >= 64, "the stack keeps its buffer");
        }
    }
    #[test]
    fn parse_keeping_matches_parse_and_still_validates() {
        let doc = br#"{"a":{"x":[1,2,{"y":"\u00e9"}]},"b":"s\n","c":[true,false,null,-1.5e3],"a":7,"d":{}}"#;
        let full = parse(doc).unwrap();
        let kept = parse_keeping(doc, &|k| k == b"a" || k == b"d").unwrap();
        let mut expected = full.as_object().unwrap().clone();
        expected.retain(|k, _| k == "a" || k == "d");
        assert_eq!(kept, Value::Object(expected));
        for bad in [
            &br#"{"a":1,"b":[1,}"#[..],
            br#"{"a":1,"b":"\x"}"#,
            b"{\"a\":1,\"b\":\"\xff\"}",
            br#"{"b":01}"#,
            br#"{"b":{"c" 1}}"#,
            br#"{"a":1} x"#,
        ] {
            assert!(parse(bad).is_err());
            assert!(
                parse_keeping(bad, &|k| k == b"a").is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!(
            "{{\"b\":{}{}}}",
            "[".repeat(MAX_DEPTH + 5),
            "]".repeat(MAX_DEPTH + 5)
        );
        assert_eq!(
            parse_keeping(deep.as_bytes(), &|_| false)
                .unwrap_err()
                .message,
            "nesting too deep"
        );
        assert_eq!(
            parse_keeping(b"[1]", &|_| false).unwrap(),
            parse(b"[1]").unwrap()
        );
    }

    /// An array's objects parse as each would alone, whatever their keys (shapes reused,
    /// broken, relearned): repeated, reordered, duplicate, escaped and prefix keys.
    fn elements_parse_as_alone(elements: &[Vec<(&str, u8)>]) {
        let texts: Vec<String> = elements
            .iter()
            .map(|members| {
                let m: Vec<String> = members
                    .iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", m.join(","))
            })
            .collect();
        let array = format!("[{}]", texts.join(" , "));
        let Value::Array(parsed) = parse(array.as_bytes()).unwrap() else {
            panic!("{array}")
        };
        for (got, text) in parsed.iter().zip(&texts) {
            assert_eq!(got, &parse(text.as_bytes()).unwrap(), "{text} in {array}");
        }
        assert_eq!(parsed.len(), texts.len());
    }

    #[test]
    fn repeated_shapes_parse_as_alone() {
        let rec = |v: u8| vec![("id", v), ("sku", v), ("a", v), ("tags", v)];
        elements_parse_as_alone(&[rec(1), rec(2), rec(3)]);
        elements_parse_as_alone(&[rec(1), vec![("id", 2), ("sku", 2)], rec(3), rec(4)]);
        elements_parse_as_alone(&[
            rec(1),
            vec![("id", 2), ("sku", 2), ("a", 2), ("tags", 2), ("z", 2)],
            rec(3),
        ]);
        elements_parse_as_alone(&[
            vec![("a", 1), ("a", 2)],
            vec![("a", 3), ("a", 4)],
            vec![("a", 5)],
        ]);
        elements_parse_as_alone(&[
            vec![("a\\u0062", 1)],
            vec![("ab", 2)],
            vec![("a\\u0062", 3)],
        ]);
        elements_parse_as_alone(&[
            vec![("ab", 1)],
            vec![("a", 2)],
            vec![("abc", 3)],
            vec![("ab", 4)],
        ]);
        // A key that matched the shape's bytes but goes on is not that key.
        let v = parse(br#"[{"a":1,"b":2},{"a":1,"bb":2},{"a\"":1,"b":2}]"#).unwrap();
        assert_eq!(
            v.to_json(),
            r#"[{"a":1,"b":2},{"a":1,"bb":2},{"a\"":1,"b":2}]"#
        );
        for bad in [
            &br#"[{"a":1},{"a"b":1}]"#[..],
            br#"[{"a":1},{"a":}]"#,
            br#"[{"a":1},{"a" 1}]"#,
            br#"[{"a":1},{"a"#,
            br#"[{"a":1},{"a":1,}]"#,
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    proptest::proptest! {
        #[test]
        fn arrays_of_records_parse_as_alone(
            // Two or three records, repeated in a random sequence: shapes are reused and broken.
            records in proptest::collection::vec(
                proptest::collection::vec(
                    (proptest::sample::select(vec!["a", "b", "ab", "a\\u0062", "\\\"", "é", "<&", "zz"]), 0u8..9),
                    0..6,
                ),
                1..4,
            ),
            picks in proptest::collection::vec(0usize..3, 0..8),
        ) {
            let elements: Vec<_> = picks.iter().map(|&i| records[i % records.len()].clone()).collect();
            elements_parse_as_alone(&elements);
        }
    }

    #[test]
    fn numbers_keep_their_text() {
        for n in [
            "9007199254740993",
            "18446744073709551616",
            "-0",
            "1e400",
            "0.1000000000000000055511",
            "1E+2",
        ] {
            let v = parse(format!("{{\"n\":{n}}}").as_bytes()).unwrap();
            assert_eq!(v.to_json(), format!("{{\"n\":{n}}}"));
        }
    }

    #[test]
    fn rejects_bad_documents() {
        for bad in [
            "",
            "{",
            "{\"a\":1}xyz",
            "[1,]",
            "01",
            "1.",
            "-",
            "\u{feff}{}",
            "{\"a\" 1}",
            "nul",
            "\"\\x\"",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?} should fail");
        }
        assert!(parse(b"\"\xff\"").is_err());
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert_eq!(
            parse(deep.as_bytes()).unwrap_err().message,
            "nesting too deep"
        );
        let ok = "[".repeat(MAX_DEPTH - 1) + &"]".repeat(MAX_DEPTH - 1);
        assert!(parse(ok.as_bytes()).is_ok());
        // A scalar counts as a level: strings (parsed without `value`'s call) as much as numbers.
        for scalar in ["\"x\"", "1"] {
            for (n, ok) in [(MAX_DEPTH - 1, true), (MAX_DEPTH, false)] {
                let array = "[".repeat(n) + scalar + &"]".repeat(n);
                let object = "{\"k\":".repeat(n) + scalar + &"}".repeat(n);
                for doc in [array, object] {
                    assert_eq!(parse(doc.as_bytes()).is_ok(), ok, "{n} levels of {scalar}");
                }
            }
        }
    }

    #[test]
    fn duplicate_keys_last_wins_and_escapes_decode() {
        let v = parse(br#"{"a":1,"a":2,"pass\u0077ord":"x","s":"\ud83d\ude00\ud800"}"#).unwrap();
        let m = v.as_object().unwrap();
        assert_eq!(m["a"].to_json(), "2");
        assert!(m.contains_key("password"));
        assert_eq!(m["s"].as_str().unwrap(), "😀\u{FFFD}");
    }

    #[test]
    fn locate_points_at_keys_and_items() {
        let text = b"{\n  \"endpoints\": [\n    {\"a\": 1},\n    {\"endpoint\": \"/x\"}\n  ]\n}";
        let at = locate(
            text,
            &[
                PathSeg::Key("endpoints".into()),
                PathSeg::Index(1),
                PathSeg::Key("endpoint".into()),
            ],
        );
        assert_eq!(&text[at..at + 10], b"\"endpoint\"");
        // A missing key falls back to the deepest ancestor that exists.
        let at = locate(
            text,
            &[
                PathSeg::Key("endpoints".into()),
                PathSeg::Index(0),
                PathSeg::Key("backend".into()),
            ],
        );
        assert_eq!(&text[at..at + 1], b"{");
    }
}
