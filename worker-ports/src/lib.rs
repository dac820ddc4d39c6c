//! manifold-worker-ports: what manifold-core asks of a platform, implemented on Cloudflare
//! Workers — as `manifold-native` implements it on tokio/hyper. The adapter
//! (`manifold-worker`) is glue on top: it converts requests and answers with [`convert`] and
//! builds its gateway on [`platform`].
//!
//! * `HttpClient` on the global `fetch`, with `redirect: "manual"` (the core follows redirects
//!   itself), an `AbortSignal` that fires when the core drops the call (a timed-out backend call
//!   is really cancelled), and a body read that stops at the core's size limit;
//! * `Sleep` on `setTimeout` (`worker::Delay`), `Clock` on `Date.now()`;
//! * `Stores` ([`WorkerStores`]): the config's Redis pools on Durable Objects (the class
//!   [`ManifoldStore`], one object per bucket, which the Worker exports) and `qos/http-cache`
//!   with `shared: true` on the Cache API.
//! * WebSocket passthrough ([`websocket`]): the backend fetched with `Upgrade: websocket`, a
//!   `WebSocketPair` for the client, messages and closes relayed between them;
//! * JWS signatures of `auth/validator` (RSA, ECDSA, Ed25519) verified by WebCrypto
//!   ([`WebCrypto`]), and backends' gzip bodies decoded by `DecompressionStream`
//!   ([`DecompressionStream`]);
//! * ids from `Math.random()`, the access log through `console.log` (one JSON object per
//!   request), and with `telemetry/opentelemetry` the OTLP export in `ctx.wait_until`
//!   ([`observed`]).
//!
//! Everything that touches JS exists only on wasm32; on other targets the crate contains just
//! the conversions, so the host workspace builds and tests without a JS toolchain.

pub mod convert;

manifold_core::wasm_only! {
    mod durable;
    mod fetch;
    mod gunzip;
    mod signatures;
    mod store;
    mod telemetry;
    pub mod websocket;

    pub use durable::ManifoldStore;
    pub use fetch::{headers_from_js, headers_to_js, platform, response_init, FetchClient};
    pub use gunzip::DecompressionStream;
    pub use signatures::WebCrypto;
    pub use store::WorkerStores;
    pub use telemetry::{observed, ConsoleLog, MathRandom};
}
