//! `backend/http.return_error_details`: a backend that answered with an error status becomes
//! `{"error_<alias>": {...}}` in the response (which is then incomplete) instead of failing.

use std::sync::Arc;

use super::{Proxy, ProxyError, ProxyRequest, ProxyResponse, SharedProxy};
use crate::json::{Map, Value};
use crate::platform::BoxFuture;

struct ErrorDetails {
    key: String,
    next: SharedProxy,
}

/// Wrap `next` so its status errors are reported as data under `error_<alias>`.
pub(crate) fn layer(alias: &str, next: SharedProxy) -> SharedProxy {
    Arc::new(ErrorDetails {
        key: format!("error_{alias}"),
        next,
    })
}

impl Proxy for ErrorDetails {
    fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
        Box::pin(async move {
            match self.next.call(request).await {
                Err(e) if e.status.is_some() => {
                    let mut data = Map::new();
                    data.insert(self.key.clone().into(), Value::Object(detail(&e)));
                    Ok(ProxyResponse {
                        data,
                        is_complete: false,
                        errored: true,
                        ..Default::default()
                    })
                }
                other => other,
            }
        })
    }
}

/// The `{"http_status_code", "http_body", "http_body_encoding"}` object for a backend's
/// error answer (body and encoding left out when empty, as KrakenD).
pub(crate) fn detail(e: &ProxyError) -> Map {
    let mut detail = Map::new();
    if let Some(status) = e.status {
        detail.insert(
            "http_status_code".into(),
            Value::from(u64::from(status.as_u16())),
        );
    }
    if !e.body.is_empty() {
        detail.insert(
            "http_body".into(),
            Value::String(String::from_utf8_lossy(&e.body).into_owned().into()),
        );
    }
    if let Some(ct) = e
        .content_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
    {
        detail.insert(
            "http_body_encoding".into(),
            Value::String(ct.to_owned().into()),
        );
    }
    detail
}
