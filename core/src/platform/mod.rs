//! Ports: what the core needs from the platform it runs on.
//!
//! Each adapter (native CLI, Lambda, Workers) implements these few traits in about a hundred
//! lines; the core never touches sockets, timers or the clock directly. Tests use in-memory
//! implementations (a scripted client and a fake clock), so timeouts are deterministic.

mod context;
mod discovery;
mod gunzip;
mod log_write;
mod overrides;
mod send;
mod signatures;
mod store;
mod stream;
mod telemetry;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{select, Either};

pub use context::RequestContext;
pub use discovery::{ResolveError, SrvAnswer, SrvRecord, SrvResolver};
#[cfg(feature = "gzip")]
pub use gunzip::Flate;
pub use gunzip::{Gunzip, GunzipError};
pub(crate) use log_write::hex_into;
pub use log_write::{push_hex, push_ip, push_millis, push_rfc3339_micros, push_u64, Timestamps};
pub use overrides::{BackendOverride, EndpointOverride, Statics};
pub use send::{BoxFuture, BoxStream, MaybeSend, MaybeSync};
pub use signatures::Signatures;
pub use store::{Bucket, MemoryStore, PoolSpec, PoolTls, Rate, Store, StoreError, Stores, Taken};
pub use stream::{Body, Chunks, StreamedResponse};
pub(crate) use stream::{StreamSlot, Streamed};
pub use telemetry::{
    hex, method_name, millis, BackendCall, Failure, FailureKind, Hex, Random, ReportedHeaders,
    RequestRecord, Sink, TraceIds,
};
pub(crate) use telemetry::{is_standard_method, HeaderReport, HeaderReports, Live, RecordParts};

/// A request the core sends to a backend: absolute URI, method, headers and a complete body.
pub type BackendRequest = http::Request<Bytes>;
/// A backend's complete answer, as the client received it (no redirect followed, body
/// possibly still compressed).
pub type BackendResponse = http::Response<Bytes>;

/// The response headers the caller of [`HttpClient::send_reading`] reads. Natively, building
/// a map of every header of a small answer cost more than decoding its JSON, and a decoded
/// backend's headers are not passed on: a client may leave out the ones not named here (it
/// still checks them all, and the framing ones still frame the body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadHeaders {
    /// Every header (passed on to the client, cached, or seen by a modifier).
    All,
    /// These at least.
    Only(&'static [Listed]),
}

/// A response header name [`ReadHeaders::Only`] lists: its text in lower case, kept next to
/// its `HeaderName` because each header line of every answer is compared with the list, and
/// a standard `HeaderName`'s text is a table lookup per comparison (that cost more than the
/// rest of the check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    text: &'static str,
    name: http::HeaderName,
}

impl Listed {
    /// The header named `text`, in lower case (`HeaderName::from_static` refuses other text
    /// when the constant is evaluated).
    pub const fn new(text: &'static str) -> Self {
        Self {
            text,
            name: http::HeaderName::from_static(text),
        }
    }
}

impl ReadHeaders {
    /// The listed name a header named `name` (as sent: any case) matches; `None` for `All`
    /// or a name not listed.
    pub fn listed(self, name: &[u8]) -> Option<&'static http::HeaderName> {
        match self {
            Self::All => None,
            Self::Only(names) => names
                .iter()
                .find(|n| name.eq_ignore_ascii_case(n.text.as_bytes()))
                .map(|n| &n.name),
        }
    }

    /// Whether a header named `name` (as sent: any case) is read.
    pub fn reads(self, name: &[u8]) -> bool {
        self == Self::All || self.listed(name).is_some()
    }
}

