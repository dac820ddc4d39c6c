//! The native HTTP server: hyper 1 on tokio, HTTP/1.1 and h2c on one port (or HTTPS only, h2
//! through ALPN, when the config has `tls`: see `tls.rs`), serving a
//! [`Gateway`]. Everything about the protocol lives here; everything about the API lives in the
//! core.
//!
//! Limits are set explicitly, never left to library defaults: the request head (→ 431, decided
//! by hyper while parsing), the request body (→ 413, decided while streaming, without ever
//! buffering more than the limit), the time to receive a head, and the idle time between body
//! chunks (→ 408). Shutdown is graceful: stop accepting, let in-flight requests finish, give up
//! after a bounded wait.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::EXPECT;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use manifold_core::{
    plain, Body, BoundedBody, Gateway, RequestContext, RequestLimits, TooLarge, MAX_HEADERS,
};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::graceful::Shutdown;
use crate::head_timeout::{self, Watch, Watched};
use crate::meter::{self, BackendCall};
use crate::streaming::Outgoing;

/// hyper's smallest accepted read buffer; a smaller head limit is raised to this.
const MIN_HEAD: usize = 8 * 1024;
/// After a body goes over the limit, up to this much more is read and discarded so the 413
/// reaches a client that is still sending (closing with unread data makes the kernel send a
/// reset, which can destroy the response in flight).
const DRAIN_AFTER_LIMIT: usize = 1024 * 1024;

/// Protocol limits of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head in bytes; larger heads get 431.
    pub max_head: usize,
    /// Most headers in one request; more get 431.
    pub max_headers: usize,
    /// Largest request body in bytes; larger bodies get 413.
    pub max_body: usize,
    /// Time allowed to receive a request head before the connection is closed (checked every
    /// quarter of it: head_timeout.rs).
    pub header_read_timeout: Duration,
    /// Longest pause between two chunks of a request body before answering 408.
    pub body_idle_timeout: Duration,
    /// Concurrent h2 streams per connection.
    pub max_concurrent_streams: u32,
    /// KrakenD's `read_timeout`: the request body must have arrived this long after its head
    /// (→ 408).
    pub read_timeout: Option<Duration>,
    /// KrakenD's `write_timeout`: a response not ready this long after the request was read closes the
    /// connection (HTTP/1.1) or resets the stream (h2) without an answer, as Go's server does.
    pub write_timeout: Option<Duration>,
    /// KrakenD's `idle_timeout`: the wait for the next request on a kept-alive HTTP/1.1
    /// connection. One limit covers that wait and the next head, so the longer of this and
    /// `header_read_timeout` applies to both ([`Limits::head_limit`]).
    pub idle_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self::from(RequestLimits::default())
    }
}

impl From<RequestLimits> for Limits {
    /// The config's head and body limits (the same on every platform), with the server's own
    /// timeouts and stream limit.
    fn from(limits: RequestLimits) -> Self {
        Self {
            max_head: limits.max_head,
            max_headers: MAX_HEADERS,
            max_body: limits.max_body,
            header_read_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(30),
            max_concurrent_streams: 100,
            read_timeout: None,
            write_timeout: None,
            idle_timeout: None,
        }
    }
}

impl Limits {
    /// How long a connection may go without a request in progress or an answer being
    /// written: the longer of the head and idle timeouts.
    pub fn head_limit(&self) -> Duration {
        self.idle_timeout.map_or(self.header_read_timeout, |idle| {
            idle.max(self.header_read_timeout)
        })
    }

    /// These limits with the config's server timeouts (KrakenD's root `read_timeout`,
    /// `write_timeout`, `idle_timeout`, `read_header_timeout`; unset ones keep the defaults,
    /// and as in Go an unset head or idle timeout falls back to `read_timeout`).
    pub fn with_timeouts(mut self, timeouts: &manifold_core::config::ServerTimeouts) -> Self {
        if let Some(head) = timeouts.read_header.or(timeouts.read) {
            self.header_read_timeout = head;
        }
        self.read_timeout = timeouts.read;
        self.write_timeout = timeouts.write;
        self.idle_timeout = timeouts.idle.or(timeouts.read);
        self
    }
}

