//! [`Str`]: the text of a JSON string, key or number, kept inline when short.
//!
//! A gateway's JSON is mostly short text: keys, ids, codes, tags. Scenario c's 100 KB body has
//! 4,860 strings and keys and 811 numbers; one heap allocation each (and one free) was the
//! largest per-node cost of parsing and dropping it. Up to [`INLINE`] bytes live inside the
//! value itself (no allocation; 24 bytes, the size of a `String`), longer text is one exact
//! allocation. The parser also records whether the text needs no escaping in Go's encoding
//! (it has just scanned every byte), so the writer copies it whole instead of scanning it
//! again.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Longest text kept inline: 24 bytes minus the variant tag, the flag and the length.
pub(super) const INLINE: usize = 21;

/// The most the writer puts past a string's end before cutting it back ([`Str::write_quoted`]).
pub(super) const WINDOW: usize = INLINE + 2;

/// The text of a JSON string, key or number (see the module documentation).
#[derive(Clone)]
pub struct Str(Repr);

#[derive(Clone)]
enum Repr {
    /// `len` bytes of `buf`, valid UTF-8 (copied from a `&str`).
    Inline {
        verbatim: bool,
        len: u8,
        buf: [u8; INLINE],
    },
    /// Longer text.
    Heap { verbatim: bool, text: Box<str> },
}

// === impl Str ===

impl Str {
    /// The empty text.
    pub const EMPTY: Str = Str(Repr::Inline {
        verbatim: true,
        len: 0,
        buf: [0; INLINE],
    });

    /// Text known (`verbatim = true`) to contain nothing Go's encoding escapes, or not known to.
    pub(super) fn new(s: &str, verbatim: bool) -> Self {
        let bytes = s.as_bytes();
        let mut buf = [0; INLINE];
        match buf.get_mut(..bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                Str(Repr::Inline {
                    verbatim,
                    // Fits: at most INLINE bytes.
                    len: bytes.len() as u8,
                    buf,
                })
            }
            None => Str(Repr::Heap {
                verbatim,
                text: s.into(),
            }),
        }
    }

    /// Inline text: the first `len` bytes of `window`, which the caller took from a `str` at a
    /// character boundary, `len` also one. The whole window is copied (a constant-size copy,
    /// not a `memcpy` call); the bytes past `len` are never read. `None` when `len` is too long.
    pub(super) fn from_window(window: &[u8; INLINE], len: usize, verbatim: bool) -> Option<Self> {
        (len <= INLINE).then_some(Str(Repr::Inline {
            verbatim,
            len: len as u8,
            buf: *window,
        }))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Inline bytes were copied from a `str` whole, so this check cannot fail; it is a
            // short one (at most 21 bytes), and the hot paths (writing, key comparison) use
            // the bytes instead.
            Repr::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Repr::Heap { text, .. } => text,
        }
    }

    /// The text's bytes (UTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf, .. } => buf.get(..usize::from(*len)).unwrap_or_default(),
            Repr::Heap { text, .. } => text.as_bytes(),
        }
    }

    /// Append the text between quotes, as is (for verbatim text). Inline text goes out as one
    /// fixed-size window (quote, the whole buffer, quote) cut back to its length: one capacity
    /// check and a constant-size copy the compiler inlines, where a variable-length one is a
    /// `memcpy` call per string.
    #[inline(always)]
    pub(super) fn write_quoted(&self, out: &mut Vec<u8>) {
        match &self.0 {
            Repr::Inline { len, buf, .. } => {
                let len = usize::from(*len);
                let mut window = [b'"'; WINDOW];
                if let Some(text) = window.get_mut(1..=INLINE) {
                    text.copy_from_slice(buf);
                }
                if let Some(close) = window.get_mut(len + 1) {
                    *close = b'"';
                }
                let end = out.len() + len + 2;
                out.extend_from_slice(&window);
                out.truncate(end);
            }
            Repr::Heap { text, .. } => {
                out.reserve(text.len() + 2);
                out.push(b'"');
                out.extend_from_slice(text.as_bytes());
                out.push(b'"');
            }
        }
    }

    /// Whether `bytes` starts with this text. Inline text is compared as three words of the
    /// buffer (a key of a repeated record shape, checked for every member, without a `memcmp`
    /// call): the first differing byte must lie at or past the text's length.
    #[inline(always)]
    pub(super) fn starts(&self, bytes: &[u8]) -> bool {
        let window = bytes
            .get(..INLINE)
            .and_then(|w| <&[u8; INLINE]>::try_from(w).ok());
        match (&self.0, window) {
            (Repr::Inline { len, buf, .. }, Some(window)) => {
                let word = |b: &[u8; INLINE], at: usize| {
                    let mut w = [0; 8];
                    if let Some(part) = b.get(at..at + 8) {
                        w.copy_from_slice(part);
                    }
                    u64::from_le_bytes(w)
                };
                // Words at 0, 8 and 13 (overlapping) cover the 21 bytes.
                let differs = [0, 8, INLINE - 8]
                    .into_iter()
                    .map(|at| (at, word(buf, at) ^ word(window, at)))
                    .find(|&(_, d)| d != 0)
                    .map_or(INLINE, |(at, d)| at + (d.trailing_zeros() / 8) as usize);
                differs >= usize::from(*len)
            }
            _ => bytes.starts_with(self.as_bytes()),
        }
    }

    /// Whether the text is known to need no escaping in Go's encoding (the writer copies it).
    pub(super) fn is_verbatim(&self) -> bool {
        match &self.0 {
            Repr::Inline { verbatim, .. } | Repr::Heap { verbatim, .. } => *verbatim,
        }
    }
}