/// Outbound HTTP. Implementations must not follow redirects (the core does, with its own
/// same-origin policy) and must stop reading a body once it exceeds `max_body` bytes.
pub trait HttpClient: MaybeSend + MaybeSync {
    /// Send one request. Dropping the returned future must cancel the call.
    fn send(
        &self,
        request: BackendRequest,
        max_body: usize,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>>;

    /// [`Self::send`], telling the client which response headers the caller reads. A client
    /// that cannot leave headers out keeps this default, which returns them all.
    fn send_reading(
        &self,
        request: BackendRequest,
        max_body: usize,
        headers: ReadHeaders,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        let _ = headers;
        self.send(request, max_body)
    }

    /// Send one request and answer as soon as the response head arrived, the body a stream
    /// the caller reads chunk by chunk (streaming passthrough, docs/streaming.md): it is not
    /// bounded by `max_body`, since it is passed on, never kept. Dropping the future or the
    /// stream cancels the call. A client that cannot stream keeps this default: [`Self::send`]
    /// under `max_body`, the whole body.
    fn send_streaming(
        &self,
        request: BackendRequest,
        max_body: usize,
    ) -> BoxFuture<'static, Result<StreamedResponse, ClientError>> {
        let call = self.send(request, max_body);
        Box::pin(async move { Ok(call.await?.map(Body::Full)) })
    }
}

/// Wall-clock time, for health output, token expiry, rate-limit windows and cache ages. Any
/// `Fn() -> u64` closure is one.
pub trait Clock: MaybeSend + MaybeSync {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> u64;

    /// Microseconds since the Unix epoch, for durations in logs and spans; a clock that only
    /// knows milliseconds need not say more.
    fn now_micros(&self) -> u64 {
        self.now_millis().saturating_mul(1000)
    }
}

/// Timers, for timeouts. The core races work against these futures. Any
/// `Fn(Duration) -> BoxFuture<'static, ()>` closure is one.
pub trait Sleep: MaybeSend + MaybeSync {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

// Any closure of the right shape is a port, as for `Defer`: an adapter whose clock or timer is
// one platform call needs no type of its own.

impl<F: Fn() -> u64 + MaybeSend + MaybeSync> Clock for F {
    fn now_millis(&self) -> u64 {
        self()
    }
}

impl<F: Fn(Duration) -> BoxFuture<'static, ()> + MaybeSend + MaybeSync> Sleep for F {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self(duration)
    }
}

/// Why an outbound call produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientErrorKind {
    /// Could not connect (refused, DNS, TLS handshake).
    Connect,
    /// The response body was larger than the allowed maximum.
    BodyTooLarge,
    /// The peer broke the protocol or the connection dropped mid-response.
    Protocol,
}

/// An outbound call failure reported by an [`HttpClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    /// What kind of failure this was.
    pub kind: ClientErrorKind,
    /// Human-readable detail (platform specific; never asserted on in tests).
    pub message: String,
}

