//! `proxy.flatmap_filter`: `move`, `del` and `append` over dot paths where `*` matches every
//! key of an object or index of an array and a number selects one array element (KrakenD's
//! flatmap, done on the tree instead of a flattened copy). A path that matches nothing (for
//! example `*` over a string) changes nothing.

use std::sync::Arc;

use super::{Proxy, ProxyError, ProxyRequest, ProxyResponse, SharedProxy};
use crate::config::extra::FlatmapOp;
use crate::json::{Map, Value};
use crate::platform::BoxFuture;

struct Flatmap {
    ops: Vec<FlatmapOp>,
    next: SharedProxy,
}

/// Endpoint level: run `ops` on the merged data.
pub(crate) fn layer(ops: Vec<FlatmapOp>, next: SharedProxy) -> SharedProxy {
    Arc::new(Flatmap { ops, next })
}

impl Proxy for Flatmap {
    fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
        Box::pin(async move {
            let mut response = self.next.call(request).await?;
            apply(&self.ops, &mut response.data);
            Ok(response)
        })
    }
}

/// Run every operation, top down, on `data`.
pub(crate) fn apply(ops: &[FlatmapOp], data: &mut Map) {
    let mut root = Value::Object(std::mem::take(data));
    for op in ops {
        match op {
            FlatmapOp::Del { paths } => {
                for path in paths {
                    // Highest indexes first, so removing an array element keeps the rest valid.
                    for (concrete, _) in matches(&root, path).into_iter().rev() {
                        take(&mut root, &concrete);
                    }
                }
            }
            FlatmapOp::Move { from, to } => {
                for (dest, v) in take_all(&mut root, from, to) {
                    put(&mut root, &dest, v);
                }
            }
            FlatmapOp::Append { from, to } => {
                for (dest, v) in take_all(&mut root, from, to) {
                    let items = match v {
                        Value::Array(a) => a,
                        other => vec![other],
                    };
                    let mut list = match take(&mut root, &dest) {
                        Some(Value::Array(a)) => a,
                        Some(other) => vec![other],
                        None => Vec::new(),
                    };
                    list.extend(items);
                    put(&mut root, &dest, Value::Array(list));
                }
            }
        }
    }
    if let Value::Object(m) = root {
        *data = m;
    }
}

/// Take out every value matching `from` (highest indexes first, so removals keep the others
/// valid) and pair it with its destination under `to`, returned in document order.
fn take_all(root: &mut Value, from: &[String], to: &[String]) -> Vec<(Vec<String>, Value)> {
    let mut moved: Vec<(Vec<String>, Value)> = matches(root, from)
        .into_iter()
        .rev()
        .filter_map(|(concrete, stars)| {
            let v = take(root, &concrete)?;
            Some((substitute(to, &stars), v))
        })
        .collect();
    moved.reverse();
    moved
}

/// Every concrete path matching `pattern`, in document order, with the keys the `*`s matched.
fn matches(root: &Value, pattern: &[String]) -> Vec<(Vec<String>, Vec<String>)> {
    fn walk(
        v: &Value,
        pattern: &[String],
        at: &mut Vec<String>,
        stars: &mut Vec<String>,
        out: &mut Vec<(Vec<String>, Vec<String>)>,
    ) {
        let Some((seg, rest)) = pattern.split_first() else {
            out.push((at.clone(), stars.clone()));
            return;
        };
        let children: Vec<(String, &Value)> = match (v, seg.as_str()) {
            (Value::Object(m), "*") => m.iter().map(|(k, v)| (k.to_string(), v)).collect(),
            (Value::Array(a), "*") => a
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
            (Value::Object(m), key) => m
                .get(key)
                .map(|v| (key.to_owned(), v))
                .into_iter()
                .collect(),
            (Value::Array(a), idx) => idx
                .parse::<usize>()
                .ok()
                .and_then(|i| a.get(i).map(|v| (idx.to_owned(), v)))
                .into_iter()
                .collect(),
            _ => Vec::new(),
        };
        for (key, child) in children {
            let star = seg == "*";
            at.push(key.clone());
            if star {
                stars.push(key);
            }
            walk(child, rest, at, stars, out);
            if star {
                stars.pop();
            }
            at.pop();
        }
    }
    let mut out = Vec::new();
    walk(root, pattern, &mut Vec::new(), &mut Vec::new(), &mut out);
    out
}

/// The destination path with its `*`s replaced, in order, by what the source's `*`s matched.
fn substitute(to: &[String], stars: &[String]) -> Vec<String> {
    let mut next = stars.iter();
    to.iter()
        .map(|seg| {
            if seg == "*" {
                next.next().cloned().unwrap_or_default()
            } else {
                seg.clone()
            }
        })
        .collect()
}

