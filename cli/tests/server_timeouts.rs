//! KrakenD's root server timeouts on the native server (issue 17 point 9): `read_timeout`
//! bounds reading the request, `write_timeout` closes a connection whose answer is late
//! without answering, and the head / idle timeouts fall back to `read_timeout` as in Go.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use manifold::server::{Limits, ServerOptions};
use serde_json::json;
use support::*;
use tokio::time::{timeout, Instant};

/// Far longer than any of these tests should take: a hang fails instead of blocking CI.
const HANG: Duration = Duration::from_secs(20);

async fn start(config: serde_json::Value) -> Server {
    let config = manifold_core::config::load::load(&config.to_string(), |_| None).unwrap();
    let options = ServerOptions {
        limits: Limits::from(config.limits).with_timeouts(&config.server),
        ..ServerOptions::default()
    };
    Server::start_config(config, options).await
}

#[tokio::test]
async fn read_timeout_answers_408_to_a_body_that_does_not_arrive_in_time() {
    let backend = json_backend(r#"{"ok": true}"#).await;
    let mut cfg = config(
        "5s",
        json!([{ "endpoint": "/upload", "method": "POST", "backend": [
            { "host": [backend.url()], "url_pattern": "/u" } ] }]),
    );
    cfg["read_timeout"] = json!("300ms");
    let server = start(cfg).await;
    let started = Instant::now();
    // Ten bytes promised, two sent: the body idle timeout (30 s) would wait much longer.
    let response = timeout(
        HANG,
        raw(
            server.addr,
            b"POST /upload HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\nab",
        ),
    )
    .await
    .unwrap();
    assert_eq!(raw_status(&response), 408, "{response}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    server.stop().await;
}

#[tokio::test]
async fn write_timeout_closes_the_connection_without_an_answer() {
    let (backend, _gate) = gated_backend(r#"{"late": true}"#).await;
    let mut cfg = config(
        "10s",
        json!([{ "endpoint": "/slow", "backend": [
            { "host": [backend.url()], "url_pattern": "/s" } ] }]),
    );
    cfg["write_timeout"] = json!("300ms");
    let server = start(cfg).await;
    let started = Instant::now();
    let response = timeout(
        HANG,
        raw(server.addr, b"GET /slow HTTP/1.1\r\nhost: a\r\n\r\n"),
    )
    .await
    .unwrap();
    assert_eq!(response, "", "an answer after write_timeout: {response}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    server.stop().await;
}

#[tokio::test]
async fn without_write_timeout_the_slow_answer_arrives() {
    let (backend, gate) = gated_backend(r#"{"late": true}"#).await;
    let cfg = config(
        "10s",
        json!([{ "endpoint": "/slow", "backend": [
            { "host": [backend.url()], "url_pattern": "/s" } ] }]),
    );
    let server = start(cfg).await;
    let request = tokio::spawn(raw(server.addr, b"GET /slow HTTP/1.1\r\nhost: a\r\n\r\n"));
    gate.send(true).unwrap();
    let response = timeout(HANG, request).await.unwrap().unwrap();
    assert_eq!(raw_status(&response), 200, "{response}");
    server.stop().await;
}

/// A server with `endpoint` whose head timeout is `limit`.
async fn head_limited(limit: &str, endpoint: serde_json::Value) -> Server {
    let mut cfg = config("10s", json!([endpoint]));
    cfg["read_header_timeout"] = json!(limit);
    start(cfg).await
}

/// A server whose head timeout is `limit`, `/x` answering `{"ok":true}` from its backend
/// (returned too: it must outlive the server).
async fn ok_server(limit: &str) -> (Backend, Server) {
    let backend = json_backend(r#"{"ok": true}"#).await;
    let endpoint = json!({ "endpoint": "/x", "backend": [
        { "host": [backend.url()], "url_pattern": "/u" } ] });
    let server = head_limited(limit, endpoint).await;
    (backend, server)
}

/// Reads from `stream` until the server closes it; what arrived.
async fn until_closed(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let _ = timeout(HANG, stream.read_to_end(&mut out))
        .await
        .expect("the connection was never closed");
    out
}

/// The server closed a connection `started` ago without a byte of answer, once the 300 ms
/// head limit had passed and well before `HANG`.
fn closed_silently_after_the_limit(answer: &[u8], started: Instant) {
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(answer));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "closed after {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "closed after {waited:?}");
}

#[tokio::test]
async fn a_head_that_does_not_arrive_in_time_closes_the_connection() {
    use tokio::io::AsyncWriteExt;
    let (_backend, server) = ok_server("300ms").await;
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    // Slowloris: part of a head, then nothing.
    stream
        .write_all(b"GET /x HTTP/1.1\r\nhost: a\r\nx-slow: ")
        .await
        .unwrap();
    let answer = until_closed(&mut stream).await;
    closed_silently_after_the_limit(&answer, started);
    server.stop().await;
}

#[tokio::test]
async fn a_head_trickling_in_is_closed_after_the_limit() {
    use tokio::io::AsyncWriteExt;
    let (_backend, server) = ok_server("300ms").await;
    let started = Instant::now();
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    // Slowloris that keeps sending: a byte of a header every 20 ms, never the head's end.
    let trickle = tokio::spawn(async move {
        let mut sent = write
            .write_all(b"GET /x HTTP/1.1\r\nhost: a\r\nx-slow: ")
            .await;
        let mut pace = tokio::time::interval(Duration::from_millis(20));
        while sent.is_ok() {
            pace.tick().await;
            sent = write.write_all(b"a").await;
        }
    });
    let answer = until_closed(&mut read).await;
    trickle.abort();
    closed_silently_after_the_limit(&answer, started);
    server.stop().await;
}

#[tokio::test]
async fn a_kept_alive_connection_without_a_next_request_is_closed() {
    use tokio::io::AsyncWriteExt;
    let (_backend, server) = ok_server("300ms").await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /x HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // The answer arrives, then the connection stays open until the limit has passed.
    let answer = String::from_utf8(until_closed(&mut stream).await).unwrap();
    assert_eq!(raw_status(&answer), 200, "{answer}");
    assert!(answer.ends_with(r#"{"ok":true}"#), "{answer}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "closed after {waited:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_request_that_takes_longer_than_the_head_timeout_is_answered() {
    let (mut backend, gate) = gated_backend(r#"{"late": true}"#).await;
    let endpoint = json!({ "endpoint": "/x", "backend": [
        { "host": [backend.url()], "url_pattern": "/u" } ] });
    let server = head_limited("200ms", endpoint).await;
    let request = tokio::spawn(raw(server.addr, b"GET /x HTTP/1.1\r\nhost: a\r\n\r\n"));
    timeout(HANG, backend.next_hit()).await.unwrap();
    // The request is in progress for three head timeouts: the connection must stay.
    tokio::time::sleep(Duration::from_millis(600)).await;
    gate.send(true).unwrap();
    let response = timeout(HANG, request).await.unwrap().unwrap();
    assert_eq!(raw_status(&response), 200, "{response}");
    server.stop().await;
}

#[tokio::test]
async fn a_client_reading_slowly_gets_the_whole_answer() {
    // More than the kernel buffers of both ends hold: a JSON answer (written whole) and a
    // passed-through one (streamed).
    const SIZE: usize = 8 << 20;
    let mut body = b"{\"data\":\"".to_vec();
    body.resize(SIZE - 2, b'x');
    body.extend_from_slice(b"\"}");
    let body = bytes::Bytes::from(body);
    let backend = backend(move |_| {
        let body = body.clone();
        async move { json_response(body) }
    })
    .await;
    for encoding in ["json", "no-op"] {
        let endpoint = json!({ "endpoint": "/x", "output_encoding": encoding, "backend": [
            { "host": [backend.url()], "url_pattern": "/u", "encoding": encoding } ] });
        let server = head_limited("200ms", endpoint).await;
        let answer = read_slowly(server.addr).await;
        let head_end = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(
            raw_status(&String::from_utf8_lossy(&answer[..head_end])),
            200
        );
        assert_eq!(
            answer.len() - head_end,
            SIZE,
            "{encoding}: the answer was cut short"
        );
        server.stop().await;
    }
}

fn json_response(body: bytes::Bytes) -> http::Response<bytes::Bytes> {
    http::Response::builder()
        .header("content-type", "application/json")
        .body(body)
        .unwrap()
}

/// `GET /x` from a client with a small receive window that reads the first bytes of the
/// answer, stops reading for three head timeouts of 200 ms (the server's writes then wait on
/// it), then reads the rest until the server closes the connection.
async fn read_slowly(addr: std::net::SocketAddr) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(8 * 1024).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream
        .write_all(b"GET /x HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 1024];
    let n = timeout(HANG, stream.read(&mut first))
        .await
        .unwrap()
        .unwrap();
    assert!(n > 0);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut answer = first[..n].to_vec();
    answer.extend_from_slice(&until_closed(&mut stream).await);
    answer
}

#[tokio::test]
async fn a_streamed_answer_waiting_on_its_backend_is_not_cut() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (open, mut gate) = tokio::sync::watch::channel(false);
    // A backend that sends one chunk, then the next when the gate opens.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n6\r\nfirst\n\r\n").await.unwrap();
        let _ = gate.wait_for(|open| *open).await;
        s.write_all(b"7\r\nsecond\n\r\n0\r\n\r\n").await.unwrap();
        let _ = s.read(&mut buf).await;
    });
    let endpoint = json!({ "endpoint": "/x", "output_encoding": "no-op", "backend": [
        { "host": [url], "url_pattern": "/events", "encoding": "no-op" } ] });
    let server = head_limited("200ms", endpoint).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /x HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let first = read_until(&mut stream, &mut seen, |s| {
        s.windows(6).any(|w| w == b"first\n")
    });
    assert!(first.await, "closed before the first chunk");
    // The stream waits on its backend for three head timeouts.
    tokio::time::sleep(Duration::from_millis(600)).await;
    open.send(true).unwrap();
    read_until(&mut stream, &mut seen, |s| s.ends_with(b"0\r\n\r\n")).await;
    let seen = String::from_utf8_lossy(&seen);
    assert!(seen.contains("second\n"), "the stream was cut: {seen}");
    server.stop().await;
}

#[tokio::test]
async fn an_h2c_connection_stays_open_between_requests() {
    use http_body_util::Full;
    let (_backend, server) = ok_server("200ms").await;
    let mut sender = h2c(server.addr).await;
    let get = || {
        http::Request::get(format!("http://{}/x", server.addr))
            .body(Full::new(bytes::Bytes::new()))
            .unwrap()
    };
    let first = timeout(HANG, sender.send_request(get()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.status(), 200);
    // Idle for three head timeouts, as HTTP/2 clients keep their connections (hyper's head
    // timeout was HTTP/1 only).
    tokio::time::sleep(Duration::from_millis(600)).await;
    let second = timeout(HANG, sender.send_request(get())).await.unwrap();
    assert_eq!(second.map(|r| r.status()).ok(), Some(http::StatusCode::OK));
    server.stop().await;
}

#[test]
fn head_and_idle_timeouts_fall_back_to_read_timeout_as_in_go() {
    let load = |text: &str| manifold_core::config::load::load(text, |_| None).unwrap();
    let config = load(r#"{"version": 3, "read_timeout": "4s", "idle_timeout": "0s"}"#);
    let limits = Limits::default().with_timeouts(&config.server);
    assert_eq!(limits.header_read_timeout, Duration::from_secs(4));
    assert_eq!(limits.idle_timeout, Some(Duration::from_secs(4)));
    assert_eq!(limits.read_timeout, Some(Duration::from_secs(4)));
    let config = load(
        r#"{"version": 3, "read_timeout": "4s", "read_header_timeout": "1s", "idle_timeout": "9s", "write_timeout": "2s"}"#,
    );
    let limits = Limits::default().with_timeouts(&config.server);
    assert_eq!(limits.header_read_timeout, Duration::from_secs(1));
    assert_eq!(limits.idle_timeout, Some(Duration::from_secs(9)));
    assert_eq!(limits.write_timeout, Some(Duration::from_secs(2)));
    let defaults = Limits::default().with_timeouts(&load(r#"{"version": 3}"#).server);
    assert_eq!(defaults, Limits::default());
}
