//! `manifold openapi import`: a KrakenD config skeleton from an OpenAPI 3.0/3.1 document. One
//! endpoint per operation, proxied as it is (`no-op`) to the spec's server; path parameters
//! keep their `{name}`, query and header parameters (and the credentials the operation's
//! security names) are forwarded. Whatever cannot be mapped is returned as a note per
//! operation, and written into the config under `@unmapped`, never dropped silently.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

/// Methods a KrakenD endpoint can have, in OpenAPI's spelling.
const MAPPED_METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

/// Methods an OpenAPI path item can have that KrakenD endpoints cannot.
const UNMAPPED_METHODS: &[&str] = &["options", "head", "trace"];

/// Deepest chain of `$ref`s followed; a longer one (or a cycle) is reported.
const MAX_REF_DEPTH: usize = 32;

/// Options of the import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `scheme://host[:port]` of the backends instead of the spec's server (its path is kept).
    pub backend_host: Option<String>,
}

/// Something the importer could not map, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// `GET /pets/{id}`, or `None` for the document as a whole.
    pub operation: Option<String>,
    /// What was not mapped, and what the skeleton does instead.
    pub message: String,
}

/// The result: the config and every note (also written into the config).
#[derive(Debug)]
pub struct Imported {
    /// The KrakenD v3 config.
    pub config: Value,
    /// Everything not mapped, per operation.
    pub notes: Vec<Note>,
    /// The operations written as endpoints, as `METHOD /path`.
    pub operations: Vec<String>,
}

/// Why nothing could be imported.
#[derive(Debug, PartialEq, Eq)]
pub enum ImportError {
    /// Not an OpenAPI 3.x document.
    NotOpenApi3(String),
    /// No absolute server URL and no `--backend-host`.
    NoHost,
    /// A server URL that is not `scheme://authority/path`.
    BadServer(String),
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportError::NotOpenApi3(v) => write!(
                f,
                "not an OpenAPI 3.x document ({v}); Swagger 2.0 is not supported"
            ),
            ImportError::NoHost => f.write_str(
                "the spec has no absolute server URL (`servers[0].url`): pass --backend-host URL",
            ),
            ImportError::BadServer(u) => write!(
                f,
                "server URL `{u}` is not of the form scheme://host[:port][/path]"
            ),
        }
    }
}

impl std::error::Error for ImportError {}

/// Where an operation's backend is: `scheme://authority` and the base path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Server {
    host: Option<String>,
    base: String,
}

