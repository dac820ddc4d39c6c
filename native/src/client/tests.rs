//! The framing and body-limit rules, checked against real local servers: a tiny hyper server
//! that reports what it received, and raw TCP servers for broken responses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::net::SocketAddr;

use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use manifold_core::platform::Listed;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::*;

/// What the test server saw: the request head and the complete body.
type Seen = (Parts, Bytes);

/// A hyper server on 127.0.0.1:0 that reports every request and answers with `respond`.
async fn server<F, B>(respond: F) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>)
where
    F: Fn() -> Response<B> + Clone + Send + Sync + 'static,
    B: Body<Data = Bytes, Error = Infallible> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (tx, respond) = (tx.clone(), respond.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let (tx, respond) = (tx.clone(), respond.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        tx.send((parts, body)).unwrap();
                        Ok::<_, Infallible>(respond())
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, rx)
}

fn ok() -> Response<Full<Bytes>> {
    Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}")))
}

/// A raw TCP server that reads one request head and writes `reply` verbatim, then closes.
async fn raw_server(reply: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await.unwrap() == 0 {
                return;
            }
            head.push(byte[0]);
        }
        stream.write_all(reply).await.unwrap();
        stream.shutdown().await.unwrap();
    });
    addr
}

fn client() -> HyperClient {
    HyperClient::new(ClientOptions::default()).unwrap()
}

fn request(method: &str, addr: SocketAddr, headers: &[(&str, &str)], body: &str) -> BackendRequest {
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}/echo"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Bytes::from(body.to_owned())).unwrap()
}

/// Send one request to a fresh reporting server and return what it saw.
async fn seen(method: &str, headers: &[(&str, &str)], body: &str) -> (HeaderMap, Bytes) {
    let (addr, mut rx) = server(ok).await;
    let response = client()
        .send(request(method, addr, headers, body), 1024)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body().as_ref(), b"{\"ok\":true}");
    let (parts, body) = rx.recv().await.unwrap();
    (parts.headers, body)
}

#[tokio::test]
async fn body_without_content_length_is_chunked() {
    for method in ["POST", "GET", "DELETE"] {
        let (headers, body) = seen(method, &[], "{\"a\":1}").await;
        assert_eq!(
            headers.get("transfer-encoding").unwrap(),
            "chunked",
            "{method}"
        );
        assert!(headers.get("content-length").is_none(), "{method}");
        assert_eq!(body.as_ref(), b"{\"a\":1}");
    }
}

#[tokio::test]
async fn forwarded_content_length_means_fixed_length_of_the_real_body() {
    // The header's value is not trusted: the length sent is the body's.
    let (headers, body) = seen("PUT", &[("content-length", "999")], "hello").await;
    assert_eq!(headers.get("content-length").unwrap(), "5");
    assert!(headers.get("transfer-encoding").is_none());
    assert_eq!(body.as_ref(), b"hello");
}

#[tokio::test]
async fn empty_body_has_zero_length_on_post_put_patch_only() {
    for method in ["POST", "PUT", "PATCH"] {
        let (headers, body) = seen(method, &[], "").await;
        assert_eq!(headers.get("content-length").unwrap(), "0", "{method}");
        assert!(headers.get("transfer-encoding").is_none(), "{method}");
        assert!(body.is_empty());
    }
    for method in ["GET", "DELETE"] {
        let (headers, _) = seen(method, &[], "").await;
        assert!(headers.get("content-length").is_none(), "{method}");
        assert!(headers.get("transfer-encoding").is_none(), "{method}");
    }
}

#[tokio::test]
async fn a_stray_transfer_encoding_header_does_not_change_the_framing() {
    let (headers, body) = seen("POST", &[("transfer-encoding", "gzip")], "").await;
    assert_eq!(headers.get("content-length").unwrap(), "0");
    assert!(headers.get("transfer-encoding").is_none());
    assert!(body.is_empty());
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let (addr, mut rx) = server(|| {
        Response::builder()
            .status(StatusCode::FOUND)
            .header("location", "/elsewhere")
            .body(Full::new(Bytes::new()))
            .unwrap()
    })
    .await;
    let response = client()
        .send(request("GET", addr, &[], ""), 1024)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers().get("location").unwrap(), "/elsewhere");
    assert_eq!(rx.recv().await.unwrap().0.uri.path(), "/echo");
    assert!(rx.try_recv().is_err(), "the redirect was followed");
}

#[tokio::test]
async fn body_exactly_at_the_limit_is_accepted() {
    let (addr, _rx) = server(|| Response::new(Full::new(Bytes::from(vec![b'x'; 100])))).await;
    let response = client()
        .send(request("GET", addr, &[], ""), 100)
        .await
        .unwrap();
    assert_eq!(response.body().len(), 100);
}

#[tokio::test]
async fn declared_length_over_the_limit_is_rejected() {
    let (addr, _rx) = server(|| Response::new(Full::new(Bytes::from(vec![b'x'; 101])))).await;
    let err = client()
        .send(request("GET", addr, &[], ""), 100)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ClientErrorKind::BodyTooLarge);
}

