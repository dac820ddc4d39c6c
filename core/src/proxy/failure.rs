//! `manifold/failure` in the proxy stack: a **required** backend (or every backend of an
//! all-or-nothing endpoint) failing fails the whole endpoint, instead of the partial 200
//! KrakenD answers. The merge and the sequential chain ask [`Required::fail`] to turn such a
//! failure into the endpoint's error: the backend's status, and its body when the backend
//! asks for it (`return_error_details`: the `error_<alias>` object; `return_error_code`: the
//! body as the backend sent it).

use bytes::Bytes;
use http::HeaderValue;

use super::{error_details, ErrorSource, ProxyError, SharedProxy};
use crate::config::{Backend, Endpoint};
use crate::json::{Map, Value};

/// How a required backend's failure becomes the endpoint's answer.
#[derive(Debug, Clone)]
pub(crate) struct Required {
    /// `return_error_details`: the body is `{"error_<alias>": {...}}`.
    details_key: Option<String>,
    /// `return_error_code`: the body is the backend's own.
    pass_body: bool,
}

/// One backend as the merge and the sequential chain see it.
#[derive(Clone)]
pub(crate) struct Member {
    /// The backend's stack.
    pub(crate) proxy: SharedProxy,
    /// Set when its failure fails the endpoint.
    pub(crate) required: Option<Required>,
}

// === impl Required ===

impl Required {
    /// The policy of `backend` in `endpoint`: `None` when its failure only makes the answer
    /// partial (KrakenD's behaviour).
    pub(crate) fn of(endpoint: &Endpoint, backend: &Backend) -> Option<Self> {
        (backend.required || endpoint.failure.all_or_nothing).then(|| Self {
            details_key: backend
                .http
                .return_error_details
                .as_ref()
                .map(|alias| format!("error_{alias}")),
            pass_body: backend.http.return_error_code,
        })
    }

    /// The endpoint's error for this backend's failure `e` (a timeout or a transport error
    /// has no status: the endpoint answers 500, as for any other failure).
    pub(crate) fn fail(&self, e: ProxyError) -> ProxyError {
        let (body, content_type) = match (&self.details_key, e.status) {
            (Some(key), Some(_)) => {
                let mut data = Map::new();
                data.insert(key.clone().into(), Value::Object(error_details::detail(&e)));
                (
                    Bytes::from(Value::Object(data).to_json()),
                    Some(HeaderValue::from_static(crate::http_util::JSON)),
                )
            }
            (None, Some(_)) if self.pass_body => (e.body.clone(), e.content_type.clone()),
            _ => (Bytes::new(), None),
        };
        ProxyError {
            source: ErrorSource::Required,
            message: e.message,
            status: e.status,
            body,
            content_type,
        }
    }
}

/// The proxy of an endpoint's only answering backend: its failure is already the endpoint's,
/// a required one answers with the backend's status and body as in a merge.
pub(crate) fn single(member: Member) -> SharedProxy {
    let Member { proxy, required } = member;
    let Some(required) = required else {
        return proxy;
    };
    super::proxy_fn(move |request| {
        let (proxy, required) = (proxy.clone(), required.clone());
        Box::pin(async move { proxy.call(request).await.map_err(|e| required.fail(e)) })
    })
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}
