//! manifold-core: KrakenD v3 config → validated plan → proxy pipeline, with no runtime, no I/O
//! and no clock of its own. The adapters (native CLI, AWS Lambda, Cloudflare Workers) supply
//! the [`platform`] ports and convert requests; everything else happens here.
//!
//! ```text
//!  client ──► Gateway::handle ──► router ──► param check ──► guards (JWT) ──► input filters ──┐
//!                                                                           ▼
//!                                   ┌──────── endpoint proxy (deadline) ─────────┐
//!                                   │  merge (85 % budget per backend)           │
//!                                   │   ├─ backend 0: shape ◄─ http (url, send,  │
//!                                   │   ├─ backend 1: shape ◄─   status, decode) │
//!                                   │   └─ backend N ...                         │
//!                                   └────────────────────────────────────────────┘
//!  client ◄── render (output_encoding, X-Krakend-Completed, Cache-Control) ◄──┘
//! ```
//!
//! The stack order is written down once, in `proxy::stack`.

#![warn(missing_docs)]

pub mod cel;
pub mod config;
pub mod jose;
pub mod json;
pub mod platform;
pub mod proxy;
pub mod url;

mod body;
mod builtin;
mod encoding;
mod gateway;
mod http_util;
mod lru;
mod middleware;
mod render;
mod router;
mod time;
mod xml;
mod yaml;

pub use body::{BoundedBody, TooLarge};
pub use config::{parse as parse_config, Config, ConfigErrors, Diagnostic};
pub use gateway::{Gateway, SharedGateway};
pub use http_util::{forwarded_peer, plain};
pub use platform::{
    BoxFuture, Clock, Defer, HttpClient, MaybeSend, MaybeSync, Platform, RequestContext, Sleep,
};
pub use render::{X_KRAKEND, X_KRAKEND_COMPLETED};

/// This crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// `User-Agent` sent to backends (and the `X-Krakend` value): `Manifold/<version>`.
pub const USER_AGENT: &str = concat!("Manifold/", env!("CARGO_PKG_VERSION"));
