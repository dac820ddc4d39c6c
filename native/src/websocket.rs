//! WebSocket passthrough, the native half: send the core's backend handshake
//! ([`manifold_core::Dial`]) over HTTP/1.1 (`ws://` as `http://`, `wss://` as `https://` with
//! the config's `client_tls`), and when the backend answers `101`, copy the bytes of the two
//! upgraded connections both ways. Frames are not parsed: pings, pongs and close frames pass
//! through as they are, and when one side closes its connection the other is closed too.
//!
//! Idle handling: the connection is closed (both sides) when the backend sent nothing for the
//! endpoint's `websocket.timeout` (KrakenD's default, 5 minutes); a backend that pings its
//! clients keeps the connection open. Upgraded connections are detached from the server's
//! connection tracking: a graceful shutdown does not wait for them.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, UPGRADE};
use http::request::Parts;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use manifold_core::config::tls::ClientTls;
use manifold_core::{plain, Dial, Gateway, RequestContext, Upgrade};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// How much of a backend's refusal (a non-`101` answer) is passed on to the client.
const MAX_REFUSAL_BODY: usize = 64 * 1024;

/// How long establishing the backend's TCP connection (and TLS handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The backend accepted the upgrade: the client's `101` answer, and the backend's connection.
pub struct Accepted {
    /// The `101 Switching Protocols` for the client, with the backend's handshake headers
    /// (`Sec-WebSocket-Accept`, the chosen protocol and extensions).
    response: Response<Bytes>,
    backend: Upgraded,
    idle_timeout: Duration,
}

impl std::fmt::Debug for Accepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accepted")
            .field("response", &self.response)
            .finish_non_exhaustive()
    }
}

/// Answer the request whose head is `parts` if it is a WebSocket upgrade on a `websocket`
/// endpoint (`None`: it is not; answer it as usual): the gateway's refusal, the backend's, or
/// the `101` after which the two connections are piped in a task of their own. `context`
/// is only built when the request asks for an upgrade.
pub async fn serve(
    gateway: &Gateway,
    parts: &mut Parts,
    context: impl FnOnce() -> RequestContext,
) -> Option<Response<Bytes>> {
    if !gateway.may_upgrade(parts) {
        return None;
    }
    let dial = match gateway.upgrade(parts, context()).await {
        Upgrade::Pass => return None,
        Upgrade::Refused(answer) => return Some(answer),
        Upgrade::Dial(dial) => dial,
    };
    // hyper leaves the way to the upgraded connection in the request's extensions (HTTP/1.1).
    let Some(client) = parts.extensions.remove::<OnUpgrade>() else {
        return Some(plain(
            StatusCode::BAD_REQUEST,
            "400 this connection cannot be upgraded\n",
        ));
    };
    let tls = gateway.config().client_tls.as_ref();
    Some(match connect(dial, tls).await {
        Ok(accepted) => {
            let Accepted {
                response,
                backend,
                idle_timeout,
            } = accepted;
            tokio::spawn(pipe(client, backend, idle_timeout));
            response
        }
        Err(answer) => answer,
    })
}

