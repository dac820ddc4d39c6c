//! Response shaping, in KrakenD's order: `target` → `allow` (or `deny`) → `mapping` → `group`
//! (lura's entity formatter); a `flatmap_filter` replaces the middle steps:
//! `target` → flatmap → `group`.

use super::{Proxy, ProxyError, ProxyRequest, ProxyResponse, SharedProxy};
use crate::config::extra::FlatmapOp;
use crate::config::{Backend, Encoding};
use crate::json::{Filter, Map, Str, Value};
use crate::platform::BoxFuture;

/// The shaping steps of one backend.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shape {
    target: Option<Vec<String>>,
    /// `allow`, or else `deny` (allow wins, as in lura's formatter).
    filter: Filter,
    mapping: Vec<(String, String)>,
    /// Shared text: wrapping an answer copies it (short, inline) instead of allocating.
    group: Option<Str>,
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
        filter: filter(&b.allow, &b.deny),
        mapping: b.mapping.clone(),
        group: b.group.as_deref().map(Str::from),
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
            match response.json.take() {
                // A transcoded answer was filtered as it was written; `group` is the only
                // other step it can have (`stack::transcoding`).
                Some(json) => {
                    response.json = Some(match &self.shape.group {
                        Some(group) => json.wrap(group),
                        None => json,
                    });
                }
                None => response.data = self.shape.apply(std::mem::take(&mut response.data)),
            }
            Ok(response)
        })
    }
}

// === impl Shape ===

impl Shape {
    fn is_noop(&self) -> bool {
        self.target.is_none()
            && self.filter.is_empty()
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
        } else if !self.filter.is_empty() {
            self.filter.apply(&mut data);
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
            wrapped.insert(group.clone(), Value::Object(data));
            data = wrapped;
        }
        data
    }
}

/// A backend's `allow` filter, or else its `deny` filter (none: an empty `deny`).
pub(crate) fn filter(allow: &[Vec<String>], deny: &[Vec<String>]) -> Filter {
    if allow.is_empty() {
        Filter::deny(deny)
    } else {
        Filter::allow(allow)
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
            filter: Filter::allow(&paths(&["a.b", "c", "d.x", "e.y"])),
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
            filter: Filter::allow(&paths(&["nothing"])),
            ..Default::default()
        };
        assert_eq!(shaped(&s, r#"{"a":1}"#), "{}");
    }

    #[test]
    fn a_shorter_allowed_path_keeps_the_whole_value_in_either_order() {
        let input = r#"{"a":{"b":{"c":1,"x":2},"d":3,"z":4},"y":5}"#;
        for list in [
            &["a", "a.b.c"][..],
            &["a.b.c", "a"],
            &["a.b", "a.b.c", "a.d"],
        ] {
            let s = Shape {
                filter: Filter::allow(&paths(list)),
                ..Default::default()
            };
            let whole_b = list.contains(&"a.b");
            let expected = match (list.contains(&"a"), whole_b) {
                (true, _) => r#"{"a":{"b":{"c":1,"x":2},"d":3,"z":4}}"#,
                (false, true) => r#"{"a":{"b":{"c":1,"x":2},"d":3}}"#,
                (false, false) => unreachable!(),
            };
            assert_eq!(shaped(&s, input), expected, "{list:?}");
        }
        let s = Shape {
            filter: Filter::allow(&paths(&["a.b.c", "a.d", "y.q"])),
            ..Default::default()
        };
        assert_eq!(shaped(&s, input), r#"{"a":{"b":{"c":1},"d":3}}"#);
    }

    #[test]
    fn allow_wins_over_deny() {
        let s = Shape {
            filter: filter(&paths(&["a"]), &paths(&["a"])),
            ..Default::default()
        };
        assert_eq!(shaped(&s, r#"{"a":1,"b":2}"#), r#"{"a":1}"#);
    }

    #[test]
    fn deny_removes_nested_but_not_through_arrays() {
        let s = Shape {
            filter: Filter::deny(&paths(&["a.b", "l.x", "password"])),
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