impl Default for Str {
    fn default() -> Self {
        Str::EMPTY
    }
}

impl Deref for Str {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Self {
        Str::new(s, false)
    }
}

impl From<&String> for Str {
    fn from(s: &String) -> Self {
        Str::new(s, false)
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        if s.len() <= INLINE {
            Str::new(&s, false)
        } else {
            Str(Repr::Heap {
                verbatim: false,
                text: s.into_boxed_str(),
            })
        }
    }
}

impl From<&Str> for Str {
    fn from(s: &Str) -> Self {
        s.clone()
    }
}

impl From<Str> for String {
    fn from(s: Str) -> Self {
        match s.0 {
            Repr::Heap { text, .. } => text.into_string(),
            Repr::Inline { .. } => s.as_str().to_owned(),
        }
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Str {}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    /// Byte order, which is `str`'s order (and Go's sorted-key order).
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Hash for Str {
    /// As `str` hashes, so lookups through `Borrow<str>` agree.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<String> for Str {
    fn eq(&self, other: &String) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<Str> for str {
    fn eq(&self, other: &Str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<Str> for &str {
    fn eq(&self, other: &Str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<Str> for String {
    fn eq(&self, other: &Str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_agrees_with_starts_with() {
        // Every length, a difference at every position (or none), inputs shorter and longer
        // than the inline buffer; keys made by `new` (zero padding) and `from_window` (input
        // bytes as padding).
        let text = b"abcdefghijklmnopqrstuvwxyz0123456789";
        for len in 0..=24 {
            let key = std::str::from_utf8(&text[..len]).unwrap();
            let mut window = [b'#'; INLINE];
            let n = len.min(INLINE);
            window[..n].copy_from_slice(&text[..n]);
            let keys = [
                Str::new(key, true),
                Str::from_window(&window, len, true).unwrap_or_else(|| Str::new(key, true)),
            ];
            for at in 0..=len + 1 {
                for total in [len, len + 1, INLINE, INLINE + 5, 40] {
                    let mut input = text[..total.min(text.len())].to_vec();
                    if let Some(b) = input.get_mut(at) {
                        *b = b'!';
                    }
                    for k in &keys {
                        assert_eq!(
                            k.starts(&input),
                            input.starts_with(key.as_bytes()),
                            "len {len} at {at} total {total}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn inline_and_heap_agree() {
        for s in [
            "",
            "a",
            "é",
            "123456789012345678901",
            "1234567890123456789012",
            "ü".repeat(30).as_str(),
        ] {
            let a = Str::new(s, true);
            let b = Str::from(s.to_owned());
            assert_eq!(a.as_str(), s);
            assert_eq!(b.as_str(), s);
            assert_eq!(a, b);
            assert_eq!(String::from(b), s);
            assert!(a.is_verbatim());
        }
        // Ordered as their bytes, like `str` (keys are sorted with it).
        let [x, xy, e_acute, z] = ["x", "xy", "é", "z"].map(Str::from);
        assert!(x < xy);
        assert!(e_acute > z);
        assert_eq!(std::mem::size_of::<Str>(), 24);
        assert_eq!(std::mem::size_of::<super::super::Value>(), 32);
    }
}
