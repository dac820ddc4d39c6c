//! The native backend client's HTTP/1.1 response handling (`manifold_native::HyperClient` on
//! a plain-`http` backend: our own head parsing, body framing and chunked decoding in
//! native/src/client/h1.rs) on raw bytes from a backend. A loopback backend answers every
//! request with the input and closes the connection; the client sends one buffered and one
//! streamed `GET`. Each must end (an answer or an error) within the deadline and never panic,
//! and a body that ends cleanly must be as long as a valid `Content-Length` says.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use manifold_core::platform::{Body, ClientError};
use manifold_core::HttpClient;
use manifold_native::{ClientOptions, HyperClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How long one exchange may take (the backend always closes, so nothing should wait).
const DEADLINE: Duration = Duration::from_secs(5);

/// The largest body the buffered request accepts.
const MAX_BODY: usize = 4096;

/// The backend, the client and the runtime they run on, kept for the process.
struct Rig {
    runtime: tokio::runtime::Runtime,
    client: HyperClient,
    url: String,
    /// What the backend answers to the next request.
    reply: Arc<Mutex<Bytes>>,
}

fn rig() -> Option<&'static Rig> {
    static RIG: OnceLock<Option<Rig>> = OnceLock::new();
    RIG.get_or_init(start).as_ref()
}

fn start() -> Option<Rig> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let listener = runtime.block_on(TcpListener::bind(("127.0.0.1", 0))).ok()?;
    let url = format!("http://{}/r", listener.local_addr().ok()?);
    let reply = Arc::new(Mutex::new(Bytes::new()));
    let answer = reply.clone();
    runtime.spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                // The request head, then the reply, then the end of the connection.
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = answer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let _ = stream.write_all(&reply).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    let client = HyperClient::new(ClientOptions::default()).ok()?;
    Some(Rig {
        runtime,
        client,
        url,
        reply,
    })
}

/// The single `Content-Length` of a response that has a body, if it is plain digits.
fn declared(response: &http::Response<impl Sized>) -> Option<usize> {
    let status = response.status().as_u16();
    if matches!(status, 204 | 304) || response.headers().contains_key("transfer-encoding") {
        return None;
    }
    let mut values = response.headers().get_all("content-length").iter();
    let value = values.next()?.to_str().ok()?;
    if values.next().is_some() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// The fuzz body.
pub fn run(data: &[u8]) {
    let Some(rig) = rig() else {
        // The replay test checks that the rig starts.
        return;
    };
    *rig.reply.lock().unwrap_or_else(PoisonError::into_inner) = Bytes::copy_from_slice(data);
    let request = || http::Request::get(rig.url.as_str()).body(Bytes::new());
    rig.runtime.block_on(async {
        let Ok(req) = request() else { return };
        let whole = tokio::time::timeout(DEADLINE, rig.client.send(req, MAX_BODY)).await;
        let whole = whole.unwrap_or_else(|_| panic!("a buffered call did not end in {DEADLINE:?}"));
        if let Ok(response) = &whole {
            if let Some(len) = declared(response) {
                assert_eq!(
                    response.body().len(),
                    len,
                    "body length against Content-Length"
                );
            }
        }
        let Ok(req) = request() else { return };
        let streamed = tokio::time::timeout(DEADLINE, async {
            let response = rig.client.send_streaming(req, MAX_BODY).await?;
            let len = declared(&response);
            let mut total = 0;
            if let Body::Stream(mut chunks) = response.into_body() {
                while let Some(chunk) =
                    std::future::poll_fn(|cx| chunks.as_mut().poll_next(cx)).await
                {
                    total += chunk?.len();
                }
            }
            if let Some(len) = len {
                assert_eq!(total, len, "streamed body length against Content-Length");
            }
            Ok::<_, ClientError>(())
        })
        .await;
        assert!(
            streamed.is_ok(),
            "a streamed call did not end in {DEADLINE:?}"
        );
    });
}

/// Whether the backend and client started (the replay test asserts it).
pub fn started() -> bool {
    rig().is_some()
}
