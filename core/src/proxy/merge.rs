//! Parallel fan-out and merge. Every backend runs concurrently under one shared deadline (85 %
//! of the endpoint timeout: lura gives each backend that budget, and they all start together);
//! the answers are merged shallowly **in declaration order**, so on a key collision the
//! later-declared backend wins whatever the arrival order (KrakenD lets the slowest win, which
//! is not deterministic).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::failure::Member;
use super::{ErrorSource, Proxy, ProxyError, ProxyRequest, ProxyResponse, SharedProxy};
use crate::json::Encoded;
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
            // Each call writes its answer into its own slot, so what arrived in time is kept
            // when the budget runs out. One timer for all: the calls start together and share
            // the budget (a timer per call cost a timer each on every platform).
            let mut slots: Vec<Option<Result<ProxyResponse, ProxyError>>> =
                self.backends.iter().map(|_| None).collect();
            let calls = self.backends.iter().zip(slots.iter_mut()).map(|(b, slot)| {
                let request = request.clone();
                async move {
                    match (b.proxy.call(request).await, b.required.as_ref()) {
                        // `manifold/failure`: a required backend's failure ends the request.
                        (Err(e), Some(required)) => Some(required.fail(e)),
                        (result, _) => {
                            *slot = Some(result);
                            None
                        }
                    }
                }
            });
            let failed = if self.backends.iter().all(|b| b.required.is_none()) {
                self.platform.timeout(self.budget, join_all(calls)).await;
                None
            } else {
                // The first required backend to fail ends the request (the other calls are
                // dropped, so cancelled).
                let mut pending: FuturesUnordered<_> = calls.collect();
                let first = async {
                    while let Some(outcome) = pending.next().await {
                        if outcome.is_some() {
                            return outcome;
                        }
                    }
                    None
                };
                self.platform.timeout(self.budget, first).await.flatten()
            };
            if let Some(e) = failed {
                return Err(e);
            }
            // Out of time: each call still running failed with a timeout.
            let mut results = Vec::with_capacity(slots.len());
            for (b, slot) in self.backends.iter().zip(slots) {
                results.push(match (slot, b.required.as_ref()) {
                    (Some(result), _) => result,
                    (None, Some(required)) => return Err(required.fail(ProxyError::timeout())),
                    (None, None) => Err(ProxyError::timeout()),
                });
            }
            merge_in_order(results)
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
    // Transcoded answers (`stack::transcoding`) merge as text; any others join them written.
    let transcoded = results
        .iter()
        .any(|r| r.as_ref().is_ok_and(|part| part.json.is_some()));
    let mut texts = Vec::new();
    for result in results {
        match result {
            Ok(part) => {
                any_ok = true;
                merged.is_complete &= part.is_complete;
                merged.errored |= part.errored;
                merged.size_hint += part.size_hint;
                match part.json {
                    Some(json) => texts.push(json),
                    None if transcoded => texts.push(Encoded::from_map(part.data)),
                    None => merged.data.extend(part.data),
                }
            }
            Err(e) => {
                merged.is_complete = false;
                merged.errored = true;
                errors.push(e);
            }
        }
    }
    if any_ok {
        if transcoded {
            merged.json = match texts.len() {
                1 => texts.pop(),
                _ => Some(Encoded::merge(&texts)),
            };
        }
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
    use crate::proxy::testing::Timers;

    fn member(key: &'static str, answers: bool, required: bool) -> Member {
        let proxy = super::super::proxy_fn(move |_| {
            if !answers {
                return Box::pin(std::future::pending());
            }
            let mut data = Map::new();
            data.insert(key.into(), Value::Bool(true));
            Box::pin(async move {
                Ok(ProxyResponse {
                    data,
                    is_complete: true,
                    ..Default::default()
                })
            })
        });
        let required = required.then(|| {
            let config = crate::config::parse(
                r#"{"version":3,"endpoints":[{"endpoint":"/m","extra_config":{"manifold/failure":{"all_or_nothing":true}},"backend":[{"host":["http://a"],"url_pattern":"/a"},{"host":["http://a"],"url_pattern":"/b"}]}]}"#,
            )
            .unwrap();
            let endpoint = &config.endpoints[0];
            super::super::failure::Required::of(endpoint, &endpoint.backend[0]).unwrap()
        });
        Member { proxy, required }
    }

    #[test]
    fn the_calls_share_one_timer_and_keep_what_arrived_in_time() {
        let (timers, platform) = Timers::platform(true);
        let members = vec![
            member("a", true, false),
            member("slow", false, false),
            member("c", true, false),
        ];
        let merge = layer(members, Duration::from_secs(2), platform);
        let merged = futures_executor::block_on(merge.call(ProxyRequest::get("/m"))).unwrap();
        assert_eq!(timers.asked(), 1);
        assert!(!merged.is_complete);
        let keys: Vec<&str> = merged.data.iter().map(|(k, _)| &**k).collect();
        assert_eq!(keys, ["a", "c"]);
    }

    #[cfg(feature = "failure")]
    #[test]
    fn a_required_call_out_of_time_fails_the_merge() {
        let (timers, platform) = Timers::platform(true);
        let members = vec![member("a", true, false), member("slow", false, true)];
        let merge = layer(members, Duration::from_secs(2), platform);
        let failed = futures_executor::block_on(merge.call(ProxyRequest::get("/m"))).unwrap_err();
        assert_eq!(timers.asked(), 1);
        assert_eq!(failed.source, ErrorSource::Required);
    }

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
