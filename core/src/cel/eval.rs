//! Evaluation: a walk over the tree with CEL's error-absorbing `&&`/`||`, the comprehension
//! macros and the operators, counting every step against [`MAX_STEPS`].

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::functions::call;
use super::parse::{Bin, Comp, Expr};
use super::values::{compare, equals, from_json, no_overload, Val, R};
use super::variables::Activation;
use super::MAX_STEPS;

/// Evaluate `root` with `vars`.
pub(super) fn evaluate<'a>(root: &Expr, vars: &Activation<'a>) -> R<Val<'a>> {
    Eval {
        vars,
        locals: Vec::new(),
        steps: 0,
    }
    .eval(root)
}

struct Eval<'v, 'a, 'p> {
    vars: &'v Activation<'a>,
    locals: Vec<(&'p str, Val<'a>)>,
    steps: usize,
}

impl<'a, 'p> Eval<'_, 'a, 'p> {
    fn eval(&mut self, e: &'p Expr) -> R<Val<'a>> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err("evaluation step budget exceeded".to_owned());
        }
        Ok(match e {
            Expr::Null => Val::Null,
            Expr::Bool(b) => Val::Bool(*b),
            Expr::Int(i) => Val::Int(*i),
            Expr::Uint(u) => Val::Uint(*u),
            Expr::Double(x) => Val::Double(*x),
            Expr::Str(s) => Val::Str(Cow::Owned(s.clone())),
            Expr::Var(name) => {
                if let Some((_, v)) = self.locals.iter().rev().find(|(n, _)| *n == name.as_str()) {
                    v.clone()
                } else {
                    self.vars
                        .vars
                        .get(name.as_str())
                        .cloned()
                        .ok_or_else(|| format!("no such attribute: {name}"))?
                }
            }
            Expr::Select(target, field) => {
                let t = self.eval(target)?;
                let Some(v) = t.get_key(field) else {
                    return Err(format!("cannot select `{field}` from a {}", t.type_name()));
                };
                v.ok_or_else(|| format!("no such key: {field}"))?
            }
            Expr::Has(target, field) => {
                let t = self.eval(target)?;
                let Some(v) = t.get_key(field) else {
                    return Err(format!("has() on a {}", t.type_name()));
                };
                Val::Bool(v.is_some())
            }
            Expr::Index(target, index) => {
                let t = self.eval(target)?;
                let i = self.eval(index)?;
                index_of(&t, &i)?
            }
            Expr::Call(f, args) => {
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.eval(a)?);
                }
                call(*f, vals)?
            }
            Expr::Matches(s, re) => match self.eval(s)? {
                Val::Str(s) => Val::Bool(re.is_match(&s)),
                other => return Err(format!("matches() on a {}", other.type_name())),
            },
            Expr::Not(x) => match self.eval(x)? {
                Val::Bool(b) => Val::Bool(!b),
                other => return Err(format!("no such overload: !{}", other.type_name())),
            },
            Expr::Neg(x) => match self.eval(x)? {
                Val::Int(i) => Val::Int(i.checked_neg().ok_or("integer overflow")?),
                Val::Double(d) => Val::Double(-d),
                other => return Err(format!("no such overload: -{}", other.type_name())),
            },
            Expr::And(a, b) => self.logic(a, b, false)?,
            Expr::Or(a, b) => self.logic(a, b, true)?,
            Expr::Cond(c, yes, no) => match self.eval(c)? {
                Val::Bool(true) => self.eval(yes)?,
                Val::Bool(false) => self.eval(no)?,
                other => return Err(format!("condition is a {}, not a bool", other.type_name())),
            },
            Expr::Bin(op, a, b) => {
                let a = self.eval(a)?;
                let b = self.eval(b)?;
                binary(*op, &a, &b)?
            }
            Expr::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.eval(i)?);
                }
                Val::List(out)
            }
            Expr::Map(entries) => {
                let mut out = BTreeMap::new();
                for (k, v) in entries {
                    let Val::Str(k) = self.eval(k)? else {
                        return Err("only string map keys are supported".to_owned());
                    };
                    let v = self.eval(v)?;
                    if out.insert(k.into_owned(), v).is_some() {
                        return Err("duplicate map key".to_owned());
                    }
                }
                Val::Map(out)
            }
            Expr::Comp(kind, range, var, body) => self.comprehension(*kind, range, var, body)?,
        })
    }

    /// `&&` (`or == false`) and `||` with CEL's commutative error absorption: a decisive
    /// operand wins over an error on the other side.
    fn logic(&mut self, a: &'p Expr, b: &'p Expr, or: bool) -> R<Val<'a>> {
        let decisive = |v: &R<Val<'a>>| matches!(v, Ok(Val::Bool(x)) if *x == or);
        let left = self.eval(a);
        if decisive(&left) {
            return Ok(Val::Bool(or));
        }
        let right = self.eval(b);
        if decisive(&right) {
            return Ok(Val::Bool(or));
        }
        match (left?, right?) {
            (Val::Bool(_), Val::Bool(_)) => Ok(Val::Bool(!or)),
            (x, y) => Err(no_overload(if or { "||" } else { "&&" }, &x, &y)),
        }
    }

    fn comprehension(
        &mut self,
        kind: Comp,
        range: &'p Expr,
        var: &'p str,
        body: &'p Expr,
    ) -> R<Val<'a>> {
        let r = self.eval(range)?;
        let items = r
            .elems()
            .or_else(|| r.keys())
            .ok_or_else(|| format!("cannot iterate over a {}", r.type_name()))?;
        let mut out = Vec::new();
        let mut count = 0usize;
        let mut error = None;
        for item in items {
            self.locals.push((var, item.clone()));
            let v = self.eval(body);
            self.locals.pop();
            match (kind, v) {
                (Comp::Map, v) => out.push(v?),
                (_, Err(e)) if matches!(kind, Comp::All | Comp::Exists) => error = Some(e),
                (_, Err(e)) => return Err(e),
                (_, Ok(Val::Bool(b))) => match kind {
                    Comp::All if !b => return Ok(Val::Bool(false)),
                    Comp::Exists if b => return Ok(Val::Bool(true)),
                    Comp::ExistsOne if b => count += 1,
                    Comp::Filter if b => out.push(item),
                    _ => {}
                },
                (_, Ok(other)) => {
                    return Err(format!("predicate is a {}, not a bool", other.type_name()))
                }
            }
        }
        if let Some(e) = error {
            return Err(e);
        }
        Ok(match kind {
            Comp::All => Val::Bool(true),
            Comp::Exists => Val::Bool(false),
            Comp::ExistsOne => Val::Bool(count == 1),
            Comp::Map | Comp::Filter => Val::List(out),
        })
    }
}

