//! The text of a log line, written by hand as bytes into one reused buffer: decimal numbers,
//! the milliseconds of a duration, an IP address, hex ids, a timestamp, and JSON (serde_json's
//! escaping and number format), optionally escaped once more as Rust's `Debug` of a `&str`
//! (the native text log's quoted `calls` field). `fmt::write` and `serde_json` cost more than
//! the rest of a proxied request's own work here; the output is byte for byte theirs (the
//! tests compare). Bytes, not a `String`: every piece is ASCII or a copy of a `&str`, so the
//! line is UTF-8 without a check per digit run (the text log writes the bytes as they are; a
//! caller that needs a `String` checks the whole line once).

use std::io::Write as _;
use std::net::IpAddr;

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Largest microsecond count whose milliseconds are written without `fmt`/serde_json: below
/// 10^15 the decimal `n / 1000` has at most 15 significant digits, so it is the shortest text
/// that reads back as the same `f64`, which is what both print.
const FAST_MILLIS: u64 = 1_000_000_000_000_000;

/// Appends `v` in decimal.
#[inline]
pub fn push_u64(out: &mut Vec<u8>, v: u64) {
    if v < 1000 {
        // Statuses, octets, counts: one short copy, no loop.
        let (h, t, o) = (
            b'0' + (v / 100) as u8,
            b'0' + (v / 10 % 10) as u8,
            b'0' + (v % 10) as u8,
        );
        if v >= 100 {
            out.extend_from_slice(&[h, t, o]);
        } else if v >= 10 {
            out.extend_from_slice(&[t, o]);
        } else {
            out.push(o);
        }
        return;
    }
    let mut buf = [0u8; 20];
    let at = digits(v, &mut buf);
    out.extend_from_slice(buf.get(at..).unwrap_or_default());
}

/// Writes `v`'s decimal digits at the end of `buf`; returns where they start.
fn digits(mut v: u64, buf: &mut [u8; 20]) -> usize {
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(d) = buf.get_mut(i) {
            *d = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    i
}

/// Appends `micros / 1000` as `{:?}` of that `f64` prints it (`1.402`, `3.0`), which is also
/// how serde_json prints it.
pub fn push_millis(out: &mut Vec<u8>, micros: u64) {
    if micros >= FAST_MILLIS {
        let _ = write!(out, "{:?}", micros as f64 / 1000.0);
        return;
    }
    push_u64(out, micros / 1000);
    let frac = micros % 1000;
    let d = [
        b'.',
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ];
    // `.0` for whole milliseconds, else the fraction without its trailing zeros.
    let len = if frac.is_multiple_of(100) {
        2
    } else if frac.is_multiple_of(10) {
        3
    } else {
        4
    };
    out.extend_from_slice(d.get(..len).unwrap_or_default());
}

/// Each byte's decimal digits (up to three, left-aligned) and their count: an IPv4
/// address's octet is then one 4-byte copy, not a division and a branch per digit.
const OCTETS: [[u8; 4]; 256] = {
    let mut table = [[0u8; 4]; 256];
    let mut b = 0;
    while b < 256 {
        let (h, t, o) = ((b / 100) as u8, (b / 10 % 10) as u8, (b % 10) as u8);
        table[b] = if b >= 100 {
            [b'0' + h, b'0' + t, b'0' + o, 3]
        } else if b >= 10 {
            [b'0' + t, b'0' + o, 0, 2]
        } else {
            [b'0' + o, 0, 0, 1]
        };
        b += 1;
    }
    table
};

/// Appends `ip` as its `Display` prints it.
pub fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            // Into a stack buffer, one copy (the access line and the OTLP span both write it):
            // each octet as a dot and three digit slots, the next octet's dot written over
            // the slots this one did not use.
            let mut buf = [0u8; 16];
            let mut n = 0;
            for octet in v4.octets() {
                let [a, b, c, len] = OCTETS[usize::from(octet)];
                if let Some(slot) = buf.get_mut(n..n + 4) {
                    slot.copy_from_slice(&[b'.', a, b, c]);
                }
                n += 1 + usize::from(len);
            }
            out.extend_from_slice(buf.get(1..n).unwrap_or_default());
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// The two lower-case hex digits of every byte: one 2-byte load per byte instead of two
/// nibble lookups (ids are written several times per request: request id, trace and span ids,
/// `traceparent`).
const HEX_PAIRS: [[u8; 2]; 256] = {
    let mut pairs = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        pairs[b] = [HEX_DIGITS[b >> 4], HEX_DIGITS[b & 15]];
        b += 1;
    }
    pairs
};

