//! Decimal text to `f64`, as `str::parse::<f64>` reads it (same grammar, same correctly rounded
//! value), without the standard library's tables; and `f64` to text as Go's `%g` prints it. Core's parser carries about 12 KB of
//! power-of-five and digit tables that do not compress (14 KB of the every-capability Worker's
//! gzip size, bench/profile-notes.md); this one is exact by big-integer arithmetic instead,
//! which is slower, and used only where a number's value is needed on the request path (a
//! token's dates, a schema's bounds, CEL) rather than its text.
//!
//! Most numbers take Clinger's fast path: at most 15 significant digits and a power of ten up
//! to 22 are both exact doubles, so one IEEE multiplication or division rounds correctly.

use std::cmp::Ordering;

/// `v` as Go's `fmt.Sprintf("%g", v)` prints it (CEL's `string(double)` in cel-go): the
/// shortest digits that read back as `v`, in exponent form (`1e+06`, `2.5e-07`, at least two
/// exponent digits) when the exponent is below -4 or at least 6, else plain (`123456`,
/// `0.0001`); `+Inf`, `-Inf`, `NaN`. The digits come from zmij (serde_json's printer): the
/// standard library's `Display` would link its own float printer and tables.
pub(crate) fn go_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if v == 0.0 {
        return format!("{sign}0");
    }
    let mut buffer = zmij::Buffer::new();
    let (digits, point) = shortest(buffer.format_finite(v.abs()));
    let exp = point - 1;
    let mut out = String::from(sign);
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push_str(if exp < 0 { "e-" } else { "e+" });
        if exp.unsigned_abs() < 10 {
            out.push('0');
        }
        out.push_str(&exp.unsigned_abs().to_string());
    } else if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
        out.push_str(&digits);
    } else {
        let point = point as usize;
        if digits.len() <= point {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', point - digits.len()));
        } else {
            let (int, frac) = digits.split_at(point);
            out.push_str(int);
            out.push('.');
            out.push_str(frac);
        }
    }
    out
}

/// The significant digits of a positive number printed as `12.34`, `0.001`, `1.5e-7` or
/// `1e21`, without leading or trailing zeros, and where the point goes: the value is
/// `0.DIGITS × 10^point`.
fn shortest(printed: &str) -> (String, i32) {
    let (mantissa, exp) = match printed.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.trim_start_matches('+').parse::<i32>().unwrap_or(0)),
        None => (printed, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = int.chars().chain(frac.chars()).collect();
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_matches('0').to_owned();
    (digits, int.len() as i32 - leading as i32 + exp)
}

/// Significant digits kept. A midpoint between two doubles has at most 767 significant
/// digits, so the digits after these only tell whether the value lies above what was kept:
/// one `1` digit stands in for them (a "sticky" digit), which keeps every rounding decision.
const MAX_DIGITS: usize = 800;

/// `text` as a double, exactly as `text.parse::<f64>().ok()`: an optional sign, then
/// `inf`, `infinity` or `nan` (any case) or decimal digits with an optional point and an
/// optional exponent; a value beyond the range is infinite or zero.
pub(crate) fn parse(text: &str) -> Option<f64> {
    let (negative, rest) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        rest => (false, rest),
    };
    if rest.is_empty() {
        return None;
    }
    let magnitude = decimal(rest).or_else(|| special(rest))?;
    Some(if negative { -magnitude } else { magnitude })
}

fn special(s: &[u8]) -> Option<f64> {
    if s.eq_ignore_ascii_case(b"nan") {
        Some(f64::NAN)
    } else if s.eq_ignore_ascii_case(b"inf") || s.eq_ignore_ascii_case(b"infinity") {
        Some(f64::INFINITY)
    } else {
        None
    }
}

