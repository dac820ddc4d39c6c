//! The conversions, driven by our own event fixtures (tests/lambda/events/), one per event
//! kind: what the gateway sees (path without stage, query, all header values, cookies, body,
//! client address) and the JSON Lambda gets back (shape, base64, headers, size limit).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::{service_fn, Adapter, Body, Service};
use manifold_core::config::load::LoadError;
use manifold_core::platform::{BackendRequest, BackendResponse, ClientError};
use manifold_core::{BoxFuture, Gateway, HttpClient, Platform};
use manifold_lambda::{keep_multi_value_headers, to_core, to_lambda, Origin, ALB_RESPONSE_LIMIT};
use manifold_native::{SystemClock, TokioSleep};
use serde_json::{json, Value};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../tests/lambda/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Parse an event as the bootstrap does: the runtime's event type, the v1 header fix, then
/// lambda_http's conversion.
fn parse_event(json: &str) -> Result<lambda_http::Request, serde_json::Error> {
    let mut event: LambdaRequest = serde_json::from_str(json)?;
    keep_multi_value_headers(&mut event);
    Ok(event.into())
}

/// The bootstrap's config loading: the embedded config or the runtime override.
fn load(
    env: &dyn Fn(&str) -> Option<String>,
    platform: Platform,
) -> (String, Result<Gateway, LoadError>) {
    let (source, config) = manifold_native::load_or_embedded(
        manifold_lambda::CONFIG_OVERRIDE_VAR,
        manifold_lambda::EMBEDDED,
        env,
    );
    (source, config.map(|c| Gateway::new(c, platform)))
}

fn core_request(name: &str) -> (http::Request<Bytes>, Option<IpAddr>, Origin) {
    let event = parse_event(&fixture(name)).unwrap();
    let origin = Origin::of(&event);
    let (request, client) = to_core(event).unwrap();
    (request, client.peer, origin)
}

/// Query pairs, sorted: v1 and ALB events carry the query as a map, so its order is lost
/// before the function runs.
fn query(request: &http::Request<Bytes>) -> Vec<&str> {
    let mut pairs: Vec<&str> = request.uri().query().unwrap_or("").split('&').collect();
    pairs.sort_unstable();
    pairs
}