/// Remove and return the value at a concrete path.
fn take(v: &mut Value, path: &[String]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    let mut cur = v;
    for seg in parents {
        cur = child_mut(cur, seg)?;
    }
    match cur {
        Value::Object(m) => m.remove(last),
        Value::Array(a) => {
            let i = last.parse::<usize>().ok().filter(|i| *i < a.len())?;
            Some(a.remove(i))
        }
        _ => None,
    }
}

/// Set the value at a concrete path, creating objects for missing levels (and replacing a
/// scalar that is in the way, which is how `move a a.b` nests `a`).
fn put(v: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for seg in parents {
        let exists = match &*cur {
            Value::Object(m) => m
                .get(seg)
                .is_some_and(|c| matches!(c, Value::Object(_) | Value::Array(_))),
            Value::Array(a) => seg.parse::<usize>().ok().is_some_and(|i| i < a.len()),
            _ => false,
        };
        if !exists {
            match cur {
                Value::Object(m) => {
                    m.insert(seg.clone().into(), Value::Object(Map::new()));
                }
                _ => return,
            }
        }
        let Some(next) = child_mut(cur, seg) else {
            return;
        };
        cur = next;
    }
    match cur {
        Value::Object(m) => {
            m.insert(last.clone().into(), value);
        }
        Value::Array(a) => match last.parse::<usize>() {
            Ok(i) if i < a.len() => {
                if let Some(slot) = a.get_mut(i) {
                    *slot = value;
                }
            }
            Ok(i) if i == a.len() => a.push(value),
            _ => {}
        },
        _ => {}
    }
}

fn child_mut<'v>(v: &'v mut Value, seg: &str) -> Option<&'v mut Value> {
    match v {
        Value::Object(m) => m.get_mut(seg),
        Value::Array(a) => a.get_mut(seg.parse::<usize>().ok()?),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn run(ops: &[(&str, &[&str])], input: &str) -> String {
        let ops: Vec<FlatmapOp> = ops
            .iter()
            .map(|(t, args)| {
                let v = serde_json::json!({"type": t, "args": args});
                serde_json::from_value(v).unwrap()
            })
            .collect();
        let Value::Object(mut m) = parse(input.as_bytes()).unwrap() else {
            panic!("not an object")
        };
        apply(&ops, &mut m);
        Value::Object(m).to_json()
    }

    #[test]
    fn krakend_ce_flatmap_1() {
        assert_eq!(
            run(
                &[
                    ("move", &["collection", "paths"]),
                    ("del", &["paths.*.i"]),
                    ("move", &["paths.*.path", "paths.*.url"]),
                ],
                r#"{"collection":[{"i":0,"path":"/c/2"},{"i":1,"path":"/c/2"}]}"#
            ),
            r#"{"paths":[{"url":"/c/2"},{"url":"/c/2"}]}"#
        );
    }

    #[test]
    fn documented_examples() {
        let doc = r#"{"a":[{"b1":[{"c":1,"d":"foo"},{"c":2,"d":"bar"}],"b2":true},{"b1":[{"c":3,"d":"vaz"}]}]}"#;
        assert_eq!(
            run(&[("del", &["a.*.*.*.d"])], doc),
            r#"{"a":[{"b1":[{"c":1},{"c":2}],"b2":true},{"b1":[{"c":3}]}]}"#
        );
        assert_eq!(
            run(&[("move", &["a.0.b1.0.c", "c"])], doc),
            r#"{"a":[{"b1":[{"d":"foo"},{"c":2,"d":"bar"}],"b2":true},{"b1":[{"c":3,"d":"vaz"}]}],"c":1}"#
        );
        assert_eq!(
            run(
                &[("move", &["a.*.b1.*.c", "a.*.b1.*.c.d"])],
                r#"{"a":[{"b1":[{"c":1}]}]}"#
            ),
            r#"{"a":[{"b1":[{"c":{"d":1}}]}]}"#
        );
        assert_eq!(
            run(&[("append", &["k", "s"])], r#"{"k":[3],"s":[1,2]}"#),
            r#"{"s":[1,2,3]}"#
        );
        assert_eq!(
            run(&[("del", &["a.1"])], r#"{"a":[1,2,3]}"#),
            r#"{"a":[1,3]}"#
        );
    }

    #[test]
    fn non_matching_paths_change_nothing() {
        let doc = r#"{"a":"text","b":[1]}"#;
        assert_eq!(
            run(&[("del", &["a.*.x"]), ("move", &["b.*.y", "z"])], doc),
            doc
        );
    }
}
