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
