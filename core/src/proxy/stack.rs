//! THE place where the proxy order is written down (lura's `newStack`). Read top to bottom:
//! the request enters at the top of `endpoint_stack`, each backend's chain is in
//! `backend_stack`. What runs before and after the stack (routing, guards, the parameter
//! check, request building, rendering) is in `crate::pipeline`.
//!
//! ```text
//! endpoint: signer → CEL → json-schema → static → shadow copies → flatmap → merge | sequential (one 85 % budget for all calls) | [endpoint deadline] → the single backend
//!           (a required backend's failure — `manifold/failure` — ends the merge or the chain: `failure`)
//! backend:  error details → CEL → concurrent calls → rate limit → circuit breaker → shape (target→allow/deny→mapping→group) → http (url, send, status, decode) → cache → client credentials → client
//!           (an answer that is only filtered is transcoded instead of decoded, and `group` and the merge work on its text: `transcoding`)
//! ```

use crate::config::capability::when;
use std::sync::Arc;

use super::{
    backend::HttpBackend,
    cel, circuit_breaker, client_credentials, concurrent, deadline, error_details,
    failure::{self, Member, Required},
    flatmap, http_cache, json_schema, lambda, merge, ratelimit, sequential, shadow, shape, signer,
    static_response, stream, SharedProxy,
};
use crate::config::{Backend, Encoding, Endpoint, OutputEncoding};
use crate::json::Filter;
use crate::platform::Platform;

/// Largest backend body accepted (after decompression) before the call counts as failed.
pub(crate) const DEFAULT_MAX_BACKEND_BODY: usize = 16 * 1024 * 1024;

/// The proxy for one endpoint.
pub(crate) fn endpoint_stack(endpoint: &Endpoint, platform: &Platform) -> SharedProxy {
    let (shadows, answering): (Vec<&Backend>, Vec<&Backend>) =
        endpoint.backend.iter().partition(|b| b.shadow);
    let mut backends: Vec<Member> = answering
        .iter()
        .map(|b| Member {
            proxy: backend_stack(endpoint, b, platform),
            required: Required::of(endpoint, b),
        })
        .collect();
    // Several backends share a budget inside the endpoint timeout (85 %, lura's), and only
    // synchronous steps (merging, flatmap) follow it: the endpoint deadline could never fire
    // first, so it gets no timer of its own (one timer less per request on every platform).
    let budgeted = backends.len() > 1;
    let mut p = match backends.pop() {
        // A single backend has no merge budget: only the endpoint deadline applies (as KrakenD).
        Some(only) if backends.is_empty() => failure::single(only),
        Some(last) => {
            backends.push(last);
            if endpoint.sequential {
                sequential::layer(backends, endpoint.timeout, platform.clone())
            } else {
                merge::layer(backends, endpoint.timeout, platform.clone())
            }
        }
        None => super::proxy_fn(|_| {
            Box::pin(async {
                Err(super::ProxyError::new(
                    super::ErrorSource::Internal,
                    "endpoint without backends",
                ))
            })
        }),
    };
    // On the merged data; validation kept it only when more than one backend answers.
    if !endpoint.flatmap_filter.is_empty() {
        p = flatmap::layer(endpoint.flatmap_filter.clone(), p);
    }
    // The deadline stops the calls but not what is outside it: static data still applies.
    if !budgeted {
        p = deadline::layer(endpoint.timeout, p, platform.clone());
    }
    // Shadow copies start with the real calls and are never part of the answer.
    let shadows = shadows
        .iter()
        .map(|b| {
            let timeout = b.shadow_timeout.unwrap_or(endpoint.timeout);
            (backend_stack(endpoint, b, platform), timeout)
        })
        .collect();
    p = shadow::layer(shadows, p, platform.clone());
    // Last, so it also covers a total failure or a timeout (lura: after merge and flatmap).
    if let Some(data) = &endpoint.static_response {
        p = static_response::layer(data.clone(), p);
    }
    // Outside everything that calls a backend (CE's proxy wrappers): an invalid body is
    // refused before any call.
    // Each optional layer is also behind its cargo feature (config::capability), so a build
    // without it carries none of its code; the loader refused a config that needs it.
    if let Some(schema) = when(cfg!(feature = "json-schema"), endpoint.json_schema.as_ref()) {
        p = json_schema::layer(schema.clone(), p, endpoint.failure.problem_details);
    }
    // CE wraps json-schema in CEL (krakend-ce's proxy factory): the request expressions run
    // after the guards (so `JWT` is set and a refused token never reaches them; the JWT-only
    // expressions already ran inside the validator) and before the body check and any call.
    if let Some(checks) = when(cfg!(feature = "cel"), endpoint.cel.as_ref()) {
        let problems = endpoint.failure.problem_details;
        p = cel::layer(checks.clone(), p, platform.clock.clone(), problems);
    }
    // Outside static data, so a static `access_token` gets signed too (KrakenD jwt_4).
    if let Some(cfg) = when(cfg!(feature = "jwt"), endpoint.auth_signer.as_ref()) {
        p = signer::layer(cfg.clone(), p, platform);
    }
    p
}