/// Lower-case hex of `bytes` into `out`, which is twice as long (any excess is left as is).
#[inline]
pub(crate) fn hex_into(out: &mut [u8], bytes: &[u8]) {
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
}

/// Appends the lower-case hex of `bytes` (a table, not `write!` per byte: ids are written
/// several times per request).
pub fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    // Into a stack buffer, then one copy per 32 bytes (one capacity check, not one per pair).
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(32) {
        hex_into(&mut buf, chunk);
        out.extend_from_slice(buf.get(..chunk.len() * 2).unwrap_or_default());
    }
}

/// Appends `micros` since the Unix epoch as `tracing-subscriber`'s timestamps print it
/// (`2026-12-01T18:58:32.315279Z`, UTC, microseconds), for a log line written without it.
pub fn push_rfc3339_micros(out: &mut Vec<u8>, micros: u64) {
    let secs = i64::try_from(micros / 1_000_000).unwrap_or(i64::MAX / 2);
    let (y, m, d) = crate::time::civil(secs.div_euclid(86_400));
    if !(0..10_000).contains(&y) {
        // Not four digits: the general path.
        let s = secs.rem_euclid(86_400);
        let (h, min, sec, frac) = (s / 3600, s % 3600 / 60, s % 60, micros % 1_000_000);
        let _ = write!(
            out,
            "{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{sec:02}.{frac:06}Z"
        );
        return;
    }
    out.extend_from_slice(&fields(y, m, d, secs, micros));
}

/// Appends `millis` since the Unix epoch as [`crate::time::rfc3339`] with milliseconds
/// prints it (`2026-12-01T18:58:32.315Z`): the JSON access line's `timestamp`, without `fmt`.
pub(crate) fn push_rfc3339_millis(out: &mut Vec<u8>, millis: u64) {
    let secs = i64::try_from(millis / 1000).unwrap_or(i64::MAX / 2);
    let (y, m, d) = crate::time::civil(secs.div_euclid(86_400));
    if !(0..10_000).contains(&y) {
        out.extend_from_slice(crate::time::rfc3339(millis, true).as_bytes());
        return;
    }
    let mut text = fields(y, m, d, secs, millis % 1000 * 1000);
    // `.ffffff` -> `.fff`: the last three digits become the `Z`.
    if let Some(z) = text.get_mut(23) {
        *z = b'Z';
    }
    out.extend_from_slice(text.get(..24).unwrap_or_default());
}

