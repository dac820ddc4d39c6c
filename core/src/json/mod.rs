//! A JSON value that keeps numbers exactly as received.
//!
//! KrakenD decodes numbers with Go's `UseNumber`, so `9007199254740993` survives; serde_json
//! without `arbitrary_precision` would round it through `f64`, and turning that feature on
//! breaks other crates in the build (untagged enums in the Lambda event types). A small
//! purpose-built value type also gives us a depth limit (no stack overflow on hostile bodies),
//! deterministic duplicate-key handling (last one wins), sorted keys on output and Go's exact
//! string escaping, all of which the gateway's byte-for-byte output depends on.

mod encoded;
mod filter;
mod map;
mod parse;
mod scan;
mod str;
mod transcode;
mod write;

use std::fmt;

pub use encoded::Encoded;
pub use filter::Filter;
pub use map::{Entry, Iter, IterMut, Map, OccupiedEntry, VacantEntry};
pub use parse::{locate, parse, parse_keeping, Keep, ParseError, PathSeg};
pub use str::Str;
pub use transcode::transcode;
pub use write::{write_json, write_string};

/// Deepest nesting accepted from any input; deeper documents are rejected, not overflowed.
pub const MAX_DEPTH: usize = 256;

/// The largest buffer [`Value::to_json_bytes`] allocates up front: a filter may have dropped
/// most of a large body, and beyond this the doubling's copies matter less than the unused
/// memory would.
pub const MAX_PRESIZE: usize = 1 << 20;

/// A byte table marking the control characters and `extra`: the bytes a scan over string
/// content stops at (the parser's and the writer's sets differ only in their extras).
const fn stop_table(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

/// A JSON value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Value {
    /// `null`
    #[default]
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as its literal text.
    Number(Number),
    /// A string.
    String(Str),
    /// An array.
    Array(Vec<Value>),
    /// An object.
    Object(Map),
}

/// A JSON number kept as the exact text it was written with (`1e400`, `-0` and 20-digit
/// integers survive untouched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number(Str);

// === impl Number ===

impl Number {
    /// The literal text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The literal text's bytes (ASCII).
    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// A number from an integer.
    pub fn from_u64(n: u64) -> Self {
        Number(Str::new(&n.to_string(), true))
    }

    /// A number from text that is already valid JSON number syntax (checked).
    pub fn parse(text: &str) -> Option<Self> {
        parse::is_number(text).then(|| Number(Str::new(text, true)))
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl Value ===

impl Value {
    /// The object inside, if this is one.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The object inside, mutably, if this is one.
    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The string inside, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Compact JSON text (Go's encoding: sorted keys, `<>&` escaped).
    pub fn to_json(&self) -> String {
        write::into_text(self.to_json_bytes(0))
    }

    /// Compact JSON as bytes, written into a buffer of `size_hint` bytes to start with (at
    /// most [`MAX_PRESIZE`]): the length of the text it was parsed from, when that is known. A
    /// text much shorter than its buffer (a filter dropped most of the body) gives the rest
    /// back, so an answer waiting to be sent does not hold up to a megabyte for a few bytes.
    /// The bytes are UTF-8 by construction (see the `write` module) and not checked again:
    /// an answer's body is bytes, and the check cost 0.44 instructions per byte of it.
    pub fn to_json_bytes(&self, size_hint: usize) -> Vec<u8> {
        // The writer copies short text as a fixed-size window before cutting it back
        // (`Str::write_quoted`): room for one window past the end, or an answer exactly as long
        // as the hint would double its buffer at its last string.
        let slack = if size_hint == 0 { 0 } else { str::WINDOW };
        let mut out = Vec::with_capacity(size_hint.min(MAX_PRESIZE) + slack);
        write::write_value(&mut out, self);
        if out.capacity() > 2 * out.len() + 4096 {
            out.shrink_to_fit();
        }
        out
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(Str::from(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(Str::from(s))
    }
}

impl From<Str> for Value {
    fn from(s: Str) -> Self {
        Value::String(s)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Object(m)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Number(Number::from_u64(n))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// Build a [`Value`] from serde_json's (used for config values that never carry numbers
/// beyond `f64` precision that matter, such as header lists).
pub fn from_serde(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Number(Number(Str::new(&n.to_string(), true))),
        serde_json::Value::String(s) => Value::String(Str::from(s)),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(from_serde).collect()),
        serde_json::Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (Str::from(k), from_serde(v)))
                .collect(),
        ),
    }
}
