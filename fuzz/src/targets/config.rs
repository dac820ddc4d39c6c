//! Config parse + validate + compile: any text either compiles into a gateway or is refused
//! with located errors; a compiled gateway answers a request to each of its first endpoints.

use manifold_core::config::Diagnostic;

use super::Harness;

/// How many endpoints of a compiled config get a request (bounds the time per input).
const REQUESTS: usize = 4;

/// The fuzz body.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    let located = |d: &Diagnostic| {
        assert!(
            d.line >= 1 && d.line <= lines && d.column >= 1,
            "diagnostic outside the text ({lines} lines): {d}"
        );
    };
    let config = match manifold_core::parse_config(text) {
        Ok(config) => config,
        Err(errors) => {
            assert!(!errors.errors.is_empty(), "refused without an error");
            errors.errors.iter().for_each(located);
            errors.warnings.iter().for_each(located);
            let _ = errors.to_string();
            return;
        }
    };
    config.warnings.iter().for_each(located);
    let harness = Harness::new();
    let platform = manifold_tests::platform(&harness.client, &harness.time);
    let gateway = manifold_core::Gateway::new(config, platform);
    let targets: Vec<(http::Method, String)> = gateway
        .config()
        .endpoints
        .iter()
        .take(REQUESTS)
        .map(|e| (e.method.clone(), concrete_path(&e.endpoint)))
        .collect();
    for (method, path) in targets {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("Authorization", "Bearer x.y.z")
            .body(bytes::Bytes::from_static(b"{\"a\":1}"));
        if let Ok(request) = request {
            let response = harness.handle(&gateway, request);
            let _ = response.status();
        }
    }
}

/// The endpoint template with every `{param}` filled and a trailing `*` expanded.
fn concrete_path(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut in_param = false;
    for c in template.chars() {
        match (c, in_param) {
            ('{', _) => in_param = true,
            ('}', true) => {
                in_param = false;
                out.push('1');
            }
            ('*', false) => out.push('a'),
            (c, false) => out.push(c),
            (_, true) => {}
        }
    }
    out
}
