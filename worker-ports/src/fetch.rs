//! The `HttpClient` port on the global `fetch`, and the platform built on it.
//!
//! Workers open at most 6 connections per incoming request and queue the rest themselves. This
//! client adds no limit of its own: it is shared by every request the isolate serves, so a
//! semaphore here would cap the whole isolate instead of one request. It reads each body to the
//! end (or aborts it) right away, so queued fetches never wait on an idle open response; only a
//! streamed answer (docs/streaming.md) stays open while the client reads it.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use http::{HeaderMap, Method, StatusCode};
use manifold_core::config::capability::PLATFORM_SIGNATURES;
use manifold_core::platform::{
    BackendRequest, BackendResponse, Body, ClientError, ClientErrorKind, ReadHeaders,
    StreamedResponse,
};
use manifold_core::{BoundedBody, BoxFuture, HttpClient, Platform, TooLarge, MAX_HEADERS};
use worker::js_sys::{self, Array, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{web_sys, ByteStream, Date, Delay};

use crate::convert;

/// The Workers platform: `fetch` as the client, `Date.now()` as the clock, `setTimeout` as the
/// timer, `Math.random()` for ids, `console.log` for the access log, `DecompressionStream` for
/// gzip bodies, WebCrypto for token signatures (in a build with any: `jwt-platform`).
pub fn platform() -> Platform {
    let clock = || Date::now().as_millis();
    let sleep = |d| -> BoxFuture<'static, ()> { Box::pin(Delay::from(convert::timer(d))) };
    let platform = Platform::new(Arc::new(FetchClient), Arc::new(clock), Arc::new(sleep))
        .with_random(Arc::new(crate::telemetry::MathRandom))
        .with_sink(Arc::new(crate::telemetry::ConsoleLog::default()))
        .with_gunzip(Arc::new(crate::gunzip::DecompressionStream));
    if PLATFORM_SIGNATURES {
        return platform.with_signatures(Arc::new(crate::signatures::WebCrypto));
    }
    platform
}

/// Outbound HTTP through `fetch`, never following redirects, cancelled when dropped.
#[derive(Debug)]
pub struct FetchClient;

/// Aborts the fetch (connection and body) when dropped: the core drops a backend call when its
/// timeout wins, and the backend must see the call go away. A fetch whose body was read to the
/// end is [disarmed](AbortOnDrop::disarm): aborting it changes nothing, and `abort()` (the
/// signal's event, the fetch's abort steps) was 8 % of the Worker's profiled time.
struct AbortOnDrop(Option<web_sys::AbortController>);

// === impl FetchClient ===

impl HttpClient for FetchClient {
    fn send(
        &self,
        request: BackendRequest,
        max_body: usize,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        self.send_reading(request, max_body, ReadHeaders::All)
    }

    /// The header lines `read` does not name are not made into map entries (in wasm, each
    /// took a copy of its value, a name check and an insert).
    fn send_reading(
        &self,
        request: BackendRequest,
        max_body: usize,
        read: ReadHeaders,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        Box::pin(async move {
            let (response, head, abort) = fetch(&request, read).await?;
            let answer = whole(response, head, max_body).await?;
            abort.disarm();
            Ok(answer)
        })
    }

    fn send_streaming(
        &self,
        request: BackendRequest,
        max_body: usize,
    ) -> BoxFuture<'static, Result<StreamedResponse, ClientError>> {
        Box::pin(async move {
            let (response, head, abort) = fetch(&request, ReadHeaders::All).await?;
            // The runtime decodes a compressed answer on its own and only the bytes tell
            // whether it did (`convert::runtime_decoded`): such an answer is read whole.
            let stream = response
                .body()
                .filter(|_| !head.headers.contains_key(CONTENT_ENCODING));
            let Some(stream) = stream else {
                let answer = whole(response, head, max_body).await?;
                abort.disarm();
                return Ok(answer.map(Body::Full));
            };
            // The fetch stays open (not aborted) for as long as the stream is read.
            let chunks = ByteStream::from(stream).map(move |chunk| {
                let _open = &abort;
                chunk.map(Bytes::from).map_err(protocol)
            });
            Ok(http::Response::from_parts(
                head,
                Body::Stream(Box::pin(chunks)),
            ))
        })
    }
}

/// Start `request`: the `fetch` response, its head checked (with the headers `read` asks
/// for), and the handle that aborts it.
async fn fetch(
    request: &BackendRequest,
    read: ReadHeaders,
) -> Result<(web_sys::Response, http::response::Parts, AbortOnDrop), ClientError> {
    let controller = web_sys::AbortController::new().map_err(failed)?;
    let init = to_js(request, &controller.signal()).map_err(failed)?;
    let abort = AbortOnDrop(Some(controller));
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let fetch = global.fetch_with_str_and_init(&request.uri().to_string(), &init);
    let response = JsFuture::from(fetch).await.and_then(|v| v.dyn_into());
    let response: web_sys::Response = response.map_err(failed)?;
    let lines = header_lines(&response.headers());
    let (headers, lines) = convert::headers_kept(&lines, |name| convert::reads(read, name));
    // hyper's limit natively: a head of more lines than a request may have is refused.
    if lines > MAX_HEADERS {
        let message = format!("more than {MAX_HEADERS} response header lines");
        return Err(ClientError::new(ClientErrorKind::Protocol, message));
    }
    let (mut head, ()) = http::Response::new(()).into_parts();
    head.status = StatusCode::from_u16(response.status())
        .map_err(|e| ClientError::new(ClientErrorKind::Protocol, e.to_string()))?;
    head.headers = headers;
    Ok((response, head, abort))
}

