//! [`HyperClient`]: the backend HTTP client. Pooled connections, HTTP/1.1 and h2 (negotiated
//! with ALPN over TLS), rustls with the ring provider and Mozilla's roots compiled in. Plain
//! `http` backends go through our own HTTP/1.1 connections and pool (`h1.rs`, `pool.rs`: the
//! hot path), `https` ones through hyper-util's client.
//!
//! It does exactly what the [`HttpClient`] port asks: no redirects (the core follows them with
//! its own policy), and the response body is read frame by frame and abandoned as soon as it
//! exceeds `max_body`, so a huge or endless body never costs more than `max_body` bytes.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Method};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use manifold_core::config::tls::ClientTls;
use manifold_core::platform::{
    BackendRequest, BackendResponse, Body as StreamBody, ClientError, ClientErrorKind, ReadHeaders,
    StreamedResponse,
};
use manifold_core::{BoundedBody, BoxFuture, HttpClient};

/// Tuning for [`HyperClient`]; the defaults follow Go's `http.Transport` as KrakenD sets it.
#[derive(Debug, Clone, Copy)]
pub struct ClientOptions {
    /// How long establishing a TCP connection (plus TLS handshake) may take.
    pub connect_timeout: Duration,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// Idle connections kept per backend host.
    pub pool_max_idle_per_host: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            pool_idle_timeout: Duration::from_secs(90),
            // KrakenD's `max_idle_connections_per_host` default.
            pool_max_idle_per_host: 250,
        }
    }
}

mod h1;
mod pool;

/// The native [`HttpClient`]: our HTTP/1.1 pool for `http` backends, hyper-util's pooled
/// client over a rustls connector for `https` ones.
#[derive(Clone)]
pub struct HyperClient {
    inner: Arc<Clients>,
}

struct Clients {
    /// Plain `http`.
    plain: pool::Pool,
    /// `https` (and anything else the legacy client accepts).
    tls: Client<HttpsConnector<HttpConnector>, OutBody>,
}

impl std::fmt::Debug for HyperClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperClient").finish_non_exhaustive()
    }
}

/// A request body that tells hyper its exact size only when the framing should be fixed: a
/// body without a size hint is sent chunked, which is what KrakenD does when the client's
/// `Content-Length` was not forwarded.
#[derive(Debug)]
struct OutBody {
    data: Option<Bytes>,
    sized: bool,
}

// === impl HyperClient ===