/// Writes `v`'s last `width` decimal digits at `buf[at..]`.
fn put_digits(buf: &mut [u8; 27], at: usize, width: usize, mut v: u64) {
    for i in (at..at + width).rev() {
        if let Some(b) = buf.get_mut(i) {
            *b = b'0' + (v % 10) as u8;
        }
        v /= 10;
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` in one stack buffer.
fn fields(y: i64, m: i64, d: i64, secs: i64, micros: u64) -> [u8; 27] {
    let s = secs.rem_euclid(86_400);
    let mut buf = *b"0000-00-00T00:00:00.000000Z";
    let u = |v: i64| u64::try_from(v).unwrap_or(0);
    put_digits(&mut buf, 0, 4, u(y) % 10_000);
    put_digits(&mut buf, 5, 2, u(m));
    put_digits(&mut buf, 8, 2, u(d));
    put_digits(&mut buf, 11, 2, u(s / 3600));
    put_digits(&mut buf, 14, 2, u(s % 3600 / 60));
    put_digits(&mut buf, 17, 2, u(s % 60));
    put_digits(&mut buf, 20, 6, micros % 1_000_000);
    buf
}

/// [`push_rfc3339_micros`] for lines written one after another (one per thread): the date and
/// time of day are kept from the last line of the same second, only the microseconds are new.
#[derive(Debug, Clone, Copy)]
pub struct Timestamps {
    /// The second `text` is of (`u64::MAX`: none yet).
    secs: u64,
    text: [u8; 27],
}

impl Default for Timestamps {
    fn default() -> Self {
        Self {
            secs: u64::MAX,
            text: [0; 27],
        }
    }
}

impl Timestamps {
    /// Appends `micros` since the Unix epoch as [`push_rfc3339_micros`] does.
    pub fn push(&mut self, out: &mut Vec<u8>, micros: u64) {
        let secs = micros / 1_000_000;
        if secs != self.secs {
            let whole = i64::try_from(secs).unwrap_or(i64::MAX / 2);
            let (y, m, d) = crate::time::civil(whole.div_euclid(86_400));
            if !(0..10_000).contains(&y) {
                return push_rfc3339_micros(out, micros);
            }
            self.secs = secs;
            self.text = fields(y, m, d, whole, 0);
        }
        let mut text = self.text;
        put_digits(&mut text, 20, 6, micros % 1_000_000);
        out.extend_from_slice(&text);
    }
}

/// Every byte of `bytes` is printable ASCII other than `"` and `\\`: nothing for JSON or
/// `Debug` to escape. Eight bytes at a time (the usual strings are hosts and paths).
fn plain(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let special = |b: u8| !(0x20..0x7f).contains(&b) || b == b'"' || b == b'\\';
    let mut words = bytes.chunks_exact(8);
    for word in words.by_ref() {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let x = u64::from_le_bytes(eight);
        // A byte below 0x20; above 0x7e (0x7f + 1 or a set high bit); equal to `"` or `\\`
        // (a zero byte after the xor). Exact as a whole: a borrow or carry across bytes only
        // happens next to a byte that already counts.
        let below = x.wrapping_sub(ONES * 0x20) & !x;
        let above = x.wrapping_add(ONES) | x;
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        let zero = |v: u64| v.wrapping_sub(ONES) & !v;
        if (below | above | zero(quote) | zero(backslash)) & HIGH != 0 {
            return false;
        }
    }
    !words.remainder().iter().any(|&b| special(b))
}

/// An object key with its punctuation (`,"name":`) in both of [`Json`]'s modes, made at
/// compile time by [`json_key!`]: a key is then one constant-length copy, not three.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    plain: &'static str,
    debug: &'static str,
}

impl Key {
    /// `plain` is `,"name":`, `debug` the same escaped as `Debug` escapes it.
    pub(crate) const fn new(plain: &'static str, debug: &'static str) -> Self {
        Self { plain, debug }
    }
}

/// The [`Key`] of `name` (a string literal that needs no escaping).
macro_rules! json_key {
    ($name:literal) => {{
        const KEY: $crate::platform::log_write::Key = $crate::platform::log_write::Key::new(
            concat!(",\"", $name, "\":"),
            concat!(",\\\"", $name, "\\\":"),
        );
        KEY
    }};
}
pub(crate) use json_key;

/// A JSON text being written as bytes: serde_json's escaping and number formatting, no
/// intermediate values. In `DEBUG` mode every byte it writes is escaped once more as `{:?}`
/// of the finished text would escape it (without the surrounding quotes), so that a JSON
/// value can be put into a text line as a quoted string in one pass.
pub(crate) struct Json<'a, const DEBUG: bool> {
    out: &'a mut Vec<u8>,
}