/// Digits, point and exponent; `None` unless all of `s` is one number.
fn decimal(s: &[u8]) -> Option<f64> {
    let mut digits: Vec<u8> = Vec::new();
    // The value is `digits` (an integer) times ten to `exp`.
    let mut exp: i64 = 0;
    let mut beyond = false;
    let mut seen = 0usize;
    let mut rest = s;
    let mut fraction = false;
    while let [c, tail @ ..] = rest {
        match c {
            b'0'..=b'9' => {
                let d = c - b'0';
                seen += 1;
                if digits.is_empty() && d == 0 {
                    // A leading zero: in the fraction it moves the point, else nothing.
                    exp -= i64::from(fraction);
                } else if digits.len() < MAX_DIGITS {
                    digits.push(d);
                    exp -= i64::from(fraction);
                } else {
                    beyond |= d != 0;
                    exp += i64::from(!fraction);
                }
            }
            b'.' if !fraction => fraction = true,
            _ => break,
        }
        rest = tail;
    }
    if seen == 0 {
        return None;
    }
    if let [b'e' | b'E', tail @ ..] = rest {
        let (negative, tail) = match tail {
            [b'-', t @ ..] => (true, t),
            [b'+', t @ ..] => (false, t),
            t => (false, t),
        };
        if !tail.first().is_some_and(u8::is_ascii_digit) {
            return None;
        }
        // Saturating as the standard parser does (it stops adding digits at 0x10000).
        let mut e: i64 = 0;
        rest = tail;
        while let [c @ b'0'..=b'9', t @ ..] = rest {
            if e < 0x10000 {
                e = 10 * e + i64::from(c - b'0');
            }
            rest = t;
        }
        exp += if negative { -e } else { e };
    }
    if !rest.is_empty() {
        return None;
    }
    Some(value(&digits, exp, beyond))
}

/// Powers of ten that are exact doubles.
const EXACT_POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `digits` × 10^`exp` (plus a little when `beyond`), correctly rounded.
fn value(digits: &[u8], exp: i64, beyond: bool) -> f64 {
    if digits.is_empty() {
        return 0.0;
    }
    // The value lies in [10^(n - 1 + exp), 10^(n + exp)).
    let magnitude = digits.len() as i64 + exp;
    if magnitude > 310 {
        return f64::INFINITY;
    }
    if magnitude < -324 {
        return 0.0;
    }
    if !beyond && digits.len() <= 15 {
        let small = digits.iter().fold(0u64, |n, &d| n * 10 + u64::from(d)) as f64;
        if let Some(&p) = EXACT_POW10.get(exp.unsigned_abs() as usize) {
            return if exp < 0 { small / p } else { small * p };
        }
    }
    let mut n = Big::default();
    for chunk in digits.chunks(9) {
        let (scale, add) = chunk
            .iter()
            .fold((1u32, 0u32), |(s, a), &d| (s * 10, a * 10 + u32::from(d)));
        n.mul_add(scale, add);
    }
    let mut exp = exp;
    if beyond {
        n.mul_add(10, 1);
        exp -= 1;
    }
    if exp >= 0 {
        n.mul_pow10(exp as u32);
        let (top, shift, sticky) = n.top64();
        return round(top, i64::from(shift), sticky);
    }
    // n / 10^-exp: a quotient of 63 or 64 bits and whether a remainder is left.
    let mut den = Big::default();
    den.mul_add(1, 1);
    den.mul_pow10(exp.unsigned_abs() as u32);
    let k = i64::from(den.bits()) + 63 - i64::from(n.bits());
    if k >= 0 {
        n.shl(k as u32);
    } else {
        den.shl(k.unsigned_abs() as u32);
    }
    den.shl(63);
    let mut q = 0u64;
    for bit in (0..64).rev() {
        if n.cmp(&den) != Ordering::Less {
            n.sub(&den);
            q |= 1 << bit;
        }
        den.shr1();
    }
    round(q, -k, !n.0.is_empty())
}