/// `response`'s whole body, read under `max_body`.
async fn whole(
    response: web_sys::Response,
    mut head: http::response::Parts,
    max_body: usize,
) -> Result<BackendResponse, ClientError> {
    // Refused as soon as it is known to exceed `max_body` (a declared length at once).
    let bounded = BoundedBody::response(&head.headers, max_body)?;
    let declared = head.headers.contains_key(CONTENT_LENGTH);
    let body = match response.body() {
        // A declared length (already checked against `max_body`) is what the runtime reads, so
        // `arrayBuffer()` holds no more than that: one promise and one copy, where reading the
        // stream costs a promise, a `Uint8Array` and two copies per chunk. An encoded body may
        // decode to more than its declared length: it is streamed, under the limit.
        Some(_) if declared && !head.headers.contains_key(CONTENT_ENCODING) => {
            let buffer = response.array_buffer().map_err(failed)?;
            let buffer = JsFuture::from(buffer).await.map_err(|e| protocol(e.into()))?;
            let bytes = Uint8Array::new(&buffer);
            if bytes.length() as usize > max_body {
                return Err(TooLarge { limit: max_body }.into());
            }
            Bytes::from(bytes.to_vec())
        }
        Some(stream) => bounded.collect(ByteStream::from(stream), protocol).await?,
        None => Bytes::new(),
    };
    let encoding = head
        .headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    if convert::runtime_decoded(encoding, &body) {
        head.headers.remove(CONTENT_ENCODING);
        head.headers.remove(CONTENT_LENGTH);
    }
    Ok(http::Response::from_parts(head, body))
}

/// The core's request as `fetch` options: manual redirects, the abort signal, no framing
/// headers (the runtime sets them), and no body on GET/HEAD (`fetch` rejects one).
fn to_js(
    request: &BackendRequest,
    signal: &web_sys::AbortSignal,
) -> Result<web_sys::RequestInit, JsValue> {
    // Method, headers and redirect mode cross as one JSON text (`convert::request_init_json`).
    let init = convert::request_init_json(request.method().as_str(), request.headers());
    let init: web_sys::RequestInit = js_sys::JSON::parse(&init)?.unchecked_into();
    init.set_signal(Some(signal));
    let body = request.body();
    if !body.is_empty() && !matches!(*request.method(), Method::GET | Method::HEAD) {
        init.set_body(&Uint8Array::from(&body[..]));
    }
    Ok(init)
}

/// A JS `Headers` as a `HeaderMap`; entries that are not valid HTTP are skipped. The entries
/// cross as one string (`convert::headers_from_lines`).
pub fn headers_from_js(headers: &web_sys::Headers) -> HeaderMap {
    convert::headers_from_lines(&header_lines(headers))
}

/// The entries of `headers` as `name,value` lines, read with one JS call.
fn header_lines(headers: &web_sys::Headers) -> String {
    String::from(Array::from(headers).join("\n"))
}

/// A `ResponseInit` for `new Response`: status, headers without the framing ones and
/// `encodeBody: "manual"`, crossing as one JSON text (`convert::response_init_json`) instead of
/// a `Headers.append` per header.
pub fn response_init(
    status: StatusCode,
    headers: &HeaderMap,
) -> Result<web_sys::ResponseInit, JsValue> {
    let init = convert::response_init_json(status, headers);
    Ok(js_sys::JSON::parse(&init)?.unchecked_into())
}

/// A `HeaderMap` as a JS `Headers`, without the framing headers.
pub fn headers_to_js(map: &HeaderMap) -> Result<web_sys::Headers, JsValue> {
    let headers = web_sys::Headers::new()?;
    for (name, value) in map.iter().filter(|(name, _)| convert::crosses(name)) {
        headers.append(name.as_str(), &convert::byte_string(value))?;
    }
    Ok(headers)
}

/// A `fetch` that failed before an answer: the runtime does not tell a refused connection from
/// a reset one.
fn failed(error: JsValue) -> ClientError {
    let message = worker::Error::from(error).to_string();
    ClientError::new(ClientErrorKind::Connect, message)
}

/// A response that broke off or made no sense.
fn protocol(error: worker::Error) -> ClientError {
    ClientError::new(ClientErrorKind::Protocol, error.to_string())
}

// === impl AbortOnDrop ===

impl AbortOnDrop {
    /// The fetch is over (its body read to the end): nothing left to abort.
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(controller) = &self.0 {
            controller.abort();
        }
    }
}