fn all(request: &http::Request<Bytes>, name: &str) -> Vec<String> {
    request
        .headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[test]
fn rest_v1_routes_without_the_stage_and_keeps_every_header_value() {
    let (request, peer, origin) = core_request("apigw-rest-v1.json");
    assert_eq!(origin, Origin::RestApi);
    assert_eq!(request.method(), "POST");
    // The event's path is decoded and has no stage; lambda_http's uri() would say /prod/...
    assert_eq!(request.uri().path(), "/echo/hello%20world");
    assert_eq!(query(&request), ["q=1", "q=2", "x=y+z"]);
    assert_eq!(all(&request, "x-multi"), ["first", "second"]);
    assert_eq!(all(&request, "cookie"), ["session=abc; theme=dark"]);
    assert_eq!(request.body(), "hello from a REST API");
    assert_eq!(peer, Some("198.51.100.7".parse().unwrap()));
}

#[test]
fn plain_lambda_http_loses_repeated_v1_headers() {
    // Why keep_multi_value_headers exists: if this starts failing, lambda_http fixed the merge
    // and the workaround can go.
    let request = lambda_http::request::from_str(&fixture("apigw-rest-v1.json")).unwrap();
    let values: Vec<_> = request.headers().get_all("x-multi").iter().collect();
    assert_eq!(values, ["second"]);
    assert_eq!(request.uri().path(), "/prod/echo/hello%20world");
}

#[test]
fn http_api_v2_strips_a_named_stage_joins_cookies_and_decodes_base64() {
    let (request, peer, origin) = core_request("apigw-http-v2.json");
    assert_eq!(origin, Origin::HttpApi);
    assert_eq!(request.uri().path(), "/echo/v2");
    assert_eq!(request.uri().query(), Some("q=1&q=2&x=y%20z"));
    assert_eq!(all(&request, "cookie"), ["session=abc; theme=dark"]);
    assert_eq!(
        request.body().as_ref(),
        b"\x00\x01\x02\xff\xfebinary body".as_slice()
    );
    assert_eq!(peer, Some("203.0.113.9".parse().unwrap()));
}

#[test]
fn alb_takes_the_client_from_the_last_forwarded_entry() {
    let (request, peer, origin) = core_request("alb.json");
    assert_eq!(origin, Origin::Alb);
    assert_eq!(request.uri().path(), "/echo/alb");
    assert_eq!(query(&request), ["q=1", "q=2", "x=y+z"]);
    assert_eq!(all(&request, "x-multi"), ["first", "second"]);
    assert_eq!(all(&request, "cookie"), ["session=abc", "theme=dark"]);
    assert_eq!(request.body(), r#"{"from":"alb"}"#);
    assert_eq!(peer, Some("192.0.2.44".parse().unwrap()));
}

#[test]
fn function_url_is_a_v2_event_on_the_default_stage() {
    let (request, peer, origin) = core_request("function-url.json");
    assert_eq!(origin, Origin::HttpApi);
    assert_eq!(request.method(), "GET");
    assert_eq!(request.uri(), "/users/42");
    assert_eq!(all(&request, "cookie"), ["session=abc"]);
    assert!(request.body().is_empty());
    assert_eq!(peer, Some("192.0.2.10".parse().unwrap()));
}

#[test]
fn a_stage_named_like_a_path_prefix_is_only_stripped_as_a_whole_segment() {
    let text = fixture("apigw-http-v2.json").replace("/prod/echo/v2", "/production/x");
    let (request, _) = to_core(parse_event(&text).unwrap()).unwrap();
    assert_eq!(request.uri().path(), "/production/x");
}

fn response(body: &'static [u8], headers: &[(&str, &str)]) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(body));
    for (name, value) in headers {
        response.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    response
}

#[test]
fn utf8_bodies_go_as_text_and_others_as_binary_whatever_the_content_type() {
    let text = to_lambda(
        response(b"{\"a\":1}", &[("content-type", "image/png")]),
        Origin::HttpApi,
    );
    assert!(matches!(text.body(), Body::Text(t) if t == "{\"a\":1}"));
    let latin1 = to_lambda(
        response(b"caf\xe9", &[("content-type", "text/plain")]),
        Origin::HttpApi,
    );
    assert!(matches!(latin1.body(), Body::Binary(b) if b == b"caf\xe9"));
    let empty = to_lambda(response(b"", &[]), Origin::RestApi);
    assert!(matches!(empty.body(), Body::Empty));
}

#[test]
fn v2_answers_join_repeated_headers_and_keep_cookies_apart() {
    let headers = [
        ("x-multi", "first"),
        ("x-multi", "second"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
    ];
    let v2 = to_lambda(response(b"", &headers), Origin::HttpApi);
    assert_eq!(v2.headers().get_all("x-multi").iter().count(), 1);
    assert_eq!(v2.headers()["x-multi"], "first, second");
    assert_eq!(v2.headers().get_all("set-cookie").iter().count(), 2);
    let v1 = to_lambda(response(b"", &headers), Origin::RestApi);
    assert_eq!(v1.headers().get_all("x-multi").iter().count(), 2);
}

#[test]
fn header_values_that_are_not_utf8_are_dropped_instead_of_failing_the_invocation() {
    let mut bad = response(b"ok", &[("x-ok", "caf\u{e9}")]);
    bad.headers_mut()
        .insert("x-latin1", HeaderValue::from_bytes(b"caf\xe9").unwrap());
    let out = to_lambda(bad, Origin::RestApi);
    assert!(out.headers().get("x-latin1").is_none());
    assert_eq!(out.headers()["x-ok"].as_bytes(), "caf\u{e9}".as_bytes());
}

#[test]
fn answers_over_the_platform_limit_become_a_clear_502() {
    static BIG: [u8; 800_000] = [b'a'; 800_000];
    let fine = to_lambda(response(&BIG, &[]), Origin::HttpApi);
    assert_eq!(fine.status(), StatusCode::OK);
    // ALB allows 1 MB of JSON; 800 kB of binary is about 1.07 MB once base64-encoded.
    static BIN: [u8; 800_000] = [0xff; 800_000];
    let alb = to_lambda(response(&BIN, &[]), Origin::Alb);
    assert_eq!(alb.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(alb.headers()["x-krakend-completed"], "false");
    let Body::Text(message) = alb.body() else {
        panic!("text expected")
    };
    assert!(
        message.contains(&format!("limit of {ALB_RESPONSE_LIMIT} bytes")),
        "{message}"
    );
    let v2 = to_lambda(response(&BIN, &[]), Origin::HttpApi);
    assert_eq!(v2.status(), StatusCode::OK);
}

#[test]
fn characters_a_uri_path_cannot_hold_are_escaped_not_refused() {
    let text = fixture("function-url.json").replace("\"/users/42\"", "\"/a b/\\u00e9/%41\\u0000\"");
    let (request, _) = to_core(parse_event(&text).unwrap()).unwrap();
    // Existing escapes stay as they are: the router sees what the client sent.
    assert_eq!(request.uri().path(), "/a%20b/%C3%A9/%41%00");
}

// === the whole adapter, as the runtime drives it ===

/// A backend that answers every call with what it received, and two cookies.
struct Echo;

impl HttpClient for Echo {
    fn send(
        &self,
        request: BackendRequest,
        _: usize,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        let seen = |name: &str| -> Vec<String> {
            request
                .headers()
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect()
        };
        let body = json!({
            "url": request.uri().to_string(),
            "x-forwarded-for": seen("x-forwarded-for"),
            "x-multi": seen("x-multi"),
            "cookie": seen("cookie"),
            "body": String::from_utf8_lossy(request.body()),
        });
        let response = Response::builder()
            .header("content-type", "application/json")
            .header("set-cookie", "a=1")
            .header("set-cookie", "b=2")
            .body(Bytes::from(body.to_string()))
            .unwrap();
        Box::pin(async move { Ok(response) })
    }
}

const CONFIG: &str = r#"{
  "version": 3,
  "host": ["http://backend.internal"],
  "endpoints": [{
    "endpoint": "/echo/{part}", "method": "POST", "output_encoding": "no-op",
    "input_headers": ["X-Multi", "Cookie", "Content-Type"], "input_query_strings": ["*"],
    "backend": [{ "url_pattern": "/seen/{part}", "encoding": "no-op" }]
  }]
}"#;

/// The JSON the runtime would send back to Lambda for this event.
async fn invoke(name: &str) -> Value {
    invoke_with(CONFIG, &fixture(name)).await
}

/// The same with another config and event text.
async fn invoke_with(config: &str, event: &str) -> Value {
    let platform = Platform::new(Arc::new(Echo), Arc::new(SystemClock), Arc::new(TokioSleep));
    let gateway = Arc::new(Gateway::from_json(config, platform).unwrap());
    let mut adapter = Adapter::from(service_fn(move |event| {
        manifold_lambda::handle(Arc::clone(&gateway), event)
    }));
    let mut payload: LambdaRequest = serde_json::from_str(event).unwrap();
    keep_multi_value_headers(&mut payload);
    let answer = adapter
        .call(LambdaEvent::new(payload, Context::default()))
        .await
        .unwrap();
    serde_json::to_value(answer).unwrap()
}

#[tokio::test]
async fn rest_v1_end_to_end_json() {
    let out = invoke("apigw-rest-v1.json").await;
    assert_eq!(out["statusCode"], 200);
    assert_eq!(out["isBase64Encoded"], false);
    assert_eq!(
        out["multiValueHeaders"]["set-cookie"],
        json!(["a=1", "b=2"])
    );
    let seen: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        seen["url"],
        "http://backend.internal/seen/hello%20world?q=1&q=2&x=y+z"
    );
    assert_eq!(seen["x-forwarded-for"], json!(["198.51.100.7"]));
    assert_eq!(seen["x-multi"], json!(["first", "second"]));
    assert_eq!(seen["body"], "hello from a REST API");
}

#[tokio::test]
async fn http_api_v2_end_to_end_json() {
    let out = invoke("apigw-http-v2.json").await;
    assert_eq!(out["statusCode"], 200);
    assert_eq!(out["cookies"], json!(["a=1", "b=2"]));
    assert!(out["headers"].get("set-cookie").is_none());
    let seen: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    // v2 keeps the query as sent (order included); the core re-encodes it for the backend.
    assert_eq!(seen["url"], "http://backend.internal/seen/v2?q=1&q=2&x=y+z");
    assert_eq!(seen["cookie"], json!(["session=abc; theme=dark"]));
    assert_eq!(seen["x-forwarded-for"], json!(["203.0.113.9"]));
}

#[tokio::test]
async fn alb_end_to_end_json() {
    let out = invoke("alb.json").await;
    assert_eq!(out["statusCode"], 200);
    assert_eq!(out["statusDescription"], "200 OK");
    let seen: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    assert_eq!(seen["x-forwarded-for"], json!(["192.0.2.44"]));
    assert_eq!(seen["body"], r#"{"from":"alb"}"#);
}

/// `manifold/compression` on Lambda: an HTTP API does not compress, so the adapter does, as
/// the native server, and the compressed body goes out base64.
#[tokio::test]
async fn the_adapter_compresses_as_the_native_server() {
    use base64::Engine;
    use std::io::Read;
    let compressed = CONFIG.replacen(
        r#""version": 3,"#,
        r#""version": 3, "extra_config": { "manifold/compression": { "min_size": 10 } },"#,
        1,
    );
    let event = fixture("apigw-http-v2.json").replacen(
        r#""accept": "application/json","#,
        r#""accept": "application/json", "accept-encoding": "gzip;q=1, br;q=0.5","#,
        1,
    );
    let plain = invoke("apigw-http-v2.json").await;
    let out = invoke_with(&compressed, &event).await;
    assert_eq!(out["statusCode"], 200);
    assert_eq!(out["headers"]["content-encoding"], "gzip");
    assert_eq!(out["headers"]["vary"], "Accept-Encoding");
    assert_eq!(out["isBase64Encoded"], true);
    let gz = base64::engine::general_purpose::STANDARD
        .decode(out["body"].as_str().unwrap())
        .unwrap();
    let mut body = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut body)
        .unwrap();
    assert_eq!(body, plain["body"].as_str().unwrap());
    // Without the namespace: as before, text and no Vary.
    assert!(plain["headers"].get("content-encoding").is_none());
    assert!(plain["headers"].get("vary").is_none());
}

#[tokio::test]
async fn unknown_routes_are_the_gateway_404_on_every_origin() {
    let out = invoke("function-url.json").await;
    assert_eq!(out["statusCode"], 404);
}

#[tokio::test]
async fn the_embedded_config_compiles() {
    let platform = manifold_native::platform().unwrap();
    let (source, gateway) = load(&|_| None, platform);
    let gateway = gateway.unwrap();
    assert!(source.ends_with(".json"), "{source}");
    assert!(!gateway.config().endpoints.is_empty());
}

#[tokio::test]
async fn the_runtime_override_expands_placeholders_and_reports_located_errors() {
    let dir = std::env::temp_dir().join(format!("manifold-lambda-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.json");
    std::fs::write(
        &good,
        CONFIG.replace("http://backend.internal", "${BACKEND}"),
    )
    .unwrap();
    let env = |name: &str| match name {
        "MANIFOLD_LAMBDA_CONFIG" => Some(good.display().to_string()),
        "BACKEND" => Some("http://127.0.0.1:9".into()),
        "MANIFOLD_TIMEOUT" => Some("1500ms".into()),
        _ => None,
    };
    let (source, gateway) = load(&env, manifold_native::platform().unwrap());
    let gateway = gateway.unwrap();
    assert_eq!(source, good.display().to_string());
    assert_eq!(
        gateway.config().timeout,
        std::time::Duration::from_millis(1500)
    );

    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\n  \"version\": 3,\n  \"endpoints\": [{\"endpoint\": \"/x\", \"backend\": [{\"url_pattern\": \"/{nope}\"}]}]\n}").unwrap();
    let env = |name: &str| (name == "MANIFOLD_LAMBDA_CONFIG").then(|| bad.display().to_string());
    let (source, gateway) = load(&env, manifold_native::platform().unwrap());
    assert_eq!(source, bad.display().to_string());
    let message = gateway.unwrap_err().to_string();
    assert!(message.contains("3:"), "{message}");
    assert!(message.contains("`{nope}`"), "{message}");

    // A function cannot hold a WebSocket: an override with a `websocket` endpoint is refused.
    let ws = dir.join("ws.json");
    std::fs::write(&ws, "{\"version\": 3, \"endpoints\": [{\"endpoint\": \"/chat\", \"output_encoding\": \"no-op\",\n  \"backend\": [{\"host\": [\"ws://chat.internal\"], \"url_pattern\": \"/c\"}],\n  \"extra_config\": {\"websocket\": {\"enable_direct_communication\": true}}}]}").unwrap();
    let env = |name: &str| (name == "MANIFOLD_LAMBDA_CONFIG").then(|| ws.display().to_string());
    let (_, gateway) = load(&env, manifold_native::platform().unwrap());
    let message = gateway.unwrap_err().to_string();
    assert!(
        message.contains("3:20: endpoints[0].extra_config.websocket (GET /chat): a serverless function cannot hold a WebSocket"),
        "{message}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