/// The double nearest to `m` × 2^`e2` (plus a little when `sticky`), ties to even.
fn round(m: u64, e2: i64, sticky: bool) -> f64 {
    if m == 0 {
        return 0.0;
    }
    let len = i64::from(64 - m.leading_zeros());
    // Bits to drop: down to 53 significant bits, or to the subnormals' last place (2^-1074).
    let shift = (len - 53).max(-1074 - e2);
    let (mut mant, mut e) = if shift <= 0 {
        (u128::from(m) << shift.unsigned_abs(), e2 + shift)
    } else if shift >= 128 {
        return 0.0;
    } else {
        let m = u128::from(m);
        let rem = m & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        let mant = m >> shift;
        let up = rem > half || (rem == half && (sticky || mant & 1 == 1));
        (mant + u128::from(up), e2 + shift)
    };
    if mant == 1 << 53 {
        mant >>= 1;
        e += 1;
    }
    if mant == 0 {
        return 0.0;
    }
    let bits = if mant >= 1 << 52 {
        let biased = e + 52 + 1023;
        if biased >= 2047 {
            return f64::INFINITY;
        }
        ((biased as u64) << 52) | (mant as u64 & ((1 << 52) - 1))
    } else {
        // A subnormal: `e` is -1074 here.
        mant as u64
    };
    f64::from_bits(bits)
}

/// A natural number in base 2^32, least significant limb first, no zero limb on top.
#[derive(Default)]
struct Big(Vec<u32>);

