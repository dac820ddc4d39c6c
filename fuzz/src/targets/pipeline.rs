//! The response pipeline on a hostile backend body: decoding (JSON, safejson, XML, string),
//! `allow`/`deny`/`mapping`/`target`/`group`/`is_collection`, `flatmap_filter` and merging,
//! then the output encodings (JSON, JSON collection, XML, YAML, negotiated, string). Every
//! endpoint of the fixed config below answers from the fuzz input as its backend's body. A
//! JSON answer must be valid JSON.

use super::{get, Harness};

/// The backend every endpoint calls.
const BACKEND: &str = "http://b.internal";

/// The fixed config: one endpoint per stage combination worth reaching.
pub const CONFIG: &str = r#"{
  "version": 3,
  "host": ["http://b.internal"],
  "endpoints": [
    {
      "endpoint": "/allow",
      "backend": [{"url_pattern": "/allow", "allow": ["a", "b.c", "d.e.f", "n"],
                   "mapping": {"a": "x", "b": "y"}}]
    },
    {
      "endpoint": "/deny",
      "output_encoding": "xml",
      "backend": [{"url_pattern": "/deny", "deny": ["a", "b.c", "d.0"], "target": "data",
                   "group": "g"}]
    },
    {
      "endpoint": "/flat",
      "output_encoding": "yaml",
      "backend": [{"url_pattern": "/flat", "extra_config": {"proxy": {"flatmap_filter": [
        {"type": "move", "args": ["a.*.b", "a.*.c"]},
        {"type": "del", "args": ["a.*.d"]},
        {"type": "append", "args": ["e", "a"]},
        {"type": "move", "args": ["f.0", "g"]}
      ]}}}]
    },
    {
      "endpoint": "/collection",
      "output_encoding": "json-collection",
      "backend": [{"url_pattern": "/collection", "is_collection": true,
                   "mapping": {"collection": "items"}}]
    },
    {
      "endpoint": "/merge",
      "output_encoding": "negotiate",
      "extra_config": {"proxy": {"flatmap_filter": [
        {"type": "move", "args": ["one.*", "two"]},
        {"type": "del", "args": ["two.*.x"]}
      ]}},
      "backend": [
        {"url_pattern": "/merge1", "group": "one"},
        {"url_pattern": "/merge2", "target": "a.b", "allow": ["c", "d"]}
      ]
    },
    {
      "endpoint": "/xml",
      "output_encoding": "xml",
      "backend": [{"url_pattern": "/xml", "encoding": "xml", "deny": ["a"]}]
    },
    {
      "endpoint": "/xml-json",
      "backend": [{"url_pattern": "/xml-json", "encoding": "xml", "target": "root"}]
    },
    {
      "endpoint": "/safe",
      "output_encoding": "yaml",
      "backend": [{"url_pattern": "/safe", "encoding": "safejson", "mapping": {"collection": "c"}}]
    },
    {
      "endpoint": "/string",
      "output_encoding": "xml",
      "backend": [{"url_pattern": "/string", "encoding": "string"}]
    },
    {
      "endpoint": "/plain",
      "output_encoding": "string",
      "backend": [{"url_pattern": "/plain"}]
    }
  ]
}"#;

/// Each endpoint with the `Accept` it is asked with and whether its answer is JSON.
const REQUESTS: &[(&str, &str, bool)] = &[
    ("/allow", "*/*", true),
    ("/deny", "*/*", false),
    ("/flat", "*/*", false),
    ("/collection", "*/*", true),
    ("/merge", "application/json", true),
    ("/merge", "application/xml", false),
    ("/merge", "text/plain", false),
    ("/xml", "*/*", false),
    ("/xml-json", "*/*", true),
    ("/safe", "*/*", false),
    ("/string", "*/*", false),
    ("/plain", "*/*", false),
];

/// The backend paths of [`CONFIG`].
const PATHS: &[&str] = &[
    "/allow",
    "/deny",
    "/flat",
    "/collection",
    "/merge1",
    "/merge2",
    "/xml",
    "/xml-json",
    "/safe",
    "/string",
    "/plain",
];

/// The fuzz body.
pub fn run(data: &[u8]) {
    let _ = answers(data);
}

/// Every request of [`REQUESTS`] answered with `data` as the backend body: path and status.
/// A JSON answer with 200 must be valid JSON (asserted).
pub fn answers(data: &[u8]) -> Vec<(&'static str, http::StatusCode)> {
    let harness = Harness::new();
    for path in PATHS {
        harness.reply(&format!("{BACKEND}{path}"), "application/json", data);
    }
    let Ok(gateway) = harness.gateway(CONFIG) else {
        // The replay test checks that the fixed config compiles.
        return Vec::new();
    };
    let mut out = Vec::with_capacity(REQUESTS.len());
    for &(path, accept, json) in REQUESTS {
        let Some(request) = get(path, &[("Accept", accept)]) else {
            continue;
        };
        let response = harness.handle(&gateway, request);
        if json && response.status() == http::StatusCode::OK {
            let parsed = manifold_core::json::parse(response.body());
            assert!(parsed.is_ok(), "{path}: not JSON: {:?}", response.body());
        }
        out.push((path, response.status()));
    }
    out
}