impl<'a, const DEBUG: bool> Json<'a, DEBUG> {
    /// Writes into `out`; `DEBUG` as above (a constant: a build that never writes the native
    /// text line's `calls` field carries no code or text for it).
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        Self { out }
    }

    /// Structural text without quotes (braces, brackets, commas, literals).
    #[inline]
    pub(crate) fn raw(&mut self, text: &str) {
        debug_assert!(!text.contains('"'), "{text}");
        self.out.extend_from_slice(text.as_bytes());
    }

    /// A `"`, escaped in debug mode.
    #[inline]
    fn quote(&mut self) {
        if DEBUG {
            self.out.extend_from_slice(b"\\\"");
        } else {
            self.out.push(b'"');
        }
    }

    /// The text of `key` in this mode.
    #[inline(always)]
    fn key_text(&self, key: Key) -> &'static [u8] {
        if DEBUG {
            key.debug.as_bytes()
        } else {
            key.plain.as_bytes()
        }
    }

    /// `{"name":`, the first key of an object.
    #[inline]
    pub(crate) fn first_key(&mut self, key: Key) {
        self.out.push(b'{');
        let text = self.key_text(key);
        self.out
            .extend_from_slice(text.get(1..).unwrap_or_default());
    }

    /// `,"name":`, every other key.
    #[inline]
    pub(crate) fn key(&mut self, key: Key) {
        let text = self.key_text(key);
        self.out.extend_from_slice(text);
    }

    /// A JSON string.
    pub(crate) fn string(&mut self, value: &str) {
        self.quote();
        let bytes = value.as_bytes();
        if plain(bytes) {
            // Nothing to escape in either mode (hosts, methods, paths): one copy.
            self.out.extend_from_slice(bytes);
            self.quote();
            return;
        }
        self.escaped(value);
        self.quote();
    }

    /// The inside of a JSON string that has something to escape.
    #[inline(never)]
    fn escaped(&mut self, value: &str) {
        let bytes = value.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let plain = (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\';
            if plain || (b >= 0x7f && !DEBUG) {
                continue;
            }
            if b >= 0x80 && !value.is_char_boundary(i) {
                continue;
            }
            self.out
                .extend_from_slice(bytes.get(start..i).unwrap_or_default());
            start = i + 1;
            let escaped: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                0x08 => b"\\b",
                0x0c => b"\\f",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x7f | 0x80.. => {
                    // Only in debug mode: what `Debug` makes of this character.
                    let c = value.get(i..).and_then(|s| s.chars().next()).unwrap_or('?');
                    start = i + c.len_utf8();
                    let mut one = [0u8; 4];
                    let text = format!("{:?}", &*c.encode_utf8(&mut one));
                    self.out.extend_from_slice(
                        text.as_bytes().get(1..text.len() - 1).unwrap_or_default(),
                    );
                    continue;
                }
                _ => {
                    let code = HEX_PAIRS[usize::from(b)];
                    if DEBUG {
                        self.out.extend_from_slice(b"\\\\u00");
                    } else {
                        self.out.extend_from_slice(b"\\u00");
                    }
                    self.out.extend_from_slice(&code);
                    continue;
                }
            };
            if DEBUG {
                // Each backslash of the JSON escape doubled, its quote escaped.
                for &c in escaped {
                    match c {
                        b'\\' => self.out.extend_from_slice(b"\\\\"),
                        b'"' => self.out.extend_from_slice(b"\\\""),
                        c => self.out.push(c),
                    }
                }
            } else {
                self.out.extend_from_slice(escaped);
            }
        }
        self.out
            .extend_from_slice(bytes.get(start..).unwrap_or_default());
    }

    /// An unsigned integer.
    #[inline]
    pub(crate) fn int(&mut self, value: u64) {
        push_u64(self.out, value);
    }

    /// Microseconds as milliseconds with three decimals (serde_json's `f64` format).
    pub(crate) fn millis(&mut self, micros: u64) {
        if micros < FAST_MILLIS {
            push_millis(self.out, micros);
        } else {
            let v = crate::platform::telemetry::millis_f64(micros);
            self.out
                .extend_from_slice(serde_json::to_string(&v).unwrap_or_default().as_bytes());
        }
    }

    /// An IP address as a JSON string.
    pub(crate) fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(_) => {
                self.quote();
                push_ip(self.out, ip);
                self.quote();
            }
            IpAddr::V6(_) => self.string(&ip.to_string()),
        }
    }

    /// `,"name":"value"`.
    #[inline]
    pub(crate) fn key_str(&mut self, key: Key, value: &str) {
        self.key(key);
        self.string(value);
    }

    /// `,"name":value`.
    #[inline]
    pub(crate) fn key_int(&mut self, key: Key, value: u64) {
        self.key(key);
        self.int(value);
    }

    /// `,"name":"<timestamp>"`: `millis` since the Unix epoch as RFC 3339 with milliseconds.
    pub(crate) fn key_timestamp(&mut self, key: Key, millis: u64) {
        self.key(key);
        self.quote();
        push_rfc3339_millis(self.out, millis);
        self.quote();
    }

    /// `,"name":"<hex>"`.
    #[inline]
    pub(crate) fn key_hex(&mut self, key: Key, bytes: &[u8]) {
        self.key(key);
        self.quote();
        push_hex(self.out, bytes);
        self.quote();
    }
}

