//! A tiny Lambda function for scripts/lambda-backend.sh: `cargo lambda watch -p
//! manifold-tests --bin invoke-target` serves it through the local Invoke API, and a Manifold endpoint with a
//! `backend/lambda` backend calls it. It answers what it received, so the script can check
//! the payload; a payload with `"fail": "yes"` makes it fail (a function error).

use lambda_http::lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let payload = event.payload;
    if payload.get("fail").and_then(Value::as_str) == Some("yes") {
        return Err("asked to fail".into());
    }
    Ok(json!({ "function": "invoke-target", "received": payload }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(handle)).await
}