/// An endless chunked body: the client must stop reading once past the limit.
struct Endless;

impl Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&[b'x'; 4096])))))
    }
}

#[tokio::test]
async fn endless_streamed_body_stops_at_the_limit() {
    let (addr, _rx) = server(|| Response::new(Endless)).await;
    let err = client()
        .send(request("GET", addr, &[], ""), 64 * 1024)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ClientErrorKind::BodyTooLarge);
}

/// A chunked body of 64 different 1 KiB frames (byte `i` repeated in frame `i`).
struct Frames(u8);

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let i = self.0;
        if i == 64 {
            return Poll::Ready(None);
        }
        self.0 += 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![i; 1024])))))
    }
}

#[tokio::test]
async fn a_body_in_many_frames_arrives_whole_and_in_order() {
    let (addr, _rx) = server(|| Response::new(Frames(0))).await;
    let response = client()
        .send(request("GET", addr, &[], ""), 64 * 1024)
        .await
        .unwrap();
    let expected: Vec<u8> = (0..64u8).flat_map(|i| [i; 1024]).collect();
    assert_eq!(response.body().as_ref(), expected.as_slice());
}

#[tokio::test]
async fn truncated_body_is_a_protocol_error() {
    let addr =
        raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n{\"only\":\"part\"").await;
    let err = client()
        .send(request("GET", addr, &[], ""), 4096)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ClientErrorKind::Protocol);
}

#[tokio::test]
async fn garbage_instead_of_a_response_is_a_protocol_error() {
    let addr = raw_server(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
    let err = client()
        .send(request("GET", addr, &[], ""), 4096)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ClientErrorKind::Protocol);
}

#[tokio::test]
async fn refused_connection_is_a_connect_error() {
    // A port that was free a moment ago: nothing listens on it now.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let err = client()
        .send(request("GET", addr, &[], ""), 4096)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ClientErrorKind::Connect);
}

/// A keep-alive HTTP/1.1 server answering `ok()`, counting the connections it accepted.
async fn counting_server() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let service =
                    service_fn(|_req: Request<Incoming>| async { Ok::<_, Infallible>(ok()) });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn sequential_requests_share_one_connection_buffered_or_streamed() {
    let (addr, accepted) = counting_server().await;
    let client = client();
    for _ in 0..3 {
        let response = client
            .send(request("GET", addr, &[], ""), 1024)
            .await
            .unwrap();
        assert_eq!(response.body().as_ref(), b"{\"ok\":true}");
        let streamed = client
            .send_streaming(request("GET", addr, &[], ""), 1024)
            .await
            .unwrap();
        let StreamBody::Stream(mut chunks) = streamed.into_body() else {
            panic!("a streamed body");
        };
        let mut body = Vec::new();
        while let Some(chunk) = std::future::poll_fn(|cx| chunks.as_mut().poll_next(cx)).await {
            body.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(body, b"{\"ok\":true}");
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_host_header_and_request_target_are_the_legacy_clients() {
    let (addr, mut rx) = server(ok).await;
    let uri = format!("http://{addr}/echo?a=1");
    let req = http::Request::get(uri).body(Bytes::new()).unwrap();
    client().send(req, 1024).await.unwrap();
    let (parts, _) = rx.recv().await.unwrap();
    assert_eq!(parts.uri, "/echo?a=1");
    assert_eq!(parts.headers["host"], addr.to_string().as_str());
    // An explicit Host is kept.
    let (headers, _) = seen("GET", &[("host", "api.example")], "").await;
    assert_eq!(headers["host"], "api.example");
}

#[tokio::test]
async fn a_connection_the_backend_closed_is_not_used_again() {
    // Answers one request per connection and closes it, without saying so in the head.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if stream.read(&mut byte).await.unwrap() == 0 {
                    break;
                }
                head.push(byte[0]);
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
            let _ = stream.shutdown().await;
        }
    });
    let client = client();
    for _ in 0..3 {
        let response = client
            .send(request("GET", addr, &[], ""), 64)
            .await
            .unwrap();
        assert_eq!(response.body().as_ref(), b"ok");
    }
}

