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
    {"endpoint": "/echo/{what}", "method": "POST", "input_headers": ["*"],
     "input_query_strings": ["*"], "backend": [{"url_pattern": "/e/{what}"}]},
    {"endpoint": "/echo/{what}", "input_headers": ["*"], "input_query_strings": ["*"],
     "backend": [{"url_pattern": "/e/{what}"}]},
    {"endpoint": "/users/{id}", "method": "POST", "backend": [{"url_pattern": "/u/{id}"}]},
    {"endpoint": "/users/{id}", "backend": [{"url_pattern": "/u/{id}"}]},
    {"endpoint": "/w/*", "output_encoding": "no-op", "backend": [{"url_pattern": "/w"}]}
  ]
}"#;

/// The fuzz body.
pub fn run(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = status(text);
    }
}

/// The status of the Lambda answer to `event` (`None`: not a decodable event).
pub fn status(event: &str) -> Option<http::StatusCode> {
    let event = manifold_lambda::parse_event(event).ok()?;
    let harness = Harness::new();
    harness.reply("http://b.internal/u/42", "application/json", b"{\"id\":42}");
    for what in ["alb", "v2", "hello%20world"] {
        let url = format!("http://b.internal/e/{what}");
        harness.reply(&url, "application/json", b"{\"echo\":true}");
    }
    let gateway = harness.gateway(CONFIG).ok()?;
    let reply = manifold_tests::run(&harness.time, manifold_lambda::handle(&gateway, event));
    Some(reply.0.status())
}
