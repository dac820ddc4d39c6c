//! Parallel fan-out and merge. Every backend runs concurrently under its own deadline (85 % of
//! the endpoint timeout, as lura); the answers are merged shallowly **in declaration order**,
//! so on a key collision the later-declared backend wins whatever the arrival order (KrakenD
//! lets the slowest win, which is not deterministic).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::failure::Member;
use super::{ErrorSource, Proxy, ProxyError, ProxyRequest, ProxyResponse, SharedProxy};
use crate::platform::{BoxFuture, Platform};

/// Share of the endpoint timeout each merged backend gets, leaving time to merge, shape and
/// render a partial answer before the endpoint deadline (lura's `85*Timeout/100`).
pub(crate) const MERGE_TIMEOUT_PERCENT: u32 = 85;

struct Merge {
    backends: Vec<Member>,
    budget: Duration,
    platform: Platform,
}

/// Fan out to `backends` and merge their answers.
pub(crate) fn layer(
    backends: Vec<Member>,
    endpoint_timeout: Duration,
    platform: Platform,
) -> SharedProxy {
    let budget = endpoint_timeout * MERGE_TIMEOUT_PERCENT / 100;
    Arc::new(Merge {
        backends,
        budget,
        platform,
    })
}

impl Proxy for Merge {
    fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
        Box::pin(async move {
            let calls = self.backends.iter().map(|b| {
                let request = request.clone();
                async move {
                    self.platform
                        .timeout(self.budget, b.proxy.call(request))
                        .await
                        .unwrap_or_else(|| Err(ProxyError::timeout()))
                }
            });
            if self.backends.iter().all(|b| b.required.is_none()) {
                return merge_in_order(join_all(calls).await);
            }
            // `manifold/failure`: the first required backend to fail ends the request (the
            // other calls are dropped, so cancelled); otherwise merge as usual.
            let mut pending: FuturesUnordered<_> = calls
                .enumerate()
                .map(|(i, call)| async move { (i, call.await) })
                .collect();
            let mut results: Vec<Option<Result<ProxyResponse, ProxyError>>> =
                self.backends.iter().map(|_| None).collect();
            while let Some((i, result)) = pending.next().await {
                match (
                    result,
                    self.backends.get(i).and_then(|b| b.required.as_ref()),
                ) {
                    (Err(e), Some(required)) => return Err(required.fail(e)),
                    (result, _) => {
                        if let Some(slot) = results.get_mut(i) {
                            *slot = Some(result);
                        }
                    }
                }
            }
            merge_in_order(results.into_iter().flatten().collect())
        })
    }
}

/// Combine results in declaration order: later keys overwrite earlier ones; any failure makes
/// the response incomplete; all failing is an error whose text joins every message.
pub(crate) fn merge_in_order(
    results: Vec<Result<ProxyResponse, ProxyError>>,
) -> Result<ProxyResponse, ProxyError> {
    let mut merged = ProxyResponse {
        is_complete: true,
        ..Default::default()
    };
    // Room for every member at once (most are distinct keys), instead of growing per part.
    merged
        .data
        .reserve(results.iter().flatten().map(|part| part.data.len()).sum());
    let mut errors = Vec::new();
    let mut any_ok = false;
    for result in results {
        match result {
            Ok(part) => {
                any_ok = true;
                merged.is_complete &= part.is_complete;
                merged.errored |= part.errored;
                merged.size_hint += part.size_hint;
                merged.data.extend(part.data);
            }
            Err(e) => {
                merged.is_complete = false;
                merged.errored = true;
                errors.push(e);
            }
        }
    }
    if any_ok {
        return Ok(merged);
    }
    let message = errors
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let source = if errors.iter().all(|e| e.source == ErrorSource::Timeout) {
        ErrorSource::Timeout
    } else {
        ErrorSource::Backend
    };
    Err(ProxyError::new(source, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{Map, Value};

    #[test]
    fn the_merged_size_hint_is_the_sum_of_the_parts() {
        let part = |key: &str, size_hint| {
            let mut data = Map::new();
            data.insert(key.into(), Value::Null);
            Ok(ProxyResponse {
                data,
                is_complete: true,
                size_hint,
                ..Default::default()
            })
        };
        let merged = merge_in_order(vec![
            part("a", 100),
            Err(ProxyError::new(ErrorSource::Backend, "down")),
            part("b", 23),
        ])
        .unwrap();
        assert_eq!(merged.size_hint, 123);
        assert_eq!(merged.data.len(), 2);
    }
}
