//! `validation/json-schema`: the request body must be JSON satisfying the endpoint's schema,
//! or the request is refused with 400 before any backend is called.

use std::sync::Arc;

use super::{proxy_fn, ErrorSource, ProxyError, SharedProxy};
use crate::json_schema::JsonSchema;

/// Validate the body, then call `next`.
pub(crate) fn layer(schema: Arc<JsonSchema>, next: SharedProxy) -> SharedProxy {
    proxy_fn(move |request| {
        let schema = schema.clone();
        let next = next.clone();
        Box::pin(async move {
            let valid = crate::json::parse(&request.body).is_ok_and(|v| schema.is_valid(&v));
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
