//! manifold-worker: Manifold on Cloudflare Workers.
//!
//! The whole adapter is a `#[event(fetch)]` entry that converts the request, hands it to a
//! [`manifold_core::Gateway`] built once per isolate, and converts the answer back, plus the
//! three ports the core asks for:
//!
//! * `HttpClient` on the global `fetch`, with `redirect: "manual"` (the core follows redirects
//!   itself), an `AbortSignal` that fires when the core drops the call (a timed-out backend call
//!   is really cancelled), and a body read that stops at the core's size limit;
//! * `Sleep` on `setTimeout` ([`worker::Delay`]), `Clock` on `Date.now()`.
//! * the state port: a config's Redis pools on Durable Objects (the exported class
//!   `ManifoldStore`, one per bucket) and `qos/http-cache` with `shared: true` on the Cache API
//!   (`store.rs`, `durable.rs`).
//!
//! The gateway config is embedded at build time from `config/gateway.json` (or the file named by
//! `MANIFOLD_CONFIG`) and validated then by `build.rs`. The client address comes from
//! `CF-Connecting-IP`. Building, testing and limits: `docs/workers.md`.
//!
//! Everything that touches JS exists only on wasm32; on other targets the crate contains just
//! the conversions, so the host workspace builds and tests without a JS toolchain.

// Used by the wasm32 modules; on the host only its tests use it.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod convert;

#[cfg(target_arch = "wasm32")]
mod durable;
#[cfg(target_arch = "wasm32")]
mod entry;
#[cfg(target_arch = "wasm32")]
mod fetch;
#[cfg(target_arch = "wasm32")]
mod store;