/// Import `spec`.
pub fn import(spec: &Value, options: &Options) -> Result<Imported, ImportError> {
    // `openapi: 3.1` unquoted in YAML is a number.
    let version = match spec.get("openapi") {
        Some(Value::String(v)) => v.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if !version.starts_with("3.") {
        let v = spec.get("swagger").and_then(Value::as_str).map_or_else(
            || format!("`openapi` is `{version}`"),
            |s| format!("swagger {s}"),
        );
        return Err(ImportError::NotOpenApi3(v));
    }
    let mut notes = Vec::new();
    let doc_note = |notes: &mut Vec<Note>, message: String| {
        notes.push(Note {
            operation: None,
            message,
        });
    };
    let servers = spec.get("servers");
    if servers
        .and_then(Value::as_array)
        .is_some_and(|s| s.len() > 1)
    {
        doc_note(
            &mut notes,
            "only the first of the document's `servers` is used for the backends".into(),
        );
    }
    let server = first_server(spec, servers)?;
    let host = backend_host(options, &server)?;
    for (key, what) in [
        (
            "webhooks",
            "webhooks (requests the API sends) have no gateway counterpart",
        ),
        (
            "x-webhooks",
            "webhooks (requests the API sends) have no gateway counterpart",
        ),
        ("x-ms-paths", "`x-ms-paths` is not read"),
    ] {
        if spec
            .get(key)
            .is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty()))
        {
            doc_note(&mut notes, format!("`{key}`: {what}"));
        }
    }
    let mut endpoints = Vec::new();
    let mut routes = Routes::default();
    let mut unmapped_ops = Vec::new();
    let mut operations = Vec::new();
    let empty = Map::new();
    let paths = spec
        .get("paths")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (path, item) in paths {
        let (item, problem) = resolve(spec, item);
        if let Some(p) = problem {
            doc_note(&mut notes, format!("path `{path}`: {p}"));
            continue;
        }
        let Some(item) = item.as_object() else {
            continue;
        };
        let path_server = match item.get("servers") {
            Some(s) => Some(first_server(spec, Some(s))?),
            None => None,
        };
        for (method, op) in item {
            let label = format!("{} {path}", method.to_ascii_uppercase());
            if UNMAPPED_METHODS.contains(&method.as_str()) {
                let message = format!("method {} is not supported by KrakenD endpoints; the operation is not imported", method.to_ascii_uppercase());
                unmapped_ops.push(Value::String(format!("{label}: {message}")));
                notes.push(Note {
                    operation: Some(label),
                    message,
                });
                continue;
            }
            if !MAPPED_METHODS.contains(&method.as_str()) {
                continue;
            }
            let (op, problem) = resolve(spec, op);
            if let Some(p) = problem {
                notes.push(Note {
                    operation: Some(label.clone()),
                    message: format!("{p}; the operation is not imported"),
                });
                unmapped_ops.push(Value::String(format!("{label}: {p}")));
                continue;
            }
            let mut op_notes = Vec::new();
            let route = routes.path(path, &mut op_notes);
            if !routes.seen.insert((method.clone(), route.clone())) {
                let message = format!("its route is `{route}` in KrakenD, as an earlier operation with the same method; the operation is not imported");
                unmapped_ops.push(Value::String(format!("{label}: {message}")));
                notes.push(Note {
                    operation: Some(label),
                    message,
                });
                continue;
            }
            let servers = op.get("servers").or_else(|| item.get("servers"));
            if servers
                .and_then(Value::as_array)
                .is_some_and(|l| l.len() > 1)
            {
                op_notes
                    .push("several `servers` for this operation: only the first is used".into());
            }
            let op_server = match op.get("servers") {
                Some(s) => Some(first_server(spec, Some(s))?),
                None => path_server.clone(),
            };
            let endpoint = endpoint(
                spec,
                &Ctx {
                    route: &route,
                    method,
                    item,
                    op,
                    host: match &op_server {
                        Some(s) => backend_host(options, s)?,
                        None => host.clone(),
                    },
                    base: op_server
                        .as_ref()
                        .map_or(server.base.as_str(), |s| s.base.as_str()),
                },
                &mut op_notes,
            );
            for message in &op_notes {
                notes.push(Note {
                    operation: Some(label.clone()),
                    message: message.clone(),
                });
            }
            operations.push(label);
            endpoints.push(endpoint);
        }
    }
    settle(
        &mut endpoints,
        &mut operations,
        &mut unmapped_ops,
        &mut notes,
    );
    let mut config = Map::new();
    config.insert(
        "$schema".into(),
        "https://www.krakend.io/schema/krakend.json".into(),
    );
    config.insert("version".into(), 3.into());
    if let Some(title) = spec.pointer("/info/title").and_then(Value::as_str) {
        config.insert("name".into(), title.into());
    }
    config.insert(
        "@comment".into(),
        "Generated by `manifold openapi import`: a skeleton that proxies every operation as it is (no-op). Review `@unmapped`.".into(),
    );
    let doc_notes: Vec<Value> = notes
        .iter()
        .filter(|n| n.operation.is_none())
        .map(|n| Value::String(n.message.clone()))
        .collect();
    if !doc_notes.is_empty() {
        config.insert("@unmapped".into(), Value::Array(doc_notes));
    }
    if !unmapped_ops.is_empty() {
        config.insert("@unmapped_operations".into(), Value::Array(unmapped_ops));
    }
    config.insert("endpoints".into(), Value::Array(endpoints));
    Ok(Imported {
        config: Value::Object(config),
        notes,
        operations,
    })
}