fn index_of<'a>(t: &Val<'a>, i: &Val<'a>) -> R<Val<'a>> {
    if let Some(found) = match i {
        Val::Str(k) => t.get_key(k),
        _ => None,
    } {
        return found.ok_or_else(|| format!("no such key: {}", str_of(i)));
    }
    if t.is_list() {
        let n = match i {
            Val::Int(n) => usize::try_from(*n).ok(),
            Val::Uint(n) => usize::try_from(*n).ok(),
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Val::Double(d) if d.fract() == 0.0 && *d >= 0.0 => Some(*d as usize),
            _ => {
                return Err(format!(
                    "a list index must be a number, not a {}",
                    i.type_name()
                ))
            }
        };
        let item = match (t, n) {
            (Val::List(l), Some(n)) => l.get(n).cloned(),
            (Val::Arr(a), Some(n)) => a.get(n).map(from_json),
            _ => None,
        };
        return item.ok_or_else(|| "index out of range".to_owned());
    }
    Err(format!(
        "cannot index a {} with a {}",
        t.type_name(),
        i.type_name()
    ))
}

fn str_of(v: &Val<'_>) -> String {
    match v {
        Val::Str(s) => s.to_string(),
        other => other.type_name().to_owned(),
    }
}

fn binary<'a>(op: Bin, a: &Val<'a>, b: &Val<'a>) -> R<Val<'a>> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let cmp = |want: &[std::cmp::Ordering]| compare(a, b).map(|o| Val::Bool(want.contains(&o)));
    match op {
        Bin::Eq => Ok(Val::Bool(equals(a, b)?)),
        Bin::Ne => Ok(Val::Bool(!equals(a, b)?)),
        Bin::Lt => cmp(&[Less]),
        Bin::Le => cmp(&[Less, Equal]),
        Bin::Gt => cmp(&[Greater]),
        Bin::Ge => cmp(&[Greater, Equal]),
        Bin::In => {
            if let Some(items) = b.elems() {
                for item in &items {
                    if equals(a, item)? {
                        return Ok(Val::Bool(true));
                    }
                }
                return Ok(Val::Bool(false));
            }
            match (a, b.get_key("")) {
                // `get_key` answers `Some` for any map: `a` is looked up as a key.
                (Val::Str(k), Some(_)) => Ok(Val::Bool(b.get_key(k).flatten().is_some())),
                _ => Err(no_overload("in", a, b)),
            }
        }
        Bin::Add => match (a, b) {
            (Val::Str(x), Val::Str(y)) => Ok(Val::Str(Cow::Owned(format!("{x}{y}")))),
            (x, y) if x.is_list() && y.is_list() => {
                let mut out = x.elems().unwrap_or_default();
                out.extend(y.elems().unwrap_or_default());
                Ok(Val::List(out))
            }
            _ => arith(op, a, b),
        },
        _ => arith(op, a, b),
    }
}

fn arith<'a>(op: Bin, a: &Val<'a>, b: &Val<'a>) -> R<Val<'a>> {
    let overflow = || "integer overflow".to_owned();
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => {
            let r = match op {
                Bin::Add => x.checked_add(*y),
                Bin::Sub => x.checked_sub(*y),
                Bin::Mul => x.checked_mul(*y),
                Bin::Div if *y == 0 => return Err("division by zero".to_owned()),
                Bin::Div => x.checked_div(*y),
                Bin::Rem if *y == 0 => return Err("modulus by zero".to_owned()),
                Bin::Rem => x.checked_rem(*y),
                _ => return Err(no_overload("?", a, b)),
            };
            r.map(Val::Int).ok_or_else(overflow)
        }
        (Val::Uint(x), Val::Uint(y)) => {
            let r = match op {
                Bin::Add => x.checked_add(*y),
                Bin::Sub => x.checked_sub(*y),
                Bin::Mul => x.checked_mul(*y),
                Bin::Div | Bin::Rem if *y == 0 => return Err("division by zero".to_owned()),
                Bin::Div => x.checked_div(*y),
                Bin::Rem => x.checked_rem(*y),
                _ => return Err(no_overload("?", a, b)),
            };
            r.map(Val::Uint).ok_or_else(overflow)
        }
        // Mixed numbers (JSON numbers arrive as int or double) are computed as doubles.
        (x, y) => match (x.number(), y.number(), op) {
            (Some(p), Some(q), Bin::Add) => Ok(Val::Double(p + q)),
            (Some(p), Some(q), Bin::Sub) => Ok(Val::Double(p - q)),
            (Some(p), Some(q), Bin::Mul) => Ok(Val::Double(p * q)),
            (Some(p), Some(q), Bin::Div) => Ok(Val::Double(p / q)),
            _ => Err(no_overload("arithmetic", a, b)),
        },
    }
}
