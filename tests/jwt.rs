//! JWK set caching across requests (bad-input-matrix §F63–F64): the scenario folders send one
//! request each, these send many against one gateway. Tokens and keys come from
//! `scenarios/jwt/tokens.json` (written by `scenarios/jwt/generate.py`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bytes::Bytes;
use manifold_core::{Gateway, RequestContext};
use manifold_tests::{platform, run, FakeTime, MockClient, MockReply};
use serde_json::Value;

fn tokens() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/jwt/tokens.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn config(jwks_url: &str, cache: &str) -> String {
    format!(
        r#"{{"version":3,"host":["http://api.internal"],"endpoints":[{{"endpoint":"/p",
        "backend":[{{"url_pattern":"/data"}}],
        "extra_config":{{"auth/validator":{{"alg":"HS256","jwk_url":"{jwks_url}",
        "issuer":"https://idp.test","audience":["api"]{cache}}}}}}}]}}"#
    )
}

fn jwks(body: &Value) -> MockReply {
    MockReply {
        status: 200,
        body: Bytes::from(body.to_string()),
        ..Default::default()
    }
}

struct Setup {
    time: FakeTime,
    mock: MockClient,
    gateway: Gateway,
    url: String,
}

fn setup(cache: &str) -> Setup {
    let t = tokens();
    let url = t["jwks_url"].as_str().unwrap().to_owned();
    let time = FakeTime::new();
    let mock = MockClient::new(time.clone());
    mock.reply(
        "http://api.internal/data",
        MockReply {
            status: 200,
            body: Bytes::from_static(b"{\"ok\":1}"),
            ..Default::default()
        },
    );
    let gateway = Gateway::from_json(&config(&url, cache), platform(&mock, &time)).unwrap();
    Setup {
        time,
        mock,
        gateway,
        url,
    }
}

impl Setup {
    fn get(&self, token: &str) -> u16 {
        let req = http::Request::get("/p")
            .header("Authorization", format!("Bearer {token}"))
            .body(Bytes::new())
            .unwrap();
        run(&self.time, self.gateway.handle(req, RequestContext::new()))
            .status()
            .as_u16()
    }

    fn fetches(&self) -> usize {
        self.mock
            .calls()
            .iter()
            .filter(|c| c.url == self.url)
            .count()
    }

    /// Let virtual time pass (a timer nobody else waits on).
    fn wait(&self, d: Duration) {
        run(&self.time, self.time.timer(d));
    }
}

#[test]
fn f63_unknown_kids_do_not_amplify_fetches() {
    let t = tokens();
    let s = setup("");
    s.mock.reply(&s.url, jwks(&t["jwks_k1"]));
    assert_eq!(s.get(t["k1"].as_str().unwrap()), 200);
    assert_eq!(s.fetches(), 1);
    // A flood of tokens with an unknown kid: at most one refetch per MIN_REFETCH.
    for _ in 0..1000 {
        assert_eq!(s.get(t["k2"].as_str().unwrap()), 401);
    }
    assert_eq!(
        s.fetches(),
        1,
        "the first fetch was just now: no refetch yet"
    );
    s.wait(manifold_core::MIN_REFETCH);
    for _ in 0..1000 {
        assert_eq!(s.get(t["k2"].as_str().unwrap()), 401);
    }
    assert_eq!(s.fetches(), 2, "one refetch per interval");
    // Known keys keep working throughout.
    assert_eq!(s.get(t["k1"].as_str().unwrap()), 200);
    assert_eq!(s.fetches(), 2);
}

#[test]
fn f63_rotated_key_is_picked_up_by_an_unknown_kid() {
    let t = tokens();
    let s = setup("");
    s.mock.reply(&s.url, jwks(&t["jwks_k1_k2"]));
    assert_eq!(s.get(t["k2"].as_str().unwrap()), 200);
    assert_eq!(s.fetches(), 1);
}

#[test]
fn f64_cached_keys_are_used_until_their_ttl() {
    let t = tokens();
    let s = setup(r#","cache":true,"cache_duration":60"#);
    s.mock.reply(&s.url, jwks(&t["jwks_k1"]));
    assert_eq!(s.get(t["k1"].as_str().unwrap()), 200);
    s.wait(Duration::from_secs(59));
    assert_eq!(s.get(t["k1"].as_str().unwrap()), 200);
    assert_eq!(s.fetches(), 1, "within the TTL the cached keys are used");
    s.wait(Duration::from_secs(2));
    assert_eq!(s.get(t["k1"].as_str().unwrap()), 200);
    assert_eq!(s.fetches(), 2, "after the TTL the set is fetched again");
}

#[test]
fn f64_no_keys_at_all_fails_closed() {
    let t = tokens();
    let s = setup("");
    s.mock.reply(
        &s.url,
        MockReply {
            status: 500,
            ..Default::default()
        },
    );
    assert_eq!(s.get(t["k1"].as_str().unwrap()), 401);
    assert_eq!(s.get(t["k1"].as_str().unwrap()), 401);
    assert_eq!(s.fetches(), 1, "retries wait RETRY_WITHOUT_KEYS");
    s.wait(manifold_core::RETRY_WITHOUT_KEYS);
    assert_eq!(s.get(t["k1"].as_str().unwrap()), 401);
    assert_eq!(s.fetches(), 2);
    assert!(s
        .mock
        .calls()
        .iter()
        .all(|c| c.url != "http://api.internal/data"));
}
