//! Endpoint table: method + `{param}` path to an endpoint, with KrakenD's 404/405 split.
//!
//! Matching runs on the raw (still percent-encoded) path, split on `/` only, so an encoded
//! `%2F` can never make a request match a different endpoint.

use http::Method;

/// Result of a route lookup.
#[derive(Debug)]
pub(crate) enum Lookup<'p> {
    /// An endpoint matched: its index and the raw (encoded) parameter values by name.
    Found {
        endpoint: usize,
        params: Vec<(&'p str, &'p str)>,
    },
    /// The path exists with other methods.
    MethodNotAllowed,
    /// No endpoint has this path.
    NotFound,
}

/// The compiled route table.
#[derive(Debug)]
pub(crate) struct Router {
    paths: matchit::Router<usize>,
    methods: Vec<Vec<(Method, usize)>>,
}

/// The matchit pattern for a KrakenD endpoint path: whole-segment `{x}` stay parameters, any
/// other brace is literal.
pub(crate) fn matchit_pattern(endpoint: &str) -> String {
    endpoint
        .split('/')
        .map(|seg| {
            let is_param = seg.len() > 2 && seg.starts_with('{') && seg.ends_with('}');
            if is_param {
                seg.to_owned()
            } else {
                seg.replace('{', "{{").replace('}', "}}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl Router {
    /// Build from `(path, method)` pairs in endpoint order. Conflicts were rejected during
    /// config validation, so an insert error here is only reported, never a panic.
    pub(crate) fn new<'a>(
        routes: impl Iterator<Item = (&'a str, &'a Method)>,
    ) -> Result<Self, String> {
        let mut paths = matchit::Router::new();
        let mut methods: Vec<Vec<(Method, usize)>> = Vec::new();
        let mut index_of: Vec<(String, usize)> = Vec::new();
        for (endpoint, (path, method)) in routes.enumerate() {
            let slot = match index_of.iter().find(|(p, _)| p == path) {
                Some((_, slot)) => *slot,
                None => {
                    let slot = methods.len();
                    paths
                        .insert(matchit_pattern(path), slot)
                        .map_err(|e| format!("{path}: {e}"))?;
                    methods.push(Vec::new());
                    index_of.push((path.to_owned(), slot));
                    slot
                }
            };
            if let Some(list) = methods.get_mut(slot) {
                list.push((method.clone(), endpoint));
            }
        }
        Ok(Router { paths, methods })
    }

    /// Find the endpoint for a raw path and method.
    pub(crate) fn lookup<'p>(&'p self, method: &Method, path: &'p str) -> Lookup<'p> {
        let Ok(matched) = self.paths.at(path) else {
            return Lookup::NotFound;
        };
        let Some(list) = self.methods.get(*matched.value) else {
            return Lookup::NotFound;
        };
        match list.iter().find(|(m, _)| m == method) {
            Some((_, endpoint)) => Lookup::Found {
                endpoint: *endpoint,
                params: matched.params.iter().collect(),
            },
            None => Lookup::MethodNotAllowed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        let routes = [
            ("/users/{id}", Method::GET),
            ("/users/{id}", Method::POST),
            ("/users/{id}/orders/{order}", Method::GET),
            ("/static", Method::GET),
            ("/file/{name}.json", Method::GET),
        ];
        Router::new(routes.iter().map(|(p, m)| (*p, m))).unwrap()
    }

    #[test]
    fn found_not_found_and_405() {
        let r = router();
        match r.lookup(&Method::GET, "/users/42") {
            Lookup::Found {
                endpoint: 0,
                params,
            } => assert_eq!(params, vec![("id", "42")]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            r.lookup(&Method::POST, "/users/42"),
            Lookup::Found { endpoint: 1, .. }
        ));
        assert!(matches!(
            r.lookup(&Method::DELETE, "/users/42"),
            Lookup::MethodNotAllowed
        ));
        assert!(matches!(r.lookup(&Method::GET, "/nope"), Lookup::NotFound));
        assert!(matches!(
            r.lookup(&Method::GET, "/file/{name}.json"),
            Lookup::Found { endpoint: 4, .. }
        ));
    }

    #[test]
    fn encoded_slash_stays_in_one_segment() {
        let r = router();
        match r.lookup(&Method::GET, "/users/a%2Fb") {
            Lookup::Found {
                endpoint: 0,
                params,
            } => assert_eq!(params, vec![("id", "a%2Fb")]),
            other => panic!("{other:?}"),
        }
    }
}
