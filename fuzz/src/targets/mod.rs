//! Fuzz target bodies. Each `run(data)` must never panic, hang or grow without bound for any
//! input; the checks inside (`assert!`) are properties that hold for every input. Compiled by
//! the fuzz crate (`fuzz/src/lib.rs`) and by the replay test (`tests/fuzz_replay.rs`).

pub mod cel;
pub mod client_response;
pub mod config;
pub mod jose;
pub mod json;
pub mod lambda;
pub mod pipeline;
pub mod server_head;
pub mod url;

use bytes::Bytes;
use manifold_core::{Gateway, RequestContext};
use manifold_tests::{FakeTime, MockClient, MockReply};

/// A target: the name of its corpus directory under `fuzz/corpus/`, and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const ALL: &[Target] = &[
    ("cel", cel::run),
    ("client_response", client_response::run),
    ("config", config::run),
    ("jose", jose::run),
    ("json", json::run),
    ("lambda", lambda::run),
    ("pipeline", pipeline::run),
    ("server_head", server_head::run),
    ("url", url::run),
];

/// A gateway on a scripted in-memory backend and virtual time (the scenario suite's mocks).
pub struct Harness {
    /// The scripted backend.
    pub client: MockClient,
    /// Virtual clock and timers (2026-01-01T00:00:00Z).
    pub time: FakeTime,
}

impl Harness {
    /// A fresh backend with no scripted replies (every URL answers 404).
    pub fn new() -> Self {
        let time = FakeTime::new();
        Self {
            client: MockClient::new(time.clone()),
            time,
        }
    }

    /// Script `url` to answer 200 with `body` and `content_type`.
    pub fn reply(&self, url: &str, content_type: &str, body: &[u8]) {
        self.client.reply(
            url,
            MockReply {
                status: 200,
                headers: vec![("Content-Type".into(), content_type.into())],
                body: Bytes::copy_from_slice(body),
                ..Default::default()
            },
        );
    }

    /// Compile `config` on this harness' platform.
    pub fn gateway(&self, config: &str) -> Result<Gateway, manifold_core::ConfigErrors> {
        Gateway::from_json(config, manifold_tests::platform(&self.client, &self.time))
    }

    /// Answer `request` with virtual time (timeouts fire without real waiting).
    pub fn handle(
        &self,
        gateway: &Gateway,
        request: http::Request<Bytes>,
    ) -> http::Response<Bytes> {
        manifold_tests::run(&self.time, gateway.handle(request, RequestContext::new()))
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

/// A GET request for `uri` with `headers`; `None` if the fuzzer made them unrepresentable.
pub fn get(uri: &str, headers: &[(&str, &str)]) -> Option<http::Request<Bytes>> {
    let mut builder = http::Request::get(uri);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(Bytes::new()).ok()
}
