//! The fetch entry point, the per-isolate Gateway, and the time ports.

use std::cell::OnceCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use manifold_core::platform::Defer;
use manifold_core::{BoxFuture, Clock, Gateway, Platform, RequestContext, Sleep};
use worker::{event, Context, Date, Delay, EncodeBody, Env, Request, Response, ResponseBuilder};

use crate::convert;
use crate::fetch::{headers_from_js, headers_to_js, FetchClient};

/// The gateway config, placeholders expanded, embedded by `build.rs` after it compiled it.
const CONFIG: &str = include_str!(concat!(env!("OUT_DIR"), "/gateway.json"));

thread_local! {
    // One Gateway per isolate, built at its first request. Not a `static OnceLock`: on wasm32
    // the Gateway is deliberately not `Sync`, and an isolate is single-threaded anyway.
    static GATEWAY: OnceCell<Rc<Gateway>> = const { OnceCell::new() };
}

/// `Date.now()` and `setTimeout`.
struct JsTime;

/// This request's `ctx.wait_until`: after-response work (shadow backends) runs to completion
/// under the request that started it.
struct WaitUntil(Context);

// === impl JsTime ===

impl Clock for JsTime {
    fn now_millis(&self) -> u64 {
        Date::now().as_millis()
    }
}

impl Sleep for JsTime {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let millis = convert::timer_millis(duration);
        Box::pin(Delay::from(Duration::from_millis(millis)))
    }
}

// === impl WaitUntil ===

impl Defer for WaitUntil {
    fn defer(&self, work: BoxFuture<'static, ()>) {
        self.0.wait_until(work);
    }
}

/// The isolate's gateway, compiled on first use. The config was validated at build time, so
/// the error branch is only reachable if build.rs and the Worker disagree.
fn gateway() -> Result<Rc<Gateway>, String> {
    GATEWAY.with(|cell| {
        if let Some(gateway) = cell.get() {
            return Ok(Rc::clone(gateway));
        }
        let platform = Platform::new(Arc::new(FetchClient), Arc::new(JsTime), Arc::new(JsTime));
        let gateway = Gateway::from_json(CONFIG, platform).map_err(|e| e.to_string())?;
        Ok(Rc::clone(cell.get_or_init(|| Rc::new(gateway))))
    })
}

/// One request. Work the core defers while answering goes to this request's `ctx.wait_until`.
#[event(fetch)]
async fn fetch(req: Request, _env: Env, ctx: Context) -> worker::Result<Response> {
    let gateway = match gateway() {
        Ok(gateway) => gateway,
        Err(e) => return Response::error(e, 500),
    };
    let peer = req.headers().get("cf-connecting-ip").ok().flatten();
    let context = RequestContext::new()
        .with_peer(convert::client_ip(peer.as_deref()))
        .with_defer(Arc::new(WaitUntil(ctx)));
    let request = match into_core(req).await {
        Ok(request) => request,
        Err(e) => return Response::error(format!("bad request: {e}"), 400),
    };
    from_core(gateway.handle(request, context).await)
}

/// The platform's request as the core's: origin-form target (as a server sees it), every
/// header that is valid, the whole body.
async fn into_core(mut req: Request) -> Result<http::Request<Bytes>, String> {
    let method = req.inner().method();
    let url: http::Uri = req.inner().url().parse().map_err(|e| format!("{e}"))?;
    let target = url.path_and_query().map_or("/", |p| p.as_str());
    let mut request = http::Request::builder()
        .method(method.as_str())
        .uri(target)
        .body(Bytes::new())
        .map_err(|e| e.to_string())?;
    *request.headers_mut() = headers_from_js(&req.inner().headers());
    *request.body_mut() = Bytes::from(req.bytes().await.map_err(|e| e.to_string())?);
    Ok(request)
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