/// When `backend`'s answer is only filtered on its way to the endpoint's JSON answer (perhaps
/// grouped and merged with others): the filter that writes it straight from the backend's
/// text (`json::transcode`), skipping the tree. Every step between the backend and the client
/// must then leave the data alone or know the written form (`group`, the merge): an
/// answering backend (shadow copies are not answers) decoded as an object and not otherwise
/// shaped, no sequential chain, no step that reads or changes the data (CEL, static data,
/// flatmap, a signer) and no other output encoding.
pub(crate) fn transcoding(endpoint: &Endpoint, backend: &Backend) -> Option<Filter> {
    let endpoint_leaves_data = endpoint.output_encoding == OutputEncoding::Json
        && !endpoint.sequential
        && endpoint.flatmap_filter.is_empty()
        && endpoint.static_response.is_none()
        && endpoint.cel.is_none()
        && endpoint.auth_signer.is_none();
    let only_filtered = !backend.shadow
        && backend.encoding == Encoding::Json
        && !backend.is_collection
        && backend.target.is_none()
        && backend.mapping.is_empty()
        && backend.flatmap_filter.is_empty()
        && backend.cel.is_none()
        && backend.lambda.is_none();
    (endpoint_leaves_data && only_filtered).then(|| shape::filter(&backend.allow, &backend.deny))
}

