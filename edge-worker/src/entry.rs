//! The fetch entry point and the per-isolate Gateway.

use std::cell::OnceCell;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt};
use http::StatusCode;
use manifold_core::config::capability::SHARED_STORES;
use manifold_core::config::load::LoadError;
use manifold_core::{
    forwarded_peer, head_too_large, plain, Body, BoxFuture, Gateway, RequestContext,
};
#[cfg(feature = "websocket")]
use manifold_worker_ports::websocket::{self, Upgraded};
use manifold_worker_ports::{
    convert, headers_from_js, headers_to_js, observed, platform, response_init, WorkerStores,
};
use worker::{console_error, event, web_sys, ByteStream, Context, EncodeBody, Env};
use worker::ResponseBuilder;

// `gateway_config(lookup)`: the config `build.rs` validated, compiled in as code when it can
// be (no decoder in the module), else its text (`${VAR}` expanded, the run-time `${env:NAME}`
// placeholders still in it) decoded at start (manifold_build::config_source).
include!(concat!(env!("OUT_DIR"), "/config.rs"));

/// A request body as the chunks the runtime delivers.
type Chunks = std::pin::Pin<Box<dyn Stream<Item = worker::Result<Vec<u8>>>>>;

thread_local! {
    // One Gateway per isolate, built at its first request: only a request brings the `env`
    // (vars and secrets, fixed for the isolate's life). Not a `static OnceLock`: on wasm32 the
    // Gateway is deliberately not `Sync`, and an isolate is single-threaded anyway. An error
    // (a variable the config reads at start is not set) is kept too: every request answers 500.
    static GATEWAY: OnceCell<Result<Rc<Gateway>, String>> = const { OnceCell::new() };
}

/// The isolate's gateway: the embedded config through the core's loader, its `${env:NAME}`
/// placeholders and `MANIFOLD_*` overrides from the Worker's vars and secrets, on the Workers
/// ports. The error names a missing variable, never a value.
fn build(env: &Env) -> Result<Rc<Gateway>, LoadError> {
    let config = gateway_config(|name| env.var(name).ok().map(|v| v.to_string()))?;
    // `backend/lambda` reads the AWS credentials from the Worker's secrets (or vars).
    let vars = env.clone();
    let env_var = move |name: &str| {
        let value = vars.secret(name).or_else(|_| vars.var(name)).ok();
        value.map(|v| v.to_string())
    };
    let mut platform = platform().with_env(Arc::new(env_var));
    // Only a build with a capability that uses them (a constant): attached stores keep the
    // Durable Object, Cache API and KV clients linked through their vtables, whether or not a
    // config of this build could ever reach them.
    if SHARED_STORES {
        platform = platform.with_stores(Arc::new(WorkerStores::new(env.clone())));
    }
    let platform = observed(platform, &config);
    Ok(Rc::new(Gateway::new(config, platform)))
}

/// One request, its body streamed into the core under the body limit. Work the core defers
/// while answering (shadow backends) goes to this request's `ctx.wait_until`, so it runs to
/// completion under the request that started it.
///
/// The handler takes and gives the runtime's own `Request` and `Response`: workers-rs's
/// wrappers read the method, URL, headers and `cf` of every request up front, and build the
/// answer's `Headers` and body through a second copy; the conversions below cross once.
#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    let start = || build(&env).map_err(|e| format!("manifold: cannot start: {e}\n"));
    let gateway = GATEWAY.with(|g| g.get_or_init(start).clone());
    let response = match (
        gateway.inspect_err(|e| console_error!("{e}")),
        into_core(&req),
    ) {
        (Err(e), _) => plain(StatusCode::INTERNAL_SERVER_ERROR, e).map(Body::Full),
        (_, Err(answer)) => answer.map(Body::Full),
        (Ok(gateway), Ok((request, https))) => {
            // A WebSocket upgrade on a `websocket` endpoint: relayed, or refused as any request.
            // Only in a build with `websocket` (without it no endpoint is a `websocket` one):
            // an `.await` is a state of this future whose resuming code stays linked behind
            // any run-time or constant test, so the step is compiled out instead.
            #[cfg(feature = "websocket")]
            let request = {
                let peer = forwarded_peer(request.headers(), "cf-connecting-ip");
                let context = || RequestContext::new().with_peer(peer).with_https(https);
                match websocket::upgrade(&gateway, request, context).await {
                    Upgraded::Pass(request) => request,
                    Upgraded::Refused(answer) => return from_core(answer.map(Body::Full)),
                    Upgraded::Socket(socket) => return Ok(socket.into()),
                }
            };
            let defer = move |work: BoxFuture<'static, ()>| ctx.wait_until(work);
            let context = RequestContext::new()
                .with_peer(forwarded_peer(request.headers(), "cf-connecting-ip"))
                .with_https(https)
                .with_defer(Arc::new(defer));
            gateway.serve_streaming(request, context).await
        }
    };
    from_core(response)
}

