//! Runtime values: JSON data is borrowed as it is, and CEL's equality and ordering work across
//! int, uint and double.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::json::{Map, Value as Json};

/// A runtime value. JSON data is borrowed, not copied.
#[derive(Debug, Clone)]
pub(super) enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(Cow<'a, str>),
    List(Vec<Val<'a>>),
    Map(BTreeMap<String, Val<'a>>),
    /// A JSON array, borrowed.
    Arr(&'a [Json]),
    /// A JSON object, borrowed.
    Obj(&'a Map),
    /// Seconds and nanoseconds since the Unix epoch.
    Time(i64, u32),
}

pub(super) type R<T> = Result<T, String>;

pub(super) fn from_json(v: &Json) -> Val<'_> {
    match v {
        Json::Null => Val::Null,
        Json::Bool(b) => Val::Bool(*b),
        Json::Number(n) => {
            let s = n.as_str();
            if let Ok(i) = s.parse::<i64>() {
                Val::Int(i)
            } else if let Ok(u) = s.parse::<u64>() {
                Val::Uint(u)
            } else {
                crate::float::parse(s).map_or(Val::Null, Val::Double)
            }
        }
        Json::String(s) => Val::Str(Cow::Borrowed(s)),
        Json::Array(a) => Val::Arr(a),
        Json::Object(o) => Val::Obj(o),
    }
}

impl<'a> Val<'a> {
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Val::Null => "null",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Uint(_) => "uint",
            Val::Double(_) => "double",
            Val::Str(_) => "string",
            Val::List(_) | Val::Arr(_) => "list",
            Val::Map(_) | Val::Obj(_) => "map",
            Val::Time(..) => "timestamp",
        }
    }

    pub(super) fn is_list(&self) -> bool {
        matches!(self, Val::List(_) | Val::Arr(_))
    }

    pub(super) fn elems(&self) -> Option<Vec<Val<'a>>> {
        match self {
            Val::List(l) => Some(l.clone()),
            Val::Arr(a) => Some(a.iter().map(from_json).collect()),
            _ => None,
        }
    }

    pub(super) fn keys(&self) -> Option<Vec<Val<'a>>> {
        match self {
            Val::Map(m) => Some(m.keys().map(|k| Val::Str(Cow::Owned(k.clone()))).collect()),
            Val::Obj(o) => Some(
                o.keys()
                    .map(|k| Val::Str(Cow::Owned(k.to_string())))
                    .collect(),
            ),
            _ => None,
        }
    }

    pub(super) fn get_key(&self, key: &str) -> Option<Option<Val<'a>>> {
        match self {
            Val::Map(m) => Some(m.get(key).cloned()),
            Val::Obj(o) => Some(o.get(key).map(from_json)),
            _ => None,
        }
    }

    pub(super) fn number(&self) -> Option<f64> {
        match self {
            #[allow(clippy::cast_precision_loss)]
            Val::Int(i) => Some(*i as f64),
            #[allow(clippy::cast_precision_loss)]
            Val::Uint(u) => Some(*u as f64),
            Val::Double(d) => Some(*d),
            _ => None,
        }
    }
}

pub(super) fn no_overload(op: &str, a: &Val<'_>, b: &Val<'_>) -> String {
    format!("no such overload: {} {op} {}", a.type_name(), b.type_name())
}

/// CEL equality: numbers compare by value across int/uint/double, lists and maps deeply.
pub(super) fn equals(a: &Val<'_>, b: &Val<'_>) -> R<bool> {
    Ok(match (a, b) {
        (Val::Null, Val::Null) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Time(s1, n1), Val::Time(s2, n2)) => (s1, n1) == (s2, n2),
        (Val::Int(x), Val::Int(y)) => x == y,
        (Val::Uint(x), Val::Uint(y)) => x == y,
        (Val::Int(x), Val::Uint(y)) | (Val::Uint(y), Val::Int(x)) => {
            u64::try_from(*x).is_ok_and(|x| x == *y)
        }
        (x, y) if x.number().is_some() && y.number().is_some() => x.number() == y.number(),
        (x, y) if x.is_list() && y.is_list() => {
            let (xs, ys) = (x.elems().unwrap_or_default(), y.elems().unwrap_or_default());
            if xs.len() != ys.len() {
                return Ok(false);
            }
            for (p, q) in xs.iter().zip(&ys) {
                if !equals(p, q)? {
                    return Ok(false);
                }
            }
            true
        }
        (x, y) if x.keys().is_some() && y.keys().is_some() => {
            let (xk, yk) = (x.keys().unwrap_or_default(), y.keys().unwrap_or_default());
            if xk.len() != yk.len() {
                return Ok(false);
            }
            for k in &xk {
                let Val::Str(k) = k else { return Ok(false) };
                match (x.get_key(k).flatten(), y.get_key(k).flatten()) {
                    (Some(p), Some(q)) if equals(&p, &q)? => {}
                    _ => return Ok(false),
                }
            }
            true
        }
        // Different types are simply not equal (CEL's heterogeneous equality).
        _ => false,
    })
}

pub(super) fn compare(a: &Val<'_>, b: &Val<'_>) -> R<std::cmp::Ordering> {
    use std::cmp::Ordering;
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => Ok(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Ok(x.cmp(y)),
        (Val::Time(s1, n1), Val::Time(s2, n2)) => Ok((s1, n1).cmp(&(s2, n2))),
        (Val::Int(x), Val::Int(y)) => Ok(x.cmp(y)),
        (Val::Uint(x), Val::Uint(y)) => Ok(x.cmp(y)),
        (Val::Int(x), Val::Uint(y)) => Ok(u64::try_from(*x).map_or(Ordering::Less, |x| x.cmp(y))),
        (Val::Uint(x), Val::Int(y)) => {
            Ok(u64::try_from(*y).map_or(Ordering::Greater, |y| x.cmp(&y)))
        }
        (x, y) => match (x.number(), y.number()) {
            (Some(p), Some(q)) => p
                .partial_cmp(&q)
                .ok_or_else(|| "NaN is not comparable".to_owned()),
            _ => Err(no_overload("<", a, b)),
        },
    }
}