/// Called after each request with what happened (the demo prints it).
pub type Observer = Arc<dyn Fn(&Exchange<'_>) + Send + Sync>;

/// How the server runs.
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// Protocol limits.
    pub limits: Limits,
    /// How long shutdown waits for in-flight requests; zero means the default (30 s).
    pub shutdown_grace: Duration,
    /// Called after each request, besides the access log.
    pub observer: Option<Observer>,
    /// HTTPS only (root `tls`); `None`: plain HTTP/1.1 and h2c.
    pub tls: Option<crate::tls::Tls>,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("limits", &self.limits)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// One answered request, as the access log and observers see it.
#[derive(Debug)]
pub struct Exchange<'a> {
    /// Request method.
    pub method: &'a Method,
    /// Request path (no query: it may carry secrets).
    pub path: &'a str,
    /// Response status.
    pub status: StatusCode,
    /// Time from the request head to the complete response.
    pub elapsed: Duration,
    /// Response body bytes sent to the client.
    pub bytes_out: usize,
    /// The backend calls made for it.
    pub calls: &'a [BackendCall],
}

/// How [`serve`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every connection finished its in-flight requests.
    Drained,
    /// The grace period ended first; the remaining connections were closed.
    GraceExpired,
}

/// Shared by every connection.
struct Ctx {
    /// Each request loads the gateway once and finishes on it (hot reload swaps it).
    gateway: crate::reload::LiveGateway,
    limits: Limits,
    observer: Option<Observer>,
    /// Whether requests arrive over TLS (security/http's HTTPS checks read it).
    https: bool,
}

/// One client connection: what its requests share.
struct Connection {
    ctx: Arc<Ctx>,
    peer: IpAddr,
    /// Its idleness, for the head timeout.
    watch: Arc<Watch>,
}

/// Why a request body was not read.
enum BodyError {
    TooLarge(TooLarge),
    Idle,
    ReadTimeout,
    Broken(hyper::Error),
}

/// Serve `gateway` on `listener` until `shutdown` completes, then stop accepting, wait up to the
/// grace period for in-flight requests, and return.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> Stopped {
    let live = Arc::new(arc_swap::ArcSwap::new(gateway));
    serve_live(listener, live, options, shutdown).await
}

/// [`serve`] a gateway that hot reload may replace: each request is answered by the one
/// current when it arrives.
pub async fn serve_live(
    listener: TcpListener,
    gateway: crate::reload::LiveGateway,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> Stopped {
    let limits = options.limits;
    let grace = if options.shutdown_grace.is_zero() {
        Duration::from_secs(30)
    } else {
        options.shutdown_grace
    };
    let ctx = Arc::new(Ctx {
        gateway,
        limits,
        observer: options.observer,
        https: options.tls.is_some(),
    });
    let tls = options.tls;
    let builder = builder(&limits);
    let graceful = Shutdown::default();
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            // Reap finished connections so the set does not grow with the server's uptime.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Usually out of file descriptors: pause instead of spinning on it.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let conn = Arc::new(Connection {
                    ctx: ctx.clone(),
                    peer: peer.ip().to_canonical(),
                    watch: Arc::default(),
                });
                let watch = Arc::downgrade(&conn.watch);
                let stream = Watched::new(stream, conn.watch.clone());
                let service = service_fn(move |req| handle(req, conn.clone()));
                let task = match tls.clone() {
                    None => {
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                        let conn = graceful.watch(conn);
                        connections.spawn(async move {
                            if let Err(e) = conn.await {
                                debug!(%peer, error = %e, "connection ended with an error");
                            }
                        })
                    }
                    // The handshake runs in the connection's task, so a slow client holds up no one.
                    Some(tls) => {
                        let (builder, graceful) = (builder.clone(), graceful.clone());
                        connections.spawn(async move {
                            let Some(stream) = tls.accept(stream, limits.header_read_timeout).await else {
                                return;
                            };
                            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                            if let Err(e) = graceful.watch(conn).await {
                                debug!(%peer, error = %e, "connection ended with an error");
                            }
                        })
                    }
                };
                tokio::spawn(head_timeout::watchdog(watch, limits.head_limit(), task));
            }
        }
    }
    drop(listener);
    info!(
        connections = connections.len(),
        "shutting down: no new connections; waiting for in-flight requests"
    );
    graceful.start();
    let drained = async { while connections.join_next().await.is_some() {} };
    let stopped = match tokio::time::timeout(grace, drained).await {
        Ok(()) => Stopped::Drained,
        Err(_) => {
            warn!(grace = ?grace, "grace period over; closing the remaining connections");
            Stopped::GraceExpired
        }
    };
    connections.abort_all();
    stopped
}

