//! The `HttpClient` port on the global `fetch`.
//!
//! Workers open at most 6 connections per incoming request and queue the rest themselves. This
//! client adds no limit of its own: it is shared by every request the isolate serves, so a
//! semaphore here would cap the whole isolate instead of one request. It reads each body to the
//! end (or aborts it) right away, so queued fetches never wait on an idle open response.

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use http::{HeaderMap, Method, StatusCode};
use manifold_core::platform::{BackendRequest, BackendResponse, ClientError, ClientErrorKind};
use manifold_core::{BoxFuture, HttpClient};
use worker::js_sys::{self, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{web_sys, ByteStream};

use crate::convert;

/// Outbound HTTP through `fetch`, never following redirects, cancelled when dropped.
pub(crate) struct FetchClient;

/// Aborts the fetch (connection and body) when dropped before [`AbortOnDrop::disarm`]: the core
/// drops a backend call when its timeout wins, and the backend must see the call go away.
struct AbortOnDrop(Option<web_sys::AbortController>);

// === impl FetchClient ===

impl HttpClient for FetchClient {
    fn send(
        &self,
        request: BackendRequest,
        max_body: usize,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        Box::pin(async move {
            let abort = AbortOnDrop::new()?;
            let js_request = to_js(&request, &abort.signal()).map_err(|e| connect(&e))?;
            let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
            let response: web_sys::Response =
                JsFuture::from(global.fetch_with_request(&js_request))
                    .await
                    .and_then(|v| v.dyn_into())
                    .map_err(|e| connect(&e))?;
            let status = StatusCode::from_u16(response.status())
                .map_err(|e| ClientError::new(ClientErrorKind::Protocol, e.to_string()))?;
            let mut headers = headers_from_js(&response.headers());
            let body = read_bounded(&response, &headers, max_body).await?;
            abort.disarm();
            let encoding = headers.get(CONTENT_ENCODING).and_then(|v| v.to_str().ok());
            if convert::runtime_decoded(encoding, &body) {
                headers.remove(CONTENT_ENCODING);
                headers.remove(CONTENT_LENGTH);
            }
            let mut out = http::Response::new(body);
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok(out)
        })
    }
}

/// The core's request as a JS `Request`: manual redirects, the abort signal, no framing
/// headers (the runtime sets them), and no body on GET/HEAD (`fetch` rejects one).
fn to_js(
    request: &BackendRequest,
    signal: &web_sys::AbortSignal,
) -> Result<web_sys::Request, JsValue> {
    let init = web_sys::RequestInit::new();
    init.set_method(request.method().as_str());
    let headers = headers_to_js(request.headers())?;
    init.set_headers(&headers);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    init.set_signal(Some(signal));
    let body = request.body();
    if !body.is_empty() && !matches!(*request.method(), Method::GET | Method::HEAD) {
        init.set_body(&Uint8Array::from(&body[..]));
    }
    web_sys::Request::new_with_str_and_init(&request.uri().to_string(), &init)
}

/// Read the body, failing with `BodyTooLarge` as soon as it is known to exceed `max_body`.
async fn read_bounded(
    response: &web_sys::Response,
    headers: &HeaderMap,
    max_body: usize,
) -> Result<Bytes, ClientError> {
    let too_large = || {
        ClientError::new(
            ClientErrorKind::BodyTooLarge,
            format!("response body larger than {max_body} bytes"),
        )
    };
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok());
    if convert::declared_too_large(declared, max_body) {
        return Err(too_large());
    }
    let Some(stream) = response.body() else {
        return Ok(Bytes::new());
    };
    let mut chunks = ByteStream::from(stream);
    let mut buf = BytesMut::new();
    while let Some(chunk) = chunks.next().await {
        let chunk =
            chunk.map_err(|e| ClientError::new(ClientErrorKind::Protocol, e.to_string()))?;
        if buf.len() + chunk.len() > max_body {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// A JS `Headers` as a `HeaderMap`; entries that are not valid HTTP are skipped.
pub(crate) fn headers_from_js(headers: &web_sys::Headers) -> HeaderMap {
    let mut map = HeaderMap::new();
    for entry in headers.entries().into_iter().flatten() {
        let pair = js_sys::Array::from(&entry);
        let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) else {
            continue;
        };
        if let Some((name, value)) = convert::header(&name, &value) {
            map.append(name, value);
        }
    }
    map
}

/// A `HeaderMap` as a JS `Headers`, without the framing headers.
pub(crate) fn headers_to_js(map: &HeaderMap) -> Result<web_sys::Headers, JsValue> {
    let headers = web_sys::Headers::new()?;
    for (name, value) in map.iter().filter(|(name, _)| convert::crosses(name)) {
        headers.append(name.as_str(), &convert::byte_string(value))?;
    }
    Ok(headers)
}

/// A failed `fetch`: the runtime does not tell a refused connection from a reset one.
fn connect(error: &JsValue) -> ClientError {
    let message = error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "fetch failed".to_owned());
    ClientError::new(ClientErrorKind::Connect, message)
}

// === impl AbortOnDrop ===

impl AbortOnDrop {
    fn new() -> Result<Self, ClientError> {
        web_sys::AbortController::new()
            .map(|c| Self(Some(c)))
            .map_err(|e| connect(&e))
    }

    fn signal(&self) -> web_sys::AbortSignal {
        match &self.0 {
            Some(c) => c.signal(),
            None => web_sys::AbortSignal::abort(),
        }
    }

    /// The call finished: nothing left to cancel.
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(controller) = self.0.take() {
            controller.abort();
        }
    }
}
