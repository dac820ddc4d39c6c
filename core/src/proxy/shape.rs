//! Response shaping, in KrakenD's order: `target` → `allow` (or `deny`) → `mapping` → `group`
//! (lura's entity formatter); a `flatmap_filter` replaces the middle steps:
//! `target` → flatmap → `group`.

use super::{Proxy, ProxyError, ProxyRequest, ProxyResponse, SharedProxy};
use crate::config::extra::FlatmapOp;
use crate::config::{Backend, Encoding};
use crate::json::{Map, Value};
use crate::platform::BoxFuture;

/// The shaping steps of one backend.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shape {
    target: Option<Vec<String>>,
    allow: Vec<Vec<String>>,
    deny: Vec<Vec<String>>,
    mapping: Vec<(String, String)>,
    group: Option<String>,
    flatmap: Vec<FlatmapOp>,
}

struct ShapeProxy {
    shape: Shape,
    next: SharedProxy,
}

/// Wrap `next` with the backend's shaping, or return it unchanged when there is none.
pub(crate) fn layer(b: &Backend, next: SharedProxy) -> SharedProxy {
    let shape = Shape {
        target: b.target.clone(),
        allow: b.allow.clone(),
        deny: b.deny.clone(),
        mapping: b.mapping.clone(),
        group: b.group.clone(),
        flatmap: b.flatmap_filter.clone(),
    };
    if b.encoding == Encoding::NoOp || shape.is_noop() {
        return next;
    }
    std::sync::Arc::new(ShapeProxy { shape, next })
}

impl Proxy for ShapeProxy {
    fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
        Box::pin(async move {
            let mut response = self.next.call(request).await?;
            response.data = self.shape.apply(std::mem::take(&mut response.data));
            Ok(response)
        })
    }
}

// === impl Shape ===

impl Shape {
    fn is_noop(&self) -> bool {
        self.target.is_none()
            && self.allow.is_empty()
            && self.deny.is_empty()
            && self.mapping.is_empty()
            && self.group.is_none()
            && self.flatmap.is_empty()
    }

    /// Apply every step to one backend's data.
    pub(crate) fn apply(&self, mut data: Map) -> Map {
        if let Some(target) = &self.target {
            data = extract_target(data, target);
        }
        if !self.flatmap.is_empty() {
            // A flatmap_filter replaces allow/deny/mapping (lura's formatter).
            super::flatmap::apply(&self.flatmap, &mut data);
        } else if !self.allow.is_empty() {
            let paths: Vec<&[String]> = self.allow.iter().map(Vec::as_slice).collect();
            data = allow(data, &paths).unwrap_or_default();
        } else {
            for path in &self.deny {
                deny(&mut data, path);
            }
        }
        if self.flatmap.is_empty() && !self.mapping.is_empty() {
            // All sources are taken out first, so chained renames (a→b, b→c) don't depend on order.
            let moved: Vec<(String, Value)> = self
                .mapping
                .iter()
                .filter_map(|(from, to)| {
                    data.remove(from)
                        .map(|v| (to.split('.').next().unwrap_or(to).to_owned(), v))
                })
                .collect();
            data.extend(moved);
        }
        if let Some(group) = &self.group {
            let mut wrapped = Map::new();
            wrapped.insert(group.clone().into(), Value::Object(data));
            data = wrapped;
        }
        data
    }
}

/// Walk `path` through nested objects; anything else gives `{}` (KrakenD, issue #930).
fn extract_target(mut data: Map, path: &[String]) -> Map {
    for key in path {
        match data.remove(key) {
            Some(Value::Object(inner)) => data = inner,
            _ => return Map::new(),
        }
    }
    data
}

/// Keep only the allowed dot paths. An object is kept only if something inside it survived;
/// a path crossing an array drops that key (lura's `whitelistPrune`). `None` when empty.
fn allow(mut data: Map, paths: &[&[String]]) -> Option<Map> {
    let mut out = Map::new();
    let mut keys: Vec<&String> = paths.iter().filter_map(|p| p.first()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let Some(value) = data.remove(key) else {
            continue;
        };
        let tails: Vec<&[String]> = paths
            .iter()
            .filter(|p| p.first() == Some(key))
            .map(|p| p.get(1..).unwrap_or_default())
            .collect();
        if tails.iter().any(|t| t.is_empty()) {
            out.insert(key.clone().into(), value);
        } else if let Value::Object(inner) = value {
            if let Some(kept) = allow(inner, &tails) {
                out.insert(key.clone().into(), Value::Object(kept));
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Remove one dot path; objects only, arrays are not traversed.
fn deny(data: &mut Map, path: &[String]) {
    match path {
        [] => {}
        [last] => {
            data.remove(last);
        }
        [head, rest @ ..] => {
            if let Some(Value::Object(inner)) = data.get_mut(head) {
                deny(inner, rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn obj(s: &str) -> Map {
        match parse(s.as_bytes()).unwrap() {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn paths(list: &[&str]) -> Vec<Vec<String>> {
        list.iter()
            .map(|p| p.split('.').map(str::to_owned).collect())
            .collect()
    }

    fn shaped(shape: &Shape, input: &str) -> String {
        Value::Object(shape.apply(obj(input))).to_json()
    }

    #[test]
    fn allow_keeps_nested_paths_and_prunes() {
        let s = Shape {
            allow: paths(&["a.b", "c", "d.x", "e.y"]),
            ..Default::default()
        };
        assert_eq!(
            shaped(
                &s,
                r#"{"a":{"b":1,"z":2},"c":[1],"d":[{"x":1}],"e":{"q":1},"f":1}"#
            ),
            r#"{"a":{"b":1},"c":[1]}"#
        );
        let s = Shape {
            allow: paths(&["nothing"]),
            ..Default::default()
        };
        assert_eq!(shaped(&s, r#"{"a":1}"#), "{}");
    }

    #[test]
    fn allow_wins_over_deny() {
        let s = Shape {
            allow: paths(&["a"]),
            deny: paths(&["a"]),
            ..Default::default()
        };
        assert_eq!(shaped(&s, r#"{"a":1,"b":2}"#), r#"{"a":1}"#);
    }

    #[test]
    fn deny_removes_nested_but_not_through_arrays() {
        let s = Shape {
            deny: paths(&["a.b", "l.x", "password"]),
            ..Default::default()
        };
        assert_eq!(
            shaped(&s, r#"{"a":{"b":1,"c":2},"l":[{"x":1}],"password":"p"}"#),
            r#"{"a":{"c":2},"l":[{"x":1}]}"#
        );
    }

    #[test]
    fn target_mapping_group_in_order() {
        let s = Shape {
            target: Some(vec!["data".into()]),
            mapping: vec![("a".into(), "b.c".into()), ("b".into(), "a".into())],
            group: Some("g".into()),
            ..Default::default()
        };
        assert_eq!(
            shaped(&s, r#"{"data":{"a":1,"b":2},"x":3}"#),
            r#"{"g":{"a":2,"b":1}}"#
        );
        let s = Shape {
            target: Some(vec!["data".into()]),
            ..Default::default()
        };
        assert_eq!(shaped(&s, r#"{"data":[1,2]}"#), "{}");
    }
}