/// KrakenD routes for OpenAPI paths: placeholders are whole segments, and one name per
/// position (the router cannot tell `/a/{id}` from `/a/{name}`).
#[derive(Debug, Default)]
struct Routes {
    /// The placeholder name used after each route prefix.
    names: std::collections::HashMap<String, String>,
    /// (method, route) pairs already imported.
    seen: std::collections::HashSet<(String, String)>,
}

impl Routes {
    /// The KrakenD route of an OpenAPI path; every renaming is noted.
    fn path(&mut self, path: &str, notes: &mut Vec<String>) -> String {
        let mut out = String::new();
        for (i, segment) in path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            let names = super::export::templates(segment);
            if names.is_empty() {
                out.push_str(segment);
                continue;
            }
            let whole = names.len() == 1 && segment == format!("{{{}}}", names[0]);
            let mut name = names[0].clone();
            if !whole {
                // `{base}...{head}` → `base_head`, `{id}.json` → `id_json`.
                let words: Vec<&str> = segment
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .filter(|w| !w.is_empty())
                    .collect();
                name = words.join("_");
                notes.push(format!("path segment `{segment}` is one parameter `{{{name}}}` in KrakenD (placeholders are whole segments): the client's segment is forwarded as it is"));
            }
            match self.names.get(&out) {
                Some(earlier) if !manifold_core::url::param_eq(earlier, &name) => {
                    notes.push(format!("path parameter `{{{name}}}` is `{{{earlier}}}` in KrakenD, as in an earlier path: its router needs one name per position"));
                    name = earlier.clone();
                }
                Some(_) => {}
                None => {
                    self.names.insert(out.clone(), name.clone());
                }
            }
            out.push('{');
            out.push_str(&name);
            out.push('}');
        }
        out
    }
}

/// Endpoints the gateway would refuse (a route conflict the renaming did not solve, a name
/// it rejects) are taken out and reported, so that `manifold check` accepts the rest.
fn settle(
    endpoints: &mut Vec<Value>,
    operations: &mut Vec<String>,
    unmapped_ops: &mut Vec<Value>,
    notes: &mut Vec<Note>,
) {
    // Each round removes at least one endpoint, or stops.
    while !endpoints.is_empty() {
        let config = json!({"version": 3, "endpoints": endpoints});
        let Err(errors) = manifold_core::parse_config(&config.to_string()) else {
            return;
        };
        let mut bad = std::collections::BTreeMap::new();
        for e in &errors.errors {
            let index = e
                .path
                .strip_prefix("endpoints[")
                .and_then(|r| r.split_once(']'))
                .and_then(|(n, _)| n.parse::<usize>().ok())
                .filter(|i| *i < endpoints.len());
            if let Some(i) = index {
                bad.entry(i).or_insert_with(|| e.message.clone());
            }
        }
        if bad.is_empty() {
            for e in &errors.errors {
                notes.push(Note {
                    operation: None,
                    message: format!("the config is refused: {}: {}", e.path, e.message),
                });
            }
            return;
        }
        for (i, message) in bad.into_iter().rev() {
            endpoints.remove(i);
            let label = operations.remove(i);
            let message = format!(
                "the gateway refuses its endpoint ({message}); the operation is not imported"
            );
            unmapped_ops.push(Value::String(format!("{label}: {message}")));
            notes.push(Note {
                operation: Some(label),
                message,
            });
        }
    }
}

/// The first entry of a `servers` list (default `/`), variables replaced by their defaults.
fn first_server(spec: &Value, servers: Option<&Value>) -> Result<Server, ImportError> {
    let list = servers.and_then(Value::as_array);
    let Some(first) = list.and_then(|l| l.first()) else {
        return Ok(Server {
            host: None,
            base: String::new(),
        });
    };
    let (first, _) = resolve(spec, first);
    let mut url = first
        .get("url")
        .and_then(Value::as_str)
        .unwrap_or("/")
        .to_owned();
    if let Some(vars) = first.get("variables").and_then(Value::as_object) {
        for (name, var) in vars {
            let default = var.get("default").and_then(Value::as_str).unwrap_or("");
            url = url.replace(&format!("{{{name}}}"), default);
        }
    }
    if url.contains('{') {
        return Err(ImportError::BadServer(url));
    }
    split_url(&url)
}