/// The protocol settings, HTTP/1.1 and h2c alike.
fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // Watched per connection instead (head_timeout.rs): hyper's costs a timer per request.
        .header_read_timeout(None)
        // hyper answers 431 itself when the head outgrows its read buffer or has too many
        // headers.
        .max_buf_size(limits.max_head.max(MIN_HEAD))
        .max_headers(limits.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_head).unwrap_or(u32::MAX))
        .max_concurrent_streams(limits.max_concurrent_streams);
    builder
}

/// `write_timeout` passed before the answer was ready: hyper closes the connection (h1) or
/// resets the stream (h2) instead of answering.
#[derive(Debug)]
struct WriteTimeout;

impl std::fmt::Display for WriteTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("write_timeout passed before the response was ready")
    }
}

impl std::error::Error for WriteTimeout {}

/// One request: read the body within the limits, let the gateway answer, log.
async fn handle(
    request: Request<Incoming>,
    conn: Arc<Connection>,
) -> Result<Response<Outgoing>, WriteTimeout> {
    let (ctx, peer, watch) = (&conn.ctx, conn.peer, &conn.watch);
    let busy = watch.busy();
    if request.version() == http::Version::HTTP_2 {
        watch.exempt();
    }
    // Framing hyper lets through but no backend may see (duplicate `chunked`, look-alikes).
    if let Some(refused) = crate::framing::refuse(&request) {
        return Ok(refused.map(Outgoing::full));
    }
    // Timed for the observer only (the access log keeps its own time): two clock reads.
    let start = ctx.observer.is_some().then(Instant::now);
    let gateway = ctx.gateway.load_full();
    let accepts = manifold_native::accepts(gateway.config(), &request);
    let (mut parts, body) = request.into_parts();
    // Kept for messages and the observer: the `Uri` shares its text (no copy of the path).
    let (method, uri) = (parts.method.clone(), parts.uri.clone());
    let path = uri.path();
    // A WebSocket upgrade on a `websocket` endpoint is answered before any body is read.
    let upgrade_context = || {
        RequestContext::new()
            .with_peer(Some(peer))
            .with_https(ctx.https)
    };
    if let Some(answer) =
        manifold_native::websocket::serve(&gateway, &mut parts, upgrade_context).await
    {
        return Ok(answer.map(Outgoing::full));
    }
    let read = read_body(&parts.headers, body, &ctx.limits);
    let read = match ctx.limits.read_timeout {
        Some(limit) => tokio::time::timeout(limit, read)
            .await
            .unwrap_or(Err(BodyError::ReadTimeout)),
        None => read.await,
    };
    // Pinned where it is made: the futures below are kilobytes, and an `.await` of an unpinned
    // one moves it into this future's state first (a `memcpy` of its whole size).
    let answer = std::pin::pin!(async {
        match read {
            Ok(body) => {
                let request = Request::from_parts(parts, body);
                // Shadow backends outlive the response: spawned on the runtime.
                let context = RequestContext::new()
                    .with_peer(Some(peer))
                    .with_https(ctx.https)
                    .with_defer(Arc::new(manifold_native::Spawn));
                let work = std::pin::pin!(gateway.handle_streaming(request, context));
                // The backend calls are recorded only for an observer (the demo): the access
                // log has its own record, and the scope costs a task-local swap on every poll.
                if ctx.observer.is_some() {
                    meter::scope(work).await
                } else {
                    (work.await, Vec::new())
                }
            }
            Err(e) => {
                let context = RequestContext::new()
                    .with_peer(Some(peer))
                    .with_https(ctx.https);
                let answer = gateway.refused(&parts, context, body_error_response(&e));
                (answer.map(Body::Full), Vec::new())
            }
        }
    });
    let (response, calls) = match ctx.limits.write_timeout {
        Some(limit) => match tokio::time::timeout(limit, answer).await {
            Ok(answered) => answered,
            Err(_) => {
                warn!(method = %method, path = %path, "write_timeout passed: connection closed without an answer");
                return Err(WriteTimeout);
            }
        },
        None => answer.await,
    };
    let (mut response, bytes_out) =
        crate::streaming::outgoing(gateway.config(), &accepts, response, &method, path);
    // A streamed answer is in progress until its last chunk.
    response.body_mut().hold(|| Watch::busy_owned(watch));
    drop(busy);
    if let Some(observer) = &ctx.observer {
        observer(&Exchange {
            method: &method,
            path,
            status: response.status(),
            elapsed: start.map_or(Duration::ZERO, |start| start.elapsed()),
            bytes_out,
            calls: &calls,
        });
    }
    Ok(response)
}