/// The chain for one backend, innermost first.
pub(crate) fn backend_stack(
    endpoint: &Endpoint,
    backend: &Backend,
    platform: &Platform,
) -> SharedProxy {
    // The cache sits at the HTTP client, as KrakenD's httpcache transport: it keeps the raw
    // backend answers, keyed by everything that was sent.
    // The token is added under the cache, so the cache key never holds it.
    let client_credentials = backend.client_credentials.as_ref();
    let token_platform = match when(cfg!(feature = "client-credentials"), client_credentials) {
        Some(cc) => client_credentials::platform(cc, &backend.host, platform),
        None => platform.clone(),
    };
    let client_platform = match when(
        cfg!(feature = "http-cache"),
        backend.qos.http_cache.as_ref(),
    ) {
        Some(cache) => http_cache::platform(cache, &token_platform),
        None => token_platform,
    };
    // The HTTP call: URL building, balancing, filters, send, status check, decode.
    // `backend/lambda` replaces the HTTP call with an Invoke API call (SigV4, JSON answer).
    let mut p: SharedProxy = match when(cfg!(feature = "lambda"), backend.lambda.as_ref()) {
        Some(l) => Arc::new(lambda::LambdaBackend::new(
            backend.clone(),
            l.clone(),
            client_platform,
            DEFAULT_MAX_BACKEND_BODY,
        )),
        None => {
            let mut http =
                HttpBackend::new(backend.clone(), client_platform, DEFAULT_MAX_BACKEND_BODY);
            if let Some(filter) = transcoding(endpoint, backend) {
                http = http.transcoding(filter);
            }
            // Nothing above needs the whole body: it may stream to the client (`stream`).
            if stream::streams(endpoint) {
                http = http.streaming(endpoint.timeout);
            }
            Arc::new(http)
        }
    };
    // Shaping sees only successful, decoded data.
    p = shape::layer(backend, p);
    // Around the call and its decoding: a bad status or body is a backend failure too.
    if let Some(cb) = when(
        cfg!(feature = "circuit-breaker"),
        backend.qos.circuit_breaker.as_ref(),
    ) {
        p = circuit_breaker::layer(cb, p, platform.clock.clone());
    }
    // Outside the breaker (CE: the limiter wraps gobreaker): a refused call never reaches the
    // backend and is not the backend's failure.
    if let Some(rl) = when(cfg!(feature = "ratelimit"), backend.qos.ratelimit.as_ref()) {
        p = ratelimit::layer(rl, p, platform.clock.clone());
    }
    // Around the whole fetch-and-parse, so an incomplete or broken answer loses the race; each
    // copy balances its host on its own (lura's concurrent middleware).
    p = concurrent::layer(
        endpoint.concurrent_calls,
        endpoint.timeout,
        p,
        platform.clone(),
    );
    // KrakenD puts CEL inside the rate limit and the breaker; here a request its expressions
    // refuse never reaches the backend, so it is neither the backend's failure (a client could
    // otherwise open the circuit for everybody) nor a spent token, and it is checked once,
    // not once per concurrent copy. Response expressions see the shaped data (`group`...).
    if let Some(checks) = when(cfg!(feature = "cel"), backend.cel.as_ref()) {
        p = cel::layer(checks.clone(), p, platform.clock.clone(), false);
    }
    // Outside shaping, so `error_<alias>` is not wrapped by `group` or filtered away. A
    // required backend's details are the endpoint's error body instead (`failure`).
    let required = backend.required || endpoint.failure.all_or_nothing;
    if let (Some(alias), false) = (&backend.http.return_error_details, required) {
        p = error_details::layer(alias, p);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::testing::Timers;
    use crate::proxy::ProxyRequest;

    #[test]
    fn a_request_asks_for_one_timer_whatever_its_backends() {
        for backends in [
            r#""backend":[{"url_pattern":"/a"}]"#,
            r#""backend":[{"url_pattern":"/a"},{"url_pattern":"/b","group":"b"}]"#,
            r#""extra_config":{"proxy":{"sequential":true}},"backend":[{"url_pattern":"/a"},{"url_pattern":"/b","group":"b"}]"#,
        ] {
            let text = format!(
                r#"{{"version":3,"host":["http://h"],"endpoints":[{{"endpoint":"/e",{backends}}}]}}"#
            );
            let config = crate::config::parse(&text).unwrap();
            let (timers, platform) = Timers::platform(false);
            let stack = endpoint_stack(&config.endpoints[0], &platform);
            let answer = futures_executor::block_on(stack.call(ProxyRequest::get("/e")));
            assert!(answer.unwrap().is_complete, "{backends}");
            assert_eq!(timers.asked(), 1, "{backends}");
        }
    }

    /// Whether each answering backend of the config's one endpoint is transcoded.
    fn transcoded(endpoint: &str) -> Vec<bool> {
        let text = format!(r#"{{"version":3,"host":["http://b"],"endpoints":[{endpoint}]}}"#);
        let config = crate::config::parse(&text).unwrap();
        let e = &config.endpoints[0];
        e.backend
            .iter()
            .map(|b| transcoding(e, b).is_some())
            .collect()
    }

    #[test]
    fn only_answers_that_are_only_filtered_grouped_and_merged_are_transcoded() {
        for (endpoint, expected) in [
            (
                r#"{"endpoint":"/a","backend":[{"url_pattern":"/a"}]}"#,
                vec![true],
            ),
            (
                r#"{"endpoint":"/a","backend":[{"url_pattern":"/a","deny":["x.y"]},{"url_pattern":"/s","extra_config":{"proxy":{"shadow":true}}}]}"#,
                vec![true, false],
            ),
            (
                r#"{"endpoint":"/a","backend":[{"url_pattern":"/a","allow":["x"]}]}"#,
                vec![true],
            ),
            (
                r#"{"endpoint":"/a","backend":[{"url_pattern":"/a"},{"url_pattern":"/b","group":"g"}]}"#,
                vec![true, true],
            ),
            (
                r#"{"endpoint":"/a","extra_config":{"proxy":{"sequential":true}},"backend":[{"url_pattern":"/a"},{"url_pattern":"/b"}]}"#,
                vec![false, false],
            ),
            (
                r#"{"endpoint":"/a","backend":[{"url_pattern":"/a","group":"g"}]}"#,
                vec![true],
            ),
            (
                r#"{"endpoint":"/a","backend":[{"url_pattern":"/a","target":"t"}]}"#,
                vec![false],
            ),
            (
                r#"{"endpoint":"/a","backend":[{"url_pattern":"/a","mapping":{"a":"b"}}]}"#,
                vec![false],
            ),
            (
                r#"{"endpoint":"/a","backend":[{"url_pattern":"/a","is_collection":true}]}"#,
                vec![false],
            ),
            (
                r#"{"endpoint":"/a","backend":[{"url_pattern":"/a","encoding":"safejson"}]}"#,
                vec![false],
            ),
            (
                r#"{"endpoint":"/a","output_encoding":"string","backend":[{"url_pattern":"/a"}]}"#,
                vec![false],
            ),
            (
                r#"{"endpoint":"/a","extra_config":{"proxy":{"static":{"strategy":"always","data":{}}}},"backend":[{"url_pattern":"/a"}]}"#,
                vec![false],
            ),
        ] {
            assert_eq!(transcoded(endpoint), expected, "{endpoint}");
        }
    }
}