/// `https://h:1/base/` → (`https://h:1`, `/base`); `/base` → (none, `/base`).
fn split_url(url: &str) -> Result<Server, ImportError> {
    let trim = |p: &str| p.trim_end_matches('/').to_owned();
    let Some((scheme, rest)) = url.split_once("://") else {
        if url.starts_with('/') || url.is_empty() {
            return Ok(Server {
                host: None,
                base: trim(url),
            });
        }
        return Err(ImportError::BadServer(url.to_owned()));
    };
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return Err(ImportError::BadServer(url.to_owned()));
    }
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    if authority.is_empty() {
        return Err(ImportError::BadServer(url.to_owned()));
    }
    Ok(Server {
        host: Some(format!("{scheme}://{authority}")),
        base: trim(path),
    })
}

/// The backends' host: `--backend-host` when given, else the server's.
fn backend_host(options: &Options, server: &Server) -> Result<String, ImportError> {
    match (&options.backend_host, &server.host) {
        (Some(h), _) => Ok(h.trim_end_matches('/').to_owned()),
        (None, Some(h)) => Ok(h.clone()),
        (None, None) => Err(ImportError::NoHost),
    }
}

/// A value with its local `$ref` chain followed; a problem when a ref is remote, missing or
/// loops.
fn resolve<'a>(spec: &'a Value, mut v: &'a Value) -> (&'a Value, Option<String>) {
    for _ in 0..MAX_REF_DEPTH {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else {
            return (v, None);
        };
        let Some(pointer) = r.strip_prefix('#') else {
            return (v, Some(format!("`$ref: {r}` points outside this file")));
        };
        match spec.pointer(pointer) {
            Some(target) => v = target,
            None => return (v, Some(format!("`$ref: {r}` does not exist"))),
        }
    }
    (v, Some("a `$ref` chain that does not end".into()))
}

/// What one endpoint is made from.
struct Ctx<'a> {
    route: &'a str,
    method: &'a str,
    item: &'a Map<String, Value>,
    op: &'a Value,
    host: String,
    base: &'a str,
}

/// One operation as a KrakenD endpoint.
fn endpoint(spec: &Value, cx: &Ctx<'_>, notes: &mut Vec<String>) -> Value {
    let method = cx.method.to_ascii_uppercase();
    let mut query = BTreeSet::new();
    let mut headers = BTreeSet::new();
    for p in parameters(spec, cx.item, cx.op, notes) {
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        match p.get("in").and_then(Value::as_str).unwrap_or_default() {
            "query" => {
                query.insert(name.to_owned());
            }
            "header" => header(&mut headers, name, "header parameter", notes),
            "path" => {}
            "cookie" => notes.push(format!("cookie parameter `{name}` is not forwarded (KrakenD forwards cookies only with `Cookie` in `input_headers`)")),
            other => notes.push(format!("parameter `{name}` in `{other}` is not mapped")),
        }
    }
    credentials(spec, cx.op, &mut query, &mut headers, notes);
    let has_body = cx.op.get("requestBody").is_some();
    if has_body && !headers.is_empty() {
        // A non-empty list drops `Content-Type` unless listed; the body needs it.
        headers.insert("Content-Type".to_owned());
    }
    for (key, what) in [(
        "callbacks",
        "callbacks (requests the API sends back) have no gateway counterpart",
    )] {
        if cx.op.get(key).is_some() {
            notes.push(format!("`{key}`: {what}"));
        }
    }
    if has_links(spec, cx.op) {
        notes.push("response `links` are documentation only; not mapped".into());
    }
    let mut ep = Map::new();
    ep.insert("endpoint".into(), cx.route.into());
    ep.insert("method".into(), method.clone().into());
    ep.insert("output_encoding".into(), "no-op".into());
    if !query.is_empty() {
        ep.insert("input_query_strings".into(), query.into_iter().collect());
    }
    if !headers.is_empty() {
        ep.insert("input_headers".into(), headers.into_iter().collect());
    }
    if let Some(id) = cx.op.get("operationId").and_then(Value::as_str) {
        ep.insert("@operation_id".into(), id.into());
    }
    if let Some(s) = cx.op.get("summary").and_then(Value::as_str) {
        ep.insert("@comment".into(), s.into());
    }
    if !notes.is_empty() {
        ep.insert("@unmapped".into(), notes.iter().cloned().collect());
    }
    ep.insert(
        "backend".into(),
        json!([{
            "host": [cx.host],
            "url_pattern": format!("{}{}", cx.base, cx.route),
            "method": method,
            "encoding": "no-op",
        }]),
    );
    Value::Object(ep)
}

