//! `validation/cel` in the pipeline (krakend-cel's proxy): the request expressions run before
//! `next` is called, the response expressions on what it answers. The first false (or
//! failing) expression `#i` of a list stops the request with `request aborted by evaluator
//! #i`: a 500 at the endpoint, a failed backend (partial response) at a backend.

use std::sync::Arc;

use super::{ErrorSource, Proxy, ProxyError, ProxyRequest, ProxyResponse, SharedProxy};
use crate::cel::{Activation, Program};
use crate::config::extra::CelChecks;
use crate::platform::{BoxFuture, Clock};

struct Checked {
    checks: Arc<CelChecks>,
    /// `manifold/failure.problem_details` (endpoint): a refused request gets a 400 problem.
    problems: bool,
    clock: Arc<dyn Clock>,
    next: SharedProxy,
}

/// Check requests and responses of `next` with `checks` (its JWT list runs in the validator).
pub(crate) fn layer(
    checks: Arc<CelChecks>,
    next: SharedProxy,
    clock: Arc<dyn Clock>,
    problems: bool,
) -> SharedProxy {
    if checks.request.is_empty() && checks.response.is_empty() {
        return next;
    }
    Arc::new(Checked {
        checks,
        problems,
        clock,
        next,
    })
}

/// The index of the first expression that is not true.
pub(crate) fn first_refusal(programs: &[Program], vars: &Activation<'_>) -> Option<usize> {
    programs.iter().position(|p| !p.check(vars))
}

fn aborted(i: usize) -> ProxyError {
    ProxyError::new(
        ErrorSource::Internal,
        format!("request aborted by evaluator #{i}"),
    )
}

fn request_vars<'a>(now: u64, r: &'a ProxyRequest, keys: &[(String, String)]) -> Activation<'a> {
    let vars = Activation::new(now).with_request(
        r.method.as_str(),
        r.target.path(),
        &r.params,
        keys,
        &r.headers,
        &r.query,
    );
    match &r.jwt {
        Some(claims) => vars.with_jwt(&claims.0),
        None => vars,
    }
}

impl Proxy for Checked {
    fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
        let now = self.clock.now_millis();
        let refused = first_refusal(
            &self.checks.request,
            &request_vars(now, &request, &self.checks.param_keys),
        );
        Box::pin(async move {
            if let Some(i) = refused {
                return Err(match self.checks.request.get(i) {
                    Some(p) if self.problems => super::problem::cel(i, p.source()),
                    _ => aborted(i),
                });
            }
            if self.checks.response.is_empty() {
                return self.next.call(request).await;
            }
            // The request's variables stay readable in response expressions.
            let kept = request.clone();
            let response = self.next.call(request).await?;
            let refused = {
                let raw = response.raw.as_ref();
                let vars = request_vars(now, &kept, &self.checks.param_keys).with_response(
                    &response.data,
                    response.is_complete,
                    raw.map(|r| r.status.as_u16()),
                    raw.map(|r| &r.headers),
                );
                first_refusal(&self.checks.response, &vars)
            };
            match refused {
                Some(i) => Err(aborted(i)),
                None => Ok(response),
            }
        })
    }
}
