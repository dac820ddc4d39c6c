//! Finding the end of plain string content eight bytes at a time (SWAR).
//!
//! The parser and the writer spend most of their time walking string content for the few bytes
//! that end a plain run; a byte table costs several instructions per byte. Testing a whole
//! `u64` for "a control byte, or one of these ASCII/lead bytes" costs a few instructions per
//! eight bytes (no `unsafe`, no platform intrinsics: the same code runs on wasm32).

/// `0x01` in every byte.
const LO: u64 = 0x0101_0101_0101_0101;
/// `0x80` in every byte.
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in (at least) the lowest byte of `v` that is zero; bytes above the first zero
/// may be flagged falsely (a borrow), never bytes below it, so the lowest flag is exact.
#[inline(always)]
fn zero_byte(v: u64) -> u64 {
    v.wrapping_sub(LO) & !v & HI
}

/// Flags bytes of `x` equal to `b` (lowest flag exact, as [`zero_byte`]).
#[inline(always)]
fn byte_eq(x: u64, b: u8) -> u64 {
    zero_byte(x ^ (LO * u64::from(b)))
}

/// Flags bytes of `x` below 0x20 (lowest flag exact; bytes >= 0x80 never flagged).
#[inline(always)]
fn control(x: u64) -> u64 {
    x.wrapping_sub(LO * 0x20) & !x & HI
}

/// Index of the first byte of `bytes` that `table` marks, `bytes.len()` if none; `mask` is the
/// same set as a word test (each of its parts flags the lowest matching byte exactly, so their
/// union does too).
#[inline(always)]
fn first_stop(bytes: &[u8], mask: impl Fn(u64) -> u64, table: &[bool; 256]) -> usize {
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let m = mask(word);
        if m != 0 {
            return at + (m.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let rest = chunks.remainder();
    at + rest
        .iter()
        .position(|&b| table[usize::from(b)])
        .unwrap_or(rest.len())
}

/// Bytes that end a run of plain string content for the parser: `"`, `\\` and control
/// characters.
pub(super) const PARSE_STOP: [bool; 256] = super::stop_table(b"\"\\");

/// The bytes the writer has to look at: control characters, `"`, `\\`, `<`, `>`, `&` and 0xE2
/// (the first byte of U+2028 and U+2029).
pub(super) const WRITE_STOP: [bool; 256] = super::stop_table(b"\"\\<>&\xE2");

/// Length of the plain run at the start of `bytes` for the parser ([`PARSE_STOP`]).
pub(super) fn parse_plain(bytes: &[u8]) -> usize {
    first_stop(
        bytes,
        |x| control(x) | byte_eq(x, b'"') | byte_eq(x, b'\\'),
        &PARSE_STOP,
    )
}

/// Length of the plain run at the start of `bytes` for the writer ([`WRITE_STOP`]).
pub(super) fn write_plain(bytes: &[u8]) -> usize {
    first_stop(
        bytes,
        |x| {
            // `"` (0x22) and `&` (0x26) differ only in bit 2, `<` (0x3C) and `>` (0x3E) only
            // in bit 1: setting that bit tests each pair at once (no other byte maps onto
            // 0x26 or 0x3E that way).
            control(x)
                | byte_eq(x | (LO * 0x04), b'&')
                | byte_eq(x | (LO * 0x02), b'>')
                | byte_eq(x, b'\\')
                | byte_eq(x, 0xE2)
        },
        &WRITE_STOP,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn by_table(bytes: &[u8], table: &[bool; 256]) -> usize {
        bytes
            .iter()
            .position(|&b| table[usize::from(b)])
            .unwrap_or(bytes.len())
    }

    #[test]
    fn every_byte_at_every_offset() {
        // Each byte value alone, at each position of a word and of the tail, behind plain
        // text and in front of other stop bytes (a borrow must not move the answer).
        for b in 0..=255u8 {
            for at in 0..19 {
                for fill in [b'a', 0xC3, 0x7F, 0x21] {
                    let mut v = vec![fill; 19];
                    v[at] = b;
                    if at + 1 < v.len() {
                        v[at + 1] = 0x00;
                    }
                    assert_eq!(parse_plain(&v), by_table(&v, &PARSE_STOP), "{b:#x} at {at}");
                    assert_eq!(write_plain(&v), by_table(&v, &WRITE_STOP), "{b:#x} at {at}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn matches_the_tables(v in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(parse_plain(&v), by_table(&v, &PARSE_STOP));
            prop_assert_eq!(write_plain(&v), by_table(&v, &WRITE_STOP));
        }
    }
}
