#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_executor::block_on;
use futures_util::{stream, StreamExt};
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};

use super::*;
use crate::platform::{
    BackendRequest, BackendResponse, Body, BoxFuture, ClientError, HttpClient, Platform,
    StreamedResponse,
};
use crate::Gateway;

/// A backend that answers `send` with `whole` and `send_streaming` with `chunks` (then, when
/// `stall`, nothing ever again), counting which of the two was called.
#[derive(Default)]
struct Scripted {
    chunks: Vec<&'static [u8]>,
    stall: bool,
    gzip: bool,
    calls: Mutex<Vec<&'static str>>,
    /// Sleeps end at once (a stalled stream times out on its first idle gap).
    instant_timers: bool,
}

impl HttpClient for Scripted {
    fn send(
        &self,
        _: BackendRequest,
        _: usize,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        self.calls.lock().unwrap().push("send");
        let body = Bytes::from(self.chunks.concat());
        Box::pin(async move { Ok(http::Response::new(body)) })
    }

    fn send_streaming(
        &self,
        _: BackendRequest,
        _: usize,
    ) -> BoxFuture<'static, Result<StreamedResponse, ClientError>> {
        self.calls.lock().unwrap().push("stream");
        let chunks: Vec<Result<Bytes, ClientError>> = if self.gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&self.chunks.concat()).unwrap();
            let gz = enc.finish().unwrap();
            gz.chunks(7)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect()
        } else {
            self.chunks
                .iter()
                .map(|c| Ok(Bytes::from_static(c)))
                .collect()
        };
        let body = stream::iter(chunks);
        let body: Chunks = if self.stall {
            Box::pin(body.chain(stream::pending()))
        } else {
            Box::pin(body)
        };
        let mut response = http::Response::new(Body::Stream(body));
        *response.status_mut() = http::StatusCode::ACCEPTED;
        let h = response.headers_mut();
        h.insert(CONTENT_TYPE, "text/event-stream".parse().unwrap());
        if self.gzip {
            h.insert(CONTENT_ENCODING, "gzip".parse().unwrap());
        }
        Box::pin(async move { Ok(response) })
    }
}

fn gateway(endpoint: &str, backend: Scripted) -> (Gateway, Arc<Scripted>) {
    let config = format!(
        r#"{{"version":3,"timeout":"2s","endpoints":[{}]}}"#,
        endpoint.replace(
            "HOST",
            r#""host":["http://backend"],"url_pattern":"/events""#
        )
    );
    let backend = Arc::new(backend);
    let instant = backend.instant_timers;
    let sleep = move |_: Duration| -> BoxFuture<'static, ()> {
        if instant {
            Box::pin(std::future::ready(()))
        } else {
            Box::pin(std::future::pending())
        }
    };
    let platform = Platform::new(backend.clone(), Arc::new(|| 0u64), Arc::new(sleep));
    (Gateway::from_json(&config, platform).unwrap(), backend)
}

const NO_OP: &str =
    r#"{"endpoint":"/e","output_encoding":"no-op","backend":[{HOST,"encoding":"no-op"}]}"#;

fn get() -> http::Request<Bytes> {
    http::Request::get("/e").body(Bytes::new()).unwrap()
}

/// Every item of a streamed body: the chunks, then `Err(message)` if it broke off.
fn drain(body: Body) -> Vec<Result<Bytes, String>> {
    let Body::Stream(chunks) = body else {
        panic!("a whole body, not a stream");
    };
    block_on(chunks.map(|c| c.map_err(|e| e.message)).collect())
}

#[test]
fn a_no_op_endpoint_streams_its_backend_body_with_the_backend_head() {
    let script = Scripted {
        chunks: vec![b"data: 1\n\n", b"data: 2\n\n"],
        ..Scripted::default()
    };
    let (gw, backend) = gateway(NO_OP, script);
    let response = block_on(gw.handle_streaming(get(), crate::RequestContext::new()));
    assert_eq!(response.status(), http::StatusCode::ACCEPTED);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
    let items = drain(response.into_body());
    assert_eq!(
        items,
        [
            Ok(Bytes::from_static(b"data: 1\n\n")),
            Ok(Bytes::from_static(b"data: 2\n\n"))
        ]
    );
    assert_eq!(*backend.calls.lock().unwrap(), ["stream"]);
}