impl HyperClient {
    /// A client with the given options. Fails only if rustls rejects its own default protocol
    /// versions for the ring provider, which does not happen with a correct build.
    pub fn new(options: ClientOptions) -> Result<Self, crate::TlsError> {
        let mut http = HttpConnector::new();
        // The https connector decides the scheme; the inner connector must accept both.
        http.enforce_http(false);
        http.set_connect_timeout(Some(options.connect_timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            // An explicit provider: the process-wide default would panic if another crate in
            // the build enabled a second rustls provider.
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?;
        Ok(Self::build(options, http, https))
    }

    /// A client with the config's `client_tls` (CAs, client certificates, versions, suites);
    /// `None` is [`HyperClient::new`].
    pub fn with_tls(
        options: ClientOptions,
        tls: Option<&ClientTls>,
    ) -> Result<Self, crate::TlsSetupError> {
        let Some(tls) = tls else {
            return Self::new(options).map_err(|e| {
                crate::TlsSetupError(manifold_core::Diagnostic {
                    path: String::new(),
                    context: None,
                    message: e.to_string(),
                    line: 1,
                    column: 1,
                })
            });
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(options.connect_timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(crate::tls::client_config(tls)?);
        Ok(Self::build(options, http, https))
    }

    fn build(
        options: ClientOptions,
        http: HttpConnector,
        https: hyper_rustls::HttpsConnectorBuilder<hyper_rustls::builderstates::WantsSchemes>,
    ) -> Self {
        let plain = pool::Pool::new(&options, http.clone());
        let https = https
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let tls = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(options.pool_idle_timeout)
            .pool_max_idle_per_host(options.pool_max_idle_per_host)
            .build(https);
        Self {
            inner: Arc::new(Clients { plain, tls }),
        }
    }
}

/// Send `request` through the legacy client (`https`) and wait for the response head.
async fn call_tls(
    clients: &Clients,
    request: http::Request<OutBody>,
) -> Result<http::Response<Incoming>, ClientError> {
    clients.tls.request(request).await.map_err(|e| {
        let kind = if e.is_connect() {
            ClientErrorKind::Connect
        } else {
            ClientErrorKind::Protocol
        };
        ClientError::new(kind, error_chain(&e))
    })
}

/// The authority of an `http://` URI, which our own pool serves.
fn plain_http(uri: &http::Uri) -> Option<Authority> {
    if uri.scheme() == Some(&Scheme::HTTP) {
        uri.authority().cloned()
    } else {
        None
    }
}

impl HttpClient for HyperClient {
    fn send(
        &self,
        request: BackendRequest,
        max_body: usize,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        self.send_reading(request, max_body, ReadHeaders::All)
    }

    /// Our own HTTP/1.1 client leaves the headers `read` does not name out of the answer;
    /// hyper's (`https`) returns them all.
    fn send_reading(
        &self,
        request: BackendRequest,
        max_body: usize,
        read: ReadHeaders,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        let clients = self.inner.clone();
        Box::pin(async move {
            let request = frame(request);
            if let Some(authority) = plain_http(request.uri()) {
                let (head, mut conn) = clients.plain.send(request, authority, read).await?;
                let body = conn
                    .io
                    .read_body(head.framing, &head.parts.headers, max_body)
                    .await?;
                // The whole body was read: the connection may carry the next request.
                conn.put_back();
                return Ok(http::Response::from_parts(head.parts, body));
            }
            let (parts, body) = call_tls(&clients, request).await?.into_parts();
            // Refused as soon as it is known to exceed `max_body` (a declared length at once).
            let body = BoundedBody::response(&parts.headers, max_body)?
                .collect(body.into_data_stream(), |e| {
                    ClientError::new(ClientErrorKind::Protocol, error_chain(&e))
                })
                .await?;
            Ok(http::Response::from_parts(parts, body))
        })
    }

    fn send_streaming(
        &self,
        request: BackendRequest,
        _max_body: usize,
    ) -> BoxFuture<'static, Result<StreamedResponse, ClientError>> {
        let clients = self.inner.clone();
        Box::pin(async move {
            let request = frame(request);
            if let Some(authority) = plain_http(request.uri()) {
                let (head, conn) = clients
                    .plain
                    .send(request, authority, ReadHeaders::All)
                    .await?;
                let chunks = pool::stream(conn, head.framing);
                return Ok(http::Response::from_parts(
                    head.parts,
                    StreamBody::Stream(chunks),
                ));
            }
            let (parts, body) = call_tls(&clients, request).await?.into_parts();
            // hyper's body as it arrives, frame by frame: nothing is kept here.
            let chunks = body
                .map_err(|e| ClientError::new(ClientErrorKind::Protocol, error_chain(&e)))
                .into_data_stream();
            Ok(http::Response::from_parts(
                parts,
                StreamBody::Stream(Box::pin(chunks)),
            ))
        })
    }
}

/// Apply KrakenD's request framing: a forwarded `Content-Length` means a fixed-length body
/// (of the bytes actually sent), an empty body on POST/PUT/PATCH says `Content-Length: 0`, and
/// any other non-empty body goes chunked.
fn frame(request: BackendRequest) -> http::Request<OutBody> {
    let (mut parts, body) = request.into_parts();
    // Framing is ours to decide; a stray header would contradict it.
    parts.headers.remove(TRANSFER_ENCODING);
    let sized = if let Some(length) = parts.headers.get_mut(CONTENT_LENGTH) {
        *length = HeaderValue::from(body.len());
        true
    } else if body.is_empty() {
        if matches!(parts.method, Method::POST | Method::PUT | Method::PATCH) {
            // hyper sends an empty body without any length header; Go sends `0`.
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        true
    } else {
        // hyper chunks an unsized body by itself except on GET/HEAD, where it assumes there is
        // no body unless told; Go chunks a body of unknown length on every method.
        parts
            .headers
            .insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        false
    };
    let body = OutBody {
        data: Some(body).filter(|b| !b.is_empty()),
        sized,
    };
    http::Request::from_parts(parts, body)
}

/// An error and its sources on one line (hyper's top-level messages alone are vague).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

// === impl OutBody ===

impl Body for OutBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let len = self.data.as_ref().map_or(0, |d| d.len() as u64);
        if self.sized {
            SizeHint::with_exact(len)
        } else {
            SizeHint::default()
        }
    }
}

#[cfg(test)]
mod tests;
