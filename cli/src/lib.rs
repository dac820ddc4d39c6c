//! The `manifold` command as a library: the native server and the `run`, `check`, `demo` and
//! `openapi` commands. `main.rs` only parses arguments and picks the runtime; the gateway itself is
//! `manifold-core`, the outbound client and timers are `manifold-native`.
//!
//! ```text
//!  socket ─► server (limits, h1/h2c, graceful stop) ─► Gateway::handle (core) ─► backends
//!                                                            │
//!            access log (logging::AccessLog), OTLP, /metrics ◄┘ one record per request
//!  (the demo's per-request summary still comes from `meter`)
//! ```

pub mod check;
pub mod demo;
pub mod framing;
pub mod graceful;
pub mod head_timeout;
pub mod log_buffer;
pub mod logging;
pub mod memory;
pub mod meter;
pub mod openapi;
pub mod reload;
pub mod run;
pub mod server;
pub mod signal;
pub mod streaming;
pub mod tls;