/// A header name into the forwarded list, or a note when it is not a valid header name.
fn header(headers: &mut BTreeSet<String>, name: &str, what: &str, notes: &mut Vec<String>) {
    if http::HeaderName::from_bytes(name.as_bytes()).is_ok() {
        headers.insert(name.to_owned());
    } else {
        notes.push(format!(
            "{what} `{name}` is not a valid header name; not forwarded"
        ));
    }
}

/// The operation's parameters: the path item's, overridden by the operation's (same name
/// and location), `$ref`s followed.
fn parameters<'a>(
    spec: &'a Value,
    item: &'a Map<String, Value>,
    op: &'a Value,
    notes: &mut Vec<String>,
) -> Vec<&'a Value> {
    let mut out: Vec<&Value> = Vec::new();
    let lists = [item.get("parameters"), op.get("parameters")];
    for list in lists.into_iter().flatten().filter_map(Value::as_array) {
        for p in list {
            let (p, problem) = resolve(spec, p);
            if let Some(problem) = problem {
                notes.push(format!("a parameter: {problem}"));
                continue;
            }
            let key = |v: &Value| (v.get("name").cloned(), v.get("in").cloned());
            out.retain(|q| key(q) != key(p));
            out.push(p);
        }
    }
    out
}

/// The credentials the operation's security names are forwarded for the backend to check;
/// the gateway itself checks nothing, which is noted.
fn credentials(
    spec: &Value,
    op: &Value,
    query: &mut BTreeSet<String>,
    headers: &mut BTreeSet<String>,
    notes: &mut Vec<String>,
) {
    let security = op.get("security").or_else(|| spec.get("security"));
    let Some(requirements) = security.and_then(Value::as_array) else {
        return;
    };
    let mut names = BTreeSet::new();
    for req in requirements.iter().filter_map(Value::as_object) {
        names.extend(req.keys().cloned());
    }
    for name in names {
        let scheme = spec.pointer(&format!("/components/securitySchemes/{}", escape(&name)));
        let (scheme, _) = scheme.map_or((&Value::Null, None), |s| resolve(spec, s));
        let kind = scheme.get("type").and_then(Value::as_str).unwrap_or("");
        let key = scheme.get("name").and_then(Value::as_str).unwrap_or("");
        let forwarded = match (kind, scheme.get("in").and_then(Value::as_str)) {
            ("apiKey", Some("header")) => {
                header(headers, key, "API key header", notes);
                format!("header `{key}`")
            }
            ("apiKey", Some("query")) => {
                query.insert(key.to_owned());
                format!("query parameter `{key}`")
            }
            ("apiKey", Some("cookie")) => {
                notes.push(format!("security `{name}`: the API key cookie `{key}` is not forwarded (add `Cookie` to `input_headers`)"));
                continue;
            }
            ("http" | "oauth2" | "openIdConnect", _) => {
                headers.insert("Authorization".to_owned());
                "header `Authorization`".to_owned()
            }
            _ => {
                notes.push(format!("security `{name}` ({kind}) is not mapped"));
                continue;
            }
        };
        notes.push(format!("security `{name}` is not checked by the gateway: the {forwarded} is forwarded for the backend to check (add `auth/validator` to check JWTs at the gateway)"));
    }
}

