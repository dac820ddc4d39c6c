//! The native server's request handling (`manifold::server::serve`: hyper's HTTP/1.1 + h2c
//! parsing under our limits, then our body reading and the gateway) on raw bytes from a
//! client. `serve` takes a `TcpListener`, so the server runs once per process on a loopback
//! port; each input is written on a fresh connection, the client half-closes, and the server
//! must answer or close within the deadline, never panic (a panic inside a connection task
//! would otherwise be swallowed by tokio), and still serve `/__health` afterwards.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use manifold::server::{Limits, ServerOptions};
use manifold_core::platform::{BackendRequest, BackendResponse, ClientError};
use manifold_core::{BoxFuture, Gateway, HttpClient, Platform};
use manifold_native::{SystemClock, TokioSleep};

/// A wildcard endpoint forwarding every header and query string, an endpoint with a body
/// and a parameter, and one plain GET.
pub const CONFIG: &str = r#"{
  "version": 3,
  "host": ["http://b.internal"],
  "endpoints": [
    {"endpoint": "/a", "backend": [{"url_pattern": "/a"}]},
    {"endpoint": "/p/{id}", "method": "POST", "backend": [{"url_pattern": "/p/{id}"}]},
    {"endpoint": "/w/*", "method": "POST", "input_headers": ["*"], "input_query_strings": ["*"],
     "output_encoding": "no-op", "backend": [{"url_pattern": "/w", "encoding": "no-op"}]}
  ]
}"#;

/// Small limits, so that the fuzzer reaches 413 and 431 with short inputs.
pub const LIMITS: Limits = Limits {
    max_head: 8 * 1024,
    max_headers: 32,
    max_body: 4 * 1024,
    header_read_timeout: Duration::from_secs(2),
    body_idle_timeout: Duration::from_secs(2),
    max_concurrent_streams: 16,
    read_timeout: None,
    write_timeout: None,
    idle_timeout: None,
};

/// How long the client waits for the server to finish one connection.
const DEADLINE: Duration = Duration::from_secs(5);

/// The name of the server's runtime threads (the panic hook only flags panics there).
const THREAD: &str = "manifold-fuzz-server";

/// Set by the panic hook installed with the server (see the module doc).
static PANICKED: AtomicBool = AtomicBool::new(false);

/// The running server: its runtime (kept alive for the process) and its address.
struct Server {
    _runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
}

/// A backend that answers every request at once with a small JSON object (keeps no state, so
/// millions of requests leave memory flat).
struct Backend;

impl HttpClient for Backend {
    fn send(
        &self,
        request: BackendRequest,
        _max_body: usize,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        let body = Bytes::from(format!("{{\"len\":{}}}", request.body().len()));
        Box::pin(async move {
            let mut response = http::Response::new(body);
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            Ok(response)
        })
    }
}

fn server() -> Option<&'static Server> {
    static SERVER: OnceLock<Option<Server>> = OnceLock::new();
    SERVER.get_or_init(start).as_ref()
}

fn start() -> Option<Server> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some(THREAD) {
            PANICKED.store(true, Ordering::SeqCst);
        }
        previous(info);
    }));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(THREAD)
        .enable_all()
        .build()
        .ok()?;
    let platform = Platform::new(
        Arc::new(Backend),
        Arc::new(SystemClock),
        Arc::new(TokioSleep),
    );
    let gateway = Arc::new(Gateway::from_json(CONFIG, platform).ok()?);
    let listener = runtime
        .block_on(manifold::server::bind(SocketAddr::from((
            [127, 0, 0, 1],
            0,
        ))))
        .ok()?;
    let addr = listener.local_addr().ok()?;
    let options = ServerOptions {
        limits: LIMITS,
        ..ServerOptions::default()
    };
    runtime.spawn(manifold::server::serve(
        listener,
        gateway,
        options,
        std::future::pending(),
    ));
    Some(Server {
        _runtime: runtime,
        addr,
    })
}

/// Send `data`, half-close if asked, and read until the server closes. `None`: the server did
/// not finish within [`DEADLINE`].
///
/// A half-close ends any input, complete or not, at once (otherwise an incomplete head would
/// wait for the head timeout). hyper, like Go's server, takes an EOF read while a request is in
/// flight as the client having gone and may close without answering (`half_close` is off), so
/// answers to fuzz inputs are not asserted on; the health probe does not half-close.
fn exchange(addr: SocketAddr, data: &[u8], half_close: bool) -> Option<Vec<u8>> {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return Some(Vec::new());
    };
    let _ = stream.set_read_timeout(Some(DEADLINE));
    let _ = stream.set_write_timeout(Some(DEADLINE));
    // The server may answer and close before reading everything: write errors are normal.
    let _ = stream.write_all(data);
    if half_close {
        let _ = stream.shutdown(Shutdown::Write);
    }
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
        _ => Some(out),
    }
}

/// The fuzz body.
pub fn run(data: &[u8]) {
    let Some(server) = server() else {
        // The replay test checks that the server starts.
        return;
    };
    let answer = exchange(server.addr, data, true);
    assert!(
        answer.is_some(),
        "the server kept the connection open {DEADLINE:?} after the client finished"
    );
    assert!(!PANICKED.load(Ordering::SeqCst), "a server task panicked");
    let health = exchange(
        server.addr,
        b"GET /__health HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n",
        false,
    )
    .unwrap_or_default();
    assert!(
        health.starts_with(b"HTTP/1.1 200 "),
        "the server stopped serving: {:?}",
        String::from_utf8_lossy(&health)
    );
}

/// Whether the server started (the replay test asserts it, so the target cannot go blind).
pub fn started() -> bool {
    server().is_some()
}
