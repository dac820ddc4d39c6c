//! Endpoint table: method + `{param}` path to an endpoint, with KrakenD's 404/405 split.
//!
//! Matching runs on the raw (still percent-encoded) path, split on `/` only, so an encoded
//! `%2F` can never make a request match a different endpoint.

use http::Method;

/// Result of a route lookup.
#[derive(Debug)]
pub(crate) enum Lookup<'p, T> {
    /// An endpoint matched: the route's value and the raw (encoded) parameter values by name.
    Found {
        endpoint: T,
        params: Vec<(&'p str, &'p str)>,
    },
    /// The path exists with other methods.
    MethodNotAllowed,
    /// No endpoint has this path.
    NotFound,
}

/// The route table of a config, built once while the config is decoded (so a duplicate or a
/// conflicting path is reported there, at its key): each (path, method) leads to the index of
/// its endpoint in the config's `endpoints`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    /// Path pattern → slot in `methods`.
    paths: matchit::Router<usize>,
    /// Per slot: the methods served and each one's endpoint index.
    methods: Vec<Vec<(Method, usize)>>,
    /// Per slot: the declared path, then its segments (`None` for a `{param}`), for the
    /// case-insensitive lookup.
    patterns: Vec<(String, Vec<Option<String>>)>,
}

/// Why a route cannot be added to a [`Table`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RouteError {
    /// The same path and method were declared before.
    Duplicate,
    /// The router cannot tell this path apart from an earlier one (matchit's reason).
    Conflict(String),
}

/// A table whose endpoint indices lead to values: the compiled endpoints, in config order.
#[derive(Debug)]
pub(crate) struct Router<T> {
    table: Table,
    endpoints: Vec<T>,
}

/// gin's router redirects, each with KrakenD's switch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Redirects {
    /// `RedirectTrailingSlash`: `/a/` ↔ `/a`.
    pub(crate) trailing_slash: bool,
    /// `RedirectFixedPath`: clean the path (`//`, `.`, `..`) and fix its case.
    pub(crate) fixed_path: bool,
}

/// Router parameter name of a trailing `/*` (not a valid KrakenD placeholder name).
pub(crate) const REST: &str = "__manifold_rest";