/// The whole request body, fed frame by frame to the core's [`BoundedBody`], which refuses it
/// as soon as it is known to exceed the limit (a declared `Content-Length` before reading).
async fn read_body(
    headers: &HeaderMap,
    mut body: Incoming,
    limits: &Limits,
) -> Result<Bytes, BodyError> {
    let mut buf = match BoundedBody::request(headers, limits.max_body) {
        Ok(buf) => buf,
        Err(e) => {
            // Declared too large: a client already sending gets the same grace as one caught
            // while streaming; one waiting for `100 Continue` never gets it, so sends nothing.
            if !headers.contains_key(EXPECT) {
                drain(&mut body, limits).await;
            }
            return Err(BodyError::TooLarge(e));
        }
    };
    while let Some(frame) = next_frame(&mut body, limits).await? {
        if let Some(data) = frame.data_ref() {
            if let Err(e) = buf.push(data) {
                drain(&mut body, limits).await;
                return Err(BodyError::TooLarge(e));
            }
        }
    }
    Ok(buf.finish())
}

async fn next_frame(
    body: &mut Incoming,
    limits: &Limits,
) -> Result<Option<hyper::body::Frame<Bytes>>, BodyError> {
    match tokio::time::timeout(limits.body_idle_timeout, body.frame()).await {
        Err(_) => Err(BodyError::Idle),
        Ok(None) => Ok(None),
        Ok(Some(Err(e))) => Err(BodyError::Broken(e)),
        Ok(Some(Ok(frame))) => Ok(Some(frame)),
    }
}

/// Read and discard up to [`DRAIN_AFTER_LIMIT`] more bytes (see there for why).
async fn drain(body: &mut Incoming, limits: &Limits) {
    let mut discarded = 0;
    while discarded <= DRAIN_AFTER_LIMIT {
        match next_frame(body, limits).await {
            Ok(Some(frame)) => discarded += frame.data_ref().map_or(0, Bytes::len),
            Ok(None) | Err(_) => return,
        }
    }
}

fn body_error_response(error: &BodyError) -> Response<Bytes> {
    match error {
        BodyError::TooLarge(e) => e.response(),
        BodyError::Idle => plain(StatusCode::REQUEST_TIMEOUT, "408 request body timeout\n"),
        BodyError::ReadTimeout => plain(StatusCode::REQUEST_TIMEOUT, "408 request read timeout\n"),
        BodyError::Broken(e) => {
            debug!(error = %e, "could not read the request body");
            plain(StatusCode::BAD_REQUEST, "400 malformed request body\n")
        }
    }
}

/// Bind `addr`; a clearer error than the OS's when the port is taken.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            std::io::Error::new(
                e.kind(),
                format!("{addr} is already in use (another server on this port? try -p)"),
            )
        } else {
            std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"))
        }
    })
}
