//! The fetch entry point and the per-isolate Gateway.

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt};
use http::StatusCode;
use manifold_core::config::load::{self, LoadError};
use manifold_core::{forwarded_peer, head_too_large, plain, BoxFuture, Gateway, RequestContext};
use manifold_worker_ports::{convert, headers_from_js, headers_to_js, platform};
use worker::{event, ByteStream, Context, EncodeBody, Env, Request, Response, ResponseBuilder};

/// The gateway config, placeholders expanded, embedded by `build.rs` after it validated it.
const CONFIG: &str = include_str!(concat!(env!("OUT_DIR"), "/gateway.json"));

/// A request body as the chunks the runtime delivers.
type Chunks = std::pin::Pin<Box<dyn Stream<Item = worker::Result<Vec<u8>>>>>;

thread_local! {
    // One Gateway per isolate, built at its first request. Not a `static OnceLock`: on wasm32
    // the Gateway is deliberately not `Sync`, and an isolate is single-threaded anyway. The
    // config was validated at build time, so the error is only reachable if build.rs and the
    // Worker disagree.
    static GATEWAY: Result<Rc<Gateway>, String> = build().map_err(|e| e.to_string());
}

/// The isolate's gateway: the embedded config through the core's loader (a Worker has no
/// process environment to override it from) on the Workers ports.
fn build() -> Result<Rc<Gateway>, LoadError> {
    let config = load::load_expanded(CONFIG, |_| None)?;
    Ok(Rc::new(Gateway::new(config, platform())))
}

/// One request, its body streamed into the core under the body limit. Work the core defers
/// while answering (shadow backends) goes to this request's `ctx.wait_until`, so it runs to
/// completion under the request that started it.
#[event(fetch)]
async fn fetch(req: Request, _env: Env, ctx: Context) -> worker::Result<Response> {
    let response = match (GATEWAY.with(Clone::clone), into_core(&req)) {
        (Err(e), _) => plain(StatusCode::INTERNAL_SERVER_ERROR, e),
        (_, Err(answer)) => answer,
        (Ok(gateway), Ok((request, https))) => {
            let defer = move |work: BoxFuture<'static, ()>| ctx.wait_until(work);
            let context = RequestContext::new()
                .with_peer(forwarded_peer(request.headers(), "cf-connecting-ip"))
                .with_https(https)
                .with_defer(Arc::new(defer));
            gateway.serve(request, context).await
        }
    };
    from_core(response)
}

/// The platform's request as the core's: origin-form target (as a server sees it), every
/// header that is valid, the body still to be read; and whether the client used HTTPS (the
/// request URL keeps the scheme the client reached Cloudflare with).
fn into_core(req: &Request) -> Result<(http::Request<Chunks>, bool), http::Response<Bytes>> {
    let url = req.inner().url();
    let bad = |e: String| plain(StatusCode::BAD_REQUEST, format!("bad request: {e}\n"));
    // http::Uri holds at most 65 534 bytes: a longer URL is a head over any sane limit.
    let url: http::Uri = match url.parse() {
        Err(_) if url.len() > 65_534 => return Err(head_too_large()),
        parsed => parsed.map_err(|e: http::uri::InvalidUri| bad(e.to_string()))?,
    };
    let body: Chunks = match req.inner().body() {
        Some(body) => ByteStream::from(body).boxed_local(),
        None => stream::empty().boxed_local(),
    };
    let mut request = http::Request::builder()
        .method(req.inner().method().as_str())
        .uri(url.path_and_query().map_or("/", |p| p.as_str()))
        .body(body)
        .map_err(|e| bad(e.to_string()))?;
    *request.headers_mut() = headers_from_js(&req.inner().headers());
    Ok((request, url.scheme_str() == Some("https")))
}

/// The core's response as the platform's. Framing headers are left to the runtime; the body
/// is sent as the core made it (`encodeBody: "manual"`: the runtime must not compress it again
/// because of a `Content-Encoding` header the core passed through).
fn from_core(response: http::Response<Bytes>) -> worker::Result<Response> {
    let (parts, body) = response.into_parts();
    let builder = ResponseBuilder::new()
        .with_status(parts.status.as_u16())
        .with_headers(worker::Headers(headers_to_js(&parts.headers)?))
        .with_encode_body(EncodeBody::Manual);
    Ok(if body.is_empty() || convert::null_body(parts.status) {
        builder.empty()
    } else {
        builder.fixed(body.to_vec())
    })
}