impl Big {
    /// self = self × m + a.
    fn mul_add(&mut self, m: u32, a: u32) {
        let mut carry = u64::from(a);
        for limb in &mut self.0 {
            let t = u64::from(*limb) * u64::from(m) + carry;
            *limb = t as u32;
            carry = t >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow10(&mut self, mut n: u32) {
        while n >= 9 {
            self.mul_add(1_000_000_000, 0);
            n -= 9;
        }
        self.mul_add(10u32.pow(n), 0);
    }

    fn bits(&self) -> u32 {
        self.0.last().map_or(0, |top| {
            32 * (self.0.len() as u32 - 1) + (32 - top.leading_zeros())
        })
    }

    fn shl(&mut self, n: u32) {
        let (limbs, bits) = ((n / 32) as usize, n % 32);
        if bits != 0 {
            let mut carry = 0u32;
            for limb in &mut self.0 {
                let next = *limb >> (32 - bits);
                *limb = (*limb << bits) | carry;
                carry = next;
            }
            if carry != 0 {
                self.0.push(carry);
            }
        }
        if limbs > 0 && !self.0.is_empty() {
            let mut shifted = vec![0; limbs];
            shifted.append(&mut self.0);
            self.0 = shifted;
        }
    }

    fn shr1(&mut self) {
        let mut carry = 0u32;
        for limb in self.0.iter_mut().rev() {
            let next = *limb << 31;
            *limb = (*limb >> 1) | carry;
            carry = next;
        }
        self.trim();
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// self -= other, for other ≤ self.
    fn sub(&mut self, other: &Big) {
        let mut borrow = false;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let o = other.0.get(i).copied().unwrap_or(0);
            let (d, b1) = limb.overflowing_sub(o);
            let (d, b2) = d.overflowing_sub(u32::from(borrow));
            *limb = d;
            borrow = b1 || b2;
        }
        self.trim();
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    /// The 64 bits from the top (fewer if the number is shorter), how many bits are below
    /// them, and whether any of those is set.
    fn top64(&self) -> (u64, u32, bool) {
        let bits = self.bits();
        let below = bits.saturating_sub(64);
        let (limb, offset) = ((below / 32) as usize, below % 32);
        let at = |i: usize| u128::from(self.0.get(i).copied().unwrap_or(0));
        let window = at(limb) | (at(limb + 1) << 32) | (at(limb + 2) << 64);
        let top = (window >> offset) as u64;
        let sticky = self.0.iter().take(limb).any(|&l| l != 0)
            || self
                .0
                .get(limb)
                .is_some_and(|&l| offset != 0 && l << (32 - offset) != 0);
        (top, below, sticky)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Same value (bit for bit, NaN's sign included) as the standard parser, or both refuse.
    fn same(text: &str) {
        let ours = parse(text).map(f64::to_bits);
        let std = text.parse::<f64>().ok().map(f64::to_bits);
        assert_eq!(ours, std, "{text:?}");
    }

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn digits(&mut self, n: u64) -> String {
            (0..n)
                .map(|_| char::from(b'0' + self.below(10) as u8))
                .collect()
        }
    }

    #[test]
    fn go_g_prints_as_go_does() {
        // Go 1.22: fmt.Sprintf("%g", x).
        for (x, go) in [
            (1.5, "1.5"),
            (100.0, "100"),
            (123_456.0, "123456"),
            (1_234_567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (123_456_789.0, "1.23456789e+08"),
            (0.0001, "0.0001"),
            (0.000_012_5, "1.25e-05"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (-2.5e-7, "-2.5e-07"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (999_999.0, "999999"),
            (608_863_452_348.114_9, "6.088634523481149e+11"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(go_g(x), go, "{x:e}");
        }
    }

    #[test]
    fn go_g_prints_the_shortest_digits_that_read_back() {
        let mut r = Rng(0x0bad_5eed_dead_10cc);
        for _ in 0..100_000 {
            let x = f64::from_bits(r.next());
            if !x.is_finite() || x == 0.0 {
                continue;
            }
            let text = go_g(x);
            assert_eq!(text.parse::<f64>().ok(), Some(x), "{text}");
            // As few digits as the standard library's `{:e}` (the shortest). Where the exact
            // value lies halfway between two equally short ones, Go rounds to the even digit
            // (`decimal.Round`), as zmij does, and the standard library does not.
            let std = format!("{:e}", x.abs());
            let std_digits: String = std.split('e').next().unwrap().replace('.', "");
            let ours: String = text
                .trim_start_matches('-')
                .split('e')
                .next()
                .unwrap()
                .replace('.', "")
                .trim_matches('0')
                .to_owned();
            let std_digits = std_digits.trim_end_matches('0');
            assert_eq!(ours.len(), std_digits.len(), "{x:e}: {text}");
            let even = ours.ends_with(['0', '2', '4', '6', '8']);
            assert!(ours == std_digits || even, "{x:e}: {text}");
        }
    }

    #[test]
    fn the_grammar_is_the_standard_one() {
        for text in [
            "",
            "+",
            "-",
            ".",
            "e",
            "e5",
            "1e",
            "1e+",
            "1e-",
            "1.",
            ".5",
            "-.5",
            "+1",
            "1.5e3",
            "1.5E-3",
            "1e+3",
            "00",
            "0.",
            "-0",
            "-0.0",
            "0e999999",
            "1_0",
            "1 ",
            " 1",
            "1..2",
            "1.2.3",
            "1e1.5",
            "0x10",
            "inf",
            "INF",
            "-inf",
            "+Infinity",
            "infinity",
            "infinit",
            "nan",
            "NaN",
            "-nan",
            "+NAN",
            "nan1",
            "in",
            "1e00000000000000000000000001",
            "1e-99999999999",
            "٣",
            "1\u{0}",
            "--1",
            "+-1",
            "1f",
            "1d",
        ] {
            same(text);
        }
    }

    #[test]
    fn values_round_like_the_standard_parser() {
        for text in [
            "0.1",
            "0.3",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.8e308",
            "2.2250738585072011e-308",
            "2.2250738585072014e-308",
            "4.9406564584124654e-324",
            "2.4703282292062327e-324",
            "2.4703282292062328e-324",
            "5e-324",
            "1e-400",
            "1e400",
            "9007199254740993",
            "9007199254740992.5",
            "123456789012345678901234567890",
            "1735689600",
            "1735689600.123456",
            "3.141592653589793238462643383279",
            "0.000000000000000000000000000001",
            "1e23",
            "8.98846567431158e307",
            "2.225073858507201136057409796709131975934819546351645648e-308",
        ] {
            same(text);
        }
    }

    #[test]
    fn random_numbers_parse_to_the_same_double() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..100_000 {
            let int = r.below(25);
            let frac = r.below(25);
            let mut s = String::new();
            if r.below(4) == 0 {
                s.push('-');
            }
            s += &r.digits(int);
            if frac > 0 || r.below(3) == 0 {
                s.push('.');
                s += &r.digits(frac);
            }
            if r.below(2) == 0 {
                s.push(if r.below(2) == 0 { 'e' } else { 'E' });
                match r.below(3) {
                    0 => s.push('-'),
                    1 => s.push('+'),
                    _ => {}
                }
                let e = r.below(700);
                s += &e.to_string();
            }
            same(&s);
        }
    }

    #[test]
    fn every_double_printed_parses_back_exactly() {
        let mut r = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..100_000 {
            let x = f64::from_bits(r.next());
            if x.is_finite() {
                for text in [format!("{x:e}"), format!("{x:?}"), format!("{x:.20e}")] {
                    same(&text);
                }
            }
        }
    }

    /// The exact decimal expansion of (2k + 1) × 2^(e - 1), the midpoint between the doubles
    /// k × 2^e and (k + 1) × 2^e, where rounding decides by the last digit: its digits and
    /// the power of ten they are divided by.
    fn midpoint(k: u64, e: i32) -> (String, u32) {
        let mut n = big(2 * u128::from(k) + 1);
        let point = if e >= 1 {
            n.shl((e - 1) as u32);
            0
        } else {
            // × 5^(1 - e) / 10^(1 - e).
            for _ in 0..(1 - e) {
                n.mul_add(5, 0);
            }
            (1 - e) as u32
        };
        (decimal(n), point)
    }

    fn decimal(mut n: Big) -> String {
        let mut digits = Vec::new();
        while !n.0.is_empty() {
            let mut rem = 0u64;
            for limb in n.0.iter_mut().rev() {
                let cur = (rem << 32) | u64::from(*limb);
                *limb = (cur / 10) as u32;
                rem = cur % 10;
            }
            n.trim();
            digits.push(char::from(b'0' + rem as u8));
        }
        digits.into_iter().rev().collect()
    }

    fn big(v: u128) -> Big {
        let mut n = Big((0..4).map(|i| (v >> (32 * i)) as u32).collect());
        n.trim();
        n
    }

    #[test]
    fn midpoints_and_their_neighbours_round_like_the_standard_parser() {
        let mut r = Rng(0xdead_beef_cafe_f00d);
        for i in 0..3_000 {
            // Normal doubles (whole range) and subnormals.
            let (k, e) = if i % 2 == 0 {
                ((1 << 52) | r.below(1 << 52), r.below(2046) as i32 - 1074)
            } else {
                (r.below(1 << 52), -1074)
            };
            let (digits, point) = midpoint(k, e);
            same(&format!("{digits}e-{point}"));
            // Just above and (for a midpoint ending in 5) just below it.
            same(&format!("{digits}{}1e-{}", "0".repeat(20), point + 21));
            // A digit past the 800 kept decides.
            same(&format!("{digits}{}1e-{}", "0".repeat(900), point + 901));
            if let Some(head) = digits.strip_suffix('5') {
                same(&format!("{head}4{}e-{}", "9".repeat(21), point + 21));
            }
            // A large whole number one bit above a midpoint, that bit just below the 64 read.
            if i % 2 == 0 && e >= 12 {
                let mut n = big(((2 * u128::from(k) + 1) << 11) | 1);
                n.shl((e - 12) as u32);
                same(&decimal(n));
            }
        }
        // The midpoint below the smallest subnormal, and around the largest double.
        for (k, e) in [(0, -1074), ((1 << 53) - 1, 971), ((1 << 53) - 2, 971)] {
            let (digits, point) = midpoint(k, e);
            same(&format!("{digits}e-{point}"));
        }
    }

    #[test]
    fn long_inputs_keep_their_rounding() {
        let mut r = Rng(0x1234_5678_9abc_def1);
        for _ in 0..1_000 {
            let n = 700 + r.below(300);
            let s = format!("{}e-{}", r.digits(n), r.below(1100));
            same(&s);
            let s = format!("0.{}{}", "0".repeat(r.below(400) as usize), r.digits(n));
            same(&s);
        }
        same(&format!("1{}", "0".repeat(5000)));
        same(&format!("0.{}1", "0".repeat(5000)));
        same(&format!("1.{}1", "0".repeat(5000)));
        // The standard parser stops reading an exponent's digits at 0x10000: 0, not 1.
        same(&format!("0.{}1e655360", "0".repeat(655_359)));
    }
}
