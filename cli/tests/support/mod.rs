//! Test support for the end-to-end suites: mock HTTP backends on 127.0.0.1:0 (hyper, with
//! handlers the test controls), the gateway server started in-process on a real socket, and a
//! plain HTTP client. Nothing here sleeps to synchronise: a listener is bound before its address
//! is handed out, so connecting is always possible, and ordering goes through channels.

// Each test binary uses a different subset of these helpers, and `pub` here means "for the
// test files", which the crate-level lint cannot see.
#![allow(dead_code, unreachable_pub)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use manifold::server::{self, ServerOptions, Stopped};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// What a mock backend received.
#[derive(Debug)]
pub struct Hit {
    /// Path and query.
    pub uri: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// Request body.
    pub body: Bytes,
}

type Handler = Arc<
    dyn Fn(Request<Bytes>) -> Pin<Box<dyn Future<Output = Response<Bytes>> + Send>> + Send + Sync,
>;

/// A mock backend: its address and every request it received, in arrival order.
pub struct Backend {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Each request, reported when it arrives (before the handler answers).
    pub hits: mpsc::UnboundedReceiver<Hit>,
}

impl Backend {
    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Wait for the next request to arrive.
    pub async fn next_hit(&mut self) -> Hit {
        self.hits.recv().await.expect("backend stopped")
    }
}

/// Start a backend answering every request with `handler`.
pub async fn backend<F, Fut>(handler: F) -> Backend
where
    F: Fn(Request<Bytes>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Bytes>> + Send + 'static,
{
    let handler: Handler = Arc::new(move |req| Box::pin(handler(req)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, hits) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (tx, handler) = (tx.clone(), handler.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let (tx, handler) = (tx.clone(), handler.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let _ = tx.send(Hit {
                            uri: parts.uri.to_string(),
                            headers: parts.headers.clone(),
                            body: body.clone(),
                        });
                        let response = handler(Request::from_parts(parts, body)).await;
                        Ok::<_, Infallible>(response.map(Full::new))
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Backend { addr, hits }
}

/// A backend that always answers `body` as JSON.
pub async fn json_backend(body: &'static str) -> Backend {
    backend(move |_| async move { json(body) }).await
}

/// A backend whose answers wait until the returned gate is opened with `send(true)` (or
/// dropped).
pub async fn gated_backend(body: &'static str) -> (Backend, watch::Sender<bool>) {
    let (open, gate) = watch::channel(false);
    let backend = backend(move |_| {
        let mut gate = gate.clone();
        async move {
            let _ = gate.wait_for(|open| *open).await;
            json(body)
        }
    })
    .await;
    (backend, open)
}

/// A `200 application/json` response.
pub fn json(body: &'static str) -> Response<Bytes> {
    Response::builder()
        .header("content-type", "application/json")
        .body(Bytes::from_static(body.as_bytes()))
        .unwrap()
}

/// A loopback address nothing listens on (bound a moment ago, then released).
pub async fn refused_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The gateway serving on a real socket, in this process.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Stopped>,
}

impl Server {
    /// Start serving `config` (KrakenD JSON) with `options`.
    pub async fn start(config: &serde_json::Value, options: ServerOptions) -> Server {
        let config = manifold_core::config::load::load(&config.to_string(), |_| None).unwrap();
        Server::start_config(config, options).await
    }

    /// Start serving an already loaded config.
    pub async fn start_config(config: manifold_core::Config, options: ServerOptions) -> Server {
        let platform = manifold::run::metered_platform().unwrap();
        let gateway = manifold_core::Gateway::new(config, platform);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(
            listener,
            Arc::new(gateway),
            options,
            async move {
                let _ = signal.await;
            },
        ));
        Server {
            addr,
            shutdown: Some(shutdown),
            task,
        }
    }

    /// Ask the server to stop (as SIGTERM does) without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Stop the server and wait until it has.
    pub async fn stop(mut self) -> Stopped {
        self.begin_shutdown();
        self.task.await.unwrap()
    }
}

/// A config with one root `timeout` and the given endpoints.
pub fn config(timeout: &str, endpoints: serde_json::Value) -> serde_json::Value {
    let mut config = serde_json::json!({ "version": 3, "timeout": timeout });
    config["endpoints"] = endpoints;
    config
}

/// A response as the test sees it.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Send one HTTP/1.1 request on a fresh connection.
pub async fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> Reply {
    try_send(addr, request).await.unwrap()
}

/// Send one HTTP/1.1 request on a fresh connection; a dropped connection is an error.
pub async fn try_send(
    addr: SocketAddr,
    request: Request<Full<Bytes>>,
) -> Result<Reply, hyper::Error> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// An HTTP/2 connection with prior knowledge (h2c), driven by a task of its own.
pub async fn h2c(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

/// `GET path` on a fresh connection.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    send(addr, get_request(addr, path)).await
}

/// A `GET path` request for [`send`] or [`try_send`].
pub fn get_request(addr: SocketAddr, path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// Reads from `stream` into `seen` until `done(seen)` or the end of the stream (20 s at most
/// per read: a hang fails); whether `done` was reached.
pub async fn read_until(
    stream: &mut TcpStream,
    seen: &mut Vec<u8>,
    done: impl Fn(&[u8]) -> bool,
) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    while !done(seen) {
        let read = tokio::time::timeout(std::time::Duration::from_secs(20), stream.read(&mut buf));
        match read.await.expect("no bytes and no close for 20 s") {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// Write `bytes` on a raw connection and read until the server closes it or the response
/// head is complete; returns what was read.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer (and close) before reading everything; that is fine here.
    let _ = stream.write_all(bytes).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        if out.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP/1.1 response text.
pub fn raw_status(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"))
}
