//! manifold-core: KrakenD v3 config → validated plan → proxy pipeline, with no runtime, no I/O
//! and no clock of its own. The adapters (native CLI, AWS Lambda, Cloudflare Workers) supply
//! the [`platform`] ports and convert requests; everything else happens here.
//!
//! The request path, step by step, is drawn once, in the module doc of `pipeline` (and copied
//! into docs/architecture.md); the order of the proxy stack is written down in `proxy::stack`.

#![warn(missing_docs)]

pub mod config;
pub mod jose;
pub mod json;
pub mod platform;
pub mod url;

mod body;
mod bucket;
mod builtin;
mod cel;
pub mod compression;
mod encoding;
mod float;
mod gateway;
mod guard;
mod http_util;
mod json_schema;
mod limits;
mod lru;
mod pipeline;
mod proxy;
mod render;
mod router;
mod rss;
mod sort;
mod telemetry;
mod time;
mod xml;
mod yaml;

pub use body::{whole_body, BoundedBody, TooLarge};
pub use config::{parse as parse_config, Config, ConfigErrors, Diagnostic};
pub use gateway::Gateway;
pub use guard::jwks::{MIN_REFETCH, RETRY_WITHOUT_KEYS};
pub use http_util::{forwarded_peer, plain};
pub use limits::{head_too_large, RequestLimits, DEFAULT_MAX_BODY, DEFAULT_MAX_HEAD, MAX_HEADERS};
pub use pipeline::Upgrade;
pub use platform::{
    Body, BoxFuture, BoxStream, Chunks, Clock, Defer, HttpClient, MaybeSend, MaybeSync,
    MemoryStore, Platform, PoolSpec, Random, RequestContext, RequestRecord, ResolveError, Sink,
    Sleep, SrvAnswer, SrvRecord, SrvResolver, Store, StoreError, Stores, StreamedResponse,
};
pub use proxy::websocket::Dial;
pub use render::{over_limit, X_KRAKEND, X_KRAKEND_COMPLETED};
pub use telemetry::{metrics, otlp, push};

/// This crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// `User-Agent` sent to backends (and the `X-Krakend` value): `Manifold/<version>`.
pub const USER_AGENT: &str = concat!("Manifold/", env!("CARGO_PKG_VERSION"));
