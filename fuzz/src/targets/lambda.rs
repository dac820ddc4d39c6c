//! Lambda event decoding: the input is an event as the Lambda runtime hands it over (REST v1,
//! HTTP API v2 / Function URL, ALB). A decodable event takes the bootstrap's path
//! (lambda/src/main.rs): the v1 header fix, lambda_http's adapter, a gateway with echo,
//! parameter and wildcard endpoints, and the answer serialised for its origin as the runtime
//! sends it.
//!
//! lambda_http's own conversion of the raw event (inside `Adapter::call`) panics on some forged
//! events: a body marked base64 that is not, and a request URI that `url` or `http` refuses,
//! built from X-Forwarded-Proto, the host, the stage, the path and v2's rawQueryString. In the
//! bootstrap, lambda_runtime's `CatchPanicService` turns such a panic into a failed invocation
//! (API Gateway and ALB answer 502); here it is contained the same way, without the panic hook
//! (libFuzzer's aborts), so that the target fuzzes Manifold's side. docs/fuzzing.md lists what
//! was found.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Once};

use lambda_http::lambda_runtime::{Context, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::{service_fn, Adapter, Request, Service};
use manifold_lambda::{handle, keep_multi_value_headers};

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

/// The status of the Lambda answer to `event` (`None`: not a decodable event, or one that
/// lambda_http cannot convert). The answer must serialise.
pub fn status(event: &str) -> Option<http::StatusCode> {
    let mut event: LambdaRequest = serde_json::from_str(event).ok()?;
    keep_multi_value_headers(&mut event);
    let harness = Harness::new();
    harness.reply("http://b.internal/u/42", "application/json", b"{\"id\":42}");
    for what in ["alb", "v2", "hello%20world"] {
        let url = format!("http://b.internal/e/{what}");
        harness.reply(&url, "application/json", b"{\"echo\":true}");
    }
    let gateway = Arc::new(harness.gateway(CONFIG).ok()?);
    let mut adapter = Adapter::from(service_fn(move |request: Request| {
        handle(gateway.clone(), request)
    }));
    let call = lambda_http_alone(|| adapter.call(LambdaEvent::new(event, Context::default())))?;
    let answer = manifold_tests::run(&harness.time, call);
    assert!(answer.is_ok(), "the handler failed: {:?}", answer.err());
    let json = serde_json::to_value(answer.ok()?);
    assert!(json.is_ok(), "the answer does not serialise: {json:?}");
    let code = json.ok()?.get("statusCode")?.as_u64()?;
    http::StatusCode::from_u16(u16::try_from(code).ok()?).ok()
}

/// Run `f`, which calls only into lambda_http (`handle` is an `async fn`: calling it runs none of
/// its body), containing a panic as lambda_runtime does and without reporting it. `None`: it
/// panicked.
pub fn lambda_http_alone<T>(f: impl FnOnce() -> T) -> Option<T> {
    thread_local!(static QUIET: Cell<bool> = const { Cell::new(false) });
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|quiet| quiet.set(true));
    let out = catch_unwind(AssertUnwindSafe(f)).ok();
    QUIET.with(|quiet| quiet.set(false));
    out
}