#[test]
fn an_adapter_that_cannot_stream_gets_the_whole_body_as_before() {
    let script = Scripted {
        chunks: vec![b"ab", b"cd"],
        ..Scripted::default()
    };
    let (gw, backend) = gateway(NO_OP, script);
    let response = block_on(gw.handle(get(), crate::RequestContext::new()));
    assert_eq!(response.body(), "abcd");
    assert!(response
        .extensions()
        .get::<crate::platform::Streamed>()
        .is_none());
    assert_eq!(*backend.calls.lock().unwrap(), ["send"]);
}

#[test]
fn a_stalled_stream_ends_with_an_error_after_one_idle_gap() {
    let script = Scripted {
        chunks: vec![b"data: 1\n\n"],
        stall: true,
        instant_timers: true,
        ..Scripted::default()
    };
    let (gw, _) = gateway(NO_OP, script);
    let response = block_on(gw.handle_streaming(get(), crate::RequestContext::new()));
    let items = drain(response.into_body());
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], Ok(Bytes::from_static(b"data: 1\n\n")));
    let error = items[1].clone().unwrap_err();
    assert!(error.contains("backend sent nothing for 2s"), "{error}");
}

#[test]
fn an_idle_timer_restarts_with_every_chunk() {
    // Timers that end at once would end a stream whose chunks are all ready only if the
    // timer ran while a chunk was waiting.
    let chunks: Chunks = Box::pin(stream::iter([
        Ok(Bytes::from_static(b"a")),
        Ok(Bytes::from_static(b"b")),
    ]));
    let sleep: Arc<dyn crate::platform::Sleep> =
        Arc::new(|_: Duration| -> BoxFuture<'static, ()> { Box::pin(std::future::ready(())) });
    let items: Vec<_> = block_on(IdleTimeout::new(chunks, sleep, Duration::from_secs(1)).collect());
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(Result::is_ok));
}

// Decoded by the core's own decoder, which a build without `gzip` leaves to the platform.
#[cfg(feature = "gzip")]
#[test]
fn a_gzip_answer_is_read_whole_and_decoded_as_before() {
    let script = Scripted {
        chunks: vec![b"hello ", b"world"],
        gzip: true,
        ..Scripted::default()
    };
    let (gw, backend) = gateway(NO_OP, script);
    let response = block_on(gw.handle_streaming(get(), crate::RequestContext::new()));
    assert!(response.headers().get(CONTENT_ENCODING).is_none());
    assert_eq!(response.body().full().unwrap(), "hello world");
    assert_eq!(*backend.calls.lock().unwrap(), ["stream"]);
}

// `validation/cel` is refused by a build without `cel`.
#[cfg(feature = "cel")]
#[test]
fn endpoints_that_need_the_whole_body_do_not_stream() {
    let cases = [
        // Decoded and re-encoded.
        r#"{"endpoint":"/e","backend":[{HOST}]}"#,
        // CEL response expressions read the answer.
        r#"{"endpoint":"/e","output_encoding":"no-op","backend":[{HOST,"encoding":"no-op","extra_config":{"validation/cel":[{"check_expr":"true"}]}}]}"#,
        // The cache keeps whole answers.
        r#"{"endpoint":"/e","output_encoding":"no-op","backend":[{HOST,"encoding":"no-op","extra_config":{"qos/http-cache":{}}}]}"#,
        // Concurrent calls race whole answers.
        r#"{"endpoint":"/e","output_encoding":"no-op","concurrent_calls":2,"backend":[{HOST,"encoding":"no-op"}]}"#,
    ];
    for case in cases {
        let script = Scripted {
            chunks: vec![b"{}"],
            ..Scripted::default()
        };
        let (gw, backend) = gateway(case, script);
        let response = block_on(gw.handle_streaming(get(), crate::RequestContext::new()));
        assert!(response.body().full().is_some(), "{case}");
        assert!(!backend.calls.lock().unwrap().contains(&"stream"), "{case}");
    }
    let config = crate::config::parse(&format!(
        r#"{{"version":3,"endpoints":[{}]}}"#,
        NO_OP.replace("HOST", r#""host":["http://b"],"url_pattern":"/""#)
    ))
    .unwrap();
    assert!(streams(&config.endpoints[0]));
}
