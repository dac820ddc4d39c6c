//! `bootstrap`: the Lambda entry point. Builds the gateway once per cold start (its `Arc` is
//! moved into the handler; no statics), then serves events until the sandbox is frozen.

use std::{sync::Arc, time::Instant};

use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::{request::LambdaRequest, service_fn, Adapter, Request, Service};
use manifold_core::{config::load::LoadError, Gateway};
use manifold_lambda::{handle, keep_multi_value_headers, CONFIG_OVERRIDE_VAR, EMBEDDED};

// stderr is the only log channel before (and besides) the runtime: it goes to CloudWatch.
// Instant::now is banned for the core (no clock on wasm32); here it only times the init.
#[allow(clippy::print_stderr, clippy::disallowed_methods)]
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let started = Instant::now();
    // The embedded config, or the file named by MANIFOLD_LAMBDA_CONFIG (docs/lambda.md), with
    // its `${env:NAME}` from the environment: one that is not set fails the init, named.
    let env = |var: &str| std::env::var(var).ok();
    let (source, config) = manifold_native::load_or_embedded(CONFIG_OVERRIDE_VAR, EMBEDDED, env);
    let fail = |e: &LoadError| eprintln!("manifold-lambda: cannot start: {source}: {e}");
    let config = config.inspect_err(fail)?;
    // The backend client honours `client_tls` (its files were embedded at build time); the
    // access log as JSON lines on stdout, spans sent before each event returns.
    let platform =
        manifold_native::otel::serverless(manifold_native::platform_for(&config)?, &config);
    let gateway = Arc::new(Gateway::new(config, platform));
    let (endpoints, init) = (
        gateway.config().endpoints.len(),
        started.elapsed().as_micros(),
    );
    let ready = format!("{endpoints} endpoint(s) from {source}, gateway ready in {init} µs");
    eprintln!("manifold-lambda {}: {ready}", manifold_core::VERSION);
    let adapter = Adapter::from(service_fn(move |e: Request| handle(gateway.clone(), e)));
    // lambda_http::run, with one step in front: the v1 header fix must see the raw event.
    lambda_runtime::run(service_fn(move |mut event: LambdaEvent<LambdaRequest>| {
        keep_multi_value_headers(&mut event.payload);
        adapter.clone().call(event)
    }))
    .await
}