/// Send the backend's handshake. `Ok`: the backend switched protocols; `Err`: the answer for
/// the client instead (the backend's own refusal, or 502/504 when it cannot be reached).
pub async fn connect(dial: Dial, tls: Option<&ClientTls>) -> Result<Accepted, Response<Bytes>> {
    let client = match client(tls) {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(endpoint = %dial.endpoint, error = %e, "websocket: no TLS client");
            return Err(plain(StatusCode::BAD_GATEWAY, ""));
        }
    };
    let (parts, ()) = dial.request.into_parts();
    let request = http::Request::from_parts(parts, Empty::<Bytes>::new());
    let uri = request.uri().clone();
    let answer = tokio::time::timeout(dial.handshake_timeout, client.request(request)).await;
    let mut response = match answer {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            tracing::warn!(endpoint = %dial.endpoint, backend = %uri, error = %e, "websocket: backend handshake failed");
            return Err(plain(StatusCode::BAD_GATEWAY, ""));
        }
        Err(_) => {
            tracing::warn!(endpoint = %dial.endpoint, backend = %uri, "websocket: backend handshake timed out");
            return Err(plain(StatusCode::GATEWAY_TIMEOUT, ""));
        }
    };
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(refusal(response).await);
    }
    let head = switching(response.headers());
    let backend = match hyper::upgrade::on(&mut response).await {
        Ok(upgraded) => upgraded,
        Err(e) => {
            tracing::warn!(endpoint = %dial.endpoint, backend = %uri, error = %e, "websocket: backend upgrade failed");
            return Err(plain(StatusCode::BAD_GATEWAY, ""));
        }
    };
    Ok(Accepted {
        response: head,
        backend,
        idle_timeout: dial.idle_timeout,
    })
}

/// Once the client's connection is upgraded (after it received the `101`), copy the bytes
/// both ways until both sides closed, or the backend was idle for `idle`.
async fn pipe(client: OnUpgrade, backend: Upgraded, idle: Duration) {
    {
        let client = match client.await {
            Ok(client) => client,
            Err(e) => {
                tracing::debug!(error = %e, "websocket: client upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let started = Instant::now();
        let last_read = Arc::new(AtomicU64::new(0));
        let mut backend = Watched {
            inner: TokioIo::new(backend),
            started,
            last_read: last_read.clone(),
        };
        let copy = tokio::io::copy_bidirectional(&mut client, &mut backend);
        let watchdog = async {
            loop {
                let last = started + Duration::from_millis(last_read.load(Ordering::Relaxed));
                if last.elapsed() >= idle {
                    return;
                }
                tokio::time::sleep_until(last + idle).await;
            }
        };
        tokio::select! {
            copied = copy => match copied {
                Ok((up, down)) => tracing::debug!(up, down, "websocket closed"),
                Err(e) => tracing::debug!(error = %e, "websocket ended with an error"),
            },
            () = watchdog => tracing::debug!(?idle, "websocket closed: the backend was idle"),
        }
    }
}

/// A client for one handshake: HTTP/1.1 only (an upgrade is an HTTP/1.1 feature, so ALPN must
/// not pick h2), the config's `client_tls` for `https://` backends. Built per handshake, so a
/// reloaded config's TLS settings apply to the next connection.
fn client(
    tls: Option<&ClientTls>,
) -> Result<Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>, String> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.set_nodelay(true);
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match tls {
        Some(tls) => {
            builder.with_tls_config(crate::tls::client_config(tls).map_err(|e| e.0.message)?)
        }
        None => builder
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| e.to_string())?,
    };
    let https = builder.https_or_http().enable_http1().wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// The client's `101`: the upgrade headers and the backend's `Sec-WebSocket-*` answer.
fn switching(backend: &HeaderMap) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    for (name, value) in backend {
        if name.as_str().starts_with("sec-websocket-") {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(CONNECTION, http::HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, http::HeaderValue::from_static("websocket"));
    response
}

/// The backend's refusal of the upgrade, passed on: its status, content type and (bounded)
/// body.
async fn refusal(response: Response<hyper::body::Incoming>) -> Response<Bytes> {
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, MAX_REFUSAL_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut answer = Response::new(body);
    *answer.status_mut() = parts.status;
    if let Some(ct) = parts.headers.get(CONTENT_TYPE) {
        answer.headers_mut().insert(CONTENT_TYPE, ct.clone());
    }
    answer
}

/// The backend's connection, noting when it last delivered bytes (for the idle timeout).
struct Watched<T> {
    inner: T,
    started: Instant,
    /// Milliseconds after `started` of the last read that delivered bytes.
    last_read: Arc<AtomicU64>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.last_read.store(ms, Ordering::Relaxed);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
