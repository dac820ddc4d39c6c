//! `manifold/compression` on the real server: gzip and brotli chosen from `Accept-Encoding`,
//! `Vary`, the minimum size, no second encoding of a `no-op` backend's gzip answer, and no
//! change at all without the namespace.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use manifold::server::ServerOptions;
use serde_json::json;
use support::{backend, send, Server};

fn big_json() -> String {
    let items: Vec<String> = (0..200)
        .map(|i| format!(r#"{{"id":{i},"name":"item {i}"}}"#))
        .collect();
    format!(r#"{{"items":[{}]}}"#, items.join(","))
}

fn brotli_of(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).unwrap();
    }
    out
}

async fn get(server: &Server, path: &str, accept: Option<&str>) -> support::Reply {
    let mut r = Request::get(path).header("host", server.addr.to_string());
    if let Some(a) = accept {
        r = r.header("accept-encoding", a);
    }
    send(server.addr, r.body(Full::new(Bytes::new())).unwrap()).await
}

async fn start(compression: Option<serde_json::Value>) -> (Server, support::Backend) {
    let body = big_json();
    let br = brotli_of(body.as_bytes());
    let b = backend(move |req| {
        let (body, br) = (body.clone(), br.clone());
        async move {
            let r = Response::builder().header("content-type", "application/json");
            match req.uri().path() {
                "/br" => r.header("content-encoding", "br").body(Bytes::from(br)),
                "/small" => r.body(Bytes::from_static(br#"{"a":1}"#)),
                _ => r.body(Bytes::from(body)),
            }
            .unwrap()
        }
    })
    .await;
    let mut config = json!({
        "version": 3,
        "host": [b.url()],
        "endpoints": [
            { "endpoint": "/big", "backend": [{ "url_pattern": "/big" }] },
            { "endpoint": "/small", "backend": [{ "url_pattern": "/small" }] },
            { "endpoint": "/br", "output_encoding": "no-op", "input_headers": ["Accept-Encoding"], "backend": [{ "url_pattern": "/br", "encoding": "no-op" }] }
        ]
    });
    if let Some(c) = compression {
        config["extra_config"] = json!({ "manifold/compression": c });
    }
    (Server::start(&config, ServerOptions::default()).await, b)
}

#[tokio::test]
async fn gzip_and_brotli_follow_accept_encoding() {
    let (server, _b) = start(Some(json!({}))).await;
    let plain = get(&server, "/big", None).await;
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));

    let br = get(&server, "/big", Some("gzip;q=0.8, br")).await;
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(br.header("vary"), Some("Accept-Encoding"));
    let mut back = Vec::new();
    brotli::BrotliDecompress(&mut &br.body[..], &mut back).unwrap();
    assert_eq!(back, plain.body);
    assert!(
        br.body.len() * 5 < plain.body.len(),
        "{} vs {}",
        br.body.len(),
        plain.body.len()
    );
    // hyper frames the compressed body with its own length.
    assert_eq!(
        br.header("content-length"),
        Some(br.body.len().to_string().as_str())
    );

    let gz = get(&server, "/big", Some("br;q=0, gzip")).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, plain.body);

    let none = get(&server, "/big", Some("identity")).await;
    assert_eq!(none.header("content-encoding"), None);
    assert_eq!(none.body, plain.body);

    // Under min_size: untouched, and no Vary (it never varies).
    let small = get(&server, "/small", Some("gzip, br")).await;
    assert_eq!(small.header("content-encoding"), None);
    assert_eq!(small.header("vary"), None);
    assert_eq!(&small.body[..], br#"{"a":1}"#);
    server.stop().await;
}

/// The client's `Accept-Encoding` forwarded to a `no-op` backend: its brotli answer passes
/// through byte for byte, not encoded again (a gzip answer is decoded by the gateway, as
/// KrakenD's Go client does, and then compressed like any other body).
#[tokio::test]
async fn an_encoded_no_op_answer_is_not_encoded_twice() {
    let (server, _b) = start(Some(json!({ "gzip_level": 9 }))).await;
    let r = get(&server, "/br", Some("gzip")).await;
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert_eq!(r.header("vary"), None);
    assert_eq!(r.body, Bytes::from(brotli_of(big_json().as_bytes())));
    server.stop().await;
}

#[tokio::test]
async fn off_without_the_namespace_or_when_disabled() {
    for compression in [None, Some(json!({ "enabled": false }))] {
        let (server, _b) = start(compression).await;
        let r = get(&server, "/big", Some("gzip, br")).await;
        assert_eq!(r.header("content-encoding"), None);
        assert_eq!(r.header("vary"), None);
        assert_eq!(r.body, Bytes::from(big_json()));
        server.stop().await;
    }
}
