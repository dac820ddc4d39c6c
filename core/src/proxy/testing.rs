//! What the proxies' tests share: a plain request and a platform that counts its timers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::Method;

use super::ProxyRequest;
use crate::platform::{
    BackendRequest, BackendResponse, BoxFuture, ClientError, Clock, HttpClient, Platform,
    RequestContext, Sleep,
};

impl ProxyRequest {
    /// A `GET` of `path` with nothing else.
    pub(crate) fn get(path: &str) -> Self {
        Self {
            method: Method::GET,
            target: path
                .parse()
                .unwrap_or_else(|_| PathAndQuery::from_static("/")),
            params: Arc::default(),
            query: Arc::default(),
            headers: Arc::default(),
            body: Bytes::new(),
            previous: Arc::default(),
            rest: None,
            jwt: None,
            context: RequestContext::new(),
        }
    }
}

/// A platform whose client answers `{}` at once, whose clock reads 0, and whose timers are
/// counted: they fire at once (`fire`, so a call that never answers times out) or never.
pub(crate) struct Timers {
    asked: AtomicUsize,
    fire: bool,
}

impl Timers {
    /// The counter and the platform built on it.
    pub(crate) fn platform(fire: bool) -> (Arc<Self>, Platform) {
        let timers = Arc::new(Self {
            asked: AtomicUsize::new(0),
            fire,
        });
        let platform = Platform::new(timers.clone(), timers.clone(), timers.clone());
        (timers, platform)
    }

    /// Timers asked for so far.
    pub(crate) fn asked(&self) -> usize {
        self.asked.load(Ordering::Relaxed)
    }
}

impl HttpClient for Timers {
    fn send(
        &self,
        _: BackendRequest,
        _: usize,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        Box::pin(async { Ok(http::Response::new(Bytes::from_static(b"{}"))) })
    }
}

impl Clock for Timers {
    fn now_millis(&self) -> u64 {
        0
    }
}

impl Sleep for Timers {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        self.asked.fetch_add(1, Ordering::Relaxed);
        if self.fire {
            Box::pin(async {})
        } else {
            Box::pin(std::future::pending())
        }
    }
}
