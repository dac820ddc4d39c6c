//! In-process pipeline microbenchmarks with an instant mock client: 1-backend proxy,
//! 3-backend merge, an allow filter over a 100 KB body
//! and scenario c (a deny filter over bench.py's 100 KB body). Run: `cargo bench -p manifold-core`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

#[global_allocator]
static GLOBAL: manifold_alloc::Mimalloc = manifold_alloc::Mimalloc;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use manifold_core::platform::{BackendRequest, BackendResponse, ClientError};
use manifold_core::{BoxFuture, Clock, Gateway, HttpClient, Platform, RequestContext, Sleep};

/// Answers every URL from a fixed table, immediately.
struct Instant(Vec<(String, Bytes)>);

impl HttpClient for Instant {
    fn send(
        &self,
        req: BackendRequest,
        _max: usize,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        let url = req.uri().to_string();
        let body = self
            .0
            .iter()
            .find(|(u, _)| *u == url)
            .map(|(_, b)| b.clone())
            .unwrap_or_default();
        Box::pin(async move {
            let mut r = http::Response::new(body);
            r.headers_mut().insert(
                "content-type",
                http::HeaderValue::from_static("application/json"),
            );
            Ok(r)
        })
    }
}

struct NeverTimes;

impl Clock for NeverTimes {
    fn now_millis(&self) -> u64 {
        0
    }
}

impl Sleep for NeverTimes {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }
}

fn gateway(config: &str, replies: Vec<(String, Bytes)>) -> Gateway {
    let platform = Platform::new(
        Arc::new(Instant(replies)),
        Arc::new(NeverTimes),
        Arc::new(NeverTimes),
    );
    Gateway::from_json(config, platform).unwrap()
}

fn bench_request(c: &mut Criterion, name: &str, gw: &Gateway, path: &str) {
    let check = futures_executor::block_on(gw.handle(
        http::Request::get(path).body(Bytes::new()).unwrap(),
        RequestContext::new(),
    ));
    assert_eq!(check.status(), 200, "{name}: {:?}", check.body());
    c.bench_function(name, |b| {
        b.iter(|| {
            let req = http::Request::get(path).body(Bytes::new()).unwrap();
            futures_executor::block_on(gw.handle(
                req,
                RequestContext::new().with_peer(Some([127, 0, 0, 1].into())),
            ))
        });
    });
}

fn pipeline(c: &mut Criterion) {
    let user = Bytes::from_static(br#"{"id":1,"name":"Ada","email":"ada@example.com","roles":["admin","dev"],"address":{"city":"London","zip":"N1"}}"#);
    let one = gateway(
        r#"{"version":3,"host":["http://b"],"endpoints":[{"endpoint":"/users/{id}","backend":[{"url_pattern":"/users/{id}"}]}]}"#,
        vec![("http://b/users/1".into(), user.clone())],
    );
    bench_request(c, "proxy_1_backend", &one, "/users/1");

    let three = gateway(
        r#"{"version":3,"host":["http://b"],"endpoints":[{"endpoint":"/front/{id}","backend":[
            {"url_pattern":"/users/{id}","group":"user","allow":["name","address.city"]},
            {"url_pattern":"/cart/{id}","group":"cart"},
            {"url_pattern":"/promos","deny":["internal"]}]}]}"#,
        vec![
            ("http://b/users/1".into(), user),
            (
                "http://b/cart/1".into(),
                Bytes::from_static(
                    br#"{"items":[{"sku":"a","qty":1},{"sku":"b","qty":2}],"total":31.5}"#,
                ),
            ),
            (
                "http://b/promos".into(),
                Bytes::from_static(
                    br#"{"promos":[{"id":1,"title":"-10%"}],"internal":{"cost":3}}"#,
                ),
            ),
        ],
    );
    bench_request(c, "merge_3_backends", &three, "/front/1");

    let mut big = String::from("{");
    for i in 0..1000 {
        big.push_str(&format!(
            r#""k{i:04}":{{"id":{i},"name":"item number {i}","tags":["a","b","c"],"score":{i}.5}},"#
        ));
    }
    big.push_str(r#""keep":{"a":1,"b":2}}"#);
    let filter = gateway(
        r#"{"version":3,"host":["http://b"],"endpoints":[{"endpoint":"/big","backend":[{"url_pattern":"/big","allow":["keep.a","k0001.name"]}]}]}"#,
        vec![("http://b/big".into(), Bytes::from(big))],
    );
    bench_request(c, "allow_filter_100kb", &filter, "/big");

    // Scenario c of bench/run.sh: one 100 KB body and a `deny` filter.
    let deny = gateway(
        r#"{"version":3,"host":["http://b"],"endpoints":[{"endpoint":"/c","backend":[{"url_pattern":"/c/big.json","deny":["debug","meta.trace"]}]}]}"#,
        vec![(
            "http://b/c/big.json".into(),
            Bytes::from(common::scenario_c_body()),
        )],
    );
    bench_request(c, "scenario_c_deny_100kb", &deny, "/c");
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