/// The matchit pattern for a KrakenD endpoint path: whole-segment `{x}` stay parameters, any
/// other brace is literal, and a trailing `*` catches the rest of the path.
pub(crate) fn matchit_pattern(endpoint: &str) -> String {
    let last = endpoint.split('/').count().saturating_sub(1);
    endpoint
        .split('/')
        .enumerate()
        .map(|(i, seg)| {
            let is_param = seg.len() > 2 && seg.starts_with('{') && seg.ends_with('}');
            if seg == "*" && i == last {
                format!("{{*{REST}}}")
            } else if is_param {
                seg.to_owned()
            } else {
                seg.replace('{', "{{").replace('}', "}}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl Table {
    /// Add the route of endpoint `index`.
    pub(crate) fn add(
        &mut self,
        path: &str,
        method: &Method,
        index: usize,
    ) -> Result<(), RouteError> {
        let slot = match self.patterns.iter().position(|(p, _)| p == path) {
            Some(slot) => slot,
            None => {
                let slot = self.methods.len();
                self.paths
                    .insert(matchit_pattern(path), slot)
                    .map_err(|e| RouteError::Conflict(e.to_string()))?;
                let segments = path
                    .split('/')
                    .map(|seg| {
                        let param = seg.len() > 2 && seg.starts_with('{') && seg.ends_with('}');
                        (!param).then(|| seg.to_owned())
                    })
                    .collect();
                self.patterns.push((path.to_owned(), segments));
                self.methods.push(Vec::new());
                slot
            }
        };
        let list = self.methods.get_mut(slot).ok_or(RouteError::Duplicate)?;
        if list.iter().any(|(m, _)| m == method) {
            return Err(RouteError::Duplicate);
        }
        list.push((method.clone(), index));
        Ok(())
    }

    /// The methods served at the slot `matchit` found.
    fn served(&self, slot: usize) -> &[(Method, usize)] {
        self.methods.get(slot).map_or(&[], Vec::as_slice)
    }

    /// Where gin would redirect a request that matched no route for its method: the same
    /// path with the trailing slash toggled, then the cleaned, case-fixed path. `None`: no
    /// redirect (the caller answers 405 or 404).
    fn redirect(&self, method: &Method, path: &str, how: Redirects) -> Option<String> {
        if path == "/" {
            return None;
        }
        let serves = |p: &str| {
            self.paths
                .at(p)
                .ok()
                .is_some_and(|m| self.served(*m.value).iter().any(|(m, _)| m == method))
        };
        if how.trailing_slash {
            let toggled = match path.strip_suffix('/') {
                Some(without) => without.to_owned(),
                None => format!("{path}/"),
            };
            if !toggled.is_empty() && serves(&toggled) {
                return Some(toggled);
            }
        }
        if how.fixed_path {
            let clean = clean_path(path);
            let mut candidates = vec![clean.clone()];
            if how.trailing_slash {
                match clean.strip_suffix('/') {
                    Some(without) if !without.is_empty() => candidates.push(without.to_owned()),
                    Some(_) => {}
                    None => candidates.push(format!("{clean}/")),
                }
            }
            for candidate in candidates {
                if let Some(fixed) = self.case_insensitive(&candidate) {
                    if fixed != path && serves(&fixed) {
                        return Some(fixed);
                    }
                }
            }
        }
        None
    }

    /// The path with every literal segment spelled as declared, if some route matches it
    /// ignoring case (parameter values are kept as sent).
    fn case_insensitive(&self, path: &str) -> Option<String> {
        let segs: Vec<&str> = path.split('/').collect();
        self.patterns.iter().find_map(|(_, pattern)| {
            if pattern.len() != segs.len() {
                return None;
            }
            let mut out = Vec::with_capacity(segs.len());
            for (want, got) in pattern.iter().zip(&segs) {
                match want {
                    Some(lit) if lit.eq_ignore_ascii_case(got) => out.push(lit.as_str()),
                    Some(_) => return None,
                    None if got.is_empty() => return None,
                    None => out.push(got),
                }
            }
            Some(out.join("/"))
        })
    }

    /// The endpoint index for a raw path and method.
    fn lookup<'p>(&'p self, method: &Method, path: &'p str) -> Lookup<'p, usize> {
        let Ok(matched) = self.paths.at(path) else {
            return Lookup::NotFound;
        };
        match self
            .served(*matched.value)
            .iter()
            .find(|(m, _)| m == method)
        {
            Some((_, index)) => Lookup::Found {
                endpoint: *index,
                params: matched.params.iter().collect(),
            },
            None => Lookup::MethodNotAllowed,
        }
    }
}

impl<T> Router<T> {
    /// `endpoints` are the values of the table's indices: one per config endpoint, in order.
    pub(crate) fn new(table: Table, endpoints: Vec<T>) -> Self {
        Self { table, endpoints }
    }

    /// Find the endpoint for a raw path and method.
    pub(crate) fn lookup<'p>(&'p self, method: &Method, path: &'p str) -> Lookup<'p, &'p T> {
        match self.table.lookup(method, path) {
            Lookup::Found { endpoint, params } => match self.endpoints.get(endpoint) {
                Some(endpoint) => Lookup::Found { endpoint, params },
                None => Lookup::NotFound,
            },
            Lookup::MethodNotAllowed => Lookup::MethodNotAllowed,
            Lookup::NotFound => Lookup::NotFound,
        }
    }

    /// The methods served at a raw path (none when no endpoint has it), sorted by name as
    /// lura's auto OPTIONS endpoints list them.
    pub(crate) fn allowed(&self, path: &str) -> Vec<Method> {
        let mut methods: Vec<Method> = match self.table.paths.at(path) {
            Ok(matched) => self
                .table
                .served(*matched.value)
                .iter()
                .map(|(m, _)| m.clone())
                .collect(),
            Err(_) => Vec::new(),
        };
        crate::sort::sort_by(&mut methods, |a, b| a.as_str().cmp(b.as_str()));
        methods
    }

    /// gin's redirect target for a request that matched no route for its method.
    pub(crate) fn redirect(&self, method: &Method, path: &str, how: Redirects) -> Option<String> {
        self.table.redirect(method, path, how)
    }
}

/// Go's `path.Clean` for URL paths (keeps a trailing slash, as gin's `cleanPath`).
pub(crate) fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    if path.ends_with('/') && out.len() > 1 {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router<usize> {
        let routes = [
            ("/users/{id}", Method::GET),
            ("/users/{id}", Method::POST),
            ("/users/{id}/orders/{order}", Method::GET),
            ("/static", Method::GET),
            ("/file/{name}.json", Method::GET),
        ];
        let mut table = Table::default();
        for (i, (path, method)) in routes.iter().enumerate() {
            table.add(path, method, i).unwrap();
        }
        Router::new(table, (0..routes.len()).collect())
    }

    #[test]
    fn found_not_found_and_405() {
        let r = router();
        match r.lookup(&Method::GET, "/users/42") {
            Lookup::Found {
                endpoint: &0,
                params,
            } => assert_eq!(params, vec![("id", "42")]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            r.lookup(&Method::POST, "/users/42"),
            Lookup::Found { endpoint: &1, .. }
        ));
        assert!(matches!(
            r.lookup(&Method::DELETE, "/users/42"),
            Lookup::MethodNotAllowed
        ));
        assert!(matches!(r.lookup(&Method::GET, "/nope"), Lookup::NotFound));
        assert!(matches!(
            r.lookup(&Method::GET, "/file/{name}.json"),
            Lookup::Found { endpoint: &4, .. }
        ));
    }

    #[test]
    fn gin_redirects() {
        let r = router();
        let both = Redirects {
            trailing_slash: true,
            fixed_path: true,
        };
        let get = Method::GET;
        assert_eq!(
            r.redirect(&get, "/static/", both).as_deref(),
            Some("/static")
        );
        assert_eq!(
            r.redirect(&get, "/StAtic", both).as_deref(),
            Some("/static")
        );
        assert_eq!(
            r.redirect(&get, "/StAtic/", both).as_deref(),
            Some("/static")
        );
        assert_eq!(
            r.redirect(&get, "/USERS/Ab/Orders/9", both).as_deref(),
            Some("/users/Ab/orders/9")
        );
        assert_eq!(
            r.redirect(&get, "//a/../static", both).as_deref(),
            Some("/static")
        );
        assert_eq!(r.redirect(&Method::PUT, "/StAtic", both), None);
        assert_eq!(r.redirect(&get, "/nope", both), None);
        let none = Redirects {
            trailing_slash: false,
            fixed_path: false,
        };
        assert_eq!(r.redirect(&get, "/StAtic", none), None);
        assert_eq!(r.redirect(&get, "/static/", none), None);
        let fixed_only = Redirects {
            trailing_slash: false,
            fixed_path: true,
        };
        assert_eq!(r.redirect(&get, "/static/", fixed_only), None);
        assert_eq!(
            r.redirect(&get, "/StAtic", fixed_only).as_deref(),
            Some("/static")
        );
    }

    #[test]
    fn duplicates_and_conflicts_are_refused() {
        let mut table = Table::default();
        table.add("/users/{id}", &Method::GET, 0).unwrap();
        assert_eq!(
            table.add("/users/{id}", &Method::GET, 1),
            Err(RouteError::Duplicate)
        );
        assert!(matches!(
            table.add("/users/{name}", &Method::GET, 2),
            Err(RouteError::Conflict(_))
        ));
        table.add("/users/{id}", &Method::POST, 3).unwrap();
    }

    #[test]
    fn encoded_slash_stays_in_one_segment() {
        let r = router();
        match r.lookup(&Method::GET, "/users/a%2Fb") {
            Lookup::Found {
                endpoint: &0,
                params,
            } => assert_eq!(params, vec![("id", "a%2Fb")]),
            other => panic!("{other:?}"),
        }
    }
}
