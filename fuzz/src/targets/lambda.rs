//! Lambda event decoding: the input is an event as the Lambda runtime hands it over (REST v1,
//! HTTP API v2 / Function URL, ALB). A decodable event is converted, answered by a gateway
//! with echo, parameter and wildcard endpoints, and converted back for its origin.

use super::Harness;

/// Routes the sample events use, plus KrakenD's echo endpoint (it reflects the converted
/// request, so every part of the conversion reaches an output).
pub const CONFIG: &str = r#"{
  "version": 3,
  "host": ["http://b.internal"],
  "echo_endpoint": true,
  "endpoints": [
    {"endpoint": "/echo/{what}", "input_headers": ["*"], "input_query_strings": ["*"],
     "backend": [{"url_pattern": "/e/{what}"}]},
    {"endpoint": "/users/{id}", "method": "POST", "backend": [{"url_pattern": "/u/{id}"}]},
    {"endpoint": "/users/{id}", "backend": [{"url_pattern": "/u/{id}"}]},
    {"endpoint": "/w/*", "output_encoding": "no-op", "backend": [{"url_pattern": "/w"}]}
  ]
}"#;

/// The fuzz body.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(event) = manifold_lambda::parse_event(text) else {
        return;
    };
    let harness = Harness::new();
    harness.reply("http://b.internal/u/42", "application/json", b"{\"id\":42}");
    let Ok(gateway) = harness.gateway(CONFIG) else {
        return;
    };
    let reply = manifold_tests::run(&harness.time, manifold_lambda::handle(&gateway, event));
    let _ = reply.0.status();
}
