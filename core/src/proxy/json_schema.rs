//! `validation/json-schema`: the request body must be JSON satisfying the endpoint's schema,
//! or the request is refused with 400 before any backend is called.

use std::sync::Arc;

use super::{proxy_fn, ErrorSource, ProxyError, SharedProxy};
use crate::json_schema::JsonSchema;

/// Validate the body, then call `next`; `problems`: refuse with an RFC 9457 body
/// (`manifold/failure.problem_details`).
pub(crate) fn layer(schema: Arc<JsonSchema>, next: SharedProxy, problems: bool) -> SharedProxy {
    proxy_fn(move |request| {
        let schema = schema.clone();
        let next = next.clone();
        Box::pin(async move {
            let parsed = crate::json::parse(&request.body);
            if problems {
                let violations = parsed.as_ref().ok().map(|v| schema.violations(v));
                return match violations.as_deref() {
                    Some([]) => next.call(request).await,
                    other => Err(super::problem::json_schema(other)),
                };
            }
            let valid = parsed.is_ok_and(|v| schema.is_valid(&v));
            if !valid {
                return Err(ProxyError::new(
                    ErrorSource::Request,
                    "the request body does not match the endpoint's JSON schema",
                ));
            }
            next.call(request).await
        })
    })
}
