//! CEL parse + eval (CEL is crate-private, so through config): the input is the expression
//! of an endpoint `validation/cel` check (request variables, a validated JWT) and of a backend
//! check (response variables). A config that compiles answers a request that reaches both.

use super::{get, Harness};

/// HS256 key (the scenario suite's) for the token below.
const JWKS: &str = r#"{"keys": [{"kty": "oct", "k": "jhWVzI6m7PTMnTUy9TIZP26rDew7mZlH4vz_ZRQsefbUVBVfaDZIjJQhJNB8NxeR87GY0tmZKHF4uBBKPrPA2w", "kid": "k1"}]}"#;

/// A valid HS256 token for that key (sub `user-1`, roles `reader`), issued by the scenario
/// suite's generator; valid at the harness' virtual time.
const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJhdWQiOiJhcGkiLCJleHAiOjE3NjcyMjkyMDAsImlhdCI6MTc2NzIyNTU0MCwiaXNzIjoiaHR0cHM6Ly9pZHAudGVzdCIsInJvbGVzIjpbInJlYWRlciJdLCJzY29wZSI6InJlYWQ6YSByZWFkOmIiLCJzdWIiOiJ1c2VyLTEifQ.qB3F3tC4IzWI7mGmupv6uK49okYVuBJOGszxHHraIsM";

/// The backend's answer the response expressions see.
const BODY: &[u8] =
    br#"{"status":"active","n":[1,2,3],"m":{"k":"v","f":1.5},"s":"text","b":true,"z":null}"#;

/// The config with `expr` as both check expressions.
pub fn config(expr: &str) -> String {
    let expr = serde_json::Value::String(expr.to_owned());
    format!(
        r#"{{"version": 3, "host": ["http://b.internal"],
  "extra_config": {{"router": {{"return_error_msg": true}}}},
  "endpoints": [{{
    "endpoint": "/c/{{id}}",
    "input_headers": ["X-Api", "Authorization"],
    "input_query_strings": ["q", "list"],
    "backend": [{{"url_pattern": "/r/{{id}}", "group": "g",
      "extra_config": {{"validation/cel": [{{"check_expr": {expr}}}]}}}}],
    "extra_config": {{
      "auth/validator": {{"alg": "HS256", "jwk_url": "https://idp.test/jwks.json",
        "issuer": "https://idp.test", "audience": ["api"]}},
      "validation/cel": [{{"check_expr": {expr}}}]
    }}
  }}]
}}"#
    )
}

/// The fuzz body.
pub fn run(data: &[u8]) {
    if let Ok(expr) = std::str::from_utf8(data) {
        let _ = status(expr);
    }
}

/// The answer with `expr` as both checks (`None`: the config does not compile).
pub fn status(expr: &str) -> Option<http::StatusCode> {
    let harness = Harness::new();
    harness.reply(
        "https://idp.test/jwks.json",
        "application/json",
        JWKS.as_bytes(),
    );
    harness.reply("http://b.internal/r/7", "application/json", BODY);
    let gateway = harness.gateway(&config(expr)).ok()?;
    let bearer = format!("Bearer {TOKEN}");
    let headers = [("Authorization", bearer.as_str()), ("X-Api", "k-1")];
    let request = get("/c/7?q=a+b&list=1&list=2", &headers)?;
    Some(harness.handle(&gateway, request).status())
}
