//! The core's half of WebSocket passthrough (`Gateway::upgrade`, docs/websockets.md): which
//! requests are upgrades, the guards on them, and the backend handshake the platforms send.
//! The sockets themselves are tested end to end by scripts/websocket.sh and the worker e2e.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use http::request::Parts;
use http::{Method, StatusCode};
use manifold_core::{Gateway, RequestContext, Upgrade};
use manifold_tests::{platform, run, FakeTime, MockClient};

const CONFIG: &str = r#"{"version": 3, "host": ["ws://chat.internal:8080"],
  "extra_config": {
    "security/cors": {"allow_origins": ["https://app.example"]},
    "auth/api-keys": {"keys": [{"key": "k-123", "roles": ["user"]}]}},
  "endpoints": [
    {"endpoint": "/chat/{room}", "output_encoding": "no-op", "input_query_strings": ["since"],
     "input_headers": ["X-Trace", "X-Other"],
     "backend": [{"url_pattern": "/rooms/{room}"}],
     "extra_config": {"websocket": {"enable_direct_communication": true, "input_headers": ["X-Trace"], "timeout": "2m"}}},
    {"endpoint": "/keyed", "output_encoding": "no-op", "backend": [{"url_pattern": "/k"}],
     "extra_config": {"websocket": {"enable_direct_communication": true}, "auth/api-keys": {"roles": ["user"]}}},
    {"endpoint": "/plain", "output_encoding": "no-op", "backend": [{"host": ["http://p"], "url_pattern": "/p"}]}
  ]}"#;

fn gateway(time: &FakeTime) -> Gateway {
    let client = MockClient::new(time.clone());
    Gateway::from_json(CONFIG, platform(&client, time)).unwrap()
}

fn upgrade_request(path: &str, extra: &[(&str, &str)]) -> Parts {
    let mut builder = http::Request::builder()
        .method(Method::GET)
        .uri(path)
        .header("host", "gw.example")
        .header("connection", "keep-alive, Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-protocol", "chat");
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap().into_parts().0
}

fn decide(gateway: &Gateway, time: &FakeTime, parts: &Parts) -> Upgrade {
    let context = RequestContext::new().with_peer(Some("10.0.0.9".parse().unwrap()));
    run(time, gateway.upgrade(parts, context))
}

#[test]
fn an_allowed_upgrade_dials_the_backend_url_with_the_handshake_and_filtered_headers() {
    let time = FakeTime::new();
    let gateway = gateway(&time);
    let parts = upgrade_request(
        "/chat/7?since=3&drop=1",
        &[("x-trace", "t-1"), ("x-other", "o"), ("cookie", "secret")],
    );
    let Upgrade::Dial(dial) = decide(&gateway, &time, &parts) else {
        panic!("not dialled");
    };
    let request = &dial.request;
    assert_eq!(request.method(), Method::GET);
    assert_eq!(
        request.uri().to_string(),
        "http://chat.internal:8080/rooms/7?since=3"
    );
    let h = request.headers();
    assert_eq!(h["upgrade"], "websocket");
    assert_eq!(h["connection"], "Upgrade");
    assert_eq!(h["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(h["sec-websocket-version"], "13");
    assert_eq!(h["sec-websocket-protocol"], "chat");
    assert_eq!(h["x-trace"], "t-1");
    assert!(
        h.get("x-other").is_none(),
        "websocket.input_headers filters: {h:?}"
    );
    assert!(h.get("cookie").is_none(), "{h:?}");
    assert!(h.get("accept-encoding").is_none(), "{h:?}");
    assert_eq!(h["x-forwarded-for"], "10.0.0.9");
    assert_eq!(dial.idle_timeout, std::time::Duration::from_secs(120));
    assert_eq!(dial.endpoint, "GET /chat/{room}");
}

#[test]
fn guards_refuse_an_upgrade_with_their_normal_answer() {
    let time = FakeTime::new();
    let gateway = gateway(&time);
    let no_key = upgrade_request("/keyed", &[]);
    match decide(&gateway, &time, &no_key) {
        Upgrade::Refused(answer) => assert_eq!(answer.status(), StatusCode::UNAUTHORIZED),
        other => panic!("{other:?}"),
    }
    let keyed = upgrade_request("/keyed", &[("authorization", "k-123")]);
    assert!(matches!(decide(&gateway, &time, &keyed), Upgrade::Dial(_)));
    let foreign = upgrade_request("/chat/1", &[("origin", "https://evil.example")]);
    match decide(&gateway, &time, &foreign) {
        Upgrade::Refused(answer) => assert_eq!(answer.status(), StatusCode::FORBIDDEN),
        other => panic!("{other:?}"),
    }
    let allowed = upgrade_request("/chat/1", &[("origin", "https://app.example")]);
    assert!(matches!(
        decide(&gateway, &time, &allowed),
        Upgrade::Dial(_)
    ));
}

#[test]
fn everything_else_passes_to_the_normal_path() {
    let time = FakeTime::new();
    let gateway = gateway(&time);
    // Not an upgrade: no Upgrade header.
    let mut plain = upgrade_request("/chat/1", &[]);
    plain.headers.remove("upgrade");
    assert!(!gateway.may_upgrade(&plain));
    assert!(matches!(decide(&gateway, &time, &plain), Upgrade::Pass));
    // An upgrade to something else than WebSocket.
    let mut h2c = upgrade_request("/chat/1", &[]);
    h2c.headers.insert("upgrade", "h2c".parse().unwrap());
    assert!(matches!(decide(&gateway, &time, &h2c), Upgrade::Pass));
    // An upgrade on an endpoint without `websocket`, and on no endpoint at all.
    for path in ["/plain", "/nowhere"] {
        let parts = upgrade_request(path, &[]);
        assert!(gateway.may_upgrade(&parts));
        assert!(
            matches!(decide(&gateway, &time, &parts), Upgrade::Pass),
            "{path}"
        );
    }
}
