//! `proxy.static`: data shallow-merged over the response (static keys win) when the
//! strategy's condition holds. With no response at all (every backend failed) the static
//! data becomes the response, incomplete, which the renderer turns into a 200 (as KrakenD).

use std::sync::Arc;

use super::{Proxy, ProxyError, ProxyRequest, ProxyResponse, SharedProxy};
use crate::config::extra::{StaticResponse, StaticStrategy};
use crate::platform::BoxFuture;

struct Static {
    config: StaticResponse,
    next: SharedProxy,
}

/// Wrap `next` with the endpoint's static data.
pub(crate) fn layer(config: StaticResponse, next: SharedProxy) -> SharedProxy {
    Arc::new(Static { config, next })
}

/// lura's matchers. "errored" is true when any backend failed, also when others answered
/// (lura returns the merge error next to the partial response).
fn applies(strategy: StaticStrategy, result: &Result<ProxyResponse, ProxyError>) -> bool {
    let (errored, complete) = match result {
        Ok(r) => (r.errored, r.is_complete),
        Err(_) => (true, false),
    };
    match strategy {
        StaticStrategy::Always => true,
        StaticStrategy::Success => !errored,
        StaticStrategy::Complete => !errored && complete,
        StaticStrategy::Errored => errored,
        StaticStrategy::Incomplete => !complete,
    }
}

impl Proxy for Static {
    fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
        Box::pin(async move {
            let result = self.next.call(request).await;
            if !applies(self.config.strategy, &result) {
                return result;
            }
            let data = self.config.data.clone();
            Ok(match result {
                Ok(mut response) => {
                    response.data.extend(data);
                    response
                }
                Err(_) => ProxyResponse {
                    data,
                    is_complete: false,
                    errored: true,
                    ..Default::default()
                },
            })
        })
    }
}
