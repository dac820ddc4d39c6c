//! Native implementations of Manifold's ports (tokio + hyper + rustls), shared by the `manifold`
//! CLI and the AWS Lambda adapter.
//!
//! * [`HyperClient`]: pooled HTTP/1.1 and h2 (ALPN) backend client, rustls for https,
//!   KrakenD-compatible request framing, response bodies bounded while streaming.
//! * [`SystemClock`] and [`TokioSleep`]: wall clock and timers; [`Spawn`]: after-response work.
//! * [`compress`]: response compression (`manifold/compression`) for the server and Lambda.
//! * [`OsRandom`]: trace and request ids; [`JsonLines`]: the access log as JSON lines on
//!   stdout (Lambda); [`Tee`]: several sinks; [`otel`]: `telemetry/opentelemetry` (OTLP/HTTP
//!   export, Prometheus `/metrics`).
//! * [`load_file`]: a config file read and loaded by `manifold_core::config::load` (the
//!   environment handling is pure and lives in the core, where the build scripts use it too).
//! * [`DnsSrv`]: DNS SRV lookups for `"sd": "dns"` backends (hickory-resolver; the system's
//!   name servers, or the one [`DNS_SERVER_VAR`] names).
//! * [`RedisStores`]: the state port on Redis (`redis.connection_pools[]`), so rate limits
//!   are shared by every instance and every Lambda sandbox that names a pool.

pub mod client;
pub mod compress;
mod dns;
mod load;
pub mod otel;
mod otlp_grpc;
mod process_metrics;
mod redis_store;
mod telemetry;
mod time;
pub mod tls;
pub mod websocket;

use std::sync::Arc;

use manifold_core::config::capability::{DNS_SD, REDIS};
use manifold_core::Platform;

pub use client::{ClientOptions, HyperClient};
pub use compress::{accepts, compress, Accepts};
pub use dns::{DnsSrv, DNS_SERVER_VAR};
pub use load::{check_file, load_file, load_or_embedded};
pub use redis_store::{PoolEvent, RedisStore, RedisStores, Report, TAKE};
/// Why the TLS client configuration could not be built.
pub use rustls::Error as TlsError;
pub use telemetry::{JsonLines, OsRandom, Tee};
pub use time::{SystemClock, TokioSleep};
pub use tls::TlsSetupError;

/// After-response work natively: spawned on the current tokio runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spawn;

impl manifold_core::Defer for Spawn {
    fn defer(&self, work: manifold_core::BoxFuture<'static, ()>) {
        tokio::spawn(work);
    }
}

/// The native platform: a [`HyperClient`] with default options, the system clock, tokio
/// timers, OS-seeded ids and Redis for the config's shared pools (outages reported on stderr);
/// no sink (the caller picks one).
pub fn platform() -> Result<Platform, TlsSetupError> {
    platform_with(None)
}

/// The native platform for a config: its backend client honours the root `client_tls`.
pub fn platform_for(config: &manifold_core::Config) -> Result<Platform, TlsSetupError> {
    platform_with(config.client_tls.as_ref())
}

/// The native platform whose backend client uses `client_tls` (`None`: Mozilla's roots, TLS
/// 1.2 and 1.3), the system clock, tokio timers, OS-seeded ids, Redis for the shared pools
/// and DNS SRV lookups for `"sd": "dns"` (these two only when manifold-core has the
/// `redis` and `dns-sd` features, without which a config cannot use them).
pub fn platform_with(
    client_tls: Option<&manifold_core::config::tls::ClientTls>,
) -> Result<Platform, TlsSetupError> {
    let platform = Platform::new(
        Arc::new(HyperClient::with_tls(ClientOptions::default(), client_tls)?),
        Arc::new(SystemClock),
        Arc::new(TokioSleep),
    );
    let platform = platform.with_random(Arc::new(OsRandom::default()));
    // Without manifold-core's `redis` feature no pool can be declared, so the stores would
    // never be asked; leaving them off (a constant test) keeps the Redis client out of the
    // binary (a per-config Lambda bootstrap, docs/lambda.md).
    let platform = if REDIS {
        platform.with_stores(Arc::new(RedisStores::to_stderr()))
    } else {
        platform
    };
    // The process environment at call time: Lambda's temporary AWS credentials change per
    // sandbox, and `backend/lambda` signs with whatever is set when it calls.
    let env = |name: &str| std::env::var(name).ok();
    let platform = platform.with_env(Arc::new(env));
    // Likewise, `"sd": "dns"` needs manifold-core's `dns-sd`: without it no backend resolves,
    // and leaving the resolver off keeps hickory (and its cache) out of the binary.
    Ok(if DNS_SD {
        platform.with_resolver(Arc::new(DnsSrv::from_env()))
    } else {
        platform
    })
}
