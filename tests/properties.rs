//! Property tests: URL building can never change the backend URL's structure, and the merge is
//! deterministic whatever order the backends answer in.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use manifold_core::url::{decode_param, UrlPattern};
use manifold_core::{Gateway, RequestContext};
use manifold_tests::{platform, run, FakeTime, MockClient, MockReply};
use proptest::prelude::*;

const HOST: &str = "https://b.partner:8443";

fn check_structure(value: &str) {
    let pattern = UrlPattern::parse("/v1/users/{id}/profile?user={id}&fixed=1").unwrap();
    let Ok(path) = pattern.render(|_| Some(Cow::Borrowed(value))) else {
        // Refusing is allowed ("." and ".."); changing the structure is not.
        assert!(value == "." || value == "..");
        return;
    };
    let url = format!("{HOST}{path}");
    let uri: http::Uri = url.parse().unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(uri.scheme_str(), Some("https"));
    assert_eq!(uri.host(), Some("b.partner"));
    assert_eq!(uri.port_u16(), Some(8443));
    let segments: Vec<&str> = uri.path().split('/').collect();
    assert_eq!(segments.len(), 5, "{url}");
    assert_eq!(
        (segments[1], segments[2], segments[4]),
        ("v1", "users", "profile")
    );
    let keys: Vec<&str> = uri
        .query()
        .unwrap()
        .split('&')
        .map(|kv| kv.split('=').next().unwrap())
        .collect();
    assert_eq!(keys, ["user", "fixed"], "{url}");
    assert!(!url.contains('#'));
}

proptest! {
    #[test]
    fn any_value_keeps_url_structure(value in any::<String>()) {
        check_structure(&value);
    }

    #[test]
    fn hostile_values_keep_url_structure(value in "[./?#%@:\\\\a-z0-9{}\\[\\] \r\n]{0,24}") {
        check_structure(&value);
    }

    #[test]
    fn raw_client_segments_are_refused_or_safe(raw in "[./?#%@a-f0-9A-F2\\\\]{1,16}") {
        if let Some(decoded) = decode_param(&raw) {
            prop_assert!(!decoded.contains(['/', '?', '#', '\\']));
            prop_assert!(decoded != "." && decoded != "..");
            check_structure(&decoded);
        }
    }

    #[test]
    fn merge_is_deterministic(delays in proptest::collection::vec(0u64..300, 3)) {
        let config = r#"{"version":3,"host":["http://m"],"endpoints":[{"endpoint":"/m","backend":[
            {"url_pattern":"/0"},{"url_pattern":"/1"},{"url_pattern":"/2"}]}]}"#;
        let time = FakeTime::new();
        let mock = MockClient::new(time.clone());
        for (i, delay) in delays.iter().enumerate() {
            let body = format!(r#"{{"id":{i},"from_{i}":true,"shared":{{"by":{i}}}}}"#);
            mock.reply(&format!("http://m/{i}"), MockReply {
                status: 200,
                body: Bytes::from(body),
                delay: Duration::from_millis(*delay),
                ..Default::default()
            });
        }
        let gw = Gateway::from_json(config, platform(&mock, &time)).unwrap();
        let req = http::Request::get("/m").body(Bytes::new()).unwrap();
        let res = run(&time, gw.handle(req, RequestContext::new()));
        prop_assert_eq!(
            std::str::from_utf8(res.body()).unwrap(),
            r#"{"from_0":true,"from_1":true,"from_2":true,"id":2,"shared":{"by":2}}"#
        );
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        "[a-z\\\\\"é\u{1F600} ]{0,8}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map("[a-d]", inner, 0..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn parse_keeping_equals_parse_then_filter(
        doc in proptest::collection::btree_map("[a-f]", json_value(), 0..6),
        keep in proptest::collection::vec("[a-f]", 0..4),
        cut in any::<proptest::sample::Index>(),
    ) {
        use manifold_core::json::{parse, parse_keeping, Value};
        let text = serde_json::Value::Object(doc.into_iter().collect()).to_string();
        let keep_fn = |k: &[u8]| keep.iter().any(|x| x.as_bytes() == k);
        let Value::Object(mut full) = parse(text.as_bytes()).unwrap() else { panic!("object") };
        full.retain(|k, _| keep_fn(k.as_bytes()));
        prop_assert_eq!(parse_keeping(text.as_bytes(), &keep_fn).unwrap(), Value::Object(full));
        // A truncated document is invalid for both, whatever is kept.
        let broken = &text.as_bytes()[..cut.index(text.len())];
        prop_assert_eq!(parse(broken).is_ok(), parse_keeping(broken, &keep_fn).is_ok());
    }
}

/// One backend of [`transcoding_answers_as_the_tree`]: its body, `group`, and `allow` or `deny`
/// paths.
fn backend_case() -> impl Strategy<Value = (String, Option<String>, bool, Vec<String>)> {
    let body = proptest::collection::vec(("[a-d]", json_value()), 0..6).prop_map(|members| {
        // Repeated keys too: the last one wins in both paths.
        let members: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{}:{v}", serde_json::Value::String(k.clone())))
            .collect();
        format!("{{{}}}", members.join(","))
    });
    (
        prop_oneof![body, Just("[1]".to_owned()), Just("{\"a\":".to_owned())],
        proptest::option::of("[a-c]"),
        any::<bool>(),
        proptest::collection::vec("[a-d](\\.[a-d]){0,2}", 0..3),
    )
}

proptest! {
    /// An endpoint whose answers are only filtered, grouped and merged is written without a
    /// tree (`json::transcode`); a `mapping` of a key no body has changes nothing but forces the
    /// tree, so both configs must answer byte for byte alike (failures and partial answers
    /// included).
    #[test]
    fn transcoding_answers_as_the_tree(
        backends in proptest::collection::vec(backend_case(), 1..4),
    ) {
        let time = FakeTime::new();
        let mock = MockClient::new(time.clone());
        let mut entries = (Vec::new(), Vec::new());
        for (i, (body, group, allow, paths)) in backends.iter().enumerate() {
            mock.reply(&format!("http://m/{i}"), MockReply {
                status: 200,
                body: Bytes::from(body.clone()),
                ..Default::default()
            });
            let mut b = serde_json::json!({"url_pattern": format!("/{i}")});
            if let Some(g) = group {
                b["group"] = g.clone().into();
            }
            if !paths.is_empty() {
                b[if *allow { "allow" } else { "deny" }] = paths.clone().into();
            }
            entries.0.push(b.clone());
            b["mapping"] = serde_json::json!({"no_such_key": "renamed"});
            entries.1.push(b);
        }
        let answer = |backend: &[serde_json::Value]| {
            let config = serde_json::json!({"version": 3, "host": ["http://m"], "endpoints": [
                {"endpoint": "/m", "backend": backend}]});
            let gw = Gateway::from_json(&config.to_string(), platform(&mock, &time)).unwrap();
            let req = http::Request::get("/m").body(Bytes::new()).unwrap();
            let res = run(&time, gw.handle(req, RequestContext::new()));
            (res.status(), res.headers().clone(), res.body().clone())
        };
        prop_assert_eq!(answer(&entries.0), answer(&entries.1));
    }
}
