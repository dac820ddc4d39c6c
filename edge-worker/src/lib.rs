//! manifold-worker: Manifold on Cloudflare Workers.
//!
//! The whole adapter is a `#[event(fetch)]` entry that converts the request, hands it to a
//! [`manifold_core::Gateway`] built once per isolate on the Workers ports
//! (`manifold-worker-ports`: `fetch`, `setTimeout`, `Date.now()`), and converts the answer back.
//!
//! Its gateway's shared state lives in the ports crate too (`WorkerStores`: Durable Objects for
//! the config's Redis pools, the Cache API for a shared `qos/http-cache`); the Worker exports
//! that crate's Durable Object class `ManifoldStore`, which wrangler.toml binds.
//!
//! The gateway config is embedded at build time from `config/gateway.json` (or the file named by
//! `MANIFOLD_CONFIG`) and validated then by `build.rs`. The client address comes from
//! `CF-Connecting-IP`, the scheme from the request URL. Building, testing and limits:
//! `docs/workers.md`.
//!
//! The entry exists only on wasm32; on other targets the crate is empty, so the host workspace
//! builds without a JS toolchain.

manifold_core::wasm_only! {
    mod entry;
}