#[tokio::test]
async fn idle_connections_expire() {
    let (addr, accepted) = counting_server().await;
    let client = HyperClient::new(ClientOptions {
        pool_idle_timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    })
    .unwrap();
    client
        .send(request("GET", addr, &[], ""), 1024)
        .await
        .unwrap();
    client
        .send(request("GET", addr, &[], ""), 1024)
        .await
        .unwrap();
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Move the clock past the idle timeout without waiting for it.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(6)).await;
    tokio::time::resume();
    client
        .send(request("GET", addr, &[], ""), 1024)
        .await
        .unwrap();
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn at_most_max_idle_connections_are_kept() {
    let (addr, accepted) = counting_server().await;
    let client = HyperClient::new(ClientOptions {
        pool_max_idle_per_host: 1,
        ..ClientOptions::default()
    })
    .unwrap();
    // Two at once need two connections; only one is kept afterwards.
    let (a, b) = tokio::join!(
        client.send(request("GET", addr, &[], ""), 1024),
        client.send(request("GET", addr, &[], ""), 1024)
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    let (a, b) = tokio::join!(
        client.send(request("GET", addr, &[], ""), 1024),
        client.send(request("GET", addr, &[], ""), 1024)
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
}

/// The body `send` reads from a backend that writes `reply` verbatim and closes.
async fn raw_body(method: &str, reply: &'static [u8]) -> Result<BackendResponse, ClientError> {
    raw_reading(method, reply, ReadHeaders::All).await
}

/// [`raw_body`], asking for the headers `read`.
async fn raw_reading(
    method: &str,
    reply: &'static [u8],
    read: ReadHeaders,
) -> Result<BackendResponse, ClientError> {
    let addr = raw_server(reply).await;
    let request = request(method, addr, &[], "");
    client().send_reading(request, 4096, read).await
}

#[tokio::test]
async fn only_the_headers_asked_for_are_kept_and_the_others_still_frame_the_body() {
    let reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-other: 1\r\n\
                  Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
    static READ: [Listed; 2] = [Listed::new("content-type"), Listed::new("location")];
    let only = raw_reading("GET", reply, ReadHeaders::Only(&READ))
        .await
        .unwrap();
    assert_eq!(only.body().as_ref(), b"{}");
    let names: Vec<_> = only.headers().keys().map(|k| k.as_str()).collect();
    assert_eq!(names, ["content-type"]);
    assert_eq!(only.headers()[CONTENT_TYPE], "application/json");
    let all = raw_reading("GET", reply, ReadHeaders::All).await.unwrap();
    assert_eq!(all.body().as_ref(), b"{}");
    assert_eq!(all.headers().len(), 3);
    assert_eq!(all.headers()["x-other"], "1");
}

#[tokio::test]
async fn chunked_bodies_are_decoded_with_extensions_and_trailers() {
    let response = raw_body(
        "GET",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
          4;name=value\r\nwiki\r\n5\r\npedia\r\n0\r\nx-trailer: t\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(response.body().as_ref(), b"wikipedia");
}

#[tokio::test]
async fn a_body_without_length_ends_with_the_connection() {
    let response = raw_body("GET", b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
        .await
        .unwrap();
    assert_eq!(response.body().as_ref(), b"until the end");
}

#[tokio::test]
async fn interim_1xx_heads_are_skipped() {
    let response = raw_body(
        "GET",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n\
          HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.body().as_ref(), b"ok");
}

#[tokio::test]
async fn head_204_and_304_answers_have_no_body() {
    let head = raw_body("HEAD", b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n")
        .await
        .unwrap();
    assert!(head.body().is_empty());
    assert_eq!(head.headers()["content-length"], "10");
    for reply in [
        &b"HTTP/1.1 204 No Content\r\ncontent-length: 3\r\n\r\n"[..],
        b"HTTP/1.1 304 Not Modified\r\n\r\n",
    ] {
        let reply: &'static [u8] = reply;
        assert!(raw_body("GET", reply).await.unwrap().body().is_empty());
    }
}

#[tokio::test]
async fn framing_that_could_desync_the_connection_is_refused() {
    for reply in [
        // Both framings: a smuggling attempt (RFC 9112 §6.3).
        &b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd",
        b"HTTP/1.1 200 OK\r\ncontent-length: -3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nz\r\nabc\r\n0\r\n\r\n",
        // Bare LF after a chunk size, chunk data longer than declared.
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
        // A chunked body cut short.
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
    ] {
        let reply: &'static [u8] = reply;
        // Framing headers frame the body even when the caller reads none of the headers.
        for read in [ReadHeaders::All, ReadHeaders::Only(&[])] {
            let err = raw_reading("GET", reply, read).await.unwrap_err();
            let text = String::from_utf8_lossy(reply);
            assert_eq!(err.kind, ClientErrorKind::Protocol, "{read:?}: {text}");
        }
    }
}

/// A keep-alive backend that answers its first request, then closes the idle connection
/// before the second one can be answered; the count of requests it saw.
async fn closing_after_one() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut answered = 0;
                loop {
                    let n = stream.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    if answered == 1 {
                        // Read the second request, then close without a byte of answer.
                        return;
                    }
                    answered += 1;
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    stream.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn an_unanswered_request_on_a_reused_connection_is_retried_only_if_replayable() {
    use std::sync::atomic::Ordering;
    let (addr, seen) = closing_after_one().await;
    let client = client();
    client
        .send(request("GET", addr, &[], ""), 64)
        .await
        .unwrap();
    // The pooled connection dies without answering: a GET goes again on a new connection.
    let again = client
        .send(request("GET", addr, &[], ""), 64)
        .await
        .unwrap();
    assert_eq!(again.body().as_ref(), b"ok");
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    // A POST that reached the backend is not sent twice.
    let err = client
        .send(request("POST", addr, &[], "{}"), 64)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ClientErrorKind::Protocol);
    assert_eq!(seen.load(Ordering::SeqCst), 4);
}
