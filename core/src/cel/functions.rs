//! The built-in functions (conversions, `size`, the string tests, `timestamp()` and its getters)
//! and the RFC 3339 helpers they use.

use std::borrow::Cow;

use super::parse::{Func, TimePart};
use super::values::{Val, R};
use crate::time::{civil, days_from_civil};

/// Apply a built-in function (its name and arity were checked at parse time).
pub(super) fn call<'a>(f: Func, args: Vec<Val<'a>>) -> R<Val<'a>> {
    let mut it = args.into_iter();
    let a = it.next().unwrap_or(Val::Null);
    let b = it.next();
    let bad = |a: &Val<'_>| format!("no such overload: {f:?}({})", a.type_name());
    Ok(match (f, &a) {
        (Func::Int, Val::Int(_)) => a,
        (Func::Int, Val::Uint(u)) => Val::Int(i64::try_from(*u).map_err(|_| "int overflow")?),
        (Func::Int, Val::Double(d)) => {
            if !d.is_finite() || *d >= 2f64.powi(63) || *d < -(2f64.powi(63)) {
                return Err("int overflow".to_owned());
            }
            #[allow(clippy::cast_possible_truncation)]
            Val::Int(d.trunc() as i64)
        }
        (Func::Int, Val::Str(s)) => Val::Int(
            s.parse()
                .map_err(|_| format!("cannot convert `{s}` to int"))?,
        ),
        (Func::Int, Val::Time(s, _)) => Val::Int(*s),
        (Func::Uint, Val::Uint(_)) => a,
        (Func::Uint, Val::Int(i)) => Val::Uint(u64::try_from(*i).map_err(|_| "uint overflow")?),
        (Func::Uint, Val::Double(d)) => {
            if !d.is_finite() || *d < 0.0 || *d >= 2f64.powi(64) {
                return Err("uint overflow".to_owned());
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Val::Uint(d.trunc() as u64)
        }
        (Func::Uint, Val::Str(s)) => Val::Uint(
            s.parse()
                .map_err(|_| format!("cannot convert `{s}` to uint"))?,
        ),
        (Func::Double, Val::Str(s)) => Val::Double(
            crate::float::parse(s).ok_or_else(|| format!("cannot convert `{s}` to double"))?,
        ),
        (Func::Double, v) if v.number().is_some() => Val::Double(v.number().unwrap_or(0.0)),
        (Func::String, Val::Str(_)) => a,
        (Func::String, Val::Int(i)) => Val::Str(Cow::Owned(i.to_string())),
        (Func::String, Val::Uint(u)) => Val::Str(Cow::Owned(u.to_string())),
        (Func::String, Val::Double(d)) => Val::Str(Cow::Owned(crate::float::go_g(*d))),
        (Func::String, Val::Bool(b)) => Val::Str(Cow::Owned(b.to_string())),
        (Func::String, Val::Time(s, _)) => {
            let millis = u64::try_from(*s).map_err(|_| "timestamp out of range")? * 1000;
            Val::Str(Cow::Owned(rfc3339(millis)))
        }
        (Func::Bool, Val::Bool(_)) => a,
        (Func::Bool, Val::Str(s)) => match s.as_ref() {
            "true" | "True" | "TRUE" | "t" | "1" => Val::Bool(true),
            "false" | "False" | "FALSE" | "f" | "0" => Val::Bool(false),
            _ => return Err(format!("cannot convert `{s}` to bool")),
        },
        (Func::Size, Val::Str(s)) => Val::Int(i64::try_from(s.chars().count()).unwrap_or(i64::MAX)),
        (Func::Size, v) => {
            let n = match v {
                Val::List(l) => l.len(),
                Val::Arr(l) => l.len(),
                Val::Map(m) => m.len(),
                Val::Obj(m) => m.len(),
                _ => return Err(bad(v)),
            };
            Val::Int(i64::try_from(n).unwrap_or(i64::MAX))
        }
        (Func::StartsWith | Func::EndsWith | Func::Contains, Val::Str(s)) => {
            let Some(Val::Str(x)) = b else {
                return Err(bad(&a));
            };
            Val::Bool(match f {
                Func::StartsWith => s.starts_with(x.as_ref()),
                Func::EndsWith => s.ends_with(x.as_ref()),
                _ => s.contains(x.as_ref()),
            })
        }
        (Func::Timestamp, Val::Time(..)) => a,
        (Func::Timestamp, Val::Str(s)) => {
            let (secs, nanos) =
                parse_rfc3339(s).ok_or_else(|| format!("invalid timestamp `{s}`"))?;
            Val::Time(secs, nanos)
        }
        (Func::Time(part), Val::Time(s, n)) => Val::Int(time_part(*s, *n, part)),
        _ => return Err(bad(&a)),
    })
}

pub(super) fn rfc3339(millis: u64) -> String {
    crate::time::rfc3339(millis, false)
}

/// `2006-01-02T15:04:05[.frac](Z|±hh:mm)` → (seconds, nanoseconds).
fn parse_rfc3339(s: &str) -> Option<(i64, u32)> {
    let num = |a: usize, b: usize| -> Option<i64> {
        let t = s.get(a..b)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let b = s.as_bytes();
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't'))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (y, mo, d, h, mi, se) = (
        num(0, 4)?,
        num(5, 7)?,
        num(8, 10)?,
        num(11, 13)?,
        num(14, 16)?,
        num(17, 19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
        nanos = format!("{frac:0<9}").parse().ok()?;
    }
    let offset = match s.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) => {
            let oh = num(i + 1, i + 3)?;
            let om = num(i + 4, i + 6)?;
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset;
    Some((secs, nanos))
}

fn time_part(secs: i64, nanos: u32, part: TimePart) -> i64 {
    let days = secs.div_euclid(86_400);
    let s = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    match part {
        TimePart::FullYear => y,
        TimePart::Month => m - 1,
        TimePart::DayOfMonth => d - 1,
        TimePart::Date => d,
        // 1970-01-01 was a Thursday (4).
        TimePart::DayOfWeek => (days + 4).rem_euclid(7),
        TimePart::DayOfYear => days - days_from_civil(y, 1, 1),
        TimePart::Hours => s / 3600,
        TimePart::Minutes => s % 3600 / 60,
        TimePart::Seconds => s % 60,
        TimePart::Milliseconds => i64::from(nanos / 1_000_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trips() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            parse_rfc3339("2024-01-06T12:34:56Z"),
            Some((1_704_544_496, 0))
        );
        assert_eq!(
            parse_rfc3339("2024-01-06T12:34:56.5+00:00"),
            Some((1_704_544_496, 500_000_000))
        );
        assert_eq!(parse_rfc3339("2024-13-06T12:34:56Z"), None);
    }
}
