//! End-to-end: the native server on a real socket, mock backends on loopback, a real HTTP
//! client. Each test is one behaviour from issue 3 or the bad-input matrix (sections C and E).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use manifold::server::{Limits, ServerOptions, Stopped};
use serde_json::json;
use support::*;
use tokio::time::{timeout, Instant};

/// Far longer than any of these tests should take: a hang fails instead of blocking CI.
const HANG: Duration = Duration::from_secs(20);

fn endpoint(path: &str, backends: &[(&Backend, &str)]) -> serde_json::Value {
    let backend: Vec<_> = backends
        .iter()
        .map(|(b, url)| json!({ "host": [b.url()], "url_pattern": url }))
        .collect();
    json!({ "endpoint": path, "backend": backend })
}

#[tokio::test]
async fn merges_two_backends_and_the_later_declared_wins() {
    let a = json_backend(r#"{"a": 1, "shared": "from a"}"#).await;
    let b = json_backend(r#"{"b": 2, "shared": "from b"}"#).await;
    let cfg = config("2s", json!([endpoint("/both", &[(&a, "/a"), (&b, "/b")])]));
    let server = Server::start(&cfg, ServerOptions::default()).await;

    let reply = get(server.addr, "/both").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"a": 1, "b": 2, "shared": "from b"}));
    assert_eq!(reply.header("x-krakend-completed"), Some("true"));
    assert_eq!(server.stop().await, Stopped::Drained);
}

#[tokio::test]
async fn a_backend_slower_than_the_timeout_gives_a_partial_200() {
    let fast = json_backend(r#"{"fast": true}"#).await;
    // Never released during the request: slower than any timeout.
    let (mut slow, _gate) = gated_backend(r#"{"slow": true}"#).await;
    let cfg = config(
        "1s",
        json!([endpoint("/page", &[(&fast, "/f"), (&slow, "/s")])]),
    );
    let server = Server::start(&cfg, ServerOptions::default()).await;

    let started = Instant::now();
    let reply = timeout(HANG, get(server.addr, "/page")).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"fast": true}));
    assert_eq!(reply.header("x-krakend-completed"), Some("false"));
    assert!(started.elapsed() < Duration::from_secs(5));
    // The slow backend was really asked.
    assert_eq!(slow.next_hit().await.uri, "/s");
    server.stop().await;
}