/// `bytes` written by the functions above as a `String`: one check of the whole text (every
/// piece was ASCII or a whole `&str`, so it passes; a lossy copy otherwise, never a panic).
pub(crate) fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).unwrap()
    }

    #[test]
    fn numbers_print_as_fmt_and_serde_json_print_them() {
        let mut values = vec![
            0, 1, 9, 10, 99, 100, 999, 1000, 1001, 1010, 1100, 1402, 3000,
        ];
        values.extend([
            123_456_789,
            999_999,
            1_000_000,
            FAST_MILLIS - 1,
            FAST_MILLIS,
            FAST_MILLIS + 7,
            u64::MAX,
        ]);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x >> (x % 64));
        }
        for v in values {
            let mut s = Vec::new();
            push_u64(&mut s, v);
            assert_eq!(text(&s), v.to_string());
            s.clear();
            push_millis(&mut s, v);
            assert_eq!(text(&s), format!("{:?}", v as f64 / 1000.0), "{v}");
            s.clear();
            Json::<false>::new(&mut s).millis(v);
            let serde = serde_json::to_string(&crate::platform::telemetry::millis_f64(v)).unwrap();
            assert_eq!(text(&s), serde, "{v}");
        }
    }

    #[test]
    fn addresses_hex_and_times_print_as_display_does() {
        for ip in [
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "10.20.3.40",
            "1.22.100.9",
            "99.100.101.199",
            "::1",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut s = Vec::new();
            push_ip(&mut s, ip);
            assert_eq!(text(&s), ip.to_string());
        }
        for octet in 0..=255u8 {
            for ip in [[octet, 0, octet, 255], [255, octet, 7, octet]] {
                let ip = IpAddr::from(ip);
                let mut s = b"x".to_vec();
                push_ip(&mut s, ip);
                assert_eq!(text(&s), format!("x{ip}"));
            }
        }
        let bytes: Vec<u8> = (0..=255).collect();
        let mut s = Vec::new();
        push_hex(&mut s, &bytes);
        let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(text(&s), expected);
        s.clear();
        push_rfc3339_micros(&mut s, 1_795_651_200_123_456);
        assert_eq!(text(&s), "2026-11-26T00:00:00.123456Z");
        s.clear();
        push_rfc3339_micros(&mut s, 951_825_599_000_007);
        assert_eq!(text(&s), "2000-02-29T11:59:59.000007Z");
        s.clear();
        push_rfc3339_micros(&mut s, 0);
        assert_eq!(text(&s), "1970-01-01T00:00:00.000000Z");
        s.clear();
        push_rfc3339_micros(&mut s, u64::MAX);
        let secs = (u64::MAX / 1_000_000) as i64;
        let (y, m, d) = crate::time::civil(secs.div_euclid(86_400));
        assert!(
            text(&s).starts_with(&format!("{y:04}-{m:02}-{d:02}T")),
            "{}",
            text(&s)
        );
    }

    #[test]
    fn kept_timestamps_print_as_fresh_ones() {
        let mut kept = Timestamps::default();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut micros = vec![0, 999_999, 1_000_000, 1_795_651_200_123_456, u64::MAX];
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Runs within one second, jumps across seconds and days, back in time.
            let last = *micros.last().unwrap();
            micros.push(match x % 4 {
                0 => last.wrapping_add(x % 1_000),
                1 => last.wrapping_add(x % 3_000_000),
                2 => last.wrapping_sub(x % 1_000_000),
                _ => x % 4_102_444_800_000_000,
            });
        }
        for m in micros {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            kept.push(&mut a, m);
            push_rfc3339_micros(&mut b, m);
            assert_eq!(text(&a), text(&b), "{m}");
        }
    }

    #[test]
    fn millisecond_timestamps_print_as_time_rfc3339() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut millis = vec![0, 999, 1_000, 951_825_599_007, 1_795_651_200_123, u64::MAX];
        for _ in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            millis.push(x % 4_102_444_800_000);
            millis.push(x >> (x % 64));
        }
        for m in millis {
            let mut s = Vec::new();
            push_rfc3339_millis(&mut s, m);
            assert_eq!(text(&s), crate::time::rfc3339(m, true), "{m}");
        }
    }

    #[test]
    fn plain_finds_every_byte_to_escape_at_every_position() {
        for b in 0..=255u8 {
            let expected = (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\';
            for len in 1..20 {
                for at in 0..len {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    assert_eq!(plain(&bytes), expected, "{b:#x} at {at} of {len}");
                    // Next to the largest and smallest plain bytes (carries and borrows).
                    for fill in [b'~', b' ', b'!', b'#', b'[', b']'] {
                        let mut bytes = vec![fill; len];
                        bytes[at] = b;
                        assert_eq!(plain(&bytes), expected, "{b:#x} in {fill}");
                    }
                }
            }
        }
        assert!(plain(b""));
    }

    #[test]
    fn strings_are_escaped_as_serde_json_and_debug_escape_them() {
        let mut all = String::new();
        for c in (0u32..0x300).chain([0x200b, 0x301, 0xfeff, 0x1f600, 0x10ffff]) {
            if let Some(c) = char::from_u32(c) {
                all.push(c);
            }
        }
        for s in [
            "",
            "plain",
            "a\"b\\c",
            "tab\there\n\r\u{8}\u{c}\u{1}\u{1f}",
            "é\u{7f}x",
            "\u{301}accent",
            all.as_str(),
        ] {
            let mut json = Vec::new();
            Json::<false>::new(&mut json).string(s);
            let json = into_string(json);
            assert_eq!(json, serde_json::to_string(s).unwrap());
            let mut debug = Vec::new();
            Json::<true>::new(&mut debug).string(s);
            let debug = into_string(debug);
            assert_eq!(format!("\"{debug}\""), format!("{json:?}"), "{s:?}");
        }
    }
}