/// Whether any response of the operation has `links`.
fn has_links(spec: &Value, op: &Value) -> bool {
    op.get("responses")
        .and_then(Value::as_object)
        .is_some_and(|r| {
            r.values()
                .any(|resp| resolve(spec, resp).0.get("links").is_some())
        })
}

/// A JSON pointer token (`~` and `/` escaped).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(paths: &Value) -> Value {
        json!({"openapi": "3.1.0", "info": {"title": "T", "version": "1"},
               "servers": [{"url": "{scheme}://api.example.com:{port}/v1/",
                            "variables": {"scheme": {"default": "https"}, "port": {"default": "8443"}}},
                           {"url": "http://other"}],
               "paths": paths})
    }

    #[test]
    fn one_endpoint_per_operation_with_parameters_and_the_server() {
        let s = spec(&json!({"/pets/{petId}": {
            "parameters": [{"name": "petId", "in": "path", "required": true}, {"name": "X-Trace", "in": "header"}],
            "get": {"operationId": "showPet", "parameters": [{"$ref": "#/components/parameters/limit"}]},
            "post": {"requestBody": {"content": {}}},
            "head": {}}}));
        let mut s = s;
        s["components"] = json!({"parameters": {"limit": {"name": "limit", "in": "query"}}});
        let out = import(&s, &Options::default()).unwrap();
        assert_eq!(out.operations, ["GET /pets/{petId}", "POST /pets/{petId}"]);
        let eps = out.config["endpoints"].as_array().unwrap();
        assert_eq!(eps[0]["endpoint"], "/pets/{petId}");
        assert_eq!(eps[0]["input_query_strings"], json!(["limit"]));
        assert_eq!(eps[0]["input_headers"], json!(["X-Trace"]));
        assert_eq!(eps[0]["@operation_id"], "showPet");
        assert_eq!(
            eps[0]["backend"][0]["host"],
            json!(["https://api.example.com:8443"])
        );
        assert_eq!(eps[0]["backend"][0]["url_pattern"], "/v1/pets/{petId}");
        assert_eq!(eps[1]["input_headers"], json!(["Content-Type", "X-Trace"]));
        let messages: Vec<_> = out
            .notes
            .iter()
            .map(|n| (n.operation.clone(), n.message.clone()))
            .collect();
        assert!(messages
            .iter()
            .any(|(op, m)| op.as_deref() == Some("HEAD /pets/{petId}")
                && m.contains("not supported")));
        assert!(messages
            .iter()
            .any(|(op, m)| op.is_none() && m.contains("only the first")));
        assert_eq!(
            out.config["@unmapped_operations"].as_array().unwrap().len(),
            1
        );
    }

    #[test]
    fn unmappable_features_are_noted_per_operation() {
        let mut s = spec(&json!({"/a/{id}.json": {"get": {
            "parameters": [{"name": "session", "in": "cookie"}],
            "callbacks": {"onEvent": {}},
            "security": [{"bearer": []}, {"key": []}],
            "servers": [{"url": "https://x/y"}, {"url": "https://z"}],
            "responses": {"200": {"description": "ok", "links": {"next": {}}}}}}}));
        s["components"] = json!({"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "key": {"type": "apiKey", "in": "query", "name": "api_key"}}});
        let out = import(
            &s,
            &Options {
                backend_host: Some("http://localhost:9/".into()),
            },
        )
        .unwrap();
        let ep = &out.config["endpoints"][0];
        let unmapped: Vec<&str> = ep["@unmapped"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for needle in [
            "cookie parameter `session`",
            "callbacks",
            "links",
            "whole segment",
            "several `servers`",
            "security `bearer`",
            "security `key`",
        ] {
            assert!(
                unmapped.iter().any(|m| m.contains(needle)),
                "{needle}: {unmapped:?}"
            );
        }
        assert_eq!(ep["input_headers"], json!(["Authorization"]));
        assert_eq!(ep["input_query_strings"], json!(["api_key"]));
        assert_eq!(ep["backend"][0]["host"], json!(["http://localhost:9"]));
        assert_eq!(ep["backend"][0]["url_pattern"], "/y/a/{id_json}");
        let per_op = out
            .notes
            .iter()
            .filter(|n| n.operation.as_deref() == Some("GET /a/{id}.json"))
            .count();
        assert_eq!(per_op, unmapped.len());
    }

    #[test]
    fn routes_have_whole_segment_placeholders_one_name_per_position() {
        let s = spec(&json!({
            "/r/{owner}/compare/{base}...{head}": {"get": {}},
            "/a/{id}": {"delete": {}},
            "/a/{digest}": {"get": {}},
            "/a/{digest}/x": {"get": {}},
            "/a/{other}": {"delete": {}}}));
        let out = import(&s, &Options::default()).unwrap();
        let routes: Vec<(&str, &str)> = out.config["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["method"].as_str().unwrap(),
                    e["endpoint"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            routes,
            [
                ("GET", "/a/{digest}"),
                ("GET", "/a/{digest}/x"),
                ("DELETE", "/a/{digest}"),
                ("GET", "/r/{owner}/compare/{base_head}")
            ]
        );
        let ep = &out.config["endpoints"][3];
        assert_eq!(
            ep["backend"][0]["url_pattern"],
            "/v1/r/{owner}/compare/{base_head}"
        );
        assert_eq!(out.operations.len(), 4);
        let dropped = out
            .notes
            .iter()
            .find(|n| n.operation.as_deref() == Some("DELETE /a/{other}"))
            .unwrap();
        assert!(
            dropped.message.contains("not imported"),
            "{}",
            dropped.message
        );
        assert!(manifold_core::parse_config(&out.config.to_string()).is_ok());
    }

    #[test]
    fn endpoints_the_gateway_refuses_are_reported_not_written() {
        let s = spec(&json!({"/__health": {"get": {}}, "/ok": {"get": {}}}));
        let out = import(&s, &Options::default()).unwrap();
        assert_eq!(out.operations, ["GET /ok"]);
        let refused = out
            .notes
            .iter()
            .find(|n| n.operation.as_deref() == Some("GET /__health"))
            .unwrap();
        assert!(refused.message.contains("reserved"), "{}", refused.message);
        assert_eq!(
            out.config["@unmapped_operations"].as_array().unwrap().len(),
            1
        );
    }

    #[test]
    fn servers_and_versions() {
        assert_eq!(
            split_url("https://h:1/b/").unwrap(),
            Server {
                host: Some("https://h:1".into()),
                base: "/b".into()
            }
        );
        assert_eq!(
            split_url("/v2").unwrap(),
            Server {
                host: None,
                base: "/v2".into()
            }
        );
        assert!(split_url("h/x").is_err());
        let relative = json!({"openapi": "3.0.3", "servers": [{"url": "/api"}], "paths": {}});
        assert_eq!(
            import(&relative, &Options::default()).unwrap_err(),
            ImportError::NoHost
        );
        let unquoted = json!({"openapi": 3.1, "servers": [{"url": "http://h"}], "paths": {}});
        assert!(import(&unquoted, &Options::default()).is_ok());
        let swagger = json!({"swagger": "2.0", "paths": {}});
        assert!(matches!(
            import(&swagger, &Options::default()),
            Err(ImportError::NotOpenApi3(_))
        ));
        let loops = json!({"openapi": "3.0.0", "servers": [{"url": "http://h"}],
                           "paths": {"/a": {"$ref": "#/paths/~1a"}}});
        let out = import(&loops, &Options::default()).unwrap();
        assert!(out.notes[0].message.contains("does not end"));
    }
}