impl ClientError {
    /// A new client error.
    pub fn new(kind: ClientErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ClientError {}

impl From<crate::body::TooLarge> for ClientError {
    fn from(e: crate::body::TooLarge) -> Self {
        let message = format!("response body larger than {} bytes", e.limit);
        Self::new(ClientErrorKind::BodyTooLarge, message)
    }
}

/// The ports bundled together; handed to [`crate::Gateway::new`].
#[derive(Clone)]
pub struct Platform {
    /// Outbound HTTP.
    pub client: Arc<dyn HttpClient>,
    /// Wall clock.
    pub clock: Arc<dyn Clock>,
    /// Timers.
    pub sleep: Arc<dyn Sleep>,
    /// Random ids (trace, span and request ids).
    pub random: Arc<dyn Random>,
    /// Where each request's record goes (access log, spans, metrics); none: nowhere.
    pub sink: Option<Arc<dyn Sink>>,
    /// The shared stores the config's pools name (Redis natively); `None` on a platform
    /// without any, where a config naming a pool does not start.
    pub stores: Option<Arc<dyn Stores>>,
    /// The platform's environment variables, read when a call needs them (the AWS
    /// credentials of `backend/lambda`); `None`: no variable is set.
    pub env: Option<Arc<dyn Environment>>,
    /// DNS SRV lookups for `"sd": "dns"` backends; `None` on a platform without any, where
    /// such a backend fails each call with `discovery` (the builds refuse it on Workers).
    pub resolver: Option<Arc<dyn SrvResolver>>,
    /// Verifies the JWS signatures of the key families this build leaves to the platform
    /// (`jwt-platform`); `None`: such a signature never verifies (fail closed).
    pub signatures: Option<Arc<dyn Signatures>>,
    /// Decodes backends' gzip bodies: the core's own (`Flate`, feature `gzip`) unless the
    /// platform gives one; `None`: such a body is a backend failure (`bad_encoding`).
    pub gunzip: Option<Arc<dyn Gunzip>>,
}

/// Environment variables at run time. Any `Fn(&str) -> Option<String>` closure is one.
pub trait Environment: MaybeSend + MaybeSync {
    /// The value of `name`, if set.
    fn var(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String> + MaybeSend + MaybeSync> Environment for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// A splitmix64 sequence: the fallback id source when the adapter gives none. Deterministic
/// from its seed, so two gateways started in the same microsecond repeat each other's ids.
#[derive(Debug)]
pub struct Seeded(std::sync::atomic::AtomicU64);

impl Seeded {
    /// A sequence starting at `seed`.
    pub fn new(seed: u64) -> Self {
        Self(std::sync::atomic::AtomicU64::new(seed))
    }
}

impl Random for Seeded {
    fn next_u64(&self) -> u64 {
        const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut z = self
            .0
            .fetch_add(GAMMA, std::sync::atomic::Ordering::Relaxed)
            .wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Hands a future to the platform to finish after the response has been sent (one per
/// request, in [`RequestContext`]). Any
/// `Fn(BoxFuture<'static, ()>)` closure is one.
pub trait Defer: MaybeSend + MaybeSync {
    /// Run `work` to completion in the background; never block on it.
    fn defer(&self, work: BoxFuture<'static, ()>);
}

impl<F: Fn(BoxFuture<'static, ()>) + MaybeSend + MaybeSync> Defer for F {
    fn defer(&self, work: BoxFuture<'static, ()>) {
        self(work);
    }
}

impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Platform").finish_non_exhaustive()
    }
}

impl Platform {
    /// The gateway-wide ports, with no sink and ids from [`Seeded`] on the clock (an adapter
    /// that exports traces sets a real source with [`Self::with_random`]).
    pub fn new(client: Arc<dyn HttpClient>, clock: Arc<dyn Clock>, sleep: Arc<dyn Sleep>) -> Self {
        let random = Arc::new(Seeded::new(clock.now_micros()));
        Self {
            client,
            clock,
            sleep,
            random,
            sink: None,
            stores: None,
            env: None,
            resolver: None,
            signatures: None,
            gunzip: gunzip::builtin(),
        }
    }

    /// The same ports, with ids from `random`.
    pub fn with_random(mut self, random: Arc<dyn Random>) -> Self {
        self.random = random;
        self
    }

    /// The same ports, each request's record handed to `sink`.
    pub fn with_sink(mut self, sink: Arc<dyn Sink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// The same ports, with `stores` opening the config's shared pools.
    pub fn with_stores(mut self, stores: Arc<dyn Stores>) -> Self {
        self.stores = Some(stores);
        self
    }

    /// The same ports, with run-time environment variables from `env`.
    pub fn with_env(mut self, env: Arc<dyn Environment>) -> Self {
        self.env = Some(env);
        self
    }

    /// The same ports, with `"sd": "dns"` backends resolved by `resolver`.
    pub fn with_resolver(mut self, resolver: Arc<dyn SrvResolver>) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// The same ports, with the platform's signature verifier.
    pub fn with_signatures(mut self, signatures: Arc<dyn Signatures>) -> Self {
        self.signatures = Some(signatures);
        self
    }

    /// The same ports, with backends' gzip bodies decoded by `gunzip`.
    pub fn with_gunzip(mut self, gunzip: Arc<dyn Gunzip>) -> Self {
        self.gunzip = Some(gunzip);
        self
    }

    /// Run `work` with a deadline: `None` when `duration` elapsed first (the work is dropped,
    /// which cancels any outbound call inside it).
    pub async fn timeout<F: Future>(&self, duration: Duration, work: F) -> Option<F::Output> {
        let work = std::pin::pin!(work);
        match select(work, self.sleep.sleep(duration)).await {
            Either::Left((out, _)) => Some(out),
            Either::Right(_) => None,
        }
    }
}