#[tokio::test]
async fn a_refused_connection_fails_fast() {
    let good = json_backend(r#"{"good": 1}"#).await;
    let refused = refused_addr().await;
    let cfg = config(
        "10s",
        json!([
            { "endpoint": "/alone", "backend": [
                { "host": [format!("http://{refused}")], "url_pattern": "/x" } ] },
            { "endpoint": "/mixed", "backend": [
                { "host": [good.url()], "url_pattern": "/g" },
                { "host": [format!("http://{refused}")], "url_pattern": "/x" } ] }
        ]),
    );
    let server = Server::start(&cfg, ServerOptions::default()).await;

    let started = Instant::now();
    let alone = get(server.addr, "/alone").await;
    assert_eq!(alone.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(alone.header("x-krakend-completed"), Some("false"));
    let mixed = get(server.addr, "/mixed").await;
    assert_eq!(mixed.status, StatusCode::OK);
    assert_eq!(mixed.json(), json!({"good": 1}));
    assert_eq!(mixed.header("x-krakend-completed"), Some("false"));
    // Far below the 10 s endpoint timeout: a refusal is not waited out.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_request_head_gets_431() {
    let cfg = config("2s", json!([]));
    let server = Server::start(&cfg, ServerOptions::default()).await;

    let big = "x".repeat(70 * 1024);
    let response = raw(
        server.addr,
        format!("GET /__health HTTP/1.1\r\nhost: a\r\nx-big: {big}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(raw_status(&response), 431, "{response}");

    // Below the limit, a large head is fine.
    let fine = "x".repeat(40 * 1024);
    let response = raw(
        server.addr,
        format!("GET /__health HTTP/1.1\r\nhost: a\r\nx-big: {fine}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(raw_status(&response), 200, "{response}");

    let many: String = (0..101).map(|i| format!("x-h{i}: v\r\n")).collect();
    let response = raw(
        server.addr,
        format!("GET /__health HTTP/1.1\r\nhost: a\r\n{many}\r\n").as_bytes(),
    )
    .await;
    assert_eq!(raw_status(&response), 431, "{response}");
    server.stop().await;
}

/// A POST endpoint whose backend echoes nothing but counts bytes; limit 64 KiB.
async fn body_limit_server() -> (Server, Backend) {
    let backend = json_backend(r#"{"ok": true}"#).await;
    let cfg = config(
        "2s",
        json!([{ "endpoint": "/upload", "method": "POST", "backend": [
            { "host": [backend.url()], "url_pattern": "/u" } ] }]),
    );
    let options = ServerOptions {
        limits: Limits {
            max_body: 64 * 1024,
            ..Limits::default()
        },
        ..ServerOptions::default()
    };
    (Server::start(&cfg, options).await, backend)
}

#[tokio::test]
async fn an_oversized_declared_body_gets_413_before_it_is_sent() {
    let (server, mut backend) = body_limit_server().await;
    // Only the head is sent: the answer must not wait for the body.
    let response = raw(
        server.addr,
        b"POST /upload HTTP/1.1\r\nhost: a\r\ncontent-length: 65537\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&response), 413, "{response}");
    server.stop().await;
    assert!(backend.hits.try_recv().is_err(), "the backend was called");
}

#[tokio::test]
async fn an_oversized_streamed_body_gets_413() {
    let (server, mut backend) = body_limit_server().await;
    let mut request =
        b"POST /upload HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    let chunk = vec![b'x'; 8 * 1024];
    for _ in 0..9 {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(&chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let response = raw(server.addr, &request).await;
    assert_eq!(raw_status(&response), 413, "{response}");

    // Exactly at the limit is accepted and forwarded whole.
    let body = Bytes::from(vec![b'y'; 64 * 1024]);
    let reply = send(
        server.addr,
        Request::post("/upload")
            .header("host", "a")
            .body(Full::new(body))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(backend.next_hit().await.body.len(), 64 * 1024);
    server.stop().await;
    assert!(
        backend.hits.try_recv().is_err(),
        "the oversized body reached the backend"
    );
}

#[tokio::test]
async fn a_stalled_body_gets_408() {
    let backend = json_backend(r#"{"ok": true}"#).await;
    let cfg = config(
        "2s",
        json!([{ "endpoint": "/upload", "method": "POST", "backend": [
            { "host": [backend.url()], "url_pattern": "/u" } ] }]),
    );
    let options = ServerOptions {
        limits: Limits {
            body_idle_timeout: Duration::from_millis(200),
            ..Limits::default()
        },
        ..ServerOptions::default()
    };
    let server = Server::start(&cfg, options).await;
    // Ten bytes promised, two sent, then nothing.
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
    server.stop().await;
}

#[tokio::test]
async fn shutdown_answers_every_in_flight_request() {
    let (mut backend, open) = gated_backend(r#"{"done": true}"#).await;
    let cfg = config("10s", json!([endpoint("/wait", &[(&backend, "/w")])]));
    let mut server = Server::start(&cfg, ServerOptions::default()).await;
    let addr = server.addr;

    let requests: Vec<_> = (0..4)
        .map(|_| tokio::spawn(async move { get(addr, "/wait").await }))
        .collect();
    // All four are in flight: each has reached the backend.
    for _ in 0..4 {
        timeout(HANG, backend.next_hit()).await.unwrap();
    }
    server.begin_shutdown();
    // The listener closes: poll until a new connection is refused.
    let deadline = Instant::now() + HANG;
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after shutdown");
        tokio::task::yield_now().await;
    }
    open.send(true).unwrap();
    for request in requests {
        let reply = timeout(HANG, request).await.unwrap().unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json(), json!({"done": true}));
    }
    assert_eq!(
        timeout(HANG, server.stop()).await.unwrap(),
        Stopped::Drained
    );
}

#[tokio::test]
async fn shutdown_closes_an_idle_kept_alive_connection() {
    use tokio::io::AsyncWriteExt;
    let backend = json_backend(r#"{"ok": true}"#).await;
    let cfg = config("2s", json!([endpoint("/x", &[(&backend, "/u")])]));
    let mut server = Server::start(&cfg, ServerOptions::default()).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /x HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let answered = read_until(&mut stream, &mut answer, |a| a.ends_with(br#"{"ok":true}"#));
    assert!(answered.await, "closed before the answer");
    // The connection stays open (kept alive, within the 10 s head timeout) until the shutdown.
    server.begin_shutdown();
    let asked = Instant::now();
    let mut after = Vec::new();
    // Read until the server closes: nothing arrives before that.
    assert!(!read_until(&mut stream, &mut after, |a| !a.is_empty()).await);
    // Closed by the shutdown, not by the head timeout (10 s) later.
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(
        timeout(HANG, server.stop()).await.unwrap(),
        Stopped::Drained
    );
}

#[tokio::test]
async fn shutdown_gives_up_after_the_grace_period() {
    let (mut backend, _never) = gated_backend(r#"{}"#).await;
    let cfg = config("30s", json!([endpoint("/wait", &[(&backend, "/w")])]));
    let options = ServerOptions {
        shutdown_grace: Duration::from_millis(200),
        ..ServerOptions::default()
    };
    let server = Server::start(&cfg, options).await;
    let addr = server.addr;
    let request = tokio::spawn(async move { try_send(addr, get_request(addr, "/wait")).await });
    timeout(HANG, backend.next_hit()).await.unwrap();
    assert_eq!(
        timeout(HANG, server.stop()).await.unwrap(),
        Stopped::GraceExpired
    );
    // The abandoned client sees its connection closed, not a hang.
    assert!(timeout(HANG, request).await.unwrap().unwrap().is_err());
}

#[tokio::test]
async fn health_answers_while_a_backend_hangs() {
    let (mut backend, open) = gated_backend(r#"{"late": true}"#).await;
    let cfg = config("30s", json!([endpoint("/hang", &[(&backend, "/h")])]));
    let server = Server::start(&cfg, ServerOptions::default()).await;
    let addr = server.addr;

    let hung = tokio::spawn(async move { get(addr, "/hang").await });
    timeout(HANG, backend.next_hit()).await.unwrap();
    let health = timeout(Duration::from_secs(5), get(addr, "/__health"))
        .await
        .expect("/__health waited for the hung backend");
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["status"], "ok");
    assert!(!hung.is_finished());

    open.send(true).unwrap();
    assert_eq!(
        timeout(HANG, hung).await.unwrap().unwrap().status,
        StatusCode::OK
    );
    server.stop().await;
}

#[tokio::test]
async fn the_peer_address_reaches_the_backend_as_x_forwarded_for() {
    let mut backend = json_backend(r#"{"ok": true}"#).await;
    let cfg = config("2s", json!([endpoint("/who", &[(&backend, "/w")])]));
    let server = Server::start(&cfg, ServerOptions::default()).await;
    let request = Request::get("/who")
        .header("host", "a")
        .header("x-forwarded-for", "6.6.6.6")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send(server.addr, request).await.status, StatusCode::OK);
    let hit = backend.next_hit().await;
    assert_eq!(hit.headers.get("x-forwarded-for").unwrap(), "127.0.0.1");
    server.stop().await;
}

#[tokio::test]
async fn h2c_with_prior_knowledge_is_served() {
    let cfg = config("2s", json!([]));
    let server = Server::start(&cfg, ServerOptions::default()).await;
    let mut sender = h2c(server.addr).await;
    let response = sender
        .send_request(
            Request::get(format!("http://{}/__health", server.addr))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), http::Version::HTTP_2);
    drop(sender);
    server.stop().await;
}

#[tokio::test]
async fn the_demo_front_page_aggregates_four_trimmed_backends() {
    let backends = manifold::demo::backends::start().await.unwrap();
    let config = manifold::demo::config(&backends).unwrap();
    let server = Server::start_config(config, ServerOptions::default()).await;

    let reply = get(server.addr, "/frontpage/1").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-krakend-completed"), Some("true"));
    let page = reply.json();
    let mut keys: Vec<_> = page.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["cart", "products", "promos", "user"]);
    assert_eq!(page["products"].as_array().unwrap().len(), 6);
    assert_eq!(page["promos"][0]["id"], "PROMO-WINTER");
    assert_eq!(
        page["user"],
        json!({ "id_user": 1, "first_name": "Bruno", "avatar_url": "https://cdn.users.example/avatars/1.webp",
                "address": { "city": "Lisbon" }, "preferences": { "currency": "EUR" },
                "loyalty": { "tier": "gold" } })
    );
    assert!(page["cart"].get("session").is_none());
    assert!(page["cart"]["totals"].get("tax_breakdown").is_none());
    assert_eq!(page["cart"]["totals"]["total"], "98.90");
    server.stop().await;
}
