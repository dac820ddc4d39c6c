//! `bootstrap`: the Lambda entry point. Builds the gateway once per cold start (its `Arc` is
//! moved into the handler; no statics), then serves events until the sandbox is frozen.

use std::sync::Arc;
use std::time::Instant;

use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::{service_fn, Adapter, Request, Service};
use manifold_lambda::{check_base64_body, handle, keep_multi_value_headers, load};

// stderr is the only log channel before (and besides) the runtime: it goes to CloudWatch.
// Instant::now is banned for the core (no clock on wasm32); here it only times the init.
#[allow(clippy::print_stderr, clippy::disallowed_methods)]
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let started = Instant::now();
    let (source, gateway) = load(
        &|name| std::env::var(name).ok(),
        manifold_native::platform()?,
    );
    let gateway =
        gateway.inspect_err(|e| eprintln!("manifold-lambda: cannot start: {source}: {e}"))?;
    eprintln!(
        "manifold-lambda {}: {} endpoint(s) from {source}, gateway ready in {} µs",
        manifold_core::VERSION,
        gateway.config().endpoints.len(),
        started.elapsed().as_micros()
    );
    let gateway = Arc::new(gateway);
    let adapter = Adapter::from(service_fn(move |event: Request| {
        handle(gateway.clone(), event)
    }));
    // lambda_http::run, with two steps in front that must see the raw event: the v1 header fix
    // and the base64 check.
    lambda_runtime::run(service_fn(move |mut event: LambdaEvent<LambdaRequest>| {
        keep_multi_value_headers(&mut event.payload);
        let (checked, mut adapter) = (check_base64_body(&event.payload), adapter.clone());
        async move {
            checked?;
            adapter.call(event).await
        }
    }))
    .await
}
