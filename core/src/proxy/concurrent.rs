//! `concurrent_calls: N`: N identical calls to one backend, the first successful complete
//! answer wins and the others are dropped (which cancels them). Each call balances its host
//! independently. The whole race runs under [`CONCURRENT_TIMEOUT_PERCENT`] of the endpoint
//! timeout, as lura.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::{Proxy, ProxyError, ProxyRequest, ProxyResponse, SharedProxy};
use crate::platform::{BoxFuture, Platform};

/// Share of the endpoint timeout the concurrent calls of one backend get, leaving the rest
/// for the merge and rendering (lura's `75*Timeout/100`).
pub(crate) const CONCURRENT_TIMEOUT_PERCENT: u32 = 75;

struct Concurrent {
    calls: usize,
    budget: Duration,
    next: SharedProxy,
    platform: Platform,
}

/// Race `calls` copies of `next` (returns `next` itself when `calls` ≤ 1).
pub(crate) fn layer(
    calls: u32,
    endpoint_timeout: Duration,
    next: SharedProxy,
    platform: Platform,
) -> SharedProxy {
    if calls <= 1 {
        return next;
    }
    Arc::new(Concurrent {
        calls: usize::try_from(calls).unwrap_or(usize::MAX),
        budget: endpoint_timeout * CONCURRENT_TIMEOUT_PERCENT / 100,
        next,
        platform,
    })
}

impl Proxy for Concurrent {
    fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
        Box::pin(async move {
            let mut racing: FuturesUnordered<_> = (0..self.calls)
                .map(|_| self.next.call(request.clone()))
                .collect();
            let mut deadline = self.platform.sleep.sleep(self.budget);
            // lura keeps the last answer (even incomplete) and the last error.
            let mut last: Option<Result<ProxyResponse, ProxyError>> = None;
            loop {
                match select(racing.next(), &mut deadline).await {
                    Either::Left((Some(Ok(r)), _)) if r.is_complete => return Ok(r),
                    Either::Left((Some(Ok(r)), _)) => last = Some(Ok(r)),
                    Either::Left((Some(Err(e)), _)) => {
                        if !matches!(last, Some(Ok(_))) {
                            last = Some(Err(e));
                        }
                    }
                    Either::Left((None, _)) => break,
                    Either::Right(_) => {
                        return match last {
                            Some(Ok(r)) => Ok(r),
                            _ => Err(ProxyError::timeout()),
                        }
                    }
                }
            }
            last.unwrap_or_else(|| Err(ProxyError::timeout()))
        })
    }
}
