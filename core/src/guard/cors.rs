//! `security/cors`: preflight answers and the CORS headers of actual requests, as rs/cors
//! (KrakenD's krakend-cors) writes them. Runs before routing, so a preflight is answered on
//! any path.

use std::ops::ControlFlow;

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::config::extra::Cors;

/// A compiled CORS policy.
#[derive(Debug)]
pub(crate) struct Policy {
    any_origin: bool,
    /// Lower-cased exact origins.
    origins: Vec<String>,
    /// `prefix*suffix` origins, lower-cased.
    wildcards: Vec<(String, String)>,
    /// Upper-cased methods.
    methods: Vec<String>,
    any_header: bool,
    /// Lower-cased header names.
    headers: Vec<String>,
    expose: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
    credentials: bool,
    passthrough: bool,
    status: StatusCode,
}

const VARY_PREFLIGHT: &str =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

// === impl Policy ===

impl Policy {
    pub(crate) fn new(cfg: &Cors) -> Self {
        let mut origins = Vec::new();
        let mut wildcards = Vec::new();
        for o in cfg.allow_origins.iter().map(|o| o.to_ascii_lowercase()) {
            match o.split_once('*') {
                Some((p, s)) => wildcards.push((p.to_owned(), s.to_owned())),
                None => origins.push(o),
            }
        }
        let methods = if cfg.allow_methods.is_empty() {
            vec!["GET".into(), "HEAD".into(), "POST".into()]
        } else {
            cfg.allow_methods
                .iter()
                .map(|m| m.to_ascii_uppercase())
                .collect()
        };
        let mut headers: Vec<String> = if cfg.allow_headers.is_empty() {
            vec![
                "accept".into(),
                "content-type".into(),
                "x-requested-with".into(),
            ]
        } else {
            cfg.allow_headers
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect()
        };
        headers.push("origin".into());
        let expose = (!cfg.expose_headers.is_empty())
            .then(|| {
                let canon: Vec<String> = cfg
                    .expose_headers
                    .iter()
                    .map(|h| crate::http_util::canonical_header(h))
                    .collect();
                HeaderValue::from_str(&canon.join(", ")).ok()
            })
            .flatten();
        Self {
            any_origin: cfg.any_origin(),
            origins,
            wildcards,
            methods,
            any_header: headers.iter().any(|h| h == "*"),
            headers,
            expose,
            max_age: cfg
                .max_age
                .map(|d| d.as_secs())
                .filter(|s| *s > 0)
                .map(HeaderValue::from),
            credentials: cfg.allow_credentials,
            passthrough: cfg.options_passthrough,
            status: cfg
                .options_success_status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::NO_CONTENT),
        }
    }

    /// Checkpoint: answer a preflight (`Break`), or hand back the headers to add to whatever
    /// the rest of the gateway answers (`Continue`).
    pub(crate) fn check(&self, parts: &Parts) -> ControlFlow<Response<Bytes>, HeaderMap> {
        let preflight = parts.method == Method::OPTIONS
            && parts.headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        if !preflight {
            return ControlFlow::Continue(self.actual(parts));
        }
        let headers = self.preflight(parts);
        if self.passthrough {
            return ControlFlow::Continue(headers);
        }
        let mut r = crate::http_util::empty(self.status);
        *r.headers_mut() = headers;
        ControlFlow::Break(r)
    }

    /// Whether a request may open a WebSocket: it has no `Origin` (not a browser) or an allowed
    /// one. Browsers do not apply CORS to WebSockets, so the gateway must refuse the upgrade.
    pub(crate) fn origin_allowed(&self, parts: &Parts) -> bool {
        !parts.headers.contains_key(ORIGIN) || self.allowed_origin(parts).is_some()
    }

    /// The origin, when it is present and allowed.
    fn allowed_origin<'p>(&self, parts: &'p Parts) -> Option<&'p HeaderValue> {
        let value = parts.headers.get(ORIGIN)?;
        let origin = value.to_str().ok()?.to_ascii_lowercase();
        let ok = self.any_origin
            || self.origins.contains(&origin)
            || self.wildcards.iter().any(|(p, s)| {
                origin.len() >= p.len() + s.len() && origin.starts_with(p) && origin.ends_with(s)
            });
        ok.then_some(value)
    }

    fn method_allowed(&self, method: &str) -> bool {
        method == "OPTIONS" || self.methods.iter().any(|m| m == method)
    }

    fn allow_origin(&self, origin: &HeaderValue, h: &mut HeaderMap) {
        if self.any_origin {
            h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        } else {
            h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
        if self.credentials {
            h.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }

    fn preflight(&self, parts: &Parts) -> HeaderMap {
        let mut h = HeaderMap::new();
        // The answer depends on all three request headers: caches must key on them.
        h.insert(VARY, HeaderValue::from_static(VARY_PREFLIGHT));
        let Some(origin) = self.allowed_origin(parts) else {
            return h;
        };
        let Some(method) = parts.headers.get(ACCESS_CONTROL_REQUEST_METHOD) else {
            return h;
        };
        if !self.method_allowed(method.to_str().unwrap_or_default()) {
            return h;
        }
        let requested = parts.headers.get_all(ACCESS_CONTROL_REQUEST_HEADERS);
        let all_allowed = requested.iter().all(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .map(|x| x.trim().to_ascii_lowercase())
                    .filter(|x| !x.is_empty())
                    .all(|x| self.any_header || self.headers.contains(&x))
            })
        });
        if !all_allowed {
            return h;
        }
        self.allow_origin(origin, &mut h);
        h.insert(ACCESS_CONTROL_ALLOW_METHODS, method.clone());
        // rs/cors echoes the requested header list as sent.
        let echoed: Vec<&str> = requested.iter().filter_map(|v| v.to_str().ok()).collect();
        if let Some(v) = (!echoed.is_empty())
            .then(|| HeaderValue::from_str(&echoed.join(", ")).ok())
            .flatten()
        {
            h.insert(ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        if let Some(age) = &self.max_age {
            h.insert(ACCESS_CONTROL_MAX_AGE, age.clone());
        }
        h
    }

    fn actual(&self, parts: &Parts) -> HeaderMap {
        let mut h = HeaderMap::new();
        // Always, even without an Origin: a cache must not serve one origin's answer to another.
        h.insert(VARY, HeaderValue::from_static("Origin"));
        let Some(origin) = self.allowed_origin(parts) else {
            return h;
        };
        if !self.method_allowed(parts.method.as_str()) {
            return h;
        }
        self.allow_origin(origin, &mut h);
        if let Some(expose) = &self.expose {
            h.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
        h
    }
}

/// Add the CORS headers to a response (`Vary` is appended to the backend's own).
pub(crate) fn apply(headers: HeaderMap, response: &mut Response<Bytes>) {
    let out = response.headers_mut();
    let mut last = None;
    for (name, value) in headers {
        // `None` repeats the previous name (HeaderMap's owning iterator).
        let Some(name) = name.or_else(|| last.clone()) else {
            continue;
        };
        if name == VARY {
            out.append(name.clone(), value);
        } else {
            out.insert(name.clone(), value);
        }
        last = Some(name);
    }
}