/// The platform's request as the core's: origin-form target (as a server sees it), every
/// header that is valid, the body still to be read; and whether the client used HTTPS (the
/// request URL keeps the scheme the client reached Cloudflare with).
fn into_core(
    req: &web_sys::Request,
) -> Result<(http::Request<Chunks>, bool), http::Response<Bytes>> {
    let url = req.url();
    let bad = |e: String| plain(StatusCode::BAD_REQUEST, format!("bad request: {e}\n"));
    // http::Uri holds at most 65 534 bytes: a longer URL is a head over any sane limit.
    let url: http::Uri = match url.parse() {
        Err(_) if url.len() > 65_534 => return Err(head_too_large()),
        parsed => parsed.map_err(|e: http::uri::InvalidUri| bad(e.to_string()))?,
    };
    let body: Chunks = match req.body() {
        Some(body) => ByteStream::from(body).boxed_local(),
        None => stream::empty().boxed_local(),
    };
    let mut request = http::Request::builder()
        .method(req.method().as_str())
        .uri(url.path_and_query().map_or("/", |p| p.as_str()))
        .body(body)
        .map_err(|e| bad(e.to_string()))?;
    *request.headers_mut() = headers_from_js(&req.headers());
    Ok((request, url.scheme_str() == Some("https")))
}

/// The core's response as the platform's. Framing headers are left to the runtime; the body
/// is sent as the core made it (`encodeBody: "manual"`: the runtime must not compress it again
/// because of a `Content-Encoding` header the core passed through). A streamed body becomes a
/// `ReadableStream` fed as the backend's chunks arrive; a chunk error aborts it. A whole body
/// is handed to `new Response` as a view of the module's memory, which the constructor copies
/// (the one copy), with status and head as one `ResponseInit` (`response_init`).
fn from_core(response: http::Response<Body>) -> worker::Result<web_sys::Response> {
    let (parts, body) = response.into_parts();
    let body = match body {
        Body::Stream(chunks) if !convert::null_body(parts.status) => {
            let chunks = chunks.map(|c| {
                c.map(Vec::from)
                    .map_err(|e| worker::Error::RustError(e.message))
            });
            let builder = ResponseBuilder::new()
                .with_status(parts.status.as_u16())
                .with_headers(worker::Headers(headers_to_js(&parts.headers)?))
                .with_encode_body(EncodeBody::Manual);
            return Ok(builder.from_stream(chunks)?.into());
        }
        Body::Stream(_) => Bytes::new(),
        Body::Full(body) => body,
    };
    let init = response_init(parts.status, &parts.headers)?;
    let response = if body.is_empty() || convert::null_body(parts.status) {
        web_sys::Response::new_with_opt_str_and_init(None, &init)
    } else {
        // `Vec::from` takes the allocation of a `Bytes` it owns alone, without a copy.
        let mut body = Vec::from(body);
        web_sys::Response::new_with_opt_u8_array_and_init(Some(&mut body), &init)
    };
    Ok(response?)
}
